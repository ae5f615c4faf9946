//! Address-space ids (ASIDs): which tag each process's TLB entries carry, handed out in
//! generations so that ids are recycled with one local TLB flush per CPU per roll-over
//! rather than a flush at every context switch.
//!
//! ## The scheme (Linux's arm64 allocator, one lock instead of atomics)
//!
//! Every address space keeps an [`AsidTag`]: an id and the generation it was given in.
//! When a CPU switches to an address space it calls [`AsidAllocator::activate`]:
//!
//! - a tag of the current generation is used as it is (the common case: no search);
//! - an older tag gets a free id of the current generation;
//! - when none is free the allocator *rolls over*: it starts a new generation in which
//!   every id is free again except those in some CPU's TTBR0 right now (*reserved*),
//!   and marks every CPU as owing a full local TLB flush. Each CPU is told so
//!   (`activate` returns `true`) at its next activation and flushes before it writes
//!   TTBR0, so no interrupt to other CPUs is needed: until then a CPU keeps running
//!   the address space whose id was reserved for it, and only that id's entries are
//!   used there.
//!
//! Reserving matters because the kernel invalidates an address space's translations by
//! the id in its tag (`TLBI ... ASID`). An address space still running on CPU A under
//! id `n` must keep `n` when it is next activated, else an unmap would invalidate the new
//! id and leave A with stale entries. So an old tag that some CPU still runs is moved to
//! the new generation with its id unchanged.
//!
//! The allocator keeps the per-CPU state (what each CPU's TTBR0 holds, whether it owes
//! a flush), for up to [`MAX_CPUS`] CPUs, and expects to be called under one lock. Id 0
//! is never handed out: it is the kernel's, for a TTBR0 with no user tables.
//!
//! ## The switch without the lock (Linux's per-CPU active ASIDs)
//!
//! What each CPU runs is also kept in one atomic word per CPU ([`ActiveAsids`]), so that
//! the common switch (to an address space whose tag is of the current generation, on a
//! CPU that owes no flush) takes no lock: [`ActiveAsids::try_activate`] swaps the CPU's
//! word from what it was to the new tag with a compare-and-swap. A roll-over (under the
//! lock) exchanges every CPU's word for [`SLOT_ROLLED`] and reserves the id it took out,
//! so the two are ordered on that word: either the switch's compare-and-swap comes first
//! and the roll-over reserves the id the CPU now runs, or the exchange comes first and
//! the compare-and-swap fails (the word is no longer what the switch read; only the
//! CPU itself, under the lock, writes anything but `SLOT_ROLLED` into its word, so no
//! other write can make it match again). A CPU whose word is `SLOT_ROLLED` switches under
//! the lock, which is where it learns that it owes a flush: a CPU never uses an id of a
//! new generation before it has flushed. The generation test keeps a tag of an older
//! generation (whose id may be another space's now) off the lock-free path: a CPU whose
//! word is not `SLOT_ROLLED` went through the lock after every roll-over but the ones
//! the exchange above orders, so its load of the generation is at least as new as
//! what it saw there.

use crate::platform::machine::MAX_CPUS;
use crate::{ZxError, ZxResult};
use core::sync::atomic::{AtomicU64, Ordering};

/// Ids the largest (16-bit) allocator tracks, id 0 included.
const MAX_IDS: usize = 1 << 16;
const WORD_BITS: usize = u64::BITS as usize;

// After a roll-over at most one id per CPU is reserved; at least one must be left to
// hand out, even with 8-bit ids.
const _: () = assert!(MAX_CPUS < 255);

/// An address space's ASID and the generation it belongs to. Only the allocator makes
/// tags; an address space starts with [`AsidTag::NONE`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AsidTag {
    generation: u64,
    asid: u16,
}

impl AsidTag {
    /// Never activated: id 0 of generation 0, which is never current.
    pub const NONE: AsidTag = AsidTag { generation: 0, asid: 0 };

    /// The id, for TTBR0 bits 63:48 and for `TLBI` by ASID.
    pub const fn asid(self) -> u16 {
        self.asid
    }

    /// The generation the id was given in.
    pub const fn generation(self) -> u64 {
        self.generation
    }

    /// The tag as one word, for a cell read without a lock: the generation in bits
    /// 63..16 (its low 48 bits: 2^48 roll-overs will not happen), the id in 15..0.
    pub const fn to_bits(self) -> u64 {
        (self.generation << 16) | self.asid as u64
    }

