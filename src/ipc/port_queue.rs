//! A port's packets and its `zx_object_wait_async` registrations.
//!
//! Rules (ABI.md 37, 46–48): packets come out in FIFO order, user and signal packets
//! alike; a user packet is refused (SHOULD_WAIT) while more than 2048 are queued, so
//! [`MAX_USER_PACKETS`] fit; signal packets never count against that limit and never
//! fail: each registration holds a packet slot from the moment it is made, so firing
//! never allocates (Zircon preallocates the packet in its `PortObserver`).
//! `zx_port_cancel` removes the registrations made through one handle with one key and
//! the signal packets they already queued; user packets are never removed.
//!
//! Invariant: the packet FIFO's capacity covers every queued packet plus one per live
//! registration.
//!
//! The FIFO is a ring of slots that are always initialized ([`Fifo`]): a packet is
//! written into its slot in place and read out of it in place, so the kernel copies a
//! user packet straight between user memory and the slot, with no 48-byte move through
//! the stack on either side.

use crate::error::{ZxError, ZxResult};
use alloc::vec::Vec;
use core::num::NonZeroU64;

/// User packets a port holds: one is refused while more than 2048 are queued.
pub const MAX_USER_PACKETS: usize = 2049;

/// Where a queued packet came from: `None` for a user packet, else the handle serial
/// and key of the registration that queued it. Serials are never 0, so `None` takes no
/// room of its own: an origin is 16 bytes and a FIFO slot of a 48-byte packet 64, which
/// the slot's address takes a shift to reach instead of a multiply.
type Origin = Option<(NonZeroU64, u64)>;

/// One FIFO slot: a packet and where it came from. The packet first (`repr(C)`), so
/// that the slot's address is the packet's and the kernel's inline copies into and out
/// of it need no offset added.
#[derive(Clone, Default)]
#[repr(C)]
struct Slot<P> {
    packet: P,
    origin: Origin,
}

struct Registration<R> {
    id: u64,
    source: NonZeroU64,
    key: u64,
    reg: R,
}

/// Writes a packet in its FIFO slot ([`PortQueue::queue_user_in_place`]): true when it
/// did. Any `FnOnce(&mut P) -> bool` is one; the kernel's own (a copy from user memory)
/// is a type whose method is always inlined, which a closure's call is not always.
pub trait Fill<P> {
    /// Writes `slot`; false when it could not.
    fn fill(self, slot: &mut P) -> bool;
}

impl<P, F: FnOnce(&mut P) -> bool> Fill<P> for F {
    #[inline(always)]
    fn fill(self, slot: &mut P) -> bool {
        self(slot)
    }
}

/// Reads the oldest packet in its FIFO slot ([`PortQueue::take_front_if`]): true when
/// it is to be taken. Any `FnOnce(&P) -> bool` is one; the kernel's own (a copy to user
/// memory) is a type whose method is always inlined, as for [`Fill`].
pub trait Offer<P> {
    /// Looks at `packet`; true to take it.
    fn offer(self, packet: &P) -> bool;
}

impl<P, F: FnOnce(&P) -> bool> Offer<P> for F {
    #[inline(always)]
    fn offer(self, packet: &P) -> bool {
        self(packet)
    }
}

/// A FIFO whose slots are all initialized, so that a value is written into its slot and
/// read from it in place: `slots` is a ring of `slots.len()` slots, of which the `len`
/// from `head` on (wrapping) are queued; the others hold stale values that are written
/// before they are read again.
struct Fifo<T> {
    slots: Vec<T>,
    head: usize,
    len: usize,
}

