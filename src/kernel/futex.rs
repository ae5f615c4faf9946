//! Futexes (ABI.md 4.2, calls 49–51): a futex is (process, address); its waiters queue
//! in arrival order. One lock, [`FUTEXES`], covers every queue, and `zx_futex_wait`
//! reads the user word with it held, so the compare and the enqueue are atomic with
//! respect to wakes and requeues of the same futex (lock order: futex table, then the
//! VM lock for the read, then the scheduler's lock for wakes).
//!
//! The table is a fixed array of buckets, each a queue of (key, waiter) in arrival
//! order; a futex's waiters are the entries of its bucket with its key, so arrival order
//! per futex is the bucket's order. A bucket keeps its capacity when it empties (up to
//! [`KEEP_CAPACITY`] entries), so a warm wait allocates nothing.

use super::object::KernelObject;
use super::sched::{WaitNode, WakeReason};
use super::sync::{Lock, class};
use super::task::Thread;
use crate::error::{ZxError, ZxResult};
use alloc::collections::VecDeque;
use alloc::sync::Arc;

type Key = (u64, u64);

/// Buckets in the table (a power of two).
const BUCKETS: usize = 64;
/// Entries of capacity an emptied bucket keeps (more is given back to the heap).
const KEEP_CAPACITY: usize = 8;

/// The waiters of every futex, bucketed by key; see the module comment.
struct Table {
    buckets: [VecDeque<(Key, WaitNode)>; BUCKETS],
}

static FUTEXES: Lock<Table> = Lock::new(&class::FUTEX, Table { buckets: [const { VecDeque::new() }; BUCKETS] });

