//! Kernel test image: synchronous exceptions at EL1. Provokes `brk`, `udf`, `svc`, and
//! data aborts (unmapped kernel address, load and store; misaligned device access)
//! through `kernel::testing::expect_fault`, and checks that each is taken with the
//! exception class, syndrome, fault address and return address the architecture
//! specifies, and that `trap::TrapCause` decodes the live syndrome as expected.
//!
//! Booted in QEMU by `scripts/run-kernel-test.sh` (`make test-kernel`); on the host it
//! builds to an empty program so that `cargo test` on the host stays green.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    use aarch64_cpu::registers::Readable as _;
    use core::arch::asm;
    use ferrite::abi::PAGE_SIZE;
    use ferrite::arch::aarch64::mmu::KernelTableMemory;
    use ferrite::kernel::boot::BootInfo;
    use ferrite::kernel::testing::{ExpectedFault, TestFailure, TestResult, expect_fault, run_tests};
    use ferrite::kernel::with_kernel;
    use ferrite::mm::layout::{MMIO_BASE, MMIO_SPAN};
    use ferrite::mm::{PhysAddr, VirtAddr};
    use ferrite::trap::{FaultKind, TrapCause};
    use ferrite::{check, check_eq, check_matches};

    /// ESR_EL1.IL: the trapped instruction was 32 bits.
    const ESR_IL: u64 = 1 << 25;
    /// The last page of the MMIO area: never handed out (windows are allocated upwards
    /// from MMIO_BASE), so unmapped.
    const UNMAPPED_KERNEL_ADDRESS: u64 = MMIO_BASE + MMIO_SPAN - PAGE_SIZE;

    #[unsafe(no_mangle)]
    fn ferrite_main(_info: BootInfo) -> ! {
        run_tests(ferrite::kernel_tests!(
            exceptions:
            no_fault_is_reported_when_none_happens,
            brk_is_a_breakpoint_with_its_immediate,
            udf_is_an_undefined_instruction,
            svc_at_el1_returns_after_the_call,
            load_from_unmapped_kernel_address_aborts,
            store_to_unmapped_kernel_address_aborts,
            misaligned_load_with_alignment_checking_faults,
            faults_in_a_row_are_each_caught,
        ))
    }

    /// Runs `provoke` expecting a fault; the failure names `what` when none comes.
    fn fault_from(what: &str, provoke: impl FnOnce()) -> Result<ExpectedFault, TestFailure> {
        expect_fault(provoke).ok_or_else(|| TestFailure::new(format_args!("{what} did not trap")))
    }

    /// `brk #0x4b1d`; returns its address.
    fn brk() -> u64 {
        let at: u64;
        // SAFETY: `brk` only traps; the expected-fault hook resumes after it.
        unsafe { asm!("adr {at}, 3f", "3: brk #0x4b1d", at = out(reg) at, options(nomem, nostack)) };
        at
    }

    /// `udf #0x1234` (permanently undefined); returns its address.
    fn udf() -> u64 {
        let at: u64;
        // SAFETY: `udf` only traps; the expected-fault hook resumes after it.
        unsafe { asm!("adr {at}, 3f", "3: udf #0x1234", at = out(reg) at, options(nomem, nostack)) };
        at
    }

    /// Loads a doubleword from `addr` with one `ldr`; returns that instruction's address.
    fn load_u64(addr: u64) -> u64 {
        let at: u64;
        // SAFETY: callers pass an address whose load faults; the hook skips the `ldr`
        // (its output register then holds whatever it held).
        unsafe {
            asm!("adr {at}, 3f", "3: ldr {v}, [{a}]", at = out(reg) at, v = out(reg) _, a = in(reg) addr, options(nostack, readonly));
        }
        at
    }

    /// Stores zero to `addr` with one `str`; returns that instruction's address.
    fn store_zero(addr: u64) -> u64 {
        let at: u64;
        // SAFETY: callers pass an unmapped address, so the store faults and the hook
        // skips it; nothing is written.
        unsafe { asm!("adr {at}, 3f", "3: str xzr, [{a}]", at = out(reg) at, a = in(reg) addr, options(nostack)) };
        at
    }

    fn translate(va: u64) -> Option<(PhysAddr, u64)> {
        with_kernel(|k| {
            let mut table_pages = 0;
            let mut mem = KernelTableMemory { frames: &mut k.frames, table_pages: &mut table_pages };
            k.kernel_table.translate(VirtAddr(va), &mut mem)
        })
    }

    fn no_fault_is_reported_when_none_happens() -> TestResult {
        let mut ran = false;
        check_eq!(expect_fault(|| ran = true), None);
        check!(ran, "expect_fault did not run its closure");
        Ok(())
    }

    fn brk_is_a_breakpoint_with_its_immediate() -> TestResult {
        let mut at = 0;
        let fault = fault_from("brk", || at = brk())?;
        check_eq!(fault.exception_class(), 0x3c, "ESR={:#x}", fault.esr);
        check_eq!(fault.esr & 0xffff, 0x4b1d, "the immediate is ISS bits 15..0");
        check!(fault.esr & ESR_IL != 0);
        check_eq!(fault.cause(), TrapCause::Breakpoint { imm: 0x4b1d });
        check_eq!(fault.cause().describe(), "breakpoint");
        // `brk` reports its own address: the handler must step over it.
        check_eq!(fault.elr, at);
        Ok(())
    }

    fn udf_is_an_undefined_instruction() -> TestResult {
        let mut at = 0;
        let fault = fault_from("udf", || at = udf())?;
        check_eq!(fault.exception_class(), 0x00, "ESR={:#x}", fault.esr);
        check!(fault.esr & ESR_IL != 0);
        check_eq!(fault.cause(), TrapCause::Undefined);
        check_eq!(fault.cause().describe(), "undefined instruction");
        check_eq!(fault.elr, at);
        Ok(())
    }

    fn svc_at_el1_returns_after_the_call() -> TestResult {
        let mut after_svc = 0;
        let fault = expect_fault(|| {
            // SAFETY: `svc` from EL1 traps to EL1's own vector. Its ELR is the preferred
            // return address, the instruction after it: the `nop`, which the hook's
            // ELR + 4 then skips.
            unsafe { asm!("adr {at}, 3f", "svc #0x77", "3: nop", at = out(reg) after_svc, options(nomem, nostack)) };
        });
        let Some(fault) = fault else {
            return Err(TestFailure::new("svc at EL1 did not trap"));
        };
        check_eq!(fault.exception_class(), 0x15, "ESR={:#x}", fault.esr);
        check_eq!(fault.cause(), TrapCause::Svc64 { imm: 0x77 });
        // Unlike `brk` and `udf`, `svc` reports the address after itself.
        check_eq!(fault.elr, after_svc);
        Ok(())
    }

    fn check_unmapped_abort(fault: &ExpectedFault, addr: u64, at: u64, write: bool) -> TestResult {
        check_eq!(fault.exception_class(), 0x25, "data abort from EL1 expected, ESR={:#x}", fault.esr);
        check_matches!(
            fault.cause(),
            TrapCause::DataAbort { same_el: true, write: w, fault: FaultKind::Translation { level: 1..=3 }, far_valid: true }
                if *w == write
        );
        check_eq!(fault.far, addr);
        check_eq!(fault.elr, at);
        check_eq!(fault.cause().describe(), "data abort");
        Ok(())
    }

    fn load_from_unmapped_kernel_address_aborts() -> TestResult {
        let addr = UNMAPPED_KERNEL_ADDRESS + 0x40;
        check_eq!(translate(addr), None, "the probe address is mapped");
        let mut at = 0;
        let fault = fault_from("a load from an unmapped kernel address", || at = load_u64(addr))?;
        check_unmapped_abort(&fault, addr, at, false)
    }

    fn store_to_unmapped_kernel_address_aborts() -> TestResult {
        let addr = UNMAPPED_KERNEL_ADDRESS + 0x80;
        check_eq!(translate(addr), None, "the probe address is mapped");
        let mut at = 0;
        let fault = fault_from("a store to an unmapped kernel address", || at = store_zero(addr))?;
        check_unmapped_abort(&fault, addr, at, true)
    }

    fn misaligned_load_with_alignment_checking_faults() -> TestResult {
        // SCTLR_EL1.A on for exactly one load (QEMU does not model the architecture's
        // alignment fault for misaligned Device accesses, so this is the reliable way).
        static WORDS: [u64; 2] = [0x0102_0304_0506_0708, 0x1112_1314_1516_1718];
        let addr = WORDS.as_ptr() as u64 + 1;
        let mut at = 0;
        let fault = fault_from("a misaligned load with SCTLR_EL1.A set", || {
            // SAFETY: alignment checking is on only between the two `msr`s and the
            // block restores SCTLR_EL1 whether or not the load faults (the hook
            // resumes at the instruction after it). The load reads a static.
            unsafe {
                asm!(
                    "mrs {old}, sctlr_el1",
                    "orr {new}, {old}, #2",
                    "msr sctlr_el1, {new}",
                    "isb",
                    "adr {at}, 3f",
                    "3: ldr {v}, [{a}]",
                    "msr sctlr_el1, {old}",
                    "isb",
                    old = out(reg) _, new = out(reg) _, at = out(reg) at, v = out(reg) _,
                    a = in(reg) addr, options(nostack, readonly),
                )
            }
        })?;
        check_eq!(aarch64_cpu::registers::SCTLR_EL1.get() & 2, 0, "SCTLR_EL1.A left set");
        check_eq!(fault.exception_class(), 0x25, "ESR={:#x}", fault.esr);
        check_matches!(
            fault.cause(),
            TrapCause::DataAbort { same_el: true, write: false, fault: FaultKind::Alignment, .. }
        );
        check_eq!(fault.far, addr);
        check_eq!(fault.elr, at);
        // The same load without checking works (Normal memory allows it).
        let fault = expect_fault(|| {
            load_u64(addr);
        });
        check_eq!(fault, None);
        Ok(())
    }

    fn faults_in_a_row_are_each_caught() -> TestResult {
        // Each expect_fault arms the hook for one fault; different faults come back
        // with their own syndromes, and a fault-free run in between reports none.
        let first = fault_from("brk", || {
            brk();
        })?;
        check_eq!(expect_fault(|| {}), None);
        let second = fault_from("udf", || {
            udf();
        })?;
        let third = fault_from("load", || {
            load_u64(UNMAPPED_KERNEL_ADDRESS);
        })?;
        check_matches!(first.cause(), TrapCause::Breakpoint { .. });
        check_matches!(second.cause(), TrapCause::Undefined);
        check_matches!(third.cause(), TrapCause::DataAbort { .. });
        check!(first.esr != second.esr && second.esr != third.esr);
        check_eq!(third.far, UNMAPPED_KERNEL_ADDRESS);
        Ok(())
    }
}
