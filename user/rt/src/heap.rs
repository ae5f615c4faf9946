//! The heap behind `alloc` (`Vec`, `String`, `Box`): a buddy allocator over VMO mappings,
//! under a futex [`Mutex`]. It starts with one 1 MiB mapping and maps another VMO when it
//! runs out (pages are committed only when touched).

use crate::sync::Mutex;
use buddy_system_allocator::Heap;
use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use zx::{Vmar, VmarFlags, Vmo};

const FIRST_CHUNK: usize = 1 << 20;

struct State {
    heap: Heap<40>,
    vmar: u32,
}

struct Allocator(Mutex<State>);

#[global_allocator]
static ALLOCATOR: Allocator = Allocator(Mutex::new(State { heap: Heap::empty(), vmar: 0 }));

/// Maps a fresh RW VMO of `size` bytes; its handle is closed (the mapping keeps it).
fn map_chunk(vmar: u32, size: usize) -> Option<usize> {
    let vmo = Vmo::create(size as u64).ok()?;
    let vmar = core::mem::ManuallyDrop::new(Vmar::from(zx::Handle::from_raw(vmar)));
    vmar.map(0, &vmo, 0, size, VmarFlags::PERM_READ | VmarFlags::PERM_WRITE).ok()
}

/// Sets up the heap in the address space of `vmar` (a raw handle kept open for growth).
pub(crate) fn init(vmar: u32) {
    let mut state = ALLOCATOR.0.lock();
    state.vmar = vmar;
    if let Some(base) = map_chunk(vmar, FIRST_CHUNK) {
        // SAFETY: [base, base + FIRST_CHUNK) is a fresh RW mapping that nothing else uses.
        unsafe { state.heap.init(base, FIRST_CHUNK) };
    }
}

/// Bytes handed out and bytes the heap manages.
pub fn stats() -> (usize, usize) {
    let state = ALLOCATOR.0.lock();
    (state.heap.stats_alloc_actual(), state.heap.stats_total_bytes())
}

// SAFETY: alloc/dealloc go to the buddy allocator under the lock; memory it adds is
// fresh mapped memory owned by nothing else.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut state = self.0.lock();
        if let Ok(p) = state.heap.alloc(layout) {
            return p.as_ptr();
        }
        let want = layout.size().max(layout.align()).saturating_mul(2);
        let size = want.max(state.heap.stats_total_bytes()).max(FIRST_CHUNK).next_power_of_two();
        let Some(base) = map_chunk(state.vmar, size) else {
            return core::ptr::null_mut();
        };
        // SAFETY: a fresh RW mapping of `size` bytes.
        unsafe { state.heap.add_to_heap(base, base + size) };
        state.heap.alloc(layout).map_or(core::ptr::null_mut(), |p| p.as_ptr())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: `ptr` came from `alloc` with this layout (GlobalAlloc contract).
            unsafe { self.0.lock().heap.dealloc(p, layout) };
        }
    }
}
