//! Threads: [`spawn`] a closure on a new thread with its own stack, [`JoinHandle::join`]
//! for its result. Each thread's TPIDR_EL0 points at its [`ThreadData`].

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use zx::{AsHandleRef, HandleBased, Rights, Signals, Thread, Time};

/// Bytes of stack of each spawned thread (with an unmapped guard page below).
pub const STACK_SIZE: usize = 256 * 1024;

/// What TPIDR_EL0 points at: per-thread data of the runtime.
pub struct ThreadData {
    /// A small number: 0 for the first thread, then 1, 2, … in spawn order.
    pub id: u64,
    /// This thread's handle value (owned by its `JoinHandle` or the startup handles).
    pub handle: u32,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Sets this thread's TPIDR_EL0.
pub(crate) fn set_current(data: *const ThreadData) {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: TPIDR_EL0 is ours to use (ABI.md §2: per thread, preserved).
    unsafe {
        core::arch::asm!("msr tpidr_el0, {}", in(reg) data as usize, options(nomem, nostack))
    };
    #[cfg(not(target_arch = "aarch64"))]
    let _ = data;
}

/// This thread's [`ThreadData`].
pub fn current() -> &'static ThreadData {
    let ptr: usize;
    #[cfg(target_arch = "aarch64")]
    // SAFETY: reads TPIDR_EL0.
    unsafe {
        core::arch::asm!("mrs {}, tpidr_el0", out(reg) ptr, options(nomem, nostack))
    };
    #[cfg(not(target_arch = "aarch64"))]
    {
        ptr = 0;
    }
    // SAFETY: the runtime sets TPIDR_EL0 of every thread it starts to a ThreadData that
    // lives as long as the thread (leaked for the first thread, freed after join).
    unsafe { &*(ptr as *const ThreadData) }
}

struct Packet<T> {
    result: UnsafeCell<Option<T>>,
    done: AtomicI32,
}

// SAFETY: the result is written once by the thread before `done` is released and read
// by the joiner only after it acquired `done`.
unsafe impl<T: Send> Sync for Packet<T> {}

struct Start {
    main: Box<dyn FnOnce() + Send>,
    data: Box<ThreadData>,
}

/// A running thread; `join` waits for it and returns its closure's result.
pub struct JoinHandle<T> {
    thread: Thread,
    packet: Arc<Packet<T>>,
    stack: zx::Vmar,
    data: *mut ThreadData,
}

// SAFETY: the raw pointer is only freed by `join`, after the thread ended.
unsafe impl<T: Send> Send for JoinHandle<T> {}

extern "C" fn thread_entry(start: usize) -> ! {
    // SAFETY: `spawn` passes a leaked Box<Start> that only this thread takes back.
    let start = unsafe { Box::from_raw(start as *mut Start) };
    let Start { main, data } = *start;
    set_current(Box::into_raw(data));
    main();
    zx::thread_exit()
}

/// Starts `f` on a new thread named `name`.
pub fn spawn_named<F, T>(name: &str, f: F) -> zx::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let startup = crate::startup();
    let packet = Arc::new(Packet { result: UnsafeCell::new(None), done: AtomicI32::new(0) });
    let theirs = packet.clone();
    let main = Box::new(move || {
        let value = f();
        // SAFETY: only this thread writes, before `done` is released.
        unsafe { *theirs.result.get() = Some(value) };
        theirs.done.store(1, Ordering::Release);
        let _ = zx::futex_wake(&theirs.done, u32::MAX);
    });
    let (region, stack) = crate::map_stack(&startup.root_vmar, STACK_SIZE)?;
    let thread = Thread::create(&startup.process, name)?;
    let data = Box::new(ThreadData { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), handle: thread.raw() });
    let data_ptr = &*data as *const ThreadData as *mut ThreadData;
    let start = Box::into_raw(Box::new(Start { main, data }));
    // SAFETY: a fresh stack of our own; the entry takes back the Box it is given.
    let started = unsafe { thread.start(thread_entry as *const () as usize, stack + STACK_SIZE, start as usize, 0) };
    if let Err(e) = started {
        // SAFETY: the thread never ran, so the Box and the stack are still only ours.
        unsafe {
            drop(Box::from_raw(start));
            let _ = region.destroy();
        }
        return Err(e);
    }
    Ok(JoinHandle { thread, packet, stack: region, data: data_ptr })
}

/// Starts `f` on a new thread.
pub fn spawn<F, T>(f: F) -> zx::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    spawn_named("thread", f)
}

impl<T> JoinHandle<T> {
    /// The thread's handle (for its state and CPU time).
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// A duplicate of the thread's handle.
    pub fn thread_handle(&self) -> zx::Result<Thread> {
        self.thread.duplicate_handle(Rights::SAME_RIGHTS)
    }

    /// Waits for the thread to end; its closure's result.
    pub fn join(self) -> T {
        while self.packet.done.load(Ordering::Acquire) == 0 {
            let _ = zx::futex_wait(&self.packet.done, 0, Time::INFINITE);
        }
        // The thread still runs its last instructions on its stack: wait for its end.
        let _ = self.thread.wait_handle(Signals::TASK_TERMINATED, Time::INFINITE);
        // SAFETY: the thread is dead: nothing uses its stack or its ThreadData any more.
        unsafe {
            let _ = self.stack.destroy();
            drop(Box::from_raw(self.data));
        }
        // SAFETY: `done` was acquired, so the result is written and no one else reads it.
        unsafe { (*self.packet.result.get()).take() }.expect("thread result")
    }
}
