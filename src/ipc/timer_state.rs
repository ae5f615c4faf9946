//! A timer's arming state (ABI.md 52–54): `zx_timer_set` disarms, then signals at once
//! for a deadline of 0 or one already reached, else arms; `zx_timer_cancel` disarms; the
//! deadline entry that fires must be the current one (a token tells re-arms apart) and
//! fires only once the clock is at or past the deadline, whatever the slack.

/// What `set` asks of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOutcome {
    /// Assert SIGNALED now; the timer is not armed.
    SignalNow,
    /// Queue a deadline entry with this token.
    Arm(u64),
}

/// One timer's state. A deadline of 0 means "not armed" (ZX_INFO_TIMER reads 0 then).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerState {
    deadline: i64,
    slack: i64,
    token: u64,
}

impl TimerState {
    /// Not armed.
    pub const fn new() -> Self {
        TimerState { deadline: 0, slack: 0, token: 0 }
    }

    /// The armed deadline, 0 when not armed.
    pub fn deadline(&self) -> i64 {
        self.deadline
    }

    /// The slack of the armed deadline, 0 when not armed.
    pub fn slack(&self) -> i64 {
        self.slack
    }

    /// True while a deadline is armed.
    pub fn armed(&self) -> bool {
        self.deadline != 0
    }

    /// Disarms; gives the token of the deadline entry to remove, if one was armed. The
    /// caller clears SIGNALED.
    pub fn cancel(&mut self) -> Option<u64> {
        let token = self.armed().then_some(self.token);
        *self = TimerState::new();
        token
    }

    /// `zx_timer_set` at time `now` (slack already checked to be ≥ 0): disarms (the
    /// token of the entry to remove comes back first) and then either signals at once
    /// or arms with `token`.
    pub fn set(&mut self, deadline: i64, slack: i64, now: i64, token: u64) -> (Option<u64>, SetOutcome) {
        let old = self.cancel();
        if deadline <= 0 || deadline <= now {
            return (old, SetOutcome::SignalNow);
        }
        *self = TimerState { deadline, slack, token };
        (old, SetOutcome::Arm(token))
    }

    /// The deadline entry `token` came due at `now`: true (and disarmed) when it is the
    /// armed one and the deadline has been reached; the caller then asserts SIGNALED.
    pub fn fire(&mut self, token: u64, now: i64) -> bool {
        if !self.armed() || self.token != token || now < self.deadline {
            return false;
        }
        *self = TimerState::new();
        true
    }
}
