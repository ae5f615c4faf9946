//! Channels (ABI.md 41–44): two endpoints sharing one lock; each holds the messages
//! written to it and not yet read, and the `zx_channel_call`s pending on it.
//!
//! A message owns its bytes (copied once from the writer into kernel memory and once
//! out to the reader) and its handles (moved out of the writer's table, counted while in
//! flight). Byte buffers are recycled per channel, so a warm channel allocates nothing
//! per message. Closing an endpoint's last handle frees the messages queued to it; the
//! handles inside them may end further channels, whose messages are then freed by the
//! same loop rather than by recursion ([`bury`]), so no user-built nesting of channels
//! inside messages deepens the kernel stack.
//!
//! Lock order: the pair lock, then an endpoint's signal lock (READABLE, PEER_CLOSED),
//! then the scheduler's (waking a caller). Messages and handles are dropped only after
//! the pair lock is released.

use crate::abi::{obj_type, signal, thread_state};
use crate::arch::aarch64::percpu::{MAX_CPUS, cpu_index};
use crate::error::{ZxError, ZxResult};
use crate::ipc::channel_queue::{Delivery, EndQueue, Ring, txid_of};
use crate::kernel::object::{KHandle, KernelObject, ObjectBase, new_koid};
use crate::kernel::sched::{self, WaitNode, WakeReason};
use crate::kernel::task::Thread;
use crate::object::handle_table::Handle;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use spin::Mutex;

/// Most bytes in one message.
pub const MAX_MSG_BYTES: usize = 65536;
/// Most handles in one message.
pub const MAX_MSG_HANDLES: usize = 64;
/// `zx_channel_read` option: drop a message that does not fit.
pub const READ_MAY_DISCARD: u32 = 1;

/// Spare byte buffers a channel keeps for its next messages, and the largest kept.
const SPARE_BUFFERS: usize = 2;
const SPARE_BUFFER_MAX: usize = 16 * 1024;
/// Bigger buffers (up to a whole message) are shared by every channel: at most this
/// many are kept, so their memory stays bounded however many channels there are.
const BIG_SPARES: usize = 4;

/// Most bytes copied from or to user memory under the pair lock (the fast paths of
/// [`Channel::write_filled`] and [`Channel::read_copied`]), so that the lock is held for
/// at most a page's copy; bigger messages are copied with no lock held.
const COPY_UNDER_LOCK_MAX: usize = 4096;
// `write_bytes_only` relies on it: a message too big to be written is too big for
// `write_filled`.
const _: () = assert!(COPY_UNDER_LOCK_MAX <= MAX_MSG_BYTES);

static BIG_SPARE_LIST: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// Bytes a message's handle costs in the IPC accounting.
const HANDLE_COST: usize = core::mem::size_of::<Handle<KHandle>>();

/// One message: bytes and handles (with their rights).
pub struct Message {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// The handles, in the writer's order.
    pub handles: Vec<Handle<KHandle>>,
    accounted: Accounted,
}

/// Bytes counted in KMEM_STATS' ipc_bytes for one message, given back when it is
/// dropped. A field of its own (rather than a `Drop` of `Message`) so that a message
/// can be taken apart, its buffer kept and the rest dropped in line.
struct Accounted(usize);

impl Drop for Accounted {
    #[inline(always)]
    fn drop(&mut self) {
        super::account(-(self.0 as i64));
    }
}

impl Message {
    /// A message of `bytes` and `handles`, counted in KMEM_STATS' ipc_bytes while it
    /// lives.
    pub fn new(bytes: Vec<u8>, handles: Vec<Handle<KHandle>>) -> Message {
        let accounted = bytes.capacity() + handles.capacity() * HANDLE_COST;
        super::account(accounted as i64);
        Message { bytes, handles, accounted: Accounted(accounted) }
    }
}

/// A `zx_channel_call` waiting for its reply.
struct CallWaiter {
    node: WaitNode,
    reply: Mutex<Option<Message>>,
    /// Why it ended without a reply: PEER_CLOSED or CANCELED (as a status word).
    ended: AtomicU32,
}

