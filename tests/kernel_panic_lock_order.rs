//! Kernel test image that must end in a kernel panic: with the lock-order check on,
//! taking a lock of a lower rank while holding one of a higher rank (here the job-state
//! class inside the scheduler class, the inverse of the documented order) panics the
//! first time, naming the lock — before any second CPU could deadlock on it.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    use ferrite::kernel::boot::BootInfo;
    use ferrite::kernel::sync::{Lock, class, enable_order_check};
    use ferrite::kprintln;

    static OUTER: Lock<u32> = Lock::new(&class::SCHED, 0);
    static INNER: Lock<u32> = Lock::new(&class::JOB, 0);

    #[unsafe(no_mangle)]
    fn ferrite_main(_info: BootInfo) -> ! {
        enable_order_check();
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
