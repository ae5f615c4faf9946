//! The raw system call: `svc #0` with the number in x16, arguments in x0..x7 and the
//! result in x0 (ABI.md §4). Numbers come from the kernel's own table, [`crate::abi::sys`].

/// Issues syscall `nr` with eight register arguments and returns x0 as the kernel left it.
///
/// # Safety
/// The kernel may write through any argument that the syscall treats as a pointer: each
/// must be invalid or point at memory the caller lets the kernel overwrite, for the length
/// the call names. Calls that end threads or processes do not return.
#[inline(always)]
pub unsafe fn syscall(nr: u64, a: [u64; 8]) -> u64 {
    let ret: u64;
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller vouches for the pointer arguments; the kernel changes only x0
    // (ABI.md §4).
    unsafe {
        core::arch::asm!(
            "svc #0",
            inlateout("x0") a[0] => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4],
            in("x5") a[5], in("x6") a[6], in("x7") a[7],
            in("x16") nr,
            options(nostack),
        );
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        let _ = (nr, a);
        ret = crate::Status::BadSyscall.status() as i64 as u64;
    }
    ret
}

/// [`syscall`] with up to eight arguments; missing ones are zero.
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

/// [`call`] for calls that return a status: `Ok(())` or the error.
///
/// # Safety
/// As for [`syscall`].
#[inline(always)]
pub unsafe fn call_ok(nr: u64, args: &[u64]) -> crate::Result {
    // SAFETY: forwarded from the caller.
    crate::ok(unsafe { call(nr, args) } as i64 as i32)
}

/// The address of a pointer, as a syscall argument.
#[inline(always)]
pub fn addr<T: ?Sized>(ptr: *const T) -> u64 {
    ptr as *const u8 as usize as u64
}
