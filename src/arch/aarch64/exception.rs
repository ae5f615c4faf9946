//! Exception entry from the vector table: the saved trap frame, and the first decision
//! of what an exception is (syscall, user page fault, user fault, IRQ, kernel fault).

use crate::arch::aarch64::{semihosting, user_copy};
use crate::trap::TrapCause;
use aarch64_cpu::registers::*;

/// The interrupted context, as vectors.S saves it (288 bytes, 16-byte aligned).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    /// x0..x30.
    pub x: [u64; 31],
    /// The user stack pointer.
    pub sp_el0: u64,
    /// The return address.
    pub elr: u64,
    /// The saved PSTATE.
    pub spsr: u64,
    /// A frame record (fp, pc) linking backtraces through the trap.
    frame_record: [u64; 2],
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 288);

impl TrapFrame {
    /// A frame that enters EL0 at `entry` with stack `sp` and arguments x0..x2, every
    /// other register zero, interrupts unmasked.
    pub fn new_user(entry: u64, sp: u64, args: [u64; 3]) -> Self {
        let mut frame = TrapFrame::default();
        frame.x[..3].copy_from_slice(&args);
        frame.sp_el0 = sp;
        frame.elr = entry;
        frame.spsr = 0; // EL0t, DAIF clear
        frame
    }
}

/// Which of the 16 vectors was taken (the `kind` vectors.S passes).
mod kind {
    pub const CUR_SP0: u64 = 0;
    pub const CUR_SPX_SYNC: u64 = 4;
    pub const CUR_SPX_IRQ: u64 = 5;
    pub const LOW_SYNC: u64 = 8;
    pub const LOW_IRQ: u64 = 9;
    pub const LOW32: u64 = 12;
}

/// Called by vectors.S with the saved frame.
#[unsafe(no_mangle)]
extern "C" fn handle_exception(frame: &mut TrapFrame, kind: u64) {
    match kind {
        kind::LOW_SYNC => {
            lower_el_sync(frame);
            crate::kernel::sched::before_user_return();
        }
        kind::LOW_IRQ => {
            crate::kernel::irq::handle_irq();
            crate::kernel::sched::before_user_return();
        }
        kind::CUR_SPX_IRQ => crate::kernel::irq::handle_irq(),
        kind::CUR_SPX_SYNC => current_el_sync(frame),
        kind::LOW32 => crate::kernel::fault::user_fault(frame, &"AArch32 execution", ESR_EL1.get(), FAR_EL1.get()),
        kind::CUR_SP0 => crate::kernel::panic::trap_panic(frame, &"exception taken with SP_EL0 at EL1"),
        _ => crate::kernel::panic::trap_panic(frame, &"unexpected FIQ or SError"),
    }
}

fn lower_el_sync(frame: &mut TrapFrame) {
    let esr = ESR_EL1.get();
    let cause = TrapCause::from_esr(esr);
    match cause {
        TrapCause::Svc64 { .. } => crate::kernel::syscalls::handle(frame),
        // Only translation, access-flag and permission faults can be a page the kernel
        // has not mapped yet; alignment and other faults go straight to the process.
        TrapCause::DataAbort { write, fault, .. } if fault.may_be_resolved() => {
            let far = FAR_EL1.get();
            let translation = matches!(fault, crate::trap::FaultKind::Translation { .. });
            if crate::kernel::fault::resolve_user_fault(far, write, false, translation).is_err() {
                crate::kernel::fault::user_fault(frame, &cause, esr, far);
            }
        }
        TrapCause::InstructionAbort { fault, .. } if fault.may_be_resolved() => {
            let far = FAR_EL1.get();
            let translation = matches!(fault, crate::trap::FaultKind::Translation { .. });
            if crate::kernel::fault::resolve_user_fault(far, false, true, translation).is_err() {
                crate::kernel::fault::user_fault(frame, &cause, esr, far);
            }
        }
        _ => crate::kernel::fault::user_fault(frame, &cause, esr, FAR_EL1.get()),
    }
}

fn current_el_sync(frame: &mut TrapFrame) {
    let esr = ESR_EL1.get();
    // 0. A kernel test image provoked this fault on purpose (kernel::testing::expect_fault):
    //    it is recorded and execution resumes past it. One relaxed load when no test waits.
    if crate::kernel::testing::catch_expected_fault(frame, esr) {
        return;
    }
    let cause = TrapCause::from_esr(esr);
    // 1. A semihosting probe without a debugger: `hlt` is undefined. Skip it.
    if matches!(cause, TrapCause::Undefined) && frame.elr == semihosting::hlt_address() {
        frame.x[0] = semihosting::TRAPPED;
        frame.elr += 4;
        return;
    }
    // 2. A fault on a user address in the user-copy routine: resume at its fixup, which
    //    reports the fault to the syscall (which resolves it and resumes, or fails).
    if let TrapCause::DataAbort { write, .. } = cause {
        let far = FAR_EL1.get();
        if far < crate::abi::USER_END
            && let Some(fixup) = user_copy::fixup_for(frame.elr, far, write)
        {
            frame.elr = fixup;
            return;
        }
    }
    crate::kernel::panic::trap_panic(frame, &cause);
}

/// Called by vectors.S on an overflow of a kernel stack, on the emergency stack.
#[unsafe(no_mangle)]
extern "C" fn kernel_stack_overflow(elr: u64, far: u64) -> ! {
    crate::kernel::panic::stack_overflow(elr, far)
}

/// Called by the start-up assembly, in the high half with the boot stack.
#[unsafe(no_mangle)]
extern "C" fn kernel_entry(dtb_pa: u64, load_pa: u64, entry_el: u64) -> ! {
    crate::kernel::boot::start(dtb_pa, load_pa, entry_el)
}

/// Called by `secondary_high_entry` in boot.S on a started secondary CPU, on its idle
/// stack, with its CPU number.
#[unsafe(no_mangle)]
extern "C" fn secondary_cpu_entry(index: u64) -> ! {
    super::percpu::set_cpu_index(index as usize);
    crate::kernel::boot::secondary_start(index as usize)
}

/// Calls the image's `ferrite_main` (userboot in the kernel, the runner in test images).
pub fn call_main(info: crate::kernel::boot::BootInfo) -> ! {
    unsafe extern "Rust" {
        fn ferrite_main(info: crate::kernel::boot::BootInfo) -> !;
    }
    // SAFETY: every image linking the kernel library defines `ferrite_main` with this
    // signature (src/main.rs, tests/*.rs).
    unsafe { ferrite_main(info) }
}
