//! The page list of one paged VMO: which page indices hold a physical frame.
//!
//! A VMO can be up to 2^64 − 128 KiB long, but the pages in use are nearly always near
//! its start, and the hot path (a write or fault on a page the VMO already owns) is one
//! lookup. So the list has two parts:
//! - the first `DENSE_PAGES` page indices live in a directory of fixed-size chunks,
//!   indexed directly: a lookup is two loads, never a search, never an allocation;
//!   a chunk is allocated when its first page is committed and freed with its last;
//! - page indices beyond that (sparse by nature) live in a hash map keyed with a
//!   seeded hash ([`set_hash_seed`]), so a program cannot choose indices that collide.
//!
//! Every allocation is fallible (issue 13): [`PageList::insert`] and
//! [`PageList::reserve`] return NO_MEMORY with the list unchanged, and removing pages
//! ([`PageList::remove`], [`PageList::drain_range`], [`PageList::into_frames`]) never
//! allocates, so a VMO can always be shrunk, decommitted or destroyed.
//!
//! Whether a frame is shared with other VMOs is not stored here but in the VMO store's
//! frame table, because sharing is a property of the frame, not of one VMO's view of it.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::hash::{BuildHasher, Hasher};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::error::{ZxError, ZxResult};
use crate::mm::{PhysAddr, PhysMemory};

/// Pages per chunk of the directory (1 KiB of entries).
const CHUNK_PAGES: usize = 128;
/// Page indices below this are kept in the directory (1 GiB of VMO); the directory
/// itself is then at most `DENSE_PAGES / CHUNK_PAGES` pointers (16 KiB).
const DENSE_PAGES: u64 = 1 << 18;
/// An empty entry. Frames are page-aligned, so no frame has this address.
pub const EMPTY: u64 = u64::MAX;

/// `CHUNK_PAGES` consecutive entries and how many of them hold a frame.
#[derive(Clone, Debug)]
struct Chunk {
    used: usize,
    frames: [u64; CHUNK_PAGES],
}

/// A chunk on the heap: a box of a one-element array, made from a one-element boxed
/// slice because a box can be allocated fallibly only through a `Vec` (`Box::try_new`
/// is not stable). The array's length is in its type, so the box is one pointer (the
/// directory's entries are 8 bytes, not 16) and reaching the chunk tests no length.
type ChunkBox = Box<[Chunk; 1]>;

/// A chunk with no page.
const EMPTY_CHUNK: Chunk = Chunk { used: 0, frames: [EMPTY; CHUNK_PAGES] };

/// A new, empty chunk, or NO_MEMORY.
fn new_chunk() -> ZxResult<ChunkBox> {
    let mut one = Vec::new();
    one.try_reserve_exact(1).map_err(|_| ZxError::NoMemory)?;
    // Cloned from a constant: the 1 KiB is copied once, straight into the allocation
    // (a pushed literal was filled on the stack, then copied).
    one.extend_from_slice(core::slice::from_ref(&EMPTY_CHUNK));
    // Length equals capacity: no reallocation; and the length is 1, so the conversion
    // to the array's box (which checks it) cannot fail.
    one.into_boxed_slice().try_into().map_err(|_| ZxError::NoMemory)
}

/// The directory of a page list that holds only chunk 0, empty and ready for another
/// VMO: what [`SpareLists`] keeps.
#[derive(Debug)]
pub struct SpareList(Vec<Option<ChunkBox>>);

/// Most spare lists kept (about 2 KiB of heap each).
pub const SPARE_LISTS: usize = 8;

/// The page lists of small VMOs (pages in chunk 0 only), kept empty and ready for the
/// next VMO that commits its first page: Bonwick's object cache, which keeps an object
/// in its constructed state between uses. A small VMO's first commit then takes a
/// directory and a chunk that already read as empty, instead of two allocations and
/// 1 KiB of `EMPTY` entries written, and its destruction (which reads every entry to
/// free the frames anyway) clears what it read and keeps them, instead of two frees.
///
/// Why it is sound: a kept list is one this store made, emptied entry by entry while its
/// frames were handed back ([`PageList::drain_frames`]), so its chunk is exactly
/// [`EMPTY_CHUNK`]; it belongs to no VMO, and the kernel counts its heap blocks as free
/// heap (KMEM_STATS), as it does the heap's own small-block lists. At most
/// [`SPARE_LISTS`] are kept; more are freed.
#[derive(Debug)]
pub struct SpareLists {
    lists: [Vec<Option<ChunkBox>>; SPARE_LISTS],
    count: usize,
}

impl Default for SpareLists {
    fn default() -> Self {
        Self::new()
    }
}

impl SpareLists {
    /// None kept.
    pub const fn new() -> Self {
        SpareLists { lists: [const { Vec::new() }; SPARE_LISTS], count: 0 }
    }

