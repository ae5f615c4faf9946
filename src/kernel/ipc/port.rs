//! Ports (ABI.md 37, 45–48): a FIFO of 48-byte packets, user packets from
//! `zx_port_queue` and signal packets from `zx_object_wait_async` registrations, taken
//! one by one by `zx_port_wait`.
//!
//! A registration is an [`Observer`] on the watched object: the first signal state that
//! meets its trigger queues its packet (into the slot it reserved when it was made) and
//! ends it; closing, replacing or reading out of a channel the handle it was made
//! through removes it silently (`on_handle_closed` with that handle's serial); so do
//! `zx_port_cancel` and the port's last handle closing. Whether a registration is still
//! live is decided by the port's list alone, under the port lock, so a firing that
//! races with a cancel either queued its packet before the cancel (which removes it) or
//! queues nothing.
//!
//! Lock order: an object's signal lock, then the port lock (observers queue packets),
//! then the scheduler's (waking a waiter). Code holding the port lock never takes a
//! signal lock: unhooking registrations from their objects happens after unlocking.

use crate::abi::{ZX_TIME_INFINITE, obj_type, thread_state};
use crate::arch::aarch64::user_copy;
use crate::error::{ZxError, ZxResult};
use crate::ipc::port_queue::{Fill, Offer, PortQueue};
use crate::kernel::object::{KernelObject, ObjectBase, Observer};
use crate::kernel::sched::{self, WaitNode, WakeReason};
use crate::kernel::task::Thread;
use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bytes of one `zx_port_packet_t` (ABI.md section 5).
pub const PACKET_SIZE: usize = 48;
/// A packet as user space sees it. Aligned to 8 bytes (the alignment of
/// `zx_port_packet_t`'s `u64` key) so that every move of one between the syscall, the
/// FIFO and the reader is a few paired word copies that the compiler inlines; as a plain
/// byte array (alignment 1) each move was a `memcpy` call that copied byte by byte
/// whenever the two buffers' offsets within a word differed.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
pub struct Packet(pub [u8; PACKET_SIZE]);

impl Packet {
    /// Sets `zx_port_packet_t.type` (bytes 8..12).
    #[inline(always)]
    fn set_type(&mut self, packet_type: u32) {
        let [b0, b1, b2, b3] = packet_type.to_le_bytes();
        self.0[8] = b0;
        self.0[9] = b1;
        self.0[10] = b2;
        self.0[11] = b3;
    }
}

impl Default for Packet {
    /// All zeros (what a FIFO's unused slots start as).
    fn default() -> Self {
        Packet([0u8; PACKET_SIZE])
    }
}

/// `zx_port_packet_t.type` of a user packet.
pub const PKT_TYPE_USER: u32 = 0;
/// `zx_port_packet_t.type` of a signal packet.
pub const PKT_TYPE_SIGNAL_ONE: u32 = 1;
/// `zx_object_wait_async` option: stamp the packet with the time of the signal.
pub const WAIT_ASYNC_TIMESTAMP: u32 = 1;

static NEXT_REGISTRATION: AtomicU64 = AtomicU64::new(1);

struct PortState {
    queue: PortQueue<Packet, Arc<Registration>>,
    waiters: VecDeque<WaitNode>,
}

/// A user packet copied from a user address into its FIFO slot, `type` then forced to
/// USER ([`Port::queue_user_copied`]).
struct FromUser(u64);

impl Fill<Packet> for FromUser {
    #[inline(always)]
    fn fill(self, slot: &mut Packet) -> bool {
        if user_copy::load_48_from_user(&mut slot.0, self.0).is_err() {
            return false;
        }
        slot.set_type(PKT_TYPE_USER);
        true
    }
}

/// The oldest packet copied from its FIFO slot to a user address (None: the
/// out-pointer failed its checks, so it is not copied) ([`Port::take_copied`]).
struct ToUser(Option<u64>);

impl Offer<Packet> for ToUser {
    #[inline(always)]
    fn offer(self, packet: &Packet) -> bool {
        match self.0 {
            Some(out) => user_copy::store_48_to_user(out, &packet.0).is_ok(),
            None => false,
        }
    }
}

/// A port object.
pub struct Port {
    base: ObjectBase,
    state: crate::kernel::sync::Lock<PortState>,
}

impl Port {
    /// A new, empty port.
    pub fn new() -> Arc<Port> {
        Arc::new(Port {
            base: ObjectBase::new(obj_type::PORT, 0),
            state: crate::kernel::sync::Lock::new(
                &crate::kernel::sync::class::PORT,
                PortState { queue: PortQueue::new(), waiters: VecDeque::new() },
            ),
        })
    }

    /// Wakes one thread blocked in `zx_port_wait` (with the port lock held). Inlined:
    /// with no thread waiting, as on a port that is read without blocking, it is a test.
    #[inline(always)]
    fn wake_one(state: &mut PortState) {
        if !state.waiters.is_empty() {
            Self::wake_first(state);
        }
    }

