//! PSCI calls through the conduit the device tree names (HVC or SMC).

use crate::platform::PsciMethod;

const SYSTEM_OFF: u64 = 0x8400_0008;

/// Asks the firmware or hypervisor to power the machine off. Returns if it refuses.
pub fn system_off(method: PsciMethod) {
    // SAFETY: a PSCI call with a function ID and no memory arguments; the device tree
    // said this conduit is served.
    unsafe {
        match method {
            PsciMethod::Hvc => core::arch::asm!("hvc #0", inout("x0") SYSTEM_OFF => _, options(nostack)),
            PsciMethod::Smc => core::arch::asm!("smc #0", inout("x0") SYSTEM_OFF => _, options(nostack)),
        }
    }
}
