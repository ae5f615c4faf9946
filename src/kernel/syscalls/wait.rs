//! Waiting: zx_object_wait_one, zx_object_wait_many, zx_nanosleep and the futex calls'
//! argument handling. A wait registers an observer on each object, then blocks; the
//! observer records every signal state it sees (`observed`/`pending` is their union)
//! and wakes the thread when one matches, or when the handle is closed.

use super::{Caller, user};
use crate::abi::{ZX_TIME_INFINITE, rights, signal, thread_state};
use crate::error::{ZxError, ZxResult};
use crate::kernel::object::{KHandle, KernelObject, Observer};
use crate::kernel::sched::{self, WaitNode, WakeReason};
use crate::kernel::task::Thread;
use crate::kernel::vm_object::vmo_signals_of;
use crate::object::rights::check_rights;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

/// One object's part of a wait.
struct SignalWaiter {
    node: WaitNode,
    mask: u32,
    serial: u64,
    seen: AtomicU32,
}

impl Observer for SignalWaiter {
    fn on_signals(&self, signals: u32) -> bool {
        self.seen.fetch_or(signals, Ordering::AcqRel);
        if signals & self.mask != 0 {
            self.node.wake(WakeReason::Satisfied);
            return true;
        }
        false
    }

    fn on_handle_closed(&self, serial: u64) -> bool {
        if serial != self.serial {
            return false;
        }
        self.seen.fetch_or(signal::HANDLE_CLOSED, Ordering::AcqRel);
        self.node.wake(WakeReason::Canceled);
        true
    }
}

/// The signals of `object` now (VMOs keep ZERO_CHILDREN in the VMO store: the object's
/// `vmo_id` names its VMO there).
fn current_signals(object: &Arc<dyn KernelObject>) -> u32 {
    match object.vmo_id() {
        Some(id) => vmo_signals_of(id, object.base()),
        None => object.base().signals(),
    }
}

/// Waits on the given (object, serial, mask) items (at most `N`) until one matches, the
/// deadline or a cancellation; returns the reason, and each item's union of signals seen
/// in `seen`.
///
/// The per-item state lives in arrays of `N` on the stack (`wait_one` has `N` = 1), so a
/// wait allocates one observer per item and nothing else (the wait node is the thread's
/// own wait word, `WaitNode::new`).
fn wait_on<const N: usize>(
    thread: &Arc<Thread>,
    items: &[(Arc<dyn KernelObject>, u64, u32)],
    deadline: i64,
    state: u32,
    seen: &mut [u32; N],
) -> ZxResult<WakeReason> {
    let items = &items[..items.len().min(N)];
    let node = WaitNode::new(thread.clone());
    let mut waiters: [Option<Arc<SignalWaiter>>; N] = [const { None }; N];
    let mut registered = 0;
    let mut result = Ok(());
    for ((object, serial, mask), slot) in items.iter().zip(waiters.iter_mut()) {
        let w = Arc::new(SignalWaiter { node: node.clone(), mask: *mask, serial: *serial, seen: AtomicU32::new(0) });
        // VMO signals the store keeps are checked now (their changes wake no one).
        let extra = current_signals(object);
        w.seen.fetch_or(extra, Ordering::AcqRel);
        if extra & mask != 0 {
            node.wake(WakeReason::Satisfied);
        }
        *slot = Some(w.clone());
        if let Err(e) = object.base().add_observer(w) {
            result = Err(e);
            break;
        }
        registered += 1;
        if node.reason().is_some() {
            break;
        }
    }
    let reason = if result.is_err() {
        WakeReason::Canceled
    } else if node.reason().is_some() {
        node.reason().unwrap_or(WakeReason::Satisfied)
    } else {
        sched::block(node.as_ref(), state, if deadline == ZX_TIME_INFINITE { i64::MAX } else { deadline })
    };
    for (i, ((object, _, _), w)) in items.iter().zip(waiters.iter_mut()).enumerate() {
        let w = w.take();
        let observer: Option<Arc<dyn Observer>> = w.as_ref().map(|w| w.clone() as Arc<dyn Observer>);
        let now = match (&observer, i < registered) {
            (Some(o), true) => object.base().remove_observer(o),
            _ => current_signals(object),
        };
        let union = w.as_ref().map_or(0, |w| w.seen.load(Ordering::Acquire));
        let final_now = if i < registered { now | current_signals(object) & !signal::HANDLE_CLOSED } else { now };
        seen[i] = union | final_now;
    }
    result?;
    Ok(reason)
}

