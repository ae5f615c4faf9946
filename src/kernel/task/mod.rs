//! Tasks (ABI.md sections 3, 4.2, 4.3): jobs, processes and threads as kernel objects,
//! their lifecycles and how they end.
//!
//! Lock order: a job's state before nothing else of the tasks (job code collects what it
//! must act on, releases its lock, then acts); a process's state, then its handle table
//! is never taken under it either; a thread's `life`, then the scheduler's lock. Ending a
//! task never holds a task lock while it closes handles.

mod job;
mod process;
mod thread;

pub use job::Job;
pub use process::{HandleLookup, ProcLife, Process};
pub use thread::{Thread, ThreadLife};

/// Reads a NUL-stopped, at most 31-byte name into the 32-byte form objects keep.
pub fn name_from(bytes: &[u8]) -> [u8; 32] {
    let mut name = [0u8; 32];
    let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len()).min(31);
    name[..len].copy_from_slice(&bytes[..len]);
    name
}
