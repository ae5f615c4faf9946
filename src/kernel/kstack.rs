//! Kernel stacks: one per thread, 64 KiB, each in the upper half of its own 128 KiB
//! slot of the kernel-stack area; the lower half stays unmapped and is the guard. So an
//! address inside any stack has bit 16 set and one just below it has it clear, which
//! is what the EL1 vector tests to detect an overflow (vectors.S) without knowing whose
//! stack it is.
//!
//! The pages come from the frame allocator and are mapped in the kernel's tables; a
//! stack is freed only after its thread has ended and its CPU has switched away from it
//! (`sched::finish_switch`). A [`KernelStack`] is only its slot number (4 bytes, moved
//! into and out of its thread for nothing): the slot's kernel page table entries are
//! the record of which frames it holds, and unmapping a page gives its frame back.
//! Up to [`CACHED_STACKS`] freed stacks stay mapped, slot and
//! pages, in a cache that the next new threads take them from: mapping 16 fresh pages
//! and unmapping them again (a TLB invalidation per page) was about 5,000 instructions
//! of a thread's create-to-exit. A cached stack is no longer any thread's (its thread
//! ended and no CPU runs on it any more), it is only ever used by the kernel, and a new
//! thread's context is built from scratch on it (`Context::prepare_entry`), so the
//! stale bytes in it are never read. Further stacks are unmapped on every CPU and their
//! pages returned, as before. The cache has its own lock (rank 34, after the VM lock,
//! never nested with it), so a warm thread creation does not take the VM lock.

use super::sync::{Lock, class};
use super::{Kernel, with_kernel};
use crate::abi::PAGE_SIZE;
use crate::arch::aarch64::mmu::{self, KernelTableMemory};
use crate::arch::aarch64::{KERNEL_STACK_BIT, KERNEL_STACK_BYTES};
use crate::error::{ZxError, ZxResult};
use crate::mm::VirtAddr;
use crate::mm::page_table::{MemoryType, PageAttrs};
use alloc::vec::Vec;

/// Where the kernel-stack area starts (below the MMIO windows).
pub const KSTACK_BASE: u64 = 0xFFFF_FFFC_0000_0000;
/// Bytes of one slot: the guard half and the stack half.
const SLOT_BYTES: u64 = KERNEL_STACK_BYTES * 2;
/// Slots in the area (4 GiB of address space).
const SLOTS: u32 = ((1u64 << 32) / SLOT_BYTES) as u32;
const PAGES: usize = (KERNEL_STACK_BYTES / PAGE_SIZE) as usize;
const _: () = assert!(KSTACK_BASE.is_multiple_of(SLOT_BYTES) && SLOT_BYTES == 1 << (KERNEL_STACK_BIT + 1));

/// Free and never-used slots of the kernel-stack area.
pub struct StackSlots {
    free: Vec<u32>,
    next: u32,
}

impl StackSlots {
    /// No slot in use.
    pub const fn new() -> Self {
        StackSlots { free: Vec::new(), next: 0 }
    }
}

impl Default for StackSlots {
    fn default() -> Self {
        Self::new()
    }
}

/// Freed stacks kept mapped for new threads (1 MiB of frames at most).
pub const CACHED_STACKS: usize = 16;

/// Mapped stacks no thread owns: the slots `slots[..len]`, each with its 16 pages
/// mapped.
struct StackCache {
    slots: [u32; CACHED_STACKS],
    len: usize,
}

static CACHE: Lock<StackCache> = Lock::new(&class::KSTACK_CACHE, StackCache { slots: [0; CACHED_STACKS], len: 0 });

/// A mapped kernel stack: the slot whose upper half is mapped to [`PAGES`] frames of
/// its own (the kernel page tables record which). Dropping it keeps it in the cache or
/// unmaps it and frees its pages.
pub struct KernelStack {
    slot: u32,
}

impl KernelStack {
    /// A new stack (NO_MEMORY when pages or slots run out): a cached one when there is
    /// one, else a fresh slot with fresh pages.
    pub fn new() -> ZxResult<KernelStack> {
        {
            let mut cache = CACHE.lock();
            if cache.len > 0 {
                cache.len -= 1;
                return Ok(KernelStack { slot: cache.slots[cache.len] });
            }
        }
        Self::new_mapped()
    }

