//! The physical frame allocator: which 4 KiB pages of RAM are free, over a buddy system
//! with a cache of single pages in front of it.
//!
//! The buddy allocator (`buddy_system_allocator::FrameAllocator`) counts in page frame
//! numbers and only hands out power-of-two blocks aligned to their size. This wrapper
//! speaks physical addresses, trims every block to exactly the pages asked for (the tail
//! goes straight back), keeps its own byte accounting, remembers which ranges are RAM
//! (so `zx_vmo_create_physical` can refuse them), and never panics: exhaustion and
//! impossible requests are `NoMemory`, a bad free is logged and ignored.
//!
//! Nearly every request is one page (a VMO commit, a page table), and each buddy
//! operation is a few ordered-set inserts and removes. So single pages go through a
//! stack of free frame numbers (O(1) both ways; its capacity is reserved once, when the
//! first RAM is added, so it never allocates afterwards): it is refilled with a whole
//! block of [`REFILL_PAGES`] pages at a time and fed by [`FrameAllocator::free`].
//! Cached frames are free frames: they count in `free_bytes`, and a contiguous request
//! that the buddy system cannot meet first gives every cached frame back (so buddies
//! merge again) and retries.

use alloc::vec::Vec;

use buddy_system_allocator::FrameAllocator as BuddyFrames;

use crate::abi::{PAGE_SHIFT, PAGE_SIZE};
use crate::error::{ZxError, ZxResult};
use crate::mm::addr::{PhysAddr, page_ceil};

/// Number of block sizes of the buddy allocator: its largest block is 2^(ORDER-1) pages.
const BUDDY_ORDER: usize = 33;

/// The largest run of pages one request can get: 2^32 pages, 16 TiB.
pub const MAX_CONTIGUOUS_PAGES: usize = 1 << (BUDDY_ORDER - 1);

/// Single free frames the cache can hold (4 KiB of frame numbers, 2 MiB of pages).
const CACHE_CAPACITY: usize = 512;

/// Pages taken from the buddy system at once when the cache runs dry: one aligned block,
/// so consecutive single-page allocations are physically close.
pub const REFILL_PAGES: usize = 256;

/// Frames a full cache gives back to the buddy system on a free (half of it, so that
/// alternating frees and allocations at the boundary do not spill on every call).
const SPILL_PAGES: usize = CACHE_CAPACITY / 2;

/// A physical range `[start, end)` in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Range {
    start: u64,
    end: u64,
}

impl Range {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start < end && start < self.end
    }

    fn contains(&self, start: u64, end: u64) -> bool {
        self.start <= start && end <= self.end
    }
}

/// The log line of a free that cannot be right (out of line: the common path saves no
/// registers for the formatting).
#[cold]
#[inline(never)]
fn bad_free(pa: PhysAddr, pages: usize) {
    log::error!("frame allocator: bad free of {pages} page(s) at {pa}; ignored");
}

/// Allocator of physical page frames.
///
/// All addresses are page aligned. A run allocated with [`alloc_contiguous`] may be freed
/// in any page-aligned pieces, because every allocation is trimmed to its exact size.
///
/// [`alloc_contiguous`]: FrameAllocator::alloc_contiguous
pub struct FrameAllocator {
    buddy: BuddyFrames<BUDDY_ORDER>,
    /// Ranges handed to the allocator, as given (not rounded): the RAM it manages.
    usable: Vec<Range>,
    /// The index in `usable` of the range the last free fell in: the next free tries it
    /// first (a hint, checked before it is used).
    last_usable: usize,
    /// RAM that is never allocated (kernel image, initrd, device tree, firmware).
    reserved: Vec<Range>,
    total_pages: u64,
    /// Free pages, the cached ones included.
    free_pages: u64,
    /// Frame numbers of free single pages that the buddy system does not hold; the
    /// last one is handed out first. Never grows past the capacity reserved in
    /// [`add_range`](Self::add_range) (none, if that reservation failed: then every
    /// page goes straight to and from the buddy system).
    cache: Vec<usize>,
}

