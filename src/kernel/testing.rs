//! The in-kernel test runner for the kernel test images (`tests/kernel_*.rs`, level 2 of
//! the test pyramid): named test functions run one after another on the booted kernel,
//! reported line by line as libtest does, then the machine shuts down with status 0
//! when every test passed and 1 otherwise. Also the expected-fault hook that lets a test
//! provoke an exception at EL1 (a store to kernel text, `brk`, `udf`, a load from an
//! unmapped page) and inspect its syndrome instead of taking a kernel panic.
//!
//! A test image is a `#![no_std] #![no_main]` binary whose `ferrite_main` calls
//! [`run_tests`]; `scripts/run-kernel-test.sh` boots it in QEMU and exits with its status.

use crate::arch::aarch64::exception::TrapFrame;
use crate::kprintln;
use crate::trap::TrapCause;
use aarch64_cpu::registers::Readable as _;
use alloc::string::String;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering, compiler_fence};

/// Why a test failed: one line, usually with the source location of the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestFailure {
    message: String,
}

impl TestFailure {
    /// A failure with `message`.
    pub fn new(message: impl fmt::Display) -> Self {
        TestFailure { message: alloc::format!("{message}") }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// What a test returns: `Ok(())` when every check held.
pub type TestResult = Result<(), TestFailure>;

/// One named kernel test.
#[derive(Clone, Copy)]
pub struct KernelTest {
    /// Printed in the `test NAME ... ok` line.
    pub name: &'static str,
    /// The test; it runs with the kernel fully booted and interrupts masked, and must
    /// leave them masked and the kernel state lock released.
    pub run: fn() -> TestResult,
}

/// Runs `tests` in order, printing `running N tests`, one `test NAME ... ok` or
/// `test NAME ... FAILED: why` line each, and the totals; then shuts down with status 0
/// when all passed, 1 otherwise. A test that panics stops the run through the panic
/// handler (status 101), its `test NAME ...` line left open above the panic message.
pub fn run_tests(tests: &[KernelTest]) -> ! {
    kprintln!();
    kprintln!("running {} tests", tests.len());
    let mut failed = 0usize;
    for test in tests {
        crate::drivers::console::print(format_args!("test {} ... ", test.name));
        match (test.run)() {
            Ok(()) => kprintln!("ok"),
            Err(failure) => {
                failed += 1;
                kprintln!("FAILED: {failure}");
            }
        }
    }
    let passed = tests.len() - failed;
    let verdict = if failed == 0 { "ok" } else { "FAILED" };
    kprintln!();
    kprintln!("test result: {verdict}. {passed} passed, {failed} failed");
    if failed == 0 {
        super::shutdown::shutdown(0, "all kernel tests passed")
    } else {
        super::shutdown::shutdown(1, "kernel tests failed")
    }
}

/// The test table of a kernel test image, each test named `group::function`:
/// `kernel_tests!(mmu: text_is_read_execute, rodata_is_read_only)`.
#[macro_export]
macro_rules! kernel_tests {
    ($group:ident: $($test:ident),+ $(,)?) => {
        &[$($crate::kernel::testing::KernelTest {
            name: concat!(stringify!($group), "::", stringify!($test)),
            run: $test,
        }),+]
    };
}

/// Fails the test with the location and expression when `cond` is false; an optional
/// format string adds context.
#[macro_export]
macro_rules! check {
    ($cond:expr $(,)?) => {
        if !$cond {
            return Err($crate::kernel::testing::TestFailure::new(format_args!(
                "{}:{}: check failed: {}",
                file!(),
                line!(),
                stringify!($cond)
            )));
        }
    };
    ($cond:expr, $($context:tt)+) => {
        if !$cond {
            return Err($crate::kernel::testing::TestFailure::new(format_args!(
                "{}:{}: check failed: {}: {}",
                file!(),
                line!(),
                stringify!($cond),
                format_args!($($context)+)
            )));
        }
    };
}

/// Fails the test unless `left == right`, showing both values (`Debug`); an optional
/// format string adds context.
#[macro_export]
macro_rules! check_eq {
    (@compare $left:expr, $right:expr, $context:expr) => {
        match (&$left, &$right) {
            (left, right) => {
                if !(*left == *right) {
                    return Err($crate::kernel::testing::TestFailure::new(format_args!(
                        "{}:{}: {} == {} failed: left {:?}, right {:?}{}",
                        file!(),
                        line!(),
                        stringify!($left),
                        stringify!($right),
                        left,
                        right,
                        $context
                    )));
                }
            }
        }
    };
    ($left:expr, $right:expr $(,)?) => {
        $crate::check_eq!(@compare $left, $right, format_args!(""))
    };
    ($left:expr, $right:expr, $($context:tt)+) => {
        $crate::check_eq!(@compare $left, $right, format_args!(": {}", format_args!($($context)+)))
    };
}

/// Fails the test unless `value` matches `pattern` (with an optional `if` guard),
/// showing the value (`Debug`).
#[macro_export]
macro_rules! check_matches {
    ($value:expr, $pattern:pat $(if $guard:expr)? $(,)?) => {
        match &$value {
            $pattern $(if $guard)? => {}
            other => {
                return Err($crate::kernel::testing::TestFailure::new(format_args!(
                    "{}:{}: {} does not match {}: {:?}",
                    file!(),
                    line!(),
                    stringify!($value),
                    stringify!($pattern $(if $guard)?),
                    other
                )));
            }
        }
    };
}

// ----- expected faults ---------------------------------------------------------------

/// An exception a test provoked at EL1, as the handler saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpectedFault {
    /// `ESR_EL1`: the syndrome.
    pub esr: u64,
    /// `FAR_EL1`: the faulting address (meaningful for aborts).
    pub far: u64,
    /// `ELR_EL1`: the instruction that faulted.
    pub elr: u64,
}

impl ExpectedFault {
    /// The exception class, `ESR_EL1` bits 31..26.
    pub fn exception_class(&self) -> u8 {
        ((self.esr >> 26) & 0x3f) as u8
    }

