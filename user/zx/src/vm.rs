//! Virtual memory objects and address regions.

use crate::abi::{info, prop};
use crate::handle::handle_type;
use crate::nr;
use crate::sys::{addr, call_ok};
use crate::{AsHandleRef, Handle, Koid, Resource, Result, VmarFlags, VmoChildOptions, VmoOptions};
use crate::{le_u32, le_u64};

handle_type!(
    /// A virtual memory object.
    Vmo
);
handle_type!(
    /// A virtual memory address region.
    Vmar
);

/// `ZX_INFO_VMO` (the fields most programs want).
#[derive(Clone, Copy, Debug)]
pub struct VmoInfo {
    /// The VMO's koid.
    pub koid: Koid,
    /// Size in bytes (page-rounded).
    pub size_bytes: u64,
    /// The parent's koid (0 for none).
    pub parent_koid: Koid,
    /// Live children.
    pub num_children: u64,
    /// Mappings of the VMO.
    pub num_mappings: u64,
    /// `ZX_INFO_VMO_*` flags.
    pub flags: u32,
    /// Bytes of pages attributed to this VMO.
    pub committed_bytes: u64,
}

/// `ZX_INFO_VMAR`.
#[derive(Clone, Copy, Debug)]
pub struct VmarInfo {
    /// First address.
    pub base: usize,
    /// Length in bytes.
    pub len: usize,
}

/// `ZX_INFO_KMEM_STATS`: the kernel's memory, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct KmemStats {
    /// Memory the frame allocator manages.
    pub total_bytes: u64,
    /// Free frames.
    pub free_bytes: u64,
    /// Kernel tables and the rest.
    pub wired_bytes: u64,
    /// The kernel heap's size.
    pub total_heap_bytes: u64,
    /// Heap not allocated.
    pub free_heap_bytes: u64,
    /// Frames held by VMOs.
    pub vmo_bytes: u64,
    /// User page tables.
    pub mmu_overhead_bytes: u64,
    /// Queued messages and packets.
    pub ipc_bytes: u64,
    /// Other.
    pub other_bytes: u64,
}

impl Vmo {
    /// `zx_vmo_create` of `size` bytes (pages are committed on first touch).
    pub fn create(size: u64) -> Result<Vmo> {
        Vmo::create_with_opts(VmoOptions::empty(), size)
    }

    /// `zx_vmo_create` with options.
    pub fn create_with_opts(options: VmoOptions, size: u64) -> Result<Vmo> {
        let mut out = 0u32;
        // SAFETY: the kernel writes one u32.
        unsafe { call_ok(nr::VMO_CREATE, [size, options.bits() as u64, addr(&raw mut out)])? };
        Ok(Vmo(Handle::from_raw(out)))
    }

    /// `zx_vmo_read` into `data` from `offset`.
    pub fn read(&self, data: &mut [u8], offset: u64) -> Result {
        // SAFETY: the kernel writes data.len() bytes into data.
        unsafe { call_ok(nr::VMO_READ, [self.raw() as u64, addr(data.as_mut_ptr()), offset, data.len() as u64]) }
    }

    /// `zx_vmo_write` of `data` at `offset`.
    pub fn write(&self, data: &[u8], offset: u64) -> Result {
        // SAFETY: the kernel reads data.len() bytes.
        unsafe { call_ok(nr::VMO_WRITE, [self.raw() as u64, addr(data.as_ptr()), offset, data.len() as u64]) }
    }

    /// `zx_vmo_get_size`.
    pub fn get_size(&self) -> Result<u64> {
        let mut size = 0u64;
        // SAFETY: the kernel writes one u64.
        unsafe { call_ok(nr::VMO_GET_SIZE, [self.raw() as u64, addr(&raw mut size)])? };
        Ok(size)
    }

    /// `zx_vmo_set_size` (RESIZABLE VMOs only).
    pub fn set_size(&self, size: u64) -> Result {
        // SAFETY: no pointers.
        unsafe { call_ok(nr::VMO_SET_SIZE, [self.raw() as u64, size]) }
    }

    /// `ZX_PROP_VMO_CONTENT_SIZE`.
    pub fn get_content_size(&self) -> Result<u64> {
        let mut size = 0u64;
        // SAFETY: the kernel writes 8 bytes.
        unsafe {
            call_ok(
                nr::OBJECT_GET_PROPERTY,
                [self.raw() as u64, prop::VMO_CONTENT_SIZE as u64, addr(&raw mut size), 8],
            )?
        };
        Ok(size)
    }

    /// `zx_vmo_op_range` without a buffer (`abi::op`: COMMIT, DECOMMIT, ZERO, cache ops).
    pub fn op_range(&self, op: u32, offset: u64, size: u64) -> Result {
        // SAFETY: no buffer.
        unsafe { call_ok(nr::VMO_OP_RANGE, [self.raw() as u64, op as u64, offset, size, 0, 0]) }
    }

    /// `zx_vmo_create_child`.
    pub fn create_child(&self, options: VmoChildOptions, offset: u64, size: u64) -> Result<Vmo> {
        let mut out = 0u32;
        // SAFETY: the kernel writes one u32.
        unsafe {
            call_ok(nr::VMO_CREATE_CHILD, [self.raw() as u64, options.bits() as u64, offset, size, addr(&raw mut out)])?
        };
        Ok(Vmo(Handle::from_raw(out)))
    }

    /// `zx_vmo_set_cache_policy`.
    pub fn set_cache_policy(&self, policy: u32) -> Result {
        // SAFETY: no pointers.
        unsafe { call_ok(nr::VMO_SET_CACHE_POLICY, [self.raw() as u64, policy as u64]) }
    }

