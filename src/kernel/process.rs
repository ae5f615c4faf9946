//! The user process: its handle table, root VMAR, translation tables and ASID;
//! userboot (loading the initrd ELF, ABI.md section 2); mapping and unmapping VMOs; and
//! the end of a process (exit or fault).

use super::memory::FramePages;
use super::{Kernel, with_kernel};
use crate::abi::{self, PAGE_SIZE, USER_BASE, USER_END, rights, vm};
use crate::arch::aarch64::exception::TrapFrame;
use crate::arch::aarch64::mmu::{self, KernelTableMemory};
use crate::elf::{self, LoadPlan};
use crate::error::{ZxError, ZxResult};
use crate::mm::page_table::PageTable;
use crate::mm::{PhysAddr, VirtAddr};
use crate::object::handle_table::HandleTable;
use crate::vm::vmar::{Mapping, Vmar};
use crate::vm::vmo::VmoId;
use core::fmt::Display;

/// What a handle refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KObject {
    /// A virtual memory object.
    Vmo(VmoId),
    /// The process's root VMAR.
    Vmar,
    /// The root resource.
    Resource,
}

/// One user process (ABI v1 runs one at a time).
pub struct Process {
    /// The process's koid.
    pub koid: u64,
    /// Koid of the root VMAR.
    pub vmar_koid: u64,
    /// Handles the process holds.
    pub handles: HandleTable<KObject>,
    /// The root VMAR's mappings.
    pub vmar: Vmar<VmoId>,
    /// TTBR0 tables.
    pub page_table: PageTable,
    /// Address-space id tagging this process's TLB entries.
    pub asid: u16,
    /// User signals asserted on the root VMAR.
    pub vmar_signals: u32,
    /// User signals on the root resource.
    pub resource_signals: u32,
}

/// Bytes of user stack (ABI.md section 2: at least 256 KiB).
pub const STACK_BYTES: u64 = 256 * 1024;
/// Where the stack's mapping ends: the top of user space, less a page for the command
/// line.
const STACK_TOP: u64 = USER_END - PAGE_SIZE;

/// Why userboot refused or failed.
pub enum UserbootError {
    /// The initrd is not an acceptable ELF.
    BadElf(elf::ElfError),
    /// The kernel ran out of something while building the process.
    Kernel(ZxError),
}

impl From<ZxError> for UserbootError {
    fn from(e: ZxError) -> Self {
        UserbootError::Kernel(e)
    }
}

/// Builds the first process from the initrd image and returns the frame that enters it.
pub fn userboot(k: &mut Kernel, image: &[u8], cmdline: &str) -> Result<TrapFrame, UserbootError> {
    let plan = elf::parse(image).map_err(UserbootError::BadElf)?;
    let koid = k.new_koid();
    let vmar_koid = k.new_koid();
    let salt = (crate::arch::aarch64::timer::ticks() as u32).wrapping_mul(0x9e37_79b9);
    let page_table = {
        let mut tables = KernelTableMemory { frames: &mut k.frames, table_pages: &mut k.user_table_pages };
        PageTable::new(&mut tables)?
    };
    k.process = Some(Process {
        koid,
        vmar_koid,
        handles: HandleTable::new(salt),
        vmar: Vmar::new(USER_BASE, USER_END - USER_BASE),
        page_table,
        asid: 1,
        vmar_signals: 0,
        resource_signals: 0,
    });
    load_segments(k, &plan, image)?;
    let cmdline_addr = build_stack(k, cmdline)?;
    let process = k.process.as_mut().ok_or(ZxError::Internal)?;
    let vmar_handle = process.handles.insert(KObject::Vmar, rights::ROOT_VMAR)?;
    let resource_handle = process.handles.insert(KObject::Resource, rights::ROOT_RESOURCE)?;
    mmu::activate_user_tables(process.page_table.root(), process.asid);
    let sp = cmdline_addr & !15;
    Ok(TrapFrame::new_user(plan.entry, sp, [vmar_handle as u64, resource_handle as u64, cmdline_addr]))
}

/// Maps each PT_LOAD with its own VMO, holding the file bytes and zeros after them.
fn load_segments(k: &mut Kernel, plan: &LoadPlan, image: &[u8]) -> ZxResult {
    for segment in &plan.segments {
        let start = segment.vaddr & !(PAGE_SIZE - 1);
        let end = crate::mm::addr::page_ceil(segment.vaddr + segment.memsz).ok_or(ZxError::InvalidArgs)?;
        let file_offset = segment.file_offset as usize;
        let bytes = file_offset
            .checked_add(segment.filesz as usize)
            .and_then(|file_end| image.get(file_offset..file_end))
            .ok_or(ZxError::InvalidArgs)?;
        let koid = k.new_koid();
        let vmo = k.vmos.create(koid, end - start, 0)?;
        if let Err(e) = write_kernel_bytes(k, vmo, segment.vaddr - start, bytes) {
            k.vmos.release(vmo, &mut FramePages { frames: &mut k.frames });
            return Err(e);
        }
        let mut perms = 0;
        if segment.read {
            perms |= vm::PERM_READ;
        }
        if segment.write {
            perms |= vm::PERM_WRITE;
        }
        if segment.execute {
            perms |= vm::PERM_EXECUTE;
        }
        let result = map_vmo(k, vmo, Some(start - USER_BASE), end - start, 0, perms, perms);
        // The mapping holds the VMO now (or nothing does, on failure).
        let mut mem = FramePages { frames: &mut k.frames };
        k.vmos.release(vmo, &mut mem);
        result?;
    }
    Ok(())
}

