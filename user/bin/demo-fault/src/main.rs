//! Demo: a process that faults. It reads from address 0x10 (never mapped): the kernel
//! prints a `user fault:` line and kills this process only (return code -1028, which
//! init and the shell report as "killed by a fault"); the machine goes on.
#![no_std]
#![no_main]

use ferrite_rt::println;

ferrite_rt::main!(main);

fn main() -> i32 {
    println!("demo-fault: reading address 0x10...");
    // SAFETY: not safe at all, on purpose: the read faults and the kernel kills us.
    let value = unsafe { core::ptr::read_volatile(0x10 as *const u64) };
    println!("demo-fault: read {value} (this should not happen)");
    1
}