    /// Lists kept now.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when none is kept.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The heap blocks the kept lists hold, as the layouts they were allocated with (a
    /// directory and a chunk each), so the kernel can count them as free heap.
    pub fn held_blocks(&self) -> impl Iterator<Item = Layout> + '_ {
        self.lists[..self.count].iter().flat_map(|directory| {
            [
                Layout::array::<Option<ChunkBox>>(directory.capacity()).unwrap_or(Layout::new::<u8>()),
                Layout::new::<Chunk>(),
            ]
        })
    }

    /// Keeps `list` if there is room (frees it otherwise, out of line: the keeping is a
    /// few stores that inline into the VMO's destruction).
    #[inline]
    pub fn put(&mut self, list: SpareList) {
        debug_assert!(
            matches!(&list.0[..], [Some(chunk)] if chunk[0].used == 0 && chunk[0].frames.iter().all(|&e| e == EMPTY))
        );
        if self.count < SPARE_LISTS {
            // Slots at and above `count` hold empty directories with no capacity (`take`
            // leaves `Vec::new()`): the one replaced owns nothing.
            core::mem::forget(core::mem::replace(&mut self.lists[self.count], list.0));
            self.count += 1;
        } else {
            Self::free(list);
        }
    }

    /// A list [`SpareLists::put`] has no room for.
    #[cold]
    #[inline(never)]
    fn free(list: SpareList) {
        drop(list);
    }

    /// A kept list's directory, if any.
    fn take(&mut self) -> Option<Vec<Option<ChunkBox>>> {
        self.count = self.count.checked_sub(1)?;
        Some(core::mem::take(&mut self.lists[self.count]))
    }
}

/// The seed of [`IndexHashing`], mixed into every hash of a page index or frame number.
static HASH_SEED: AtomicU64 = AtomicU64::new(0x243f_6a88_85a3_08d3);

/// Sets the seed of the hash that places sparse page indices (and the VMO store's
/// frame numbers). The kernel calls it once at boot, with a value a program cannot
/// predict, before any VMO exists: changing it later would misplace every entry.
pub fn set_hash_seed(seed: u64) {
    HASH_SEED.store(seed, Ordering::Relaxed);
}

/// Builds [`IndexHasher`]s seeded with the global seed.
#[derive(Clone, Copy, Debug, Default)]
pub struct IndexHashing;

impl BuildHasher for IndexHashing {
    type Hasher = IndexHasher;
    fn build_hasher(&self) -> IndexHasher {
        IndexHasher { state: HASH_SEED.load(Ordering::Relaxed) }
    }
}

/// A hash for `u64` keys: two rounds of a folded 128-bit multiply with the seed mixed
/// in, so every input bit reaches the low bits (the bucket) and the high bits (the tag).
#[derive(Clone, Copy, Debug)]
pub struct IndexHasher {
    state: u64,
}

/// `a * b` as 128 bits, the halves XORed together.
const fn folded_multiply(a: u64, b: u64) -> u64 {
    let product = (a as u128) * (b as u128);
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for IndexHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        let seed = self.state;
        let first = folded_multiply(value ^ seed, 0x9e37_79b9_7f4a_7c15);
        self.state = folded_multiply(first ^ seed.rotate_left(29), 0xbf58_476d_1ce4_e5b9);
    }

    fn finish(&self) -> u64 {
        self.state
    }
}

/// A hash map with the seeded index hash.
pub type IndexMap<V> = hashbrown::HashMap<u64, V, IndexHashing>;

/// Sparse map from page index (offset / PAGE_SIZE) to the frame holding that page.
#[derive(Debug, Default)]
pub struct PageList {
    /// Chunk `c` holds indices `c * CHUNK_PAGES ..`; grown only as far as needed.
    dense: Vec<Option<ChunkBox>>,
    /// Indices from `DENSE_PAGES` on.
    sparse: IndexMap<PhysAddr>,
    len: u64,
}

/// Chunk number and slot of a dense index.
fn split(index: u64) -> (usize, usize) {
    ((index / CHUNK_PAGES as u64) as usize, (index % CHUNK_PAGES as u64) as usize)
}

impl PageList {
    /// An empty list: every page reads as zero. Allocates nothing.
    pub const fn new() -> Self {
        PageList { dense: Vec::new(), sparse: hashbrown::HashMap::with_hasher(IndexHashing), len: 0 }
    }

    /// The frame at `index`, if one is committed there.
    #[inline]
    pub fn get(&self, index: u64) -> Option<PhysAddr> {
        if index >= DENSE_PAGES {
            return self.sparse.get(&index).copied();
        }
        let (chunk, slot) = split(index);
        let entry = *self.dense.get(chunk)?.as_deref()?.first()?.frames.get(slot)?;
        (entry != EMPTY).then_some(PhysAddr(entry))
    }