/// Waits on one object (`zx_object_wait_one`) for a signal of `mask` until `deadline`
/// or the closing of the handle `serial`; returns the reason and the union of the
/// signals seen. As [`wait_on`] with one item, but the observer is an inline entry of
/// the object's list and the seen signals are kept in the thread's wait cell, so the
/// wait allocates nothing.
fn wait_single(
    thread: &Arc<Thread>,
    object: &Arc<dyn KernelObject>,
    serial: u64,
    mask: u32,
    deadline: i64,
) -> ZxResult<(WakeReason, u32)> {
    // The node goes to the object's list; this thread keeps an uncounted view of its
    // wait.
    let (node, me) = WaitNode::begin(thread);
    // The object's type and base are looked up once (one virtual call, not six).
    let header = object.header();
    let base = header.base;
    let vmo = header.facts.obj_type() == crate::abi::obj_type::VMO;
    let signals = || if vmo { current_signals(object) } else { base.signals() };
    // VMO signals the store keeps are checked now (their changes wake no one). The
    // base's own signals need no look here: `add_waiter` records them and ends the wait
    // at once if they match, under the signal lock.
    if vmo {
        let extra = signals();
        if extra & mask != 0 {
            return Ok((WakeReason::Satisfied, extra | signals()));
        }
        me.note_seen(extra);
    }
    base.add_waiter(node, mask, serial)?;
    let reason = if me.is_open() {
        sched::block_in_line(
            me,
            thread_state::BLOCKED_WAIT_ONE,
            if deadline == ZX_TIME_INFINITE { i64::MAX } else { deadline },
        )
    } else {
        me.reason().unwrap_or(WakeReason::Canceled)
    };
    // Only the entry ends this wait with SATISFIED (a matching signal) or CANCELED (its
    // handle closed), and it is removed from the list in that same step under the
    // signal lock (`on_signals`/`on_handle_closed` return true), so then there is
    // nothing to remove; a deadline or a kill leaves it registered. Sound even if this
    // thread runs before the waker has finished that step: the entry records what it
    // saw before it wakes and does nothing after, and a new registration on the object
    // waits for the signal lock.
    let now = match reason {
        WakeReason::Satisfied | WakeReason::Canceled => 0,
        _ => base.remove_waiter(me),
    };
    Ok((reason, me.seen() | now | signals() & !signal::HANDLE_CLOSED))
}

/// `zx_object_wait_one`: BAD_HANDLE, WAIT, waitable; then waits. `observed` gets the
/// union of the signals seen (plus HANDLE_CLOSED when cancelled). The satisfied case is
/// inlined into the syscall's entry; a wait that blocks goes on in [`block_one`]. The
/// caller comes by value (its thread is one pointer), so only a wait that blocks stores
/// it to the stack, for `block_one`'s reference to it. `CHECKED`: whether the
/// lock-order check is on (its entry's table, `SYSCALL_TABLE_IN_USE`).
#[inline(always)]
pub fn wait_one<const CHECKED: bool>(c: Caller, handle: u32, signals: u32, deadline: i64, observed: u64) -> ZxResult {
    // Fast path: already satisfied. The slow path would register an observer that is
    // told the current signals at once, is satisfied by them and is removed again, and
    // would report those same signals; so report them without an observer, a wait node
    // or any allocation. (Signals kept outside the base, a VMO's, are read the same way.)
    // The checks and the look at the signals borrow the object under the handle-table
    // lock; only a wait that must block takes a counted reference.
    let handles = c.process().lookup_checked::<CHECKED>();
    let entry = handles.entry(handle)?;
    // The rights, the waitable check and the signals. An event's tag is tested right
    // after the slot's occupied test, which the compiler folds into it (one compare of
    // the tag for both); an event is always waitable, so its signals are one load. Any
    // other type: `KHandle::wait_signals`, a refusal laid out of the straight path.
    let now = match &entry.object {
        KHandle::Event(event) => {
            check_rights(entry.rights, rights::WAIT)?;
            KHandle::event_signals(event)
        }
        other => {
            check_rights(entry.rights, rights::WAIT)?;
            match other.wait_signals() {
                Ok(now) => now,
                Err(e) => {
                    core::hint::cold_path();
                    return Err(e);
                }
            }
        }
    };
    if now & signals == 0 {
        let object = entry.object.to_arc();
        let serial = entry.object.serial();
        drop(handles);
        return block_one(object, serial, signals, deadline, observed);
    }
    drop(handles);
    if observed != 0 {
        user::put(observed, &now.to_le_bytes())?;
    }
    Ok(())
}

