//! The scheduler: per-CPU run queues served round robin with time slices of at most
//! 10 ms, blocking with deadlines on per-CPU deadline queues, wake-ups that prefer an
//! idle CPU (woken by an IPI), preemption from the timer, and the end of a thread.
//!
//! Locking: one scheduler lock, [`SCHED`], protects every run queue, every deadline
//! queue and each thread's run state (`Thread::run`), as Zircon's `thread_lock` did.
//! It is the innermost lock but for the console's: taken with object locks held (an
//! observer waking a thread), never the other way round, never held across a context
//! switch, a user copy or a block. The context switch itself needs no lock (see
//! `arch::aarch64::context`).
//!
//! A wait is a [`WaitNode`]: whoever ends it (a signal, a futex wake, a deadline, a
//! kill, a cancellation) first sets its reason with a compare-and-swap, so exactly one
//! of them wins, and only then makes the thread runnable.

use super::cpu::{self, CpuLocal};
use super::sync::{Lock, LockGuard, class};
use super::task::Thread;
use crate::arch::aarch64::context;
use crate::arch::aarch64::percpu::{MAX_CPUS, cpu_index};
use crate::arch::aarch64::timer;
use crate::sched::{run_queue, wait_word};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};

/// Longest time slice, in nanoseconds (ABI.md section 7: at most 10 ms).
pub const TIME_SLICE_NS: u64 = 10_000_000;

/// Why a wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeReason {
    /// What it waited for happened.
    Satisfied,
    /// Its deadline passed.
    TimedOut,
    /// The handle it waited through was closed.
    Canceled,
    /// Its thread is being killed.
    Killed,
}

impl WakeReason {
    fn code(self) -> u32 {
        match self {
            WakeReason::Satisfied => 1,
            WakeReason::TimedOut => 2,
            WakeReason::Canceled => 3,
            WakeReason::Killed => 4,
        }
    }
    fn from_code(code: u32) -> Option<Self> {
        match code {
            1 => Some(WakeReason::Satisfied),
            2 => Some(WakeReason::TimedOut),
            3 => Some(WakeReason::Canceled),
            4 => Some(WakeReason::Killed),
            _ => None,
        }
    }
}

/// The wait word of a thread (in `Thread`): the number of its latest wait and, once
/// that wait has ended, why. Only the thread itself starts a wait (`WaitNode::new`, on
/// the current thread), by storing the next number with no reason; whoever ends it sets
/// the reason with a compare-and-swap that names the number, so exactly one of them
/// wins, and a [`WaitNode`] kept past its wait (a stale queue entry, deadline or
/// observer) can never end a later wait of the same thread.
///
/// It also keeps the union of the signals a single-object wait has seen
/// (`ObjectBase::add_waiter`), written by the observer entry under the object's signal
/// lock and read by the thread after it removed the entry under that lock.
pub struct WaitCell {
    word: AtomicU64,
    seen: AtomicU32,
}

impl WaitCell {
    /// No wait yet.
    pub const fn new() -> Self {
        WaitCell { word: AtomicU64::new(0), seen: AtomicU32::new(0) }
    }
}

impl Default for WaitCell {
    fn default() -> Self {
        Self::new()
    }
}

/// One blocking wait of one thread: the thread and the number of the wait. Cloning it
/// (for a queue, a deadline, an observer) costs a thread reference count; nothing is
/// allocated per wait (the state lives in the thread's [`WaitCell`]).
#[derive(Clone)]
pub struct WaitNode {
    thread: Arc<Thread>,
    seq: u64,
}

impl WaitNode {
    /// A new wait of `thread`, which must be the current thread (only a thread starts
    /// its own waits, so no other wait of it is still open: each ended, or was left
    /// before anyone could end it).
    pub fn new(thread: Arc<Thread>) -> Self {
        let seq = start_wait(&thread);
        WaitNode { thread, seq }
    }

    /// A new wait of the current thread `thread` (as [`WaitNode::new`]): the node to
    /// hand to whatever may end it (a queue, an observer list) and the thread's own view
    /// of the wait, which counts no reference (the caller's borrow keeps the thread).
    pub fn begin(thread: &Arc<Thread>) -> (WaitNode, WaitRef<'_>) {
        let seq = start_wait(thread);
        (WaitNode { thread: thread.clone(), seq }, WaitRef { thread, seq })
    }

    /// The same wait, borrowed.
    pub fn as_ref(&self) -> WaitRef<'_> {
        WaitRef { thread: &self.thread, seq: self.seq }
    }

    /// The waiting thread.
    pub fn thread(&self) -> &Arc<Thread> {
        &self.thread
    }

    /// True when `other` names the same wait.
    pub fn same(&self, other: &WaitNode) -> bool {
        self.as_ref().is(other)
    }

    /// Ends the wait with `reason` unless it already ended; returns whether this call
    /// ended it.
    pub fn wake(&self, reason: WakeReason) -> bool {
        self.as_ref().wake(reason)
    }

    /// As [`WaitNode::wake`], consuming the node (a futex queue entry, a `wait_one` observer entry): its thread
    /// reference is the one the run queue keeps, not a new count and a dropped one.
    pub fn wake_owned(self, reason: WakeReason) -> bool {
        if !self.end(reason) {
            return false;
        }
        make_ready_if_blocked(Woken::Owned(self.thread), self.seq);
        true
    }

    /// Sets the reason if the wait is still open (no scheduling): whether it was.
    fn end(&self, reason: WakeReason) -> bool {
        self.as_ref().end(reason)
    }

    /// Adds `signals` to the signals this wait has seen (single-object waits: only the
    /// wait's own observer entry calls it, and the entry is gone before the thread
    /// starts another wait).
    pub fn note_seen(&self, signals: u32) {
        self.as_ref().note_seen(signals);
    }

    /// Why the wait ended, if it has (a wait the thread has left for a newer one
    /// counts as ended, as `Canceled`).
    pub fn reason(&self) -> Option<WakeReason> {
        self.as_ref().reason()
    }
}

