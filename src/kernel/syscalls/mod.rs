//! Syscall handlers (ABI.md section 4): vectors.S calls the entry for the number in x16
//! from `SYSCALL_TABLE` with the user's x0..x7; it decodes them, runs the handler for the
//! calling thread (found through this CPU's data) and returns the value for x0. Every other register is restored by
//! vectors.S (or preserved by the handler itself, as the AAPCS64 requires).
//!
//! Each handler follows Zircon's check order: handle, type, rights, options, ranges
//! against the object, and user buffers last (when the kernel copies them).

mod handle;
mod ipc;
mod misc;
mod object;
mod task;
pub mod user;
mod vmar;
pub mod vmo;
mod wait;

use super::cpu;
use super::object::{HandleObject, KHandle, Resource};
use super::sync::with_order_check;
use super::task::{Process, Thread};
use super::vm_object::{VmarObject, VmoObject};
use crate::abi::ZX_HANDLE_INVALID;
use crate::arch::aarch64::exception::TrapFrame;
use crate::arch::aarch64::percpu::Running;
use crate::error::{ZxError, ZxResult, status_word};
use crate::syscall::{Syscall, decode, keeps_return_state};
use crate::vm::vmo::VmoId;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicPtr, Ordering};

/// Entries in [`SYSCALL_TABLE`]: numbers 0..=LAST (vectors.S gets this constant).
pub const SYSCALL_COUNT: usize = 64;
const _: () = assert!(SYSCALL_COUNT as u64 == crate::abi::sys::LAST + 1);

/// A syscall handler as vectors.S calls it: the user's x0..x7 as arguments, the value
/// for x0 as the result.
pub type SyscallEntry = extern "C" fn(u64, u64, u64, u64, u64, u64, u64, u64) -> u64;

/// One row of a syscall table as vectors.S reads it (one `ldp`): the handler, then
/// whether the entry must save ELR_EL1 and SPSR_EL1 around it (nonzero) or may leave them
/// in place, the call being lean (`syscall::keeps_return_state`).
#[repr(C)]
pub struct SyscallSlot {
    entry: SyscallEntry,
    saves_return_state: u64,
}
const _: () = assert!(core::mem::size_of::<SyscallSlot>() == 16); // vectors.S: `lsl #4`

/// Row `N` of a table for each `N` below `SYSCALL_COUNT`, with the lock-order check
/// `$checked`.
macro_rules! syscall_table {
    ($checked:literal: $($n:literal)*) => { [$(table_slot::<$n, $checked>()),*] };
}

/// The handler for each syscall number, indexed by x16 in vectors.S: a table rather than
/// a chain of checks. Entry `N` is `entry::<N, false>`, in which the decoding of number
/// `N` and the dispatch fold to the one handler (`zx_handle_close` first answers the null
/// syscall in [`close_entry`]). Entry 0 (which vectors.S also uses for every number past
/// the table) answers ZX_ERR_BAD_SYSCALL. This table's entries take their locks without
/// the lock-order check; [`SYSCALL_TABLE_CHECKED`]'s with it.
#[allow(unsafe_code)] // exported by name: vectors.S takes entry 0 from it
#[unsafe(no_mangle)]
static SYSCALL_TABLE: [SyscallSlot; SYSCALL_COUNT] = syscall_table!(false:
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
);

/// [`SYSCALL_TABLE`] with the lock-order check on (`lockcheck`): each entry is
/// `entry::<N, true>`, whose hot calls take their locks with the check (`CHECKED`).
static SYSCALL_TABLE_CHECKED: [SyscallSlot; SYSCALL_COUNT] = syscall_table!(true:
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31
    32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63
);

/// The table vectors.S calls through (one PC-relative `ldr` of this word, where an
/// `adr` of the table was one instruction too): [`SYSCALL_TABLE`], or
/// [`SYSCALL_TABLE_CHECKED`] from the moment boot turns the lock-order check on
/// ([`use_checked_table`]). So the hot calls learn whether the check is on from the
/// table they were called through, as a constant, instead of testing a flag each call
/// (as `sync::with_order_check` does for the calls' inner steps that still need it).
#[allow(unsafe_code)] // exported by name: vectors.S loads it
#[unsafe(no_mangle)]
static SYSCALL_TABLE_IN_USE: AtomicPtr<SyscallSlot> = AtomicPtr::new(SYSCALL_TABLE.as_ptr().cast_mut());

