//! The object layer: every kernel object (process, thread, job, VMO, VMAR, resource, and
//! later channels, events, ports, timers) implements [`KernelObject`]; a handle is a
//! reference-counted object plus rights ([`KHandle`] inside the pure handle table); one
//! typed lookup, [`crate::kernel::task::Process::get_object_with_rights`], gives
//! BAD_HANDLE, WRONG_TYPE and ACCESS_DENIED in Zircon's order.
//!
//! Signals live in each object's [`ObjectBase`] with the observers that wait for them
//! (threads in `wait_one`/`wait_many`, later port registrations). An observer is told of
//! every change while it is registered and of the closing of the handle it waits through.
//!
//! Lock order: an object's signal lock is taken after any lock of the object's own state
//! and before the scheduler's lock (observers wake threads while it is held). It is never
//! held across a user copy or a block.

use super::sched::{WaitNode, WaitRef, WakeReason};
use super::sync::{Lock, class};
use crate::abi::signal;
use crate::error::{ZxError, ZxResult};
use crate::object::signal_word;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

static NEXT_KOID: AtomicU64 = AtomicU64::new(1);

/// Live objects per `ZX_OBJ_TYPE_*` (index = type): one relaxed increment when an
/// [`ObjectBase`] is made and one decrement when it is dropped, so leak checks can compare
/// counts before and after a run (the concurrent fuzzer reads them through the test-only
/// get_info topic `info::FERRITE_OBJECT_COUNTS`; see docs/ABI.md).
static LIVE_OBJECTS: [AtomicU64; LIVE_OBJECT_TYPES] = [const { AtomicU64::new(0) }; LIVE_OBJECT_TYPES];

/// Object types counted by [`live_objects`] (every `ZX_OBJ_TYPE_*` is below it).
pub const LIVE_OBJECT_TYPES: usize = 31;