/// Starts the next wait of the current thread `thread`; gives its number.
fn start_wait(thread: &Thread) -> u64 {
    let cell = &thread.wait.word;
    thread.wait.seen.store(0, Ordering::Relaxed);
    // Relaxed load: only this thread writes new numbers. The store (release) makes
    // the new number visible with everything written before the wait is published;
    // a waker with an older number fails its compare-and-swap from now on (the
    // numbers never repeat: 2^61 waits).
    let word = wait_word::start(cell.load(Ordering::Relaxed));
    cell.store(word, Ordering::Release);
    wait_word::number(word)
}

/// A wait named without a reference count: the waiting thread's own view of its wait
/// (whose node it handed to a queue or an observer list), or a borrowed [`WaitNode`].
#[derive(Clone, Copy)]
pub struct WaitRef<'a> {
    thread: &'a Arc<Thread>,
    seq: u64,
}

impl<'a> WaitRef<'a> {
    /// True when `node` names this wait.
    pub fn is(self, node: &WaitNode) -> bool {
        self.seq == node.seq && Arc::ptr_eq(self.thread, &node.thread)
    }

    /// A counted node of this wait (for a deadline entry).
    fn to_node(self) -> WaitNode {
        WaitNode { thread: self.thread.clone(), seq: self.seq }
    }

    /// As [`WaitNode::wake`].
    pub fn wake(self, reason: WakeReason) -> bool {
        if !self.end(reason) {
            return false;
        }
        make_ready_if_blocked(Woken::Borrowed(self.thread), self.seq);
        true
    }

    fn end(self, reason: WakeReason) -> bool {
        // The pure rule (`sched::wait_word::end`) gives the ended word of the open one;
        // the compare-and-swap makes it take effect only if the word is still that.
        let open = wait_word::open(self.seq);
        let Some(ended) = wait_word::end(open, self.seq, reason.code()) else { return false };
        self.thread.wait.word.compare_exchange(open, ended, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// As [`WaitNode::note_seen`].
    pub fn note_seen(self, signals: u32) {
        self.thread.wait.seen.fetch_or(signals, Ordering::AcqRel);
    }

    /// The union of the signals this wait has seen.
    pub fn seen(self) -> u32 {
        self.thread.wait.seen.load(Ordering::Acquire)
    }

    /// Whether the wait is still open: [`WaitRef::reason`] is `None` (one compare of
    /// the word, without decoding a reason).
    #[inline(always)]
    pub fn is_open(self) -> bool {
        self.thread.wait.word.load(Ordering::Acquire) == wait_word::open(self.seq)
    }

    /// As [`WaitNode::reason`].
    pub fn reason(self) -> Option<WakeReason> {
        match wait_word::reason(self.thread.wait.word.load(Ordering::Acquire), self.seq) {
            None => Some(WakeReason::Canceled),
            Some(code) => WakeReason::from_code(code),
        }
    }
}

/// Something a deadline entry calls when it comes due (a timer object): called from the
/// timer interrupt with no scheduler lock held, at or after its deadline.
pub trait DeadlineCallback: Send + Sync {
    /// The entry queued with `token` came due.
    fn deadline_reached(&self, token: u64);
}

/// What a deadline queue entry does when it comes due.
enum DeadlineEntry {
    /// Ends a blocked wait with `TimedOut`.
    Wake(WaitNode),
    /// Calls back an object (a timer), with the token it was queued with.
    Call(Arc<dyn DeadlineCallback>, u64),
}

/// A thread's scheduling state, changed only with [`SCHED`] held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RunState {
    /// Not started.
    New,
    /// In a run queue.
    Ready,
    /// On a CPU.
    Running,
    /// Waiting.
    Blocked,
    /// Ended.
    Dead,
}

impl RunState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => RunState::New,
            1 => RunState::Ready,
            2 => RunState::Running,
            3 => RunState::Blocked,
            _ => RunState::Dead,
        }
    }
}

/// `ThreadRun`'s "no CPU".
const NO_CPU: u32 = u32::MAX;

/// Per-thread scheduler fields (in `Thread`). Every field is read and written only with
/// [`SCHED`] held (the accessors take the locked `Sched` as proof), so the lock orders
/// every access: the fields are relaxed atomics only to be shared cells, and need no
/// lock of their own (a switch used to take two more locks for them, a wake one more).
pub struct ThreadRun {
    /// Where the thread is (`RunState`).
    state: AtomicU8,
    /// The number of the wait it is blocked in (see [`WaitCell`]; numbers start at 1,
    /// 0 is none).
    wait: AtomicU64,
    /// The CPU it last ran on ([`NO_CPU`]: none yet).
    last_cpu: AtomicU32,
    /// The CPU whose deadline queue holds this thread's wait (blocked with a deadline),
    /// so a wake-up searches that one queue only ([`NO_CPU`]: none).
    deadline_cpu: AtomicU32,
    /// Counter ticks run so far (converted to nanoseconds only when read: a switch
    /// then costs no division).
    runtime_ticks: AtomicU64,
    /// Counter value when it last started running.
    switched_in: AtomicU64,
}

impl ThreadRun {
    /// A NEW thread's state.
    pub const fn new() -> Self {
        ThreadRun {
            state: AtomicU8::new(RunState::New as u8),
            wait: AtomicU64::new(0),
            last_cpu: AtomicU32::new(NO_CPU),
            deadline_cpu: AtomicU32::new(NO_CPU),
            runtime_ticks: AtomicU64::new(0),
            switched_in: AtomicU64::new(0),
        }
    }

