//! Kernel locks: spinlocks that know their place in the lock order, and a watchdog.
//!
//! Every kernel lock belongs to a [`LockClass`] with a rank; a CPU may take a lock only
//! when every lock it already holds has a lower rank. With the check on (the command-line
//! word `lockcheck`, which the test runners pass), each acquisition compares the class's
//! rank with the ranks this CPU holds and panics, naming both locks, the first time an
//! order that could deadlock is taken, rather than the day two CPUs race. Off, it costs
//! one `nop` per acquisition: the test is a site boot patches once ([`order_check`]).
//!
//! Kernel code runs with interrupts masked, so a spinlock is never taken by an interrupt
//! handler on a CPU that already holds it: no lock needs to mask interrupts itself.
//!
//! The watchdog has two halves: a CPU that has spun on one lock for [`STUCK_SECONDS`]
//! reports the lock and its own backtrace and panics; and on each timer interrupt a CPU
//! looks at the next CPU's timer-interrupt count, reporting (and panicking) when it has
//! not moved for [`STUCK_SECONDS`] (interrupts masked that long: a stuck kernel path).

use crate::arch::aarch64::percpu::{MAX_CPUS, cpu_index};
use crate::arch::aarch64::timer;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Seconds without progress after which the watchdog reports a CPU.
pub const STUCK_SECONDS: u64 = 10;

/// A lock's class: its name and its rank in the lock order (lower ranks are taken first).
pub struct LockClass {
    /// Shown in reports.
    pub name: &'static str,
    /// Position in the order, below 64.
    pub rank: u8,
}

/// The kernel's lock classes, in the order they may be taken (docs/ARCHITECTURE.md
/// section 15 explains what each protects).
pub mod class {
    use super::LockClass;
    /// A job's children, processes and life.
    pub static JOB: LockClass = LockClass { name: "job state", rank: 4 };
    /// A process's handle table.
    pub static HANDLES: LockClass = LockClass { name: "process handle table", rank: 8 };
    /// A process's life, threads and return code.
    pub static PROCESS: LockClass = LockClass { name: "process state", rank: 10 };
    /// The futex queues.
    pub static FUTEX: LockClass = LockClass { name: "futex table", rank: 14 };
    /// A channel pair: queues and pending calls of both ends.
    pub static CHANNEL: LockClass = LockClass { name: "channel pair", rank: 12 };
    /// A timer's arming.
    pub static TIMER: LockClass = LockClass { name: "timer state", rank: 13 };
    /// A thread's life and its kernel stack.
    pub static THREAD_LIFE: LockClass = LockClass { name: "thread life", rank: 18 };
    /// An object's name.
    pub static NAME: LockClass = LockClass { name: "object name", rank: 22 };
    /// An object's signals and observers.
    pub static SIGNALS: LockClass = LockClass { name: "object signals", rank: 26 };
    /// A port's packets, registrations and waiters.
    pub static PORT: LockClass = LockClass { name: "port", rank: 28 };
    /// The console input ring and its readers.
    pub static CONSOLE_INPUT: LockClass = LockClass { name: "console input", rank: 30 };
    /// The VM state: frames, kernel tables, VMOs, address spaces.
    pub static VM: LockClass = LockClass { name: "VM state", rank: 32 };
    /// Freed kernel stacks kept mapped (`kernel::kstack`).
    pub static KSTACK_CACHE: LockClass = LockClass { name: "kernel stack cache", rank: 34 };
    /// The ASID allocator.
    pub static ASIDS: LockClass = LockClass { name: "ASID allocator", rank: 38 };
    /// Run queues, deadline queues.
    pub static SCHED: LockClass = LockClass { name: "scheduler", rank: 44 };
    /// Leaf locks of other objects (an eventpair's peer link).
    pub static LEAF: LockClass = LockClass { name: "leaf", rank: 50 };

    /// Every class above, by rank: the names the watchdog reports held locks with (a
    /// class missing here is shown as `?`).
    pub static ALL: &[&LockClass] = &[
        &JOB,
        &HANDLES,
        &PROCESS,
        &CHANNEL,
        &TIMER,
        &FUTEX,
        &THREAD_LIFE,
        &NAME,
        &SIGNALS,
        &PORT,
        &CONSOLE_INPUT,
        &VM,
        &KSTACK_CACHE,
        &ASIDS,
        &SCHED,
        &LEAF,
    ];

    // `ALL` is in rank order with no rank twice (so a rank names one class).
    const _: () = {
        let mut i = 1;
        while i < ALL.len() {
            assert!(ALL[i - 1].rank < ALL[i].rank, "class::ALL must list the classes by rising rank");
            i += 1;
        }
    };
}

/// The locks CPU `.0` holds, by class name, for the watchdog's reports: known only with
/// `lockcheck` on (the order check keeps the per-CPU record).
struct Held(usize);

impl core::fmt::Display for Held {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if !checks_enabled() {
            return f.write_str("known only with `lockcheck`");
        }
        HeldLocks(HELD[self.0 % MAX_CPUS].load(Ordering::Relaxed)).fmt(f)
    }
}