static TEST_INFO: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Turns on the test-only get_info topic `FERRITE_OBJECT_COUNTS` (the `testinfo`
/// command-line word).
pub fn enable_test_info() {
    TEST_INFO.store(true, Ordering::Relaxed);
}

/// Whether the test-only get_info topic answers.
pub fn test_info_enabled() -> bool {
    TEST_INFO.load(Ordering::Relaxed)
}

/// How many objects of type `ty` exist now (0 for a type out of range).
pub fn live_objects(ty: usize) -> u64 {
    LIVE_OBJECTS.get(ty).map_or(0, |count| count.load(Ordering::Relaxed))
}
/// Serial numbers of handles ([`KHandle::serial`]), which name a handle for the waits
/// and port registrations made through it (`zx_port_cancel` matches them across
/// objects), so no two handles ever share one: every handle takes the next value of
/// this counter, which stays below [`FIRST_HANDLE_SERIAL`], except the first handle of
/// a renewed object ([`FirstHandle`]), which takes `FIRST_HANDLE_SERIAL | koid` (one
/// first handle per koid, and koids are never reused).
static NEXT_HANDLE_SERIAL: AtomicU64 = AtomicU64::new(1);

/// The bit of the serial numbers that [`FirstHandle`]s give (see [`NEXT_HANDLE_SERIAL`]).
const FIRST_HANDLE_SERIAL: u64 = 1 << 63;

/// A fresh kernel object id: unique for the boot, never 0, never reused.
pub fn new_koid() -> u64 {
    NEXT_KOID.fetch_add(1, Ordering::Relaxed)
}

/// Something waiting for an object's signals.
pub trait Observer: Send + Sync {
    /// The object's signals are now `signals` (also called once when registered).
    /// Returns true when the observer is done and should be removed.
    fn on_signals(&self, signals: u32) -> bool;
    /// The handle with serial number `serial` was closed or moved. Returns true when the
    /// observer waited through it and is now removed.
    fn on_handle_closed(&self, serial: u64) -> bool;
}

/// What every object has: its koid, its handle count, its signals and their observers.
pub struct ObjectBase {
    /// Changed only by [`ObjectBase::renew`] (hence atomic; read with relaxed loads,
    /// the same single load a plain field takes).
    koid: AtomicU64,
    /// `ZX_OBJ_TYPE_*`, for the live-object count.
    obj_type: u8,
    handles: AtomicU32,
    /// The signals and whether anyone observes them (`object::signal_word`, whose rules
    /// say why an update with nobody observing needs no lock): read without a lock,
    /// changed by a compare-and-swap while nobody observes, else under `observers`'s
    /// lock, which alone sets and clears the observer bit.
    word: AtomicU64,
    /// The observers (the signal lock).
    observers: Lock<Vec<Watcher>>,
}

/// An entry of an object's observer list.
enum Watcher {
    /// A thread waiting on this one object (`zx_object_wait_one`), kept inline so that
    /// such a wait allocates nothing: it records every state it is told of in the
    /// thread's wait cell (`WaitNode::note_seen`) and ends the wait on a signal of
    /// `mask` or the closing of the handle `serial`. The node is `Some` while the entry
    /// is in the list: the step that ends the wait takes it out and hands its thread
    /// reference to the wake (the run queue keeps it), and the entry leaves the list in
    /// that same step.
    Thread { node: Option<WaitNode>, mask: u32, serial: u64 },
    /// Any other observer (a `wait_many` item, a port registration).
    Other(Arc<dyn Observer>),
}

impl Watcher {
    /// As [`Observer::on_signals`]; a thread's entry that is done has given its node to
    /// the wake.
    #[inline(always)]
    fn on_signals(&mut self, signals: u32) -> bool {
        match self {
            Watcher::Thread { node, mask, .. } => {
                let Some(waiting) = node else { return true };
                waiting.note_seen(signals);
                if signals & *mask != 0 {
                    if let Some(waiting) = node.take() {
                        waiting.wake_owned(WakeReason::Satisfied);
                    }
                    return true;
                }
                false
            }
            Watcher::Other(o) => o.on_signals(signals),
        }
    }

    /// As [`Observer::on_handle_closed`].
    fn on_handle_closed(&mut self, closed: u64) -> bool {
        match self {
            Watcher::Thread { node, serial, .. } => {
                if *serial != closed {
                    return false;
                }
                if let Some(waiting) = node.take() {
                    waiting.note_seen(signal::HANDLE_CLOSED);
                    waiting.wake_owned(WakeReason::Canceled);
                }
                true
            }
            Watcher::Other(o) => o.on_handle_closed(closed),
        }
    }
}

impl ObjectBase {
    /// The base of a new object of type `obj_type` (`ZX_OBJ_TYPE_*`) with a fresh koid
    /// and `initial` signals.
    pub fn new(obj_type: u32, initial: u32) -> Self {
        Self::with_koid(obj_type, new_koid(), initial)
    }

    /// A base with a koid already taken (a VMO's, which the store also records).
    pub fn with_koid(obj_type: u32, koid: u64, initial: u32) -> Self {
        let obj_type = (obj_type as usize).min(LIVE_OBJECT_TYPES - 1);
        LIVE_OBJECTS[obj_type].fetch_add(1, Ordering::Relaxed);
        ObjectBase {
            koid: AtomicU64::new(koid),
            obj_type: obj_type as u8,
            handles: AtomicU32::new(0),
            word: AtomicU64::new(signal_word::new(initial)),
            observers: Lock::new(&class::SIGNALS, Vec::new()),
        }
    }

    /// The base of an object whose life ended while its memory was kept for a later
    /// object of the same type (a retired VMO object, see `vm_object::VmoObjectSlab`,
    /// which stays in the live count while retired: the count reported leaves the
    /// retired ones out) made the base of a new object with `koid` and no signals, as
    /// [`ObjectBase::with_koid`] would make it. False (and nothing changed) if an
    /// observer is still registered, which a retired object with no handle, no other
    /// reference and no weak one cannot have (every observer is tied to a handle and
    /// leaves when it closes), so the caller makes a new object instead.
    ///
    /// Through a shared reference: the caller's structure guarantees that nothing else
    /// uses the object any more (the slab retires an object only when the closing
    /// handle's reference, which touches nothing but the reference count from then on,
    /// is the only other one), so it needs no `Arc::get_mut` (a lock and unlock of the
    /// weak count) to prove it again; every field it changes is atomic, so even a
    /// reference still on its way out is no data race. The observer bit is set exactly
    /// while the list is not empty whenever the signal lock is free (`signal_word`'s
    /// rules), and nobody can hold that lock on an object nothing reaches, so the bit
    /// answers for the list.
    #[inline(always)]
    pub fn renew(&self, koid: u64) -> bool {
        self.renew_counting(koid, 0)
    }

    /// [`ObjectBase::renew`] for a caller about to make the object's first handle: the
    /// renewed base already counts it, and the [`FirstHandle`] it gives back is what
    /// [`KHandle::first`] turns into that handle (so the create makes no atomic
    /// read-modify-write of the count). `None` where `renew` gives false.
    #[inline(always)]
    pub fn renew_with_first_handle(&self, koid: u64) -> Option<FirstHandle> {
        self.renew_counting(koid, 1).then_some(FirstHandle(FIRST_HANDLE_SERIAL | koid))
    }

    /// The body of [`ObjectBase::renew`], with `handles` counted.
    #[inline(always)]
    fn renew_counting(&self, koid: u64, handles: u32) -> bool {
        // Relaxed throughout: the renewed object reaches other CPUs only through a lock
        // (the VM lock the caller holds, then the handle table's), which orders these
        // stores before any use.
        if signal_word::observed(self.word.load(Ordering::Relaxed)) {
            return false;
        }
        self.word.store(signal_word::new(0), Ordering::Relaxed);
        self.handles.store(handles, Ordering::Relaxed);
        self.koid.store(koid, Ordering::Relaxed);
        true
    }

    /// The object's koid.
    pub fn koid(&self) -> u64 {
        self.koid.load(Ordering::Relaxed)
    }

    /// Handles to the object anywhere (ZX_INFO_HANDLE_COUNT).
    pub fn handle_count(&self) -> u32 {
        self.handles.load(Ordering::Acquire)
    }

    /// The signals asserted now.
    pub fn signals(&self) -> u32 {
        // Every change is made in this word, so this is the value at this moment; the
        // caller gets a snapshot either way.
        signal_word::signals(self.word.load(Ordering::Acquire))
    }

    /// Clears `clear` and sets `set`, then tells every observer; observers that are done
    /// are removed. Inlined: a no-op update is a load and a compare, and an update that
    /// nobody observes a compare-and-swap.
    #[inline(always)]
    pub fn update_signals(&self, clear: u32, set: u32) {
        // Relaxed: a no-op update publishes and learns nothing (no caller acts on what it
        // read), and a change goes through the compare-and-swap below, which orders.
        let seen = self.word.load(Ordering::Relaxed);
        // Nothing to change (setting a signal already set, as a producer signalling an
        // event again does): the update is a no-op at the moment of this load, which is
        // where it takes effect; observers are told only of changes, so none is missed.
        let Some(new) = signal_word::apply(seen, clear, set) else { return };
        // Nobody observes (READABLE set and cleared by a channel's writes and reads while
        // its reader runs): the change takes effect at this compare-and-swap, which
        // succeeds only if the word is still `seen`, without the observer bit. A
        // registration sets that bit with a read-modify-write of this word under the
        // signal lock (`register`), so either it comes first and this fails (then
        // `change_signals` takes the lock, which waits for the registration to finish),
        // or this comes first and the registration reads the new signals
        // (`object::signal_word`; its model test runs every interleaving). Release:
        // whatever the signal announces (a queued message) is visible to whoever sees
        // the signal.
        if !signal_word::observed(seen)
            && self.word.compare_exchange_weak(seen, new, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            return;
        }
        self.change_signals(clear, set);
    }

    /// [`ObjectBase::update_signals`] with observers (or after a lost race): under the
    /// signal lock.
    #[inline(never)]
    fn change_signals(&self, clear: u32, set: u32) {
        let mut observers = self.observers.lock();
        let mut seen = self.word.load(Ordering::Acquire);
        loop {
            let Some(new) = signal_word::apply(seen, clear, set) else { return };
            if signal_word::observed(seen) {
                // With the observer bit set only the signal lock's holder changes the
                // word (every lock-free compare-and-swap expects a word without the
                // bit), so a store does.
                self.word.store(new, Ordering::Release);
                let signals = signal_word::signals(new);
                observers.retain_mut(|o| !o.on_signals(signals));
                if observers.is_empty() {
                    self.word.store(signal_word::with_observed(new, false), Ordering::Release);
                }
                return;
            }
            // Nobody observes (the last observer left after the caller's look, or its
            // compare-and-swap lost a race): the lock-free update after all. Holding
            // the lock, no registration can set the bit meanwhile, so this ends.
            match self.word.compare_exchange_weak(seen, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => seen = now,
            }
        }
    }

    /// Under the signal lock (`observers`), before an observer joins the list: sets the
    /// observer bit and returns the signals at that moment (one read-modify-write, which
    /// is what orders the registration against lock-free updates; see
    /// [`ObjectBase::update_signals`]).
    #[inline(always)]
    fn register(&self, _observers: &[Watcher]) -> u32 {
        signal_word::signals(self.word.fetch_or(signal_word::OBSERVED, Ordering::AcqRel))
    }

    /// Under the signal lock, after observers left or an observer was not added: clears
    /// the observer bit if the list is now empty, so updates go lock-free again. Only the
    /// lock's holder changes the bit, so the list and the bit agree whenever the lock is
    /// free.
    #[inline(always)]
    fn unregister_if_empty(&self, observers: &[Watcher]) {
        if observers.is_empty() {
            self.word.fetch_and(!signal_word::OBSERVED, Ordering::AcqRel);
        }
    }

    /// Registers `observer` and tells it the current signals at once; it stays only if
    /// that call says it is not done yet. Returns the signals at registration.
    pub fn add_observer(&self, observer: Arc<dyn Observer>) -> ZxResult<u32> {
        let mut observers = self.observers.lock();
        let now = self.register(&observers);
        if !observer.on_signals(now) {
            if observers.try_reserve(1).is_err() {
                self.unregister_if_empty(&observers);
                return Err(ZxError::NoMemory);
            }
            observers.push(Watcher::Other(observer));
        }
        self.unregister_if_empty(&observers);
        Ok(now)
    }

    /// Removes `observer` if it is still registered; returns the signals now.
    pub fn remove_observer(&self, observer: &Arc<dyn Observer>) -> u32 {
        let mut observers = self.observers.lock();
        observers.retain(|o| !matches!(o, Watcher::Other(o) if Arc::ptr_eq(o, observer)));
        self.unregister_if_empty(&observers);
        self.signals()
    }

    /// Registers the single-object wait `node` (the caller's own, not yet ended) for the
    /// signals `mask` through the handle `serial`, after telling it the current signals
    /// (which may end it at once: then nothing is registered). Returns the signals at
    /// registration. The entry keeps the node (a thread reference), never the last one
    /// of the thread: the waiting thread is borrowed by its own code until its wait is
    /// over and it has removed the entry ([`ObjectBase::remove_waiter`]), and its
    /// process's thread lists count it, so nothing is freed under the signal lock.
    /// Inlined into its one caller (`wait_one`'s blocking path), whose frame already
    /// saves the registers it needs: a call of its own saved and restored twelve.
    #[inline(always)]
    pub fn add_waiter(&self, node: WaitNode, mask: u32, serial: u64) -> ZxResult<u32> {
        let mut observers = self.observers.lock();
        let now = self.register(&observers);
        node.note_seen(now);
        if now & mask != 0 {
            node.wake(WakeReason::Satisfied);
            self.unregister_if_empty(&observers);
            drop(observers);
            return Ok(now);
        }
        if observers.len() == observers.capacity() && observers.try_reserve(1).is_err() {
            self.unregister_if_empty(&observers);
            drop(observers);
            return Err(ZxError::NoMemory);
        }
        observers.push(Watcher::Thread { node: Some(node), mask, serial });
        Ok(now)
    }

    /// Removes the single-object wait `node` if it is still registered; returns the
    /// signals now. Once this returns, no entry of this object names the wait, and no
    /// call of it is under way (both happen under the signal lock), so the thread's wait
    /// cell is its own again.
    pub fn remove_waiter(&self, wait: WaitRef) -> u32 {
        let mut observers = self.observers.lock();
        if let Some(at) =
            observers.iter().position(|o| matches!(o, Watcher::Thread { node: Some(n), .. } if wait.is(n)))
        {
            let entry = observers.remove(at);
            self.unregister_if_empty(&observers);
            drop(observers);
            drop(entry);
            return self.signals();
        }
        self.signals()
    }

    /// Tells observers that waited through handle `serial` that it is gone. Inlined: a
    /// close of a handle to an object nobody observes is one load, with no lock.
    ///
    /// Sound without the lock: a registration sets the observer bit before it releases
    /// the signal lock, so a registration that happens before this load (through the
    /// lock, or any chain of synchronisation, such as the closer seeing the waiter
    /// blocked) is seen by it (read-write coherence); one that does not happen before it
    /// could as well have taken the lock after the closer's look did, when the locked
    /// look found no observer either. Either way the outcome is one the lock allows.
    #[inline]
    fn handle_closed(&self, serial: u64) {
        if signal_word::observed(self.word.load(Ordering::Acquire)) {
            self.cancel_waits_through(serial);
        }
    }

    /// The observers' part of [`ObjectBase::handle_closed`], out of line: most closes
    /// find no observer.
    #[inline(never)]
    fn cancel_waits_through(&self, serial: u64) {
        let mut observers = self.observers.lock();
        observers.retain_mut(|o| !o.on_handle_closed(serial));
        self.unregister_if_empty(&observers);
    }
}

impl Drop for ObjectBase {
    fn drop(&mut self) {
        LIVE_OBJECTS[self.obj_type as usize].fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the checks of `zx_object_signal` and `zx_object_wait_one` need to know of an
/// object's type, all fixed by the type (see [`KernelObject::header`]): its
/// `ZX_OBJ_TYPE_*`, whether it is waitable and the signals `zx_object_signal` may set
/// besides the user signals. One word (settable signals in bits 31..0, the type in
/// 39..32, waitable in bit 40), so that a [`Header`] comes back in two registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeFacts(u64);

impl TypeFacts {
    /// The facts of a type: `obj_type` (every `ZX_OBJ_TYPE_*` is below 256),
    /// `waitable`, `settable`.
    #[inline(always)]
    pub const fn new(obj_type: u32, waitable: bool, settable: u32) -> Self {
        TypeFacts(settable as u64 | ((obj_type as u64 & 0xff) << 32) | ((waitable as u64) << 40))
    }

    /// `ZX_OBJ_TYPE_*`.
    #[inline(always)]
    pub const fn obj_type(self) -> u32 {
        ((self.0 >> 32) & 0xff) as u32
    }

    /// Whether handles to such an object may be waited on.
    #[inline(always)]
    pub const fn waitable(self) -> bool {
        self.0 & (1 << 40) != 0
    }

    /// Signals that `zx_object_signal` may set on such an object.
    #[inline(always)]
    pub const fn signalable(self) -> u32 {
        signal::USER_ALL | self.0 as u32
    }
}

/// An object's base and its type's facts: [`KernelObject::header`].
#[derive(Clone, Copy)]
pub struct Header<'a> {
    /// [`KernelObject::base`].
    pub base: &'a ObjectBase,
    /// The type's facts.
    pub facts: TypeFacts,
}

/// A kernel object.
pub trait KernelObject: Send + Sync + 'static {
    /// Koid, handle count and signals.
    fn base(&self) -> &ObjectBase;
    /// `ZX_OBJ_TYPE_*`.
    fn obj_type(&self) -> u32;
    /// The related object's koid (ABI.md section 5), 0 when none.
    fn related_koid(&self) -> u64 {
        0
    }
    /// Whether handles to it may be waited on (`ZX_OBJ_PROP_WAITABLE`).
    fn waitable(&self) -> bool {
        true
    }
    /// Signals `zx_object_signal` may change besides the user signals.
    fn user_settable_signals(&self) -> u32 {
        0
    }
    /// Called when the last handle to the object is closed.
    fn on_zero_handles(&self) {}
    /// A handle with serial number `serial` is gone ([`KHandle`]'s drop): the waits made
    /// through it end, the handle count goes down, and the last handle calls
    /// [`KernelObject::on_zero_handles`]. Not meant to be overridden: the default,
    /// compiled for each type, reaches the base and `on_zero_handles` with direct calls
    /// (inlined where they are small), so that a close makes one virtual call instead of
    /// two or three (`base`, then `on_zero_handles`).
    ///
    /// The waits are looked for as [`ObjectBase::handle_closed`] does (one load; see
    /// there why that is sound without the lock), and a handle that has some goes the
    /// cold way (`drop_observed_handle`), so that the common path keeps nothing across
    /// a call and needs no frame: its `on_zero_handles` is a tail call.
    fn drop_handle(&self, serial: u64) {
        if signal_word::observed(self.base().word.load(Ordering::Acquire)) {
            return drop_observed_handle(self, serial);
        }
        drop_handle_count(self);
    }
    /// The object's name, for objects that have one.
    fn name(&self) -> Option<[u8; 32]> {
        None
    }
    /// Sets the name (already cut to at most 31 bytes, stopping at a NUL).
    fn set_name(&self, _name: &[u8]) -> ZxResult {
        Err(ZxError::NotSupported)
    }
    /// The other end of a peered object (channel, eventpair).
    fn peer(&self) -> ZxResult<Arc<dyn KernelObject>> {
        Err(ZxError::NotSupported)
    }
    /// The base and the facts of the type ([`TypeFacts`]) in one virtual call, for the
    /// checks of a signal or a wait (otherwise one call each for `base`, `obj_type`,
    /// `waitable` and `user_settable_signals`). Not meant to be overridden: the default,
    /// compiled for each type, reads the four methods above, which it inlines.
    fn header(&self) -> Header<'_> {
        Header {
            base: self.base(),
            facts: TypeFacts::new(self.obj_type(), self.waitable(), self.user_settable_signals()),
        }
    }
    /// `zx_object_signal`'s checks and update on this object, once the handle's SIGNAL
    /// right is checked: NOT_SUPPORTED when it is not waitable, INVALID_ARGS when a mask
    /// reaches beyond the user signals and the type's settable ones; then a VMO's user
    /// signals are also updated in the VMO store, and the base's. Not meant to be
    /// overridden: the default, compiled for each type, folds the type's facts (the
    /// methods above, as [`KernelObject::header`] does) to constants, so the whole
    /// signal is one virtual call, across which the syscall keeps nothing but its
    /// handle-table lock.
    fn signal_user(&self, clear: u32, set: u32) -> ZxResult {
        signal_user_of(self, clear, set)
    }
    /// The signals `zx_object_wait_one` sees on this object now, once the handle's WAIT
    /// right is checked: NOT_SUPPORTED when it is not waitable; a VMO's ZERO_CHILDREN
    /// comes from the VMO store. One virtual call, like [`KernelObject::signal_user`],
    /// and not meant to be overridden either.
    fn wait_signals(&self) -> ZxResult<u32> {
        wait_signals_of(self)
    }
    /// The VMO a VMO object stands for, `None` for every other type: the type test of
    /// the borrowed `zx_vmo_read` / `zx_vmo_write` lookup in one virtual call (a
    /// downcast costs a `type_id` call and a 128-bit compare).
    fn vmo_id(&self) -> Option<crate::vm::vmo::VmoId> {
        None
    }
}

