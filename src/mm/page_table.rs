//! AArch64 stage-1 translation tables: 4 KiB granule, 48-bit virtual addresses, four
//! levels (0..=3), built and read through a [`TableMemory`] so the code is pure.
//!
//! Descriptor layout (Arm ARM D8.3, VMSAv8-64):
//!
//! ```text
//!  63    55 54  53  52 ..  48 47 ............ 12 11  10  9 8   7 6   5   4 3 2   1   0
//! | ign   |UXN|PXN| res0     | output address   |nG |AF | SH | AP  |NS | AttrIndx|T/P|V |
//! ```
//!
//! `T/P` is 1 for a table (levels 0–2) or a page (level 3), 0 for a block (levels 1–2:
//! 1 GiB or 2 MiB). The tables themselves never carry attributes; leaves carry them all.
//! TLB maintenance after a change is the caller's job.

use crate::abi::{PAGE_SIZE, cache_policy};
use crate::error::{ZxError, ZxResult};
use crate::mm::addr::{PhysAddr, VirtAddr};

/// Entries in one translation table (one 4 KiB page of `u64`s).
pub const ENTRIES_PER_TABLE: usize = 512;

/// Physical pages that hold translation tables.
///
/// The kernel implements this over the frame allocator and its linear map; tests over a
/// map of boxed arrays.
pub trait TableMemory {
    /// A new table page, all entries zero (invalid), or `NoMemory`.
    fn alloc_table(&mut self) -> ZxResult<PhysAddr>;
    /// The entries of the table page at `pa` (a page this memory handed out).
    fn table_mut(&mut self, pa: PhysAddr) -> &mut [u64; ENTRIES_PER_TABLE];
    /// Gives a table page back.
    fn free_table(&mut self, pa: PhysAddr);
}

/// Memory types, numbered by their attribute index in [`MAIR_EL1_VALUE`].
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum MemoryType {
    /// Normal memory, inner and outer write-back, read/write-allocate (MAIR 0xff).
    NormalWriteBack = 0,
    /// Device memory, non-gathering, non-reordering, early write acknowledgement (MAIR 0x04).
    Device_nGnRE = 1,
    /// Device memory with no early write acknowledgement either (MAIR 0x00).
    Device_nGnRnE = 2,
    /// Normal memory, inner and outer non-cacheable: write combining (MAIR 0x44).
    NormalNonCacheable = 3,
}

/// The value for `MAIR_EL1`: attribute `i` is the byte at bits `8*i..8*i+8`, in the order
/// of [`MemoryType`].
pub const MAIR_EL1_VALUE: u64 = u64::from_le_bytes([0xff, 0x04, 0x00, 0x44, 0, 0, 0, 0]);

impl MemoryType {
    /// The memory type that implements a Zircon cache policy (`ZX_CACHE_POLICY_*`), or
    /// `None` for a value outside the policy mask.
    pub fn from_cache_policy(policy: u32) -> Option<Self> {
        match policy {
            cache_policy::CACHED => Some(MemoryType::NormalWriteBack),
            cache_policy::UNCACHED => Some(MemoryType::Device_nGnRE),
            cache_policy::UNCACHED_DEVICE => Some(MemoryType::Device_nGnRnE),
            cache_policy::WRITE_COMBINING => Some(MemoryType::NormalNonCacheable),
            _ => None,
        }
    }

    /// The memory type at a MAIR attribute index, if it is one of ours.
    pub fn from_index(index: u8) -> Option<Self> {
        match index {
            0 => Some(MemoryType::NormalWriteBack),
            1 => Some(MemoryType::Device_nGnRE),
            2 => Some(MemoryType::Device_nGnRnE),
            3 => Some(MemoryType::NormalNonCacheable),
            _ => None,
        }
    }

    /// True for Normal memory, which takes a shareability attribute.
    pub fn is_normal(self) -> bool {
        matches!(self, MemoryType::NormalWriteBack | MemoryType::NormalNonCacheable)
    }
}

/// What a mapping allows, and for whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageAttrs {
    /// Loads allowed (at EL0 for a user mapping).
    pub read: bool,
    /// Stores allowed; requires `read`, excludes `execute`.
    pub write: bool,
    /// Instruction fetches allowed.
    pub execute: bool,
    /// Accessible from EL0 (a user mapping); otherwise EL1 only.
    pub user: bool,
    /// Cacheability, through the MAIR attribute index.
    pub memory: MemoryType,
    /// Valid for every address space (kernel mappings); user mappings are not global,
    /// so their TLB entries are tagged with the ASID.
    pub global: bool,
}

impl PageAttrs {
    /// A user (EL0, non-global) mapping of normal cached memory.
    pub const fn user(read: bool, write: bool, execute: bool) -> Self {
        PageAttrs { read, write, execute, user: true, memory: MemoryType::NormalWriteBack, global: false }
    }

    /// A kernel (EL1, global) mapping of the given memory type.
    pub const fn kernel(read: bool, write: bool, execute: bool, memory: MemoryType) -> Self {
        PageAttrs { read, write, execute, user: false, memory, global: true }
    }

    /// The same attributes with another memory type.
    pub const fn with_memory(self, memory: MemoryType) -> Self {
        PageAttrs { memory, ..self }
    }
}

/// What a leaf descriptor allows, decoded as the hardware enforces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafInfo {
    /// `None` for an attribute index this kernel never writes (4..=7).
    pub memory: Option<MemoryType>,
    /// EL0 may load.
    pub el0_read: bool,
    /// EL0 may store.
    pub el0_write: bool,
    /// EL0 may fetch instructions (UXN clear).
    pub el0_execute: bool,
    /// EL1 may store (EL1 may always load a valid mapping).
    pub el1_write: bool,
    /// False also where the architecture forces PXN: memory writable at EL0.
    pub el1_execute: bool,
    /// nG clear: the entry is not tagged with an ASID.
    pub global: bool,
    /// AF set: the first access does not fault.
    pub access_flag: bool,
}

// Descriptor bits.
const DESC_VALID: u64 = 1 << 0;
const DESC_TABLE_OR_PAGE: u64 = 1 << 1;
const ATTR_INDEX_SHIFT: u32 = 2;
const ATTR_INDEX_MASK: u64 = 0b111 << ATTR_INDEX_SHIFT;
/// AP[1]: EL0 may access the data.
const AP_EL0: u64 = 1 << 6;
/// AP[2]: read-only at every level that has access.
const AP_READ_ONLY: u64 = 1 << 7;
const SH_INNER_SHAREABLE: u64 = 0b11 << 8;
const ACCESS_FLAG: u64 = 1 << 10;
const NOT_GLOBAL: u64 = 1 << 11;
const PRIVILEGED_EXECUTE_NEVER: u64 = 1 << 53;
const UNPRIVILEGED_EXECUTE_NEVER: u64 = 1 << 54;
/// Output address bits 47..12.
const ADDRESS_MASK: u64 = 0x0000_ffff_ffff_f000;
/// A table descriptor's bits 11..2 are ignored by the table walker (VMSAv8-64, 4 KiB
/// granule, without FEAT_LPA2's DS or FEAT_HAFT, neither of which this kernel enables):
/// they hold how many entries of the table it links have their valid bit set (0..=512),
/// so that finding an empty table after an unmap is one read, not a scan of 512 entries.
const COUNT_SHIFT: u32 = 2;
const COUNT_MASK: u64 = 0x3ff << COUNT_SHIFT;
const COUNT_ONE: u64 = 1 << COUNT_SHIFT;

/// The valid-entry count a table descriptor holds for the table it links.
const fn table_count(desc: u64) -> u64 {
    (desc & COUNT_MASK) >> COUNT_SHIFT
}

/// Adds `delta` (in valid entries, may be negative) to the count kept in the entry
/// `index` of the table at `parent` (a table descriptor).
fn adjust_count<M: TableMemory + ?Sized>(mem: &mut M, parent: PhysAddr, index: usize, delta: i64) {
    let entry = &mut mem.table_mut(parent)[index];
    debug_assert!(
        (table_count(*entry) as i64 + delta) as u64 <= ENTRIES_PER_TABLE as u64,
        "page table: valid-entry count out of range"
    );
    *entry = entry.wrapping_add((delta as u64).wrapping_mul(COUNT_ONE));
}

