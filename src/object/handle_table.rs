//! The per-process handle table: turns the `u32` handle values user space holds into
//! (object, rights) pairs, following Zircon's rules for handle values.
//!
//! A handle value is built from a slot index and the slot's generation, XORed with a
//! per-process salt:
//!
//! ```text
//!   bit 31 ........ 18 17 ......... 2  1  0
//!      [ generation  ][ slot index   ][ 1  1 ]   ^ (salt with bits 1..0 cleared)
//! ```
//!
//! 1. Bits 1..0 are always `0b11` (Zircon's `ZX_HANDLE_FIXED_BITS_MASK`), so a valid value
//!    is never `ZX_HANDLE_INVALID` (0) and any value without both bits set is rejected
//!    before the table is touched.
//! 2. The slot index gives O(1) lookup; the generation, bumped each time a slot is
//!    emptied, makes the value of a closed handle stale.
//! 3. Freed slots are reused oldest first, and only once [`REUSE_QUARANTINE`] of them
//!    have piled up (or the table is full), so a closed value comes back only after its
//!    slot has been reused 2^14 times: a stale value gives `BadHandle` for a long time.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::abi::rights;
use crate::error::{ZxError, ZxResult};

/// Bits 1..0 of every valid handle value.
const FIXED_BITS: u32 = 0b11;
/// Where the slot index starts in a handle value.
const INDEX_SHIFT: u32 = 2;
/// Width of the slot index.
const INDEX_BITS: u32 = 16;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
/// Where the generation starts in a handle value.
const GENERATION_SHIFT: u32 = INDEX_SHIFT + INDEX_BITS;
/// Width of the generation: the rest of the word.
const GENERATION_BITS: u32 = u32::BITS - GENERATION_SHIFT;
const GENERATION_MASK: u32 = (1 << GENERATION_BITS) - 1;

/// Most handles one process may hold at once; one more gives `NoResources`.
pub const MAX_HANDLES: usize = 1 << INDEX_BITS;

/// Freed slots wait until this many have piled up before one is reused, so that a
/// value that was just closed does not name a new handle on the next insert.
pub const REUSE_QUARANTINE: usize = 16;

/// One handle: the object it names and the rights it carries.
///
/// `rights` never contains `SAME_RIGHTS`; that is an argument sentinel only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handle<T> {
    /// The kernel object (in the kernel, the object enum holding an `Arc`).
    pub object: T,
    /// The `ZX_RIGHT_*` bits of this handle.
    pub rights: u32,
    /// A word the owner of the table recorded with the handle when it inserted it (the
    /// kernel: the id of the VMO the object is, so that a VMO call needs no virtual
    /// call to learn it), or [`UNTAGGED`]. Never interpreted here; it stays with the
    /// object (a duplicate made by the table keeps it), and it costs no room: a kernel
    /// handle is 24 bytes, so rights and tag fill the last 8 of its 32.
    pub tag: u32,
}

/// [`Handle::tag`] of a handle inserted without one.
pub const UNTAGGED: u32 = u32::MAX;

/// A slot of the table. `generation` is the generation the slot's current (or next)
/// handle is known by; `value` is the current handle's value (the encoding of this
/// slot's index and `generation`), 0 while the slot is empty.
struct Slot<T> {
    generation: u32,
    value: u32,
    handle: Option<Handle<T>>,
}

/// The handles of one process.
///
/// `get`, `remove` and `drain` never allocate, so closing handles and ending a process
/// cannot fail for lack of memory; `insert` may need the slot array and the free queue
/// to grow, which it does fallibly (`NoMemory`, nothing changed).
pub struct HandleTable<T> {
    slots: Vec<Slot<T>>,
    /// Indices of empty slots, oldest first.
    free: VecDeque<u32>,
    /// The per-process scrambling word, bits 1..0 cleared so the fixed bits survive.
    salt: u32,
    /// Number of live handles.
    live: usize,
}

impl<T> HandleTable<T> {
    /// An empty table whose values are scrambled with `salt` (any value; the kernel
    /// should pick a different one for each process).
    pub fn new(salt: u32) -> Self {
        HandleTable { slots: Vec::new(), free: VecDeque::new(), salt: salt & !FIXED_BITS, live: 0 }
    }

    /// Number of live handles.
    pub fn len(&self) -> usize {
        self.live
    }