    /// The raw entries from dense `index` to the end of its chunk (at most
    /// `CHUNK_PAGES`; [`EMPTY`] marks an empty one), or none when `index` is sparse or
    /// its chunk does not exist: [`Self::get`] for a run of consecutive pages, one
    /// directory lookup for all of them.
    pub fn dense_run(&self, index: u64) -> &[u64] {
        if index >= DENSE_PAGES {
            return &[];
        }
        let (chunk, slot) = split(index);
        match self.dense.get(chunk).and_then(|c| c.as_deref()).and_then(|c| c.first()) {
            Some(chunk) => &chunk.frames[slot..],
            None => &[],
        }
    }

    /// The entry for a dense `index` whose chunk exists.
    #[inline]
    fn dense_entry(&mut self, index: u64) -> Option<(&mut usize, &mut u64)> {
        if index >= DENSE_PAGES {
            return None;
        }
        let (chunk, slot) = split(index);
        let chunk = self.dense.get_mut(chunk)?.as_deref_mut()?.first_mut()?;
        let entry = chunk.frames.get_mut(slot)?;
        Some((&mut chunk.used, entry))
    }

    /// Makes sure that putting a frame at `index` will not allocate: the directory
    /// reaches its chunk and the chunk exists, or the sparse map has room for one more.
    /// NO_MEMORY leaves the list's contents unchanged.
    pub fn reserve(&mut self, index: u64) -> ZxResult {
        if index >= DENSE_PAGES {
            if !self.sparse.contains_key(&index) {
                self.sparse.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
            }
            return Ok(());
        }
        let (chunk, _) = split(index);
        if self.dense.len() <= chunk {
            self.dense.try_reserve(chunk + 1 - self.dense.len()).map_err(|_| ZxError::NoMemory)?;
            self.dense.resize_with(chunk + 1, || None);
        }
        if self.dense[chunk].is_none() {
            self.dense[chunk] = Some(new_chunk()?);
        }
        Ok(())
    }

    /// [`Self::reserve`], taking a list from `spares` when this one has no directory
    /// yet and `index` is in chunk 0 (a small VMO's first commit). Same guarantees.
    pub fn reserve_spared(&mut self, index: u64, spares: &mut SpareLists) -> ZxResult {
        if index < CHUNK_PAGES as u64
            && self.dense.capacity() == 0
            && let Some(directory) = spares.take()
        {
            // The directory replaced never allocated (no capacity): nothing to free.
            core::mem::forget(core::mem::replace(&mut self.dense, directory));
            return Ok(());
        }
        self.reserve(index)
    }

    /// Puts `frame` (page-aligned) at `index` and returns the frame it replaces, if
    /// any. NO_MEMORY (a chunk or map slot could not be allocated) leaves the list as it
    /// was. Inline fast path: an index whose chunk already exists is one store and two
    /// counts.
    #[inline(always)]
    pub fn insert(&mut self, index: u64, frame: PhysAddr) -> ZxResult<Option<PhysAddr>> {
        debug_assert!(frame.0 != EMPTY, "PageList: {frame} is not a frame address");
        if let Some((used, entry)) = self.dense_entry(index) {
            let old = core::mem::replace(entry, frame.0);
            if old != EMPTY {
                return Ok(Some(PhysAddr(old)));
            }
            *used += 1;
            self.len += 1;
            return Ok(None);
        }
        self.insert_slow(index, frame)
    }

    /// [`Self::insert`] into the sparse part or into a chunk that does not exist yet.
    #[inline(never)]
    fn insert_slow(&mut self, index: u64, frame: PhysAddr) -> ZxResult<Option<PhysAddr>> {
        self.reserve(index)?;
        Ok(self.insert_reserved(index, frame))
    }

