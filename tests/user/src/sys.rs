//! The raw system call: `svc #0` with the number in x16, arguments in x0..x7 and the
//! result in x0 (ABI.md §4). It is user/zx's raw layer itself (`zx::sys`), so the tests and
//! the programs issue their calls the same way:
//!
//! - [`call`]`(nr, [a0, .., aN-1])` sets x0..x(N-1) and no other argument register (the
//!   kernel reads only the arguments a call has); [`call_status`] reads x0 as a
//!   sign-extended `i32`;
//! - [`syscall0`]..[`syscall8`] name their registers one by one; the fuzzers pass all eight.
//!
//! The assembly declares only x0 as changed. The ABI promises that every other register,
//! SP, NZCV and the FP/SIMD registers survive a call, and the compiled programs rely on
//! it; `syscalls::registers_preserved_across_svc` checks the promise explicitly.

pub use ::zx::sys::{
    addr, call, call_status, syscall0, syscall1, syscall2, syscall3, syscall4, syscall5, syscall6, syscall7, syscall8,
};
