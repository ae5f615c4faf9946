//! A libtest-shaped harness without an allocator: a table of tests, checks that record
//! where they failed, and a runner that prints
//!
//! ```text
//! running N tests
//! test NAME ... ok
//! test NAME ... FAILED: <what> (<file>:<line>)
//! N passed, M failed
//! ```
//!
//! `test NAME ... ` is printed before the test runs, so a test that kills the program is
//! the last line on the console. The command-line word `filter=SUBSTR` runs only the
//! tests whose names contain SUBSTR.

use core::fmt::{self, Write};
use core::panic::Location;

use crate::console::TextBuf;
use crate::rt::Ctx;
use crate::zx::{self, Status, ZxResult};
use crate::{print, println};

/// Why a test failed, and where.
pub struct Failure {
    what: TextBuf<200>,
    location: &'static Location<'static>,
    /// The test did not run for a reason outside the kernel (a missing command-line
    /// word); it counts as passed and prints `ok (skipped: ...)`.
    skipped: bool,
}

impl Failure {
    /// A failure described by `args`, located at the caller.
    #[track_caller]
    pub fn new(args: fmt::Arguments<'_>) -> Failure {
        let mut what = TextBuf::new();
        let _ = what.write_fmt(args);
        Failure { what, location: Location::caller(), skipped: false }
    }

    /// A skip with the reason `args`.
    #[track_caller]
    pub fn skip(args: fmt::Arguments<'_>) -> Failure {
        Failure { skipped: true, ..Failure::new(args) }
    }
}

impl From<Status> for Failure {
    /// `?` on a syscall result in a test: the status, located at the `?`.
    #[track_caller]
    fn from(status: Status) -> Failure {
        Failure::new(format_args!("a call failed: {}", ShowStatus(status)))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}:{})", self.what.as_str(), self.location.file(), self.location.line())
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What a test returns.
pub type TestResult = Result<(), Failure>;

/// One entry of a program's test table.
pub struct Test {
    /// Printed and matched against `filter=`.
    pub name: &'static str,
    /// The test itself.
    pub run: fn(&Ctx) -> TestResult,
}

/// Builds a `&[Test]` from function names: `tests![a, b, c]`.
#[macro_export]
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        &[$($crate::harness::Test { name: stringify!($name), run: $name }),*]
    };
}

/// Fails the current test with a formatted message: `fail!("got {x}")`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::harness::Failure::new(format_args!($($arg)*)))
    };
}

/// Ends the current test as skipped: `skip!("no mmio= word")`.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)*) => {
        return Err($crate::harness::Failure::skip(format_args!($($arg)*)))
    };
}

/// A status, or the status of a syscall result.
pub trait AsStatus {
    /// The status (ZX_OK for `Ok`).
    fn status(&self) -> Status;
}

impl AsStatus for Status {
    fn status(&self) -> Status {
        *self
    }
}

impl<T> AsStatus for ZxResult<T> {
    fn status(&self) -> Status {
        match self {
            Ok(_) => zx::ZX_OK,
            Err(status) => *status,
        }
    }
}

/// A status as `NAME (n)`.
pub struct ShowStatus(pub Status);

impl fmt::Display for ShowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", zx::status_name(self.0), self.0)
    }
}

/// Fails unless `condition` holds.
#[track_caller]
pub fn check(condition: bool, what: &str) -> TestResult {
    if condition { Ok(()) } else { Err(Failure::new(format_args!("{what}"))) }
}

/// Fails unless `got == want`.
#[track_caller]
pub fn check_eq<T: PartialEq + fmt::Debug>(got: T, want: T, what: &str) -> TestResult {
    if got == want { Ok(()) } else { Err(Failure::new(format_args!("{what}: got {got:?}, want {want:?}"))) }
}

/// Fails unless `got == want`, showing both in hexadecimal.
#[track_caller]
pub fn check_hex(got: u64, want: u64, what: &str) -> TestResult {
    if got == want { Ok(()) } else { Err(Failure::new(format_args!("{what}: got {got:#x}, want {want:#x}"))) }
}

/// Fails unless the call gave status `want`.
#[track_caller]
pub fn check_status(got: impl AsStatus, want: Status, what: &str) -> TestResult {
    let got = got.status();
    if got == want {
        Ok(())
    } else {
        Err(Failure::new(format_args!("{what}: got {}, want {}", ShowStatus(got), ShowStatus(want))))
    }
}

/// Fails unless the call gave one of `wants` (where Zircon versions differ).
#[track_caller]
pub fn check_one_of(got: impl AsStatus, wants: &[Status], what: &str) -> TestResult {
    let got = got.status();
    if wants.contains(&got) {
        return Ok(());
    }
    let mut list = TextBuf::<96>::new();
    for (i, want) in wants.iter().enumerate() {
        let _ = write!(list, "{}{}", if i == 0 { "" } else { " or " }, zx::status_name(*want));
    }
    Err(Failure::new(format_args!("{what}: got {}, want {}", ShowStatus(got), list.as_str())))
}