/// The rest of [`wait_one`] when the signals do not match yet: waits on `object`,
/// looked up through the handle with serial `serial`. It reads the caller again
/// (`Caller::current`), so that `wait_one`'s common path keeps none in memory for it.
#[inline(never)]
fn block_one(object: Arc<dyn KernelObject>, serial: u64, signals: u32, deadline: i64, observed: u64) -> ZxResult {
    let c = Caller::current()?;
    let (reason, mut seen_now) = wait_single(&c.thread, &object, serial, signals, deadline)?;
    drop(object);
    if reason == WakeReason::Canceled {
        seen_now |= signal::HANDLE_CLOSED;
    }
    let copied = if observed != 0 { user::put(observed, &seen_now.to_le_bytes()) } else { Ok(()) };
    // Nothing is held any more (the object is dropped, the caller a borrow): a thread
    // killed while it waited ends here (`Syscall::may_end_caller` leaves this call out).
    super::end_if_killed();
    copied?;
    match reason {
        WakeReason::Satisfied if seen_now & signals != 0 => Ok(()),
        WakeReason::Canceled => Err(ZxError::Canceled),
        WakeReason::Killed => Err(ZxError::Canceled),
        _ if seen_now & signals != 0 && deadline <= 0 => Ok(()),
        _ => Err(ZxError::TimedOut),
    }
}

/// Most items of one `zx_object_wait_many`.
const WAIT_MANY_MAX: u64 = 64;

/// `zx_object_wait_many` (ABI.md 4.2 call 36).
pub fn wait_many(c: &Caller, items: u64, count: u64, deadline: i64) -> ZxResult {
    if count == 0 {
        let reason = sched::block(
            WaitNode::begin(&c.thread).1,
            thread_state::BLOCKED_WAIT_MANY,
            if deadline == ZX_TIME_INFINITE { i64::MAX } else { deadline },
        );
        return if reason == WakeReason::Killed { Err(ZxError::Canceled) } else { Err(ZxError::TimedOut) };
    }
    if count > WAIT_MANY_MAX {
        return Err(ZxError::OutOfRange);
    }
    let n = count as usize;
    let mut raw = [0u8; 12 * WAIT_MANY_MAX as usize];
    user::get(items, &mut raw[..12 * n])?;
    let word = |raw: &[u8], i: usize, at: usize| {
        let o = i * 12 + at;
        u32::from_le_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]])
    };
    let mut list: Vec<(Arc<dyn KernelObject>, u64, u32)> = Vec::new();
    list.try_reserve(n).map_err(|_| ZxError::NoMemory)?;
    for i in 0..n {
        let (object, have, serial) = c.process().get_handle(word(&raw, i, 0))?;
        check_rights(have, rights::WAIT)?;
        if !object.waitable() {
            return Err(ZxError::NotSupported);
        }
        list.push((object.into_dyn(), serial, word(&raw, i, 4)));
    }
    let mut seen = [0u32; WAIT_MANY_MAX as usize];
    let reason = wait_on(&c.thread, &list, deadline, thread_state::BLOCKED_WAIT_MANY, &mut seen)?;
    let seen = &seen[..n];
    let mut canceled = reason == WakeReason::Canceled;
    for (i, pending) in seen.iter().enumerate() {
        if pending & signal::HANDLE_CLOSED != 0 {
            canceled = true;
        }
        raw[i * 12 + 8..i * 12 + 12].copy_from_slice(&pending.to_le_bytes());
    }
    let any = list.iter().zip(seen.iter()).any(|((_, _, mask), pending)| pending & mask != 0);
    drop(list);
    user::put_bytes(items, &raw[..12 * n])?;
    if canceled || reason == WakeReason::Killed {
        return Err(ZxError::Canceled);
    }
    if any { Ok(()) } else { Err(ZxError::TimedOut) }
}

