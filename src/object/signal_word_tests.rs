use super::*;

#[test]
fn apply_changes_only_the_signals() {
    let w = new(0b0101);
    assert_eq!(signals(w), 0b0101);
    assert!(!observed(w));
    assert_eq!(apply(w, 0, 0b0001), None, "setting a set signal changes nothing");
    assert_eq!(apply(w, 0b0010, 0), None, "clearing a clear signal changes nothing");
    assert_eq!(apply(w, 0b0001, 0b1000), Some(new(0b1100)));
    let o = with_observed(w, true);
    assert!(observed(o));
    assert_eq!(signals(o), 0b0101);
    assert_eq!(apply(o, 0b0100, 0), Some(with_observed(new(0b0001), true)), "the bit stays");
    assert_eq!(apply(new(u32::MAX), u32::MAX, 0), Some(new(0)));
    assert!(!observed(with_observed(o, false)));
}

/// One thread of the model below, stepping one atomic action (or one critical section
/// of the signal lock) at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// A lock-free update: loads the word.
    Load,
    /// Tries its compare-and-swap against the word it loaded.
    Cas(u64),
    /// Found the bit set: the update under the lock.
    Locked,
    Done,
}

/// Signaller `i` of the model: clears `clear` and sets `set`.
#[derive(Clone, Copy, Debug)]
struct Signaller {
    clear: u32,
    set: u32,
    step: Step,
}

#[derive(Clone, Debug)]
struct Model {
    word: u64,
    /// The observer: 0 not yet registered, 1 registered, 2 removed again.
    observer: u8,
    /// The signals the observer was told last (at registration or by an update).
    told: u32,
    signallers: [Signaller; 3],
}

impl Model {
    /// The update under the signal lock (as `ObjectBase::change_signals`).
    fn locked_update(&mut self, clear: u32, set: u32) {
        if let Some(next) = apply(self.word, clear, set) {
            self.word = next;
            if observed(next) {
                assert_eq!(self.observer, 1, "the bit is set only while the list is not empty");
                self.told = signals(next);
            }
        }
    }

    /// Runs signaller `i` one step.
    fn step_signaller(&mut self, i: usize) {
        let s = self.signallers[i];
        let next = match s.step {
            Step::Load => match apply(self.word, s.clear, s.set) {
                None => Step::Done,
                Some(_) if observed(self.word) => Step::Locked,
                Some(_) => Step::Cas(self.word),
            },
            Step::Cas(expected) => {
                if self.word == expected {
                    let Some(next) = apply(expected, s.clear, s.set) else { unreachable!() };
                    assert!(!observed(next));
                    self.word = next;
                    Step::Done
                } else {
                    Step::Load
                }
            }
            Step::Locked => {
                self.locked_update(s.clear, s.set);
                Step::Done
            }
            Step::Done => Step::Done,
        };
        self.signallers[i].step = next;
    }

    /// The observer's next step: registers (as `add_waiter`: one read-modify-write under
    /// the lock), then leaves (under the lock; the bit goes with the last observer).
    fn step_observer(&mut self) {
        match self.observer {
            0 => {
                let old = self.word;
                self.word = with_observed(old, true);
                self.told = signals(old);
                self.observer = 1;
            }
            1 => {
                // What the protocol promises: an observer has been told every change
                // made while it was registered, so it knows the signals now.
                assert_eq!(self.told, signals(self.word), "an observer missed a change: {self:?}");
                self.word = with_observed(self.word, false);
                self.observer = 2;
            }
            _ => {}
        }
    }

    fn explore(&self, runs: &mut u64) {
        let mut any = false;
        for i in 0..self.signallers.len() {
            if self.signallers[i].step != Step::Done {
                any = true;
                let mut next = self.clone();
                next.step_signaller(i);
                next.explore(runs);
            }
        }
        if self.observer < 2 {
            any = true;
            let mut next = self.clone();
            next.step_observer();
            next.explore(runs);
        }
        if !any {
            *runs += 1;
            assert!(!observed(self.word), "the bit left set with nobody observing");
        }
    }
}

#[test]
fn no_interleaving_of_updates_and_a_registration_loses_a_change() {
    // Every order of the atomic steps of three updates (a set, a clear, a set of another
    // signal) and one observer's registration and removal, from each starting state.
    let mut runs = 0;
    for start in 0..4u32 {
        let model = Model {
            word: new(start),
            observer: 0,
            told: 0,
            signallers: [
                Signaller { clear: 0, set: 0b01, step: Step::Load },
                Signaller { clear: 0b01, set: 0, step: Step::Load },
                Signaller { clear: 0, set: 0b10, step: Step::Load },
            ],
        };
        model.explore(&mut runs);
    }
    assert!(runs > 1000, "only {runs} interleavings explored");
}
