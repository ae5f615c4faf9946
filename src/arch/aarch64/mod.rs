//! AArch64 at EL1: start-up, exception vectors, MMU, caches, timer, user copies,
//! semihosting and PSCI.

pub mod cache;
pub mod cpu;
pub mod exception;
pub mod heap;
pub mod mmu;
pub mod psci;
pub mod semihosting;
pub mod timer;
pub mod user_copy;

core::arch::global_asm!(include_str!("boot.S"));
core::arch::global_asm!(include_str!("vectors.S"));
core::arch::global_asm!(include_str!("user_copy.S"));