    fn state(&self, _: &Sched) -> RunState {
        RunState::from_u8(self.state.load(Ordering::Relaxed))
    }
    fn set_state(&self, _: &Sched, state: RunState) {
        self.state.store(state as u8, Ordering::Relaxed);
    }
    fn wait(&self, _: &Sched) -> Option<u64> {
        Some(self.wait.load(Ordering::Relaxed)).filter(|&w| w != 0)
    }
    fn set_wait(&self, _: &Sched, seq: Option<u64>) {
        self.wait.store(seq.unwrap_or(0), Ordering::Relaxed);
    }
    fn last_cpu(&self, _: &Sched) -> Option<usize> {
        Some(self.last_cpu.load(Ordering::Relaxed)).filter(|&c| c != NO_CPU).map(|c| c as usize)
    }
    fn set_last_cpu(&self, _: &Sched, cpu: usize) {
        self.last_cpu.store(cpu as u32, Ordering::Relaxed);
    }
    fn take_deadline_cpu(&self, _: &Sched) -> Option<usize> {
        // A load and a store, not a swap: the scheduler lock orders every access.
        let cpu = self.deadline_cpu.load(Ordering::Relaxed);
        if cpu == NO_CPU {
            return None;
        }
        self.deadline_cpu.store(NO_CPU, Ordering::Relaxed);
        Some(cpu as usize)
    }
    fn set_deadline_cpu(&self, _: &Sched, cpu: usize) {
        self.deadline_cpu.store(cpu as u32, Ordering::Relaxed);
    }
    /// Starts a stretch on a CPU at counter value `now`.
    fn switch_in(&self, _: &Sched, now: u64) {
        self.switched_in.store(now, Ordering::Relaxed);
    }
    /// Ends a stretch on a CPU at counter value `now`.
    fn switch_out(&self, _: &Sched, now: u64) {
        let ran = now.saturating_sub(self.switched_in.load(Ordering::Relaxed));
        self.runtime_ticks.store(self.runtime_ticks.load(Ordering::Relaxed) + ran, Ordering::Relaxed);
    }

    /// Nanoseconds run, the current stretch on a CPU included.
    fn runtime_now(&self, s: &Sched) -> u64 {
        let mut ticks = self.runtime_ticks.load(Ordering::Relaxed);
        if self.state(s) == RunState::Running {
            ticks += timer::ticks().saturating_sub(self.switched_in.load(Ordering::Relaxed));
        }
        ticks_to_ns(ticks)
    }
}

/// Nanoseconds `thread` has run and the CPU it last ran on (ZX_INFO_THREAD_STATS).
pub fn thread_stats(thread: &Thread) -> (u64, Option<usize>) {
    let s = SCHED.lock();
    (thread.run.runtime_now(&s), thread.run.last_cpu(&s))
}

impl Default for ThreadRun {
    fn default() -> Self {
        Self::new()
    }
}

/// An entry of a deadline queue: due at `ns` (monotonic nanoseconds, what the timer
/// interrupt compares), which is counter value `at` (what the timer is armed for:
/// computed once when queued, so arming the timer needs no division).
struct Deadline {
    ns: i64,
    at: u64,
    entry: DeadlineEntry,
}

impl Deadline {
    fn new(ns: i64, entry: DeadlineEntry) -> Self {
        // The first counter value at which `uptime_nanos() >= ns` (plus one, as the
        // timer may fire on the tick itself).
        let at = super::irq::boot_counter().saturating_add(ns_to_ticks(ns.max(0) as u64)).saturating_add(1);
        Deadline { ns, at, entry }
    }
}

/// One CPU's share of the scheduler: its ready queue, its deadlines and its flags.
/// Aligned (so sized) to 128 bytes, a power of two, so a CPU's queue is found with a
/// shift of its index rather than a multiply by its size.
#[repr(align(128))]
struct CpuQueue {
    ready: VecDeque<Arc<Thread>>,
    /// Blocked waits and armed timers with a deadline, in no particular order.
    deadlines: Vec<Deadline>,
    /// Runs nothing and needs an IPI to notice new work (it waits in `wfi` or is about to).
    /// False while it runs a thread, and from the moment work is queued for it.
    idle: bool,
    /// Not idle, yet running no thread: another CPU queued work for this idle CPU (and
    /// sent the IPI) or its idle loop saw work, and it has not picked a thread since. It looks at its queue without another IPI, so placement and
    /// stealing count it as a CPU that runs nothing (see `loads`).
    woken: bool,
    /// Counter value at which the running thread's slice ends.
    slice_end: u64,
}

const _: () = assert!(core::mem::size_of::<CpuQueue>() == 128, "CpuQueue outgrew its 128-byte stride");

struct Sched {
    cpus: [CpuQueue; MAX_CPUS],
}

static SCHED: Lock<Sched> = Lock::new(
    &class::SCHED,
    Sched {
        cpus: [const { CpuQueue { ready: VecDeque::new(), deadlines: Vec::new(), idle: false, woken: false, slice_end: 0 } };
            MAX_CPUS],
    },
);

/// Nanoseconds since boot.
fn now_ns() -> i64 {
    super::irq::uptime_nanos() as i64
}

fn ns_to_ticks(ns: u64) -> u64 {
    ((ns as u128 * timer::frequency() as u128) / 1_000_000_000) as u64
}

/// [`TIME_SLICE_NS`] and the 20 us minimum timer delay in counter ticks, computed on
/// first use (the counter frequency never changes), so a switch divides nothing.
fn slice_ticks() -> (u64, u64) {
    static SLICE: AtomicU64 = AtomicU64::new(0);
    static MIN_DELAY: AtomicU64 = AtomicU64::new(0);
    let slice = SLICE.load(Ordering::Relaxed);
    if slice != 0 {
        return (slice, MIN_DELAY.load(Ordering::Relaxed));
    }
    let (slice, min) = (ns_to_ticks(TIME_SLICE_NS).max(1), ns_to_ticks(20_000).max(1));
    // Racing CPUs store the same values.
    MIN_DELAY.store(min, Ordering::Relaxed);
    SLICE.store(slice, Ordering::Relaxed);
    (slice, min)
}

