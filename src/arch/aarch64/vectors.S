// The exception vector table (16 entries) and the trap frame save/restore.
//
// Every entry saves the interrupted context as a `TrapFrame` (see exception.rs) on the
// current kernel stack and calls `handle_exception(frame, kind)` in Rust; on return the
// frame is restored (Rust may have changed x0, ELR or SPSR) and `eret` resumes.
//
// The one exception: `svc` from EL0, the syscall path, is lean. The ABI (ABI.md section 4)
// lets a syscall change only x0 (and NZCV); the Rust handlers follow the AAPCS64, so they
// preserve x19..x29 and SP themselves and SP_EL0 is never touched by the kernel. The
// entry therefore saves only what Rust may clobber (x0..x18 and x30, which the frame's
// layout puts side by side for one pair store), reads the handler's row of the table in
// use (`SYSCALL_TABLE_IN_USE`: `SYSCALL_TABLE`, or its lock-checking twin under
// `lockcheck`) indexed by x16, and calls it with the user's x0..x7 still in place as its
// arguments; then it restores those registers around the result in x0. ELR/SPSR are
// saved and restored around the call only when the row says so: a fault fixed up inside
// a syscall, or a switch to another thread, overwrites them, and only the lean calls
// (`syscall::keeps_return_state`: no user memory, no block or switch) are sure to do
// neither; those return from inside the vector slot. Any other synchronous exception
// from EL0 completes the full frame and takes the common path, so fault dumps see every
// register; except that a data abort first tries the same lean frame: `user_abort_lean`
// resolves a translation fault (every first touch of a page) like a syscall handler
// would, preserving x19..x29 and never touching the frame or SP_EL0, so the lean return
// restores everything it could have changed. Anything else, or a fault it cannot
// resolve, completes the frame and takes the common path.

.equ FRAME_SIZE, {frame_size}
// TrapFrame field offsets (exception.rs, via offset_of!): x0..x18 at TF_X + 8 * n and x30
// right after them (so x18 and x30 make a pair), then ELR and SPSR (a pair), then
// x19..x29 at TF_X19 + 8 * (n - 19) and SP_EL0 (so x29 and SP_EL0 make a pair), then the
// frame record.
.equ TF_X, {tf_x}
.equ TF_ELR, {tf_elr}
.equ TF_X19, {tf_x19}
.equ TF_X29, {tf_x19} + 8 * 10
.equ TF_RECORD, {tf_record}
// Valid kernel stack addresses have this bit set (kernel::kstack: stacks fill the upper
// half of naturally aligned slots whose lower half is the unmapped guard).
.equ STACK_BIT, {stack_bit}

// kinds, matching arch::aarch64::exception::VectorKind
.equ KIND_CUR_SP0,      0
.equ KIND_CUR_SPX_SYNC, 4
.equ KIND_CUR_SPX_IRQ,  5
.equ KIND_CUR_SPX_FIQ,  6
.equ KIND_CUR_SPX_SERR, 7
.equ KIND_LOW_SYNC,     8
.equ KIND_LOW_IRQ,      9
.equ KIND_LOW_FIQ,      10
.equ KIND_LOW_SERR,     11
.equ KIND_LOW32,        12

// A data abort from EL0 the lean path could not resolve (exception.rs kind).
.equ KIND_LOW_SYNC_UNRESOLVED, 13
// ESR_EL1.EC of an SVC from AArch64, and of a data abort from a lower EL.
.equ EC_SVC64,          0x15
.equ EC_DABT_LOW,       0x24
// Entries in SYSCALL_TABLE (out-of-range numbers use entry 0, which answers
// ZX_ERR_BAD_SYSCALL): kernel::syscalls::SYSCALL_COUNT, passed in by arch::aarch64.
.equ SYSCALL_COUNT,     {syscall_count}