    /// `zx_vmo_replace_as_executable`: this handle plus EXECUTE (`vmex` may be `None`).
    pub fn replace_as_executable(self, vmex: Option<&Resource>) -> Result<Vmo> {
        let raw = self.0.into_raw();
        let mut out = 0u32;
        let vmex = vmex.map_or(0, |r| r.raw_handle());
        // SAFETY: the kernel writes one u32.
        unsafe { call_ok(nr::VMO_REPLACE_AS_EXECUTABLE, [raw as u64, vmex as u64, addr(&raw mut out)])? };
        Ok(Vmo(Handle::from_raw(out)))
    }

    /// `zx_vmo_create_physical` (root resource): a VMO over physical memory.
    pub fn create_physical(resource: &Resource, paddr: u64, size: u64) -> Result<Vmo> {
        let mut out = 0u32;
        // SAFETY: the kernel writes one u32.
        unsafe { call_ok(nr::VMO_CREATE_PHYSICAL, [resource.raw_handle() as u64, paddr, size, addr(&raw mut out)])? };
        Ok(Vmo(Handle::from_raw(out)))
    }

    /// `ZX_INFO_VMO`.
    pub fn info(&self) -> Result<VmoInfo> {
        let mut buf = [0u8; info::VMO_SIZE];
        self.get_info_raw(info::VMO, &mut buf)?;
        Ok(VmoInfo {
            koid: le_u64(&buf, 0),
            size_bytes: le_u64(&buf, 40),
            parent_koid: le_u64(&buf, 48),
            num_children: le_u64(&buf, 56),
            num_mappings: le_u64(&buf, 64),
            flags: le_u32(&buf, 80),
            committed_bytes: le_u64(&buf, 88),
        })
    }
}

impl Vmar {
    /// `zx_vmar_map`: maps `len` bytes of `vmo` from `vmo_offset`; returns the address.
    /// `vmar_offset` counts only with [`VmarFlags::SPECIFIC`].
    pub fn map(&self, vmar_offset: usize, vmo: &Vmo, vmo_offset: u64, len: usize, flags: VmarFlags) -> Result<usize> {
        let mut mapped = 0u64;
        // SAFETY: the kernel writes one u64; the mapping changes no memory we reference.
        unsafe {
            call_ok(
                nr::VMAR_MAP,
                [
                    self.raw() as u64,
                    flags.bits() as u64,
                    vmar_offset as u64,
                    vmo.raw() as u64,
                    vmo_offset,
                    len as u64,
                    addr(&raw mut mapped),
                ],
            )?
        };
        Ok(mapped as usize)
    }

    /// `zx_vmar_unmap`.
    ///
    /// # Safety
    /// Nothing may still refer to memory in the range.
    pub unsafe fn unmap(&self, address: usize, len: usize) -> Result {
        // SAFETY: the caller promises the range is unused.
        unsafe { call_ok(nr::VMAR_UNMAP, [self.raw() as u64, address as u64, len as u64]) }
    }

    /// `zx_vmar_protect`.
    ///
    /// # Safety
    /// Nothing may rely on the range's old permissions.
    pub unsafe fn protect(&self, address: usize, len: usize, flags: VmarFlags) -> Result {
        // SAFETY: the caller promises the new permissions are fine.
        unsafe { call_ok(nr::VMAR_PROTECT, [self.raw() as u64, flags.bits() as u64, address as u64, len as u64]) }
    }

    /// `zx_vmar_allocate`: a child region of `size` bytes; returns it and its address.
    pub fn allocate(&self, offset: usize, size: usize, flags: VmarFlags) -> Result<(Vmar, usize)> {
        let (mut out, mut child_addr) = (0u32, 0u64);
        // SAFETY: the kernel writes one u32 and one u64.
        unsafe {
            call_ok(
                nr::VMAR_ALLOCATE,
                [
                    self.raw() as u64,
                    flags.bits() as u64,
                    offset as u64,
                    size as u64,
                    addr(&raw mut out),
                    addr(&raw mut child_addr),
                ],
            )?
        };
        Ok((Vmar(Handle::from_raw(out)), child_addr as usize))
    }

    /// `zx_vmar_destroy`: unmaps everything in the region.
    ///
    /// # Safety
    /// Nothing may still refer to memory in the region.
    pub unsafe fn destroy(&self) -> Result {
        // SAFETY: the caller promises the region is unused.
        unsafe { call_ok(nr::VMAR_DESTROY, [self.raw() as u64]) }
    }

    /// `ZX_INFO_VMAR`.
    pub fn info(&self) -> Result<VmarInfo> {
        let mut buf = [0u8; info::VMAR_SIZE];
        self.get_info_raw(info::VMAR, &mut buf)?;
        Ok(VmarInfo { base: le_u64(&buf, 0) as usize, len: le_u64(&buf, 8) as usize })
    }
}

impl Resource {
    /// `ZX_INFO_KMEM_STATS` (the root resource).
    pub fn kmem_stats(&self) -> Result<KmemStats> {
        let mut buf = [0u8; info::KMEM_STATS_SIZE];
        self.get_info_raw(info::KMEM_STATS, &mut buf)?;
        let f = |i: usize| le_u64(&buf, i * 8);
        Ok(KmemStats {
            total_bytes: f(0),
            free_bytes: f(1),
            wired_bytes: f(2),
            total_heap_bytes: f(3),
            free_heap_bytes: f(4),
            vmo_bytes: f(5),
            mmu_overhead_bytes: f(6),
            ipc_bytes: f(7),
            other_bytes: f(8),
        })
    }
}
