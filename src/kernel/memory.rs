//! Physical memory as the kernel uses it: VMO pages from the frame allocator (zeroed
//! with `dc zva`), cache maintenance by physical address, and the RAM map.

use crate::arch::aarch64::mmu;
use crate::error::ZxResult;
use crate::mm::frame::FrameAllocator;
use crate::mm::{PhysAddr, PhysMemory};
use crate::vm::vmo::CacheMaintenance;

/// VMO pages from the frame allocator.
pub struct FramePages<'a> {
    /// The allocator pages come from and go back to.
    pub frames: &'a mut FrameAllocator,
}

/// A new page, or NO_MEMORY when frames run out or when the kernel heap is too low to
/// track one more page (page lists and the frame table live on the heap, and a failed
/// heap allocation cannot be turned into an error).
#[inline(always)]
fn alloc_frame(frames: &mut FrameAllocator) -> ZxResult<PhysAddr> {
    if !crate::arch::aarch64::heap::has_headroom() {
        return Err(crate::error::ZxError::NoMemory);
    }
    frames.alloc()
}

/// A new frame with whatever it held before, for a caller that overwrites all of it
/// before anything else can read it (a whole-page VMO write copies into it before it is
/// published). NO_MEMORY as for any commit.
#[inline(always)]
pub fn alloc_unzeroed_frame(frames: &mut FrameAllocator) -> ZxResult<PhysAddr> {
    alloc_frame(frames)
}

impl PhysMemory for FramePages<'_> {
    // Inlined whole where the type is known (the page-fault path), so a fresh page costs
    // no call.
    #[inline(always)]
    fn alloc_zeroed_page(&mut self) -> ZxResult<PhysAddr> {
        let pa = alloc_frame(self.frames)?;
        mmu::zero_frame(pa);
        Ok(pa)
    }

    fn alloc_copy_of(&mut self, src: PhysAddr) -> ZxResult<PhysAddr> {
        let pa = alloc_frame(self.frames)?;
        mmu::copy_page(pa, src);
        Ok(pa)
    }

    fn zero_range(&mut self, pa: PhysAddr, offset: usize, len: usize) {
        mmu::zero_bytes(pa, offset, len);
    }

    fn free_page(&mut self, pa: PhysAddr) {
        self.frames.free(pa);
    }
}

/// Cache maintenance by physical address, through the linear map.
pub struct LinearMapCaches;

impl CacheMaintenance for LinearMapCaches {
    fn clean(&mut self, pa: PhysAddr, len: usize) {
        maintain(pa, len, crate::arch::aarch64::cache::DataOp::Clean);
    }
    fn clean_invalidate(&mut self, pa: PhysAddr, len: usize) {
        maintain(pa, len, crate::arch::aarch64::cache::DataOp::CleanInvalidate);
    }
    fn invalidate(&mut self, pa: PhysAddr, len: usize) {
        maintain(pa, len, crate::arch::aarch64::cache::DataOp::Invalidate);
    }
    fn sync(&mut self, pa: PhysAddr, len: usize) {
        if let Some(va) = ram_virt(pa) {
            crate::arch::aarch64::cache::data_range(crate::arch::aarch64::cache::DataOp::CleanToPou, va, len as u64);
            crate::arch::aarch64::cache::instruction_range(va, len as u64);
        }
    }
}

/// The linear-map address of `pa` when it is RAM the kernel maps (device memory of a
/// physical VMO is not in the linear map and is never cached, so it needs nothing).
fn ram_virt(pa: PhysAddr) -> Option<u64> {
    RAM.get().filter(|ram| ram.contains(pa)).map(|_| mmu::phys_to_virt(pa).0)
}

/// The RAM ranges the linear map covers, recorded once at boot.
pub struct RamMap {
    ranges: [(u64, u64); 16],
    count: usize,
}

impl RamMap {
    /// Records up to 16 `[start, end)` ranges.
    pub fn new(ranges: impl Iterator<Item = (u64, u64)>) -> Self {
        let mut map = RamMap { ranges: [(0, 0); 16], count: 0 };
        for range in ranges.take(16) {
            map.ranges[map.count] = range;
            map.count += 1;
        }
        map
    }

    /// True when `pa` is RAM.
    pub fn contains(&self, pa: PhysAddr) -> bool {
        self.ranges[..self.count].iter().any(|&(s, e)| (s..e).contains(&pa.0))
    }

    /// The ranges.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges[..self.count]
    }
}

/// RAM, as the device tree described it.
pub static RAM: spin::Once<RamMap> = spin::Once::new();

fn maintain(pa: PhysAddr, len: usize, op: crate::arch::aarch64::cache::DataOp) {
    if let Some(va) = ram_virt(pa) {
        crate::arch::aarch64::cache::data_range(op, va, len as u64);
    }
}
