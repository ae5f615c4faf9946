//! The pure core of the IPC objects (ABI.md 4.2, calls 41–54): the bookkeeping of a
//! channel endpoint (its unread messages, the 3500-message cap, the transaction ids of
//! `zx_channel_call` and the matching of replies), of a port (its packet FIFO, the
//! 2049-user-packet cap, the packet slots reserved for `zx_object_wait_async`
//! registrations and `zx_port_cancel`), and of a timer (armed or not, never early).
//!
//! Everything here is generic over the message, waiter, packet and registration types,
//! allocates only through `try_reserve`, and runs its model tests on the host; the kernel
//! objects in `kernel::ipc` wrap it with locks, signals and handles.

pub mod channel_queue;
pub mod port_queue;
pub mod timer_state;

#[cfg(test)]
mod ipc_tests;
