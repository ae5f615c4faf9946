//! Per-CPU data: each CPU's idle context, the thread it runs, its reaper slot and its
//! flags. This CPU's block is found through `TPIDR_EL1` (`arch::aarch64::percpu`).
//!
//! The thread a CPU runs is in its `running` cell, which owns one reference count of it
//! and which only that CPU writes (at a switch) and reads, with one load and no
//! reference count (`current_running`): every syscall reads it. No other CPU reads it
//! (kills and `ZX_INFO_THREAD` look at the thread's own state).

use super::task::Thread;
use crate::arch::aarch64::context::Context;
use crate::arch::aarch64::percpu::{MAX_CPUS, Running, RunningCell};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use spin::Mutex;

/// One CPU's kernel state.
///
/// Aligned (so sized) to 1 KiB, a power of two: `this()` then finds a CPU's record with
/// a shift of its index instead of a multiply by the size (one instruction fewer on
/// every syscall's path to the current thread, and in every scheduler look).
#[repr(align(1024))]
pub struct CpuLocal {
    /// The context of this CPU's idle loop (its boot path).
    pub idle: Context,
    /// The thread this CPU runs (it owns one reference count of it), for this CPU's own
    /// lock-free reads.
    running: RunningCell<Thread>,
    /// A thread that ended on this CPU, freed by the next context that runs here.
    pub(super) reap: Mutex<Option<Arc<Thread>>>,
    /// True while `reap` holds a thread (so the switch path can skip its lock).
    pub(super) reap_pending: AtomicBool,
    /// Set by an IPI or the timer: reschedule before returning to EL0.
    pub need_resched: AtomicBool,
    /// The current thread must end before it returns to EL0 (killed while blocked).
    pub exit_pending: AtomicBool,
    /// The address space of the current thread (0: none), for user copies.
    pub current_aspace: AtomicU64,
    /// True once the CPU runs its scheduler.
    pub online: AtomicBool,
    /// The start-up handshake of a secondary CPU ([`claim_online`], [`give_up_on`]):
    /// whichever of the CPU and the boot CPU moves it from `START_PENDING` first decides
    /// whether the CPU joins.
    start: AtomicU8,
    /// The CPU's MPIDR affinity.
    pub mpidr: AtomicU64,
    /// How the GIC addresses this CPU for an SGI (GICv2 target bit, GICv3 MPIDR).
    pub gic_target: AtomicU64,
    /// The counter value this CPU's timer is armed for (`sched::arm_timer_at`), 0 before
    /// the scheduler first arms it.
    pub timer_at: AtomicU64,
    /// Timer interrupts this CPU has taken.
    pub timer_irqs: AtomicU64,
    /// Reschedule SGIs this CPU has taken.
    pub reschedule_irqs: AtomicU64,
    /// This CPU's share of KMEM_STATS' `ipc_bytes` (`kernel::ipc::account`): the bytes
    /// queued on this CPU minus those taken on it, wrapping (so one CPU's share may be
    /// "negative"); only this CPU writes it.
    pub ipc_bytes: AtomicU64,
    /// The lean syscall this CPU runs, plus one (0: none), marked only with the
    /// lock-order check on (`kernel::syscalls::LeanCallMark`).
    pub lean_call: AtomicU64,
}

impl CpuLocal {
    const fn new() -> Self {
        CpuLocal {
            idle: Context::new(),
            running: RunningCell::new(),
            reap: Mutex::new(None),
            reap_pending: AtomicBool::new(false),
            need_resched: AtomicBool::new(false),
            exit_pending: AtomicBool::new(false),
            current_aspace: AtomicU64::new(0),
            online: AtomicBool::new(false),
            start: AtomicU8::new(START_PENDING),
            mpidr: AtomicU64::new(0),
            gic_target: AtomicU64::new(0),
            timer_at: AtomicU64::new(0),
            timer_irqs: AtomicU64::new(0),
            reschedule_irqs: AtomicU64::new(0),
            ipc_bytes: AtomicU64::new(0),
            lean_call: AtomicU64::new(0),
        }
    }

