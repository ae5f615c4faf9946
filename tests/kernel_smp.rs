//! Kernel test image: every CPU. Checks that each CPU the device tree lists came up
//! with its own number, MPIDR and GIC address, that each takes its own timer
//! interrupts, and that a reschedule SGI sent to each other CPU arrives there. Waits
//! are bounded by counts of the boot CPU's own interrupts, never by time.
//!
//! Booted in QEMU by `scripts/run-kernel-test.sh` (`make test-kernel` runs it with
//! `-smp 4`, and with one CPU as part of the `kernel_*` images).
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    use core::sync::atomic::Ordering;
    use ferrite::kernel::boot::BootInfo;
    use ferrite::kernel::testing::{TestFailure, TestResult, run_tests};
    use ferrite::kernel::{cpu, irq};
    use ferrite::{check, check_eq};

    /// Waits are bounded by this many interrupts of the boot CPU.
    const MAX_WAITS: u32 = 1000;

    #[unsafe(no_mangle)]
    fn ferrite_main(_info: BootInfo) -> ! {
        run_tests(ferrite::kernel_tests!(
            smp:
            every_listed_cpu_is_online,
            cpus_have_distinct_mpidrs_and_gic_targets,
            every_cpu_takes_its_own_timer_interrupts,
            reschedule_sgi_reaches_every_other_cpu,
        ))
    }

    /// Sleeps (interrupts unmasked) until `done`, or fails after [`MAX_WAITS`] wake-ups.
    fn wait_until(what: &str, mut done: impl FnMut() -> bool) -> TestResult {
        for _ in 0..MAX_WAITS {
            if done() {
                return Ok(());
            }
            irq::sleep_until_interrupt();
        }
        Err(TestFailure::new(format_args!("{MAX_WAITS} interrupts without: {what}")))
    }

    fn every_listed_cpu_is_online() -> TestResult {
        let listed = ferrite::kernel::machine().cpus.len().max(1);
        check_eq!(cpu::online_count(), listed);
        for i in 0..listed {
            check!(cpu::get(i).online.load(Ordering::Acquire), "cpu {i} is not online");
        }
        Ok(())
    }

    fn cpus_have_distinct_mpidrs_and_gic_targets() -> TestResult {
        let n = cpu::online_count();
        for i in 0..n {
            for j in 0..i {
                let (a, b) = (cpu::get(i), cpu::get(j));
                check!(
                    a.mpidr.load(Ordering::Relaxed) != b.mpidr.load(Ordering::Relaxed),
                    "cpus {j} and {i} share an MPIDR"
                );
                check!(
                    a.gic_target.load(Ordering::Relaxed) != b.gic_target.load(Ordering::Relaxed),
                    "cpus {j} and {i} share a GIC address"
                );
            }
        }
        Ok(())
    }

    fn every_cpu_takes_its_own_timer_interrupts() -> TestResult {
        let n = cpu::online_count();
        let before: [u64; 8] = core::array::from_fn(|i| cpu::get(i).timer_irqs.load(Ordering::Relaxed));
        wait_until("a timer interrupt on every CPU", || {
            (0..n).all(|i| cpu::get(i).timer_irqs.load(Ordering::Relaxed) > before[i])
        })
    }

    fn reschedule_sgi_reaches_every_other_cpu() -> TestResult {
        let n = cpu::online_count();
        for target in 1..n {
            let before = cpu::get(target).reschedule_irqs.load(Ordering::Relaxed);
            irq::send_reschedule(target);
            wait_until("the reschedule SGI to arrive", || {
                cpu::get(target).reschedule_irqs.load(Ordering::Relaxed) > before
            })?;
        }
        check_eq!(cpu::get(0).reschedule_irqs.load(Ordering::Relaxed), 0, "the boot CPU got an SGI nobody sent");
        Ok(())
    }
}
