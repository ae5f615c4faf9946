//! Address spaces: each process's mappings (one flat VMAR for the whole space), its
//! regions (the root VMAR and the sub-VMARs inside it), its translation tables and its
//! ASID, kept in the VM state behind the VM lock (`kernel::with_kernel`), so that a
//! change to a VMO can remove its old translations from **every** address space that maps
//! it before the call that changed it returns.
//!
//! An address space is named by an id that is never reused (0: none), so a VMAR handle
//! that outlives its process finds nothing rather than another process's mappings.

use super::Kernel;
use super::memory::FramePages;
use super::sync::{Lock, class};
use crate::abi::{PAGE_SIZE, USER_BASE, USER_END};
use crate::arch::aarch64::mmu::{self, KernelTableMemory, UserTableMemory};
use crate::error::{ZxError, ZxResult};
use crate::mm::VirtAddr;
use crate::mm::page_table::PageTable;
use crate::sched::asid::{ActiveAsids, AsidAllocator, AsidTag};
use crate::vm::region::{RegionId, RegionTree};
use crate::vm::vmar::{MapSource, Mapping, Vmar};
use crate::vm::vmo::VmoId;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

/// One process's memory: mappings, regions, tables, ASID.
pub struct AddressSpace {
    /// Every mapping of the space, whichever region it was made in (the page-fault path
    /// looks here). Changed through `regions` once sub-VMARs may exist.
    pub vmar: Vmar<VmoId>,
    /// The root VMAR and its sub-VMARs (`vm::region`).
    pub regions: RegionTree,
    /// TTBR0 tables.
    pub page_table: PageTable,
    /// Address-space id tagging this space's TLB entries.
    pub asid: Arc<AsidCell>,
}

/// An address space's ASID tag, shared by the address space (whose TLB invalidations
/// name the id) and its process (whose threads activate it on a CPU). One atomic word
/// (`AsidTag::to_bits`), written only under the ASID allocator's lock (by `activate`
/// and `destroy`), so no update is lost; read without a lock.
pub struct AsidCell {
    tag: AtomicU64,
}

impl AsidCell {
    fn new() -> Self {
        AsidCell { tag: AtomicU64::new(AsidTag::NONE.to_bits()) }
    }

    fn tag(&self) -> AsidTag {
        AsidTag::from_bits(self.tag.load(Ordering::Acquire))
    }

    /// Only with the allocator's lock held (the one writer at a time).
    fn set(&self, tag: AsidTag) {
        self.tag.store(tag.to_bits(), Ordering::Release);
    }

    /// The id the space's TLB entries carry now.
    pub fn id(&self) -> u16 {
        self.tag().asid()
    }

    /// Called after page-table entries were cleared and their TLB entries invalidated
    /// under id `used` (read before the clearing): if another CPU has since given the
    /// space a new id (a roll-over, then `activate`), it may have cached the old
    /// entries under the new id before they were cleared, so that id is invalidated too.
    /// A renewal this load does not see is harmless: the clearing was complete before
    /// it (each invalidation ends with `dsb ish`; with nothing cleared there is nothing
    /// to miss), and the renewing CPU makes its store of the new tag complete
    /// (`dsb ishst` in `mmu::set_ttbr0`) before it writes TTBR0 and walks under the new
    /// id. So a store this load missed was not yet complete when the clearing was, and
    /// the walks that follow it see the cleared entries (the store-buffering shape,
    /// which full barriers on both sides forbid).
    fn flush_if_renewed(&self, used: u16) {
        let now = self.id();
        if now != used {
            mmu::flush_tlb_asid(now);
        }
    }
}

/// The ASID allocator (generations with roll-over, `sched::asid`), for every CPU, and
/// the writer of every `AsidCell`. Lock order: after the VM lock.
static ASIDS: Lock<AsidAllocator> = Lock::new(&class::ASIDS, AsidAllocator::new(8));

/// What each CPU runs, and the generation, for the switch that takes no lock
/// (`sched::asid::ActiveAsids`); the allocator's calls read and write it too.
static ACTIVE_ASIDS: ActiveAsids = ActiveAsids::new();

