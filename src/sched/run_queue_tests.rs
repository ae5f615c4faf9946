//! Host tests of the run queues and placement (src/sched/run_queue.rs): FIFO order,
//! time slices and preemption, round-robin fairness, placement and stealing choices,
//! and a randomized run of many CPUs against a model that checks no thread is ever lost
//! or duplicated.
extern crate std;

use super::*;
use alloc::vec::Vec;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::vec;

const MS: u64 = 1_000_000;

fn queue() -> RunQueue<u32> {
    RunQueue::new(MAX_TIME_SLICE_NS)
}

fn idle() -> CpuLoad {
    CpuLoad { idle: true, waiting: 0 }
}

fn busy(waiting: usize) -> CpuLoad {
    CpuLoad { idle: false, waiting }
}

// ----- one queue --------------------------------------------------------------------

#[test]
fn slices_are_at_most_10_ms() {
    assert_eq!(queue().slice(), 10 * MS);
    assert_eq!(RunQueue::<u32>::new(u64::MAX).slice(), 10 * MS);
    assert_eq!(RunQueue::<u32>::new(3 * MS).slice(), 3 * MS);
    assert_eq!(RunQueue::<u32>::new(0).slice(), 1);
    // In counter ticks, rounded down (never longer than 10 ms), at least one.
    assert_eq!(slice_ticks(MAX_TIME_SLICE_NS, 62_500_000), 625_000);
    assert_eq!(slice_ticks(MAX_TIME_SLICE_NS, 54_000_000), 540_000);
    assert_eq!(slice_ticks(MAX_TIME_SLICE_NS, 1_000_000_000), 10_000_000);
    assert_eq!(slice_ticks(MAX_TIME_SLICE_NS, 19_200_001), 192_000);
    assert_eq!(slice_ticks(1, 62_500_000), 1);
    assert_eq!(slice_ticks(u64::MAX, u64::MAX), u64::MAX);
}

#[test]
fn threads_run_first_in_first_out() {
    let mut q = queue();
    assert!(q.is_idle() && q.is_empty());
    assert_eq!(q.switch(0, Outgoing::Stopped), None);
    for t in [3, 1, 2] {
        q.enqueue(t).unwrap();
    }
    assert_eq!(q.load(), CpuLoad { idle: true, waiting: 3 });
    assert_eq!(q.switch(0, Outgoing::Stopped), Some(3));
    assert_eq!(q.current(), Some(3));
    assert_eq!(q.waiting().collect::<Vec<_>>(), [1, 2]);
    // Preempted: to the back.
    assert_eq!(q.switch(1, Outgoing::Runnable), Some(1));
    assert_eq!(q.waiting().collect::<Vec<_>>(), [2, 3]);
    // Blocked: gone.
    assert_eq!(q.switch(2, Outgoing::Stopped), Some(2));
    assert_eq!(q.waiting().collect::<Vec<_>>(), [3]);
    assert_eq!(q.switch(3, Outgoing::Stopped), Some(3));
    assert_eq!(q.switch(4, Outgoing::Stopped), None);
    assert!(q.is_idle() && q.is_empty());
    assert_eq!(q.load(), idle());
}

#[test]
fn a_lone_runnable_thread_runs_on() {
    let mut q = queue();
    q.enqueue(7).unwrap();
    assert_eq!(q.switch(0, Outgoing::Stopped), Some(7));
    // Nobody waits: no preemption, no timer needed, and a yield changes nothing.
    assert!(!q.preempt_due(100 * MS));
    assert_eq!(q.timer_deadline(), None);
    assert_eq!(q.switch(100 * MS, Outgoing::Runnable), Some(7));
    assert_eq!(q.load(), busy(0));
}