/// Threads that exist (created and not yet dropped). Every CPU's ready queue and deadline
/// queue keeps room for this many more entries than it holds, so that waking, killing,
/// blocking and expiring never allocate: a thread is in at most one ready queue and has
/// at most one deadline entry, and a deadline call makes room for itself
/// ([`add_deadline_call`]). Raised only under the scheduler lock, with the room made
/// first ([`reserve_for_new_thread`]); lowered when a thread is dropped.
static THREADS: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Makes room in every online CPU's queues for one more thread: NO_MEMORY (nothing
/// counted; room already made stays) when a queue cannot grow. Called before a thread
/// is made; [`release_thread`] undoes it when the thread is dropped.
pub fn reserve_for_new_thread() -> crate::error::ZxResult {
    let mut s = SCHED.lock();
    let threads = THREADS.load(Ordering::Relaxed) + 1;
    let online = cpu::online_count().clamp(1, MAX_CPUS);
    for q in s.cpus[..online].iter_mut() {
        // What `try_reserve(threads)` ensures (capacity for `len + threads`), tested
        // here so that the growing stays out of line and this stays a short loop.
        if q.ready.capacity() - q.ready.len() < threads || q.deadlines.capacity() - q.deadlines.len() < threads {
            grow_queues(q, threads)?;
        }
    }
    THREADS.store(threads, Ordering::Relaxed);
    Ok(())
}

/// [`reserve_for_new_thread`]'s growing of one CPU's queues.
#[cold]
#[inline(never)]
fn grow_queues(q: &mut CpuQueue, threads: usize) -> crate::error::ZxResult {
    q.ready.try_reserve(threads).map_err(|_| crate::error::ZxError::NoMemory)?;
    q.deadlines.try_reserve(threads).map_err(|_| crate::error::ZxError::NoMemory)
}

/// A thread counted by [`reserve_for_new_thread`] is gone.
pub fn release_thread() {
    THREADS.fetch_sub(1, Ordering::Relaxed);
}

/// Makes a NEW thread runnable (zx_thread_start, zx_process_start).
pub fn start(thread: &Arc<Thread>) {
    let mut s = SCHED.lock();
    thread.run.set_state(&s, RunState::Ready);
    let last = thread.run.last_cpu(&s);
    enqueue(&mut s, thread.clone(), last);
}

/// The thread a wake makes runnable: a reference the waker keeps (the run queue takes
/// a new count) or one it hands over (the run queue keeps it).
enum Woken<'a> {
    Borrowed(&'a Arc<Thread>),
    Owned(Arc<Thread>),
}

impl Woken<'_> {
    #[inline(always)]
    fn thread(&self) -> &Arc<Thread> {
        match self {
            Woken::Borrowed(t) => t,
            Woken::Owned(t) => t,
        }
    }
    #[inline(always)]
    fn into_arc(self) -> Arc<Thread> {
        match self {
            Woken::Borrowed(t) => t.clone(),
            Woken::Owned(t) => t,
        }
    }
}

/// Makes `thread` runnable if it is blocked in wait number `seq` (the caller ended that
/// wait). A thread not yet blocked (still on its way to `reschedule`, which sees the
/// reason and does not sleep) or blocked in another wait is left alone.
#[inline(always)]
fn make_ready_if_blocked(woken: Woken, seq: u64) {
    let mut s = SCHED.lock();
    let thread = woken.thread();
    let run = &thread.run;
    if run.state(&s) != RunState::Blocked || run.wait(&s) != Some(seq) {
        // A reference handed over is dropped after the lock (never the last one: the
        // thread's own stack holds its wait's node until the wait is over).
        drop(s);
        drop(woken);
        return;
    }
    run.set_state(&s, RunState::Ready);
    run.set_wait(&s, None);
    let (last, deadline_cpu) = (run.last_cpu(&s), run.take_deadline_cpu(&s));
    if let Some(c) = deadline_cpu {
        return make_ready_with_deadline(s, woken, last, c);
    }
    enqueue(&mut s, woken.into_arc(), last);
}

/// The rest of [`make_ready_if_blocked`] for a wait with a deadline (out of line: most
/// waits have none, and their path then keeps fewer registers): its entry leaves CPU
/// `c`'s deadline queue. A thread blocks on one node at a time, and only `reschedule`
/// (under this lock) queues its deadline entry, on the CPU it records in
/// `deadline_cpu`: that one queue is all there is to search.
#[inline(never)]
fn make_ready_with_deadline(mut s: LockGuard<'_, Sched>, woken: Woken, last: Option<usize>, c: usize) {
    let thread = woken.thread();
    let q = &mut s.cpus[c].deadlines;
    let at = q.iter().position(|d| matches!(&d.entry, DeadlineEntry::Wake(node) if Arc::ptr_eq(node.thread(), thread)));
    let removed = at.map(|at| q.swap_remove(at));
    enqueue(&mut s, woken.into_arc(), last);
    drop(s);
    // Dropped with no lock held (it holds a thread reference).
    drop(removed);
}

/// Puts a ready thread on a CPU's queue: an idle CPU first (sending it an IPI when it is
/// another), else the CPU it last ran on, else the shortest queue.
#[inline(always)]
fn enqueue(s: &mut Sched, thread: Arc<Thread>, last: Option<usize>) {
    let me = cpu_index();
    if cpu::online_count() == 1 {
        // One CPU: the policy can only name this one (nothing to compare), and no IPI.
        s.cpus[me].ready.push_back(thread);
        if s.cpus[me].idle {
            wake_own_idle_loop(s, me);
        }
        return;
    }
    enqueue_placed(s, thread, last, me);
}

/// Work was queued for this CPU while it is flagged idle: the code doing it runs in this
/// CPU's idle context after its last look (the reaping of a thread that ended, right
/// after the switch into the idle loop, or an interrupt taken there), and no IPI will
/// come, so the idle loop is told to look again before it sleeps (it tests
/// `need_resched` between its reschedule and its `wfi`). Without this, a joiner woken by
/// the reaping slept until the next timer interrupt, a whole slice.
///
/// It is not flagged `woken` (only another CPU's enqueue, with its IPI, is): so the
/// lockcheck-time check before `wfi` still catches a missing `need_resched`.
fn wake_own_idle_loop(s: &mut Sched, me: usize) {
    s.cpus[me].idle = false;
    cpu::this().need_resched.store(true, Ordering::Relaxed);
}

