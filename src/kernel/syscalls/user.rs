//! Copies between syscalls and user memory: the range is checked against user space,
//! the copy runs in the fault-fixing routine, and a fault on a page that a mapping can
//! supply (not yet committed, or a copy-on-write page) is resolved and the copy resumed.

use crate::arch::aarch64::user_copy::{self, CopyFault};
use crate::error::{ZxError, ZxResult};
use crate::kernel::{Kernel, fault};
use crate::syscall::user_ptr::{check_out, check_range};

/// Runs `attempt` (which copies from a byte offset onwards and reports a fault), fixing
/// faults one page at a time. Each successful fix maps a new page, so the loop ends.
/// Inlined: around a page copy it is a test of the result on the path without a fault.
#[inline(always)]
fn with_fault_retry(k: &mut Kernel, len: usize, mut attempt: impl FnMut(usize) -> Result<(), CopyFault>) -> ZxResult {
    let mut done = 0usize;
    let mut fixes = 0usize;
    loop {
        match attempt(done) {
            Ok(()) => return Ok(()),
            Err(f) => {
                done += f.copied;
                fixes += 1;
                // A resolved fault that faults again at the same place means the page is
                // not usable this way; bound the retries by the pages in the buffer.
                if fixes > len / 4096 + 4 || fault::resolve(k, f.addr, f.write, false).is_err() {
                    return Err(ZxError::InvalidArgs);
                }
            }
        }
    }
}

/// Copies `bytes` to user address `user` (checked to be in user space).
pub fn write_bytes(k: &mut Kernel, user: u64, bytes: &[u8]) -> ZxResult {
    check_range(user, bytes.len() as u64, false)?;
    with_fault_retry(k, bytes.len(), |from| user_copy::copy_slice_to_user(user + from as u64, &bytes[from..]))
}

/// Copies a 64-bit value (an address, a size), little-endian, to an out-pointer (a NULL
/// or kernel pointer is INVALID_ARGS): first with one store (`store_u64_to_user`); if
/// that faults, nothing was stored, and the general copy, which resolves faults, writes
/// the whole value.
#[inline(always)]
pub fn write_u64(k: &mut Kernel, user: u64, value: u64) -> ZxResult {
    check_out(user, 8)?;
    if user_copy::store_u64_to_user(user, value).is_ok() {
        return Ok(());
    }
    write_bytes(k, user, &value.to_le_bytes())
}

/// Copies from user address `user` into `buf`.
pub fn read_bytes(k: &mut Kernel, user: u64, buf: &mut [u8]) -> ZxResult {
    check_range(user, buf.len() as u64, false)?;
    let len = buf.len();
    with_fault_retry(k, len, |from| user_copy::copy_slice_from_user(&mut buf[from..], user + from as u64))
}

/// Copies `len` bytes between user address `user` and the kernel address `kernel_va`
/// of a page the caller holds (`to_user` gives the direction). Inlined: it is the inner
/// step of every VMO read and write (one call per page).
#[inline(always)]
pub fn copy_page_bytes(k: &mut Kernel, user: u64, kernel_va: u64, len: usize, to_user: bool) -> ZxResult {
    // The kernel side is a page of RAM held by a VMO (or the zero page) for the
    // duration of this syscall, reachable through the linear map. The first attempt is
    // made here, the fault fixing out of line, so that a copy that does not fault (the
    // common case) keeps no retry state in registers.
    match user_copy::copy_kernel_page(user, kernel_va, len, to_user) {
        Ok(()) => Ok(()),
        Err(first) => copy_page_bytes_after_fault(k, user, kernel_va, len, to_user, first),
    }
}

/// [`copy_page_bytes`] after its first attempt faulted with `first`: the faults are
/// fixed and the copy resumed as [`with_fault_retry`] does, counting `first` as the
/// first fix.
#[cold]
#[inline(never)]
fn copy_page_bytes_after_fault(
    k: &mut Kernel,
    user: u64,
    kernel_va: u64,
    len: usize,
    to_user: bool,
    first: CopyFault,
) -> ZxResult {
    let mut first = Some(first);
    with_fault_retry(k, len, |from| match first.take() {
        Some(fault) => Err(fault),
        None => user_copy::copy_kernel_page(user + from as u64, kernel_va + from as u64, len - from, to_user),
    })
}

// The four calls below are for handlers that hold no VM state. They first try the copy
// without the VM lock, and take it only when the copy faults (a page to commit or to
// fork, or a bad pointer), to resolve the fault and copy again from the start. Why the
// lock-free attempt is sound:
// - the copy routine never takes a fatal fault: a fault ends it and is reported through
//   this CPU's own fault record (`arch::aarch64::user_copy`), so concurrent copies on
//   other CPUs do not mix their reports;
// - a copy that does not fault went through page-table entries that were valid when it
//   ran, exactly like the same loads and stores made by the thread itself at EL0, which
//   also take no lock: another CPU that unmaps, decommits or forks those pages clears the
//   entries and invalidates the TLBs (waiting for the invalidation to complete, which
//   includes accesses in flight) under the VM lock before any frame or table page is
//   reused, so the copy ordered before that sees the old page, and one after faults;
// - the checks (range in user space; NULL or kernel out-pointers) run first, as before.
// A retried copy rewrites the bytes the first attempt already wrote, with the same values.