// x2..x17 at their TrapFrame offsets: the registers both the syscall path and the full
// path save (x0/x1 are saved by each vector entry itself).
.macro SAVE_X2_TO_X17
    stp     x2, x3, [sp, #TF_X + 8 * 2]
    stp     x4, x5, [sp, #TF_X + 8 * 4]
    stp     x6, x7, [sp, #TF_X + 8 * 6]
    stp     x8, x9, [sp, #TF_X + 8 * 8]
    stp     x10, x11, [sp, #TF_X + 8 * 10]
    stp     x12, x13, [sp, #TF_X + 8 * 12]
    stp     x14, x15, [sp, #TF_X + 8 * 14]
    stp     x16, x17, [sp, #TF_X + 8 * 16]
.endm

.macro SAVE_X19_TO_X28
    stp     x19, x20, [sp, #TF_X19]
    stp     x21, x22, [sp, #TF_X19 + 8 * 2]
    stp     x23, x24, [sp, #TF_X19 + 8 * 4]
    stp     x25, x26, [sp, #TF_X19 + 8 * 6]
    stp     x27, x28, [sp, #TF_X19 + 8 * 8]
.endm

.macro RESTORE_X2_TO_X17
    ldp     x2, x3, [sp, #TF_X + 8 * 2]
    ldp     x4, x5, [sp, #TF_X + 8 * 4]
    ldp     x6, x7, [sp, #TF_X + 8 * 6]
    ldp     x8, x9, [sp, #TF_X + 8 * 8]
    ldp     x10, x11, [sp, #TF_X + 8 * 10]
    ldp     x12, x13, [sp, #TF_X + 8 * 12]
    ldp     x14, x15, [sp, #TF_X + 8 * 14]
    ldp     x16, x17, [sp, #TF_X + 8 * 16]
.endm

// The lean frame of a syscall or a resolved user data abort back into the registers,
// but for x0 and x1 (each caller pops the frame with their load): ELR/SPSR (a fault
// fixed up on the way, or a switch to another thread and back, rewrote them), x2..x18
// and x30. x19..x29 were preserved by the Rust callee and SP_EL0 never changed.
.macro RESTORE_LEAN_FRAME
    ldp     x10, x11, [sp, #TF_ELR]
    msr     elr_el1, x10
    msr     spsr_el1, x11
    RESTORE_X2_TO_X17
    ldp     x18, x30, [sp, #TF_X + 8 * 18]
.endm

.macro ENTRY kind
    .balign 0x80
    stp     x0, x1, [sp, #-FRAME_SIZE]!     // the frame, and x0/x1 at its start (TF_X = 0)
    mov     x1, #\kind
    b       trap_common
.endm

// A synchronous exception at EL1: check for a kernel stack overflow before pushing a
// frame. Every kernel stack (the boot stack and each thread's) fills the upper half of a
// naturally aligned slot whose lower half holds its unmapped guard page, so an address
// inside a stack has STACK_BIT set and one below it (in the guard) has it clear. With no
// free register, SP and x0 are swapped arithmetically (as Linux does) to test SP - the
// frame; if the frame would not fit, the report runs on the emergency stack instead of
// faulting again and again.
.macro ENTRY_EL1_SYNC
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    add     sp, sp, x0                  // sp = sp' + x0
    sub     x0, sp, x0                  // x0 = sp'
    tbz     x0, #STACK_BIT, stack_overflow
    sub     x0, sp, x0                  // x0 = x0 again
    sub     sp, sp, x0                  // sp = sp'
    stp     x0, x1, [sp, #TF_X + 8 * 0]
    mov     x1, #KIND_CUR_SPX_SYNC
    b       trap_common
.endm

// A synchronous exception from EL0: save what a syscall needs saved; for an SVC call
// its handler right here (the vector slot has room for 32 instructions), otherwise go
// on to complete the frame.
.macro ENTRY_EL0_SYNC
    .balign 0x80
el0_sync_vector:
    stp     x0, x1, [sp, #-FRAME_SIZE]!     // the frame, and x0/x1 at its start (TF_X = 0)
    SAVE_X2_TO_X17
    stp     x18, x30, [sp, #TF_X + 8 * 18]
    // An SVC with a number inside the table goes straight to its handler; anything else
    // (another exception, or an SVC numbered past the table) branches out: the `ccmp`
    // compares the class only when the number is in range, and otherwise clears Z, so
    // one `b.ne` takes both.
    mrs     x9, esr_el1
    lsr     x9, x9, #26
    cmp     x16, #SYSCALL_COUNT
    ccmp    x9, #EC_SVC64, #0b0000, lo
    b.ne    el0_sync_not_svc
    // No frame record (2 instructions per call): x29 keeps the user's frame pointer, which
    // the handler preserves, so a backtrace of a panic in a call ends at the entry's own
    // frame (panic.rs stops at any address below the kernel's); the user's PC, one line
    // further, is in the panic report's elr_el1, which still holds it.
    // The table in use (the lock-order check's, with `lockcheck`): a PC-relative load
    // of its address, within 1 MiB as `adr` is (the kernel image is far smaller). Its
    // row x16 (16 bytes, `SyscallSlot`): the handler, and whether to save ELR/SPSR.
    ldr     x10, SYSCALL_TABLE_IN_USE
    add     x10, x10, x16, lsl #4
    ldp     x9, x10, [x10]
    cbnz    x10, syscall_saving_return_state
    blr     x9
    // A lean call: ELR/SPSR are as the `svc` left them. Restore x2..x18 and x30 (x19..x29
    // were preserved by the handler and SP_EL0 never changed), pop the frame with x1 and
    // keep x0 (the result; xzr discards the saved x0).
    RESTORE_X2_TO_X17
    ldp     x18, x30, [sp, #TF_X + 8 * 18]
    ldp     xzr, x1, [sp], #FRAME_SIZE
    eret
    .if . - el0_sync_vector > 0x80
    .error "the EL0 synchronous vector outgrew its 128-byte slot"
    .endif
.endm

.section .text.vectors, "ax"
.balign 0x800
.global exception_vectors
exception_vectors:
    ENTRY KIND_CUR_SP0          // current EL with SP_EL0: never used by the kernel
    ENTRY KIND_CUR_SP0
    ENTRY KIND_CUR_SP0
    ENTRY KIND_CUR_SP0
    ENTRY_EL1_SYNC              // current EL with SP_ELx
    ENTRY KIND_CUR_SPX_IRQ
    ENTRY KIND_CUR_SPX_FIQ
    ENTRY KIND_CUR_SPX_SERR
    ENTRY_EL0_SYNC              // lower EL, AArch64: syscalls and user faults
    ENTRY KIND_LOW_IRQ
    ENTRY KIND_LOW_FIQ
    ENTRY KIND_LOW_SERR
    ENTRY KIND_LOW32            // lower EL, AArch32: not supported
    ENTRY KIND_LOW32
    ENTRY KIND_LOW32
    ENTRY KIND_LOW32

trap_common:
    SAVE_X2_TO_X17
    stp     x18, x30, [sp, #TF_X + 8 * 18]
    SAVE_X19_TO_X28
    mrs     x10, sp_el0
    stp     x29, x10, [sp, #TF_X29]
    mrs     x11, elr_el1
    mrs     x12, spsr_el1
    stp     x11, x12, [sp, #TF_ELR]
    // A frame record so backtraces walk through the trap into the interrupted code.
    stp     x29, x11, [sp, #TF_RECORD]
    add     x29, sp, #TF_RECORD
    mov     x0, sp
    bl      handle_exception
    // fall through
.global trap_return
trap_return:
    ldp     x11, x12, [sp, #TF_ELR]
    msr     elr_el1, x11
    msr     spsr_el1, x12
    ldp     x29, x10, [sp, #TF_X29]
    msr     sp_el0, x10
    RESTORE_X2_TO_X17
    ldp     x18, x30, [sp, #TF_X + 8 * 18]
    ldp     x19, x20, [sp, #TF_X19]
    ldp     x21, x22, [sp, #TF_X19 + 8 * 2]
    ldp     x23, x24, [sp, #TF_X19 + 8 * 4]
    ldp     x25, x26, [sp, #TF_X19 + 8 * 6]
    ldp     x27, x28, [sp, #TF_X19 + 8 * 8]
    ldp     x0, x1, [sp], #FRAME_SIZE       // the last load pops the frame
    eret

// A syscall whose row says to save ELR/SPSR (x9: the handler): they are saved in the
// frame, and the return restores them.
syscall_saving_return_state:
    mrs     x10, elr_el1
    mrs     x11, spsr_el1
    stp     x10, x11, [sp, #TF_ELR]
    blr     x9
    b       syscall_return

// The rest of a synchronous exception from EL0 that is not a syscall in the table (x9: its
// EC). ELR/SPSR join the frame first (x10: ELR). A data abort (every first touch of a
// page: tested first) tries the lean path, with the frame a syscall has; an SVC numbered
// past the table gets entry 0's answer, ZX_ERR_BAD_SYSCALL.
el0_sync_not_svc:
    mrs     x10, elr_el1
    mrs     x11, spsr_el1
    stp     x10, x11, [sp, #TF_ELR]
    cmp     x9, #EC_DABT_LOW
    b.ne    el0_sync_not_abort
    // No frame record, as for a syscall (x29 is the user's, preserved by the callee).
    mrs     x0, esr_el1
    mrs     x1, far_el1
    bl      user_abort_lean
    cbnz    x0, el0_abort_not_resolved
    // Resolved: restore what a Rust call may change (x0..x18, x30) and ELR/SPSR (a
    // switch to another thread and back rewrote them); x19..x29 were preserved by the
    // callee and SP_EL0 was never changed.
    RESTORE_LEAN_FRAME
    ldp     x0, x1, [sp], #FRAME_SIZE       // the last load pops the frame
    eret
el0_sync_not_abort:
    cmp     x9, #EC_SVC64
    b.ne    el0_sync_full
    adr     x10, SYSCALL_TABLE
    ldr     x9, [x10]                       // row 0's handler
    blr     x9
    b       syscall_return
el0_abort_not_resolved:
    // x0 = 1: not a fault the lean path handles, take the full path; x0 = 2: report the
    // user fault with the full frame. x19..x29 still hold the user's values
    // (callee-saved) and x0..x18, x30 are in the frame; x10 (ELR) is reloaded for the
    // frame record.
    ldr     x10, [sp, #TF_ELR]
    cmp     x0, #1
    b.eq    el0_sync_full
    mov     x11, #KIND_LOW_SYNC_UNRESOLVED
    b       el0_sync_complete
// Complete the frame (x19..x29, SP_EL0, the frame record) and take the common path,
// as exception kind x11 (x0..x18 and x30 are saved already, so x11 is free).
el0_sync_full:
    mov     x11, #KIND_LOW_SYNC
el0_sync_complete:
    SAVE_X19_TO_X28
    mrs     x9, sp_el0
    stp     x29, x9, [sp, #TF_X29]
    stp     x29, x10, [sp, #TF_RECORD]
    add     x29, sp, #TF_RECORD
    mov     x0, sp
    mov     x1, x11
    bl      handle_exception
    b       trap_return

// Back to EL0 from a syscall that saved ELR/SPSR: x0 holds the result; x19..x28 were
// preserved by the handler (AAPCS64) and SP_EL0 was never changed.
syscall_return:
    RESTORE_LEAN_FRAME
    // x1 and the frame popped in one load; x0 (the result) stays: xzr discards the
    // saved x0.
    ldp     xzr, x1, [sp], #FRAME_SIZE
    eret

// Enter EL0 for the first time: `frame` (x0) is a TrapFrame on the current stack that
// holds the user registers; SP is set to it and the common return path runs.
.global enter_user
enter_user:
    mov     sp, x0
    b       trap_return

stack_overflow:
    ldr     x0, =emergency_stack_top
    mov     sp, x0
    mrs     x0, elr_el1
    mrs     x1, far_el1
    bl      kernel_stack_overflow
0:  wfi
    b       0b