#[test]
fn the_slice_ends_with_a_preemption_when_another_waits() {
    let mut q = queue();
    q.enqueue(1).unwrap();
    assert_eq!(q.switch(5 * MS, Outgoing::Stopped), Some(1));
    q.enqueue(2).unwrap();
    assert_eq!(q.timer_deadline(), Some(15 * MS));
    assert!(!q.preempt_due(15 * MS - 1));
    assert!(q.preempt_due(15 * MS));
    assert_eq!(q.switch(15 * MS, Outgoing::Runnable), Some(2));
    assert_eq!(q.timer_deadline(), Some(25 * MS), "a fresh slice for the next thread");
    // A thread that ran alone past its slice is preempted as soon as another arrives.
    let mut q = queue();
    q.enqueue(1).unwrap();
    q.switch(0, Outgoing::Stopped);
    q.enqueue(2).unwrap();
    assert_eq!(q.timer_deadline(), Some(10 * MS));
    assert!(q.preempt_due(500 * MS));
}

#[test]
fn a_thread_is_runnable_in_one_place_only() {
    let mut q = queue();
    q.enqueue(1).unwrap();
    q.enqueue(2).unwrap();
    assert_eq!(q.enqueue(2), Err(ZxError::AlreadyExists));
    q.switch(0, Outgoing::Stopped);
    assert_eq!(q.enqueue(1), Err(ZxError::AlreadyExists), "it runs here");
    assert_eq!(q.waiting().collect::<Vec<_>>(), [2]);
}

#[test]
fn remove_and_steal_keep_the_others_in_order() {
    let mut q = queue();
    for t in 1..=5 {
        q.enqueue(t).unwrap();
    }
    q.switch(0, Outgoing::Stopped); // 1 runs
    assert!(q.remove(3));
    assert!(!q.remove(3));
    assert!(!q.remove(1), "the running thread leaves through switch");
    assert_eq!(q.waiting().collect::<Vec<_>>(), [2, 4, 5]);
    assert_eq!(q.steal(), Some(2), "the longest waiting");
    assert_eq!(q.waiting().collect::<Vec<_>>(), [4, 5]);
    assert_eq!(q.current(), Some(1));
    q.steal();
    q.steal();
    assert_eq!(q.steal(), None);
    assert_eq!(q.current(), Some(1));
}

#[test]
fn reserving_is_fallible_and_then_enqueue_does_not_allocate() {
    let mut q = queue();
    assert_eq!(q.reserve_for(usize::MAX), Err(ZxError::NoMemory));
    assert_eq!(q.reserve_for(64), Ok(()));
    let capacity = q.waiting.capacity();
    for t in 0..64 {
        q.enqueue(t).unwrap();
    }
    assert_eq!(q.waiting.capacity(), capacity);
    assert_eq!(q.reserve_for(10), Ok(()), "fewer than already wait: nothing to do");
}

// ----- fairness ---------------------------------------------------------------------

/// Runs `threads` always-runnable threads on one CPU with a timer tick every `tick`
/// nanoseconds for `duration`: the order they run in and each one's total time.
fn round_robin(threads: u32, slice: u64, tick: u64, duration: u64) -> (Vec<u32>, BTreeMap<u32, u64>) {
    let mut q = RunQueue::new(slice);
    for t in 0..threads {
        q.enqueue(t).unwrap();
    }
    let mut now = 0;
    let mut order = vec![q.switch(now, Outgoing::Stopped).unwrap()];
    let mut ran: BTreeMap<u32, u64> = BTreeMap::new();
    while now < duration {
        now += tick;
        *ran.entry(q.current().unwrap()).or_default() += tick;
        if q.preempt_due(now) {
            order.push(q.switch(now, Outgoing::Runnable).unwrap());
        }
    }
    (order, ran)
}

#[test]
fn always_runnable_threads_take_turns_in_a_fixed_cycle() {
    let (order, ran) = round_robin(5, MAX_TIME_SLICE_NS, MS, 2_000 * MS);
    for (i, &t) in order.iter().enumerate() {
        assert_eq!(t, i as u32 % 5, "turn {i}");
    }
    // 2 s in 10 ms slices: 200 turns, 400 ms each.
    assert_eq!(order.len(), 201);
    assert!(ran.values().all(|&time| time == 400 * MS), "{ran:?}");
}

