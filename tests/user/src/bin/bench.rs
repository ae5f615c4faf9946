//! Ferrite's benchmark program: the cost of the kernel's hot paths in exact guest
//! instructions, ABI v1 (syscall entry, VMO copies, faults) and v2 (threads, futexes,
//! channels and processes, events, ports, yields, kernel memory per task).
//!
//! It is `bin/bench` of a cpio initrd that also holds `bin/bench-child` (the other
//! process of the cross-process figures, `src/bin/bench-child.rs`) and `bin/exit0` (a
//! 3-instruction program, the process-creation figure's ELF); booted from a bare ELF it
//! skips the figures that need them.
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
//! BENCH kmem_thread count=<n> kernel_delta=<b> heap_used_delta=<b>
//! BENCH kmem_process count=<n> kernel_delta=<b> heap_used_delta=<b>
//! SCALE threads=<n> ops=<n> ticks=<t>          (wall-clock, only with `scale`)
//! BENCH done
//! ```
//!
//! On a machine with N > 1 CPUs every name gets the suffix `_smpN` (the figures of
//! `-smp 2` and `-smp 4` boots are other figures). Command-line words (the kernel passes
//! its own command line): `quick` runs every benchmark with few operations (for
//! instruction traces, not for figures); `ops=N` runs N operations in each (for
//! differential traces, scripts/bench-profile.sh); `only=<a>,<b>` runs just the benchmarks whose
//! names start with one of the prefixes (`only=none`: none); `scale` adds the
//! wall-clock scaling figure (for `-smp 4` without `-icount`).

#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI32, Ordering};
use user::ipc::{self, CHANNEL_READABLE, PEER_CLOSED, SIGNALED, TASK_TERMINATED};
use user::sys::call_status;
use user::zx::{self, Handle, Mapping, Status, addr_of};
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
/// Stack of each benchmark thread and of the child process.
const STACK: u64 = 64 * 1024;

/// How many operations each benchmark runs.
struct Counts {
    null_syscalls: u64,
    writes_4k: u64,
    passes_64k: u64,
    touch_rounds: u64,
    touch_pages: u64,
    create_close: u64,
    threads: u64,
    round_trips: u64,
    messages_64k: u64,
    processes: u64,
    fast_calls: u64,
    map_cycles: u64,
    kmem_tasks: u64,
    scale_ops: u64,
}

const FULL: Counts = Counts {
    null_syscalls: 200_000,
    writes_4k: 20_000,
    passes_64k: 8,
    touch_rounds: 4,
    touch_pages: VMO_SIZE / PAGE,
    create_close: 20_000,
    threads: 1000,
    round_trips: 4000,
    messages_64k: 500,
    processes: 200,
    fast_calls: 20_000,
    map_cycles: 5000,
    kmem_tasks: 32,
    scale_ops: 20_000,
};

const QUICK: Counts = Counts {
    null_syscalls: 10,
    writes_4k: 10,
    passes_64k: 1,
    touch_rounds: 1,
    touch_pages: 16,
    create_close: 10,
    threads: 4,
    round_trips: 4,
    messages_64k: 2,
    processes: 2,
    fast_calls: 10,
    map_cycles: 4,
    kmem_tasks: 2,
    scale_ops: 10,
};

/// `ops=N`: N operations in each benchmark (one pass, one round of N pages), for
/// differential instruction traces (scripts/bench-profile.sh runs two counts and
/// subtracts, leaving the cost of the extra operations alone).
fn counts_of(n: u64) -> Counts {
    Counts {
        null_syscalls: n,
        writes_4k: n,
        passes_64k: 1,
        touch_rounds: 1,
        touch_pages: n,
        create_close: n,
        threads: n,
        round_trips: n,
        messages_64k: n,
        processes: n,
        fast_calls: n,
        map_cycles: n,
        kmem_tasks: 2,
        scale_ops: n,
    }
}

/// Operations run before each v2 figure's timed loop, so that what is timed is the warm
/// path (recycled buffers, grown tables), as Linux's peer figures are.
const WARM_UP: u64 = 16;

/// 64 KiB, page-aligned, in .bss.
#[repr(C, align(4096))]
struct Buffer(UnsafeCell<[u8; CHUNK]>);
// SAFETY: only the main thread touches these buffers (the scaling workers only read SRC
// after main has filled it).
unsafe impl Sync for Buffer {}
static SRC: Buffer = Buffer(UnsafeCell::new([0; CHUNK]));
static DST: Buffer = Buffer(UnsafeCell::new([0; CHUNK]));

