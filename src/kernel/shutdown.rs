//! Stopping the machine (ABI.md section 3): semihosting exit with the status, else PSCI
//! SYSTEM_OFF where the tree has PSCI, else parking every CPU. The last console line
//! always says why the kernel stopped.

use crate::arch::aarch64::{cpu, psci, semihosting};
use crate::platform::PsciMethod;
use core::sync::atomic::{AtomicU8, Ordering};

/// 0 = unknown, 1 = HVC, 2 = SMC, 3 = none; recorded at boot from the device tree.
static PSCI: AtomicU8 = AtomicU8::new(0);

/// Records the PSCI conduit the device tree names (or that there is none).
pub fn set_psci(method: Option<PsciMethod>) {
    let code = match method {
        Some(PsciMethod::Hvc) => 1,
        Some(PsciMethod::Smc) => 2,
        None => 3,
    };
    PSCI.store(code, Ordering::Relaxed);
}

/// Shuts the machine down with `status` (already reduced to 0..=255).
pub fn shutdown(status: u32, reason: &str) -> ! {
    cpu::disable_interrupts();
    crate::kprintln!("ferrite: {reason}; shutting down (status {status})");
    semihosting::exit(status);
    let method = match PSCI.load(Ordering::Relaxed) {
        1 => Some(PsciMethod::Hvc),
        2 => Some(PsciMethod::Smc),
        _ => None,
    };
    if let Some(method) = method {
        psci::system_off(method);
        crate::kprintln!("ferrite: PSCI SYSTEM_OFF returned; parking the CPU");
    } else {
        crate::kprintln!("ferrite: no semihosting and no PSCI: parking the CPU (status {status})");
    }
    cpu::park()
}
