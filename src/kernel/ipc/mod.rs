//! IPC objects (ABI.md 4.2, calls 37–48, 52–54, 61): events and eventpairs, channels,
//! ports, timers, and console input for `zx_debug_read`. Each keeps its signals in its
//! object base; observers (waits, port registrations) are told there. The bookkeeping
//! that needs no lock or hardware is the pure `crate::ipc`.

pub mod channel;
pub mod console_input;
pub mod event;
pub mod port;
pub mod timer;

use core::sync::atomic::{AtomicU64, Ordering};

/// Bytes of queued messages and port packets (KMEM_STATS `ipc_bytes`).
static IPC_BYTES: AtomicU64 = AtomicU64::new(0);

/// Adds `delta` bytes to the IPC accounting.
pub(crate) fn account(delta: i64) {
    IPC_BYTES.fetch_add(delta as u64, Ordering::Relaxed);
}

/// Bytes of kernel memory in queued messages and port packets now.
pub fn ipc_bytes() -> u64 {
    IPC_BYTES.load(Ordering::Relaxed)
}