/// [`enqueue`] with more than one CPU online: the placement policy.
#[inline(never)]
fn enqueue_placed(s: &mut Sched, thread: Arc<Thread>, last: Option<usize>, me: usize) {
    let online = cpu::online_count().min(MAX_CPUS);
    // The pure placement policy (`sched::run_queue::place`): fewest runnable threads,
    // then the thread's last CPU, then this one.
    let target = run_queue::place_by(online, |c| load_of(s, c), last, me).unwrap_or(me);
    s.cpus[target].ready.push_back(thread);
    if s.cpus[target].idle {
        if target != me {
            s.cpus[target].idle = false;
            s.cpus[target].woken = true;
            super::irq::send_reschedule(target);
        } else {
            wake_own_idle_loop(s, me);
        }
    }
}

/// Whether idle CPU `cpu` has a thread to run: its own, or one it may take.
fn has_work_for(s: &Sched, cpu: usize) -> bool {
    if !s.cpus[cpu].ready.is_empty() {
        return true;
    }
    steal_victim(s, cpu).is_some()
}

/// CPU `c`'s load, for the placement policy.
fn load_of(s: &Sched, c: usize) -> run_queue::CpuLoad {
    // A woken CPU is about to run what it was woken for: its waiting threads are not
    // stuck behind a running one, so they are not there to be stolen, and it runs no
    // thread of its own. Counted busy, it lost every thread it was woken for to the
    // waker's CPU when the waker blocked first (always, under QEMU's round-robin
    // vCPUs), and the wakes that followed all went there.
    let q = &s.cpus[c];
    run_queue::CpuLoad { idle: q.idle || q.woken, waiting: q.ready.len() }
}

/// For idle CPU `cpu` with an empty queue: the CPU whose waiting thread it may take
/// (`sched::run_queue::steal_from`), if any.
fn steal_victim(s: &Sched, cpu: usize) -> Option<usize> {
    let online = cpu::online_count().min(MAX_CPUS);
    // This CPU is about to idle unless it takes something.
    let load = |c| if c == cpu { run_queue::CpuLoad { idle: true, waiting: 0 } } else { load_of(s, c) };
    run_queue::steal_from_by(online, load, cpu)
}

/// The next thread for CPU `cpu`: its own queue first, else, as an idle CPU, the
/// longest-waiting thread of the CPU the policy (`sched::run_queue::steal_from`) names.
#[inline(always)]
fn pick(s: &mut Sched, cpu: usize) -> Option<Arc<Thread>> {
    if let Some(t) = s.cpus[cpu].ready.pop_front() {
        return Some(t);
    }
    steal(s, cpu)
}

/// The rest of [`pick`] for an empty queue: a thread taken from another CPU's. Out of
/// line: `pick` is in line in both switch paths.
#[inline(never)]
fn steal(s: &mut Sched, cpu: usize) -> Option<Arc<Thread>> {
    let victim = steal_victim(s, cpu)?;
    s.cpus[victim].ready.pop_front()
}

/// What becomes of the thread that gives up the CPU.
enum Outcome<'a> {
    /// It stays runnable (yield, preemption).
    Yield,
    /// It waits on the node until the deadline (`i64::MAX`: none).
    Block(WaitRef<'a>, i64),
    /// It has ended.
    Exit,
}

/// Gives up this CPU. Returns (for Yield and Block) when the thread runs again.
#[inline(never)]
fn reschedule(outcome: Outcome) {
    switch_away(outcome);
}

/// [`reschedule`] for a thread that blocks in the wait `node` until `deadline`: the
/// same code, compiled for that outcome alone (a block is the switch of every blocking
/// wait), so that the outcome is no value in memory tested three times.
#[inline(never)]
fn reschedule_blocked(node: WaitRef, deadline: i64) {
    switch_away(Outcome::Block(node, deadline));
}

