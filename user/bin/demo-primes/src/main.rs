//! Demo: one computation on every CPU.
//!
//! `demo-primes [LIMIT] [loop]` counts the primes below LIMIT (default 2,000,000) with
//! one thread per CPU, each taking every N-th block of numbers; the threads share the
//! total through a `Mutex`. Each thread reports the CPU it last ran on and how long it
//! ran (ZX_INFO_THREAD_STATS); the sum of their run times over the wall time shows how
//! many CPUs were busy at once. With `loop` it repeats until killed (for `ps` and `kill`).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::sync::Arc;
use alloc::vec::Vec;
use ferrite_rt::sync::Mutex;
use ferrite_rt::{println, thread, zx};
use zx::Time;

ferrite_rt::main!(main);

const BLOCK: u64 = 10_000;

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

fn round(limit: u64, workers: u64) -> bool {
    let total = Arc::new(Mutex::new(0u64));
    let start = Time::get_monotonic();
    let mut handles = Vec::new();
    for w in 0..workers {
        let total = total.clone();
        let h = thread::spawn_named("primes", move || {
            let mut found = 0;
            let mut block = w;
            while block * BLOCK < limit {
                let lo = block * BLOCK;
                found += (lo..(lo + BLOCK).min(limit)).filter(|&n| is_prime(n)).count() as u64;
                block += workers;
            }
            *total.lock() += found;
            found
        });
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                println!("demo-primes: cannot start a thread: {e}");
                return false;
            }
        }
    }
    let mut busy_ns = 0i64;
    let mut report = Vec::new();
    for (i, h) in handles.into_iter().enumerate() {
        let thread = h.thread_handle();
        let found = h.join();
        let stats = thread.ok().and_then(|t| t.stats().ok());
        let (ran, cpu) = stats.map_or((0, None), |s| (s.total_runtime, s.last_scheduled_cpu));
        busy_ns += ran;
        report.push((i, found, cpu, ran));
    }
    let wall = (Time::get_monotonic() - start).into_nanos().max(1);
    for (i, found, cpu, ran) in report {
        println!(
            "  thread {i}: {found:>7} primes, ran {:>5} ms, last on CPU {}",
            ran / 1_000_000,
            cpu.map_or(-1, |c| c as i64)
        );
    }
    let busy = busy_ns * 100 / wall;
    println!(
        "{} primes below {limit}; {} ms wall, {} ms CPU: {}.{:02} CPUs busy on average",
        *total.lock(),
        wall / 1_000_000,
        busy_ns / 1_000_000,
        busy / 100,
        busy % 100
    );
    true
}

fn main() -> i32 {
    let args = ferrite_rt::args();
    let limit: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let forever = args.contains(&"loop");
    let workers = zx::system_get_num_cpus().max(1) as u64;
    println!("demo-primes: counting primes below {limit} on {workers} threads (one per CPU)");
    loop {
        if !round(limit, workers) {
            return 1;
        }
        if !forever {
            return 0;
        }
    }
}