fn bucket_of(key: Key) -> usize {
    // Futex words are 4-byte aligned; mix the koid in so two processes' futexes at the
    // same address spread too.
    let h = (key.1 >> 2).wrapping_add(key.0.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as usize % BUCKETS
}

impl Table {
    /// Gives back the memory of an emptied bucket that grew past [`KEEP_CAPACITY`].
    fn trim(&mut self, b: usize) {
        let q = &mut self.buckets[b];
        if q.is_empty() && q.capacity() > KEEP_CAPACITY {
            *q = VecDeque::new();
        }
    }
}

fn check_ptr(ptr: u64) -> ZxResult {
    if ptr == 0 || !ptr.is_multiple_of(4) { Err(ZxError::InvalidArgs) } else { Ok(()) }
}

/// Reads the futex word, with [`FUTEXES`] held by the caller.
///
/// Lock-free first attempt (`user::get_u32`, one load): the copy runs without the VM lock and takes it
/// only when it faults (a page to commit, or a bad pointer), to resolve the fault and
/// read again, so a warm wait never touches the VM lock. Sound for the reasons given at
/// `user::get` (a copy that does not fault read through page-table entries that were
/// valid when it ran, as the thread's own EL0 load would). The compare-and-enqueue stays
/// atomic with respect to wakes and requeues because that is [`FUTEXES`]'s job, not the
/// VM lock's: a waker changes the word at EL0 and then takes [`FUTEXES`], so either the
/// read below sees the new value, or the wake finds this waiter queued. The fallback
/// takes the VM lock inside [`FUTEXES`], the documented order (futex table, then VM).
fn read_word(ptr: u64) -> ZxResult<i32> {
    Ok(super::syscalls::user::get_u32(ptr)? as i32)
}

/// Validates a new owner: none (0), or a thread of the same process that is not the
/// caller and not waiting on `keys`.
#[inline(always)]
fn check_owner(owner: Option<&Arc<Thread>>, caller: &Arc<Thread>, table: &Table, keys: &[Key]) -> ZxResult {
    match owner {
        None => Ok(()),
        Some(owner) => check_new_owner(owner, caller, table, keys),
    }
}

/// [`check_owner`] for a named owner.
#[inline(never)]
fn check_new_owner(owner: &Arc<Thread>, caller: &Arc<Thread>, table: &Table, keys: &[Key]) -> ZxResult {
    if !Arc::ptr_eq(owner.process(), caller.process()) || Arc::ptr_eq(owner, caller) {
        return Err(ZxError::InvalidArgs);
    }
    for key in keys {
        if table.buckets[bucket_of(*key)].iter().any(|(k, n)| k == key && Arc::ptr_eq(n.thread(), owner)) {
            return Err(ZxError::InvalidArgs);
        }
    }
    Ok(())
}

/// `zx_futex_wait` after the owner handle was resolved.
pub fn wait(caller: &Arc<Thread>, ptr: u64, current: i32, owner: Option<Arc<Thread>>, deadline: i64) -> ZxResult {
    check_ptr(ptr)?;
    let key = (caller.process().base().koid(), ptr);
    let me = {
        let mut table = FUTEXES.lock();
        if read_word(ptr)? != current {
            return Err(ZxError::BadState);
        }
        check_owner(owner.as_ref(), caller, &table, &[key])?;
        let queue = &mut table.buckets[bucket_of(key)];
        // Room is usually there (an emptied bucket keeps its capacity): grow only when
        // full, NO_MEMORY before anything is queued.
        if queue.len() == queue.capacity() {
            queue.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        }
        // The node goes to the queue; this thread keeps an uncounted view of its wait.
        let (node, me) = WaitNode::begin(caller);
        queue.push_back((key, node));
        me
    };
    let reason = super::sched::block(me, crate::abi::thread_state::BLOCKED_FUTEX, deadline);
    if reason != WakeReason::Satisfied {
        // Still queued (a timeout or kill raced no wake): leave the queue, wherever a
        // requeue moved it.
        let mut table = FUTEXES.lock();
        for b in 0..BUCKETS {
            let q = &mut table.buckets[b];
            if let Some(at) = q.iter().position(|(_, n)| me.is(n)) {
                let entry = q.remove(at);
                table.trim(b);
                drop(table);
                drop(entry);
                break;
            }
        }
    }
    match reason {
        WakeReason::Satisfied => Ok(()),
        WakeReason::TimedOut => Err(ZxError::TimedOut),
        _ => Err(ZxError::Canceled),
    }
}

/// Wakes up to `count` waiters of the futex `key`, longest-waiting first; waiters
/// whose wait already ended are dropped without counting.
#[inline(always)]
fn wake_queue(table: &mut Table, key: Key, count: u32) {
    let b = bucket_of(key);
    let queue = &mut table.buckets[b];
    let mut woken = 0u32;
    let mut i = 0;
    while woken < count && i < queue.len() {
        if queue[i].0 != key {
            i += 1;
            continue;
        }
        let entry = if i == 0 { queue.pop_front() } else { queue.remove(i) };
        let Some((_, node)) = entry else { break };
        if node.wake_owned(WakeReason::Satisfied) {
            woken += 1;
        }
    }
    table.trim(b);
}

/// `zx_futex_wake`: the memory is never read.
pub fn wake(caller: &Arc<Thread>, ptr: u64, count: u32) -> ZxResult {
    check_ptr(ptr)?;
    let key = (caller.process().base().koid(), ptr);
    let mut table = FUTEXES.lock();
    wake_queue(&mut table, key, count);
    Ok(())
}

/// `zx_futex_requeue` after the owner handle was resolved.
#[allow(clippy::too_many_arguments)]
pub fn requeue(
    caller: &Arc<Thread>,
    ptr: u64,
    wake_count: u32,
    current: i32,
    requeue_ptr: u64,
    requeue_count: u32,
    owner: Option<Arc<Thread>>,
) -> ZxResult {
    check_ptr(ptr)?;
    check_ptr(requeue_ptr)?;
    if ptr == requeue_ptr {
        return Err(ZxError::InvalidArgs);
    }
    let koid = caller.process().base().koid();
    let (from, to) = ((koid, ptr), (koid, requeue_ptr));
    let mut table = FUTEXES.lock();
    if read_word(ptr)? != current {
        return Err(ZxError::BadState);
    }
    check_owner(owner.as_ref(), caller, &table, &[from, to])?;
    wake_queue(&mut table, from, wake_count);
    // Waiters still waiting on `from`, longest-waiting first, up to `requeue_count`:
    // they move behind `to`'s own waiters (room is made first, so NO_MEMORY moves
    // nobody); ended waits are dropped.
    let (fb, tb) = (bucket_of(from), bucket_of(to));
    let mut movable = 0usize;
    for (k, n) in table.buckets[fb].iter() {
        if movable as u32 >= requeue_count {
            break;
        }
        if *k == from && n.reason().is_none() {
            movable += 1;
        }
    }
    table.buckets[tb].try_reserve(movable).map_err(|_| ZxError::NoMemory)?;
    let mut moved = 0usize;
    let mut i = 0;
    while moved < movable && i < table.buckets[fb].len() {
        if table.buckets[fb][i].0 != from {
            i += 1;
            continue;
        }
        let Some((_, node)) = table.buckets[fb].remove(i) else { break };
        if node.reason().is_none() {
            table.buckets[tb].push_back((to, node));
            moved += 1;
        }
    }
    table.trim(fb);
    Ok(())
}