/// Writes kernel bytes into a VMO (used to load the ELF).
fn write_kernel_bytes(k: &mut Kernel, vmo: VmoId, offset: u64, bytes: &[u8]) -> ZxResult {
    let mut done = 0usize;
    while done < bytes.len() {
        let at = offset + done as u64;
        let in_page = (at % PAGE_SIZE) as usize;
        let n = (PAGE_SIZE as usize - in_page).min(bytes.len() - done);
        let mut mem = FramePages { frames: &mut k.frames };
        let pa = k.vmos.page_for_write(vmo, at / PAGE_SIZE, &mut mem)?;
        mmu::write_phys(PhysAddr(pa.0 + in_page as u64), &bytes[done..done + n]);
        done += n;
    }
    // Nothing maps the VMO yet, so no page-table entry can be stale.
    let _ = k.vmos.take_invalidations();
    Ok(())
}

/// Maps the stack (with an inaccessible guard page below it) and the command line
/// above it. Returns the command line's user address.
fn build_stack(k: &mut Kernel, cmdline: &str) -> ZxResult<u64> {
    let bytes = cmdline.as_bytes();
    let cmdline_len = (bytes.len() + 1).min(PAGE_SIZE as usize);
    let koid = k.new_koid();
    let vmo = k.vmos.create(koid, STACK_BYTES + PAGE_SIZE * 2, 0)?;
    // Page 0 is the guard (mapped with no permissions), then the stack, then the
    // command line page.
    let cmdline_page = STACK_TOP - PAGE_SIZE;
    let cmdline_addr = STACK_TOP - cmdline_len as u64;
    let mut text = [0u8; PAGE_SIZE as usize];
    let used = cmdline_len - 1;
    text[..used].copy_from_slice(&bytes[..used]);
    if let Err(e) =
        write_kernel_bytes(k, vmo, STACK_BYTES + PAGE_SIZE + (cmdline_addr - cmdline_page), &text[..cmdline_len])
    {
        k.vmos.release(vmo, &mut FramePages { frames: &mut k.frames });
        return Err(e);
    }
    let guard = cmdline_page - STACK_BYTES - PAGE_SIZE;
    let rw = vm::PERM_READ | vm::PERM_WRITE;
    let result = map_vmo(k, vmo, Some(guard - USER_BASE), PAGE_SIZE, 0, 0, 0)
        .and_then(|_| map_vmo(k, vmo, Some(guard + PAGE_SIZE - USER_BASE), STACK_BYTES + PAGE_SIZE, PAGE_SIZE, rw, rw));
    let mut mem = FramePages { frames: &mut k.frames };
    k.vmos.release(vmo, &mut mem);
    result?;
    Ok(cmdline_addr)
}

/// Adds a mapping of `vmo` to the process: the VMAR entry, a reference and the VMO's
/// mapping count. Pages are mapped lazily by the fault handler.
pub fn map_vmo(
    k: &mut Kernel,
    vmo: VmoId,
    specific: Option<u64>,
    len: u64,
    vmo_offset: u64,
    perms: u32,
    max_perms: u32,
) -> ZxResult<u64> {
    let process = k.process.as_mut().ok_or(ZxError::BadState)?;
    let addr = process.vmar.map(specific, PAGE_SIZE, len, vmo, vmo_offset, perms, max_perms)?;
    k.vmos.retain(vmo);
    k.vmos.add_mapping(vmo);
    Ok(addr)
}

/// Clears the page-table entries of `[base, base + len)` and their TLB entries.
pub fn clear_ptes(k: &mut Kernel, base: u64, len: u64) {
    let Kernel { process, frames, user_table_pages, .. } = k;
    let Some(process) = process.as_mut() else { return };
    let mut tables = KernelTableMemory { frames, table_pages: user_table_pages };
    let pages = len / PAGE_SIZE;
    let mut cleared = 0u64;
    for i in 0..pages {
        let va = base + i * PAGE_SIZE;
        if process.page_table.unmap_page(VirtAddr(va), &mut tables).is_some() {
            cleared += 1;
            if cleared <= 16 {
                mmu::flush_tlb_user_page(va, process.asid);
            }
        }
    }
    if cleared > 16 {
        mmu::flush_tlb_asid(process.asid);
    }
}

/// Frees the page tables that covered `[base, base + len)` and map nothing now, so an
/// unmap returns every page it cost (KMEM_STATS free_bytes comes back exactly).
fn prune_tables(k: &mut Kernel, base: u64, len: u64) {
    let Kernel { process, frames, user_table_pages, .. } = k;
    let Some(process) = process.as_mut() else { return };
    let mut tables = KernelTableMemory { frames, table_pages: user_table_pages };
    if process.page_table.prune(VirtAddr(base), len, &mut tables) > 0 {
        // Cached walks may still point at the freed tables.
        mmu::flush_tlb_asid(process.asid);
    }
}

