//! Ferrite's own EL0 test programs: the shared runtime.
//!
//! Every program in `src/bin/` is a static EL0 image (see `user.ld`) that the kernel boots
//! as its initrd. This library gives them:
//! - [`sys`]: the raw `svc #0` call,
//! - [`zx`]: ABI v1 constants, owned handles and mappings, a safe wrapper per syscall,
//! - [`console`]: `print!`/`println!` over `zx_debug_write`,
//! - [`rt`]: `_start`, the command line ([`Ctx`]), counter and SP readers, the panic handler,
//! - [`harness`]: the libtest-shaped test runner and its checks.
#![no_std]
// Without an allocator a failure carries its message inline, so `Err` is large on purpose.
#![allow(clippy::result_large_err)]

pub mod console;
pub mod harness;
pub mod ipc;
pub mod rt;
pub mod sys;
pub mod zx;

pub use harness::{Failure, Test, TestResult, check, check_eq, check_hex, check_ok, check_one_of, check_status};
pub use rt::Ctx;
