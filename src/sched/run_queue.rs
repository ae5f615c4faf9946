//! Per-CPU run queues and placement (ABI.md §7): which runnable thread a CPU runs next
//! and for how long, which CPU a thread that becomes runnable goes to, and when an idle
//! CPU takes a waiting thread from another. Generic over the thread id, so it is pure
//! policy; the kernel holds the locks, arms the timers and sends the interrupts.
//!
//! All threads have one priority. Each CPU serves its queue first in, first out; a
//! thread runs for at most one time slice ([`MAX_TIME_SLICE_NS`], 10 ms) while another
//! waits, then goes to the back of the queue: round robin. Times are nanoseconds of
//! the monotonic clock; [`slice_ticks`] converts a slice to counter ticks for the timer.

use alloc::collections::VecDeque;

use crate::{ZxError, ZxResult};

/// The longest time slice ABI.md §7 allows: 10 ms.
pub const MAX_TIME_SLICE_NS: u64 = 10_000_000;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// `slice_ns` in ticks of a counter running at `ticks_per_second` (`CNTFRQ_EL0`),
/// rounded down so that the slice is never longer than asked, and at least 1.
pub const fn slice_ticks(slice_ns: u64, ticks_per_second: u64) -> u64 {
    let ticks = slice_ns as u128 * ticks_per_second as u128 / NANOS_PER_SECOND;
    if ticks == 0 {
        1
    } else if ticks > u64::MAX as u128 {
        u64::MAX
    } else {
        ticks as u64
    }
}

/// What becomes of the thread that was running when its CPU switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Still runnable (preempted at the end of its slice, or it yielded): it goes to
    /// the back of this CPU's queue.
    Runnable,
    /// Blocked, exited or killed: the queue forgets it.
    Stopped,
}

/// What placement and balancing need to know of one CPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuLoad {
    /// No thread runs there (it waits in `wfi`, or is about to).
    pub idle: bool,
    /// Threads in its queue, the running one not counted.
    pub waiting: usize,
}

impl CpuLoad {
    /// Threads that want this CPU: the waiting ones and the running one.
    pub fn runnable(&self) -> usize {
        self.waiting.saturating_add(usize::from(!self.idle))
    }
}

/// One CPU's runnable threads: the one running and the ones waiting, in order.
#[derive(Clone, Debug)]
pub struct RunQueue<T> {
    waiting: VecDeque<T>,
    current: Option<T>,
    /// When the running thread's slice ends (meaningful while `current` is `Some`).
    slice_end: u64,
    slice: u64,
}

impl<T: Copy + Eq> RunQueue<T> {
    /// An empty queue (the CPU idle) whose threads get slices of `slice_ns`, at least
    /// 1 ns and at most [`MAX_TIME_SLICE_NS`].
    pub const fn new(slice_ns: u64) -> Self {
        let slice = if slice_ns == 0 {
            1
        } else if slice_ns > MAX_TIME_SLICE_NS {
            MAX_TIME_SLICE_NS
        } else {
            slice_ns
        };
        RunQueue { waiting: VecDeque::new(), current: None, slice_end: 0, slice }
    }

    /// The time slice, in nanoseconds.
    pub fn slice(&self) -> u64 {
        self.slice
    }

    /// The running thread, `None` when the CPU is idle.
    pub fn current(&self) -> Option<T> {
        self.current
    }

    /// True when no thread runs (threads may still wait, until the CPU switches).
    pub fn is_idle(&self) -> bool {
        self.current.is_none()
    }

    /// Threads waiting, the running one not counted.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// True when no thread waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// The waiting threads, the next to run first.
    pub fn waiting(&self) -> impl Iterator<Item = T> + '_ {
        self.waiting.iter().copied()
    }

    /// This CPU as [`place`] and [`steal_from`] see it.
    pub fn load(&self) -> CpuLoad {
        CpuLoad { idle: self.is_idle(), waiting: self.len() }
    }

    /// Makes room for `threads` waiting threads in all, so that enqueuing that many
    /// allocates nothing. The kernel sizes every CPU's queue for every thread when a
    /// thread is created, where `NO_MEMORY` can be reported; a wake-up, which must not
    /// fail, then never allocates. `Err(NoMemory)`: the heap cannot grow the queue.
    pub fn reserve_for(&mut self, threads: usize) -> ZxResult {
        let additional = threads.saturating_sub(self.waiting.len());
        self.waiting.try_reserve(additional).map_err(|_| ZxError::NoMemory)
    }

    /// Puts a runnable `thread` at the back of the queue. The caller chose this CPU
    /// with [`place`] and interrupts it if it is idle and not the caller's own.
    ///
    /// `Err(AlreadyExists)`: the thread already waits or runs here (a thread is
    /// runnable in one place only). `Err(NoMemory)`: the queue had to grow and could
    /// not (never after [`reserve_for`](Self::reserve_for) covered it).
    pub fn enqueue(&mut self, thread: T) -> ZxResult {
        if self.current == Some(thread) || self.waiting.contains(&thread) {
            return Err(ZxError::AlreadyExists);
        }
        self.waiting.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        self.waiting.push_back(thread);
        Ok(())
    }

    /// Switches the CPU at time `now`: the running thread (if any) leaves as
    /// `outgoing` says, and the thread at the front of the queue runs, with a fresh
    /// slice. A runnable outgoing thread goes behind the others, and runs on (with a
    /// fresh slice) if none waits. Returns the thread to run, `None` to idle.
    pub fn switch(&mut self, now: u64, outgoing: Outgoing) -> Option<T> {
        let previous = self.current.take();
        let next = match self.waiting.pop_front() {
            Some(next) => {
                if let (Some(previous), Outgoing::Runnable) = (previous, outgoing) {
                    // Never allocates: the pop just made room for one.
                    self.waiting.push_back(previous);
                }
                Some(next)
            }
            None if outgoing == Outgoing::Runnable => previous,
            None => None,
        };
        self.current = next;
        self.slice_end = now.saturating_add(self.slice);
        next
    }

    /// True when the timer interrupt at `now` should switch the CPU with
    /// [`Outgoing::Runnable`]: the running thread's slice is over and another thread
    /// waits.
    pub fn preempt_due(&self, now: u64) -> bool {
        self.current.is_some() && !self.waiting.is_empty() && now >= self.slice_end
    }

    /// When the CPU needs its next timer interrupt: the end of the running thread's
    /// slice while another thread waits, `None` when nothing needs preempting (the
    /// CPU idles, or its one thread may run on). Past when a thread arrives after the
    /// running one has already used up its slice alone: the interrupt is due at once.
    pub fn timer_deadline(&self) -> Option<u64> {
        (self.current.is_some() && !self.waiting.is_empty()).then_some(self.slice_end)
    }

    /// Takes the thread that has waited longest, for an idle CPU that
    /// [`steal_from`] chose this one for. The running thread is never taken.
    pub fn steal(&mut self) -> Option<T> {
        self.waiting.pop_front()
    }

    /// Takes `thread` out of the queue (it was killed, or blocked again before it
    /// ran), keeping the others in order. False when it does not wait here; the
    /// running thread leaves through [`switch`](Self::switch) instead.
    pub fn remove(&mut self, thread: T) -> bool {
        match self.waiting.iter().position(|&waiting| waiting == thread) {
            Some(index) => self.waiting.remove(index).is_some(),
            None => false,
        }
    }
}

