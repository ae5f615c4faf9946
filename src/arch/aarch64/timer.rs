//! The EL1 virtual generic timer: a monotonic counter and a periodic tick.

use aarch64_cpu::registers::*;

/// Counter frequency in Hz (CNTFRQ_EL0).
pub fn frequency() -> u64 {
    CNTFRQ_EL0.get()
}

/// The virtual counter (CNTVCT_EL0), read after an ISB so it is not speculated early.
pub fn ticks() -> u64 {
    aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    CNTVCT_EL0.get()
}

/// Arms the virtual timer to fire `ticks` from now and unmasks it.
pub fn arm(ticks: u64) {
    CNTV_TVAL_EL0.set(ticks.min(u32::MAX as u64));
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::SET + CNTV_CTL_EL0::IMASK::CLEAR);
}

/// Stops the timer.
pub fn disarm() {
    CNTV_CTL_EL0.write(CNTV_CTL_EL0::ENABLE::CLEAR);
}