    /// Inserts at an index [`Self::reserve`] made room for: never allocates.
    fn insert_reserved(&mut self, index: u64, frame: PhysAddr) -> Option<PhysAddr> {
        let old = if index >= DENSE_PAGES {
            self.sparse.insert(index, frame)
        } else {
            let (used, entry) = self.dense_entry(index)?;
            let old = core::mem::replace(entry, frame.0);
            if old == EMPTY {
                *used += 1;
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

    /// The frame at `index`, or, when there is none, the frame `make` returns, put
    /// there. The flag is true when the frame is new. Room is made before `make` runs,
    /// so an error from either leaves the list unchanged (and `make`'s frame is never
    /// lost). One lookup on the fast path (an index whose chunk exists).
    #[inline]
    pub fn get_or_insert_with(
        &mut self,
        index: u64,
        make: impl FnOnce() -> ZxResult<PhysAddr>,
    ) -> ZxResult<(PhysAddr, bool)> {
        if let Some((used, entry)) = self.dense_entry(index) {
            if *entry != EMPTY {
                return Ok((PhysAddr(*entry), false));
            }
            let frame = make()?;
            debug_assert!(frame.0 != EMPTY, "PageList: {frame} is not a frame address");
            *entry = frame.0;
            *used += 1;
            self.len += 1;
            return Ok((frame, true));
        }
        self.get_or_insert_elsewhere(index, &mut SpareLists::new(), make)
    }

    /// [`Self::get_or_insert_with`] with a zeroed page from `mem` as the new frame: the
    /// dense case (the chunk exists) inlines whole into the caller, the allocation and
    /// zeroing included (a closure that zeroes a page is too big for the compiler to
    /// inline, so the page-fault path would call it). Same guarantees.
    #[inline(always)]
    ///
    /// A chunk it must add comes from `spares` when it can ([`Self::reserve_spared`]).
    pub fn get_or_insert_zeroed<M: PhysMemory + ?Sized>(
        &mut self,
        index: u64,
        mem: &mut M,
        spares: &mut SpareLists,
    ) -> ZxResult<(PhysAddr, bool)> {
        if let Some((used, entry)) = self.dense_entry(index) {
            if *entry != EMPTY {
                return Ok((PhysAddr(*entry), false));
            }
            let frame = mem.alloc_zeroed_page()?;
            debug_assert!(frame.0 != EMPTY, "PageList: {frame} is not a frame address");
            *entry = frame.0;
            *used += 1;
            self.len += 1;
            return Ok((frame, true));
        }
        self.get_or_insert_elsewhere(index, spares, || mem.alloc_zeroed_page())
    }

    /// [`Self::get_or_insert_with`] for an index whose dense chunk does not exist yet or
    /// that lies in the sparse map: out of line, so the dense case inlines.
    #[inline(never)]
    fn get_or_insert_elsewhere(
        &mut self,
        index: u64,
        spares: &mut SpareLists,
        make: impl FnOnce() -> ZxResult<PhysAddr>,
    ) -> ZxResult<(PhysAddr, bool)> {
        if let Some(frame) = self.get(index) {
            return Ok((frame, false));
        }
        self.reserve_spared(index, spares)?;
        let frame = make()?;
        self.insert_reserved(index, frame);
        Ok((frame, true))
    }

    /// Takes the frame at `index` out of the list. Never allocates.
    pub fn remove(&mut self, index: u64) -> Option<PhysAddr> {
        let old = if index >= DENSE_PAGES {
            self.sparse.remove(&index)
        } else {
            let (chunk_index, slot) = split(index);
            let entry = self.dense.get_mut(chunk_index)?;
            let chunk = entry.as_deref_mut()?.first_mut()?;
            let old = core::mem::replace(chunk.frames.get_mut(slot)?, EMPTY);
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

    /// True when the list holds no heap memory at all (no directory, no sparse table):
    /// dropping it would free nothing. A list that never committed a page.
    #[inline]
    pub fn owns_no_heap(&self) -> bool {
        self.dense.capacity() == 0 && self.sparse.capacity() == 0
    }

    /// The committed pages with `first <= index < end`: the dense part in index order,
    /// then the sparse part in no particular order. An empty or backwards range yields
    /// nothing (it never panics). Costs what is committed, not the range's length.
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
                .flat_map(|chunk| chunk.iter())
                .flat_map(move |chunk| chunk.frames.iter().enumerate())
                .filter(move |&(slot, &entry)| {
                    let index = base + slot as u64;
                    entry != EMPTY && index >= dense_first && index < dense_end
                })
                .map(move |(slot, &entry)| (base + slot as u64, PhysAddr(entry)))
        });
        // The sparse part: probe each index of a short range, scan the map otherwise,
        // whichever is less work.
        let sparse_first = first.max(DENSE_PAGES);
        let probe = end.saturating_sub(sparse_first) < self.sparse.len() as u64;
        let probed = if probe { sparse_first..end } else { 0..0 };
        let probed = probed.filter_map(move |index| self.sparse.get(&index).map(|&frame| (index, frame)));
        let scanned = self
            .sparse
            .iter()
            .take(if probe { 0 } else { usize::MAX })
            .filter(move |&(&index, _)| index >= sparse_first && index < end)
            .map(|(&index, &frame)| (index, frame));
        dense.chain(probed).chain(scanned)
    }

    /// Every committed page (dense part in index order, then the sparse part).
    pub fn iter(&self) -> impl Iterator<Item = (u64, PhysAddr)> + '_ {
        let dense_end = (self.dense.len() * CHUNK_PAGES) as u64;
        self.range(0, dense_end).chain(self.sparse.iter().map(|(&index, &frame)| (index, frame)))
    }

    /// Removes every committed page with `first <= index <= last` (inclusive, so the
    /// last possible index can be named) and hands each to `taken`: the dense part in
    /// index order, then the sparse part in no particular order. Never allocates, and
    /// costs the smaller of the range's length and the pages committed (a chunk that does
    /// not exist is skipped whole).
    pub fn drain_range(&mut self, first: u64, last: u64, mut taken: impl FnMut(u64, PhysAddr)) {
        if first > last {
            return;
        }
        if first < DENSE_PAGES {
            let dense_last = last.min(DENSE_PAGES - 1);
            let (first_chunk, first_slot) = split(first);
            let (last_chunk, last_slot) = split(dense_last);
            let chunks = self.dense.len().min(last_chunk + 1);
            for c in first_chunk..chunks {
                let Some(chunk) = self.dense[c].as_deref_mut().and_then(|chunk| chunk.first_mut()) else { continue };
                let lo = if c == first_chunk { first_slot } else { 0 };
                let hi = if c == last_chunk { last_slot } else { CHUNK_PAGES - 1 };
                for slot in lo..=hi {
                    let entry = core::mem::replace(&mut chunk.frames[slot], EMPTY);
                    if entry != EMPTY {
                        chunk.used -= 1;
                        self.len -= 1;
                        taken((c * CHUNK_PAGES + slot) as u64, PhysAddr(entry));
                    }
                }
                if chunk.used == 0 {
                    self.dense[c] = None;
                }
            }
        }
        if last < DENSE_PAGES || self.sparse.is_empty() {
            return;
        }
        let sparse_first = first.max(DENSE_PAGES);
        let span = last - sparse_first;
        let mut removed = 0u64;
        if span < self.sparse.len() as u64 {
            for index in sparse_first..=last {
                if let Some(frame) = self.sparse.remove(&index) {
                    removed += 1;
                    taken(index, frame);
                }
            }
        } else {
            self.sparse.retain(|&index, &mut frame| {
                let inside = index >= sparse_first && index <= last;
                if inside {
                    removed += 1;
                    taken(index, frame);
                }
                !inside
            });
        }
        self.len -= removed;
    }

    /// Consumes the list and yields every committed page (dense part in index order,
    /// then the sparse part). Gives each chunk back as it goes and never allocates, so
    /// a VMO can be destroyed when the heap is exhausted.
    pub fn into_frames(self) -> impl Iterator<Item = (u64, PhysAddr)> {
        let PageList { dense, sparse, .. } = self;
        let dense = dense.into_iter().enumerate().flat_map(|(c, chunk)| {
            let base = (c * CHUNK_PAGES) as u64;
            chunk.into_iter().flat_map(move |chunk| {
                // Stop at the chunk's last committed page: a VMO of a few pages scans a
                // few entries, not all 128 (`used` counts the non-empty entries).
                let (mut left, mut slot) = (chunk[0].used, 0);
                core::iter::from_fn(move || {
                    while left > 0 && slot < CHUNK_PAGES {
                        let entry = chunk[0].frames[slot];
                        slot += 1;
                        if entry != EMPTY {
                            left -= 1;
                            return Some((base + slot as u64 - 1, PhysAddr(entry)));
                        }
                    }
                    None
                })
            })
        });
        dense.chain(sparse)
    }

    /// Consumes the list and calls `f` with every index and frame: what
    /// [`into_frames`](Self::into_frames) yields, in the same order, with plain loops
    /// (the destruction of a VMO; its nested iterator adapters cost about as much as
    /// freeing the page itself). Never allocates.
    pub fn for_each_frame(self, mut f: impl FnMut(u64, PhysAddr)) {
        let PageList { dense, sparse, .. } = self;
        for (c, chunk) in dense.into_iter().enumerate() {
            let Some(chunk) = chunk.as_deref().and_then(|chunk| chunk.first()) else { continue };
            let base = (c * CHUNK_PAGES) as u64;
            let mut left = chunk.used;
            let mut slot = 0;
            while left > 0 && slot < CHUNK_PAGES {
                let entry = chunk.frames[slot];
                if entry != EMPTY {
                    left -= 1;
                    f(base + slot as u64, PhysAddr(entry));
                }
                slot += 1;
            }
        }
        for (index, frame) in sparse {
            f(index, frame);
        }
    }

    /// [`Self::for_each_frame`] for the destruction of a VMO, giving back the list itself
    /// when it can be kept in [`SpareLists`]: a list with chunk 0 only and no sparse
    /// part has each entry cleared as it is read (the frames visited once either way),
    /// so it comes back empty, with its directory and chunk. Never allocates.
    pub fn drain_frames(mut self, f: impl FnMut(u64, PhysAddr)) -> Option<SpareList> {
        match self.take_chunk0() {
            Some(chunk0) => Some(chunk0.drain_frames(f)),
            None => {
                self.for_each_frame(f);
                None
            }
        }
    }

    /// The first half of [`Self::drain_frames`] for a list kept in place (a VMO's, in
    /// its slot): when the list holds chunk 0 only and no sparse part, its directory is
    /// taken out (a 24-byte move, where moving the whole list out is a `memcpy` call)
    /// and the list left empty, holding nothing; `None`, with the list unchanged,
    /// otherwise.
    #[inline]
    pub fn take_chunk0(&mut self) -> Option<Chunk0> {
        let reusable = self.dense.len() == 1 && self.dense[0].is_some() && self.sparse.is_empty();
        if !reusable {
            return None;
        }
        self.len = 0;
        Some(Chunk0(core::mem::take(&mut self.dense)))
    }
}

/// The directory of a page list that holds chunk 0 only, taken out of its list to have
/// its frames handed back ([`PageList::take_chunk0`]).
#[derive(Debug)]
pub struct Chunk0(Vec<Option<ChunkBox>>);

impl Chunk0 {
    /// Calls `f` for every frame, in index order, clearing each entry as it is read, and
    /// gives back the emptied directory for [`SpareLists`]. Never allocates.
    pub fn drain_frames(self, mut f: impl FnMut(u64, PhysAddr)) -> SpareList {
        let Chunk0(mut dense) = self;
        if let Some(chunk) = dense.first_mut().and_then(|c| c.as_deref_mut()).and_then(|chunk| chunk.first_mut()) {
            let mut slot = 0;
            while chunk.used > 0 && slot < CHUNK_PAGES {
                let entry = core::mem::replace(&mut chunk.frames[slot], EMPTY);
                if entry != EMPTY {
                    chunk.used -= 1;
                    f(slot as u64, PhysAddr(entry));
                }
                slot += 1;
            }
        }
        SpareList(dense)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::host_alloc::{allocations_during, with_heap_budget};
    use alloc::vec;

    fn pa(n: u64) -> PhysAddr {
        PhysAddr(n * 0x1000)
    }

    fn sorted(mut pages: Vec<(u64, PhysAddr)>) -> Vec<(u64, PhysAddr)> {
        pages.sort();
        pages
    }

    #[test]
    fn insert_get_remove() {
        let mut list = PageList::new();
        assert!(list.is_empty());
        assert_eq!(list.insert(5, pa(1)), Ok(None));
        assert_eq!(list.insert(5, pa(2)), Ok(Some(pa(1))));
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
            list.insert(i, pa(i & 0xff)).unwrap();
        }
        let indices: Vec<u64> = list.range(3, 9).map(|(i, _)| i).collect();
        assert_eq!(indices, vec![3, 4]);
        assert_eq!(list.range(9, 3).count(), 0);
        assert_eq!(list.range(4, 4).count(), 0);
        assert_eq!(list.range(10, u64::MAX).count(), 0);
        assert_eq!(list.iter().count(), 5);
    }