/// Virtual address bits that select table entries.
const VA_BITS_MASK: u64 = (1 << 48) - 1;
/// The level whose entries are pages.
const PAGE_LEVEL: usize = 3;
const GIB: u64 = 1 << 30;
const MIB_2: u64 = 1 << 21;

/// Bytes one entry at `level` covers: 512 GiB, 1 GiB, 2 MiB, 4 KiB.
const fn level_size(level: usize) -> u64 {
    1 << (39 - 9 * level as u32)
}

/// Index of `va48`'s entry in its table at `level`; always below 512.
const fn entry_index(va48: u64, level: usize) -> usize {
    ((va48 >> (39 - 9 * level as u32)) & 0x1ff) as usize
}

/// The 48 index bits of a canonical address (user `0x0000_...` or kernel `0xffff_...`).
fn index_bits(va: VirtAddr) -> ZxResult<u64> {
    match va.as_u64() >> 48 {
        0 | 0xffff => Ok(va.as_u64() & VA_BITS_MASK),
        _ => Err(ZxError::InvalidArgs),
    }
}

/// What a descriptor at a given level is.
enum Entry {
    Invalid,
    Table(PhysAddr),
    /// A block (levels 1–2) or a page (level 3).
    Leaf(u64),
}

fn classify(desc: u64, level: usize) -> Entry {
    let valid = desc & DESC_VALID != 0;
    let table_or_page = desc & DESC_TABLE_OR_PAGE != 0;
    match (valid, level, table_or_page) {
        (false, _, _) => Entry::Invalid,
        (true, PAGE_LEVEL, true) => Entry::Leaf(desc),
        // At level 3, 0b01 is reserved; at level 0 there are no blocks with this granule.
        (true, PAGE_LEVEL, false) | (true, 0, false) => Entry::Invalid,
        (true, _, true) => Entry::Table(PhysAddr(desc & ADDRESS_MASK)),
        (true, _, false) => Entry::Leaf(desc),
    }
}

/// Attribute bits of a leaf descriptor (everything but the address and the type bits).
///
/// Refused with `InvalidArgs`:
/// 1. no permission at all (the caller must not map such a range);
/// 2. write and execute together (W^X);
/// 3. write without read (no AP encoding exists; Zircon refuses it too).
fn leaf_attribute_bits(attrs: PageAttrs) -> ZxResult<u64> {
    let PageAttrs { read, write, execute, user, memory, global } = attrs;
    if !read && !write && !execute {
        return Err(ZxError::InvalidArgs);
    }
    if write && execute {
        return Err(ZxError::InvalidArgs);
    }
    if write && !read {
        return Err(ZxError::InvalidArgs);
    }
    let access = match (user, write, read) {
        (true, true, _) => AP_EL0,
        (true, false, true) => AP_EL0 | AP_READ_ONLY,
        // Execute-only at EL0: EL0 has no data access, EL1 may only read.
        (true, false, false) => AP_READ_ONLY,
        (false, true, _) => 0,
        (false, false, _) => AP_READ_ONLY,
    };
    // The other exception level never executes a page: EL1 never runs user code
    // and EL0 never runs kernel code.
    let execute_never = match (user, execute) {
        (true, true) => PRIVILEGED_EXECUTE_NEVER,
        (false, true) => UNPRIVILEGED_EXECUTE_NEVER,
        (_, false) => PRIVILEGED_EXECUTE_NEVER | UNPRIVILEGED_EXECUTE_NEVER,
    };
    let shareability = if memory.is_normal() { SH_INNER_SHAREABLE } else { 0 };
    let not_global = if global { 0 } else { NOT_GLOBAL };
    Ok(DESC_VALID
        | ((memory as u64) << ATTR_INDEX_SHIFT)
        | access
        | shareability
        | ACCESS_FLAG
        | not_global
        | execute_never)
}

/// The level-3 page descriptor mapping `pa` with `attrs` (see [`PageTable::map_page`] for
/// what is refused).
pub fn page_descriptor(pa: PhysAddr, attrs: PageAttrs) -> ZxResult<u64> {
    leaf_descriptor(pa, attrs, PAGE_LEVEL)
}

fn leaf_descriptor(pa: PhysAddr, attrs: PageAttrs, level: usize) -> ZxResult<u64> {
    let size = level_size(level);
    if !pa.as_u64().is_multiple_of(size) || pa.as_u64() & !ADDRESS_MASK != 0 {
        return Err(ZxError::InvalidArgs);
    }
    let type_bit = if level == PAGE_LEVEL { DESC_TABLE_OR_PAGE } else { 0 };
    Ok(pa.as_u64() | type_bit | leaf_attribute_bits(attrs)?)
}

/// The output address of a page or block descriptor.
pub fn descriptor_address(desc: u64) -> PhysAddr {
    PhysAddr(desc & ADDRESS_MASK)
}

/// Decodes a valid leaf descriptor (page or block, as given by [`PageTable::translate`] or
/// [`PageTable::for_each_leaf`]); `None` for an invalid one.
pub fn descriptor_attrs(desc: u64) -> Option<LeafInfo> {
    if desc & DESC_VALID == 0 {
        return None;
    }
    let el0_access = desc & AP_EL0 != 0;
    let read_only = desc & AP_READ_ONLY != 0;
    let el0_write = el0_access && !read_only;
    let index = ((desc & ATTR_INDEX_MASK) >> ATTR_INDEX_SHIFT) as u8;
    Some(LeafInfo {
        memory: MemoryType::from_index(index),
        el0_read: el0_access,
        el0_write,
        el0_execute: desc & UNPRIVILEGED_EXECUTE_NEVER == 0,
        el1_write: !read_only,
        // Memory writable at EL0 is never executable at EL1 (Arm ARM D8.4.1.2).
        el1_execute: desc & PRIVILEGED_EXECUTE_NEVER == 0 && !el0_write,
        global: desc & NOT_GLOBAL == 0,
        access_flag: desc & ACCESS_FLAG != 0,
    })
}

/// One address space's translation tables, named by the physical address of the level-0
/// table (the value for TTBR0_EL1 or TTBR1_EL1, without the ASID).
///
/// Every table below the root carries, in its descriptor's ignored bits 11..2, the count
/// of valid entries it holds (kept by every write this type makes), and the last level-3
/// table walked to is remembered with its parent, so faults in the same 2 MiB skip the
/// walk. Tables are only ever freed by [`prune`](Self::prune) and
/// [`destroy`](Self::destroy), which forget that cache.
#[derive(Debug, PartialEq, Eq)]
pub struct PageTable {
    root: PhysAddr,
    walk: WalkCache,
}

/// The level-3 table covering index bits `key << 21`, and the level-2 table whose entry
/// links it (`key == NO_WALK`: none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WalkCache {
    key: u64,
    l2: PhysAddr,
    l3: PhysAddr,
}

/// No cached walk: index bits shifted right by 21 never reach this.
const NO_WALK: u64 = u64::MAX;
const EMPTY_WALK: WalkCache = WalkCache { key: NO_WALK, l2: PhysAddr(0), l3: PhysAddr(0) };
/// Index bits of one level-3 table's reach (2 MiB).
const L3_SHIFT: u32 = 21;

impl PageTable {
    /// An empty address space: one zeroed level-0 table.
    pub fn new<M: TableMemory + ?Sized>(mem: &mut M) -> ZxResult<Self> {
        Ok(PageTable { root: mem.alloc_table()?, walk: EMPTY_WALK })
    }

    /// No table yet (root at physical 0): the kernel's table before boot installs it
    /// (`kernel::Kernel::UNBOOTED`, which nothing uses before boot).
    pub const fn unset() -> Self {
        PageTable { root: PhysAddr(0), walk: EMPTY_WALK }
    }

    /// Physical address of the level-0 table.
    pub fn root(&self) -> PhysAddr {
        self.root
    }