/// The body of [`reschedule`] and [`reschedule_blocked`], and of the switch of
/// [`block_in_line`].
#[inline(always)]
fn switch_away(outcome: Outcome) {
    if super::sync::order_check() && !matches!(outcome, Outcome::Exit) {
        // Another thread's return to EL0 would rewrite ELR/SPSR: not allowed inside a
        // lean syscall. (A thread that ends never returns through them.)
        super::syscalls::check_not_in_lean_call("a switch to another thread");
    }
    let cpu = cpu_index();
    let local = cpu::this();
    let now = timer::ticks();
    let mut s = SCHED.lock();
    // Borrowed (no lock, no count): this CPU's cell holds the thread until `set_current`
    // below, which hands that reference back for the reaper or to be dropped.
    let prev = local.running();
    if let Some(p) = &prev {
        let run = &p.run;
        run.switch_out(&s, now);
        match &outcome {
            Outcome::Yield => {
                run.set_state(&s, RunState::Ready);
                s.cpus[cpu].ready.push_back(Arc::clone(p));
            }
            Outcome::Block(node, deadline) => {
                // A kill after `block` looked for one found this thread still Running,
                // so `kick` only interrupted this CPU and woke nothing: look again here,
                // under the lock `kick` takes, before the thread can be queued as
                // blocked (else it would wait for good).
                if p.kill_pending() {
                    node.end(WakeReason::Killed);
                }
                if !node.is_open() {
                    // Woken before it could sleep.
                    run.switch_in(&s, now);
                    return;
                }
                run.set_state(&s, RunState::Blocked);
                run.set_wait(&s, Some(node.seq));
                if *deadline != i64::MAX {
                    s.cpus[cpu].deadlines.push(Deadline::new(*deadline, DeadlineEntry::Wake(node.to_node())));
                    run.set_deadline_cpu(&s, cpu);
                }
            }
            Outcome::Exit => run.set_state(&s, RunState::Dead),
        }
    }
    let next = pick(&mut s, cpu);
    let (slice, _) = slice_ticks();
    // Only a yield can pick the thread that leaves: a blocking or ended one is in no
    // queue (its state was set under this lock, and only a wake under it queues a
    // thread), so the test is compiled into the yield's switch alone.
    if matches!(outcome, Outcome::Yield)
        && let (Some(p), Some(n)) = (&prev, &next)
        && Arc::ptr_eq(p, n)
    {
        // Yielded with nothing else to run.
        p.run.set_state(&s, RunState::Running);
        p.run.switch_in(&s, now);
        s.cpus[cpu].slice_end = now + slice;
        let at = timer_due(&s.cpus[cpu], now);
        drop(s);
        arm_timer_by(at, now);
        return;
    }
    if let Some(n) = &next {
        n.run.set_state(&s, RunState::Running);
        n.run.set_last_cpu(&s, cpu);
        n.run.switch_in(&s, now);
    }
    s.cpus[cpu].slice_end = now + slice;
    // The timer is armed from this same look at the queue (one lock round trip, not
    // two); a deadline queued on this CPU after the lock is dropped arms it again.
    let due = timer_due(&s.cpus[cpu], now);
    // To the idle loop: it sleeps at once (see `idle_loop`), so flag this CPU idle now,
    // under the lock of this last look, unless a deadline is due already: then the
    // idle loop looks again first (`need_resched`) and ends it. To a thread: neither
    // flag (no overdue test to make).
    if next.is_some() {
        s.cpus[cpu].idle = false;
        s.cpus[cpu].woken = false;
    } else {
        let overdue = due <= now;
        s.cpus[cpu].idle = !overdue;
        s.cpus[cpu].woken = overdue;
        if overdue {
            local.need_resched.store(true, Ordering::Relaxed);
        }
    }
    drop(s);

    // Address space of the next thread (or none).
    match &next {
        Some(n) => {
            let id = n.process().aspace_id();
            if local.current_aspace.load(Ordering::Relaxed) != id {
                n.process().activate_on_this_cpu();
                local.current_aspace.store(id, Ordering::Relaxed);
            }
        }
        None => {
            super::aspace::activate_none();
            local.current_aspace.store(0, Ordering::Relaxed);
        }
    }
    let prev_ctx: *const context::Context = prev.as_ref().map_or(&local.idle as *const _, |p| p.context() as *const _);
    let next_ctx: *const context::Context = next.as_ref().map_or(&local.idle as *const _, |n| n.context() as *const _);
    // (Idle to idle is no switch at all: `context::switch` returns at once.)
    // `left` is this CPU's reference to `prev` (the same thread, or None for idle).
    let left = local.set_current(next);
    match outcome {
        Outcome::Exit => {
            // The ended thread stays allocated in the reaper slot until the next context
            // here has switched away from it; no counted reference to it stays on its
            // stack (a `Running` borrow there holds no count).
            *local.reap.lock() = left;
            local.reap_pending.store(true, Ordering::Relaxed);
        }
        _ => drop(left),
    }
    arm_timer_by(due, now);
    // SAFETY: `prev_ctx` is this CPU's running context: the idle loop's, or the current
    // thread's, kept alive by the run queue (Yield), the wait node its caller holds
    // (Block: a `WaitNode` counts its thread) or the reaper slot (Exit). `next_ctx` is
    // kept alive by this CPU's running cell (`set_current`) until this CPU switches away
    // from it. No spinlock is held.
    #[allow(unsafe_code)]
    unsafe {
        context::switch(prev_ctx, next_ctx)
    };
    finish_switch();
}

fn ticks_to_ns(ticks: u64) -> u64 {
    ((ticks as u128 * 1_000_000_000) / timer::frequency().max(1) as u128) as u64
}

/// Runs on whatever context a CPU switched to, right after the switch: the ended
/// thread of the previous context is freed now that nothing runs on its stack.
#[inline(always)]
fn finish_switch() {
    // Only the context switching away from an ended thread on this CPU sets the flag
    // (with the slot), and only the next context on this CPU clears it: no other CPU
    // touches either, so a relaxed load spares the lock (and a call) on every other
    // switch.
    if cpu::this().reap_pending.load(Ordering::Relaxed) {
        reap();
    }
}

/// The slow half of [`finish_switch`]: frees the ended thread in this CPU's reaper slot.
#[inline(never)]
fn reap() {
    let local = cpu::this();
    local.reap_pending.store(false, Ordering::Relaxed);
    let ended = local.reap.lock().take();
    if let Some(thread) = ended {
        thread.after_death();
    }
}

/// A new thread's first code, before it enters EL0 (called by the trampoline).
#[unsafe(no_mangle)]
#[allow(unsafe_code)] // exported by name: the context trampoline calls it
extern "C" fn ferrite_thread_first_run() {
    finish_switch();
}

/// Programs this CPU's timer for the end of the slice or the earliest deadline.
fn arm_timer(cpu: usize) {
    let now = timer::ticks();
    let at = timer_due(&SCHED.lock().cpus[cpu], now);
    arm_timer_at(at, now);
}

/// When CPU queue `q`'s timer should fire: the end of the slice (a slice from `now`
/// when idle) or its earliest deadline, whichever comes first.
fn timer_due(q: &CpuQueue, now: u64) -> u64 {
    let mut at = if q.idle { now + slice_ticks().0 } else { q.slice_end };
    for d in q.deadlines.iter() {
        at = at.min(d.at);
    }
    at
}

/// Arms this CPU's timer for counter value `at`.
fn arm_timer_at(at: u64, now: u64) {
    // At least 20 us ahead: an interrupt due now is taken on the way out anyway, and a
    // timer armed in the past would fire again at once. At most what the 32-bit
    // down-counter holds (`timer::arm`), so the record below is what is armed.
    let delay = at.saturating_sub(now).max(slice_ticks().1).min(u32::MAX as u64);
    cpu::this().timer_at.store(now + delay, Ordering::Relaxed);
    timer::arm(delay);
}

/// Arms this CPU's timer for counter value `at` at a switch, unless it is already armed
/// for a time still ahead and no later than `at`: then it fires at or before `at`, and
/// its interrupt arms it for what is due by then (`timer_interrupt`). An early
/// interrupt only costs one look at the queue, where one fired late would let a slice
/// or a deadline overrun, so this is sound; it spares the timer writes of most
/// switches (each gives a fresh slice, whose end is later than the one armed).
fn arm_timer_by(at: u64, now: u64) {
    // Only this CPU arms its timer and records it, with interrupts masked.
    if run_queue::timer_write_needed(cpu::this().timer_at.load(Ordering::Relaxed), now, at) {
        arm_timer_at(at, now);
    }
}

