//! The VMO core: every virtual memory object in the kernel, its pages, and Zircon's
//! rules for VMOs, as one pure, host-tested data structure ([`VmoStore`]).
//!
//! ## Model
//!
//! A VMO is one of three kinds:
//! - **paged**: a sparse [`PageList`] of frames. A page that is not in the list is not
//!   committed: it reads as zero and costs nothing.
//! - **physical**: a fixed, contiguous physical range (`zx_vmo_create_physical`). Never
//!   committed or freed; starts UNCACHED.
//! - **slice**: a window onto another VMO's pages (`ZX_VMO_CHILD_SLICE`). A slice of a
//!   slice is resolved at creation, so a slice always points straight at its *root* (a
//!   paged or physical VMO) plus a page offset.
//!
//! Copy-on-write children (`SNAPSHOT`, `SNAPSHOT_AT_LEAST_ON_WRITE`) are eager snapshots
//! with shared frames: at creation the child's page list receives the parent's frames
//! for the range, and each frame's reference count goes up. A write to a frame held by
//! more than one VMO forks a private copy for the writer; a write to a frame held once
//! writes in place. So no VMO ever looks at another VMO's pages after creation, and a
//! regrown or decommitted child can never see its parent's data again.
//!
//! ## Attribution
//!
//! Every frame has exactly one *owner* among its holders (the frame table). A VMO's
//! `committed_bytes` counts the frames it owns. The parent keeps ownership of what it
//! shares, a new child owns nothing (Zircon's ObjMemAccounting), a fork is owned by the
//! writer, and a holder that lets go of a frame it owns passes ownership to another
//! holder. Hence the sum of all VMOs' committed pages equals the frames really held,
//! which is [`VmoStore::committed_frames_total`].
//!
//! ## Lifetime
//!
//! Reference counts are explicit: a new VMO starts with one reference, which belongs to
//! the caller (its first handle); the kernel calls [`VmoStore::retain`] for every further
//! handle and every mapping and [`VmoStore::release`] when one goes away. A slice holds a
//! reference on its parent. At zero references a VMO gives up its frames. If it still
//! has children it stays in the store as an empty *zombie* node, so that its ancestors
//! keep counting it as a child (ZX_VMO_ZERO_CHILDREN stays clear while any descendant,
//! grandchildren included, is alive or mapped); the node goes when its last child goes.
//!
//! ## Mappings
//!
//! The store knows nothing about page tables. Whenever the frame behind a page of a VMO
//! changes, or a frame becomes shared (so writable mappings of it must become read-only),
//! it queues an [`Invalidation`] for that VMO and for every slice that shows the page;
//! the kernel drains the queue with [`VmoStore::take_invalidations`] and unmaps those
//! pages so that they refault. A write to a page the VMO already owns queues nothing,
//! and neither does committing a fresh page of a VMO that no mapping ever showed the
//! zero page for (the kernel reports that with [`VmoStore::note_zero_page_shown`]).
//!
//! ## Memory
//!
//! Every allocation an operation needs is made, fallibly, before the operation changes
//! anything, so NO_MEMORY leaves the store as it was (issue 13): the slot of a new VMO,
//! the root's slice list, a COW child's page list and frame-table entries, a page-list
//! chunk. Releasing a VMO, decommitting, zeroing and shrinking never allocate, and the
//! queue of stale mappings has a fixed size (when it overflows, the kernel is told to
//! refault everything).
//!
//! The store is single-threaded; the kernel holds one lock around it.

use alloc::vec::Vec;

use crate::abi::{PAGE_SHIFT, PAGE_SIZE, cache_policy, child, info, op, prop, rights, signal};
use crate::error::{ZxError, ZxResult};
use crate::mm::addr::page_ceil;
use crate::mm::{PhysAddr, PhysMemory};
use crate::vm::page_list::{Chunk0, IndexHashing, IndexMap, PageList, SpareLists};

/// The largest VMO size: ROUNDDOWN(u64::MAX, 2 * 16 * PAGE_SIZE) = 2^64 − 128 KiB
/// (Zircon's `VmObjectPaged::MAX_SIZE`).
pub const MAX_SIZE: u64 = !(2 * 16 * PAGE_SIZE - 1);

/// Zircon's `RoundSize`: `size` rounded up to a page, or OUT_OF_RANGE when the rounding
/// overflows or the result exceeds [`MAX_SIZE`].
pub fn round_size(size: u64) -> ZxResult<u64> {
    match page_ceil(size) {
        Some(rounded) if rounded <= MAX_SIZE => Ok(rounded),
        _ => Err(ZxError::OutOfRange),
    }
}

/// The checks of `zx_vmo_create` in Zircon's order (options, then size): the rounded
/// size and whether the VMO is resizable.
#[inline(always)]
fn create_shape(size: u64, options: u32) -> ZxResult<(u64, bool)> {
    if options & !crate::abi::VMO_RESIZABLE != 0 {
        return Err(ZxError::InvalidArgs);
    }
    Ok((round_size(size)?, options & crate::abi::VMO_RESIZABLE != 0))
}

/// Zircon's `InRange`: `[offset, offset + len)` lies inside `[0, size)` without wrapping.
pub fn in_range(offset: u64, len: u64, size: u64) -> bool {
    match offset.checked_add(len) {
        Some(end) => offset <= size && end <= size,
        None => false,
    }
}

/// Zircon's `TrimRange`: `len` clamped to `size - offset`, or `None` when `offset + len`
/// wraps or `offset > size`. A result of zero is allowed.
pub fn trim_range(offset: u64, len: u64, size: u64) -> Option<u64> {
    if offset.checked_add(len).is_none() || offset > size {
        return None;
    }
    Some(len.min(size - offset))
}

/// Number of whole pages in a page-multiple byte count.
const fn pages(bytes: u64) -> u64 {
    bytes >> PAGE_SHIFT
}

/// Byte offset of a page index. Page indices here always come from sizes at most
/// [`MAX_SIZE`], so the shift cannot lose bits.
const fn bytes(pages: u64) -> u64 {
    pages << PAGE_SHIFT
}

/// Physical frame number used as the frame table's key.
const fn pfn(frame: PhysAddr) -> u64 {
    frame.0 >> PAGE_SHIFT
}

/// Names one VMO in a [`VmoStore`]: a slot index plus a generation, so an id kept past
/// the VMO's destruction is caught instead of silently naming a newer VMO.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VmoId(u32);

/// Low bits of a [`VmoId`]: the slot index (so fewer than 2^20 VMOs exist at once:
/// the last index is never used, so that no id is `u32::MAX`, see [`VmoId::tag`]).
const INDEX_BITS: u32 = 20;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
/// High bits of a [`VmoId`]: the slot's generation, which wraps.
const GENERATION_MASK: u32 = u32::MAX >> INDEX_BITS;

impl VmoId {
    fn new(index: u32, generation: u32) -> Self {
        VmoId(((generation & GENERATION_MASK) << INDEX_BITS) | (index & INDEX_MASK))
    }

    fn index(self) -> usize {
        (self.0 & INDEX_MASK) as usize
    }

    fn generation(self) -> u32 {
        self.0 >> INDEX_BITS
    }

    /// The id as a handle's tag (`handle_table::Handle::tag`), which is never
    /// `handle_table::UNTAGGED` (`u32::MAX`): the store never uses the slot index
    /// `INDEX_MASK`.
    pub const fn tag(self) -> u32 {
        self.0
    }

    /// The id a handle's tag names, if it names one ([`VmoId::tag`]).
    #[inline(always)]
    pub const fn from_tag(tag: u32) -> Option<VmoId> {
        if tag == crate::object::handle_table::UNTAGGED { None } else { Some(VmoId(tag)) }
    }

    /// The raw value, for logs and for an id kept in an atomic word.
    #[inline(always)]
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// The id whose [`VmoId::raw`] value is `raw` (an id kept in an atomic word; an id
    /// that names no live VMO is refused by every store lookup, as a stale one is).
    #[inline(always)]
    pub const fn from_raw(raw: u32) -> VmoId {
        VmoId(raw)
    }
}

/// What a mapping may show for one page (see [`VmoStore::page_for_read`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRef {
    /// The physical page.
    pub pa: PhysAddr,
    /// True when other VMOs hold the same frame: map it read-only, so that a write
    /// faults and forks a private copy through [`VmoStore::page_for_write`].
    pub shared: bool,
}

/// What holds the page a write within one page goes to (see [`VmoStore::write_target`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteTarget {
    /// A frame the VMO alone holds: [`VmoStore::page_for_write`] would return it as is.
    Private(PhysAddr),
    /// No frame yet in a paged VMO that is not a slice: a write commits one.
    Uncommitted,
    /// Anything else (a shared frame, a slice, a physical VMO): the general path.
    Other,
}

/// Pages of a VMO whose mappings are stale: unmap `[first_page, first_page + page_count)`
/// (page indices of `vmo`, not addresses) so that the next access refaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Invalidation {
    /// The VMO whose mappings must drop the pages.
    pub vmo: VmoId,
    /// First page index affected.
    pub first_page: u64,
    /// Number of pages affected (at least one).
    pub page_count: u64,
}

/// The `ZX_INFO_VMO` facts the store knows (the syscall layer adds `VIA_HANDLE` to
/// `flags` and the handle's rights).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmoInfo {
    /// The VMO's koid.
    pub koid: u64,
    /// NUL-terminated name.
    pub name: [u8; prop::NAME_LEN],
    /// Page-rounded size.
    pub size_bytes: u64,
    /// Koid of the VMO it was created from (slices of physical VMOs included); 0 for
    /// none.
    pub parent_koid: u64,
    /// Direct children still alive (or kept by descendants).
    pub num_children: u64,
    /// Mappings counted by [`VmoStore::add_mapping`].
    pub num_mappings: u64,
    /// Distinct address spaces mapping it; always 1 with ABI v1's single address space.
    pub share_count: u64,
    /// `info::VMO_TYPE_PAGED | VMO_RESIZABLE | VMO_IS_COW_CLONE | VMO_CONTIGUOUS` bits.
    pub flags: u32,
    /// Frames this VMO owns × PAGE_SIZE (slices and physical VMOs own none).
    pub committed_bytes: u64,
    /// `cache_policy::*`.
    pub cache_policy: u32,
}

/// Data-cache maintenance by physical address, one call per piece of a committed page
/// (or one call per physical range). The kernel implements it with `dc` instructions
/// over the linear map; tests record the calls.
pub trait CacheMaintenance {
    /// Write dirty lines back (`dc cvac`).
    fn clean(&mut self, pa: PhysAddr, len: usize);
    /// Write back and invalidate (`dc civac`).
    fn clean_invalidate(&mut self, pa: PhysAddr, len: usize);
    /// Invalidate without writing back (`dc ivac`).
    fn invalidate(&mut self, pa: PhysAddr, len: usize);
    /// Make the range coherent for instruction fetch (clean to PoU, invalidate I-cache).
    fn sync(&mut self, pa: PhysAddr, len: usize);
}

