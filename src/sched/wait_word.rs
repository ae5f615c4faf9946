//! A thread's wait word: the number of its latest wait and, once that wait has ended,
//! why (the kernel keeps it in an atomic in each thread, `kernel::sched::WaitCell`).
//!
//! Only the thread starts its own waits ([`start`]: the next number, no reason yet).
//! Whoever ends a wait names its number: [`end`] gives the new word only while that
//! very wait is still open, so the kernel's compare-and-swap of the old word for it lets
//! exactly one ender win, and an ender holding the number of an older wait (a stale
//! queue entry, observer or deadline) never ends a later one. Pure: the kernel does the
//! atomics around these functions.

/// Bits of the word that hold the reason (0 while the wait is open).
pub const REASON_BITS: u32 = 3;
const REASON_MASK: u64 = (1 << REASON_BITS) - 1;

/// The word of the thread's next wait, after `word`: its number and no reason. Numbers
/// start at 1 (a word of 0 is "no wait yet") and never repeat (2^61 waits).
pub const fn start(word: u64) -> u64 {
    ((word >> REASON_BITS) + 1) << REASON_BITS
}

/// The number of the wait `word` is about.
pub const fn number(word: u64) -> u64 {
    word >> REASON_BITS
}

/// The word an open wait number `seq` has (what the ender compares against).
pub const fn open(seq: u64) -> u64 {
    seq << REASON_BITS
}

/// The word after wait `seq` ends with `reason` (1 to 7), if `word` shows that wait
/// still open; `None` when it already ended or the thread has moved on to a later wait.
pub const fn end(word: u64, seq: u64, reason: u32) -> Option<u64> {
    if word != open(seq) || reason == 0 || reason as u64 > REASON_MASK {
        return None;
    }
    Some(word | reason as u64)
}

/// The reason wait `seq` ended with, as seen in `word`: `Some(0)` while it is open,
/// `None` when the thread has moved on to a later wait (then the older one is over).
pub const fn reason(word: u64, seq: u64) -> Option<u32> {
    if number(word) != seq {
        return None;
    }
    Some((word & REASON_MASK) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_start_at_one_and_advance() {
        let first = start(0);
        assert_eq!(number(first), 1);
        assert_eq!(reason(first, 1), Some(0));
        // Starting the next wait works the same whether the last one ended or not.
        let ended = end(first, 1, 2).unwrap();
        assert_eq!(number(start(ended)), 2);
        assert_eq!(number(start(first)), 2);
        assert_eq!(reason(start(ended), 2), Some(0));
    }

    #[test]
    fn exactly_one_ender_wins() {
        let word = start(start(0));
        let seq = number(word);
        let won = end(word, seq, 1).expect("the open wait ends");
        assert_eq!(reason(won, seq), Some(1));
        // A second ender compares against the open word and finds it changed.
        assert_eq!(end(won, seq, 4), None);
    }

    #[test]
    fn a_stale_number_never_ends_a_later_wait() {
        let old = start(0);
        let newer = start(old);
        // The older wait was left open (never ended) and the thread moved on: its
        // number no longer matches, whatever the ender tries.
        for r in 1..=4 {
            assert_eq!(end(newer, number(old), r), None);
        }
        assert_eq!(reason(newer, number(old)), None, "the older wait reads as over");
        assert_eq!(reason(newer, number(newer)), Some(0), "the newer one is still open");
        // After the newer one ended, the older number still ends nothing.
        let ended = end(newer, number(newer), 3).unwrap();
        assert_eq!(end(ended, number(old), 1), None);
    }

    #[test]
    fn reasons_out_of_range_are_refused() {
        let word = start(0);
        assert_eq!(end(word, 1, 0), None);
        assert_eq!(end(word, 1, 8), None);
        assert_eq!(end(word, 1, 7), Some(word | 7));
    }
}
