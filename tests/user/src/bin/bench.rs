//! Ferrite's benchmark program: the cost of the kernel's hot paths in exact guest
//! instructions.
//!
//! Run under QEMU with `-icount shift=0,sleep=off`, where every guest instruction takes
//! 1 ns of virtual time: `CNTVCT_EL0` ticks × 1e9 / `CNTFRQ_EL0` is then an exact
//! instruction count that repeats bit for bit from run to run. `scripts/bench.sh` boots it
//! twice, checks the two runs agree and hands the lines to `scripts/bench-report.py`.
//!
//! Every figure is printed as raw integers, one line each, so nothing is rounded here:
//!
//! ```text
//! BENCH <name> ops=<n> ticks=<t> insns=<i> [bytes=<b>]
//! BENCH first_user_insn ticks=<t> insns=<i>
//! BENCH cntfrq hz=<hz>
//! BENCH kmem pages=<n> used_delta=<b> vmo_delta=<b> mmu_delta=<b> heap_total_delta=<b> heap_used_delta=<b>
//! BENCH done
//! ```
//!
//! Command-line words (the kernel passes its own command line): `quick` runs every
//! benchmark with few operations (for instruction traces, not for figures), and
//! `only=<name>` runs just the benchmark whose name starts with `<name>`.

#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use user::zx::{self, Handle, Mapping, Status};
use user::{Ctx, println};

user::entry!(main);

const PAGE: u64 = zx::PAGE_SIZE;
const MIB: u64 = 1 << 20;
/// The VMO size of the copy and first-touch benchmarks (as Linux's peer figures use).
const VMO_SIZE: u64 = 16 * MIB;
/// The copy size of the 64 KiB figures.
const CHUNK: usize = 64 * 1024;
/// Pages committed for the memory-overhead figure.
const KMEM_PAGES: u64 = 4096;
/// The invalid handle value, whose close is the null syscall.
const ZX_HANDLE_INVALID: u32 = 0;

/// How many operations each benchmark runs.
struct Counts {
    null_syscalls: u64,
    writes_4k: u64,
    passes_64k: u64,
    touch_rounds: u64,
    touch_pages: u64,
    create_close: u64,
}

const FULL: Counts = Counts {
    null_syscalls: 200_000,
    writes_4k: 20_000,
    passes_64k: 8,
    touch_rounds: 4,
    touch_pages: VMO_SIZE / PAGE,
    create_close: 20_000,
};

const QUICK: Counts =
    Counts { null_syscalls: 10, writes_4k: 10, passes_64k: 1, touch_rounds: 1, touch_pages: 16, create_close: 10 };

/// 64 KiB, page-aligned, in .bss.
#[repr(C, align(4096))]
struct Buffer(UnsafeCell<[u8; CHUNK]>);
// SAFETY: the program is single-threaded.
unsafe impl Sync for Buffer {}
static SRC: Buffer = Buffer(UnsafeCell::new([0; CHUNK]));
static DST: Buffer = Buffer(UnsafeCell::new([0; CHUNK]));

/// A failed step: what was being done and the status it got.
type Failed = (&'static str, Status);
type BenchResult<T = ()> = Result<T, Failed>;

fn checked<T>(result: Result<T, Status>, what: &'static str) -> BenchResult<T> {
    result.map_err(|status| (what, status))
}

fn main(ctx: &Ctx) -> i64 {
    let hz = user::rt::counter_frequency();
    println!("BENCH first_user_insn ticks={} insns={}", ctx.start_ticks, to_insns(ctx.start_ticks, hz));
    println!("BENCH cntfrq hz={hz}");
    if hz == 0 {
        println!("bench: CNTFRQ_EL0 is 0; cannot convert ticks to instructions");
        return 1;
    }
    let counts = if ctx.cmdline.split_ascii_whitespace().any(|w| w == "quick") { &QUICK } else { &FULL };
    let bench = Bench { hz, only: ctx.arg("only") };
    // SAFETY: the program is single-threaded and these are the only references.
    let (src, dst) = unsafe { (&mut *SRC.0.get(), &mut *DST.0.get()) };
    let dst: *mut u8 = dst.as_mut_ptr();
    src.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8 | 1);

    let steps: [(&str, &dyn Fn() -> BenchResult); 8] = [
        ("null_syscall", &|| null_syscall(&bench, counts)),
        ("vmo_write_4k_committed", &|| vmo_write_4k_committed(&bench, counts, src)),
        ("vmo_write_64k", &|| vmo_write_64k(&bench, counts, src)),
        ("vmo_first_touch_4k", &|| vmo_first_touch_4k(&bench, counts, src)),
        ("vmar_map_touch", &|| vmar_map_touch(&bench, counts, ctx)),
        ("vmo_create_close", &|| vmo_create_close(&bench, counts)),
        ("memcpy_64k_q", &|| memcpy_64k_q(&bench, counts, src.as_ptr(), dst)),
        ("kmem", &|| kmem_overhead(ctx)),
    ];
    for (name, step) in steps {
        if bench.only.is_some_and(|only| !name.starts_with(only)) {
            continue;
        }
        if let Err((what, status)) = step() {
            println!("bench: {name}: {what} failed: {} ({status})", zx::status_name(status));
            return 1;
        }
    }
    println!("BENCH done");
    0
}

