//! Thread execution contexts: what a context switch saves (the callee-saved registers,
//! the kernel stack pointer, `TPIDR_EL0` and the FP/SIMD state), the switch itself, the
//! first entry of a new thread into EL0, and which CPU runs which context.
//!
//! SP_EL0 is part of it because the lean syscall path never saves it (vectors.S).
//! Layout offsets come from `offset_of!` and reach the assembly as `const` operands, so
//! they are written once.
//!
//! FP/SIMD state is switched lazily, by use in a time slice: the kernel is built
//! soft-float and never leaves q0–q31, FPCR or FPSR changed (the user-copy routine puts
//! back the q registers it borrows), so only user state lives there. A context is
//! resumed with EL0's FP/SIMD access trapped (CPACR_EL1.FPEN = EL0 only; EL1 is never
//! trapped) and its FP/SIMD state, if it has any, in its record. Its first FP/SIMD
//! instruction in the slice traps, and [`Context::claim_fp`] loads the state into the
//! registers (or, the first time ever, gives it the initial state: all zero), marks it
//! `fp_live` and untraps EL0. A switch away from a context whose state is live saves it
//! (512 + 16 bytes) and traps EL0 again; nothing else is ever saved or loaded. So a
//! soft-float program (every program built for `aarch64-unknown-none-softfloat`) never
//! pays for FP/SIMD, nor does a thread in the slices it does not use it; one that uses
//! it in every slice pays a trap (the full exception path) per slice on top of what an
//! eager switch costs. The invariant: on every CPU, EL0's FP/SIMD access is trapped
//! exactly when the running context's state is not live (boot.S traps it at boot, where
//! the boot path, later the idle loop, runs, and idle loops never use FP/SIMD). A
//! thread's state is in memory whenever it is not running, so it may resume on any CPU.
//!
//! The hand-over protocol (as Linux's `on_cpu`): a context that is running, or whose
//! registers are still being saved, has `on_cpu` set. The switch stores 0 there with
//! release semantics only after the last register of the outgoing context is saved,
//! and [`switch`] waits (acquire) for the incoming one's flag to be 0 before loading it.
//! So a thread made runnable on one CPU while another CPU is still leaving it is never
//! resumed from a half-saved context, and the scheduler need not hold a lock across the
//! switch.

use super::exception::TrapFrame;
use aarch64_cpu::registers::{CPACR_EL1, ReadWriteable};
use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::mem::offset_of;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The registers a switch saves, in the order the assembly stores them.
#[repr(C, align(16))]
#[derive(Default)]
struct Saved {
    /// x19..x28, x29 (frame pointer), x30 (return address), SP.
    gprs: [u64; 13],
    tpidr_el0: u64,
    /// The user stack pointer: the syscall path leaves it in SP_EL0 (vectors.S).
    sp_el0: u64,
    fpcr: u64,
    fpsr: u64,
    q: [u128; 32],
}

/// One thread's (or one CPU's idle loop's) saved execution state.
///
/// The flags come first and the uninitialised record last: a `Context::new()` written
/// into a larger value (a `Thread` built in its `Arc`) is then a store of the flags'
/// few bytes, where with a flag after the record LLVM filled the 656 undefined bytes
/// before it with zeros (a 660-byte `memset`) to merge them with the flag's store.
#[repr(C)]
pub struct Context {
    /// Nonzero while the context is running on a CPU (or being saved): CPU number + 1.
    on_cpu: AtomicU32,
    /// The context has FP/SIMD state of its own (in `saved` unless `fp_live`): set by
    /// [`Context::claim_fp`] at its first FP/SIMD instruction at EL0 ever, never cleared.
    has_fp: AtomicBool,
    /// The context's FP/SIMD state is in its CPU's registers (and EL0 untrapped): set by
    /// [`Context::claim_fp`], cleared by the switch away from it, which saves the state.
    /// Both flags are written only by the CPU that runs the context, and read there or,
    /// after the acquire of `on_cpu`, on the CPU that resumes it (ordered by `on_cpu` as
    /// `saved` is), so relaxed accesses suffice.
    fp_live: AtomicBool,
    /// Uninitialised until the first switch away from the context fills it in, or
    /// [`Context::prepare_entry`] writes what a first entry needs (every field but the
    /// FP/SIMD ones, which nothing reads before `has_fp` is set and a switch saved them,
    /// and x20-x28, which the entry loads from the trap frame): nothing reads it before
    /// either (only `switch` reads it, to resume a prepared or switched-away context,
    /// and `claim_fp` its FP/SIMD part).
    saved: UnsafeCell<MaybeUninit<Saved>>,
}

