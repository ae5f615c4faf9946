//! The page list of one paged VMO: which page indices hold a physical frame.
//!
//! A VMO can be up to 2^64 − 128 KiB long but usually has few pages committed, so the
//! list is sparse: an ordered map from page index to the frame's physical address.
//! Lookups are O(log n) in committed pages and never allocate, which keeps the hot
//! path (a write to a page the VMO already owns) free of heap traffic. Whether a
//! frame is shared with other VMOs is not stored here but in the VMO store's frame
//! table, because sharing is a property of the frame, not of one VMO's view of it.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::mm::PhysAddr;

/// Sparse map from page index (offset / PAGE_SIZE) to the frame holding that page.
#[derive(Debug, Default)]
pub struct PageList {
    pages: BTreeMap<u64, PhysAddr>,
}

impl PageList {
    /// An empty list: every page reads as zero.
    pub const fn new() -> Self {
        PageList {
            pages: BTreeMap::new(),
        }
    }

    /// The frame at `index`, if one is committed there.
    pub fn get(&self, index: u64) -> Option<PhysAddr> {
        self.pages.get(&index).copied()
    }

    /// Puts `frame` at `index` and returns the frame it replaces, if any.
    pub fn insert(&mut self, index: u64, frame: PhysAddr) -> Option<PhysAddr> {
        self.pages.insert(index, frame)
    }

    /// Takes the frame at `index` out of the list.
    pub fn remove(&mut self, index: u64) -> Option<PhysAddr> {
        self.pages.remove(&index)
    }

    /// Number of pages that hold a frame.
    pub fn len(&self) -> u64 {
        self.pages.len() as u64
    }

    /// True when no page holds a frame.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// The committed pages with `first <= index < end`, in index order. An empty or
    /// backwards range yields nothing (it never panics).
    pub fn range(&self, first: u64, end: u64) -> impl Iterator<Item = (u64, PhysAddr)> + '_ {
        // `BTreeMap::range` panics when start > end; clamp so the range is empty instead.
        self.pages
            .range(first..end.max(first))
            .map(|(&index, &frame)| (index, frame))
    }

    /// Every committed page, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, PhysAddr)> + '_ {
        self.pages.iter().map(|(&index, &frame)| (index, frame))
    }

    /// Removes and returns the committed pages with `first <= index < end`.
    pub fn take_range(&mut self, first: u64, end: u64) -> Vec<(u64, PhysAddr)> {
        let taken: Vec<(u64, PhysAddr)> = self.range(first, end).collect();
        for &(index, _) in &taken {
            self.pages.remove(&index);
        }
        taken
    }

    /// Removes and returns every committed page with `index >= first` (a shrink).
    /// O(log n) to split plus the pages returned.
    pub fn take_from(&mut self, first: u64) -> Vec<(u64, PhysAddr)> {
        let tail = self.pages.split_off(&first);
        tail.into_iter().collect()
    }

    /// Removes and returns every committed page.
    pub fn take_all(&mut self) -> Vec<(u64, PhysAddr)> {
        core::mem::take(&mut self.pages).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn pa(n: u64) -> PhysAddr {
        PhysAddr(n * 0x1000)
    }

    #[test]
    fn insert_get_remove() {
        let mut list = PageList::new();
        assert!(list.is_empty());
        assert_eq!(list.insert(5, pa(1)), None);
        assert_eq!(list.insert(5, pa(2)), Some(pa(1)));
        assert_eq!(list.get(5), Some(pa(2)));
        assert_eq!(list.get(4), None);
        assert_eq!(list.len(), 1);
        assert_eq!(list.remove(5), Some(pa(2)));
        assert_eq!(list.remove(5), None);
        assert!(list.is_empty());
    }

    #[test]
    fn ranges_are_half_open_and_never_panic() {
        let mut list = PageList::new();
        for i in [0u64, 3, 4, 9, u64::MAX] {
            list.insert(i, pa(i & 0xff));
        }
        let indices: Vec<u64> = list.range(3, 9).map(|(i, _)| i).collect();
        assert_eq!(indices, vec![3, 4]);
        assert_eq!(list.range(9, 3).count(), 0);
        assert_eq!(list.range(4, 4).count(), 0);
        assert_eq!(list.range(10, u64::MAX).count(), 0);
        assert_eq!(list.iter().count(), 5);
    }

    #[test]
    fn take_range_and_take_from() {
        let mut list = PageList::new();
        for i in 0..10u64 {
            list.insert(i, pa(i));
        }
        let middle = list.take_range(2, 5);
        assert_eq!(middle, vec![(2, pa(2)), (3, pa(3)), (4, pa(4))]);
        assert_eq!(list.len(), 7);
        let tail = list.take_from(8);
        assert_eq!(tail, vec![(8, pa(8)), (9, pa(9))]);
        assert_eq!(
            list.iter().map(|(i, _)| i).collect::<Vec<_>>(),
            vec![0, 1, 5, 6, 7]
        );
        assert_eq!(list.take_all().len(), 5);
        assert!(list.is_empty());
    }
}
