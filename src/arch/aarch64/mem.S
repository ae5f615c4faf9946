// memcpy and memset for the kernel, replacing compiler_builtins' portable ones.
//
// Why: the portable memcpy moves 8 bytes per 4-instruction loop iteration after a
// byte-wise head, and 3 instructions per byte when source and destination are not
// equally aligned; the kernel copies many small structs (packets, handles, objects
// moved into their slots), so every call paid 20 to 60 instructions. These move 16
// bytes per ldp/stp pair.
//
// Why they are sound: the target is built with +strict-align, and memcpy may run before
// the MMU is on (every access is then Device memory, where an unaligned access faults).
// So every access here is naturally aligned: after a head that aligns the
// destination, equally aligned pointers move 32 bytes per loop, and otherwise each
// aligned 8-byte store is built from two aligned 8-byte source loads. Only x0-x17 are used (caller-saved), no FP
// or SIMD register (the kernel never touches them: user FP state lives there), and the
// return value is the destination, as C requires.

.section .text.ferrite_mem, "ax"

// void *memcpy(void *dst /* x0 */, const void *src /* x1 */, size_t n /* x2 */)
.global memcpy
.type memcpy, %function
.balign 16
memcpy:
    mov     x3, x0                      // x3: the destination cursor; x0 is returned
    eor     x4, x0, x1
    tst     x4, #7
    b.ne    .Lcpy_bytes                 // not equally aligned: byte by byte
    tst     x3, #7
    b.eq    .Lcpy_aligned
    // Equally aligned but not on 8 (a field at offset 4 of a struct, as rustc moves
    // enum payloads): with at least 8 bytes to go, one 1-, 2- and 4-byte step as the
    // destination's low bits say aligns both (each step is aligned to its size, as the
    // pointers agree modulo 8); fewer than 8 go byte by byte.
    cmp     x2, #8
    b.lo    .Lcpy_head
    tbz     x3, #0, 1f
    ldrb    w5, [x1], #1
    strb    w5, [x3], #1
    sub     x2, x2, #1
1:  tbz     x3, #1, 2f
    ldrh    w5, [x1], #2
    strh    w5, [x3], #2
    sub     x2, x2, #2
2:  tbz     x3, #2, .Lcpy_aligned
    ldr     w5, [x1], #4
    str     w5, [x3], #4
    sub     x2, x2, #4
    b       .Lcpy_aligned
.Lcpy_head:                              // fewer than 8 bytes, not 8-aligned
    cbz     x2, .Lcpy_done
    ldrb    w5, [x1], #1
    strb    w5, [x3], #1
    sub     x2, x2, #1
    b       .Lcpy_head
.Lcpy_aligned:
    subs    x2, x2, #32
    b.lo    .Lcpy_tail32
.Lcpy_loop32:                            // 32 bytes per iteration
    ldp     x4, x5, [x1]
    ldp     x6, x7, [x1, #16]
    add     x1, x1, #32
    stp     x4, x5, [x3]
    stp     x6, x7, [x3, #16]
    add     x3, x3, #32
    subs    x2, x2, #32
    b.hs    .Lcpy_loop32
.Lcpy_tail32:                            // x2 + 32 bytes left, fewer than 32
    tbz     x2, #4, 1f
    ldp     x4, x5, [x1], #16
    stp     x4, x5, [x3], #16
1:  tbz     x2, #3, 2f
    ldr     x4, [x1], #8
    str     x4, [x3], #8
2:  tbz     x2, #2, 3f
    ldr     w4, [x1], #4
    str     w4, [x3], #4
3:  tbz     x2, #1, 4f
    ldrh    w4, [x1], #2
    strh    w4, [x3], #2
4:  tbz     x2, #0, .Lcpy_done
    ldrb    w4, [x1]
    strb    w4, [x3]
.Lcpy_done:
    ret
// Source and destination differ in alignment modulo 8 (byte arrays, whose alignment is
// 1, often do): align the destination byte-wise, then build each aligned 8-byte store
// from two aligned 8-byte loads of the source, shifted together. An aligned load never
// crosses a page, and each one holds at least one byte still to copy, so none can fault
// where a byte-wise copy would not.
.Lcpy_bytes:
    tst     x3, #7
    b.eq    1f
    cbz     x2, .Lcpy_done
    ldrb    w5, [x1], #1
    strb    w5, [x3], #1
    sub     x2, x2, #1
    b       .Lcpy_bytes
1:  cmp     x2, #16
    b.lo    .Lcpy_last
    and     x6, x1, #7
    lsl     x6, x6, #3                  // x6: 8 * (src % 8), in 8..56 here
    neg     x7, x6                      // lsl by -x6 is lsl by 64 - x6 (mod 64)
    bic     x8, x1, #7                  // the aligned word holding the first byte
    lsr     x9, x2, #3                  // x9: whole words to store
    and     x2, x2, #7                  // x2: bytes after them
    add     x1, x1, x9, lsl #3          // where the source bytes after them start
    ldr     x4, [x8], #8
2:  ldr     x5, [x8], #8                // holds src bytes still to copy: never past the end
    lsr     x10, x4, x6
    lsl     x11, x5, x7
    orr     x10, x10, x11
    str     x10, [x3], #8
    mov     x4, x5
    subs    x9, x9, #1
    b.ne    2b
.Lcpy_last:
    cbz     x2, .Lcpy_done
3:  ldrb    w5, [x1], #1
    strb    w5, [x3], #1
    subs    x2, x2, #1
    b.ne    3b
    ret
.size memcpy, . - memcpy

// void *memset(void *dst /* x0 */, int c /* w1 */, size_t n /* x2 */)
.global memset
.type memset, %function
.balign 16
memset:
    mov     x3, x0
    and     x4, x1, #0xff
    orr     x4, x4, x4, lsl #8          // the byte in all 8 lanes
    orr     x4, x4, x4, lsl #16
    orr     x4, x4, x4, lsl #32
.Lset_head:
    tst     x3, #7
    b.eq    .Lset_aligned
    cbz     x2, .Lset_done
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       .Lset_head
.Lset_aligned:
    subs    x2, x2, #32
    b.lo    .Lset_tail32
.Lset_loop32:
    stp     x4, x4, [x3]
    stp     x4, x4, [x3, #16]
    add     x3, x3, #32
    subs    x2, x2, #32
    b.hs    .Lset_loop32
.Lset_tail32:
    tbz     x2, #4, 1f
    stp     x4, x4, [x3], #16
1:  tbz     x2, #3, 2f
    str     x4, [x3], #8
2:  tbz     x2, #2, 3f
    str     w4, [x3], #4
3:  tbz     x2, #1, 4f
    strh    w4, [x3], #2
4:  tbz     x2, #0, .Lset_done
    strb    w4, [x3]
.Lset_done:
    ret
.size memset, . - memset

