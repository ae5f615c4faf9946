//! Which CPU is running: its index (0 for the boot CPU, then 1, 2, … in the order the
//! CPUs came up) lives in `TPIDR_EL1`, written once when the CPU starts. The kernel keeps
//! its per-CPU data in an array indexed by it (`kernel::cpu`), so no pointer needs to be
//! turned into a reference here.

use aarch64_cpu::registers::*;

/// The most CPUs the kernel drives (ABI.md section 7 asks for at least 8): as many as
/// the device-tree reader records.
pub const MAX_CPUS: usize = crate::platform::machine::MAX_CPUS;
const _: () = assert!(MAX_CPUS.is_power_of_two());

/// Records this CPU's index; called once per CPU before it runs any other kernel code.
pub fn set_cpu_index(index: usize) {
    TPIDR_EL1.set(index as u64);
}

/// The running CPU's index.
#[inline(always)]
pub fn cpu_index() -> usize {
    (TPIDR_EL1.get() as usize) & (MAX_CPUS - 1)
}