const ENDED_PEER_CLOSED: u32 = 1;
const ENDED_CANCELED: u32 = 2;

struct End {
    queue: EndQueue<Message, Arc<CallWaiter>>,
    /// The endpoint, held while it has handles (so it is open): a writer signals its
    /// peer through this reference under the pair lock, with no count taken. `None`
    /// once its last handle is gone, which also ends the cycle endpoint → pair →
    /// endpoint: an endpoint has a handle from its creation on ([`Channel::create`]),
    /// so every endpoint reaches `on_zero_handles`, which takes this reference out.
    object: Option<Arc<Channel>>,
}

impl End {
    /// True while the endpoint has handles.
    #[inline(always)]
    fn open(&self) -> bool {
        self.object.is_some()
    }
}

struct PairState {
    ends: [End; 2],
    spare: Vec<Vec<u8>>,
}

struct Pair {
    state: crate::kernel::sync::Lock<PairState>,
}

/// One endpoint of a channel.
pub struct Channel {
    base: ObjectBase,
    pair: Arc<Pair>,
    side: usize,
    peer_koid: u64,
    /// Messages of this endpoint being freed after its last handle went, and the next
    /// endpoint on this CPU's graveyard list.
    grave: Mutex<Grave>,
}

#[derive(Default)]
struct Grave {
    messages: Ring<Message>,
    next: Option<Arc<Channel>>,
}

/// Fills a new message's bytes under the pair lock ([`Channel::write_filled`]): true
/// when it did. A trait rather than a closure so that its `#[inline(always)]` body is
/// in line in the write.
pub trait FillBytes {
    /// Fills `buf` (its whole length), without resolving a fault.
    fn fill(self, buf: &mut [u8]) -> bool;
}

/// Copies a message out under the pair lock ([`Channel::read_copied`]): true when it
/// did (see [`FillBytes`] for why a trait).
pub trait CopyOut {
    /// Copies out `bytes` (and the sizes), without resolving a fault.
    fn copy_out(self, bytes: &[u8]) -> bool;
}

/// How [`Channel::read_copied`] went.
pub enum Copied {
    /// The message was copied out and taken.
    Done,
    /// Its copy failed: the message, taken, to be copied out again resolving faults.
    Failed(Message),
    /// No message without handles that fits: nothing done.
    NotTried,
}

/// How a read went.
pub enum ReadOutcome {
    /// The message, dequeued.
    Message(Message),
    /// The first message has these sizes and does not fit (with MAY_DISCARD it was
    /// dequeued and is given back to be freed).
    TooSmall(u32, u32, Option<Message>),
}

impl Channel {
    /// Two connected endpoints, both WRITABLE, as one handle to each: the pair holds
    /// an endpoint until its last handle goes, so an endpoint must never exist without
    /// one (it would keep itself and its pair forever).
    pub fn create() -> (KHandle, KHandle) {
        let koids = [new_koid(), new_koid()];
        let mut spare = Vec::new();
        // The spare list never grows past this capacity (no allocation per message).
        let _ = spare.try_reserve_exact(SPARE_BUFFERS);
        let end = || End { queue: EndQueue::new(), object: None };
        let pair = Arc::new(Pair {
            state: crate::kernel::sync::Lock::new(
                &crate::kernel::sync::class::CHANNEL,
                PairState { ends: [end(), end()], spare },
            ),
        });
        let make = |side: usize| {
            Arc::new(Channel {
                base: ObjectBase::with_koid(obj_type::CHANNEL, koids[side], signal::CHANNEL_WRITABLE),
                pair: pair.clone(),
                side,
                peer_koid: koids[1 - side],
                grave: Mutex::new(Grave::default()),
            })
        };
        let (a, b) = (make(0), make(1));
        {
            let mut state = pair.state.lock();
            state.ends[0].object = Some(a.clone());
            state.ends[1].object = Some(b.clone());
        }
        (KHandle::new(a), KHandle::new(b))
    }

    fn peer_side(&self) -> usize {
        1 - self.side
    }