/// The body of [`KernelObject::signal_user`] for the type `T`, where the type's facts
/// are constants: inlined both into the default method and into [`KHandle`]'s direct
/// paths, so the two cannot disagree.
#[inline(always)]
fn signal_user_of<T: KernelObject + ?Sized>(object: &T, clear: u32, set: u32) -> ZxResult {
    let facts = TypeFacts::new(object.obj_type(), object.waitable(), object.user_settable_signals());
    if !facts.waitable() {
        return Err(ZxError::NotSupported);
    }
    if (clear | set) & !facts.signalable() != 0 {
        return Err(ZxError::InvalidArgs);
    }
    if let Some(id) = object.vmo_id() {
        crate::kernel::vm_object::vmo_store_signals(id, clear, set);
    }
    object.base().update_signals(clear, set);
    Ok(())
}

/// The body of [`KernelObject::wait_signals`] for the type `T`, as [`signal_user_of`]
/// is for `signal_user`.
#[inline(always)]
fn wait_signals_of<T: KernelObject + ?Sized>(object: &T) -> ZxResult<u32> {
    if !object.waitable() {
        return Err(ZxError::NotSupported);
    }
    match object.vmo_id() {
        Some(id) => Ok(crate::kernel::vm_object::vmo_signals_of(id, object.base())),
        None => Ok(object.base().signals()),
    }
}