    /// Every page `drain_range` takes for `[first, last]`.
    fn drain_in(list: &mut PageList, first: u64, last: u64) -> Vec<(u64, PhysAddr)> {
        let mut taken = Vec::new();
        list.drain_range(first, last, |index, frame| {
            assert!(index >= first && index <= last);
            taken.push((index, frame));
        });
        sorted(taken)
    }

    #[test]
    fn drain_range_takes_exactly_the_range() {
        let mut list = PageList::new();
        for i in 0..10u64 {
            list.insert(i, pa(i)).unwrap();
        }
        let middle = drain_in(&mut list, 2, 4);
        assert_eq!(middle, vec![(2, pa(2)), (3, pa(3)), (4, pa(4))]);
        assert_eq!(list.len(), 7);
        assert!(drain_in(&mut list, 2, 4).is_empty());
        assert!(drain_in(&mut list, 9, 3).is_empty(), "a backwards range is empty");
        let tail = drain_in(&mut list, 8, u64::MAX);
        assert_eq!(tail, vec![(8, pa(8)), (9, pa(9))]);
        assert_eq!(list.iter().map(|(i, _)| i).collect::<Vec<_>>(), vec![0, 1, 5, 6, 7]);
        assert_eq!(list.into_frames().count(), 5);
    }