/// The value of a call that must succeed.
#[track_caller]
pub fn check_ok<T>(result: ZxResult<T>, what: &str) -> Result<T, Failure> {
    match result {
        Ok(value) => Ok(value),
        Err(status) => Err(Failure::new(format_args!("{what}: got {}, want OK", ShowStatus(status)))),
    }
}

/// Runs every test whose name contains the `filter=` word (all without one) and returns
/// the exit status: 0 when none failed, else 1.
pub fn run_tests(ctx: &Ctx, tests: &[Test]) -> i64 {
    let filter = ctx.arg("filter").unwrap_or("");
    let selected = || tests.iter().filter(|test| test.name.contains(filter));
    let count = selected().count();
    println!("running {count} test{}", if count == 1 { "" } else { "s" });
    let (mut passed, mut failed) = (0u32, 0u32);
    for test in selected() {
        print!("test {} ... ", test.name);
        match (test.run)(ctx) {
            Ok(()) => {
                passed += 1;
                println!("ok");
            }
            Err(failure) if failure.skipped => {
                passed += 1;
                println!("ok (skipped: {})", failure.what.as_str());
            }
            Err(failure) => {
                failed += 1;
                println!("FAILED: {failure}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 { 0 } else { 1 }
}

/// The verdict of a program that is one test (a fuzzer), printed as [`run_tests`] prints
/// a suite's: its line and the summary; returns the exit status, 0 or 1.
pub fn report_one(name: &str, verdict: Result<(), &str>) -> i64 {
    match verdict {
        Ok(()) => {
            println!("test {name} ... ok");
            println!("1 passed, 0 failed");
            0
        }
        Err(why) => {
            println!("test {name} ... FAILED: {why}");
            println!("0 passed, 1 failed");
            1
        }
    }
}

/// A one-page VMO used to probe user addresses without touching them from EL0.
fn probe_vmo() -> Option<zx::Handle> {
    zx::vmo_create(zx::PAGE_SIZE, 0).ok()
}

/// Whether the kernel can read one byte at `addr` on our behalf (a `vmo_write` from it
/// succeeds). Never faults.
pub fn kernel_can_read(addr: u64) -> bool {
    let Some(vmo) = probe_vmo() else { return false };
    // SAFETY: the kernel only reads from `addr`.
    let status = unsafe { crate::sys::call_status(zx::nr::VMO_WRITE, [zx::AsRaw::raw_u64(&vmo), addr, 0, 1]) };
    status == zx::ZX_OK
}

/// Whether the kernel can write one byte at `addr` on our behalf. The byte is read first
/// and written back unchanged, so the probe is harmless to live memory.
pub fn kernel_can_write(addr: u64) -> bool {
    let Some(vmo) = probe_vmo() else { return false };
    // SAFETY: the kernel reads the byte at `addr` into the VMO, then writes that same
    // byte back; nothing else runs in between in this single-threaded program.
    unsafe {
        if crate::sys::call_status(zx::nr::VMO_WRITE, [zx::AsRaw::raw_u64(&vmo), addr, 0, 1]) != zx::ZX_OK {
            return false;
        }
        crate::sys::call_status(zx::nr::VMO_READ, [zx::AsRaw::raw_u64(&vmo), addr, 0, 1]) == zx::ZX_OK
    }
}

/// The lowest page of the stack mapping that holds `sp`, found by asking the kernel to
/// read each page below it until one is not readable (the guard page), within `limit`
/// bytes. Returns (lowest mapped page, guard page).
pub fn stack_bounds(sp: u64, limit: u64) -> Option<(u64, u64)> {
    let mut page = sp & !(zx::PAGE_SIZE - 1);
    let floor = page.saturating_sub(limit);
    while page > floor && page >= zx::USER_BASE + zx::PAGE_SIZE {
        let below = page - zx::PAGE_SIZE;
        if !kernel_can_read(below) {
            return Some((page, below));
        }
        page = below;
    }
    None
}

/// An address range of `pages` pages that is free right now (mapped, then unmapped).
pub fn unmapped_range(ctx: &Ctx, pages: u64) -> ZxResult<u64> {
    let vmo = zx::vmo_create(pages * zx::PAGE_SIZE, 0)?;
    let addr = zx::vmar_map(ctx.root_vmar, zx::VM_PERM_READ, 0, &vmo, 0, pages * zx::PAGE_SIZE)?;
    zx::vmar_unmap(ctx.root_vmar, addr, pages * zx::PAGE_SIZE)?;
    Ok(addr)
}
