//! Events and eventpairs: objects that are nothing but signals. An eventpair end also
//! signals its peer (`zx_object_signal_peer`) and sees PEER_CLOSED when the peer's last
//! handle is closed.

use crate::abi::{obj_type, signal};
use crate::error::{ZxError, ZxResult};
use crate::kernel::object::{KernelObject, ObjectBase};
use crate::kernel::sync::{Lock, class};
use alloc::sync::{Arc, Weak};

/// An event.
pub struct Event {
    base: ObjectBase,
}

impl Event {
    /// A new event, not signaled.
    pub fn new() -> Arc<Event> {
        Arc::new(Event { base: ObjectBase::new(obj_type::EVENT, 0) })
    }
}

impl KernelObject for Event {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn obj_type(&self) -> u32 {
        obj_type::EVENT
    }
    fn user_settable_signals(&self) -> u32 {
        signal::SIGNALED
    }
}

/// One end of an eventpair.
pub struct EventPair {
    base: ObjectBase,
    peer: Lock<Weak<EventPair>>,
    peer_koid: core::sync::atomic::AtomicU64,
}

impl EventPair {
    /// Two connected ends.
    pub fn create() -> (Arc<EventPair>, Arc<EventPair>) {
        let a = Arc::new(EventPair {
            base: ObjectBase::new(obj_type::EVENTPAIR, 0),
            peer: Lock::new(&class::LEAF, Weak::new()),
            peer_koid: core::sync::atomic::AtomicU64::new(0),
        });
        let b = Arc::new(EventPair {
            base: ObjectBase::new(obj_type::EVENTPAIR, 0),
            peer: Lock::new(&class::LEAF, Arc::downgrade(&a)),
            peer_koid: core::sync::atomic::AtomicU64::new(a.base.koid()),
        });
        *a.peer.lock() = Arc::downgrade(&b);
        a.peer_koid.store(b.base.koid(), core::sync::atomic::Ordering::Relaxed);
        (a, b)
    }
}

impl KernelObject for EventPair {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn obj_type(&self) -> u32 {
        obj_type::EVENTPAIR
    }
    fn related_koid(&self) -> u64 {
        self.peer_koid.load(core::sync::atomic::Ordering::Relaxed)
    }
    fn user_settable_signals(&self) -> u32 {
        signal::SIGNALED
    }
    fn peer(&self) -> ZxResult<Arc<dyn KernelObject>> {
        match self.peer.lock().upgrade() {
            Some(p) if p.base.handle_count() > 0 => Ok(p),
            _ => Err(ZxError::PeerClosed),
        }
    }
    fn on_zero_handles(&self) {
        let peer = core::mem::take(&mut *self.peer.lock()).upgrade();
        if let Some(peer) = peer {
            *peer.peer.lock() = Weak::new();
            peer.base.update_signals(0, signal::PEER_CLOSED);
        }
    }
}
