//! Kernel test image that must end in a kernel panic: with the lock-order check on,
//! taking a lock of a lower rank while holding one of a higher rank (here the job-state
//! class inside the scheduler class, the inverse of the documented order) panics the
//! first time, naming the lock — before any second CPU could deadlock on it. The check
//! is on from the command line (`lockcheck`, which scripts/run-kernel-test.sh passes):
//! the flag is final at boot, which patches the lock's test (`static_key`), so this
//! also checks that the patched sites really take the checked path.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    use ferrite::kernel::boot::BootInfo;
    use ferrite::kernel::sync::{Lock, checks_enabled, class};
    use ferrite::kprintln;

    static OUTER: Lock<u32> = Lock::new(&class::SCHED, 0);
    static INNER: Lock<u32> = Lock::new(&class::JOB, 0);

    #[unsafe(no_mangle)]
    fn ferrite_main(_info: BootInfo) -> ! {
        // No "expect kernel panic" line first: the runner then counts this panic a failure.
        if !checks_enabled() {
            panic!("booted without `lockcheck`: the lock-order check is off");
        }
        // The documented order, which must pass.
        {
            let _job = INNER.lock();
            let _sched = OUTER.lock();
        }
        kprintln!("expect kernel panic: lock order: taking `job state`");
        let _sched = OUTER.lock();
        let _job = INNER.lock();
        panic!("the inverted lock order was not caught");
    }
}