/// Drops the parts of mappings that `unmap` removed: page-table entries, the VMO's
/// mapping count and reference.
pub fn release_unmapped(k: &mut Kernel, removed: &Mapping<VmoId>, pieces_left: usize) {
    clear_ptes(k, removed.base, removed.len);
    prune_tables(k, removed.base, removed.len);
    // A mapping split into two pieces now counts as two mappings of the VMO.
    match pieces_left {
        0 => {
            k.vmos.remove_mapping(removed.vmo);
            let mut mem = FramePages { frames: &mut k.frames };
            k.vmos.release(removed.vmo, &mut mem);
        }
        2 => {
            k.vmos.add_mapping(removed.vmo);
            k.vmos.retain(removed.vmo);
        }
        _ => {}
    }
}

/// Unmaps every page whose VMO page changed (committed, forked, decommitted...), so
/// the next access refaults and sees the new page. Nearly always the queue is empty
/// (a write to an owned page, a fresh commit nothing showed), so that test is inline.
#[inline]
pub fn apply_invalidations(k: &mut Kernel) {
    if k.vmos.has_invalidations() {
        apply_queued_invalidations(k);
    }
}

/// [`apply_invalidations`] once something is queued.
#[inline(never)]
fn apply_queued_invalidations(k: &mut Kernel) {
    // One entry at a time, so the queue is never copied: no heap traffic on any path.
    while let Some(inv) = k.vmos.pop_invalidation() {
        let Some(process) = k.process.as_ref() else { return };
        let first = inv.first_page * PAGE_SIZE;
        let end = first.saturating_add(inv.page_count.saturating_mul(PAGE_SIZE));
        let mut ranges = [(0u64, 0u64); 8];
        let mut n = 0;
        let mut overflow = alloc::vec::Vec::new();
        for m in process.vmar.mappings_of(inv.vmo) {
            let m_end = m.vmo_offset + m.len;
            let lo = first.max(m.vmo_offset);
            let hi = end.min(m_end);
            if lo < hi {
                let range = (m.base + (lo - m.vmo_offset), hi - lo);
                if n < ranges.len() {
                    ranges[n] = range;
                    n += 1;
                } else {
                    overflow.push(range);
                }
            }
        }
        for &(base, len) in ranges[..n].iter().chain(overflow.iter()) {
            clear_ptes(k, base, len);
        }
    }
}

/// Ends the process: closes every handle, removes every mapping and frees its tables.
pub fn destroy(k: &mut Kernel) {
    let Some(mut process) = k.process.take() else { return };
    mmu::disable_user_tables();
    let mut mem = FramePages { frames: &mut k.frames };
    for handle in process.handles.drain() {
        if let KObject::Vmo(vmo) = handle.object {
            k.vmos.release(vmo, &mut mem);
        }
    }
    for mapping in process.vmar.drain() {
        k.vmos.remove_mapping(mapping.vmo);
        k.vmos.release(mapping.vmo, &mut mem);
    }
    let mut tables = KernelTableMemory { frames: mem.frames, table_pages: &mut k.user_table_pages };
    process.page_table.destroy(&mut tables);
    mmu::flush_tlb_asid(process.asid);
}

/// `zx_process_exit`: ends the process and, as it is the last, the machine.
pub fn exit(k: &mut Kernel, retcode: i64) -> ! {
    let (handles, mappings) = k.process.as_ref().map_or((0, 0), |p| (p.handles.len(), p.vmar.mapping_count()));
    audit_write_xor_execute(k);
    destroy(k);
    let status = abi::exit_status::for_retcode(retcode);
    log::info!(
        "userboot: process exited with return code {retcode}; it still held {handles} handles and {mappings} mappings; {} VMOs remain",
        k.vmos.vmo_count()
    );
    super::shutdown::shutdown(status, "the last process exited")
}

/// Walks the live user tables and reports any entry EL0 could both write and execute
/// (the page-table code refuses to make one; this checks the result).
fn audit_write_xor_execute(k: &mut Kernel) {
    let Kernel { process, frames, user_table_pages, .. } = k;
    let Some(process) = process.as_ref() else { return };
    let mut tables = KernelTableMemory { frames, table_pages: user_table_pages };
    let (mut pages, mut violations) = (0u64, 0u64);
    process.page_table.for_each_leaf(&mut tables, |va, desc, _| {
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

/// A fault nothing handles: prints the `user fault:` line and kills the process
/// (status 139, ABI.md section 3).
pub fn user_fault(frame: &TrapFrame, cause: &dyn Display, esr: u64, far: u64) -> ! {
    crate::kprintln!(
        "user fault: {cause} esr={esr:#010x} far={far:#018x} elr={:#018x} sp={:#018x}",
        frame.elr,
        frame.sp_el0
    );
    // The kernel lock is free here: user faults arrive from EL0.
    with_kernel(destroy);
    super::shutdown::shutdown(abi::exit_status::USER_FAULT, "the last process was killed by a fault")
}
