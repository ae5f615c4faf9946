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
    ///
    /// Inline fast path: an index whose chunk already exists is one store and two
    /// counts; anything else (a new chunk, the sparse part) goes out of line.
    #[inline]
    pub fn insert(&mut self, index: u64, frame: PhysAddr) -> Option<PhysAddr> {
        debug_assert!(frame.0 != EMPTY, "PageList: {frame} is not a frame address");
        if index < DENSE_PAGES {
            let (chunk, slot) = split(index);
            if let Some(Some(chunk)) = self.dense.get_mut(chunk)
                && let Some(entry) = chunk.frames.get_mut(slot)
            {
                let old = core::mem::replace(entry, frame.0);
                if old != EMPTY {
                    return Some(PhysAddr(old));
                }
                chunk.used += 1;
                self.len += 1;
                return None;
            }
        }
        self.insert_slow(index, frame)
    }

    /// The frame at `index`, or, when there is none, the frame `make` returns, put
    /// there. The flag is true when the frame is new. An error from `make` leaves the
    /// list unchanged. One lookup on the fast path (an index whose chunk exists).
    #[inline]
    pub fn get_or_insert_with<E>(
        &mut self,
        index: u64,
        make: impl FnOnce() -> Result<PhysAddr, E>,
    ) -> Result<(PhysAddr, bool), E> {
        if index < DENSE_PAGES {
            let (chunk, slot) = split(index);
            if let Some(Some(chunk)) = self.dense.get_mut(chunk)
                && let Some(entry) = chunk.frames.get_mut(slot)
            {
                if *entry != EMPTY {
                    return Ok((PhysAddr(*entry), false));
                }
                let frame = make()?;
                debug_assert!(frame.0 != EMPTY, "PageList: {frame} is not a frame address");
                *entry = frame.0;
                chunk.used += 1;
                self.len += 1;
                return Ok((frame, true));
            }
        }
        if let Some(frame) = self.get(index) {
            return Ok((frame, false));
        }
        let frame = make()?;
        self.insert_slow(index, frame);
        Ok((frame, true))
    }

    /// [`Self::insert`] into the sparse part or into a chunk that does not exist yet.
    #[inline(never)]
    fn insert_slow(&mut self, index: u64, frame: PhysAddr) -> Option<PhysAddr> {
        let old = if index >= DENSE_PAGES {
            self.sparse.insert(index, frame)
        } else {
            let (chunk, slot) = split(index);
            if self.dense.len() <= chunk {
                self.dense.resize_with(chunk + 1, || None);
            }
            let chunk =
                self.dense[chunk].get_or_insert_with(|| Box::new(Chunk { used: 0, frames: [EMPTY; CHUNK_PAGES] }));
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

    /// Removes and returns the committed page with the lowest index in `[first, last]`
    /// (inclusive, so the last possible index can be named), or `None` when there is
    /// none. Never allocates: callers that give up a range of pages call it until it
    /// returns `None`, starting each call one past the index it returned last, so the
    /// whole range is scanned once.
    pub fn remove_first_in(&mut self, first: u64, last: u64) -> Option<(u64, PhysAddr)> {
        if first > last {
            return None;
        }
        if first < DENSE_PAGES {
            let dense_last = last.min(DENSE_PAGES - 1);
            let (first_chunk, first_slot) = split(first);
            let (last_chunk, last_slot) = split(dense_last);
            let chunks = self.dense.len().min(last_chunk + 1);
            for c in first_chunk..chunks {
                let Some(chunk) = self.dense[c].as_ref() else { continue };
                let lo = if c == first_chunk { first_slot } else { 0 };
                let hi = if c == last_chunk { last_slot } else { CHUNK_PAGES - 1 };
                if let Some(slot) = (lo..=hi).find(|&slot| chunk.frames[slot] != EMPTY) {
                    let index = (c * CHUNK_PAGES + slot) as u64;
                    return self.remove(index).map(|frame| (index, frame));
                }
            }
        }
        if last < DENSE_PAGES {
            return None;
        }
        let index = *self.sparse.range(first.max(DENSE_PAGES)..=last).next()?.0;
        self.remove(index).map(|frame| (index, frame))
    }

    /// Consumes the list and yields every committed page, in index order. Gives each
    /// chunk back as it goes and never allocates, so a VMO can be destroyed when the
    /// heap is exhausted.
    pub fn into_frames(self) -> impl Iterator<Item = (u64, PhysAddr)> {
        let PageList { dense, sparse, .. } = self;
        let dense = dense.into_iter().enumerate().flat_map(|(c, chunk)| {
            let base = (c * CHUNK_PAGES) as u64;
            chunk.into_iter().flat_map(move |chunk| {
                (0..CHUNK_PAGES).filter_map(move |slot| {
                    let entry = chunk.frames[slot];
                    (entry != EMPTY).then_some((base + slot as u64, PhysAddr(entry)))
                })
            })
        });
        dense.chain(sparse)
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

    /// Every page `remove_first_in` yields for `[first, last]`, called as callers do.
    fn drain_in(list: &mut PageList, first: u64, last: u64) -> Vec<(u64, PhysAddr)> {
        let mut taken = Vec::new();
        let mut from = first;
        while let Some((index, frame)) = list.remove_first_in(from, last) {
            assert!(index >= from && index <= last);
            taken.push((index, frame));
            match index.checked_add(1) {
                Some(next) => from = next,
                None => break,
            }
        }
        taken
    }

    #[test]
    fn remove_first_in_drains_ranges_in_order() {
        let mut list = PageList::new();
        for i in 0..10u64 {
            list.insert(i, pa(i));
        }
        let middle = drain_in(&mut list, 2, 4);
        assert_eq!(middle, vec![(2, pa(2)), (3, pa(3)), (4, pa(4))]);
        assert_eq!(list.len(), 7);
        assert_eq!(list.remove_first_in(2, 4), None);
        assert_eq!(list.remove_first_in(9, 3), None, "a backwards range is empty");
        let tail = drain_in(&mut list, 8, u64::MAX);
        assert_eq!(tail, vec![(8, pa(8)), (9, pa(9))]);
        assert_eq!(list.iter().map(|(i, _)| i).collect::<Vec<_>>(), vec![0, 1, 5, 6, 7]);
        assert_eq!(list.into_frames().count(), 5);
    }

    #[test]
    fn into_frames_yields_dense_then_sparse_in_order() {
        let mut list = PageList::new();
        let indices = [0, 127, 128, 1000, DENSE_PAGES - 1, DENSE_PAGES, u64::MAX];
        for &i in indices.iter().rev() {
            list.insert(i, pa(i & 0xffff));
        }
        let frames: Vec<(u64, PhysAddr)> = list.into_frames().collect();
        assert_eq!(frames, indices.iter().map(|&i| (i, pa(i & 0xffff))).collect::<Vec<_>>());
        assert_eq!(PageList::new().into_frames().count(), 0);
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
        let tail = drain_in(&mut list, DENSE_PAGES - 1, u64::MAX);
        assert_eq!(
            tail.iter().map(|&(i, _)| i).collect::<Vec<_>>(),
            vec![DENSE_PAGES - 1, DENSE_PAGES, DENSE_PAGES + 5, u64::MAX - 1]
        );
        assert_eq!(list.len(), 4);
    }

    #[test]
    fn get_or_insert_with_makes_only_missing_frames() {
        let mut list = PageList::new();
        for index in [5u64, 6, 300, DENSE_PAGES + 9] {
            assert_eq!(list.get_or_insert_with(index, || Ok::<_, ()>(pa(index))), Ok((pa(index), true)));
            assert_eq!(
                list.get_or_insert_with(index, || -> Result<PhysAddr, ()> { panic!("made twice") }),
                Ok((pa(index), false))
            );
        }
        assert_eq!(list.len(), 4);
        // A failure inserts nothing, in an existing chunk and in a missing one.
        assert_eq!(list.get_or_insert_with(7, || Err::<PhysAddr, _>("full")), Err("full"));
        assert_eq!(list.get_or_insert_with(1000, || Err::<PhysAddr, _>("full")), Err("full"));
        assert_eq!(list.get(7), None);
        assert_eq!(list.len(), 4);
        assert_eq!(list.into_frames().map(|(i, _)| i).collect::<Vec<_>>(), vec![5, 6, 300, DENSE_PAGES + 9]);
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
        assert_eq!(list.remove_first_in(0, u64::MAX), Some((3, PhysAddr(0))));
        assert_eq!(list.len(), 0);
    }
}
