//! VMOs and VMARs as kernel objects. A [`VmoObject`] holds one reference to its VMO in
//! the VMO store (handles share the object; mappings hold references of their own), a
//! [`VmarObject`] names a region (the root VMAR or a sub-VMAR) of one address space.

use super::object::{FirstHandle, KHandle, KernelObject, ObjectBase};
use super::sync::with_order_check;
use super::{Kernel, with_kernel, with_kernel_checked};
use crate::abi::{obj_type, signal};
use crate::error::ZxResult;
use crate::vm::region::RegionId;
use crate::vm::vmo::{VmoId, VmoStore};
use alloc::sync::Arc;
use core::alloc::Layout;
use core::sync::atomic::{AtomicU32, Ordering};

/// A VMO object.
pub struct VmoObject {
    base: ObjectBase,
    /// The VMO's id ([`VmoId::raw`]): atomic because a retired object is renewed
    /// through a shared reference ([`VmoObject::renew`]); read with one relaxed load.
    id: AtomicU32,
    /// Its entry in the kernel's [`VmoObjectSlab`], or [`NOT_KEPT`].
    entry: u8,
}

/// [`VmoObject::entry`] of an object that is in no slab entry.
const NOT_KEPT: u8 = u8::MAX;

impl VmoObject {
    /// Wraps a VMO the store just made (its one reference moves into the object).
    fn new(id: VmoId, koid: u64, entry: u8) -> Self {
        VmoObject { base: ObjectBase::with_koid(obj_type::VMO, koid, 0), id: AtomicU32::new(id.raw()), entry }
    }

    /// The VMO in the store.
    #[inline(always)]
    pub fn id(&self) -> VmoId {
        VmoId::from_raw(self.id.load(Ordering::Relaxed))
    }

    /// A retired object of the slab (which nothing but the slab uses any more, see
    /// [`VmoObjectSlab`]) made the object of the VMO `id`, `koid`
    /// ([`ObjectBase::renew`]). False (nothing changed) if an observer is left over,
    /// which cannot happen (see [`ObjectBase::renew`]): then the entry stays out of use
    /// for good and the VMO gets a new object. Relaxed, as the base's renewal: the VM
    /// lock held by the caller and the handle table's lock publish it.
    #[inline(always)]
    fn renew(&self, id: VmoId, koid: u64) -> bool {
        if !self.base.renew(koid) {
            return false;
        }
        self.id.store(id.raw(), Ordering::Relaxed);
        true
    }

    /// [`VmoObject::renew`] counting the object's first handle
    /// ([`ObjectBase::renew_with_first_handle`]).
    #[inline(always)]
    fn renew_with_first_handle(&self, id: VmoId, koid: u64) -> Option<FirstHandle> {
        let first = self.base.renew_with_first_handle(koid)?;
        self.id.store(id.raw(), Ordering::Relaxed);
        Some(first)
    }

    /// The end of [`KernelObject::on_zero_handles`] for the kept object in slab entry
    /// `at`: retired, its VMO parked or released (see [`VmoObjectSlab`]), or the entry
    /// lets go of it. `CHECKED`: whether the lock-order check is on
    /// (`with_kernel_checked`).
    #[inline(always)]
    fn retire_kept<const CHECKED: bool>(&self, at: usize) {
        let unkept = with_kernel_checked::<CHECKED, _>(|k| match k.vmo_objects.retire(self, at) {
            Ok(()) => {
                // A VMO that nothing else names and that holds nothing stays with its
                // object for the next create; any other is released as the drop would.
                if k.vmos.parkable(self.id()) {
                    k.vmo_objects.park(at);
                } else {
                    Self::release_in(k, self.id());
                    k.vmo_objects.mark_released(at);
                }
                None
            }
            Err(unkept) => unkept,
        });
        // Not the last reference (the closing handle holds one): dropped with no lock.
        drop(unkept);
    }

    /// Gives the VMO's store reference back (the object's end, or its retirement into
    /// the slab), with the VM lock held.
    fn release_in(k: &mut Kernel, id: VmoId) {
        let mut mem = super::memory::FramePages { frames: &mut k.frames };
        k.vmos.release(id, &mut mem);
        super::aspace::apply_invalidations(k);
    }
}

impl Drop for VmoObject {
    fn drop(&mut self) {
        // A retired object is never dropped: the slab holds it until it is renewed.
        with_kernel(|k| Self::release_in(k, self.id()));
    }
}

/// Entries of the [`VmoObjectSlab`].
const SLAB_ENTRIES: usize = 16;

/// One bit per entry of the [`VmoObjectSlab`]: as wide as the slab, so that the
/// `trailing_zeros` of a mask that is not empty is an index the compiler knows is in
/// bounds.
type EntryMask = u16;
const _: () = assert!(EntryMask::BITS as usize == SLAB_ENTRIES);