/// A failed step: what was being done and the status it got.
type Failed = (&'static str, Status);
type BenchResult<T = ()> = Result<T, Failed>;

fn checked<T>(result: Result<T, Status>, what: &'static str) -> BenchResult<T> {
    result.map_err(|status| (what, status))
}

fn check(status: Status, what: &'static str) -> BenchResult {
    checked(zx::ok(status), what)
}

fn main(ctx: &Ctx) -> i64 {
    let hz = user::rt::counter_frequency();
    let cpus = ipc::num_cpus();
    let suffix = Suffix(cpus);
    println!("BENCH first_user_insn{suffix} ticks={} insns={}", ctx.start_ticks, to_insns(ctx.start_ticks, hz));
    println!("BENCH cntfrq hz={hz}");
    if hz == 0 {
        println!("bench: CNTFRQ_EL0 is 0; cannot convert ticks to instructions");
        return 1;
    }
    let custom = ctx.arg_u64("ops").map(counts_of);
    let counts = match &custom {
        Some(counts) => counts,
        None if has_word(ctx, "quick") => &QUICK,
        None => &FULL,
    };
    let bench = Bench { hz, suffix };
    // SAFETY: only this thread writes the buffers, and these are the only references.
    let (src, dst) = unsafe { (&mut *SRC.0.get(), &mut *DST.0.get()) };
    let dst: *mut u8 = dst.as_mut_ptr();
    src.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8 | 1);
    let initrd = match Initrd::map(ctx) {
        Ok(initrd) => initrd,
        Err((what, status)) => {
            println!("bench: initrd: {what} failed: {} ({status})", zx::status_name(status));
            return 1;
        }
    };
    let src: &[u8; CHUNK] = src;

    let steps: [(&str, &dyn Fn() -> BenchResult); 20] = [
        ("null_syscall", &|| null_syscall(&bench, counts)),
        ("vmo_write_4k_committed", &|| vmo_write_4k_committed(&bench, counts, src)),
        ("vmo_write_64k", &|| vmo_write_64k(&bench, counts, src)),
        ("vmo_first_touch_4k", &|| vmo_first_touch_4k(&bench, counts, src)),
        ("vmar_map_touch", &|| vmar_map_touch(&bench, counts, ctx)),
        ("vmo_create_close", &|| vmo_create_close(&bench, counts)),
        ("memcpy_64k_q", &|| memcpy_64k_q(&bench, counts, src.as_ptr(), dst)),
        ("kmem", &|| kmem_overhead(ctx)),
        ("thread_create_join", &|| thread_create_join(&bench, counts, ctx)),
        ("futex_pingpong", &|| futex_pingpong(&bench, counts, ctx)),
        ("channel_pingpong_64b", &|| channel_pingpong_64b(&bench, counts, ctx, &initrd)),
        ("channel_64k", &|| channel_64k(&bench, counts, ctx, &initrd, src)),
        ("process_spawn", &|| process_spawn(&bench, counts, ctx, &initrd)),
        ("event_signal_wait", &|| event_signal_wait(&bench, counts)),
        ("port_queue_wait", &|| port_queue_wait(&bench, counts)),
        ("nanosleep_0", &|| nanosleep_0(&bench, counts)),
        ("vmo_map_touch_unmap", &|| vmo_map_touch_unmap(&bench, counts, ctx)),
        ("kmem_thread", &|| kmem_thread(&bench, counts, ctx)),
        ("kmem_process", &|| kmem_process(&bench, counts, ctx)),
        ("scale", &|| if has_word(ctx, "scale") { scale(counts, ctx, src) } else { Ok(()) }),
    ];
    let only = ctx.arg("only");
    for (name, step) in steps {
        if only.is_some_and(|only| !only.split(',').any(|prefix| name.starts_with(prefix))) {
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

fn has_word(ctx: &Ctx, word: &str) -> bool {
    ctx.cmdline.split_ascii_whitespace().any(|w| w == word)
}

/// Ticks to instructions: under `-icount shift=0` an instruction is 1 ns.
fn to_insns(ticks: u64, hz: u64) -> u64 {
    if hz == 0 {
        return 0;
    }
    (ticks as u128 * 1_000_000_000 / hz as u128) as u64
}

/// The name suffix of a machine with this many CPUs: none for one, `_smpN` otherwise.
#[derive(Clone, Copy)]
struct Suffix(u32);

impl core::fmt::Display for Suffix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 > 1 { write!(f, "_smp{}", self.0) } else { Ok(()) }
    }
}

struct Bench {
    hz: u64,
    suffix: Suffix,
}

impl Bench {
    /// Prints one figure: `ops` operations took `ticks`, moving `bytes` in all if given.
    fn report(&self, name: &str, ops: u64, ticks: u64, bytes: Option<u64>) {
        let insns = to_insns(ticks, self.hz);
        let suffix = self.suffix;
        match bytes {
            Some(bytes) => println!("BENCH {name}{suffix} ops={ops} ticks={ticks} insns={insns} bytes={bytes}"),
            None => println!("BENCH {name}{suffix} ops={ops} ticks={ticks} insns={insns}"),
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

// ---------------------------------------------------------------------------------------
// ABI v2: threads, futexes, processes and IPC.

const FUTEX_WAIT: u64 = 49;
const FUTEX_WAKE: u64 = 50;
const VMO_REPLACE_AS_EXECUTABLE: u64 = 18;

/// `zx_futex_wait(value_ptr, current)` with no owner and no deadline.
fn futex_wait(futex: &AtomicI32, current: i32) -> Status {
    // SAFETY: the kernel only reads the futex word.
    unsafe { call_status(FUTEX_WAIT, [addr_of(futex.as_ptr()), current as u32 as u64, 0, i64::MAX as u64]) }
}

/// `zx_futex_wake(value_ptr, count)`.
fn futex_wake(futex: &AtomicI32, count: u32) -> Status {
    // SAFETY: the kernel does not touch the word on a wake.
    unsafe { call_status(FUTEX_WAKE, [addr_of(futex.as_ptr()), count as u64]) }
}

/// Waits until `futex` holds `wanted` (a wait that finds another value tries again).
fn futex_wait_for(futex: &AtomicI32, wanted: i32) {
    loop {
        let now = futex.load(Ordering::Acquire);
        if now == wanted {
            return;
        }
        let _ = futex_wait(futex, now);
    }
}

/// `zx_thread_create` in this process.
fn thread_create(ctx: &Ctx) -> BenchResult<Handle> {
    let name = b"bench";
    let mut out = 0u32;
    let args = [ctx.process() as u64, addr_of(name.as_ptr()), name.len() as u64, 0, addr_of(&raw mut out)];
    // SAFETY: the kernel reads the name and writes `out`.
    check(unsafe { call_status(ipc::nr::THREAD_CREATE, args) }, "thread_create")?;
    Ok(Handle::from_raw(out))
}

/// The address of a thread entry `entry(arg1, arg2)`.
fn entry_of(entry: extern "C" fn(u64, u64) -> !) -> u64 {
    entry as *const () as usize as u64
}

/// `zx_thread_start`: the code at `entry` with (arg1, arg2) in x0, x1 on the stack whose
/// top is `sp`.
fn thread_start(thread: &Handle, entry: u64, sp: u64, arg1: u64, arg2: u64) -> BenchResult {
    let args = [thread.raw() as u64, entry, sp, arg1, arg2];
    // SAFETY: no pointer the kernel writes.
    check(unsafe { call_status(ipc::nr::THREAD_START, args) }, "thread_start")
}

/// A thread stack: a mapped VMO whose top is the initial SP.
fn stack(ctx: &Ctx) -> BenchResult<Mapping> {
    let vmo = checked(zx::vmo_create(STACK, 0), "stack vmo_create")?;
    checked(Mapping::new(ctx.root_vmar, zx::VM_RW, 0, &vmo, 0, STACK), "stack vmar_map")
}

fn wait_terminated(task: &Handle) -> BenchResult {
    check(zx::object_wait_one(task, TASK_TERMINATED, zx::TIME_INFINITE).0, "wait for TERMINATED")
}

extern "C" fn exit_at_once(_: u64, _: u64) -> ! {
    ipc::thread_exit()
}

/// `zx_thread_create` + `zx_thread_start` of a thread that calls `zx_thread_exit` at once
/// + `zx_object_wait_one(TERMINATED)` + `zx_handle_close`; one stack mapping reused, as
/// Linux's raw `clone` row reuses one static stack.
fn thread_create_join(bench: &Bench, counts: &Counts, ctx: &Ctx) -> BenchResult {
    let stack = stack(ctx)?;
    let sp = stack.addr() + STACK;
    let once = || -> BenchResult {
        let thread = thread_create(ctx)?;
        thread_start(&thread, entry_of(exit_at_once), sp, 0, 0)?;
        wait_terminated(&thread)?;
        checked(zx::handle_close(thread.into_raw()), "handle_close")
    };
    for _ in 0..WARM_UP {
        once()?;
    }
    let n = counts.threads;
    let ticks = time(|| (0..n).try_for_each(|_| once()))?;
    bench.report("thread_create_join", n, ticks, None);
    Ok(())
}

/// The two futex words of a ping-pong and its length.
struct PingPong {
    ping: AtomicI32,
    pong: AtomicI32,
    rounds: i32,
}

extern "C" fn pong_thread(shared: u64, _: u64) -> ! {
    // SAFETY: `futex_pingpong` keeps the `PingPong` alive until this thread has ended.
    let shared = unsafe { &*(shared as usize as *const PingPong) };
    for i in 1..=shared.rounds {
        futex_wait_for(&shared.ping, i);
        shared.pong.store(i, Ordering::Release);
        let _ = futex_wake(&shared.pong, 1);
    }
    ipc::thread_exit()
}

/// Two threads of this process hand a counter back and forth through two futexes: one
/// round trip is a store + `zx_futex_wake` + `zx_futex_wait` on each side (on `-smp 2`
/// the partner runs on the other CPU, and the figure counts both CPUs' instructions).
fn futex_pingpong(bench: &Bench, counts: &Counts, ctx: &Ctx) -> BenchResult {
    let n = counts.round_trips as i32;
    let warm = WARM_UP as i32;
    let shared = PingPong { ping: AtomicI32::new(0), pong: AtomicI32::new(0), rounds: warm + n };
    let stack = stack(ctx)?;
    let thread = thread_create(ctx)?;
    thread_start(&thread, entry_of(pong_thread), stack.addr() + STACK, addr_of(&raw const shared), 0)?;
    let round = |i: i32| -> BenchResult {
        shared.ping.store(i, Ordering::Release);
        check(futex_wake(&shared.ping, 1), "futex_wake")?;
        futex_wait_for(&shared.pong, i);
        Ok(())
    };
    (1..=warm).try_for_each(round)?;
    let ticks = time(|| (warm + 1..=warm + n).try_for_each(round))?;
    wait_terminated(&thread)?;
    bench.report("futex_pingpong", n as u64, ticks, None);
    Ok(())
}

/// The benchmark initrd, mapped read-only: a cpio "newc" archive.
struct Initrd {
    bytes: &'static [u8],
    _mapping: Option<Mapping>,
}

impl Initrd {
    /// Maps the initrd VMO the kernel handed over (none when booted from a bare ELF).
    fn map(ctx: &Ctx) -> BenchResult<Initrd> {
        let (initrd_vmo, initrd_len) = ctx.initrd().unwrap_or((0, 0));
        if initrd_vmo == 0 || initrd_len == 0 {
            return Ok(Initrd { bytes: &[], _mapping: None });
        }
        let len = initrd_len.div_ceil(PAGE) * PAGE;
        let mapping = checked(Mapping::new(ctx.root_vmar, zx::VM_PERM_READ, 0, initrd_vmo, 0, len), "map initrd")?;
        // SAFETY: the mapping is read-only, lives as long as the program (it is never
        // dropped before exit) and nothing writes the VMO.
        let bytes = unsafe { core::slice::from_raw_parts(mapping.addr() as usize as *const u8, initrd_len as usize) };
        Ok(Initrd { bytes, _mapping: Some(mapping) })
    }

    /// The member named `name`, found by walking the newc headers.
    fn find(&self, name: &str) -> BenchResult<&'static [u8]> {
        let bytes = self.bytes;
        let hex = |at: usize| -> Option<usize> {
            let field = bytes.get(at..at + 8)?;
            field.iter().try_fold(0usize, |v, &c| Some(v * 16 + (c as char).to_digit(16)? as usize))
        };
        let mut at = 0;
        while let Some(magic) = bytes.get(at..at + 6) {
            if magic != b"070701" && magic != b"070702" {
                break;
            }
            let (Some(filesize), Some(namesize)) = (hex(at + 54), hex(at + 94)) else { break };
            let name_at = at + 110;
            let data_at = (name_at + namesize + 3) & !3;
            let Some(member) = bytes.get(name_at..name_at + namesize.saturating_sub(1)) else { break };
            if member == b"TRAILER!!!" {
                break;
            }
            if member == name.as_bytes() {
                return bytes.get(data_at..data_at + filesize).ok_or(("initrd member", zx::ZX_ERR_IO));
            }
            at = (data_at + filesize + 3) & !3;
        }
        Err(("initrd member (boot the cpio archive of scripts/bench.sh)", zx::ZX_ERR_NOT_FOUND))
    }
}

fn u16_at(b: &[u8], at: usize) -> u64 {
    u16::from_le_bytes([b[at], b[at + 1]]) as u64
}
fn u32_at(b: &[u8], at: usize) -> u64 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4])) as u64
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}

