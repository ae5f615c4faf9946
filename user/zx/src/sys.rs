//! The raw system call: `svc #0` with the number in x16, arguments in x0..x7 and the
//! result in x0 (ABI.md §4). Numbers come from the kernel's own table, [`crate::abi::sys`].
//!
//! This is the one raw layer of Ferrite's user space: the typed wrappers of this crate and
//! the EL0 test programs (tests/user, which pass raw and bogus values) both call it.
//!
//! A call loads only the registers it has. [`call`] takes its arguments as an array, so
//! their number `N` is known when it is compiled, and it issues the `svc` of
//! [`syscall0`]..[`syscall8`] whose assembly names exactly x0..x(N-1): a two-argument call
//! sets x0 and x1 and nothing else. That is sound because the kernel reads only the
//! arguments a syscall has (each handler takes its own, src/syscall/decode.rs), as
//! Fuchsia's vDSO wrappers rely on too; the registers a call does not name are not
//! arguments, whatever they hold.
//!
//! Each assembly block declares only x0 as changed: the ABI promises that every other
//! register, SP, NZCV and the FP/SIMD registers survive a call, and the compiled programs
//! rely on it; `syscalls::registers_preserved_across_svc` (tests/user) checks the promise.

/// Defines `syscallN`: `svc #0` with the number in x16 and exactly the N argument
/// registers given, the result taken from x0.
macro_rules! syscall_with {
    ($(#[$doc:meta])* $name:ident($first:ident $(, $arg:ident in $reg:tt)*)) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The kernel may write through any argument that the syscall treats as a pointer:
        /// each must be invalid (outside user space or unmapped) or point at memory the
        /// caller lets the kernel overwrite, for the length the call names. Calls that end
        /// threads or processes do not return.
        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        pub unsafe fn $name(nr: u64, $first: u64 $(, $arg: u64)*) -> u64 {
            let ret: u64;
            #[cfg(target_arch = "aarch64")]
            // SAFETY: the caller vouches for the pointer arguments; the kernel changes only
            // x0 (ABI.md §4), the one register declared as an output.
            unsafe {
                core::arch::asm!(
                    "svc #0",
                    inlateout("x0") $first => ret,
                    $(in($reg) $arg,)*
                    in("x16") nr,
                    options(nostack),
                );
            }
            #[cfg(not(target_arch = "aarch64"))]
            {
                let _ = (nr, $first $(, $arg)*);
                ret = crate::Status::BadSyscall.status() as i64 as u64;
            }
            ret
        }
    };
}

/// Issues syscall `nr` with no arguments; returns x0 as the kernel left it (a status is
/// sign-extended to 64 bits; `clock_get_monotonic` returns a time).
///
/// # Safety
/// Calls that end threads or processes do not return; otherwise as for [`syscall8`].
#[inline(always)]
pub unsafe fn syscall0(nr: u64) -> u64 {
    let ret: u64;
    #[cfg(target_arch = "aarch64")]
    // SAFETY: no arguments, so nothing for the kernel to write through; the kernel changes
    // only x0 (ABI.md §4).
    unsafe {
        core::arch::asm!("svc #0", lateout("x0") ret, in("x16") nr, options(nostack));
    }
    #[cfg(not(target_arch = "aarch64"))]
    {
        let _ = nr;
        ret = crate::Status::BadSyscall.status() as i64 as u64;
    }
    ret
}

syscall_with!(
    /// Issues syscall `nr` with one argument (x0).
    syscall1(a0)
);
syscall_with!(
    /// Issues syscall `nr` with two arguments (x0, x1).
    syscall2(a0, a1 in "x1")
);
syscall_with!(
    /// Issues syscall `nr` with three arguments (x0..x2).
    syscall3(a0, a1 in "x1", a2 in "x2")
);
syscall_with!(
    /// Issues syscall `nr` with four arguments (x0..x3).
    syscall4(a0, a1 in "x1", a2 in "x2", a3 in "x3")
);
syscall_with!(
    /// Issues syscall `nr` with five arguments (x0..x4).
    syscall5(a0, a1 in "x1", a2 in "x2", a3 in "x3", a4 in "x4")
);
syscall_with!(
    /// Issues syscall `nr` with six arguments (x0..x5).
    syscall6(a0, a1 in "x1", a2 in "x2", a3 in "x3", a4 in "x4", a5 in "x5")
);
syscall_with!(
    /// Issues syscall `nr` with seven arguments (x0..x6).
    syscall7(a0, a1 in "x1", a2 in "x2", a3 in "x3", a4 in "x4", a5 in "x5", a6 in "x6")
);
syscall_with!(
    /// Issues syscall `nr` with all eight argument registers (x0..x7), as the fuzzers do.
    syscall8(a0, a1 in "x1", a2 in "x2", a3 in "x3", a4 in "x4", a5 in "x5", a6 in "x6", a7 in "x7")
);

/// Issues syscall `nr` with the `N` arguments of `args` in x0..x(N-1) and no other
/// argument register set; returns x0 as the kernel left it.
///
/// `N` is a constant of each instantiation, so the `match` below is decided when the
/// wrapper is compiled and only the one `syscallN` remains: no branch, no zeroed register.
/// More than eight arguments do not compile.
///
/// # Safety
/// As for [`syscall8`].
#[inline(always)]
pub unsafe fn call<const N: usize>(nr: u64, args: [u64; N]) -> u64 {
    const { assert!(N <= 8, "a syscall has at most eight register arguments") };
    // Padded so that every arm below indexes in bounds whatever N is; the padding of the
    // arm that runs is never passed (its syscallN takes only N registers).
    let mut a = [0u64; 8];
    a[..N].copy_from_slice(&args);
    // SAFETY: forwarded from the caller, with the same arguments.
    unsafe {
        match N {
            0 => syscall0(nr),
            1 => syscall1(nr, a[0]),
            2 => syscall2(nr, a[0], a[1]),
            3 => syscall3(nr, a[0], a[1], a[2]),
            4 => syscall4(nr, a[0], a[1], a[2], a[3]),
            5 => syscall5(nr, a[0], a[1], a[2], a[3], a[4]),
            6 => syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]),
            7 => syscall7(nr, a[0], a[1], a[2], a[3], a[4], a[5], a[6]),
            _ => syscall8(nr, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]),
        }
    }
}

/// [`call`] for syscalls that return a status: x0 read as a sign-extended `i32`.
///
/// # Safety
/// As for [`syscall8`].
#[inline(always)]
pub unsafe fn call_status<const N: usize>(nr: u64, args: [u64; N]) -> i32 {
    // SAFETY: forwarded from the caller.
    unsafe { call(nr, args) as i64 as i32 }
}

/// [`call`] for calls that return a status: `Ok(())` or the error.
///
/// # Safety
/// As for [`syscall8`].
#[inline(always)]
pub unsafe fn call_ok<const N: usize>(nr: u64, args: [u64; N]) -> crate::Result {
    // SAFETY: forwarded from the caller.
    crate::ok(unsafe { call_status(nr, args) })
}

/// The address of a pointer, as a syscall argument.
#[inline(always)]
pub fn addr<T: ?Sized>(ptr: *const T) -> u64 {
    ptr as *const u8 as usize as u64
}
