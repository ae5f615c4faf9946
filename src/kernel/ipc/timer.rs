//! Timers (ABI.md 52–54): a deadline on the monotonic clock that asserts SIGNALED when
//! reached, never before. An armed timer is an entry in the scheduler's per-CPU deadline
//! queue that calls the timer back ([`sched::add_deadline_call`]); set, re-set and
//! cancel remove the previous entry, and a token tells a stale entry from the current
//! one. Closing the last handle cancels.
//!
//! Lock order: the timer's state, then its signal lock; the scheduler's lock is taken
//! inside the state lock (adding or removing the entry), never the other way round (the
//! deadline callback runs with no scheduler lock held).

use crate::abi::{obj_type, signal};
use crate::error::{ZxError, ZxResult};
use crate::ipc::timer_state::{SetOutcome, TimerState};
use crate::kernel::object::{KernelObject, ObjectBase};
use crate::kernel::sched::{self, DeadlineCallback};
use alloc::sync::{Arc, Weak};
use core::sync::atomic::{AtomicU64, Ordering};

/// Slack modes a timer may be created with (ZX_TIMER_SLACK_CENTER, EARLY, LATE).
pub const MAX_SLACK_MODE: u32 = 2;

/// Tokens of deadline entries: unique for the boot, so a removal by token finds only
/// its own entry.
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// A timer object.
pub struct Timer {
    base: ObjectBase,
    options: u32,
    state: crate::kernel::sync::Lock<TimerState>,
    me: Weak<Timer>,
}

fn now() -> i64 {
    crate::kernel::irq::uptime_nanos() as i64
}

impl Timer {
    /// A new timer with slack mode `options` (checked by the caller), not armed.
    pub fn new(options: u32) -> Arc<Timer> {
        Arc::new_cyclic(|me| Timer {
            base: ObjectBase::new(obj_type::TIMER, 0),
            options,
            state: crate::kernel::sync::Lock::new(&crate::kernel::sync::class::TIMER, TimerState::new()),
            me: me.clone(),
        })
    }

    /// `zx_timer_set` after its checks: disarms and clears SIGNALED, then signals at
    /// once (deadline 0 or reached) or arms. NO_MEMORY when the deadline queue cannot
    /// grow (the timer is then left disarmed).
    pub fn set(&self, deadline: i64, slack: i64) -> ZxResult {
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        let (stale, result) = {
            let mut state = self.state.lock();
            let (old, outcome) = state.set(deadline, slack, now(), token);
            let stale = old.and_then(sched::remove_deadline_call);
            self.base.update_signals(signal::SIGNALED, 0);
            let result = match outcome {
                SetOutcome::SignalNow => {
                    self.base.update_signals(0, signal::SIGNALED);
                    Ok(())
                }
                SetOutcome::Arm(token) => match self.me.upgrade() {
                    Some(me) => sched::add_deadline_call(deadline, me, token).inspect_err(|_| {
                        state.cancel();
                    }),
                    None => Err(ZxError::BadState),
                },
            };
            (stale, result)
        };
        drop(stale);
        result
    }

    /// `zx_timer_cancel`: disarms and clears SIGNALED.
    pub fn cancel(&self) {
        let stale = {
            let mut state = self.state.lock();
            let stale = state.cancel().and_then(sched::remove_deadline_call);
            self.base.update_signals(signal::SIGNALED, 0);
            stale
        };
        drop(stale);
    }

    /// ZX_INFO_TIMER: (options, deadline, slack); deadline and slack 0 when not armed.
    pub fn info(&self) -> (u32, i64, i64) {
        let state = self.state.lock();
        (self.options, state.deadline(), state.slack())
    }
}

impl DeadlineCallback for Timer {
    fn deadline_reached(&self, token: u64) {
        let mut state = self.state.lock();
        if state.fire(token, now()) {
            // ZX_INFO_TIMER reads 0 before SIGNALED can be seen (ABI.md 4.3).
            self.base.update_signals(0, signal::SIGNALED);
        }
    }
}

impl KernelObject for Timer {
    fn base(&self) -> &ObjectBase {
        &self.base
    }
    fn obj_type(&self) -> u32 {
        obj_type::TIMER
    }
    fn on_zero_handles(&self) {
        // Nobody can see it any more: only the deadline entry must go (it holds a
        // reference, which would keep the timer alive until the deadline).
        let stale = self.state.lock().cancel().and_then(sched::remove_deadline_call);
        drop(stale);
    }
}