/// A started process and its handles.
struct Spawned {
    process: Handle,
    _vmar: Handle,
    _thread: Handle,
}

/// Loads the static ELF `elf` into a new process of the root job and starts it with
/// `arg1` (a handle moved to it, or 0) in x0: `zx_process_create`, one VMO per
/// `PT_LOAD` (`zx_vmo_create` + `zx_vmo_write` of its file bytes, made executable when
/// it is), `zx_vmar_map` at its address, a stack VMO mapped, `zx_thread_create`,
/// `zx_process_start`. What Zircon's loader does, without a dynamic linker.
fn spawn(ctx: &Ctx, elf: &[u8], arg1: u32) -> BenchResult<Spawned> {
    const BAD: Failed = ("ELF header", zx::ZX_ERR_IO);
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" {
        return Err(BAD);
    }
    let (entry, phoff, phnum) = (u64_at(elf, 24), u64_at(elf, 32) as usize, u16_at(elf, 56) as usize);
    let name = b"bench-child";
    let (mut proc_out, mut vmar_out) = (0u32, 0u32);
    let args = [
        ctx.root_job() as u64,
        addr_of(name.as_ptr()),
        name.len() as u64,
        0,
        addr_of(&raw mut proc_out),
        addr_of(&raw mut vmar_out),
    ];
    // SAFETY: the kernel reads the name and writes both out-pointers.
    check(unsafe { call_status(ipc::nr::PROCESS_CREATE, args) }, "process_create")?;
    let (process, vmar) = (Handle::from_raw(proc_out), Handle::from_raw(vmar_out));
    for i in 0..phnum {
        let ph = elf.get(phoff + 56 * i..phoff + 56 * (i + 1)).ok_or(BAD)?;
        if u32_at(ph, 0) != 1 {
            continue; // not PT_LOAD
        }
        let (flags, offset, vaddr) = (u32_at(ph, 4), u64_at(ph, 8) as usize, u64_at(ph, 16));
        let (filesz, memsz) = (u64_at(ph, 32) as usize, u64_at(ph, 40));
        let (lo, hi) = (vaddr & !(PAGE - 1), (vaddr + memsz).div_ceil(PAGE) * PAGE);
        let vmo = checked(zx::vmo_create(hi - lo, 0), "segment vmo_create")?;
        if filesz != 0 {
            let data = elf.get(offset..offset + filesz).ok_or(BAD)?;
            checked(zx::vmo_write(&vmo, data, vaddr - lo), "segment vmo_write")?;
        }
        let mut perms = 0;
        if flags & 4 != 0 {
            perms |= zx::VM_PERM_READ;
        }
        if flags & 2 != 0 {
            perms |= zx::VM_PERM_WRITE;
        }
        let vmo = if flags & 1 != 0 {
            perms |= zx::VM_PERM_EXECUTE;
            let mut out = 0u32;
            let args = [vmo.into_raw() as u64, ctx.root_resource as u64, addr_of(&raw mut out)];
            // SAFETY: the kernel writes `out`.
            check(unsafe { call_status(VMO_REPLACE_AS_EXECUTABLE, args) }, "vmo_replace_as_executable")?;
            Handle::from_raw(out)
        } else {
            vmo
        };
        checked(zx::vmar_map(&vmar, perms | zx::VM_SPECIFIC, lo - zx::USER_BASE, &vmo, 0, hi - lo), "segment map")?;
    }
    let stack_vmo = checked(zx::vmo_create(STACK, 0), "stack vmo_create")?;
    let stack = checked(zx::vmar_map(&vmar, zx::VM_RW, 0, &stack_vmo, 0, STACK), "stack map")?;
    let name = b"main";
    let mut out = 0u32;
    let args = [process.raw() as u64, addr_of(name.as_ptr()), name.len() as u64, 0, addr_of(&raw mut out)];
    // SAFETY: the kernel reads the name and writes `out`.
    check(unsafe { call_status(ipc::nr::THREAD_CREATE, args) }, "thread_create")?;
    let thread = Handle::from_raw(out);
    let args = [process.raw() as u64, thread.raw() as u64, entry, stack + STACK, arg1 as u64, 0];
    // SAFETY: no pointer the kernel writes.
    check(unsafe { call_status(ipc::nr::PROCESS_START, args) }, "process_start")?;
    Ok(Spawned { process, _vmar: vmar, _thread: thread })
}