    #[test]
    fn into_frames_yields_every_page() {
        let mut list = PageList::new();
        let indices = [0, 127, 128, 1000, DENSE_PAGES - 1, DENSE_PAGES, u64::MAX];
        for &i in indices.iter().rev() {
            list.insert(i, pa(i & 0xffff)).unwrap();
        }
        let frames: Vec<(u64, PhysAddr)> = list.into_frames().collect();
        // The dense part comes first, in order.
        assert_eq!(&frames[..5], &indices[..5].iter().map(|&i| (i, pa(i & 0xffff))).collect::<Vec<_>>()[..]);
        assert_eq!(sorted(frames), indices.iter().map(|&i| (i, pa(i & 0xffff))).collect::<Vec<_>>());
        assert_eq!(PageList::new().into_frames().count(), 0);
    }

    #[test]
    fn dense_and_sparse_parts_meet() {
        let mut list = PageList::new();
        let indices = [0, 1, 127, 128, DENSE_PAGES - 1, DENSE_PAGES, DENSE_PAGES + 5, u64::MAX - 1];
        for &i in indices.iter().rev() {
            assert_eq!(list.insert(i, pa(i & 0xffff)), Ok(None));
        }
        assert_eq!(list.len(), indices.len() as u64);
        assert_eq!(sorted(list.iter().collect()).iter().map(|&(i, _)| i).collect::<Vec<_>>(), indices.to_vec());
        for &i in &indices {
            assert_eq!(list.get(i), Some(pa(i & 0xffff)), "index {i}");
        }
        assert_eq!(list.get(2), None);
        assert_eq!(list.get(DENSE_PAGES + 4), None);
        assert_eq!(
            sorted(list.range(127, DENSE_PAGES + 1).collect()).iter().map(|&(i, _)| i).collect::<Vec<_>>(),
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
            assert_eq!(list.get_or_insert_with(index, || Ok(pa(index))), Ok((pa(index), true)));
            assert_eq!(list.get_or_insert_with(index, || panic!("made twice")), Ok((pa(index), false)));
        }
        assert_eq!(list.len(), 4);
        // A failure inserts nothing, in an existing chunk and in a missing one.
        assert_eq!(list.get_or_insert_with(7, || Err(ZxError::NoMemory)), Err(ZxError::NoMemory));
        assert_eq!(list.get_or_insert_with(1000, || Err(ZxError::NoMemory)), Err(ZxError::NoMemory));
        assert_eq!(list.get(7), None);
        assert_eq!(list.len(), 4);
        assert_eq!(sorted(list.into_frames().collect()).len(), 4);
    }

