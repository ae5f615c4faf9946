//! The task suite (ABI v2): threads, processes, jobs, their states, signals and info
//! topics, futexes, waits, time, preemption, parallelism, memory views across address
//! spaces, user faults in children, and the kernel-memory balance after all of it.
//!
//! Boot it from its cpio archive (`scripts/mk-test-initrds` writes it: `bin/tasks` and
//! the child program `bin/tasks-child`) with `init=bin/tasks`. Command-line words:
//! - `filter=SUBSTR`: run only the tests whose names contain SUBSTR;
//! - `cpus=N`: the CPU count QEMU was given; `zx_system_get_num_cpus` must say the same;
//! - `parallel=0`: do not require truly parallel execution (QEMU with `-icount` runs the
//!   vCPUs one after another, so two threads cannot watch each other without a pause).
//!
//! Output is libtest's; the exit status is 0 only when every test passed. Tests that
//! start children print the kernel's `user fault:` lines of the children meant to fault.
#![no_std]
// Without an allocator a failure carries its message inline, so `Err` is large on purpose.
#![allow(clippy::result_large_err)]
#![no_main]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering};

use user::loader::{self, CHILD_STACK_SIZE, ChildProcess};
use user::proto::*;
use user::rt::{counter_frequency, counter_ticks};
use user::thread::{self, Thread};
use user::zx::rights;
use user::zx::*;
use user::{
    Ctx, Failure, TestResult, check, check_eq, check_hex, check_ok, check_status, entry, fail, print, println, skip,
    sys, tests,
};

entry!(main);

fn main(ctx: &Ctx) -> i64 {
    user::harness::run_tests(ctx, TESTS)
}

static TESTS: &[user::Test] = tests![
    // Threads.
    thread_start_run_exit_join,
    thread_states_and_signals,
    thread_start_registers,
    thread_tpidr_el0_is_per_thread,
    thread_fp_simd_state_is_per_thread,
    thread_argument_errors,
    thread_kill_new,
    thread_kill_itself_and_kill_errors,
    thread_kill_running,
    thread_kill_blocked,
    thread_kill_races_entering_a_wait,
    // Processes.
    process_start_and_exit_code,
    process_last_thread_exit_ends_it_with_zero,
    process_exit_kills_its_threads,
    process_read_write_memory,
    process_start_moves_arg1,
    process_closing_handles,
    process_start_errors,
    process_faults_kill_only_the_child,
    process_kill_new_running_blocked,
    thread_start_races_the_last_thread_exit,
    stress_lifecycles_in_parallel,
    more_live_address_spaces_than_8_bit_asids,
    handle_close_many_rules,
    // Jobs.
    job_tree_signals_and_lists,
    job_kill_ends_everything_below,
    job_depth_limit,
    job_close_childless_removes_it,
    // get_info topics.
    info_process_thread_job,
    info_thread_stats_runtime_and_cpu,
    info_task_stats_private_and_shared,
    info_handle_count_valid_and_stats,
    info_koid_lists,
    // Futexes.
    futex_errors_and_timeouts,
    futex_wake_count_and_order,
    futex_requeue_moves_waiters,
    futex_mutex_counts_exactly,
    // Waits, time, CPUs.
    wait_one_woken_and_canceled_by_other_threads,
    wait_many_signals_timeouts_cancel,
    time_sleep_deadlines_ticks,
    system_cpus_and_page_size,
    // Scheduling.
    preemption_spinners_do_not_starve_others,
    parallel_threads_see_each_other_without_syscalls,
    a_woken_thread_runs_on_an_idle_cpu,
    // Memory views across address spaces.
    stale_mapping_decommit_cross_process,
    stale_mapping_shrink_cross_process,
    stale_mapping_unmap_cross_process,
    stale_mapping_decommit_same_process,
    // Kernel memory.
    kmem_free_bytes_back_after_tasks,
];

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Generous: QEMU with 8 vCPUs on a busy 2-core host is slow.
const TIMEOUT_S: i64 = 20;

fn seconds(n: i64) -> i64 {
    deadline_after(n * 1_000_000_000)
}

fn millis(n: i64) -> i64 {
    deadline_after(n * 1_000_000)
}

fn cpus() -> u64 {
    system_get_num_cpus()
}

/// Polls `cond` (sleeping 100 us between tries) until it holds or `TIMEOUT_S` passed.
#[track_caller]
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) -> TestResult {
    let deadline = seconds(TIMEOUT_S);
    loop {
        if cond() {
            return Ok(());
        }
        if clock_get_monotonic() > deadline {
            return Err(Failure::new(format_args!("timed out after {TIMEOUT_S} s waiting for {what}")));
        }
        let _ = nanosleep(deadline_after(100_000));
    }
}

/// Waits for TERMINATED on a task, at most `TIMEOUT_S`.
#[track_caller]
fn wait_end(task: impl AsRaw, what: &str) -> TestResult {
    let (status, observed) = object_wait_one(task, TASK_TERMINATED, seconds(TIMEOUT_S));
    if status != ZX_OK {
        return Err(Failure::new(format_args!(
            "{what}: not TERMINATED: {} (observed {observed:#x})",
            status_name(status)
        )));
    }
    Ok(())
}

/// The signals a handle's object asserts now.
fn signals_now(handle: impl AsRaw) -> u32 {
    let (_, observed) = object_wait_one(handle, 0, 0);
    observed
}

fn koids(handle: impl AsRaw, topic: u32) -> Result<([u64; 16], usize), Failure> {
    let mut list = [0u64; 16];
    let (actual, avail) = check_ok(info_koids(handle, topic, &mut list), "koid list")?;
    check_eq(actual, avail.min(16), "koid list: actual")?;
    Ok((list, actual))
}

fn contains(handle: impl AsRaw, topic: u32, koid: u64) -> Result<bool, Failure> {
    let (list, n) = koids(handle, topic)?;
    Ok(list[..n].contains(&koid))
}

/// The child program from the initrd archive.
fn child_image(ctx: &Ctx) -> Result<&'static [u8], Failure> {
    let Ok(archive) = loader::initrd(ctx) else {
        fail!("no initrd archive (x6 = 0): boot bin/tasks from the archive scripts/mk-test-initrds writes")
    };
    match loader::cpio_find(archive, "bin/tasks-child") {
        Some(image) => Ok(image),
        None => fail!("bin/tasks-child is not in the initrd archive"),
    }
}

/// A child process running `bin/tasks-child`, with its mailbox. Dropping it kills the
/// process (harmless when it has ended), so a failed test leaves nothing running.
struct Child {
    image: ChildProcess,
    mailbox: Mapping,
    /// The mailbox's address in the child.
    child_mailbox: u64,
    _mailbox_vmo: Handle,
}

impl Child {
    /// A NEW child in `job` that will run `command` with `args`.
    fn new(ctx: &Ctx, job: impl AsRaw, name: &str, command: u64, args: &[u64]) -> Result<Child, Failure> {
        let image = child_image(ctx)?;
        let process = check_ok(ChildProcess::load(job, name, image, ctx.root_resource), "load bin/tasks-child")?;
        let vmo = check_ok(vmo_create(PAGE_SIZE, 0), "mailbox vmo")?;
        let mailbox = check_ok(Mapping::new(ctx.root_vmar, VM_RW, 0, &vmo, 0, PAGE_SIZE), "map mailbox")?;
        let child_mailbox = check_ok(vmar_map(&process.vmar, VM_RW, 0, &vmo, 0, PAGE_SIZE), "map mailbox in child")?;
        let child = Child { image: process, mailbox, child_mailbox, _mailbox_vmo: vmo };
        child.mb().command.store(command, Ordering::Release);
        for (slot, value) in child.mb().args.iter().zip(args) {
            slot.store(*value, Ordering::Release);
        }
        Ok(child)
    }

    /// A child of `job` already started with `arg1` moved into it.
    fn spawn(ctx: &Ctx, job: impl AsRaw, name: &str, command: u64, args: &[u64], arg1: u32) -> Result<Child, Failure> {
        let child = Child::new(ctx, job, name, command, args)?;
        child.start(arg1)?;
        Ok(child)
    }

    #[track_caller]
    fn start(&self, arg1: u32) -> TestResult {
        check_ok(self.image.start(arg1, self.child_mailbox), "zx_process_start")
    }

    fn mb(&self) -> &Mailbox {
        // SAFETY: the mapping is one page, page-aligned, alive as long as `self`, and
        // holds only atomics (a zeroed page is a valid Mailbox).
        unsafe { &*(self.mailbox.addr() as usize as *const Mailbox) }
    }

    fn process(&self) -> &Handle {
        &self.image.process
    }

    #[track_caller]
    fn wait_progress(&self, at_least: u64) -> TestResult {
        let location = core::panic::Location::caller();
        wait_for("the child's progress", || self.mb().progress.load(Ordering::Acquire) >= at_least).map_err(|e| {
            // Say where the child's thread is, for a report.
            let state = thread_state_of(&self.image.thread);
            let stats = info_thread_stats(&self.image.thread).unwrap_or(InfoThreadStats {
                total_runtime: -1,
                last_scheduled_cpu: u32::MAX,
            });
            let process = info_process(self.process());
            Failure::new(format_args!(
                "{e}; progress {} < {at_least}; child thread state {state:#x}, runtime {} ns, last cpu {:#x}; process {process:?} (line {})",
                self.mb().progress.load(Ordering::Acquire),
                stats.total_runtime,
                stats.last_scheduled_cpu,
                location.line()
            ))
        })
    }

    /// Waits for the child's end and gives its ZX_INFO_PROCESS.
    #[track_caller]
    fn wait_end(&self) -> Result<InfoProcess, Failure> {
        wait_end(self.process(), "child process")?;
        check_ok(info_process(self.process()), "ZX_INFO_PROCESS")
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = task_kill(self.process());
        let _ = wait_terminated(self.process(), seconds(TIMEOUT_S));
    }
}

/// Ends the `test NAME ... ` line before children print the kernel's `user fault:` lines;
/// [`fault_lines_done`] starts the line the verdict goes on.
fn fault_lines_follow() {
    println!();
}

fn fault_lines_done() {
    print!("    ... ");
}

/// TPIDR_EL0 of the calling thread.
fn tpidr() -> u64 {
    let value: u64;
    // SAFETY: EL0 may read its own thread pointer.
    unsafe { core::arch::asm!("mrs {}, tpidr_el0", out(reg) value, options(nomem, nostack)) };
    value
}

fn set_tpidr(value: u64) {
    // SAFETY: the thread pointer is ours; nothing in this program uses it for TLS.
    unsafe { core::arch::asm!("msr tpidr_el0, {}", in(reg) value, options(nomem, nostack)) };
}

// ---------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------

