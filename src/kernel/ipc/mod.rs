//! IPC objects (ABI.md 4.2, calls 37–48, 52–54, 61): events and eventpairs, channels,
//! ports, timers, and console input for `zx_debug_read`. Each keeps its signals in its
//! object base; observers (waits, port registrations) are told there. The bookkeeping
//! that needs no lock or hardware is the pure `crate::ipc`.

pub mod channel;
pub mod console_input;
pub mod event;
pub mod port;
pub mod timer;

use core::sync::atomic::Ordering;

/// Adds `delta` bytes to the IPC accounting (KMEM_STATS `ipc_bytes`): to this CPU's
/// share (`CpuLocal::ipc_bytes`), with a plain load and store instead of a
/// read-modify-write of one global counter (an exclusive load/store loop, twice per
/// message or packet, on a cache line every CPU's IPC wrote).
///
/// Sound without a read-modify-write: only this CPU writes its share, and nothing else
/// runs on it between the load and the store. Kernel code runs with interrupts masked
/// (they are unmasked only around a `wfi`, in the idle loop and
/// `irq::sleep_until_interrupt`, never inside this function) and a thread leaves its
/// CPU only where it blocks, which this function does not; so an interrupt handler that
/// queues a packet (a timer's) never cuts into another update of the same share.
#[inline(always)]
pub(crate) fn account(delta: i64) {
    let share = &crate::kernel::cpu::this().ipc_bytes;
    share.store(share.load(Ordering::Relaxed).wrapping_add(delta as u64), Ordering::Relaxed);
}

/// Bytes of kernel memory in queued messages and port packets now: the sum of every
/// CPU's share. Exact when no message or packet is queued or taken during the read;
/// while some are, the shares are read one after another, so the sum is that of
/// different moments, off by at most the bytes moved meanwhile (a message queued on one
/// CPU and taken on another between the two reads of their shares can make it look
/// negative, which reads as 0). The statistic is a report, which nothing in the kernel
/// decides on; the leak checks read it with the system at rest.
pub fn ipc_bytes() -> u64 {
    let sum = (0..crate::arch::aarch64::percpu::MAX_CPUS)
        .map(|cpu| crate::kernel::cpu::get(cpu).ipc_bytes.load(Ordering::Relaxed))
        .fold(0u64, u64::wrapping_add);
    (sum as i64).max(0) as u64
}