    /// The syndrome decoded as the kernel's handlers decode it.
    pub fn cause(&self) -> TrapCause {
        TrapCause::from_esr(self.esr)
    }
}

/// True while a test waits for a fault; the exception handler checks it first.
static ARMED: AtomicBool = AtomicBool::new(false);
/// Set by the handler when it caught the awaited fault.
static CAUGHT: AtomicBool = AtomicBool::new(false);
static CAUGHT_ESR: AtomicU64 = AtomicU64::new(0);
static CAUGHT_FAR: AtomicU64 = AtomicU64::new(0);
static CAUGHT_ELR: AtomicU64 = AtomicU64::new(0);

/// Runs `provoke` expecting it to take one synchronous exception at EL1, and returns
/// that exception, or `None` when `provoke` ran through without one.
///
/// The first exception is caught and execution resumes:
/// - after the faulting instruction (ELR + 4) for data aborts, `brk`, `udf` and other
///   synchronous exceptions, so the fault must come from a single instruction that is
///   safe to skip (an inline `asm!` load, store, `brk` or `udf`);
/// - at the link register (x30) for an instruction abort, so a test that expects a
///   fetch to fault branches there with `blr` (declaring x30 clobbered).
///
/// A second exception before `provoke` returns is not caught: it is a kernel panic, as
/// is any exception while no test waits.
pub fn expect_fault(provoke: impl FnOnce()) -> Option<ExpectedFault> {
    CAUGHT.store(false, Ordering::SeqCst);
    super::exceptions::set_kernel_fault_hook(catch_expected_fault);
    ARMED.store(true, Ordering::SeqCst);
    compiler_fence(Ordering::SeqCst);
    provoke();
    compiler_fence(Ordering::SeqCst);
    ARMED.store(false, Ordering::SeqCst);
    if CAUGHT.swap(false, Ordering::SeqCst) {
        Some(ExpectedFault {
            esr: CAUGHT_ESR.load(Ordering::SeqCst),
            far: CAUGHT_FAR.load(Ordering::SeqCst),
            elr: CAUGHT_ELR.load(Ordering::SeqCst),
        })
    } else {
        None
    }
}

/// Called first by the EL1 synchronous exception handler with the saved frame and
/// `ESR_EL1`. When a test waits in [`expect_fault`], records the exception, points the
/// frame at the resume address and returns true (the handler then returns to it).
/// Otherwise returns false at the cost of one relaxed load.
pub fn catch_expected_fault(frame: &mut TrapFrame, esr: u64) -> bool {
    if !ARMED.load(Ordering::Relaxed) {
        return false;
    }
    // Disarm first: a fault in the recovery path must panic, not loop.
    ARMED.store(false, Ordering::SeqCst);
    CAUGHT_ESR.store(esr, Ordering::SeqCst);
    CAUGHT_FAR.store(aarch64_cpu::registers::FAR_EL1.get(), Ordering::SeqCst);
    CAUGHT_ELR.store(frame.elr, Ordering::SeqCst);
    CAUGHT.store(true, Ordering::SeqCst);
    frame.elr = match TrapCause::from_esr(esr) {
        TrapCause::InstructionAbort { .. } => frame.x30,
        _ => frame.elr.wrapping_add(4),
    };
    true
}
