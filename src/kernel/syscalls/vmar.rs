//! zx_vmar_map, zx_vmar_unmap, zx_vmar_protect on a VMAR handle (which names its own
//! address space, whatever process holds the handle).

use super::{Caller, lookup_vmar, lookup_vmo, user};
use crate::abi::{USER_BASE, rights, vm};
use crate::error::{ZxError, ZxResult};
use crate::kernel::aspace::{self, clear_ptes, release_all_unmapped};
use crate::kernel::with_kernel;
use crate::object::rights::{check_rights, perms_allowed_by, rights_for_perms};
use crate::vm::vmar::{check_map_protection, round_map_len, validate_map_options, validate_protect_options};

/// `zx_vmar_map`, in Zircon's order: the VMAR, then the VMO; MAP on the VMO; the
/// protection bits; each permission allowed by both handles; REQUIRE_NON_RESIZABLE;
/// then the region checks. Pages are mapped on first touch.
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
    let (region, vmar_rights) = lookup_vmar(c, vmar)?;
    let (object, vmo_rights) = lookup_vmo(c, vmo, 0)?;
    let vmo_id = object.id();
    let id = region.aspace();
    // 1. The VMO handle must allow mapping.
    check_rights(vmo_rights, rights::MAP)?;
    // 2. Protection: WRITE or EXECUTE without READ, MAP_RANGE with SPECIFIC_OVERWRITE,
    //    CAN_MAP_* from the user.
    let perms = check_map_protection(options)?;
    // 3. Every requested permission must be allowed by both handles; what both allow is
    //    the ceiling for later zx_vmar_protect calls.
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
        let placement = request.placement(vmar_offset)?;
        let addr = if request.overwrite {
            let offset = placement.ok_or(ZxError::InvalidArgs)?;
            let addr = aspace::get(k, id)?.vmar.map_overwrite(
                offset,
                request.align,
                len,
                vmo_id,
                vmo_offset,
                perms,
                allowed,
            )?;
            release_all_unmapped(k, id);
            addr
        } else {
            aspace::get(k, id)?.vmar.map(placement, request.align, len, vmo_id, vmo_offset, perms, allowed)?
        };
        k.vmos.retain(vmo_id);
        k.vmos.add_mapping(vmo_id);
        if let Err(e) = user::write_value(k, out, &addr.to_le_bytes()) {
            // Undo the mapping: the caller never learns where it is.
            if aspace::get(k, id).and_then(|s| s.vmar.unmap(addr, len)).is_ok() {
                release_all_unmapped(k, id);
            }
            return Err(e);
        }
        Ok(())
    })
}

/// `zx_vmar_unmap`: no rights needed; splits mappings that straddle the range;
/// nothing mapped is OK.
pub fn unmap(c: &Caller, vmar: u32, addr: u64, len: u64) -> ZxResult {
    let (region, _) = lookup_vmar(c, vmar)?;
    let id = region.aspace();
    with_kernel(|k| {
        aspace::get(k, id)?.vmar.unmap(addr, len)?;
        release_all_unmapped(k, id);
        Ok(())
    })
}

/// `zx_vmar_protect`: the VMAR handle needs the rights for the new permissions; the
/// options; then holes (NOT_FOUND) and each mapping's ceiling (ACCESS_DENIED).
pub fn protect(c: &Caller, vmar: u32, options: u32, addr: u64, len: u64) -> ZxResult {
    let (region, vmar_rights) = lookup_vmar(c, vmar)?;
    check_rights(vmar_rights, rights_for_perms(options & vm::PERM_MASK))?;
    let perms = validate_protect_options(options)?;
    if addr < USER_BASE {
        return Err(ZxError::InvalidArgs);
    }
    let id = region.aspace();
    with_kernel(|k| {
        let outcome = aspace::get(k, id)?.vmar.protect(addr, len, perms)?;
        // A mapping split at an edge of the range counts as more mappings of its VMO.
        for piece in outcome.splits.iter().flatten() {
            for _ in 0..piece.mapping_count_delta() {
                k.vmos.add_mapping(piece.mapping.vmo);
                k.vmos.retain(piece.mapping.vmo);
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