/// Chooses 16-bit ASIDs when the CPU has them (ID_AA64MMFR0_EL1.ASIDBits, TCR_EL1.AS),
/// on every CPU; the allocator is sized once, by the boot CPU. `narrow` (the
/// command-line word `asid8`, for tests) hands out only 8-bit ids even then, so that
/// the roll-over (`sched::asid`) comes after 255 address spaces instead of 65,535.
/// The boot CPU calls it before any address space is activated, so the new allocator
/// and `ACTIVE_ASIDS` (no CPU running a tag, generation 1) agree.
pub fn init_asids(boot_cpu: bool, narrow: bool) {
    let bits = mmu::enable_wide_asids();
    if boot_cpu {
        *ASIDS.lock() = AsidAllocator::new(if narrow { 8 } else { bits });
    }
}

/// How many times the ASID allocator has rolled over since boot.
pub fn asid_roll_overs() -> u64 {
    ASIDS.lock().generation() - 1
}

/// Switches this CPU to the tables `root` with the space's ASID (a new one after a
/// roll-over, with this CPU's TLB flushed first when the allocator says so).
#[inline]
pub fn activate(root: u64, cell: &AsidCell) {
    let cpu = crate::arch::aarch64::percpu::cpu_index();
    // Most switches: a tag of the current generation on a CPU that owes no flush,
    // recorded without the allocator's lock (`sched::asid` says why that is sound; its
    // host tests run it against a model of every CPU's TLB). The tag is read once: a
    // renewal after this load happens only after a roll-over, whose exchange of this
    // CPU's word either fails the compare-and-swap or reserves the id read here.
    let tag = cell.tag();
    if ACTIVE_ASIDS.try_activate(cpu, tag) {
        mmu::set_ttbr0(root | ((tag.asid() as u64) << 48));
        return;
    }
    activate_locked(root, cell, cpu);
}

/// [`activate`] through the allocator: a new tag, or a flush owed, or a first switch.
#[inline(never)]
fn activate_locked(root: u64, cell: &AsidCell, cpu: usize) {
    let (asid, flush) = {
        let mut allocator = ASIDS.lock();
        let old = cell.tag();
        let mut tag = old;
        let flush = allocator.activate(&ACTIVE_ASIDS, cpu, &mut tag).unwrap_or(true);
        if tag != old {
            cell.set(tag);
        }
        (tag.asid(), flush)
    };
    if flush {
        mmu::flush_tlb_local();
    }
    mmu::set_ttbr0(root | ((asid as u64) << 48));
}

/// Makes an empty address space: its id, its tables' root and its ASID cell.
pub fn create(k: &mut Kernel) -> ZxResult<(u64, u64, Arc<AsidCell>)> {
    let cell = Arc::new(AsidCell::new());
    let page_table = {
        let mut tables = KernelTableMemory { frames: &mut k.frames, table_pages: &mut k.user_table_pages };
        PageTable::new(&mut tables)?
    };
    let root = page_table.root().0;
    let vmar = Vmar::new(USER_BASE, USER_END - USER_BASE);
    let regions = RegionTree::new(&vmar);
    match k.aspaces.insert(AddressSpace { vmar, regions, page_table, asid: cell.clone() }) {
        Ok(id) => Ok((id, root, cell)),
        Err(space) => {
            // Every id slot is taken (2^20 address spaces).
            let mut tables = UserTableMemory { frames: &mut k.frames, table_pages: &mut k.user_table_pages };
            space.page_table.destroy(&mut tables);
            Err(ZxError::NoMemory)
        }
    }
}