/// The four cache operations of `zx_vmo_op_range`.
#[derive(Clone, Copy)]
enum CacheOp {
    Sync,
    Invalidate,
    Clean,
    CleanInvalidate,
}

impl CacheOp {
    fn apply(self, cache: &mut dyn CacheMaintenance, pa: PhysAddr, len: u64) {
        // Lengths are at most a VMO size, and usize is 64 bits on every target we build.
        let len = len as usize;
        match self {
            CacheOp::Sync => cache.sync(pa, len),
            CacheOp::Invalidate => cache.invalidate(pa, len),
            CacheOp::Clean => cache.clean(pa, len),
            CacheOp::CleanInvalidate => cache.clean_invalidate(pa, len),
        }
    }
}

/// Where a VMO's pages come from.
#[derive(Debug)]
enum Backing {
    /// Frames committed on demand.
    Paged(PageList),
    /// A fixed physical range starting here.
    Physical(PhysAddr),
    /// A window onto `root` (never itself a slice) starting at `root_first_page`.
    Slice { root: VmoId, root_first_page: u64 },
}

/// One slice that shows part of a root VMO, kept on the root so that page changes can
/// be reported in the slice's own page indices.
#[derive(Clone, Copy, Debug)]
struct SliceView {
    slice: VmoId,
    first_page: u64,
    page_count: u64,
}

/// Holders of one shared frame. The reference count is `1 + others.len()` (at least 2:
/// a frame with one holder has no entry); the owner is the holder whose
/// `committed_bytes` counts the frame.
#[derive(Debug)]
struct FrameMeta {
    owner: VmoId,
    others: Others,
}

/// The holders of a shared frame besides its owner. The first is kept inline, so the
/// common frame shared by two VMOs costs no allocation of its own; more go in a vector
/// whose room is reserved (fallibly) before a holder is added.
#[derive(Debug, Default)]
struct Others {
    first: Option<VmoId>,
    more: Vec<VmoId>,
}

impl Others {
    fn one(id: VmoId) -> Self {
        Others { first: Some(id), more: Vec::new() }
    }

    fn is_empty(&self) -> bool {
        self.first.is_none() && self.more.is_empty()
    }

    /// Makes room so that the next [`Self::push`] does not allocate.
    fn try_reserve_one(&mut self) -> ZxResult {
        if self.first.is_some() && self.more.len() == self.more.capacity() {
            self.more.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        }
        Ok(())
    }

    /// Adds a holder; never allocates after [`Self::try_reserve_one`].
    fn push(&mut self, id: VmoId) {
        if self.first.is_none() {
            self.first = Some(id);
        } else {
            self.more.push(id);
        }
    }

    fn pop(&mut self) -> Option<VmoId> {
        self.more.pop().or_else(|| self.first.take())
    }

    /// Removes `id` if it is a holder. Never allocates.
    fn remove(&mut self, id: VmoId) {
        if self.first == Some(id) {
            self.first = self.more.pop();
        } else if let Some(position) = self.more.iter().position(|&other| other == id) {
            self.more.swap_remove(position);
        }
    }

    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = VmoId> + '_ {
        self.first.iter().copied().chain(self.more.iter().copied())
    }
}

/// Entries the queue of stale mappings holds before it widens entries or gives up and
/// asks for everything to be refaulted.
const INVALIDATION_SLOTS: usize = 32;

/// The queue of [`Invalidation`]s: a fixed array, so queuing never allocates. When it
/// is full, a new entry widens an entry of the same VMO (unmapping more than needed
/// only costs refaults); failing that, `everything` is set and the kernel refaults every
/// mapping ([`VmoStore::take_invalidate_everything`]).
#[derive(Debug)]
struct InvalidationQueue {
    entries: [Invalidation; INVALIDATION_SLOTS],
    len: usize,
    everything: bool,
}

impl InvalidationQueue {
    const fn new() -> Self {
        let empty = Invalidation { vmo: VmoId(0), first_page: 0, page_count: 0 };
        InvalidationQueue { entries: [empty; INVALIDATION_SLOTS], len: 0, everything: false }
    }

    fn is_empty(&self) -> bool {
        self.len == 0 && !self.everything
    }

    /// Queues `[first_page, first_page + page_count)` of `vmo`, merging it into the
    /// previous entry when it continues it.
    fn push(&mut self, vmo: VmoId, first_page: u64, page_count: u64) {
        if page_count == 0 || self.everything {
            return;
        }
        if let Some(last) = self.entries[..self.len].last_mut()
            && last.vmo == vmo
            && last.first_page.checked_add(last.page_count) == Some(first_page)
        {
            last.page_count += page_count;
            return;
        }
        if self.len < INVALIDATION_SLOTS {
            self.entries[self.len] = Invalidation { vmo, first_page, page_count };
            self.len += 1;
            return;
        }
        if let Some(entry) = self.entries.iter_mut().find(|entry| entry.vmo == vmo) {
            let end = entry.first_page.saturating_add(entry.page_count).max(first_page.saturating_add(page_count));
            entry.first_page = entry.first_page.min(first_page);
            entry.page_count = end - entry.first_page;
            return;
        }
        self.everything = true;
        self.len = 0;
    }

    fn pop(&mut self) -> Option<Invalidation> {
        self.len = self.len.checked_sub(1)?;
        Some(self.entries[self.len])
    }

    /// Drops the entries of `vmo`.
    fn forget(&mut self, vmo: VmoId) {
        let mut kept = 0;
        for index in 0..self.len {
            if self.entries[index].vmo != vmo {
                self.entries[kept] = self.entries[index];
                kept += 1;
            }
        }
        self.len = kept;
    }
}

/// One VMO's state.
#[derive(Debug)]
struct Vmo {
    koid: u64,
    /// Page multiple.
    size: u64,
    content_size: u64,
    resizable: bool,
    /// Made by SNAPSHOT / SNAPSHOT_AT_LEAST_ON_WRITE.
    cow_clone: bool,
    cache_policy: u32,
    name: [u8; prop::NAME_LEN],
    backing: Backing,
    /// The VMO this one was created from (alive or a zombie while this node exists).
    parent: Option<VmoId>,
    parent_koid: u64,
    /// Direct children still in the store (alive or zombie).
    num_children: u64,
    /// Root only: COW children made from this root or from a slice of it. Such children
    /// give the root Zircon's hidden parent, which forbids DECOMMIT.
    cow_children: u64,
    /// COW child only: the root whose `cow_children` counts this node.
    cow_source_root: Option<VmoId>,
    /// Root only: the slices that show this VMO's pages.
    slices: Vec<SliceView>,
    user_signals: u32,
    /// Handles + mappings + slices of this VMO. Zero means a zombie.
    refs: u32,
    num_mappings: u64,
    /// Frames this VMO owns (its committed_bytes / PAGE_SIZE).
    owned_pages: u64,
    /// Paged root only: some mapping of it (or of a slice of it) may show the shared
    /// zero page for an uncommitted page. Until then committing a fresh page needs no
    /// invalidation, because no mapping can show anything for that page.
    zero_page_shown: bool,
    /// Nothing has changed the VMO since `create` made or renewed it, so it is still
    /// keepable and holds only its first reference (what [`VmoStore::parkable`] asks).
    /// Set only there; every other change of a live VMO takes its `&mut` through
    /// `vmo_mut`, which clears it (retains, mappings, commits, children, names,
    /// signals, resizes alike), so it can only err towards `false`.
    pristine: bool,
}

impl Vmo {
    // Inlined so that a new VMO is built straight in its slot, not built and copied.
    #[inline(always)]
    fn new(koid: u64, size: u64, content_size: u64, backing: Backing) -> Self {
        Vmo {
            koid,
            size,
            content_size,
            resizable: false,
            cow_clone: false,
            cache_policy: cache_policy::CACHED,
            name: [0; prop::NAME_LEN],
            backing,
            parent: None,
            parent_koid: 0,
            num_children: 0,
            cow_children: 0,
            cow_source_root: None,
            slices: Vec::new(),
            user_signals: 0,
            refs: 1,
            num_mappings: 0,
            owned_pages: 0,
            zero_page_shown: false,
            pristine: false,
        }
    }

    /// True when the dead VMO may stay in its free slot as a kept VMO (see [`Slot`]):
    /// it owns no heap memory, holds no page, has no parent, child, COW source or COW
    /// descendant and no mapping, so every field but those [`Vmo::renew`] sets is as
    /// [`Vmo::new`] makes it for a paged VMO (`cow_clone` is only set on COW children,
    /// which have a parent). Its `refs` is 0, which tells it from a live VMO.
    fn keepable(&self) -> bool {
        self.owns_no_heap()
            && self.parent.is_none()
            && self.num_children == 0
            && self.cow_children == 0
            && self.cow_source_root.is_none()
            && self.num_mappings == 0
            && self.owned_pages == 0
            && matches!(&self.backing, Backing::Paged(list) if list.is_empty())
    }

    /// Turns a kept VMO (see [`Slot`]) into the new paged VMO `Vmo::new(koid, size,
    /// content_size, Backing::Paged(PageList::new()))` with `resizable`: the fields a
    /// VMO's life may have changed without making it unkeepable.
    #[inline(always)]
    fn renew(&mut self, koid: u64, size: u64, content_size: u64, resizable: bool) {
        self.koid = koid;
        self.size = size;
        self.content_size = content_size;
        self.resizable = resizable;
        self.cow_clone = false;
        self.cache_policy = cache_policy::CACHED;
        self.name = [0; prop::NAME_LEN];
        self.parent_koid = 0;
        self.user_signals = 0;
        self.refs = 1;
        self.zero_page_shown = false;
        self.pristine = true;
    }

    /// [`Vmo::renew`] of a pristine VMO (a parked one, see [`VmoStore::renew_parked`]):
    /// only the fields that differ between two lives of a VMO nothing has changed since
    /// `create` (koid, sizes, resizable). The others are still as `create` (or the last
    /// renewal) left them, since every change would have gone through `vmo_mut`, which
    /// clears `pristine`; checked in debug builds ([`Vmo::as_created`]).
    #[inline(always)]
    fn renew_pristine(&mut self, koid: u64, size: u64, content_size: u64, resizable: bool) {
        debug_assert!(self.pristine && self.as_created(), "a pristine VMO that changed");
        self.koid = koid;
        self.size = size;
        self.content_size = content_size;
        self.resizable = resizable;
    }

    /// The fields [`Vmo::renew`] resets and [`Vmo::renew_pristine`] leaves as they are
    /// hold what `create` gives them (and the VMO is keepable).
    fn as_created(&self) -> bool {
        !self.cow_clone
            && self.cache_policy == cache_policy::CACHED
            && self.name == [0; prop::NAME_LEN]
            && self.parent_koid == 0
            && self.user_signals == 0
            && self.refs == 1
            && !self.zero_page_shown
            && self.keepable()
    }