    /// The thread this CPU runs (None: its idle loop), counted; only for this CPU's own
    /// data (`this()`), as [`CpuLocal::running`].
    pub fn current(&self) -> Option<Arc<Thread>> {
        self.running().map(|t| Arc::clone(&t))
    }

    /// Installs the thread this CPU runs next and gives back the reference of the one it
    /// ran. Only this CPU calls this (at a switch).
    pub(super) fn set_current(&self, thread: Option<Arc<Thread>>) -> Option<Arc<Thread>> {
        self.running.replace(thread)
    }

    /// The thread this CPU runs, borrowed without a lock or a count; only for this
    /// CPU's own data (`this()`), see [`current_running`].
    #[inline(always)]
    pub fn running(&self) -> Option<Running<Thread>> {
        self.running.running()
    }
}

const _: () = assert!(core::mem::size_of::<CpuLocal>() == 1024, "CpuLocal outgrew its 1 KiB stride");

/// Every CPU's block, aligned to the size of the whole array (8 KiB), so that bits 10..13
/// of a block's address are its CPU's index: `TPIDR_EL1` holds that address alone and
/// gives both (`arch::aarch64::percpu`).
#[repr(C, align(8192))]
struct CpuArray([CpuLocal; MAX_CPUS]);
const _: () = assert!(core::mem::align_of::<CpuArray>() == MAX_CPUS * core::mem::size_of::<CpuLocal>());

static CPUS: CpuArray = CpuArray([const { CpuLocal::new() }; MAX_CPUS]);
static ONLINE: AtomicUsize = AtomicUsize::new(1);

/// This CPU's data (its address is kept in `TPIDR_EL1`: see `percpu::this_cpu`).
#[inline(always)]
pub fn this() -> &'static CpuLocal {
    crate::arch::aarch64::percpu::this_cpu()
}

/// CPU `index`'s data.
pub fn get(index: usize) -> &'static CpuLocal {
    &CPUS.0[index % MAX_CPUS]
}

/// CPUs online (`zx_system_get_num_cpus`).
pub fn online_count() -> usize {
    ONLINE.load(Ordering::Acquire)
}

/// [`CpuLocal::start`]: the CPU was started and neither side has decided yet.
const START_PENDING: u8 = 0;
/// The CPU came up in time and runs its scheduler.
const START_JOINED: u8 = 1;
/// The boot CPU stopped waiting: the CPU must never run anything.
const START_ABANDONED: u8 = 2;

/// Records that CPU `index` came up (CPU 0 counts from the start). A secondary CPU
/// calls [`claim_online`] instead.
pub fn mark_online(index: usize) {
    get(index).online.store(true, Ordering::Release);
    if index != 0 {
        ONLINE.fetch_add(1, Ordering::AcqRel);
    }
}

/// A secondary CPU, at the end of its start-up: joins (true, and it is online) unless the
/// boot CPU already gave up on it (false: it must park and never run anything, since
/// the boot CPU started no CPU after it and counts it out).
pub fn claim_online(index: usize) -> bool {
    let joined =
        get(index).start.compare_exchange(START_PENDING, START_JOINED, Ordering::AcqRel, Ordering::Acquire).is_ok();
    if joined {
        mark_online(index);
    }
    joined
}

/// The boot CPU, when CPU `index` did not come up in time: true when it is now left out
/// for good (its [`claim_online`] will fail), false when it joined meanwhile.
pub fn give_up_on(index: usize) -> bool {
    get(index).start.compare_exchange(START_PENDING, START_ABANDONED, Ordering::AcqRel, Ordering::Acquire).is_ok()
}

/// The running thread, if any.
pub fn current_thread() -> Option<Arc<Thread>> {
    this().current()
}

/// The running thread, borrowed: one load from this CPU's data, no lock and no
/// reference count. Sound on SMP: only this CPU changes its `running` cell, at a context
/// switch, and kernel code runs with interrupts masked, so the load sees the thread
/// running this code; that thread's object stays alive while the thread can run (its
/// CPU's cell, then the run queue, wait node or reaper slot hold it), so the borrow
/// stays valid for the rest of the syscall even if the thread blocks and resumes on
/// another CPU (see `arch::aarch64::percpu::Running`).
#[inline(always)]
pub fn current_running() -> Option<Running<Thread>> {
    this().running()
}
