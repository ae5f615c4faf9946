//! Tasks (ABI.md sections 3, 4.2, 4.3): jobs, processes and threads as kernel objects,
//! their lifecycles and how they end.
//!
//! Lock order: a job's state before nothing else of the tasks (job code collects what it
//! must act on, releases its lock, then acts); a process's state, then its handle table
//! is never taken under it either; a thread's `life`, then the scheduler's lock. Ending a
//! task never holds a task lock while it closes handles.

use crate::kernel::sync::{Lock, class};
use core::sync::atomic::{AtomicU64, Ordering};

mod job;
mod process;
mod thread;

pub use job::Job;
pub use process::{HandleLookup, ProcLife, Process};
pub use thread::{Thread, ThreadLife};

pub use crate::object::name::Name;

/// A task's name that `zx_object_set_property` may change while others read it.
///
/// The words are atomics only to be changed through `&self`; the lock makes a read or
/// a write of all four one step, so a reader never sees half of an old name. (As a
/// `Lock<Name>`, a flag byte and padding before the words, LLVM built a new object's
/// name in a byte-shifted temporary and copied it twice with `memcpy`: about 150
/// instructions per thread.)
pub struct NameCell {
    lock: Lock<()>,
    words: [AtomicU64; 4],
}

impl NameCell {
    /// A cell holding `name`.
    pub const fn new(name: Name) -> NameCell {
        let [a, b, c, d] = name.words();
        NameCell {
            lock: Lock::new(&class::NAME, ()),
            words: [AtomicU64::new(a), AtomicU64::new(b), AtomicU64::new(c), AtomicU64::new(d)],
        }
    }

    /// The name now.
    pub fn get(&self) -> Name {
        let _held = self.lock.lock();
        Name::from_words(self.words.each_ref().map(|w| w.load(Ordering::Relaxed)))
    }

    /// Changes the name.
    pub fn set(&self, name: Name) {
        let _held = self.lock.lock();
        for (w, v) in self.words.iter().zip(name.words()) {
            w.store(v, Ordering::Relaxed);
        }
    }
}

/// Reads a NUL-stopped, at most 31-byte name into the form objects keep.
pub fn name_from(bytes: &[u8]) -> Name {
    Name::new(bytes)
}