    /// True when dropping the VMO would free nothing: its page list and its slice list
    /// are its only fields that can own heap memory ([`PageList::owns_no_heap`]).
    #[inline]
    fn owns_no_heap(&self) -> bool {
        self.slices.capacity() == 0 && matches!(&self.backing, Backing::Paged(list) if list.owns_no_heap())
    }

    fn page_list(&self) -> Option<&PageList> {
        match &self.backing {
            Backing::Paged(list) => Some(list),
            _ => None,
        }
    }
}

/// One slab entry.
///
/// A live VMO's slot holds it (`Some`). A free slot (listed in `free_slots`) holds
/// `None`, or the dead VMO that last lived there when that one was left exactly as
/// `Vmo::new` makes a VMO but for the fields `Vmo::renew` sets (a *kept* VMO, see
/// `Vmo::keepable`): Bonwick's slab keeps objects in their constructed state, and the
/// next `create` then writes a few fields instead of the whole 224 bytes (80 of them
/// through a `memset` call). A kept VMO is never reached through an id: every lookup
/// compares the slot's generation, which moved past every id handed out when the slot
/// was freed.
#[derive(Debug)]
struct Slot {
    generation: u32,
    vmo: Option<Vmo>,
}

/// Counts a frame `vmo` has just come to hold privately (committed fresh or forked): a
/// private frame needs no entry in the frame table, only the two counts. Returns whether
/// some mapping ever showed the zero page for `vmo`, in which case the page's old
/// translations must be invalidated.
#[inline(always)]
fn count_private_frame(vmo: &mut Vmo, committed_frames: &mut u64) -> bool {
    vmo.owned_pages += 1;
    *committed_frames += 1;
    vmo.zero_page_shown
}

/// The VMO behind `id`. A stale id means the kernel used a VMO after dropping its last
/// reference: an internal invariant broken, never a user error, so it stops the kernel.
/// Checks 2 to 4 of [`VmoStore::check_read_write`], in that order: `offset + len`
/// overflows → OUT_OF_RANGE; not CACHED → BAD_STATE; past the size → OUT_OF_RANGE.
#[inline(always)]
fn check_range_and_policy(vmo: &Vmo, offset: u64, len: u64) -> ZxResult {
    let end = offset.checked_add(len).ok_or(ZxError::OutOfRange)?;
    if vmo.cache_policy != cache_policy::CACHED {
        return Err(ZxError::BadState);
    }
    if end > vmo.size {
        return Err(ZxError::OutOfRange);
    }
    Ok(())
}

fn vmo_ref(slots: &[Slot], id: VmoId) -> &Vmo {
    match slots.get(id.index()) {
        Some(Slot { generation, vmo: Some(vmo) }) if *generation == id.generation() => vmo,
        _ => panic!("VmoStore: stale VmoId {:?} (VMO already destroyed)", id),
    }
}

/// Mutable [`vmo_ref`]. The VMO is no longer pristine ([`Vmo::pristine`]): this is how
/// every change of a live VMO but `create`'s reaches it.
fn vmo_mut(slots: &mut [Slot], id: VmoId) -> &mut Vmo {
    match slots.get_mut(id.index()) {
        Some(Slot { generation, vmo: Some(vmo) }) if *generation == id.generation() => {
            vmo.pristine = false;
            vmo
        }
        _ => panic!("VmoStore: stale VmoId {:?} (VMO already destroyed)", id),
    }
}

/// True when the frame table `frames` lists `frame`, that is, more than one VMO holds it
/// (free while nothing is shared).
#[inline]
fn is_shared_in(frames: &IndexMap<FrameMeta>, frame: PhysAddr) -> bool {
    !frames.is_empty() && frames.contains_key(&pfn(frame))
}

/// Where one page of a VMO really lives.
enum Target {
    /// A fixed physical page.
    Physical(PhysAddr),
    /// Page `index` of the paged root `root`.
    Paged { root: VmoId, index: u64 },
}

/// Every VMO in the kernel, the frames they hold, and the queue of stale mappings.
#[derive(Debug)]
pub struct VmoStore {
    slots: Vec<Slot>,
    free_slots: Vec<u32>,
    /// Key: physical frame number of every frame that more than one VMO holds. A frame
    /// with no entry belongs to the one VMO whose page list holds it, which owns it.
    /// Keeping private frames out makes "is this frame shared?" free while nothing is
    /// shared, and committing a page does no map insert.
    frames: IndexMap<FrameMeta>,
    /// Frames held by all VMOs together.
    committed_frames: u64,
    invalidations: InvalidationQueue,
    /// Empty page lists of destroyed small VMOs, for the next first commit.
    spares: SpareLists,
}

impl Default for VmoStore {
    fn default() -> Self {
        Self::new()
    }
}

impl VmoStore {
    /// An empty store.
    pub const fn new() -> Self {
        VmoStore {
            slots: Vec::new(),
            free_slots: Vec::new(),
            frames: hashbrown::HashMap::with_hasher(IndexHashing),
            committed_frames: 0,
            invalidations: InvalidationQueue::new(),
            spares: SpareLists::new(),
        }
    }

    // ----- creation -------------------------------------------------------------------

    /// `zx_vmo_create`: a zero-filled paged VMO with nothing committed, holding one
    /// reference (the caller's first handle).
    ///
    /// Order (after the caller's job-policy check):
    /// 1. an option other than `VMO_RESIZABLE` → INVALID_ARGS;
    /// 2. `RoundSize(size)` fails → OUT_OF_RANGE;
    /// 3. no free slot → NO_MEMORY.
    pub fn create(&mut self, koid: u64, size: u64, options: u32) -> ZxResult<VmoId> {
        let (rounded, resizable) = create_shape(size, options)?;
        // The next free slot keeps a dead VMO (see `Slot`): it is renewed in place. A
        // live VMO there would be a bug in the free list: `refs` tells them apart
        // (a kept VMO has none and no child, unlike a zombie).
        if let Some(&index) = self.free_slots.last()
            && let Some(Slot { generation, vmo: Some(vmo) }) = self.slots.get_mut(index as usize)
            && vmo.refs == 0
            && vmo.num_children == 0
        {
            debug_assert!(vmo.keepable(), "a kept VMO that is not keepable");
            vmo.renew(koid, rounded, size, resizable);
            let id = VmoId::new(index, *generation);
            self.free_slots.pop();
            return Ok(id);
        }
        self.insert_with(|| {
            let mut vmo = Vmo::new(koid, rounded, size, Backing::Paged(PageList::new()));
            vmo.resizable = resizable;
            vmo.pristine = true;
            vmo
        })
    }

    /// True when `id`'s last reference may stay with its kernel object while that object
    /// waits to be reused (see [`VmoStore::renew_parked`]): the VMO holds only that
    /// reference, is keepable (no page, no heap, no parent, child, COW relation or
    /// mapping) and no invalidation is queued. The first two are the answer the store
    /// keeps ([`Vmo::pristine`]) rather than the dozen fields tested again. Nothing
    /// changes: a parked VMO is a live VMO with one reference, which nothing but its
    /// object names.
    #[inline]
    pub fn parkable(&self, id: VmoId) -> bool {
        match self.slots.get(id.index()) {
            Some(Slot { generation, vmo: Some(vmo) }) if *generation == id.generation() => {
                // The store's kept answer instead of the dozen fields `keepable` tests.
                debug_assert!(!vmo.pristine || (vmo.refs == 1 && vmo.keepable()), "a pristine VMO changed");
                self.invalidations.is_empty() && vmo.pristine
            }
            _ => false,
        }
    }

    /// `zx_vmo_create` through a parked VMO `parked` (see [`VmoStore::parkable`]): the
    /// errors of [`VmoStore::create`] in its order before anything changes, then the
    /// VMO renewed in place (only what two lives of a pristine VMO differ in:
    /// [`Vmo::renew_pristine`]), under a new id (the slot's
    /// generation moves on, as if the VMO had been destroyed and its slot reused, so an
    /// id of its last life names nothing).
    ///
    /// The caller's contract: `parked` was parkable when it was parked and nothing has
    /// named it since, so it still is (nothing else can reach it to change it). Checked
    /// in debug builds; the generation check stays (a stale id is INTERNAL, not a panic).
    pub fn renew_parked(&mut self, parked: VmoId, koid: u64, size: u64, options: u32) -> ZxResult<VmoId> {
        let (rounded, resizable) = create_shape(size, options)?;
        debug_assert!(!self.contains(parked) || self.parkable(parked), "a parked VMO that is not parkable");
        let index = parked.index();
        match self.slots.get_mut(index) {
            Some(Slot { generation, vmo: Some(vmo) }) if *generation == parked.generation() => {
                vmo.renew_pristine(koid, rounded, size, resizable);
                *generation = generation.wrapping_add(1) & GENERATION_MASK;
                Ok(VmoId::new(index as u32, *generation))
            }
            _ => Err(ZxError::Internal),
        }
    }

    /// `zx_vmo_create_physical` once the caller has checked the resource, alignment and
    /// the overlap with allocatable RAM: a VMO over `[paddr, paddr + size)`, UNCACHED.
    /// Re-checks the shape (aligned, nonzero, no wrap → else INVALID_ARGS) so that the
    /// store's own arithmetic can rely on it.
    pub fn create_physical(&mut self, koid: u64, paddr: PhysAddr, size: u64) -> ZxResult<VmoId> {
        if !paddr.is_page_aligned() || !size.is_multiple_of(PAGE_SIZE) || size == 0 {
            return Err(ZxError::InvalidArgs);
        }
        if paddr.checked_add(size - 1).is_none() || size > MAX_SIZE {
            return Err(ZxError::InvalidArgs);
        }
        let mut vmo = Vmo::new(koid, size, size, Backing::Physical(paddr));
        vmo.cache_policy = cache_policy::UNCACHED;
        self.insert(vmo)
    }