/// [`KernelObject::drop_handle`] of a handle to an object with observers: the waits made
/// through it end first.
#[cold]
#[inline(never)]
fn drop_observed_handle<T: KernelObject + ?Sized>(object: &T, serial: u64) {
    object.base().cancel_waits_through(serial);
    drop_handle_count(object);
}

/// The handle count's part of [`KernelObject::drop_handle`]: one handle fewer, and the
/// last one calls `on_zero_handles`.
#[inline(always)]
fn drop_handle_count<T: KernelObject + ?Sized>(object: &T) {
    if object.base().handles.fetch_sub(1, Ordering::AcqRel) == 1 {
        object.on_zero_handles();
    }
}

/// A handle that an object's base already counts but that is not made yet, with its
/// serial number (`FIRST_HANDLE_SERIAL | koid`, see [`NEXT_HANDLE_SERIAL`]): given by
/// [`ObjectBase::renew`], taken by [`KHandle::first`]. Only this module makes one.
#[must_use = "the object counts this handle: make it with KHandle::first"]
pub struct FirstHandle(u64);

/// One handle to an object of the type `T`: the object and the handle's serial number.
/// Dropping it is dropping the handle ([`KernelObject::drop_handle`], compiled for `T`:
/// direct calls), then its reference to the object. Only [`KHandle`] holds one.
pub struct HandleOf<T: KernelObject> {
    object: Arc<T>,
    serial: u64,
}

