//! `zx`: safe Rust over every ABI v2 syscall of Ferrite (docs/ABI.md, the specification's
//! ABI.md §4), with the names and shapes of Fuchsia's `fuchsia-zircon` crate where they fit.
//!
//! - Owned handle types that close on drop: [`Handle`] and the typed [`Vmo`], [`Vmar`],
//!   [`Channel`], [`Event`], [`EventPair`], [`Port`], [`Timer`], [`Process`], [`Thread`],
//!   [`Job`], [`Resource`]; [`AsHandleRef`] gives every one waits, signals, koids, names.
//! - [`Rights`], [`Signals`], [`VmarFlags`], [`VmoChildOptions`] as bit sets.
//! - [`Status`]: the error of every call (the kernel's own `ZxError`, Zircon's values).
//! - [`Time`] (monotonic nanoseconds) and [`Duration`].
//! - [`sys`]: the raw call under all of them (and under the EL0 test programs of
//!   tests/user): `sys::call(nr, [a0, .., aN-1])` sets x0..x(N-1) and no other register.
//!
//! Syscall numbers, rights, signals, topics and statuses are not copied here: `abi` and
//! the status enum are the kernel's own `src/abi.rs` and `src/error.rs`, compiled into
//! this crate, so the two sides cannot drift.
#![no_std]
#![warn(missing_docs)]

#[path = "../../../src/abi.rs"]
#[allow(missing_docs, dead_code)]
pub mod abi;
#[path = "../../../src/error.rs"]
#[allow(missing_docs, dead_code)]
mod error;
pub mod sys;

mod flags;
mod handle;
mod ipc;
mod task;
mod time;
mod vm;

pub use error::ZxError as Status;
pub use flags::{Rights, Signals, VmarFlags, VmoChildOptions, VmoOptions};
pub use handle::{AsHandleRef, Handle, HandleBased, HandleBasicInfo, Koid, ObjectType};
pub use ipc::{Channel, Event, EventPair, Packet, Port, Timer, WaitItem, object_wait_many};
pub use task::{
    Job, JobInfo, Process, ProcessInfo, Resource, Task, TaskStats, Thread, ThreadInfo, ThreadState, ThreadStats,
    process_exit, thread_exit,
};
pub use time::{Duration, Time, deadline_after, nanosleep, ticks_get, ticks_per_second};
pub use vm::{KmemStats, Vmar, VmarInfo, Vmo, VmoInfo};

use abi::sys as nr;
use sys::{addr, call, call_ok};

/// The result of a call: a value, or the [`Status`] that is not OK.
pub type Result<T = ()> = core::result::Result<T, Status>;

/// The page size of every address space.
pub const PAGE_SIZE: usize = abi::PAGE_SIZE as usize;
/// Largest message a channel carries, in bytes.
pub const CHANNEL_MAX_MSG_BYTES: usize = 65536;
/// Largest number of handles in one channel message.
pub const CHANNEL_MAX_MSG_HANDLES: usize = 64;
/// Bytes in an object name, NUL included.
pub const MAX_NAME_LEN: usize = abi::prop::NAME_LEN;

/// The status for a raw `zx_status_t` value (an unknown value reads as INTERNAL).
pub fn status_from_raw(raw: i32) -> Status {
    use Status::*;
    const ALL: [Status; 21] = [
        Internal,
        NotSupported,
        NoResources,
        NoMemory,
        InvalidArgs,
        BadHandle,
        WrongType,
        BadSyscall,
        OutOfRange,
        BufferTooSmall,
        BadState,
        TimedOut,
        ShouldWait,
        Canceled,
        PeerClosed,
        NotFound,
        AlreadyExists,
        AlreadyBound,
        Unavailable,
        AccessDenied,
        Io,
    ];
    ALL.iter().copied().find(|s| s.status() == raw).unwrap_or(Internal)
}

/// `Ok(())` for `ZX_OK`, else the status.
pub fn ok(raw: i32) -> Result {
    if raw == 0 { Ok(()) } else { Err(status_from_raw(raw)) }
}

