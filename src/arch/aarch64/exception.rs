//! Exception entry from the vector table: the saved trap frame, and the first decision
//! of what an exception is (syscall, user page fault, user fault, IRQ, kernel fault).

use crate::arch::aarch64::{semihosting, user_copy};
use crate::trap::TrapCause;
use aarch64_cpu::registers::*;

/// The interrupted context, as vectors.S saves it (288 bytes, 16-byte aligned).
///
/// Laid out for the lean entries (a syscall, a resolved user page fault), which save only
/// what a Rust call may change, x0..x18 and x30, and ELR/SPSR: those come first, so that
/// they are eleven pairs (x18 and x30 share one store). The callee-saved x19..x29 and
/// SP_EL0, which only the full path saves, follow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    /// x0..x18.
    pub x: [u64; 19],
    /// x30, the link register.
    pub x30: u64,
    /// The return address.
    pub elr: u64,
    /// The saved PSTATE.
    pub spsr: u64,
    /// x19..x29 (saved only on the full path: the lean paths' Rust callees preserve them).
    pub x19_x29: [u64; 11],
    /// The user stack pointer.
    pub sp_el0: u64,
    /// A frame record (fp, pc) linking backtraces through the trap.
    frame_record: [u64; 2],
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == 288);
// vectors.S pushes the frame with the store of x0/x1 (`stp x0, x1, [sp, #-FRAME_SIZE]!`)
// and pops it with their load, so they must be its first two words.
const _: () = assert!(core::mem::offset_of!(TrapFrame, x) == 0);

impl TrapFrame {
    /// Where x0 is (x_n at `X_OFFSET + 8 * n` up to x18, then x30); vectors.S gets these
    /// offsets.
    pub const X_OFFSET: usize = core::mem::offset_of!(TrapFrame, x);
    /// ELR, with SPSR right after it (a pair).
    pub const ELR_OFFSET: usize = core::mem::offset_of!(TrapFrame, elr);
    /// x19, with x20..x29 and then SP_EL0 after it (x29 and SP_EL0 make a pair).
    pub const X19_OFFSET: usize = core::mem::offset_of!(TrapFrame, x19_x29);
    /// The frame record (x29, ELR) linking backtraces through the trap.
    pub const RECORD_OFFSET: usize = core::mem::offset_of!(TrapFrame, frame_record);

    /// General register `n` (0..=30), for reports.
    pub fn reg(&self, n: usize) -> u64 {
        match n {
            0..=18 => self.x[n],
            19..=29 => self.x19_x29[n - 19],
            _ => self.x30,
        }
    }
}

const _: () = assert!(core::mem::offset_of!(TrapFrame, x30) == TrapFrame::X_OFFSET + 19 * 8);
const _: () = assert!(TrapFrame::ELR_OFFSET == TrapFrame::X_OFFSET + 20 * 8);
const _: () = assert!(core::mem::offset_of!(TrapFrame, spsr) == TrapFrame::ELR_OFFSET + 8);
const _: () = assert!(core::mem::offset_of!(TrapFrame, sp_el0) == TrapFrame::X19_OFFSET + 11 * 8);
const _: () = assert!(TrapFrame::RECORD_OFFSET + 16 <= core::mem::size_of::<TrapFrame>());

impl TrapFrame {
    /// A frame that enters EL0 at `entry` with stack `sp` and arguments x0..x2, every
    /// other register zero, interrupts unmasked.
    pub fn new_user(entry: u64, sp: u64, args: [u64; 3]) -> Self {
        let mut frame = TrapFrame::default();
        frame.set_user_entry(entry, sp, args);
        frame
    }