    /// A buffer of `len` bytes for a new message: a spare one when it is big enough
    /// (this channel's for small messages, the shared list's for big ones), else a new
    /// one (NO_MEMORY when there is none). Its contents are garbage the caller
    /// overwrites; only a new buffer is filled here. Inlined for a small message: the
    /// newest spare (the one the last read gave back) is tried first, with no search.
    #[inline(always)]
    pub fn buffer(&self, len: usize) -> ZxResult<Vec<u8>> {
        if len > SPARE_BUFFER_MAX {
            return Self::big_buffer(len);
        }
        let spare = {
            let mut state = self.pair.state.lock();
            match state.spare.last() {
                Some(last) if last.capacity() >= len => state.spare.pop(),
                _ => Self::find_spare(&mut state.spare, len),
            }
        };
        let mut buf = match spare {
            Some(buf) => buf,
            None => Self::new_buffer(len)?,
        };
        // A recycled buffer keeps its old length (often the same as this message's):
        // only bytes beyond it are filled.
        if buf.len() != len {
            Self::fit(&mut buf, len);
        }
        Ok(buf)
    }

    /// Sets `buf`'s length to `len` (within its capacity), filling new bytes with 0.
    #[inline(never)]
    fn fit(buf: &mut Vec<u8>, len: usize) {
        buf.resize(len, 0);
    }

    /// A spare of `spare` with room for `len` bytes, taken out, if there is one.
    #[inline(never)]
    fn find_spare(spare: &mut Vec<Vec<u8>>, len: usize) -> Option<Vec<u8>> {
        let at = spare.iter().position(|b| b.capacity() >= len)?;
        Some(spare.swap_remove(at))
    }

    /// [`Channel::buffer`] for a message bigger than `SPARE_BUFFER_MAX`: from the
    /// shared list of big spares, else new.
    #[inline(never)]
    fn big_buffer(len: usize) -> ZxResult<Vec<u8>> {
        let spare = Self::find_spare(&mut BIG_SPARE_LIST.lock(), len);
        let mut buf = match spare {
            Some(buf) => buf,
            None => Self::new_buffer(len)?,
        };
        buf.resize(len, 0);
        Ok(buf)
    }

    /// A new, empty buffer with room for `len` bytes (NO_MEMORY when there is none).
    #[inline(never)]
    fn new_buffer(len: usize) -> ZxResult<Vec<u8>> {
        let mut buf = Vec::new();
        buf.try_reserve_exact(len).map_err(|_| ZxError::NoMemory)?;
        Ok(buf)
    }

    /// Gives a message's byte buffer back for reuse (or frees it). Inlined for a small
    /// buffer when this channel has room for a spare: a push under the pair lock.
    #[inline(always)]
    pub fn recycle(&self, buf: Vec<u8>) {
        let capacity = buf.capacity();
        if capacity == 0 {
            return;
        }
        if capacity <= SPARE_BUFFER_MAX {
            let mut state = self.pair.state.lock();
            if state.spare.len() < state.spare.capacity() {
                state.spare.push(buf);
                return;
            }
        }
        Self::recycle_elsewhere(buf);
    }

    /// [`Channel::recycle`] of a big buffer (the shared list of big spares, if it has
    /// room) or of a small one this channel has no room for (freed).
    #[inline(never)]
    fn recycle_elsewhere(buf: Vec<u8>) {
        let rest = if buf.capacity() > SPARE_BUFFER_MAX {
            let mut big = BIG_SPARE_LIST.lock();
            if big.capacity() < BIG_SPARES {
                let _ = big.try_reserve_exact(BIG_SPARES);
            }
            if big.len() < BIG_SPARES.min(big.capacity()) {
                big.push(buf);
                None
            } else {
                Some(buf)
            }
        } else {
            Some(buf)
        };
        drop(rest);
    }

