//! Demo: a process that faults. It reads from address 0x10 (never mapped) — or, with the
//! argument `stack`, recurses until its stack runs into the guard page below it: the
//! kernel prints a `user fault:` line and kills this process only (return code -1028,
//! which init and the shell report as "killed by a fault"); the machine goes on.
#![no_std]
#![no_main]

use ferrite_rt::println;

ferrite_rt::main!(main);

/// Uses stack without end (each frame keeps 1 KiB alive across the call).
#[inline(never)]
#[allow(unconditional_recursion)] // on purpose: it ends in the guard page
fn recurse(depth: u64) -> u64 {
    let frame = [depth as u8; 1024];
    let below = recurse(depth + 1);
    // SAFETY: reads our own array; volatile so the frame is not optimized away.
    below + unsafe { core::ptr::read_volatile(&frame[(depth % 1024) as usize]) } as u64
}

fn main() -> i32 {
    if ferrite_rt::args().get(1) == Some(&"stack") {
        println!("demo-fault: recursing until the stack overflows...");
        return recurse(0) as i32;
    }
    println!("demo-fault: reading address 0x10...");
    // SAFETY: not safe at all, on purpose: the read faults and the kernel kills us.
    let value = unsafe { core::ptr::read_volatile(0x10 as *const u64) };
    println!("demo-fault: read {value} (this should not happen)");
    1
}
