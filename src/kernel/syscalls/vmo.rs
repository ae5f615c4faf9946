//! The zx_vmo_* syscalls.

use super::handle::give;
use super::{lookup_resource, lookup_vmo, process, release_object, user};
use crate::abi::{PAGE_SIZE, ZX_HANDLE_INVALID, cache_policy, child, rights};
use crate::arch::aarch64::mmu;
use crate::error::{ZxError, ZxResult};
use crate::kernel::Kernel;
use crate::kernel::memory::{FramePages, LinearMapCaches};
use crate::kernel::process::{KObject, apply_invalidations};
use crate::mm::PhysAddr;
use crate::object::rights::vmo_child_rights;
use crate::syscall::user_ptr::check_range;

/// `zx_vmo_create`: options, then size, then the out-pointer.
pub fn create(k: &mut Kernel, size: u64, options: u32, out: u64) -> ZxResult {
    // Zircon's order: options, then size, then NO_MEMORY.
    if options & !crate::abi::VMO_RESIZABLE != 0 {
        return Err(ZxError::InvalidArgs);
    }
    crate::vm::vmo::round_size(size)?;
    super::ensure_heap_headroom()?;
    let koid = k.new_koid();
    let vmo = k.vmos.create(koid, size, options)?;
    give(k, KObject::Vmo(vmo), rights::DEFAULT_VMO, out)
}

/// `zx_vmo_read` / `zx_vmo_write`: handle, rights, then the VMO's checks (overflow,
/// cache policy, range), then the copy page by page. A write commits or forks exactly
/// the pages it touches; a read commits nothing (uncommitted pages read as zeros).
pub fn read_write(k: &mut Kernel, handle: u32, buf: u64, offset: u64, len: u64, write: bool) -> ZxResult {
    let need = if write { rights::WRITE } else { rights::READ };
    let (vmo, _) = lookup_vmo(k, handle, need)?;
    k.vmos.check_read_write(vmo, offset, len)?;
    if len == 0 {
        return Ok(());
    }
    check_range(buf, len, false)?;
    let mut done = 0u64;
    while done < len {
        let at = offset + done;
        let in_page = at % PAGE_SIZE;
        let n = (PAGE_SIZE - in_page).min(len - done);
        let pa = if write {
            // A page the VMO already holds privately needs nothing else (the common
            // case of rewriting committed memory); otherwise commit or fork it.
            match k.vmos.private_page(vmo, at / PAGE_SIZE) {
                Some(pa) => pa,
                None => {
                    let mut mem = FramePages { frames: &mut k.frames };
                    let pa = k.vmos.page_for_write(vmo, at / PAGE_SIZE, &mut mem)?;
                    apply_invalidations(k);
                    pa
                }
            }
        } else {
            k.vmos.page_for_read(vmo, at / PAGE_SIZE).map_or(k.zero_page, |page| page.pa)
        };
        let kva = mmu::phys_to_virt(PhysAddr(pa.0 + in_page)).0;
        user::copy_page_bytes(k, buf + done, kva, n as usize, !write)?;
        done += n;
    }
    Ok(())
}

/// `zx_vmo_get_size`: no rights needed; the page-rounded size.
pub fn get_size(k: &mut Kernel, handle: u32, out: u64) -> ZxResult {
    let (vmo, _) = lookup_vmo(k, handle, 0)?;
    let size = k.vmos.size(vmo);
    user::write_value(k, out, &size.to_le_bytes())
}

/// `zx_vmo_set_size`: WRITE; UNAVAILABLE unless resizable; pages past a new, smaller
/// end are freed and unmapped.
pub fn set_size(k: &mut Kernel, handle: u32, size: u64) -> ZxResult {
    let (vmo, _) = lookup_vmo(k, handle, rights::WRITE)?;
    let mut mem = FramePages { frames: &mut k.frames };
    let result = k.vmos.set_size(vmo, size, &mut mem);
    apply_invalidations(k);
    result
}

