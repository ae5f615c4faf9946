//! What the kernel does with each kind of exception (arch's vector code calls one
//! function per kind): syscalls and page faults from EL0, interrupts, faults in the
//! kernel. The way back to EL0 is where a killed thread ends and a preempted one
//! yields.

use crate::arch::aarch64::exception::TrapFrame;
use crate::trap::{FaultKind, TrapCause};
use core::fmt::Display;
use core::sync::atomic::Ordering;

/// A synchronous exception from EL0 that did not take the lean syscall path: a syscall
/// through a frame, or a fault the VM layer may resolve, or a user fault.
pub fn from_user_sync(frame: &mut TrapFrame, esr: u64, far: u64) {
    let cause = TrapCause::from_esr(esr);
    match cause {
        TrapCause::Svc64 { .. } => super::syscalls::handle(frame),
        // Only translation, access-flag and permission faults can be a page the kernel
        // has not mapped yet; alignment and other faults go straight to the process.
        TrapCause::DataAbort { write, fault, .. } if fault.may_be_resolved() => {
            let translation = matches!(fault, FaultKind::Translation { .. });
            if super::fault::resolve_user_fault(far, write, false, translation).is_err() {
                super::fault::user_fault(frame, &cause, esr, far);
            }
        }
        TrapCause::InstructionAbort { fault, .. } if fault.may_be_resolved() => {
            let translation = matches!(fault, FaultKind::Translation { .. });
            if super::fault::resolve_user_fault(far, false, true, translation).is_err() {
                super::fault::user_fault(frame, &cause, esr, far);
            }
        }
        // The thread's first FP/SIMD instruction (FP/SIMD state is switched lazily, see
        // arch::context): it gets its state and runs the instruction again.
        TrapCause::FpAccess => match super::cpu::current_running() {
            Some(thread) => thread.context().claim_fp(),
            None => super::fault::user_fault(frame, &cause, esr, far),
        },
        _ => super::fault::user_fault(frame, &cause, esr, far),
    }
    super::sched::before_user_return();
}

/// The lean path of a data abort from EL0 (vectors.S), which has saved only what a
/// syscall saves (x0..x18, x30, ELR, SPSR): like a syscall handler this preserves
/// x19..x29 (AAPCS64) and never reads or changes the frame. A translation fault (a page
/// not mapped yet: every first touch) is resolved here, exactly as [`from_user_sync`]
/// resolves it. Returns 0 when it was (the thread goes back to EL0 through the lean
/// return), 1 for any other ESR (vectors.S completes the frame and takes the full path,
/// which decodes it from scratch), 2 when the fault could not be resolved (vectors.S
/// completes the frame and [`from_user_unresolved_abort`] reports the user fault, without
/// a second try).
pub fn user_data_abort_lean(esr: u64, far: u64) -> u64 {
    let Some(write) = TrapCause::user_translation_fault(esr) else { return 1 };
    if super::fault::resolve_user_fault(far, write, false, true).is_err() {
        return 2;
    }
    // `before_user_return`, only when one of this CPU's flags asks for it, as on the
    // way back from a syscall: resolving the fault woke no one and ran with interrupts
    // masked, so no tick or IPI set `need_resched` meanwhile, and a kill from another
    // CPU (`sched::kick`) sends this CPU an IPI that is taken right after the `eret`,
    // whose return path ends the thread. Looking up the current thread for its kill
    // flag here (a lock and a reference count) would only end it one interrupt sooner.
    let local = super::cpu::this();
    if local.exit_pending.load(Ordering::Relaxed) || local.need_resched.load(Ordering::Relaxed) {
        super::sched::before_user_return();
    }
    0
}

/// The rest of a data abort from EL0 that [`user_data_abort_lean`] could not resolve,
/// with the full frame: the user fault, as [`from_user_sync`] reports it.
pub fn from_user_unresolved_abort(frame: &mut TrapFrame, esr: u64, far: u64) {
    super::fault::user_fault(frame, &TrapCause::from_esr(esr), esr, far);
    super::sched::before_user_return();
}

/// AArch32 code at EL0: never supported, a user fault.
pub fn from_user_aarch32(frame: &mut TrapFrame, esr: u64, far: u64) {
    super::fault::user_fault(frame, &"AArch32 execution", esr, far);
    super::sched::before_user_return();
}

/// An interrupt taken from EL0.
pub fn from_user_irq() {
    super::irq::handle_irq();
    super::sched::before_user_return();
}

/// An interrupt taken at EL1 (only in the idle loop, which unmasks them).
pub fn kernel_irq() {
    super::irq::handle_irq();
}

/// A hook a kernel test image installs to catch the faults it provokes on purpose
/// (`kernel::testing::expect_fault`); 0 in the product, where it costs one load.
static KERNEL_FAULT_HOOK: spin::Once<fn(&mut TrapFrame, u64) -> bool> = spin::Once::new();

/// Installs the test images' fault hook (once; later calls keep the first).
pub fn set_kernel_fault_hook(hook: fn(&mut TrapFrame, u64) -> bool) {
    KERNEL_FAULT_HOOK.call_once(|| hook);
}

/// A synchronous exception at EL1 that arch did not expect: a kernel bug (or a test
/// image's deliberate fault).
pub fn kernel_sync(frame: &mut TrapFrame, esr: u64, _far: u64) {
    if let Some(hook) = KERNEL_FAULT_HOOK.get()
        && hook(frame, esr)
    {
        return;
    }
    super::panic::trap_panic(frame, &TrapCause::from_esr(esr));
}

/// An exception the kernel never expects.
pub fn kernel_unexpected(frame: &TrapFrame, what: &dyn Display) -> ! {
    super::panic::trap_panic(frame, what)
}