/// Makes every later syscall go through [`SYSCALL_TABLE_CHECKED`]. Boot only, when it
/// turns the lock-order check on, before any other CPU or user thread runs (the other
/// CPUs start after it with barriers, so they read the new word).
pub(crate) fn use_checked_table() {
    SYSCALL_TABLE_IN_USE.store(SYSCALL_TABLE_CHECKED.as_ptr().cast_mut(), Ordering::Release);
}

/// Whether syscalls go through [`SYSCALL_TABLE_CHECKED`] (for the kernel tests, which
/// boot with `lockcheck`).
pub fn lock_checking_table_in_use() -> bool {
    core::ptr::eq(SYSCALL_TABLE_IN_USE.load(Ordering::Acquire), SYSCALL_TABLE_CHECKED.as_ptr())
}

/// The table in use: the one [`SYSCALL_TABLE_IN_USE`] points to, so that a syscall
/// taken through a full frame ([`handle`]) runs the same entries as the vector's.
fn table_in_use() -> &'static [SyscallSlot; SYSCALL_COUNT] {
    if lock_checking_table_in_use() { &SYSCALL_TABLE_CHECKED } else { &SYSCALL_TABLE }
}

/// A table's row for number `N`, with the lock-order check `CHECKED`.
const fn table_slot<const N: u64, const CHECKED: bool>() -> SyscallSlot {
    let entry: SyscallEntry =
        if N == crate::abi::sys::HANDLE_CLOSE { close_entry::<CHECKED> } else { entry::<N, CHECKED> };
    SyscallSlot { entry, saves_return_state: !keeps_return_state(N) as u64 }
}
// vectors.S's path for an SVC numbered past the table calls row 0 after saving them.
const _: () = assert!(keeps_return_state(0));

/// Syscall number `N` with the user's argument registers; `CHECKED`: whether its locks
/// are taken with the lock-order check (the table it is in, [`SYSCALL_TABLE_IN_USE`]).
///
/// With `N` a constant, the decoding folds to one `Syscall` variant and [`dispatch`]'s
/// match to its one arm, so each entry is its handler's own prologue: it reads the
/// caller, calls (or inlines) the handler with the arguments still in registers and
/// checks for a kill, with no decoded call built in memory and no second jump table.
#[allow(clippy::too_many_arguments)]
extern "C" fn entry<const N: u64, const CHECKED: bool>(
    a0: u64,
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
    a6: u64,
    a7: u64,
) -> u64 {
    match decode(N, &[a0, a1, a2, a3, a4, a5, a6, a7]) {
        Ok(call) => run_call::<CHECKED>(call, N),
        Err(e) => status_word(Err(e)),
    }
}

/// `zx_handle_close`'s entry: the null syscall, closing ZX_HANDLE_INVALID, is OK and
/// touches no state, and is answered before any stack frame is set up; every other
/// handle goes on to [`close_call`]. (Its status comes back as an `i32` and is widened
/// here: with a tail call instead, the compiler sets up the frame before the test.)
#[allow(clippy::too_many_arguments)]
extern "C" fn close_entry<const CHECKED: bool>(a0: u64, _: u64, _: u64, _: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
    // The whole register is tested: when it is 0, x0 already holds the answer (OK), so
    // the test and the return are all. A handle of 0 with stray upper bits (the handle
    // is the low 32) is the same null close, answered by `handle::close` the long way.
    if a0 == u64::from(ZX_HANDLE_INVALID) {
        return a0;
    }
    close_call::<CHECKED>(a0 as u32) as i64 as u64
}

/// `zx_handle_close` of a handle other than ZX_HANDLE_INVALID: its status.
#[inline(never)]
fn close_call<const CHECKED: bool>(handle: u32) -> i32 {
    // A status word is a sign-extended `zx_status_t`, so it fits.
    run_call::<CHECKED>(Syscall::HandleClose { handle }, crate::abi::sys::HANDLE_CLOSE) as i32
}

