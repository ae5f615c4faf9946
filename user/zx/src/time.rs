//! Monotonic time and durations, in nanoseconds.

use crate::nr;
use crate::sys::call;

/// A point on the monotonic clock (`zx_time_t`, nanoseconds since boot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(i64);

/// A span of time in nanoseconds (`zx_duration_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(i64);

impl Time {
    /// Never.
    pub const INFINITE: Time = Time(crate::abi::ZX_TIME_INFINITE);
    /// Always past.
    pub const INFINITE_PAST: Time = Time(crate::abi::ZX_TIME_INFINITE_PAST);
    /// Boot.
    pub const ZERO: Time = Time(0);

    /// `zx_clock_get_monotonic`.
    pub fn get_monotonic() -> Time {
        // SAFETY: no pointers.
        Time(unsafe { call(nr::CLOCK_GET_MONOTONIC, []) } as i64)
    }

    /// Now plus `d` (`zx_deadline_after`), saturating.
    pub fn after(d: Duration) -> Time {
        deadline_after(d)
    }

    /// From nanoseconds since boot.
    pub const fn from_nanos(ns: i64) -> Time {
        Time(ns)
    }

    /// Nanoseconds since boot.
    pub const fn into_nanos(self) -> i64 {
        self.0
    }
}

impl Duration {
    /// Zero.
    pub const ZERO: Duration = Duration(0);
    /// Forever.
    pub const INFINITE: Duration = Duration(i64::MAX);

    /// From nanoseconds.
    pub const fn from_nanos(ns: i64) -> Duration {
        Duration(ns)
    }
    /// From microseconds.
    pub const fn from_micros(us: i64) -> Duration {
        Duration(us.saturating_mul(1_000))
    }
    /// From milliseconds.
    pub const fn from_millis(ms: i64) -> Duration {
        Duration(ms.saturating_mul(1_000_000))
    }
    /// From seconds.
    pub const fn from_seconds(s: i64) -> Duration {
        Duration(s.saturating_mul(1_000_000_000))
    }
    /// Nanoseconds.
    pub const fn into_nanos(self) -> i64 {
        self.0
    }
    /// Whole milliseconds.
    pub const fn into_millis(self) -> i64 {
        self.0 / 1_000_000
    }
    /// Whole seconds.
    pub const fn into_seconds(self) -> i64 {
        self.0 / 1_000_000_000
    }
    /// The deadline this long from now.
    pub fn after_now(self) -> Time {
        Time::after(self)
    }
}

impl core::ops::Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(d.0))
    }
}

impl core::ops::Sub<Time> for Time {
    type Output = Duration;
    fn sub(self, t: Time) -> Duration {
        Duration(self.0.saturating_sub(t.0))
    }
}

impl core::ops::Add for Duration {
    type Output = Duration;
    fn add(self, d: Duration) -> Duration {
        Duration(self.0.saturating_add(d.0))
    }
}

/// `zx_deadline_after`: now plus `d`, saturating.
pub fn deadline_after(d: Duration) -> Time {
    // SAFETY: no pointers.
    Time(unsafe { call(nr::DEADLINE_AFTER, [d.0 as u64]) } as i64)
}

/// `zx_nanosleep`: returns once the clock is at or past `deadline` (a deadline ≤ 0 yields).
pub fn nanosleep(deadline: Time) {
    // SAFETY: no pointers.
    let _ = unsafe { call(nr::NANOSLEEP, [deadline.0 as u64]) };
}

/// `zx_ticks_get`: the counter (CNTVCT_EL0).
pub fn ticks_get() -> i64 {
    // SAFETY: no pointers.
    unsafe { call(nr::TICKS_GET, []) as i64 }
}

/// `zx_ticks_per_second`: the counter's frequency.
pub fn ticks_per_second() -> i64 {
    // SAFETY: no pointers.
    unsafe { call(nr::TICKS_PER_SECOND, []) as i64 }
}
