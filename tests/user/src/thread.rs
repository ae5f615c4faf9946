//! (v2) Threads of this process: each on a stack of its own (a VMO mapped for it), started
//! through a trampoline that calls a Rust function and then `zx_thread_exit`, and joined
//! by waiting for `ZX_TASK_TERMINATED`.
//!
//! ```ignore
//! let counter = AtomicU32::new(0);
//! let t = thread::spawn("adder", |c: &AtomicU32| { c.fetch_add(1, Ordering::Relaxed); }, &counter)?;
//! t.join()?;
//! ```
//!
//! A [`Thread`] borrows what it was given for as long as it lives, and when it is dropped
//! without [`Thread::join`] it kills the thread and waits for its end, so the thread never
//! outlives its stack or its argument (unless the guard is leaked with `mem::forget`, which
//! the tests do not do). A panic in a thread ends the whole process (status 1), as a
//! panic on the main thread does.

use core::marker::PhantomData;

use crate::rt;
use crate::zx::{self, AsRaw, Handle, Mapping, PAGE_SIZE, ZxResult};

/// Bytes of stack each thread gets.
pub const STACK_SIZE: u64 = 64 * 1024;

/// A thread of this process and its stack. Dropping it kills and joins the thread.
pub struct Thread<'a> {
    handle: Handle,
    stack: Mapping,
    started: bool,
    joined: bool,
    _borrow: PhantomData<&'a ()>,
}

impl Thread<'static> {
    /// A NEW thread of this process named `name`, with its stack mapped but not started.
    pub fn create(name: &str) -> ZxResult<Thread<'static>> {
        Thread::create_in(rt::self_process(), rt::root_vmar(), name)
    }

    /// A NEW thread of `process` with a stack mapped in `vmar` (which must be that
    /// process's address space for the thread to use it).
    pub fn create_in(process: impl AsRaw, vmar: impl AsRaw, name: &str) -> ZxResult<Thread<'static>> {
        let vmo = zx::vmo_create(STACK_SIZE, 0)?;
        let stack = Mapping::new(vmar, zx::VM_RW, 0, &vmo, 0, STACK_SIZE)?;
        let handle = zx::thread_create(process, name, 0)?;
        Ok(Thread { handle, stack, started: false, joined: false, _borrow: PhantomData })
    }

    /// Starts the thread at `entry` with SP at the top of its stack, x0 = `arg1` and
    /// x1 = `arg2`.
    ///
    /// # Safety
    /// `entry` must be code that runs on that stack alone, touches only memory that stays
    /// valid while the thread lives, and ends with `zx_thread_exit` (or a fault).
    pub unsafe fn start_raw(&mut self, entry: u64, arg1: u64, arg2: u64) -> ZxResult {
        zx::thread_start(&self.handle, entry, self.stack_top(), arg1, arg2)?;
        self.started = true;
        Ok(())
    }

    /// Starts the thread running `f(arg)`; it ends when `f` returns.
    pub fn start<'a, T: Sync>(mut self, f: fn(&T), arg: &'a T) -> ZxResult<Thread<'a>> {
        let entry = trampoline::<T> as *const () as usize as u64;
        let f_addr = f as usize as u64;
        let arg_addr = core::ptr::from_ref(arg) as usize as u64;
        // SAFETY: the trampoline runs `f` on the thread's own stack and ends with
        // zx_thread_exit; `arg` stays borrowed by the returned guard, which joins (or kills
        // and joins) the thread before the borrow ends.
        unsafe { self.start_raw(entry, f_addr, arg_addr)? };
        Ok(self.rebind())
    }

    /// The same thread with the borrow of what it runs on.
    fn rebind<'a>(self) -> Thread<'a> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; each field is moved out once.
        unsafe {
            Thread {
                handle: core::ptr::read(&this.handle),
                stack: core::ptr::read(&this.stack),
                started: this.started,
                joined: this.joined,
                _borrow: PhantomData,
            }
        }
    }
}

impl<'a> Thread<'a> {
    /// The thread's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The thread's raw handle value.
    pub fn raw(&self) -> u32 {
        self.handle.raw()
    }

    /// The initial SP: the top of the stack mapping.
    pub fn stack_top(&self) -> u64 {
        self.stack.addr() + self.stack.len()
    }

    /// The lowest address of the stack mapping.
    pub fn stack_base(&self) -> u64 {
        self.stack.addr()
    }

    /// Waits for the thread to end.
    pub fn join(mut self) -> ZxResult {
        self.join_until(zx::TIME_INFINITE)
    }

    /// Waits for the thread to end until `deadline` (TIMED_OUT if it has not).
    pub fn join_until(&mut self, deadline: i64) -> ZxResult {
        zx::wait_terminated(&self.handle, deadline)?;
        self.joined = true;
        Ok(())
    }

    /// Kills the thread (it ends asynchronously; join to wait for it).
    pub fn kill(&self) -> ZxResult {
        zx::task_kill(&self.handle)
    }
}

impl Drop for Thread<'_> {
    fn drop(&mut self) {
        if self.started && !self.joined {
            // The thread may still use its stack and its argument: end it first.
            let _ = zx::task_kill(&self.handle);
            let _ = zx::wait_terminated(&self.handle, zx::TIME_INFINITE);
        }
        // Then the handle closes and the stack is unmapped (field drops).
    }
}

/// Spawns a thread of this process that runs `f(arg)`.
pub fn spawn<'a, T: Sync>(name: &str, f: fn(&T), arg: &'a T) -> ZxResult<Thread<'a>> {
    Thread::create(name)?.start(f, arg)
}

/// Entry of threads started by [`Thread::start`]: x0 = `f`, x1 = `arg`.
extern "C" fn trampoline<T: Sync>(f: usize, arg: usize) -> ! {
    // SAFETY: `Thread::start` passed a `fn(&T)` and a `&T` that outlives the thread.
    let (f, arg) = unsafe { (core::mem::transmute::<usize, fn(&T)>(f), &*(arg as *const T)) };
    f(arg);
    zx::thread_exit()
}

/// Stack size check at compile time: whole pages.
const _: () = assert!(STACK_SIZE.is_multiple_of(PAGE_SIZE));