    /// `zx_vmo_create_child` from step 3 on (the caller has looked up the handle and
    /// checked DUPLICATE|READ). `copy_name` is true when the source handle has
    /// GET_PROPERTY. The new child holds one reference (the caller's handle).
    ///
    /// Order:
    /// 1. NO_WRITE is ignored (it only affects the handle's rights).
    /// 2. SLICE with any other option → INVALID_ARGS; then the slice rules of
    ///    [`Self::create_slice`].
    /// 3. Otherwise exactly one of SNAPSHOT / SNAPSHOT_AT_LEAST_ON_WRITE, optionally with
    ///    RESIZABLE; anything else → INVALID_ARGS; then the snapshot rules of
    ///    [`Self::create_snapshot`].
    pub fn create_child(
        &mut self,
        parent: VmoId,
        koid: u64,
        options: u32,
        offset: u64,
        size: u64,
        copy_name: bool,
    ) -> ZxResult<VmoId> {
        let options = options & !child::NO_WRITE;
        if options & child::SLICE != 0 {
            if options & !child::SLICE != 0 {
                return Err(ZxError::InvalidArgs);
            }
            return self.create_slice(parent, koid, offset, size, copy_name);
        }
        // SNAPSHOT is taken first, so SNAPSHOT | AT_LEAST_ON_WRITE leaves a stray bit.
        let mut rest = options;
        if rest & child::SNAPSHOT != 0 {
            rest &= !child::SNAPSHOT;
        } else if rest & child::SNAPSHOT_AT_LEAST_ON_WRITE != 0 {
            rest &= !child::SNAPSHOT_AT_LEAST_ON_WRITE;
        } else {
            return Err(ZxError::InvalidArgs);
        }
        let resizable = rest & child::RESIZABLE != 0;
        rest &= !child::RESIZABLE;
        if rest != 0 {
            return Err(ZxError::InvalidArgs);
        }
        self.create_snapshot(parent, koid, resizable, offset, size, copy_name)
    }

    /// A slice of `parent`. Order (Zircon's `CreateChildSlice`):
    /// 1. `offset` not page-aligned → INVALID_ARGS;
    /// 2. `RoundSize(size)` fails → OUT_OF_RANGE;
    /// 3. the slice not wholly inside the parent → INVALID_ARGS;
    /// 4. the parent is resizable → NOT_SUPPORTED;
    /// 5. the parent is not CACHED and not physical (contiguous) → BAD_STATE.
    fn create_slice(&mut self, parent: VmoId, koid: u64, offset: u64, size: u64, copy_name: bool) -> ZxResult<VmoId> {
        let unrounded = size;
        let physical = self.is_physical(parent);
        let (root, root_first_page) = self.root_of(parent);
        let p = vmo_ref(&self.slots, parent);
        if !offset.is_multiple_of(PAGE_SIZE) {
            return Err(ZxError::InvalidArgs);
        }
        let size = round_size(size)?;
        if !in_range(offset, size, p.size) {
            return Err(ZxError::InvalidArgs);
        }
        if p.resizable {
            return Err(ZxError::NotSupported);
        }
        if p.cache_policy != cache_policy::CACHED && !physical {
            return Err(ZxError::BadState);
        }

        let first_page = root_first_page + pages(offset);
        let mut slice = Vmo::new(koid, size, unrounded, Backing::Slice { root, root_first_page: first_page });
        slice.cache_policy = p.cache_policy;
        slice.parent = Some(parent);
        // Every slice names its parent, a physical one included (Zircon's
        // VmoTestCase.PhysicalSlice).
        slice.parent_koid = p.koid;
        if copy_name {
            slice.name = p.name;
        }
        // Memory first: the root's list of slices and the slot.
        vmo_mut(&mut self.slots, root).slices.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        self.reserve_slot()?;
        let id = self.insert(slice)?;

        let p = vmo_mut(&mut self.slots, parent);
        p.num_children += 1;
        // The slice keeps its parent (and through it the root) alive.
        p.refs = p.refs.saturating_add(1);
        vmo_mut(&mut self.slots, root).slices.push(SliceView { slice: id, first_page, page_count: pages(size) });
        Ok(id)
    }

    /// A copy-on-write snapshot of `parent`. Order (Zircon's `CreateClone`):
    /// 1. the parent is physical (or a slice of one) → NOT_SUPPORTED (the base
    ///    `VmObject::CreateClone`, reached before any argument check);
    /// 2. `offset` not page-aligned → INVALID_ARGS;
    /// 3. `RoundSize(size)` fails → OUT_OF_RANGE;
    /// 4. the parent is not CACHED → BAD_STATE.
    ///
    /// The child may extend past the parent's end; that part reads as zero. The parent's
    /// frames in range become shared, so their writable mappings are invalidated.
    fn create_snapshot(
        &mut self,
        parent: VmoId,
        koid: u64,
        resizable: bool,
        offset: u64,
        size: u64,
        copy_name: bool,
    ) -> ZxResult<VmoId> {
        let unrounded = size;
        if self.is_physical(parent) {
            return Err(ZxError::NotSupported);
        }
        if !offset.is_multiple_of(PAGE_SIZE) {
            return Err(ZxError::InvalidArgs);
        }
        let size = round_size(size)?;
        let (root, root_first_page) = self.root_of(parent);
        let p = vmo_ref(&self.slots, parent);
        if p.cache_policy != cache_policy::CACHED {
            return Err(ZxError::BadState);
        }

        // The parent pages the child sees: [offset, offset + size) ∩ [0, parent size).
        let parent_pages = pages(p.size);
        let offset_pages = pages(offset);
        let visible = if offset_pages >= parent_pages { 0 } else { pages(size).min(parent_pages - offset_pages) };
        let source_first = root_first_page + offset_pages;

        // 1. Every allocation, before anything changes: the child's page list, room in
        //    the frame table for frames shared for the first time, room among the
        //    holders of frames already shared, and the child's slot.
        let mut child_pages = PageList::new();
        let mut newly_shared = 0usize;
        if let Some(list) = vmo_ref(&self.slots, root).page_list() {
            for (root_index, frame) in list.range(source_first, source_first + visible) {
                child_pages.insert(root_index - source_first, frame)?;
                match self.frames.get_mut(&pfn(frame)) {
                    Some(meta) => meta.others.try_reserve_one()?,
                    None => newly_shared += 1,
                }
            }
        }
        self.frames.try_reserve(newly_shared).map_err(|_| ZxError::NoMemory)?;
        self.reserve_slot()?;

        // 2. Nothing below allocates.
        let p = vmo_ref(&self.slots, parent);
        let mut clone = Vmo::new(koid, size, unrounded, Backing::Paged(child_pages));
        clone.resizable = resizable;
        clone.cow_clone = true;
        clone.parent = Some(parent);
        clone.parent_koid = p.koid;
        clone.cow_source_root = Some(root);
        if copy_name {
            clone.name = p.name;
        }
        let id = self.insert(clone)?;
        // Frames private to `root` until now must become read-only in its mappings:
        // the span of them is invalidated once, after the loop.
        let mut span: Option<(u64, u64)> = None;
        if let Some(list) = vmo_ref(&self.slots, root).page_list() {
            for (root_index, frame) in list.range(source_first, source_first + visible) {
                match self.frames.get_mut(&pfn(frame)) {
                    Some(meta) => meta.others.push(id),
                    None => {
                        // A frame without an entry was private to `root`, which owns it.
                        self.frames.insert(pfn(frame), FrameMeta { owner: root, others: Others::one(id) });
                        span = Some(
                            span.map_or((root_index, root_index), |(lo, hi)| (lo.min(root_index), hi.max(root_index))),
                        );
                    }
                }
            }
        }
        if let Some((lo, hi)) = span {
            self.invalidate(root, lo, hi - lo + 1);
        }
        vmo_mut(&mut self.slots, parent).num_children += 1;
        vmo_mut(&mut self.slots, root).cow_children += 1;
        Ok(id)
    }

    // ----- plain accessors ------------------------------------------------------------

    /// True while `id` names a VMO in the store (alive or zombie).
    pub fn contains(&self, id: VmoId) -> bool {
        matches!(self.slots.get(id.index()), Some(Slot { generation, vmo: Some(_) }) if *generation == id.generation())
    }

    /// The VMO's koid.
    pub fn koid(&self, id: VmoId) -> u64 {
        vmo_ref(&self.slots, id).koid
    }

    /// The page-rounded size (`zx_vmo_get_size`).
    pub fn size(&self, id: VmoId) -> u64 {
        vmo_ref(&self.slots, id).size
    }

    /// True for VMOs created RESIZABLE (or COW children created CHILD_RESIZABLE).
    pub fn is_resizable(&self, id: VmoId) -> bool {
        vmo_ref(&self.slots, id).resizable
    }

    /// True for physical VMOs and slices of them.
    pub fn is_physical(&self, id: VmoId) -> bool {
        let (root, _) = self.root_of(id);
        matches!(vmo_ref(&self.slots, root).backing, Backing::Physical(_))
    }

    /// The cache policy mappings must use (`cache_policy::*`).
    pub fn cache_policy(&self, id: VmoId) -> u32 {
        vmo_ref(&self.slots, id).cache_policy
    }

    /// The 32-byte, NUL-terminated name.
    pub fn name(&self, id: VmoId) -> [u8; prop::NAME_LEN] {
        vmo_ref(&self.slots, id).name
    }

    /// Sets the name: at most 31 bytes are kept, the rest is NUL.
    pub fn set_name(&mut self, id: VmoId, name: &[u8]) {
        let mut stored = [0u8; prop::NAME_LEN];
        let kept = name.len().min(prop::NAME_LEN - 1);
        stored[..kept].copy_from_slice(&name[..kept]);
        vmo_mut(&mut self.slots, id).name = stored;
    }

    /// `ZX_PROP_VMO_CONTENT_SIZE`: starts at the unrounded create size, follows
    /// `set_size`.
    pub fn content_size(&self, id: VmoId) -> u64 {
        vmo_ref(&self.slots, id).content_size
    }

    /// Sets the content size to any value, with no other effect (ABI.md §4).
    pub fn set_content_size(&mut self, id: VmoId, content_size: u64) {
        vmo_mut(&mut self.slots, id).content_size = content_size;
    }

    /// Asserted signals: ZX_VMO_ZERO_CHILDREN when the VMO has no children (a child
    /// counts while it or any of its descendants is alive or mapped) plus user signals.
    pub fn signals(&self, id: VmoId) -> u32 {
        let vmo = vmo_ref(&self.slots, id);
        let zero_children = if vmo.num_children == 0 { signal::VMO_ZERO_CHILDREN } else { 0 };
        zero_children | vmo.user_signals
    }

    /// `zx_object_signal`: clears then sets user signals. The caller has rejected bits
    /// outside `USER_ALL`; any that slip through are ignored.
    pub fn signal(&mut self, id: VmoId, clear: u32, set: u32) {
        let vmo = vmo_mut(&mut self.slots, id);
        vmo.user_signals = ((vmo.user_signals & !clear) | set) & signal::USER_ALL;
    }

    /// Pages with content in `[offset, offset + len)` of the VMO (for a mapping's share of
    /// ZX_INFO_TASK_STATS): committed pages it owns or sees through a parent (every page
    /// of a physical VMO). Costs what is committed there, not the range's length
    /// ([`PageList::range`]), so a huge, sparsely committed mapping is cheap (issue 13,
    /// defect 3).
    pub fn committed_pages_in(&self, id: VmoId, offset: u64, len: u64) -> u64 {
        let size = vmo_ref(&self.slots, id).size;
        let end = offset.saturating_add(len).min(size);
        let (first, last) = (offset / PAGE_SIZE, end.div_ceil(PAGE_SIZE));
        if first >= last {
            return 0;
        }
        let (root, root_first_page) = self.root_of(id);
        let root = vmo_ref(&self.slots, root);
        match (&root.backing, root.page_list()) {
            (Backing::Physical(_), _) => last - first,
            (_, Some(list)) => list.range(root_first_page + first, root_first_page + last).count() as u64,
            (_, None) => 0,
        }
    }

