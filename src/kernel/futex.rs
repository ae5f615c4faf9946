//! Futexes (ABI.md 4.2, calls 49–51): a futex is (process, address); its waiters queue
//! in arrival order. One lock, [`FUTEXES`], covers every queue, and `zx_futex_wait`
//! reads the user word with it held, so the compare and the enqueue are atomic with
//! respect to wakes and requeues of the same futex (lock order: futex table, then the
//! VM lock for the read, then the scheduler's lock for wakes).

use super::object::KernelObject;
use super::sched::{WaitNode, WakeReason};
use super::sync::{Lock, class};
use super::task::Thread;
use crate::error::{ZxError, ZxResult};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::Arc;

type Key = (u64, u64);

/// Every futex with waiters: (process koid, address) → waiters, longest-waiting first.
static FUTEXES: Lock<BTreeMap<Key, VecDeque<Arc<WaitNode>>>> = Lock::new(&class::FUTEX, BTreeMap::new());

fn check_ptr(ptr: u64) -> ZxResult {
    if ptr == 0 || !ptr.is_multiple_of(4) { Err(ZxError::InvalidArgs) } else { Ok(()) }
}

fn read_word(ptr: u64) -> ZxResult<i32> {
    let mut bytes = [0u8; 4];
    super::with_kernel(|k| super::syscalls::user::read_bytes(k, ptr, &mut bytes))?;
    Ok(i32::from_le_bytes(bytes))
}

/// Validates a new owner: none (0), or a thread of the same process that is not the
/// caller and not waiting on `keys`.
fn check_owner(
    owner: Option<&Arc<Thread>>,
    caller: &Arc<Thread>,
    table: &BTreeMap<Key, VecDeque<Arc<WaitNode>>>,
    keys: &[Key],
) -> ZxResult {
    let Some(owner) = owner else { return Ok(()) };
    if !Arc::ptr_eq(owner.process(), caller.process()) || Arc::ptr_eq(owner, caller) {
        return Err(ZxError::InvalidArgs);
    }
    for key in keys {
        if table.get(key).is_some_and(|q| q.iter().any(|n| Arc::ptr_eq(n.thread(), owner))) {
            return Err(ZxError::InvalidArgs);
        }
    }
    Ok(())
}

/// `zx_futex_wait` after the owner handle was resolved.
pub fn wait(caller: &Arc<Thread>, ptr: u64, current: i32, owner: Option<Arc<Thread>>, deadline: i64) -> ZxResult {
    check_ptr(ptr)?;
    let key = (caller.process().base().koid(), ptr);
    let node = {
        let mut table = FUTEXES.lock();
        if read_word(ptr)? != current {
            return Err(ZxError::BadState);
        }
        check_owner(owner.as_ref(), caller, &table, &[key])?;
        let node = WaitNode::new(caller.clone());
        let queue = table.entry(key).or_default();
        queue.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        queue.push_back(node.clone());
        node
    };
    let reason = super::sched::block(&node, crate::abi::thread_state::BLOCKED_FUTEX, deadline);
    if reason != WakeReason::Satisfied {
        // Still queued (a timeout or kill raced no wake): leave the queue, wherever a
        // requeue moved it.
        let mut table = FUTEXES.lock();
        table.retain(|_, q| {
            q.retain(|n| !Arc::ptr_eq(n, &node));
            !q.is_empty()
        });
    }
    match reason {
        WakeReason::Satisfied => Ok(()),
        WakeReason::TimedOut => Err(ZxError::TimedOut),
        _ => Err(ZxError::Canceled),
    }
}

/// Wakes up to `count` waiters of the queue at `key`, longest-waiting first; waiters
/// whose wait already ended are dropped without counting.
fn wake_queue(table: &mut BTreeMap<Key, VecDeque<Arc<WaitNode>>>, key: Key, count: u32) {
    let Some(queue) = table.get_mut(&key) else { return };
    let mut woken = 0u32;
    while woken < count {
        let Some(node) = queue.pop_front() else { break };
        if node.wake(WakeReason::Satisfied) {
            woken += 1;
        }
    }
    if queue.is_empty() {
        table.remove(&key);
    }
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
    let mut moved = VecDeque::new();
    if let Some(queue) = table.get_mut(&from) {
        while (moved.len() as u32) < requeue_count {
            match queue.pop_front() {
                Some(node) if node.reason().is_none() => moved.push_back(node),
                Some(_) => {}
                None => break,
            }
        }
        if queue.is_empty() {
            table.remove(&from);
        }
    }
    if !moved.is_empty() {
        let target = table.entry(to).or_default();
        target.try_reserve(moved.len()).map_err(|_| ZxError::NoMemory)?;
        target.extend(moved);
    }
    Ok(())
}
