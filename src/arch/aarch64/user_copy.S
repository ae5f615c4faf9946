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
// The bulk of a longer copy moves 4 KiB per iteration with paired 128-bit loads and
// stores of q0..q3 (265 instructions per 4 KiB), then 1 KiB per iteration (69), then
// 64-byte, 8-byte and 1-byte steps finish the tail. The kernel is built soft-float and never touches FP/SIMD, so
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
    cmp     x2, #4096
    b.lo    8f
// 4 KiB per iteration (a page, the common copy): an ldp/stp of q registers reaches
// offsets -1024..1008, so each side uses three bases, +0 (x1, x0), +2 KiB (x3, x4) and
// +4 KiB (x5, x6), the last also the next iteration's start. x0, x1 and x2 still move
// only after the chunk's last store.
1:  add     x3, x1, #2048
    add     x4, x0, #2048
    add     x5, x1, #4096
    add     x6, x0, #4096
    ldp     q0, q1, [x1]
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
    ldp     q0, q1, [x3, #-1024]
    ldp     q2, q3, [x3, #-992]
    stp     q0, q1, [x4, #-1024]
    stp     q2, q3, [x4, #-992]
    ldp     q0, q1, [x3, #-960]
    ldp     q2, q3, [x3, #-928]
    stp     q0, q1, [x4, #-960]
    stp     q2, q3, [x4, #-928]
    ldp     q0, q1, [x3, #-896]
    ldp     q2, q3, [x3, #-864]
    stp     q0, q1, [x4, #-896]
    stp     q2, q3, [x4, #-864]
    ldp     q0, q1, [x3, #-832]
    ldp     q2, q3, [x3, #-800]
    stp     q0, q1, [x4, #-832]
    stp     q2, q3, [x4, #-800]
    ldp     q0, q1, [x3, #-768]
    ldp     q2, q3, [x3, #-736]
    stp     q0, q1, [x4, #-768]
    stp     q2, q3, [x4, #-736]
    ldp     q0, q1, [x3, #-704]
    ldp     q2, q3, [x3, #-672]
    stp     q0, q1, [x4, #-704]
    stp     q2, q3, [x4, #-672]
    ldp     q0, q1, [x3, #-640]
    ldp     q2, q3, [x3, #-608]
    stp     q0, q1, [x4, #-640]
    stp     q2, q3, [x4, #-608]
    ldp     q0, q1, [x3, #-576]
    ldp     q2, q3, [x3, #-544]
    stp     q0, q1, [x4, #-576]
    stp     q2, q3, [x4, #-544]
    ldp     q0, q1, [x3, #-512]
    ldp     q2, q3, [x3, #-480]
    stp     q0, q1, [x4, #-512]
    stp     q2, q3, [x4, #-480]
    ldp     q0, q1, [x3, #-448]
    ldp     q2, q3, [x3, #-416]
    stp     q0, q1, [x4, #-448]
    stp     q2, q3, [x4, #-416]
    ldp     q0, q1, [x3, #-384]
    ldp     q2, q3, [x3, #-352]
    stp     q0, q1, [x4, #-384]
    stp     q2, q3, [x4, #-352]
    ldp     q0, q1, [x3, #-320]
    ldp     q2, q3, [x3, #-288]
    stp     q0, q1, [x4, #-320]
    stp     q2, q3, [x4, #-288]
    ldp     q0, q1, [x3, #-256]
    ldp     q2, q3, [x3, #-224]
    stp     q0, q1, [x4, #-256]
    stp     q2, q3, [x4, #-224]
    ldp     q0, q1, [x3, #-192]
    ldp     q2, q3, [x3, #-160]
    stp     q0, q1, [x4, #-192]
    stp     q2, q3, [x4, #-160]
    ldp     q0, q1, [x3, #-128]
    ldp     q2, q3, [x3, #-96]
    stp     q0, q1, [x4, #-128]
    stp     q2, q3, [x4, #-96]
    ldp     q0, q1, [x3, #-64]
    ldp     q2, q3, [x3, #-32]
    stp     q0, q1, [x4, #-64]
    stp     q2, q3, [x4, #-32]
    ldp     q0, q1, [x3]
    ldp     q2, q3, [x3, #32]
    stp     q0, q1, [x4]
    stp     q2, q3, [x4, #32]
    ldp     q0, q1, [x3, #64]
    ldp     q2, q3, [x3, #96]
    stp     q0, q1, [x4, #64]
    stp     q2, q3, [x4, #96]
    ldp     q0, q1, [x3, #128]
    ldp     q2, q3, [x3, #160]
    stp     q0, q1, [x4, #128]
    stp     q2, q3, [x4, #160]
    ldp     q0, q1, [x3, #192]
    ldp     q2, q3, [x3, #224]
    stp     q0, q1, [x4, #192]
    stp     q2, q3, [x4, #224]
    ldp     q0, q1, [x3, #256]
    ldp     q2, q3, [x3, #288]
    stp     q0, q1, [x4, #256]
    stp     q2, q3, [x4, #288]
    ldp     q0, q1, [x3, #320]
    ldp     q2, q3, [x3, #352]
    stp     q0, q1, [x4, #320]
    stp     q2, q3, [x4, #352]
    ldp     q0, q1, [x3, #384]
    ldp     q2, q3, [x3, #416]
    stp     q0, q1, [x4, #384]
    stp     q2, q3, [x4, #416]
    ldp     q0, q1, [x3, #448]
    ldp     q2, q3, [x3, #480]
    stp     q0, q1, [x4, #448]
    stp     q2, q3, [x4, #480]
    ldp     q0, q1, [x3, #512]
    ldp     q2, q3, [x3, #544]
    stp     q0, q1, [x4, #512]
    stp     q2, q3, [x4, #544]
    ldp     q0, q1, [x3, #576]
    ldp     q2, q3, [x3, #608]
    stp     q0, q1, [x4, #576]
    stp     q2, q3, [x4, #608]
    ldp     q0, q1, [x3, #640]
    ldp     q2, q3, [x3, #672]
    stp     q0, q1, [x4, #640]
    stp     q2, q3, [x4, #672]
    ldp     q0, q1, [x3, #704]
    ldp     q2, q3, [x3, #736]
    stp     q0, q1, [x4, #704]
    stp     q2, q3, [x4, #736]
    ldp     q0, q1, [x3, #768]
    ldp     q2, q3, [x3, #800]
    stp     q0, q1, [x4, #768]
    stp     q2, q3, [x4, #800]
    ldp     q0, q1, [x3, #832]
    ldp     q2, q3, [x3, #864]
    stp     q0, q1, [x4, #832]
    stp     q2, q3, [x4, #864]
    ldp     q0, q1, [x3, #896]
    ldp     q2, q3, [x3, #928]
    stp     q0, q1, [x4, #896]
    stp     q2, q3, [x4, #928]
    ldp     q0, q1, [x3, #960]
    ldp     q2, q3, [x3, #992]
    stp     q0, q1, [x4, #960]
    stp     q2, q3, [x4, #992]
    ldp     q0, q1, [x5, #-1024]
    ldp     q2, q3, [x5, #-992]
    stp     q0, q1, [x6, #-1024]
    stp     q2, q3, [x6, #-992]
    ldp     q0, q1, [x5, #-960]
    ldp     q2, q3, [x5, #-928]
    stp     q0, q1, [x6, #-960]
    stp     q2, q3, [x6, #-928]
    ldp     q0, q1, [x5, #-896]
    ldp     q2, q3, [x5, #-864]
    stp     q0, q1, [x6, #-896]
    stp     q2, q3, [x6, #-864]
    ldp     q0, q1, [x5, #-832]
    ldp     q2, q3, [x5, #-800]
    stp     q0, q1, [x6, #-832]
    stp     q2, q3, [x6, #-800]
    ldp     q0, q1, [x5, #-768]
    ldp     q2, q3, [x5, #-736]
    stp     q0, q1, [x6, #-768]
    stp     q2, q3, [x6, #-736]
    ldp     q0, q1, [x5, #-704]
    ldp     q2, q3, [x5, #-672]
    stp     q0, q1, [x6, #-704]
    stp     q2, q3, [x6, #-672]
    ldp     q0, q1, [x5, #-640]
    ldp     q2, q3, [x5, #-608]
    stp     q0, q1, [x6, #-640]
    stp     q2, q3, [x6, #-608]
    ldp     q0, q1, [x5, #-576]
    ldp     q2, q3, [x5, #-544]
    stp     q0, q1, [x6, #-576]
    stp     q2, q3, [x6, #-544]
    ldp     q0, q1, [x5, #-512]
    ldp     q2, q3, [x5, #-480]
    stp     q0, q1, [x6, #-512]
    stp     q2, q3, [x6, #-480]
    ldp     q0, q1, [x5, #-448]
    ldp     q2, q3, [x5, #-416]
    stp     q0, q1, [x6, #-448]
    stp     q2, q3, [x6, #-416]
    ldp     q0, q1, [x5, #-384]
    ldp     q2, q3, [x5, #-352]
    stp     q0, q1, [x6, #-384]
    stp     q2, q3, [x6, #-352]
    ldp     q0, q1, [x5, #-320]
    ldp     q2, q3, [x5, #-288]
    stp     q0, q1, [x6, #-320]
    stp     q2, q3, [x6, #-288]
    ldp     q0, q1, [x5, #-256]
    ldp     q2, q3, [x5, #-224]
    stp     q0, q1, [x6, #-256]
    stp     q2, q3, [x6, #-224]
    ldp     q0, q1, [x5, #-192]
    ldp     q2, q3, [x5, #-160]
    stp     q0, q1, [x6, #-192]
    stp     q2, q3, [x6, #-160]
    ldp     q0, q1, [x5, #-128]
    ldp     q2, q3, [x5, #-96]
    stp     q0, q1, [x6, #-128]
    stp     q2, q3, [x6, #-96]
    ldp     q0, q1, [x5, #-64]
    ldp     q2, q3, [x5, #-32]
    stp     q0, q1, [x6, #-64]
    stp     q2, q3, [x6, #-32]
    mov     x1, x5
    mov     x0, x6
    sub     x2, x2, #4096
    cmp     x2, #4096
    b.hs    1b
// Then 1 KiB per iteration.
8:  cmp     x2, #1024
    b.lo    2f
9:
    ldp     q0, q1, [x1]
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
    b.hs    9b
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
