//! Processes, threads, jobs and the root resource.

use crate::abi::{info, thread_state};
use crate::handle::handle_type;
use crate::nr;
use crate::sys::{addr, call, call_ok};
use crate::{AsHandleRef, Handle, Koid, Result, Vmar, le_u32, le_u64};

handle_type!(
    /// A process: an address space, a handle table and threads.
    Process
);
handle_type!(
    /// A thread.
    Thread
);
handle_type!(
    /// A job: a group of processes and jobs that can be killed together.
    Job
);
handle_type!(
    /// A resource (Ferrite has one, the root resource: physical VMOs, console input,
    /// kernel memory statistics).
    Resource
);

/// Operations of processes, threads and jobs.
pub trait Task: AsHandleRef {
    /// `zx_task_kill`: asynchronous for a started task (wait for TASK_TERMINATED).
    fn kill(&self) -> Result {
        // SAFETY: no pointers (killing ourselves does not return, which is fine).
        unsafe { call_ok(nr::TASK_KILL, [self.raw_handle() as u64]) }
    }
}
impl Task for Process {}
impl Task for Thread {}
impl Task for Job {}

/// `ZX_INFO_PROCESS`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessInfo {
    /// The return code, once exited.
    pub return_code: i64,
    /// `zx_process_start` succeeded.
    pub started: bool,
    /// Dying or dead.
    pub exited: bool,
}

/// `ZX_INFO_JOB`.
#[derive(Clone, Copy, Debug, Default)]
pub struct JobInfo {
    /// The return code (-1024 when killed).
    pub return_code: i64,
    /// Dead.
    pub exited: bool,
}

/// `ZX_INFO_TASK_STATS` (memory of a process).
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskStats {
    /// Bytes of all its mappings.
    pub mem_mapped_bytes: u64,
    /// Committed bytes only it maps.
    pub mem_private_bytes: u64,
    /// Committed bytes other processes map too.
    pub mem_shared_bytes: u64,
    /// Its share of the shared bytes.
    pub mem_scaled_shared_bytes: u64,
}

/// A thread's state (`ZX_THREAD_STATE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadState(pub u32);

impl ThreadState {
    /// A short name: new, running, dying, dead, sleeping, futex, port, channel, wait.
    pub fn name(self) -> &'static str {
        match self.0 {
            thread_state::NEW => "new",
            thread_state::RUNNING => "running",
            thread_state::DYING => "dying",
            thread_state::DEAD => "dead",
            thread_state::BLOCKED_SLEEPING => "sleeping",
            thread_state::BLOCKED_FUTEX => "futex",
            thread_state::BLOCKED_PORT => "port",
            thread_state::BLOCKED_CHANNEL => "channel",
            thread_state::BLOCKED_WAIT_ONE => "wait-one",
            thread_state::BLOCKED_WAIT_MANY => "wait-many",
            _ => "blocked",
        }
    }
}

/// `ZX_INFO_THREAD`.
#[derive(Clone, Copy, Debug)]
pub struct ThreadInfo {
    /// The state.
    pub state: ThreadState,
    /// Bit i set for each online CPU i.
    pub cpu_affinity_mask: u64,
}

/// `ZX_INFO_THREAD_STATS`.
#[derive(Clone, Copy, Debug)]
pub struct ThreadStats {
    /// Nanoseconds the thread has run.
    pub total_runtime: i64,
    /// The CPU it last ran on (`None` before it ran).
    pub last_scheduled_cpu: Option<u32>,
}

fn name_args(name: &str) -> [u64; 2] {
    [addr(name.as_ptr()), name.len() as u64]
}

fn koids(object: &impl AsHandleRef, topic: u32, out: &mut [Koid]) -> Result<(usize, usize)> {
    // SAFETY: a u64 slice viewed as bytes, for the kernel to fill with koids.
    let bytes = unsafe { core::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), out.len() * 8) };
    object.get_info_raw(topic, bytes)
}

impl Process {
    /// `zx_process_create` in `job`: a NEW process and its root VMAR.
    pub fn create(job: &Job, name: &str) -> Result<(Process, Vmar)> {
        let (mut p, mut v) = (0u32, 0u32);
        let [np, nl] = name_args(name);
        // SAFETY: the kernel reads the name and writes two u32s.
        unsafe { call_ok(nr::PROCESS_CREATE, [job.raw() as u64, np, nl, 0, addr(&raw mut p), addr(&raw mut v)])? };
        Ok((Process(Handle::from_raw(p)), Vmar::from(Handle::from_raw(v))))
    }

    /// `zx_process_start`: runs `thread` at `entry` with SP `stack`, x0 = the handle
    /// `arg1` (moved into the process; consumed whatever the result) and x1 = `arg2`.
    pub fn start(&self, thread: &Thread, entry: usize, stack: usize, arg1: Handle, arg2: usize) -> Result {
        // SAFETY: no pointers in our memory.
        unsafe {
            call_ok(
                nr::PROCESS_START,
                [
                    self.raw() as u64,
                    thread.raw() as u64,
                    entry as u64,
                    stack as u64,
                    arg1.into_raw() as u64,
                    arg2 as u64,
                ],
            )
        }
    }

    /// `zx_process_read_memory` into `buf` from `vaddr`; returns the bytes read.
    pub fn read_memory(&self, vaddr: usize, buf: &mut [u8]) -> Result<usize> {
        let mut actual = 0usize;
        // SAFETY: the kernel writes at most buf.len() bytes and one usize.
        unsafe {
            call_ok(
                nr::PROCESS_READ_MEMORY,
                [self.raw() as u64, vaddr as u64, addr(buf.as_mut_ptr()), buf.len() as u64, addr(&raw mut actual)],
            )?
        };
        Ok(actual)
    }

