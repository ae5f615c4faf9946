//! Jobs: a tree of jobs and processes. A job is alive until killed; a killed job is
//! KILLING until every job and process below it is DEAD, then DEAD and TERMINATED. A
//! job that is never killed is destroyed when its last handle is closed while it has no
//! children (ABI.md 4.3).

use super::{Name, NameCell, ProcLife, Process};
use crate::abi::{MAX_JOB_DEPTH, obj_type, retcode, signal};
use crate::error::{ZxError, ZxResult};
use crate::kernel::object::{KernelObject, ObjectBase};
use crate::kernel::sync::{Lock, class};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum JobLife {
    Alive,
    Killing,
    Dead,
}

struct JobState {
    life: JobLife,
    children: Vec<Arc<Job>>,
    processes: Vec<Arc<Process>>,
    retcode: i64,
    /// Removed from its parent (dead, or destroyed when its handles went).
    detached: bool,
}

/// A job object.
pub struct Job {
    base: ObjectBase,
    parent: Option<Arc<Job>>,
    depth: u32,
    name: NameCell,
    state: Lock<JobState>,
    /// Set (under the state lock) when the job leaves ALIVE: read by the parent's kill
    /// under the parent's lock, so that two job locks are never nested.
    killed: AtomicBool,
}

impl Job {
    /// The root job (made once at boot).
    pub fn root() -> &'static Arc<Job> {
        static ROOT: spin::Once<Arc<Job>> = spin::Once::new();
        ROOT.call_once(|| Arc::new(Job::new(None, 0, super::name_from(b"root"))))
    }

    fn new(parent: Option<Arc<Job>>, depth: u32, name: Name) -> Job {
        Job {
            base: ObjectBase::new(obj_type::JOB, signal::JOB_NO_JOBS | signal::JOB_NO_PROCESSES),
            parent,
            depth,
            name: NameCell::new(name),
            state: Lock::new(
                &class::JOB,
                JobState {
                    life: JobLife::Alive,
                    children: Vec::new(),
                    processes: Vec::new(),
                    retcode: 0,
                    detached: false,
                },
            ),
            killed: AtomicBool::new(false),
        }
    }

    /// A child job: OUT_OF_RANGE 32 levels below the root, BAD_STATE when this job is
    /// killed or dead.
    pub fn create_child(self: &Arc<Self>) -> ZxResult<Arc<Job>> {
        if self.depth >= MAX_JOB_DEPTH {
            return Err(ZxError::OutOfRange);
        }
        let child = Arc::new(Job::new(Some(self.clone()), self.depth + 1, Name::EMPTY));
        let mut s = self.state.lock();
        if s.life != JobLife::Alive {
            return Err(ZxError::BadState);
        }
        s.children.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        s.children.push(child.clone());
        drop(s);
        self.base.update_signals(signal::JOB_NO_JOBS, 0);
        Ok(child)
    }

    pub(super) fn add_process(&self, process: &Arc<Process>) -> ZxResult {
        let mut s = self.state.lock();
        if s.life != JobLife::Alive {
            return Err(ZxError::BadState);
        }
        s.processes.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        s.processes.push(process.clone());
        drop(s);
        self.base.update_signals(signal::JOB_NO_PROCESSES, 0);
        Ok(())
    }

    /// A DEAD process leaves the job.
    pub(super) fn remove_process(&self, process: &Process) {
        let removed = {
            let mut s = self.state.lock();
            let at = s.processes.iter().position(|p| core::ptr::eq(&**p, process));
            at.map(|i| s.processes.remove(i))
        };
        if removed.is_some() && self.state.lock().processes.is_empty() {
            self.base.update_signals(0, signal::JOB_NO_PROCESSES);
        }
        drop(removed);
        self.check_end();
    }

    /// A NEW process of this job lost its last handle: it ends with code 0.
    pub(super) fn end_new_process(&self, process: &Process) {
        let found = self.state.lock().processes.iter().find(|p| core::ptr::eq(&***p, process)).cloned();
        if let Some(p) = found {
            p.exit_with(0, false);
        }
    }

    fn remove_child(&self, child: &Job) {
        let removed = {
            let mut s = self.state.lock();
            let at = s.children.iter().position(|c| core::ptr::eq(&**c, child));
            at.map(|i| s.children.remove(i))
        };
        if removed.is_some() && self.state.lock().children.is_empty() {
            self.base.update_signals(0, signal::JOB_NO_JOBS);
        }
        drop(removed);
        self.check_end();
    }

    /// A killed job with nothing left below it dies; a job nobody holds a handle to with
    /// nothing below it is destroyed.
    fn check_end(&self) {
        let (die, detach) = {
            let mut s = self.state.lock();
            let empty = s.children.is_empty() && s.processes.is_empty();
            if !empty || s.detached {
                (false, false)
            } else if s.life == JobLife::Killing {
                s.life = JobLife::Dead;
                s.detached = true;
                (true, true)
            } else if s.life == JobLife::Alive && self.base.handle_count() == 0 && self.parent.is_some() {
                s.detached = true;
                (false, true)
            } else {
                (false, false)
            }
        };
        if detach && let Some(parent) = &self.parent {
            parent.remove_child(self);
        }
        if die {
            self.base.update_signals(0, signal::TASK_TERMINATED);
        }
    }

    /// `zx_task_kill` of a job: everything below it is killed, depth first.
    ///
    /// One child at a time, with no copy of the lists, so killing never allocates: a
    /// KILLING job takes no new children, and each step kills one that is not killed
    /// yet (a job still ALIVE, a process still NEW or RUNNING), so this ends.
    pub fn kill(self: &Arc<Self>) {
        {
            let mut s = self.state.lock();
            if s.life != JobLife::Alive {
                return;
            }
            s.life = JobLife::Killing;
            s.retcode = retcode::SYSCALL_KILL;
            self.killed.store(true, Ordering::Release);
        }
        while let Some(child) = self.next_child_to_kill() {
            child.kill();
        }
        while let Some(process) = self.next_process_to_kill() {
            process.kill();
        }
        self.check_end();
    }

    /// A child job still ALIVE, if any. Its `killed` flag is read, not its lock: two
    /// job locks are never nested (the lock-order check forbids two locks of one rank).
    /// A child being killed at this moment may still read as alive; killing it again
    /// does nothing.
    fn next_child_to_kill(&self) -> Option<Arc<Job>> {
        let s = self.state.lock();
        s.children.iter().find(|c| !c.killed.load(Ordering::Acquire)).cloned()
    }

    /// A process of this job still NEW or RUNNING, if any.
    fn next_process_to_kill(&self) -> Option<Arc<Process>> {
        let s = self.state.lock();
        s.processes.iter().find(|p| matches!(p.life(), ProcLife::New | ProcLife::Running)).cloned()
    }

    /// (return code, exited) for ZX_INFO_JOB.
    pub fn info(&self) -> (i64, bool) {
        let s = self.state.lock();
        let dead = s.life == JobLife::Dead;
        (if dead { s.retcode } else { 0 }, dead)
    }

    /// Koids of child jobs (not yet dead or destroyed).
    pub fn child_koids(&self) -> Vec<u64> {
        self.state.lock().children.iter().map(|c| c.base.koid()).collect()
    }

    /// Koids of child processes (not yet dead).
    pub fn process_koids(&self) -> Vec<u64> {
        self.state.lock().processes.iter().map(|p| p.base().koid()).collect()
    }
}

impl KernelObject for Job {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn obj_type(&self) -> u32 {
        obj_type::JOB
    }
    fn related_koid(&self) -> u64 {
        self.parent.as_ref().map_or(0, |p| p.base.koid())
    }
    fn name(&self) -> Option<[u8; 32]> {
        Some(self.name.get().bytes())
    }
    fn set_name(&self, name: &[u8]) -> ZxResult {
        self.name.set(super::name_from(name));
        Ok(())
    }
    fn on_zero_handles(&self) {
        self.check_end();
    }
}