// SAFETY: `saved` is only written by `switch` on the CPU that runs the context (proved
// by `on_cpu` naming that CPU) and only read by `switch` on the CPU that resumes it,
// after `on_cpu` was released with release ordering and observed 0 with acquire
// ordering, and by `claim_fp` on the CPU that runs it after that. `prepare_entry`
// writes it before the context is shared.
unsafe impl Sync for Context {}
// SAFETY: as for Sync; the context holds no thread-bound data.
unsafe impl Send for Context {}

// Offsets from the start of a `Context`, which is what the assembly is handed.
const SAVED: usize = offset_of!(Context, saved);
const GPRS: usize = SAVED + offset_of!(Saved, gprs);
const TPIDR: usize = SAVED + offset_of!(Saved, tpidr_el0);
const SP_EL0: usize = SAVED + offset_of!(Saved, sp_el0);
const FPCR: usize = SAVED + offset_of!(Saved, fpcr);
const Q: usize = SAVED + offset_of!(Saved, q);
const ON_CPU: usize = offset_of!(Context, on_cpu);
const _: () = assert!(FPCR + 8 == SAVED + offset_of!(Saved, fpsr));

core::arch::global_asm!(
    ".arch_extension fp",
    ".arch_extension simd",
    ".section .text.switch, \"ax\"",
    // x0 = outgoing Context, x1 = incoming Context, in every entry below.
    ".macro SAVE_GENERAL",
    "    stp x19, x20, [x0, #{gprs} + 0]",
    "    stp x21, x22, [x0, #{gprs} + 16]",
    "    stp x23, x24, [x0, #{gprs} + 32]",
    "    stp x25, x26, [x0, #{gprs} + 48]",
    "    stp x27, x28, [x0, #{gprs} + 64]",
    "    stp x29, x30, [x0, #{gprs} + 80]",
    "    mov x9, sp",
    "    str x9, [x0, #{gprs} + 96]",
    "    mrs x9, tpidr_el0",
    "    str x9, [x0, #{tpidr}]",
    "    mrs x9, sp_el0",
    "    str x9, [x0, #{sp_el0}]",
    ".endm",
    ".macro SAVE_FP",
    "    mrs x9, fpcr",
    "    mrs x10, fpsr",
    "    stp x9, x10, [x0, #{fpcr}]",
    "    add x9, x0, #{q}",
    "    stp q0, q1, [x9, #0]",
    "    stp q2, q3, [x9, #32]",
    "    stp q4, q5, [x9, #64]",
    "    stp q6, q7, [x9, #96]",
    "    stp q8, q9, [x9, #128]",
    "    stp q10, q11, [x9, #160]",
    "    stp q12, q13, [x9, #192]",
    "    stp q14, q15, [x9, #224]",
    "    stp q16, q17, [x9, #256]",
    "    stp q18, q19, [x9, #288]",
    "    stp q20, q21, [x9, #320]",
    "    stp q22, q23, [x9, #352]",
    "    stp q24, q25, [x9, #384]",
    "    stp q26, q27, [x9, #416]",
    "    stp q28, q29, [x9, #448]",
    "    stp q30, q31, [x9, #480]",
    ".endm",
    // The outgoing context is completely saved: another CPU may now resume it.
    ".macro RELEASE_OUTGOING",
    "    add x9, x0, #{on_cpu}",
    "    stlr wzr, [x9]",
    ".endm",
    ".macro LOAD_FP",
    "    add x9, x1, #{q}",
    "    ldp q0, q1, [x9, #0]",
    "    ldp q2, q3, [x9, #32]",
    "    ldp q4, q5, [x9, #64]",
    "    ldp q6, q7, [x9, #96]",
    "    ldp q8, q9, [x9, #128]",
    "    ldp q10, q11, [x9, #160]",
    "    ldp q12, q13, [x9, #192]",
    "    ldp q14, q15, [x9, #224]",
    "    ldp q16, q17, [x9, #256]",
    "    ldp q18, q19, [x9, #288]",
    "    ldp q20, q21, [x9, #320]",
    "    ldp q22, q23, [x9, #352]",
    "    ldp q24, q25, [x9, #384]",
    "    ldp q26, q27, [x9, #416]",
    "    ldp q28, q29, [x9, #448]",
    "    ldp q30, q31, [x9, #480]",
    "    ldp x9, x10, [x1, #{fpcr}]",
    "    msr fpcr, x9",
    "    msr fpsr, x10",
    ".endm",
    ".macro LOAD_GENERAL_AND_RETURN",
    "    ldr x9, [x1, #{tpidr}]",
    "    msr tpidr_el0, x9",
    "    ldr x9, [x1, #{sp_el0}]",
    "    msr sp_el0, x9",
    "    ldp x19, x20, [x1, #{gprs} + 0]",
    "    ldp x21, x22, [x1, #{gprs} + 16]",
    "    ldp x23, x24, [x1, #{gprs} + 32]",
    "    ldp x25, x26, [x1, #{gprs} + 48]",
    "    ldp x27, x28, [x1, #{gprs} + 64]",
    "    ldp x29, x30, [x1, #{gprs} + 80]",
    "    ldr x9, [x1, #{gprs} + 96]",
    "    mov sp, x9",
    "    ret",
    ".endm",
    // The two switches: the second also saves the outgoing context's FP/SIMD state,
    // live in the registers (see the module comment); nothing is loaded.
    ".global ferrite_switch",
    "ferrite_switch:",
    "    SAVE_GENERAL",
    "    RELEASE_OUTGOING",
    "    LOAD_GENERAL_AND_RETURN",
    ".global ferrite_switch_save_fp",
    "ferrite_switch_save_fp:",
    "    SAVE_GENERAL",
    "    SAVE_FP",
    "    RELEASE_OUTGOING",
    "    LOAD_GENERAL_AND_RETURN",
    // A new thread's first run: x19 = its trap frame (at the top of its kernel stack).
    // The scheduler's bookkeeping for the switch runs first, then the frame is entered.
    // Its FP/SIMD state needs nothing here: it has none until its first use at EL0
    // traps (`Context::claim_fp`).
    ".global ferrite_thread_trampoline",
    "ferrite_thread_trampoline:",
    "    bl ferrite_thread_first_run",
    "    mov sp, x19",
    "    b trap_return",
    // x0 = a context: loads its saved FP/SIMD state into the registers.
    ".global ferrite_fp_load",
    "ferrite_fp_load:",
    "    mov x1, x0",
    "    LOAD_FP",
    "    ret",
    // The initial FP/SIMD state: all registers zero.
    ".global ferrite_fp_zero",
    "ferrite_fp_zero:",
    "    movi v0.2d, #0",
    "    movi v1.2d, #0",
    "    movi v2.2d, #0",
    "    movi v3.2d, #0",
    "    movi v4.2d, #0",
    "    movi v5.2d, #0",
    "    movi v6.2d, #0",
    "    movi v7.2d, #0",
    "    movi v8.2d, #0",
    "    movi v9.2d, #0",
    "    movi v10.2d, #0",
    "    movi v11.2d, #0",
    "    movi v12.2d, #0",
    "    movi v13.2d, #0",
    "    movi v14.2d, #0",
    "    movi v15.2d, #0",
    "    movi v16.2d, #0",
    "    movi v17.2d, #0",
    "    movi v18.2d, #0",
    "    movi v19.2d, #0",
    "    movi v20.2d, #0",
    "    movi v21.2d, #0",
    "    movi v22.2d, #0",
    "    movi v23.2d, #0",
    "    movi v24.2d, #0",
    "    movi v25.2d, #0",
    "    movi v26.2d, #0",
    "    movi v27.2d, #0",
    "    movi v28.2d, #0",
    "    movi v29.2d, #0",
    "    movi v30.2d, #0",
    "    movi v31.2d, #0",
    "    msr fpcr, xzr",
    "    msr fpsr, xzr",
    "    ret",
    gprs = const GPRS,
    tpidr = const TPIDR,
    sp_el0 = const SP_EL0,
    fpcr = const FPCR,
    q = const Q,
    on_cpu = const ON_CPU,
);