/// Removes every mapping of address space `id` and frees its tables and ASID.
pub fn destroy(k: &mut Kernel, id: u64) {
    let Some(mut space) = k.aspaces.remove(id) else { return };
    let mut mem = FramePages { frames: &mut k.frames };
    for mapping in space.vmar.drain() {
        k.vmos.release_mapping(mapping.vmo, &mut mem);
    }
    let mut tables = UserTableMemory { frames: &mut k.frames, table_pages: &mut k.user_table_pages };
    space.page_table.destroy(&mut tables);
    // No CPU runs the space any more (its threads are dead and every switch away from
    // it activated another space or none), so nothing renews its tag now and the id
    // goes back.
    let mut tag = space.asid.tag();
    if tag.asid() != 0 {
        mmu::flush_tlb_asid(tag.asid());
    }
    let mut allocator = ASIDS.lock();
    if allocator.release(&ACTIVE_ASIDS, &mut tag).is_err() {
        log::warn!("asid: a destroyed address space was still active on a CPU");
    }
    space.asid.set(tag);
}

/// Switches this CPU's TTBR0 to the empty tables (no process runs here).
pub fn activate_none() {
    let _ = ASIDS.lock().deactivate(&ACTIVE_ASIDS, crate::arch::aarch64::percpu::cpu_index());
    mmu::set_ttbr0(EMPTY_TTBR0.load(core::sync::atomic::Ordering::Relaxed));
}

/// TTBR0 for an idle CPU: an all-zero table page (every entry invalid), ASID 0.
pub static EMPTY_TTBR0: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The address space `id` (BAD_STATE once it is gone).
pub fn get(k: &mut Kernel, id: u64) -> ZxResult<&mut AddressSpace> {
    k.aspaces.get_mut(id).ok_or(ZxError::BadState)
}

/// Adds a mapping of `source` to address space `id` with `perms` in force, at the VMAR
/// offset `specific` or placed by the VMAR: the VMAR entry, a reference and the VMO's
/// mapping count. Pages are mapped lazily by the fault handler.
pub fn map_vmo(k: &mut Kernel, id: u64, specific: Option<u64>, perms: u32, source: MapSource<VmoId>) -> ZxResult<u64> {
    let space = get(k, id)?;
    let addr = space.vmar.map(specific, PAGE_SIZE, perms, source)?;
    k.vmos.retain_mapping(source.vmo);
    Ok(addr)
}

/// Clears the page-table entries of `[base, base + len)` in space `id` and their TLB
/// entries on every CPU. The walk skips missing tables and empty stretches, so the cost
/// follows what is mapped, not `len`.
pub fn clear_ptes(k: &mut Kernel, id: u64, base: u64, len: u64) {
    let Kernel { aspaces, frames, user_table_pages, .. } = k;
    let Some(space) = aspaces.get_mut(id) else { return };
    let mut tables = UserTableMemory { frames, table_pages: user_table_pages };
    clear_space_ptes(space, &mut tables, base, len);
}

/// [`clear_ptes`] in a space already looked up.
fn clear_space_ptes(space: &mut AddressSpace, tables: &mut UserTableMemory<'_>, base: u64, len: u64) {
    let asid = space.asid.id();
    let mut cleared = 0u64;
    space.page_table.clear_range(VirtAddr(base), len, tables, |va| {
        cleared += 1;
        if cleared <= 16 {
            mmu::flush_tlb_user_page(va.as_u64(), asid);
        }
    });
    if cleared > 16 {
        mmu::flush_tlb_asid(asid);
    }
    space.asid.flush_if_renewed(asid);
}

/// Frees the page tables that covered `[base, base + len)` and map nothing now, so an
/// unmap returns every page it cost (KMEM_STATS free_bytes comes back exactly).
fn prune_tables(space: &mut AddressSpace, tables: &mut UserTableMemory<'_>, base: u64, len: u64) {
    if space.page_table.prune(VirtAddr(base), len, tables) > 0 {
        // Cached walks may still point at the freed tables.
        mmu::flush_tlb_asid(space.asid.id());
    }
}