/// Ticks to instructions: under `-icount shift=0` an instruction is 1 ns.
fn to_insns(ticks: u64, hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    (ticks as u128 * 1_000_000_000 / hz as u128) as u64
}

struct Bench<'a> {
    hz: u64,
    only: Option<&'a str>,
}

impl Bench<'_> {
    /// Prints one figure: `ops` operations took `ticks`, moving `bytes` in all if given.
    fn report(&self, name: &str, ops: u64, ticks: u64, bytes: Option<u64>) {
        let insns = to_insns(ticks, self.hz);
        match bytes {
            Some(bytes) => println!("BENCH {name} ops={ops} ticks={ticks} insns={insns} bytes={bytes}"),
            None => println!("BENCH {name} ops={ops} ticks={ticks} insns={insns}"),
        }
    }
}

/// Runs `f` and returns the counter ticks it took.
fn time(f: impl FnOnce() -> BenchResult) -> BenchResult<u64> {
    let start = user::rt::counter_ticks();
    f()?;
    Ok(user::rt::counter_ticks() - start)
}

/// The cheapest syscall: closing ZX_HANDLE_INVALID.
fn null_syscall(bench: &Bench, counts: &Counts) -> BenchResult {
    let n = counts.null_syscalls;
    let ticks = time(|| {
        for _ in 0..n {
            checked(zx::handle_close(ZX_HANDLE_INVALID), "zx_handle_close(0)")?;
        }
        Ok(())
    })?;
    bench.report("null_syscall", n, ticks, None);
    Ok(())
}

/// A VMO of `VMO_SIZE` with every page committed by a first write.
fn committed_vmo(src: &[u8; CHUNK]) -> BenchResult<Handle> {
    let vmo = checked(zx::vmo_create(VMO_SIZE, 0), "vmo_create")?;
    for chunk in 0..VMO_SIZE / CHUNK as u64 {
        checked(zx::vmo_write(&vmo, src, chunk * CHUNK as u64), "first-pass vmo_write")?;
    }
    Ok(vmo)
}

/// 4 KiB writes, again and again, to a page that is already committed.
fn vmo_write_4k_committed(bench: &Bench, counts: &Counts, src: &[u8; CHUNK]) -> BenchResult {
    let vmo = committed_vmo(src)?;
    let n = counts.writes_4k;
    let ticks = time(|| {
        for _ in 0..n {
            checked(zx::vmo_write(&vmo, &src[..PAGE as usize], 0), "vmo_write 4 KiB")?;
        }
        Ok(())
    })?;
    bench.report("vmo_write_4k_committed", n, ticks, None);
    Ok(())
}

/// 64 KiB writes sweeping a committed 16 MiB VMO (more than the caches of a real core).
fn vmo_write_64k(bench: &Bench, counts: &Counts, src: &[u8; CHUNK]) -> BenchResult {
    let vmo = committed_vmo(src)?;
    let chunks = VMO_SIZE / CHUNK as u64;
    let ticks = time(|| {
        for _ in 0..counts.passes_64k {
            for chunk in 0..chunks {
                checked(zx::vmo_write(&vmo, src, chunk * CHUNK as u64), "vmo_write 64 KiB")?;
            }
        }
        Ok(())
    })?;
    let ops = counts.passes_64k * chunks;
    bench.report("vmo_write_64k", ops, ticks, Some(ops * CHUNK as u64));
    Ok(())
}

/// One 4 KiB write into each page of a fresh VMO: allocation, zeroing and the copy.
fn vmo_first_touch_4k(bench: &Bench, counts: &Counts, src: &[u8; CHUNK]) -> BenchResult {
    let mut ticks = 0;
    for _ in 0..counts.touch_rounds {
        let vmo = checked(zx::vmo_create(VMO_SIZE, 0), "vmo_create")?;
        ticks += time(|| {
            for page in 0..counts.touch_pages {
                checked(zx::vmo_write(&vmo, &src[..PAGE as usize], page * PAGE), "vmo_write")?;
            }
            Ok(())
        })?;
    }
    bench.report("vmo_first_touch_4k", counts.touch_rounds * counts.touch_pages, ticks, None);
    Ok(())
}

