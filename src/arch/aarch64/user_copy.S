// Copies between kernel and user memory that survive bad user pointers.
//
// Every load and store between user_copy_begin and user_copy_end may fault; the
// exception handler then records the fault address and resumes at user_copy_fault,
// which returns the bytes not yet copied (the faulting chunk included, so the caller
// can resolve the fault, e.g. commit the page, and resume exactly there). With PAN on,
// the routine lifts it for its duration only.
//
//   size_t ferrite_copy_user(void *dst, const void *src, size_t len)  -> bytes left
//
// Speed: a copy shorter than 64 bytes takes the small path at the end (no q registers).
// The bulk of a longer copy moves 1 KiB per iteration with paired 128-bit loads and
// stores of q0..q3 (69 instructions per KiB), then 64-byte, 8-byte and 1-byte
// steps finish the tail. The kernel is built soft-float and never touches FP/SIMD, so
// q0..q3 still hold the user's values: they are saved on entry and restored on every
// way out, the fault path included. Within a chunk the pointers and the count only move
// after its last store, so a fault part-way re-copies the whole chunk on retry (the same
// bytes again), which keeps "bytes left" exact.

.arch_extension fp
.arch_extension simd

.section .text, "ax"
.balign 64
.global ferrite_copy_user
ferrite_copy_user:
    cmp     x2, #64
    b.lo    ferrite_copy_user_small
// The same for any length with q registers, without the size test: the entry for the
// page copies of vmo_read/vmo_write (arch::aarch64::user_copy::copy_kernel_page).
.global ferrite_copy_user_q
ferrite_copy_user_q:
    adrp    x9, PAN_IN_USE
    ldrb    w9, [x9, :lo12:PAN_IN_USE]
    cbz     w9, 0f
    .inst   0xd500409f              // msr pan, #0