/// `zx_nanosleep`: a deadline at or before 0 yields; otherwise sleeps until it.
pub fn nanosleep(deadline: i64) -> ZxResult {
    if deadline <= 0 {
        sched::yield_now();
        return Ok(());
    }
    sched::sleep_until(if deadline == ZX_TIME_INFINITE { i64::MAX } else { deadline });
    Ok(())
}

/// The new owner of a futex: 0, or a thread handle (no right needed).
fn owner(c: &Caller, handle: u32) -> ZxResult<Option<Arc<Thread>>> {
    if handle == 0 {
        return Ok(None);
    }
    c.process().get_object_with_rights::<Thread>(handle, 0).map(Some)
}

/// `zx_futex_wait`: pointer, value, owner, then the wait.
pub fn futex_wait(c: &Caller, ptr: u64, current: i32, new_owner: u32, deadline: i64) -> ZxResult {
    if ptr == 0 || !ptr.is_multiple_of(4) {
        return Err(ZxError::InvalidArgs);
    }
    let deadline = if deadline == ZX_TIME_INFINITE { i64::MAX } else { deadline };
    if new_owner == 0 {
        // No owner to resolve (the common case): straight to the wait, a tail call.
        return crate::kernel::futex::wait(&c.thread, ptr, current, None, deadline);
    }
    futex_wait_with_owner(c, ptr, current, new_owner, deadline)
}

/// `zx_futex_wait` naming a new owner. The value is compared inside the futex lock; the
/// owner's handle is resolved first but its checks that need the value come after it
/// (BAD_STATE wins over them).
#[inline(never)]
fn futex_wait_with_owner(c: &Caller, ptr: u64, current: i32, new_owner: u32, deadline: i64) -> ZxResult {
    match owner(c, new_owner) {
        Ok(o) => crate::kernel::futex::wait(&c.thread, ptr, current, o, deadline),
        Err(e) => {
            // BAD_STATE (value mismatch) and pointer faults come before the owner check.
            let mut bytes = [0u8; 4];
            user::get(ptr, &mut bytes)?;
            if i32::from_le_bytes(bytes) != current {
                return Err(ZxError::BadState);
            }
            Err(e)
        }
    }
}

/// `zx_futex_requeue`.
#[allow(clippy::too_many_arguments)]
pub fn futex_requeue(
    c: &Caller,
    ptr: u64,
    wake_count: u32,
    current: i32,
    requeue_ptr: u64,
    requeue_count: u32,
    new_owner: u32,
) -> ZxResult {
    if ptr == 0 || !ptr.is_multiple_of(4) || requeue_ptr == 0 || !requeue_ptr.is_multiple_of(4) || ptr == requeue_ptr {
        return Err(ZxError::InvalidArgs);
    }
    match owner(c, new_owner) {
        Ok(o) => crate::kernel::futex::requeue(&c.thread, ptr, wake_count, current, requeue_ptr, requeue_count, o),
        Err(e) => {
            let mut bytes = [0u8; 4];
            user::get(ptr, &mut bytes)?;
            if i32::from_le_bytes(bytes) != current {
                return Err(ZxError::BadState);
            }
            Err(e)
        }
    }
}