    /// [`Port::wake_one`] when some thread waits.
    #[inline(never)]
    fn wake_first(state: &mut PortState) {
        while let Some(node) = state.waiters.pop_front() {
            if node.wake(WakeReason::Satisfied) {
                break;
            }
        }
    }

    /// `zx_port_queue` after its checks: the packet with `type` forced to USER. The one
    /// path that grows the FIFO for a user packet (the caller checked the heap's headroom).
    pub fn queue_user(&self, mut packet: Packet) -> ZxResult {
        packet.set_type(PKT_TYPE_USER);
        let mut state = self.state.lock();
        let before = state.queue.slot_bytes();
        let queued = state.queue.queue_user(packet);
        account_slots(before, &state);
        queued?;
        Self::wake_one(&mut state);
        Ok(())
    }

    /// `zx_port_queue`'s fast path after its checks: the packet copied from user address
    /// `user` (checked to lie in user space) straight into a free FIFO slot, then `type`
    /// forced to USER; true when it is queued. False, with nothing changed, whenever
    /// anything is out of the ordinary: the port lock held by another CPU, a thread
    /// waiting for a packet (to be woken), the port refusing the packet now (closed,
    /// full), no free slot, or a faulting copy. The caller's general path then makes the
    /// whole call again with a lock that waits, a copy that resolves faults and
    /// [`Port::queue_user`], which wakes, grows or reports those errors in order. So this
    /// path never waits, allocates, resolves a fault or calls out.
    /// `CHECKED`: whether the lock-order check is on (`sync::Lock::lock_checked`).
    #[inline(always)]
    pub fn try_queue_user_copied<const CHECKED: bool>(&self, user: u64) -> bool {
        let Some(mut state) = self.state.try_lock_checked::<CHECKED>() else { return false };
        state.waiters.is_empty() && state.queue.queue_user_in_place(FromUser(user)) == Ok(true)
    }

    /// `zx_port_wait`'s fast path: true when the oldest packet was copied straight from
    /// its FIFO slot to user address `out` and taken. False, with nothing changed,
    /// whenever anything is out of the ordinary: the port lock held by another CPU,
    /// another thread waiting (a packet it may take next must wake it), nothing queued,
    /// an out-pointer that failed its checks (`out` is `None`) or a faulting copy; the
    /// caller's general path ([`Port::wait`], then a copy that resolves faults) takes
    /// over. With no thread waiting, taking a packet wakes nothing.
    /// `CHECKED` as for [`Port::try_queue_user_copied`].
    #[inline(always)]
    pub fn try_take_copied<const CHECKED: bool>(&self, out: Option<u64>) -> bool {
        let Some(mut state) = self.state.try_lock_checked::<CHECKED>() else { return false };
        state.waiters.is_empty() && state.queue.take_front_if(ToUser(out)) == Some(true)
    }

    /// The bookkeeping after a packet was taken, under the port lock: another waiter may
    /// now find the next packet. (Its slot stays the port's, and counted, until the
    /// port closes.)
    #[inline(always)]
    fn after_take(state: &mut PortState) {
        if !state.queue.is_empty() {
            Self::wake_one(state);
        }
    }

    /// `zx_port_wait`: the oldest packet, waiting for one until `deadline`.
    pub fn wait(&self, thread: &Arc<Thread>, deadline: i64) -> ZxResult<Packet> {
        let deadline = if deadline == ZX_TIME_INFINITE { i64::MAX } else { deadline };
        loop {
            let node = {
                let mut state = self.state.lock();
                if let Some(packet) = state.queue.pop() {
                    Self::after_take(&mut state);
                    return Ok(packet);
                }
                state.waiters.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
                let node = WaitNode::new(thread.clone());
                state.waiters.push_back(node.clone());
                node
            };
            let reason = sched::block(node.as_ref(), thread_state::BLOCKED_PORT, deadline);
            if reason != WakeReason::Satisfied {
                let mut state = self.state.lock();
                state.waiters.retain(|n| !n.same(&node));
                return Err(if reason == WakeReason::TimedOut { ZxError::TimedOut } else { ZxError::Canceled });
            }
        }
    }

