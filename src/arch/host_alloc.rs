//! Host unit tests only: the system allocator with a per-thread budget, so a test can
//! make any heap allocation of the code under test fail, or count the allocations it
//! makes. This is how the pure core's promise "every allocation a program can cause is
//! fallible, and unmapping, closing and killing never allocate" (issue 13) is checked
//! on the host: an infallible allocation past the budget aborts the test binary with
//! `memory allocation of N bytes failed`, exactly the kernel's panic.
//!
//! The budget and the counter belong to the calling thread (libtest runs tests on
//! several threads), and only allocations count: frees always succeed.

extern crate std;

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use std::alloc::System;

std::thread_local! {
    /// Bytes this thread may still allocate; `None` is unlimited.
    static BUDGET: Cell<Option<usize>> = const { Cell::new(None) };
    /// Allocations this thread made while counting.
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, refusing what the thread's budget does not cover.
struct BudgetedSystem;

// SAFETY: every request is forwarded unchanged to the system allocator, or refused
// with a null pointer, which GlobalAlloc allows; frees are always forwarded.
unsafe impl GlobalAlloc for BudgetedSystem {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !take(layout.size()) {
            return core::ptr::null_mut();
        }
        // SAFETY: the caller's layout is passed on as GlobalAlloc::alloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !take(layout.size()) {
            return core::ptr::null_mut();
        }
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !take(new_size) {
            return core::ptr::null_mut();
        }
        // SAFETY: `ptr` and `layout` come from this allocator (the caller's contract).
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by the system allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: BudgetedSystem = BudgetedSystem;

/// Counts one allocation of `size` bytes and says whether the budget allows it.
fn take(size: usize) -> bool {
    // `try_with`: during thread teardown the cells may be gone; allow everything then.
    let _ = COUNT.try_with(|count| count.set(count.get() + 1));
    BUDGET
        .try_with(|budget| match budget.get() {
            None => true,
            Some(left) if left >= size => {
                budget.set(Some(left - size));
                true
            }
            Some(_) => false,
        })
        .unwrap_or(true)
}

/// Runs `f` with at most `bytes` bytes of new allocations allowed on this thread.
pub fn with_heap_budget<R>(bytes: usize, f: impl FnOnce() -> R) -> R {
    let previous = BUDGET.with(|budget| budget.replace(Some(bytes)));
    let result = f();
    BUDGET.with(|budget| budget.set(previous));
    result
}

/// Runs `f` and returns how many allocations it made on this thread.
pub fn allocations_during(f: impl FnOnce()) -> usize {
    let before = COUNT.with(Cell::get);
    f();
    COUNT.with(Cell::get) - before
}
