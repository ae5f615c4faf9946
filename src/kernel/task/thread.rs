//! Threads: NEW → RUNNING → DYING → DEAD (ABI.md 4.3). A thread owns a kernel stack
//! (with a guard page) and a saved context; it runs on any CPU the scheduler picks.

use super::{Name, NameCell, Process};
use crate::abi::{obj_type, signal, thread_state};
use crate::arch::aarch64::context::Context;
use crate::arch::aarch64::exception::TrapFrame;
use crate::error::{ZxError, ZxResult};
use crate::kernel::kstack::KernelStack;
use crate::kernel::object::{KernelObject, ObjectBase};
use crate::kernel::sched::{self, ThreadRun, WaitCell};
use crate::kernel::sync::{Lock, LockGuard, class};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};

/// Where a thread is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadLife {
    /// Created, not started.
    New,
    /// Started (blocked included).
    Running,
    /// Being killed or exiting.
    Dying,
    /// Ended.
    Dead,
}

impl ThreadLife {
    fn from_u8(v: u8) -> ThreadLife {
        match v {
            0 => ThreadLife::New,
            1 => ThreadLife::Running,
            2 => ThreadLife::Dying,
            _ => ThreadLife::Dead,
        }
    }
}

/// A thread object.
pub struct Thread {
    base: ObjectBase,
    process: Arc<Process>,
    name: NameCell,
    context: Context,
    /// Its kernel stack (until it is DEAD). Its lock is also the one every step of the
    /// life is taken under: a step reads `life`, checks it and stores the next value
    /// with this lock held ([`Thread::set_life`] wants the guard), so two steps never
    /// interleave, and the stack is only used or freed at such a step.
    stack: Lock<Option<KernelStack>>,
    /// Where it is in its life, a [`ThreadLife`]: changed only with `stack` locked, read
    /// without a lock (a snapshot, as a read under the lock was once it was released;
    /// NEW is never entered again, so a reader that sees another state may rely on it
    /// staying left).
    life: AtomicU8,
    kill: AtomicBool,
    /// Scheduler state (only with the scheduler's lock held).
    pub(crate) run: ThreadRun,
    /// Its current or last wait (`sched::WaitNode`).
    pub(crate) wait: WaitCell,
    blocked_state: AtomicU32,
}

impl Thread {
    /// A NEW thread of `process` with its kernel stack (NO_MEMORY when none can be had).
    pub fn create(process: &Arc<Process>, name: Name) -> ZxResult<Arc<Thread>> {
        let stack = KernelStack::new()?;
        // Room in the scheduler's queues, so that running, blocking, waking and killing
        // it never allocate (undone by `Drop`).
        sched::reserve_for_new_thread()?;
        let thread = Arc::new(Thread {
            base: ObjectBase::new(obj_type::THREAD, 0),
            process: process.clone(),
            name: NameCell::new(name),
            context: Context::new(),
            stack: Lock::new(&class::THREAD_LIFE, Some(stack)),
            life: AtomicU8::new(ThreadLife::New as u8),
            kill: AtomicBool::new(false),
            run: ThreadRun::new(),
            wait: WaitCell::new(),
            blocked_state: AtomicU32::new(0),
        });
        process.add_thread(&thread)?;
        Ok(thread)
    }

