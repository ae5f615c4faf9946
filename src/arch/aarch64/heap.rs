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

/// The heap grows once, at boot, to this share of RAM (between the bounds below): the
/// VMO page lists and frame table need about 1.5% of the memory they describe.
const HEAP_SHARE_OF_RAM: u64 = 32;
const MIN_HEAP_BYTES: u64 = 8 << 20;
const MAX_HEAP_BYTES: u64 = 256 << 20;

/// Below this much free heap, operations that would allocate kernel memory refuse with
/// NO_MEMORY instead of risking an allocation failure (which cannot be recovered from).
pub const HEAP_HEADROOM_BYTES: usize = 256 * 1024;

/// Gives the heap its bootstrap arena (before the device tree is parsed).
pub fn init_bootstrap_heap() {
    // SAFETY: called once, on the boot CPU, before anything allocates; the arena is a
    // static that nothing else references.
    unsafe {
        let start = (&raw mut BOOTSTRAP_HEAP) as usize;
        HEAP.lock().init(start, BOOTSTRAP_HEAP_BYTES);
    }
}

/// Adds a share of RAM (`ram_bytes` / 32, within 8..=256 MiB) of contiguous frames to
/// the heap. Returns the heap's total size.
pub fn grow_heap(frames: &mut FrameAllocator, ram_bytes: u64) -> ZxResult<u64> {
    let bytes = (ram_bytes / HEAP_SHARE_OF_RAM).clamp(MIN_HEAP_BYTES, MAX_HEAP_BYTES) & !(PAGE_SIZE - 1);
    let pa = frames.alloc_contiguous((bytes / PAGE_SIZE) as usize, 1)?;
    let va = super::mmu::phys_to_virt(pa).0 as usize;
    // SAFETY: the frames were just taken from the allocator, so nothing else uses them,
    // and the linear map maps them at `va`.
    unsafe { HEAP.lock().add_to_heap(va, va + bytes as usize) };
    Ok(BOOTSTRAP_HEAP_BYTES as u64 + bytes)
}

/// Bytes of heap currently allocated.
pub fn used_bytes() -> u64 {
    HEAP.lock().stats_alloc_actual() as u64
}

/// True while the heap has room for one more kernel operation's allocations.
pub fn has_headroom() -> bool {
    let heap = HEAP.lock();
    heap.stats_total_bytes().saturating_sub(heap.stats_alloc_actual()) >= HEAP_HEADROOM_BYTES
}