    /// Maps the 4 KiB page at `va` to `pa`, replacing any page mapped there.
    ///
    /// 1. `va` must be canonical and both addresses page aligned, `pa` below 2^48
    ///    (`InvalidArgs`).
    /// 2. The attributes must be installable: some permission, not write+execute, not
    ///    write without read (`InvalidArgs`).
    /// 3. A block already covering `va` is not split (`AlreadyExists`).
    /// 4. Missing tables are allocated first; if one cannot be, those already allocated
    ///    are freed and the tables are unchanged (`NoMemory`).
    pub fn map_page<M: TableMemory + ?Sized>(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        attrs: PageAttrs,
        mem: &mut M,
    ) -> ZxResult {
        let va48 = index_bits(va)?;
        if !va.is_page_aligned() {
            return Err(ZxError::InvalidArgs);
        }
        let desc = leaf_descriptor(pa, attrs, PAGE_LEVEL)?;
        self.install_leaf(va48, PAGE_LEVEL, desc, mem)
    }

    /// Maps `len` bytes at `va` to `pa`, with 1 GiB and 2 MiB blocks wherever the
    /// virtual address, the physical address and the remaining length allow (and no
    /// table is already there), 4 KiB pages elsewhere.
    ///
    /// Checks as [`map_page`](Self::map_page); `len` must be a non-zero page multiple
    /// and the range must not leave its half of the address space. On failure, what this
    /// call mapped is unmapped again (tables it created stay, empty, until `destroy`).
    pub fn map_range<M: TableMemory + ?Sized>(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        len: u64,
        attrs: PageAttrs,
        mem: &mut M,
    ) -> ZxResult {
        let va48 = index_bits(va)?;
        let aligned = va.is_page_aligned() && pa.is_page_aligned() && len.is_multiple_of(PAGE_SIZE);
        let end48 = va48.checked_add(len).ok_or(ZxError::InvalidArgs)?;
        let pa_end = pa.as_u64().checked_add(len).ok_or(ZxError::InvalidArgs)?;
        if !aligned || len == 0 || end48 > VA_BITS_MASK + 1 || pa_end > ADDRESS_MASK + PAGE_SIZE {
            return Err(ZxError::InvalidArgs);
        }
        // Refuse bad attributes before touching anything.
        leaf_attribute_bits(attrs)?;

        let mut offset = 0;
        while offset < len {
            let (cur_va, cur_pa) = (va48 + offset, pa.as_u64() + offset);
            let remaining = len - offset;
            let level = [(1, GIB), (2, MIB_2)]
                .into_iter()
                .find(|&(level, size)| {
                    cur_va.is_multiple_of(size)
                        && cur_pa.is_multiple_of(size)
                        && remaining >= size
                        && !self.has_table_at(cur_va, level, mem)
                })
                .map_or(PAGE_LEVEL, |(level, _)| level);
            let installed = leaf_descriptor(PhysAddr(cur_pa), attrs, level)
                .and_then(|desc| self.install_leaf(cur_va, level, desc, mem));
            if let Err(error) = installed {
                if offset > 0 {
                    self.unmap_range(va, offset, mem);
                }
                return Err(error);
            }
            offset += level_size(level);
        }
        Ok(())
    }

    /// Removes the page mapping at `va` and returns the physical page it mapped; `None`
    /// when no page is mapped there. The frame is not freed. Pages inside a block are not
    /// unmapped (blocks belong to the kernel's linear map, which never changes).
    pub fn unmap_page<M: TableMemory + ?Sized>(&mut self, va: VirtAddr, mem: &mut M) -> Option<PhysAddr> {
        let va48 = index_bits(va).ok()?;
        let mut table = self.root;
        let mut parent = self.root;
        for level in 0..PAGE_LEVEL {
            match classify(mem.table_mut(table)[entry_index(va48, level)], level) {
                Entry::Table(next) => {
                    parent = table;
                    table = next;
                }
                Entry::Invalid | Entry::Leaf(_) => return None,
            }
        }
        let slot = &mut mem.table_mut(table)[entry_index(va48, PAGE_LEVEL)];
        match classify(*slot, PAGE_LEVEL) {
            Entry::Leaf(desc) => {
                *slot = 0;
                adjust_count(mem, parent, entry_index(va48, PAGE_LEVEL - 1), -1);
                Some(PhysAddr(desc & ADDRESS_MASK))
            }
            Entry::Invalid | Entry::Table(_) => None,
        }
    }

    /// Removes every page and every whole block in `[va, va + len)` and returns how many
    /// leaf entries were cleared. Unmapped stretches are skipped a whole table at a time,
    /// so a sparse range costs little. A block only partly inside the range is left
    /// alone. An invalid range (non-canonical, past the end of its half) unmaps nothing.
    pub fn unmap_range<M: TableMemory + ?Sized>(&mut self, va: VirtAddr, len: u64, mem: &mut M) -> usize {
        self.clear_leaves(va, len, mem, &mut |_| {})
    }

    /// The walk of [`unmap_range`](Self::unmap_range) and
    /// [`clear_range`](Self::clear_range): clears the leaves wholly inside the range and
    /// calls `cleared` with the index bits of each.
    fn clear_leaves<M: TableMemory + ?Sized>(
        &mut self,
        va: VirtAddr,
        len: u64,
        mem: &mut M,
        cleared_at: &mut dyn FnMut(u64),
    ) -> usize {
        let Ok(start) = index_bits(va) else {
            return 0;
        };
        let end = start.saturating_add(len).min(VA_BITS_MASK + 1);
        // A range inside the 2 MiB of the cached level-3 table (an unmap of what was
        // just faulted in): its pages are cleared there, without the walk.
        let (first_page, end_page) = (start.div_ceil(PAGE_SIZE), end / PAGE_SIZE);
        if first_page < end_page && self.in_cached_l3(first_page * PAGE_SIZE, end_page * PAGE_SIZE) {
            let WalkCache { l2, l3, .. } = self.walk;
            let mut here = 0;
            for page in first_page..end_page {
                let slot = &mut mem.table_mut(l3)[(page % ENTRIES_PER_TABLE as u64) as usize];
                if let Entry::Leaf(_) = classify(*slot, PAGE_LEVEL) {
                    *slot = 0;
                    here += 1;
                    cleared_at(page * PAGE_SIZE);
                }
            }
            if here > 0 {
                adjust_count(mem, l2, entry_index(start, PAGE_LEVEL - 1), -(here as i64));
            }
            return here;
        }
        let mut cleared = 0;
        if start < end {
            clear_table(self.root, 0, 0, start, end, mem, cleared_at, &mut cleared);
        }
        cleared
    }

    /// True when the index bits `[start, end)` (non-empty) lie in the 2 MiB of the
    /// cached level-3 table.
    fn in_cached_l3(&self, start: u64, end: u64) -> bool {
        start >> L3_SHIFT == self.walk.key && (end - 1) >> L3_SHIFT == self.walk.key
    }

    /// Clears every page and every whole block in `[va, va + len)`, calling `cleared`
    /// with the address of each (for TLB maintenance), and returns how many there were.
    /// Like [`unmap_range`](Self::unmap_range), whose walk it shares, it skips missing
    /// tables and empty stretches whole, so its cost follows the entries that exist,
    /// not the length: a page mapped in a 4 TiB range costs a few table reads.
    pub fn clear_range<M: TableMemory + ?Sized>(
        &mut self,
        va: VirtAddr,
        len: u64,
        mem: &mut M,
        mut cleared: impl FnMut(VirtAddr),
    ) -> usize {
        let half = va.as_u64() & !VA_BITS_MASK;
        self.clear_leaves(va, len, mem, &mut |va48| cleared(VirtAddr(half | va48)))
    }

    /// Frees the tables below the root that cover `[va, va + len)` and map nothing any
    /// more, so that unmapping returns page-table memory too. Returns how many table
    /// pages were freed. The caller must invalidate cached walks (TLBI by ASID) before
    /// the freed pages are reused.
    pub fn prune<M: TableMemory + ?Sized>(&mut self, va: VirtAddr, len: u64, mem: &mut M) -> usize {
        let Ok(start) = index_bits(va) else {
            return 0;
        };
        let end = start.saturating_add(len).min(VA_BITS_MASK + 1);
        // Inside the cached level-3 table's 2 MiB, while that table still maps
        // something: every table covering the range has a valid entry, so none is freed.
        if start < end
            && self.in_cached_l3(start, end)
            && table_count(mem.table_mut(self.walk.l2)[entry_index(start, PAGE_LEVEL - 1)]) > 0
        {
            return 0;
        }
        let mut freed = 0;
        if start < end {
            prune_table(self.root, 0, 0, start, end, mem, &mut freed);
        }
        if freed > 0 {
            self.walk = EMPTY_WALK;
        }
        freed
    }