/// The current thread waits on `node` until it is woken or `deadline` (monotonic
/// nanoseconds; `i64::MAX` for none) passes. `state` is the `ZX_THREAD_STATE_*` shown
/// meanwhile. A kill ends the wait with `Killed` (and the thread then ends before it
/// returns to EL0).
#[inline(always)]
pub fn block(node: WaitRef, state: u32, deadline: i64) -> WakeReason {
    block_with(node, state, deadline, false)
}

/// [`block`] with the switch itself in line (the rest of `reschedule` compiled into the
/// caller): for the one blocking path that is the channel round trip's (`wait_one`),
/// whose frame then serves the switch too, where a call set up a second one of twelve
/// registers. Every other wait calls [`reschedule_blocked`] (one copy of the switch for
/// them all; the futex round trip measured faster so).
#[inline(always)]
pub fn block_in_line(node: WaitRef, state: u32, deadline: i64) -> WakeReason {
    block_with(node, state, deadline, true)
}

/// The body of [`block`] and [`block_in_line`]; `in_line` is a constant at each.
#[inline(always)]
fn block_with(node: WaitRef, state: u32, deadline: i64, in_line: bool) -> WakeReason {
    let thread = node.thread;
    if thread.kill_pending() {
        node.wake(WakeReason::Killed);
    }
    if deadline != i64::MAX && now_ns() >= deadline {
        node.wake(WakeReason::TimedOut);
    }
    thread.set_blocked_state(state);
    if in_line {
        switch_away(Outcome::Block(node, deadline));
    } else {
        reschedule_blocked(node, deadline);
    }
    thread.set_blocked_state(0);
    let reason = node.reason().unwrap_or(WakeReason::Satisfied);
    if reason == WakeReason::Killed || thread.kill_pending() {
        cpu::this().exit_pending.store(true, Ordering::Relaxed);
    }
    reason
}

/// Sleeps until `deadline` (nanosleep).
pub fn sleep_until(deadline: i64) -> WakeReason {
    let Some(thread) = cpu::current_running() else { return WakeReason::TimedOut };
    let (node, me) = WaitNode::begin(&thread);
    // Nothing else may end a sleep but its deadline and a kill, which name it by the
    // thread's own record: the node is not needed.
    drop(node);
    block(me, crate::abi::thread_state::BLOCKED_SLEEPING, deadline)
}

/// Lets other runnable threads run first.
pub fn yield_now() {
    // Fast path: nothing waits in this CPU's queue. A yield would put the thread at the
    // back of that empty queue and pick it again at once (`pick` only steals when the
    // queue is empty, and it is not once the yielder is in it), so only the new slice
    // would differ; the thread keeps the rest of its slice instead, as Zircon's yield
    // does when nothing else is runnable. Work queued here later still comes with an IPI
    // or the timer's `need_resched`.
    if SCHED.lock().cpus[cpu_index()].ready.is_empty() {
        return;
    }
    if cpu::current_running().is_some() {
        reschedule(Outcome::Yield);
    }
}

/// Ends the current thread (its process and signals are updated by `after_death`, run
/// by the next context on this CPU). The caller holds no lock and no reference it
/// expects to be dropped: nothing on this stack runs again.
pub fn exit_current() -> ! {
    cpu::this().exit_pending.store(false, Ordering::Relaxed);
    // DEAD and TERMINATED now, so that a joiner woken by it can be the next thread
    // here (see `Thread::announce_death`). The borrow ends before the switch.
    if let Some(thread) = cpu::current_running() {
        thread.announce_death();
    }
    reschedule(Outcome::Exit);
    unreachable!("an ended thread was resumed")
}

/// Called on the way back to EL0 after an interrupt or a syscall: ends a killed thread,
/// or switches when an IPI or the timer asked for it.
pub fn before_user_return() {
    let local = cpu::this();
    let kill = local.exit_pending.load(Ordering::Relaxed) || local.running().is_some_and(|t| t.kill_pending());
    if kill {
        exit_current();
    }
    if local.need_resched.swap(false, Ordering::Relaxed) {
        reschedule(Outcome::Yield);
        // This thread may resume on another CPU: `local` is the CPU it left, whose
        // current thread is someone else now. Look at the thread itself.
        if cpu::current_running().is_some_and(|t| t.kill_pending()) {
            exit_current();
        }
    }
}

/// The timer interrupt: ends expired waits and asks for a switch when the slice is over
/// and another thread is waiting for this CPU.
pub fn timer_interrupt() {
    let cpu = cpu_index();
    let now_ticks = timer::ticks();
    let now = now_ns();
    // Expired entries are taken out a batch at a time and acted on with the lock
    // dropped (a wake takes it again): an interrupt handler allocates nothing.
    let mut first = true;
    loop {
        let mut expired: [Option<DeadlineEntry>; 8] = Default::default();
        let taken = take_expired(cpu, now, &mut expired, first.then_some(now_ticks));
        first = false;
        for entry in expired.into_iter().flatten() {
            match entry {
                DeadlineEntry::Wake(node) => {
                    node.wake(WakeReason::TimedOut);
                }
                DeadlineEntry::Call(target, token) => target.deadline_reached(token),
            }
        }
        if taken < 8 {
            break;
        }
    }
    arm_timer(cpu);
}

/// Moves up to `out.len()` entries of CPU `cpu`'s deadline queue that are due at `now`
/// into `out` and gives their number; with `slice_check` (the counter now) it also ends
/// the running thread's slice when it is over.
fn take_expired(cpu: usize, now: i64, out: &mut [Option<DeadlineEntry>], slice_check: Option<u64>) -> usize {
    let mut s = SCHED.lock();
    let q = &mut s.cpus[cpu];
    let mut taken = 0;
    let mut i = 0;
    while i < q.deadlines.len() && taken < out.len() {
        if q.deadlines[i].ns <= now {
            out[taken] = Some(q.deadlines.swap_remove(i).entry);
            taken += 1;
        } else {
            i += 1;
        }
    }
    if let Some(now_ticks) = slice_check
        && now_ticks >= q.slice_end
    {
        if !q.ready.is_empty() {
            cpu::this().need_resched.store(true, Ordering::Relaxed);
        }
        // A new slice either way (the switch that need_resched asks for sets its
        // own): a slice end left in the past would re-arm the timer in the past, and
        // an idle CPU between `enable_interrupts` and `disable_interrupts` would then
        // take the timer interrupt again at once, forever.
        q.slice_end = now_ticks + slice_ticks().0;
    }
    taken
}