impl<T: Clone> Fifo<T> {
    const fn new() -> Self {
        Fifo { slots: Vec::new(), head: 0, len: 0 }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The slot of the `i`-th queued value (`i` below the capacity).
    #[inline(always)]
    fn at(&self, i: usize) -> usize {
        // The capacity is 0 or a power of two (`try_reserve`), so the wrap is a mask
        // (with no slots, nothing is indexed).
        (self.head + i) & self.slots.len().wrapping_sub(1)
    }

    /// Makes room for `extra` values beyond those queued; new slots start as `filler`.
    /// On failure (no memory) nothing changed.
    fn try_reserve(&mut self, extra: usize, filler: &T) -> ZxResult {
        let needed = self.len.checked_add(extra).ok_or(ZxError::NoMemory)?;
        if needed <= self.slots.len() {
            return Ok(());
        }
        // A power of two, so that `at` wraps with a mask.
        let capacity = needed.max(self.slots.len() * 2).max(4).checked_next_power_of_two().ok_or(ZxError::NoMemory)?;
        let mut slots = Vec::new();
        slots.try_reserve_exact(capacity).map_err(|_| ZxError::NoMemory)?;
        slots.extend((0..self.len).map(|i| self.slots[self.at(i)].clone()));
        slots.resize(capacity, filler.clone());
        self.slots = slots;
        self.head = 0;
        Ok(())
    }

    /// Queues the slot after the last value and gives it to be written in place (it
    /// holds a stale value); None when every slot is queued.
    #[inline(always)]
    fn push_slot(&mut self) -> Option<&mut T> {
        if self.len == self.slots.len() {
            return None;
        }
        let at = self.at(self.len);
        self.len += 1;
        self.slots.get_mut(at)
    }

    /// [`Fifo::push_slot`] for a caller that has just made room ([`Fifo::try_reserve`],
    /// or found the capacity above the length): no test for a full ring. Were it full
    /// after all, the slot given would be the oldest value's (overwritten, a lost
    /// packet, never memory misuse); `debug_assert` catches that in the host tests.
    #[inline(always)]
    fn push_reserved_slot(&mut self) -> Option<&mut T> {
        debug_assert!(self.len < self.slots.len(), "a push into a full ring");
        let at = self.at(self.len);
        self.len += 1;
        self.slots.get_mut(at)
    }

    /// Takes the last value back out (the one [`Fifo::push_slot`] just queued).
    #[inline(always)]
    fn unpush(&mut self) {
        self.len -= 1;
    }

    /// The oldest value, in place.
    #[inline(always)]
    fn front(&self) -> Option<&T> {
        if self.len == 0 { None } else { self.slots.get(self.head) }
    }

    /// Takes the oldest value; it stays readable in its slot until the next push.
    #[inline(always)]
    fn pop_front(&mut self) -> Option<&T> {
        if self.len == 0 {
            return None;
        }
        let at = self.head;
        self.head = self.at(1);
        self.len -= 1;
        self.slots.get(at)
    }

    /// Takes the oldest value after a look at it in place (`front`); nothing when empty.
    #[inline(always)]
    fn drop_front(&mut self) {
        if self.len > 0 {
            self.head = self.at(1);
            self.len -= 1;
        }
    }

    /// Keeps only the values for which `keep` is true, in order.
    fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        let mut kept = 0;
        for i in 0..self.len {
            let from = self.at(i);
            if keep(&self.slots[from]) {
                let to = self.at(kept);
                if to != from {
                    self.slots[to] = self.slots[from].clone();
                }
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Empties it and frees its slots; returns how many values were queued.
    fn clear(&mut self) -> usize {
        let queued = self.len;
        *self = Fifo::new();
        queued
    }
}

/// The state of one port.
pub struct PortQueue<P, R> {
    packets: Fifo<Slot<P>>,
    /// Queued signal packets; the rest of the queue is user packets. Counted on the
    /// rare side, so that queueing and taking a user packet (the hot paths) count
    /// nothing: the user packets are the queue's length less this.
    signal: usize,
    /// User packets the port accepts: [`MAX_USER_PACKETS`] while open, 0 once closed,
    /// so that one compare refuses both.
    user_limit: usize,
    regs: Vec<Registration<R>>,
}

impl<P: Clone + Default, R> Default for PortQueue<P, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: Clone + Default, R> PortQueue<P, R> {
    /// An empty, open port.
    pub const fn new() -> Self {
        PortQueue { packets: Fifo::new(), signal: 0, user_limit: MAX_USER_PACKETS, regs: Vec::new() }
    }

    /// Queued packets.
    pub fn len(&self) -> usize {
        self.packets.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.packets.len() == 0
    }

    /// Queued user packets.
    #[inline(always)]
    pub fn user_packets(&self) -> usize {
        self.packets.len() - self.signal
    }

    /// Live registrations.
    pub fn registrations(&self) -> usize {
        self.regs.len()
    }

    /// True once [`PortQueue::close`] ran.
    pub fn is_closed(&self) -> bool {
        self.user_limit == 0
    }

    /// Bytes of kernel memory the FIFO's slots take: every slot, queued or not, from
    /// the FIFO's growth until the port closes (the kernel counts them in KMEM_STATS'
    /// `ipc_bytes`). Only [`PortQueue::queue_user`], [`PortQueue::register`] and
    /// [`PortQueue::close`] change it.
    pub fn slot_bytes(&self) -> usize {
        self.packets.capacity() * core::mem::size_of::<Slot<P>>()
    }

    /// Whether the FIFO has a free slot for `extra` more packets beyond those queued and
    /// those the live registrations hold, without growing.
    #[inline(always)]
    fn has_room(&self, extra: usize) -> bool {
        self.packets.capacity() - self.packets.len() >= self.regs.len() + extra
    }

    /// Reserves room for `extra` more packets beyond those queued and those the live
    /// registrations hold. Inlined: when the FIFO has the room already (a warm port),
    /// it is a compare.
    #[inline(always)]
    fn reserve(&mut self, extra: usize) -> ZxResult {
        if self.has_room(extra) {
            return Ok(());
        }
        self.packets.try_reserve(self.regs.len() + extra, &Slot::default())
    }

    /// Queues a user packet: SHOULD_WAIT when [`MAX_USER_PACKETS`] are queued,
    /// NO_MEMORY when the FIFO cannot grow, BAD_STATE once closed.
    pub fn queue_user(&mut self, packet: P) -> ZxResult {
        self.admit_user()?;
        // Room was made by `admit_user`.
        if let Some(slot) = self.packets.push_reserved_slot() {
            *slot = Slot { packet, origin: None };
        }
        Ok(())
    }

    /// Whether a user packet may be queued now ([`PortQueue::queue_user`]'s errors, in
    /// its order), with the room for it reserved.
    #[inline(always)]
    fn admit_user(&mut self) -> ZxResult {
        self.check_user_limit()?;
        self.reserve(1)
    }

    /// BAD_STATE once closed, SHOULD_WAIT while [`MAX_USER_PACKETS`] are queued.
    #[inline(always)]
    fn check_user_limit(&self) -> ZxResult {
        // One compare for both refusals: a closed port's limit is 0, and closed comes first.
        if self.user_packets() >= self.user_limit {
            return Err(if self.is_closed() { ZxError::BadState } else { ZxError::ShouldWait });
        }
        Ok(())
    }

    /// Queues a user packet written in its FIFO slot, never allocating: `fill` writes
    /// the whole packet in place (the slot holds a stale one; the kernel copies the
    /// packet from user memory straight into it). `Ok(true)` when it is queued;
    /// `Ok(false)`, with nothing changed, when `fill` said it could not write it or when
    /// the FIFO has no free slot without growing (the caller's general path,
    /// [`PortQueue::queue_user`], grows it); the errors of [`PortQueue::queue_user`],
    /// without calling `fill`, when a user packet cannot be queued now.
    #[inline(always)]
    pub fn queue_user_in_place(&mut self, fill: impl Fill<P>) -> ZxResult<bool> {
        self.check_user_limit()?;
        if !self.has_room(1) {
            return Ok(false);
        }
        // There is room for this packet beyond those queued and those the registrations
        // hold, so the ring is not full.
        let Some(slot) = self.packets.push_reserved_slot() else { return Ok(false) };
        slot.origin = None;
        if !fill.fill(&mut slot.packet) {
            self.packets.unpush();
            return Ok(false);
        }
        Ok(true)
    }

    /// Adds registration `id`, made through the handle with serial `source` for `key`,
    /// with its packet slot. BAD_STATE once closed; INVALID_ARGS for serial 0, which no
    /// handle has (the kernel's serials count from 1); NO_MEMORY when there is no room.
    pub fn register(&mut self, id: u64, source: u64, key: u64, reg: R) -> ZxResult {
        if self.is_closed() {
            return Err(ZxError::BadState);
        }
        let source = NonZeroU64::new(source).ok_or(ZxError::InvalidArgs)?;
        self.reserve(1)?;
        self.regs.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        self.regs.push(Registration { id, source, key, reg });
        Ok(())
    }

    /// Registration `id` fired: it ends and its packet is queued (never allocating).
    /// Nothing happens, and `None` comes back, when it had already ended (cancelled,
    /// its handle closed, the port closed).
    pub fn fire(&mut self, id: u64, packet: P) -> Option<R> {
        let at = self.regs.iter().position(|r| r.id == id)?;
        let r = self.regs.swap_remove(at);
        // The slot this registration held: capacity > len, so no allocation.
        debug_assert!(self.packets.capacity() > self.packets.len());
        if let Some(slot) = self.packets.push_slot() {
            *slot = Slot { packet, origin: Some((r.source, r.key)) };
            self.signal += 1;
        }
        Some(r.reg)
    }

    /// Ends registration `id` without a packet (its handle was closed).
    pub fn forget(&mut self, id: u64) -> Option<R> {
        let at = self.regs.iter().position(|r| r.id == id)?;
        Some(self.regs.swap_remove(at).reg)
    }

    /// The oldest packet, left in place.
    #[inline(always)]
    pub fn front(&self) -> Option<&P> {
        self.packets.front().map(|slot| &slot.packet)
    }

    /// Offers the oldest packet to `take` in place (a reader that copies it out first)
    /// and takes it when `take` says so: `Some(true)` when taken, `Some(false)` when
    /// `take` declined and nothing changed, `None` when nothing is queued.
    #[inline(always)]
    pub fn take_front_if(&mut self, take: impl Offer<P>) -> Option<bool> {
        let Slot { packet, origin } = self.packets.front()?;
        let signal = origin.is_some();
        if !take.offer(packet) {
            return Some(false);
        }
        self.packets.drop_front();
        if signal {
            self.signal -= 1;
        }
        Some(true)
    }

    /// Takes the oldest packet.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<P> {
        let Slot { packet, origin } = self.packets.pop_front()?;
        if origin.is_some() {
            self.signal -= 1;
        }
        Some(packet.clone())
    }

    /// `zx_port_cancel`: removes the registrations made through `source` with `key`
    /// (given back, for the caller to unhook from their objects) and the signal packets
    /// they queued. `Ok(None)` when nothing was removed (NOT_FOUND for the caller);
    /// NO_MEMORY when the list of removed registrations cannot be made.
    pub fn cancel(&mut self, source: u64, key: u64) -> ZxResult<Option<Vec<R>>> {
        let matches = |s: u64, k: u64| s == source && k == key;
        let count = self.regs.iter().filter(|r| matches(r.source.get(), r.key)).count();
        let mut removed = Vec::new();
        removed.try_reserve_exact(count).map_err(|_| ZxError::NoMemory)?;
        let mut i = 0;
        while i < self.regs.len() {
            if matches(self.regs[i].source.get(), self.regs[i].key) {
                removed.push(self.regs.swap_remove(i).reg);
            } else {
                i += 1;
            }
        }
        let before = self.packets.len();
        self.packets.retain(|slot| !slot.origin.is_some_and(|(s, k)| matches(s.get(), k)));
        let packets_removed = before - self.packets.len();
        // Only signal packets have an origin to match.
        self.signal -= packets_removed;
        if count == 0 && packets_removed == 0 { Ok(None) } else { Ok(Some(removed)) }
    }

    /// The port's last handle is gone: no more packets or registrations are accepted,
    /// the queued packets are freed (their number comes back) and the live
    /// registrations are given back for the caller to unhook (no allocation).
    pub fn close(&mut self) -> (usize, impl Iterator<Item = R> + use<P, R>) {
        // Refused by `check_user_limit`'s one compare from now on.
        self.user_limit = 0;
        self.signal = 0;
        let dropped = self.packets.clear();
        (dropped, core::mem::take(&mut self.regs).into_iter().map(|r| r.reg))
    }
}

#[cfg(test)]
impl<P: Clone + Default, R> PortQueue<P, R> {
    /// The packet FIFO's capacity (tests of the slot invariant).
    pub fn capacity_for_test(&self) -> usize {
        self.packets.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::Fifo;
    use alloc::collections::VecDeque;
    use alloc::vec::Vec;

    fn contents(f: &Fifo<u32>) -> Vec<u32> {
        (0..f.len()).map(|i| f.slots[f.at(i)]).collect()
    }

    #[test]
    fn the_ring_wraps_grows_and_retains_in_order() {
        let mut f: Fifo<u32> = Fifo::new();
        let mut model: VecDeque<u32> = VecDeque::new();
        assert_eq!(f.front(), None);
        assert_eq!(f.pop_front(), None);
        let mut next = 0;
        // Pushes and pops in an uneven rhythm, so the ring wraps with values queued,
        // grows while wrapped, and keeps some values out of every `retain`.
        for round in 0..200u32 {
            for _ in 0..(round % 7) {
                if f.len() == f.capacity() {
                    f.try_reserve(1, &9999).unwrap();
                    assert!(f.capacity() > f.len() && f.capacity().is_power_of_two());
                }
                *f.push_slot().unwrap() = next;
                model.push_back(next);
                next += 1;
            }
            for i in 0..(round % 5) {
                if i % 2 == 0 {
                    assert_eq!(f.pop_front().copied(), model.pop_front());
                } else {
                    // A look in place, then taken: as `pop_front` (nothing when empty).
                    assert_eq!(f.front().copied(), model.front().copied());
                    f.drop_front();
                    model.pop_front();
                }
            }
            if round % 11 == 0 {
                f.retain(|v| v % 3 != 0);
                model.retain(|v| v % 3 != 0);
            }
            if round % 13 == 0 && f.len() > 0 {
                // A push taken back leaves the queue as it was.
                *f.push_slot().unwrap_or_else(|| unreachable!()) = 12345;
                f.unpush();
            }
            assert_eq!(contents(&f), model.iter().copied().collect::<Vec<_>>());
            assert_eq!(f.front().copied(), model.front().copied());
        }
        assert_eq!(f.clear(), model.len());
        assert_eq!((f.len(), f.capacity()), (0, 0));
    }
}