    /// True when the process holds no handle.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Adds a handle and returns its value.
    ///
    /// `NoResources` when the process already holds [`MAX_HANDLES`] handles; `NoMemory`
    /// (nothing changed) when the table must grow and the heap cannot give it room.
    pub fn insert(&mut self, object: T, rights: u32) -> ZxResult<u32> {
        self.insert_tagged(object, rights, UNTAGGED)
    }

    /// [`HandleTable::insert`] with the tag `tag` (see [`Handle::tag`]).
    pub fn insert_tagged(&mut self, object: T, rights: u32, tag: u32) -> ZxResult<u32> {
        let index = self.take_free_slot()?;
        let salt = self.salt;
        let slot = self.slots.get_mut(index).ok_or(ZxError::Internal)?;
        Self::fill(slot, Handle { object, rights, tag });
        slot.value = encode(salt, index, slot.generation);
        self.live += 1;
        Ok(slot.value)
    }

    /// As [`HandleTable::insert_tagged`], but a full table (or a failed allocation)
    /// gives the object back instead of dropping it, so the caller decides where it is
    /// dropped.
    pub fn try_insert(&mut self, object: T, rights: u32, tag: u32) -> Result<u32, T> {
        let salt = self.salt;
        match self.take_free_slot() {
            Ok(index) => match self.slots.get_mut(index) {
                Some(slot) => {
                    Self::fill(slot, Handle { object, rights, tag });
                    slot.value = encode(salt, index, slot.generation);
                    self.live += 1;
                    Ok(slot.value)
                }
                None => Err(object),
            },
            Err(_) => Err(object),
        }
    }

    /// Puts `handle` into `slot`, which [`HandleTable::take_free_slot`] gave: always
    /// empty (every slot in the free queue or new was emptied by `empty_slot` or made
    /// empty), so there is nothing to drop, and the compiler is not made to keep a drop
    /// call (and the registers it needs) on the insert path. Were the slot somehow
    /// occupied, its handle would be leaked, not dropped under the caller's lock.
    #[inline(always)]
    fn fill(slot: &mut Slot<T>, handle: Handle<T>) {
        let old = slot.handle.replace(handle);
        debug_assert!(old.is_none(), "a free handle slot that holds a handle");
        core::mem::forget(old);
    }

    /// The handle named by `value`, or `BadHandle`.
    ///
    /// One compare against the slot's recorded value stands for the checks of
    /// [`HandleTable::slot_of`] and the occupied test: a recorded value has the fixed
    /// bits and this slot's index and current generation (it is reset to 0, which no
    /// value matches, when the slot is emptied, before the generation moves on).
    #[inline(always)]
    pub fn get(&self, value: u32) -> ZxResult<&Handle<T>> {
        let index = (((value ^ self.salt) >> INDEX_SHIFT) & INDEX_MASK) as usize;
        if let Some(slot) = self.slots.get(index)
            && slot.value == value
            && let Some(handle) = &slot.handle
        {
            return Ok(handle);
        }
        // Marked cold, so that callers lay out the found handle as the straight path.
        core::hint::cold_path();
        Err(ZxError::BadHandle)
    }

    /// The handle named by `value`, mutably, or `BadHandle`.
    pub fn get_mut(&mut self, value: u32) -> ZxResult<&mut Handle<T>> {
        let index = self.slot_of(value)?;
        self.slots.get_mut(index).and_then(|slot| slot.handle.as_mut()).ok_or(ZxError::BadHandle)
    }

    /// Removes the handle named by `value` and gives it back (the caller drops the
    /// object, which may release it), or `BadHandle`.
    ///
    /// This is also how the kernel undoes an `insert` whose value could not be copied
    /// out to user space (Zircon: INVALID_ARGS, the object is dropped).
    pub fn remove(&mut self, value: u32) -> ZxResult<Handle<T>> {
        let index = self.slot_of(value)?;
        self.empty_slot(index).ok_or(ZxError::BadHandle)
    }

    /// As [`HandleTable::remove`], with `None` for a value that names no handle: what
    /// `zx_handle_close` needs. An `Option` rather than a `Result` because the compiler
    /// keeps a `Result`'s error code in the bytes of the handle it would otherwise hold,
    /// and then moves the handle out through `memcpy` in two misaligned pieces; an
    /// `Option` of a handle is the handle itself, moved in registers.
    ///
    /// The slot is found as [`HandleTable::get`] finds it: one compare against the
    /// slot's recorded value stands for the fixed bits, the generation and the occupied
    /// test.
    #[inline]
    pub fn take(&mut self, value: u32) -> Option<Handle<T>> {
        let index = (((value ^ self.salt) >> INDEX_SHIFT) & INDEX_MASK) as usize;
        match self.slots.get(index) {
            Some(slot) if slot.value == value => self.empty_slot(index),
            _ => None,
        }
    }

