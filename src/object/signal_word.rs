//! An object's signal word: its 32 signals and whether anyone observes them, in one
//! atomic `u64` (the kernel keeps it in `kernel::object::ObjectBase`).
//!
//! The rules, which make a signal update with nobody observing a single
//! compare-and-swap, with no lock:
//!
//! - only a holder of the object's signal lock sets or clears [`OBSERVED`], and it keeps
//!   the bit set exactly while the object's observer list is not empty (a registration
//!   sets it with an atomic read-modify-write that also reads the signals it reports);
//! - an update without the lock ([`apply`]) keeps the bit as it is, and is stored only
//!   by a compare-and-swap against a word without the bit;
//! - an update that finds the bit set takes the lock and tells the observers.
//!
//! Every change of the word is an atomic read-modify-write (or, while the bit is set, a
//! store by the lock holder, the only one who can change it then), so all of them are
//! in one order. A registration and a lock-free update therefore cannot miss each other:
//! if the update comes first, the registration reads its signals; if the registration
//! comes first, the update's compare-and-swap fails (its expected word lacks the bit),
//! it reads the word again, finds the bit and goes to the lock, which it gets only after
//! the registration is done. Pure: the kernel does the atomics around these functions.

/// Set while the object's observer list is not empty.
pub const OBSERVED: u64 = 1 << 32;

/// The word of an object with signals `signals` and nobody observing.
pub const fn new(signals: u32) -> u64 {
    signals as u64
}

/// The signals in `word`.
pub const fn signals(word: u64) -> u32 {
    word as u32
}

/// Whether `word` says that the object has observers.
pub const fn observed(word: u64) -> bool {
    word & OBSERVED != 0
}

/// The word after clearing `clear` and setting `set` (the observer bit unchanged), or
/// `None` when the signals stay as they are (an update that changes nothing tells no
/// observer, so it needs no lock and no store).
pub const fn apply(word: u64, clear: u32, set: u32) -> Option<u64> {
    let now = signals(word);
    let new = (now & !clear) | set;
    if new == now {
        return None;
    }
    Some((word & !(u32::MAX as u64)) | new as u64)
}

/// `word` with the observer bit set as `observed` says.
pub const fn with_observed(word: u64, observed: bool) -> u64 {
    if observed { word | OBSERVED } else { word & !OBSERVED }
}

#[cfg(test)]
#[path = "signal_word_tests.rs"]
mod tests;
