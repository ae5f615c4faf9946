//! Kernel test image that must end in a kernel panic: a Rust `panic!` in the kernel
//! prints `kernel panic:` with the message, where it happened and a frame-pointer
//! backtrace, and QEMU exits with status 101 (ABI.md section 3). The runner
//! (scripts/run-kernel-test.sh) treats `kernel_panic_*` images as passing only when they
//! end that way, with the line this image announces first.
#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(not(target_os = "none"))]
fn main() {}

#[cfg(target_os = "none")]
mod image {
    use ferrite::kernel::boot::BootInfo;
    use ferrite::kprintln;

    #[unsafe(no_mangle)]
    fn ferrite_main(_info: BootInfo) -> ! {
        kprintln!("expect kernel panic: deliberate panic from kernel_panic_message (depth 3)");
        nested(3)
    }

    #[inline(never)]
    fn nested(depth: u32) -> ! {
        if depth == 0 {
            panic!("deliberate panic from kernel_panic_message (depth {})", core::hint::black_box(3));
        }
        nested(core::hint::black_box(depth - 1))
    }
}