    /// True when every table descriptor's count (bits 11..2) is the number of valid
    /// entries in the table it links: the invariant [`prune`](Self::prune) relies on.
    /// A check for tests and the kernel's `vmcheck` audit (it reads every table).
    pub fn counts_consistent<M: TableMemory + ?Sized>(&self, mem: &mut M) -> bool {
        counts_match(self.root, 0, mem)
    }

    /// The physical address `va` translates to (page or block offset included) and the
    /// leaf descriptor that maps it, or `None` when `va` is not mapped.
    pub fn translate<M: TableMemory + ?Sized>(&self, va: VirtAddr, mem: &mut M) -> Option<(PhysAddr, u64)> {
        let va48 = index_bits(va).ok()?;
        let mut table = self.root;
        for level in 0..=PAGE_LEVEL {
            match classify(mem.table_mut(table)[entry_index(va48, level)], level) {
                Entry::Invalid => return None,
                Entry::Table(next) => table = next,
                Entry::Leaf(desc) => {
                    let offset = va48 & (level_size(level) - 1);
                    return Some((PhysAddr((desc & ADDRESS_MASK) + offset), desc));
                }
            }
        }
        None
    }

    /// Calls `f(va, descriptor, size)` for every page and block, in address order.
    /// `va` holds the 48 bits that index the tables: the tables do not know which half
    /// they serve, so for TTBR1 tables the address is `0xffff_0000_0000_0000 | va`.
    pub fn for_each_leaf<M: TableMemory + ?Sized>(&self, mem: &mut M, mut f: impl FnMut(VirtAddr, u64, u64)) {
        visit_leaves(self.root, 0, 0, 0, VA_BITS_MASK + 1, mem, &mut f);
    }

    /// Like [`for_each_leaf`](Self::for_each_leaf), for the leaves overlapping
    /// `[va, va + len)` only. Unmapped stretches are skipped a whole table at a time, so
    /// a huge, sparse range costs what is mapped in it, not its length.
    pub fn for_each_leaf_in<M: TableMemory + ?Sized>(
        &self,
        va: VirtAddr,
        len: u64,
        mem: &mut M,
        mut f: impl FnMut(VirtAddr, u64, u64),
    ) {
        let Ok(start) = index_bits(va) else {
            return;
        };
        let end = start.saturating_add(len).min(VA_BITS_MASK + 1);
        visit_leaves(self.root, 0, 0, start, end, mem, &mut f);
    }

    /// Frees every table page, the root included. The pages and blocks the tables mapped
    /// are not touched: their owners free them.
    pub fn destroy<M: TableMemory + ?Sized>(self, mem: &mut M) {
        free_tables(self.root, 0, mem);
    }

    /// True when the walk for `va48` reaches `level` and finds a table there.
    fn has_table_at<M: TableMemory + ?Sized>(&self, va48: u64, level: usize, mem: &mut M) -> bool {
        let mut table = self.root;
        for depth in 0..=level {
            match classify(mem.table_mut(table)[entry_index(va48, depth)], depth) {
                Entry::Table(_) if depth == level => return true,
                Entry::Table(next) => table = next,
                Entry::Invalid | Entry::Leaf(_) => return false,
            }
        }
        false
    }

    /// Writes `desc` into the entry for `va48` at `level`, creating missing tables, and
    /// keeps the valid-entry counts of the tables it changes.
    #[inline]
    fn install_leaf<M: TableMemory + ?Sized>(&mut self, va48: u64, level: usize, desc: u64, mem: &mut M) -> ZxResult {
        // The fast path: a page in the 2 MiB of the last level-3 table walked to.
        if level == PAGE_LEVEL && va48 >> L3_SHIFT == self.walk.key {
            let WalkCache { l2, l3, .. } = self.walk;
            let slot = &mut mem.table_mut(l3)[entry_index(va48, PAGE_LEVEL)];
            let was_valid = *slot & DESC_VALID;
            *slot = desc;
            if was_valid == 0 {
                adjust_count(mem, l2, entry_index(va48, PAGE_LEVEL - 1), 1);
            }
            return Ok(());
        }
        self.install_leaf_walk(va48, level, desc, mem)
    }

    /// [`install_leaf`](Self::install_leaf) through the tables from the root.
    #[inline(never)]
    fn install_leaf_walk<M: TableMemory + ?Sized>(
        &mut self,
        va48: u64,
        level: usize,
        desc: u64,
        mem: &mut M,
    ) -> ZxResult {
        // 1. Follow the tables that exist; `path[d]` is the table at depth `d`.
        let mut path = [PhysAddr(0); PAGE_LEVEL + 1];
        path[0] = self.root;
        let mut depth = 0;
        while depth < level {
            match classify(mem.table_mut(path[depth])[entry_index(va48, depth)], depth) {
                Entry::Table(next) => {
                    path[depth + 1] = next;
                    depth += 1;
                }
                Entry::Invalid => break,
                Entry::Leaf(_) => return Err(ZxError::AlreadyExists),
            }
        }
        // 2. Allocate every missing table before linking any, so that failure leaves
        //    the tables exactly as they were.
        let missing = level - depth;
        let mut new_tables = [PhysAddr(0); PAGE_LEVEL];
        for allocated in 0..missing {
            match mem.alloc_table() {
                Ok(pa) => new_tables[allocated] = pa,
                Err(error) => {
                    for &pa in &new_tables[..allocated] {
                        mem.free_table(pa);
                    }
                    return Err(error);
                }
            }
        }
        // 3. A table already at the leaf's slot would be lost, so it is refused (before
        //    anything is linked: only an existing table can be there).
        if missing == 0
            && matches!(classify(mem.table_mut(path[level])[entry_index(va48, level)], level), Entry::Table(_))
        {
            return Err(ZxError::AlreadyExists);
        }
        // 4. Link them, then write the leaf; each new entry in a table below the root
        //    adds one to the count its parent's descriptor keeps.
        for &next in &new_tables[..missing] {
            mem.table_mut(path[depth])[entry_index(va48, depth)] = next.as_u64() | DESC_TABLE_OR_PAGE | DESC_VALID;
            if depth > 0 {
                adjust_count(mem, path[depth - 1], entry_index(va48, depth - 1), 1);
            }
            path[depth + 1] = next;
            depth += 1;
        }
        let slot = &mut mem.table_mut(path[level])[entry_index(va48, level)];
        let was_valid = *slot & DESC_VALID;
        *slot = desc;
        if was_valid == 0 && level > 0 {
            adjust_count(mem, path[level - 1], entry_index(va48, level - 1), 1);
        }
        if level == PAGE_LEVEL {
            self.walk = WalkCache { key: va48 >> L3_SHIFT, l2: path[PAGE_LEVEL - 1], l3: path[PAGE_LEVEL] };
        }
        Ok(())
    }
}

/// Clears the leaves of the table at `table` (covering index bits from `va_prefix`, at
/// `level`) that lie wholly inside `[start, end)`, counting them in `cleared` and
/// reporting each to `cleared_at`. Each step looks for the next valid entry in one
/// pass over the table, so empty stretches cost nothing per entry and a missing
/// table is skipped whole. A block only partly inside the range is left (and logged).
/// Returns how many entries of this table it cleared (for the count its parent keeps);
/// the counts of the tables below are brought up to date here.
#[allow(clippy::too_many_arguments)]
fn clear_table<M: TableMemory + ?Sized>(
    table: PhysAddr,
    level: usize,
    va_prefix: u64,
    start: u64,
    end: u64,
    mem: &mut M,
    cleared_at: &mut dyn FnMut(u64),
    cleared: &mut usize,
) -> usize {
    let size = level_size(level);
    let first = ((start.max(va_prefix) - va_prefix) / size) as usize;
    let last = (end.min(va_prefix + size * ENTRIES_PER_TABLE as u64).saturating_sub(va_prefix))
        .div_ceil(size)
        .min(ENTRIES_PER_TABLE as u64) as usize;
    let mut index = first;
    let mut here = 0;
    while index < last {
        let Some(skip) = mem.table_mut(table)[index..last].iter().position(|&desc| desc & DESC_VALID != 0) else {
            return here;
        };
        index += skip;
        let base = va_prefix + index as u64 * size;
        let desc = mem.table_mut(table)[index];
        match classify(desc, level) {
            Entry::Invalid => {}
            Entry::Table(next) => {
                let below = clear_table(next, level + 1, base, start, end, mem, cleared_at, cleared);
                if below > 0 {
                    adjust_count(mem, table, index, -(below as i64));
                }
            }
            Entry::Leaf(_) if base >= start && base + size <= end => {
                mem.table_mut(table)[index] = 0;
                *cleared += 1;
                here += 1;
                cleared_at(base);
            }
            Entry::Leaf(_) => partly_unmapped_block(base),
        }
        index += 1;
    }
    here
}

