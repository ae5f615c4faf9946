//! The task calls (ABI.md 4.2, calls 2 and 26–34), each with its check order.

use super::{Caller, give, publish_handle, user};
use crate::abi::{USER_BASE, USER_END, rights};
use crate::error::{ZxError, ZxResult};
use crate::kernel::task::{Job, Name, ProcLife, Process, Thread};
use crate::kernel::vm_object::VmarObject;
use crate::kernel::{aspace, with_kernel};
use crate::object::rights::check_rights;
use alloc::sync::Arc;

/// Most bytes one process_read/write_memory moves.
const PROCESS_MEMORY_MAX: u64 = 64 << 20;

/// "name": NULL → INVALID_ARGS (even with size 0); min(size, 32) bytes are read.
fn read_name(name: u64, size: u64) -> ZxResult<Name> {
    if name == 0 {
        return Err(ZxError::InvalidArgs);
    }
    let len = size.min(32) as usize;
    let mut bytes = [0u8; 32];
    user::get(name, &mut bytes[..len])?;
    Ok(Name::from_padded(bytes))
}

/// A job handle with `right`, or with WRITE (Zircon's fallback).
fn job_with(c: &Caller, handle: u32, right: u32) -> ZxResult<Arc<Job>> {
    let (job, have) = c.process().get_object_and_rights::<Job>(handle, 0)?;
    if have & right == 0 && have & rights::WRITE == 0 {
        return Err(ZxError::AccessDenied);
    }
    Ok(job)
}

/// "entry valid": 0 or inside user space.
fn entry_valid(entry: u64) -> ZxResult {
    if entry == 0 || (USER_BASE..USER_END).contains(&entry) { Ok(()) } else { Err(ZxError::InvalidArgs) }
}