/// A store to each page of a fresh VMO mapped read-write: one page fault per page.
fn vmar_map_touch(bench: &Bench, counts: &Counts, ctx: &Ctx) -> BenchResult {
    let mut ticks = 0;
    for _ in 0..counts.touch_rounds {
        let vmo = checked(zx::vmo_create(VMO_SIZE, 0), "vmo_create")?;
        let mapping = checked(Mapping::new(ctx.root_vmar, zx::VM_RW, 0, &vmo, 0, VMO_SIZE), "vmar_map")?;
        ticks += time(|| {
            for page in 0..counts.touch_pages {
                mapping.write(page * PAGE, 1);
            }
            Ok(())
        })?;
    }
    bench.report("vmar_map_touch", counts.touch_rounds * counts.touch_pages, ticks, None);
    Ok(())
}

/// Creating a one-page VMO and closing its handle.
fn vmo_create_close(bench: &Bench, counts: &Counts) -> BenchResult {
    let n = counts.create_close;
    let ticks = time(|| {
        for _ in 0..n {
            let vmo = checked(zx::vmo_create(PAGE, 0), "vmo_create")?;
            checked(zx::handle_close(vmo.into_raw()), "zx_handle_close")?;
        }
        Ok(())
    })?;
    bench.report("vmo_create_close", n, ticks, None);
    Ok(())
}

// The ceiling for a copying syscall: 64 KiB copied in user space with paired 128-bit
// loads and stores, 6 instructions per 64 bytes (the loop Linux's peer figure uses).
// The program is built soft-float, so only this routine touches q0..q3.
core::arch::global_asm!(
    ".arch_extension fp",
    ".arch_extension simd",
    ".section .text.bench_copy_q, \"ax\", %progbits",
    ".global bench_copy_q",
    ".type bench_copy_q, %function",
    // x0 = dst, x1 = src, x2 = bytes (a nonzero multiple of 64)
    "bench_copy_q:",
    "1:  ldp q0, q1, [x1], #32",
    "    ldp q2, q3, [x1], #32",
    "    stp q0, q1, [x0], #32",
    "    stp q2, q3, [x0], #32",
    "    subs x2, x2, #64",
    "    b.ne 1b",
    "    ret",
    ".size bench_copy_q, . - bench_copy_q",
);

unsafe extern "C" {
    fn bench_copy_q(dst: *mut u8, src: *const u8, bytes: usize);
}

/// As many user-space 64 KiB copies as `vmo_write_64k` makes syscalls.
fn memcpy_64k_q(bench: &Bench, counts: &Counts, src: *const u8, dst: *mut u8) -> BenchResult {
    let ops = counts.passes_64k * (VMO_SIZE / CHUNK as u64);
    // SAFETY (all three calls): SRC and DST are distinct 64 KiB static buffers that nothing
    // else refers to while this runs. The first call faults both buffers in.
    unsafe { bench_copy_q(dst, src, CHUNK) };
    let ticks = time(|| {
        for _ in 0..ops {
            unsafe { bench_copy_q(dst, src, CHUNK) };
        }
        Ok(())
    })?;
    bench.report("memcpy_64k_q", ops, ticks, Some(ops * CHUNK as u64));
    Ok(())
}

/// Memory the kernel uses beyond the pages themselves: KMEM_STATS before and after
/// committing `KMEM_PAGES` pages of a fresh VMO.
fn kmem_overhead(ctx: &Ctx) -> BenchResult {
    let resource = ctx.root_resource;
    let vmo = checked(zx::vmo_create(KMEM_PAGES * PAGE, 0), "vmo_create")?;
    let before = checked(zx::kmem_stats(resource), "KMEM_STATS before")?;
    checked(zx::vmo_op_range(&vmo, zx::OP_COMMIT, 0, KMEM_PAGES * PAGE), "vmo_op_range(COMMIT)")?;
    let after = checked(zx::kmem_stats(resource), "KMEM_STATS after")?;
    let used = |s: &zx::KmemStats| s.total_bytes - s.free_bytes;
    let heap_used = |s: &zx::KmemStats| s.total_heap_bytes - s.free_heap_bytes;
    println!(
        "BENCH kmem pages={KMEM_PAGES} used_delta={} vmo_delta={} mmu_delta={} heap_total_delta={} heap_used_delta={}",
        used(&after) as i64 - used(&before) as i64,
        after.vmo_bytes as i64 - before.vmo_bytes as i64,
        after.mmu_overhead_bytes as i64 - before.mmu_overhead_bytes as i64,
        after.total_heap_bytes as i64 - before.total_heap_bytes as i64,
        heap_used(&after) as i64 - heap_used(&before) as i64,
    );
    drop(vmo);
    Ok(())
}