unsafe extern "C" {
    fn ferrite_switch(prev: *const Context, next: *const Context);
    fn ferrite_switch_save_fp(prev: *const Context, next: *const Context);
    fn ferrite_thread_trampoline();
    fn ferrite_fp_load(context: *const Context);
    fn ferrite_fp_zero();
}

impl Context {
    /// An empty context that no CPU runs (a thread not yet prepared, or a CPU's idle
    /// loop before that CPU starts).
    pub const fn new() -> Self {
        Context {
            on_cpu: AtomicU32::new(0),
            has_fp: AtomicBool::new(false),
            fp_live: AtomicBool::new(false),
            // Not zeroed: a new thread's 600-byte record would be zeroed here and then
            // copied into its `Arc` for nothing, as `prepare_entry` writes all of it.
            saved: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Marks this context as the code already running on this CPU (its boot path, which
    /// becomes its idle loop): the first [`switch`] away from it fills it in.
    pub fn adopt_running(&self) {
        self.on_cpu.store(super::percpu::cpu_index() as u32 + 1, Ordering::Release);
    }

    /// Prepares a new thread that, when first switched to, runs the kernel's
    /// `ferrite_thread_first_run` and then enters EL0 with the registers of the trap
    /// frame that `init` fills in, FP/SIMD registers, FPCR, FPSR and TPIDR_EL0 zero. The
    /// frame is written in place at the top of the kernel stack `[stack_bottom,
    /// stack_top)`, all zeros before `init` runs (not built on this stack and copied).
    ///
    /// `stack_top` must be the 16-byte aligned top of a mapped, writable kernel stack
    /// that nothing runs on, and the context must not be running or queued to run (a
    /// NEW thread): the caller's `KernelStack` and thread state prove both. A stack too
    /// small, or a context that is on a CPU, is refused with `false`.
    pub fn prepare_entry(&self, stack_bottom: u64, stack_top: u64, init: impl FnOnce(&mut TrapFrame)) -> bool {
        let frame_size = core::mem::size_of::<TrapFrame>() as u64;
        if !stack_top.is_multiple_of(16) || stack_top < stack_bottom + frame_size + 1024 || self.is_on_cpu() {
            return false;
        }
        let frame_at = stack_top - frame_size;
        // SAFETY: the caller hands over a mapped, writable kernel stack that no code runs
        // on yet; `frame_at..stack_top` lies inside it and is 16-byte aligned. The
        // context is not on any CPU (checked) and not yet visible to a scheduler, so
        // nothing else reads or writes `saved` now. `TrapFrame` is plain integers, so all
        // zeros is a valid value of it. `saved` may be uninitialised: it is written
        // through a raw pointer, whole fields of plain integers, and no reference to it
        // is made. Every field but FPCR, FPSR, `q` and x20-x28 of `gprs` is written.
        // The FP/SIMD fields are read only by `claim_fp` when `has_fp` is true (false
        // here), and it sets `has_fp` itself, giving the registers their initial
        // zeros, so a switch saves them before anything reads them. x20-x28 are read
        // only by the assembly of the first switch to this context (into registers,
        // plain bits, no Rust value), and `trap_return` loads them from the frame
        // before the thread runs. So what the unwritten bytes held never reaches the
        // thread.
        unsafe {
            let frame = frame_at as *mut TrapFrame;
            core::ptr::write_bytes(frame, 0, 1);
            init(&mut *frame);
            let saved = (*self.saved.get()).as_mut_ptr();
            // Field by field in place (not a whole `Saved` value, which would be built
            // on this stack and copied). Of the general registers only what the first
            // entry uses: x19 (the frame), x29 = 0 (ends the chain of frame records),
            // x30 (the trampoline) and SP. x20-x28 are callee-saved registers that the
            // trampoline and `ferrite_thread_first_run` never read, and `trap_return`
            // loads them from the frame.
            (*saved).gprs[0] = frame_at; // x19
            (*saved).gprs[10] = 0; // x29
            (*saved).gprs[11] = ferrite_thread_trampoline as *const () as u64; // x30
            (*saved).gprs[12] = frame_at; // sp
            (*saved).tpidr_el0 = 0;
            (*saved).sp_el0 = 0;
        }
        self.has_fp.store(false, Ordering::Relaxed);
        self.fp_live.store(false, Ordering::Relaxed);
        true
    }

    /// True while some CPU runs this context or is still saving it.
    pub fn is_on_cpu(&self) -> bool {
        self.on_cpu.load(Ordering::Acquire) != 0
    }

    /// The FP/SIMD access trap of this context's EL0 code (its first FP/SIMD
    /// instruction in this time slice): its FP/SIMD state goes into the registers (the
    /// ABI's initial state, q0-q31, FPCR and FPSR zero, the first time ever) and EL0 may
    /// use them untrapped until the switch away from it saves them. The trapping
    /// instruction runs again on the return to EL0.
    ///
    /// Must run on the CPU that runs this context, with interrupts masked (as all
    /// kernel code does), so no switch comes between setting the flags and the
    /// registers and trap they describe. A call while the state is live (which the
    /// invariant of the module comment rules out) would only untrap again: it never
    /// overwrites live state.
    pub fn claim_fp(&self) {
        debug_assert_eq!(self.on_cpu.load(Ordering::Relaxed), super::percpu::cpu_index() as u32 + 1);
        if !self.fp_live.load(Ordering::Relaxed) {
            if self.has_fp.load(Ordering::Relaxed) {
                // SAFETY: this CPU runs the context (it is the caller's own), so no
                // other CPU writes `saved`; its FP/SIMD part was written by the switch
                // that last saved the state (`has_fp` was set before it, and the state
                // was live then), ordered before this by `on_cpu`. The load writes only
                // q0-q31, FPCR and FPSR, which hold no kernel state (soft-float kernel)
                // and no other context's live state (the invariant: EL0 was trapped,
                // so none is live on this CPU).
                unsafe { ferrite_fp_load(self) };
            } else {
                // SAFETY: as above, the registers hold nothing live; the routine writes
                // only q0-q31, FPCR and FPSR.
                unsafe { ferrite_fp_zero() };
                self.has_fp.store(true, Ordering::Relaxed);
            }
            self.fp_live.store(true, Ordering::Relaxed);
        }
        set_el0_fp_trap(false);
    }
}

/// Traps (or untraps) EL0's FP/SIMD instructions on this CPU; EL1 is never trapped.
/// No `isb`: the change matters only to EL0, and the `eret` to it is a context
/// synchronization event; EL1's own access is the same either way.
#[inline(always)]
fn set_el0_fp_trap(trap: bool) {
    CPACR_EL1.modify(if trap { CPACR_EL1::FPEN::TrapEl0 } else { CPACR_EL1::FPEN::TrapNothing });
}

impl Default for Context {
    fn default() -> Self {
        Self::new()
    }
}

/// Saves the running context into `prev` and resumes `next`; returns when something
/// switches back to `prev`. FP/SIMD state is saved only when `prev`'s is live, and never
/// loaded here (see the module comment).
///
/// # Safety
///
/// 1. `prev` and `next` point to live contexts, and stay allocated until the switch has
///    saved `prev` (its owner is kept alive elsewhere, e.g. in the CPU's reaper slot
///    for a thread that is ending) and until `next` is switched away from again.
/// 2. `prev` is the context running on this CPU (checked: its `on_cpu` names this CPU),
///    `next` is no CPU's current context and is a prepared thread, an idle loop or a
///    context that was switched away from; the call waits until the CPU that last ran
///    `next` has finished saving it.
/// 3. The caller holds no spinlock; interrupts are masked (as everywhere in the kernel).
pub unsafe fn switch(prev: *const Context, next: *const Context) {
    let me = super::percpu::cpu_index() as u32 + 1;
    if core::ptr::eq(prev, next) {
        return;
    }
    // SAFETY: both pointers are live (contract 1).
    let (prev_ref, next_ref) = unsafe { (&*prev, &*next) };
    assert!(prev_ref.on_cpu.load(Ordering::Relaxed) == me, "context switch away from a context this CPU does not run");
    while next_ref.on_cpu.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_err() {
        super::cpu::spin_wait_hint();
    }
    // `prev`'s FP/SIMD state, if live, is saved by the switch and EL0 trapped again, so
    // `next` resumes trapped (the invariant: `next`'s state is never live while it is
    // not running, the switch away from it cleared the flag).
    let save_fp = prev_ref.fp_live.load(Ordering::Relaxed);
    if save_fp {
        prev_ref.fp_live.store(false, Ordering::Relaxed);
        set_el0_fp_trap(true);
    }
    // SAFETY: `prev` is this CPU's running context (checked above), `next` is owned by
    // this CPU now (its flag was 0 and we set it) and fully saved (acquire on the flag
    // pairs with the release in the switch that saved it). The assembly follows the
    // AAPCS64 for a call: it preserves the callee-saved state of `prev` in `prev`.
    // When `prev`'s FP/SIMD state is live the registers hold it (the kernel, soft-float,
    // leaves them as it found them), so saving them saves its state; `on_cpu` is
    // released only after that save.
    unsafe { if save_fp { ferrite_switch_save_fp(prev, next) } else { ferrite_switch(prev, next) } }
}