impl Default for FrameAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameAllocator {
    /// An allocator with no memory; add RAM with [`add_range`](Self::add_range).
    pub const fn new() -> Self {
        FrameAllocator {
            buddy: BuddyFrames::new(),
            usable: Vec::new(),
            last_usable: 0,
            reserved: Vec::new(),
            total_pages: 0,
            free_pages: 0,
            cache: Vec::new(),
        }
    }

    /// Gives the pages wholly inside `[start, end)` to the allocator.
    ///
    /// `start` is rounded up and `end` down to page boundaries; a range with no whole page
    /// is ignored. A range overlapping RAM already known (added or reserved) is refused
    /// with a log line, because adding a page twice would hand it out twice.
    pub fn add_range(&mut self, start: PhysAddr, end: PhysAddr) {
        let Some(first) = page_ceil(start.as_u64()) else {
            return;
        };
        let last = end.page_floor().as_u64();
        if first >= last {
            return;
        }
        if self.overlaps_known_ram(start.as_u64(), end.as_u64()) {
            log::warn!("frame allocator: RAM range {start}..{end} overlaps a known range; ignored");
            return;
        }
        let (Ok(first_frame), Ok(end_frame)) =
            (usize::try_from(first >> PAGE_SHIFT), usize::try_from(last >> PAGE_SHIFT))
        else {
            return;
        };
        if self.cache.capacity() == 0 {
            // Reserved once, here, so that the cache never allocates. Without it the
            // allocator still works, only slower.
            let _ = self.cache.try_reserve_exact(CACHE_CAPACITY);
        }
        self.buddy.add_frame(first_frame, end_frame);
        let pages = (last - first) >> PAGE_SHIFT;
        self.total_pages += pages;
        self.free_pages += pages;
        self.usable.push(Range { start: start.as_u64(), end: end.as_u64() });
    }

    /// Records `[start, end)` as RAM that is never allocated (the kernel image, the initrd,
    /// the device tree, firmware), so that [`contains_ram`](Self::contains_ram) covers it.
    pub fn add_reserved_ram(&mut self, start: PhysAddr, end: PhysAddr) {
        if start < end {
            self.reserved.push(Range { start: start.as_u64(), end: end.as_u64() });
        }
    }

    /// One free page, or `NoMemory`. The contents are whatever was there before.
    ///
    /// The fast path pops the cache; an empty cache is refilled with one block from the
    /// buddy system first.
    #[inline(always)]
    pub fn alloc(&mut self) -> ZxResult<PhysAddr> {
        let frame = match self.cache.pop() {
            Some(frame) => frame,
            None => self.refill_cache()?,
        };
        self.free_pages -= 1;
        Ok(PhysAddr((frame as u64) << PAGE_SHIFT))
    }

    /// Takes the largest block the buddy system has, up to [`REFILL_PAGES`] pages (and
    /// no more than the cache can take besides the one returned), returns its lowest
    /// frame and puts the rest in the (empty) cache, the next-lowest on top.
    /// `NoMemory` when no page is free.
    #[cold]
    fn refill_cache(&mut self) -> ZxResult<usize> {
        let room = self.cache.capacity() - self.cache.len();
        let mut block = REFILL_PAGES.min(room + 1).next_power_of_two();
        if block > room + 1 {
            block /= 2;
        }
        let first = loop {
            if let Some(first) = self.buddy.alloc(block) {
                break first;
            }
            if block == 1 {
                return Err(ZxError::NoMemory);
            }
            block /= 2;
        };
        // Within the reserved capacity: `block - 1 <= room`.
        self.cache.extend((first + 1..first + block).rev());
        Ok(first)
    }

    /// Gives every cached frame back to the buddy system, so that neighbours merge.
    fn drain_cache(&mut self) {
        while let Some(frame) = self.cache.pop() {
            self.buddy.dealloc(frame, 1);
        }
    }