#[test]
fn no_thread_runs_longer_than_a_slice_while_others_wait() {
    // A coarse tick can overshoot the slice by less than one tick, never more.
    let (order, ran) = round_robin(3, 10 * MS, 3 * MS, 3_000 * MS);
    let (least, most) = (ran.values().min().unwrap(), ran.values().max().unwrap());
    assert!(most - least <= 12 * MS, "{ran:?}");
    assert!(order.windows(2).all(|w| w[1] == (w[0] + 1) % 3));
}

#[test]
fn yielding_goes_to_the_back_of_the_line() {
    let mut q = queue();
    for t in 0..4 {
        q.enqueue(t).unwrap();
    }
    let mut order = vec![q.switch(0, Outgoing::Stopped).unwrap()];
    for now in 1..12 {
        order.push(q.switch(now, Outgoing::Runnable).unwrap());
    }
    assert_eq!(order, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3]);
}

// ----- placement and stealing -------------------------------------------------------

#[test]
fn placement_prefers_an_idle_cpu() {
    // The thread's last CPU is busy; CPU 2 is idle.
    assert_eq!(place(&[busy(0), busy(0), idle(), busy(0)], Some(1), 0), Some(2));
    // Among idle CPUs: its last one, then the waking one, then the lowest.
    let loads = [busy(0), idle(), idle(), idle()];
    assert_eq!(place(&loads, Some(3), 2), Some(3));
    assert_eq!(place(&loads, Some(0), 2), Some(2), "the last CPU is busy");
    assert_eq!(place(&loads, None, 0), Some(1));
    // An idle CPU that has a thread queued already (its wake-up interrupt is on the way)
    // is as loaded as a busy CPU with an empty queue.
    assert_eq!(place(&[busy(0), CpuLoad { idle: true, waiting: 1 }], Some(1), 1), Some(1));
    assert_eq!(place(&[busy(0), CpuLoad { idle: true, waiting: 1 }, idle()], Some(1), 1), Some(2));
}

#[test]
fn placement_without_an_idle_cpu_takes_the_shortest_queue() {
    let loads = [busy(3), busy(1), busy(2), busy(1)];
    assert_eq!(place(&loads, None, 0), Some(1));
    assert_eq!(place(&loads, Some(3), 0), Some(3), "ties go to the last CPU");
    assert_eq!(place(&loads, Some(0), 3), Some(3), "then to the waking CPU");
    assert_eq!(place(&loads, Some(2), 0), Some(1), "a shorter queue beats the last CPU");
    assert_eq!(place(&[], Some(0), 0), None);
    assert_eq!(place(&[busy(5)], Some(7), 9), Some(0));
}

#[test]
fn threads_spread_over_the_cpus() {
    let mut queues: Vec<RunQueue<u32>> = (0..4).map(|_| queue()).collect();
    for t in 0..10 {
        let loads: Vec<CpuLoad> = queues.iter().map(RunQueue::load).collect();
        let cpu = place(&loads, None, 0).unwrap();
        queues[cpu].enqueue(t).unwrap();
        if queues[cpu].is_idle() {
            queues[cpu].switch(0, Outgoing::Stopped);
        }
    }
    let runnable: Vec<usize> = queues.iter().map(|q| q.load().runnable()).collect();
    assert_eq!(runnable, [3, 3, 2, 2]);
    assert!(queues.iter().all(|q| !q.is_idle()));
}