/// `bin/bench-child` in a new process, with the other end of a new channel.
fn spawn_child(ctx: &Ctx, initrd: &Initrd) -> BenchResult<(Spawned, Handle)> {
    let elf = initrd.find("bin/bench-child")?;
    let (mine, theirs) = checked(ipc::channel_create(), "channel_create")?;
    let child = spawn(ctx, elf, theirs.into_raw())?;
    Ok((child, mine))
}

/// Sends `request` to the child and reads its reply (at most 64 bytes) into `reply`.
fn exchange(channel: &Handle, request: &[u8], reply: &mut [u8; 64]) -> BenchResult {
    checked(ipc::channel_write(channel, request, &[]), "channel_write")?;
    check(zx::object_wait_one(channel, CHANNEL_READABLE | PEER_CLOSED, zx::TIME_INFINITE).0, "wait_one")?;
    let (status, len, _) = ipc::channel_read(channel, reply, &mut []);
    check(status, "channel_read")?;
    if len as usize != request.len().min(64) {
        return Err(("reply length", zx::ZX_ERR_IO));
    }
    Ok(())
}

/// Ends the child: closing our end makes it read PEER_CLOSED and exit.
fn finish_child(child: Spawned, channel: Handle) -> BenchResult {
    drop(channel);
    wait_terminated(&child.process)
}