    /// `ZX_INFO_VMO` as the store knows it.
    pub fn info(&self, id: VmoId) -> VmoInfo {
        let physical = self.is_physical(id);
        let vmo = vmo_ref(&self.slots, id);
        let mut flags = if physical { info::VMO_CONTIGUOUS } else { info::VMO_TYPE_PAGED };
        if vmo.resizable {
            flags |= info::VMO_RESIZABLE;
        }
        if vmo.cow_clone {
            flags |= info::VMO_IS_COW_CLONE;
        }
        VmoInfo {
            koid: vmo.koid,
            name: vmo.name,
            size_bytes: vmo.size,
            parent_koid: vmo.parent_koid,
            num_children: vmo.num_children,
            num_mappings: vmo.num_mappings,
            // Zircon counts distinct address spaces, and 1 when mapped fewer than twice;
            // ABI v1 has one address space, so the answer is always 1.
            share_count: 1,
            flags,
            committed_bytes: bytes(vmo.owned_pages),
            cache_policy: vmo.cache_policy,
        }
    }

    // ----- size -----------------------------------------------------------------------

    /// `zx_vmo_set_size` (the caller checked WRITE). Order:
    /// 1. not resizable (including physical VMOs and slices) → UNAVAILABLE;
    /// 2. `RoundSize(size)` fails → OUT_OF_RANGE.
    ///
    /// Shrinking gives up the pages past the new end and invalidates their mappings
    /// (touching them then faults); growing exposes zeros. The content size becomes
    /// `size`, unrounded.
    pub fn set_size(&mut self, id: VmoId, size: u64, mem: &mut dyn PhysMemory) -> ZxResult {
        let vmo = vmo_ref(&self.slots, id);
        if !vmo.resizable {
            return Err(ZxError::Unavailable);
        }
        let rounded = round_size(size)?;
        let old_pages = pages(vmo.size);
        let new_pages = pages(rounded);
        if new_pages < old_pages {
            // Never allocates: the pages go straight from the list to `drop_frame`.
            self.drain_pages(id, new_pages, u64::MAX, mem);
            self.invalidate(id, new_pages, old_pages - new_pages);
        }
        let vmo = vmo_mut(&mut self.slots, id);
        vmo.size = rounded;
        vmo.content_size = size;
        Ok(())
    }

    // ----- reading and writing --------------------------------------------------------

    /// The checks of `zx_vmo_read` / `zx_vmo_write` after the handle and right. Order:
    /// 1. physical VMO (or slice of one) → NOT_SUPPORTED. Zircon's physical VMO uses the
    ///    base `VmObject::Read/Write`, which fails before looking at the arguments; and
    ///    physical VMOs start UNCACHED, so checking the policy first would report
    ///    BAD_STATE where ABI.md promises NOT_SUPPORTED;
    /// 2. `offset + len` overflows → OUT_OF_RANGE;
    /// 3. cache policy not CACHED → BAD_STATE (even for len 0);
    /// 4. `offset + len > size` → OUT_OF_RANGE (no trimming).
    pub fn check_read_write(&self, id: VmoId, offset: u64, len: u64) -> ZxResult {
        let vmo = vmo_ref(&self.slots, id);
        // Only a slice needs its root looked up to tell whether it is physical.
        let physical = match vmo.backing {
            Backing::Paged(_) => false,
            Backing::Physical(_) => true,
            Backing::Slice { .. } => self.is_physical(id),
        };
        if physical {
            return Err(ZxError::NotSupported);
        }
        check_range_and_policy(vmo, offset, len)
    }

    /// The page behind `page_index` for reading or read-only mapping, or `None` when it
    /// is not committed (reads as zero). Slices resolve to their root; physical VMOs
    /// return the physical page. Never allocates. `None` too for an index past the end:
    /// callers that must fault there compare against [`Self::size`] first.
    pub fn page_for_read(&self, id: VmoId, page_index: u64) -> Option<PageRef> {
        if page_index >= pages(vmo_ref(&self.slots, id).size) {
            return None;
        }
        match self.target(id, page_index) {
            Target::Physical(pa) => Some(PageRef { pa, shared: false }),
            Target::Paged { root, index } => {
                let frame = vmo_ref(&self.slots, root).page_list()?.get(index)?;
                Some(PageRef { pa: frame, shared: self.is_shared(frame) })
            }
        }
    }

    /// The hot path of a write: the frame at `page_index` when `id` is a paged VMO (not
    /// a slice) that already holds it privately, so [`Self::page_for_write`] would
    /// return it unchanged. `None` means "take the general path" (uncommitted, shared,
    /// a slice, physical, or past the end). One slot lookup and one page-list lookup.
    #[inline(always)]
    pub fn private_page(&self, id: VmoId, page_index: u64) -> Option<PhysAddr> {
        let vmo = vmo_ref(&self.slots, id);
        let Backing::Paged(list) = &vmo.backing else { return None };
        if page_index >= pages(vmo.size) {
            return None;
        }
        let frame = list.get(page_index)?;
        (!self.is_shared(frame)).then_some(frame)
    }

    /// [`Self::private_page`] for a run of pages: the frames of pages `first..` that `id`
    /// holds privately, written to `out` in order up to the first page that is not one
    /// (or `out.len()` of them); returns how many were written. One slot lookup for the
    /// run, so a long write pays it once rather than per page.
    pub fn private_pages(&self, id: VmoId, first: u64, out: &mut [PhysAddr]) -> usize {
        let vmo = vmo_ref(&self.slots, id);
        let Backing::Paged(list) = &vmo.backing else { return 0 };
        let Some(left) = pages(vmo.size).checked_sub(first) else { return 0 };
        // Within one directory chunk (the caller asks again for the next one) and the
        // VMO's size.
        let entries = list.dense_run(first);
        let entries = &entries[..entries.len().min(left.min(out.len() as u64) as usize)];
        let mut n = 0;
        for (&entry, slot) in entries.iter().zip(out.iter_mut()) {
            let frame = PhysAddr(entry);
            if entry == crate::vm::page_list::EMPTY || self.is_shared(frame) {
                break;
            }
            *slot = frame;
            n += 1;
        }
        n
    }

    /// The page behind `page_index`, made private and writable: commits a zero page if
    /// none is there, forks a copy if the frame is shared, and returns the frame as is
    /// if this VMO alone holds it (no allocation, nothing queued). Physical VMOs return
    /// the physical page. An index past the end → OUT_OF_RANGE; NO_MEMORY leaves every
    /// VMO as it was.
    ///
    /// Generic over the memory so the kernel's fault path calls its allocator directly
    /// (no virtual call for the commit).
    pub fn page_for_write<M: PhysMemory>(&mut self, id: VmoId, page_index: u64, mem: &mut M) -> ZxResult<PhysAddr> {
        self.page_for_write_inline(id, page_index, mem).map(|(pa, _)| pa)
    }

    /// [`Self::page_for_write`], inlined into its caller (the page-fault path: no call,
    /// no result through memory; the rare cases stay out of line), and the VMO's cache
    /// policy, read in the same slot lookup.
    #[inline(always)]
    pub fn page_for_write_inline<M: PhysMemory>(
        &mut self,
        id: VmoId,
        page_index: u64,
        mem: &mut M,
    ) -> ZxResult<(PhysAddr, u32)> {
        let vmo = vmo_mut(&mut self.slots, id);
        let policy = vmo.cache_policy;
        if page_index >= pages(vmo.size) {
            return Err(ZxError::OutOfRange);
        }
        // The common cases of a paged VMO that is not a slice, with one slot lookup: a
        // page it holds privately, and a fresh commit (which shares nothing, so it needs
        // no frame-table entry).
        if let Backing::Paged(list) = &mut vmo.backing {
            match list.get_or_insert_zeroed(page_index, mem, &mut self.spares)? {
                (frame, true) => {
                    if count_private_frame(vmo, &mut self.committed_frames) {
                        self.invalidate(id, page_index, 1);
                    }
                    return Ok((frame, policy));
                }
                (frame, false) if !is_shared_in(&self.frames, frame) => return Ok((frame, policy)),
                (_, false) => {}
            }
        }
        Ok((self.page_for_write_other(id, page_index, mem)?, policy))
    }

    /// The hot path of a `zx_vmo_write` within one page: the checks of
    /// [`Self::check_read_write`] (same errors, same order) and what holds page
    /// `offset / PAGE_SIZE`, with one slot lookup. Anything but a paged VMO that is not a
    /// slice answers [`WriteTarget::Other`] after the full checks, as does a shared
    /// frame. With `len == 0` the answer after the checks means nothing.
    #[inline(always)]
    pub fn write_target(&self, id: VmoId, offset: u64, len: u64) -> ZxResult<WriteTarget> {
        let vmo = vmo_ref(&self.slots, id);
        let Backing::Paged(list) = &vmo.backing else {
            self.check_read_write(id, offset, len)?;
            return Ok(WriteTarget::Other);
        };
        // A paged VMO that is not a slice is never physical: checks 2 to 4.
        check_range_and_policy(vmo, offset, len)?;
        Ok(match list.get(offset / PAGE_SIZE) {
            Some(frame) if !self.is_shared(frame) => WriteTarget::Private(frame),
            Some(_) => WriteTarget::Other,
            None => WriteTarget::Uncommitted,
        })
    }

    /// Commits `frame`, which the caller filled completely (a whole-page write copied
    /// into a fresh frame before it was published), as page `page_index` of `id`, a
    /// paged VMO that is not a slice and has no page there ([`WriteTarget::Uncommitted`]
    /// under the same lock). The same bookkeeping as a fresh commit by
    /// [`Self::page_for_write`]: counts, and mappings that may show the zero page are
    /// queued for invalidation. NO_MEMORY (no room in the page list) changes nothing and
    /// leaves `frame` with the caller. Inlined into the write path (one caller).
    #[inline(always)]
    pub fn commit_filled(&mut self, id: VmoId, page_index: u64, frame: PhysAddr) -> ZxResult {
        let vmo = vmo_mut(&mut self.slots, id);
        let Backing::Paged(list) = &mut vmo.backing else {
            panic!("commit_filled: {id:?} is not a paged VMO");
        };
        assert!(page_index < pages(vmo.size), "commit_filled: page {page_index} past the end");
        let old = list.insert(page_index, frame)?;
        assert!(old.is_none(), "commit_filled: page {page_index} was committed");
        if count_private_frame(vmo, &mut self.committed_frames) {
            self.invalidate(id, page_index, 1);
        }
        Ok(())
    }