    /// `zx_handle_replace`: removes the handle named by `value` and inserts its object
    /// again with `new_rights`, returning the new value.
    ///
    /// Order:
    /// 1. Look up `value` → `BadHandle`. No right is needed.
    /// 2. The old handle is removed now, whatever happens next (newer Zircon kernels).
    /// 3. `new_rights` is `SAME_RIGHTS` (copy) or a subset of the old rights, else
    ///    `InvalidArgs`, and the object is dropped with the old handle.
    /// 4. Insert. Cannot run out of slots, since step 2 freed one.
    ///
    /// Rolling back: if the new value cannot be copied out, the kernel calls
    /// [`remove`](Self::remove) on the new value and drops the object. The old value
    /// stays invalid, exactly as in Zircon, where the replaced handle is gone once the
    /// call has got past step 1.
    pub fn replace(&mut self, value: u32, new_rights: u32) -> ZxResult<u32> {
        // 1, 2.
        let old = self.remove(value)?;
        // 3.
        let rights = derived_rights(old.rights, new_rights)?;
        // 4.
        self.insert_tagged(old.object, rights, old.tag)
    }

    /// Every live handle with its value, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Handle<T>)> + '_ {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            slot.handle.as_ref().map(|handle| (self.encode(index, slot.generation), handle))
        })
    }

    /// Removes every handle, for process exit. The values of the removed handles
    /// become stale like closed ones. Dropping the iterator early still empties the
    /// table (the rest are dropped).
    pub fn drain(&mut self) -> Drain<'_, T> {
        Drain { table: self, next_index: 0 }
    }

    /// Removes handles from the slots at or after `*cursor`, in slot order, into the
    /// empty places of `batch` until it is full, and moves `*cursor` past the last slot
    /// looked at; returns how many it took. For process exit when nothing can add
    /// handles any more: unlike [`drain`](Self::drain), which drops whatever the caller
    /// did not take, every handle removed is handed over, so the caller drops them with
    /// no lock held, a batch at a time from a cursor starting at 0, until one takes
    /// none. Never allocates.
    pub fn take_batch(&mut self, cursor: &mut usize, batch: &mut [Option<Handle<T>>]) -> usize {
        let mut taken = 0;
        for place in batch.iter_mut().filter(|place| place.is_none()) {
            let Some(handle) = (*cursor..self.slots.len()).find_map(|index| {
                *cursor = index + 1;
                self.empty_slot(index)
            }) else {
                break;
            };
            *place = Some(handle);
            taken += 1;
        }
        taken
    }

    /// The slot index named by `value` if the fixed bits and the generation match a
    /// slot that exists; it may still be empty.
    fn slot_of(&self, value: u32) -> ZxResult<usize> {
        if value & FIXED_BITS != FIXED_BITS {
            return Err(ZxError::BadHandle);
        }
        let raw = value ^ self.salt;
        let index = ((raw >> INDEX_SHIFT) & INDEX_MASK) as usize;
        let generation = raw >> GENERATION_SHIFT;
        match self.slots.get(index) {
            Some(slot) if slot.generation == generation => Ok(index),
            _ => Err(ZxError::BadHandle),
        }
    }

    /// The value that names slot `index` at `generation`.
    fn encode(&self, index: usize, generation: u32) -> u32 {
        encode(self.salt, index, generation)
    }

    /// Picks the slot for a new handle: grow while the free queue is short, reuse the
    /// oldest freed slot otherwise, `NoResources` when every slot is taken.
    #[inline(always)]
    fn take_free_slot(&mut self) -> ZxResult<usize> {
        let can_grow = self.slots.len() < MAX_HANDLES;
        if self.free.len() > REUSE_QUARANTINE || !can_grow {
            if let Some(index) = self.free.pop_front() {
                return Ok(index as usize);
            }
            // Full and nothing free.
            return Err(ZxError::NoResources);
        }
        self.new_slot()
    }

    /// [`HandleTable::take_free_slot`] while the free queue is short: a new slot. Out
    /// of line, so that an insert that reuses a slot saves no registers for it.
    #[inline(never)]
    fn new_slot(&mut self) -> ZxResult<usize> {
        // Room first: a slot, and a place in the free queue for every slot, so that
        // emptying a slot (closing a handle) never allocates.
        self.slots.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        let needed = self.slots.len() + 1;
        if self.free.capacity() < needed {
            self.free.try_reserve(needed - self.free.len()).map_err(|_| ZxError::NoMemory)?;
        }
        self.slots.push(Slot { generation: 0, value: 0, handle: None });
        Ok(self.slots.len() - 1)
    }

    /// Takes the handle out of slot `index`, retires the slot's current value and
    /// queues the slot for reuse. `None` if the slot is empty or absent.
    fn empty_slot(&mut self, index: usize) -> Option<Handle<T>> {
        let slot = self.slots.get_mut(index)?;
        // The occupied test first and the `Option` given back as `take` made it: with
        // `take()?` and `Some(handle)` at the end, the compiler moved the handle through
        // the stack twice and wrote the `None` back as 32 bytes (three of them stack
        // garbage); this way the `None` is one store of zero and the handle stays in
        // registers (`zx_handle_close`: about 12 instructions fewer).
        slot.handle.as_ref()?;
        let handle = slot.handle.take();
        slot.value = 0;
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        // `index` < MAX_HANDLES = 2^16, so it fits; the queue has room for every slot
        // (reserved when the slot was made), so this never allocates.
        self.free.push_back(index as u32);
        self.live -= 1;
        handle
    }
}

