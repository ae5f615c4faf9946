//! One channel endpoint's inbound side: the messages written to it and not yet read,
//! and the `zx_channel_call`s pending on it, each waiting for the reply whose first four
//! bytes are its transaction id.
//!
//! Rules (ABI.md 43, 44): at most [`MAX_PENDING_MESSAGES`] unread messages (the next
//! write is SHOULD_WAIT and queues nothing); a message whose txid matches a pending call
//! of this endpoint is that call's reply and is never queued; kernel txids lie in
//! `[0x8000_0000, 0xFFFF_FFFF]` and never equal the txid of another call pending here.

use crate::error::{ZxError, ZxResult};
use alloc::collections::VecDeque;
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

/// The inbound state of one endpoint.
pub struct EndQueue<M, W> {
    messages: VecDeque<M>,
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
        EndQueue { messages: VecDeque::new(), calls: Vec::new(), last_txid: 0 }
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
    pub fn take_all(&mut self) -> VecDeque<M> {
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

    /// Queues `msg` as an ordinary message (a reply whose call had already ended);
    /// returns whether the queue was empty.
    #[inline(always)]
    pub fn requeue(&mut self, msg: M) -> Result<bool, (ZxError, M)> {
        // Room is usually there (the queue keeps its capacity): grow only when full.
        if self.messages.len() == self.messages.capacity() && self.messages.try_reserve(1).is_err() {
            return Err((ZxError::NoMemory, msg));
        }
        let was_empty = self.messages.is_empty();
        self.messages.push_back(msg);
        Ok(was_empty)
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
}