/// A 64-byte message to `bin/bench-child` in another process and its 64-byte echo:
/// `zx_channel_write` + `zx_object_wait_one(READABLE)` + `zx_channel_read` on each side.
fn channel_pingpong_64b(bench: &Bench, counts: &Counts, ctx: &Ctx, initrd: &Initrd) -> BenchResult {
    let (child, channel) = spawn_child(ctx, initrd)?;
    let request = [0x5au8; 64];
    let mut reply = [0u8; 64];
    for _ in 0..WARM_UP {
        exchange(&channel, &request, &mut reply)?;
    }
    let n = counts.round_trips;
    let ticks = time(|| (0..n).try_for_each(|_| exchange(&channel, &request, &mut reply)))?;
    finish_child(child, channel)?;
    bench.report("channel_pingpong_64b", n, ticks, None);
    Ok(())
}

/// One 64 KiB message (the channel maximum) to another process, which reads it whole and
/// acknowledges it with its first 64 bytes: the writer never gets more than one message
/// ahead, as a pipe's writer never gets more than the pipe ahead.
fn channel_64k(bench: &Bench, counts: &Counts, ctx: &Ctx, initrd: &Initrd, src: &[u8; CHUNK]) -> BenchResult {
    let (child, channel) = spawn_child(ctx, initrd)?;
    let mut reply = [0u8; 64];
    for _ in 0..WARM_UP {
        exchange(&channel, src, &mut reply)?;
    }
    let n = counts.messages_64k;
    let ticks = time(|| (0..n).try_for_each(|_| exchange(&channel, src, &mut reply)))?;
    finish_child(child, channel)?;
    bench.report("channel_64k", n, ticks, Some(n * CHUNK as u64));
    Ok(())
}