/// `zx_process_exit`: records the code, kills every thread, and never returns.
pub fn process_exit(c: &Caller, retcode: i64) -> ZxResult {
    c.process().exit_with(retcode, false);
    crate::kernel::cpu::this().exit_pending.store(true, core::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// `zx_process_create` (26).
#[allow(clippy::too_many_arguments)]
pub fn process_create(
    c: &Caller,
    job: u32,
    name: u64,
    name_size: u64,
    options: u32,
    proc_out: u64,
    vmar_out: u64,
) -> ZxResult {
    if options != 0 {
        return Err(ZxError::InvalidArgs);
    }
    let name = read_name(name, name_size)?;
    let job = job_with(c, job, rights::MANAGE_PROCESS)?;
    super::ensure_heap_headroom()?;
    let process = Process::create(&job, name)?;
    let vmar = Arc::new(VmarObject::root(process.aspace_id()));
    let proc_value = c.process().add_handle(process.clone(), rights::DEFAULT_PROCESS)?;
    let vmar_value = match c.process().add_handle(vmar, rights::DEFAULT_VMAR | rights::IO | rights::EXECUTE) {
        Ok(v) => v,
        Err(e) => {
            drop(c.process().remove_handle(proc_value));
            return Err(e);
        }
    };
    let written =
        user::put(proc_out, &proc_value.to_le_bytes()).and_then(|_| user::put(vmar_out, &vmar_value.to_le_bytes()));
    if let Err(e) = written {
        drop(c.process().remove_handle(vmar_value));
        drop(c.process().remove_handle(proc_value));
        return Err(e);
    }
    Ok(())
}

/// `zx_process_start` (27): arg1 is consumed on every path.
#[allow(clippy::too_many_arguments)]
pub fn process_start(c: &Caller, process: u32, thread: u32, entry: u64, stack: u64, arg1: u32, arg2: u64) -> ZxResult {
    let looked_up = c
        .process()
        .get_object_with_rights::<Process>(process, rights::WRITE)
        .and_then(|p| c.process().get_object_with_rights::<Thread>(thread, rights::WRITE).map(|t| (p, t)));
    // 3. arg1 leaves the caller's table whatever happens next.
    let moved = if arg1 == 0 { None } else { c.process().remove_handle(arg1).ok() };
    let (target, thread) = looked_up?;
    // 4.
    if !Arc::ptr_eq(thread.process(), &target) {
        return Err(ZxError::AccessDenied);
    }
    // 5.
    if let Some(h) = &moved
        && h.rights & rights::TRANSFER == 0
    {
        return Err(ZxError::AccessDenied);
    }
    // 6, 7, 8.
    if target.life() != ProcLife::New {
        return Err(ZxError::BadState);
    }
    entry_valid(entry)?;
    if thread.life() != crate::kernel::task::ThreadLife::New {
        return Err(ZxError::BadState);
    }
    let arg1_value = match moved {
        Some(h) => {
            // Waits through the moved handle end now (ABI.md 4, "Waits end with CANCELED").
            h.object.end_waits();
            target.add_khandle(h.object, h.rights)? as u64
        }
        None => 0,
    };
    target.start(&thread, entry, stack, arg1_value, arg2)
}

/// `zx_process_read_memory` / `zx_process_write_memory` (28, 29).
#[allow(clippy::too_many_arguments)]
pub fn process_memory(c: &Caller, process: u32, vaddr: u64, buf: u64, len: u64, actual: u64, write: bool) -> ZxResult {
    if buf == 0 || len == 0 || len > PROCESS_MEMORY_MAX {
        return Err(ZxError::InvalidArgs);
    }
    let need = if write { rights::WRITE } else { rights::READ | rights::WRITE };
    let target = c.process().get_object_with_rights::<Process>(process, need)?;
    if target.life() == ProcLife::Dead {
        return Err(ZxError::BadState);
    }
    let id = target.aspace_id();
    let n = with_kernel(|k| -> ZxResult<u64> {
        let mapping = *aspace::get(k, id)?.vmar.find(vaddr).ok_or(ZxError::NoMemory)?;
        let n = len.min(mapping.base + mapping.len - vaddr);
        let offset = mapping.vmo_offset + (vaddr - mapping.base);
        crate::kernel::syscalls::vmo::copy_vmo(k, mapping.vmo, buf, offset, n, write)?;
        Ok(n)
    })?;
    user::put(actual, &n.to_le_bytes())
}

/// `zx_thread_create` (30).
pub fn thread_create(c: &Caller, process: u32, name: u64, name_size: u64, options: u32, out: u64) -> ZxResult {
    if options != 0 {
        return Err(ZxError::InvalidArgs);
    }
    let name = read_name(name, name_size)?;
    let target = c.process().get_object_with_rights::<Process>(process, rights::MANAGE_THREAD)?;
    super::ensure_heap_headroom()?;
    let thread = Thread::create(&target, name)?;
    give(c, thread, rights::DEFAULT_THREAD, out)
}

/// `zx_thread_start` (31).
pub fn thread_start(c: &Caller, thread: u32, entry: u64, stack: u64, arg1: u64, arg2: u64) -> ZxResult {
    let thread = c.process().get_object_with_rights::<Thread>(thread, rights::MANAGE_THREAD)?;
    // BAD_STATE for a process that is not RUNNING comes before INVALID_ARGS for the
    // entry. `Thread::start` checks the process's state first (under its lock, where
    // it counts), so the state is looked at here only when the entry is bad: one lock
    // round trip less on the way that starts the thread, the same answer either way.
    if entry_valid(entry).is_err() && thread.process().life() != ProcLife::Running {
        return Err(ZxError::BadState);
    }
    entry_valid(entry)?;
    thread.start(entry, stack, arg1, arg2)
}

/// `zx_thread_exit` (32): the caller ends at the top of this syscall.
pub fn thread_exit(_c: &Caller) -> ZxResult {
    // Ends here, not through `run_call`'s check of `exit_pending`: nothing on this stack
    // holds a lock or a counted reference (the caller is a borrow). The thread goes
    // from RUNNING (or DYING, when a kill came first) to DEAD in one step
    // (`Thread::announce_death`), as `Thread::kill` followed by that step would leave it.
    crate::kernel::sched::exit_current()
}

/// `zx_task_kill` (33): BAD_HANDLE, DESTROY, then the type.
pub fn task_kill(c: &Caller, task: u32) -> ZxResult {
    let (object, have, _) = c.process().get_handle(task)?;
    check_rights(have, rights::DESTROY)?;
    if let Ok(job) = object.get::<Job>() {
        job.kill();
    } else if let Ok(process) = object.get::<Process>() {
        process.kill();
    } else if let Ok(thread) = object.get::<Thread>() {
        thread.kill();
    } else {
        return Err(ZxError::WrongType);
    }
    drop(object);
    if c.thread.kill_pending() {
        crate::kernel::cpu::this().exit_pending.store(true, core::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}

/// `zx_job_create` (34).
pub fn job_create(c: &Caller, parent: u32, options: u32, out: u64) -> ZxResult {
    if options != 0 {
        return Err(ZxError::InvalidArgs);
    }
    let parent = job_with(c, parent, rights::MANAGE_JOB)?;
    super::ensure_heap_headroom()?;
    let job = parent.create_child()?;
    let value = c.process().add_handle(job, rights::DEFAULT_JOB)?;
    publish_handle(c, value, out)
}
