//! Processes: a handle table, an address space and threads. NEW → RUNNING → DYING →
//! DEAD (ABI.md 4.3). When the last running thread ends (or a NEW process is killed or
//! loses its last handle) the process closes every handle it holds, destroys its
//! address space, leaves its job, and only then asserts TERMINATED. The first process
//! ending stops the machine (ABI.md section 3).

use super::{Job, Name, NameCell, Thread, ThreadLife};
use crate::abi::{exit_status, obj_type, retcode, signal};
use crate::error::{ZxError, ZxResult};
use crate::kernel::object::{HandleObject, KHandle, KObject, KernelObject, ObjectBase};
use crate::kernel::sync::{Lock, class};
use crate::kernel::with_kernel;
use crate::object::handle_table::{Handle, HandleTable, UNTAGGED};
use crate::object::rights::check_rights;
use crate::vm::vmo::VmoId;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

/// Where a process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcLife {
    /// Created, not started.
    New,
    /// Started.
    Running,
    /// Exit or kill under way.
    Dying,
    /// Ended.
    Dead,
}

struct ProcState {
    life: ProcLife,
    retcode: Option<i64>,
    /// Every thread that is not DEAD (NEW ones included), in creation order.
    threads: Vec<Arc<Thread>>,
    /// Started threads that are not DEAD, in start order.
    started: Vec<Arc<Thread>>,
    faulted: bool,
    /// `zx_process_start` succeeded (or userboot started it).
    was_started: bool,
}

/// A process's handle table locked for lookups that borrow the object behind a handle
/// ([`Process::lookup`] says when that is sound and what may be done meanwhile).
pub struct HandleLookup<'a> {
    table: crate::kernel::sync::LockGuard<'a, HandleTable<KHandle>>,
}

impl HandleLookup<'_> {
    /// The object, rights and serial behind `handle`, borrowed for as long as the table
    /// stays locked: BAD_HANDLE when it names none.
    #[inline(always)]
    pub fn get(&self, handle: u32) -> ZxResult<(&KHandle, u32, u64)> {
        let entry = self.table.get(handle)?;
        Ok((&entry.object, entry.rights, entry.object.serial()))
    }

    /// The table's handle for `handle`: BAD_HANDLE when it names none.
    #[inline(always)]
    pub fn entry(&self, handle: u32) -> ZxResult<&Handle<KHandle>> {
        self.table.get(handle)
    }
}

// The handle's tag takes no room: rights and tag fill the last 8 bytes of a handle slot.
const _: () = assert!(core::mem::size_of::<Handle<KHandle>>() == 32);

/// A process object.
pub struct Process {
    base: ObjectBase,
    job: Arc<Job>,
    name: NameCell,
    handles: Lock<HandleTable<KHandle>>,
    aspace_id: u64,
    root: u64,
    asid: Arc<crate::kernel::aspace::AsidCell>,
    state: Lock<ProcState>,
    /// Set (with `state.life = Dead`, under the state lock) when the process ends, so
    /// that `add_khandle` can refuse a handle without taking the state lock: see there.
    dead: AtomicBool,
    first: AtomicBool,
}

impl Process {
    /// A NEW process in `job` with an empty address space.
    pub fn create(job: &Arc<Job>, name: Name) -> ZxResult<Arc<Process>> {
        let (aspace_id, root, asid) = with_kernel(crate::kernel::aspace::create)?;
        let salt = (crate::arch::aarch64::timer::ticks() as u32).wrapping_mul(0x9e37_79b9);
        let process = Arc::new(Process {
            base: ObjectBase::new(obj_type::PROCESS, 0),
            job: job.clone(),
            name: NameCell::new(name),
            handles: Lock::new(&class::HANDLES, HandleTable::new(salt ^ aspace_id as u32)),
            aspace_id,
            root,
            asid,
            state: Lock::new(
                &class::PROCESS,
                ProcState {
                    life: ProcLife::New,
                    retcode: None,
                    threads: Vec::new(),
                    started: Vec::new(),
                    faulted: false,
                    was_started: false,
                },
            ),
            dead: AtomicBool::new(false),
            first: AtomicBool::new(false),
        });
        if let Err(e) = job.add_process(&process) {
            with_kernel(|k| crate::kernel::aspace::destroy(k, aspace_id));
            return Err(e);
        }
        Ok(process)
    }