    /// [`Self::page_for_write`] for a physical VMO, a slice or a shared frame: out of
    /// line, so the common cases above inline into the fault path.
    #[inline(never)]
    fn page_for_write_other<M: PhysMemory>(&mut self, id: VmoId, page_index: u64, mem: &mut M) -> ZxResult<PhysAddr> {
        match self.target(id, page_index) {
            Target::Physical(pa) => Ok(pa),
            Target::Paged { root, index } => self.make_private(root, index, mem),
        }
    }

    // ----- op_range -------------------------------------------------------------------

    /// `zx_vmo_op_range` after the handle lookup; `handle_rights` are the handle's.
    /// 1. an unknown op → INVALID_ARGS;
    /// 2. LOCK / UNLOCK → NOT_SUPPORTED (2020 tree, no rights needed);
    /// 3. the op's right (WRITE for COMMIT, DECOMMIT, ZERO, CACHE_INVALIDATE; READ for
    ///    CACHE_SYNC, CACHE_CLEAN, CACHE_CLEAN_INVALIDATE) missing → ACCESS_DENIED;
    /// 4. the op's own checks, documented on each helper.
    #[allow(clippy::too_many_arguments)]
    pub fn op_range(
        &mut self,
        id: VmoId,
        op_code: u32,
        offset: u64,
        size: u64,
        handle_rights: u32,
        mem: &mut dyn PhysMemory,
        cache: &mut dyn CacheMaintenance,
    ) -> ZxResult {
        let need = |right: u32| {
            if handle_rights & right != 0 { Ok(()) } else { Err(ZxError::AccessDenied) }
        };
        match op_code {
            op::COMMIT => {
                need(rights::WRITE)?;
                self.commit(id, offset, size, mem, cache)
            }
            op::DECOMMIT => {
                need(rights::WRITE)?;
                self.decommit(id, offset, size, mem)
            }
            op::LOCK | op::UNLOCK => Err(ZxError::NotSupported),
            op::CACHE_SYNC => {
                need(rights::READ)?;
                self.cache_op(id, offset, size, CacheOp::Sync, cache)
            }
            op::CACHE_INVALIDATE => {
                need(rights::WRITE)?;
                self.cache_op(id, offset, size, CacheOp::Invalidate, cache)
            }
            op::CACHE_CLEAN => {
                need(rights::READ)?;
                self.cache_op(id, offset, size, CacheOp::Clean, cache)
            }
            op::CACHE_CLEAN_INVALIDATE => {
                need(rights::READ)?;
                self.cache_op(id, offset, size, CacheOp::CleanInvalidate, cache)
            }
            op::ZERO => {
                need(rights::WRITE)?;
                self.zero(id, offset, size, mem)
            }
            _ => Err(ZxError::InvalidArgs),
        }
    }

    /// COMMIT:
    /// 1. physical → NOT_SUPPORTED (base `VmObject::CommitRange`);
    /// 2. `TrimRange(offset, len, size)` fails → OUT_OF_RANGE; a trimmed length of 0 → OK;
    /// 3. every page touching `[offset, offset + len)` is faulted in for writing: a zero
    ///    page where there is none, a private copy where the frame is shared.
    ///
    /// Not atomic, like Zircon's: on NO_MEMORY the pages committed so far stay. Contents
    /// never change. In a VMO that is not CACHED each new frame is cleaned and
    /// invalidated so no dirty cache line hides the zeros from uncached mappings.
    fn commit(
        &mut self,
        id: VmoId,
        offset: u64,
        len: u64,
        mem: &mut dyn PhysMemory,
        cache: &mut dyn CacheMaintenance,
    ) -> ZxResult {
        if self.is_physical(id) {
            return Err(ZxError::NotSupported);
        }
        let vmo = vmo_ref(&self.slots, id);
        let trimmed = trim_range(offset, len, vmo.size).ok_or(ZxError::OutOfRange)?;
        if trimmed == 0 {
            return Ok(());
        }
        let uncached = vmo.cache_policy != cache_policy::CACHED;
        let first = pages(offset);
        // offset + trimmed <= size <= MAX_SIZE, so rounding up cannot overflow.
        let end = pages(page_ceil(offset + trimmed).unwrap_or(vmo.size));
        let (root, root_first_page) = self.root_of(id);
        for page in first..end {
            let index = root_first_page + page;
            let before = vmo_ref(&self.slots, root).page_list().and_then(|list| list.get(index));
            let frame = self.make_private(root, index, mem)?;
            if uncached && before != Some(frame) {
                cache.clean_invalidate(frame, PAGE_SIZE as usize);
            }
        }
        Ok(())
    }

    /// DECOMMIT, in Zircon's order:
    /// 1. physical (contiguous) → NOT_SUPPORTED;
    /// 2. `TrimRange` fails → OUT_OF_RANGE; a trimmed length of 0 → OK;
    /// 3. a slice forwards to its root with the offset added (and the trimmed length);
    /// 4. the root is a COW child or has COW children → NOT_SUPPORTED;
    /// 5. offset or length not page-aligned → INVALID_ARGS (even with nothing committed).
    ///
    /// Then the range's frames are given up and the range reads as zero.
    fn decommit(&mut self, id: VmoId, offset: u64, len: u64, mem: &mut dyn PhysMemory) -> ZxResult {
        if self.is_physical(id) {
            return Err(ZxError::NotSupported);
        }
        let vmo = vmo_ref(&self.slots, id);
        let trimmed = trim_range(offset, len, vmo.size).ok_or(ZxError::OutOfRange)?;
        if trimmed == 0 {
            return Ok(());
        }
        let (root, root_offset, checked_len) = match vmo.backing {
            Backing::Slice { root, root_first_page } => (root, bytes(root_first_page) + offset, trimmed),
            _ => (id, offset, len),
        };
        let r = vmo_ref(&self.slots, root);
        if r.parent.is_some() || r.cow_children > 0 {
            return Err(ZxError::NotSupported);
        }
        if !root_offset.is_multiple_of(PAGE_SIZE) || !checked_len.is_multiple_of(PAGE_SIZE) {
            return Err(ZxError::InvalidArgs);
        }
        let first = pages(root_offset);
        self.drop_pages(root, first, first + pages(trimmed), mem);
        Ok(())
    }

    /// ZERO, in Zircon's order:
    /// 1. physical → NOT_SUPPORTED (base `VmObject::ZeroRange`);
    /// 2. cache policy not CACHED → BAD_STATE;
    /// 3. `TrimRange` fails → OUT_OF_RANGE; a trimmed length of 0 → OK;
    /// 4. a slice forwards to its root.
    ///
    /// Partial head and tail pages that are committed are made private and zeroed in
    /// place; uncommitted ones already read as zero. Whole pages are given up, so
    /// `committed_bytes` falls; with eager snapshots nothing can show through.
    /// Allocation (forking a shared head or tail) happens before any byte changes, so
    /// NO_MEMORY leaves the contents as they were.
    fn zero(&mut self, id: VmoId, offset: u64, len: u64, mem: &mut dyn PhysMemory) -> ZxResult {
        if self.is_physical(id) {
            return Err(ZxError::NotSupported);
        }
        let vmo = vmo_ref(&self.slots, id);
        if vmo.cache_policy != cache_policy::CACHED {
            return Err(ZxError::BadState);
        }
        let trimmed = trim_range(offset, len, vmo.size).ok_or(ZxError::OutOfRange)?;
        if trimmed == 0 {
            return Ok(());
        }
        let (root, root_first_page) = self.root_of(id);
        let start = bytes(root_first_page) + offset;
        let end = start + trimmed;
        // Whole pages are [whole_start, whole_end); when the range sits inside one page
        // without covering it, whole_start > whole_end.
        let whole_start = page_ceil(start).unwrap_or(end);
        let whole_end = end & !(PAGE_SIZE - 1);

        // Partial pieces: (page index, from, to) in bytes within the page.
        let mut pieces: [Option<(u64, usize, usize)>; 2] = [None, None];
        let in_page = |at: u64| (at % PAGE_SIZE) as usize;
        if whole_start > whole_end {
            pieces[0] = Some((pages(start), in_page(start), in_page(start) + (end - start) as usize));
        } else {
            if !start.is_multiple_of(PAGE_SIZE) {
                pieces[0] = Some((pages(start), in_page(start), PAGE_SIZE as usize));
            }
            if !end.is_multiple_of(PAGE_SIZE) {
                pieces[1] = Some((pages(end), 0, in_page(end)));
            }
        }

        // Phase 1: make committed partial pages private (the only allocations).
        for &(index, _, _) in pieces.iter().flatten() {
            if self.root_page(root, index).is_some() {
                self.make_private(root, index, mem)?;
            }
        }
        // Phase 2: zero the partial pieces in place.
        for &(index, from, to) in pieces.iter().flatten() {
            if let Some(frame) = self.root_page(root, index) {
                mem.zero_range(frame, from, to - from);
            }
        }
        // Phase 3: give up the whole pages.
        if whole_start < whole_end {
            self.drop_pages(root, pages(whole_start), pages(whole_end), mem);
        }
        Ok(())
    }

    /// CACHE_SYNC / INVALIDATE / CLEAN / CLEAN_INVALIDATE:
    /// 1. `len == 0` → INVALID_ARGS;
    /// 2. not `InRange(offset, len, size)` → OUT_OF_RANGE;
    /// 3. the operation runs on each committed piece of the range (uncommitted pages are
    ///    skipped); a physical VMO's range is one contiguous call.
    fn cache_op(&self, id: VmoId, offset: u64, len: u64, kind: CacheOp, cache: &mut dyn CacheMaintenance) -> ZxResult {
        if len == 0 {
            return Err(ZxError::InvalidArgs);
        }
        if !in_range(offset, len, vmo_ref(&self.slots, id).size) {
            return Err(ZxError::OutOfRange);
        }
        let (root, root_first_page) = self.root_of(id);
        let start = bytes(root_first_page) + offset;
        let end = start + len;
        match &vmo_ref(&self.slots, root).backing {
            Backing::Physical(base) => kind.apply(cache, PhysAddr(base.0 + start), len),
            Backing::Paged(list) => {
                let end_page = pages(page_ceil(end).unwrap_or(end));
                for (index, frame) in list.range(pages(start), end_page) {
                    let page_start = bytes(index);
                    let lo = start.max(page_start);
                    let hi = end.min(page_start + PAGE_SIZE);
                    kind.apply(cache, PhysAddr(frame.0 + (lo - page_start)), hi - lo);
                }
            }
            Backing::Slice { .. } => {}
        }
        Ok(())
    }

    // ----- cache policy ---------------------------------------------------------------