/// `bin/exit0` (3 instructions: x0 = 0, `zx_process_exit`) from the initrd: find it in the
/// archive, load it (see [`spawn`]), start it, wait for TERMINATED, close the handles.
fn process_spawn(bench: &Bench, counts: &Counts, ctx: &Ctx, initrd: &Initrd) -> BenchResult {
    let once = || -> BenchResult {
        let child = spawn(ctx, initrd.find("bin/exit0")?, 0)?;
        wait_terminated(&child.process)
    };
    for _ in 0..WARM_UP {
        once()?;
    }
    let n = counts.processes;
    let ticks = time(|| (0..n).try_for_each(|_| once()))?;
    bench.report("process_spawn", n, ticks, None);
    Ok(())
}

/// `zx_object_signal` (clear and set SIGNALED) + `zx_object_wait_one` that finds it set.
fn event_signal_wait(bench: &Bench, counts: &Counts) -> BenchResult {
    let event = checked(ipc::event_create(), "event_create")?;
    let once = || -> BenchResult {
        checked(zx::object_signal(&event, SIGNALED, SIGNALED), "object_signal")?;
        check(zx::object_wait_one(&event, SIGNALED, zx::TIME_INFINITE).0, "wait_one")
    };
    (0..WARM_UP).try_for_each(|_| once())?;
    let n = counts.fast_calls;
    let ticks = time(|| (0..n).try_for_each(|_| once()))?;
    bench.report("event_signal_wait", n, ticks, None);
    Ok(())
}

/// `zx_port_queue` of a user packet + `zx_port_wait` that dequeues it.
fn port_queue_wait(bench: &Bench, counts: &Counts) -> BenchResult {
    let port = checked(ipc::port_create(), "port_create")?;
    let packet = ipc::Packet::user(7, [1, 2, 3, 4]);
    let once = || -> BenchResult {
        checked(ipc::port_queue(&port, &packet), "port_queue")?;
        checked(ipc::port_wait(&port, zx::TIME_INFINITE), "port_wait").map(drop)
    };
    (0..WARM_UP).try_for_each(|_| once())?;
    let n = counts.fast_calls;
    let ticks = time(|| (0..n).try_for_each(|_| once()))?;
    bench.report("port_queue_wait", n, ticks, None);
    Ok(())
}