    /// `pages` physically contiguous pages whose first page number is a multiple of
    /// `align_pages`.
    ///
    /// The buddy system finds a free block of `max(pages.next_power_of_two(), align_pages)`
    /// pages; the pages past `pages` are returned at once, so only `pages` are used.
    pub fn alloc_contiguous(&mut self, pages: usize, align_pages: usize) -> ZxResult<PhysAddr> {
        // 1. The request must make sense: at least one page, a power-of-two alignment.
        if pages == 0 || !align_pages.is_power_of_two() {
            return Err(ZxError::InvalidArgs);
        }
        // 2. Requests larger than the largest buddy block can never succeed (and
        //    `next_power_of_two` would overflow for the largest ones).
        if pages > MAX_CONTIGUOUS_PAGES || align_pages > MAX_CONTIGUOUS_PAGES {
            return Err(ZxError::NoMemory);
        }
        if pages as u64 > self.free_pages {
            return Err(ZxError::NoMemory);
        }
        if pages == 1 && align_pages == 1 {
            return self.alloc();
        }
        let block = pages.next_power_of_two().max(align_pages);
        // 3. The cache may hold the pages that would complete a block: give them back
        //    and try once more before failing.
        let first = match self.buddy.alloc(block) {
            Some(first) => first,
            None if !self.cache.is_empty() => {
                self.drain_cache();
                self.buddy.alloc(block).ok_or(ZxError::NoMemory)?
            }
            None => return Err(ZxError::NoMemory),
        };
        // The block is aligned to its size, so its tail splits into aligned pieces.
        self.release_frames(first + pages, first + block);
        self.free_pages -= pages as u64;
        Ok(PhysAddr((first as u64) << PAGE_SHIFT))
    }

    /// Returns one page from [`alloc`](Self::alloc) or [`alloc_contiguous`](Self::alloc_contiguous).
    ///
    /// The page goes to the cache; a full cache first gives half of itself back to the
    /// buddy system.
    pub fn free(&mut self, pa: PhysAddr) {
        let Some(frame) = self.checked_free_start(pa, 1) else { return };
        self.free_pages += 1;
        if self.cache.len() == self.cache.capacity() {
            self.free_past_full_cache(frame);
            return;
        }
        // Within the reserved capacity: this push never allocates.
        self.cache.push(frame);
    }

    /// The rest of [`Self::free`] when the cache is full: half of it goes back to the
    /// buddy system first. Out of line, so that the common free saves no registers
    /// for the buddy system's work.
    #[inline(never)]
    fn free_past_full_cache(&mut self, frame: usize) {
        if self.cache.is_empty() {
            // No cache at all (its reservation failed).
            self.buddy.dealloc(frame, 1);
            return;
        }
        let keep = self.cache.len().saturating_sub(SPILL_PAGES);
        for spilled in self.cache.drain(keep..) {
            self.buddy.dealloc(spilled, 1);
        }
        // Within the reserved capacity: this push never allocates.
        self.cache.push(frame);
    }

    /// Returns `pages` pages starting at `pa`, all previously allocated.
    ///
    /// A free that cannot be right (unaligned, outside the managed RAM, more pages than are
    /// allocated) is a kernel bug: it is logged and ignored rather than corrupting the
    /// free lists.
    pub fn free_contiguous(&mut self, pa: PhysAddr, pages: usize) {
        if let Some(first) = self.checked_free_start(pa, pages) {
            self.release_frames(first, first + pages);
            self.free_pages += pages as u64;
        }
    }

    /// The first frame number of a free of `pages` pages at `pa`, or `None` (after
    /// logging) when the free cannot be right: unaligned, outside the managed RAM, or
    /// more pages than are allocated.
    fn checked_free_start(&mut self, pa: PhysAddr, pages: usize) -> Option<usize> {
        let allocated = self.total_pages - self.free_pages;
        let end = (pages as u64).checked_mul(PAGE_SIZE).and_then(|bytes| pa.checked_add(bytes));
        let sane = pa.is_page_aligned()
            && pages > 0
            && pages as u64 <= allocated
            && end.is_some_and(|end| self.in_usable(pa.as_u64(), end.as_u64()));
        match (sane, usize::try_from(pa.as_u64() >> PAGE_SHIFT)) {
            (true, Ok(first)) => Some(first),
            _ => {
                bad_free(pa, pages);
                None
            }
        }
    }