    /// Hands `msg` to the peer (the caller holds the pair lock): PEER_CLOSED, the queue
    /// cap, a pending call's reply, or queued. A refused message comes back.
    #[inline(always)]
    fn deliver(&self, state: &mut PairState, msg: Message) -> Result<(), (ZxError, Message)> {
        let peer = &mut state.ends[self.peer_side()];
        if !peer.open() {
            return Err((ZxError::PeerClosed, msg));
        }
        let txid = txid_of(&msg.bytes);
        let was_empty = match peer.queue.deliver(msg, txid)? {
            Delivery::Queued { was_empty } => was_empty,
            Delivery::Reply(waiter, msg) => match Self::hand_reply(&mut peer.queue, &waiter, msg)? {
                Some(was_empty) => was_empty,
                None => return Ok(()),
            },
        };
        if was_empty {
            Self::announce(peer);
        }
        Ok(())
    }

    /// READABLE rises on `peer`, whose queue had no message before the one just queued
    /// (the caller holds the pair lock). The peer is open, so the pair holds it:
    /// signalled through that reference, borrowed under the pair lock (no count taken
    /// or dropped).
    #[inline(always)]
    fn announce(peer: &End) {
        if let Some(object) = &peer.object {
            object.base.update_signals(0, signal::CHANNEL_READABLE);
        }
    }

    /// The part of [`Channel::deliver`] for the reply of a pending `zx_channel_call`:
    /// handed to `waiter` (`None`), or queued in `queue` as an ordinary message when the
    /// call ended before it (`Some(was_empty)`). Out of line and cold, so that the
    /// delivery of an ordinary message carries none of it.
    #[cold]
    #[inline(never)]
    fn hand_reply(
        queue: &mut EndQueue<Message, Arc<CallWaiter>>,
        waiter: &CallWaiter,
        msg: Message,
    ) -> Result<Option<bool>, (ZxError, Message)> {
        *waiter.reply.lock() = Some(msg);
        if waiter.node.wake(WakeReason::Satisfied) {
            return Ok(None);
        }
        // The call ended (deadline, kill) before its reply: an ordinary message.
        let late = waiter.reply.lock().take();
        match late {
            Some(msg) => queue.requeue(msg).map(Some),
            None => Ok(None),
        }
    }

    /// `zx_channel_write` after its checks: the message goes to the peer. A refused
    /// message is freed here after the pair lock is released, so the caller must hold
    /// no lock under which an object may end (a handle table) unless the message holds
    /// no handle (freeing it then ends no object). A delivered one drops nothing.
    #[inline(always)]
    pub fn write(&self, msg: Message) -> ZxResult {
        let refused = {
            let mut state = self.pair.state.lock();
            match self.deliver(&mut state, msg) {
                Ok(()) => return Ok(()),
                Err(refused) => refused,
            }
        };
        Self::refuse(refused)
    }

    /// Frees a refused message (no lock held) and gives back the error.
    #[inline(never)]
    fn refuse((error, msg): (ZxError, Message)) -> ZxResult {
        drop(msg);
        Err(error)
    }

    /// `zx_channel_write` of a message of `len` bytes without handles, filled in a
    /// spare buffer by `fill` under the pair lock and queued in the same critical
    /// section: true when it was written (the write's result is OK); false, with
    /// nothing changed, when there is no spare of that size, the message is bigger
    /// than `COPY_UNDER_LOCK_MAX`, the peer's queue does not take a plain message at
    /// once (see below), or `fill` failed. The caller then takes the general path
    /// ([`Channel::buffer`], a copy that resolves faults, [`Channel::write`]), which
    /// reports every error. `fill` runs under the pair lock, so it must not resolve a
    /// fault (that takes the VM lock and may take long): it is the lock-free attempt
    /// of a user copy, and its failure leaves only the spare's bytes changed, which the
    /// next writer overwrites. The delivery it makes cannot fail, so the fast path
    /// carries no refused message and no error.
    #[inline(always)]
    pub fn write_filled(&self, len: usize, fill: impl FillBytes) -> bool {
        // The size test needs no lock: a message too big to copy under it (such as a
        // 64 KiB one) does not take the pair lock twice.
        if len > COPY_UNDER_LOCK_MAX {
            return false;
        }
        let mut state = self.pair.state.lock();
        let PairState { ends, spare } = &mut *state;
        let peer = &mut ends[self.peer_side()];
        // Only a delivery that cannot be refused and needs no growth is made here: an
        // open peer whose queue takes a plain message (not full, no call pending, so the
        // message is no reply, a free slot). Anything else (PEER_CLOSED, SHOULD_WAIT, a
        // reply, a full ring) is the general path's, which copies the message resolving
        // faults and then delivers it with `Channel::write`: the same errors in the
        // same order as when this path tried first (a bad pointer was INVALID_ARGS
        // before the peer's state was reported then too, as a failed copy here went
        // to the general path before any delivery).
        if !peer.open() || !peer.queue.takes_plain_message() {
            return false;
        }
        let mut buf = match spare.last() {
            Some(last) if last.capacity() >= len => match spare.pop() {
                Some(buf) => buf,
                None => return false,
            },
            _ => return false,
        };
        if buf.len() != len {
            Self::fit(&mut buf, len);
        }
        if !fill.fill(&mut buf) {
            Self::put_back(spare, buf);
            return false;
        }
        if peer.queue.queue_plain(Message::new(buf, Vec::new())) {
            Self::announce(peer);
        }
        true
    }