/// Runs decoded call number `number` and ends a killed thread. A lean call (its entry
/// leaves ELR/SPSR unsaved: `syscall::keeps_return_state`) runs with this CPU marked
/// when the lock-order check is on ([`LeanCallMark`]).
#[inline(always)]
fn run_call<const CHECKED: bool>(call: Syscall, number: u64) -> u64 {
    // Only a call that can block or end threads can leave the flag set
    // (`Syscall::may_end_caller`); the flag is clear whenever EL0 runs. With the call a
    // constant variant (each `entry::<N>`), the test is compiled only into those calls.
    let may_end_caller = call.may_end_caller();
    let value = if CHECKED && keeps_return_state(number) {
        let _mark = LeanCallMark::set(number);
        dispatch::<CHECKED>(call)
    } else {
        dispatch::<CHECKED>(call)
    };
    if may_end_caller {
        end_if_killed();
    }
    value
}

/// This CPU runs a lean call (its entry did not save ELR/SPSR) under the lock-order
/// check: from [`LeanCallMark::set`] until the mark is dropped, an exception taken at
/// EL1 or a switch to another thread, either of which would rewrite the unsaved
/// registers, panics naming the call ([`check_not_in_lean_call`]). So the test suites,
/// which run with `lockcheck`, check `syscall::keeps_return_state`'s list on every lean
/// call they make; without the check the mark costs nothing.
struct LeanCallMark;

impl LeanCallMark {
    /// Marks this CPU for call number `number` (stored plus one: 0 is "none").
    #[cold]
    fn set(number: u64) -> Self {
        cpu::this().lean_call.store(number + 1, Ordering::Relaxed);
        LeanCallMark
    }
}

impl Drop for LeanCallMark {
    fn drop(&mut self) {
        cpu::this().lean_call.store(0, Ordering::Relaxed);
    }
}

/// Panics when this CPU runs a lean call (see [`LeanCallMark`]): `what` is about to
/// rewrite ELR_EL1 and SPSR_EL1, which that call's entry did not save. Called where an
/// exception is taken at EL1 and where a thread switches away, with the check on.
pub fn check_not_in_lean_call(what: &str) {
    let marked = cpu::this().lean_call.load(Ordering::Relaxed);
    if marked != 0 {
        panic!(
            "syscall {} is listed as lean (syscall::keeps_return_state) but met {what}, which rewrites \
             the ELR/SPSR its entry did not save",
            marked - 1
        );
    }
}

/// A thread killed while it was in the kernel ends here: at the end of a call, with
/// nothing held. `run_call` calls it after the calls `Syscall::may_end_caller` names;
/// `zx_object_wait_one` and `zx_port_wait` call it on their blocking paths only.
#[inline(always)]
fn end_if_killed() {
    if cpu::this().exit_pending.load(Ordering::Relaxed) {
        super::sched::exit_current();
    }
}

/// Runs the syscall an `svc #0` from EL0 asked for, with the registers in `frame`, and
/// puts the result in x0; every other register in the frame is left as it was. (The
/// vector table calls [`SYSCALL_TABLE`] directly; this is the same path for a frame.)
pub fn handle(frame: &mut TrapFrame) {
    let number = frame.x[16];
    let index = if number < SYSCALL_COUNT as u64 { number as usize } else { 0 };
    let a = &frame.x;
    frame.x[0] = (table_in_use()[index].entry)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
}

/// The thread making the call.
pub struct Caller {
    /// The calling thread, borrowed from this CPU's data without a lock or a reference
    /// count (`cpu::current_running`): it derefs to `&Arc<Thread>`, and code that keeps
    /// the thread (a wait node) clones it.
    pub thread: Running<Thread>,
}

impl Caller {
    /// The thread making the call, read again from this CPU's data: for a call's slow
    /// path that did not keep the caller its entry read (see `dispatch`), so that the
    /// common path keeps no register for it. The same thread as long as the call has not
    /// blocked (only a block switches threads). BAD_STATE when this CPU runs no thread,
    /// which never happens in a call from EL0.
    #[inline(always)]
    pub fn current() -> ZxResult<Caller> {
        cpu::current_running().map(|thread| Caller { thread }).ok_or(ZxError::BadState)
    }

    /// The calling thread's process.
    #[inline(always)]
    pub fn process(&self) -> &Arc<Process> {
        self.thread.process()
    }
}