/// Drops the parts of mappings that `unmap` removed: page-table entries, the VMO's
/// mapping count and reference.
pub fn release_unmapped(k: &mut Kernel, id: u64, removed: &Mapping<VmoId>, pieces_left: usize) {
    let Kernel { aspaces, frames, user_table_pages, .. } = k;
    if let Some(space) = aspaces.get_mut(id) {
        let mut tables = UserTableMemory { frames, table_pages: user_table_pages };
        clear_space_ptes(space, &mut tables, removed.base, removed.len);
        prune_tables(space, &mut tables, removed.base, removed.len);
    }
    // A mapping split into two pieces now counts as two mappings of the VMO.
    match pieces_left {
        0 => {
            let mut mem = FramePages { frames: &mut k.frames };
            k.vmos.release_mapping(removed.vmo, &mut mem);
        }
        2 => k.vmos.retain_mapping(removed.vmo),
        _ => {}
    }
}

/// Releases, one at a time, every piece the last unmap (or overwriting map) of space
/// `id` took out of its VMAR. No list of them is ever built, so unmapping allocates
/// nothing.
pub fn release_all_unmapped(k: &mut Kernel, id: u64) {
    while let Some(piece) = k.aspaces.get_mut(id).and_then(|space| space.vmar.take_unmapped()) {
        release_unmapped(k, id, &piece.mapping, piece.pieces_left);
    }
}

/// `zx_vmar_destroy` of region `region` of space `id`: every mapping inside it leaves the
/// page tables (on every CPU) and its VMO, and the region and those below it are gone.
/// The root → NOT_SUPPORTED; already destroyed (or the space is gone) → BAD_STATE.
pub fn destroy_region(k: &mut Kernel, id: u64, region: RegionId) -> ZxResult {
    if region.is_root() {
        return Err(ZxError::NotSupported);
    }
    let space = get(k, id)?;
    space.regions.destroy(&mut space.vmar, region)?;
    release_all_unmapped(k, id);
    Ok(())
}

/// Unmaps, in every address space, every page whose VMO page changed (committed,
/// forked, decommitted...), so the next access refaults and sees the new page. Nearly
/// always the queue is empty, so that test is inline.
#[inline]
pub fn apply_invalidations(k: &mut Kernel) {
    if k.vmos.has_invalidations() {
        apply_queued_invalidations(k);
    }
}

/// [`apply_invalidations`] once something is queued. Never allocates: the queue has a
/// fixed size, and when it overflowed every mapping of every address space refaults.
#[inline(never)]
fn apply_queued_invalidations(k: &mut Kernel) {
    let Kernel { aspaces, frames, user_table_pages, vmos, .. } = k;
    let mut tables = UserTableMemory { frames, table_pages: user_table_pages };
    if vmos.take_invalidate_everything() {
        while vmos.pop_invalidation().is_some() {}
        for space in aspaces.values_mut() {
            for m in space.vmar.iter() {
                space.page_table.clear_range(VirtAddr(m.base), m.len, &mut tables, |_| {});
            }
            mmu::flush_tlb_asid(space.asid.id());
        }
        return;
    }
    // One entry at a time, so the queue is never copied: no heap traffic on any path.
    while let Some(inv) = vmos.pop_invalidation() {
        let first = inv.first_page * PAGE_SIZE;
        let end = first.saturating_add(inv.page_count.saturating_mul(PAGE_SIZE));
        for space in aspaces.values_mut() {
            let AddressSpace { vmar, page_table, asid, .. } = space;
            let asid = asid.id();
            let mut cleared = 0u64;
            for m in vmar.mappings_of(inv.vmo) {
                let lo = first.max(m.vmo_offset);
                let hi = end.min(m.vmo_offset + m.len);
                if lo < hi {
                    let base = m.base + (lo - m.vmo_offset);
                    page_table.clear_range(VirtAddr(base), hi - lo, &mut tables, |va| {
                        cleared += 1;
                        if cleared <= 16 {
                            mmu::flush_tlb_user_page(va.as_u64(), asid);
                        }
                    });
                }
            }
            if cleared > 16 {
                mmu::flush_tlb_asid(asid);
            }
            space.asid.flush_if_renewed(asid);
        }
    }
}