    /// [`Channel::write_filled`] when the fill failed: the spare goes back where it was
    /// (the list had this slot a moment ago, so the push does not grow it). Out of line
    /// and cold.
    #[cold]
    #[inline(never)]
    fn put_back(spare: &mut Vec<Vec<u8>>, buf: Vec<u8>) {
        spare.push(buf);
    }

    /// `zx_channel_read` after its checks: the first message if it fits in `max_bytes`
    /// and `max_handles`; PEER_CLOSED or SHOULD_WAIT when there is none.
    #[inline]
    pub fn read(&self, max_bytes: u32, max_handles: u32, may_discard: bool) -> ZxResult<ReadOutcome> {
        let mut state = self.pair.state.lock();
        let peer_open = state.ends[self.peer_side()].open();
        let end = &mut state.ends[self.side];
        let Some(first) = end.queue.front() else {
            return Err(if peer_open { ZxError::ShouldWait } else { ZxError::PeerClosed });
        };
        let (nb, nh) = (first.bytes.len() as u32, first.handles.len() as u32);
        let fits = nb <= max_bytes && nh <= max_handles;
        if !fits && !may_discard {
            return Ok(ReadOutcome::TooSmall(nb, nh, None));
        }
        let msg = end.queue.pop();
        if end.queue.is_empty() {
            self.base.update_signals(signal::CHANNEL_READABLE, 0);
        }
        drop(state);
        match msg {
            Some(msg) if fits => Ok(ReadOutcome::Message(msg)),
            msg => Ok(ReadOutcome::TooSmall(nb, nh, msg)),
        }
    }

    /// The fast path of `zx_channel_read` after its checks: if the first message holds
    /// no handle, fits in `max_bytes` and has at most `COPY_UNDER_LOCK_MAX` bytes, `copy` copies it out under the pair lock, and
    /// when it succeeds the message is taken and its buffer kept as a spare in the same
    /// critical section ([`Copied::Done`]). When `copy` fails the message is taken all
    /// the same and given back ([`Copied::Failed`]) for the caller to copy out again,
    /// resolving faults (the bytes already written are written again, or the call fails
    /// as it would have). Otherwise nothing happened ([`Copied::NotTried`]) and the
    /// caller reads with [`Channel::read`]. `copy` runs under the pair lock, so it must
    /// not resolve a fault: it is the lock-free attempt of the user copies.
    #[inline(always)]
    pub fn read_copied(&self, max_bytes: u32, copy: impl CopyOut) -> Copied {
        let mut state = self.pair.state.lock();
        let PairState { ends, spare } = &mut *state;
        let end = &mut ends[self.side];
        let copied = match end.queue.front() {
            Some(first)
                if first.handles.is_empty()
                    && first.bytes.len() <= max_bytes as usize
                    && first.bytes.len() <= COPY_UNDER_LOCK_MAX =>
            {
                copy.copy_out(&first.bytes)
            }
            _ => return Copied::NotTried,
        };
        if !copied {
            let failed = self.take_failed(end);
            drop(state);
            return failed;
        }
        let Some(msg) = end.queue.pop() else { return Copied::NotTried };
        let now_empty = end.queue.is_empty();
        // Taken apart: its buffer stays here as a spare; its handle list (empty) and
        // its count are dropped after the unlock.
        let Message { bytes, handles, accounted } = msg;
        let capacity = bytes.capacity();
        let rest = if capacity != 0 && capacity <= SPARE_BUFFER_MAX && spare.len() < spare.capacity() {
            spare.push(bytes);
            None
        } else {
            Some(bytes)
        };
        if now_empty {
            self.base.update_signals(signal::CHANNEL_READABLE, 0);
        }
        drop(state);
        drop(accounted);
        // Empty: a handle list that never had room owns no memory and nothing to close,
        // so there is nothing to drop (and no out-of-line drop call to make).
        if handles.capacity() == 0 {
            core::mem::forget(handles);
        } else {
            drop(handles);
        }
        if let Some(buf) = rest {
            Self::recycle_elsewhere(buf);
        }
        Copied::Done
    }