impl<T: Clone> HandleTable<T> {
    /// `zx_handle_duplicate`: a second handle to the same object, returning its value.
    ///
    /// Order (Zircon):
    /// 1. Look up `value` → `BadHandle`.
    /// 2. The handle lacks `DUPLICATE` → `AccessDenied`.
    /// 3. `SAME_RIGHTS` copies the rights; otherwise `rights` must be a subset of the
    ///    handle's rights (0 is fine) → else `InvalidArgs`.
    /// 4. Insert → `NoResources` when the table is full.
    pub fn duplicate(&mut self, value: u32, rights: u32) -> ZxResult<u32> {
        // 1.
        let source = self.get(value)?;
        // 2.
        if source.rights & rights::DUPLICATE == 0 {
            return Err(ZxError::AccessDenied);
        }
        // 3.
        let new_rights = derived_rights(source.rights, rights)?;
        // 4.
        let object = source.object.clone();
        let tag = source.tag;
        self.insert_tagged(object, new_rights, tag)
    }
}

/// The value that names slot `index` at `generation` in a table scrambled with `salt`
/// (bits 1..0 clear): never 0, since its fixed bits are set.
fn encode(salt: u32, index: usize, generation: u32) -> u32 {
    // `index` < MAX_HANDLES, so the cast keeps every bit.
    let raw = (generation << GENERATION_SHIFT) | ((index as u32 & INDEX_MASK) << INDEX_SHIFT) | FIXED_BITS;
    raw ^ salt
}

/// The rights of a handle derived from one holding `source` when `requested` was
/// asked for: `SAME_RIGHTS` copies, anything else must be a subset (`InvalidArgs`).
pub fn derived_rights(source: u32, requested: u32) -> ZxResult<u32> {
    if requested == rights::SAME_RIGHTS {
        Ok(source)
    } else if requested & !source == 0 {
        Ok(requested)
    } else {
        Err(ZxError::InvalidArgs)
    }
}

/// The iterator of [`HandleTable::drain`].
pub struct Drain<'a, T> {
    table: &'a mut HandleTable<T>,
    next_index: usize,
}

impl<T> Iterator for Drain<'_, T> {
    type Item = Handle<T>;

    fn next(&mut self) -> Option<Handle<T>> {
        while self.next_index < self.table.slots.len() {
            let index = self.next_index;
            self.next_index += 1;
            if let Some(handle) = self.table.empty_slot(index) {
                return Some(handle);
            }
        }
        None
    }
}

