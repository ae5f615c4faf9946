//! The kernel proper: its global state, the boot sequence, the user process, syscall
//! handlers, page faults, interrupts, panics and shutdown. It sits on the pure core and
//! reaches the hardware only through `arch` and `drivers`.

pub mod boot;
pub mod fault;
pub mod irq;
pub mod memory;
pub mod panic;
pub mod process;
pub mod selftest;
pub mod shutdown;
#[deny(unsafe_code)]
pub mod syscalls;
pub mod testing;

use crate::mm::PhysAddr;
use crate::mm::frame::FrameAllocator;
use crate::mm::layout::MmioWindows;
use crate::mm::page_table::PageTable;
use crate::platform::Machine;
use crate::vm::vmo::VmoStore;
use process::Process;
use spin::Mutex;

/// Everything the kernel owns, behind one lock. One CPU runs the kernel at a time and
/// kernel code runs with interrupts masked, so the lock is never contended; it exists
/// so that every access is visibly exclusive.
pub struct Kernel {
    /// What the device tree told us.
    pub machine: Machine,
    /// Every free physical page.
    pub frames: FrameAllocator,
    /// The kernel half's translation tables (TTBR1).
    pub kernel_table: PageTable,
    /// Virtual space for device registers.
    pub mmio: MmioWindows,
    /// Every VMO.
    pub vmos: VmoStore,
    /// The user process, once userboot has made it.
    pub process: Option<Process>,
    /// A page of zeros, mapped read-only for reads of uncommitted VMO pages.
    pub zero_page: PhysAddr,
    /// Koid of the root resource.
    pub root_resource_koid: u64,
    /// Pages of user page tables in use (KMEM_STATS mmu_overhead_bytes).
    pub user_table_pages: u64,
    /// Bytes of the kernel heap (KMEM_STATS total_heap_bytes).
    pub heap_bytes: u64,
    next_koid: u64,
}

impl Kernel {
    /// A fresh kernel object id (koids are never reused; 0 means "none").
    pub fn new_koid(&mut self) -> u64 {
        self.next_koid += 1;
        self.next_koid
    }
}

/// The kernel's state, set up once by `boot`.
pub static KERNEL: Mutex<Option<Kernel>> = Mutex::new(None);

/// Runs `f` with the kernel state. Panics (a kernel bug) if called before boot made it.
pub fn with_kernel<R>(f: impl FnOnce(&mut Kernel) -> R) -> R {
    let mut guard = KERNEL.lock();
    match guard.as_mut() {
        Some(kernel) => f(kernel),
        None => panic!("kernel state used before boot set it up"),
    }
}