/// `zx_vmo_op_range`: handle and type first; the op, its rights and its range checks
/// are the VMO's rules.
pub fn op_range(k: &mut Kernel, handle: u32, op: u32, offset: u64, size: u64, _buf: u64, _buf_size: u64) -> ZxResult {
    let (vmo, handle_rights) = lookup_vmo(k, handle, 0)?;
    let mut mem = FramePages { frames: &mut k.frames };
    let result = k.vmos.op_range(vmo, op, offset, size, handle_rights, &mut mem, &mut LinearMapCaches);
    apply_invalidations(k);
    result
}

/// `zx_vmo_create_child`: NO_WRITE only shapes the rights; DUPLICATE|READ on the
/// source; the VMO's option, offset and size rules; the child's rights derive from the
/// source's.
pub fn create_child(k: &mut Kernel, handle: u32, options: u32, offset: u64, size: u64, out: u64) -> ZxResult {
    let vmo_options = options & !child::NO_WRITE;
    let (parent, source_rights) = lookup_vmo(k, handle, rights::DUPLICATE | rights::READ)?;
    super::ensure_heap_headroom()?;
    let koid = k.new_koid();
    let copy_name = source_rights & rights::GET_PROPERTY != 0;
    let result = k.vmos.create_child(parent, koid, vmo_options, offset, size, copy_name);
    // Pages the parent now shares must become read-only in its mappings.
    apply_invalidations(k);
    let child_vmo = result?;
    give(k, KObject::Vmo(child_vmo), vmo_child_rights(source_rights, options), out)
}

/// `zx_vmo_set_cache_policy`: the policy is checked before the handle; MAP right; the
/// VMO's state rules (BAD_STATE).
pub fn set_cache_policy(k: &mut Kernel, handle: u32, policy: u32) -> ZxResult {
    if policy & !cache_policy::MASK != 0 {
        return Err(ZxError::InvalidArgs);
    }
    let (vmo, _) = lookup_vmo(k, handle, rights::MAP)?;
    k.vmos.set_cache_policy(vmo, policy, &mut LinearMapCaches)
}

/// `zx_vmo_replace_as_executable`: `vmex` must be invalid or a resource; the source
/// handle is consumed even when `vmex` is refused; the new handle adds EXECUTE.
pub fn replace_as_executable(k: &mut Kernel, handle: u32, vmex: u32, out: u64) -> ZxResult {
    let vmex_status = if vmex == ZX_HANDLE_INVALID { Ok(()) } else { lookup_resource(k, vmex).map(|_| ()) };
    let source = process(k)?.handles.remove(handle)?;
    if let Err(e) = vmex_status {
        release_object(k, source.object);
        return Err(e);
    }
    if !matches!(source.object, KObject::Vmo(_)) {
        release_object(k, source.object);
        return Err(ZxError::WrongType);
    }
    // The reference the old handle held moves to the new one.
    super::install_handle(k, source.object, source.rights | rights::EXECUTE, out)
}

/// `zx_vmo_create_physical`: the root resource; page-aligned, nonzero, non-wrapping
/// range; not RAM the kernel allocates from (MMIO and reserved memory are fine).
pub fn create_physical(k: &mut Kernel, resource: u32, paddr: u64, size: u64, out: u64) -> ZxResult {
    lookup_resource(k, resource)?;
    if !paddr.is_multiple_of(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) || size == 0 {
        return Err(ZxError::InvalidArgs);
    }
    let end = paddr.checked_add(size).ok_or(ZxError::InvalidArgs)?;
    if k.frames.contains_ram(PhysAddr(paddr), PhysAddr(end)) {
        return Err(ZxError::AccessDenied);
    }
    super::ensure_heap_headroom()?;
    let koid = k.new_koid();
    let vmo = k.vmos.create_physical(koid, PhysAddr(paddr), size)?;
    give(k, KObject::Vmo(vmo), rights::DEFAULT_VMO, out)
}