    /// `zx_vmo_set_cache_policy` after the caller's mask check and MAP right.
    ///
    /// Physical VMO (or slice of one):
    /// 1. the same policy again → OK, nothing changes;
    /// 2. mapped, has children, or is a slice → BAD_STATE.
    ///
    /// Paged VMO, each failure BAD_STATE:
    /// 1. it holds pages and its policy is not CACHED;
    /// 2. (pinned pages: never, there is no pinning);
    /// 3. it is mapped;
    /// 4. it has children;
    /// 5. it is a child (COW child or slice).
    ///
    /// Moving a paged VMO from CACHED to another policy cleans and invalidates every
    /// frame it holds first, since the kernel may have written them through the cache.
    pub fn set_cache_policy(&mut self, id: VmoId, policy: u32, cache: &mut dyn CacheMaintenance) -> ZxResult {
        if policy & !cache_policy::MASK != 0 {
            return Err(ZxError::InvalidArgs);
        }
        let physical = self.is_physical(id);
        let vmo = vmo_ref(&self.slots, id);
        if physical {
            if policy == vmo.cache_policy {
                return Ok(());
            }
            if vmo.num_mappings != 0 || vmo.num_children != 0 || vmo.parent.is_some() {
                return Err(ZxError::BadState);
            }
        } else {
            let holds_pages = vmo.page_list().is_some_and(|list| !list.is_empty());
            if holds_pages && vmo.cache_policy != cache_policy::CACHED {
                return Err(ZxError::BadState);
            }
            if vmo.num_mappings != 0 || vmo.num_children != 0 || vmo.parent.is_some() {
                return Err(ZxError::BadState);
            }
            if vmo.cache_policy == cache_policy::CACHED
                && policy != cache_policy::CACHED
                && let Some(list) = vmo.page_list()
            {
                for (_, frame) in list.iter() {
                    cache.clean_invalidate(frame, PAGE_SIZE as usize);
                }
            }
        }
        vmo_mut(&mut self.slots, id).cache_policy = policy;
        Ok(())
    }

    // ----- lifetime -------------------------------------------------------------------

    /// Takes one more reference (a handle or a mapping).
    pub fn retain(&mut self, id: VmoId) {
        let vmo = vmo_mut(&mut self.slots, id);
        debug_assert!(vmo.refs > 0, "retain of a destroyed VMO");
        vmo.refs = vmo.refs.saturating_add(1);
    }

    /// Drops one reference. At zero the VMO gives up its frames (passing ownership of
    /// shared ones to another holder), a slice releases its parent, and the node leaves
    /// the store unless it still has children (then it stays as an empty zombie until
    /// they are gone). Parents' child counts and ZX_VMO_ZERO_CHILDREN follow at once.
    #[inline(never)]
    pub fn release(&mut self, id: VmoId, mem: &mut dyn PhysMemory) {
        let queue_empty = self.invalidations.is_empty();
        let vmo = vmo_mut(&mut self.slots, id);
        debug_assert!(vmo.refs > 0, "release of a destroyed VMO");
        if vmo.refs > 1 {
            vmo.refs -= 1;
            return;
        }
        // The last reference of a VMO that is no slice, has no parent, children or COW
        // source and holds no page (one created and closed, the common short life):
        // what `destroy` does for it, the slot emptied and queued for reuse with a new
        // generation. Not while invalidations are queued (`destroy` drops the VMO's).
        let keep = vmo.keepable();
        if queue_empty
            && vmo.refs == 1
            && vmo.parent.is_none()
            && vmo.num_children == 0
            && vmo.cow_source_root.is_none()
            && matches!(&vmo.backing, Backing::Paged(list) if list.is_empty())
            && let Some(slot) = self.slots.get_mut(id.index())
        {
            // A VMO that never committed a page and never had a slice owns no heap
            // memory (its page list has no directory or table, its slice list no
            // buffer; the rest is inline): it stays in the slot as a kept VMO (see
            // `Slot`), with no reference, for the next `create`.
            match &mut slot.vmo {
                Some(vmo) if keep => vmo.refs = 0,
                vmo => *vmo = None,
            }
            slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
            // Within the capacity `reserve_slot` keeps (one entry per slot): no allocation.
            self.free_slots.push(id.index() as u32);
            return;
        }
        self.release_chain(id, mem);
    }

    /// [`Self::release`] in general: out of line.
    #[inline(never)]
    fn release_chain(&mut self, id: VmoId, mem: &mut dyn PhysMemory) {
        // Iterative, because a chain of slices releases parent after parent.
        let mut next = Some(id);
        while let Some(current) = next.take() {
            let vmo = vmo_mut(&mut self.slots, current);
            debug_assert!(vmo.refs > 0, "release of a destroyed VMO");
            vmo.refs = vmo.refs.saturating_sub(1);
            if vmo.refs == 0 {
                next = self.destroy(current, mem);
            }
        }
    }

    /// Counts a new mapping of the VMO (for `num_mappings` and the cache-policy rule).
    /// The kernel also calls [`Self::retain`] for it.
    pub fn add_mapping(&mut self, id: VmoId) {
        let vmo = vmo_mut(&mut self.slots, id);
        vmo.num_mappings = vmo.num_mappings.saturating_add(1);
    }

    /// Records that a mapping of `id` is about to show the shared zero page for one of
    /// its uncommitted pages (a read fault). From then on a commit of a fresh page of
    /// the VMO queues an invalidation so that such mappings refault and see the new
    /// frame; before, a fresh commit queues nothing (no mapping can show that page).
    pub fn note_zero_page_shown(&mut self, id: VmoId) {
        let (root, _) = self.root_of(id);
        vmo_mut(&mut self.slots, root).zero_page_shown = true;
    }

    /// Counts a mapping gone. The kernel also calls [`Self::release`] for it.
    pub fn remove_mapping(&mut self, id: VmoId) {
        let vmo = vmo_mut(&mut self.slots, id);
        vmo.num_mappings = vmo.num_mappings.saturating_sub(1);
    }

    /// A new mapping of the VMO: [`Self::add_mapping`] and [`Self::retain`] with one
    /// slot lookup.
    pub fn retain_mapping(&mut self, id: VmoId) {
        let vmo = vmo_mut(&mut self.slots, id);
        debug_assert!(vmo.refs > 0, "retain of a destroyed VMO");
        vmo.num_mappings = vmo.num_mappings.saturating_add(1);
        vmo.refs = vmo.refs.saturating_add(1);
    }

    /// A mapping of the VMO gone: [`Self::remove_mapping`] and [`Self::release`], with
    /// one slot lookup when the mapping's reference is not the last (the VMO's handle
    /// or another mapping still holds it).
    pub fn release_mapping(&mut self, id: VmoId, mem: &mut dyn PhysMemory) {
        let vmo = vmo_mut(&mut self.slots, id);
        debug_assert!(vmo.refs > 0, "release of a destroyed VMO");
        vmo.num_mappings = vmo.num_mappings.saturating_sub(1);
        if vmo.refs > 1 {
            vmo.refs -= 1;
            return;
        }
        self.release(id, mem);
    }

    // ----- kernel-facing queues and totals ----------------------------------------------

    /// Takes one queued invalidation (the last queued first), or `None` when the queue
    /// is empty. Unlike [`Self::take_invalidations`] it leaves the store free to use
    /// while the entry is handled, so the caller needs no copy of the queue.
    pub fn pop_invalidation(&mut self) -> Option<Invalidation> {
        self.invalidations.pop()
    }

    /// True when the queue overflowed: every mapping of every VMO must drop its
    /// page-table entries (they refault). Clears the flag, and the kernel should drain
    /// the remaining entries with [`Self::pop_invalidation`] too (they are covered).
    pub fn take_invalidate_everything(&mut self) -> bool {
        core::mem::take(&mut self.invalidations.everything)
    }

    /// True when invalidations are queued, or everything must be invalidated (the
    /// kernel's cheap test before draining).
    #[inline]
    pub fn has_invalidations(&self) -> bool {
        !self.invalidations.is_empty()
    }

    /// Empties the queue and returns what it held. The queue has a fixed size, so
    /// this copies at most a few hundred bytes and never allocates.
    pub fn take_invalidations(&mut self) -> impl Iterator<Item = Invalidation> {
        let taken = self.invalidations.entries;
        let len = core::mem::take(&mut self.invalidations.len);
        self.invalidations.everything = false;
        taken.into_iter().take(len)
    }

    /// Frames held by all VMOs together (KMEM_STATS `vmo_bytes` / PAGE_SIZE). Physical
    /// VMOs hold none.
    pub fn committed_frames_total(&self) -> u64 {
        self.committed_frames
    }

    /// The empty page lists kept for reuse: heap the kernel counts as free.
    pub fn spare_lists(&self) -> &SpareLists {
        &self.spares
    }

    /// VMOs in the store, zombies included (for leak checks).
    pub fn vmo_count(&self) -> usize {
        self.slots.len() - self.free_slots.len()
    }

    // ----- internals ------------------------------------------------------------------

    /// Puts a VMO in a free slot.
    fn insert(&mut self, vmo: Vmo) -> ZxResult<VmoId> {
        self.insert_with(move || vmo)
    }

    /// Puts the VMO `make` builds in a free slot. `make` runs only once the slot is
    /// known to be empty, so (inlined, like [`Vmo::new`]) the VMO is written into the
    /// slot field by field rather than built aside and copied there.
    #[inline(always)]
    fn insert_with(&mut self, make: impl FnOnce() -> Vmo) -> ZxResult<VmoId> {
        self.reserve_slot()?;
        if let Some(index) = self.free_slots.pop() {
            let slot = self.slots.get_mut(index as usize).ok_or(ZxError::Internal)?;
            if slot.vmo.as_ref().is_some_and(|vmo| !vmo.keepable() || vmo.refs != 0) {
                return Err(ZxError::Internal);
            }
            // The slot is empty or keeps a dead VMO, which owns no heap memory: the
            // replaced value owns nothing and is forgotten rather than dropped (a drop
            // would be a call that finds nothing).
            core::mem::forget(slot.vmo.replace(make()));
            return Ok(VmoId::new(index, slot.generation));
        }
        let index = u32::try_from(self.slots.len()).map_err(|_| ZxError::NoMemory)?;
        // Never the last index (see `VmoId::tag`).
        if index >= INDEX_MASK {
            return Err(ZxError::NoMemory);
        }
        self.slots.push(Slot { generation: 0, vmo: Some(make()) });
        Ok(VmoId::new(index, 0))
    }