    /// [`Channel::read_copied`] when the copy failed: the message taken all the same
    /// (the caller holds the pair lock). Out of line, so that the message is moved only
    /// on this path.
    #[cold]
    #[inline(never)]
    fn take_failed(&self, end: &mut End) -> Copied {
        let Some(msg) = end.queue.pop() else { return Copied::NotTried };
        if end.queue.is_empty() {
            self.base.update_signals(signal::CHANNEL_READABLE, 0);
        }
        Copied::Failed(msg)
    }

    /// `zx_channel_call` after its checks: sends `msg` with a fresh txid in its first
    /// four bytes and waits until `deadline` for the reply. The message is consumed
    /// whatever happens (a refused one is freed before this returns).
    pub fn call(&self, thread: &Arc<Thread>, mut msg: Message, deadline: i64) -> ZxResult<Message> {
        let waiter = Arc::new(CallWaiter {
            node: WaitNode::new(thread.clone()),
            reply: Mutex::new(None),
            ended: AtomicU32::new(0),
        });
        let txid = {
            let mut state = self.pair.state.lock();
            let refused = {
                let peer = &state.ends[self.peer_side()];
                if !peer.open() {
                    Some(ZxError::PeerClosed)
                } else if peer.queue.is_full() {
                    Some(ZxError::ShouldWait)
                } else {
                    None
                }
            };
            if let Some(e) = refused {
                drop(state);
                drop(msg);
                return Err(e);
            }
            let end = &mut state.ends[self.side];
            let txid = end.queue.next_txid();
            msg.bytes[..4].copy_from_slice(&txid.to_le_bytes());
            if let Err(e) = end.queue.add_call(txid, waiter.clone()) {
                drop(state);
                drop(msg);
                return Err(e);
            }
            match self.deliver(&mut state, msg) {
                Ok(()) => txid,
                Err((e, msg)) => {
                    let me = state.ends[self.side].queue.remove_call(txid);
                    drop(state);
                    drop((me, msg));
                    return Err(e);
                }
            }
        };
        let reason = sched::block(waiter.node.as_ref(), thread_state::BLOCKED_CHANNEL, deadline);
        let (reply, me) = {
            let mut state = self.pair.state.lock();
            let me = state.ends[self.side].queue.remove_call(txid);
            (waiter.reply.lock().take(), me)
        };
        drop(me);
        if let Some(reply) = reply {
            return Ok(reply);
        }
        Err(match (reason, waiter.ended.load(Ordering::Acquire)) {
            (WakeReason::TimedOut, _) => ZxError::TimedOut,
            (_, ENDED_PEER_CLOSED) => ZxError::PeerClosed,
            _ => ZxError::Canceled,
        })
    }

    /// Ends the pending calls taken from an endpoint with `why`.
    fn end_calls(calls: &[(u32, Arc<CallWaiter>)], why: u32) {
        for (_, waiter) in calls {
            waiter.ended.store(why, Ordering::Release);
            waiter.node.wake(WakeReason::Canceled);
        }
    }
}