    /// The tag [`AsidTag::to_bits`] made `bits` from.
    pub const fn from_bits(bits: u64) -> AsidTag {
        AsidTag { generation: bits >> 16, asid: bits as u16 }
    }
}

/// A CPU's [`ActiveAsids`] word after a roll-over took it: the CPU has not switched
/// since, so it still runs what the allocator recorded for it, and its next switch
/// goes through the lock (and flushes). Never a tag (a tag's generation is at least 1).
const SLOT_ROLLED: u64 = 0;
/// A CPU's [`ActiveAsids`] word while it runs no user address space (generation 0,
/// which is never current, so never a tag either).
const SLOT_NONE: u64 = 1;

/// What each CPU's TTBR0 holds, one atomic word per CPU ([`AsidTag::to_bits`],
/// [`SLOT_ROLLED`] or [`SLOT_NONE`]), and the current generation: the part of the
/// allocator's state that a switch reads and writes without its lock (see the module
/// documentation). The allocator's calls take it as an argument.
#[derive(Debug)]
pub struct ActiveAsids {
    /// A copy of the allocator's generation, stored under its lock at each roll-over.
    generation: AtomicU64,
    slots: [AtomicU64; MAX_CPUS],
}

impl ActiveAsids {
    /// No CPU runs a user address space yet; generation 1, as a new allocator's.
    pub const fn new() -> Self {
        ActiveAsids { generation: AtomicU64::new(1), slots: [const { AtomicU64::new(SLOT_NONE) }; MAX_CPUS] }
    }

