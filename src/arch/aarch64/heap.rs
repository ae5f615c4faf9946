//! The kernel heap: `buddy_system_allocator`'s heap, started from a small arena in
//! .bss and grown once from frames when the linear map is up. Running out makes `alloc`
//! return null, which the kernel's fallible paths (`try_reserve`) report as NO_MEMORY.

use crate::abi::PAGE_SIZE;
use crate::error::ZxResult;
use crate::mm::frame::FrameAllocator;
use buddy_system_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap<32> = LockedHeap::empty();

const BOOTSTRAP_HEAP_BYTES: usize = 256 * 1024;

#[repr(C, align(4096))]
struct BootstrapHeap([u8; BOOTSTRAP_HEAP_BYTES]);

static mut BOOTSTRAP_HEAP: BootstrapHeap = BootstrapHeap([0; BOOTSTRAP_HEAP_BYTES]);

/// Bytes of heap added from frames once the linear map is up.
pub const GROWN_HEAP_BYTES: u64 = 8 << 20;

/// Gives the heap its bootstrap arena (before the device tree is parsed).
pub fn init_bootstrap_heap() {
    // SAFETY: called once, on the boot CPU, before anything allocates; the arena is a
    // static that nothing else references.
    unsafe {
        let start = (&raw mut BOOTSTRAP_HEAP) as usize;
        HEAP.lock().init(start, BOOTSTRAP_HEAP_BYTES);
    }
}

/// Adds `GROWN_HEAP_BYTES` of contiguous frames to the heap. Returns the heap's size.
pub fn grow_heap(frames: &mut FrameAllocator) -> ZxResult<u64> {
    let pages = (GROWN_HEAP_BYTES / PAGE_SIZE) as usize;
    let pa = frames.alloc_contiguous(pages, 1)?;
    let va = super::mmu::phys_to_virt(pa).0 as usize;
    // SAFETY: the frames were just taken from the allocator, so nothing else uses them,
    // and the linear map maps them at `va`.
    unsafe { HEAP.lock().add_to_heap(va, va + GROWN_HEAP_BYTES as usize) };
    Ok(BOOTSTRAP_HEAP_BYTES as u64 + GROWN_HEAP_BYTES)
}

/// Bytes of heap currently allocated.
pub fn used_bytes() -> u64 {
    HEAP.lock().stats_alloc_actual() as u64
}