/// A small value to an out-pointer (a NULL or kernel pointer is INVALID_ARGS), taking
/// the VM lock itself only if the copy faults (for handlers that hold no VM state).
/// Inlined: with the length known, it is a range check and the copy
/// (a single store for the 4-byte values of out-pointers), with the fault's resolution
/// out of line.
#[inline(always)]
pub fn put(user: u64, bytes: &[u8]) -> ZxResult {
    check_out(user, bytes.len() as u64)?;
    match <[u8; 4]>::try_from(bytes) {
        Ok(word) => {
            let value = u32::from_le_bytes(word);
            if user_copy::store_u32_to_user(user, value).is_ok() {
                return Ok(());
            }
            // The value, not the bytes, goes to the fault path, so the caller need not
            // keep them in memory (a store to its stack) for the common case.
            put_u32_after_fault(user, value)
        }
        Err(_) => {
            if user_copy::copy_slice_to_user(user, bytes).is_ok() {
                return Ok(());
            }
            put_after_fault(user, bytes)
        }
    }
}

/// [`put`] of a 4-byte value once its first attempt faulted.
#[cold]
#[inline(never)]
fn put_u32_after_fault(user: u64, value: u32) -> ZxResult {
    put_after_fault(user, &value.to_le_bytes())
}

/// Only the lock-free attempt of [`put`]: true when the checks passed and the copy did
/// not fault. For a caller holding a lock under which a fault must not be resolved; on
/// false it makes the call again with [`put`] (or its like) with no such lock held.
#[inline(always)]
pub fn put_attempt(user: u64, bytes: &[u8]) -> bool {
    if check_out(user, bytes.len() as u64).is_err() {
        return false;
    }
    match <[u8; 4]>::try_from(bytes) {
        Ok(word) => user_copy::store_u32_to_user(user, u32::from_le_bytes(word)).is_ok(),
        Err(_) => user_copy::copy_slice_to_user(user, bytes).is_ok(),
    }
}

/// Only the lock-free attempt of a message's copy-out (see [`put_attempt`]): its size
/// to `actual_bytes` and 0 to `actual_handles` (each if not 0), then `bytes` to `user`,
/// with the checks of [`put`] and [`put_bytes`] first and one routine call for all three
/// (`user_copy::store_read_to_user`). The stores are in that order, as three calls of
/// the attempts would make them, so the general path that follows a failure is the same.
#[inline(always)]
pub fn put_read_attempt(user: u64, bytes: &[u8], actual_bytes: u64, actual_handles: u64) -> bool {
    (actual_bytes == 0 || check_out(actual_bytes, 4).is_ok())
        && (actual_handles == 0 || check_out(actual_handles, 4).is_ok())
        && (bytes.is_empty() || check_range(user, bytes.len() as u64, false).is_ok())
        && user_copy::store_read_to_user(user, bytes, actual_bytes, actual_handles).is_ok()
}

/// Only the lock-free attempt of [`get`] (see [`put_attempt`]).
#[inline(always)]
pub fn get_attempt(user: u64, buf: &mut [u8]) -> bool {
    check_range(user, buf.len() as u64, false).is_ok() && user_copy::copy_slice_from_user(buf, user).is_ok()
}

/// [`put`] once its first attempt faulted: again under the VM lock, resolving faults.
#[cold]
#[inline(never)]
fn put_after_fault(user: u64, bytes: &[u8]) -> ZxResult {
    crate::kernel::with_kernel(|k| write_bytes(k, user, bytes))
}

/// [`write_bytes`] taking the VM lock itself only if the copy faults. Inlined (a range
/// check and the copy routine's call), with the fault's resolution out of line.
#[inline(always)]
pub fn put_bytes(user: u64, bytes: &[u8]) -> ZxResult {
    check_range(user, bytes.len() as u64, false)?;
    if user_copy::copy_slice_to_user(user, bytes).is_ok() {
        return Ok(());
    }
    put_bytes_after_fault(user, bytes)
}

/// [`put_bytes`] once its first attempt faulted: again under the VM lock.
#[cold]
#[inline(never)]
fn put_bytes_after_fault(user: u64, bytes: &[u8]) -> ZxResult {
    crate::kernel::with_kernel(|k| write_bytes(k, user, bytes))
}

/// The 32-bit little-endian value at `user` (a futex word), taking the VM lock only if
/// the load faults; an aligned word is one load instruction (`load_u32_from_user`),
/// inlined into the caller; an unaligned one, or one that faults, goes the general way.
#[inline]
pub fn get_u32(user: u64) -> ZxResult<u32> {
    if user.is_multiple_of(4)
        && check_range(user, 4, false).is_ok()
        && let Ok(value) = user_copy::load_u32_from_user(user)
    {
        return Ok(value);
    }
    get_u32_slow(user)
}

/// [`get_u32`] when the one-load path did not do: the range checked again (for its
/// error), then the copy that resolves faults under the VM lock.
#[inline(never)]
fn get_u32_slow(user: u64) -> ZxResult<u32> {
    check_range(user, 4, false)?;
    let mut bytes = [0u8; 4];
    crate::kernel::with_kernel(|k| read_bytes(k, user, &mut bytes))?;
    Ok(u32::from_le_bytes(bytes))
}

/// [`read_bytes`] taking the VM lock itself only if the copy faults.
pub fn get(user: u64, buf: &mut [u8]) -> ZxResult {
    get_inline(user, buf)
}

/// [`get`] inlined (a range check and the copy routine's call), with the fault's
/// resolution out of line: for the hot callers (a channel message's bytes).
#[inline(always)]
pub fn get_inline(user: u64, buf: &mut [u8]) -> ZxResult {
    check_range(user, buf.len() as u64, false)?;
    if user_copy::copy_slice_from_user(buf, user).is_ok() {
        return Ok(());
    }
    get_after_fault(user, buf)
}

/// [`get`] once its first attempt faulted: again under the VM lock, resolving faults.
#[cold]
#[inline(never)]
fn get_after_fault(user: u64, buf: &mut [u8]) -> ZxResult {
    crate::kernel::with_kernel(|k| read_bytes(k, user, buf))
}
