//! The page list of one paged VMO: which page indices hold a physical frame.
//!
//! A VMO can be up to 2^64 − 128 KiB long, but the pages in use are nearly always near
//! its start, and the hot path (a write or fault on a page the VMO already owns) is one
//! lookup. So the list has two parts:
//! - the first `DENSE_PAGES` page indices live in a directory of fixed-size chunks,
//!   indexed directly: a lookup is two loads, never a search, never an allocation;
//!   a chunk is allocated when its first page is committed and freed with its last;
//! - page indices beyond that (sparse by nature) live in an ordered map.
//!
//! Whether a frame is shared with other VMOs is not stored here but in the VMO store's
//! frame table, because sharing is a property of the frame, not of one VMO's view of it.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::mm::PhysAddr;

/// Pages per chunk of the directory (1 KiB of entries).
const CHUNK_PAGES: usize = 128;
/// Page indices below this are kept in the directory (1 GiB of VMO); the directory
/// itself is then at most `DENSE_PAGES / CHUNK_PAGES` pointers (16 KiB).
const DENSE_PAGES: u64 = 1 << 18;
/// An empty entry. Frames are page-aligned, so no frame has this address.
const EMPTY: u64 = u64::MAX;

/// `CHUNK_PAGES` consecutive entries and how many of them hold a frame.
#[derive(Debug)]
struct Chunk {
    used: usize,
    frames: [u64; CHUNK_PAGES],
}

/// Sparse map from page index (offset / PAGE_SIZE) to the frame holding that page.
#[derive(Debug, Default)]
pub struct PageList {
    /// Chunk `c` holds indices `c * CHUNK_PAGES ..`; grown only as far as needed.
    dense: Vec<Option<Box<Chunk>>>,
    /// Indices from `DENSE_PAGES` on.
    sparse: BTreeMap<u64, PhysAddr>,
    len: u64,
}

/// Chunk number and slot of a dense index.
fn split(index: u64) -> (usize, usize) {
    ((index / CHUNK_PAGES as u64) as usize, (index % CHUNK_PAGES as u64) as usize)
}

impl PageList {
    /// An empty list: every page reads as zero.
    pub const fn new() -> Self {
        PageList { dense: Vec::new(), sparse: BTreeMap::new(), len: 0 }
    }

    /// The frame at `index`, if one is committed there.
    #[inline]
    pub fn get(&self, index: u64) -> Option<PhysAddr> {
        if index >= DENSE_PAGES {
            return self.sparse.get(&index).copied();
        }
        let (chunk, slot) = split(index);
        let entry = *self.dense.get(chunk)?.as_ref()?.frames.get(slot)?;
        (entry != EMPTY).then_some(PhysAddr(entry))
    }

    /// Puts `frame` (page-aligned) at `index` and returns the frame it replaces, if any.
    pub fn insert(&mut self, index: u64, frame: PhysAddr) -> Option<PhysAddr> {
        debug_assert!(frame.0 != EMPTY, "PageList: {frame} is not a frame address");
        let old = if index >= DENSE_PAGES {
            self.sparse.insert(index, frame)
        } else {
            let (chunk, slot) = split(index);
            if self.dense.len() <= chunk {
                self.dense.resize_with(chunk + 1, || None);
            }
            let chunk = self.dense[chunk]
                .get_or_insert_with(|| Box::new(Chunk { used: 0, frames: [EMPTY; CHUNK_PAGES] }));
            let old = core::mem::replace(&mut chunk.frames[slot], frame.0);
            if old == EMPTY {
                chunk.used += 1;
                None
            } else {
                Some(PhysAddr(old))
            }
        };
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Takes the frame at `index` out of the list.
    pub fn remove(&mut self, index: u64) -> Option<PhysAddr> {
        let old = if index >= DENSE_PAGES {
            self.sparse.remove(&index)
        } else {
            let (chunk_index, slot) = split(index);
            let entry = self.dense.get_mut(chunk_index)?;
            let chunk = entry.as_mut()?;
            let old = core::mem::replace(&mut chunk.frames[slot], EMPTY);
            if old == EMPTY {
                return None;
            }
            chunk.used -= 1;
            if chunk.used == 0 {
                *entry = None;
            }
            Some(PhysAddr(old))
        };
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Number of pages that hold a frame.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when no page holds a frame.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The committed pages with `first <= index < end`, in index order. An empty or
    /// backwards range yields nothing (it never panics).
    pub fn range(&self, first: u64, end: u64) -> impl Iterator<Item = (u64, PhysAddr)> + '_ {
        let end = end.max(first);
        let dense_end = end.min(DENSE_PAGES);
        let dense_first = first.min(dense_end);
        let chunks = if dense_first < dense_end {
            let (lo, _) = split(dense_first);
            let hi = (split(dense_end - 1).0 + 1).min(self.dense.len());
            lo..hi.max(lo)
        } else {
            0..0
        };
        let dense = chunks.flat_map(move |c| {
            let base = (c * CHUNK_PAGES) as u64;
            self.dense[c]
                .iter()
                .flat_map(move |chunk| chunk.frames.iter().enumerate())
                .filter(move |&(slot, &entry)| {
                    let index = base + slot as u64;
                    entry != EMPTY && index >= dense_first && index < dense_end
                })
                .map(move |(slot, &entry)| (base + slot as u64, PhysAddr(entry)))
        });
        // `BTreeMap::range` panics when start > end; `end >= first` here.
        let sparse = self.sparse.range(first.max(DENSE_PAGES)..end.max(DENSE_PAGES));
        dense.chain(sparse.map(|(&index, &frame)| (index, frame)))
    }

    /// Every committed page, in index order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, PhysAddr)> + '_ {
        self.range(0, u64::MAX).chain(self.sparse.get(&u64::MAX).map(|&frame| (u64::MAX, frame)))
    }

