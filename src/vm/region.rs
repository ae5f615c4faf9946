//! Sub-VMARs: the tree of regions of one address space (ABI.md 62, 63;
//! zircon-task-ipc-semantics.md §10).
//!
//! An address space has one root region (its root VMAR) and any number of regions
//! inside it, each made by `zx_vmar_allocate` inside a live parent. The region tree
//! keeps their geometry, flags and liveness; the mappings of every region stay in the
//! one flat [`Vmar`] of the address space, so the page-fault path and the VMO
//! invalidations keep their single lookup. Which region a mapping belongs to follows
//! from the geometry: it is the deepest live region containing it.
//!
//! Every operation that changes mappings goes through this module and takes the flat
//! `Vmar` as an argument; like [`Vmar`] it is bookkeeping only and returns what it
//! removed ([`Unmapped`]) or changed ([`Protected`]), for the caller to change page
//! tables and VMO counts.
//!
//! Invariants (with the flat `Vmar` of the same range, see [`RegionTree::new`]):
//! 1. A region lies inside its parent; the children of a region never overlap each
//!    other, and no mapping overlaps a child without lying wholly inside it.
//! 2. Every live region's base and length are nonzero page multiples.
//! 3. A child's CAN_MAP_READ/WRITE/EXECUTE flags are a subset of its parent's, and every
//!    mapping's `max_perms` is within the CAN_MAP_* of the region it was made in.
//! 4. A destroyed region is gone from the tree (its id never names anything again);
//!    everything that was inside it was unmapped and destroyed with it.
//!
//! Nothing here recurses: regions may nest as deeply as memory allows, so destroying a
//! subtree walks it with the parent links and no stack. Growth is fallible
//! (`try_reserve`): an allocation that cannot get memory is `NoMemory` with nothing
//! changed.

use alloc::vec::Vec;

use super::vmar::{
    MapRequest, MapSource, Mapping, PLACEMENT_FLOOR_OFFSET, ProtectOutcome, Vmar, check_new_mapping,
    is_valid_protection,
};
use crate::abi::{PAGE_SIZE, vm};
use crate::error::{ZxError, ZxResult};

/// CAN_MAP_READ | CAN_MAP_WRITE | CAN_MAP_EXECUTE.
pub const CAN_MAP_RWX: u32 = vm::CAN_MAP_READ | vm::CAN_MAP_WRITE | vm::CAN_MAP_EXECUTE;

/// The flags of a root region: every permission and SPECIFIC placement (ABI.md §2).
pub const ROOT_FLAGS: u32 = CAN_MAP_RWX | vm::CAN_MAP_SPECIFIC;

/// The option bits `zx_vmar_allocate` accepts below the alignment field (step 2).
const ALLOCATE_OPTION_BITS: u32 = vm::COMPACT | vm::SPECIFIC | vm::CAN_MAP_MASK;

/// Smallest and largest log2 alignment `ZX_VM_ALIGN_*` may name (1 KiB to 4 GiB).
const MIN_ALIGN_LOG2: u32 = 10;
const MAX_ALIGN_LOG2: u32 = 32;

/// The `PERM_*` bits matching the CAN_MAP_READ/WRITE/EXECUTE bits of `flags`.
pub fn can_map_perms(flags: u32) -> u32 {
    let mut perms = 0;
    if flags & vm::CAN_MAP_READ != 0 {
        perms |= vm::PERM_READ;
    }
    if flags & vm::CAN_MAP_WRITE != 0 {
        perms |= vm::PERM_WRITE;
    }
    if flags & vm::CAN_MAP_EXECUTE != 0 {
        perms |= vm::PERM_EXECUTE;
    }
    perms
}

/// The decoded options of a `zx_vmar_allocate` call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocateRequest {
    /// The new region's flags: its CAN_MAP_* bits and COMPACT.
    pub flags: u32,
    /// SPECIFIC: `offset` names the place.
    pub specific: bool,
    /// The address alignment in bytes: a power of two, at least `PAGE_SIZE`.
    pub align: u64,
}