    /// Makes a zeroed frame enter EL0 at `entry` with `sp` and x0..x2 = `args`.
    pub fn set_user_entry(&mut self, entry: u64, sp: u64, args: [u64; 3]) {
        self.x[..3].copy_from_slice(&args);
        self.sp_el0 = sp;
        self.elr = entry;
        self.spsr = 0; // EL0t, DAIF clear
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
    /// A data abort from EL0 that the lean path (`user_abort_lean`) could not resolve.
    pub const LOW_SYNC_UNRESOLVED: u64 = 13;
}

/// Called by vectors.S for a data abort from EL0 before the full frame is saved, with
/// only x0..x18, x30, ELR and SPSR on the stack: 0 when the fault was resolved
/// (return through the lean path), 1 to take the full path, 2 when the user fault is to
/// be reported (`kernel::exceptions::user_data_abort_lean`).
#[unsafe(no_mangle)]
extern "C" fn user_abort_lean(esr: u64, far: u64) -> u64 {
    crate::kernel::exceptions::user_data_abort_lean(esr, far)
}

/// Called by vectors.S with the saved frame: the mechanism only. Which faults are
/// resolved, what a syscall does and how a thread ends are the kernel's business
/// (`kernel::exceptions`, one entry point per kind); arch keeps the two fix-ups that are
/// about its own code (a semihosting probe, the user-copy routine).
#[unsafe(no_mangle)]
extern "C" fn handle_exception(frame: &mut TrapFrame, kind: u64) {
    use crate::kernel::exceptions as k;
    if matches!(kind, kind::CUR_SPX_SYNC | kind::CUR_SPX_IRQ) && crate::kernel::sync::order_check() {
        // An exception at EL1 rewrote ELR/SPSR: not allowed inside a lean syscall.
        crate::kernel::syscalls::check_not_in_lean_call("an exception at EL1");
    }
    match kind {
        kind::LOW_SYNC => k::from_user_sync(frame, ESR_EL1.get(), FAR_EL1.get()),
        kind::LOW_IRQ => k::from_user_irq(),
        kind::CUR_SPX_IRQ => k::kernel_irq(),
        kind::CUR_SPX_SYNC => {
            if !arch_fixup(frame) {
                k::kernel_sync(frame, ESR_EL1.get(), FAR_EL1.get())
            }
        }
        kind::LOW32 => k::from_user_aarch32(frame, ESR_EL1.get(), FAR_EL1.get()),
        // ESR and FAR still describe the abort: the lean path took no exception at EL1
        // that returned (it runs with interrupts masked and touches no user memory).
        kind::LOW_SYNC_UNRESOLVED => k::from_user_unresolved_abort(frame, ESR_EL1.get(), FAR_EL1.get()),
        kind::CUR_SP0 => k::kernel_unexpected(frame, &"exception taken with SP_EL0 at EL1"),
        _ => k::kernel_unexpected(frame, &"unexpected FIQ or SError"),
    }
}

/// A synchronous exception at EL1 that arch's own code expects: true when handled.
fn arch_fixup(frame: &mut TrapFrame) -> bool {
    let esr = ESR_EL1.get();
    let cause = TrapCause::from_esr(esr);
    // 1. A semihosting probe without a debugger: `hlt` is undefined. Skip it.
    if matches!(cause, TrapCause::Undefined) && frame.elr == semihosting::hlt_address() {
        frame.x[0] = semihosting::TRAPPED;
        frame.elr += 4;
        return true;
    }
    // 2. A fault on a user address in the user-copy routine: resume at its fixup, which
    //    reports the fault to the syscall (which resolves it and resumes, or fails).
    if let TrapCause::DataAbort { write, .. } = cause {
        let far = FAR_EL1.get();
        if far < crate::abi::USER_END
            && let Some(fixup) = user_copy::fixup_for(frame.elr, far, write)
        {
            frame.elr = fixup;
            return true;
        }
    }
    false
}

/// Called by vectors.S on an overflow of a kernel stack, on the emergency stack.
#[unsafe(no_mangle)]
extern "C" fn kernel_stack_overflow(elr: u64, far: u64) -> ! {
    crate::kernel::panic::stack_overflow(elr, far)
}

/// Called by the start-up assembly, in the high half with the boot stack.
#[unsafe(no_mangle)]
extern "C" fn kernel_entry(dtb_pa: u64, load_pa: u64, entry_el: u64) -> ! {
    // This is CPU 0: per-CPU data is found through TPIDR_EL1 from here on.
    super::percpu::set_cpu_index(0);
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