    /// `zx_process_write_memory` of `data` at `vaddr`; returns the bytes written.
    pub fn write_memory(&self, vaddr: usize, data: &[u8]) -> Result<usize> {
        let mut actual = 0usize;
        // SAFETY: the kernel reads data and writes one usize.
        unsafe {
            call_ok(
                nr::PROCESS_WRITE_MEMORY,
                [self.raw() as u64, vaddr as u64, addr(data.as_ptr()), data.len() as u64, addr(&raw mut actual)],
            )?
        };
        Ok(actual)
    }

    /// `ZX_INFO_PROCESS`.
    pub fn info(&self) -> Result<ProcessInfo> {
        let mut buf = [0u8; info::PROCESS_SIZE];
        self.get_info_raw(info::PROCESS, &mut buf)?;
        Ok(ProcessInfo { return_code: le_u64(&buf, 0) as i64, started: buf[8] != 0, exited: buf[9] != 0 })
    }

    /// `ZX_INFO_PROCESS_THREADS`: koids of its live threads; (written, available).
    pub fn threads(&self, out: &mut [Koid]) -> Result<(usize, usize)> {
        koids(self, info::PROCESS_THREADS, out)
    }

    /// `ZX_INFO_TASK_STATS`.
    pub fn task_stats(&self) -> Result<TaskStats> {
        let mut buf = [0u8; info::TASK_STATS_SIZE];
        self.get_info_raw(info::TASK_STATS, &mut buf)?;
        Ok(TaskStats {
            mem_mapped_bytes: le_u64(&buf, 0),
            mem_private_bytes: le_u64(&buf, 8),
            mem_shared_bytes: le_u64(&buf, 16),
            mem_scaled_shared_bytes: le_u64(&buf, 24),
        })
    }
}

impl Thread {
    /// `zx_thread_create` in `process`.
    pub fn create(process: &Process, name: &str) -> Result<Thread> {
        let mut out = 0u32;
        let [np, nl] = name_args(name);
        // SAFETY: the kernel reads the name and writes one u32.
        unsafe { call_ok(nr::THREAD_CREATE, [process.raw() as u64, np, nl, 0, addr(&raw mut out)])? };
        Ok(Thread(Handle::from_raw(out)))
    }

    /// `zx_thread_start`: pc = `entry`, sp = `stack`, x0 = `arg1`, x1 = `arg2`.
    ///
    /// # Safety
    /// `entry` and `stack` must make a thread that does not break the process's memory
    /// (it runs concurrently with everything else).
    pub unsafe fn start(&self, entry: usize, stack: usize, arg1: usize, arg2: usize) -> Result {
        // SAFETY: the caller vouches for entry and stack.
        unsafe { call_ok(nr::THREAD_START, [self.raw() as u64, entry as u64, stack as u64, arg1 as u64, arg2 as u64]) }
    }

    /// `ZX_INFO_THREAD`.
    pub fn info(&self) -> Result<ThreadInfo> {
        let mut buf = [0u8; info::THREAD_SIZE];
        self.get_info_raw(info::THREAD, &mut buf)?;
        Ok(ThreadInfo { state: ThreadState(le_u32(&buf, 0)), cpu_affinity_mask: le_u64(&buf, 8) })
    }

    /// `ZX_INFO_THREAD_STATS`.
    pub fn stats(&self) -> Result<ThreadStats> {
        let mut buf = [0u8; info::THREAD_STATS_SIZE];
        self.get_info_raw(info::THREAD_STATS, &mut buf)?;
        let cpu = le_u32(&buf, 8);
        Ok(ThreadStats {
            total_runtime: le_u64(&buf, 0) as i64,
            last_scheduled_cpu: if cpu == u32::MAX { None } else { Some(cpu) },
        })
    }
}

impl Job {
    /// `zx_job_create` below `parent`.
    pub fn create(parent: &Job) -> Result<Job> {
        let mut out = 0u32;
        // SAFETY: the kernel writes one u32.
        unsafe { call_ok(nr::JOB_CREATE, [parent.raw() as u64, 0, addr(&raw mut out)])? };
        Ok(Job(Handle::from_raw(out)))
    }

    /// `ZX_INFO_JOB_CHILDREN`: koids of the child jobs; (written, available).
    pub fn children(&self, out: &mut [Koid]) -> Result<(usize, usize)> {
        koids(self, info::JOB_CHILDREN, out)
    }

    /// `ZX_INFO_JOB_PROCESSES`: koids of the job's processes; (written, available).
    pub fn processes(&self, out: &mut [Koid]) -> Result<(usize, usize)> {
        koids(self, info::JOB_PROCESSES, out)
    }

    /// `ZX_INFO_JOB`.
    pub fn info(&self) -> Result<JobInfo> {
        let mut buf = [0u8; info::JOB_SIZE];
        self.get_info_raw(info::JOB, &mut buf)?;
        Ok(JobInfo { return_code: le_u64(&buf, 0) as i64, exited: buf[8] != 0 })
    }
}

/// `zx_process_exit`: ends this process with `retcode`.
pub fn process_exit(retcode: i64) -> ! {
    // SAFETY: no pointers; the call does not return.
    unsafe { call(nr::PROCESS_EXIT, [retcode as u64]) };
    unreachable_loop()
}

/// `zx_thread_exit`: ends this thread.
pub fn thread_exit() -> ! {
    // SAFETY: no pointers; the call does not return.
    unsafe { call(nr::THREAD_EXIT, []) };
    unreachable_loop()
}

fn unreachable_loop() -> ! {
    loop {
        core::hint::spin_loop();
    }
}