    /// CPU `cpu` switches to the address space that owns `tag` without the allocator's
    /// lock, if it can: `tag` is of the current generation and the CPU has switched
    /// under the lock since the last roll-over. `true`: it is recorded as what `cpu`
    /// runs, with no flush owed; `false`: call [`AsidAllocator::activate`] instead.
    /// Only CPU `cpu` itself calls this for `cpu` (its word has no other writer but the
    /// roll-over's exchange).
    #[inline(always)]
    pub fn try_activate(&self, cpu: usize, tag: AsidTag) -> bool {
        let Some(slot) = self.slots.get(cpu) else { return false };
        // Relaxed throughout, as Linux's `check_and_switch_context`: the one word's
        // order against the roll-over's exchange is what makes this sound (module
        // documentation); nothing else is published or read through it.
        let old = slot.load(Ordering::Relaxed);
        old != SLOT_ROLLED
            && tag.generation == self.generation.load(Ordering::Relaxed)
            && slot.compare_exchange(old, tag.to_bits(), Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// What CPU `cpu` runs, given what the allocator recorded for it at its last
    /// switch under the lock or roll-over (`recorded`).
    fn active(&self, cpu: usize, recorded: Option<AsidTag>) -> Option<AsidTag> {
        match self.slots.get(cpu)?.load(Ordering::Relaxed) {
            SLOT_ROLLED => recorded,
            SLOT_NONE => None,
            bits => Some(AsidTag::from_bits(bits)),
        }
    }
}

impl Default for ActiveAsids {
    fn default() -> Self {
        Self::new()
    }
}

/// What one CPU is doing, as far as ids are concerned.
#[derive(Clone, Copy, Debug, Default)]
struct CpuState {
    /// The tag in the CPU's TTBR0 as of its last switch under the lock (`activate`,
    /// `deactivate`) or the last roll-over; what it runs while its [`ActiveAsids`] word
    /// is [`SLOT_ROLLED`] (a lock-free switch since is in that word).
    active: Option<AsidTag>,
    /// A roll-over happened since the CPU last flushed its TLB.
    flush_pending: bool,
}

/// Hands out ASIDs to address spaces; see the module documentation.
#[derive(Clone, Debug)]
pub struct AsidAllocator {
    /// 8 or 16.
    bits: u8,
    /// The current generation, from 1 (so that [`AsidTag::NONE`] is never current).
    generation: u64,
    /// Ids taken in the current generation, one bit each; bit 0 is always set.
    used: [u64; MAX_IDS / WORD_BITS],
    /// Where the search for a free id starts: just after the last id handed out, so
    /// that a released id rests a while before it is reused.
    next: usize,
    cpus: [CpuState; MAX_CPUS],
}

impl AsidAllocator {
    /// An allocator of `bits`-bit ids: 16 (65 535 ids) when `bits` is 16, else 8 (255
    /// ids). `bits` is what `ID_AA64MMFR0_EL1.ASIDBits` reports, 8 or 16; 8-bit ids
    /// work on every CPU, so anything else falls back to them.
    pub const fn new(bits: u8) -> Self {
        let mut used = [0; MAX_IDS / WORD_BITS];
        used[0] = 1; // id 0: the kernel's
        AsidAllocator {
            bits: if bits == 16 { 16 } else { 8 },
            generation: 1,
            used,
            next: 1,
            cpus: [CpuState { active: None, flush_pending: false }; MAX_CPUS],
        }
    }

    /// The width of the ids: 8 or 16.
    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// How many ids there are to hand out: 255 or 65 535 (id 0 is not one).
    pub fn capacity(&self) -> usize {
        self.id_count() - 1
    }

    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Ids taken in the current generation: those of address spaces activated since
    /// the last roll-over and not released, and those reserved by it.
    pub fn ids_in_use(&self) -> usize {
        let words = self.used.get(..self.id_count() / WORD_BITS).unwrap_or_default();
        let taken: u32 = words.iter().map(|word| word.count_ones()).sum();
        (taken as usize).saturating_sub(1) // id 0
    }

    /// The tag CPU `cpu` runs with, `None` when it runs no user address space.
    pub fn active(&self, slots: &ActiveAsids, cpu: usize) -> Option<AsidTag> {
        slots.active(cpu, self.cpus.get(cpu)?.active)
    }

    /// CPU `cpu` is about to run the address space that owns `tag` (its TTBR0 will
    /// hold `tag.asid()` next): gives the address space an id of the current
    /// generation if it has none, rolling over when all are taken, and records it as
    /// what `cpu` runs.
    ///
    /// `Ok(true)`: the CPU must invalidate its whole TLB (`TLBI VMALLE1`, `DSB NSH`)
    /// before it writes TTBR0, because a roll-over made ids of the old generation free
    /// again. Each CPU is told once per roll-over. `Err(OutOfRange)`: `cpu` is not
    /// below [`MAX_CPUS`].
    #[inline]
    pub fn activate(&mut self, slots: &ActiveAsids, cpu: usize, tag: &mut AsidTag) -> ZxResult<bool> {
        // Checked first so that a refused call hands out no id.
        if cpu >= MAX_CPUS {
            return Err(ZxError::OutOfRange);
        }
        if tag.generation != self.generation {
            *tag = self.renew(slots, *tag);
        }
        let state = self.cpus.get_mut(cpu).ok_or(ZxError::OutOfRange)?;
        state.active = Some(*tag);
        // Under the lock, so no roll-over's exchange is under way; only this CPU writes
        // its word otherwise.
        slots.slots[cpu].store(tag.to_bits(), Ordering::Relaxed);
        Ok(core::mem::take(&mut state.flush_pending))
    }

    /// CPU `cpu` no longer has a user address space in TTBR0 (it now holds id 0, or
    /// translation walks through TTBR0 are off), so nothing of its needs reserving at
    /// a roll-over. A CPU that keeps the last process's tables while idle does not
    /// call this.
    pub fn deactivate(&mut self, slots: &ActiveAsids, cpu: usize) -> ZxResult {
        let state = self.cpus.get_mut(cpu).ok_or(ZxError::OutOfRange)?;
        state.active = None;
        // A word a roll-over took stays `SLOT_ROLLED` (the record, now `None`, is what
        // it stands for): the CPU owes a flush, and only a switch under the lock pays
        // it, so its next switch must not be a lock-free one. Under the lock no
        // roll-over is under way, and only this CPU writes its word otherwise.
        if slots.slots[cpu].load(Ordering::Relaxed) != SLOT_ROLLED {
            slots.slots[cpu].store(SLOT_NONE, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The address space that owns `tag` is gone: its id may be handed out again in
    /// this generation, and `tag` becomes [`AsidTag::NONE`].
    ///
    /// Before calling, the kernel must have switched every CPU away from it
    /// ([`deactivate`](Self::deactivate) or `activate` of another address space) and
    /// invalidated its id on every CPU (`TLBI ASIDE1IS`): the next owner gets no flush.
    /// (For a tag of an older generation the invalidation is not needed, but harmless.)
    /// `Err(BadState)`: some CPU still runs it; nothing changes.
    pub fn release(&mut self, slots: &ActiveAsids, tag: &mut AsidTag) -> ZxResult {
        if tag.asid == 0 {
            *tag = AsidTag::NONE;
            return Ok(());
        }
        if (0..MAX_CPUS).any(|cpu| self.active(slots, cpu) == Some(*tag)) {
            return Err(ZxError::BadState);
        }
        // An id of an older generation was freed by the roll-over already, and may
        // belong to another address space now.
        if tag.generation == self.generation {
            self.set_used(usize::from(tag.asid), false);
        }
        *tag = AsidTag::NONE;
        Ok(())
    }

    /// A tag of the current generation for the address space that had `old`.
    fn renew(&mut self, slots: &ActiveAsids, old: AsidTag) -> AsidTag {
        // Still in some CPU's TTBR0 since before the roll-over: its id was reserved
        // for it. Every CPU that runs it moves to the new generation with it. (`old` is
        // of an older generation, and only a word taken by a roll-over can stand for
        // one, so the recorded tags are where it can be.)
        if old.asid != 0 && (0..MAX_CPUS).any(|cpu| self.active(slots, cpu) == Some(old)) {
            let renewed = AsidTag { generation: self.generation, asid: old.asid };
            for state in self.cpus.iter_mut().filter(|state| state.active == Some(old)) {
                state.active = Some(renewed);
            }
            return renewed;
        }
        let id = match self.find_free() {
            Some(id) => id,
            None => {
                self.roll_over(slots);
                // Cannot fail: after a roll-over at most MAX_CPUS ids are taken, fewer
                // than there are (checked at compile time). Id 0 stands in for the
                // impossible case rather than a panic.
                self.find_free().unwrap_or(0)
            }
        };
        self.set_used(id, true);
        self.next = if id + 1 >= self.id_count() { 1 } else { id + 1 };
        // `id` is below 2^16 (`id_count` is at most 2^16).
        AsidTag { generation: self.generation, asid: id as u16 }
    }

    /// Starts a new generation: every id is free but those CPUs run, and every CPU owes
    /// a TLB flush.
    fn roll_over(&mut self, slots: &ActiveAsids) {
        // 2^64 roll-overs will not happen; skipping 0 keeps NONE from ever being current.
        self.generation = self.generation.wrapping_add(1).max(1);
        slots.generation.store(self.generation, Ordering::Relaxed);
        // Take what every CPU runs out of its word (see the module documentation): a
        // lock-free switch after this exchange fails, one before it is what is reserved.
        for (cpu, state) in self.cpus.iter_mut().enumerate() {
            match slots.slots[cpu].swap(SLOT_ROLLED, Ordering::Relaxed) {
                // No switch since the last roll-over: the record is what it runs.
                SLOT_ROLLED => {}
                SLOT_NONE => state.active = None,
                bits => state.active = Some(AsidTag::from_bits(bits)),
            }
        }
        self.used = [0; MAX_IDS / WORD_BITS];
        self.set_used(0, true);
        let reserved = self.cpus;
        for active in reserved.iter().filter_map(|state| state.active) {
            self.set_used(usize::from(active.asid), true);
        }
        for state in &mut self.cpus {
            state.flush_pending = true;
        }
        self.next = 1;
    }

    /// 256 or 65 536.
    fn id_count(&self) -> usize {
        1 << self.bits
    }

    /// A free id, searching from `next` to the end and then from 1.
    fn find_free(&self) -> Option<usize> {
        self.find_free_in(self.next, self.id_count()).or_else(|| self.find_free_in(1, self.next))
    }

    /// The first free id in `[from, to)`, a word of the bitmap at a time.
    fn find_free_in(&self, from: usize, to: usize) -> Option<usize> {
        let mut id = from;
        while id < to {
            let word = self.used.get(id / WORD_BITS)?;
            let free = !word >> (id % WORD_BITS);
            if free != 0 {
                let found = id + free.trailing_zeros() as usize;
                return (found < to).then_some(found);
            }
            id = (id / WORD_BITS + 1) * WORD_BITS;
        }
        None
    }

    fn set_used(&mut self, id: usize, used: bool) {
        if let Some(word) = self.used.get_mut(id / WORD_BITS) {
            let bit = 1 << (id % WORD_BITS);
            if used {
                *word |= bit;
            } else {
                *word &= !bit;
            }
        }
    }
}

#[cfg(test)]
#[path = "asid_tests.rs"]
mod tests;