impl<T: KernelObject> Drop for HandleOf<T> {
    #[inline(always)]
    fn drop(&mut self) {
        self.object.drop_handle(self.serial);
    }
}

/// The object a handle names, by its concrete type. Each `KHandle` counts as one handle
/// of the object; the last one dropped calls `on_zero_handles`. Dropping one also ends
/// the waits made through it. It must not be dropped while a lock is held that
/// `on_zero_handles` or an observer could take (handle-table code removes handles under
/// the table lock and drops them after releasing it).
///
/// An enum with a variant per kernel object type, each a thin reference and the serial
/// (24 bytes with the tag, as the `Arc<dyn KernelObject>` and serial it replaces, so a
/// table's handle with its rights and tag stays 32 bytes and a slot 40), instead of a
/// trait object: the calls that are hot for
/// one type (`zx_object_signal` and `zx_object_wait_one` on an event, `zx_port_queue`
/// and `zx_port_wait`, the channel, VMAR and VMO lookups) compare the tag and reach the
/// concrete code with direct, inlined calls, where a `dyn` call costs the data-pointer
/// arithmetic, the vtable load, an indirect branch and the callee's own frame; and a
/// close is one `match` that both drops the handle and the reference, each compiled for
/// the type. Anything else reaches the object through [`KHandle::as_dyn`], a `match`
/// whose arms are free coercions.
macro_rules! khandle {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// See the comment of the macro that makes it, above.
        pub enum KHandle {
            $(
                #[doc = concat!("A handle to a `", stringify!($ty), "`.")]
                $variant(HandleOf<$ty>),
            )*
        }

        $(
            impl HandleObject for $ty {
                #[inline(always)]
                fn into_handle(object: Arc<Self>, serial: u64) -> KHandle {
                    KHandle::$variant(HandleOf { object, serial })
                }

                #[inline(always)]
                fn of_handle(handle: &KHandle) -> Option<&Arc<Self>> {
                    match handle {
                        KHandle::$variant(handle) => Some(&handle.object),
                        _ => None,
                    }
                }

                #[inline(always)]
                fn of_object(object: &KObject) -> Option<&Arc<Self>> {
                    match object {
                        KObject::$variant(object) => Some(object),
                        _ => None,
                    }
                }
            }
        )*

        impl KHandle {
            /// The object as a trait object (a borrow: no reference count).
            #[inline(always)]
            pub fn as_dyn(&self) -> &dyn KernelObject {
                match self {
                    $(KHandle::$variant(handle) => &*handle.object,)*
                }
            }

            /// A counted reference to the object as a trait object. Inlined: a wait that
            /// blocks takes one under the table lock, where a call would add its frame
            /// to the `match`.
            #[inline(always)]
            pub fn to_arc(&self) -> Arc<dyn KernelObject> {
                match self {
                    $(KHandle::$variant(handle) => handle.object.clone(),)*
                }
            }

            /// This handle's serial number (which waits are made through it). The same
            /// load in every arm, which the compiler merges.
            #[inline(always)]
            pub fn serial(&self) -> u64 {
                match self {
                    $(KHandle::$variant(handle) => handle.serial,)*
                }
            }

            /// The object's base, read directly for its type (no virtual call).
            #[inline(always)]
            pub fn base(&self) -> &ObjectBase {
                match self {
                    $(KHandle::$variant(handle) => handle.object.base(),)*
                }
            }

            /// The object as a `T`: WRONG_TYPE when it is another (a compare of the
            /// tag with `T`'s variant, [`HandleObject::of_handle`]).
            #[inline(always)]
            pub fn downcast_ref<T: HandleObject>(&self) -> ZxResult<&T> {
                T::of_handle(self).map(|object| &**object).ok_or(ZxError::WrongType)
            }

            /// [`KHandle::downcast_ref`] giving the reference itself, which the caller
            /// may clone to keep the object.
            #[inline(always)]
            pub fn downcast_arc<T: HandleObject>(&self) -> ZxResult<&Arc<T>> {
                T::of_handle(self).ok_or(ZxError::WrongType)
            }

            /// A counted reference to the object, by its type: what a lookup that keeps
            /// the object gives ([`KObject`]).
            pub fn to_object(&self) -> KObject {
                match self {
                    $(KHandle::$variant(handle) => KObject::$variant(handle.object.clone()),)*
                }
            }
        }

        /// A counted reference to a kernel object, by its concrete type: what a lookup
        /// that keeps the object gives (`Process::get_handle`), as [`KHandle`] is what
        /// the table holds. The type tests of the calls that use one (`zx_object_get_info`
        /// and its properties, `zx_task_kill`) are compares of the tag, as a handle's
        /// are ([`KObject::get`]); everything common to all types is on the trait
        /// object it derefs to.
        #[derive(Clone)]
        pub enum KObject {
            $(
                #[doc = concat!("A `", stringify!($ty), "`.")]
                $variant(Arc<$ty>),
            )*
        }

        impl KObject {
            /// The object as a `T`: WRONG_TYPE when it is another.
            pub fn get<T: HandleObject>(&self) -> ZxResult<&Arc<T>> {
                T::of_object(self).ok_or(ZxError::WrongType)
            }

            /// The reference as a trait object (for a wait, whose observers hold one).
            pub fn into_dyn(self) -> Arc<dyn KernelObject> {
                match self {
                    $(KObject::$variant(object) => object,)*
                }
            }
        }

        impl core::ops::Deref for KObject {
            type Target = dyn KernelObject;

            fn deref(&self) -> &Self::Target {
                match self {
                    $(KObject::$variant(object) => &**object,)*
                }
            }
        }

        impl KHandle {
            /// Drops the handle (as `drop` does), inlined into the caller: each arm
            /// drops its type's handle and reference with the caller's frame, where the
            /// drop glue of `KHandle` is a call that takes the handle through memory
            /// and sets up a frame of its own (for `zx_handle_close`).
            #[inline(always)]
            pub fn close(self) {
                match self {
                    $(KHandle::$variant(handle) => drop(handle),)*
                }
            }
        }

        impl Clone for KHandle {
            /// Another handle to the same object (a new serial).
            fn clone(&self) -> Self {
                match self {
                    $(KHandle::$variant(handle) => KHandle::new(handle.object.clone()),)*
                }
            }
        }
    };
}