/// Step 2 of `zx_vmar_allocate`: an option bit other than COMPACT, SPECIFIC,
/// CAN_MAP_SPECIFIC, CAN_MAP_READ/WRITE/EXECUTE, or an alignment field that is neither 0
/// nor 10..=32 → `InvalidArgs` (PERM_*, SPECIFIC_OVERWRITE, MAP_RANGE,
/// REQUIRE_NON_RESIZABLE, ALLOW_FAULTS and unknown bits included).
pub fn validate_allocate_options(options: u32) -> ZxResult<AllocateRequest> {
    if options & !vm::ALIGN_MASK & !ALLOCATE_OPTION_BITS != 0 {
        return Err(ZxError::InvalidArgs);
    }
    let align = match (options & vm::ALIGN_MASK) >> vm::ALIGN_SHIFT {
        0 => PAGE_SIZE,
        log2 @ MIN_ALIGN_LOG2..=MAX_ALIGN_LOG2 => (1u64 << log2).max(PAGE_SIZE),
        _ => return Err(ZxError::InvalidArgs),
    };
    Ok(AllocateRequest {
        flags: options & (vm::CAN_MAP_MASK | vm::COMPACT),
        specific: options & vm::SPECIFIC != 0,
        align,
    })
}

/// Names a region of one [`RegionTree`]. Ids of destroyed regions never name another
/// region later (a slot is reused under a new serial), so a handle that outlives its
/// region finds nothing (`BadState`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegionId {
    index: u32,
    serial: u64,
}

impl RegionId {
    /// The root region of every tree.
    pub const ROOT: RegionId = RegionId { index: ROOT_INDEX, serial: 0 };

    /// True for the root region.
    pub fn is_root(self) -> bool {
        self == Self::ROOT
    }
}

/// What the tree knows of a live region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// First address.
    pub base: u64,
    /// Length in bytes.
    pub len: u64,
    /// CAN_MAP_* and COMPACT bits.
    pub flags: u32,
}

impl RegionInfo {
    /// One past the last address.
    pub fn end(&self) -> u64 {
        self.base + self.len
    }
}

const ROOT_INDEX: u32 = 0;
/// End of the free-slot list.
const NO_SLOT: u32 = u32::MAX;

/// A child region as its parent lists it (sorted by base).
#[derive(Clone, Copy, Debug)]
struct Child {
    base: u64,
    end: u64,
    index: u32,
}

#[derive(Debug)]
struct Node {
    serial: u64,
    /// The parent's index (the root's own index for the root).
    parent: u32,
    base: u64,
    len: u64,
    flags: u32,
    /// Sorted by base; never overlapping.
    children: Vec<Child>,
}

impl Node {
    fn end(&self) -> u64 {
        self.base + self.len
    }

    fn info(&self) -> RegionInfo {
        RegionInfo { base: self.base, len: self.len, flags: self.flags }
    }

    /// The range of `children` that overlap `[start, end)`.
    fn children_overlapping(&self, start: u64, end: u64) -> core::ops::Range<usize> {
        let first = self.children.partition_point(|c| c.end <= start);
        let last = first + self.children[first..].partition_point(|c| c.base < end);
        first..last
    }
}

#[derive(Debug)]
enum Slot {
    Free { next: u32 },
    Used(Node),
}

/// The regions of one address space. See the module documentation.
#[derive(Debug)]
pub struct RegionTree {
    root: Node,
    /// Slot `i` holds the region with index `i + 1`.
    slots: Vec<Slot>,
    /// Head of the list of free slots (an index), or `NO_SLOT`.
    free: u32,
    /// The serial of the next region made.
    next_serial: u64,
    /// Live regions, the root included.
    live: usize,
}

impl RegionTree {
    /// The tree of a new address space whose mappings `vmar` holds: one root region over
    /// exactly the range of `vmar`, with [`ROOT_FLAGS`]. Allocates nothing.
    pub fn new<V: Copy + Eq>(vmar: &Vmar<V>) -> Self {
        RegionTree {
            root: Node {
                serial: RegionId::ROOT.serial,
                parent: ROOT_INDEX,
                base: vmar.base(),
                len: vmar.len(),
                flags: ROOT_FLAGS,
                children: Vec::new(),
            },
            slots: Vec::new(),
            free: NO_SLOT,
            next_serial: 1,
            live: 1,
        }
    }