    /// Makes sure the next [`Self::insert_with`] finds or makes a slot without
    /// allocating: a free slot, or room in the slab for one more and in the free list
    /// for every slot (so that releasing a VMO never allocates). NO_MEMORY otherwise,
    /// with nothing changed.
    fn reserve_slot(&mut self) -> ZxResult {
        if !self.free_slots.is_empty() {
            return Ok(());
        }
        if self.slots.len() >= INDEX_MASK as usize {
            return Err(ZxError::NoMemory);
        }
        self.slots.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        let needed = self.slots.len() + 1;
        if self.free_slots.capacity() < needed {
            self.free_slots.try_reserve(needed - self.free_slots.len()).map_err(|_| ZxError::NoMemory)?;
        }
        Ok(())
    }

    /// Empties a slot for reuse, with a new generation. Returns the removed VMO's
    /// links: its COW source root and its parent. (The VMO is dropped where it lies
    /// rather than moved out: it is large, and only these two fields are needed.)
    fn remove_slot(&mut self, id: VmoId) -> Option<(Option<VmoId>, Option<VmoId>)> {
        let slot = self.slots.get_mut(id.index())?;
        let vmo = slot.vmo.as_ref()?;
        let links = (vmo.cow_source_root, vmo.parent);
        // A VMO whose frames are gone and whose page list gave up its directory
        // (`take_chunk0`) usually owns no heap memory any more: a lone one stays as a
        // kept VMO (see `Slot`; its `refs` is already 0), any other is forgotten rather
        // than dropped.
        if vmo.keepable() {
            debug_assert_eq!(vmo.refs, 0);
        } else if vmo.owns_no_heap() {
            core::mem::forget(slot.vmo.take());
        } else {
            slot.vmo = None;
        }
        slot.generation = slot.generation.wrapping_add(1) & GENERATION_MASK;
        // Within the capacity `reserve_slot` keeps (one entry per slot): no allocation.
        self.free_slots.push(id.index() as u32);
        Some(links)
    }

    /// The root VMO whose pages `id` shows, and the root page of `id`'s page 0.
    fn root_of(&self, id: VmoId) -> (VmoId, u64) {
        match vmo_ref(&self.slots, id).backing {
            Backing::Slice { root, root_first_page } => (root, root_first_page),
            _ => (id, 0),
        }
    }

    /// Where page `page_index` (inside the VMO) really lives.
    fn target(&self, id: VmoId, page_index: u64) -> Target {
        let (root, root_first_page) = self.root_of(id);
        let index = root_first_page + page_index;
        match vmo_ref(&self.slots, root).backing {
            // Creation guarantees base + size does not wrap.
            Backing::Physical(base) => Target::Physical(PhysAddr(base.0 + bytes(index))),
            _ => Target::Paged { root, index },
        }
    }

    /// The frame at page `index` of paged root `root`, if committed.
    fn root_page(&self, root: VmoId, index: u64) -> Option<PhysAddr> {
        vmo_ref(&self.slots, root).page_list()?.get(index)
    }

    /// True when more than one VMO holds `frame` (only shared frames have an entry).
    fn is_shared(&self, frame: PhysAddr) -> bool {
        is_shared_in(&self.frames, frame)
    }

    /// Makes page `index` of paged root `root` a frame that `root` alone holds and
    /// returns it. Allocates only for an uncommitted or shared page; on failure nothing
    /// has changed.
    fn make_private(&mut self, root: VmoId, index: u64, mem: &mut dyn PhysMemory) -> ZxResult<PhysAddr> {
        let current = self.root_page(root, index);
        if let Some(frame) = current
            && !self.is_shared(frame)
        {
            return Ok(frame);
        }
        // Room in the page list first, so that a new frame is never allocated and lost.
        if let Backing::Paged(list) = &mut vmo_mut(&mut self.slots, root).backing {
            list.reserve(index)?;
        }
        let frame = match current {
            Some(shared) => {
                let copy = mem.alloc_copy_of(shared)?;
                self.drop_frame(root, shared, mem);
                copy
            }
            None => mem.alloc_zeroed_page()?,
        };
        let vmo = vmo_mut(&mut self.slots, root);
        if let Backing::Paged(list) = &mut vmo.backing {
            // Room was reserved above: this cannot fail.
            let _ = list.insert(index, frame);
        }
        let zero_page_shown = count_private_frame(vmo, &mut self.committed_frames);
        // A forked page replaces a frame mappings may show; a fresh page replaces at
        // most the zero page, and only if some mapping ever showed it.
        if current.is_some() || zero_page_shown {
            self.invalidate(root, index, 1);
        }
        Ok(frame)
    }

    /// `holder` lets go of `frame`: the frame is freed if nobody else holds it, and its
    /// ownership passes to another holder if `holder` owned it.
    fn drop_frame(&mut self, holder: VmoId, frame: PhysAddr, mem: &mut dyn PhysMemory) {
        let key = pfn(frame);
        // No shared frame anywhere (the common case): no hash lookup.
        let shared = if self.frames.is_empty() { None } else { self.frames.get_mut(&key) };
        let Some(meta) = shared else {
            // A private frame: `holder` alone held and owned it.
            self.committed_frames = self.committed_frames.saturating_sub(1);
            mem.free_page(frame);
            let vmo = vmo_mut(&mut self.slots, holder);
            vmo.owned_pages = vmo.owned_pages.saturating_sub(1);
            return;
        };
        if meta.owner == holder {
            match meta.others.pop() {
                Some(heir) => {
                    meta.owner = heir;
                    vmo_mut(&mut self.slots, heir).owned_pages += 1;
                }
                None => {
                    debug_assert!(false, "frame {frame} in the frame table with one holder");
                    self.frames.remove(&key);
                    self.committed_frames = self.committed_frames.saturating_sub(1);
                    mem.free_page(frame);
                    let vmo = vmo_mut(&mut self.slots, holder);
                    vmo.owned_pages = vmo.owned_pages.saturating_sub(1);
                    return;
                }
            }
            let vmo = vmo_mut(&mut self.slots, holder);
            vmo.owned_pages = vmo.owned_pages.saturating_sub(1);
        } else {
            meta.others.remove(holder);
        }
        // A frame left with a single holder is private again (that holder owns it).
        if self.frames.get(&key).is_some_and(|meta| meta.others.is_empty()) {
            self.frames.remove(&key);
        }
    }

    /// Gives up root pages `[first, end)` and, if any was committed, invalidates the
    /// range (one queue entry per view, however many pages there were).
    fn drop_pages(&mut self, root: VmoId, first: u64, end: u64, mem: &mut dyn PhysMemory) {
        if first >= end {
            return;
        }
        if self.drain_pages(root, first, end - 1, mem) > 0 {
            self.invalidate(root, first, end - first);
        }
    }

    /// `holder` (a paged VMO) lets go of its pages `[first, last]`; returns how many it
    /// held. The page list is taken out while its pages are dropped, so nothing
    /// allocates and the cost follows the pages held, not the range.
    fn drain_pages(&mut self, holder: VmoId, first: u64, last: u64, mem: &mut dyn PhysMemory) -> u64 {
        let Backing::Paged(list) = &mut vmo_mut(&mut self.slots, holder).backing else { return 0 };
        let mut list = core::mem::take(list);
        let mut dropped = 0;
        list.drain_range(first, last, |_, frame| {
            self.drop_frame(holder, frame, mem);
            dropped += 1;
        });
        if let Backing::Paged(slot) = &mut vmo_mut(&mut self.slots, holder).backing {
            *slot = list;
        }
        dropped
    }

    /// Queues `[first, first + count)` of `root` and the same pages in every slice of it.
    fn invalidate(&mut self, root: VmoId, first: u64, count: u64) {
        if count == 0 {
            return;
        }
        self.invalidations.push(root, first, count);
        let end = first.saturating_add(count);
        for view in &vmo_ref(&self.slots, root).slices {
            let lo = first.max(view.first_page);
            let hi = end.min(view.first_page + view.page_count);
            if lo < hi {
                self.invalidations.push(view.slice, lo - view.first_page, hi - lo);
            }
        }
    }

    /// The last reference to `id` is gone. Returns the parent a slice must release.
    fn destroy(&mut self, id: VmoId, mem: &mut dyn PhysMemory) -> Option<VmoId> {
        // Nothing maps a VMO without a reference, so pending invalidations are moot.
        self.invalidations.forget(id);
        let vmo = vmo_mut(&mut self.slots, id);
        // The page list is moved out and consumed: no allocation while freeing, and
        // nothing at all for a VMO that never committed a page.
        // A list of chunk 0 only (a small VMO's) gives up just its directory, the rest
        // the whole list.
        let (chunk0, frames) = match &mut vmo.backing {
            Backing::Paged(list) if !list.is_empty() => match list.take_chunk0() {
                Some(chunk0) => (Some(chunk0), None),
                None => (None, Some(core::mem::take(list))),
            },
            _ => (None, None),
        };
        let slice_of = match vmo.backing {
            Backing::Slice { root, .. } => Some(root),
            _ => None,
        };
        let parent = vmo.parent;
        let has_children = vmo.num_children > 0;
        if let Some(chunk0) = chunk0 {
            self.drop_chunk0_frames(id, chunk0, mem);
        }
        if let Some(frames) = frames {
            self.drop_all_frames(id, frames, mem);
        }
        let mut release_parent = None;
        if let Some(root) = slice_of {
            vmo_mut(&mut self.slots, root).slices.retain(|view| view.slice != id);
            release_parent = parent;
        }
        if !has_children {
            self.remove_node_chain(id);
        }
        release_parent
    }

    /// `holder` lets go of every frame in `list` (its page list, already moved out).
    #[inline(never)]
    fn drop_all_frames(&mut self, holder: VmoId, list: PageList, mem: &mut dyn PhysMemory) {
        if let Some(spare) = list.drain_frames(|_, frame| self.drop_frame(holder, frame, mem)) {
            self.spares.put(spare);
        }
    }

    /// As [`Self::drop_all_frames`] for a list's chunk 0 taken out alone; its emptied
    /// directory is kept for the next small VMO.
    #[inline(never)]
    fn drop_chunk0_frames(&mut self, holder: VmoId, chunk0: Chunk0, mem: &mut dyn PhysMemory) {
        let spare = chunk0.drain_frames(|_, frame| self.drop_frame(holder, frame, mem));
        self.spares.put(spare);
    }

    /// Removes a dead, childless node, then every ancestor that this leaves dead and
    /// childless (zombies waiting for their last descendant).
    fn remove_node_chain(&mut self, id: VmoId) {
        let mut current = id;
        while let Some((cow_source_root, parent)) = self.remove_slot(current) {
            if let Some(root) = cow_source_root {
                let root = vmo_mut(&mut self.slots, root);
                root.cow_children = root.cow_children.saturating_sub(1);
            }
            let Some(parent) = parent else { break };
            let p = vmo_mut(&mut self.slots, parent);
            p.num_children = p.num_children.saturating_sub(1);
            if p.refs != 0 || p.num_children != 0 {
                break;
            }
            current = parent;
        }
    }
}

#[cfg(test)]
#[path = "vmo_tests.rs"]
mod tests;