/// An object type a [`KHandle`] can name (every kernel object type: the `khandle!`
/// list).
pub trait HandleObject: KernelObject + Sized {
    /// The handle with serial `serial` to `object`, already counted.
    fn into_handle(object: Arc<Self>, serial: u64) -> KHandle;
    /// The object of `handle` when it is of this type (its variant's compare).
    fn of_handle(handle: &KHandle) -> Option<&Arc<Self>>;
    /// The object of `object` when it is of this type.
    fn of_object(object: &KObject) -> Option<&Arc<Self>>;
}

khandle! {
    Event(crate::kernel::ipc::event::Event),
    EventPair(crate::kernel::ipc::event::EventPair),
    Port(crate::kernel::ipc::port::Port),
    Channel(crate::kernel::ipc::channel::Channel),
    Timer(crate::kernel::ipc::timer::Timer),
    Vmo(crate::kernel::vm_object::VmoObject),
    Vmar(crate::kernel::vm_object::VmarObject),
    Process(crate::kernel::task::Process),
    Thread(crate::kernel::task::Thread),
    Job(crate::kernel::task::Job),
    Resource(Resource),
}

// A tag word, a thin reference and the serial: see `KHandle`.
const _: () = assert!(core::mem::size_of::<KHandle>() == 24);

impl KHandle {
    /// A new handle to `object`.
    #[inline]
    pub fn new<T: HandleObject>(object: Arc<T>) -> Self {
        object.base().handles.fetch_add(1, Ordering::AcqRel);
        T::into_handle(object, NEXT_HANDLE_SERIAL.fetch_add(1, Ordering::Relaxed))
    }

