//! Which CPU is running: `TPIDR_EL1` holds the address of this CPU's block of per-CPU
//! data (`kernel::cpu::CpuLocal`, an element of the kernel's static array, which is
//! aligned to its own size so that the bits above a block's size in the address are the
//! CPU's index: 0 for the boot CPU, then 1, 2, … in the order the CPUs came up), written
//! once when the CPU starts, before any other Rust code runs on it. The block is then one
//! register read away (`this_cpu`: every syscall finds its caller, and checks for a
//! kill, through it) and the index one register read and a bit-field extract.

use crate::kernel::cpu::CpuLocal;
use aarch64_cpu::registers::*;
use alloc::sync::Arc;
use core::marker::PhantomData;
use core::sync::atomic::Ordering;

/// The most CPUs the kernel drives (ABI.md section 7 asks for at least 8): as many as
/// the device-tree reader records.
pub const MAX_CPUS: usize = crate::platform::machine::MAX_CPUS;
const _: () = assert!(MAX_CPUS.is_power_of_two());
/// Where the CPU's index starts in a block's address: blocks are a power of two in size
/// (and alignment), in an array aligned to its whole size (`kernel::cpu`).
const INDEX_SHIFT: u32 = core::mem::size_of::<CpuLocal>().trailing_zeros();
const _: () = assert!(core::mem::size_of::<CpuLocal>().is_power_of_two());

/// Records this CPU's block of per-CPU data (CPU `index`'s element of the kernel's
/// array, `kernel::cpu::get`); called once per CPU, first thing on its entry to Rust
/// (`exception::kernel_entry`, `exception::secondary_cpu_entry`).
pub fn set_cpu_index(index: usize) {
    let block: &'static CpuLocal = crate::kernel::cpu::get(index);
    let address = core::ptr::from_ref(block) as u64;
    // The array's alignment puts the index in these bits (checked once per CPU).
    assert_eq!((address >> INDEX_SHIFT) as usize & (MAX_CPUS - 1), index % MAX_CPUS, "per-CPU array misaligned");
    TPIDR_EL1.set(address);
}

/// The running CPU's index.
#[inline(always)]
pub fn cpu_index() -> usize {
    (TPIDR_EL1.get() >> INDEX_SHIFT) as usize & (MAX_CPUS - 1)
}

/// The running CPU's block of per-CPU data: one register read.
#[inline(always)]
pub fn this_cpu() -> &'static CpuLocal {
    let block = TPIDR_EL1.get() as usize;
    // SAFETY: `set_cpu_index` is the only writer of TPIDR_EL1 (context switches save and
    // restore TPIDR_EL0 only), and every CPU calls it before any other Rust code runs
    // there (the two entries from boot.S; no exception can be taken between setting
    // VBAR_EL1 and that call, with every interrupt masked). It stores the address of an
    // element of the kernel's `static` array of `CpuLocal`, which is never moved or
    // freed, and to which only shared references exist (its mutable parts are atomics
    // and locks).
    unsafe { &*(block as *const CpuLocal) }
}

/// One CPU's record of the object its running context belongs to (the kernel keeps its
/// current thread here), which that CPU reads with one load: no lock, no reference count.
///
/// The cell owns one strong count of the `Arc` installed last. Only the CPU the cell
/// belongs to calls [`RunningCell::replace`] (the scheduler, at a context switch) and
/// [`RunningCell::running`]; kernel code runs with interrupts masked, so nothing on this
/// CPU replaces the value between the load and its use.
pub struct RunningCell<T> {
    /// `Arc::into_raw` of the installed value (one strong count), or null.
    ptr: core::sync::atomic::AtomicPtr<T>,
}

impl<T> RunningCell<T> {
    /// An empty cell (the CPU runs no such object: its idle loop).
    pub const fn new() -> Self {
        RunningCell { ptr: core::sync::atomic::AtomicPtr::new(core::ptr::null_mut()) }
    }

    /// Installs `value` and gives back the previous one. Only the cell's own CPU calls
    /// it, when it switches contexts.
    pub fn replace(&self, value: Option<Arc<T>>) -> Option<Arc<T>> {
        let new = value.map_or(core::ptr::null_mut(), |v| Arc::into_raw(v).cast_mut());
        // A load and a store, not an atomic swap: only this cell's CPU writes it, with
        // interrupts masked, so nothing can write between the two.
        let old = self.ptr.load(Ordering::Relaxed);
        self.ptr.store(new, Ordering::Relaxed);
        if old.is_null() {
            return None;
        }
        // SAFETY: a non-null pointer in the cell came from `Arc::into_raw` above and
        // carries the strong count the cell owned; it is handed to the caller once.
        Some(unsafe { Arc::from_raw(old) })
    }

    /// The object this CPU runs now, borrowed (see [`Running`]); only for the cell's own
    /// CPU.
    #[inline(always)]
    pub fn running(&self) -> Option<Running<T>> {
        let ptr = self.ptr.load(Ordering::Relaxed);
        if ptr.is_null() {
            return None;
        }
        // SAFETY: the cell owns a strong count of `ptr` until its own CPU replaces it,
        // which this CPU is not doing now (it is running this code with interrupts
        // masked), so the object is alive here. `Running` never gives that count back
        // (it is `ManuallyDrop`), so making and dropping it changes no count. Why the
        // borrow may outlive a later `replace`: see `Running`.
        Some(Running { arc: core::mem::ManuallyDrop::new(unsafe { Arc::from_raw(ptr) }), _own_stack: PhantomData })
    }
}

impl<T> Default for RunningCell<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// The running context's own object (the current thread), borrowed from its CPU's
/// [`RunningCell`] without a reference count: it derefs to `&Arc<T>` (so a caller that
/// must keep the object clones it), and dropping it does nothing.
///
/// It stays valid while the context that read it runs, even across a switch that moves
/// that context to another CPU and replaces the first CPU's cell: the kernel keeps a
/// strong count of a thread for as long as the thread can still run (the cell of the CPU
/// running it, or the run queue, wait node or reaper slot that will run it again), and
/// drops the last one only after the thread switched away for good. A `Running` is
/// neither `Send` nor `Sync` and not `Clone`, so it stays on the stack of the context
/// that read it, which is exactly the context whose object it names.
pub struct Running<T> {
    arc: core::mem::ManuallyDrop<Arc<T>>,
    _own_stack: PhantomData<*const ()>,
}

impl<T> core::ops::Deref for Running<T> {
    type Target = Arc<T>;
    #[inline(always)]
    fn deref(&self) -> &Arc<T> {
        &self.arc
    }
}
