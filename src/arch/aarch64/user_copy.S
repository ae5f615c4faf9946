// Copies between kernel and user memory that survive bad user pointers.
//
// Every load and store between user_copy_begin and user_copy_end may fault; the
// exception handler then records the fault address and resumes at user_copy_fault,
// which returns the bytes not yet copied (the faulting chunk included, so the caller
// can resolve the fault, e.g. commit the page, and resume exactly there). With PAN on,
// the routine lifts it for its duration only.
//
//   size_t ferrite_copy_user(void *dst, const void *src, size_t len)  -> bytes left

.section .text, "ax"
.balign 64
.global ferrite_copy_user
ferrite_copy_user:
    adrp    x9, PAN_IN_USE
    ldrb    w9, [x9, :lo12:PAN_IN_USE]
    cbz     w9, 0f
    .inst   0xd500409f              // msr pan, #0
0:
.global user_copy_begin
user_copy_begin:
    cmp     x2, #64
    b.lo    2f
1:  ldp     x3, x4, [x1]
    ldp     x5, x6, [x1, #16]
    ldp     x7, x8, [x1, #32]
    ldp     x9, x10, [x1, #48]
    stp     x3, x4, [x0]
    stp     x5, x6, [x0, #16]
    stp     x7, x8, [x0, #32]
    stp     x9, x10, [x0, #48]
    add     x1, x1, #64
    add     x0, x0, #64
    sub     x2, x2, #64
    cmp     x2, #64
    b.hs    1b
2:  cmp     x2, #8
    b.lo    3f
    ldr     x3, [x1], #8
    str     x3, [x0], #8
    sub     x2, x2, #8
    b       2b
3:  cbz     x2, 4f
    ldrb    w3, [x1], #1
    strb    w3, [x0], #1
    sub     x2, x2, #1
    b       3b
4:  mov     x0, #0
    b       user_copy_done
.global user_copy_end
user_copy_end:
.global user_copy_fault
user_copy_fault:
    mov     x0, x2
user_copy_done:
    adrp    x9, PAN_IN_USE
    ldrb    w9, [x9, :lo12:PAN_IN_USE]
    cbz     w9, 5f
    .inst   0xd500419f              // msr pan, #1
5:  ret