impl<T> Drop for Drain<'_, T> {
    fn drop(&mut self) {
        // Finish the job so the table is empty however far the caller iterated.
        self.by_ref().for_each(drop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_finds_only_live_values() {
        let mut table = HandleTable::new(0x1234_5678);
        let a = table.insert('a', READ).unwrap();
        let b = table.insert('b', READ).unwrap();
        assert_eq!(table.take(0), None);
        assert_eq!(table.take(a & !FIXED_BITS), None);
        assert_eq!(table.take(a ^ (1 << GENERATION_SHIFT)), None);
        assert_eq!(table.take(a).map(|h| h.object), Some('a'));
        assert_eq!(table.take(a), None);
        assert_eq!(table.get(a), Err(ZxError::BadHandle));
        assert_eq!(table.len(), 1);
        assert_eq!(table.take(b).map(|h| h.object), Some('b'));
        assert!(table.is_empty());
    }

    #[test]
    fn tags_stay_with_their_handles() {
        let mut table = HandleTable::new(0x5A5A_0000);
        let plain = table.insert('p', READ).unwrap();
        let tagged = table.insert_tagged('t', READ | rights::DUPLICATE, 77).unwrap();
        assert_eq!(table.get(plain).unwrap().tag, UNTAGGED);
        assert_eq!(table.get(tagged).unwrap(), &Handle { object: 't', rights: READ | rights::DUPLICATE, tag: 77 });
        let copy = table.duplicate(tagged, READ).unwrap();
        assert_eq!(table.get(copy).unwrap(), &Handle { object: 't', rights: READ, tag: 77 });
        let replaced = table.replace(copy, rights::SAME_RIGHTS).unwrap();
        assert_eq!(table.get(replaced).unwrap().tag, 77);
        assert_eq!(table.try_insert('q', 0, 5).map(|value| table.get(value).unwrap().tag), Ok(5));
        assert_eq!(table.remove(tagged).unwrap().tag, 77);
    }
    use crate::abi::rights::{DEFAULT_VMO, DUPLICATE, MAP, READ, SAME_RIGHTS, WRITE};
    use std::collections::BTreeSet;
    use std::vec;

    const SALT: u32 = 0x5a5a_1234;

    #[test]
    fn values_have_fixed_bits_and_name_their_handle() {
        let mut table = HandleTable::new(SALT);
        let a = table.insert('a', READ).unwrap();
        let b = table.insert('b', WRITE).unwrap();
        assert_ne!(a, b);
        for value in [a, b] {
            assert_eq!(value & 0b11, 0b11);
            assert_ne!(value, 0);
        }
        assert_eq!(table.get(a).unwrap(), &Handle { object: 'a', rights: READ, tag: UNTAGGED });
        assert_eq!(table.get(b).unwrap().object, 'b');
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn salt_changes_the_values() {
        let mut one = HandleTable::new(0);
        let mut two = HandleTable::new(0xdead_beef);
        let v1 = one.insert((), 0).unwrap();
        let v2 = two.insert((), 0).unwrap();
        assert_ne!(v1, v2);
        // A value from one process means nothing in the other.
        assert_eq!(two.get(v1), Err(ZxError::BadHandle));
    }

    #[test]
    fn values_without_both_fixed_bits_are_bad() {
        let mut table = HandleTable::new(SALT);
        let value = table.insert(1u8, READ).unwrap();
        for bad in [0, value & !1, value & !2, value & !3, !1] {
            assert_eq!(table.get(bad), Err(ZxError::BadHandle), "{bad:#x}");
        }
        assert_eq!(table.get(u32::MAX).err(), Some(ZxError::BadHandle));
    }

    #[test]
    fn get_accepts_exactly_the_live_values() {
        // `get` compares with the slot's recorded value; `slot_of` (used by remove and
        // get_mut) checks the fixed bits, the index and the generation. They agree on
        // every live value, every value one bit away from one, and the closed ones.
        let mut table = HandleTable::new(SALT);
        let mut live = vec![];
        let mut closed = vec![];
        for round in 0..200u32 {
            let value = table.insert(round, READ).unwrap();
            if round % 3 == 0 {
                table.remove(value).unwrap();
                closed.push(value);
            } else {
                live.push(value);
            }
        }
        let near = live.iter().chain(&closed).flat_map(|&v| (0..32).map(move |bit| v ^ (1 << bit)));
        for value in live.iter().chain(&closed).copied().chain(near) {
            let expected = live.contains(&value);
            assert_eq!(table.get(value).is_ok(), expected, "{value:#x}");
            assert_eq!(table.slot_of(value).is_ok() && table.get_mut(value).is_ok(), expected, "{value:#x}");
        }
    }

    #[test]
    fn closed_value_stays_bad_for_a_long_time() {
        let mut table = HandleTable::new(SALT);
        let keep = table.insert(0u32, READ).unwrap();
        let closed = table.insert(1u32, READ).unwrap();
        assert_eq!(table.remove(closed).unwrap().object, 1);
        assert_eq!(table.get(closed), Err(ZxError::BadHandle));
        assert_eq!(table.remove(closed), Err(ZxError::BadHandle));
        // Churn far more than one generation cycle of a single slot.
        for round in 0..20_000u32 {
            let value = table.insert(round, 0).unwrap();
            assert_ne!(value, closed, "round {round}");
            assert_eq!(table.get(closed), Err(ZxError::BadHandle));
            table.remove(value).unwrap();
        }
        assert_eq!(table.get(keep).unwrap().object, 0);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn capacity_is_bounded() {
        let mut table = HandleTable::new(SALT);
        let mut values = BTreeSet::new();
        for i in 0..MAX_HANDLES {
            assert!(values.insert(table.insert(i, 0).unwrap()));
        }
        assert_eq!(table.insert(0, 0), Err(ZxError::NoResources));
        let first = *values.iter().next().unwrap();
        table.remove(first).unwrap();
        // A full table reuses a freed slot at once, with a new value.
        let again = table.insert(7, 0).unwrap();
        assert_ne!(again, first);
        assert_eq!(table.get(again).unwrap().object, 7);
        assert_eq!(table.len(), MAX_HANDLES);
    }

    #[test]
    fn duplicate_follows_zircon_order() {
        let mut table = HandleTable::new(SALT);
        let no_dup = table.insert("vmo", READ | WRITE).unwrap();
        let dup = table.insert("vmo", DUPLICATE | READ | WRITE).unwrap();
        // 1. Bad handle first.
        assert_eq!(table.duplicate(0x7, SAME_RIGHTS), Err(ZxError::BadHandle));
        // 2. No DUPLICATE → AccessDenied, even with bad rights.
        assert_eq!(table.duplicate(no_dup, MAP), Err(ZxError::AccessDenied));
        // 3. Not a subset → InvalidArgs; SAME_RIGHTS mixed with bits is not a subset.
        assert_eq!(table.duplicate(dup, MAP), Err(ZxError::InvalidArgs));
        assert_eq!(table.duplicate(dup, SAME_RIGHTS | READ), Err(ZxError::InvalidArgs));
        assert_eq!(table.len(), 2);
        // SAME_RIGHTS copies; a subset narrows; 0 is allowed.
        let same = table.duplicate(dup, SAME_RIGHTS).unwrap();
        assert_eq!(table.get(same).unwrap().rights, DUPLICATE | READ | WRITE);
        let narrow = table.duplicate(dup, READ).unwrap();
        assert_eq!(table.get(narrow).unwrap(), &Handle { object: "vmo", rights: READ, tag: UNTAGGED });
        let none = table.duplicate(dup, 0).unwrap();
        assert_eq!(table.get(none).unwrap().rights, 0);
        assert_eq!(table.len(), 5);
    }

    #[test]
    fn replace_always_removes_the_old_handle() {
        let mut table = HandleTable::new(SALT);
        let value = table.insert(9u8, READ | WRITE).unwrap();
        assert_eq!(table.replace(0x3, SAME_RIGHTS), Err(ZxError::BadHandle));
        // No DUPLICATE needed.
        let narrowed = table.replace(value, READ).unwrap();
        assert_eq!(table.get(value), Err(ZxError::BadHandle));
        assert_eq!(table.get(narrowed).unwrap(), &Handle { object: 9, rights: READ, tag: UNTAGGED });
        let same = table.replace(narrowed, SAME_RIGHTS).unwrap();
        assert_eq!(table.get(same).unwrap().rights, READ);
        // Invalid rights: the old handle is gone anyway.
        assert_eq!(table.replace(same, READ | WRITE), Err(ZxError::InvalidArgs));
        assert_eq!(table.get(same), Err(ZxError::BadHandle));
        assert!(table.is_empty());
    }

    #[test]
    fn replace_on_a_full_table_succeeds() {
        let mut table = HandleTable::new(SALT);
        let mut last = 0;
        for i in 0..MAX_HANDLES {
            last = table.insert(i, DEFAULT_VMO).unwrap();
        }
        let new = table.replace(last, READ).unwrap();
        assert_eq!(table.get(new).unwrap().rights, READ);
        assert_eq!(table.len(), MAX_HANDLES);
    }

    #[test]
    fn get_mut_changes_the_handle() {
        let mut table = HandleTable::new(SALT);
        let value = table.insert(1u32, READ).unwrap();
        table.get_mut(value).unwrap().object = 2;
        assert_eq!(table.get(value).unwrap().object, 2);
        assert_eq!(table.get_mut(value ^ 0x4).err(), Some(ZxError::BadHandle));
    }

    #[test]
    fn iter_and_drain_release_everything() {
        let mut table = HandleTable::new(SALT);
        let a = table.insert(10, READ).unwrap();
        let b = table.insert(20, WRITE).unwrap();
        let c = table.insert(30, MAP).unwrap();
        table.remove(b).unwrap();
        let listed: Vec<(u32, i32)> = table.iter().map(|(v, h)| (v, h.object)).collect();
        assert_eq!(listed, vec![(a, 10), (c, 30)]);

        let mut drained: Vec<i32> = table.drain().map(|h| h.object).collect();
        drained.sort();
        assert_eq!(drained, vec![10, 30]);
        assert!(table.is_empty());
        assert_eq!(table.get(a), Err(ZxError::BadHandle));
        assert_eq!(table.iter().count(), 0);

        // Dropping a drain early still empties the table.
        table.insert(1, 0).unwrap();
        table.insert(2, 0).unwrap();
        let mut drain = table.drain();
        assert!(drain.next().is_some());
        drop(drain);
        assert_eq!(table.len(), 0);
        // And the table works afterwards.
        let v = table.insert(3, 0).unwrap();
        assert_eq!(table.get(v).unwrap().object, 3);
    }

    /// Issue 13, defect 2: growing the table is fallible, and closing handles (one by
    /// one or all at once) never allocates.
    #[test]
    fn growth_is_fallible_and_closing_never_allocates() {
        use crate::arch::host_alloc::{allocations_during, with_heap_budget};
        let mut table = HandleTable::new(SALT);
        let mut values = vec![table.insert(0u64, READ | DUPLICATE).unwrap()];
        while table.slots.len() < table.slots.capacity() {
            values.push(table.insert(values.len() as u64, READ).unwrap());
        }
        assert_eq!(with_heap_budget(0, || table.insert(99, READ)), Err(ZxError::NoMemory));
        assert_eq!(with_heap_budget(0, || table.duplicate(values[0], SAME_RIGHTS)), Err(ZxError::NoMemory));
        assert_eq!(table.len(), values.len());
        let half = values.len() / 2;
        for &value in &values[..half] {
            assert_eq!(with_heap_budget(0, || allocations_during(|| assert!(table.remove(value).is_ok()))), 0);
        }
        assert_eq!(with_heap_budget(0, || allocations_during(|| table.drain().for_each(drop))), 0);
        assert!(table.is_empty());
    }

    /// Process exit on the redesigned kernel closes its handles in batches handed over
    /// by `take_batch` (dropped with no lock held): every handle comes out exactly once,
    /// in slot order, and taking them never allocates.
    #[test]
    fn take_batch_hands_over_every_handle_without_allocating() {
        use crate::arch::host_alloc::{allocations_during, with_heap_budget};
        let mut table = HandleTable::new(SALT);
        let values: Vec<u32> = (0..100u64).map(|i| table.insert(i, READ).unwrap()).collect();
        for &value in values.iter().step_by(3) {
            table.remove(value).unwrap();
        }
        let left = table.len();
        let mut seen = Vec::with_capacity(left);
        let mut cursor = 0;
        let mut batches = 0;
        loop {
            let mut batch: [Option<Handle<u64>>; 8] = [const { None }; 8];
            let mut taken = 0;
            let allocations =
                with_heap_budget(0, || allocations_during(|| taken = table.take_batch(&mut cursor, &mut batch)));
            assert_eq!(allocations, 0);
            assert_eq!(batch.iter().filter(|h| h.is_some()).count(), taken);
            if taken == 0 {
                break;
            }
            batches += 1;
            seen.extend(batch.iter().flatten().map(|h| h.object));
        }
        assert!(table.is_empty());
        assert_eq!(batches, left.div_ceil(8));
        let want: Vec<u64> = (0..100u64).filter(|i| i % 3 != 0).collect();
        assert_eq!(seen, want);
        // The old values are stale, like closed ones.
        assert_eq!(table.get(values[1]).err(), Some(ZxError::BadHandle));
    }
}