    /// True when `[start, end)` lies in one usable range: the range of the last free
    /// first (frees mostly fall in the range the frame came from), then every range.
    #[inline]
    fn in_usable(&mut self, start: u64, end: u64) -> bool {
        if self.usable.get(self.last_usable).is_some_and(|r| r.contains(start, end)) {
            return true;
        }
        match self.usable.iter().position(|r| r.contains(start, end)) {
            Some(index) => {
                self.last_usable = index;
                true
            }
            None => false,
        }
    }

    /// Bytes of RAM the allocator manages, free or not.
    pub fn total_bytes(&self) -> u64 {
        self.total_pages << PAGE_SHIFT
    }

    /// Bytes of RAM free to allocate.
    pub fn free_bytes(&self) -> u64 {
        self.free_pages << PAGE_SHIFT
    }

    /// True when `[start, end)` overlaps RAM: any range ever added, usable or reserved.
    /// `zx_vmo_create_physical` refuses such ranges with `ACCESS_DENIED`.
    pub fn contains_ram(&self, start: PhysAddr, end: PhysAddr) -> bool {
        self.overlaps_known_ram(start.as_u64(), end.as_u64())
    }

    fn overlaps_known_ram(&self, start: u64, end: u64) -> bool {
        self.usable.iter().chain(self.reserved.iter()).any(|r| r.overlaps(start, end))
    }

