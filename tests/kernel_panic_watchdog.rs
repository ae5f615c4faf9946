//! Kernel test image that must end in a kernel panic: the boot CPU takes a lock, masks
//! interrupts and spins, as a kernel path stuck in a spinlock would, and the CPU watching
//! it (each CPU watches the next through its timer-interrupt count) reports it after
//! `sync::STUCK_SECONDS` with a panic naming CPU 0 and, as `lockcheck` is on, the lock it
//! holds. Needs a second CPU (`make test-kernel` boots it with -smp 2); booted with one it
//! says so and panics with that.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    use ferrite::kernel::boot::BootInfo;
    use ferrite::kernel::cpu;
    use ferrite::kernel::sync::{Lock, checks_enabled, class};
    use ferrite::kprintln;

    static STUCK_IN: Lock<u32> = Lock::new(&class::VM, 0);

    #[unsafe(no_mangle)]
    fn ferrite_main(_info: BootInfo) -> ! {
        if cpu::online_count() < 2 {
            kprintln!("expect kernel panic: the watchdog image needs a second CPU");
            panic!("the watchdog image needs a second CPU (boot it with -smp 2)");
        }
        // `lockcheck` from the command line (scripts/run-kernel-test.sh): the report names
        // the locks the stuck CPU holds only with the check on.
        // No "expect kernel panic" line first: the runner then counts this panic a failure.
        if !checks_enabled() {
            panic!("booted without `lockcheck`: the watchdog could not name the lock");
        }
        kprintln!(
            "expect kernel panic: watchdog: cpu 0 has taken no timer interrupt for 10 s (interrupts masked: a stuck kernel path; it holds: `VM state`)"
        );
        let _held = STUCK_IN.lock();
        ferrite::arch::aarch64::cpu::disable_interrupts();
        loop {
            core::hint::spin_loop();
        }
    }
}