0:  stp     q0, q1, [sp, #-64]!
    stp     q2, q3, [sp, #32]
.global user_copy_begin
user_copy_begin:
    cmp     x2, #1024
    b.lo    2f
1:  ldp     q0, q1, [x1]
    ldp     q2, q3, [x1, #32]
    stp     q0, q1, [x0]
    stp     q2, q3, [x0, #32]
    ldp     q0, q1, [x1, #64]
    ldp     q2, q3, [x1, #96]
    stp     q0, q1, [x0, #64]
    stp     q2, q3, [x0, #96]
    ldp     q0, q1, [x1, #128]
    ldp     q2, q3, [x1, #160]
    stp     q0, q1, [x0, #128]
    stp     q2, q3, [x0, #160]
    ldp     q0, q1, [x1, #192]
    ldp     q2, q3, [x1, #224]
    stp     q0, q1, [x0, #192]
    stp     q2, q3, [x0, #224]
    ldp     q0, q1, [x1, #256]
    ldp     q2, q3, [x1, #288]
    stp     q0, q1, [x0, #256]
    stp     q2, q3, [x0, #288]
    ldp     q0, q1, [x1, #320]
    ldp     q2, q3, [x1, #352]
    stp     q0, q1, [x0, #320]
    stp     q2, q3, [x0, #352]
    ldp     q0, q1, [x1, #384]
    ldp     q2, q3, [x1, #416]
    stp     q0, q1, [x0, #384]
    stp     q2, q3, [x0, #416]
    ldp     q0, q1, [x1, #448]
    ldp     q2, q3, [x1, #480]
    stp     q0, q1, [x0, #448]
    stp     q2, q3, [x0, #480]
    ldp     q0, q1, [x1, #512]
    ldp     q2, q3, [x1, #544]
    stp     q0, q1, [x0, #512]
    stp     q2, q3, [x0, #544]
    ldp     q0, q1, [x1, #576]
    ldp     q2, q3, [x1, #608]
    stp     q0, q1, [x0, #576]
    stp     q2, q3, [x0, #608]
    ldp     q0, q1, [x1, #640]
    ldp     q2, q3, [x1, #672]
    stp     q0, q1, [x0, #640]
    stp     q2, q3, [x0, #672]
    ldp     q0, q1, [x1, #704]
    ldp     q2, q3, [x1, #736]
    stp     q0, q1, [x0, #704]
    stp     q2, q3, [x0, #736]
    ldp     q0, q1, [x1, #768]
    ldp     q2, q3, [x1, #800]
    stp     q0, q1, [x0, #768]
    stp     q2, q3, [x0, #800]
    ldp     q0, q1, [x1, #832]
    ldp     q2, q3, [x1, #864]
    stp     q0, q1, [x0, #832]
    stp     q2, q3, [x0, #864]
    ldp     q0, q1, [x1, #896]
    ldp     q2, q3, [x1, #928]
    stp     q0, q1, [x0, #896]
    stp     q2, q3, [x0, #928]
    ldp     q0, q1, [x1, #960]
    ldp     q2, q3, [x1, #992]
    stp     q0, q1, [x0, #960]
    stp     q2, q3, [x0, #992]
    add     x1, x1, #1024
    add     x0, x0, #1024
    sub     x2, x2, #1024
    cmp     x2, #1024
    b.hs    1b
2:  cbz     x2, 5f                  // whole KiBs, as page copies are: done
    cmp     x2, #64
    b.lo    3f
    ldp     q0, q1, [x1]
    ldp     q2, q3, [x1, #32]
    stp     q0, q1, [x0]
    stp     q2, q3, [x0, #32]
    add     x1, x1, #64
    add     x0, x0, #64
    sub     x2, x2, #64
    b       2b
3:  cmp     x2, #8
    b.lo    4f
    ldr     x3, [x1], #8
    str     x3, [x0], #8
    sub     x2, x2, #8
    b       3b
4:  cbz     x2, 5f
    ldrb    w3, [x1], #1
    strb    w3, [x0], #1
    sub     x2, x2, #1
    b       4b
.global user_copy_end
user_copy_end:
// Both ways out return x2: the bytes left, 0 after a whole copy (label 5).
.global user_copy_fault
user_copy_fault:
5:  mov     x0, x2
user_copy_done:
    ldp     q2, q3, [sp, #32]
    ldp     q0, q1, [sp], #64
    adrp    x9, PAN_IN_USE
    ldrb    w9, [x9, :lo12:PAN_IN_USE]
    cbz     w9, 6f
    .inst   0xd500419f              // msr pan, #1
6:  ret

// Copies shorter than 64 bytes (out-pointers, port packets, names): x registers only,
// so q0..q3 are neither saved nor restored. One step for each bit of the length (32,
// 16, 8 and 4 bytes, as the length is below 64: no loop), then single bytes. As above,
// x2 only moves after a chunk's store, so a fault leaves "bytes left" exact (the
// pointers may have moved already: only x2 is reported); a fault here resumes at
// user_copy_small_fault (arch::aarch64::user_copy::fixup_for knows both ranges).
ferrite_copy_user_small:
    adrp    x9, PAN_IN_USE
    ldrb    w9, [x9, :lo12:PAN_IN_USE]
    cbz     w9, 7f
    .inst   0xd500409f              // msr pan, #0
.global user_copy_small_begin
user_copy_small_begin:
7:  tbz     x2, #5, 14f
    ldp     x3, x4, [x1]
    ldp     x5, x6, [x1, #16]
    stp     x3, x4, [x0]
    stp     x5, x6, [x0, #16]
    add     x1, x1, #32
    add     x0, x0, #32
    sub     x2, x2, #32
14: tbz     x2, #4, 8f
    ldp     x3, x4, [x1], #16
    stp     x3, x4, [x0], #16
    sub     x2, x2, #16
8:  tbz     x2, #3, 9f
    ldr     x3, [x1], #8
    str     x3, [x0], #8
    sub     x2, x2, #8
9:  tbz     x2, #2, 10f
    ldr     w3, [x1], #4
    str     w3, [x0], #4
    sub     x2, x2, #4
10: cbz     x2, 11f
    ldrb    w3, [x1], #1
    strb    w3, [x0], #1
    sub     x2, x2, #1
    b       10b
11: mov     x0, #0
    b       user_copy_small_done
.global user_copy_small_end
user_copy_small_end:
.global user_copy_small_fault
user_copy_small_fault:
    mov     x0, x2
user_copy_small_done:
    adrp    x9, PAN_IN_USE
    ldrb    w9, [x9, :lo12:PAN_IN_USE]
    cbz     w9, 12f
    .inst   0xd500419f              // msr pan, #1
12: ret

// Stores the 32-bit value w1 at user address x0 (an out-pointer: a handle value, a
// signal set), the common 4-byte copy without the copy loop's tests. Returns 0, or 4
// (the bytes not stored) when the store faulted; a fault here resumes at
// user_store_fault (arch::aarch64::user_copy::fixup_for knows this range too).
//
//   size_t ferrite_store_user_u32(uint32_t *dst, uint32_t value)  -> bytes left
.global ferrite_store_user_u32
ferrite_store_user_u32:
    adrp    x9, PAN_IN_USE
    ldrb    w9, [x9, :lo12:PAN_IN_USE]
    cbz     w9, 13f
    .inst   0xd500409f              // msr pan, #0
.global user_store_begin
user_store_begin:
13: str     w1, [x0]
    mov     x0, #0
    b       user_copy_small_done
.global user_store_end
user_store_end:
.global user_store_fault
user_store_fault:
    mov     x0, #4
    b       user_copy_small_done
