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
    heap: Mutex<Arena>,
    low: AtomicBool,
    /// Set once the heap has grown from RAM: from then on large allocations keep off
    /// the headroom.
    grown: AtomicBool,
}

/// Small blocks (8 to 2,048 bytes) kept on free lists in front of the buddy heap.
///
/// Why: the kernel allocates and frees the same few small objects on every wait,
/// message and handle (wait nodes, observers, message headers, handle entries); a buddy
/// allocation and free of one cost about 130 instructions, a list pop and push about 20.
/// Why it is sound: the buddy heap hands out a block of `class(layout)` bytes (the size
/// rounded up to a power of two, at least the alignment and 8) aligned to that size, so
/// a freed block of class `c` serves any later layout of class `c`, and goes back to the
/// buddy heap with a layout of class `c`. A free block holds the address of the next
/// one in its first word; nothing else refers to it. At most [`cache_limit`] blocks
/// wait per class (64 up to 512 bytes, 32 KiB worth in the two larger classes, which
/// serve a thread object each), and and cached bytes count as free (stats, headroom); when the buddy heap
/// cannot serve a request the lists are given back to it first.
struct SmallCache {
    /// Address of the first free block of each class (0: none).
    heads: [usize; SMALL_CLASSES],
    counts: [u16; SMALL_CLASSES],
    /// Bytes waiting in the lists.
    bytes: usize,
}

/// Classes 8, 16, ..., 2,048 bytes.
const SMALL_CLASSES: usize = 9;
/// Free blocks kept per class at most, up to 512 bytes.
const CACHED_PER_CLASS: u16 = 64;

/// Free blocks kept in class `class` at most: [`CACHED_PER_CLASS`], and no more than
/// 32 KiB worth for the 1 KiB and 2 KiB classes.
#[inline(always)]
fn cache_limit(class: usize) -> u16 {
    if class < 7 { CACHED_PER_CLASS } else { ((32 * 1024) >> (class + 3)) as u16 }
}

struct Arena {
    buddy: Heap<32>,
    cache: SmallCache,
}

impl Arena {
    /// Bytes free: the buddy heap's plus the cached blocks.
    fn free_bytes(&self) -> usize {
        self.buddy.stats_total_bytes().saturating_sub(self.buddy.stats_alloc_actual()) + self.cache.bytes
    }

    /// Bytes allocated and in use.
    fn used_bytes(&self) -> usize {
        self.buddy.stats_alloc_actual() - self.cache.bytes
    }

    /// Gives every cached block back to the buddy heap.
    fn flush(&mut self) {
        for class in 0..SMALL_CLASSES {
            let size = 8usize << class;
            while self.cache.heads[class] != 0 {
                let block = self.cache.heads[class];
                // SAFETY: `block` is a free block of this class owned by the cache (see
                // `SmallCache`); its first word holds the next one.
                unsafe {
                    self.cache.heads[class] = *(block as *const usize);
                    self.buddy
                        .dealloc(NonNull::new_unchecked(block as *mut u8), Layout::from_size_align_unchecked(size, 8));
                }
            }
            self.cache.counts[class] = 0;
        }
        self.cache.bytes = 0;
    }
}

/// The small-block class of `layout` (see [`SmallCache`]), if it has one.
#[inline(always)]
fn small_class(layout: &Layout) -> Option<usize> {
    let block = layout.size().max(layout.align()).max(8);
    if block > 8 << (SMALL_CLASSES - 1) {
        return None;
    }
    Some((block.next_power_of_two().trailing_zeros() - 3) as usize)
}

impl KernelHeap {
    /// Whether a large allocation of `layout` must fail to keep the headroom (see
    /// `alloc`).
    fn holds_headroom(&self, arena: &Arena, layout: &Layout) -> bool {
        self.grown.load(Ordering::Relaxed) && arena.free_bytes().saturating_sub(layout.size()) < HEAP_HEADROOM_BYTES
    }

    fn note_level(&self, arena: &Arena) {
        self.low.store(arena.free_bytes() < HEAP_HEADROOM_BYTES, Ordering::Relaxed);
    }
}

impl KernelHeap {
    /// An allocation of small-block class `class` whose size may use the headroom: a
    /// list pop when the class has a free block, the buddy heap otherwise.
    ///
    /// # Safety
    /// `layout` is the caller's (non-zero size) and `class` is `small_class(&layout)`.
    #[inline(never)]
    unsafe fn alloc_small(&self, class: usize, layout: Layout) -> *mut u8 {
        let mut arena = self.heap.lock();
        let block = arena.cache.heads[class];
        if block != 0 {
            // SAFETY: a free block of this class owned by the cache; its first word
            // holds the next one. It now belongs to the caller.
            arena.cache.heads[class] = unsafe { *(block as *const usize) };
            arena.cache.counts[class] -= 1;
            arena.cache.bytes -= 8 << class;
            self.note_level(&arena);
            return block as *mut u8;
        }
        Self::alloc_buddy(&mut arena, layout, &self.low)
    }

    /// Any other allocation: a small-block class above [`SMALL_ALLOCATION_BYTES`]
    /// (from its list unless that would eat into the headroom), or the buddy heap.
    #[inline(never)]
    fn alloc_other(&self, layout: Layout) -> *mut u8 {
        let mut arena = self.heap.lock();
        if let Some(class) = small_class(&layout)
            && !self.holds_headroom(&arena, &layout)
        {
            let block = arena.cache.heads[class];
            if block != 0 {
                // SAFETY: as in `alloc_small`.
                arena.cache.heads[class] = unsafe { *(block as *const usize) };
                arena.cache.counts[class] -= 1;
                arena.cache.bytes -= 8 << class;
                self.note_level(&arena);
                return block as *mut u8;
            }
        }
        // The headroom is kept for small allocations (tree nodes, which cannot fail
        // gracefully): a large one, always made with try_reserve, fails instead of
        // eating into it.
        // (Boot's own allocations, before the heap has grown, are not held to it.)
        // A large block from the cache above is held to the same rule.
        if layout.size() > SMALL_ALLOCATION_BYTES && self.holds_headroom(&arena, &layout) {
            return core::ptr::null_mut();
        }
        Self::alloc_buddy(&mut arena, layout, &self.low)
    }

