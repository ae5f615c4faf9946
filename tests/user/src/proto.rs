//! (v2) What the `tasks` program and its child program `tasks-child` agree on.
//!
//! Channels are not part of this protocol: the parent creates a one-page "mailbox" VMO,
//! maps it in itself and in the child, and starts the child with x1 = the mailbox's
//! address in the child (and x0 = one handle it moves into the child, often an eventpair
//! end). The mailbox holds the command and its arguments (written before the start), a
//! phase word the parent advances and a progress word and results the child fills in.
//! Every field is an atomic, so both sides see each other's stores through the shared
//! page. Return codes come back through `ZX_INFO_PROCESS` once the child has ended.

use core::sync::atomic::AtomicU64;

/// The shared page.
#[repr(C)]
pub struct Mailbox {
    /// One of the `CMD_*` values.
    pub command: AtomicU64,
    /// The command's arguments.
    pub args: [AtomicU64; 8],
    /// Advanced by the parent to move the child on.
    pub phase: AtomicU64,
    /// Advanced by the child as it goes (a heartbeat for spinning commands).
    pub progress: AtomicU64,
    /// What the child reports.
    pub results: [AtomicU64; 8],
}

/// `zx_process_exit(args[0])`.
pub const CMD_EXIT: u64 = 1;
/// `zx_thread_exit()` of the only thread: the process ends with 0.
pub const CMD_THREAD_EXIT: u64 = 2;
/// A user fault of kind `args[0]` (one of `FAULT_*`).
pub const CMD_FAULT: u64 = 3;
/// Spin forever without syscalls, counting in `progress`.
pub const CMD_SPIN: u64 = 4;
/// Block forever: `args[0]` 0 in `zx_nanosleep(INFINITE)`, 1 in `zx_object_wait_one` on
/// the x0 handle for a signal nobody sets, 2 in `zx_futex_wait`. `progress` becomes 1
/// just before.
pub const CMD_BLOCK: u64 = 5;
/// Memory through `zx_process_read/write_memory`: wait for phase 1, then read `args[1]`
/// bytes at `args[0]` (in the child's own memory, written there by the parent), write each
/// byte XOR 0x5A at `args[0] + args[2]`, set `progress` to 1, wait for phase 2, exit with
/// the sum of the bytes read.
pub const CMD_MEMORY: u64 = 6;
/// Watch a shared page at `args[0]` whose u64 words all held `args[1]`: count reads, and
/// count as bad any word that is neither `args[1]` nor 0, and any nonzero word read after
/// the parent moved to phase 1 (it did so once the page was decommitted). Stops at phase
/// 2 and exits with 0; `results[0]` bad reads, `results[1]` the last bad word,
/// `results[2]` reads in phase 1.
pub const CMD_WATCH: u64 = 7;
/// Threads: x0 is a handle to the child's own process. Start `args[0]` (at most 4)
/// more threads that spin counting in `results[i]`, set `progress` to 1, then: `args[1]`
/// 0 → `zx_process_exit(args[2])` while they spin; 1 → every thread ends with
/// `zx_thread_exit` once phase is 1.
pub const CMD_THREADS: u64 = 8;
/// Signals through the eventpair end in x0: signal the peer USER_SIGNAL_0, wait for
/// USER_SIGNAL_1 on its own end, exit with 5.
pub const CMD_SIGNAL: u64 = 9;
/// Add one to `progress`, then `zx_thread_exit()`: run by every thread that enters the
/// program (the first one and any the parent starts at the entry point later).
pub const CMD_COUNT_AND_EXIT: u64 = 10;

/// Fault kinds of [`CMD_FAULT`].
pub const FAULT_READ_NULL: u64 = 0;
pub const FAULT_WRITE_TEXT: u64 = 1;
pub const FAULT_UNDEFINED: u64 = 2;
pub const FAULT_BRK: u64 = 3;
pub const FAULT_EXEC_DATA: u64 = 4;
/// How many fault kinds there are.
pub const FAULT_KINDS: u64 = 5;