    /// `zx_object_wait_async` after its checks: registers for `signals` on `object`
    /// through the handle with serial `serial`. `extra` holds signals kept outside the
    /// object's base (a VMO's ZERO_CHILDREN), checked once now.
    pub fn register(
        self: &Arc<Self>,
        object: &Arc<dyn KernelObject>,
        serial: u64,
        key: u64,
        signals: u32,
        options: u32,
        extra: u32,
    ) -> ZxResult {
        let reg = Arc::new(Registration {
            id: NEXT_REGISTRATION.fetch_add(1, Ordering::Relaxed),
            port: self.clone(),
            object: Arc::downgrade(object),
            serial,
            key,
            trigger: signals,
            timestamp: options & WAIT_ASYNC_TIMESTAMP != 0,
            hooked: AtomicBool::new(true),
        });
        {
            let mut state = self.state.lock();
            if state.queue.is_closed() {
                // The port's last handle went while this call ran: nothing to do.
                return Ok(());
            }
            let before = state.queue.slot_bytes();
            let registered = state.queue.register(reg.id, serial, key, reg.clone());
            account_slots(before, &state);
            registered?;
        }
        if extra & signals != 0 {
            reg.hooked.store(false, Ordering::Release);
            reg.fire(extra | object.base().signals());
            return Ok(());
        }
        if let Err(e) = object.base().add_observer(reg.clone()) {
            drop(self.state.lock().queue.forget(reg.id));
            return Err(e);
        }
        // Cancelled or closed while it was being hooked: unhook it again.
        if !reg.hooked.load(Ordering::Acquire) {
            object.base().remove_observer(&(reg.clone() as Arc<dyn Observer>));
        }
        Ok(())
    }

    /// `zx_port_cancel` after its checks: NOT_FOUND when no registration made through
    /// `serial` with `key` and no packet of one was left.
    pub fn cancel(&self, serial: u64, key: u64) -> ZxResult {
        let removed = {
            let mut state = self.state.lock();
            state.queue.cancel(serial, key)?
        };
        let removed = removed.ok_or(ZxError::NotFound)?;
        unhook(removed);
        Ok(())
    }
}

/// Counts a change of the FIFO's slots (it grew or was freed; `before` is what its
/// slots took before) in KMEM_STATS' `ipc_bytes`, under the port lock. A port counts
/// the kernel memory of its slots, not the packets queued in them: queueing and taking a
/// packet moves no memory, so the hot paths count nothing (ARCHITECTURE.md section 15).
fn account_slots(before: usize, state: &PortState) {
    let after = state.queue.slot_bytes();
    if after != before {
        super::account(after as i64 - before as i64);
    }
}

/// Unhooks registrations the port no longer lists from their objects (no lock held).
fn unhook(regs: impl IntoIterator<Item = Arc<Registration>>) {
    for reg in regs {
        reg.hooked.store(false, Ordering::Release);
        if let Some(object) = reg.object.upgrade() {
            object.base().remove_observer(&(reg.clone() as Arc<dyn Observer>));
            drop(object);
        }
    }
}

impl KernelObject for Port {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn obj_type(&self) -> u32 {
        obj_type::PORT
    }
    fn waitable(&self) -> bool {
        false
    }
    fn on_zero_handles(&self) {
        // Packets and registrations go; threads blocked in zx_port_wait stay until
        // their deadlines (ABI.md 4.3).
        let regs = {
            let mut state = self.state.lock();
            let before = state.queue.slot_bytes();
            let (_, regs) = state.queue.close();
            account_slots(before, &state);
            regs
        };
        unhook(regs);
    }
}

/// One `zx_object_wait_async` registration: an observer of the watched object.
struct Registration {
    id: u64,
    port: Arc<Port>,
    object: Weak<dyn KernelObject>,
    serial: u64,
    key: u64,
    trigger: u32,
    timestamp: bool,
    /// False once the port dropped it (cancel, close): its next notification unhooks it.
    hooked: AtomicBool,
}

impl Registration {
    /// The trigger was met with the object's signals `observed`: queue the packet if the
    /// port still lists this registration.
    fn fire(&self, observed: u32) {
        let mut packet = Packet([0u8; PACKET_SIZE]);
        let bytes = &mut packet.0;
        bytes[0..8].copy_from_slice(&self.key.to_le_bytes());
        bytes[8..12].copy_from_slice(&PKT_TYPE_SIGNAL_ONE.to_le_bytes());
        bytes[16..20].copy_from_slice(&self.trigger.to_le_bytes());
        bytes[20..24].copy_from_slice(&observed.to_le_bytes());
        bytes[24..32].copy_from_slice(&1u64.to_le_bytes());
        if self.timestamp {
            let now = crate::kernel::irq::uptime_nanos();
            bytes[32..40].copy_from_slice(&now.to_le_bytes());
        }
        let mut state = self.port.state.lock();
        if let Some(me) = state.queue.fire(self.id, packet) {
            Port::wake_one(&mut state);
            // `me` is this registration's own Arc from the port's list; the caller (an
            // object's observer list) still holds another, so this is not the last.
            drop(state);
            drop(me);
        }
    }
}

impl Observer for Registration {
    fn on_signals(&self, signals: u32) -> bool {
        if !self.hooked.load(Ordering::Acquire) {
            return true;
        }
        if signals & self.trigger == 0 {
            return false;
        }
        self.hooked.store(false, Ordering::Release);
        self.fire(signals);
        true
    }

    fn on_handle_closed(&self, serial: u64) -> bool {
        if serial != self.serial {
            return false;
        }
        self.hooked.store(false, Ordering::Release);
        let me = self.port.state.lock().queue.forget(self.id);
        drop(me);
        true
    }
}
