//! The kernel proper: the boot sequence, tasks and the scheduler, the object layer,
//! syscall handlers, page faults, interrupts, panics and shutdown. It sits on the pure
//! core and reaches the hardware only through `arch` and `drivers`.
//!
//! State is split by lock (docs/ARCHITECTURE.md has the full table and order):
//! - the VM state [`Kernel`] behind [`KERNEL`] (frames, the kernel's tables, every VMO,
//!   every address space): the innermost lock but the scheduler's and the console's;
//! - each process's handle table and task state, each job's, each thread's;
//! - each object's signals and observers;
//! - the scheduler's run and deadline queues ([`sched`]);
//! - per-CPU data ([`cpu`]).

pub mod aspace;
pub mod boot;
pub mod cpu;
pub mod exceptions;
pub mod fault;
pub mod futex;
pub mod ipc;
pub mod irq;
pub mod kstack;
pub mod memory;
pub mod object;
pub mod panic;
pub mod sched;
pub mod selftest;
pub mod shutdown;
pub mod sync;
#[deny(unsafe_code)]
pub mod syscalls;
pub mod task;
pub mod testing;
pub mod userboot;
pub mod vm_object;

use crate::mm::PhysAddr;
use crate::mm::frame::FrameAllocator;
use crate::mm::layout::MmioWindows;
use crate::mm::page_table::PageTable;
use crate::platform::Machine;
use crate::vm::vmo::VmoStore;
use sync::{Lock, LockGuard, class};

/// The memory-management state, behind the VM lock: physical frames, the kernel's
/// tables, every VMO and every address space. Kernel code runs with interrupts masked
/// and takes this lock for short, bounded steps; it never blocks holding it.
pub struct Kernel {
    /// Every free physical page.
    pub frames: FrameAllocator,
    /// The kernel half's translation tables (TTBR1).
    pub kernel_table: PageTable,
    /// Pages of the kernel half's tables allocated after boot (kernel stacks).
    pub kernel_table_pages: u64,
    /// Virtual space for device registers.
    pub mmio: MmioWindows,
    /// Every VMO.
    pub vmos: VmoStore,
    /// Every process's address space, by id (ids are never reused; O(1) lookup).
    pub aspaces: crate::vm::id_table::IdTable<aspace::AddressSpace>,
    /// Slots of the kernel-stack area.
    pub stack_slots: kstack::StackSlots,
    /// A page of zeros, mapped read-only for reads of uncommitted VMO pages.
    pub zero_page: PhysAddr,
    /// Pages of user page tables in use (KMEM_STATS mmu_overhead_bytes).
    pub user_table_pages: u64,
    /// Bytes of the kernel heap (KMEM_STATS total_heap_bytes).
    pub heap_bytes: u64,
    /// VMO objects kept for reuse.
    pub vmo_objects: vm_object::VmoObjectSlab,
    /// Boot filled the state in (false only in [`Kernel::UNBOOTED`]).
    pub booted: bool,
}

/// The VM state, set up once by `boot`.
impl Kernel {
    /// The state before boot fills it in ([`boot`]): no memory, no kernel table (a root
    /// at physical 0), no VMO, no address space, not `booted`, which [`with_kernel`]
    /// refuses.
    const UNBOOTED: Kernel = Kernel {
        frames: FrameAllocator::new(),
        kernel_table: PageTable::unset(),
        kernel_table_pages: 0,
        mmio: MmioWindows::new(),
        vmos: VmoStore::new(),
        aspaces: crate::vm::id_table::IdTable::new(),
        stack_slots: kstack::StackSlots::new(),
        zero_page: PhysAddr(0),
        user_table_pages: 0,
        heap_bytes: 0,
        vmo_objects: vm_object::VmoObjectSlab::new(),
        booted: false,
    };
}

/// The VM state, a [`Kernel`] from the start (not an `Option`: an `Option`'s test in
/// every VM-locked section cost a load of its tag and a compare against a 64-bit
/// constant; [`Kernel::booted`] is a byte load and a branch).
pub static KERNEL: Lock<Kernel> = Lock::new(&class::VM, Kernel::UNBOOTED);

/// What the device tree told us, set once at boot.
pub static MACHINE: spin::Once<Machine> = spin::Once::new();

/// The machine description (boot sets it before anything else runs).
pub fn machine() -> &'static Machine {
    match MACHINE.get() {
        Some(m) => m,
        None => panic!("the machine description used before boot read it"),
    }
}

/// Runs `f` with the VM state locked. Panics (a kernel bug) if called before boot made
/// it, or when this CPU already holds the lock (a re-entry would deadlock).
#[track_caller]
pub fn with_kernel<R>(f: impl FnOnce(&mut Kernel) -> R) -> R {
    run_locked(KERNEL.lock(), aspace::vm_check_enabled(), f)
}

/// [`with_kernel`] for a call that has read the order-check flag once for its whole
/// call and passes it as `CHECKED` ([`sync::with_order_check`](crate::kernel::sync::with_order_check)):
/// with `CHECKED` false the VM lock is taken and released with no flag test
/// ([`Lock::lock_checked`]) and the `vmcheck` flag is not tested either. Sound because
/// `vmcheck` is on only together with `lockcheck` (boot turns the order check on with
/// it, `boot::start`), both are set only at boot before the first user thread runs and
/// never cleared: the order check off means the audit off.
#[track_caller]
#[inline(always)]
pub fn with_kernel_checked<const CHECKED: bool, R>(f: impl FnOnce(&mut Kernel) -> R) -> R {
    // No `booted` test (3 instructions on the hottest VMO calls): only syscalls call
    // this, and the VMO ends of objects they made (`VmoObject::on_zero_handles`); a
    // syscall needs a user thread and a VMO needs frames, and boot makes neither before
    // it has filled the state in.
    run_audited(KERNEL.lock_checked::<CHECKED>(), CHECKED && aspace::vm_check_enabled(), f)
}

/// The VM-locked section of [`with_kernel`]: the `booted` test, then [`run_audited`].
#[track_caller]
#[inline(always)]
fn run_locked<R>(guard: LockGuard<'_, Kernel>, audit: bool, f: impl FnOnce(&mut Kernel) -> R) -> R {
    if !guard.booted {
        panic!("kernel state used before boot set it up");
    }
    run_audited(guard, audit, f)
}

/// `f` on the kernel state held by `guard`, then the `vmcheck` audit when `audit`.
#[track_caller]
#[inline(always)]
fn run_audited<R>(mut guard: LockGuard<'_, Kernel>, audit: bool, f: impl FnOnce(&mut Kernel) -> R) -> R {
    let kernel = &mut *guard;
    let result = f(kernel);
    if audit {
        aspace::audit_leaves(kernel, core::panic::Location::caller());
    }
    result
}