    /// Live regions, the root included.
    pub fn region_count(&self) -> usize {
        self.live
    }

    /// The region `id` names: `BadState` once it is destroyed.
    pub fn get(&self, id: RegionId) -> ZxResult<RegionInfo> {
        self.live_node(id).map(Node::info)
    }

    /// The direct children of a live region, in address order.
    pub fn children(&self, id: RegionId) -> ZxResult<impl Iterator<Item = (RegionId, RegionInfo)> + '_> {
        let node = self.live_node(id)?;
        Ok(node.children.iter().filter_map(move |c| {
            let child = self.node(c.index)?;
            Some((RegionId { index: c.index, serial: child.serial }, child.info()))
        }))
    }

    /// `zx_vmar_allocate` steps 3 to 10 (the caller did 1, 2 and does 11): a new region of
    /// `size` bytes inside `parent`, with `request.flags`. Returns its id and base.
    ///
    /// 3. `size` not a page multiple → `InvalidArgs`.
    /// 4. `parent` destroyed → `BadState`.
    /// 5. `size` 0 → `InvalidArgs`.
    /// 6. A CAN_MAP_READ/WRITE/EXECUTE bit the parent lacks → `AccessDenied`.
    /// 7. `offset` ≠ 0 without SPECIFIC → `InvalidArgs`.
    /// 8. SPECIFIC in a parent without CAN_MAP_SPECIFIC → `AccessDenied`.
    /// 9. `offset` ≥ the parent's size or `size` > its size − `offset` → `InvalidArgs`.
    /// 10. SPECIFIC: the base not page- or `align`-aligned → `InvalidArgs`; overlapping a
    ///     region or mapping of the parent → `NoMemory`. Otherwise the lowest free
    ///     `align`-aligned range (above the placement floor first, in a root region, as
    ///     for mappings), else `NoMemory`.
    ///
    /// Then memory for the bookkeeping, else `NoMemory`.
    pub fn allocate<V: Copy + Eq>(
        &mut self,
        vmar: &Vmar<V>,
        parent: RegionId,
        request: &AllocateRequest,
        offset: u64,
        size: u64,
    ) -> ZxResult<(RegionId, u64)> {
        // 3.
        if !size.is_multiple_of(PAGE_SIZE) || !request.align.is_power_of_two() {
            return Err(ZxError::InvalidArgs);
        }
        // 4.
        let node = self.live_node(parent)?;
        // 5.
        if size == 0 {
            return Err(ZxError::InvalidArgs);
        }
        // 6.
        if request.flags & CAN_MAP_RWX & !node.flags != 0 {
            return Err(ZxError::AccessDenied);
        }
        // 7.
        if offset != 0 && !request.specific {
            return Err(ZxError::InvalidArgs);
        }
        // 8.
        if request.specific && node.flags & vm::CAN_MAP_SPECIFIC == 0 {
            return Err(ZxError::AccessDenied);
        }
        // 9.
        if offset >= node.len || size > node.len - offset {
            return Err(ZxError::InvalidArgs);
        }
        // 10.
        let align = request.align.max(PAGE_SIZE);
        let base = if request.specific {
            let base = node.base + offset;
            if !base.is_multiple_of(align) {
                return Err(ZxError::InvalidArgs);
            }
            let end = base + size;
            if !node.children_overlapping(base, end).is_empty() || vmar.overlapping(base, end).next().is_some() {
                return Err(ZxError::NoMemory);
            }
            base
        } else {
            self.find_spot(parent.index, vmar, size, align)?.0
        };
        // Memory first, so that nothing changes on failure.
        if self.free == NO_SLOT {
            if self.slots.len() >= (NO_SLOT - 1) as usize {
                return Err(ZxError::NoMemory);
            }
            self.slots.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        }
        self.node_mut(parent.index).ok_or(ZxError::Internal)?.children.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        let serial = self.next_serial;
        self.next_serial += 1;
        let node = Node { serial, parent: parent.index, base, len: size, flags: request.flags, children: Vec::new() };
        let index = if self.free != NO_SLOT {
            let index = self.free;
            let slot = self.slots.get_mut(index as usize - 1).ok_or(ZxError::Internal)?;
            let Slot::Free { next } = *slot else { return Err(ZxError::Internal) };
            self.free = next;
            *slot = Slot::Used(node);
            index
        } else {
            self.slots.push(Slot::Used(node));
            self.slots.len() as u32
        };
        self.live += 1;
        let siblings = &mut self.node_mut(parent.index).ok_or(ZxError::Internal)?.children;
        let at = siblings.partition_point(|c| c.base < base);
        siblings.insert(at, Child { base, end: base + size, index });
        Ok((RegionId { index, serial }, base))
    }

    /// `zx_vmar_destroy` after the handle checks: the root → `NotSupported`; already
    /// destroyed → `BadState`. Otherwise every mapping inside is unmapped (the pieces
    /// wait in `vmar`, as after [`Vmar::unmap`], for [`Vmar::take_unmapped`]) and the
    /// region and every region below it destroyed; its range is free in the parent again.
    pub fn destroy<V: Copy + Eq>(&mut self, vmar: &mut Vmar<V>, id: RegionId) -> ZxResult {
        if id.is_root() {
            return Err(ZxError::NotSupported);
        }
        let node = self.live_node(id)?;
        let (base, len, parent) = (node.base, node.len, node.parent);
        vmar.unmap(base, len)?;
        // Nothing below can fail: the mappings are gone, now the regions.
        if let Some(parent) = self.node_mut(parent) {
            let at = parent.children.partition_point(|c| c.base < base);
            if parent.children.get(at).is_some_and(|c| c.index == id.index) {
                parent.children.remove(at);
            }
        }
        self.free_subtree(id.index);
        Ok(())
    }

    /// `zx_vmar_map` of `source` in region `id`, after the caller's option and rights
    /// checks (`request` from [`super::vmar::validate_map_options`]; see [`MapSource`]
    /// for the source's length and `max_perms`). Returns the
    /// address; for SPECIFIC_OVERWRITE, what was unmapped to make room waits in `vmar` for
    /// [`Vmar::take_unmapped`].
    ///
    /// 1. The checks of [`check_new_mapping`] (`InvalidArgs`, `AccessDenied`).
    /// 2. The region destroyed → `BadState`.
    /// 3. `request.perms` beyond the region's CAN_MAP_* → `AccessDenied`; the source's
    ///    `max_perms` is cut to them.
    /// 4. `vmar_offset` ≠ 0 without SPECIFIC → `InvalidArgs`.
    /// 5. SPECIFIC in a region without CAN_MAP_SPECIFIC → `AccessDenied`.
    /// 6. SPECIFIC: `vmar_offset` (relative to the region's base) unaligned, or the
    ///    range not wholly inside the region → `InvalidArgs`; the address not
    ///    `align`-aligned → `InvalidArgs`; overlapping a child region → `NoMemory`
    ///    (`InvalidArgs` for SPECIFIC_OVERWRITE, which never destroys regions); overlapping
    ///    a mapping → `NoMemory` (SPECIFIC_OVERWRITE unmaps it).
    /// 7. Otherwise: `len` larger than the region → `InvalidArgs`; the lowest free
    ///    `align`-aligned range (in a root region above the placement floor first), else
    ///    `NoMemory`.
    pub fn map<V: Copy + Eq>(
        &mut self,
        vmar: &mut Vmar<V>,
        id: RegionId,
        request: &MapRequest,
        vmar_offset: u64,
        source: MapSource<V>,
    ) -> ZxResult<u64> {
        // 1.
        let align = check_new_mapping(request.align, request.perms, &source)?;
        let len = source.len;
        // 2.
        let node = self.live_node(id)?;
        // 3.
        let region_perms = can_map_perms(node.flags);
        if request.perms & !region_perms != 0 {
            return Err(ZxError::AccessDenied);
        }
        let source = MapSource { max_perms: source.max_perms & region_perms, ..source };
        // 4.
        if vmar_offset != 0 && !request.specific {
            return Err(ZxError::InvalidArgs);
        }
        // 5.
        if request.specific && node.flags & vm::CAN_MAP_SPECIFIC == 0 {
            return Err(ZxError::AccessDenied);
        }
        let base = if request.specific {
            // 6.
            if !vmar_offset.is_multiple_of(PAGE_SIZE) || vmar_offset >= node.len || len > node.len - vmar_offset {
                return Err(ZxError::InvalidArgs);
            }
            let base = node.base + vmar_offset;
            if !base.is_multiple_of(align) {
                return Err(ZxError::InvalidArgs);
            }
            if !node.children_overlapping(base, base + len).is_empty() {
                return Err(if request.overwrite { ZxError::InvalidArgs } else { ZxError::NoMemory });
            }
            (base, None)
        } else {
            // 7.
            if len > node.len {
                return Err(ZxError::InvalidArgs);
            }
            self.find_spot(id.index, vmar, len, align)?
        };
        // The range is inside the root, which is the flat VMAR's range.
        let (base, free_at) = base;
        let offset = base - vmar.base();
        if request.overwrite {
            vmar.map_overwrite(offset, align, request.perms, source)
        } else {
            vmar.map_at(base, free_at, align, request.perms, source)
        }
    }

    /// `zx_vmar_unmap` through region `id`: removes every mapped page in
    /// `[addr, addr + len)` and destroys every region wholly inside it.
    ///
    /// 1. `addr` not page-aligned, or `len` rounding up to 0 → `InvalidArgs`.
    /// 2. The region destroyed → `BadState`.
    /// 3. The range not wholly inside the region (or overflowing) → `InvalidArgs`.
    /// 4. A child region partly inside the range → `InvalidArgs`, nothing changed.
    /// 5. Mappings partly inside are split; nothing mapped is fine. The removed pieces
    ///    wait in `vmar` for [`Vmar::take_unmapped`].
    pub fn unmap<V: Copy + Eq>(&mut self, vmar: &mut Vmar<V>, id: RegionId, addr: u64, len: u64) -> ZxResult {
        // 1-3.
        let (start, end) = self.checked_range(id, addr, len)?;
        let node = self.live_node(id)?;
        // 4.
        let inside = node.children_overlapping(start, end);
        if node.children[inside.clone()].iter().any(|c| c.base < start || c.end > end) {
            return Err(ZxError::InvalidArgs);
        }
        // 5. The mappings first (the only step that may fail), then the regions.
        vmar.unmap_range(start, end)?;
        if !inside.is_empty() {
            let Some(node) = self.node_mut(id.index) else { return Err(ZxError::Internal) };
            let mut children = core::mem::take(&mut node.children);
            for child in children.drain(inside) {
                self.free_subtree(child.index);
            }
            if let Some(node) = self.node_mut(id.index) {
                node.children = children;
            }
        }
        Ok(())
    }

    /// `zx_vmar_protect` through region `id` (`perms` checked against the handle by the
    /// caller): gives every page of `[addr, addr + len)` the permissions `perms`.
    ///
    /// 1. `addr` not page-aligned, `len` rounding up to 0 or `perms` not a valid
    ///    protection → `InvalidArgs`.
    /// 2. The region destroyed → `BadState`.
    /// 3. The range not wholly inside the region → `InvalidArgs`.
    /// 4. Walking the range in address order, the first problem wins: a hole →
    ///    `NotFound`; a child region → `InvalidArgs`; a mapping whose `max_perms` lack
    ///    `perms` → `AccessDenied`. Nothing changes unless the range is wholly mapped by
    ///    this region's own mappings; then as [`Vmar::protect`].
    pub fn protect<V: Copy + Eq>(
        &self,
        vmar: &mut Vmar<V>,
        id: RegionId,
        addr: u64,
        len: u64,
        perms: u32,
    ) -> ZxResult<ProtectOutcome<V>> {
        // 1.
        if perms & !vm::PERM_MASK != 0 || !is_valid_protection(perms) {
            return Err(ZxError::InvalidArgs);
        }
        // 1-3.
        let (start, end) = self.checked_range(id, addr, len)?;
        let node = self.live_node(id)?;
        // 4.
        let inside = node.children_overlapping(start, end);
        if inside.is_empty() {
            return vmar.protect(start, end - start, perms);
        }
        // A child region is in the range: find the first problem in address order (the
        // child itself at the latest).
        let regions = node.children[inside].iter().map(|c| (c.base, c.end, None));
        let mappings = vmar.overlapping(start, end).map(|m: &Mapping<V>| (m.base, m.end(), Some(m.max_perms())));
        let mut covered = start;
        for (base, item_end, max) in merge_by_start(regions, mappings) {
            if base > covered {
                return Err(ZxError::NotFound);
            }
            match max {
                None => return Err(ZxError::InvalidArgs),
                Some(max) if perms & !max != 0 => return Err(ZxError::AccessDenied),
                Some(_) => covered = covered.max(item_end),
            }
        }
        Err(ZxError::Internal)
    }

    /// `[addr, addr + round_up(len))` for `unmap` and `protect` in region `id`:
    /// unaligned or empty → `InvalidArgs`, then destroyed → `BadState`, then outside the
    /// region (or overflowing) → `InvalidArgs`.
    fn checked_range(&self, id: RegionId, addr: u64, len: u64) -> ZxResult<(u64, u64)> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(ZxError::InvalidArgs);
        }
        let len = align_up(len, PAGE_SIZE).filter(|&l| l != 0).ok_or(ZxError::InvalidArgs)?;
        let node = self.live_node(id)?;
        let end = addr.checked_add(len).ok_or(ZxError::InvalidArgs)?;
        if addr < node.base || end > node.end() {
            return Err(ZxError::InvalidArgs);
        }
        Ok((addr, end))
    }

    /// Where a new mapping or region of `len` bytes goes in region `index` without
    /// SPECIFIC: the lowest `align`-aligned free range, at or above the placement floor
    /// first when the region is the root (where ELF segments sit low), else anywhere in
    /// it. `len` is at most the region's length. COMPACT asks for nothing more: placement
    /// is always lowest-first.
    ///
    /// Also gives, when it knows it, the index among the VMAR's live mappings at which a
    /// mapping of the range goes (the number of mappings below it; see
    /// [`Vmar::map_at`]).
    fn find_spot<V: Copy + Eq>(
        &self,
        index: u32,
        vmar: &Vmar<V>,
        len: u64,
        align: u64,
    ) -> ZxResult<(u64, Option<usize>)> {
        let node = self.node(index).ok_or(ZxError::Internal)?;
        let (low, high) = (node.base, node.end());
        let floor = if index == ROOT_INDEX { low.saturating_add(PLACEMENT_FLOOR_OFFSET).min(high) } else { low };
        self.gap_in(node, vmar, floor, high, len, align)
            .or_else(|| if floor > low { self.gap_in(node, vmar, low, high, len, align) } else { None })
            .ok_or(ZxError::NoMemory)
    }

    /// The lowest `align`-aligned `a` in `[low, high)` with `[a, a + len)` clear of the
    /// children of `node` and of every mapping, and when no child is in the way, the
    /// number of mappings below `a` (every mapping that ends by `low`, then those the
    /// search went past: each starts below `a`, and the one it stopped at, like every
    /// later one, at or after `a + len`).
    fn gap_in<V: Copy + Eq>(
        &self,
        node: &Node,
        vmar: &Vmar<V>,
        low: u64,
        high: u64,
        len: u64,
        align: u64,
    ) -> Option<(u64, Option<usize>)> {
        // Every mapping that ends after `low`: `lowest_gap` answers before it reaches
        // one that starts at or after `high` (the candidate ends by then, or is refused).
        let (below, after) = vmar.ending_after_indexed(low);
        let mappings = after.iter().map(|m| (m.base, m.end(), ()));
        let children = node.children_overlapping(low, high);
        if children.is_empty() {
            // No region in the way (a root VMAR without sub-regions there): the
            // mappings alone, without the merge's two peeked iterators.
            return lowest_gap(mappings, low, high, len, align).map(|(a, passed)| (a, Some(below + passed)));
        }
        let regions = node.children[children].iter().map(|c| (c.base, c.end, ()));
        lowest_gap(merge_by_start(regions, mappings), low, high, len, align).map(|(a, _)| (a, None))
    }

    /// Frees region `top` and every region below it, depth first, without recursion and
    /// without allocating. `top` must already be unlinked from its parent.
    fn free_subtree(&mut self, top: u32) {
        let mut current = top;
        loop {
            let Some(node) = self.node_mut(current) else { return };
            if let Some(child) = node.children.pop() {
                current = child.index;
                continue;
            }
            let parent = node.parent;
            self.free_slot(current);
            if current == top {
                return;
            }
            current = parent;
        }
    }

    /// Puts slot `index` (a live non-root region without children) on the free list.
    fn free_slot(&mut self, index: u32) {
        if index == ROOT_INDEX {
            return;
        }
        if let Some(slot) = self.slots.get_mut(index as usize - 1)
            && matches!(slot, Slot::Used(_))
        {
            *slot = Slot::Free { next: self.free };
            self.free = index;
            self.live -= 1;
        }
    }

    fn node(&self, index: u32) -> Option<&Node> {
        if index == ROOT_INDEX {
            return Some(&self.root);
        }
        match self.slots.get(index as usize - 1) {
            Some(Slot::Used(node)) => Some(node),
            _ => None,
        }
    }

    fn node_mut(&mut self, index: u32) -> Option<&mut Node> {
        if index == ROOT_INDEX {
            return Some(&mut self.root);
        }
        match self.slots.get_mut(index as usize - 1) {
            Some(Slot::Used(node)) => Some(node),
            _ => None,
        }
    }

    /// The node of a live region, else `BadState`.
    fn live_node(&self, id: RegionId) -> ZxResult<&Node> {
        self.node(id.index).filter(|node| node.serial == id.serial).ok_or(ZxError::BadState)
    }
}