/// Logs a block that an unmap covers only in part (and leaves); out of line, so the
/// walk does not set up the message's arguments on every call.
#[cold]
#[inline(never)]
fn partly_unmapped_block(base: u64) {
    log::warn!("page table: block at index bits {base:#x} only partly unmapped; left");
}

/// Visits the leaves of the table at `table` (covering index bits from `va_prefix`, at
/// `level`) that overlap `[start, end)`.
fn visit_leaves<M: TableMemory + ?Sized>(
    table: PhysAddr,
    level: usize,
    va_prefix: u64,
    start: u64,
    end: u64,
    mem: &mut M,
    f: &mut impl FnMut(VirtAddr, u64, u64),
) {
    let size = level_size(level);
    let first = (start.max(va_prefix) - va_prefix) / size;
    let last = (end.min(va_prefix + size * ENTRIES_PER_TABLE as u64).saturating_sub(va_prefix)).div_ceil(size);
    for index in first..last.min(ENTRIES_PER_TABLE as u64) {
        let va48 = va_prefix + index * size;
        match classify(mem.table_mut(table)[index as usize], level) {
            Entry::Invalid => {}
            Entry::Table(next) => visit_leaves(next, level + 1, va48, start, end, mem, f),
            Entry::Leaf(desc) => f(VirtAddr(va48), desc, size),
        }
    }
}

fn free_tables<M: TableMemory + ?Sized>(table: PhysAddr, level: usize, mem: &mut M) {
    // A level-3 table holds pages only: there is nothing below it to free, so it is not
    // scanned. Above that, most entries of a process's tables are empty: eight are
    // tested at once (one OR of their valid bits) before any is classified. This walk
    // was most of a process's destruction (22,700 of 52,000 instructions).
    if level < PAGE_LEVEL {
        for first in (0..ENTRIES_PER_TABLE).step_by(8) {
            let any_valid = mem.table_mut(table)[first..first + 8].iter().fold(0, |acc, &desc| acc | desc) & DESC_VALID;
            if any_valid == 0 {
                continue;
            }
            for index in first..first + 8 {
                if let Entry::Table(next) = classify(mem.table_mut(table)[index], level) {
                    free_tables(next, level + 1, mem);
                }
            }
        }
    }
    mem.free_table(table);
}

/// Prunes the table at `table` (covering index bits from `base`, at `level`) within
/// `[start, end)`: child tables left with no valid entry (their descriptor's count is
/// 0) are freed and their entries cleared, after their own children were pruned.
/// Returns how many entries of this table it cleared (for the count its parent keeps).
fn prune_table<M: TableMemory + ?Sized>(
    table: PhysAddr,
    level: usize,
    base: u64,
    start: u64,
    end: u64,
    mem: &mut M,
    freed: &mut usize,
) -> usize {
    if level >= PAGE_LEVEL {
        return 0;
    }
    let size = level_size(level);
    let first = ((start.max(base) - base) / size) as usize;
    let last =
        ((end.min(base + size * ENTRIES_PER_TABLE as u64) - base).div_ceil(size) as usize).min(ENTRIES_PER_TABLE);
    let mut here = 0;
    for index in first..last {
        let Entry::Table(next) = classify(mem.table_mut(table)[index], level) else { continue };
        let below = prune_table(next, level + 1, base + index as u64 * size, start, end, mem, freed);
        if below > 0 {
            adjust_count(mem, table, index, -(below as i64));
        }
        if table_count(mem.table_mut(table)[index]) == 0 {
            mem.table_mut(table)[index] = 0;
            mem.free_table(next);
            *freed += 1;
            here += 1;
        }
    }
    here
}