    /// Marks this as the first process: its end stops the machine.
    pub fn mark_first(&self) {
        self.first.store(true, Ordering::Release);
    }

    /// Its address space's id.
    pub fn aspace_id(&self) -> u64 {
        self.aspace_id
    }

    /// Switches this CPU to its address space (tables and ASID).
    pub fn activate_on_this_cpu(&self) {
        crate::kernel::aspace::activate(self.root, &self.asid);
    }

    /// Its job.
    pub fn job(&self) -> &Arc<Job> {
        &self.job
    }

    /// Where it is in its life.
    pub fn life(&self) -> ProcLife {
        self.state.lock().life
    }

    /// (return code, started, exited) for ZX_INFO_PROCESS.
    pub fn info(&self) -> (i64, bool, bool) {
        let s = self.state.lock();
        let exited = matches!(s.life, ProcLife::Dying | ProcLife::Dead);
        let code = if s.life == ProcLife::Dead { s.retcode.unwrap_or(0) } else { 0 };
        (code, s.was_started, exited)
    }

    /// Koids of started, not yet dead threads, in start order.
    pub fn thread_koids(&self) -> Vec<u64> {
        // A thread that announced its death (DEAD, TERMINATED asserted) leaves the list
        // only once its CPU has switched away from it (`Thread::after_death`); it is
        // left out from the moment it is DEAD, so a joiner never sees it listed.
        self.state.lock().started.iter().filter(|t| t.life() != ThreadLife::Dead).map(|t| t.base().koid()).collect()
    }

    // ---- handles ----

    /// Runs `f` with the handle table locked. `f` must not drop handles (return them).
    pub fn with_handles<R>(&self, f: impl FnOnce(&mut HandleTable<KHandle>) -> R) -> R {
        f(&mut self.handles.lock())
    }

    /// The object (a counted reference, by its type), rights and serial behind `handle`:
    /// BAD_HANDLE when it names none.
    pub fn get_handle(&self, handle: u32) -> ZxResult<(KObject, u32, u64)> {
        let table = self.handles.lock();
        let entry = table.get(handle)?;
        Ok((entry.object.to_object(), entry.rights, entry.object.serial()))
    }