/// `value` rounded up to `align` (a power of two), `None` on overflow.
fn align_up(value: u64, align: u64) -> Option<u64> {
    Some(value.checked_add(align - 1)? & !(align - 1))
}

/// Two sequences sorted by their first field, merged into one sorted the same way
/// (`a` first on ties).
fn merge_by_start<T: Copy>(
    a: impl Iterator<Item = (u64, u64, T)>,
    b: impl Iterator<Item = (u64, u64, T)>,
) -> impl Iterator<Item = (u64, u64, T)> {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    core::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) => {
            if x.0 <= y.0 {
                a.next()
            } else {
                b.next()
            }
        }
        (Some(_), None) => a.next(),
        (None, _) => b.next(),
    })
}

/// The lowest `align`-aligned `a` with `[a, a + len)` inside `[low, high)` and clear of
/// every range `obstacles` yields (sorted by start; they may overlap or nest), and how
/// many obstacles the search went past (all before the one it stopped at).
fn lowest_gap(
    obstacles: impl Iterator<Item = (u64, u64, ())>,
    low: u64,
    high: u64,
    len: u64,
    align: u64,
) -> Option<(u64, usize)> {
    let mut candidate = align_up(low, align)?;
    let mut passed = 0;
    for (start, end, ()) in obstacles {
        let candidate_end = candidate.checked_add(len)?;
        if candidate_end > high {
            return None;
        }
        if candidate_end <= start {
            return Some((candidate, passed));
        }
        if end > candidate {
            candidate = align_up(end, align)?;
        }
        passed += 1;
    }
    let candidate_end = candidate.checked_add(len)?;
    (candidate_end <= high).then_some((candidate, passed))
}

#[cfg(test)]
#[path = "region_tests.rs"]
mod tests;
