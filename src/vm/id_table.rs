//! A table of values named by 64-bit ids that are never reused, found in O(1): the id's
//! low [`SLOT_BITS`] bits name a slot and the rest is a serial number that grows with
//! every insertion, so an id whose value was removed names nothing, even after its slot
//! holds another value. The kernel keeps its address spaces here (the page-fault path
//! looks one up on every fault).

use alloc::vec::Vec;

/// Bits of an id that name its slot.
pub const SLOT_BITS: u32 = 20;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;

/// Values by id. Id 0 never names anything.
#[derive(Debug)]
pub struct IdTable<T> {
    slots: Vec<Option<(u64, T)>>,
    /// Slots without a value, reused last-freed first.
    free: Vec<u32>,
    /// The serial number of the last id handed out.
    serial: u64,
    len: usize,
}

impl<T> Default for IdTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> IdTable<T> {
    /// An empty table.
    pub const fn new() -> Self {
        IdTable { slots: Vec::new(), free: Vec::new(), serial: 0, len: 0 }
    }

    /// Stores `value` under a new id (never 0, never handed out before). Gives the value
    /// back when every one of the 2^20 slots is taken.
    pub fn insert(&mut self, value: T) -> Result<u64, T> {
        let slot = match self.free.pop() {
            Some(slot) => slot as usize,
            None if (self.slots.len() as u64) <= SLOT_MASK => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(value),
        };
        self.serial += 1;
        let id = (self.serial << SLOT_BITS) | slot as u64;
        self.slots[slot] = Some((id, value));
        self.len += 1;
        Ok(id)
    }

    /// The value named `id`, if it is still there.
    #[inline]
    pub fn get(&self, id: u64) -> Option<&T> {
        match self.slots.get((id & SLOT_MASK) as usize) {
            Some(Some((held, value))) if *held == id => Some(value),
            _ => None,
        }
    }

    /// Mutable [`get`](Self::get).
    #[inline]
    pub fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        match self.slots.get_mut((id & SLOT_MASK) as usize) {
            Some(Some((held, value))) if *held == id => Some(value),
            _ => None,
        }
    }

    /// Takes the value named `id` out; its id names nothing from now on.
    pub fn remove(&mut self, id: u64) -> Option<T> {
        let slot = (id & SLOT_MASK) as usize;
        match self.slots.get(slot) {
            Some(Some((held, _))) if *held == id => {}
            _ => return None,
        }
        let (_, value) = self.slots[slot].take()?;
        self.free.push(slot as u32);
        self.len -= 1;
        Some(value)
    }

    /// How many values the table holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every id and value, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &T)> + '_ {
        self.slots.iter().filter_map(|slot| slot.as_ref().map(|(id, value)| (*id, value)))
    }

    /// Every value, in slot order.
    pub fn values(&self) -> impl Iterator<Item = &T> + '_ {
        self.slots.iter().filter_map(|slot| slot.as_ref().map(|(_, value)| value))
    }

    /// Every value, mutable, in slot order.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        self.slots.iter_mut().filter_map(|slot| slot.as_mut().map(|(_, value)| value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn ids_are_never_reused_and_stale_ids_name_nothing() {
        let mut table = IdTable::new();
        let mut model: BTreeMap<u64, u32> = BTreeMap::new();
        let mut every_id = std::collections::BTreeSet::new();
        let mut removed = Vec::new();
        let mut rng = crate::test_rng::Rng(0x1234_5678_9abc_def1);
        for step in 0..5000u32 {
            let seed = rng.next_u64();
            if !seed.is_multiple_of(3) || model.is_empty() {
                let id = table.insert(step).unwrap();
                assert_ne!(id, 0);
                assert!(every_id.insert(id), "id {id:#x} handed out twice");
                model.insert(id, step);
            } else {
                let victim = *model.keys().nth((seed >> 8) as usize % model.len()).unwrap();
                assert_eq!(table.remove(victim), model.remove(&victim));
                assert_eq!(table.remove(victim), None, "removed twice");
                removed.push(victim);
            }
            assert_eq!(table.len(), model.len());
        }
        for (&id, &value) in &model {
            assert_eq!(table.get(id), Some(&value));
            *table.get_mut(id).unwrap() += 1;
        }
        for &id in &removed {
            assert_eq!(table.get(id), None, "stale id {id:#x} found a value");
            assert!(table.get_mut(id).is_none());
        }
        assert_eq!(table.get(0), None);
        let mut seen: Vec<(u64, u32)> = table.iter().map(|(id, &v)| (id, v)).collect();
        seen.sort();
        let expected: Vec<(u64, u32)> = model.iter().map(|(&id, &v)| (id, v + 1)).collect();
        assert_eq!(seen, expected);
        assert_eq!(table.values().count(), model.len());
        assert!(table.slots.len() < 5000, "freed slots are reused");
    }

    #[test]
    fn a_full_table_gives_the_value_back() {
        let mut table = IdTable::new();
        table.slots.resize_with(1 << SLOT_BITS, || Some((u64::MAX, 0u8)));
        assert_eq!(table.insert(7), Err(7));
        table.slots[5] = None;
        table.free.push(5);
        let id = table.insert(9).unwrap();
        assert_eq!(id & SLOT_MASK, 5);
        assert_eq!(table.get(id), Some(&9));
    }
}
