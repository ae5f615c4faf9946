//! AArch64 at EL1: start-up, exception vectors, MMU, caches, timer, user copies,
//! semihosting and PSCI.

pub mod cache;
pub mod context;
pub mod cpu;
pub mod exception;
pub mod heap;
pub mod mmu;
pub mod percpu;
pub mod psci;
pub mod semihosting;
pub mod smp;
pub mod static_key;
pub mod timer;
pub mod user_copy;

core::arch::global_asm!(include_str!("boot.S"));
core::arch::global_asm!(
    include_str!("vectors.S"),
    frame_size = const core::mem::size_of::<exception::TrapFrame>(),
    tf_x = const exception::TrapFrame::X_OFFSET,
    tf_x19 = const exception::TrapFrame::X19_OFFSET,
    tf_elr = const exception::TrapFrame::ELR_OFFSET,
    tf_record = const exception::TrapFrame::RECORD_OFFSET,
    stack_bit = const KERNEL_STACK_BIT,
    syscall_count = const crate::kernel::syscalls::SYSCALL_COUNT,
);

/// Every kernel stack fills the upper half of a slot aligned to twice its size, whose
/// lower half holds its guard page: addresses inside a stack have this bit set.
pub const KERNEL_STACK_BIT: u32 = 16;
/// Bytes of one kernel stack (64 KiB); a slot is twice that.
pub const KERNEL_STACK_BYTES: u64 = 1 << KERNEL_STACK_BIT;
// The user copies' PAN sites are static-key sites (`static_key::Key::Pan`).
core::arch::global_asm!(include_str!("user_copy.S"), key_pan = const static_key::Key::Pan as u32);
// memcpy and memset (why they replace the portable ones, and why they are sound: mem.S).
core::arch::global_asm!(include_str!("mem.S"));