    /// The buddy heap's allocation, after giving it the cached blocks if it is short.
    fn alloc_buddy(arena: &mut Arena, layout: Layout, low: &AtomicBool) -> *mut u8 {
        let ptr = match arena.buddy.alloc(layout) {
            Ok(ptr) => ptr.as_ptr(),
            Err(()) => {
                // Cached blocks may be what is missing: give them back and try again.
                arena.flush();
                arena.buddy.alloc(layout).map_or(core::ptr::null_mut(), NonNull::as_ptr)
            }
        };
        low.store(arena.free_bytes() < HEAP_HEADROOM_BYTES, Ordering::Relaxed);
        ptr
    }

    /// Gives back a block of small-block class `class`: onto its list while the list
    /// is short, to the buddy heap otherwise.
    ///
    /// # Safety
    /// As `GlobalAlloc::dealloc`, and `class` is `small_class(&layout)`.
    #[inline(never)]
    unsafe fn dealloc_small(&self, ptr: *mut u8, class: usize, layout: Layout) {
        let mut arena = self.heap.lock();
        if arena.cache.counts[class] < cache_limit(class) && !ptr.is_null() {
            let head = arena.cache.heads[class];
            // SAFETY: the caller gives the block back (GlobalAlloc::dealloc's contract);
            // it is at least 8 bytes and 8-aligned (its class), so its first word can
            // hold the next free block's address.
            unsafe { *(ptr as *mut usize) = head };
            arena.cache.heads[class] = ptr as usize;
            arena.cache.counts[class] += 1;
            arena.cache.bytes += 8 << class;
            self.note_level(&arena);
            return;
        }
        // SAFETY: as this function's.
        unsafe { Self::dealloc_buddy(&mut arena, ptr, layout) };
        self.note_level(&arena);
    }

    /// Gives back a block with no small-block class.
    ///
    /// # Safety
    /// As `GlobalAlloc::dealloc`.
    #[inline(never)]
    unsafe fn dealloc_other(&self, ptr: *mut u8, layout: Layout) {
        let mut arena = self.heap.lock();
        // SAFETY: as this function's.
        unsafe { Self::dealloc_buddy(&mut arena, ptr, layout) };
        self.note_level(&arena);
    }

    /// # Safety
    /// As `GlobalAlloc::dealloc`.
    unsafe fn dealloc_buddy(arena: &mut Arena, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: the caller passes a block this allocator returned, with its layout.
            unsafe { arena.buddy.dealloc(ptr, layout) };
        }
    }
}

// SAFETY: allocations come from the buddy heap (or its small-block lists, see
// `SmallCache`) under its lock; the flag is advisory.
//
// `alloc` and `dealloc` only pick the way, inline: most layouts are constants, so the
// class is worked out by the compiler and a call site makes one call to the function
// for its kind of block (a list pop or push under the lock for the common small ones).
unsafe impl GlobalAlloc for KernelHeap {
    #[inline(always)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match small_class(&layout) {
            // SAFETY: `class` is the layout's class, as `alloc_small` requires.
            Some(class) if layout.size() <= SMALL_ALLOCATION_BYTES => unsafe { self.alloc_small(class, layout) },
            _ => self.alloc_other(layout),
        }
    }

    #[inline(always)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match small_class(&layout) {
            // SAFETY: the caller's contract, and `class` is the layout's class.
            Some(class) => unsafe { self.dealloc_small(ptr, class, layout) },
            // SAFETY: the caller's contract.
            None => unsafe { self.dealloc_other(ptr, layout) },
        }
    }
}

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    heap: Mutex::new(Arena {
        buddy: Heap::empty(),
        cache: SmallCache { heads: [0; SMALL_CLASSES], counts: [0; SMALL_CLASSES], bytes: 0 },
    }),
    low: AtomicBool::new(true),
    grown: AtomicBool::new(false),
};

const BOOTSTRAP_HEAP_BYTES: usize = 256 * 1024;

#[repr(C, align(4096))]
struct BootstrapHeap([u8; BOOTSTRAP_HEAP_BYTES]);

/// In `.noinit` (linker.ld): not zeroed at boot, as nothing needs its initial contents
/// (the buddy allocator writes its own links, `alloc_zeroed` zeroes what it returns).
#[unsafe(link_section = ".noinit.bootstrap_heap")]
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
        heap.buddy.init(start, BOOTSTRAP_HEAP_BYTES);
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
    unsafe { heap.buddy.add_to_heap(va, va + bytes as usize) };
    HEAP.note_level(&heap);
    HEAP.grown.store(true, Ordering::Relaxed);
    Ok(BOOTSTRAP_HEAP_BYTES as u64 + bytes)
}

/// The bytes of heap a block of `layout` takes: the buddy heap hands out the size
/// rounded up to a power of two, at least the alignment and 8 (as `small_class` does).
pub fn block_bytes(layout: Layout) -> usize {
    layout.size().max(layout.align()).max(8).next_power_of_two()
}

/// Bytes of heap currently allocated.
pub fn used_bytes() -> u64 {
    HEAP.heap.lock().used_bytes() as u64
}

/// True while the heap has room for one more kernel operation's allocations.
pub fn has_headroom() -> bool {
    !HEAP.low.load(Ordering::Relaxed)
}