    #[test]
    fn a_chunk_goes_with_its_last_page() {
        let mut list = PageList::new();
        list.insert(130, pa(1)).unwrap();
        list.insert(131, pa(2)).unwrap();
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
        list.insert(3, PhysAddr(0)).unwrap();
        assert_eq!(list.get(3), Some(PhysAddr(0)));
        assert_eq!(drain_in(&mut list, 0, u64::MAX), vec![(3, PhysAddr(0))]);
        assert_eq!(list.len(), 0);
    }

    /// Issue 13, defect 2: inserting is fallible (NO_MEMORY, list unchanged, whatever
    /// part of the list needs memory) and taking pages out never allocates.
    #[test]
    fn allocation_failure_is_no_memory_and_removal_never_allocates() {
        let mut list = PageList::new();
        for index in [0u64, 1, 2, 100_000, DENSE_PAGES + 3] {
            list.insert(index, pa(index & 0xff)).unwrap();
        }
        // Fill the sparse map to its capacity, so that one more entry needs memory.
        let mut next = DENSE_PAGES + 10;
        while list.sparse.len() < list.sparse.capacity() {
            list.insert(next, pa(9)).unwrap();
            next += 1;
        }
        let before: Vec<(u64, PhysAddr)> = sorted(list.iter().collect());
        // A new chunk, a longer directory, a sparse entry: each needs memory.
        for index in [200u64, 200_000, DENSE_PAGES + 1_000_000] {
            let result = with_heap_budget(0, || list.insert(index, pa(7)));
            assert_eq!(result, Err(ZxError::NoMemory), "index {index}");
            let made = with_heap_budget(0, || list.get_or_insert_with(index, || panic!("frame made before room")));
            assert_eq!(made, Err(ZxError::NoMemory));
            assert_eq!(sorted(list.iter().collect()), before, "index {index}");
        }
        // An existing chunk needs none.
        assert_eq!(with_heap_budget(0, || list.insert(3, pa(3))), Ok(None));
        assert_eq!(allocations_during(|| assert_eq!(list.remove(3), Some(pa(3)))), 0);
        // Draining and destroying allocate nothing.
        assert_eq!(allocations_during(|| list.drain_range(1, u64::MAX, |_, _| {})), 0);
        assert_eq!(list.len(), 1);
        let mut big = PageList::new();
        for index in (0..5_000u64).map(|i| DENSE_PAGES + i * 977) {
            big.insert(index, pa(1)).unwrap();
        }
        assert_eq!(allocations_during(|| big.drain_range(DENSE_PAGES, u64::MAX, |_, _| {})), 0);
        assert!(big.is_empty());
        assert_eq!(allocations_during(|| assert_eq!(list.into_frames().count(), 1)), 0);
    }