/// VMO objects kept for reuse, so that a VMO's create and close allocate and free no
/// `Arc` and, for a VMO that never held a page, empty and refill no store slot
/// (Bonwick's slab, as the VMO store keeps its lone VMOs in their slots).
///
/// Each entry holds one reference to a VMO object made for it. While the object has
/// handles it is an ordinary object with one extra reference. When its last handle
/// closes ([`KernelObject::on_zero_handles`], called while the closing handle still
/// holds its reference) and the entry's and that handle's are the only references
/// (strong count 2, no weak one), nothing else can reach the object any more: a
/// reference or a weak one is only made from one, the handle is already out of every
/// table, and the entry is only read under the VM lock, which is held. Then the object
/// is retired and its VMO either parked (it keeps its one reference, the VMO stays as
/// it is in the store: [`VmoStore::parkable`], a VMO that nothing else names and that
/// holds nothing) or released (what the object's drop would do); the entry is marked
/// so (one bit of `parked` or `released`). The closing handle's reference goes a moment later and the entry's is
/// the only one. The next create renews the object ([`ObjectBase::renew`]) with its
/// parked VMO renewed in place ([`VmoStore::renew_parked`], under a new id), without
/// `Arc::get_mut`: the entry's bit, read under the VM lock, already proves that
/// nothing but the slab uses the object, since the only other reference, the closing
/// handle's, touches nothing but the reference count after the retirement (which
/// happened under the VM lock, after every other use of the object by the closing
/// CPU), and a new reference or weak one could only be made from the slab's. The
/// renewal changes only atomic fields, so a closing handle's reference still on its
/// way out on another CPU is no data race either; it then goes later than the renewal,
/// and the object's next retirement, finding a third reference, lets go of the entry
/// (the object ends normally when its last reference goes). If another reference or a
/// weak one exists at the last close (a call under way with a counted reference, a port's
/// registration), the entry lets go of the object instead (never its last reference:
/// the closing handle holds one), and the object ends as any other when the last
/// reference goes. A create that finds no retired entry makes a new object, in an empty
/// entry if there is one.
///
/// What is reported leaves the retired objects out: they are heap blocks in use that
/// belong to no object, which KMEM_STATS counts as free
/// ([`VmoObjectSlab::retired_bytes`]), as it counts the heap's own lists; they stay in
/// the live count of VMO objects (no atomic update at each retirement and renewal),
/// from which FERRITE_OBJECT_COUNTS subtracts them ([`VmoObjectSlab::retired_count`]);
/// and parked VMOs are left out of the store's VMO count ([`vmo_count`]).
pub struct VmoObjectSlab {
    entries: [Option<Arc<VmoObject>>; SLAB_ENTRIES],
    /// Bit `i`: entry `i` holds a retired object that still holds its VMO's reference,
    /// the VMO parked in the store for the next `zx_vmo_create`
    /// ([`VmoStore::parkable`]).
    parked: EntryMask,
    /// Bit `i`: entry `i` holds a retired object whose VMO was released. Disjoint from
    /// `parked` (the retired entries are the union), so that a retirement sets one bit
    /// and a renewal clears one.
    released: EntryMask,
}

impl VmoObjectSlab {
    /// An empty slab.
    pub const fn new() -> Self {
        VmoObjectSlab { entries: [const { None }; SLAB_ENTRIES], parked: 0, released: 0 }
    }

    /// `zx_vmo_create` past the syscall's own checks: a VMO of `size` with `options`
    /// and its object, with the errors of [`VmoStore::create`]. The first retired
    /// object that kept its VMO parked is renewed with it ([`VmoStore::renew_parked`]:
    /// no slot is emptied and filled again); otherwise the store makes the VMO and
    /// [`VmoObjectSlab::object_for`] its object. Gives the object's first handle and
    /// the VMO's id (its tag): a renewed object already counts that handle
    /// ([`KHandle::first`]). Inlined into its one caller, `zx_vmo_create`: the handle
    /// comes back in registers, not through memory, and the call saves no registers of
    /// its own.
    #[inline(always)]
    pub fn create(&mut self, vmos: &mut VmoStore, koid: u64, size: u64, options: u32) -> ZxResult<(KHandle, VmoId)> {
        if self.parked != 0 {
            let at = self.parked.trailing_zeros() as usize;
            if let Some(Some(entry)) = self.entries.get(at) {
                let id = vmos.renew_parked(entry.id(), koid, size, options)?;
                self.parked &= !(1 << at);
                if let Some(first) = entry.renew_with_first_handle(id, koid) {
                    return Ok((KHandle::first(entry.clone(), first), id));
                }
                return Ok((KHandle::new(Self::make(&mut self.entries, id, koid)), id));
            }
        }
        let id = vmos.create(koid, size, options)?;
        Ok((KHandle::new(self.object_for(id, koid)), id))
    }

    /// The object for the VMO `id` (koid `koid`) the store just made: a retired one
    /// that keeps no VMO renewed, or a new one, kept in an empty entry if there is one.
    pub fn object_for(&mut self, id: VmoId, koid: u64) -> Arc<VmoObject> {
        if self.released != 0 {
            let at = self.released.trailing_zeros() as usize;
            if let Some(Some(entry)) = self.entries.get(at) {
                self.released &= !(1 << at);
                if entry.renew(id, koid) {
                    return entry.clone();
                }
            }
        }
        Self::make(&mut self.entries, id, koid)
    }

