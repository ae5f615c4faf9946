//! VMOs and VMARs as kernel objects. A [`VmoObject`] holds one reference to its VMO in
//! the VMO store (handles share the object; mappings hold references of their own), a
//! [`VmarObject`] names a region (the root VMAR or a sub-VMAR) of one address space.

use super::object::{KernelObject, ObjectBase};
use super::with_kernel;
use crate::abi::{obj_type, signal};
use crate::error::ZxResult;
use crate::vm::region::RegionId;
use crate::vm::vmo::VmoId;

/// A VMO object.
pub struct VmoObject {
    base: ObjectBase,
    id: VmoId,
}

impl VmoObject {
    /// Wraps a VMO the store just made (its one reference moves into the object).
    pub fn new(id: VmoId, koid: u64) -> Self {
        VmoObject { base: ObjectBase::with_koid(obj_type::VMO, koid, 0), id }
    }

    /// The VMO in the store.
    pub fn id(&self) -> VmoId {
        self.id
    }
}

impl Drop for VmoObject {
    fn drop(&mut self) {
        with_kernel(|k| {
            let mut mem = super::memory::FramePages { frames: &mut k.frames };
            k.vmos.release(self.id, &mut mem);
            super::aspace::apply_invalidations(k);
        });
    }
}

impl KernelObject for VmoObject {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn obj_type(&self) -> u32 {
        obj_type::VMO
    }
    fn vmo_id(&self) -> Option<VmoId> {
        Some(self.id)
    }
    fn name(&self) -> Option<[u8; 32]> {
        Some(with_kernel(|k| k.vmos.name(self.id)))
    }
    fn set_name(&self, name: &[u8]) -> ZxResult {
        with_kernel(|k| k.vmos.set_name(self.id, name));
        Ok(())
    }
}

/// Signals of a VMO: the store's (ZERO_CHILDREN) and the user signals.
pub fn vmo_signals(vmo: &VmoObject) -> u32 {
    vmo_signals_of(vmo.id, &vmo.base)
}

/// [`vmo_signals`] of the VMO `id` whose object has the base `base`.
#[inline(never)]
pub fn vmo_signals_of(id: VmoId, base: &ObjectBase) -> u32 {
    let store = with_kernel(|k| k.vmos.signals(id)) & signal::VMO_ZERO_CHILDREN;
    store | (base.signals() & signal::USER_ALL)
}

/// Clears `clear` and sets `set` among the user signals the VMO store keeps for the VMO
/// `id` (the object's base keeps them too: `zx_object_signal` updates both).
#[inline(never)]
pub fn vmo_store_signals(id: VmoId, clear: u32, set: u32) {
    with_kernel(|k| k.vmos.signal(id, clear & signal::USER_ALL, set & signal::USER_ALL));
}

/// A VMAR: a region of one address space, the root VMAR or a sub-VMAR. Closing its
/// handles does not destroy the region (only `zx_vmar_destroy`, an unmap that covers it
/// or the end of the address space does).
pub struct VmarObject {
    base: ObjectBase,
    aspace: u64,
    region: RegionId,
    base_addr: u64,
    len: u64,
}

impl VmarObject {
    /// The root VMAR of address space `aspace`.
    pub fn root(aspace: u64) -> Self {
        VmarObject {
            base: ObjectBase::new(obj_type::VMAR, 0),
            aspace,
            region: RegionId::ROOT,
            base_addr: crate::abi::USER_BASE,
            len: crate::abi::USER_END - crate::abi::USER_BASE,
        }
    }

    /// Sub-VMAR `region` of address space `aspace`, over `[base_addr, base_addr + len)`.
    pub fn sub(aspace: u64, region: RegionId, base_addr: u64, len: u64) -> Self {
        VmarObject { base: ObjectBase::new(obj_type::VMAR, 0), aspace, region, base_addr, len }
    }

    /// The address space it belongs to.
    pub fn aspace(&self) -> u64 {
        self.aspace
    }

    /// The region in that address space's region tree.
    pub fn region(&self) -> RegionId {
        self.region
    }

    /// (base, length) for ZX_INFO_VMAR (kept after the region is destroyed, as Zircon
    /// does).
    pub fn range(&self) -> (u64, u64) {
        (self.base_addr, self.len)
    }
}

impl KernelObject for VmarObject {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn obj_type(&self) -> u32 {
        obj_type::VMAR
    }
    fn waitable(&self) -> bool {
        false
    }
    fn as_vmar(&self) -> Option<&VmarObject> {
        Some(self)
    }
}