/// Queues a call of `target` with `token` at `deadline` (monotonic nanoseconds) on this
/// CPU's deadline queue (timers). NO_MEMORY when the queue cannot grow.
pub fn add_deadline_call(deadline: i64, target: Arc<dyn DeadlineCallback>, token: u64) -> crate::error::ZxResult {
    {
        let mut s = SCHED.lock();
        let q = &mut s.cpus[cpu_index()].deadlines;
        // Room for this call and still for every thread's deadline (see `THREADS`).
        q.try_reserve(THREADS.load(Ordering::Relaxed) + 1).map_err(|_| crate::error::ZxError::NoMemory)?;
        q.push(Deadline::new(deadline, DeadlineEntry::Call(target, token)));
    }
    arm_timer(cpu_index());
    Ok(())
}

/// Removes the deadline call queued with `token`, wherever it is; gives its target back
/// for the caller to drop with no lock held.
pub fn remove_deadline_call(token: u64) -> Option<Arc<dyn DeadlineCallback>> {
    let mut s = SCHED.lock();
    for q in s.cpus.iter_mut() {
        let at = q.deadlines.iter().position(|d| matches!(d.entry, DeadlineEntry::Call(_, t) if t == token));
        if let Some(at) = at
            && let DeadlineEntry::Call(target, _) = q.deadlines.swap_remove(at).entry
        {
            return Some(target);
        }
    }
    None
}

/// Makes `thread` notice a kill: wakes it if it is blocked, or interrupts the CPU that
/// runs it.
pub fn kick(thread: &Arc<Thread>) {
    let wait = {
        let s = SCHED.lock();
        let run = &thread.run;
        match run.state(&s) {
            RunState::Blocked => run.wait(&s).map(|seq| WaitNode { thread: thread.clone(), seq }),
            RunState::Running => {
                if let Some(c) = run.last_cpu(&s)
                    && c != cpu_index()
                {
                    super::irq::send_reschedule(c);
                }
                None
            }
            _ => None,
        }
    };
    if let Some(node) = wait {
        node.wake(WakeReason::Killed);
    }
}

/// This CPU's idle loop: runs threads as they become ready, waits in `wfi` otherwise.
pub fn idle_loop() -> ! {
    let local: &CpuLocal = cpu::this();
    let cpu = cpu_index();
    loop {
        // One look under the lock decides, and sets the idle flag with it: an enqueue
        // after this sees the flag and sends the IPI that ends the `wfi`. (A flag set
        // at an earlier look is not enough: when the work it saw was taken by another
        // CPU meanwhile, this CPU slept flagged busy, and a thread placed on it waited
        // for its next timer interrupt, up to a whole slice.)
        let (run, expired, wake) = {
            let mut s = SCHED.lock();
            let now = timer::ticks();
            let run = has_work_for(&s, cpu);
            // Deadlines that passed while this CPU was busy with interrupts masked end
            // now rather than at the next interrupt. Later ones are covered by the
            // timer: every path that queues a deadline, and every timer interrupt,
            // arms it for the earliest (`timer_due`).
            let expired = s.cpus[cpu].deadlines.iter().any(|d| d.at <= now);
            // An IPI or slice end that asked for a switch is answered by this look (a
            // stale request would cost the next thread a needless switch).
            local.need_resched.store(false, Ordering::Relaxed);
            let wake = run || expired;
            s.cpus[cpu].idle = !wake;
            s.cpus[cpu].woken = wake;
            (run, expired, wake)
        };
        if expired {
            timer_interrupt();
        }
        if run {
            // Switches to the thread `pick` chooses (this CPU's queue first, else one to
            // take). It returns when a reschedule on this CPU found nothing to run: that
            // one flagged the CPU idle under the lock of its last look (an enqueue since
            // then sent the IPI that ends the `wfi` at once) and armed the timer for the
            // earliest deadline, so there is nothing to look at again unless a deadline
            // was due already (it asked with `need_resched`).
            reschedule(Outcome::Yield);
            if local.need_resched.load(Ordering::Relaxed) {
                continue;
            }
        } else if wake {
            continue;
        }
        sleep_until_interrupt();
    }
}

/// Waits for an interrupt with interrupts masked (a pending one still ends the wait,
/// whatever PSTATE.I says), then handles it right here: the GIC hands it out through its
/// acknowledge register just as it would to the vector, so the idle loop need not take
/// it as an exception (a whole trap frame saved and restored for every IPI). A wait
/// that ended for no interrupt finds none.
fn sleep_until_interrupt() {
    if super::sync::checks_enabled() {
        // Only a CPU flagged idle is sent an IPI when another CPU queues work for it
        // (and is then `woken`; the IPI ends the `wfi` at once); work it queues for
        // itself sets `need_resched` instead, which the idle loop read before coming
        // here. One that sleeps flagged busy otherwise may sleep through its work until
        // its next timer interrupt, up to a whole slice.
        let cpu = cpu_index();
        let s = SCHED.lock();
        if !s.cpus[cpu].idle && !s.cpus[cpu].woken {
            panic!("sched: CPU {cpu} about to wait in wfi while flagged busy ({} queued)", s.cpus[cpu].ready.len());
        }
    }
    crate::arch::aarch64::cpu::wait_for_interrupt();
    super::irq::handle_irq();
}

/// Number of threads waiting in run queues (for tests and `ps`).
pub fn ready_count() -> usize {
    SCHED.lock().cpus.iter().map(|q| q.ready.len()).sum()
}