    /// The first handle of `object`, which its renewal already counted (`first` is
    /// what [`ObjectBase::renew`] gave back for it): [`KHandle::new`] without the
    /// count's read-modify-write, and with the serial number that names the object's
    /// life instead of the next of the counter (no second read-modify-write).
    #[inline(always)]
    pub fn first<T: HandleObject>(object: Arc<T>, first: FirstHandle) -> Self {
        let FirstHandle(serial) = first;
        T::into_handle(object, serial)
    }

    /// The handle is moved to another table (`zx_process_start`'s arg1): the waits made
    /// through it end with CANCELED, as when it is closed, while the handle lives on.
    pub fn end_waits(&self) {
        self.base().handle_closed(self.serial());
    }

    /// `zx_object_signal`'s checks and update ([`KernelObject::signal_user`]): for an
    /// event or an eventpair the default method's body compiled for that type, inlined
    /// (its type facts are constants there, so it is the mask test and the update); for
    /// anything else the virtual call.
    #[inline(always)]
    pub fn signal_user(&self, clear: u32, set: u32) -> ZxResult {
        match self {
            KHandle::Event(event) => signal_user_of(&*event.object, clear, set),
            KHandle::EventPair(pair) => signal_user_of(&*pair.object, clear, set),
            other => other.signal_user_dyn(clear, set),
        }
    }

