//! One channel endpoint's inbound side: the messages written to it and not yet read,
//! and the `zx_channel_call`s pending on it, each waiting for the reply whose first four
//! bytes are its transaction id.
//!
//! Rules (ABI.md 43, 44): at most [`MAX_PENDING_MESSAGES`] unread messages (the next
//! write is SHOULD_WAIT and queues nothing); a message whose txid matches a pending call
//! of this endpoint is that call's reply and is never queued; kernel txids lie in
//! `[0x8000_0000, 0xFFFF_FFFF]` and never equal the txid of another call pending here.

use crate::error::{ZxError, ZxResult};
use alloc::vec::Vec;

/// Unread messages an endpoint holds (ABI.md section 5).
pub const MAX_PENDING_MESSAGES: usize = 3500;

/// The bit every kernel-made txid has.
pub const KERNEL_TXID_BIT: u32 = 0x8000_0000;

/// The txid of a message: its first four bytes, little-endian; none when shorter.
pub fn txid_of(bytes: &[u8]) -> Option<u32> {
    match bytes {
        [a, b, c, d, ..] => Some(u32::from_le_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// What became of a delivered message.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery<M, W> {
    /// Queued; `was_empty` says the endpoint had no unread message before (READABLE
    /// rises).
    Queued { was_empty: bool },
    /// It is the reply of the pending call `W`, which is no longer pending. The caller
    /// hands it over, or queues it with [`EndQueue::requeue`] when that call ended
    /// meanwhile (a timeout that won the race).
    Reply(W, M),
}

/// A FIFO of messages in a ring of slots that keeps its memory (it grows, doubling,
/// only when full). Unlike `VecDeque`, its push and pop are plain code the caller can
/// have in line, so a message is stored into and loaded from its slot field by field
/// rather than through a `memcpy` of the whole message.
pub struct Ring<M> {
    /// Occupied: `len` slots from `head` on, wrapping; the rest are `None`.
    slots: Vec<Option<M>>,
    head: usize,
    len: usize,
}

impl<M> Default for Ring<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> Ring<M> {
    /// Empty, with no memory.
    pub const fn new() -> Self {
        Ring { slots: Vec::new(), head: 0, len: 0 }
    }

    /// Messages held.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when it holds none.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots it has (held messages and room).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The slot `k` places after the head.
    #[inline(always)]
    fn at(&self, k: usize) -> usize {
        let i = self.head + k;
        if i >= self.slots.len() { i - self.slots.len() } else { i }
    }

    /// The oldest message.
    #[inline(always)]
    pub fn front(&self) -> Option<&M> {
        if self.len == 0 {
            return None;
        }
        self.slots[self.head].as_ref()
    }

    /// Takes the oldest message.
    #[inline(always)]
    pub fn pop_front(&mut self) -> Option<M> {
        if self.len == 0 {
            return None;
        }
        let msg = self.slots[self.head].take();
        self.head = self.at(1);
        self.len -= 1;
        msg
    }

    /// Appends `msg`; gives it back when the ring is full and cannot grow.
    #[inline(always)]
    pub fn push_back(&mut self, msg: M) -> Result<(), M> {
        if self.len == self.slots.len() && !self.grow() {
            return Err(msg);
        }
        self.store_at_tail(msg);
        Ok(())
    }

    /// Stores `msg` in the slot after the occupied ones (there is one: the caller made
    /// sure) and counts it.
    #[inline(always)]
    fn store_at_tail(&mut self, msg: M) {
        let i = self.at(self.len);
        // The slot past the occupied ones is `None` (the ring's invariant: `pop_front`
        // and `grow` leave every slot outside the occupied run `None`), so there is
        // nothing to drop: forgotten, which spares the call of the out-of-line drop glue
        // (were the invariant broken, a message would leak, nothing worse).
        debug_assert!(self.slots[i].is_none());
        core::mem::forget(self.slots[i].replace(msg));
        self.len += 1;
    }

    /// True when a push needs no growth (a free slot).
    #[inline(always)]
    pub fn has_room(&self) -> bool {
        self.len < self.slots.len()
    }

    /// Appends `msg` into a free slot; the caller made sure there is one
    /// ([`Ring::has_room`]), so this cannot fail (were there none, it would grow).
    #[inline(always)]
    pub fn push_into_room(&mut self, msg: M) {
        debug_assert!(self.has_room());
        if !self.has_room() {
            // Not reached (the caller tested for room): the message goes the way of a
            // full ring's, growing it, and is dropped only without memory; never a panic.
            core::hint::cold_path();
            if let Err(msg) = self.push_back(msg) {
                drop(msg);
            }
            return;
        }
        self.store_at_tail(msg);
    }

    /// Doubles the slots (at least 4), the messages moved to the front in order; false
    /// when there is no memory (nothing changes then).
    #[inline(never)]
    fn grow(&mut self) -> bool {
        let new_len = (self.slots.len() * 2).max(4);
        let mut slots: Vec<Option<M>> = Vec::new();
        if slots.try_reserve_exact(new_len).is_err() {
            return false;
        }
        for k in 0..self.len {
            let i = self.at(k);
            slots.push(self.slots[i].take());
        }
        slots.resize_with(new_len, || None);
        self.slots = slots;
        self.head = 0;
        true
    }

    /// The messages, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &M> {
        (0..self.len).filter_map(move |k| self.slots[self.at(k)].as_ref())
    }
}

/// Takes the messages out, oldest first.
impl<M> Iterator for Ring<M> {
    type Item = M;
    fn next(&mut self) -> Option<M> {
        self.pop_front()
    }
}

/// The inbound state of one endpoint.
pub struct EndQueue<M, W> {
    messages: Ring<M>,
    calls: Vec<(u32, W)>,
    last_txid: u32,
}

impl<M, W> Default for EndQueue<M, W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M, W> EndQueue<M, W> {
    /// No message, no call.
    pub const fn new() -> Self {
        EndQueue { messages: Ring::new(), calls: Vec::new(), last_txid: 0 }
    }

    /// Unread messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// True without unread messages.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// True when a write must be refused with SHOULD_WAIT.
    pub fn is_full(&self) -> bool {
        self.messages.len() >= MAX_PENDING_MESSAGES
    }

    /// The oldest unread message.
    pub fn front(&self) -> Option<&M> {
        self.messages.front()
    }

    /// Takes the oldest unread message.
    #[inline]
    pub fn pop(&mut self) -> Option<M> {
        self.messages.pop_front()
    }

    /// The unread messages, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &M> {
        self.messages.iter()
    }

    /// Takes every unread message (the endpoint was closed), leaving the queue's memory
    /// with them.
    pub fn take_all(&mut self) -> Ring<M> {
        core::mem::take(&mut self.messages)
    }

    /// Delivers `msg` (whose txid, if it has four bytes, is `txid`) to this endpoint:
    /// SHOULD_WAIT when full, the reply of a pending call with that txid, else queued
    /// (NO_MEMORY when the queue cannot grow). A refused message comes back with the
    /// error.
    #[inline(always)]
    pub fn deliver(&mut self, msg: M, txid: Option<u32>) -> Result<Delivery<M, W>, (ZxError, M)> {
        if self.is_full() {
            return Err((ZxError::ShouldWait, msg));
        }
        if let Some(txid) = txid
            && let Some(at) = self.calls.iter().position(|(t, _)| *t == txid)
        {
            let (_, waiter) = self.calls.swap_remove(at);
            return Ok(Delivery::Reply(waiter, msg));
        }
        self.requeue(msg).map(|was_empty| Delivery::Queued { was_empty })
    }

    /// True when a message would be queued as an ordinary one, with no growth and
    /// nothing to refuse: not full, no call pending here (so it is no call's reply,
    /// whatever its txid), a free slot.
    #[inline(always)]
    pub fn takes_plain_message(&self) -> bool {
        !self.is_full() && self.calls.is_empty() && self.messages.has_room()
    }

    /// Queues `msg` when [`EndQueue::takes_plain_message`] said so (what
    /// [`EndQueue::deliver`] would do then, which cannot fail); returns whether the
    /// queue was empty.
    #[inline(always)]
    pub fn queue_plain(&mut self, msg: M) -> bool {
        debug_assert!(self.takes_plain_message());
        let was_empty = self.messages.is_empty();
        self.messages.push_into_room(msg);
        was_empty
    }

    /// Queues `msg` as an ordinary message (a reply whose call had already ended);
    /// returns whether the queue was empty.
    #[inline(always)]
    pub fn requeue(&mut self, msg: M) -> Result<bool, (ZxError, M)> {
        // Room is usually there (the queue keeps its capacity): grow only when full.
        let was_empty = self.messages.is_empty();
        match self.messages.push_back(msg) {
            Ok(()) => Ok(was_empty),
            Err(msg) => Err((ZxError::NoMemory, msg)),
        }
    }

    /// A txid for a new call: the next in `[0x8000_0000, 0xFFFF_FFFF]` after the last
    /// one handed out, skipping those of calls still pending.
    pub fn next_txid(&mut self) -> u32 {
        loop {
            self.last_txid = self.last_txid.wrapping_add(1);
            let txid = self.last_txid | KERNEL_TXID_BIT;
            if !self.calls.iter().any(|(t, _)| *t == txid) {
                return txid;
            }
        }
    }

    /// Makes `waiter` a pending call waiting for `txid` (NO_MEMORY when the list cannot
    /// grow).
    pub fn add_call(&mut self, txid: u32, waiter: W) -> ZxResult {
        self.calls.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        self.calls.push((txid, waiter));
        Ok(())
    }

    /// Ends the pending call with `txid`, if it is still pending.
    pub fn remove_call(&mut self, txid: u32) -> Option<W> {
        let at = self.calls.iter().position(|(t, _)| *t == txid)?;
        Some(self.calls.swap_remove(at).1)
    }

    /// Ends every pending call (the endpoint or its peer closed).
    pub fn take_calls(&mut self) -> Vec<(u32, W)> {
        core::mem::take(&mut self.calls)
    }

    /// Calls pending here.
    pub fn pending_calls(&self) -> usize {
        self.calls.len()
    }
}

#[cfg(test)]
impl<M, W> EndQueue<M, W> {
    /// Sets the txid counter (tests of the wrap and of skipping).
    pub fn last_txid_for_test(&mut self, value: u32) {
        self.last_txid = value;
    }

    /// Message slots the queue has (tests that a plain message needs no growth).
    pub fn capacity_for_test(&self) -> usize {
        self.messages.capacity()
    }
}