/// `zx_nanosleep(0)`, a yield, with nothing else runnable.
fn nanosleep_0(bench: &Bench, counts: &Counts) -> BenchResult {
    (0..WARM_UP).for_each(|_| ipc::nanosleep(0));
    let n = counts.fast_calls;
    let ticks = time(|| {
        (0..n).for_each(|_| ipc::nanosleep(0));
        Ok(())
    })?;
    bench.report("nanosleep_0", n, ticks, None);
    Ok(())
}

/// `zx_vmo_create` (4 KiB) + `zx_vmar_map` + a store + `zx_vmar_unmap` + `zx_handle_close`.
fn vmo_map_touch_unmap(bench: &Bench, counts: &Counts, ctx: &Ctx) -> BenchResult {
    let once = || -> BenchResult {
        let vmo = checked(zx::vmo_create(PAGE, 0), "vmo_create")?;
        let addr = checked(zx::vmar_map(ctx.root_vmar, zx::VM_RW, 0, &vmo, 0, PAGE), "vmar_map")?;
        // SAFETY: a fresh read-write mapping of ours that nothing else refers to.
        unsafe { core::ptr::write_volatile(addr as usize as *mut u8, 1) };
        checked(zx::vmar_unmap(ctx.root_vmar, addr, PAGE), "vmar_unmap")?;
        checked(zx::handle_close(vmo.into_raw()), "handle_close")
    };
    (0..WARM_UP).try_for_each(|_| once())?;
    let n = counts.map_cycles;
    let ticks = time(|| (0..n).try_for_each(|_| once()))?;
    bench.report("vmo_map_touch_unmap", n, ticks, None);
    Ok(())
}

/// Kernel memory in use: frames in use that are neither VMO pages nor free heap.
fn kernel_bytes(s: &zx::KmemStats) -> i64 {
    (s.total_bytes - s.free_bytes) as i64 - s.vmo_bytes as i64 - s.free_heap_bytes as i64
}

fn heap_used(s: &zx::KmemStats) -> i64 {
    s.total_heap_bytes as i64 - s.free_heap_bytes as i64
}

// A parked thread: `zx_futex_wait(x0, 0)` until woken, then `zx_thread_exit`. It never
// touches its stack, so every parked thread can share one.
core::arch::global_asm!(
    ".section .text.bench_park, \"ax\", %progbits",
    ".global bench_park",
    ".type bench_park, %function",
    "bench_park:",
    "    mov x19, x0",
    "1:  mov x0, x19",
    "    mov x1, #0",
    "    mov x2, #0",
    "    mov x3, #0x7fffffffffffffff",
    "    mov x16, #49", // zx_futex_wait
    "    svc #0",
    "    ldr w1, [x19]",
    "    cbz w1, 1b",
    "    mov x16, #32", // zx_thread_exit
    "    svc #0",
    "    brk #0xbad",
    ".size bench_park, . - bench_park",
);

unsafe extern "C" {
    fn bench_park(futex: u64, _: u64) -> !;
}

/// Kernel memory per thread: KMEM_STATS before and after starting `kmem_tasks` threads
/// that block in `zx_futex_wait` (kernel stack, thread object, handle, wait state).
fn kmem_thread(bench: &Bench, counts: &Counts, ctx: &Ctx) -> BenchResult {
    let _ = bench;
    let stack = stack(ctx)?;
    let futex = AtomicI32::new(0);
    let n = counts.kmem_tasks as usize;
    let mut threads: [Option<Handle>; 64] = [const { None }; 64];
    // A first batch, not counted, takes the kernel stacks the kernel keeps mapped for
    // reuse (up to 16 freed ones; `kernel::kstack`), so the counted batch pays for
    // fresh stacks, as a thread beyond that cache does.
    let (warm, counted) = threads.split_at_mut(32);
    for slot in warm.iter_mut() {
        let thread = thread_create(ctx)?;
        thread_start(
            &thread,
            bench_park as *const () as usize as u64,
            stack.addr() + STACK,
            addr_of(futex.as_ptr()),
            0,
        )?;
        *slot = Some(thread);
    }
    (0..4).for_each(|_| ipc::nanosleep(0));
    let before = checked(zx::kmem_stats(ctx.root_resource), "KMEM_STATS before")?;
    for slot in counted.iter_mut().take(n) {
        let thread = thread_create(ctx)?;
        thread_start(
            &thread,
            bench_park as *const () as usize as u64,
            stack.addr() + STACK,
            addr_of(futex.as_ptr()),
            0,
        )?;
        *slot = Some(thread);
    }
    // Let every thread run into its wait.
    (0..4).for_each(|_| ipc::nanosleep(0));
    let after = checked(zx::kmem_stats(ctx.root_resource), "KMEM_STATS after")?;
    futex.store(1, Ordering::Release);
    check(futex_wake(&futex, u32::MAX), "futex_wake")?;
    for thread in threads.iter().flatten() {
        wait_terminated(thread)?;
    }
    println!(
        "BENCH kmem_thread count={n} kernel_delta={} heap_used_delta={}",
        kernel_bytes(&after) - kernel_bytes(&before),
        heap_used(&after) - heap_used(&before)
    );
    Ok(())
}