/// Whether the counts in the table descriptors of the table at `table` (at `level`) and
/// below match the valid entries of the tables they link.
fn counts_match<M: TableMemory + ?Sized>(table: PhysAddr, level: usize, mem: &mut M) -> bool {
    if level >= PAGE_LEVEL {
        return true;
    }
    for index in 0..ENTRIES_PER_TABLE {
        let desc = mem.table_mut(table)[index];
        if let Entry::Table(next) = classify(desc, level) {
            let valid = mem.table_mut(next).iter().filter(|&&entry| entry & DESC_VALID != 0).count() as u64;
            if table_count(desc) != valid || !counts_match(next, level + 1, mem) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::collections::BTreeMap;
    use std::vec::Vec;

    /// Table pages in a map, at made-up physical addresses, with an allocation limit.
    struct FakeTables {
        tables: BTreeMap<u64, Box<[u64; ENTRIES_PER_TABLE]>>,
        next: u64,
        limit: usize,
        freed: Vec<u64>,
        /// Table reads and writes so far: the cost of a walk.
        accesses: usize,
    }

    impl FakeTables {
        fn new() -> Self {
            Self::with_limit(usize::MAX)
        }
        fn with_limit(limit: usize) -> Self {
            FakeTables { tables: BTreeMap::new(), next: 0x8000_0000, limit, freed: Vec::new(), accesses: 0 }
        }
        fn live(&self) -> usize {
            self.tables.len()
        }
    }

    impl TableMemory for FakeTables {
        fn alloc_table(&mut self) -> ZxResult<PhysAddr> {
            if self.tables.len() >= self.limit {
                return Err(ZxError::NoMemory);
            }
            let pa = self.next;
            self.next += PAGE_SIZE;
            self.tables.insert(pa, Box::new([0; ENTRIES_PER_TABLE]));
            Ok(PhysAddr(pa))
        }
        fn table_mut(&mut self, pa: PhysAddr) -> &mut [u64; ENTRIES_PER_TABLE] {
            self.accesses += 1;
            self.tables.get_mut(&pa.as_u64()).expect("walk reached a page that is not a table")
        }
        fn free_table(&mut self, pa: PhysAddr) {
            assert!(self.tables.remove(&pa.as_u64()).is_some(), "freed {pa} twice");
            self.freed.push(pa.as_u64());
        }
    }

    const USER_RW: PageAttrs = PageAttrs::user(true, true, false);
    const USER_RX: PageAttrs = PageAttrs::user(true, false, true);
    const USER_RO: PageAttrs = PageAttrs::user(true, false, false);
    const USER_XO: PageAttrs = PageAttrs::user(false, false, true);
    const KERNEL_RW: PageAttrs = PageAttrs::kernel(true, true, false, MemoryType::NormalWriteBack);
    const KERNEL_RX: PageAttrs = PageAttrs::kernel(true, false, true, MemoryType::NormalWriteBack);

    fn leaves(table: &PageTable, mem: &mut FakeTables) -> Vec<(u64, u64, u64)> {
        let mut found = Vec::new();
        table.for_each_leaf(mem, |va, desc, size| found.push((va.as_u64(), desc, size)));
        found
    }

    #[test]
    fn mair_holds_the_four_attributes_in_index_order() {
        assert_eq!(MAIR_EL1_VALUE, 0x4400_04ff);
        for (policy, memory) in [
            (cache_policy::CACHED, MemoryType::NormalWriteBack),
            (cache_policy::UNCACHED, MemoryType::Device_nGnRE),
            (cache_policy::UNCACHED_DEVICE, MemoryType::Device_nGnRnE),
            (cache_policy::WRITE_COMBINING, MemoryType::NormalNonCacheable),
        ] {
            assert_eq!(MemoryType::from_cache_policy(policy), Some(memory));
        }
        assert_eq!(MemoryType::from_cache_policy(4), None);
        let byte = |m: MemoryType| (MAIR_EL1_VALUE >> (8 * m as u64)) & 0xff;
        assert_eq!(byte(MemoryType::Device_nGnRE), 0x04);
        assert_eq!(byte(MemoryType::NormalNonCacheable), 0x44);
    }

    #[test]
    fn golden_page_descriptors() {
        let pa = PhysAddr(0x4000_1000);
        // User RW: AP=01, SH=11, AF, nG, PXN+UXN.
        assert_eq!(page_descriptor(pa, USER_RW), Ok(0x0060_0000_4000_1f43));
        // User RX: AP=11, PXN only.
        assert_eq!(page_descriptor(pa, USER_RX), Ok(0x0020_0000_4000_1fc3));
        // User RO: AP=11, PXN+UXN.
        assert_eq!(page_descriptor(pa, USER_RO), Ok(0x0060_0000_4000_1fc3));
        // User execute-only: AP=10 (no EL0 data access), PXN only.
        assert_eq!(page_descriptor(pa, USER_XO), Ok(0x0020_0000_4000_1f83));
        // Kernel RX text, global: AP=10, UXN only.
        assert_eq!(page_descriptor(pa, KERNEL_RW), Ok(0x0060_0000_4000_1703));
        assert_eq!(page_descriptor(pa, KERNEL_RX), Ok(0x0040_0000_4000_1783));
        // Kernel device registers: AttrIndx 1, not shareable.
        let mmio = KERNEL_RW.with_memory(MemoryType::Device_nGnRE);
        assert_eq!(page_descriptor(PhysAddr(0x0900_0000), mmio), Ok(0x0060_0000_0900_0407));
        let write_combining = USER_RW.with_memory(MemoryType::NormalNonCacheable);
        assert_eq!(page_descriptor(pa, write_combining), Ok(0x0060_0000_4000_1f4f));
    }

    #[test]
    fn decoding_reports_what_the_hardware_enforces() {
        let rw = descriptor_attrs(page_descriptor(PhysAddr(0), USER_RW).unwrap()).unwrap();
        assert!(rw.el0_read && rw.el0_write && !rw.el0_execute && rw.el1_write && !rw.el1_execute);
        assert!(!rw.global && rw.access_flag);
        assert_eq!(rw.memory, Some(MemoryType::NormalWriteBack));
        let xo = descriptor_attrs(page_descriptor(PhysAddr(0), USER_XO).unwrap()).unwrap();
        assert!(!xo.el0_read && !xo.el0_write && xo.el0_execute && !xo.el1_write && !xo.el1_execute);
        let text = descriptor_attrs(page_descriptor(PhysAddr(0), KERNEL_RX).unwrap()).unwrap();
        assert!(!text.el0_read && !text.el0_execute && !text.el1_write && text.el1_execute && text.global);
        // Writable at EL0 with PXN clear: the architecture still forbids EL1 execution.
        assert!(!descriptor_attrs(0x0040_0000_0000_0f43).unwrap().el1_execute);
        assert_eq!(descriptor_attrs(0x0060_0000_4000_1f42), None);
    }

    #[test]
    fn refused_attributes() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        let va = VirtAddr(0x40_0000);
        let pa = PhysAddr(0x4000_0000);
        for attrs in [
            PageAttrs::user(false, false, false),
            PageAttrs::user(true, true, true),
            PageAttrs::kernel(true, true, true, MemoryType::NormalWriteBack),
            PageAttrs::user(false, true, false),
        ] {
            assert_eq!(table.map_page(va, pa, attrs, &mut mem), Err(ZxError::InvalidArgs));
            assert_eq!(table.map_range(va, pa, 0x20_0000, attrs, &mut mem), Err(ZxError::InvalidArgs));
        }
        // Misaligned, non-canonical, too-high physical address, empty or overflowing range.
        assert_eq!(table.map_page(VirtAddr(0x40_0010), pa, USER_RW, &mut mem), Err(ZxError::InvalidArgs));
        assert_eq!(table.map_page(va, PhysAddr(0x4000_0010), USER_RW, &mut mem), Err(ZxError::InvalidArgs));
        assert_eq!(table.map_page(VirtAddr(1 << 50), pa, USER_RW, &mut mem), Err(ZxError::InvalidArgs));
        assert_eq!(table.map_page(va, PhysAddr(1 << 48), USER_RW, &mut mem), Err(ZxError::InvalidArgs));
        assert_eq!(table.map_range(va, pa, 0, USER_RW, &mut mem), Err(ZxError::InvalidArgs));
        let top = VirtAddr(0xffff_ffff_ffff_f000);
        assert_eq!(table.map_range(top, pa, 0x2000, KERNEL_RW, &mut mem), Err(ZxError::InvalidArgs));
        // Nothing was installed and no table was allocated beyond the root.
        assert!(leaves(&table, &mut mem).is_empty());
        assert_eq!(mem.live(), 1);
    }

    #[test]
    fn map_translate_replace_unmap_a_page() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        let va = VirtAddr(0x0000_1234_5678_9000);
        table.map_page(va, PhysAddr(0x4000_1000), USER_RW, &mut mem).unwrap();
        // Root + level 1 + level 2 + level 3.
        assert_eq!(mem.live(), 4);
        let (pa, desc) = table.translate(VirtAddr(va.as_u64() + 0x123), &mut mem).unwrap();
        assert_eq!(pa, PhysAddr(0x4000_1123));
        assert_eq!(desc, 0x0060_0000_4000_1f43);
        assert_eq!(table.translate(VirtAddr(va.as_u64() + 0x1000), &mut mem), None);

        // Replacing the page needs no new table.
        table.map_page(va, PhysAddr(0x4000_5000), USER_RO, &mut mem).unwrap();
        assert_eq!(mem.live(), 4);
        assert_eq!(table.translate(va, &mut mem).map(|(pa, _)| pa), Some(PhysAddr(0x4000_5000)));

        assert_eq!(table.unmap_page(va, &mut mem), Some(PhysAddr(0x4000_5000)));
        assert_eq!(table.unmap_page(va, &mut mem), None);
        assert_eq!(table.translate(va, &mut mem), None);
    }

    #[test]
    fn kernel_addresses_use_bits_47_to_12() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        let va = VirtAddr(0xffff_8000_4000_0000);
        table.map_page(va, PhysAddr(0x4000_0000), KERNEL_RW, &mut mem).unwrap();
        let root = mem.table_mut(table.root())[256];
        assert_eq!(root & 0b11, 0b11, "level-0 entry 256 holds the table");
        assert_eq!(leaves(&table, &mut mem), [(0x8000_4000_0000, 0x0060_0000_4000_0703, PAGE_SIZE)]);
        assert!(table.translate(va, &mut mem).is_some());
        assert_eq!(table.translate(VirtAddr(0x4000_0000), &mut mem), None);
        // TTBR1 addresses 0xffff_0000_... index the tables exactly as TTBR0 ones do.
        let low_kernel = VirtAddr(0xffff_0000_0020_0000);
        table.map_page(low_kernel, PhysAddr(0x5000), KERNEL_RW, &mut mem).unwrap();
        assert_eq!(table.translate(VirtAddr(0x20_0000), &mut mem).map(|(pa, _)| pa), Some(PhysAddr(0x5000)));
        assert_eq!(table.unmap_page(VirtAddr(0x20_0000), &mut mem), Some(PhysAddr(0x5000)));
    }

    #[test]
    fn linear_map_uses_blocks_where_alignment_allows() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        // 0x3fe0_0000 .. 0x8000_3000: one 2 MiB block, one 1 GiB block, three pages.
        let va = VirtAddr(0xffff_0000_3fe0_0000);
        let pa = PhysAddr(0x3fe0_0000);
        let len = 0x8000_3000 - 0x3fe0_0000;
        table.map_range(va, pa, len, KERNEL_RW, &mut mem).unwrap();
        let found = leaves(&table, &mut mem);
        let sizes: Vec<u64> = found.iter().map(|&(_, _, size)| size).collect();
        assert_eq!(sizes, [MIB_2, GIB, PAGE_SIZE, PAGE_SIZE, PAGE_SIZE]);
        // A 2 MiB block descriptor: type bits 01.
        assert_eq!(found[0], (0x3fe0_0000, 0x0060_0000_3fe0_0701, MIB_2));
        assert_eq!(found[1].1, 0x0060_0000_4000_0701);
        assert_eq!(found[2], (0x8000_0000, 0x0060_0000_8000_0703, PAGE_SIZE));
        // Translation inside blocks includes the offset.
        let inside = table.translate(VirtAddr(0xffff_0000_5234_5678), &mut mem).unwrap();
        assert_eq!(inside, (PhysAddr(0x5234_5678), 0x0060_0000_4000_0701));
        // No mapping past the end.
        assert_eq!(table.translate(VirtAddr(0xffff_0000_8000_3000), &mut mem), None);
        // A page inside a block is not split.
        let in_block = VirtAddr(0xffff_0000_4000_1000);
        assert_eq!(table.map_page(in_block, pa, KERNEL_RW, &mut mem), Err(ZxError::AlreadyExists));
        assert_eq!(table.unmap_page(in_block, &mut mem), None);
    }

    #[test]
    fn misaligned_physical_address_gets_pages_not_blocks() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        table.map_range(VirtAddr(0x20_0000), PhysAddr(0x4000_1000), 0x20_0000, USER_RW, &mut mem).unwrap();
        let found = leaves(&table, &mut mem);
        assert_eq!(found.len(), 512);
        assert!(found.iter().all(|&(_, _, size)| size == PAGE_SIZE));
    }

    #[test]
    fn existing_tables_are_not_overwritten_by_blocks() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        table.map_page(VirtAddr(0x20_3000), PhysAddr(0x9000_0000), USER_RO, &mut mem).unwrap();
        table.map_range(VirtAddr(0x20_0000), PhysAddr(0x4020_0000), 0x20_0000, USER_RW, &mut mem).unwrap();
        let found = leaves(&table, &mut mem);
        assert_eq!(found.len(), 512);
        let replaced = table.translate(VirtAddr(0x20_3000), &mut mem).unwrap();
        assert_eq!(replaced.0, PhysAddr(0x4020_3000));
    }

    #[test]
    fn unmap_range_clears_pages_and_whole_blocks_and_skips_holes() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        table.map_range(VirtAddr(0x4000_0000), PhysAddr(0x4000_0000), GIB + 0x3000, USER_RW, &mut mem).unwrap();
        table.map_page(VirtAddr(0x7f00_0000_0000), PhysAddr(0x1000), USER_RO, &mut mem).unwrap();
        // The whole user half: only three pages, one block and one far page are cleared.
        assert_eq!(table.unmap_range(VirtAddr(0x1_0000), (1 << 47) - 0x1_0000, &mut mem), 5);
        assert!(leaves(&table, &mut mem).is_empty());

        table.map_range(VirtAddr(0x4000_0000), PhysAddr(0x4000_0000), GIB, USER_RW, &mut mem).unwrap();
        // Part of a block is not unmapped.
        assert_eq!(table.unmap_range(VirtAddr(0x4000_0000), 0x1000, &mut mem), 0);
        assert_eq!(leaves(&table, &mut mem).len(), 1);
    }

    /// Issue 13, defect 3: clearing the entries of a huge range (unmap, protect, a VMO
    /// shrinking under a mapping) costs what is mapped in it, not its length.
    #[test]
    fn clear_range_costs_what_is_mapped_not_the_range() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        let base = 0x10_0000_0000u64;
        for page in [0u64, 1, 7, 511, 512, 100_000] {
            table.map_page(VirtAddr(base + page * PAGE_SIZE), PhysAddr(0x1000), USER_RW, &mut mem).unwrap();
        }
        // 1 GiB with six pages in it.
        mem.accesses = 0;
        let mut seen = Vec::new();
        let cleared = table.clear_range(VirtAddr(base), GIB, &mut mem, |va| seen.push(va.as_u64()));
        let cost = mem.accesses;
        assert_eq!(cleared, 6);
        assert_eq!(seen, [0u64, 1, 7, 511, 512, 100_000].map(|p| base + p * PAGE_SIZE));
        assert!(leaves(&table, &mut mem).is_empty());
        assert!(cost < 64, "1 GiB with 6 pages took {cost} table accesses");
        // 4 TiB with one page in it (mapping a one-page VMO over a huge range is allowed).
        table.map_page(VirtAddr(base + 5 * PAGE_SIZE), PhysAddr(0x1000), USER_RW, &mut mem).unwrap();
        mem.accesses = 0;
        assert_eq!(table.clear_range(VirtAddr(base), 4 << 40, &mut mem, |_| {}), 1);
        assert!(mem.accesses < 32, "4 TiB with one page took {} table accesses", mem.accesses);
        // Nothing mapped: a few accesses only, whatever the length; bad ranges clear nothing.
        mem.accesses = 0;
        assert_eq!(table.clear_range(VirtAddr(0x1_0000), (1 << 47) - 0x1_0000, &mut mem, |_| {}), 0);
        assert!(mem.accesses < 64, "a user half with nothing mapped took {} table accesses", mem.accesses);
        assert_eq!(table.clear_range(VirtAddr(0x1234_0000_0000_0000), PAGE_SIZE, &mut mem, |_| {}), 0);
    }

    #[test]
    fn allocation_failure_is_no_memory_and_leaks_nothing() {
        // Room for the root and two more tables: a page needs three.
        let mut mem = FakeTables::with_limit(3);
        let mut table = PageTable::new(&mut mem).unwrap();
        let va = VirtAddr(0x40_0000);
        assert_eq!(table.map_page(va, PhysAddr(0x4000_0000), USER_RW, &mut mem), Err(ZxError::NoMemory));
        assert_eq!(mem.live(), 1, "partly built tables were freed");
        assert_eq!(mem.table_mut(table.root())[0], 0, "root unchanged");

        // A range that runs out half way is rolled back.
        let mut mem = FakeTables::with_limit(4);
        let mut table = PageTable::new(&mut mem).unwrap();
        let len = 0x20_0000 + 0x1000; // last page needs a new level-3 table
        let start = VirtAddr(0x1f_f000);
        assert_eq!(table.map_range(start, PhysAddr(0x4000_0000), len, USER_RW, &mut mem), Err(ZxError::NoMemory));
        assert!(leaves(&table, &mut mem).is_empty());
        let live = mem.live();
        table.destroy(&mut mem);
        assert_eq!(mem.freed.len(), live);
        assert_eq!(mem.live(), 0);
    }

    #[test]
    fn destroy_frees_every_table_and_no_leaf_frame() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        table.map_page(VirtAddr(0x40_0000), PhysAddr(0x1000), USER_RX, &mut mem).unwrap();
        table.map_page(VirtAddr(0x7fff_ffff_f000), PhysAddr(0x2000), USER_RW, &mut mem).unwrap();
        table.map_range(VirtAddr(0xffff_8000_0000_0000), PhysAddr(0), 2 * GIB, KERNEL_RW, &mut mem).unwrap();
        let allocated = mem.live();
        assert_eq!(allocated, 1 + 3 + 3 + 1);
        table.destroy(&mut mem);
        assert_eq!(mem.live(), 0);
        assert_eq!(mem.freed.len(), allocated);
        assert!(!mem.freed.contains(&0x1000) && !mem.freed.contains(&0x2000));
    }

    #[test]
    fn live_tables_keep_write_xor_execute() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        table.map_range(VirtAddr(0x40_0000), PhysAddr(0x4010_0000), 0x3000, USER_RX, &mut mem).unwrap();
        table.map_range(VirtAddr(0x50_0000), PhysAddr(0x4020_0000), 0x40_0000, USER_RW, &mut mem).unwrap();
        table.map_page(VirtAddr(0xa0_0000), PhysAddr(0x4030_0000), USER_XO, &mut mem).unwrap();
        table.map_range(VirtAddr(0xffff_8000_0000_0000), PhysAddr(0), GIB, KERNEL_RX, &mut mem).unwrap();
        let mut count = 0;
        table.for_each_leaf(&mut mem, |va, desc, _| {
            let info = descriptor_attrs(desc).unwrap();
            assert!(!(info.el0_write && info.el0_execute), "W+X at EL0 at {va}");
            assert!(!(info.el1_write && info.el1_execute), "W+X at EL1 at {va}");
            assert!(!(info.el0_execute && info.el1_execute), "shared code at {va}");
            count += 1;
        });
        assert_eq!(count, 3 + 512 * 2 + 1 + 1);
    }

    #[test]
    fn prune_frees_tables_that_map_nothing() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        let attrs = PageAttrs::user(true, true, false);
        let before = mem.live();
        table.map_page(VirtAddr(0x1_0000_0000), PhysAddr(0x8000_0000), attrs, &mut mem).unwrap();
        table.map_page(VirtAddr(0x1_0020_0000), PhysAddr(0x8000_1000), attrs, &mut mem).unwrap();
        assert_eq!(mem.live(), before + 4, "L1, L2 and two L3 tables");
        table.unmap_page(VirtAddr(0x1_0000_0000), &mut mem);
        assert_eq!(table.prune(VirtAddr(0x1_0000_0000), 0x1000, &mut mem), 1, "one L3 now empty");
        assert!(table.translate(VirtAddr(0x1_0020_0000), &mut mem).is_some(), "the other page stays");
        table.unmap_page(VirtAddr(0x1_0020_0000), &mut mem);
        assert_eq!(table.prune(VirtAddr(0), 1 << 47, &mut mem), 3);
        assert_eq!(mem.live(), before, "back to the root alone");
    }

    #[test]
    fn leaves_in_a_range_are_only_those_overlapping_it() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        for va in [0x1_0000_0000u64, 0x1_0000_1000, 0x1_0020_0000, 0x7f_0000_0000] {
            table.map_page(VirtAddr(va), PhysAddr(0x8000_0000), USER_RO, &mut mem).unwrap();
        }
        let mut seen = Vec::new();
        table.for_each_leaf_in(VirtAddr(0x1_0000_0800), 0x20_0000, &mut mem, |va, _, _| seen.push(va.as_u64()));
        assert_eq!(seen, [0x1_0000_0000, 0x1_0000_1000, 0x1_0020_0000]);
        seen.clear();
        table.for_each_leaf_in(VirtAddr(0x10_0000), 1 << 46, &mut mem, |va, _, _| seen.push(va.as_u64()));
        assert_eq!(seen.len(), 4, "a huge sparse range visits only what is mapped");
        seen.clear();
        table.for_each_leaf_in(VirtAddr(0x2_0000_0000), 0x1000, &mut mem, |va, _, _| seen.push(va.as_u64()));
        assert!(seen.is_empty());
    }

    /// Pages mapped, replaced, unmapped one by one and by range, and tables pruned, in
    /// a pseudo-random order over addresses that share and do not share level-3, -2 and
    /// -1 tables: after every step each table descriptor's count is the number of valid
    /// entries below it, every translation matches a model, and no walk (cached or not)
    /// reaches a freed table (FakeTables panics on that: freed addresses are never
    /// handed out again).
    #[test]
    fn counts_and_the_walk_cache_survive_every_change() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        let bases = [0x1_0000_0000u64, 0x1_0020_0000, 0x1_4000_0000, 0x80_0000_0000];
        let mut model: BTreeMap<u64, u64> = BTreeMap::new();
        let mut rng = crate::test_rng::Rng(0x2545_f491_4f6c_dd1du64);
        let mut next = || rng.next_u64();
        for step in 0..4000u64 {
            let r = next();
            let va = bases[(r % 4) as usize] + ((r >> 8) % 6) * PAGE_SIZE;
            match (r >> 16) % 6 {
                0..=2 => {
                    let pa = 0x4000_0000 + (step % 64) * PAGE_SIZE;
                    table.map_page(VirtAddr(va), PhysAddr(pa), USER_RW, &mut mem).unwrap();
                    model.insert(va, pa);
                }
                3 => {
                    assert_eq!(table.unmap_page(VirtAddr(va), &mut mem).map(|pa| pa.0), model.remove(&va));
                }
                4 => {
                    let len = ((r >> 24) % 4 + 1) * PAGE_SIZE;
                    table.unmap_range(VirtAddr(va), len, &mut mem);
                    model.retain(|&at, _| at < va || at >= va + len);
                }
                _ => {
                    let (at, len) = if r >> 40 & 1 == 0 { (va, PAGE_SIZE) } else { (0, 1 << 47) };
                    table.prune(VirtAddr(at), len, &mut mem);
                }
            }
            assert!(table.counts_consistent(&mut mem), "step {step}");
            for &base in &bases {
                for page in 0..6 {
                    let at = base + page * PAGE_SIZE;
                    let found = table.translate(VirtAddr(at), &mut mem).map(|(pa, _)| pa.0);
                    assert_eq!(found, model.get(&at).copied(), "step {step}, {at:#x}");
                }
            }
        }
        for &va in model.keys() {
            table.unmap_page(VirtAddr(va), &mut mem);
        }
        table.prune(VirtAddr(0), 1 << 47, &mut mem);
        assert_eq!(mem.live(), 1, "the root alone");
    }

    /// After the walk cache's tables are pruned away, the next fault in the same 2 MiB
    /// builds new tables instead of writing into the freed ones; a fault in the cached
    /// 2 MiB reads no table but the level-3 and level-2 ones it changes.
    #[test]
    fn the_walk_cache_is_dropped_with_the_tables_it_names() {
        let mut mem = FakeTables::new();
        let mut table = PageTable::new(&mut mem).unwrap();
        table.map_page(VirtAddr(0x1_0000_0000), PhysAddr(0x4000_0000), USER_RW, &mut mem).unwrap();
        let before = mem.accesses;
        table.map_page(VirtAddr(0x1_0000_1000), PhysAddr(0x4000_1000), USER_RW, &mut mem).unwrap();
        assert_eq!(mem.accesses - before, 2, "the level-3 slot and the count in the level-2 entry");
        let before = mem.accesses;
        table.map_page(VirtAddr(0x1_0000_1000), PhysAddr(0x4000_2000), USER_RW, &mut mem).unwrap();
        assert_eq!(mem.accesses - before, 1, "a replaced page changes no count");
        table.unmap_range(VirtAddr(0x1_0000_0000), 0x2000, &mut mem);
        assert_eq!(table.prune(VirtAddr(0x1_0000_0000), 0x2000, &mut mem), 3);
        table.map_page(VirtAddr(0x1_0000_2000), PhysAddr(0x4000_3000), USER_RW, &mut mem).unwrap();
        assert_eq!(table.translate(VirtAddr(0x1_0000_2000), &mut mem).map(|(pa, _)| pa.0), Some(0x4000_3000));
        assert!(table.counts_consistent(&mut mem));
    }

    /// Clearing and pruning inside the cached level-3 table's 2 MiB (the fast paths)
    /// does what the walk from the root does, unaligned ranges included.
    #[test]
    fn cached_clear_and_prune_match_the_walk() {
        for (start, len) in [(0x800u64, 0x2000u64), (0x1000, 0x1000), (0, 0x5000), (0x4fff, 0x1), (0x3000, 0x1fd000)] {
            let mut results = Vec::new();
            for cached in [true, false] {
                let mut mem = FakeTables::new();
                let mut table = PageTable::new(&mut mem).unwrap();
                let base = 0x1_0000_0000u64;
                for page in 0..5 {
                    table
                        .map_page(VirtAddr(base + page * PAGE_SIZE), PhysAddr(0x4000_0000), USER_RW, &mut mem)
                        .unwrap();
                }
                if !cached {
                    table.walk = EMPTY_WALK;
                }
                let mut seen = Vec::new();
                let cleared = table.clear_range(VirtAddr(base + start), len, &mut mem, |va| seen.push(va.as_u64()));
                let freed = table.prune(VirtAddr(base + start), len, &mut mem);
                assert!(table.counts_consistent(&mut mem));
                results.push((cleared, seen, freed, leaves(&table, &mut mem), mem.live()));
            }
            assert_eq!(results[0], results[1], "range {start:#x}+{len:#x}");
        }
    }
}