    /// The handle table locked for borrowed lookups ([`HandleLookup::get`]) until the
    /// returned value is dropped: a lookup that borrows the object instead of counting a
    /// reference, for callers that need it only briefly.
    ///
    /// Sound because a handle keeps its object alive while the table lock is held (a
    /// close removes it under the same lock and drops it after unlocking), and the
    /// borrow checker ends every borrowed object with the lookup. While it is held the
    /// caller holds the lock of rank 8, so it may take only higher-ranked locks (object
    /// signals, port, VM, scheduler); it must not block or drop a handle or the last
    /// reference of an object (cloning the object and keeping the clone is how to use it
    /// after the lock). A user copy is allowed: its fault needs only the VM lock.
    #[inline(always)]
    pub fn lookup(&self) -> HandleLookup<'_> {
        HandleLookup { table: self.handles.lock() }
    }

    /// [`Process::lookup`] with the lock-order check decided for the whole call
    /// ([`Lock::lock_checked`](crate::kernel::sync::Lock::lock_checked)).
    #[inline(always)]
    pub fn lookup_checked<const CHECKED: bool>(&self) -> HandleLookup<'_> {
        HandleLookup { table: self.handles.lock_checked::<CHECKED>() }
    }

    /// [`Process::lookup_checked`] without waiting: `None` when another CPU holds the
    /// table's lock ([`Lock::try_lock_checked`](crate::kernel::sync::Lock::try_lock_checked)).
    #[inline(always)]
    pub fn try_lookup_checked<const CHECKED: bool>(&self) -> Option<HandleLookup<'_>> {
        Some(HandleLookup { table: self.handles.try_lock_checked::<CHECKED>()? })
    }

    /// Runs `f` on the object, rights and serial behind `handle` under a
    /// [`Process::lookup`] (BAD_HANDLE when it names none), with the same rules for `f`.
    #[inline(always)]
    pub fn with_handle<R>(&self, handle: u32, f: impl FnOnce(&KHandle, u32, u64) -> R) -> ZxResult<R> {
        let handles = self.lookup();
        let (object, rights, serial) = handles.get(handle)?;
        Ok(f(object, rights, serial))
    }

    /// [`Process::with_handle`] for a call on a VMO: `f` gets the VMO's id and the
    /// handle's rights (BAD_HANDLE, then WRONG_TYPE when the object is no VMO). The id
    /// comes from the handle's tag when it has one (a handle made for a new VMO, or a
    /// duplicate or replacement of one), which names the object's VMO: an object's VMO
    /// id is set before any handle to it exists and never changes while one does (a
    /// kept object is renewed only with none); otherwise from the object
    /// (`vmo_id`, a compare of its tag). Same rules for `f` as for `with_handle`.
    /// `CHECKED`: whether the lock-order check is on
    /// ([`Lock::lock_checked`](crate::kernel::sync::Lock::lock_checked)).
    #[inline(always)]
    pub fn with_vmo_handle<const CHECKED: bool, R>(
        &self,
        handle: u32,
        f: impl FnOnce(VmoId, u32) -> ZxResult<R>,
    ) -> ZxResult<R> {
        let table = self.handles.lock_checked::<CHECKED>();
        let entry = table.get(handle)?;
        let vmo = match VmoId::from_tag(entry.tag) {
            Some(vmo) => vmo,
            None => entry.object.vmo_id().ok_or(ZxError::WrongType)?,
        };
        f(vmo, entry.rights)
    }

    /// The typed [`Process::with_handle`]: BAD_HANDLE, then WRONG_TYPE, then
    /// ACCESS_DENIED for `rights`, then `f` on the object (with the handle's rights)
    /// under the table lock, with the same rules for `f`.
    #[inline(always)]
    pub fn with_object<T: HandleObject, R>(
        &self,
        handle: u32,
        rights: u32,
        f: impl FnOnce(&T, u32) -> ZxResult<R>,
    ) -> ZxResult<R> {
        let table = self.handles.lock();
        let entry = table.get(handle)?;
        let typed = entry.object.downcast_ref::<T>()?;
        check_rights(entry.rights, rights)?;
        f(typed, entry.rights)
    }

    /// The typed lookup: BAD_HANDLE, then WRONG_TYPE, then ACCESS_DENIED for `rights`.
    pub fn get_object_with_rights<T: HandleObject>(&self, handle: u32, rights: u32) -> ZxResult<Arc<T>> {
        self.get_object_and_rights::<T>(handle, rights).map(|(object, _)| object)
    }

    /// As [`Process::get_object_with_rights`], also giving the handle's rights.
    #[inline]
    pub fn get_object_and_rights<T: HandleObject>(&self, handle: u32, rights: u32) -> ZxResult<(Arc<T>, u32)> {
        // The type test is a compare of the handle's tag (`KHandle::downcast_arc`),
        // and only a lookup that passes every check counts a reference.
        let table = self.handles.lock();
        let entry = table.get(handle)?;
        let typed = entry.object.downcast_arc::<T>()?;
        check_rights(entry.rights, rights)?;
        Ok((typed.clone(), entry.rights))
    }

    /// Adds a handle to `object` with `rights`: NO_MEMORY when the table holds
    /// `MAX_HANDLES` handles or cannot grow, or the process is dead (ABI v2 section 4:
    /// a handle beyond the kernel's limit is NO_MEMORY; v1 said NO_RESOURCES).
    /// On failure the object loses this would-be handle, which may end it.
    pub fn add_handle<T: HandleObject>(&self, object: Arc<T>, rights: u32) -> ZxResult<u32> {
        self.add_khandle(KHandle::new(object), rights)
    }

    /// Adds an existing handle (moved from elsewhere), failing as
    /// [`Process::add_handle`] does.
    pub fn add_khandle(&self, handle: KHandle, rights: u32) -> ZxResult<u32> {
        self.add_tagged_khandle(handle, rights, UNTAGGED)
    }

    /// [`Process::add_khandle`] with the handle's tag ([`Handle::tag`]): the VMO id of
    /// a VMO's handle ([`VmoId::tag`]), which [`Process::with_vmo_handle`] reads instead
    /// of asking the object.
    pub fn add_tagged_khandle(&self, handle: KHandle, rights: u32, tag: u32) -> ZxResult<u32> {
        crate::kernel::sync::with_order_check!(Self::add_tagged_khandle_inline(self, handle, rights, tag))
    }

    /// [`Process::add_tagged_khandle`], inlined where a call's own frame is already
    /// there to take it (`zx_vmo_create`'s): the table lock and the insert, the refusal
    /// out of line. `CHECKED`: whether the lock-order check is on
    /// ([`Lock::lock_checked`](crate::kernel::sync::Lock::lock_checked)).
    #[inline(always)]
    pub fn add_tagged_khandle_inline<const CHECKED: bool>(
        &self,
        handle: KHandle,
        rights: u32,
        tag: u32,
    ) -> ZxResult<u32> {
        let refused = {
            let mut table = self.handles.lock_checked::<CHECKED>();
            // The DEAD check without the state lock. `finish` sets `dead` before its
            // first look at the table (`len`, then the batches that close every handle),
            // and both look under this table lock: either this insert's critical section
            // comes first, and the batches take the new handle, or it comes after, and
            // the lock's release/acquire order makes `dead` visible here. So no handle is
            // left in a DEAD process's table, as with the state lock.
            if self.dead.load(Ordering::Acquire) {
                handle
            } else {
                match table.try_insert(handle, rights, tag) {
                    Ok(value) => return Ok(value),
                    Err(handle) => handle,
                }
            }
        };
        Err(Self::refuse_handle(refused))
    }

    /// The failure of [`Process::add_tagged_khandle`]: the handle, refused by a dead
    /// process or a full table, is dropped outside the table lock (it may end the
    /// object). Out of line, so that the common path saves no registers for it.
    #[cold]
    #[inline(never)]
    fn refuse_handle(handle: KHandle) -> ZxError {
        drop(handle);
        ZxError::NoMemory
    }

    /// Removes `handle` from the table and gives it back (the caller drops or moves it
    /// with no lock held).
    pub fn remove_handle(&self, handle: u32) -> ZxResult<Handle<KHandle>> {
        self.handles.lock().remove(handle)
    }

    /// `zx_handle_close` of one handle: removes it (BAD_HANDLE when `handle` names none)
    /// and drops it after the table is unlocked, since closing may end the object.
    /// `CHECKED`: whether the lock-order check is on
    /// ([`Lock::lock_checked`](crate::kernel::sync::Lock::lock_checked)).
    #[inline]
    pub fn close_handle<const CHECKED: bool>(&self, handle: u32) -> ZxResult {
        // Only the kernel handle leaves the table (24 bytes, moved in registers): the
        // rights stay behind with the slot.
        let removed = self.handles.lock_checked::<CHECKED>().take(handle).map(|removed| removed.object);
        match removed {
            Some(handle) => {
                handle.close();
                Ok(())
            }
            None => Err(ZxError::BadHandle),
        }
    }

    /// Handles in the table (for the exit line and PROCESS_HANDLE_STATS).
    pub fn handle_types(&self) -> Vec<u32> {
        self.handles.lock().iter().map(|(_, h)| h.object.as_dyn().obj_type()).collect()
    }

    // ---- threads ----

    pub(super) fn add_thread(&self, thread: &Arc<Thread>) -> ZxResult {
        let mut s = self.state.lock();
        s.threads.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        s.threads.push(thread.clone());
        Ok(())
    }

    /// Admits `thread` to the started list, which keeps the process alive, and runs
    /// `make_runnable` (the thread's own NEW → RUNNING step) in the same critical
    /// section. The process must be RUNNING (`initial`, for `zx_process_start`: NEW, and
    /// it becomes RUNNING).
    ///
    /// Checking the state and joining the list under one lock is what keeps a process
    /// from ending (and freeing its address space) while a thread it let start is about
    /// to run there: the last started thread's removal and this start are ordered by
    /// the lock, so either this start sees DYING and refuses, or the list is not empty
    /// when the removal looks at it.
    ///
    /// BAD_STATE: the process is in another state or `make_runnable` refused; NO_MEMORY:
    /// the list cannot grow. Nothing changes on an error.
    pub(super) fn admit_started(
        &self,
        thread: &Arc<Thread>,
        initial: bool,
        make_runnable: impl FnOnce() -> ZxResult,
    ) -> ZxResult {
        let mut s = self.state.lock();
        let required = if initial { ProcLife::New } else { ProcLife::Running };
        if s.life != required {
            return Err(ZxError::BadState);
        }
        s.started.try_reserve(1).map_err(|_| ZxError::NoMemory)?;
        make_runnable()?;
        if initial {
            s.life = ProcLife::Running;
            s.was_started = true;
        }
        s.started.push(thread.clone());
        Ok(())
    }

    pub(super) fn forget_new_thread(&self, thread: &Thread) {
        let removed = {
            let mut s = self.state.lock();
            remove_thread(&mut s.threads, thread)
        };
        drop(removed);
    }

    /// A thread ended (or was killed before it ran). When it was the last started
    /// thread of a running or dying process, the process ends.
    pub(super) fn thread_removed(self: &Arc<Self>, thread: &Thread) {
        let (removed, finish) = {
            let mut s = self.state.lock();
            let a = remove_thread(&mut s.threads, thread);
            let b = remove_thread(&mut s.started, thread);
            let finish = b.is_some() && s.started.is_empty() && matches!(s.life, ProcLife::Running | ProcLife::Dying);
            if finish {
                s.life = ProcLife::Dying;
            }
            ((a, b), finish)
        };
        drop(removed);
        if finish {
            self.finish();
        }
    }

    /// `zx_process_start` after its checks: the process becomes RUNNING and `thread`
    /// starts with x0 = `arg1` (already placed in this process's table) and x1 = `arg2`,
    /// both in one step (BAD_STATE, nothing changed, when either is no longer NEW).
    pub fn start(&self, thread: &Arc<Thread>, entry: u64, stack: u64, arg1: u64, arg2: u64) -> ZxResult {
        thread.start_initial(entry, stack, arg1, arg2)
    }

    /// Ends the process with `code` (unless a code is already set): every thread is
    /// killed. The calling thread, if it is one of them, must end at the top of its
    /// syscall or fault.
    pub fn exit_with(self: &Arc<Self>, code: i64, faulted: bool) {
        let was_new = {
            let mut s = self.state.lock();
            if s.retcode.is_none() {
                s.retcode = Some(code);
                s.faulted = faulted;
            }
            match s.life {
                ProcLife::Dead => return,
                life => {
                    s.life = ProcLife::Dying;
                    life == ProcLife::New
                }
            }
        };
        // One thread at a time, with no copy of the list: killing never allocates. A
        // thread that still needs killing is NEW or RUNNING (killing makes a NEW one
        // DEAD and takes it off the list, a RUNNING one DYING), so this ends.
        while let Some(thread) = self.next_thread_to_kill() {
            thread.kill();
        }
        if was_new {
            self.finish();
        }
    }

    /// A thread of this process that is NEW or RUNNING (not yet killed), if any.
    fn next_thread_to_kill(&self) -> Option<Arc<Thread>> {
        let s = self.state.lock();
        s.threads.iter().find(|t| matches!(t.life(), ThreadLife::New | ThreadLife::Running)).cloned()
    }

    /// `zx_task_kill` of the process.
    pub fn kill(self: &Arc<Self>) {
        self.exit_with(retcode::SYSCALL_KILL, false);
    }

    /// The process is DEAD: close its handles, free its memory, leave the job, signal.
    fn finish(self: &Arc<Self>) {
        {
            let mut s = self.state.lock();
            if s.life == ProcLife::Dead {
                return;
            }
            s.life = ProcLife::Dead;
            self.dead.store(true, Ordering::Release);
        }
        let held = self.handles.lock().len();
        // Close every handle with no lock held (closing may end other objects), a batch
        // at a time on the stack: closing never allocates.
        // Nothing adds handles to a DEAD process, so the cursor never misses one.
        let mut cursor = 0;
        loop {
            let mut batch: [Option<Handle<KHandle>>; 32] = [const { None }; 32];
            let taken = self.handles.lock().take_batch(&mut cursor, &mut batch);
            drop(batch);
            if taken == 0 {
                break;
            }
        }
        let (first, status) = {
            let s = self.state.lock();
            let status =
                if s.faulted { exit_status::USER_FAULT } else { exit_status::for_retcode(s.retcode.unwrap_or(0)) };
            (self.first.load(Ordering::Acquire), status)
        };
        let (mappings, vmos_left) = with_kernel(|k| {
            let mappings = k.aspaces.get(self.aspace_id).map_or(0, |s| s.vmar.mapping_count());
            if first {
                crate::kernel::aspace::audit_write_xor_execute(k, self.aspace_id);
            }
            crate::kernel::aspace::destroy(k, self.aspace_id);
            (mappings, crate::kernel::vm_object::vmo_count(k))
        });
        self.job.remove_process(self);
        self.base.update_signals(0, signal::TASK_TERMINATED);
        if first {
            let code = self.state.lock().retcode.unwrap_or(0);
            log::info!(
                "userboot: process exited with return code {code}; it still held {held} handles and {mappings} mappings; {vmos_left} VMOs remain"
            );
            let roll_overs = crate::kernel::aspace::asid_roll_overs();
            if roll_overs > 0 {
                log::info!(
                    "asid: {roll_overs} roll-over{} of the ids since boot",
                    if roll_overs == 1 { "" } else { "s" }
                );
            }
            let reason = if status == exit_status::USER_FAULT {
                "the first process was killed by a fault"
            } else {
                "the first process exited"
            };
            crate::kernel::shutdown::shutdown(status, reason)
        }
    }

    /// True when no thread of it could run: it is new or has ended.
    pub fn has_thread_running(&self) -> bool {
        self.state.lock().threads.iter().any(|t| t.life() == ThreadLife::Running)
    }
}

/// Takes `thread` out of a list of threads, keeping the order of the others. Searched
/// from the end, as the thread that ends is most often the newest one (and then it is
/// a pop, not a shift of the rest).
fn remove_thread(list: &mut Vec<Arc<Thread>>, thread: &Thread) -> Option<Arc<Thread>> {
    let at = list.iter().rposition(|t| core::ptr::eq(&**t, thread))?;
    if at + 1 == list.len() { list.pop() } else { Some(list.remove(at)) }
}

impl KernelObject for Process {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn obj_type(&self) -> u32 {
        obj_type::PROCESS
    }
    fn related_koid(&self) -> u64 {
        self.job.base().koid()
    }
    fn name(&self) -> Option<[u8; 32]> {
        Some(self.name.get().bytes())
    }
    fn set_name(&self, name: &[u8]) -> ZxResult {
        self.name.set(super::name_from(name));
        Ok(())
    }
    fn on_zero_handles(&self) {
        // A NEW process nobody can start any more ends at once (return code 0). The
        // process holds no handles to itself while NEW, so this is its real end; but the
        // object is reached only through `&self` here, so its end runs through the job's
        // list, which holds an `Arc`.
        if self.life() == ProcLife::New {
            self.job.end_new_process(self);
        }
    }
}
