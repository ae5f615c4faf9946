//! zx_vmar_map, zx_vmar_unmap, zx_vmar_protect, zx_vmar_allocate and zx_vmar_destroy on a
//! VMAR handle, which names a region (the root VMAR or a sub-VMAR) of its own address
//! space, whatever process holds the handle. The region rules are `vm::region`'s; the
//! page tables change in `kernel::aspace`.

use super::{Caller, lookup_vmar, publish_handle, user};
use crate::abi::{rights, vm};
use crate::error::{ZxError, ZxResult};
use crate::kernel::aspace::{self, clear_ptes, release_all_unmapped};
use crate::kernel::object::KHandle;
use crate::kernel::vm_object::VmarObject;
use crate::kernel::with_kernel;
use crate::object::rights::{check_rights, perms_allowed_by, rights_for_perms};
use crate::vm::region::{RegionId, can_map_perms, validate_allocate_options};
use crate::vm::vmar::{MapSource, check_map_protection, round_map_len, validate_map_options, validate_protect_options};
use crate::vm::vmo::VmoId;
use alloc::sync::Arc;

/// The address space and region a VMAR handle names, and the handle's rights
/// (BAD_HANDLE, then WRONG_TYPE, as `lookup_vmar` gives them), read under the
/// handle-table lock without counting a reference to the object. A VMAR object is only
/// these two names: the calls look both up again under the VM lock (an address space
/// or region that ended meanwhile is BAD_STATE there), and holding the object would not
/// keep either alive, so nothing needs the object after this.
fn vmar_target(c: &Caller, vmar: u32) -> ZxResult<(u64, RegionId, u32)> {
    c.process().with_handle(vmar, |object, rights, _| vmar_names(object, rights))?
}

/// [`vmar_target`]'s answer for a borrowed object: WRONG_TYPE unless it is a VMAR (one
/// compare of the handle's tag, `as_vmar`, instead of a downcast's `type_id` call and
/// 128-bit compare).
#[inline(always)]
fn vmar_names(object: &KHandle, rights: u32) -> ZxResult<(u64, RegionId, u32)> {
    let region = object.as_vmar().ok_or(ZxError::WrongType)?;
    Ok((region.aspace(), region.region(), rights))
}

/// `zx_vmar_map`, in Zircon's order: the VMAR, then the VMO; MAP on the VMO; the
/// protection bits; each permission allowed by both handles; REQUIRE_NON_RESIZABLE;
/// then the region checks (`RegionTree::map`). Pages are mapped on first touch.
#[allow(clippy::too_many_arguments)]
pub fn map(
    c: &Caller,
    vmar: u32,
    options: u32,
    vmar_offset: u64,
    vmo: u32,
    vmo_offset: u64,
    len: u64,
    out: u64,
) -> ZxResult {
    // Both handles are looked up under one lock of the handle table (the VMAR's first:
    // BAD_HANDLE, then WRONG_TYPE, as `vmar_target` and `lookup_vmo` give them), and
    // the VMO is borrowed under it for the whole call instead of counted: its handle
    // keeps it, and so its place in the VMO store, alive meanwhile. Sound by the rules
    // of `Process::lookup`: what runs under it takes only the VM lock (higher-ranked),
    // never blocks, and drops no kernel object (an overwritten mapping's release gives
    // back VMO-store references, not objects); the out-pointer's copy may fault, which
    // needs only the VM lock already held.
    let handles = c.process().lookup();
    let (object, vmar_rights, _) = handles.get(vmar)?;
    let (id, region, vmar_rights) = vmar_names(object, vmar_rights)?;
    let (object, vmo_rights, _) = handles.get(vmo)?;
    let vmo_id = object.vmo_id().ok_or(ZxError::WrongType)?;
    map_vmo(id, region, vmar_rights, vmo_id, vmo_rights, options, vmar_offset, vmo_offset, len, out)
}

/// [`map`] once both handles are looked up.
#[allow(clippy::too_many_arguments)]
fn map_vmo(
    id: u64,
    region: RegionId,
    vmar_rights: u32,
    vmo_id: VmoId,
    vmo_rights: u32,
    options: u32,
    vmar_offset: u64,
    vmo_offset: u64,
    len: u64,
    out: u64,
) -> ZxResult {
    // 1. The VMO handle must allow mapping.
    check_rights(vmo_rights, rights::MAP)?;
    // 2. Protection: WRITE or EXECUTE without READ, MAP_RANGE with SPECIFIC_OVERWRITE,
    //    CAN_MAP_* from the user.
    let perms = check_map_protection(options)?;
    // 3. Every requested permission must be allowed by both handles; what both allow is
    //    the ceiling for later zx_vmar_protect calls (cut to the region's CAN_MAP_*).
    let allowed = perms_allowed_by(vmo_rights) & perms_allowed_by(vmar_rights);
    if perms & !allowed != 0 {
        return Err(ZxError::AccessDenied);
    }
    with_kernel(|k| {
        // 4. REQUIRE_NON_RESIZABLE.
        if options & vm::REQUIRE_NON_RESIZABLE != 0 && k.vmos.is_resizable(vmo_id) {
            return Err(ZxError::NotSupported);
        }
        // 5. The remaining option bits, then the region.
        let request = validate_map_options(options)?;
        super::ensure_heap_headroom()?;
        let len = round_map_len(vmo_offset, len)?;
        let space = aspace::get(k, id)?;
        let addr = space.regions.map(
            &mut space.vmar,
            region,
            &request,
            vmar_offset,
            MapSource { len, vmo: vmo_id, vmo_offset, max_perms: allowed },
        )?;
        // Only SPECIFIC_OVERWRITE takes mappings out (`Vmar::map_overwrite`).
        if request.overwrite {
            release_all_unmapped(k, id);
        }
        k.vmos.retain_mapping(vmo_id);
        if let Err(e) = user::write_u64(k, out, addr) {
            // Undo the mapping: the caller never learns where it is.
            if aspace::get(k, id).and_then(|s| s.vmar.unmap(addr, len)).is_ok() {
                release_all_unmapped(k, id);
            }
            return Err(e);
        }
        Ok(())
    })
}

