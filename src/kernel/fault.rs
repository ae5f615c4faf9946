//! User page faults: a fault inside a mapping, allowed by its permissions and inside
//! its VMO, maps the page (committing or forking it for a write; the shared zero page
//! for a read of an uncommitted page). Anything else is a user fault.

use super::aspace::apply_invalidations;
use super::memory::{FramePages, LinearMapCaches};
use super::{Kernel, with_kernel};
use crate::abi::{PAGE_SIZE, cache_policy, vm};
use crate::arch::aarch64::mmu::{self, UserTableMemory};
use crate::error::{ZxError, ZxResult};
use crate::mm::page_table::{MemoryType, PageAttrs};
use crate::mm::{PhysAddr, VirtAddr};
use crate::vm::vmo::CacheMaintenance;

/// Resolves a fault taken from EL0 (the kernel lock is free). `translation` says the
/// fault was a translation fault: the entry was invalid, so no TLB entry can exist for
/// it and the new entry needs no TLB invalidation.
#[inline]
pub fn resolve_user_fault(far: u64, write: bool, execute: bool, translation: bool) -> ZxResult {
    let aspace = super::cpu::this().current_aspace.load(core::sync::atomic::Ordering::Relaxed);
    with_kernel(|k| map_faulting_page(k, aspace, far, write, execute, !translation))
}

/// Resolves a fault at user address `far` met by the kernel's copy routine, or says why
/// it cannot be.
pub fn resolve(k: &mut Kernel, far: u64, write: bool, execute: bool) -> ZxResult {
    let aspace = super::cpu::this().current_aspace.load(core::sync::atomic::Ordering::Relaxed);
    map_faulting_page(k, aspace, far, write, execute, true)
}

/// Maps the page behind a fault at `far`; `replaces_valid_entry` says whether a valid
/// entry (hence perhaps a TLB entry) may be there already.
pub fn map_faulting_page(
    k: &mut Kernel,
    aspace: u64,
    far: u64,
    write: bool,
    execute: bool,
    replaces_valid_entry: bool,
) -> ZxResult {
    // The address space is looked up once: its fields and the VMO store are borrowed
    // apart (a second lookup is needed only when invalidations were queued, below).
    let Kernel { aspaces, vmos, frames, user_table_pages, zero_page, .. } = k;
    let space = aspaces.get_mut(aspace).ok_or(ZxError::BadState)?;
    let mapping = *space.vmar.find_hinted(far).ok_or(ZxError::NotFound)?;
    // 1. The access must be one the mapping allows.
    let needed = if execute {
        vm::PERM_EXECUTE
    } else if write {
        vm::PERM_WRITE
    } else {
        vm::PERM_READ
    };
    if mapping.perms() & needed == 0 {
        return Err(ZxError::AccessDenied);
    }
    // 2. The page must lie inside the VMO (a mapping may extend past its end):
    //    page_for_write checks that itself (OUT_OF_RANGE), reads check it here.
    let va = far & !(PAGE_SIZE - 1);
    let offset = mapping.vmo_offset + (va - mapping.base);
    let page = offset / PAGE_SIZE;
    let may_write = mapping.perms() & vm::PERM_WRITE != 0;
    // 3. Find or make the page. Reads of an uncommitted page of a cached VMO share the
    //    zero page (read-only, so a later write faults again and commits).
    let (pa, writable, policy): (PhysAddr, bool, u32) = if write {
        let mut mem = FramePages { frames };
        let (pa, policy) = vmos.page_for_write_inline(mapping.vmo, page, &mut mem)?;
        if policy != cache_policy::CACHED {
            // The page was zeroed or copied through the cacheable linear map: push
            // that to memory before an uncached mapping reads it directly.
            LinearMapCaches.clean_invalidate(pa, PAGE_SIZE as usize);
        }
        (pa, true, policy)
    } else {
        let policy = vmos.cache_policy(mapping.vmo);
        if offset >= vmos.size(mapping.vmo) {
            return Err(ZxError::OutOfRange);
        }
        match vmos.page_for_read(mapping.vmo, page) {
            Some(found) => (found.pa, may_write && !found.shared, policy),
            None if policy == cache_policy::CACHED => {
                // A later commit of this page must unmap the zero page again.
                vmos.note_zero_page_shown(mapping.vmo);
                (*zero_page, false, policy)
            }
            None => {
                // Device-type mappings must not alias the cacheable zero page.
                let mut mem = FramePages { frames };
                let pa = vmos.page_for_write(mapping.vmo, page, &mut mem)?;
                LinearMapCaches.clean_invalidate(pa, PAGE_SIZE as usize);
                (pa, may_write, policy)
            }
        }
    };
    // Invalidations queued by the commit are applied before the entry is installed
    // (they may clear entries of this very address space); nearly always there are none
    // and the address space found above is still the one to install into.
    let (space, frames, user_table_pages) = if vmos.has_invalidations() {
        apply_invalidations(k);
        let Kernel { aspaces, frames, user_table_pages, .. } = k;
        (aspaces.get_mut(aspace).ok_or(ZxError::BadState)?, frames, user_table_pages)
    } else {
        (space, frames, user_table_pages)
    };
    // 4. Install the entry.
    let memory = MemoryType::from_cache_policy(policy).unwrap_or(MemoryType::NormalWriteBack);
    let attrs = PageAttrs {
        read: mapping.perms() & vm::PERM_READ != 0,
        write: writable,
        execute: mapping.perms() & vm::PERM_EXECUTE != 0,
        user: true,
        memory,
        global: false,
    };
    let mut tables = UserTableMemory { frames, table_pages: user_table_pages };
    space.page_table.map_page(VirtAddr(va), pa, attrs, &mut tables)?;
    if replaces_valid_entry {
        mmu::flush_tlb_user_page(va, space.asid.id());
    } else {
        // Invalid entries are never cached: making the new one visible to the table
        // walker is enough (the `eret` back to EL0 synchronises the context).
        mmu::publish_table_update();
    }
    if attrs.execute {
        crate::arch::aarch64::cache::invalidate_all_instructions();
    }
    Ok(())
}

/// A fault nothing handles: prints the `user fault:` line (ABI.md section 3) and kills
/// the whole process with ZX_TASK_RETCODE_EXCEPTION_KILL; the faulting thread ends on
/// its way back to EL0. When it is the first process, the machine then stops (139).
pub fn user_fault(
    frame: &crate::arch::aarch64::exception::TrapFrame,
    cause: &dyn core::fmt::Display,
    esr: u64,
    far: u64,
) {
    use super::object::KernelObject;
    let Some(thread) = super::cpu::current_thread() else {
        super::panic::trap_panic(frame, &"user fault with no current thread")
    };
    let process = thread.process().clone();
    let name = process.name().unwrap_or([0; 32]);
    let len = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    crate::kprintln!(
        "user fault: {cause} esr={esr:#010x} far={far:#018x} elr={:#018x} sp={:#018x} pid={} tid={} name={}",
        frame.elr,
        frame.sp_el0,
        process.base().koid(),
        thread.base().koid(),
        core::str::from_utf8(&name[..len]).unwrap_or("?")
    );
    process.exit_with(crate::abi::retcode::EXCEPTION_KILL, true);
    // The faulting thread ends on its way back even if its process had already ended
    // (then `exit_with` kills no one): it must never return to the faulting instruction.
    super::cpu::this().exit_pending.store(true, core::sync::atomic::Ordering::Relaxed);
}
