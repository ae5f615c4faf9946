//! The Ferrite kernel image: boots (see `kernel::boot`) and runs the initrd as the
//! first user program.
#![no_std]
#![no_main]

use ferrite::kernel::boot::{BootInfo, run_userboot};

/// Called once the kernel is up.
#[unsafe(no_mangle)]
fn ferrite_main(info: BootInfo) -> ! {
    run_userboot(info)
}
