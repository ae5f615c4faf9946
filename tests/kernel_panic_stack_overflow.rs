//! Kernel test image that must end in a kernel panic: unbounded recursion overflows the
//! kernel stack into its guard page, and the kernel reports `kernel panic: kernel stack
//! overflow` from its emergency stack (status 101) instead of corrupting memory.
//! See kernel_panic_message.rs for how the runner judges it.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    use ferrite::kernel::boot::BootInfo;
    use ferrite::kprintln;

    #[unsafe(no_mangle)]
    fn ferrite_main(_info: BootInfo) -> ! {
        kprintln!("expect kernel panic: kernel stack overflow");
        let depth = recurse(core::hint::black_box(0));
        panic!("the recursion returned ({depth}): the stack did not overflow");
    }

    /// Each level keeps 512 bytes live on the stack, so 60 KiB of stack lasts about
    /// 120 levels.
    #[inline(never)]
    fn recurse(depth: u64) -> u64 {
        let mut block = [depth; 64];
        core::hint::black_box(&mut block);
        if depth > 1_000_000 {
            return block[7];
        }
        recurse(depth + 1) + block[3]
    }
}