/// `zx_debug_write`: writes bytes to the kernel console (at most 4096 per call; longer
/// buffers are written in pieces). The bytes of one call are never interleaved with others.
pub fn debug_write(bytes: &[u8]) {
    for chunk in bytes.chunks(4096) {
        // SAFETY: the kernel only reads the chunk.
        let _ = unsafe { call(nr::DEBUG_WRITE, [addr(chunk.as_ptr()), chunk.len() as u64]) };
    }
}

/// `zx_debug_read`: waits for console input and returns how many bytes were read into
/// `buf` (`\r` arrives as `\n`). Needs the root resource.
pub fn debug_read(resource: &Resource, buf: &mut [u8]) -> Result<usize> {
    let mut actual = 0usize;
    // SAFETY: the kernel writes at most buf.len() bytes into buf and one usize.
    unsafe {
        call_ok(
            nr::DEBUG_READ,
            [resource.raw_handle() as u64, addr(buf.as_mut_ptr()), buf.len() as u64, addr(&raw mut actual)],
        )?
    };
    Ok(actual)
}

/// `zx_system_get_num_cpus`: the CPUs online.
pub fn system_get_num_cpus() -> u32 {
    // SAFETY: no pointers.
    unsafe { call(nr::SYSTEM_GET_NUM_CPUS, []) as u32 }
}

/// `zx_system_get_page_size`: 4096.
pub fn system_get_page_size() -> u32 {
    // SAFETY: no pointers.
    unsafe { call(nr::SYSTEM_GET_PAGE_SIZE, []) as u32 }
}

/// `zx_cache_flush` over `[addr, addr + len)` of this process (`abi::cache_flush` options).
pub fn cache_flush(address: usize, len: usize, options: u32) -> Result {
    // SAFETY: the kernel only maintains caches over the range; it writes no memory.
    unsafe { call_ok(nr::CACHE_FLUSH, [address as u64, len as u64, options as u64]) }
}

/// `zx_futex_wait`: sleeps while `*futex == current` until woken or `deadline`.
/// BAD_STATE when the value already differs.
pub fn futex_wait(futex: &core::sync::atomic::AtomicI32, current: i32, deadline: Time) -> Result {
    // SAFETY: the kernel only reads the aligned word.
    unsafe { call_ok(nr::FUTEX_WAIT, [addr(futex.as_ptr()), current as u32 as u64, 0, deadline.into_nanos() as u64]) }
}

/// `zx_futex_wake`: wakes up to `count` waiters (`u32::MAX`: all).
pub fn futex_wake(futex: &core::sync::atomic::AtomicI32, count: u32) -> Result {
    // SAFETY: the kernel never touches the memory.
    unsafe { call_ok(nr::FUTEX_WAKE, [addr(futex.as_ptr()), count as u64]) }
}

/// `zx_futex_requeue`: wakes `wake_count` waiters of `futex` (if it still holds
/// `current`) and moves up to `requeue_count` others to `requeue`.
pub fn futex_requeue(
    futex: &core::sync::atomic::AtomicI32,
    wake_count: u32,
    current: i32,
    requeue: &core::sync::atomic::AtomicI32,
    requeue_count: u32,
) -> Result {
    // SAFETY: the kernel only reads the first word.
    unsafe {
        call_ok(
            nr::FUTEX_REQUEUE,
            [
                addr(futex.as_ptr()),
                wake_count as u64,
                current as u32 as u64,
                addr(requeue.as_ptr()),
                requeue_count as u64,
                0,
            ],
        )
    }
}

/// `zx_handle_close_many`: closes every handle (each one is consumed).
pub fn handle_close_many(handles: &mut [Handle]) -> Result {
    let mut raw = [0u32; 64];
    for chunk in handles.chunks_mut(64) {
        for (slot, h) in raw.iter_mut().zip(chunk.iter_mut()) {
            *slot = core::mem::take(h).into_raw();
        }
        // SAFETY: the kernel reads chunk.len() handle values.
        unsafe { call_ok(nr::HANDLE_CLOSE_MANY, [addr(raw.as_ptr()), chunk.len() as u64])? };
    }
    Ok(())
}

/// Reads a little-endian `u64` at `at` (for the info records).
pub(crate) fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Reads a little-endian `u32` at `at`.
pub(crate) fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}