/// Walks the live user tables of space `id` and reports any entry EL0 could both write
/// and execute (the page-table code refuses to make one; this checks the result).
pub fn audit_write_xor_execute(k: &mut Kernel, id: u64) {
    let Kernel { aspaces, frames, user_table_pages, .. } = k;
    let Some(space) = aspaces.get(id) else { return };
    let mut tables = KernelTableMemory { frames, table_pages: user_table_pages };
    let (mut pages, mut violations) = (0u64, 0u64);
    space.page_table.for_each_leaf(&mut tables, |va, desc, _| {
        pages += 1;
        if let Some(info) = crate::mm::page_table::descriptor_attrs(desc)
            && (info.el0_write || info.el1_write)
            && (info.el0_execute || info.el1_execute)
        {
            violations += 1;
            log::error!("W^X violation: user page {:#x} is writable and executable", va.0);
        }
    });
    log::info!("userboot: W^X audit: {pages} user pages mapped, {violations} writable+executable");
}

/// Processes that map `vmo` (for ZX_INFO_VMO.share_count and TASK_STATS).
pub fn spaces_mapping(k: &Kernel, vmo: VmoId) -> usize {
    k.aspaces.values().filter(|s| s.vmar.mappings_of(vmo).next().is_some()).count()
}

/// Set by the `vmcheck` command-line word: [`audit_leaves`] after every VM-locked
/// section. A debugging aid (it walks every user table each time, so it is slow).
static VM_CHECK: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// Turns on [`audit_leaves`] at the end of every `with_kernel`. Boot turns the
/// lock-order check on with it (`with_kernel_checked` relies on that).
pub(crate) fn enable_vm_check() {
    VM_CHECK.store(true, core::sync::atomic::Ordering::Relaxed);
}

/// Whether `vmcheck` is on. A site boot patched once (`static_key`): one `nop` with the
/// audit off, on the path of every `with_kernel`; it agrees with the flag from boot's
/// patching on, right after the command line is read.
#[inline(always)]
pub fn vm_check_enabled() -> bool {
    crate::arch::aarch64::static_key::vm_check_enabled()
}

/// [`vm_check_enabled`] as the flag itself, for checks that the sites were patched.
pub fn vm_check_flag() -> bool {
    VM_CHECK.load(core::sync::atomic::Ordering::Relaxed)
}

/// Checks that every valid user leaf of every address space shows what its mapping's
/// VMO holds now: the VMO's frame (read-only when the frame is shared), or the zero
/// page read-only. Anything else is a translation that outlived its page, which user
/// code could use to write into a frame that now belongs to someone else: a kernel bug,
/// so it panics, naming the `with_kernel` call that left it (`site`).
pub fn audit_leaves(k: &mut Kernel, site: &core::panic::Location<'_>) {
    let Kernel { aspaces, frames, user_table_pages, vmos, zero_page, .. } = k;
    let mut tables = KernelTableMemory { frames, table_pages: user_table_pages };
    for (id, space) in aspaces.iter() {
        let AddressSpace { vmar, page_table, .. } = space;
        page_table.for_each_leaf(&mut tables, |va, desc, _| {
            let pa = crate::mm::page_table::descriptor_address(desc);
            let writable = crate::mm::page_table::descriptor_attrs(desc).is_some_and(|info| info.el0_write);
            let Some(m) = vmar.find(va.0) else {
                panic!("vmcheck after {site}: space {id}: leaf {:#x} -> {:#x} outside every mapping", va.0, pa.0);
            };
            let page = (m.vmo_offset + (va.0 - m.base)) / PAGE_SIZE;
            let expected = vmos.page_for_read(m.vmo, page);
            let sound = match expected {
                Some(found) => found.pa == pa && !(writable && found.shared),
                None => pa == *zero_page && !writable,
            };
            if !sound {
                panic!(
                    "vmcheck after {site}: space {id}: leaf {:#x} -> {:#x} (writable {writable}) but VMO {:?} page {page} is {:?}",
                    va.0,
                    pa.0,
                    m.vmo,
                    expected.map(|f| (f.pa.0, f.shared))
                );
            }
        });
        // The counts that let an unmap free empty tables without scanning them.
        if !page_table.counts_consistent(&mut tables) {
            panic!("vmcheck after {site}: space {id}: a table descriptor's valid-entry count is wrong");
        }
    }
}
