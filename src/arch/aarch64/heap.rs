//! The kernel heap: `buddy_system_allocator`'s heap, started from a small arena in
//! .bss and grown once from frames when the linear map is up. Running out makes `alloc`
//! return null, which the kernel's fallible paths (`try_reserve`) report as NO_MEMORY.

use crate::abi::PAGE_SIZE;
use crate::error::ZxResult;
use crate::mm::frame::FrameAllocator;
use buddy_system_allocator::Heap;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, Ordering};
use spin::Mutex;

/// The buddy heap, plus a flag kept up to date on every allocation and free so that
/// [`has_headroom`] (asked on every page commit) is one load instead of a lock.
struct KernelHeap {
    heap: Mutex<Heap<32>>,
    low: AtomicBool,
    /// Set once the heap has grown from RAM: from then on large allocations keep off
    /// the headroom.
    grown: AtomicBool,
}

impl KernelHeap {
    fn note_level(&self, heap: &Heap<32>) {
        let free = heap.stats_total_bytes().saturating_sub(heap.stats_alloc_actual());
        self.low.store(free < HEAP_HEADROOM_BYTES, Ordering::Relaxed);
    }
}

// SAFETY: allocations come from the buddy heap under its lock; the flag is advisory.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut heap = self.heap.lock();
        // The headroom is kept for small allocations (tree nodes, which cannot fail
        // gracefully): a large one, always made with try_reserve, fails instead of
        // eating into it.
        // (Boot's own allocations, before the heap has grown, are not held to it.)
        let free = heap.stats_total_bytes().saturating_sub(heap.stats_alloc_actual());
        if layout.size() > SMALL_ALLOCATION_BYTES
            && self.grown.load(Ordering::Relaxed)
            && free.saturating_sub(layout.size()) < HEAP_HEADROOM_BYTES
        {
            return core::ptr::null_mut();
        }
        let ptr = heap.alloc(layout).map_or(core::ptr::null_mut(), NonNull::as_ptr);
        self.note_level(&heap);
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mut heap = self.heap.lock();
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this layout (GlobalAlloc's contract).
            unsafe { heap.dealloc(ptr, layout) };
        }
        self.note_level(&heap);
    }
}

#[global_allocator]
static HEAP: KernelHeap =
    KernelHeap { heap: Mutex::new(Heap::empty()), low: AtomicBool::new(true), grown: AtomicBool::new(false) };

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

/// Allocations up to this size may use the headroom; larger ones (vectors and tables
/// that grow with what a program does, all reserved fallibly) fail rather than leave
/// less than [`HEAP_HEADROOM_BYTES`] free.
const SMALL_ALLOCATION_BYTES: usize = 1024;

/// Gives the heap its bootstrap arena (before the device tree is parsed).
pub fn init_bootstrap_heap() {
    // SAFETY: called once, on the boot CPU, before anything allocates; the arena is a
    // static that nothing else references.
    unsafe {
        let start = (&raw mut BOOTSTRAP_HEAP) as usize;
        let mut heap = HEAP.heap.lock();
        heap.init(start, BOOTSTRAP_HEAP_BYTES);
        HEAP.note_level(&heap);
    }
}

/// Adds a share of RAM (`ram_bytes` / 32, within 8..=256 MiB) of contiguous frames to
/// the heap. Returns the heap's total size.
pub fn grow_heap(frames: &mut FrameAllocator, ram_bytes: u64) -> ZxResult<u64> {
    let bytes = (ram_bytes / HEAP_SHARE_OF_RAM).clamp(MIN_HEAP_BYTES, MAX_HEAP_BYTES) & !(PAGE_SIZE - 1);
    let pa = frames.alloc_contiguous((bytes / PAGE_SIZE) as usize, 1)?;
    let va = super::mmu::phys_to_virt(pa).0 as usize;
    let mut heap = HEAP.heap.lock();
    // SAFETY: the frames were just taken from the allocator, so nothing else uses them,
    // and the linear map maps them at `va`.
    unsafe { heap.add_to_heap(va, va + bytes as usize) };
    HEAP.note_level(&heap);
    HEAP.grown.store(true, Ordering::Relaxed);
    Ok(BOOTSTRAP_HEAP_BYTES as u64 + bytes)
}

/// Bytes of heap currently allocated.
pub fn used_bytes() -> u64 {
    HEAP.heap.lock().stats_alloc_actual() as u64
}

/// True while the heap has room for one more kernel operation's allocations.
pub fn has_headroom() -> bool {
    !HEAP.low.load(Ordering::Relaxed)
}
