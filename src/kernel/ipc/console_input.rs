//! Console input for `zx_debug_read` (ABI.md 61): bytes received by the console UART go
//! into a 1024-byte ring (new bytes are dropped while it is full) and wake the threads
//! waiting for input. The PL011 raises its receive interrupt (its INTID comes from the
//! device tree). The Raspberry Pi's mini UART has its interrupt on the shared AUX line,
//! so it is polled from the timer tick instead (ticks are at most 10 ms apart, idle CPUs
//! included); so is a PL011 whose tree node names no interrupt.

use crate::error::{ZxError, ZxResult};
use crate::kernel::sched::{self, WaitNode, WakeReason};
use crate::kernel::task::Thread;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

/// Bytes of console input kept for readers.
pub const RING_BYTES: usize = 1024;

struct Input {
    ring: [u8; RING_BYTES],
    head: usize,
    len: usize,
    waiters: Vec<WaitNode>,
}

static INPUT: crate::kernel::sync::Lock<Input> = crate::kernel::sync::Lock::new(
    &crate::kernel::sync::class::CONSOLE_INPUT,
    Input { ring: [0; RING_BYTES], head: 0, len: 0, waiters: Vec::new() },
);
/// UARTs read from the timer tick: PL011s (without an interrupt) and mini UARTs.
static POLL_PL011: AtomicBool = AtomicBool::new(false);
static POLL_MINI: AtomicBool = AtomicBool::new(false);

/// Sets console input up once the console and the interrupt controller are: the PL011's
/// receive interrupt `pl011_intid` (when the console uses a PL011 and the tree names
/// its interrupt), and polling for a mini UART.
pub fn start(pl011_intid: Option<u32>) {
    let (pl011, mini) = crate::drivers::console::input_uarts();
    POLL_MINI.store(mini, Ordering::Relaxed);
    match pl011_intid {
        Some(intid) if pl011 => {
            crate::kernel::irq::enable_console_input(intid);
            crate::drivers::console::enable_input_interrupts();
        }
        _ => POLL_PL011.store(pl011, Ordering::Relaxed),
    }
}

/// Takes what the UARTs received into the ring and wakes the readers.
fn take_input(pl011: bool, mini: bool) {
    let mut buf = [0u8; 64];
    let mut input = INPUT.lock();
    let mut any = false;
    loop {
        let n = crate::drivers::console::read_input(&mut buf, pl011, mini);
        for &byte in &buf[..n] {
            if input.len < RING_BYTES {
                let at = (input.head + input.len) % RING_BYTES;
                input.ring[at] = byte;
                input.len += 1;
            }
        }
        any |= n > 0;
        if n < buf.len() {
            break;
        }
    }
    if any {
        for node in input.waiters.drain(..) {
            node.wake(WakeReason::Satisfied);
        }
    }
}

/// The console UART's receive interrupt.
pub fn on_interrupt() {
    take_input(true, false);
}

/// The timer tick: polls the UARTs without a receive interrupt.
pub fn poll() {
    let (pl011, mini) = (POLL_PL011.load(Ordering::Relaxed), POLL_MINI.load(Ordering::Relaxed));
    if pl011 || mini {
        take_input(pl011, mini);
    }
}

/// `zx_debug_read` after its checks: waits for the first byte, then takes up to
/// `out.len()` bytes already received (`\r` becomes `\n`). `out` is not empty.
pub fn read(thread: &Arc<Thread>, out: &mut [u8]) -> ZxResult<usize> {
    loop {
        let node = {
            let mut input = INPUT.lock();
            if input.len > 0 {
                let n = out.len().min(input.len);
                for slot in out[..n].iter_mut() {
                    let byte = input.ring[input.head];
                    input.head = (input.head + 1) % RING_BYTES;
                    *slot = if byte == b'\r' { b'\n' } else { byte };
                }
                input.len -= n;
                return Ok(n);
            }
            input.waiters.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
            let node = WaitNode::new(thread.clone());
            input.waiters.push(node.clone());
            node
        };
        // The waiting thread reads as RUNNING (Zircon blocks here without a reason).
        let reason = sched::block(node.as_ref(), 0, i64::MAX);
        if reason != WakeReason::Satisfied {
            INPUT.lock().waiters.retain(|n| !n.same(&node));
            return Err(ZxError::Canceled);
        }
    }
}
