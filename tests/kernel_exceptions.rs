#![cfg_attr(target_os = "none", no_std, no_main)]
#[cfg(not(target_os = "none"))]
fn main() {}
#[cfg(target_os = "none")]
#[unsafe(no_mangle)]
fn ferrite_main(_i: ferrite::kernel::boot::BootInfo) -> ! { ferrite::kernel::testing::run_tests(&[]) }