    /// Removes and returns the committed pages with `first <= index < end`.
    pub fn take_range(&mut self, first: u64, end: u64) -> Vec<(u64, PhysAddr)> {
        let taken: Vec<(u64, PhysAddr)> = self.range(first, end).collect();
        for &(index, _) in &taken {
            self.remove(index);
        }
        taken
    }

    /// Removes and returns every committed page with `index >= first` (a shrink).
    pub fn take_from(&mut self, first: u64) -> Vec<(u64, PhysAddr)> {
        let mut taken = self.take_range(first, DENSE_PAGES.max(first));
        let tail = self.sparse.split_off(&first.max(DENSE_PAGES));
        self.len -= tail.len() as u64;
        taken.extend(tail);
        taken
    }

    /// Removes and returns every committed page.
    pub fn take_all(&mut self) -> Vec<(u64, PhysAddr)> {
        let mut taken = Vec::with_capacity(self.len as usize);
        for (c, chunk) in core::mem::take(&mut self.dense).into_iter().enumerate() {
            let Some(chunk) = chunk else { continue };
            let base = (c * CHUNK_PAGES) as u64;
            for (slot, &entry) in chunk.frames.iter().enumerate() {
                if entry != EMPTY {
                    taken.push((base + slot as u64, PhysAddr(entry)));
                }
            }
        }
        taken.extend(core::mem::take(&mut self.sparse));
        self.len = 0;
        taken
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

    #[test]
    fn dense_and_sparse_parts_meet_in_order() {
        let mut list = PageList::new();
        let indices = [0, 1, 127, 128, DENSE_PAGES - 1, DENSE_PAGES, DENSE_PAGES + 5, u64::MAX - 1];
        for &i in indices.iter().rev() {
            assert_eq!(list.insert(i, pa(i & 0xffff)), None);
        }
        assert_eq!(list.len(), indices.len() as u64);
        assert_eq!(list.iter().map(|(i, _)| i).collect::<Vec<_>>(), indices.to_vec());
        for &i in &indices {
            assert_eq!(list.get(i), Some(pa(i & 0xffff)), "index {i}");
        }
        assert_eq!(list.get(2), None);
        assert_eq!(list.get(DENSE_PAGES + 4), None);
        assert_eq!(
            list.range(127, DENSE_PAGES + 1).map(|(i, _)| i).collect::<Vec<_>>(),
            vec![127, 128, DENSE_PAGES - 1, DENSE_PAGES]
        );
        let tail = list.take_from(DENSE_PAGES - 1);
        assert_eq!(
            tail.iter().map(|&(i, _)| i).collect::<Vec<_>>(),
            vec![DENSE_PAGES - 1, DENSE_PAGES, DENSE_PAGES + 5, u64::MAX - 1]
        );
        assert_eq!(list.len(), 4);
    }

    #[test]
    fn a_chunk_goes_with_its_last_page() {
        let mut list = PageList::new();
        list.insert(130, pa(1));
        list.insert(131, pa(2));
        assert!(list.dense[1].is_some());
        assert_eq!(list.remove(130), Some(pa(1)));
        assert!(list.dense[1].is_some());
        assert_eq!(list.remove(131), Some(pa(2)));
        assert!(list.dense[1].is_none(), "an empty chunk is freed");
        assert_eq!(list.remove(131), None);
        assert_eq!(list.remove(5_000_000), None);
        assert!(list.is_empty());
    }

    #[test]
    fn the_frame_at_address_zero_is_a_frame() {
        let mut list = PageList::new();
        list.insert(3, PhysAddr(0));
        assert_eq!(list.get(3), Some(PhysAddr(0)));
        assert_eq!(list.take_all(), vec![(3, PhysAddr(0))]);
        assert_eq!(list.len(), 0);
    }
}