    /// The thread's process.
    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }

    /// The saved context (for the scheduler).
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Where it is in its life.
    pub fn life(&self) -> ThreadLife {
        ThreadLife::from_u8(self.life.load(Ordering::Acquire))
    }

    /// The next step of the life, taken with the stack lock held (`_step`).
    fn set_life(&self, _step: &LockGuard<'_, Option<KernelStack>>, life: ThreadLife) {
        self.life.store(life as u8, Ordering::Release);
    }

    /// True once a kill or exit of this thread (or its process) is under way.
    pub fn kill_pending(&self) -> bool {
        self.kill.load(Ordering::Acquire)
    }

    pub(crate) fn set_blocked_state(&self, state: u32) {
        self.blocked_state.store(state, Ordering::Release);
    }

    /// `ZX_INFO_THREAD.state`.
    pub fn info_state(&self) -> u32 {
        match self.life() {
            ThreadLife::New => thread_state::NEW,
            ThreadLife::Dying => thread_state::DYING,
            ThreadLife::Dead => thread_state::DEAD,
            ThreadLife::Running => match self.blocked_state.load(Ordering::Acquire) {
                0 => thread_state::RUNNING,
                s => s,
            },
        }
    }

    /// Nanoseconds run and the last CPU (ZX_INFO_THREAD_STATS).
    pub fn stats(&self) -> (u64, Option<usize>) {
        sched::thread_stats(self)
    }

    /// `zx_thread_start`: a NEW thread of a RUNNING process starts at EL0: pc = entry,
    /// sp = stack, x0 = arg1, x1 = arg2, every other register zero. BAD_STATE when the
    /// thread is not NEW or the process not RUNNING.
    pub fn start(self: &Arc<Self>, entry: u64, stack: u64, arg1: u64, arg2: u64) -> ZxResult {
        self.start_with(|f| f.set_user_entry(entry, stack, [arg1, arg2, 0]), false)
    }

    /// `zx_process_start`: as [`Thread::start`], for the first thread of a NEW process,
    /// which becomes RUNNING in the same step.
    pub fn start_initial(self: &Arc<Self>, entry: u64, stack: u64, arg1: u64, arg2: u64) -> ZxResult {
        self.start_with(|f| f.set_user_entry(entry, stack, [arg1, arg2, 0]), true)
    }

    /// Starts the first thread of the first process (NEW) with userboot's registers.
    pub fn start_with_frame(self: &Arc<Self>, frame: &TrapFrame) -> ZxResult {
        self.start_with(|f| *f = *frame, true)
    }

    /// The thread joins its process's started threads and becomes RUNNING in one step
    /// under the process's lock ([`Process::admit_started`]), then is made runnable.
    /// `frame` fills in the zeroed first trap frame in place on the kernel stack.
    fn start_with(self: &Arc<Self>, frame: impl FnOnce(&mut TrapFrame), initial: bool) -> ZxResult {
        self.process.admit_started(self, initial, || {
            let step = self.stack.lock();
            let kstack = step.as_ref().ok_or(ZxError::BadState)?;
            if self.life() != ThreadLife::New || !self.context.prepare_entry(kstack.bottom(), kstack.top(), frame) {
                return Err(ZxError::BadState);
            }
            self.set_life(&step, ThreadLife::Running);
            Ok(())
        })?;
        self.base.update_signals(0, signal::THREAD_RUNNING);
        sched::start(self);
        Ok(())
    }

    /// Kills the thread: a NEW one is DEAD at once; a running one stops before it runs
    /// more EL0 code (the caller, if it kills itself, must then end at the top of its
    /// syscall).
    pub fn kill(self: &Arc<Self>) {
        let stack = {
            let mut step = self.stack.lock();
            match self.life() {
                ThreadLife::New => {
                    self.set_life(&step, ThreadLife::Dead);
                    Some(step.take())
                }
                ThreadLife::Running => {
                    self.set_life(&step, ThreadLife::Dying);
                    self.kill.store(true, Ordering::Release);
                    None
                }
                _ => return,
            }
        };
        if let Some(stack) = stack {
            // Freed with no thread lock held.
            drop(stack);
            self.base.update_signals(0, signal::TASK_TERMINATED);
            self.process.thread_removed(self);
        } else {
            sched::kick(self);
        }
    }

    /// Runs on the ending thread itself, in its last kernel code before its final
    /// switch (`sched::exit_current`): the thread becomes DEAD and asserts TERMINATED,
    /// as Zircon's thread does on its own way out. So a joiner is woken before the
    /// switch and the scheduler can pick it straight away (on one CPU it used to wait
    /// for the idle loop to run [`Thread::after_death`] first: a third switch).
    ///
    /// Why this is early enough to be sound, on any number of CPUs: the thread runs no
    /// more EL0 code (it is Dying and never returns to EL0), and it stays allocated
    /// (its CPU's current cell, then the reaper slot, count it) until its CPU has
    /// switched away; a joiner that now closes the last handle or kills the process
    /// cannot free its stack or its address space, because both stay tied to what
    /// happens after the switch: the stack is freed, and the thread leaves its
    /// process's lists (which is what lets the process end and tear down its address
    /// space), only in [`Thread::after_death`]. Until then `PROCESS_THREADS` leaves a
    /// DEAD thread out (`Process::thread_koids`), so what a joiner sees is as before.
    pub(crate) fn announce_death(&self) {
        let step = self.stack.lock();
        self.set_life(&step, ThreadLife::Dead);
        drop(step);
        self.kill.store(true, Ordering::Release);
        self.base.update_signals(signal::THREAD_RUNNING, signal::TASK_TERMINATED);
    }

    /// Runs after the thread has ended and its CPU switched away from it: frees its
    /// kernel stack, then (if [`Thread::announce_death`] has not) asserts TERMINATED,
    /// then tells its process.
    pub(crate) fn after_death(self: &Arc<Self>) {
        let (stack, announced) = {
            let mut step = self.stack.lock();
            let announced = self.life() == ThreadLife::Dead;
            self.set_life(&step, ThreadLife::Dead);
            (step.take(), announced)
        };
        // Freed with no thread lock held (it may go back to the cache or be unmapped).
        drop(stack);
        if !announced {
            self.kill.store(true, Ordering::Release);
            self.base.update_signals(signal::THREAD_RUNNING, signal::TASK_TERMINATED);
        }
        self.process.thread_removed(self);
    }
}

impl Drop for Thread {
    fn drop(&mut self) {
        sched::release_thread();
    }
}

impl KernelObject for Thread {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn obj_type(&self) -> u32 {
        obj_type::THREAD
    }
    fn related_koid(&self) -> u64 {
        self.process.base().koid()
    }
    fn name(&self) -> Option<[u8; 32]> {
        Some(self.name.get().bytes())
    }
    fn set_name(&self, name: &[u8]) -> ZxResult {
        self.name.set(super::name_from(name));
        Ok(())
    }
    fn on_zero_handles(&self) {
        // A NEW thread nobody can start any more is destroyed.
        // Without the lock first: a thread that has left NEW never returns to it (the
        // common case: the last handle of a started or ended thread).
        if self.life() != ThreadLife::New {
            return;
        }
        let stack = {
            let mut step = self.stack.lock();
            if self.life() != ThreadLife::New {
                return;
            }
            self.set_life(&step, ThreadLife::Dead);
            step.take()
        };
        drop(stack);
        self.process.forget_new_thread(self);
    }
}