/// The calls that need no caller; None for the others.
#[inline(always)]
fn without_caller(call: &Syscall) -> Option<u64> {
    use Syscall::*;
    Some(match *call {
        ClockGetMonotonic => super::irq::uptime_nanos(),
        TicksGet => crate::arch::aarch64::timer::ticks(),
        TicksPerSecond => crate::arch::aarch64::timer::frequency(),
        SystemGetNumCpus => cpu::online_count() as u64,
        SystemGetPageSize => crate::abi::PAGE_SIZE,
        DeadlineAfter { nanoseconds } => misc::deadline_after(nanoseconds) as u64,
        // A yield or a sleep finds the thread itself.
        Nanosleep { deadline } => status_word(wait::nanosleep(deadline)),
        _ => return None,
    })
}

/// Runs one decoded call; returns the value for x0. Inlined into each entry, where the
/// call is a constant variant (see [`entry`]). `CHECKED` as for [`entry`].
#[inline(always)]
fn dispatch<const CHECKED: bool>(call: Syscall) -> u64 {
    use Syscall::*;
    // A yield finds the thread itself: tested first (one compare for the other calls)
    // so that a yield with nothing else to run stays as short as it was.
    if let Nanosleep { deadline } = call {
        return status_word(wait::nanosleep(deadline));
    }
    // The caller, read once for the whole call (one load: see `cpu::current_running`
    // for why the borrow stays valid across a block and a move to another CPU). It is
    // read before the calls that need none are told apart, so that the common calls
    // go through one jump table; without a caller (never the case for a call from
    // EL0) only those calls answer.
    let Some(thread) = cpu::current_running() else {
        return without_caller(&call).unwrap_or_else(|| status_word(Err(ZxError::BadState)));
    };
    let c = Caller { thread };
    let result = match call {
        ClockGetMonotonic => return super::irq::uptime_nanos(),
        TicksGet => return crate::arch::aarch64::timer::ticks(),
        TicksPerSecond => return crate::arch::aarch64::timer::frequency(),
        SystemGetNumCpus => return cpu::online_count() as u64,
        SystemGetPageSize => return crate::abi::PAGE_SIZE,
        DeadlineAfter { nanoseconds } => return misc::deadline_after(nanoseconds) as u64,
        Nanosleep { deadline } => wait::nanosleep(deadline), // (answered above)
        DebugWrite { buf, len } => misc::debug_write(buf, len),
        ProcessExit { retcode } => task::process_exit(&c, retcode),
        HandleClose { handle } => handle::close::<CHECKED>(&c, handle),
        HandleDuplicate { handle, rights, out } => handle::duplicate(&c, handle, rights, out),
        HandleReplace { handle, rights, out } => handle::replace(&c, handle, rights, out),
        HandleCloseMany { handles, count } => handle::close_many(&c, handles, count),
        ObjectGetInfo { handle, topic, buf, buf_size, actual, avail } => {
            object::get_info(&c, handle, topic, buf, buf_size, actual, avail)
        }
        ObjectGetProperty { handle, property, value, size } => object::get_property(&c, handle, property, value, size),
        ObjectSetProperty { handle, property, value, size } => object::set_property(&c, handle, property, value, size),
        // The short object calls take their locks with the order check as the entry's
        // constant `CHECKED`, not with the flag read once per lock: their fast paths have
        // no lock bookkeeping left to pay when the check is off.
        ObjectSignal { handle, clear_mask, set_mask } => {
            object::signal::<CHECKED>(&c, handle, clear_mask, set_mask, false)
        }
        ObjectSignalPeer { handle, clear_mask, set_mask } => {
            object::signal::<CHECKED>(&c, handle, clear_mask, set_mask, true)
        }
        ObjectWaitOne { handle, signals, deadline, observed } => {
            wait::wait_one::<CHECKED>(c, handle, signals, deadline, observed)
        }
        ObjectWaitMany { items, count, deadline } => wait::wait_many(&c, items, count, deadline),
        // The same for the VMO's create, read and write, and the close (whose VMO end,
        // `on_zero_handles`, reads the flag once for itself).
        VmoCreate { size, options, out } => vmo::create::<CHECKED>(&c, size, options, out),
        VmoRead { handle, buf, offset, len } => vmo::read::<CHECKED>(&c, handle, buf, offset, len),
        VmoWrite { handle, buf, offset, len } => vmo::write::<CHECKED>(&c, handle, buf, offset, len),
        VmoGetSize { handle, out } => vmo::get_size(&c, handle, out),
        VmoSetSize { handle, size } => vmo::set_size(&c, handle, size),
        VmoOpRange { handle, op, offset, size, buf, buf_size } => {
            vmo::op_range(&c, handle, op, offset, size, buf, buf_size)
        }
        VmoCreateChild { handle, options, offset, size, out } => {
            vmo::create_child(&c, handle, options, offset, size, out)
        }
        VmoSetCachePolicy { handle, policy } => vmo::set_cache_policy(&c, handle, policy),
        VmoReplaceAsExecutable { handle, vmex, out } => vmo::replace_as_executable(&c, handle, vmex, out),
        VmoCreatePhysical { resource, paddr, size, out } => vmo::create_physical(&c, resource, paddr, size, out),
        VmarMap { vmar, options, vmar_offset, vmo, vmo_offset, len, out } => {
            vmar::map(&c, vmar, options, vmar_offset, vmo, vmo_offset, len, out)
        }
        VmarUnmap { vmar, addr, len } => vmar::unmap(&c, vmar, addr, len),
        VmarProtect { vmar, options, addr, len } => vmar::protect(&c, vmar, options, addr, len),
        VmarAllocate { parent, options, offset, size, vmar_out, addr_out } => {
            vmar::allocate(&c, parent, options, offset, size, vmar_out, addr_out)
        }
        VmarDestroy { vmar } => vmar::destroy(&c, vmar),
        CacheFlush { addr, len, options } => misc::cache_flush(&c, addr, len, options),
        ProcessCreate { job, name, name_size, options, proc_out, vmar_out } => {
            task::process_create(&c, job, name, name_size, options, proc_out, vmar_out)
        }
        ProcessStart { process, thread, entry, stack, arg1, arg2 } => {
            task::process_start(&c, process, thread, entry, stack, arg1, arg2)
        }
        ProcessReadMemory { process, vaddr, buf, len, actual } => {
            task::process_memory(&c, process, vaddr, buf, len, actual, false)
        }
        ProcessWriteMemory { process, vaddr, buf, len, actual } => {
            task::process_memory(&c, process, vaddr, buf, len, actual, true)
        }
        ThreadCreate { process, name, name_size, options, out } => {
            task::thread_create(&c, process, name, name_size, options, out)
        }
        ThreadStart { thread, entry, stack, arg1, arg2 } => task::thread_start(&c, thread, entry, stack, arg1, arg2),
        ThreadExit => task::thread_exit(&c),
        TaskKill { task } => task::task_kill(&c, task),
        JobCreate { parent, options, out } => task::job_create(&c, parent, options, out),
        FutexWait { value_ptr, current, new_owner, deadline } => {
            wait::futex_wait(&c, value_ptr, current, new_owner, deadline)
        }
        FutexWake { value_ptr, count } => super::futex::wake(&c.thread, value_ptr, count),
        FutexRequeue { value_ptr, wake_count, current, requeue_ptr, requeue_count, new_owner } => {
            wait::futex_requeue(&c, value_ptr, wake_count, current, requeue_ptr, requeue_count, new_owner)
        }
        EventCreate { options, out } => misc::event_create(&c, options, out),
        EventpairCreate { options, out0, out1 } => misc::eventpair_create(&c, options, out0, out1),
        ChannelCreate { options, out0, out1 } => ipc::channel_create(&c, options, out0, out1),
        ChannelRead { handle, options, bytes, handles, num_bytes, num_handles, actual_bytes, actual_handles } => {
            ipc::channel_read(&c, handle, options, bytes, handles, num_bytes, num_handles, actual_bytes, actual_handles)
        }
        ChannelWrite { handle, options, bytes, num_bytes, handles, num_handles } => {
            ipc::channel_write(&c, handle, options, bytes, num_bytes, handles, num_handles)
        }
        ChannelCall { handle, options, deadline, args, actual_bytes, actual_handles } => {
            ipc::channel_call(&c, handle, options, deadline, args, actual_bytes, actual_handles)
        }
        ObjectWaitAsync { handle, port, key, signals, options } => {
            ipc::wait_async(&c, handle, port, key, signals, options)
        }
        PortCreate { options, out } => ipc::port_create(&c, options, out),
        PortQueue { port, packet } => ipc::port_queue::<CHECKED>(&c, port, packet),
        PortWait { port, deadline, packet } => ipc::port_wait::<CHECKED>(&c, port, deadline, packet),
        PortCancel { port, source, key } => ipc::port_cancel(&c, port, source, key),
        TimerCreate { options, clock_id, out } => ipc::timer_create(&c, options, clock_id, out),
        TimerSet { timer, deadline, slack } => ipc::timer_set(&c, timer, deadline, slack),
        TimerCancel { timer } => ipc::timer_cancel(&c, timer),
        DebugRead { resource, buf, len, actual } => ipc::debug_read(&c, resource, buf, len, actual),
    };
    status_word(result)
}