    /// [`KHandle::wait_signals`] of an event handle (an event is always waitable): for
    /// `zx_object_wait_one`, which tests the event's tag on its own so that the compiler
    /// folds it into the slot's occupied test.
    #[inline(always)]
    pub fn event_signals(event: &HandleOf<crate::kernel::ipc::event::Event>) -> u32 {
        event.object.base().signals()
    }

    /// [`KHandle::signal_user`] for the other types, out of line: inlined, its `as_dyn`
    /// would join the tests above into one jump table, which the hot types would pay
    /// for too (an indirect branch where a compare of the tag does).
    #[inline(never)]
    fn signal_user_dyn(&self, clear: u32, set: u32) -> ZxResult {
        self.as_dyn().signal_user(clear, set)
    }

    /// [`KernelObject::wait_signals`]: for an event or an eventpair (always waitable,
    /// their signals all in the base) one load of the base's signals; for anything else
    /// the virtual call.
    #[inline(always)]
    pub fn wait_signals(&self) -> ZxResult<u32> {
        match self {
            KHandle::Event(event) => wait_signals_of(&*event.object),
            KHandle::EventPair(pair) => wait_signals_of(&*pair.object),
            KHandle::Channel(channel) => wait_signals_of(&*channel.object),
            other => other.wait_signals_dyn(),
        }
    }

    /// [`KHandle::wait_signals`] for the other types, out of line (as
    /// [`KHandle::signal_user_dyn`]).
    #[inline(never)]
    fn wait_signals_dyn(&self) -> ZxResult<u32> {
        self.as_dyn().wait_signals()
    }

    /// The object as a port, `None` for every other type (a compare of the tag).
    #[inline(always)]
    pub fn as_port(&self) -> Option<&crate::kernel::ipc::port::Port> {
        match self {
            KHandle::Port(port) => Some(&port.object),
            _ => None,
        }
    }

    /// The object as a channel endpoint, `None` for every other type.
    #[inline(always)]
    pub fn as_channel(&self) -> Option<&crate::kernel::ipc::channel::Channel> {
        match self {
            KHandle::Channel(channel) => Some(&channel.object),
            _ => None,
        }
    }

    /// The object as a VMAR, `None` for every other type.
    #[inline(always)]
    pub fn as_vmar(&self) -> Option<&crate::kernel::vm_object::VmarObject> {
        match self {
            KHandle::Vmar(vmar) => Some(&vmar.object),
            _ => None,
        }
    }

    /// The VMO a VMO object stands for, `None` for every other type.
    #[inline(always)]
    pub fn vmo_id(&self) -> Option<crate::vm::vmo::VmoId> {
        match self {
            KHandle::Vmo(vmo) => Some(vmo.object.id()),
            _ => None,
        }
    }

    /// Whether this names the object at `object` (the address of its data).
    #[inline]
    pub fn is_at(&self, object: *const ()) -> bool {
        core::ptr::eq(self.as_dyn() as *const dyn KernelObject as *const (), object)
    }
}

/// The root resource (ABI.md section 2): the only resource object.
pub struct Resource {
    base: ObjectBase,
}

impl Resource {
    /// The root resource, made once at boot.
    pub fn root() -> &'static Arc<Resource> {
        static ROOT: spin::Once<Arc<Resource>> = spin::Once::new();
        ROOT.call_once(|| Arc::new(Resource { base: ObjectBase::new(crate::abi::obj_type::RESOURCE, 0) }))
    }
}

impl KernelObject for Resource {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn obj_type(&self) -> u32 {
        crate::abi::obj_type::RESOURCE
    }
    fn waitable(&self) -> bool {
        false
    }
}