    /// `for_each_frame` reports what `into_frames` yields, in the same order, for dense,
    /// sparse and mixed lists, and allocates nothing.
    #[test]
    fn for_each_frame_matches_into_frames() {
        let build = || {
            let mut list = PageList::new();
            for index in [0u64, 5, 127, 128, 300, 1000, DENSE_PAGES, DENSE_PAGES + 77, 1 << 40] {
                list.insert(index, PhysAddr(0x4000_0000 + index.min(1 << 20) * 0x1000)).unwrap();
            }
            list.remove(5);
            list
        };
        let expected: Vec<(u64, PhysAddr)> = build().into_frames().collect();
        let mut seen = Vec::with_capacity(expected.len());
        let list = build();
        let mut visit = |index, frame| seen.push((index, frame));
        assert_eq!(allocations_during(|| list.for_each_frame(&mut visit)), 0);
        assert_eq!(seen, expected);
        let mut none = 0;
        PageList::new().for_each_frame(|_, _| none += 1);
        assert_eq!(none, 0);
    }

    /// `drain_frames` reports what `for_each_frame` does, and gives back exactly the
    /// lists with chunk 0 only, emptied; a list built from a spare behaves as a new one
    /// and its first commit allocates nothing; at most `SPARE_LISTS` are kept.
    #[test]
    fn spare_lists_come_back_empty_and_serve_a_first_commit() {
        let build = |indices: &[u64]| {
            let mut list = PageList::new();
            for &index in indices {
                list.insert(index, PhysAddr(0x4000_0000 + index.min(1 << 20) * 0x1000)).unwrap();
            }
            list
        };
        let shapes: [&[u64]; 4] = [&[0, 3, 127], &[5], &[0, 128], &[1, DENSE_PAGES + 2]];
        let mut spares = SpareLists::new();
        for (shape, reusable) in shapes.iter().zip([true, true, false, false]) {
            let mut expected = Vec::new();
            build(shape).for_each_frame(|index, frame| expected.push((index, frame)));
            let mut seen = Vec::with_capacity(expected.len());
            let list = build(shape);
            let mut spare = None;
            let allocations =
                allocations_during(|| spare = list.drain_frames(|index, frame| seen.push((index, frame))));
            assert_eq!(allocations, 0);
            assert_eq!(seen, expected, "{shape:?}");
            assert_eq!(spare.is_some(), reusable, "{shape:?}");
            if let Some(spare) = spare {
                spares.put(spare);
            }
        }
        assert_eq!(spares.len(), 2);
        assert_eq!(spares.held_blocks().count(), 4);
        assert!(spares.held_blocks().any(|layout| layout == Layout::new::<Chunk>()));
        // A first commit in chunk 0 takes a spare, and allocates nothing.
        let mut list = PageList::new();
        let made = with_heap_budget(0, || list.get_or_insert_zeroed(7, &mut ZeroPages(0x5000_0000), &mut spares));
        assert_eq!(made, Ok((PhysAddr(0x5000_0000), true)));
        assert_eq!(spares.len(), 1);
        assert_eq!(list.len(), 1);
        assert_eq!(list.iter().collect::<Vec<_>>(), vec![(7, PhysAddr(0x5000_0000))]);
        assert_eq!(list.get(0), None);
        assert_eq!(list.get(127), None);
        // A page beyond chunk 0, or a list that has a directory, takes none.
        let mut far = PageList::new();
        far.get_or_insert_zeroed(128, &mut ZeroPages(0x6000_0000), &mut spares).unwrap();
        list.get_or_insert_zeroed(9, &mut ZeroPages(0x7000_0000), &mut spares).unwrap();
        assert_eq!(spares.len(), 1);
        // No more than SPARE_LISTS are kept.
        for _ in 0..2 * SPARE_LISTS {
            spares.put(build(&[1]).drain_frames(|_, _| {}).unwrap());
        }
        assert_eq!(spares.len(), SPARE_LISTS);
    }

    /// Hands out one page at a fixed address (the page list never looks inside it).
    struct ZeroPages(u64);

    impl PhysMemory for ZeroPages {
        fn alloc_zeroed_page(&mut self) -> ZxResult<PhysAddr> {
            Ok(PhysAddr(self.0))
        }
        fn alloc_copy_of(&mut self, _: PhysAddr) -> ZxResult<PhysAddr> {
            Ok(PhysAddr(self.0))
        }
        fn zero_range(&mut self, _: PhysAddr, _: usize, _: usize) {}
        fn free_page(&mut self, _: PhysAddr) {}
    }
}