/// Looks up a VMO handle: BAD_HANDLE, then WRONG_TYPE, then ACCESS_DENIED for `need`.
/// Returns the VMO and the handle's rights.
fn lookup_vmo(c: &Caller, handle: u32, need: u32) -> ZxResult<(Arc<VmoObject>, u32)> {
    c.process().get_object_and_rights::<VmoObject>(handle, need)
}

/// Looks up a VMAR handle: BAD_HANDLE, then WRONG_TYPE. Returns it and its rights.
fn lookup_vmar(c: &Caller, handle: u32) -> ZxResult<(Arc<VmarObject>, u32)> {
    c.process().get_object_and_rights::<VmarObject>(handle, 0)
}

/// Looks up a resource handle (only the root resource exists): BAD_HANDLE, WRONG_TYPE.
fn lookup_resource(c: &Caller, handle: u32) -> ZxResult<u32> {
    c.process().get_object_and_rights::<Resource>(handle, 0).map(|(_, rights)| rights)
}

/// Makes a handle to a new object and writes its value to `out`; on a failed copy the
/// handle is removed again and the object dropped (INVALID_ARGS), as Zircon does.
fn give<T: HandleObject>(c: &Caller, object: Arc<T>, rights: u32, out: u64) -> ZxResult {
    let value = c.process().add_handle(object, rights)?;
    publish_handle(c, value, out)
}

