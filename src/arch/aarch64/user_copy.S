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
// Speed: a copy shorter than 64 bytes takes the small path at the end (no q registers);
// one of 64 to 127 bytes (a small channel message) its first 64 bytes with x registers
// and the rest on the small path, so it saves and restores no q registers either.
// The bulk of a longer copy moves 4 KiB per iteration with paired 128-bit loads and
// stores of q0..q3 (265 instructions per 4 KiB), then 1 KiB per iteration (69), then
// 64-byte, 8-byte and 1-byte steps finish the tail. The kernel is built soft-float and never touches FP/SIMD, so
// q0..q3 still hold the user's values: they are saved on entry and restored on every
// way out, the fault path included. Within a chunk the pointers and the count only move
// after its last store, so a fault part-way re-copies the whole chunk on retry (the same
// bytes again), which keeps "bytes left" exact.

.arch_extension fp
.arch_extension simd

// PSTATE.PAN := on (0 lifts it for the routine's user accesses, 1 puts it back at its
// end), when the CPU has PAN: a static-key site (arch/aarch64/static_key.rs), a `nop`
// that boot rewrites to `msr pan, #on` when PAN is in use, before any copy runs. The
// record (insn::PatchSite) gives the key, the instruction to write, `msr pan, #imm` as
// its encoding (0xd500409f | imm << 8, insn::msr_pan) for assemblers without ARMv8.1,
// and the `nop` the site holds until then.
.macro SET_PAN on
99: nop
    .pushsection __ferrite_patch_sites, "a"
    .balign 8
    .quad   99b
    .quad   0
    .word   {key_pan}
    .word   0xd500409f | (\on << 8)
    .word   0xd503201f
    .word   0
    .popsection
.endm

