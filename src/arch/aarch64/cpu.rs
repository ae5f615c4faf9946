//! CPU-level helpers: barriers, interrupt masking, feature probes, parking.

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::*;
use core::arch::asm;

/// Waits for an interrupt.
pub fn wait_for_interrupt() {
    aarch64_cpu::asm::wfi();
}

/// Parks this CPU for good, with interrupts masked.
pub fn park() -> ! {
    disable_interrupts();
    loop {
        aarch64_cpu::asm::wfi();
    }
}

/// Masks IRQs and FIQs at EL1.
pub fn disable_interrupts() {
    // SAFETY: setting DAIF.I/F only masks interrupts; it touches no memory.
    unsafe { asm!("msr daifset, #3", options(nomem, nostack)) };
}

/// Unmasks IRQs at EL1.
pub fn enable_interrupts() {
    // SAFETY: clearing DAIF.I lets the vector table (already installed) take IRQs.
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack)) };
}

/// One turn of a spin-wait for another CPU: the `yield` hint (Linux's `cpu_relax` on
/// arm64), not `core::hint::spin_loop`'s `isb`. It tells the machine this CPU makes no
/// progress; QEMU's TCG, when it runs the vCPUs in turn (`-icount`, single-threaded),
/// answers it by running the next vCPU, which is what the waiting CPU waits for (an
/// `isb` spin there lasted until the spinning vCPU's turn ended, milliseconds of
/// virtual time).
#[inline(always)]
pub fn spin_wait_hint() {
    // SAFETY: a hint: no memory, no registers, no state.
    unsafe { asm!("yield", options(nomem, nostack, preserves_flags)) };
}

/// Full-system data synchronisation barrier followed by an instruction barrier.
pub fn dsb_isb() {
    barrier::dsb(barrier::SY);
    barrier::isb(barrier::SY);
}

/// The exception level the CPU runs at.
/// Instruction synchronisation barrier (lets a pending interrupt be taken right after
/// interrupts are unmasked).
pub fn isb() {
    barrier::isb(barrier::SY);
}

/// The exception level the CPU runs at.
pub fn current_el() -> u64 {
    CurrentEL.read(CurrentEL::EL)
}

/// MPIDR_EL1 affinity bits of this CPU.
pub fn mpidr() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

/// Width of this CPU's physical addresses (ID_AA64MMFR0_EL1.PARange): 32 to 52 bits.
pub fn physical_address_bits() -> u32 {
    crate::platform::machine::pa_bits_from_parange(ID_AA64MMFR0_EL1.get() & 0xf)
}

/// True when the CPU implements Privileged Access Never (ARMv8.1).
pub fn has_pan() -> bool {
    (ID_AA64MMFR1_EL1.get() >> 20) & 0xf != 0
}

/// Turns PAN on now and on every exception entry, so the kernel cannot touch user
/// memory except through the user-copy routines (which lift it for their duration).
pub fn enable_pan() {
    if !has_pan() {
        return;
    }
    // SCTLR_EL1.SPAN = 0: exception entry to EL1 sets PSTATE.PAN.
    SCTLR_EL1.set(SCTLR_EL1.get() & !(1 << 23));
    // SAFETY: PAN is implemented (checked above); setting it only restricts EL1 access
    // to EL0-accessible pages.
    unsafe { asm!(".inst 0xd500419f", options(nomem, nostack)) }; // msr pan, #1
    barrier::isb(barrier::SY);
}

/// Lets EL0 read the virtual counter and its frequency (ABI.md section 2), nothing else.
pub fn allow_el0_counter() {
    CNTKCTL_EL1.write(CNTKCTL_EL1::EL0VCTEN::SET);
}

/// Reads the frame pointer of the caller, for backtraces.
pub fn frame_pointer() -> u64 {
    let fp: u64;
    // SAFETY: reads a register.
    unsafe { asm!("mov {}, x29", out(reg) fp, options(nomem, nostack)) };
    fp
}

/// The registers a panic report shows (the caller's SP, FP and LR, and the last
/// exception's syndrome registers).
pub struct RegisterSnapshot {
    /// Stack pointer.
    pub sp: u64,
    /// Frame pointer (x29).
    pub fp: u64,
    /// Link register (x30).
    pub lr: u64,
    /// Interrupt masks.
    pub daif: u64,
    /// Syndrome of the last exception taken to EL1.
    pub esr: u64,
    /// Fault address of the last exception taken to EL1.
    pub far: u64,
    /// Return address of the last exception taken to EL1.
    pub elr: u64,
}

/// Reads the registers of [`RegisterSnapshot`].
#[inline(always)]
pub fn snapshot() -> RegisterSnapshot {
    let (sp, fp, lr): (u64, u64, u64);
    // SAFETY: reads registers.
    unsafe {
        asm!("mov {}, sp", "mov {}, x29", "mov {}, x30", out(reg) sp, out(reg) fp, out(reg) lr, options(nomem, nostack))
    };
    RegisterSnapshot { sp, fp, lr, daif: DAIF.get(), esr: ESR_EL1.get(), far: FAR_EL1.get(), elr: ELR_EL1.get() }
}