#[test]
fn an_idle_cpu_steals_from_the_longest_queue() {
    let loads = [busy(1), idle(), busy(3), busy(3), busy(0)];
    assert_eq!(steal_from(&loads, 1), Some(2), "most waiting, ties to the lowest");
    // One thread waiting behind a running one is worth taking.
    assert_eq!(steal_from(&[busy(1), idle()], 1), Some(0));
    // Nothing waits anywhere.
    assert_eq!(steal_from(&[busy(0), idle(), busy(0)], 1), None);
    // An idle CPU with one queued is about to run it itself; with two, one can go.
    assert_eq!(steal_from(&[CpuLoad { idle: true, waiting: 1 }, idle()], 1), None);
    assert_eq!(steal_from(&[CpuLoad { idle: true, waiting: 2 }, idle()], 1), Some(0));
    // Only an idle CPU with an empty queue steals, and never from itself.
    assert_eq!(steal_from(&[busy(4), busy(0)], 1), None);
    assert_eq!(steal_from(&[busy(4), CpuLoad { idle: true, waiting: 1 }], 1), None);
    assert_eq!(steal_from(&[idle()], 0), None);
    assert_eq!(steal_from(&[busy(4)], 3), None);
}

// ----- a randomized run -------------------------------------------------------------

/// A machine of several CPUs and its model: per CPU the running thread, the waiting
/// ones (a plain FIFO) and the end of the slice; which threads are blocked or killed.
struct Sim {
    queues: Vec<RunQueue<u32>>,
    running: Vec<Option<u32>>,
    waiting: Vec<VecDeque<u32>>,
    slice_end: Vec<u64>,
    blocked: Vec<u32>,
    killed: BTreeSet<u32>,
    last_cpu: BTreeMap<u32, usize>,
    threads: u32,
    steals: usize,
    preemptions: usize,
}

impl Sim {
    const SLICE: u64 = 4 * MS;

    fn new(cpus: usize) -> Self {
        Sim {
            queues: (0..cpus).map(|_| RunQueue::new(Self::SLICE)).collect(),
            running: vec![None; cpus],
            waiting: vec![VecDeque::new(); cpus],
            slice_end: vec![0; cpus],
            blocked: Vec::new(),
            killed: BTreeSet::new(),
            last_cpu: BTreeMap::new(),
            threads: 0,
            steals: 0,
            preemptions: 0,
        }
    }

    fn loads(&self) -> Vec<CpuLoad> {
        self.queues.iter().map(RunQueue::load).collect()
    }

    /// Switches `cpu` in the queue and in the model, and checks they agree.
    fn switch(&mut self, cpu: usize, now: u64, outgoing: Outgoing) {
        let ran = self.queues[cpu].switch(now, outgoing);
        let previous = self.running[cpu].take();
        if let (Some(p), Outgoing::Runnable) = (previous, outgoing) {
            self.waiting[cpu].push_back(p);
        }
        self.running[cpu] = self.waiting[cpu].pop_front();
        self.slice_end[cpu] = now + Self::SLICE;
        assert_eq!(ran, self.running[cpu], "cpu {cpu}");
        if let Some(t) = ran {
            self.last_cpu.insert(t, cpu);
        }
    }

    /// `thread` becomes runnable: placed, queued, and the CPU woken if idle.
    fn wake(&mut self, thread: u32, waking_cpu: usize, now: u64) {
        let loads = self.loads();
        let target = place(&loads, self.last_cpu.get(&thread).copied(), waking_cpu).unwrap();
        let least = loads.iter().map(CpuLoad::runnable).min().unwrap();
        assert_eq!(loads[target].runnable(), least, "placed on a busier CPU than needed");
        self.queues[target].enqueue(thread).unwrap();
        self.waiting[target].push_back(thread);
        if self.queues[target].is_idle() {
            self.switch(target, now, Outgoing::Stopped);
        }
    }

