//! `Mutex` and `Condvar` over futexes (`zx_futex_wait` / `zx_futex_wake`).

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicI32, Ordering};
use zx::{Duration, Status, Time};

const UNLOCKED: i32 = 0;
const LOCKED: i32 = 1;
const CONTENDED: i32 = 2;

/// A mutual-exclusion lock: uncontended lock and unlock are one atomic each; waiters
/// sleep in the kernel (Drepper's three-state futex mutex).
pub struct Mutex<T: ?Sized> {
    state: AtomicI32,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out one &mut T at a time, so T only needs to be Send.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
// SAFETY: moving the mutex moves the T.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}

/// The lock is held while this lives.
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
}

impl<T> Mutex<T> {
    /// An unlocked mutex.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex { state: AtomicI32::new(UNLOCKED), value: UnsafeCell::new(value) }
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        if self.state.compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_err() {
            self.lock_slow();
        }
        MutexGuard { mutex: self }
    }

    /// The lock if it is free now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.state
            .compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| MutexGuard { mutex: self })
    }

    #[cold]
    fn lock_slow(&self) {
        // Spin briefly: the holder is often running on another CPU.
        for _ in 0..100 {
            if self.state.compare_exchange(UNLOCKED, LOCKED, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                return;
            }
            core::hint::spin_loop();
        }
        while self.state.swap(CONTENDED, Ordering::Acquire) != UNLOCKED {
            // BAD_STATE: it changed before we slept; try again.
            let _ = zx::futex_wait(&self.state, CONTENDED, Time::INFINITE);
        }
    }

    fn unlock(&self) {
        if self.state.swap(UNLOCKED, Ordering::Release) == CONTENDED {
            let _ = zx::futex_wake(&self.state, 1);
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, so this is the only reference.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.mutex.unlock();
    }
}

/// A condition variable: a sequence number that waiters sleep on.
pub struct Condvar {
    seq: AtomicI32,
}

impl Default for Condvar {
    fn default() -> Self {
        Self::new()
    }
}

impl Condvar {
    /// A new condition variable.
    pub const fn new() -> Condvar {
        Condvar { seq: AtomicI32::new(0) }
    }

    /// Unlocks, sleeps until notified (or spuriously), locks again.
    pub fn wait<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.wait_until(guard, Time::INFINITE).0
    }

    /// As [`Condvar::wait`] with a deadline; the flag says whether it timed out.
    pub fn wait_until<'a, T: ?Sized>(&self, guard: MutexGuard<'a, T>, deadline: Time) -> (MutexGuard<'a, T>, bool) {
        let seq = self.seq.load(Ordering::Relaxed);
        let mutex = guard.mutex;
        drop(guard);
        let timed_out = zx::futex_wait(&self.seq, seq, deadline) == Err(Status::TimedOut);
        (mutex.lock(), timed_out)
    }

    /// As [`Condvar::wait`] for at most `timeout`.
    pub fn wait_timeout<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        self.wait_until(guard, Time::after(timeout))
    }

    /// Wakes one waiter.
    pub fn notify_one(&self) {
        self.seq.fetch_add(1, Ordering::Release);
        let _ = zx::futex_wake(&self.seq, 1);
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        self.seq.fetch_add(1, Ordering::Release);
        let _ = zx::futex_wake(&self.seq, u32::MAX);
    }
}