impl KernelObject for Channel {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn obj_type(&self) -> u32 {
        obj_type::CHANNEL
    }
    fn related_koid(&self) -> u64 {
        self.peer_koid
    }
    fn peer(&self) -> ZxResult<Arc<dyn KernelObject>> {
        let state = self.pair.state.lock();
        match &state.ends[self.peer_side()].object {
            Some(object) => Ok(object.clone()),
            None => Err(ZxError::PeerClosed),
        }
    }
    fn on_zero_handles(&self) {
        let (dead, mine, theirs, me, peer, orphaned) = {
            let mut state = self.pair.state.lock();
            let end = &mut state.ends[self.side];
            // Closed: the pair's reference comes out (dropped after the unlock, by
            // `bury` at the latest; the caller's handle still holds this endpoint).
            let me = end.object.take();
            let dead = end.queue.take_all();
            let mine = end.queue.take_calls();
            Self::end_calls(&mine, ENDED_CANCELED);
            let peer = &mut state.ends[self.peer_side()];
            let theirs = if peer.open() { peer.queue.take_calls() } else { Vec::new() };
            Self::end_calls(&theirs, ENDED_PEER_CLOSED);
            let peer_object = peer.object.clone();
            // The peer's only handles may sit in its own queue (it was written into this
            // endpoint): nobody can read them any more, so they are freed now rather than
            // kept forever (Zircon keeps them).
            let mut orphaned = Ring::new();
            if let Some(p) = &peer_object {
                p.base.update_signals(signal::CHANNEL_WRITABLE, signal::PEER_CLOSED);
                let target = Arc::as_ptr(p) as *const ();
                let inside: usize =
                    peer.queue.iter().map(|m| m.handles.iter().filter(|h| h.object.is_at(target)).count()).sum();
                if inside > 0 && inside == p.base.handle_count() as usize {
                    orphaned = peer.queue.take_all();
                    if !orphaned.is_empty() {
                        p.base.update_signals(signal::CHANNEL_READABLE, 0);
                    }
                }
            }
            (dead, mine, theirs, me, peer_object, orphaned)
        };
        drop((mine, theirs));
        if let Some(me) = me {
            bury(me, dead);
        } else {
            drop(dead);
        }
        if let Some(peer) = peer {
            bury(peer, orphaned);
        }
    }
}

/// Per CPU: endpoints whose queued messages are being freed, and whether this CPU is
/// inside the loop that frees them.
static GRAVEYARD: [Mutex<Option<Arc<Channel>>>; MAX_CPUS] = [const { Mutex::new(None) }; MAX_CPUS];
static FREEING: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Frees the messages of an endpoint whose last handle went. Freeing a message closes
/// its handles, which may end other endpoints, which come back here: the outermost call
/// on this CPU frees them all in a loop, the inner ones only add to its list. (Kernel
/// code is not preempted and does not block while freeing, so the list is per CPU.)
fn bury(channel: Arc<Channel>, messages: Ring<Message>) {
    if messages.is_empty() {
        return;
    }
    let cpu = cpu_index();
    {
        let mut grave = channel.grave.lock();
        // An endpoint is buried with messages at most once: by its own last handle, or
        // as an orphan when its peer closed; either way nothing reaches its queue after.
        grave.messages = messages;
        let mut head = GRAVEYARD[cpu].lock();
        grave.next = head.take();
        drop(grave);
        *head = Some(channel);
    }
    if FREEING[cpu].swap(true, Ordering::AcqRel) {
        return;
    }
    loop {
        let next = {
            let mut head = GRAVEYARD[cpu].lock();
            let channel = head.take();
            if let Some(c) = &channel {
                *head = c.grave.lock().next.take();
            }
            channel
        };
        let Some(channel) = next else { break };
        loop {
            let msg = channel.grave.lock().messages.pop_front();
            match msg {
                Some(msg) => drop(msg),
                None => break,
            }
        }
        // Its queue's memory goes with it.
        let memory = core::mem::take(&mut channel.grave.lock().messages);
        drop(memory);
        drop(channel);
    }
    FREEING[cpu].store(false, Ordering::Release);
}
