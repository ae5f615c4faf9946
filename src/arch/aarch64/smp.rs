//! Starting the other CPUs (ABI.md section 7): PSCI `CPU_ON` through the tree's conduit
//! (QEMU virt, KVM) or a spin table (`cpu-release-addr`: the Pi 4 and QEMU raspi4b). A
//! started CPU enters `secondary_entry` in boot.S with its MMU off, reads the block the
//! boot CPU filled in for it (its stack, its index, the kernel's tables) and calls
//! `secondary_cpu_entry` in the kernel. CPUs are started one at a time, so one block
//! serves them all.

use super::mmu::{kernel_virt_to_phys, phys_to_virt};
use crate::mm::PhysAddr;
use crate::platform::PsciMethod;
use aarch64_cpu::registers::*;
use core::arch::asm;

unsafe extern "C" {
    fn secondary_entry();
    static mut secondary_boot: [u64; 4];
}

/// PSCI CPU_ON, SMC64 calling convention.
const PSCI_CPU_ON: u64 = 0xC400_0003;

/// How a CPU is released.
#[derive(Clone, Copy, Debug)]
pub enum StartMethod {
    /// PSCI `CPU_ON` through HVC or SMC.
    Psci(PsciMethod),
    /// Write the entry point to this physical address, then `sev`.
    SpinTable(PhysAddr),
}

/// Why a CPU could not be started.
#[derive(Clone, Copy, Debug)]
pub enum StartError {
    /// PSCI answered with this status.
    Psci(i64),
    /// The release address is not RAM the kernel maps.
    BadReleaseAddress,
}

/// Starts the CPU `mpidr` at `secondary_entry`, where it will run on the stack ending at
/// `stack_top` as CPU number `index`.
pub fn start_cpu(mpidr: u64, method: StartMethod, index: usize, stack_top: u64) -> Result<(), StartError> {
    let block = [stack_top, index as u64, TTBR1_EL1.get(), 0];
    // SAFETY: CPUs are started one at a time by the boot CPU, and the previous one has
    // read the block (it reports itself up before the next start): nothing else
    // accesses it now. It is cleaned to memory because the new CPU reads it with its
    // caches off.
    unsafe {
        let at = &raw mut secondary_boot;
        core::ptr::write_volatile(at, block);
        super::cache::data_range(super::cache::DataOp::CleanInvalidate, at as u64, 32);
    }
    let entry = kernel_virt_to_phys(secondary_entry as *const () as u64);
    match method {
        StartMethod::Psci(conduit) => {
            let status: i64;
            // SAFETY: a PSCI call: the firmware or hypervisor starts the CPU; no memory of
            // ours changes. x0–x3 are the call's registers, the rest are preserved.
            unsafe {
                match conduit {
                    PsciMethod::Hvc => asm!("hvc #0", inout("x0") PSCI_CPU_ON => status, in("x1") mpidr,
                        in("x2") entry, in("x3") 0u64, options(nostack)),
                    PsciMethod::Smc => asm!("smc #0", inout("x0") PSCI_CPU_ON => status, in("x1") mpidr,
                        in("x2") entry, in("x3") 0u64, options(nostack)),
                }
            }
            if status == 0 { Ok(()) } else { Err(StartError::Psci(status)) }
        }
        StartMethod::SpinTable(release) => {
            let in_ram = crate::kernel::memory::RAM.get().is_some_and(|ram| ram.contains(release));
            if !in_ram || !release.0.is_multiple_of(8) {
                return Err(StartError::BadReleaseAddress);
            }
            let va = phys_to_virt(release).0;
            // SAFETY: the release address is an aligned RAM word reserved for the spin
            // table (the tree's cpu-release-addr; the kernel never allocates page 0 or
            // reserved memory) and mapped in the linear map (checked above). The waiting
            // CPU reads it with its caches off: clean it, then wake it.
            unsafe {
                core::ptr::write_volatile(va as *mut u64, entry);
                super::cache::data_range(super::cache::DataOp::CleanInvalidate, va, 8);
                asm!("dsb sy", "sev", options(nostack));
            }
            Ok(())
        }
    }
}