// 64 bytes from [src + off] to [dst + off] through q0..q3.
.macro COPY_64 src, dst, off
    ldp     q0, q1, [\src, #(\off)]
    ldp     q2, q3, [\src, #(\off) + 32]
    stp     q0, q1, [\dst, #(\off)]
    stp     q2, q3, [\dst, #(\off) + 32]
.endm
// 1 KiB from [src + base] to [dst + base], unrolled (base + 992 must stay within the
// ±1 KiB reach of an ldp/stp offset of q registers).
.macro COPY_1K src, dst, base
    .irp off, 0, 64, 128, 192, 256, 320, 384, 448, 512, 576, 640, 704, 768, 832, 896, 960
    COPY_64 \src, \dst, (\base) + \off
    .endr
.endm

.section .text, "ax"
.balign 64
.global ferrite_copy_user
ferrite_copy_user:
    cmp     x2, #64
    b.lo    ferrite_copy_user_small
    cmp     x2, #128
    b.lo    ferrite_copy_user_medium
// The same for any length with q registers, without the size test: the entry for the
// page copies of vmo_read/vmo_write (arch::aarch64::user_copy::copy_kernel_page).
.global ferrite_copy_user_q
ferrite_copy_user_q:
    SET_PAN 0
    stp     q0, q1, [sp, #-64]!
    stp     q2, q3, [sp, #32]
.global user_copy_begin
user_copy_begin:
// 4 KiB per iteration (a page, the common copy): an offset reaches -1024..1008, so each
// side uses three bases, +0 (x1, x0), +2 KiB (x3, x4) and +4 KiB (x5, x6), the last also
// the next iteration's start. x0, x1 and x2 still move only after the chunk's last store.
// A copy that ends with its last whole page leaves from the loop (one branch, where the
// tail's tests below would take five).
    cmp     x2, #4096
    b.lo    8f
1:  add     x3, x1, #2048
    add     x4, x0, #2048
    add     x5, x1, #4096
    add     x6, x0, #4096
    COPY_1K x1, x0, 0
    COPY_1K x3, x4, -1024
    COPY_1K x3, x4, 0
    COPY_1K x5, x6, -1024
    mov     x1, x5
    mov     x0, x6
    subs    x2, x2, #4096
    b.eq    5f                      // a whole page, the common copy: done
    cmp     x2, #4096
    b.hs    1b
// Then 1 KiB per iteration.
8:  cmp     x2, #1024
    b.lo    2f
9:  COPY_1K x1, x0, 0
    add     x1, x1, #1024
    add     x0, x0, #1024
    sub     x2, x2, #1024
    cmp     x2, #1024
    b.hs    9b
2:  cbz     x2, 5f                  // whole KiBs, as page copies are: done
    cmp     x2, #64
    b.lo    3f
    COPY_64 x1, x0, 0
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
    SET_PAN 1
    ret

// Copies shorter than 64 bytes (out-pointers, port packets, names): x registers only,
// so q0..q3 are neither saved nor restored. One step for each bit of the length (32,
// 16, 8 and 4 bytes, as the length is below 64: no loop), then single bytes. As above,
// x2 only moves after a chunk's store, so a fault leaves "bytes left" exact (the
// pointers may have moved already: only x2 is reported); a fault here resumes at
// user_copy_small_fault (arch::aarch64::user_copy::fixup_for knows both ranges).
ferrite_copy_user_small:
    SET_PAN 0
.global user_copy_small_begin
user_copy_small_begin:
    tbz     x2, #5, 14f
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
// Copies of 64 to 127 bytes, from ferrite_copy_user: 64 bytes with x registers as one
// chunk (x2 and the pointers move only after its last store, so a fault in it reports
// all of it left), then the rest, if any, by the steps above. Its entry lies within the
// small range, after the unconditional branch above (nothing falls into it); its
// SET_PAN reads only a kernel flag, which cannot fault, and a fault in the chunk
// resumes at user_copy_small_fault.
ferrite_copy_user_medium:
    SET_PAN 0
    ldp     x3, x4, [x1]
    ldp     x5, x6, [x1, #16]
    ldp     x7, x8, [x1, #32]
    ldp     x10, x11, [x1, #48]
    stp     x3, x4, [x0]
    stp     x5, x6, [x0, #16]
    stp     x7, x8, [x0, #32]
    stp     x10, x11, [x0, #48]
    subs    x2, x2, #64
    b.eq    11f
    add     x1, x1, #64
    add     x0, x0, #64
    b       user_copy_small_begin
11: mov     x0, #0
    b       user_copy_small_done
.global user_copy_small_end
user_copy_small_end:
.global user_copy_small_fault
user_copy_small_fault:
    mov     x0, x2
user_copy_small_done:
    SET_PAN 1
    ret

// Unprivileged loads and stores (ldtr/sttr) check EL0's permissions, which PAN does not
// restrict, so the code that uses them needs no PAN switch (6 of a store's 10
// instructions). They succeed exactly where the copy routine's privileged accesses do
// (mm::page_table, leaf_attribute_bits): a user page writable at EL0 is writable at EL1
// and a read-only one at neither; EL0 and EL1 read the same user pages but for an
// execute-only one, which EL1 may read and EL0 may not, and no user mapping is
// execute-only (vm::vmar refuses EXECUTE without READ). Were one allowed, a load from
// it would fault, and every caller's fault path copies again with ferrite_copy_user
// (resolving faults), so what a syscall returns would not change (EL0 test
// port_queue_reads_a_packet_from_an_execute_only_page).
//
// The single values and the 48-byte blocks are inline in Rust, each access with a
// record in the exception table (user_copy.rs, store_to_user_inline). What stays here
// is the routine below, which tail-calls the copy: a fault in
// user_unpriv_begin..user_unpriv_end resumes at user_unpriv_fault, which returns all
// ones, "nothing copied" (arch::aarch64::user_copy::fixup_for).

.global user_unpriv_begin
user_unpriv_begin:
// A received message's result (zx_channel_read): the 32-bit size w2 at user address x3
// and 0 at user address x4 (each skipped when the address is 0), with unprivileged
// stores, then the w2 bytes at kernel address x1 to user address x0 through
// ferrite_copy_user (a tail call, with its own fault range): one call where three were.
// The caller checked every range. Returns 0, or nonzero when a store or the copy faulted
// (then some of it may be stored; the caller makes the whole copy-out again).
//
//   size_t ferrite_store_user_read(void *user_dst, const void *src, size_t len,
//                                  uint32_t *actual_bytes, uint32_t *actual_handles)
.global ferrite_store_user_read
ferrite_store_user_read:
    cbz     x3, 1f
    sttr    w2, [x3]
1:  cbz     x4, 2f
    sttr    wzr, [x4]
2:  cbnz    x2, ferrite_copy_user
    mov     x0, #0
    ret
.global user_unpriv_end
user_unpriv_end:
.global user_unpriv_fault
user_unpriv_fault:
    mov     x0, #-1
    ret