    /// A new object, kept in the first empty entry if there is one. Out of line: once
    /// the slab is full of objects, creates renew them.
    #[inline(never)]
    fn make(entries: &mut [Option<Arc<VmoObject>>; SLAB_ENTRIES], id: VmoId, koid: u64) -> Arc<VmoObject> {
        match entries.iter().position(Option::is_none) {
            Some(at) => {
                let object = Arc::new(VmoObject::new(id, koid, at as u8));
                entries[at] = Some(object.clone());
                object
            }
            None => Arc::new(VmoObject::new(id, koid, NOT_KEPT)),
        }
    }

    /// The last handle of `object` closed (its reference still held by the caller):
    /// retires it if nothing else refers to it (see the type's comment) and says so (the
    /// caller then marks the entry [`VmoObjectSlab::park`] or
    /// [`VmoObjectSlab::mark_released`]);
    /// otherwise the entry's reference comes back, for the caller to drop once the VM
    /// lock is released (it is never the last one). `at` is the object's entry, which
    /// the caller has checked against [`SLAB_ENTRIES`] (so it indexes with no check).
    fn retire(&mut self, object: &VmoObject, at: usize) -> Result<(), Option<Arc<VmoObject>>> {
        let Some(slot) = self.entries.get_mut(at) else { return Err(None) };
        match slot {
            Some(entry) if core::ptr::eq(Arc::as_ptr(entry), object) => {
                if Arc::strong_count(entry) == 2 && Arc::weak_count(entry) == 0 {
                    // What `Arc::get_mut` (which the renewal no longer calls) and an
                    // `Arc`'s last drop do: the counts were read relaxed, so acquire
                    // here, after the release of every earlier owner's decrement, for
                    // their uses of the object to happen before the renewal (which the
                    // VM lock then orders after this).
                    core::sync::atomic::fence(Ordering::Acquire);
                    Ok(())
                } else {
                    Err(slot.take())
                }
            }
            _ => Err(None),
        }
    }

    /// Entry `at`, just retired, keeps its VMO parked.
    fn park(&mut self, at: usize) {
        self.parked |= 1 << at;
    }

    /// Entry `at`, just retired, released its VMO.
    fn mark_released(&mut self, at: usize) {
        self.released |= 1 << at;
    }

    /// Retired entries.
    fn retired(&self) -> EntryMask {
        self.parked | self.released
    }

    /// VMOs parked in the store by retired objects: not VMOs of the system (they are
    /// left out of the store's count wherever it is reported).
    pub fn parked_count(&self) -> usize {
        self.parked.count_ones() as usize
    }

    /// Retired objects: still in the live count of VMO objects (they are never
    /// dropped), left out of it where it is reported.
    pub fn retired_count(&self) -> u64 {
        u64::from(self.retired().count_ones())
    }

    /// Heap bytes held by retired objects.
    pub fn retired_bytes(&self) -> u64 {
        let arc_inner = Layout::new::<[usize; 2]>().extend(Layout::new::<VmoObject>()).map(|(l, _)| l.pad_to_align());
        let block = arc_inner.map_or(0, crate::arch::aarch64::heap::block_bytes) as u64;
        u64::from(self.retired().count_ones()) * block
    }
}

impl Default for VmoObjectSlab {
    fn default() -> Self {
        Self::new()
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
        Some(self.id())
    }
    /// A kept object is retired here (see [`VmoObjectSlab`]), so that its end frees
    /// nothing; any other ends when its last reference goes.
    fn on_zero_handles(&self) {
        // The order-check flag is read once here for the VM lock and the `vmcheck` audit
        // (`with_kernel_checked`): the close that calls this passes it no flag (it comes
        // through the object's virtual `drop_handle`).
        // NOT_KEPT (an object made while the slab was full) is past the last entry. The
        // entry is read once, before the VM lock, so that the slab indexes with it
        // unchecked (it never changes while a handle or a reference exists).
        let at = usize::from(self.entry);
        if at >= SLAB_ENTRIES {
            return;
        }
        with_order_check!(Self::retire_kept(self, at))
    }
    fn name(&self) -> Option<[u8; 32]> {
        Some(with_kernel(|k| k.vmos.name(self.id())))
    }
    fn set_name(&self, name: &[u8]) -> ZxResult {
        with_kernel(|k| k.vmos.set_name(self.id(), name));
        Ok(())
    }
}

/// VMOs of the system: the store's, less those parked by retired objects (see
/// [`VmoObjectSlab`]), for the leak checks (FERRITE_OBJECT_COUNTS, the first process's
/// exit line).
pub fn vmo_count(k: &Kernel) -> usize {
    k.vmos.vmo_count() - k.vmo_objects.parked_count()
}

/// Signals of a VMO: the store's (ZERO_CHILDREN) and the user signals.
pub fn vmo_signals(vmo: &VmoObject) -> u32 {
    vmo_signals_of(vmo.id(), &vmo.base)
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
}