    /// A fresh slot with fresh pages (out of line: the cached case above stays a short
    /// function without this path's register saves).
    #[cold]
    #[inline(never)]
    fn new_mapped() -> ZxResult<KernelStack> {
        with_kernel(|k| {
            // Room to give the slot back later without allocating.
            let in_use = k.stack_slots.next as usize + 1;
            let want = in_use.saturating_sub(k.stack_slots.free.len());
            k.stack_slots.free.try_reserve(want).map_err(|_| ZxError::NoMemory)?;
            let slot = match k.stack_slots.free.pop() {
                Some(slot) => slot,
                None if k.stack_slots.next < SLOTS => {
                    k.stack_slots.next += 1;
                    k.stack_slots.next - 1
                }
                None => return Err(ZxError::NoMemory),
            };
            let stack = KernelStack { slot };
            let mut mapped = 0;
            let result = map_pages(k, &stack, &mut mapped);
            if let Err(e) = result {
                unmap_pages(k, &stack, mapped);
                // Not dropped: that would cache the half-mapped slot.
                core::mem::forget(stack);
                k.stack_slots.free.push(slot);
                return Err(e);
            }
            Ok(stack)
        })
    }

    /// The lowest address of the stack.
    pub fn bottom(&self) -> u64 {
        KSTACK_BASE + self.slot as u64 * SLOT_BYTES + KERNEL_STACK_BYTES
    }

    /// One past the highest address: the initial stack pointer.
    pub fn top(&self) -> u64 {
        self.bottom() + KERNEL_STACK_BYTES
    }
}

fn map_pages(k: &mut Kernel, stack: &KernelStack, mapped: &mut usize) -> ZxResult {
    let attrs = PageAttrs::kernel(true, true, false, MemoryType::NormalWriteBack);
    let bottom = stack.bottom();
    for i in 0..PAGES {
        let pa = k.frames.alloc()?;
        let mut tables = KernelTableMemory { frames: &mut k.frames, table_pages: &mut k.kernel_table_pages };
        if let Err(e) = k.kernel_table.map_page(VirtAddr(bottom + i as u64 * PAGE_SIZE), pa, attrs, &mut tables) {
            k.frames.free(pa);
            return Err(e);
        }
        *mapped = i + 1;
    }
    mmu::publish_table_update();
    Ok(())
}

fn unmap_pages(k: &mut Kernel, stack: &KernelStack, mapped: usize) {
    let bottom = stack.bottom();
    for i in 0..mapped {
        let va = bottom + i as u64 * PAGE_SIZE;
        let mut tables = KernelTableMemory { frames: &mut k.frames, table_pages: &mut k.kernel_table_pages };
        let pa = k.kernel_table.unmap_page(VirtAddr(va), &mut tables);
        mmu::flush_tlb_kernel_page(va);
        // Mapped by `map_pages` and by nothing else: the entry names the stack's frame.
        k.frames.free(pa.expect("a kernel stack page is mapped"));
    }
}

/// Bytes of frames the stack cache holds (mapped stacks no thread owns).
pub fn cached_bytes() -> u64 {
    CACHE.lock().len as u64 * KERNEL_STACK_BYTES
}

impl Drop for KernelStack {
    fn drop(&mut self) {
        {
            let mut cache = CACHE.lock();
            if cache.len < CACHED_STACKS {
                let at = cache.len;
                cache.slots[at] = self.slot;
                cache.len += 1;
                return;
            }
        }
        self.unmap();
    }
}

impl KernelStack {
    /// Unmaps the stack, frees its pages and its slot (out of line, as `new_mapped`).
    #[cold]
    #[inline(never)]
    fn unmap(&self) {
        with_kernel(|k| {
            unmap_pages(k, self, PAGES);
            // Capacity was reserved when the slot was taken.
            k.stack_slots.free.push(self.slot);
        });
    }
}