    /// `cpu`, if idle with nothing queued, takes a thread from another CPU.
    fn balance(&mut self, cpu: usize, now: u64) {
        let loads = self.loads();
        let eligible = loads[cpu].idle && loads[cpu].waiting == 0;
        let best = (0..loads.len())
            .filter(|&v| eligible && v != cpu && loads[v].waiting >= 1 && loads[v].runnable() >= 2)
            .map(|v| loads[v].waiting)
            .max();
        let victim = steal_from(&loads, cpu);
        assert_eq!(victim.map(|v| loads[v].waiting), best);
        if let Some(victim) = victim {
            self.steals += 1;
            let t = self.queues[victim].steal().unwrap();
            assert_eq!(Some(t), self.waiting[victim].pop_front());
            self.queues[cpu].enqueue(t).unwrap();
            self.waiting[cpu].push_back(t);
            self.switch(cpu, now, Outgoing::Stopped);
            assert_eq!(self.running[cpu], Some(t));
        }
    }

    /// The queues are the model's, and no thread is lost or duplicated: every thread not
    /// killed is in exactly one place (blocked, running on one CPU, waiting on one).
    fn check(&self) {
        for (c, queue) in self.queues.iter().enumerate() {
            assert_eq!(queue.current(), self.running[c], "cpu {c}");
            assert!(queue.waiting().eq(self.waiting[c].iter().copied()), "cpu {c}");
            let deadline = (self.running[c].is_some() && !self.waiting[c].is_empty()).then_some(self.slice_end[c]);
            assert_eq!(queue.timer_deadline(), deadline, "cpu {c}");
        }
        let mut seen: BTreeSet<u32> = BTreeSet::new();
        for &t in &self.blocked {
            assert!(seen.insert(t), "thread {t} blocked twice");
        }
        for queue in &self.queues {
            for t in queue.current().into_iter().chain(queue.waiting()) {
                assert!(seen.insert(t), "thread {t} twice");
            }
        }
        assert!(seen.is_disjoint(&self.killed), "a killed thread is still somewhere");
        assert_eq!(seen.len() + self.killed.len(), self.threads as usize, "a thread was lost");
    }
}

/// Many CPUs; threads created, woken (placed), preempted, yielding, blocking, killed and
/// stolen at random, with at most `max_threads` alive. Every step is checked against
/// the model.
fn model_run(cpus: usize, max_threads: usize, steps: usize, seed: u64) -> (usize, usize) {
    let mut state = seed;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut sim = Sim::new(cpus);
    let mut now = 0u64;
    for _ in 0..steps {
        now += next() % (3 * MS);
        let cpu = (next() % cpus as u64) as usize;
        match next() % 12 {
            // A new thread, or a blocked one woken.
            0..=2 => {
                let alive = sim.threads as usize - sim.killed.len();
                if !sim.blocked.is_empty() && (alive >= max_threads || next() % 2 == 0) {
                    let index = (next() % sim.blocked.len() as u64) as usize;
                    let t = sim.blocked.swap_remove(index);
                    sim.wake(t, cpu, now);
                } else if alive < max_threads {
                    sim.threads += 1;
                    sim.wake(sim.threads - 1, cpu, now);
                }
            }
            // A timer interrupt.
            3 | 4 => {
                let due = sim.running[cpu].is_some() && !sim.waiting[cpu].is_empty() && now >= sim.slice_end[cpu];
                assert_eq!(sim.queues[cpu].preempt_due(now), due);
                if due {
                    sim.preemptions += 1;
                    sim.switch(cpu, now, Outgoing::Runnable);
                }
            }
            // The running thread blocks; a CPU left idle looks for work at once.
            5..=7 => {
                if let Some(t) = sim.running[cpu] {
                    sim.blocked.push(t);
                }
                sim.switch(cpu, now, Outgoing::Stopped);
                sim.balance(cpu, now);
            }
            // The running thread yields.
            8 => sim.switch(cpu, now, Outgoing::Runnable),
            // Balancing at some other moment (an idle CPU's periodic look).
            9 => sim.balance(cpu, now),
            // A thread is killed wherever it is.
            10 if sim.threads > 0 => {
                let t = (next() % u64::from(sim.threads)) as u32;
                sim.killed.insert(t);
                if let Some(index) = sim.blocked.iter().position(|&b| b == t) {
                    sim.blocked.swap_remove(index);
                } else if let Some(c) = sim.running.iter().position(|&r| r == Some(t)) {
                    sim.switch(c, now, Outgoing::Stopped);
                } else if let Some(c) = sim.waiting.iter().position(|w| w.contains(&t)) {
                    assert!(sim.queues[c].remove(t));
                    sim.waiting[c].retain(|&w| w != t);
                } else {
                    // Killed before: nowhere at all.
                    assert!(sim.queues.iter_mut().all(|q| !q.remove(t)));
                }
            }
            // A bug the queue must refuse: a runnable thread queued again.
            _ => {
                if let Some(t) = sim.running[cpu].or(sim.waiting[cpu].back().copied()) {
                    assert_eq!(sim.queues[cpu].enqueue(t), Err(ZxError::AlreadyExists));
                }
            }
        }
        sim.check();
    }
    (sim.steals, sim.preemptions)
}