/// For a CPU that waited too long for a lock of class `.0`: the other CPUs that hold a
/// lock of that class, and all each of them holds (known only with `lockcheck` on).
struct Holders(&'static LockClass);

impl core::fmt::Display for Holders {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if !checks_enabled() {
            return f.write_str("the holders are known only with `lockcheck`");
        }
        let bit = 1u64 << (self.0.rank & 63);
        let mut any = false;
        for cpu in (0..super::cpu::online_count().min(MAX_CPUS)).filter(|&cpu| cpu != cpu_index()) {
            let held = HELD[cpu].load(Ordering::Relaxed);
            if held & bit != 0 {
                write!(f, "{}cpu {cpu} holds {}", if any { "; " } else { "" }, HeldLocks(held))?;
                any = true;
            }
        }
        if !any {
            f.write_str("no other CPU holds it now")?;
        }
        Ok(())
    }
}

/// A set of held lock ranks, shown as the classes' names ("none" when empty).
struct HeldLocks(u64);

impl core::fmt::Display for HeldLocks {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        let mut first = true;
        for rank in (0..64).filter(|rank| self.0 & (1 << rank) != 0) {
            let name = class::ALL.iter().find(|c| u32::from(c.rank) == rank).map_or("?", |c| c.name);
            write!(f, "{}`{name}`", if first { "" } else { ", " })?;
            first = false;
        }
        Ok(())
    }
}

static CHECK_ORDER: AtomicBool = AtomicBool::new(false);
/// Bit `rank` set while this CPU holds a lock of that rank.
static HELD: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Turns the lock-order check on (the `lockcheck` command-line word). Boot only, before
/// it patches the hot sites that stand for the flag ([`order_check`]).
pub(crate) fn enable_order_check() {
    CHECK_ORDER.store(true, Ordering::Release);
}

/// Whether `lockcheck` is on: the lock-order check, and the scheduler's check of its
/// idle-flag protocol before a CPU sleeps (`sched::sleep_until_interrupt`). For cold
/// code; hot paths ask [`order_check`].
pub fn checks_enabled() -> bool {
    CHECK_ORDER.load(Ordering::Relaxed)
}

/// [`checks_enabled`] for hot paths: a site boot patched once (`static_key`), one `nop`
/// with the check off (a `b` with it on), where the flag's load and test took three
/// instructions. Agrees with [`checks_enabled`] from the patching on, which boot does
/// right after reading the command line, before any other CPU or user thread runs; a
/// lock taken earlier is taken unchecked, and its guard clears nothing on release.
#[inline(always)]
pub fn order_check() -> bool {
    crate::arch::aarch64::static_key::order_check_enabled()
}

/// [`order_check`] as a patched `movz` of 0 or 1 and a test (two instructions, no
/// branch site): for [`with_order_check`], whose checked call needs the call's
/// arguments (see `static_key::order_check_value`).
#[inline(always)]
pub fn order_check_value() -> bool {
    crate::arch::aarch64::static_key::order_check_value()
}

/// Runs `$call` (a path to a function with a `const CHECKED: bool` parameter, then its
/// arguments) with `CHECKED` set to whether the lock-order check is on: the flag is read
/// once for the call instead of once per lock the call takes ([`Lock::lock_checked`]).
///
/// Sound because the flag is set only at boot, from the command line, before the first
/// user thread runs (`enable_order_check`, then the patching of [`order_check`]'s
/// sites), and never cleared: a syscall sees the same value at its start as each
/// [`Lock::lock`] inside it would.
///
/// The checked copy runs out of line ([`out_of_line`]), so that the registers it needs
/// (the call's arguments kept across `check_order`) do not enlarge the frame of the
/// unchecked copy, the one a kernel without `lockcheck` runs.
macro_rules! with_order_check {
    ($($f:ident)::+ ($($arg:expr),* $(,)?)) => {
        if $crate::kernel::sync::order_check_value() {
            $crate::kernel::sync::out_of_line(move || $($f)::+::<true>($($arg),*))
        } else {
            $($f)::+::<false>($($arg),*)
        }
    };
}
pub(crate) use with_order_check;

/// Runs `f`, never inlined into the caller: for a rare path whose registers should not
/// weigh on the caller's common one ([`with_order_check`]).
#[cold]
#[inline(never)]
pub fn out_of_line<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// A spinlock of a [`LockClass`].
pub struct Lock<T> {
    class: &'static LockClass,
    inner: spin::Mutex<T>,
}

/// The holder of a [`Lock`].
pub struct LockGuard<'a, T> {
    guard: spin::MutexGuard<'a, T>,
    /// The rank bit this acquisition set (0: the check was off).
    bit: u64,
}

impl<T> Lock<T> {
    /// A lock of `class` around `value`.
    pub const fn new(class: &'static LockClass, value: T) -> Self {
        Lock { class, inner: spin::Mutex::new(value) }
    }