/// Kernel memory per process: KMEM_STATS before and after `zx_process_create` of
/// `kmem_tasks` processes (object, handle table, address space, root VMAR handle).
fn kmem_process(bench: &Bench, counts: &Counts, ctx: &Ctx) -> BenchResult {
    let _ = bench;
    let n = counts.kmem_tasks as usize;
    let mut processes: [Option<(Handle, Handle)>; 64] = [const { None }; 64];
    let before = checked(zx::kmem_stats(ctx.root_resource), "KMEM_STATS before")?;
    for slot in processes.iter_mut().take(n) {
        let name = b"kmem";
        let (mut proc_out, mut vmar_out) = (0u32, 0u32);
        let args = [
            ctx.root_job() as u64,
            addr_of(name.as_ptr()),
            name.len() as u64,
            0,
            addr_of(&raw mut proc_out),
            addr_of(&raw mut vmar_out),
        ];
        // SAFETY: the kernel reads the name and writes both out-pointers.
        check(unsafe { call_status(ipc::nr::PROCESS_CREATE, args) }, "process_create")?;
        *slot = Some((Handle::from_raw(proc_out), Handle::from_raw(vmar_out)));
    }
    let after = checked(zx::kmem_stats(ctx.root_resource), "KMEM_STATS after")?;
    drop(processes);
    println!(
        "BENCH kmem_process count={n} kernel_delta={} heap_used_delta={}",
        kernel_bytes(&after) - kernel_bytes(&before),
        heap_used(&after) - heap_used(&before)
    );
    Ok(())
}

/// What each scaling worker does: `ops` 4 KiB writes into its own VMO.
struct ScaleWork {
    vmos: [u32; 4],
    ops: u64,
    src: *const u8,
}

extern "C" fn scale_worker(work: u64, index: u64) -> ! {
    // SAFETY: `scale` keeps the work alive until every worker has ended.
    let work = unsafe { &*(work as usize as *const ScaleWork) };
    // SAFETY: SRC is filled before the workers start and only read meanwhile.
    let src = unsafe { core::slice::from_raw_parts(work.src, PAGE as usize) };
    for _ in 0..work.ops {
        let _ = zx::vmo_write(work.vmos[index as usize], src, 0);
    }
    ipc::thread_exit()
}

/// Wall-clock scaling under MTTCG (`-smp 4` without `-icount`): 1 to 4 threads, each
/// writing its own VMO; the best of three runs for each count. Ticks are real time here,
/// so this is a ratio within one run, not an exact figure.
fn scale(counts: &Counts, ctx: &Ctx, src: &[u8; CHUNK]) -> BenchResult {
    let vmos = [
        checked(zx::vmo_create(PAGE, 0), "vmo_create")?,
        checked(zx::vmo_create(PAGE, 0), "vmo_create")?,
        checked(zx::vmo_create(PAGE, 0), "vmo_create")?,
        checked(zx::vmo_create(PAGE, 0), "vmo_create")?,
    ];
    let stacks = [stack(ctx)?, stack(ctx)?, stack(ctx)?, stack(ctx)?];
    let work = ScaleWork {
        vmos: [vmos[0].raw(), vmos[1].raw(), vmos[2].raw(), vmos[3].raw()],
        ops: counts.scale_ops,
        src: src.as_ptr(),
    };
    let cpus = ipc::num_cpus().clamp(1, 4) as usize;
    for n in 1..=cpus {
        let mut best = u64::MAX;
        for _ in 0..3 {
            let mut threads: [Option<Handle>; 4] = [const { None }; 4];
            let ticks = time(|| {
                for (i, slot) in threads.iter_mut().enumerate().take(n) {
                    let thread = thread_create(ctx)?;
                    thread_start(
                        &thread,
                        entry_of(scale_worker),
                        stacks[i].addr() + STACK,
                        addr_of(&raw const work),
                        i as u64,
                    )?;
                    *slot = Some(thread);
                }
                threads.iter().flatten().try_for_each(wait_terminated)
            })?;
            best = best.min(ticks);
        }
        println!("SCALE threads={n} ops={} ticks={best}", n as u64 * counts.scale_ops);
    }
    Ok(())
}