#[test]
fn randomized_model_run_loses_and_duplicates_nothing() {
    for (cpus, max_threads, seed) in [(4, 8, 0x9e37_79b9_7f4a_7c15), (8, 12, 42), (2, 5, 7), (4, 40, 11)] {
        let (steals, preemptions) = model_run(cpus, max_threads, 40_000, seed);
        assert!(steals > 100 && preemptions > 100, "{cpus} CPUs: {steals} steals, {preemptions} preemptions");
    }
}

#[test]
fn randomized_model_run_on_one_cpu() {
    // Nothing to steal on one CPU, so only the queue itself is exercised.
    let mut q: RunQueue<u32> = queue();
    let mut model: VecDeque<u32> = VecDeque::new();
    let mut current = None;
    let mut state = 3u64;
    for step in 0..20_000u32 {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        match state >> 62 {
            0 | 1 => {
                q.enqueue(step).unwrap();
                model.push_back(step);
            }
            2 => {
                if let Some(c) = current {
                    model.push_back(c);
                }
                current = model.pop_front();
                assert_eq!(q.switch(u64::from(step), Outgoing::Runnable), current);
            }
            _ => {
                current = model.pop_front();
                assert_eq!(q.switch(u64::from(step), Outgoing::Stopped), current);
            }
        }
        assert!(q.waiting().eq(model.iter().copied()));
    }
}

#[test]
fn the_timer_is_written_only_when_it_would_fire_too_late() {
    // Armed ahead and no later than due: it fires in time (early at worst).
    assert!(!timer_write_needed(150, 100, 200));
    assert!(!timer_write_needed(200, 100, 200));
    // Armed later than due: it would fire late.
    assert!(timer_write_needed(250, 100, 200));
    // Armed in the past (fired or pending) or never (0): written.
    assert!(timer_write_needed(100, 100, 200));
    assert!(timer_write_needed(50, 100, 200));
    assert!(timer_write_needed(0, 100, 200));
    // Due already: only a timer armed ahead and not after it is kept, which cannot be.
    assert!(timer_write_needed(150, 100, 90));
}

/// Whatever the sequence of switches (each with its own due time), the timer never
/// fires after the earliest time due since it was last written or fired.
#[test]
fn skipped_timer_writes_never_make_it_late() {
    let mut armed = 0u64;
    let mut now = 1u64;
    let mut seed = 7u64;
    for _ in 0..10_000 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        now += (seed >> 59) + 1;
        if armed != 0 && armed <= now {
            // It fired: the interrupt arms it for a fresh due time.
            armed = 0;
        }
        let due = now + 1 + (seed >> 40) % 1000;
        if timer_write_needed(armed, now, due) {
            armed = due;
        }
        assert!(armed > now && armed <= due, "armed {armed} at {now}, due {due}");
    }
}
