//! Memory management: addresses, physical frames, page tables and the kernel's
//! virtual memory layout. Everything here but `arch_*` glue is pure and host-tested.

pub mod addr;
pub mod frame;
pub mod layout;
pub mod page_table;

pub use addr::{PhysAddr, VirtAddr};

use crate::error::ZxResult;

/// Physical pages as the VM layer sees them: allocate (zeroed or as a copy), free.
///
/// The kernel implements this over the frame allocator and the linear map (`dc zva`
/// for zeroing); host tests implement it over a map of page buffers, with a limit to
/// exercise exhaustion.
pub trait PhysMemory {
    /// A new page filled with zeros, or `NoMemory`.
    fn alloc_zeroed_page(&mut self) -> ZxResult<PhysAddr>;
    /// A new page holding a copy of the page at `src`, or `NoMemory`.
    fn alloc_copy_of(&mut self, src: PhysAddr) -> ZxResult<PhysAddr>;
    /// Fills `len` bytes at `offset` within the page at `pa` with zeros.
    fn zero_range(&mut self, pa: PhysAddr, offset: usize, len: usize);
    /// Returns a page to the allocator.
    fn free_page(&mut self, pa: PhysAddr);
}