/// Whether a CPU whose timer is armed for counter value `armed` must write it so that it
/// fires by `due`, at time `now`. Not when it is armed for a time still ahead and no
/// later than `due`: it then fires at or before `due`, and that interrupt arms it for
/// what is due then (an early interrupt costs a look; a late one would let a slice or a
/// deadline overrun, which this never allows). A timer armed in the past (fired, or
/// about to) or later than `due` is written.
pub const fn timer_write_needed(armed: u64, now: u64, due: u64) -> bool {
    !(armed > now && armed <= due)
}

/// The CPU for a thread that has just become runnable (created, woken, or its wait
/// timed out), given every online CPU's load (`loads[cpu]`), the CPU it last ran on
/// and the CPU doing the waking. In order of preference:
///
/// 1. the fewest runnable threads ([`CpuLoad::runnable`]): an idle CPU with nothing
///    queued has none, so whenever one exists the thread runs at once (ABI.md §7);
/// 2. the thread's last CPU, whose caches may still hold its data;
/// 3. the waking CPU, which needs no interrupt to notice (say, a timer that expired
///    on an idle CPU);
/// 4. the lowest CPU number.
///
/// `None` only when `loads` is empty.
pub fn place(loads: &[CpuLoad], last_cpu: Option<usize>, waking_cpu: usize) -> Option<usize> {
    place_by(loads.len(), |cpu| loads[cpu], last_cpu, waking_cpu)
}

/// [`place`] over CPUs `0..cpus` whose loads `load` reads where they are kept (the
/// kernel's run queues), so no array of them is built per decision.
pub fn place_by(
    cpus: usize,
    load: impl Fn(usize) -> CpuLoad,
    last_cpu: Option<usize>,
    waking_cpu: usize,
) -> Option<usize> {
    let preference = |cpu: usize| {
        if Some(cpu) == last_cpu {
            0
        } else if cpu == waking_cpu {
            1
        } else {
            2
        }
    };
    // The least (runnable, preference, number): a plain loop, as this runs on every
    // wake-up with the scheduler lock held.
    let mut best: Option<(usize, (usize, u8))> = None;
    for cpu in 0..cpus {
        let key = (load(cpu).runnable(), preference(cpu));
        // Strictly less: among equal keys the lowest number stays.
        if best.is_none_or(|(_, best_key)| key < best_key) {
            best = Some((cpu, key));
        }
    }
    best.map(|(cpu, _)| cpu)
}

/// For CPU `thief`, idle with nothing queued: the CPU to take a waiting thread from,
/// if any. That is the one with the most waiting threads among those with more than
/// one runnable thread and at least one waiting; ties go to the lowest number.
///
/// A busy CPU with one thread waiting counts: that thread would otherwise wait up to a
/// slice while a CPU idles. An idle CPU with one waiting does not: it is about to run
/// that thread itself. `None` when `thief` is busy, has a queue or is not in `loads`.
pub fn steal_from(loads: &[CpuLoad], thief: usize) -> Option<usize> {
    steal_from_by(loads.len(), |cpu| loads[cpu], thief)
}

/// [`steal_from`] over CPUs `0..cpus` whose loads `load` reads where they are kept.
pub fn steal_from_by(cpus: usize, load: impl Fn(usize) -> CpuLoad, thief: usize) -> Option<usize> {
    if thief >= cpus {
        return None;
    }
    let me = load(thief);
    if !me.idle || me.waiting != 0 {
        return None;
    }
    // Most waiting first; among equals the lowest number (strictly more replaces).
    let mut best: Option<(usize, usize)> = None;
    for cpu in (0..cpus).filter(|&cpu| cpu != thief) {
        let load = load(cpu);
        if load.waiting >= 1 && load.runnable() >= 2 && best.is_none_or(|(_, most)| load.waiting > most) {
            best = Some((cpu, load.waiting));
        }
    }
    best.map(|(cpu, _)| cpu)
}

#[cfg(test)]
#[path = "run_queue_tests.rs"]
mod tests;
