//! Ferrite's own EL0 test programs: the shared runtime.
//!
//! Every program in `src/bin/` is a static EL0 image (see `user.ld`) that the kernel boots
//! as its initrd. This library gives them:
//! - [`abi`], [`kernel_error`]: the kernel's own ABI numbers and status codes
//!   (`src/abi.rs`, `src/error.rs`, compiled in here too),
//! - [`sys`]: the raw `svc #0` call: user/zx's own (`zx::sys`), which sets only the
//!   registers a call has,
//! - [`zx`]: ABI constants, owned handles and mappings, a safe wrapper per syscall,
//! - [`console`]: `print!`/`println!` over `zx_debug_write`,
//! - [`rt`]: `_start`, the command line ([`Ctx`]), counter and SP readers, the panic handler,
//! - [`harness`]: the libtest-shaped test runner and its checks,
//! - [`thread`]: threads of this process on their own stacks, joined by waiting,
//! - [`loader`]: the initrd archive, and programs from it started as child processes,
//! - [`proto`]: the mailbox the `tasks` program shares with its child program,
//! - [`rng`]: the fuzzers' seeded random numbers.
#![no_std]
// Without an allocator a failure carries its message inline, so `Err` is large on purpose.
#![allow(clippy::result_large_err)]

/// The kernel's ABI numbers: the very file the kernel compiles (`src/abi.rs`), compiled
/// into the `zx` crate of user/, so the syscall numbers, rights, topics and signals the
/// tests use cannot drift from the kernel's (nor from the programs').
pub use ::zx::abi;
pub mod console;
pub mod harness;
pub mod ipc;
/// The kernel's status codes (`src/error.rs`, compiled into the `zx` crate), for the same
/// reason.
pub mod kernel_error {
    pub use ::zx::Status as ZxError;
}
pub mod loader;
pub mod proto;
pub mod rng;
pub mod rt;
pub mod sys;
pub mod thread;
pub mod zx;

pub use harness::{Failure, Test, TestResult, check, check_eq, check_hex, check_ok, check_one_of, check_status};
pub use rt::Ctx;
