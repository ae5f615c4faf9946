//! The raw system call: `svc #0` with the number in x16, arguments in x0..x7 and the
//! result in x0 (ABI.md §4).
//!
//! The assembly declares only x0 as changed. The ABI promises that every other register,
//! SP, NZCV and the FP/SIMD registers survive a call, and the compiled programs rely on
//! it; `syscalls::registers_preserved_across_svc` checks the promise explicitly.

use core::arch::asm;

/// Issues syscall `nr` with eight register arguments and returns x0 exactly as the kernel
/// left it (a status is sign-extended to 64 bits; `clock_get_monotonic` returns a time).
///
/// # Safety
/// The kernel may write through any argument that the syscall treats as a pointer. Each
/// such argument must be invalid (outside user space or unmapped) or point at memory that
/// the caller lets the kernel overwrite, for the length the call names.
#[inline(always)]
pub unsafe fn syscall(nr: u64, args: [u64; 8]) -> u64 {
    let ret: u64;
    // SAFETY: the caller vouches for the pointer arguments; the kernel changes nothing
    // else of ours (only x0, per ABI.md §4).
    unsafe {
        asm!(
            "svc #0",
            inlateout("x0") args[0] => ret,
            in("x1") args[1],
            in("x2") args[2],
            in("x3") args[3],
            in("x4") args[4],
            in("x5") args[5],
            in("x6") args[6],
            in("x7") args[7],
            in("x16") nr,
            options(nostack),
        );
    }
    ret
}

/// [`syscall`] with up to eight arguments given as a slice; missing ones are zero.
///
/// # Safety
/// As for [`syscall`].
#[inline(always)]
pub unsafe fn call(nr: u64, args: &[u64]) -> u64 {
    let mut regs = [0u64; 8];
    for (reg, arg) in regs.iter_mut().zip(args) {
        *reg = *arg;
    }
    // SAFETY: forwarded from the caller.
    unsafe { syscall(nr, regs) }
}

/// [`call`] for syscalls that return a status: x0 read as a sign-extended `i32`.
///
/// # Safety
/// As for [`syscall`].
#[inline(always)]
pub unsafe fn call_status(nr: u64, args: &[u64]) -> i32 {
    // SAFETY: forwarded from the caller.
    let ret = unsafe { call(nr, args) };
    ret as i64 as i32
}
