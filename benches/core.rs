//! Host micro-benchmarks of the pure core: page-list lookup and insert, handle lookup.
//!
//! `cargo bench --bench core --target <host>` (or `make bench-host`). A plain harness on
//! `std::time::Instant`: each figure is the best of several rounds of many operations,
//! in nanoseconds per operation on the host CPU. Unlike the guest figures of
//! `make bench` these are wall-clock times, so they vary a little from run to run.
//! Prints one line per figure: `HOSTBENCH <name> ns_per_op=<f>`.

use ferrite::mm::PhysAddr;
use ferrite::object::handle_table::HandleTable;
use ferrite::vm::page_list::PageList;
use std::hint::black_box;
use std::time::Instant;

/// Rounds per figure; the fastest round counts (the least disturbed by the host).
const ROUNDS: usize = 7;

/// Runs `op` `n` times per round and prints the best round's time per operation.
fn bench(name: &str, n: u64, mut op: impl FnMut(u64)) {
    let mut best = f64::INFINITY;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for i in 0..n {
            op(i);
        }
        let ns = start.elapsed().as_nanos() as f64 / n as f64;
        best = best.min(ns);
    }
    println!("HOSTBENCH {name} ns_per_op={best:.2}");
}

/// A page list with `pages` consecutive pages from index `first`.
fn filled(first: u64, pages: u64) -> PageList {
    let mut list = PageList::new();
    for i in 0..pages {
        let _ = list.insert(first + i, PhysAddr(0x4000_0000 + i * 4096));
    }
    list
}

fn main() {
    // 4,096 pages: the 16 MiB VMO of the guest benchmarks.
    const PAGES: u64 = 4096;
    let dense = filled(0, PAGES);
    bench("page_list_get_dense_4096", 1_000_000, |i| {
        black_box(dense.get(black_box(i % PAGES)));
    });
    // Far past the directory: the hashed part.
    let sparse = filled(1 << 40, PAGES);
    bench("page_list_get_sparse_4096", 1_000_000, |i| {
        black_box(sparse.get(black_box((1 << 40) + i % PAGES)));
    });
    bench("page_list_insert_remove_dense", 1_000_000, |i| {
        let mut list = PageList::new();
        let index = black_box(i % PAGES);
        let _ = list.insert(index, PhysAddr(0x4000_0000));
        black_box(list.remove(index));
    });
    let mut growing = PageList::new();
    bench("page_list_insert_4096_fresh", PAGES, |i| {
        if i == 0 {
            growing = PageList::new();
        }
        let _ = black_box(growing.insert(black_box(i), PhysAddr(0x4000_0000 + i * 4096)));
    });

    let mut handles: HandleTable<u64> = HandleTable::new(0x1234_5678);
    let values: Vec<u32> = (0..64).map(|i| handles.insert(i, 0xD0EF).unwrap_or(0)).collect();
    bench("handle_get_64", 1_000_000, |i| {
        black_box(handles.get(black_box(values[(i % 64) as usize])).is_ok());
    });
    bench("handle_get_invalid", 1_000_000, |i| {
        black_box(handles.get(black_box(0xdead_0000 | i as u32)).is_ok());
    });
    let mut churn: HandleTable<u64> = HandleTable::new(0x9abc_def0);
    bench("handle_insert_remove", 1_000_000, |i| {
        if let Ok(value) = churn.insert(i, 0xD0EF) {
            black_box(churn.remove(value).is_ok());
        }
    });
}
