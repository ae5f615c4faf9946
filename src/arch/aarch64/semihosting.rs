//! Arm semihosting (`hlt #0xf000`), probed at boot: without `-semihosting` (KVM, a real
//! board) the instruction is undefined, the exception handler skips it, and the kernel
//! falls back to PSCI or parking.

use core::sync::atomic::{AtomicU8, Ordering};

const SYS_WRITE0: u64 = 0x04;
const SYS_ERRNO: u64 = 0x13;
const SYS_EXIT_EXTENDED: u64 = 0x20;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

/// The value x0 holds after a trapped (undefined) `hlt`: set by the exception handler.
pub const TRAPPED: u64 = 0xdead_5e1f_dead_5e1f;

const UNKNOWN: u8 = 0;
const PRESENT: u8 = 1;
const ABSENT: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Issues one semihosting call. Returns `None` when semihosting is not available.
fn call(op: u64, arg: u64) -> Option<u64> {
    if STATE.load(Ordering::Relaxed) == ABSENT {
        return None;
    }
    // SAFETY: the semihosting ABI reads the block `arg` points to (valid for the call)
    // and returns in x0. If the debugger is absent the `hlt` is undefined: the
    // exception handler recognises its address, writes TRAPPED to x0 and skips it.
    let result = unsafe { ferrite_semihosting_call(op, arg) };
    if result == TRAPPED {
        STATE.store(ABSENT, Ordering::Relaxed);
        return None;
    }
    STATE.store(PRESENT, Ordering::Relaxed);
    Some(result)
}

/// Probes once; true when the host answers semihosting calls.
pub fn available() -> bool {
    match STATE.load(Ordering::Relaxed) {
        PRESENT => true,
        ABSENT => false,
        _ => call(SYS_ERRNO, 0).is_some(),
    }
}

/// Writes a NUL-terminated string to the host's console (stderr under QEMU).
pub fn write0(text: &[u8]) {
    let mut buf = [0u8; 160];
    for chunk in text.chunks(buf.len() - 1) {
        buf[..chunk.len()].copy_from_slice(chunk);
        buf[chunk.len()] = 0;
        if call(SYS_WRITE0, buf.as_ptr() as u64).is_none() {
            return;
        }
    }
}

/// Asks the host to exit with `status`. Returns only if semihosting is unavailable.
pub fn exit(status: u32) {
    let block = [ADP_STOPPED_APPLICATION_EXIT, status as u64];
    let _ = call(SYS_EXIT_EXTENDED, block.as_ptr() as u64);
}

core::arch::global_asm!(
    ".section .text, \"ax\"",
    ".global ferrite_semihosting_call",
    "ferrite_semihosting_call:",
    ".global semihosting_hlt",
    "semihosting_hlt:",
    "    hlt #0xf000",
    "    ret",
);

unsafe extern "C" {
    /// `hlt #0xf000` with w0 = operation, x1 = parameter block; result in x0.
    fn ferrite_semihosting_call(op: u64, arg: u64) -> u64;
    static semihosting_hlt: u8;
}

/// The address of the `hlt` used for every call, for the exception handler.
pub fn hlt_address() -> u64 {
    &raw const semihosting_hlt as u64
}