    /// The value, through an exclusive reference to the lock (no one else can hold it).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// Takes the lock, spinning; checks the order when the check is on. Always inlined:
    /// uncontended, it is a patched `nop` ([`order_check`]) and an exclusive load and
    /// store.
    #[inline(always)]
    pub fn lock(&self) -> LockGuard<'_, T> {
        let bit = if order_check() { self.check_order() } else { 0 };
        self.acquire(bit)
    }

    /// [`Lock::lock`] for a caller that has read the order-check flag already, once for
    /// its whole call, and passes it as the constant `CHECKED` (see
    /// [`with_order_check`]). With `CHECKED` false the guard's rank bit is the constant
    /// 0, so the acquisition has no flag test and the release no test of the bit: the
    /// lock and unlock are the exclusive load and store and the release store alone.
    #[inline(always)]
    pub fn lock_checked<const CHECKED: bool>(&self) -> LockGuard<'_, T> {
        let bit = if CHECKED { self.check_order() } else { 0 };
        self.acquire(bit)
    }

    /// [`Lock::lock_checked`] without waiting: `None`, with nothing changed, when the
    /// lock is held (by another CPU: a CPU never takes a lock it holds). For a fast path
    /// that gives up to its general path rather than wait, so that it makes no call it
    /// would have to keep registers across.
    #[inline(always)]
    pub fn try_lock_checked<const CHECKED: bool>(&self) -> Option<LockGuard<'_, T>> {
        let bit = if CHECKED { self.check_order() } else { 0 };
        match self.inner.try_lock() {
            Some(guard) => Some(LockGuard { guard, bit }),
            None => {
                if CHECKED {
                    HELD[cpu_index()].fetch_and(!bit, Ordering::Relaxed);
                }
                None
            }
        }
    }

    /// Takes the spinlock for a guard that clears `bit` from this CPU's held ranks on
    /// release (0: nothing to clear).
    #[inline(always)]
    fn acquire(&self, bit: u64) -> LockGuard<'_, T> {
        let guard = match self.inner.try_lock() {
            Some(guard) => guard,
            None => self.spin(),
        };
        LockGuard { guard, bit }
    }

    #[cold]
    fn check_order(&self) -> u64 {
        let held = HELD[cpu_index()].load(Ordering::Relaxed);
        let bit = 1u64 << (self.class.rank & 63);
        if held >= bit {
            let highest = 63 - held.leading_zeros();
            panic!(
                "lock order: taking `{}` (rank {}) while holding a lock of rank {} (ranks held: {held:#x})",
                self.class.name, self.class.rank, highest
            );
        }
        HELD[cpu_index()].store(held | bit, Ordering::Relaxed);
        bit
    }

    #[cold]
    fn spin(&self) -> spin::MutexGuard<'_, T> {
        let mut since = 0u64;
        let mut spins = 0u32;
        loop {
            // The holder runs on another CPU: let it (under QEMU's round-robin vCPUs the
            // hint is what makes it run at all; see `spin_wait_hint`).
            crate::arch::aarch64::cpu::spin_wait_hint();
            if let Some(guard) = self.inner.try_lock() {
                return guard;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(4096) {
                let now = timer::ticks();
                if since == 0 {
                    since = now;
                } else if now.saturating_sub(since) > STUCK_SECONDS * timer::frequency() {
                    panic!(
                        "watchdog: cpu {} has waited {STUCK_SECONDS} s for the lock `{}` (held: {})",
                        cpu_index(),
                        self.class.name,
                        Holders(self.class)
                    );
                }
            }
        }
    }
}

impl<T> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        if self.bit != 0 {
            HELD[cpu_index()].fetch_and(!self.bit, Ordering::Relaxed);
        }
    }
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// Per-CPU timer-interrupt counts the watchdog last saw, and when.
static SEEN: [(AtomicU64, AtomicU64); MAX_CPUS] = [const { (AtomicU64::new(0), AtomicU64::new(0)) }; MAX_CPUS];

/// Called on each timer interrupt: this CPU watches the next online CPU, and reports it
/// (with a panic, so the test runner sees it) when its timer-interrupt count has not
/// moved for [`STUCK_SECONDS`].
pub fn watchdog_tick() {
    let online = super::cpu::online_count();
    if online < 2 {
        return;
    }
    let me = cpu_index();
    let watched = (me + 1) % online;
    let count = super::cpu::get(watched).timer_irqs.load(Ordering::Relaxed);
    let now = timer::ticks();
    let (seen_count, seen_at) = &SEEN[me];
    if seen_count.load(Ordering::Relaxed) != count || seen_at.load(Ordering::Relaxed) == 0 {
        seen_count.store(count, Ordering::Relaxed);
        seen_at.store(now, Ordering::Relaxed);
    } else if now.saturating_sub(seen_at.load(Ordering::Relaxed)) > STUCK_SECONDS * timer::frequency() {
        // The stuck CPU cannot be interrupted for its own backtrace (interrupts masked);
        // the locks it holds say where it is stuck.
        panic!(
            "watchdog: cpu {watched} has taken no timer interrupt for {STUCK_SECONDS} s (interrupts masked: a stuck kernel path; it holds: {})",
            Held(watched)
        );
    }
}