/// `zx_vmar_unmap`: no rights needed; the range must lie in the region; splits mappings
/// that straddle it; destroys sub-regions wholly inside it (a partial overlap is
/// INVALID_ARGS); nothing mapped is OK.
pub fn unmap(c: &Caller, vmar: u32, addr: u64, len: u64) -> ZxResult {
    let (id, region, _) = vmar_target(c, vmar)?;
    with_kernel(|k| {
        let space = aspace::get(k, id)?;
        space.regions.unmap(&mut space.vmar, region, addr, len)?;
        release_all_unmapped(k, id);
        Ok(())
    })
}

/// `zx_vmar_protect`: the VMAR handle needs the rights for the new permissions; the
/// options; then the region: destroyed (BAD_STATE), the range outside it, holes
/// (NOT_FOUND), sub-regions (INVALID_ARGS) and each mapping's ceiling (ACCESS_DENIED).
pub fn protect(c: &Caller, vmar: u32, options: u32, addr: u64, len: u64) -> ZxResult {
    let (region, vmar_rights) = lookup_vmar(c, vmar)?;
    check_rights(vmar_rights, rights_for_perms(options & vm::PERM_MASK))?;
    let perms = validate_protect_options(options)?;
    let id = region.aspace();
    with_kernel(|k| {
        let space = aspace::get(k, id)?;
        let outcome = space.regions.protect(&mut space.vmar, region.region(), addr, len, perms)?;
        // A mapping split at an edge of the range counts as more mappings of its VMO.
        for piece in outcome.splits.iter().flatten() {
            for _ in 0..piece.mapping_count_delta() {
                k.vmos.retain_mapping(piece.mapping.vmo);
            }
        }
        // Every changed mapping lies inside the range: its entries refault with the new
        // permissions (one walk, costing what is mapped).
        if outcome.changed > 0 {
            clear_ptes(k, id, addr, len.div_ceil(crate::abi::PAGE_SIZE) * crate::abi::PAGE_SIZE);
        }
        Ok(())
    })
}

/// `zx_vmar_allocate` (ABI.md 62), steps 1 to 11: the parent handle with the rights its
/// CAN_MAP_* bits need; the option bits; then the region rules
/// (`RegionTree::allocate`); then `child_addr` and the handle, whose failure destroys
/// the new region. The handle gets 0x8003 plus READ/WRITE/EXECUTE per CAN_MAP_*.
pub fn allocate(
    c: &Caller,
    parent: u32,
    options: u32,
    offset: u64,
    size: u64,
    vmar_out: u64,
    addr_out: u64,
) -> ZxResult {
    // 1.
    let needed = rights_for_perms(can_map_perms(options));
    let (region, have) = lookup_vmar(c, parent)?;
    check_rights(have, needed)?;
    // 2.
    let request = validate_allocate_options(options)?;
    super::ensure_heap_headroom()?;
    let id = region.aspace();
    // 3-10, and child_addr.
    let (child, base) = with_kernel(|k| {
        let space = aspace::get(k, id)?;
        let (child, base) = space.regions.allocate(&space.vmar, region.region(), &request, offset, size)?;
        if let Err(e) = user::write_u64(k, addr_out, base) {
            // Nothing can be inside it yet: no handle to it exists.
            let _ = aspace::destroy_region(k, id, child);
            return Err(e);
        }
        Ok((child, base))
    })?;
    // 11. The handle.
    let object = Arc::new(VmarObject::sub(id, child, base, size));
    let handle_rights = rights::DEFAULT_VMAR | rights_for_perms(can_map_perms(request.flags));
    let published = c.process().add_handle(object, handle_rights).and_then(|value| publish_handle(c, value, vmar_out));
    if let Err(e) = published {
        // Another thread may already have mapped into it (through an unmap of the range
        // it could even be gone): destroy it with whatever it holds.
        let _ = with_kernel(|k| aspace::destroy_region(k, id, child));
        return Err(e);
    }
    Ok(())
}

/// `zx_vmar_destroy` (ABI.md 63): no right needed; the root VMAR → NOT_SUPPORTED;
/// already destroyed → BAD_STATE; otherwise everything inside is unmapped and every
/// region below destroyed before the call returns.
pub fn destroy(c: &Caller, vmar: u32) -> ZxResult {
    let (region, _) = lookup_vmar(c, vmar)?;
    if region.region().is_root() {
        return Err(ZxError::NotSupported);
    }
    with_kernel(|k| aspace::destroy_region(k, region.aspace(), region.region()))
}