fn thread_start_run_exit_join(_ctx: &Ctx) -> TestResult {
    // Returning from the function and calling zx_thread_exit directly both end a thread.
    let counter = AtomicU32::new(0);
    let returns = check_ok(
        thread::spawn(
            "returns",
            |c: &AtomicU32| {
                c.fetch_add(1, Ordering::AcqRel);
            },
            &counter,
        ),
        "spawn",
    )?;
    let exits = check_ok(
        thread::spawn(
            "exits",
            |c: &AtomicU32| {
                c.fetch_add(10, Ordering::AcqRel);
                thread_exit();
            },
            &counter,
        ),
        "spawn",
    )?;
    check_ok(returns.join(), "join")?;
    check_ok(exits.join(), "join")?;
    check_eq(counter.load(Ordering::Acquire), 11, "both threads ran once")?;

    // Eight at once, each adding 1000.
    let total = AtomicU32::new(0);
    let add = |t: &AtomicU32| {
        for _ in 0..1000 {
            t.fetch_add(1, Ordering::Relaxed);
        }
    };
    let mut threads: [Option<Thread<'_>>; 8] = Default::default();
    for slot in threads.iter_mut() {
        *slot = Some(check_ok(thread::spawn("adder", add, &total), "spawn adder")?);
    }
    for t in threads.iter_mut() {
        if let Some(t) = t.take() {
            check_ok(t.join(), "join adder")?;
        }
    }
    check_eq(total.load(Ordering::Acquire), 8000, "eight threads' sums")
}

/// A futex gate: threads wait until it is opened.
struct Gate(AtomicI32);

impl Gate {
    const fn new() -> Gate {
        Gate(AtomicI32::new(0))
    }
    fn wait(&self) {
        while self.0.load(Ordering::Acquire) == 0 {
            let _ = futex_wait(&self.0, 0, 0, TIME_INFINITE);
        }
    }
    fn open(&self) {
        self.0.store(1, Ordering::Release);
        let _ = futex_wake(&self.0, u32::MAX);
    }
}

fn thread_states_and_signals(ctx: &Ctx) -> TestResult {
    let t = check_ok(Thread::create("states"), "create")?;
    let basic = check_ok(info_handle_basic(t.handle()), "HANDLE_BASIC")?;
    check_eq(basic.obj_type, OBJ_TYPE_THREAD, "type")?;
    check_hex(basic.rights as u64, rights::DEFAULT_THREAD as u64, "rights")?;
    check_eq(basic.related_koid, check_ok(koid_of(ctx.process()), "own koid")?, "related koid: the process")?;
    check_eq(basic.props, 1, "waitable")?;
    let name = check_ok(get_name(t.handle()), "name")?;
    check(name.starts_with(b"states\0"), "ZX_PROP_NAME is the name given")?;
    check_hex(thread_state_of(t.handle()) as u64, thread_state::NEW as u64, "state of a NEW thread")?;
    check_hex(signals_now(t.handle()) as u64, 0, "signals of a NEW thread")?;
    check(!contains(ctx.process(), info::PROCESS_THREADS, basic.koid)?, "a NEW thread is not in PROCESS_THREADS")?;
    let stats = check_ok(info_thread_stats(t.handle()), "THREAD_STATS")?;
    check_hex(stats.last_scheduled_cpu as u64, 0xFFFF_FFFF, "last CPU of a thread that never ran")?;

    let gate = Gate::new();
    let mut running = check_ok(t.start(|g: &Gate| g.wait(), &gate), "start")?;
    wait_for("BLOCKED_FUTEX", || thread_state_of(running.handle()) == thread_state::BLOCKED_FUTEX)?;
    let now = signals_now(running.handle());
    check_hex(now as u64, THREAD_RUNNING as u64, "signals of a running (blocked) thread")?;
    check(contains(ctx.process(), info::PROCESS_THREADS, basic.koid)?, "a started thread is in PROCESS_THREADS")?;
    gate.open();
    check_ok(running.join_until(seconds(TIMEOUT_S)), "join")?;
    check_hex(signals_now(running.handle()) as u64, TASK_TERMINATED as u64, "signals of a dead thread")?;
    check_hex(thread_state_of(running.handle()) as u64, thread_state::DEAD as u64, "state of a dead thread")?;
    check(!contains(ctx.process(), info::PROCESS_THREADS, basic.koid)?, "a dead thread left PROCESS_THREADS")?;
    check_status(thread_start(running.handle(), 0x40_0000, 0, 0, 0), ZX_ERR_BAD_STATE, "starting a dead thread")?;
    let stats = check_ok(info_thread_stats(running.handle()), "THREAD_STATS of a dead thread")?;
    check(stats.last_scheduled_cpu < cpus() as u32, "its last CPU is an online one")?;
    check(stats.total_runtime > 0, "it ran for some time")
}

/// The record `probe_entry` writes: x0..x30, SP, NZCV, TPIDR_EL0, FPCR, FPSR,
/// TPIDRRO_EL0, a pad, then q0..q31 (as 64 words).
#[repr(C, align(16))]
struct Registers([u64; 102]);

const REG_SP: usize = 31;
const REG_NZCV: usize = 32;
const REG_TPIDR: usize = 33;
const REG_FPCR: usize = 34;
const REG_FPSR: usize = 35;
const REG_TPIDRRO: usize = 36;
const REG_Q0: usize = 38;

// `probe_entry`: a thread entry that stores every register it started with at x1, then
// ends with zx_thread_exit. `start_dirty`: zx_thread_start (x0..x4 as the call takes them)
// with this thread's own TPIDR_EL0, FPCR, FPSR, NZCV, q0..q31 and x5..x15 made nonzero
// first, so a new thread that inherited any of them would show it; it clears TPIDR_EL0,
// FPCR and FPSR again before returning. `fp_churn(pattern, rounds)`: fills q0..q31, FPCR
// and FPSR from `pattern`, yields (`zx_nanosleep(0)`) and spins `rounds` times, and
// returns how many of them changed meanwhile. The program is soft-float, so only these
// routines touch the FP/SIMD registers.
core::arch::global_asm!(
    ".arch_extension fp",
    ".arch_extension simd",
    ".text",
    ".global probe_entry",
    ".type probe_entry, %function",
    "probe_entry:",
    "    stp x0, x1, [x1, #0]",
    "    stp x2, x3, [x1, #16]",
    "    stp x4, x5, [x1, #32]",
    "    stp x6, x7, [x1, #48]",
    "    stp x8, x9, [x1, #64]",
    "    stp x10, x11, [x1, #80]",
    "    stp x12, x13, [x1, #96]",
    "    stp x14, x15, [x1, #112]",
    "    stp x16, x17, [x1, #128]",
    "    stp x18, x19, [x1, #144]",
    "    stp x20, x21, [x1, #160]",
    "    stp x22, x23, [x1, #176]",
    "    stp x24, x25, [x1, #192]",
    "    stp x26, x27, [x1, #208]",
    "    stp x28, x29, [x1, #224]",
    "    str x30, [x1, #240]",
    "    mov x2, sp",
    "    str x2, [x1, #248]",
    "    mrs x2, nzcv",
    "    str x2, [x1, #256]",
    "    mrs x2, tpidr_el0",
    "    str x2, [x1, #264]",
    "    mrs x2, fpcr",
    "    str x2, [x1, #272]",
    "    mrs x2, fpsr",
    "    str x2, [x1, #280]",
    "    mrs x2, tpidrro_el0",
    "    str x2, [x1, #288]",
    "    add x2, x1, #304",
    "    stp q0, q1, [x2, #0]",
    "    stp q2, q3, [x2, #32]",
    "    stp q4, q5, [x2, #64]",
    "    stp q6, q7, [x2, #96]",
    "    stp q8, q9, [x2, #128]",
    "    stp q10, q11, [x2, #160]",
    "    stp q12, q13, [x2, #192]",
    "    stp q14, q15, [x2, #224]",
    "    stp q16, q17, [x2, #256]",
    "    stp q18, q19, [x2, #288]",
    "    stp q20, q21, [x2, #320]",
    "    stp q22, q23, [x2, #352]",
    "    stp q24, q25, [x2, #384]",
    "    stp q26, q27, [x2, #416]",
    "    stp q28, q29, [x2, #448]",
    "    stp q30, q31, [x2, #480]",
    "    mov x16, #{thread_exit}",
    "    svc #0",
    "    brk #0x1",
    ".size probe_entry, . - probe_entry",
    "",
    ".global start_dirty",
    ".type start_dirty, %function",
    "start_dirty:",
    "    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    movi v\\n\\().16b, #0xa5",
    "    .endr",
    "    mov x9, #0x7777",
    "    msr tpidr_el0, x9",
    "    movz x9, #0x3c0, lsl #16",
    "    msr fpcr, x9",
    "    mov x9, #0x1f",
    "    msr fpsr, x9",
    "    movz x9, #0xf000, lsl #16",
    "    msr nzcv, x9",
    "    mov x5, #0x55",
    "    mov x6, #0x66",
    "    mov x7, #0x77",
    "    mov x8, #0x88",
    "    mov x9, #0x99",
    "    mov x10, #0xaa",
    "    mov x11, #0xbb",
    "    mov x12, #0xcc",
    "    mov x13, #0xdd",
    "    mov x14, #0xee",
    "    mov x15, #0xff",
    "    mov x16, #{thread_start}",
    "    svc #0",
    "    msr fpcr, xzr",
    "    msr fpsr, xzr",
    "    msr tpidr_el0, xzr",
    "    ret",
    ".size start_dirty, . - start_dirty",
    "",
    ".global fp_churn",
    ".type fp_churn, %function",
    "fp_churn:",
    "    stp x19, x20, [sp, #-16]!",
    "    mov x19, x0",
    "    mov x20, x1",
    "    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    add x9, x19, #\\n, lsl #12",
    "    dup v\\n\\().2d, x9",
    "    .endr",
    "    ubfiz x9, x19, #22, #3",
    "    msr fpcr, x9",
    "    and x9, x19, #0x1f",
    "    msr fpsr, x9",
    "1:  mov x0, #0",
    "    mov x16, #{nanosleep}",
    "    svc #0",
    "    mov x10, #3000",
    "2:  subs x10, x10, #1",
    "    b.ne 2b",
    "    subs x20, x20, #1",
    "    b.ne 1b",
    "    mov x11, #0",
    "    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31",
    "    add x9, x19, #\\n, lsl #12",
    "    mov x12, v\\n\\().d[0]",
    "    cmp x12, x9",
    "    cinc x11, x11, ne",
    "    mov x12, v\\n\\().d[1]",
    "    cmp x12, x9",
    "    cinc x11, x11, ne",
    "    .endr",
    "    mrs x12, fpcr",
    "    ubfiz x9, x19, #22, #3",
    "    cmp x12, x9",
    "    cinc x11, x11, ne",
    "    mrs x12, fpsr",
    "    and x9, x19, #0x1f",
    "    cmp x12, x9",
    "    cinc x11, x11, ne",
    "    msr fpcr, xzr",
    "    msr fpsr, xzr",
    "    mov x0, x11",
    "    ldp x19, x20, [sp], #16",
    "    ret",
    ".size fp_churn, . - fp_churn",
    thread_exit = const nr::THREAD_EXIT,
    thread_start = const nr::THREAD_START,
    nanosleep = const nr::NANOSLEEP,
);

unsafe extern "C" {
    fn probe_entry();
    fn start_dirty(thread: u64, entry: u64, stack: u64, arg1: u64, arg2: u64) -> i64;
    fn fp_churn(pattern: u64, rounds: u64) -> u64;
}

fn thread_start_registers(_ctx: &Ctx) -> TestResult {
    const MAGIC: u64 = 0x1234_5678_9ABC_DEF0;
    let mut record = Registers([0xEEEE_EEEE_EEEE_EEEE; 102]);
    let record_addr = core::ptr::from_mut(&mut record) as usize as u64;
    let mut t = check_ok(Thread::create("regs"), "create")?;
    let entry = probe_entry as *const () as usize as u64;
    // SAFETY: `probe_entry` writes only the 816-byte record at x1 (alive until the join
    // below) and ends with zx_thread_exit; `start_dirty` changes only registers the AAPCS
    // lets a callee change (and the FP/SIMD ones, which this soft-float program leaves
    // alone), and puts TPIDR_EL0, FPCR and FPSR back to 0.
    let status = unsafe { start_dirty(t.raw() as u64, entry, t.stack_top(), MAGIC, record_addr) };
    check_status(status as i32, ZX_OK, "zx_thread_start")?;
    check_ok(t.join_until(seconds(TIMEOUT_S)), "join")?;
    // SAFETY: the thread that wrote the record has ended (TERMINATED was observed).
    let r = unsafe { core::ptr::read_volatile(&raw const record.0) };
    check_hex(r[0], MAGIC, "x0 = arg1")?;
    check_hex(r[1], record_addr, "x1 = arg2")?;
    for (i, value) in r.iter().enumerate().take(31).skip(2) {
        if *value != 0 {
            fail!("x{i} = {value:#x} at entry, want 0");
        }
    }
    check_hex(r[REG_SP], t.stack_top(), "sp = the stack given")?;
    check_hex(r[REG_NZCV], 0, "NZCV")?;
    check_hex(r[REG_TPIDR], 0, "TPIDR_EL0")?;
    check_hex(r[REG_FPCR], 0, "FPCR")?;
    check_hex(r[REG_FPSR], 0, "FPSR")?;
    check_hex(r[REG_TPIDRRO], 0, "TPIDRRO_EL0")?;
    for q in 0..32 {
        let (lo, hi) = (r[REG_Q0 + 2 * q], r[REG_Q0 + 2 * q + 1]);
        if lo != 0 || hi != 0 {
            fail!("q{q} = {hi:#x}:{lo:#x} at entry, want 0");
        }
    }
    check_hex(tpidr(), 0, "our own TPIDR_EL0 is back to 0")
}

struct TpidrShared {
    mismatches: AtomicU32,
    next: AtomicU32,
}

fn tpidr_worker(shared: &TpidrShared) {
    let me = shared.next.fetch_add(1, Ordering::AcqRel) as u64;
    let mine = 0x7150_0000_0000_0000 | (me << 8) | 0x11;
    set_tpidr(mine);
    for round in 0..60 {
        let _ = nanosleep(0);
        for _ in 0..(round % 5) * 500 {
            core::hint::spin_loop();
        }
        if tpidr() != mine {
            shared.mismatches.fetch_add(1, Ordering::AcqRel);
        }
    }
}

fn thread_tpidr_el0_is_per_thread(_ctx: &Ctx) -> TestResult {
    let shared = TpidrShared { mismatches: AtomicU32::new(0), next: AtomicU32::new(0) };
    let count = (cpus() as usize + 2).clamp(3, 6);
    let mut threads: [Option<Thread<'_>>; 6] = Default::default();
    for slot in threads.iter_mut().take(count) {
        *slot = Some(check_ok(thread::spawn("tpidr", tpidr_worker, &shared), "spawn")?);
    }
    set_tpidr(0xAAAA_5555);
    for _ in 0..60 {
        let _ = nanosleep(0);
    }
    let mine = tpidr();
    set_tpidr(0);
    for t in threads.iter_mut() {
        if let Some(t) = t.take() {
            check_ok(t.join(), "join")?;
        }
    }
    check_hex(mine, 0xAAAA_5555, "the main thread's TPIDR_EL0 after the others ran")?;
    check_eq(shared.mismatches.load(Ordering::Acquire), 0, "TPIDR_EL0 changes seen by the threads")
}

struct FpShared {
    mismatches: AtomicU64,
    next: AtomicU64,
}

fn fp_pattern(index: u64) -> u64 {
    // Distinct high bits per thread; the low bits give FPCR/FPSR values; q<n> gets
    // pattern + n << 12.
    ((index + 1).wrapping_mul(0x0102_0304_0506_0000) & !0xFFFF) | (index & 0x1F)
}

fn fp_worker(shared: &FpShared) {
    let me = shared.next.fetch_add(1, Ordering::AcqRel);
    // SAFETY: fp_churn touches only registers (the FP/SIMD ones, which this soft-float
    // program does not otherwise use) and restores the callee-saved ones it uses.
    let bad = unsafe { fp_churn(fp_pattern(me), 40) };
    shared.mismatches.fetch_add(bad, Ordering::AcqRel);
}

fn thread_fp_simd_state_is_per_thread(_ctx: &Ctx) -> TestResult {
    let shared = FpShared { mismatches: AtomicU64::new(1), next: AtomicU64::new(1) };
    shared.mismatches.store(0, Ordering::Release);
    let count = (cpus() as usize * 2).clamp(3, 8);
    let mut threads: [Option<Thread<'_>>; 8] = Default::default();
    for slot in threads.iter_mut().take(count) {
        *slot = Some(check_ok(thread::spawn("fp", fp_worker, &shared), "spawn")?);
    }
    // The main thread churns too (pattern index 0).
    // SAFETY: as in fp_worker.
    let own = unsafe { fp_churn(fp_pattern(0), 40) };
    for t in threads.iter_mut() {
        if let Some(t) = t.take() {
            check_ok(t.join(), "join")?;
        }
    }
    check_eq(own, 0, "the main thread's FP/SIMD registers, FPCR and FPSR changed")?;
    check_eq(shared.mismatches.load(Ordering::Acquire), 0, "other threads' FP/SIMD registers, FPCR and FPSR changed")
}

fn thread_argument_errors(ctx: &Ctx) -> TestResult {
    let me = ctx.process();
    check_status(thread_create(me, "x", 1), ZX_ERR_INVALID_ARGS, "options 1")?;
    // SAFETY: a NULL name; the out-pointer is ours.
    let mut out = 0u32;
    let status = unsafe { sys::call_status(nr::THREAD_CREATE, [me as u64, 0, 0, 0, addr_of(&raw mut out)]) };
    check_status(status, ZX_ERR_INVALID_ARGS, "NULL name, size 0")?;
    check_status(thread_create(0x1234_5677u32, "x", 0), ZX_ERR_BAD_HANDLE, "bogus handle")?;
    let vmo = check_ok(vmo_create(PAGE_SIZE, 0), "vmo")?;
    check_status(thread_create(&vmo, "x", 0), ZX_ERR_WRONG_TYPE, "a VMO handle")?;
    let weak = check_ok(handle_duplicate(me, rights::BASIC | rights::READ), "dup without MANAGE_THREAD")?;
    check_status(thread_create(&weak, "x", 0), ZX_ERR_ACCESS_DENIED, "no MANAGE_THREAD")?;
    // A 40-byte name is cut to 31 bytes.
    let long = check_ok(thread_create(me, "0123456789abcdefghijklmnopqrstuvwxyzABCD", 0), "long name")?;
    let name = check_ok(get_name(&long), "name")?;
    check(&name[..31] == b"0123456789abcdefghijklmnopqrstu" && name[31] == 0, "name cut to 31 bytes")?;

    let t = check_ok(Thread::create("args"), "create")?;
    check_status(thread_start(t.handle(), USER_END, t.stack_top(), 0, 0), ZX_ERR_INVALID_ARGS, "entry 2^47")?;
    check_status(
        thread_start(t.handle(), 0xFFFF_0000_0000_1000, t.stack_top(), 0, 0),
        ZX_ERR_INVALID_ARGS,
        "kernel entry",
    )?;
    check_status(
        thread_start(t.handle(), USER_BASE - 4, t.stack_top(), 0, 0),
        ZX_ERR_INVALID_ARGS,
        "entry below user space",
    )?;
    let no_manage = check_ok(handle_duplicate(t.handle(), rights::BASIC | rights::READ), "dup")?;
    check_status(thread_start(&no_manage, 0x40_0000, 0, 0, 0), ZX_ERR_ACCESS_DENIED, "start without MANAGE_THREAD")?;
    check_status(thread_start(&vmo, 0x40_0000, 0, 0, 0), ZX_ERR_WRONG_TYPE, "start a VMO")?;
    check_hex(thread_state_of(t.handle()) as u64, thread_state::NEW as u64, "still NEW after failed starts")?;

    // A thread of a process that was never started cannot start.
    let (process, _vmar) = check_ok(process_create(ctx.root_job(), "never-started", 0), "process_create")?;
    let other = check_ok(thread_create(&process, "t", 0), "thread in a NEW process")?;
    check_status(thread_start(&other, 0x40_0000, 0, 0, 0), ZX_ERR_BAD_STATE, "thread_start in a NEW process")?;
    Ok(())
}

struct SelfKill {
    gate: Gate,
    handle: AtomicU32,
    after: AtomicU32,
}

fn kill_myself(k: &SelfKill) {
    k.gate.wait();
    let _ = task_kill(k.handle.load(Ordering::Acquire));
    // zx_task_kill of the caller's own thread does not return.
    k.after.store(1, Ordering::Release);
}

fn thread_kill_itself_and_kill_errors(_ctx: &Ctx) -> TestResult {
    let k = SelfKill { gate: Gate::new(), handle: AtomicU32::new(0), after: AtomicU32::new(0) };
    let mut t = check_ok(thread::spawn("suicide", kill_myself, &k), "spawn")?;
    k.handle.store(t.raw(), Ordering::Release);
    k.gate.open();
    check_ok(t.join_until(seconds(TIMEOUT_S)), "the thread ended")?;
    check_eq(k.after.load(Ordering::Acquire), 0, "code after killing itself ran")?;

    check_status(task_kill(0x0BAD_0003u32), ZX_ERR_BAD_HANDLE, "bogus handle")?;
    let vmo = check_ok(vmo_create(PAGE_SIZE, 0), "vmo")?;
    check_status(task_kill(&vmo), ZX_ERR_ACCESS_DENIED, "a VMO (no DESTROY right): ACCESS_DENIED before the type")?;
    let victim = check_ok(Thread::create("victim"), "create")?;
    let no_destroy = check_ok(handle_duplicate(victim.handle(), rights::BASIC | rights::INSPECT), "dup")?;
    check_status(task_kill(&no_destroy), ZX_ERR_ACCESS_DENIED, "a thread handle without DESTROY")?;
    check_hex(thread_state_of(victim.handle()) as u64, thread_state::NEW as u64, "still NEW")?;
    Ok(())
}

fn thread_kill_new(_ctx: &Ctx) -> TestResult {
    let t = check_ok(Thread::create("kill-new"), "create")?;
    check_ok(task_kill(t.handle()), "kill")?;
    let (status, observed) = object_wait_one(t.handle(), TASK_TERMINATED, 0);
    check_status(status, ZX_OK, "TERMINATED as soon as the kill returned")?;
    check_hex(observed as u64, TASK_TERMINATED as u64, "signals")?;
    check_hex(thread_state_of(t.handle()) as u64, thread_state::DEAD as u64, "state")?;
    check_status(thread_start(t.handle(), 0x40_0000, t.stack_top(), 0, 0), ZX_ERR_BAD_STATE, "start after kill")?;
    check_ok(task_kill(t.handle()), "killing it again")
}

fn spin_counting(counter: &AtomicU64) {
    loop {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn thread_kill_running(_ctx: &Ctx) -> TestResult {
    let counter = AtomicU64::new(0);
    let mut t = check_ok(thread::spawn("spinner", spin_counting, &counter), "spawn")?;
    wait_for("the spinner to count", || counter.load(Ordering::Relaxed) > 1000)?;
    check_ok(t.kill(), "kill")?;
    check_ok(t.join_until(seconds(TIMEOUT_S)), "TERMINATED after the kill")?;
    let after = counter.load(Ordering::Acquire);
    sleep_ns(20_000_000);
    check_eq(counter.load(Ordering::Acquire), after, "the counter after the thread died")?;
    check_hex(thread_state_of(t.handle()) as u64, thread_state::DEAD as u64, "state")
}

struct Blocker {
    how: u32,
    event: u32,
    word: AtomicI32,
    returned: AtomicU32,
}

fn block_forever(b: &Blocker) {
    match b.how {
        0 => drop(futex_wait(&b.word, 0, 0, TIME_INFINITE)),
        1 => drop(object_wait_one(b.event, EVENT_SIGNALED, TIME_INFINITE)),
        2 => drop(nanosleep(TIME_INFINITE)),
        _ => drop(object_wait_many(&mut [], TIME_INFINITE)),
    }
    // A killed thread never runs EL0 code again.
    b.returned.store(1, Ordering::Release);
}

fn thread_kill_blocked(_ctx: &Ctx) -> TestResult {
    let event = check_ok(event_create(0), "event")?;
    let states = [
        thread_state::BLOCKED_FUTEX,
        thread_state::BLOCKED_WAIT_ONE,
        thread_state::BLOCKED_SLEEPING,
        thread_state::BLOCKED_WAIT_MANY,
    ];
    for (how, state) in states.iter().enumerate() {
        let b = Blocker { how: how as u32, event: event.raw(), word: AtomicI32::new(0), returned: AtomicU32::new(0) };
        let mut t = check_ok(thread::spawn("blocked", block_forever, &b), "spawn")?;
        wait_for("the blocked state", || thread_state_of(t.handle()) == *state)?;
        check_ok(t.kill(), "kill")?;
        check_ok(t.join_until(seconds(TIMEOUT_S)), "TERMINATED after killing a blocked thread")?;
        check_eq(b.returned.load(Ordering::Acquire), 0, "the killed thread ran on after its syscall")?;
        check_hex(thread_state_of(t.handle()) as u64, thread_state::DEAD as u64, "state")?;
    }
    // The futex has no waiter left (waking it finds nobody; OK either way).
    Ok(())
}

struct Churn {
    word: AtomicI32,
    waits: AtomicU64,
}

/// Enters an infinite futex wait again each time it is woken.
fn wait_again_and_again(c: &Churn) {
    loop {
        c.waits.fetch_add(1, Ordering::Relaxed);
        let _ = futex_wait(&c.word, 0, 0, TIME_INFINITE);
    }
}

/// A kill that lands while a thread is on its way into a wait (between the kernel's
/// check for a pending kill and the thread being queued as blocked) must still end it.
/// Another thread keeps waking the victim, so it is nearly always on that path, then
/// kills it and stops waking it: a victim that then blocks for good never ends.
fn thread_kill_races_entering_a_wait(_ctx: &Ctx) -> TestResult {
    let rounds = 300u64;
    let mut stuck = 0u64;
    let end = seconds(TIMEOUT_S);
    let mut done = 0u64;
    for round in 0..rounds {
        if clock_get_monotonic() > end {
            break;
        }
        let c = Churn { word: AtomicI32::new(0), waits: AtomicU64::new(0) };
        let mut t = check_ok(thread::spawn("churn", wait_again_and_again, &c), "spawn")?;
        wait_for("the victim to wait", || c.waits.load(Ordering::Relaxed) > 0)?;
        for _ in 0..(round % 5) + 1 {
            let _ = futex_wake(&c.word, 1);
        }
        // Then a varying pause, so the kill lands at every point of the victim's way
        // back into the wait.
        let pause = (round * 7919) % 4000;
        for _ in 0..pause {
            core::hint::spin_loop();
        }
        check_ok(t.kill(), "kill")?;
        // A kill ends a thread within a time slice; 5 s allows for a busy host.
        if t.join_until(seconds(5)).is_err() {
            stuck += 1;
            // Wake it so it can notice the kill, and go on.
            let _ = futex_wake(&c.word, u32::MAX);
            check_ok(t.join_until(seconds(TIMEOUT_S)), "join after an extra wake")?;
        }
        done += 1;
    }
    if stuck > 0 {
        fail!(
            "{stuck} of {done} threads killed on their way into zx_futex_wait stayed blocked (not TERMINATED after 5 s)"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

fn process_start_and_exit_code(ctx: &Ctx) -> TestResult {
    let job_koid = check_ok(koid_of(ctx.root_job()), "root job koid")?;
    for code in [42i64, -7, 0x1_0000_0001] {
        let child = Child::new(ctx, ctx.root_job(), "exit-child", CMD_EXIT, &[code as u64])?;
        let basic = check_ok(info_handle_basic(child.process()), "HANDLE_BASIC")?;
        check_eq(basic.obj_type, OBJ_TYPE_PROCESS, "type")?;
        check_hex(basic.rights as u64, rights::DEFAULT_PROCESS as u64, "process rights")?;
        check_eq(basic.related_koid, job_koid, "related koid: its job")?;
        check_hex(check_ok(rights_of(&child.image.vmar), "vmar rights")? as u64, 0x801F, "root VMAR rights")?;
        let vmar = check_ok(info_vmar(&child.image.vmar), "INFO_VMAR")?;
        check_eq((vmar.base, vmar.len), (USER_BASE, USER_END - USER_BASE), "the child's root VMAR")?;
        let thread_basic = check_ok(info_handle_basic(&child.image.thread), "thread HANDLE_BASIC")?;
        check_eq(thread_basic.related_koid, basic.koid, "thread's related koid")?;
        check(check_ok(get_name(child.process()), "name")?.starts_with(b"exit-child\0"), "process name")?;
        let before = check_ok(info_process(child.process()), "INFO_PROCESS")?;
        check_eq((before.return_code, before.started, before.exited), (0, false, false), "a NEW process")?;
        check(contains(ctx.root_job(), info::JOB_PROCESSES, basic.koid)?, "a NEW process is in JOB_PROCESSES")?;
        check_hex(signals_now(child.process()) as u64, 0, "signals of a NEW process")?;

        child.start(0)?;
        let info = child.wait_end()?;
        check_eq((info.return_code, info.started, info.exited), (code, true, true), "after zx_process_exit")?;
        check(!info.debugger_attached, "debugger_attached")?;
        check_hex(signals_now(child.process()) as u64, TASK_TERMINATED as u64, "signals of a dead process")?;
        check_hex(signals_now(&child.image.thread) as u64, TASK_TERMINATED as u64, "signals of its dead thread")?;
        check(!contains(ctx.root_job(), info::JOB_PROCESSES, basic.koid)?, "a dead process left JOB_PROCESSES")?;
        let (_, n) = koids(child.process(), info::PROCESS_THREADS)?;
        check_eq(n, 0, "PROCESS_THREADS of a dead process")?;
        // A thread can still be made in a dead process, but never started.
        let late = check_ok(thread_create(child.process(), "late", 0), "thread_create in a dead process")?;
        check_status(thread_start(&late, child.image.entry, 0, 0, 0), ZX_ERR_BAD_STATE, "starting it")?;
    }
    Ok(())
}

fn process_last_thread_exit_ends_it_with_zero(ctx: &Ctx) -> TestResult {
    let child = Child::spawn(ctx, ctx.root_job(), "thread-exit", CMD_THREAD_EXIT, &[], 0)?;
    let info = child.wait_end()?;
    check_eq(info.return_code, 0, "return code after the last thread's zx_thread_exit")?;
    // Killing the only thread of a running process ends it with 0 too.
    let spinner = Child::spawn(ctx, ctx.root_job(), "thread-killed", CMD_SPIN, &[], 0)?;
    spinner.wait_progress(1)?;
    check_ok(task_kill(&spinner.image.thread), "kill the thread")?;
    let info = spinner.wait_end()?;
    check_eq(info.return_code, 0, "return code after its last thread was killed")
}

fn process_exit_kills_its_threads(ctx: &Ctx) -> TestResult {
    // zx_process_exit from the main thread while three more spin.
    let child = Child::new(ctx, ctx.root_job(), "exit-threads", CMD_THREADS, &[3, 0, 77])?;
    let me = check_ok(handle_duplicate(child.process(), rights::SAME_RIGHTS), "dup")?;
    child.start(me.into_raw())?;
    let info = child.wait_end()?;
    check_eq(info.return_code, 77, "return code of zx_process_exit with threads running")?;
    check_eq(child.mb().progress.load(Ordering::Acquire), 1, "the child started its threads")?;

    // Every thread ends by itself: the process ends with 0 after the last one.
    let child = Child::new(ctx, ctx.root_job(), "all-exit", CMD_THREADS, &[3, 1, 0])?;
    let me = check_ok(handle_duplicate(child.process(), rights::SAME_RIGHTS), "dup")?;
    child.start(me.into_raw())?;
    child.wait_progress(1)?;
    wait_for("the spinners to count", || (0..3).all(|i| child.mb().results[i].load(Ordering::Relaxed) > 0))?;
    let (list, n) = koids(child.process(), info::PROCESS_THREADS)?;
    check_eq(n, 4, "PROCESS_THREADS of a process with four threads")?;
    check_eq(list[0], check_ok(koid_of(&child.image.thread), "koid")?, "the first thread comes first")?;
    child.mb().phase.store(1, Ordering::Release);
    let info = child.wait_end()?;
    check_eq(info.return_code, 0, "return code after every thread exited")
}

fn process_read_write_memory(ctx: &Ctx) -> TestResult {
    let child = Child::new(ctx, ctx.root_job(), "memory", CMD_MEMORY, &[])?;
    let at = child.image.stack_base + 256;
    let mb = child.mb();
    mb.args[0].store(at, Ordering::Release);
    mb.args[1].store(64, Ordering::Release);
    mb.args[2].store(1024, Ordering::Release);
    let p = child.process();
    // Before the start: a NEW process's memory can be written and read.
    let mut data = [0u8; 64];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(7).wrapping_add(3);
    }
    check_eq(check_ok(process_write_memory(p, at, &data), "write_memory")?, 64, "bytes written")?;
    child.start(0)?;
    mb.phase.store(1, Ordering::Release);
    child.wait_progress(1)?;
    let mut out = [0u8; 64];
    check_eq(check_ok(process_read_memory(p, at + 1024, &mut out), "read_memory")?, 64, "bytes read")?;
    for i in 0..64 {
        check_eq(out[i], data[i] ^ 0x5A, "the child's answer")?;
    }
    // The child's code, read through its R+X mapping, is the program's bytes.
    let image = child_image(ctx)?;
    let elf = loader::parse_elf(image).ok_or_else(|| Failure::new(format_args!("parse")))?;
    let text = elf.segments[..elf.count].iter().find(|s| s.flags & 1 != 0).copied().unwrap_or_default();
    let mut code = [0u8; 32];
    check_ok(process_read_memory(p, text.vaddr, &mut code), "read the child's text")?;
    check(code[..] == image[text.offset as usize..text.offset as usize + 32], "text bytes")?;
    // A read stops at the end of the mapping that holds vaddr.
    let end = child.image.stack_top();
    let mut big = [0u8; 300];
    check_eq(check_ok(process_read_memory(p, end - 100, &mut big), "read at a mapping's end")?, 100, "actual")?;
    check_status(process_read_memory(p, USER_BASE, &mut big), ZX_ERR_NO_MEMORY, "read of an unmapped address")?;
    check_status(process_read_memory(p, at, &mut []), ZX_ERR_INVALID_ARGS, "0 bytes")?;
    let read_only = check_ok(handle_duplicate(p, rights::READ | rights::INSPECT), "dup")?;
    check_status(process_read_memory(&read_only, at, &mut out), ZX_ERR_ACCESS_DENIED, "read without WRITE")?;
    let write_only = check_ok(handle_duplicate(p, rights::WRITE), "dup")?;
    check_ok(process_write_memory(&write_only, at, &data[..1]), "write with WRITE alone")?;

    mb.phase.store(2, Ordering::Release);
    let info = child.wait_end()?;
    let sum: i64 = data.iter().map(|&b| b as i64).sum();
    check_eq(info.return_code, sum, "the child's sum of what we wrote")?;
    check_status(process_read_memory(p, at, &mut out), ZX_ERR_BAD_STATE, "read of a dead process")?;
    check_status(process_write_memory(p, at, &data), ZX_ERR_BAD_STATE, "write to a dead process")?;
    Ok(())
}

fn process_start_moves_arg1(ctx: &Ctx) -> TestResult {
    let (ours, theirs) = check_ok(eventpair_create(0), "eventpair")?;
    let theirs = theirs.into_raw();
    let child = Child::new(ctx, ctx.root_job(), "signals", CMD_SIGNAL, &[])?;
    // A wait through the handle that zx_process_start moves away ends with CANCELED.
    let w = OneWaiter {
        handle: theirs,
        signals: USER_SIGNAL_0 << 5,
        status: AtomicI32::new(1),
        observed: AtomicU32::new(0),
    };
    let mut waiter = check_ok(thread::spawn("waiter", wait_one_in_thread, &w), "spawn")?;
    wait_for("BLOCKED_WAIT_ONE", || thread_state_of(waiter.handle()) == thread_state::BLOCKED_WAIT_ONE)?;
    child.start(theirs)?;
    check_status(handle_valid(theirs), ZX_ERR_BAD_HANDLE, "the moved handle left our table")?;
    check_ok(waiter.join_until(seconds(TIMEOUT_S)), "join the waiter")?;
    check_status(w.status.load(Ordering::Acquire), ZX_ERR_CANCELED, "a wait through the moved handle")?;
    check(w.observed.load(Ordering::Acquire) & SIGNAL_HANDLE_CLOSED != 0, "HANDLE_CLOSED observed")?;
    let (status, observed) = object_wait_one(&ours, USER_SIGNAL_0, seconds(TIMEOUT_S));
    check_status(status, ZX_OK, "the child signalled us through the moved handle")?;
    check_eq(observed & PEER_CLOSED, 0, "peer still open")?;
    check_ok(object_signal_peer(&ours, 0, USER_SIGNAL_0 << 1), "signal the child")?;
    let info = child.wait_end()?;
    check_eq(info.return_code, 5, "the child saw our signal")?;
    // The child's handle table was closed before TERMINATED: our end sees PEER_CLOSED.
    let (status, _) = object_wait_one(&ours, PEER_CLOSED, 0);
    check_status(status, ZX_OK, "PEER_CLOSED once the child is dead")
}

fn process_closing_handles(ctx: &Ctx) -> TestResult {
    // A NEW process whose last handle is closed is dead and gone from its job at once.
    let job = check_ok(job_create(ctx.root_job(), 0), "job")?;
    let (process, vmar) = check_ok(process_create(&job, "unstarted", 0), "process_create")?;
    let koid = check_ok(koid_of(&process), "koid")?;
    check(contains(&job, info::JOB_PROCESSES, koid)?, "listed")?;
    drop((process, vmar));
    check(!contains(&job, info::JOB_PROCESSES, koid)?, "a NEW process left its job with its last handle")?;
    check_hex(signals_now(&job) as u64, (JOB_NO_JOBS | JOB_NO_PROCESSES) as u64, "NO_PROCESSES again")?;

    // Closing every handle to a running process and its thread changes nothing for it.
    let (ours, theirs) = check_ok(eventpair_create(0), "eventpair")?;
    let child = Child::new(ctx, &job, "handles-closed", CMD_SIGNAL, &[])?;
    child.start(theirs.into_raw())?;
    check_status(object_wait_one(&ours, USER_SIGNAL_0, seconds(TIMEOUT_S)).0, ZX_OK, "the child runs")?;
    let koid = check_ok(koid_of(child.process()), "koid")?;
    check_ok(handle_close(child.image.process.raw()), "close the process handle")?;
    check_ok(handle_close(child.image.thread.raw()), "close the thread handle")?;
    check_ok(handle_close(child.image.vmar.raw()), "close the VMAR handle")?;
    sleep_ns(10_000_000);
    check(contains(&job, info::JOB_PROCESSES, koid)?, "still in its job")?;
    check_status(object_wait_one(&ours, PEER_CLOSED, 0).0, ZX_ERR_TIMED_OUT, "still alive")?;
    check_ok(object_signal_peer(&ours, 0, USER_SIGNAL_0 << 1), "let it finish")?;
    check_status(object_wait_one(&ours, PEER_CLOSED, seconds(TIMEOUT_S)).0, ZX_OK, "it ended by itself")?;
    wait_for("the process to leave its job", || !contains(&job, info::JOB_PROCESSES, koid).unwrap_or(true))?;
    Ok(())
}

fn process_start_errors(ctx: &Ctx) -> TestResult {
    let a = Child::new(ctx, ctx.root_job(), "start-a", CMD_EXIT, &[9])?;
    let b = Child::new(ctx, ctx.root_job(), "start-b", CMD_EXIT, &[9])?;
    let (p, t, entry, sp) = (a.process(), &a.image.thread, a.image.entry, a.image.stack_top());
    // Each failure closes arg1.
    let event = check_ok(event_create(0), "event")?.into_raw();
    check_status(process_start(0x0BAD_0003u32, t, entry, sp, event, 0), ZX_ERR_BAD_HANDLE, "bad process")?;
    check_status(handle_valid(event), ZX_ERR_BAD_HANDLE, "arg1 closed after BAD_HANDLE")?;
    let event = check_ok(event_create(0), "event")?.into_raw();
    check_status(process_start(p, &b.image.thread, entry, sp, event, 0), ZX_ERR_ACCESS_DENIED, "another's thread")?;
    check_status(handle_valid(event), ZX_ERR_BAD_HANDLE, "arg1 closed after ACCESS_DENIED")?;
    let event = check_ok(event_create(0), "event")?;
    let no_transfer = check_ok(handle_replace(event.into_raw(), rights::BASIC & !rights::TRANSFER), "replace")?;
    let no_transfer = no_transfer.into_raw();
    check_status(process_start(p, t, entry, sp, no_transfer, 0), ZX_ERR_ACCESS_DENIED, "arg1 without TRANSFER")?;
    check_status(handle_valid(no_transfer), ZX_ERR_BAD_HANDLE, "arg1 closed")?;
    check_status(process_start(p, t, USER_END, sp, 0, 0), ZX_ERR_INVALID_ARGS, "entry 2^47")?;
    check_status(process_start(p, &a.image.vmar, entry, sp, 0, 0), ZX_ERR_WRONG_TYPE, "a VMAR as the thread")?;
    let no_write = check_ok(handle_duplicate(p, rights::READ | rights::INSPECT), "dup")?;
    check_status(process_start(&no_write, t, entry, sp, 0, 0), ZX_ERR_ACCESS_DENIED, "process without WRITE")?;
    check_eq(check_ok(info_process(p), "info")?.started, false, "not started after the failures")?;
    a.start(0)?;
    check_status(a.image.start(0, a.child_mailbox), ZX_ERR_BAD_STATE, "starting a running process")?;
    check_eq(a.wait_end()?.return_code, 9, "it ran once")?;
    // process_create's own checks.
    check_status(process_create(ctx.root_job(), "x", 1), ZX_ERR_INVALID_ARGS, "options 1")?;
    check_status(process_create(ctx.process(), "x", 0), ZX_ERR_WRONG_TYPE, "a process as the job")?;
    let no_manage = check_ok(handle_duplicate(ctx.root_job(), rights::BASIC | rights::READ), "dup")?;
    check_status(process_create(&no_manage, "x", 0), ZX_ERR_ACCESS_DENIED, "a job without MANAGE_PROCESS or WRITE")?;
    check_status(job_create(&no_manage, 0), ZX_ERR_ACCESS_DENIED, "job_create without MANAGE_JOB or WRITE")?;
    let write_only = check_ok(handle_duplicate(ctx.root_job(), rights::BASIC | rights::WRITE), "dup")?;
    check_ok(process_create(&write_only, "fallback", 0), "process_create with WRITE instead of MANAGE_PROCESS")?;
    check_ok(job_create(&write_only, 0), "job_create with WRITE instead of MANAGE_JOB")?;
    check_status(job_create(ctx.root_job(), 1), ZX_ERR_INVALID_ARGS, "job_create options 1")?;
    check_status(job_create(ctx.process(), 0), ZX_ERR_WRONG_TYPE, "job_create in a process")?;
    let (mut proc_out, mut vmar_out) = (0u32, 0u32);
    let args = [ctx.root_job() as u64, 0, 0, 0, addr_of(&raw mut proc_out), addr_of(&raw mut vmar_out)];
    // SAFETY: a NULL name; the out-pointers are ours.
    check_status(unsafe { sys::call_status(nr::PROCESS_CREATE, args) }, ZX_ERR_INVALID_ARGS, "NULL name")?;
    drop(b);
    Ok(())
}

fn process_faults_kill_only_the_child(ctx: &Ctx) -> TestResult {
    fault_lines_follow();
    for kind in 0..FAULT_KINDS {
        let child = Child::spawn(ctx, ctx.root_job(), "fault-child", CMD_FAULT, &[kind], 0)?;
        let info = child.wait_end()?;
        if info.return_code != retcode::EXCEPTION_KILL {
            fail!("fault kind {kind}: return code {}, want -1028", info.return_code);
        }
        check(info.exited && info.started, "exited and started")?;
    }
    // We are still here: only the children died.
    fault_lines_done();
    Ok(())
}

fn process_kill_new_running_blocked(ctx: &Ctx) -> TestResult {
    // NEW: dead when the kill returns.
    let new = Child::new(ctx, ctx.root_job(), "kill-new", CMD_EXIT, &[1])?;
    check_ok(task_kill(new.process()), "kill a NEW process")?;
    check_status(object_wait_one(new.process(), TASK_TERMINATED, 0).0, ZX_OK, "TERMINATED at once")?;
    let info = check_ok(info_process(new.process()), "info")?;
    check_eq(
        (info.return_code, info.started, info.exited),
        (retcode::SYSCALL_KILL, false, true),
        "a killed NEW process",
    )?;
    check_status(object_wait_one(&new.image.thread, TASK_TERMINATED, 0).0, ZX_OK, "its NEW thread is dead")?;
    check_status(new.image.start(0, new.child_mailbox), ZX_ERR_BAD_STATE, "start after kill")?;

    // Running, spinning at EL0.
    let spinner = Child::spawn(ctx, ctx.root_job(), "kill-spin", CMD_SPIN, &[], 0)?;
    spinner.wait_progress(1000)?;
    check_ok(task_kill(spinner.process()), "kill")?;
    check_eq(spinner.wait_end()?.return_code, retcode::SYSCALL_KILL, "return code of a killed process")?;
    let after = spinner.mb().progress.load(Ordering::Acquire);
    sleep_ns(10_000_000);
    check_eq(spinner.mb().progress.load(Ordering::Acquire), after, "progress after death")?;

    // Blocked in each kind of wait.
    let states = [thread_state::BLOCKED_SLEEPING, thread_state::BLOCKED_WAIT_ONE, thread_state::BLOCKED_FUTEX];
    for (how, state) in states.iter().enumerate() {
        let (mine, theirs) = check_ok(eventpair_create(0), "eventpair")?;
        let child = Child::spawn(ctx, ctx.root_job(), "kill-blocked", CMD_BLOCK, &[how as u64], theirs.into_raw())?;
        child.wait_progress(1)?;
        wait_for("the child's blocked state", || thread_state_of(&child.image.thread) == *state)?;
        check_ok(task_kill(child.process()), "kill")?;
        check_eq(child.wait_end()?.return_code, retcode::SYSCALL_KILL, "return code of a killed blocked process")?;
        check_status(object_wait_one(&mine, PEER_CLOSED, 0).0, ZX_OK, "its handles were closed")?;
    }
    Ok(())
}

/// What the workers of the stress test share: the context and the first failure.
struct Stress<'a> {
    ctx: &'a Ctx,
    next: AtomicU32,
    iterations: AtomicU64,
    end: i64,
    failed: AtomicBool,
    first: UnsafeCell<Option<Failure>>,
}

// SAFETY: `first` is written once, by the thread that set `failed` first, and read only
// after every worker has ended.
unsafe impl Sync for Stress<'_> {}

fn stress_worker(s: &Stress<'_>) {
    let me = s.next.fetch_add(1, Ordering::AcqRel) as u64;
    if let Err(failure) = stress_iterations(s, me)
        && !s.failed.swap(true, Ordering::AcqRel)
    {
        // SAFETY: only the first failing worker gets here (the swap above).
        unsafe { *s.first.get() = Some(failure) };
    }
}

fn stress_iterations(s: &Stress<'_>, me: u64) -> TestResult {
    let ctx = s.ctx;
    let mut i = 0u64;
    while (i < 3 || clock_get_monotonic() < s.end) && !s.failed.load(Ordering::Acquire) && i < 30 {
        match (i + me) % 3 {
            0 => {
                let code = (me * 1000 + i) as i64;
                let child = Child::spawn(ctx, ctx.root_job(), "stress-exit", CMD_EXIT, &[code as u64], 0)?;
                check_eq(child.wait_end()?.return_code, code, "return code")?;
            }
            1 => {
                let job = check_ok(job_create(ctx.root_job(), 0), "job")?;
                let child = Child::spawn(ctx, &job, "stress-spin", CMD_SPIN, &[], 0)?;
                child.wait_progress(10)?;
                let alive = check_ok(info_process(child.process()), "INFO_PROCESS")?;
                if alive.exited {
                    fail!(
                        "a spinning child ended by itself before anyone killed it: {alive:?}, progress {}, thread state {:#x}",
                        child.mb().progress.load(Ordering::Acquire),
                        thread_state_of(&child.image.thread)
                    );
                }
                check_ok(task_kill(&job), "kill the job")?;
                wait_end(&job, "the job")?;
                check_eq(child.wait_end()?.return_code, retcode::SYSCALL_KILL, "killed by its job")?;
            }
            _ => {
                let counters = [AtomicU64::new(0), AtomicU64::new(0)];
                let mut a = check_ok(thread::spawn("stress-a", spin_counting, &counters[0]), "spawn")?;
                let mut b = check_ok(thread::spawn("stress-b", spin_counting, &counters[1]), "spawn")?;
                wait_for("both threads to count", || counters.iter().all(|c| c.load(Ordering::Relaxed) > 0))?;
                check_ok(a.kill(), "kill")?;
                check_ok(b.kill(), "kill")?;
                check_ok(a.join_until(seconds(TIMEOUT_S)), "join")?;
                check_ok(b.join_until(seconds(TIMEOUT_S)), "join")?;
            }
        }
        i += 1;
        s.iterations.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// `zx_thread_start` of a second thread racing the `zx_thread_exit` of a process's only
/// running thread, at varying moments: either the start is refused (BAD_STATE) and the
/// process ends after the first thread, or the second thread really runs in the live
/// process (its increment reaches the mailbox) and the process ends after it. A start
/// that succeeded just after the process ended would run the thread in an address space
/// already freed (the kernel checked the process's state and added the thread to it in
/// two steps once). Both outcomes are timing-dependent, so neither is required; the race
/// is real only where vCPUs run in parallel (MTTCG), and harmless elsewhere.
fn thread_start_races_the_last_thread_exit(ctx: &Ctx) -> TestResult {
    let (mut started, mut refused) = (0u32, 0u32);
    for round in 0..120u64 {
        let child = Child::new(ctx, ctx.root_job(), "start-race", CMD_COUNT_AND_EXIT, &[])?;
        let stack_vmo = check_ok(vmo_create(CHILD_STACK_SIZE, 0), "second stack")?;
        let stack = check_ok(vmar_map(&child.image.vmar, VM_RW, 0, &stack_vmo, 0, CHILD_STACK_SIZE), "map it")?;
        let second = check_ok(thread_create(child.process(), "second", 0), "zx_thread_create")?;
        child.start(0)?;
        // The first thread is about to exit once its increment shows (on another CPU,
        // under MTTCG); then a different delay each round, so that the start lands
        // before, during and after that exit.
        // Polled without sleeping (a sleep would outlast the window); with one CPU the
        // child runs when this thread's time slice ends.
        let deadline = seconds(TIMEOUT_S);
        while child.mb().progress.load(Ordering::Acquire) == 0 {
            if clock_get_monotonic() > deadline {
                fail!("round {round}: the child's first thread never ran");
            }
            core::hint::spin_loop();
        }
        for _ in 0..(round % 40) * 25 {
            core::hint::spin_loop();
        }
        let entry = child.image.entry;
        match thread_start(&second, entry, stack + CHILD_STACK_SIZE, 0, child.child_mailbox) {
            Ok(()) => {
                started += 1;
                wait_for("the second thread's increment", || child.mb().progress.load(Ordering::Acquire) == 2)?;
            }
            Err(ZX_ERR_BAD_STATE) => refused += 1,
            Err(status) => fail!("round {round}: zx_thread_start gave {status}, not OK or BAD_STATE"),
        }
        check_eq(child.wait_end()?.return_code, 0, "the process ends with 0 after its threads")?;
    }
    println!("    {started} starts succeeded, {refused} were refused");
    Ok(())
}

/// More processes alive at once than 8-bit ASIDs can name (255): each one runs (it
/// signals), waits while the others are started, and runs again at the end (it is
/// signalled back, and exits with 5). With the boot word `asid8` the kernel hands out
/// 8-bit ids even when the CPU has 16-bit ones, so the ids roll over while all of these
/// address spaces live and some run on other CPUs: each keeps its reserved id or gets a
/// new one, and still runs its own code (the system test checks the kernel's
/// `asid: N roll-overs` line). Without the word it is 300 live processes.
fn more_live_address_spaces_than_8_bit_asids(ctx: &Ctx) -> TestResult {
    const LIVE: usize = 400;
    let image = child_image(ctx)?;
    let job = check_ok(job_create(ctx.root_job(), 0), "job")?;
    let mailbox_vmo = check_ok(vmo_create(PAGE_SIZE, 0), "mailbox vmo")?;
    let mailbox = check_ok(Mapping::new(ctx.root_vmar, VM_RW, 0, &mailbox_vmo, 0, PAGE_SIZE), "map mailbox")?;
    // SAFETY: the mapping is one page, page-aligned, alive for this whole test, and holds
    // only atomics (a zeroed page is a valid Mailbox). Every child shares it: they only
    // read the command.
    let mb = unsafe { &*(mailbox.addr() as usize as *const Mailbox) };
    mb.command.store(CMD_SIGNAL, Ordering::Release);
    // Each child's process handle and our end of its eventpair (raw: no allocator here,
    // and the handles outlive the loop that makes them).
    let mut live = [(0u32, 0u32); LIVE];
    let mut made = 0;
    let result = (|| -> TestResult {
        for slot in live.iter_mut() {
            let child = check_ok(ChildProcess::load(&job, "asid", image, ctx.root_resource), "load bin/tasks-child")?;
            let at = check_ok(vmar_map(&child.vmar, VM_RW, 0, &mailbox_vmo, 0, PAGE_SIZE), "map the mailbox")?;
            let (ours, theirs) = check_ok(eventpair_create(0), "eventpair")?;
            let ours = ours.into_raw();
            *slot =
                (check_ok(handle_duplicate(&child.process, rights::SAME_RIGHTS), "process handle")?.into_raw(), ours);
            made += 1;
            check_ok(child.start(theirs.into_raw(), at), "zx_process_start")?;
            check_status(object_wait_one(ours, USER_SIGNAL_0, seconds(TIMEOUT_S)).0, ZX_OK, "the child ran")?;
        }
        for &(_, ours) in live.iter() {
            check_ok(object_signal_peer(ours, 0, USER_SIGNAL_0 << 1), "signal the child back")?;
        }
        for &(process, _) in live.iter() {
            wait_end(process, "a child")?;
            check_eq(check_ok(info_process(process), "ZX_INFO_PROCESS")?.return_code, 5, "it ran again, to its end")?;
        }
        Ok(())
    })();
    let _ = task_kill(&job);
    let _ = wait_terminated(&job, seconds(TIMEOUT_S));
    for &(process, ours) in &live[..made] {
        let _ = handle_close(process);
        let _ = handle_close(ours);
    }
    result
}

/// Several threads at once start and end processes, jobs and threads: the lifecycle
/// paths of different tasks racing on different CPUs.
fn stress_lifecycles_in_parallel(ctx: &Ctx) -> TestResult {
    let workers = (cpus() as usize).clamp(2, 4);
    let s = Stress {
        ctx,
        next: AtomicU32::new(0),
        iterations: AtomicU64::new(0),
        end: millis(1500),
        failed: AtomicBool::new(false),
        first: UnsafeCell::new(None),
    };
    let mut threads: [Option<Thread<'_>>; 4] = Default::default();
    for slot in threads.iter_mut().take(workers) {
        *slot = Some(check_ok(thread::spawn("stress", stress_worker, &s), "spawn")?);
    }
    for t in threads.iter_mut() {
        if let Some(mut t) = t.take() {
            check_ok(t.join_until(seconds(4 * TIMEOUT_S)), "a stress worker ended")?;
        }
    }
    // SAFETY: every worker has ended.
    if let Some(failure) = unsafe { (*s.first.get()).take() } {
        return Err(failure);
    }
    check(s.iterations.load(Ordering::Acquire) >= 3 * workers as u64, "every worker did its rounds")
}

fn handle_close_many_rules(_ctx: &Ctx) -> TestResult {
    let make = || event_create(0).map(Handle::into_raw);
    let (a, b) = (check_ok(make(), "event")?, check_ok(make(), "event")?);
    check_ok(handle_close_many(&[a, 0, b]), "two handles and a 0")?;
    check_status(handle_valid(a), ZX_ERR_BAD_HANDLE, "first closed")?;
    check_status(handle_valid(b), ZX_ERR_BAD_HANDLE, "second closed")?;
    let c = check_ok(make(), "event")?;
    check_status(handle_close_many(&[c, c]), ZX_ERR_BAD_HANDLE, "a value given twice")?;
    check_status(handle_valid(c), ZX_ERR_BAD_HANDLE, "closed once")?;
    let d = check_ok(make(), "event")?;
    check_status(handle_close_many(&[0x0BAD_0003, d]), ZX_ERR_BAD_HANDLE, "a bogus value first")?;
    check_status(handle_valid(d), ZX_ERR_BAD_HANDLE, "the good one still closed")?;
    check_ok(handle_close_many(&[]), "no handles")?;
    // SAFETY: the kernel only reads the array; these pointers name no memory of ours.
    let raw = |p: u64, n: u64| unsafe { sys::call_status(nr::HANDLE_CLOSE_MANY, [p, n]) };
    check_status(raw(0, 0), ZX_OK, "NULL with 0 entries")?;
    check_status(raw(USER_END - 8, 4), ZX_ERR_INVALID_ARGS, "an array past user space")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Jobs
// ---------------------------------------------------------------------------------------

fn job_tree_signals_and_lists(ctx: &Ctx) -> TestResult {
    let root = ctx.root_job();
    let root_koid = check_ok(koid_of(root), "root koid")?;
    let job = check_ok(job_create(root, 0), "job_create")?;
    let basic = check_ok(info_handle_basic(&job), "HANDLE_BASIC")?;
    check_eq(basic.obj_type, OBJ_TYPE_JOB, "type")?;
    check_hex(basic.rights as u64, rights::DEFAULT_JOB as u64, "rights")?;
    check_eq(basic.related_koid, root_koid, "related koid: the parent")?;
    check_hex(signals_now(&job) as u64, (JOB_NO_JOBS | JOB_NO_PROCESSES) as u64, "a new job's signals")?;
    check(contains(root, info::JOB_CHILDREN, basic.koid)?, "in the root job's JOB_CHILDREN")?;
    let info = check_ok(info_job(&job), "INFO_JOB")?;
    check_eq((info.return_code, info.exited), (0, false), "a live job")?;

    let inner = check_ok(job_create(&job, 0), "child job")?;
    let inner_koid = check_ok(koid_of(&inner), "koid")?;
    check_hex(signals_now(&job) as u64, JOB_NO_PROCESSES as u64, "signals with a child job")?;
    let (list, n) = koids(&job, info::JOB_CHILDREN)?;
    check_eq(&list[..n], &[inner_koid][..], "JOB_CHILDREN")?;

    let child = Child::new(ctx, &inner, "in-job", CMD_BLOCK, &[0])?;
    let child_koid = check_ok(koid_of(child.process()), "koid")?;
    check_eq(check_ok(info_handle_basic(child.process()), "basic")?.related_koid, inner_koid, "related koid")?;
    check_hex(signals_now(&inner) as u64, JOB_NO_JOBS as u64, "a NEW process counts against NO_PROCESSES")?;
    let (list, n) = koids(&inner, info::JOB_PROCESSES)?;
    check_eq(&list[..n], &[child_koid][..], "JOB_PROCESSES")?;
    child.start(0)?;
    child.wait_progress(1)?;

    check_ok(task_kill(&job), "kill the job")?;
    wait_end(&job, "the killed job")?;
    // Bottom-up: the process and the inner job ended before the job did.
    check_status(object_wait_one(child.process(), TASK_TERMINATED, 0).0, ZX_OK, "the process is dead")?;
    check_status(object_wait_one(&inner, TASK_TERMINATED, 0).0, ZX_OK, "the inner job is dead")?;
    check_eq(check_ok(info_process(child.process()), "info")?.return_code, retcode::SYSCALL_KILL, "process code")?;
    for (j, what) in [(&job, "job"), (&inner, "inner job")] {
        let info = check_ok(info_job(j), "INFO_JOB")?;
        if (info.return_code, info.exited) != (retcode::SYSCALL_KILL, true) {
            fail!("{what} after the kill: {info:?}");
        }
        let want = (TASK_TERMINATED | JOB_NO_JOBS | JOB_NO_PROCESSES) as u64;
        check_hex(signals_now(j) as u64, want, "a dead job's signals")?;
    }
    check(!contains(root, info::JOB_CHILDREN, basic.koid)?, "a dead job left JOB_CHILDREN")?;
    check_status(job_create(&job, 0), ZX_ERR_BAD_STATE, "job_create in a dead job")?;
    check_status(process_create(&inner, "late", 0), ZX_ERR_BAD_STATE, "process_create in a dead job")?;
    check_ok(task_kill(&job), "killing it again")
}

fn job_kill_ends_everything_below(ctx: &Ctx) -> TestResult {
    let top = check_ok(job_create(ctx.root_job(), 0), "job")?;
    let subs = [check_ok(job_create(&top, 0), "sub")?, check_ok(job_create(&top, 0), "sub")?];
    let deep = check_ok(job_create(&subs[1], 0), "deeper")?;
    let spinners = [
        Child::spawn(ctx, &subs[0], "spin-a", CMD_SPIN, &[], 0)?,
        Child::spawn(ctx, &subs[1], "spin-b", CMD_SPIN, &[], 0)?,
        Child::spawn(ctx, &deep, "spin-c", CMD_SPIN, &[], 0)?,
    ];
    let sleeper = Child::spawn(ctx, &top, "sleeper", CMD_BLOCK, &[0], 0)?;
    let never = Child::new(ctx, &deep, "never-started", CMD_EXIT, &[0])?;
    for s in &spinners {
        s.wait_progress(100)?;
    }
    sleeper.wait_progress(1)?;
    check_ok(task_kill(&top), "kill")?;
    // A process below that never started is dead when the kill returns, and every job
    // below refuses new children.
    check_status(object_wait_one(never.process(), TASK_TERMINATED, 0).0, ZX_OK, "NEW process dead at once")?;
    check_status(job_create(&deep, 0), ZX_ERR_BAD_STATE, "job_create below a killed job")?;
    check_status(process_create(&subs[0], "late", 0), ZX_ERR_BAD_STATE, "process_create below a killed job")?;
    wait_end(&top, "top job")?;
    for p in spinners.iter().chain([&sleeper, &never]) {
        let info = check_ok(info_process(p.process()), "info")?;
        check_eq(info.return_code, retcode::SYSCALL_KILL, "return code below a killed job")?;
    }
    for j in subs.iter().chain([&deep]) {
        check_status(object_wait_one(j, TASK_TERMINATED, 0).0, ZX_OK, "every job below is dead")?;
        check_eq(check_ok(info_job(j), "info")?.return_code, retcode::SYSCALL_KILL, "job return code")?;
    }
    Ok(())
}

fn job_depth_limit(ctx: &Ctx) -> TestResult {
    let mut chain = [0u32; 32];
    let mut parent = ctx.root_job();
    let mut made = 0;
    let mut result = Ok(());
    for (level, slot) in chain.iter_mut().enumerate() {
        match job_create(parent, 0) {
            Ok(job) => {
                *slot = job.into_raw();
                parent = *slot;
                made += 1;
            }
            Err(status) => {
                result = Err(Failure::new(format_args!("job at depth {}: {}", level + 1, status_name(status))));
                break;
            }
        }
    }
    if result.is_ok() {
        result = check_status(job_create(parent, 0), ZX_ERR_OUT_OF_RANGE, "a 33rd level");
    }
    if result.is_ok() {
        result = check_ok(process_create(parent, "deepest", 0), "a process in the deepest job").map(drop);
    }
    let closed = handle_close_many(&chain[..made]);
    result?;
    check_ok(closed, "close the chain")
}

fn job_close_childless_removes_it(ctx: &Ctx) -> TestResult {
    let job = check_ok(job_create(ctx.root_job(), 0), "job")?;
    let koid = check_ok(koid_of(&job), "koid")?;
    check(contains(ctx.root_job(), info::JOB_CHILDREN, koid)?, "listed")?;
    check_ok(handle_close(job.into_raw()), "close")?;
    check(!contains(ctx.root_job(), info::JOB_CHILDREN, koid)?, "gone from JOB_CHILDREN when the close returned")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// get_info topics
// ---------------------------------------------------------------------------------------

fn info_process_thread_job(ctx: &Ctx) -> TestResult {
    let me = check_ok(info_process(ctx.process()), "INFO_PROCESS of ourselves")?;
    check_eq((me.return_code, me.started, me.exited, me.debugger_attached), (0, true, false, false), "ourselves")?;
    let t = check_ok(info_thread(ctx.thread()), "INFO_THREAD of ourselves")?;
    check_hex(t.state as u64, thread_state::RUNNING as u64, "our state")?;
    check_eq(t.wait_exception_channel_type, 0, "wait_exception_channel_type")?;
    let mask = if cpus() >= 64 { u64::MAX } else { (1u64 << cpus()) - 1 };
    check_hex(t.cpu_affinity_mask, mask, "cpu_affinity_mask: one bit per online CPU")?;
    check_hex(t.other_mask_words, 0, "the other mask words")?;
    let job = check_ok(info_job(ctx.root_job()), "INFO_JOB of the root job")?;
    check_eq((job.return_code, job.exited), (0, false), "the root job")?;
    check(check_ok(get_name(ctx.root_job()), "name")?.starts_with(b"root\0"), "the root job's name")?;
    check(check_ok(get_name(ctx.process()), "name")?.starts_with(b"userboot\0"), "our name")?;

    // Sizes, types and rights.
    let mut small = [0u8; 15];
    let (mut actual, mut avail) = (9u64, 9u64);
    let args = [
        ctx.process() as u64,
        info::PROCESS as u64,
        addr_of(small.as_mut_ptr()),
        15,
        addr_of(&raw mut actual),
        addr_of(&raw mut avail),
    ];
    // SAFETY: the buffer and counts are ours.
    let status = unsafe { sys::call_status(nr::OBJECT_GET_INFO, args) };
    check_status(status, ZX_ERR_BUFFER_TOO_SMALL, "a 15-byte PROCESS buffer")?;
    check_eq((actual, avail), (0, 1), "actual and avail")?;
    check_status(info_process(ctx.thread()), ZX_ERR_WRONG_TYPE, "INFO_PROCESS of a thread")?;
    check_status(info_thread(ctx.process()), ZX_ERR_WRONG_TYPE, "INFO_THREAD of a process")?;
    check_status(info_job(ctx.process()), ZX_ERR_WRONG_TYPE, "INFO_JOB of a process")?;
    let blind = check_ok(handle_duplicate(ctx.process(), rights::BASIC & !rights::INSPECT), "dup")?;
    check_status(info_process(&blind), ZX_ERR_ACCESS_DENIED, "INFO_PROCESS without INSPECT")?;
    let blind_thread = check_ok(handle_duplicate(ctx.thread(), rights::READ), "dup")?;
    check_status(info_thread(&blind_thread), ZX_ERR_ACCESS_DENIED, "INFO_THREAD without INSPECT")?;
    check_status(info_thread_stats(&blind_thread), ZX_ERR_ACCESS_DENIED, "THREAD_STATS without INSPECT")?;
    Ok(())
}

fn info_thread_stats_runtime_and_cpu(ctx: &Ctx) -> TestResult {
    let mine = check_ok(info_thread_stats(ctx.thread()), "our THREAD_STATS")?;
    check(mine.total_runtime > 0, "we have run")?;
    check(mine.last_scheduled_cpu < cpus() as u32, "our CPU is online")?;
    let counter = AtomicU64::new(0);
    let mut t = check_ok(thread::spawn("stats", spin_counting, &counter), "spawn")?;
    wait_for("the spinner to count", || counter.load(Ordering::Relaxed) > 1000)?;
    let mut last = 0i64;
    for _ in 0..20 {
        let s = check_ok(info_thread_stats(t.handle()), "THREAD_STATS")?;
        if s.total_runtime < last {
            fail!("total_runtime went back from {last} to {}", s.total_runtime);
        }
        check(s.last_scheduled_cpu < cpus() as u32, "an online CPU")?;
        last = s.total_runtime;
        sleep_ns(2_000_000);
    }
    check(last > 0, "the spinner's runtime grew")?;
    check_ok(t.kill(), "kill")?;
    check_ok(t.join_until(seconds(TIMEOUT_S)), "join")?;
    let dead = check_ok(info_thread_stats(t.handle()), "THREAD_STATS of a dead thread")?;
    check(dead.total_runtime >= last, "a dead thread keeps its runtime")?;
    Ok(())
}

fn info_task_stats_private_and_shared(ctx: &Ctx) -> TestResult {
    let me = ctx.process();
    let s0 = check_ok(info_task_stats(me), "TASK_STATS")?;
    check(s0.mem_mapped_bytes > 0 && s0.mem_private_bytes > 0, "we map and commit something")?;
    let vmo = check_ok(vmo_create(16 * PAGE_SIZE, 0), "vmo")?;
    let map = check_ok(Mapping::new(ctx.root_vmar, VM_RW, 0, &vmo, 0, 16 * PAGE_SIZE), "map")?;
    for page in 0..4 {
        map.write(page * PAGE_SIZE, 1);
    }
    let s1 = check_ok(info_task_stats(me), "TASK_STATS")?;
    check_eq(s1.mem_mapped_bytes - s0.mem_mapped_bytes, 16 * PAGE_SIZE, "mapped bytes grew by the mapping")?;
    check_eq(s1.mem_private_bytes - s0.mem_private_bytes, 4 * PAGE_SIZE, "private bytes grew by 4 pages")?;
    check_eq(s1.mem_shared_bytes, s0.mem_shared_bytes, "shared bytes unchanged")?;
    // Mapped in a second process too, the four pages become shared by two.
    let (other, other_vmar) = check_ok(process_create(ctx.root_job(), "sharer", 0), "process")?;
    check_ok(vmar_map(&other_vmar, VM_PERM_READ, 0, &vmo, 0, 16 * PAGE_SIZE), "map in the other")?;
    let s2 = check_ok(info_task_stats(me), "TASK_STATS")?;
    check_eq(s1.mem_private_bytes - s2.mem_private_bytes, 4 * PAGE_SIZE, "private bytes after sharing")?;
    check_eq(s2.mem_shared_bytes - s1.mem_shared_bytes, 4 * PAGE_SIZE, "shared bytes after sharing")?;
    check_eq(s2.mem_scaled_shared_bytes - s1.mem_scaled_shared_bytes, 2 * PAGE_SIZE, "scaled shared bytes")?;
    let o = check_ok(info_task_stats(&other), "TASK_STATS of the other")?;
    check_eq(
        (o.mem_mapped_bytes, o.mem_private_bytes, o.mem_shared_bytes),
        (16 * PAGE_SIZE, 0, 4 * PAGE_SIZE),
        "other",
    )?;
    check_status(info_task_stats(ctx.thread()), ZX_ERR_WRONG_TYPE, "TASK_STATS of a thread")?;
    check_status(info_task_stats(ctx.root_job()), ZX_ERR_WRONG_TYPE, "TASK_STATS of a job")?;
    check_ok(task_kill(&other), "kill")?;
    check_status(info_task_stats(&other), ZX_ERR_BAD_STATE, "TASK_STATS of a dead process")?;
    let s3 = check_ok(info_task_stats(me), "TASK_STATS")?;
    check_eq(s3.mem_private_bytes, s1.mem_private_bytes, "private again once the other died")?;
    drop(map);
    Ok(())
}

fn info_handle_count_valid_and_stats(ctx: &Ctx) -> TestResult {
    let event = check_ok(event_create(0), "event")?;
    check_eq(check_ok(info_handle_count(&event), "HANDLE_COUNT")?, 1, "one handle")?;
    let dup = check_ok(handle_duplicate(&event, rights::SAME_RIGHTS), "dup")?;
    check_eq(check_ok(info_handle_count(&event), "HANDLE_COUNT")?, 2, "two handles")?;
    let dup_raw = dup.into_raw();
    check_ok(handle_valid(dup_raw), "HANDLE_VALID of a live handle")?;
    check_ok(handle_close(dup_raw), "close")?;
    check_status(handle_valid(dup_raw), ZX_ERR_BAD_HANDLE, "HANDLE_VALID of a closed handle")?;
    check_eq(check_ok(info_handle_count(&event), "HANDLE_COUNT")?, 1, "back to one")?;
    let no_inspect = check_ok(handle_duplicate(&event, rights::DUPLICATE), "dup")?;
    check_status(info_handle_count(&no_inspect), ZX_ERR_ACCESS_DENIED, "HANDLE_COUNT without INSPECT")?;
    check_ok(handle_valid(&no_inspect), "HANDLE_VALID needs no right")?;
    drop(no_inspect);

    // A handle moved into another process still counts.
    let (ours, theirs) = check_ok(eventpair_create(0), "eventpair")?;
    let theirs_dup = check_ok(handle_duplicate(&theirs, rights::SAME_RIGHTS), "dup")?;
    let child = Child::new(ctx, ctx.root_job(), "holder", CMD_BLOCK, &[1])?;
    child.start(theirs.into_raw())?;
    check_eq(check_ok(info_handle_count(&theirs_dup), "HANDLE_COUNT")?, 2, "ours and the child's")?;
    drop(child);
    check_eq(check_ok(info_handle_count(&theirs_dup), "HANDLE_COUNT")?, 1, "the child's closed with it")?;
    drop(ours);

    let before = check_ok(info_process_handle_stats(ctx.process()), "PROCESS_HANDLE_STATS")?;
    let made = [
        check_ok(event_create(0), "event")?,
        check_ok(event_create(0), "event")?,
        check_ok(event_create(0), "event")?,
        check_ok(job_create(ctx.root_job(), 0), "job")?,
    ];
    let pair = check_ok(eventpair_create(0), "eventpair")?;
    let after = check_ok(info_process_handle_stats(ctx.process()), "PROCESS_HANDLE_STATS")?;
    let delta = |t: u32| after[t as usize] as i64 - before[t as usize] as i64;
    check_eq(delta(OBJ_TYPE_EVENT), 3, "three more event handles")?;
    check_eq(delta(OBJ_TYPE_EVENTPAIR), 2, "two more eventpair handles")?;
    check_eq(delta(OBJ_TYPE_JOB), 1, "one more job handle")?;
    check_eq(delta(OBJ_TYPE_VMO), 0, "VMO handles unchanged")?;
    check(after[OBJ_TYPE_PROCESS as usize] >= 1 && after[OBJ_TYPE_THREAD as usize] >= 1, "our own handles")?;
    drop((made, pair));
    Ok(())
}

fn info_koid_lists(ctx: &Ctx) -> TestResult {
    let job = check_ok(job_create(ctx.root_job(), 0), "job")?;
    let kids = [
        check_ok(job_create(&job, 0), "child")?,
        check_ok(job_create(&job, 0), "child")?,
        check_ok(job_create(&job, 0), "child")?,
    ];
    let want: [u64; 3] =
        [koid_of(&kids[0]).unwrap_or(0), koid_of(&kids[1]).unwrap_or(1), koid_of(&kids[2]).unwrap_or(2)];
    let mut list = [0u64; 3];
    check_eq(check_ok(info_koids(&job, info::JOB_CHILDREN, &mut list), "3 records")?, (3, 3), "(actual, avail)")?;
    check_eq(list, want, "JOB_CHILDREN in creation order")?;
    let mut one = [0u64; 1];
    check_eq(check_ok(info_koids(&job, info::JOB_CHILDREN, &mut one), "1 record")?, (1, 3), "a short buffer")?;
    check_eq(one[0], want[0], "the first record")?;
    check_eq(check_ok(info_koids(&job, info::JOB_CHILDREN, &mut []), "0 records")?, (0, 3), "an empty buffer")?;
    let (mut actual, mut avail) = (9u64, 9u64);
    let args = [job.raw() as u64, info::JOB_CHILDREN as u64, 0, 0, addr_of(&raw mut actual), addr_of(&raw mut avail)];
    // SAFETY: a NULL buffer of 0 bytes; the counts are ours.
    check_status(unsafe { sys::call_status(nr::OBJECT_GET_INFO, args) }, ZX_OK, "NULL buffer, 0 bytes")?;
    check_eq((actual, avail), (0, 3), "counts for a NULL buffer")?;
    let no_enum = check_ok(handle_duplicate(&job, rights::BASIC), "dup")?;
    check_status(info_koids(&no_enum, info::JOB_CHILDREN, &mut list), ZX_ERR_ACCESS_DENIED, "without ENUMERATE")?;
    check_status(info_koids(ctx.process(), info::JOB_CHILDREN, &mut list), ZX_ERR_WRONG_TYPE, "of a process")?;
    check_eq(check_ok(info_koids(&job, info::JOB_PROCESSES, &mut list), "no processes")?, (0, 0), "JOB_PROCESSES")?;

    // PROCESS_THREADS lists started threads in start order, ours first.
    let gates = [Gate::new(), Gate::new(), Gate::new()];
    let mut threads: [Option<Thread<'_>>; 3] = Default::default();
    for (slot, gate) in threads.iter_mut().zip(&gates) {
        *slot = Some(check_ok(thread::spawn("listed", |g: &Gate| g.wait(), gate), "spawn")?);
    }
    let (list, n) = koids(ctx.process(), info::PROCESS_THREADS)?;
    let mut want = [0u64; 4];
    want[0] = check_ok(koid_of(ctx.thread()), "koid")?;
    for (i, t) in threads.iter().enumerate() {
        want[i + 1] = t.as_ref().map_or(0, |t| koid_of(t.handle()).unwrap_or(0));
    }
    check_eq(&list[..n], &want[..], "PROCESS_THREADS: ours, then in start order")?;
    for gate in &gates {
        gate.open();
    }
    for t in threads.iter_mut() {
        if let Some(t) = t.take() {
            check_ok(t.join(), "join")?;
        }
    }
    let (_, n) = koids(ctx.process(), info::PROCESS_THREADS)?;
    check_eq(n, 1, "only our thread is left")
}

// ---------------------------------------------------------------------------------------
// Futexes
// ---------------------------------------------------------------------------------------

fn futex_errors_and_timeouts(ctx: &Ctx) -> TestResult {
    let word = AtomicI32::new(5);
    let ptr = addr_of(word.as_ptr());
    // SAFETY (raw calls below): the kernel only reads the futex words given.
    let raw_wait = |p: u64, v: i32, owner: u32, deadline: i64| unsafe {
        sys::call_status(nr::FUTEX_WAIT, [p, v as u32 as u64, owner as u64, deadline as u64])
    };
    check_status(raw_wait(0, 0, 0, 0), ZX_ERR_INVALID_ARGS, "NULL")?;
    check_status(raw_wait(ptr + 1, 5, 0, 0), ZX_ERR_INVALID_ARGS, "misaligned")?;
    check_status(raw_wait(USER_END, 5, 0, 0), ZX_ERR_INVALID_ARGS, "outside user space")?;
    // The word is read with one load that may fault: in a mapped page not yet committed
    // (the fault is resolved, the page reads as zeros) and in an unmapped page.
    let fresh = check_ok(vmo_create(PAGE_SIZE, 0), "a fresh VMO")?;
    let at = check_ok(vmar_map(ctx.root_vmar, VM_RW, 0, &fresh, 0, PAGE_SIZE), "map it")?;
    check_status(raw_wait(at + 64, 0, 0, 0), ZX_ERR_TIMED_OUT, "a word in an untouched page is 0")?;
    check_status(raw_wait(at + 64, 1, 0, 0), ZX_ERR_BAD_STATE, "and is not 1")?;
    check_ok(vmar_unmap(ctx.root_vmar, at, PAGE_SIZE), "unmap it")?;
    check_status(raw_wait(at + 64, 0, 0, 0), ZX_ERR_INVALID_ARGS, "a word in an unmapped page")?;
    check_status(futex_wait(&word, 6, 0, TIME_INFINITE), ZX_ERR_BAD_STATE, "value differs")?;
    check_status(futex_wait(&word, 5, 0, 0), ZX_ERR_TIMED_OUT, "deadline 0")?;
    check_status(futex_wait(&word, 5, 0, TIME_INFINITE_PAST), ZX_ERR_TIMED_OUT, "deadline in the past")?;
    let deadline = millis(5);
    check_status(futex_wait(&word, 5, 0, deadline), ZX_ERR_TIMED_OUT, "5 ms")?;
    check(clock_get_monotonic() >= deadline, "TIMED_OUT only at or after the deadline")?;
    check_status(futex_wait(&word, 5, 0x0BAD_0003, 0), ZX_ERR_BAD_HANDLE, "bogus owner")?;
    let vmo = check_ok(vmo_create(PAGE_SIZE, 0), "vmo")?;
    check_status(futex_wait(&word, 5, vmo.raw(), 0), ZX_ERR_WRONG_TYPE, "a VMO as owner")?;
    check_status(futex_wait(&word, 5, ctx.thread(), 0), ZX_ERR_INVALID_ARGS, "ourselves as owner")?;
    check_status(futex_wait(&word, 6, ctx.thread(), 0), ZX_ERR_BAD_STATE, "value first, then owner")?;
    // SAFETY: wake never touches the memory.
    let raw_wake = |p: u64, n: u32| unsafe { sys::call_status(nr::FUTEX_WAKE, [p, n as u64]) };
    check_status(raw_wake(0, 1), ZX_ERR_INVALID_ARGS, "wake NULL")?;
    check_status(raw_wake(ptr + 2, 1), ZX_ERR_INVALID_ARGS, "wake misaligned")?;
    check_status(raw_wake(0x7000_0000_0000, 1), ZX_OK, "wake an unmapped aligned address")?;
    check_ok(futex_wake(&word, 0), "wake 0")?;
    let other = AtomicI32::new(0);
    check_status(futex_requeue(&word, 1, 5, &word, 1, 0), ZX_ERR_INVALID_ARGS, "requeue onto itself")?;
    check_status(futex_requeue(&word, 1, 4, &other, 1, 0), ZX_ERR_BAD_STATE, "requeue: value differs")?;
    check_ok(futex_requeue(&word, 1, 5, &other, 1, 0), "requeue with no waiters")
}

struct Waiters {
    words: [AtomicI32; 2],
    /// Bit i: waiter i returned OK.
    woken: AtomicU32,
    /// Bit i: waiter i returned something else.
    errors: AtomicU32,
    next: AtomicU32,
}

fn futex_waiter(w: &Waiters) {
    let me = w.next.fetch_add(1, Ordering::AcqRel);
    match futex_wait(&w.words[0], 0, 0, seconds(2 * TIMEOUT_S)) {
        Ok(()) => w.woken.fetch_or(1 << me, Ordering::AcqRel),
        Err(_) => w.errors.fetch_or(1 << me, Ordering::AcqRel),
    };
}

/// Starts four waiters on `w.words[0]`, each blocked before the next starts.
fn four_waiters(w: &Waiters) -> Result<[Option<Thread<'_>>; 4], Failure> {
    let mut threads: [Option<Thread<'_>>; 4] = Default::default();
    for slot in threads.iter_mut() {
        let t = check_ok(thread::spawn("futex", futex_waiter, w), "spawn")?;
        wait_for("BLOCKED_FUTEX", || thread_state_of(t.handle()) == thread_state::BLOCKED_FUTEX)?;
        *slot = Some(t);
    }
    Ok(threads)
}

/// Waits until `woken` is exactly `want`, then checks it stays so for 20 ms.
#[track_caller]
fn expect_woken(w: &Waiters, want: u32, what: &str) -> TestResult {
    let location = core::panic::Location::caller();
    let waited = wait_for(what, || w.woken.load(Ordering::Acquire) & want == want);
    sleep_ns(20_000_000);
    let (woken, errors) = (w.woken.load(Ordering::Acquire), w.errors.load(Ordering::Acquire));
    if waited.is_err() || woken != want || errors != 0 {
        return Err(Failure::new(format_args!(
            "{what}: woken {woken:#06b}, want {want:#06b}, errors {errors:#06b} (line {})",
            location.line()
        )));
    }
    Ok(())
}

fn futex_wake_count_and_order(_ctx: &Ctx) -> TestResult {
    let w = Waiters {
        words: [AtomicI32::new(0), AtomicI32::new(0)],
        woken: AtomicU32::new(0),
        errors: AtomicU32::new(0),
        next: AtomicU32::new(0),
    };
    let threads = four_waiters(&w)?;
    check_ok(futex_wake(&w.words[0], 0), "wake 0")?;
    expect_woken(&w, 0, "wake 0 wakes nobody")?;
    check_ok(futex_wake(&w.words[0], 1), "wake 1")?;
    expect_woken(&w, 0b0001, "wake 1: the longest waiting")?;
    check_ok(futex_wake(&w.words[0], 2), "wake 2")?;
    expect_woken(&w, 0b0111, "wake 2: the next two")?;
    check_ok(futex_wake(&w.words[0], u32::MAX), "wake all")?;
    expect_woken(&w, 0b1111, "wake all")?;
    for t in threads.into_iter().flatten() {
        check_ok(t.join(), "join")?;
    }
    Ok(())
}

fn futex_requeue_moves_waiters(_ctx: &Ctx) -> TestResult {
    let w = Waiters {
        words: [AtomicI32::new(0), AtomicI32::new(0)],
        woken: AtomicU32::new(0),
        errors: AtomicU32::new(0),
        next: AtomicU32::new(0),
    };
    let threads = four_waiters(&w)?;
    check_status(futex_requeue(&w.words[0], 1, 1, &w.words[1], 2, 0), ZX_ERR_BAD_STATE, "value differs")?;
    expect_woken(&w, 0, "a failed requeue wakes nobody")?;
    // Wake the first, move the next two to words[1]; the fourth stays.
    check_ok(futex_requeue(&w.words[0], 1, 0, &w.words[1], 2, 0), "requeue")?;
    expect_woken(&w, 0b0001, "requeue woke the longest waiting")?;
    check_ok(futex_wake(&w.words[1], 1), "wake 1 on the second futex")?;
    expect_woken(&w, 0b0011, "the first moved waiter, in order")?;
    check_ok(futex_wake(&w.words[1], u32::MAX), "wake all on the second futex")?;
    expect_woken(&w, 0b0111, "the moved waiters only")?;
    check_ok(futex_wake(&w.words[0], u32::MAX), "wake all on the first")?;
    expect_woken(&w, 0b1111, "the one that stayed")?;
    for t in threads.into_iter().flatten() {
        check_ok(t.join(), "join")?;
    }
    Ok(())
}

/// A futex mutex (0 free, 1 locked, 2 locked with waiters) and a counter it guards,
/// incremented with separate loads and stores so unguarded increments would be lost.
struct Counted {
    lock: AtomicI32,
    count: UnsafeCell<u64>,
    per_thread: u64,
    contended: AtomicU64,
}

// SAFETY: `count` is only touched with `lock` held.
unsafe impl Sync for Counted {}

impl Counted {
    fn lock(&self) {
        if self.lock.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed).is_ok() {
            return;
        }
        self.contended.fetch_add(1, Ordering::Relaxed);
        while self.lock.swap(2, Ordering::Acquire) != 0 {
            let _ = futex_wait(&self.lock, 2, 0, TIME_INFINITE);
        }
    }

    fn unlock(&self) {
        if self.lock.swap(0, Ordering::Release) == 2 {
            let _ = futex_wake(&self.lock, 1);
        }
    }
}

fn count_under_lock(c: &Counted) {
    for i in 0..c.per_thread {
        c.lock();
        // SAFETY: the lock is held.
        unsafe {
            let value = core::ptr::read_volatile(c.count.get());
            if i % 64 == 0 {
                // Hold the lock a little longer now and then, so others queue up.
                for _ in 0..200 {
                    core::hint::spin_loop();
                }
            }
            core::ptr::write_volatile(c.count.get(), value + 1);
        }
        c.unlock();
    }
}

fn futex_mutex_counts_exactly(_ctx: &Ctx) -> TestResult {
    let threads_n = (cpus() as usize + 2).clamp(4, 8);
    let c =
        Counted { lock: AtomicI32::new(0), count: UnsafeCell::new(0), per_thread: 2000, contended: AtomicU64::new(0) };
    let mut threads: [Option<Thread<'_>>; 8] = Default::default();
    for slot in threads.iter_mut().take(threads_n) {
        *slot = Some(check_ok(thread::spawn("counter", count_under_lock, &c), "spawn")?);
    }
    for t in threads.iter_mut() {
        if let Some(t) = t.take() {
            check_ok(t.join(), "join")?;
        }
    }
    // SAFETY: every thread that used the counter has ended.
    let total = unsafe { core::ptr::read_volatile(c.count.get()) };
    check_eq(total, threads_n as u64 * c.per_thread, "the guarded count")?;
    check_eq(c.lock.load(Ordering::Acquire), 0, "the lock is free")
}

// ---------------------------------------------------------------------------------------
// Waits, time and CPUs
// ---------------------------------------------------------------------------------------

struct OneWaiter {
    handle: u32,
    signals: u32,
    status: AtomicI32,
    observed: AtomicU32,
}

fn wait_one_in_thread(w: &OneWaiter) {
    let (status, observed) = object_wait_one(w.handle, w.signals, seconds(2 * TIMEOUT_S));
    w.observed.store(observed, Ordering::Release);
    w.status.store(status, Ordering::Release);
}

fn wait_one_woken_and_canceled_by_other_threads(_ctx: &Ctx) -> TestResult {
    // Woken by a signal from another thread (maybe on another CPU).
    let event = check_ok(event_create(0), "event")?;
    let w = OneWaiter {
        handle: event.raw(),
        signals: EVENT_SIGNALED,
        status: AtomicI32::new(1),
        observed: AtomicU32::new(0),
    };
    let mut t = check_ok(thread::spawn("waiter", wait_one_in_thread, &w), "spawn")?;
    wait_for("BLOCKED_WAIT_ONE", || thread_state_of(t.handle()) == thread_state::BLOCKED_WAIT_ONE)?;
    check_ok(object_signal(&event, 0, EVENT_SIGNALED | USER_SIGNAL_0), "signal")?;
    check_ok(t.join_until(seconds(TIMEOUT_S)), "join")?;
    check_status(w.status.load(Ordering::Acquire), ZX_OK, "the waiter's status")?;
    check_hex(w.observed.load(Ordering::Acquire) as u64, (EVENT_SIGNALED | USER_SIGNAL_0) as u64, "observed")?;

    // Canceled by closing the handle it waits through.
    let dup = check_ok(handle_duplicate(&event, rights::SAME_RIGHTS), "dup")?;
    check_ok(object_signal(&event, EVENT_SIGNALED | USER_SIGNAL_0, 0), "clear")?;
    let w = OneWaiter {
        handle: dup.raw(),
        signals: EVENT_SIGNALED,
        status: AtomicI32::new(1),
        observed: AtomicU32::new(0),
    };
    let mut t = check_ok(thread::spawn("waiter", wait_one_in_thread, &w), "spawn")?;
    wait_for("BLOCKED_WAIT_ONE", || thread_state_of(t.handle()) == thread_state::BLOCKED_WAIT_ONE)?;
    check_ok(handle_close(dup.into_raw()), "close the handle it waits on")?;
    check_ok(t.join_until(seconds(TIMEOUT_S)), "join")?;
    check_status(w.status.load(Ordering::Acquire), ZX_ERR_CANCELED, "the waiter's status")?;
    check_hex(w.observed.load(Ordering::Acquire) as u64, SIGNAL_HANDLE_CLOSED as u64, "observed")?;

    // A thread's end wakes a waiter on TERMINATED.
    let counter = AtomicU64::new(0);
    let victim = check_ok(thread::spawn("victim", spin_counting, &counter), "spawn")?;
    let w = OneWaiter {
        handle: victim.raw(),
        signals: TASK_TERMINATED,
        status: AtomicI32::new(1),
        observed: AtomicU32::new(0),
    };
    let mut t = check_ok(thread::spawn("waiter", wait_one_in_thread, &w), "spawn")?;
    wait_for("BLOCKED_WAIT_ONE", || thread_state_of(t.handle()) == thread_state::BLOCKED_WAIT_ONE)?;
    check_ok(victim.kill(), "kill")?;
    check_ok(t.join_until(seconds(TIMEOUT_S)), "join")?;
    check_status(w.status.load(Ordering::Acquire), ZX_OK, "woken by TERMINATED")?;
    check(w.observed.load(Ordering::Acquire) & TASK_TERMINATED != 0, "observed TERMINATED")?;
    drop(victim);
    Ok(())
}

struct ManyWaiter {
    items: UnsafeCell<[WaitItem; 2]>,
    status: AtomicI32,
}

// SAFETY: `items` belongs to the waiting thread until it has ended.
unsafe impl Sync for ManyWaiter {}

fn wait_many_in_thread(w: &ManyWaiter) {
    // SAFETY: only this thread touches the items until it ends.
    let items = unsafe { &mut *w.items.get() };
    let status = match object_wait_many(items, seconds(2 * TIMEOUT_S)) {
        Ok(()) => ZX_OK,
        Err(status) => status,
    };
    w.status.store(status, Ordering::Release);
}

fn wait_many_signals_timeouts_cancel(ctx: &Ctx) -> TestResult {
    let (e1, e2) = (check_ok(event_create(0), "event")?, check_ok(event_create(0), "event")?);
    check_ok(object_signal(&e2, 0, EVENT_SIGNALED | USER_SIGNAL_0), "signal e2")?;
    let mut items = [WaitItem::new(&e1, EVENT_SIGNALED), WaitItem::new(&e2, EVENT_SIGNALED)];
    check_ok(object_wait_many(&mut items, 0), "one already signalled")?;
    check_hex(items[0].pending as u64, 0, "pending of e1")?;
    check_hex(items[1].pending as u64, (EVENT_SIGNALED | USER_SIGNAL_0) as u64, "pending of e2")?;
    check_ok(object_signal(&e2, EVENT_SIGNALED | USER_SIGNAL_0, 0), "clear e2")?;
    let mut items = [WaitItem::new(&e1, EVENT_SIGNALED), WaitItem::new(&e2, EVENT_SIGNALED)];
    let deadline = millis(5);
    check_status(object_wait_many(&mut items, deadline), ZX_ERR_TIMED_OUT, "nothing signalled")?;
    check(clock_get_monotonic() >= deadline, "TIMED_OUT only at or after the deadline")?;
    check_eq((items[0].pending, items[1].pending), (0, 0), "pending written back")?;
    let deadline = millis(5);
    check_status(object_wait_many(&mut [], deadline), ZX_ERR_TIMED_OUT, "count 0 sleeps until the deadline")?;
    check(clock_get_monotonic() >= deadline, "count 0: at or after the deadline")?;

    let mut many = [WaitItem::new(&e1, EVENT_SIGNALED); 65];
    check_status(object_wait_many(&mut many, 0), ZX_ERR_OUT_OF_RANGE, "65 items")?;
    check_status(object_wait_many(&mut many[..64], 0), ZX_ERR_TIMED_OUT, "64 items")?;
    let mut bad = [WaitItem::new(&e1, EVENT_SIGNALED), WaitItem::new(0x0BAD_0003u32, 1)];
    check_status(object_wait_many(&mut bad, 0), ZX_ERR_BAD_HANDLE, "a bad handle in item 1")?;
    let mut vmar = [WaitItem::new(&e1, EVENT_SIGNALED), WaitItem::new(ctx.root_vmar, 1)];
    check_status(object_wait_many(&mut vmar, 0), ZX_ERR_NOT_SUPPORTED, "a VMAR cannot be waited on")?;
    let no_wait = check_ok(handle_duplicate(&e1, rights::DUPLICATE | rights::TRANSFER), "dup")?;
    let mut denied = [WaitItem::new(&no_wait, EVENT_SIGNALED)];
    check_status(object_wait_many(&mut denied, 0), ZX_ERR_ACCESS_DENIED, "no WAIT right")?;

    // Woken from another thread by a thread's end.
    let counter = AtomicU64::new(0);
    let victim = check_ok(thread::spawn("victim", spin_counting, &counter), "spawn")?;
    let w = ManyWaiter {
        items: UnsafeCell::new([WaitItem::new(&e1, EVENT_SIGNALED), WaitItem::new(victim.handle(), TASK_TERMINATED)]),
        status: AtomicI32::new(1),
    };
    let mut t = check_ok(thread::spawn("waiter", wait_many_in_thread, &w), "spawn")?;
    wait_for("BLOCKED_WAIT_MANY", || thread_state_of(t.handle()) == thread_state::BLOCKED_WAIT_MANY)?;
    check_ok(victim.kill(), "kill")?;
    check_ok(t.join_until(seconds(TIMEOUT_S)), "join")?;
    check_status(w.status.load(Ordering::Acquire), ZX_OK, "woken")?;
    // SAFETY: the waiter has ended.
    let items = unsafe { *w.items.get() };
    check_eq(items[0].pending, 0, "pending of the quiet event")?;
    check(items[1].pending & TASK_TERMINATED != 0, "pending of the dead thread")?;
    drop(victim);

    // Canceled by closing one of its handles.
    let dup = check_ok(handle_duplicate(&e2, rights::SAME_RIGHTS), "dup")?;
    let w = ManyWaiter {
        items: UnsafeCell::new([WaitItem::new(&e1, EVENT_SIGNALED), WaitItem::new(&dup, EVENT_SIGNALED)]),
        status: AtomicI32::new(1),
    };
    let mut t = check_ok(thread::spawn("waiter", wait_many_in_thread, &w), "spawn")?;
    wait_for("BLOCKED_WAIT_MANY", || thread_state_of(t.handle()) == thread_state::BLOCKED_WAIT_MANY)?;
    check_ok(handle_close(dup.into_raw()), "close")?;
    check_ok(t.join_until(seconds(TIMEOUT_S)), "join")?;
    check_status(w.status.load(Ordering::Acquire), ZX_ERR_CANCELED, "canceled")?;
    // SAFETY: the waiter has ended.
    let items = unsafe { *w.items.get() };
    check(items[1].pending & SIGNAL_HANDLE_CLOSED != 0, "HANDLE_CLOSED in the closed item's pending")?;
    Ok(())
}

fn time_sleep_deadlines_ticks(_ctx: &Ctx) -> TestResult {
    let before = clock_get_monotonic();
    let d = deadline_after(0);
    let after = clock_get_monotonic();
    check(before <= d && d <= after, "deadline_after(0) is now")?;
    check_eq(deadline_after(i64::MAX), TIME_INFINITE, "deadline_after saturates up")?;
    check(deadline_after(-1_000_000) < clock_get_monotonic(), "a negative interval is in the past")?;
    let deadline = millis(10);
    check_ok(nanosleep(deadline), "nanosleep")?;
    let woke = clock_get_monotonic();
    check(woke >= deadline, "nanosleep returns at or after its deadline")?;
    check_ok(nanosleep(0), "nanosleep(0) yields")?;
    check_ok(nanosleep(-5), "nanosleep(-5) yields")?;
    check_ok(nanosleep(TIME_INFINITE_PAST), "nanosleep(INFINITE_PAST) yields")?;

    let t0 = counter_ticks() as i64;
    let t1 = ticks_get();
    let t2 = counter_ticks() as i64;
    check(t0 <= t1 && t1 <= t2, "zx_ticks_get reads CNTVCT_EL0")?;
    check_eq(ticks_per_second(), counter_frequency() as i64, "zx_ticks_per_second is CNTFRQ_EL0")?;
    let mut last = clock_get_monotonic();
    for _ in 0..1000 {
        let now = clock_get_monotonic();
        if now < last {
            fail!("the monotonic clock went back from {last} to {now}");
        }
        last = now;
    }
    // Monotonic time is the counter scaled to nanoseconds: over 20 ms, the clock's change
    // lies between the counter's changes measured from just inside and just outside.
    let ns = |ticks: u64| (ticks as u128 * 1_000_000_000 / counter_frequency() as u128) as i64;
    let (a0, m0, b0) = (counter_ticks(), clock_get_monotonic(), counter_ticks());
    sleep_ns(20_000_000);
    let (a1, m1, b1) = (counter_ticks(), clock_get_monotonic(), counter_ticks());
    let (low, high) = (ns(a1 - b0) - 1, ns(b1 - a0) + 1);
    if !(low..=high).contains(&(m1 - m0)) {
        fail!("monotonic time moved {} ns while the counter moved {low}..={high} ns", m1 - m0);
    }

    // A thread sleeping for ever reports BLOCKED_SLEEPING.
    let unused = AtomicU32::new(0);
    let mut t = check_ok(
        thread::spawn(
            "sleeper",
            |_: &AtomicU32| {
                let _ = nanosleep(TIME_INFINITE);
            },
            &unused,
        ),
        "spawn",
    )?;
    wait_for("BLOCKED_SLEEPING", || thread_state_of(t.handle()) == thread_state::BLOCKED_SLEEPING)?;
    check_ok(t.kill(), "kill")?;
    check_ok(t.join_until(seconds(TIMEOUT_S)), "join")
}

fn system_cpus_and_page_size(ctx: &Ctx) -> TestResult {
    check_hex(system_get_page_size(), 4096, "zx_system_get_page_size (all of x0)")?;
    let n = system_get_num_cpus();
    check((1..=64).contains(&n), "a CPU count in 1..=64 (all of x0)")?;
    match ctx.arg_u64("cpus") {
        Some(want) => check_eq(n, want, "zx_system_get_num_cpus against cpus= (the -smp given)"),
        None => skip!("no cpus= word; {n} CPUs online"),
    }
}

// ---------------------------------------------------------------------------------------
// Scheduling: preemption and parallelism
// ---------------------------------------------------------------------------------------

struct Spinners {
    counts: [AtomicU64; 9],
    stop: AtomicBool,
    next: AtomicU32,
}

fn spin_until_stopped(s: &Spinners) {
    let me = s.next.fetch_add(1, Ordering::AcqRel) as usize;
    // No syscalls: only the timer can take the CPU away.
    while !s.stop.load(Ordering::Relaxed) {
        s.counts[me].fetch_add(1, Ordering::Relaxed);
    }
}

fn preemption_spinners_do_not_starve_others(_ctx: &Ctx) -> TestResult {
    // More spinners than CPUs: every CPU is busy and some CPU has two of them.
    let n = (cpus() as usize + 1).clamp(2, 9);
    let s = Spinners { counts: Default::default(), stop: AtomicBool::new(false), next: AtomicU32::new(0) };
    let mut threads: [Option<Thread<'_>>; 9] = Default::default();
    for slot in threads.iter_mut().take(n) {
        *slot = Some(check_ok(thread::spawn("spinner", spin_until_stopped, &s), "spawn")?);
    }
    // We still get to run (this sleep ends), and each spinner gets turns: after a
    // snapshot, every one of them moves on again.
    let result = (|| {
        sleep_ns(20_000_000);
        for round in 0..3 {
            let mut snapshot = [0u64; 9];
            for (i, count) in snapshot.iter_mut().enumerate().take(n) {
                *count = s.counts[i].load(Ordering::Relaxed);
            }
            let all_moved = || (0..n).all(|i| s.counts[i].load(Ordering::Relaxed) > snapshot[i]);
            wait_for("every spinner to advance", all_moved).map_err(|e| {
                let mut text = user::console::TextBuf::<120>::new();
                for i in 0..n {
                    let _ = core::fmt::Write::write_fmt(
                        &mut text,
                        format_args!(" {}", s.counts[i].load(Ordering::Relaxed)),
                    );
                }
                Failure::new(format_args!("round {round}: {e}; counts:{}", text.as_str()))
            })?;
        }
        Ok(())
    })();
    s.stop.store(true, Ordering::Release);
    for t in threads.iter_mut() {
        if let Some(mut t) = t.take() {
            check_ok(t.join_until(seconds(TIMEOUT_S)), "a spinner ends once stopped")?;
        }
    }
    result
}

struct Pair {
    counts: [AtomicU64; 2],
    /// Observations made in one stretch without a pause, per thread.
    best: [AtomicU64; 2],
    done: [AtomicBool; 2],
    next: AtomicU32,
    gap_ticks: u64,
    end_ticks: u64,
}

/// How many changes of the other thread's counter a thread must see in a row, each
/// within `gap_ticks` of its previous loop iteration: impossible unless both run at once.
const PARALLEL_CHANGES: u64 = 200;

fn watch_each_other(p: &Pair) {
    let me = p.next.fetch_add(1, Ordering::AcqRel) as usize & 1;
    let other = 1 - me;
    let mut last = counter_ticks();
    let mut seen = p.counts[other].load(Ordering::Relaxed);
    let mut streak = 0u64;
    loop {
        p.counts[me].fetch_add(1, Ordering::Relaxed);
        let now = counter_ticks();
        if now - last > p.gap_ticks {
            // We were paused (an interrupt, a switch, the host): start over.
            streak = 0;
            seen = p.counts[other].load(Ordering::Relaxed);
        }
        last = now;
        let value = p.counts[other].load(Ordering::Relaxed);
        if value != seen {
            seen = value;
            streak += 1;
            if streak > p.best[me].load(Ordering::Relaxed) {
                p.best[me].store(streak, Ordering::Relaxed);
            }
            if streak >= PARALLEL_CHANGES {
                p.done[me].store(true, Ordering::Release);
            }
        }
        // Keep counting until the other one is done too (it watches us), or time is up.
        let both = p.done[0].load(Ordering::Acquire) && p.done[1].load(Ordering::Acquire);
        if both || now > p.end_ticks {
            return;
        }
    }
}

fn parallel_threads_see_each_other_without_syscalls(ctx: &Ctx) -> TestResult {
    if cpus() < 2 {
        skip!("one CPU");
    }
    if ctx.arg("parallel") == Some("0") {
        skip!("parallel=0 (vCPUs run one at a time)");
    }
    let hz = counter_frequency();
    let p = Pair {
        counts: Default::default(),
        best: Default::default(),
        done: Default::default(),
        next: AtomicU32::new(0),
        // 200 us: far below a time slice, far above one loop iteration.
        gap_ticks: hz / 5000,
        end_ticks: counter_ticks() + hz * 10,
    };
    let a = check_ok(thread::spawn("watch-a", watch_each_other, &p), "spawn")?;
    let b = check_ok(thread::spawn("watch-b", watch_each_other, &p), "spawn")?;
    check_ok(a.join(), "join")?;
    check_ok(b.join(), "join")?;
    let (best_a, best_b) = (p.best[0].load(Ordering::Acquire), p.best[1].load(Ordering::Acquire));
    if !(p.done[0].load(Ordering::Acquire) && p.done[1].load(Ordering::Acquire)) {
        fail!(
            "in 10 s, the longest runs of uninterrupted observations of the other thread were {best_a} and {best_b} \
             (want {PARALLEL_CHANGES}): the two threads never ran at the same time"
        );
    }
    Ok(())
}

/// A futex ping-pong: the main thread stores odd values, the partner even ones, each
/// waking the other and waiting for its answer.
struct PingPong {
    word: AtomicI32,
    rounds: i32,
}

fn ping_pong_partner(p: &PingPong) {
    for round in 0..p.rounds {
        wait_for_value(&p.word, 2 * round + 1);
        p.word.store(2 * round + 2, Ordering::Release);
        let _ = futex_wake(&p.word, 1);
    }
}

fn wait_for_value(word: &AtomicI32, want: i32) {
    loop {
        let now = word.load(Ordering::Acquire);
        if now == want {
            return;
        }
        let _ = futex_wait(word, now, 0, seconds(TIMEOUT_S));
    }
}

fn a_woken_thread_runs_on_an_idle_cpu(ctx: &Ctx) -> TestResult {
    // ABI.md section 7: a thread that becomes runnable while a CPU is idle runs on an idle
    // CPU. In a ping-pong the waker runs on its CPU when it wakes the other thread and
    // another CPU is idle (the other thread's, at least), so each wake puts the woken
    // thread on a CPU other than the waker's, and the two end on different CPUs. (A
    // woken CPU that had not yet run lost its thread to the waker's CPU when the waker
    // blocked first, and under -icount both threads then ran on one CPU.)
    if cpus() < 2 {
        skip!("one CPU");
    }
    let p = PingPong { word: AtomicI32::new(0), rounds: 50 };
    let mut partner = check_ok(thread::spawn("pong", ping_pong_partner, &p), "spawn")?;
    for round in 0..p.rounds {
        p.word.store(2 * round + 1, Ordering::Release);
        let _ = futex_wake(&p.word, 1);
        wait_for_value(&p.word, 2 * round + 2);
    }
    check_ok(partner.join_until(seconds(TIMEOUT_S)), "join")?;
    let theirs = check_ok(info_thread_stats(partner.handle()), "the partner's THREAD_STATS")?;
    let mine = check_ok(info_thread_stats(ctx.thread()), "our THREAD_STATS")?;
    if theirs.last_scheduled_cpu == mine.last_scheduled_cpu {
        fail!("both threads of the ping-pong ended on CPU {}", mine.last_scheduled_cpu);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Memory views across address spaces
// ---------------------------------------------------------------------------------------

const OLD_WORD: u64 = 0x0123_4567_89AB_CDEF;
const POISON_WORD: u64 = 0xBAD0_BAD1_BAD2_BAD3;

/// Commits `pages` pages full of POISON_WORD in a new VMO: after a page was freed, it is
/// likely among them (frames are reused), so a stale translation would show POISON_WORD.
fn poison(pages: u64) -> Result<Handle, Failure> {
    let vmo = check_ok(vmo_create(pages * PAGE_SIZE, 0), "poison vmo")?;
    let page = [POISON_WORD; 512];
    // SAFETY: reinterpreting the u64 array as its bytes.
    let bytes = unsafe { core::slice::from_raw_parts(page.as_ptr().cast::<u8>(), PAGE_SIZE as usize) };
    for i in 0..pages {
        check_ok(vmo_write(&vmo, bytes, i * PAGE_SIZE), "fill poison")?;
    }
    Ok(vmo)
}

/// A one-page VMO full of OLD_WORD mapped in a watching child; returns them after the
/// child has read it a few times (its TLB holds the translation).
fn watched_page(ctx: &Ctx, resizable: bool) -> Result<(Handle, Child), Failure> {
    let vmo = check_ok(vmo_create(PAGE_SIZE, if resizable { VMO_RESIZABLE } else { 0 }), "shared vmo")?;
    let page = [OLD_WORD; 512];
    // SAFETY: reinterpreting the u64 array as its bytes.
    let bytes = unsafe { core::slice::from_raw_parts(page.as_ptr().cast::<u8>(), PAGE_SIZE as usize) };
    check_ok(vmo_write(&vmo, bytes, 0), "fill")?;
    let child = Child::new(ctx, ctx.root_job(), "watcher", CMD_WATCH, &[0, OLD_WORD])?;
    let at = check_ok(vmar_map(&child.image.vmar, VM_PERM_READ, 0, &vmo, 0, PAGE_SIZE), "map in the child")?;
    child.mb().args[0].store(at, Ordering::Release);
    child.start(0)?;
    child.wait_progress(5)?;
    Ok((vmo, child))
}

fn stale_mapping_decommit_cross_process(ctx: &Ctx) -> TestResult {
    // Mapped here too, so both address spaces hold a translation.
    let (vmo, child) = watched_page(ctx, false)?;
    let ours = check_ok(Mapping::new(ctx.root_vmar, VM_PERM_READ, 0, &vmo, 0, PAGE_SIZE), "map here")?;
    check_eq(ours.read(0), 0xEF, "our view before")?;
    check_ok(vmo_op_range(&vmo, OP_DECOMMIT, 0, PAGE_SIZE), "DECOMMIT")?;
    let mut poisons = [poison(32)?, poison(32)?];
    check_eq(ours.read(8), 0, "our view after DECOMMIT")?;
    child.mb().phase.store(1, Ordering::Release);
    // Let the child read in phase 1 while the freed frames keep being reused.
    let start = child.mb().progress.load(Ordering::Acquire);
    for round in 0..6 {
        poisons[round % 2] = poison(32)?;
        let _ = nanosleep(0);
    }
    child.wait_progress(start + 5)?;
    child.mb().phase.store(2, Ordering::Release);
    let info = child.wait_end()?;
    check_eq(info.return_code, 0, "the watcher's return code")?;
    let bad = child.mb().results[0].load(Ordering::Acquire);
    if bad != 0 {
        fail!(
            "the other process read {bad} words of old or reused data after DECOMMIT (last {:#x})",
            child.mb().results[1].load(Ordering::Acquire)
        );
    }
    check(child.mb().results[2].load(Ordering::Acquire) > 0, "the child read the page after DECOMMIT")?;
    drop(poisons);
    Ok(())
}

fn stale_mapping_shrink_cross_process(ctx: &Ctx) -> TestResult {
    fault_lines_follow();
    let (vmo, child) = watched_page(ctx, true)?;
    check_ok(vmo_set_size(&vmo, 0), "shrink to 0")?;
    let mut poisons = [poison(32)?, poison(32)?];
    child.mb().phase.store(1, Ordering::Release);
    for round in 0..6 {
        poisons[round % 2] = poison(32)?;
        let _ = nanosleep(0);
    }
    // The child's next read of the page faults: beyond the VMO's end.
    let info = child.wait_end()?;
    check_eq(info.return_code, retcode::EXCEPTION_KILL, "the watcher faulted")?;
    let bad = child.mb().results[0].load(Ordering::Acquire);
    if bad != 0 {
        fail!(
            "the other process read {bad} words of old or reused data after the shrink (last {:#x})",
            child.mb().results[1].load(Ordering::Acquire)
        );
    }
    check_eq(child.mb().results[2].load(Ordering::Acquire), 0, "reads that succeeded after the shrink")?;
    drop(poisons);
    fault_lines_done();
    Ok(())
}

fn stale_mapping_unmap_cross_process(ctx: &Ctx) -> TestResult {
    fault_lines_follow();
    let (_vmo, child) = watched_page(ctx, false)?;
    let at = child.mb().args[0].load(Ordering::Acquire);
    // Unmapped from the child's address space by us, while it reads on another CPU.
    check_ok(vmar_unmap(&child.image.vmar, at, PAGE_SIZE), "unmap from the child")?;
    child.mb().phase.store(1, Ordering::Release);
    let info = child.wait_end()?;
    check_eq(info.return_code, retcode::EXCEPTION_KILL, "the watcher faulted")?;
    check_eq(child.mb().results[0].load(Ordering::Acquire), 0, "bad words read")?;
    check_eq(child.mb().results[2].load(Ordering::Acquire), 0, "passes over the page after the unmap returned")?;
    fault_lines_done();
    Ok(())
}

struct Watcher {
    addr: u64,
    phase: AtomicU64,
    passes: AtomicU64,
    passes_after: AtomicU64,
    bad: AtomicU64,
    last_bad: AtomicU64,
}

/// The in-process watcher: as the child's CMD_WATCH, on a thread of ours.
fn watch_page(w: &Watcher) {
    loop {
        let phase = w.phase.load(Ordering::Acquire);
        if phase >= 2 {
            return;
        }
        for i in 0..512 {
            // SAFETY: the page stays mapped (only decommitted) until this thread ends.
            let word = unsafe { core::ptr::read_volatile((w.addr as usize as *const u64).add(i)) };
            if !(word == 0 || (word == OLD_WORD && phase == 0)) {
                w.bad.fetch_add(1, Ordering::AcqRel);
                w.last_bad.store(word, Ordering::Release);
            }
        }
        if phase == 1 {
            w.passes_after.fetch_add(1, Ordering::AcqRel);
        }
        w.passes.fetch_add(1, Ordering::AcqRel);
    }
}

fn stale_mapping_decommit_same_process(ctx: &Ctx) -> TestResult {
    // One address space, two CPUs (when there are): a thread reading a page that the
    // main thread decommits must see zeros from then on, never the reused frame.
    let vmo = check_ok(vmo_create(PAGE_SIZE, 0), "vmo")?;
    let page = [OLD_WORD; 512];
    // SAFETY: reinterpreting the u64 array as its bytes.
    let bytes = unsafe { core::slice::from_raw_parts(page.as_ptr().cast::<u8>(), PAGE_SIZE as usize) };
    check_ok(vmo_write(&vmo, bytes, 0), "fill")?;
    let map = check_ok(Mapping::new(ctx.root_vmar, VM_PERM_READ, 0, &vmo, 0, PAGE_SIZE), "map")?;
    let w = Watcher {
        addr: map.addr(),
        phase: AtomicU64::new(0),
        passes: AtomicU64::new(0),
        passes_after: AtomicU64::new(0),
        bad: AtomicU64::new(0),
        last_bad: AtomicU64::new(0),
    };
    let t = check_ok(thread::spawn("watcher", watch_page, &w), "spawn")?;
    wait_for("the watcher's passes", || w.passes.load(Ordering::Acquire) >= 5)?;
    check_ok(vmo_op_range(&vmo, OP_DECOMMIT, 0, PAGE_SIZE), "DECOMMIT")?;
    let mut poisons = [poison(32)?, poison(32)?];
    w.phase.store(1, Ordering::Release);
    let start = w.passes.load(Ordering::Acquire);
    for round in 0..6 {
        poisons[round % 2] = poison(32)?;
        let _ = nanosleep(0);
    }
    wait_for("more passes", || w.passes.load(Ordering::Acquire) >= start + 5)?;
    w.phase.store(2, Ordering::Release);
    check_ok(t.join(), "join")?;
    let bad = w.bad.load(Ordering::Acquire);
    if bad != 0 {
        fail!(
            "another thread read {bad} words of old or reused data after DECOMMIT (last {:#x})",
            w.last_bad.load(Ordering::Acquire)
        );
    }
    check(w.passes_after.load(Ordering::Acquire) > 0, "the thread read the page after DECOMMIT")?;
    drop((poisons, map));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Kernel memory
// ---------------------------------------------------------------------------------------

/// One round of everything: threads, processes (one faulting, one killed), jobs, events.
fn task_round(ctx: &Ctx) -> TestResult {
    let c =
        Counted { lock: AtomicI32::new(0), count: UnsafeCell::new(0), per_thread: 50, contended: AtomicU64::new(0) };
    let mut threads: [Option<Thread<'_>>; 4] = Default::default();
    for slot in threads.iter_mut() {
        *slot = Some(check_ok(thread::spawn("round", count_under_lock, &c), "spawn")?);
    }
    for t in threads.iter_mut() {
        if let Some(t) = t.take() {
            check_ok(t.join(), "join")?;
        }
    }
    let exits = Child::spawn(ctx, ctx.root_job(), "round-exit", CMD_EXIT, &[3], 0)?;
    check_eq(exits.wait_end()?.return_code, 3, "exit")?;
    let faults = Child::spawn(ctx, ctx.root_job(), "round-fault", CMD_FAULT, &[FAULT_READ_NULL], 0)?;
    check_eq(faults.wait_end()?.return_code, retcode::EXCEPTION_KILL, "fault")?;
    let job = check_ok(job_create(ctx.root_job(), 0), "job")?;
    let inner = check_ok(job_create(&job, 0), "inner job")?;
    let (mine, theirs) = check_ok(eventpair_create(0), "eventpair")?;
    let blocked = Child::spawn(ctx, &inner, "round-blocked", CMD_BLOCK, &[1], theirs.into_raw())?;
    blocked.wait_progress(1)?;
    let never = Child::new(ctx, &inner, "round-new", CMD_EXIT, &[0])?;
    check_ok(task_kill(&job), "kill")?;
    wait_end(&job, "job")?;
    drop((blocked, never, mine, inner, job, exits, faults));
    let events = [check_ok(event_create(0), "event")?, check_ok(event_create(0), "event")?];
    drop(events);
    Ok(())
}

fn kmem_free_bytes_back_after_tasks(ctx: &Ctx) -> TestResult {
    fault_lines_follow();
    let stats = |what| check_ok(kmem_stats(ctx.root_resource), what);
    // The first rounds may leave what this process keeps by design (page tables grown
    // for new addresses, handle-table capacity: ABI.md 4.3); later rounds must not.
    task_round(ctx)?;
    task_round(ctx)?;
    let before = stats("KMEM_STATS before")?;
    task_round(ctx)?;
    let after = stats("KMEM_STATS after")?;
    if after.free_bytes != before.free_bytes {
        fail!(
            "free_bytes {} before a round of threads, processes and jobs, {} after ({} bytes lost); vmo_bytes {} -> {}",
            before.free_bytes,
            after.free_bytes,
            before.free_bytes as i64 - after.free_bytes as i64,
            before.vmo_bytes,
            after.vmo_bytes
        );
    }
    check_eq(after.vmo_bytes, before.vmo_bytes, "vmo_bytes")?;
    fault_lines_done();
    Ok(())
}
