//! Kernel test image: the timer tick and the clock. With IRQs unmasked only inside
//! `kernel::irq::sleep_until_interrupt`, checks that timer interrupts arrive and are
//! counted, that none are taken while IRQs are masked, that the tick is never faster
//! than `TICK_HZ`, and that `uptime_nanos` is monotonic. No check depends on how fast
//! the host runs QEMU: loops are bounded by counts, and the one rate check is a lower
//! bound the hardware guarantees.
//!
//! Booted in QEMU by `scripts/run-kernel-test.sh` (`make test-kernel`); on the host it
//! builds to an empty program so that `cargo test` on the host stays green.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    use aarch64_cpu::registers::{CNTV_CTL_EL0, DAIF, Readable as _};
    use ferrite::arch::aarch64::timer;
    use ferrite::kernel::boot::BootInfo;
    use ferrite::kernel::irq::{self, TICK_HZ};
    use ferrite::kernel::testing::{TestFailure, TestResult, run_tests};
    use ferrite::{check, check_eq};

    /// Waits are bounded by this many interrupts, not by time.
    const MAX_WAITS: u32 = 1000;

    #[unsafe(no_mangle)]
    fn ferrite_main(_info: BootInfo) -> ! {
        run_tests(ferrite::kernel_tests!(
            timer:
            virtual_timer_is_armed,
            ticks_advance_with_interrupts_unmasked,
            no_tick_is_taken_while_masked,
            tick_is_not_faster_than_tick_hz,
            uptime_is_monotonic,
        ))
    }

    fn irqs_masked() -> bool {
        DAIF.get() & (1 << 7) != 0
    }

    /// Sleeps until `irq::ticks()` reaches `target`; the ticks then, or a failure after
    /// [`MAX_WAITS`] interrupts without getting there.
    fn sleep_until_tick(target: u64) -> Result<u64, TestFailure> {
        for _ in 0..MAX_WAITS {
            let now = irq::ticks();
            if now >= target {
                return Ok(now);
            }
            irq::sleep_until_interrupt();
        }
        Err(TestFailure::new(format_args!(
            "{MAX_WAITS} interrupts without reaching tick {target} (at {})",
            irq::ticks()
        )))
    }

    fn virtual_timer_is_armed() -> TestResult {
        check!(CNTV_CTL_EL0.is_set(CNTV_CTL_EL0::ENABLE), "the virtual timer is disabled");
        check!(!CNTV_CTL_EL0.is_set(CNTV_CTL_EL0::IMASK), "the virtual timer's interrupt is masked");
        check!(irqs_masked(), "IRQs unmasked in kernel code");
        Ok(())
    }

    fn ticks_advance_with_interrupts_unmasked() -> TestResult {
        let start = irq::ticks();
        let reached = sleep_until_tick(start + 3)?;
        check!(reached >= start + 3);
        check!(irqs_masked(), "sleep_until_interrupt left IRQs unmasked");
        // The handler re-armed the timer each time.
        check!(CNTV_CTL_EL0.is_set(CNTV_CTL_EL0::ENABLE));
        Ok(())
    }

    fn no_tick_is_taken_while_masked() -> TestResult {
        // Spin (masked) for three tick periods of the counter: the timer fires, but the
        // interrupt stays pending and must not be counted.
        let period = timer::frequency() / TICK_HZ;
        let before = irq::ticks();
        let start = timer::ticks();
        while timer::ticks() - start < 3 * period {
            core::hint::spin_loop();
        }
        check_eq!(irq::ticks(), before, "a timer interrupt was taken with IRQs masked");
        check!(CNTV_CTL_EL0.is_set(CNTV_CTL_EL0::ISTATUS), "the timer condition is not met after 3 periods");
        // The pending interrupt is taken at the next unmasked wait.
        sleep_until_tick(before + 1)?;
        Ok(())
    }

    fn tick_is_not_faster_than_tick_hz() -> TestResult {
        // The handler re-arms the timer one period ahead when it takes a tick, so n
        // ticks after a tick boundary at least n periods of the counter have passed
        // (less the few instructions between the re-arm and reading the counter).
        let period = timer::frequency() / TICK_HZ;
        let boundary = sleep_until_tick(irq::ticks() + 1)?;
        let start = timer::ticks();
        sleep_until_tick(boundary + 3)?;
        let elapsed = timer::ticks() - start;
        check!(elapsed >= 2 * period, "3 ticks in {elapsed} counter ticks; the period is {period}");
        Ok(())
    }

    fn uptime_is_monotonic() -> TestResult {
        let mut last = irq::uptime_nanos();
        check!(last > 0, "uptime is 0 after boot");
        for _ in 0..10_000 {
            let now = irq::uptime_nanos();
            check!(now >= last, "uptime went backwards: {last} then {now}");
            last = now;
        }
        // Across a tick, at least one tick period has passed (less rounding).
        let start = irq::uptime_nanos();
        let boundary = sleep_until_tick(irq::ticks() + 1)?;
        sleep_until_tick(boundary + 1)?;
        let elapsed = irq::uptime_nanos() - start;
        check!(elapsed >= 1_000_000_000 / TICK_HZ / 2, "only {elapsed} ns over a whole tick");
        Ok(())
    }
}
