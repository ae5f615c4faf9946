//! # Ferrite
//!
//! An AArch64 kernel that gives EL0 programs Zircon's object model: handles with rights
//! and virtual memory objects whose syscalls behave as Fuchsia's do.
//!
//! ## Code organisation
//!
//! ```text
//!  EL0 programs ── svc #0 ──┐
//!                           v
//!  +----------------------------------------------------------------------+
//!  | arch::aarch64   boot.S, vectors.S, MMU, caches, user copy, timer     |  unsafe, thin
//!  +----------------------------------------------------------------------+
//!  | kernel          boot sequence, process, syscall handlers, faults,    |  safe
//!  |                 interrupts, panic, shutdown                          |
//!  +----------------------------------------------------------------------+
//!  | syscall  object  vm  ipc  mm  platform  elf  trap                    |  pure, host-tested
//!  +----------------------------------------------------------------------+
//!  | drivers         PL011, mini UART, GIC v2/v3, BCM2711 GPIO            |  MMIO, unsafe
//!  +----------------------------------------------------------------------+
//! ```
//!
//! Decisions live in the pure modules, which also build and run their unit tests on the
//! host (`make test-host`). Only `arch` and `drivers` contain `unsafe`. Every public item
//! of the pure modules is documented (`missing_docs`, an error in `make lint`).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod abi;
#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod cpio;
#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod elf;
#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod error;
#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod insn;
#[deny(unsafe_code)]
pub mod ipc;
#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod mm;
#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod object;
#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod platform;
#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod sched;
#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod syscall;
#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod trap;
#[deny(unsafe_code)]
#[warn(missing_docs)]
pub mod vm;

#[cfg(test)]
#[deny(unsafe_code)]
pub mod test_rng;

pub mod arch;
pub mod drivers;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
#[deny(unsafe_code)]
pub mod kernel;

pub use error::{ZxError, ZxResult};