/// [`give`] for a VMO's new object: the handle is tagged with the VMO's id (see
/// [`Process::with_vmo_handle`](crate::kernel::task::Process::with_vmo_handle)).
fn give_vmo(c: &Caller, object: Arc<VmoObject>, rights: u32, out: u64) -> ZxResult {
    let vmo = object.id();
    let handle = KHandle::new(object);
    with_order_check!(give_vmo_handle_inline(c, handle, vmo, rights, out))
}

/// [`give_vmo`] of the handle `handle` already made to the object of the VMO `vmo`,
/// inlined into `zx_vmo_create`, whose frame is already there to take it. `CHECKED`
/// as for [`vmo::create`].
#[inline(always)]
fn give_vmo_handle_inline<const CHECKED: bool>(
    c: &Caller,
    handle: KHandle,
    vmo: VmoId,
    rights: u32,
    out: u64,
) -> ZxResult {
    let value = c.process().add_tagged_khandle_inline::<CHECKED>(handle, rights, vmo.tag())?;
    publish_handle_inline(c, value, out)
}

/// Writes a handle value already in the table to `out`, undoing the handle on failure.
#[inline(never)]
fn publish_handle(c: &Caller, value: u32, out: u64) -> ZxResult {
    publish_handle_inline(c, value, out)
}

/// [`publish_handle`], inlined where a call's own frame is already there to take it
/// (`zx_vmo_create`'s): a range check, one store and the cold undo.
#[inline(always)]
fn publish_handle_inline(c: &Caller, value: u32, out: u64) -> ZxResult {
    match user::put(out, &value.to_le_bytes()) {
        Ok(()) => Ok(()),
        Err(e) => unpublish_handle(c, value, e),
    }
}

/// The failure of [`publish_handle`]: the handle is removed again and dropped (which may
/// end its object), and the copy's error returned. Out of line, so that the common path
/// saves no registers for it.
#[cold]
#[inline(never)]
fn unpublish_handle(c: &Caller, value: u32, e: ZxError) -> ZxResult {
    let removed = c.process().remove_handle(value);
    drop(removed);
    Err(e)
}

/// NO_MEMORY when the kernel heap is too low for a call that creates kernel objects or
/// mappings: the kernel refuses rather than risk an allocation it cannot recover from.
fn ensure_heap_headroom() -> ZxResult {
    if crate::arch::aarch64::heap::has_headroom() { Ok(()) } else { Err(ZxError::NoMemory) }
}