    /// Gives frames `[first, end)` back to the buddy system as the largest aligned
    /// power-of-two pieces, the only shape it can take back.
    fn release_frames(&mut self, first: usize, end: usize) {
        let mut current = first;
        while current < end {
            let alignment = if current == 0 { MAX_CONTIGUOUS_PAGES } else { 1 << current.trailing_zeros() };
            let remaining = end - current;
            let fits = 1 << (usize::BITS - 1 - remaining.leading_zeros());
            let piece = alignment.min(fits).min(MAX_CONTIGUOUS_PAGES);
            self.buddy.dealloc(current, piece);
            current += piece;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    const PAGE: u64 = PAGE_SIZE;

    fn allocator_with(start: u64, end: u64) -> FrameAllocator {
        let mut frames = FrameAllocator::new();
        frames.add_range(PhysAddr(start), PhysAddr(end));
        frames
    }

    #[test]
    fn unaligned_range_is_rounded_inward() {
        let frames = allocator_with(0x4000_0123, 0x4000_5fff);
        // Whole pages: 0x4000_1000 .. 0x4000_5000.
        assert_eq!(frames.total_bytes(), 4 * PAGE);
        assert_eq!(frames.free_bytes(), 4 * PAGE);
    }

    #[test]
    fn empty_and_backwards_ranges_are_ignored() {
        let mut frames = FrameAllocator::new();
        frames.add_range(PhysAddr(0x1000), PhysAddr(0x1000));
        frames.add_range(PhysAddr(0x1001), PhysAddr(0x1fff));
        frames.add_range(PhysAddr(0x9000), PhysAddr(0x2000));
        frames.add_range(PhysAddr(u64::MAX - 10), PhysAddr(u64::MAX));
        assert_eq!(frames.total_bytes(), 0);
        assert_eq!(frames.alloc(), Err(ZxError::NoMemory));
        assert!(!frames.contains_ram(PhysAddr(0), PhysAddr(u64::MAX)));
    }

    #[test]
    fn odd_sized_range_hands_out_every_page_once_then_no_memory() {
        // Frames 3..10: seven pages, not a power of two and not aligned to one.
        let mut frames = allocator_with(3 * PAGE, 10 * PAGE);
        let mut seen = BTreeSet::new();
        for _ in 0..7 {
            let pa = frames.alloc().unwrap();
            assert!(pa.is_page_aligned());
            assert!((3 * PAGE..10 * PAGE).contains(&pa.as_u64()));
            assert!(seen.insert(pa), "page {pa} handed out twice");
        }
        assert_eq!(frames.free_bytes(), 0);
        assert_eq!(frames.alloc(), Err(ZxError::NoMemory));
        assert_eq!(frames.alloc_contiguous(2, 1), Err(ZxError::NoMemory));
        for pa in &seen {
            frames.free(*pa);
        }
        assert_eq!(frames.free_bytes(), 7 * PAGE);
        // After freeing, buddies merged back: the aligned 4-page block 4..8 exists again.
        assert_eq!(frames.alloc_contiguous(4, 4), Ok(PhysAddr(4 * PAGE)));
    }

    #[test]
    fn a_freed_page_is_reused() {
        let mut frames = allocator_with(0x8000_0000, 0x8000_0000 + 2 * PAGE);
        let a = frames.alloc().unwrap();
        let b = frames.alloc().unwrap();
        assert_ne!(a, b);
        assert_eq!(frames.alloc(), Err(ZxError::NoMemory));
        frames.free(a);
        assert_eq!(frames.alloc(), Ok(a));
    }

    #[test]
    fn contiguous_allocations_are_aligned_and_trimmed_to_size() {
        let mut frames = allocator_with(0, 64 * PAGE);
        let pa = frames.alloc_contiguous(3, 8).unwrap();
        assert_eq!(pa.as_u64() % (8 * PAGE), 0);
        // Only three pages are used: the other five of the 8-page block came back.
        assert_eq!(frames.free_bytes(), 61 * PAGE);
        // Every other page is still allocatable, and none of them overlaps the run.
        let mut others = 0;
        while let Ok(page) = frames.alloc() {
            assert!(page.as_u64() < pa.as_u64() || page.as_u64() >= pa.as_u64() + 3 * PAGE);
            others += 1;
        }
        assert_eq!(others, 61);
        // Free the run in two pieces: accounting and merging still work.
        frames.free(pa);
        frames.free_contiguous(PhysAddr(pa.as_u64() + PAGE), 2);
        assert_eq!(frames.free_bytes(), 3 * PAGE);
    }

    #[test]
    fn whole_range_coalesces_back_into_one_block() {
        let mut frames = allocator_with(0x4000_0000, 0x4000_0000 + 16 * PAGE);
        let pages: std::vec::Vec<_> = (0..16).map(|_| frames.alloc().unwrap()).collect();
        for pa in pages.iter().rev() {
            frames.free(*pa);
        }
        assert_eq!(frames.alloc_contiguous(16, 16), Ok(PhysAddr(0x4000_0000)));
    }

    #[test]
    fn impossible_requests_fail_without_panicking() {
        let mut frames = allocator_with(0, 8 * PAGE);
        assert_eq!(frames.alloc_contiguous(0, 1), Err(ZxError::InvalidArgs));
        assert_eq!(frames.alloc_contiguous(1, 0), Err(ZxError::InvalidArgs));
        assert_eq!(frames.alloc_contiguous(1, 3), Err(ZxError::InvalidArgs));
        assert_eq!(frames.alloc_contiguous(9, 1), Err(ZxError::NoMemory));
        assert_eq!(frames.alloc_contiguous(usize::MAX, 1), Err(ZxError::NoMemory));
        assert_eq!(frames.alloc_contiguous(1, 1 << 63), Err(ZxError::NoMemory));
        assert_eq!(frames.alloc_contiguous(1, 16), Err(ZxError::NoMemory));
        assert_eq!(frames.free_bytes(), 8 * PAGE);
    }

    #[test]
    fn huge_range_is_split_into_maximal_blocks() {
        // 256 TiB starting at 0: larger than one buddy block (16 TiB).
        let mut frames = allocator_with(0, 1 << 48);
        assert_eq!(frames.total_bytes(), 1 << 48);
        let run = frames.alloc_contiguous(MAX_CONTIGUOUS_PAGES, 1).unwrap();
        assert_eq!(run.as_u64() % (1 << 44), 0);
        assert_eq!(frames.free_bytes(), (1 << 48) - (1 << 44));
        assert_eq!(frames.alloc_contiguous(MAX_CONTIGUOUS_PAGES + 1, 1), Err(ZxError::NoMemory));
        frames.free_contiguous(run, MAX_CONTIGUOUS_PAGES);
        assert_eq!(frames.free_bytes(), 1 << 48);
    }

    #[test]
    fn exhaustion_is_no_memory_and_every_page_comes_back() {
        // 700 pages: more than one refill block and more than the cache holds.
        const PAGES: u64 = 700;
        assert!(PAGES as usize > CACHE_CAPACITY);
        let mut frames = allocator_with(0x4000_0000, 0x4000_0000 + PAGES * PAGE);
        let mut seen = BTreeSet::new();
        while let Ok(pa) = frames.alloc() {
            assert!(seen.insert(pa), "page {pa} handed out twice");
        }
        assert_eq!(seen.len(), PAGES as usize);
        assert_eq!(frames.free_bytes(), 0);
        assert_eq!(frames.alloc(), Err(ZxError::NoMemory));
        assert_eq!(frames.alloc_contiguous(1, 1), Err(ZxError::NoMemory));
        assert_eq!(frames.alloc_contiguous(2, 1), Err(ZxError::NoMemory));
        // Freeing them all overflows the cache: half of it spills to the buddy
        // system, and the count stays exact all the way.
        for (freed, pa) in seen.iter().enumerate() {
            frames.free(*pa);
            assert_eq!(frames.free_bytes(), (freed as u64 + 1) * PAGE);
        }
        assert_eq!(frames.free_bytes(), PAGES * PAGE);
        assert_eq!(frames.total_bytes(), PAGES * PAGE);
        assert!(frames.cache.len() <= CACHE_CAPACITY);
    }

    #[test]
    fn contiguous_allocation_succeeds_while_the_cache_holds_the_pages() {
        // Exactly one refill block: after one single allocation the buddy system is
        // empty and the cache holds all the other pages.
        const PAGES: usize = REFILL_PAGES;
        let mut frames = allocator_with(0, PAGES as u64 * PAGE);
        let one = frames.alloc().unwrap();
        assert_eq!(frames.cache.len(), PAGES - 1);
        assert_eq!(frames.free_bytes(), (PAGES as u64 - 1) * PAGE);
        frames.free(one);
        assert_eq!(frames.free_bytes(), PAGES as u64 * PAGE);
        // Every page sits in the cache now; the whole range is still one block.
        assert_eq!(frames.alloc_contiguous(PAGES, PAGES), Ok(PhysAddr(0)));
        assert_eq!(frames.free_bytes(), 0);
        assert_eq!(frames.alloc(), Err(ZxError::NoMemory));
        frames.free_contiguous(PhysAddr(0), PAGES);
        assert_eq!(frames.free_bytes(), PAGES as u64 * PAGE);
    }

    #[test]
    fn contiguous_allocations_after_many_single_frees() {
        let mut frames = allocator_with(0x8000_0000, 0x8000_0000 + 1024 * PAGE);
        let pages: std::vec::Vec<_> = (0..1024).map(|_| frames.alloc().unwrap()).collect();
        // Free every other page first, then the rest: the cache fills and spills in
        // between, and the buddies must still merge into the whole range.
        for pa in pages.iter().step_by(2).chain(pages.iter().skip(1).step_by(2)) {
            frames.free(*pa);
        }
        assert_eq!(frames.free_bytes(), 1024 * PAGE);
        assert_eq!(frames.alloc_contiguous(1024, 1024), Ok(PhysAddr(0x8000_0000)));
        assert_eq!(frames.free_bytes(), 0);
    }

    #[test]
    fn single_pages_come_from_one_block_in_ascending_order() {
        let mut frames = allocator_with(0x4000_0000, 0x4000_0000 + 4 * REFILL_PAGES as u64 * PAGE);
        let first = frames.alloc().unwrap();
        assert_eq!(first.as_u64() % (REFILL_PAGES as u64 * PAGE), 0);
        for i in 1..REFILL_PAGES as u64 {
            assert_eq!(frames.alloc(), Ok(PhysAddr(first.as_u64() + i * PAGE)));
        }
    }

    #[test]
    fn without_a_cache_pages_go_straight_through_the_buddy_system() {
        let mut frames = allocator_with(0, 8 * PAGE);
        // As if the reservation in add_range had failed.
        frames.cache = Vec::new();
        let pages: std::vec::Vec<_> = (0..8).map(|_| frames.alloc().unwrap()).collect();
        assert_eq!(frames.alloc(), Err(ZxError::NoMemory));
        for pa in &pages {
            frames.free(*pa);
        }
        assert_eq!(frames.cache.capacity(), 0, "the cache never allocates");
        assert_eq!(frames.free_bytes(), 8 * PAGE);
        assert_eq!(frames.alloc_contiguous(8, 8), Ok(PhysAddr(0)));
    }

    #[test]
    fn bad_frees_are_ignored() {
        let mut frames = allocator_with(0x4000_0000, 0x4000_0000 + 4 * PAGE);
        let pa = frames.alloc().unwrap();
        frames.free(PhysAddr(pa.as_u64() + 1)); // unaligned
        frames.free(PhysAddr(0x1000)); // not RAM
        frames.free_contiguous(pa, 2); // more than is allocated
        assert_eq!(frames.free_bytes(), 3 * PAGE);
        frames.free(pa);
        assert_eq!(frames.free_bytes(), 4 * PAGE);
        frames.free(pa); // nothing is allocated any more
        assert_eq!(frames.free_bytes(), 4 * PAGE);
    }

    /// Frees alternating between two ranges (the last-range hint changing every time),
    /// and frees in the hole between them or straddling a range's end, which no hint
    /// may let through.
    #[test]
    fn frees_across_ranges_and_in_holes() {
        let mut frames = FrameAllocator::new();
        frames.add_range(PhysAddr(0x4000_0000), PhysAddr(0x4000_0000 + 4 * PAGE));
        frames.add_range(PhysAddr(0x5000_0000), PhysAddr(0x5000_0000 + 4 * PAGE));
        let pages: Vec<PhysAddr> = (0..8).map(|_| frames.alloc().unwrap()).collect();
        assert_eq!(frames.free_bytes(), 0);
        let (low, high): (Vec<_>, Vec<_>) = pages.iter().partition(|pa| pa.as_u64() < 0x5000_0000);
        assert_eq!((low.len(), high.len()), (4, 4));
        for (a, b) in low.iter().zip(&high).take(2) {
            frames.free(*a);
            frames.free(*b);
        }
        assert_eq!(frames.free_bytes(), 4 * PAGE);
        frames.free(PhysAddr(0x4000_0000 + 4 * PAGE)); // the hole just after the first range
        frames.free_contiguous(PhysAddr(0x5000_0000 + 3 * PAGE), 2); // past the second's end
        assert_eq!(frames.free_bytes(), 4 * PAGE);
        for pa in low[2..].iter().chain(&high[2..]) {
            frames.free(*pa);
        }
        assert_eq!(frames.free_bytes(), 8 * PAGE);
    }

    #[test]
    fn overlapping_ranges_are_not_added_twice() {
        let mut frames = allocator_with(0x4000_0000, 0x4001_0000);
        frames.add_range(PhysAddr(0x4000_8000), PhysAddr(0x4002_0000));
        assert_eq!(frames.total_bytes(), 0x1_0000);
        frames.add_range(PhysAddr(0x4001_0000), PhysAddr(0x4002_0000));
        assert_eq!(frames.total_bytes(), 0x2_0000);
    }

    #[test]
    fn contains_ram_covers_added_and_reserved_ranges() {
        let mut frames = allocator_with(0x4000_0800, 0x4010_0000);
        frames.add_reserved_ram(PhysAddr(0x4020_0000), PhysAddr(0x4040_0000));
        assert!(frames.contains_ram(PhysAddr(0x4000_0000), PhysAddr(0x4000_1000)));
        assert!(frames.contains_ram(PhysAddr(0x400f_f000), PhysAddr(0x5000_0000)));
        assert!(frames.contains_ram(PhysAddr(0x4030_0000), PhysAddr(0x4030_1000)));
        assert!(!frames.contains_ram(PhysAddr(0x4000_0000), PhysAddr(0x4000_0800)));
        assert!(!frames.contains_ram(PhysAddr(0x4010_0000), PhysAddr(0x4020_0000)));
        assert!(!frames.contains_ram(PhysAddr(0x0900_0000), PhysAddr(0x0900_1000)));
        // Reserved RAM is never handed out.
        assert_eq!(frames.total_bytes(), 0x4010_0000 - 0x4000_1000);
    }
}
