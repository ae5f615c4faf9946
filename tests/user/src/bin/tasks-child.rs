//! The child program of the `tasks` suite: started by it with `zx_process_start` from the
//! same initrd archive (`bin/tasks-child`), with x0 = one handle and x1 = the address of
//! the mailbox page it shares with its parent (`user::proto`). It does what the mailbox's
//! command says and ends; the parent reads the outcome from the mailbox and the return
//! code from `ZX_INFO_PROCESS`.
#![no_std]
#![no_main]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use user::proto::*;
use user::zx;
use user::{Ctx, entry};

entry!(main);

fn main(ctx: &Ctx) -> i64 {
    let handle = ctx.regs[0] as u32;
    let mailbox_addr = ctx.regs[1];
    if mailbox_addr == 0 || !mailbox_addr.is_multiple_of(4096) {
        return 100;
    }
    // SAFETY: x1 is the address of the mailbox page the parent mapped here read-write for
    // the life of this process; every field is an atomic.
    let mb = unsafe { &*(mailbox_addr as usize as *const Mailbox) };
    let arg = |i: usize| mb.args[i].load(Ordering::Acquire);
    match mb.command.load(Ordering::Acquire) {
        CMD_EXIT => arg(0) as i64,
        CMD_THREAD_EXIT => zx::thread_exit(),
        CMD_FAULT => fault(arg(0), mailbox_addr),
        CMD_SPIN => loop {
            mb.progress.fetch_add(1, Ordering::Relaxed);
        },
        CMD_BLOCK => block(mb, handle, arg(0)),
        CMD_MEMORY => memory(mb, arg(0), arg(1), arg(2)),
        CMD_WATCH => watch(mb, arg(0), arg(1)),
        CMD_THREADS => threads(mb, handle, arg(0), arg(1), arg(2)),
        CMD_SIGNAL => signal(handle),
        CMD_COUNT_AND_EXIT => {
            mb.progress.fetch_add(1, Ordering::AcqRel);
            zx::thread_exit()
        }
        _ => 101,
    }
}

fn fault(kind: u64, mailbox_addr: u64) -> i64 {
    // SAFETY (all cases): each is meant to fault and so end this process; none returns.
    unsafe {
        match kind {
            FAULT_READ_NULL => {
                core::ptr::read_volatile(core::ptr::null::<u64>());
            }
            FAULT_WRITE_TEXT => core::ptr::write_volatile(0x40_0000 as *mut u32, 0),
            FAULT_UNDEFINED => core::arch::asm!("udf #7"),
            FAULT_BRK => core::arch::asm!("brk #0x42"),
            FAULT_EXEC_DATA => {
                // The mailbox is mapped read-write, never executable.
                let f: extern "C" fn() = core::mem::transmute::<usize, extern "C" fn()>(mailbox_addr as usize);
                f();
            }
            _ => return 102,
        }
    }
    103 // the fault did not happen
}

fn block(mb: &Mailbox, handle: u32, how: u64) -> i64 {
    let word = AtomicI32::new(0);
    mb.progress.store(1, Ordering::Release);
    match how {
        0 => {
            let _ = zx::nanosleep(zx::TIME_INFINITE);
        }
        1 => {
            let _ = zx::object_wait_one(handle, zx::USER_SIGNAL_0 << 7, zx::TIME_INFINITE);
        }
        _ => {
            let _ = zx::futex_wait(&word, 0, 0, zx::TIME_INFINITE);
        }
    }
    104 // woken, which nobody should do
}

fn memory(mb: &Mailbox, at: u64, len: u64, out_offset: u64) -> i64 {
    while mb.phase.load(Ordering::Acquire) < 1 {
        let _ = zx::nanosleep(0);
    }
    let mut sum = 0i64;
    for i in 0..len {
        // SAFETY: the parent placed `len` bytes at `at` and asked for the results at
        // `at + out_offset`, both inside this process's stack mapping, below anything the
        // stack itself reaches.
        unsafe {
            let byte = core::ptr::read_volatile((at + i) as usize as *const u8);
            sum += byte as i64;
            core::ptr::write_volatile((at + out_offset + i) as usize as *mut u8, byte ^ 0x5A);
        }
    }
    mb.progress.store(1, Ordering::Release);
    while mb.phase.load(Ordering::Acquire) < 2 {
        let _ = zx::nanosleep(0);
    }
    sum
}

fn watch(mb: &Mailbox, addr: u64, old: u64) -> i64 {
    let words = 512usize;
    let (mut bad, mut reads_after) = (0u64, 0u64);
    loop {
        let phase = mb.phase.load(Ordering::Acquire);
        if phase >= 2 {
            break;
        }
        for i in 0..words {
            // SAFETY: the parent mapped a page at `addr` for this; after a shrink the
            // read faults, which ends this process (what the parent then expects).
            let word = unsafe { core::ptr::read_volatile((addr as usize as *const u64).add(i)) };
            let fine = word == 0 || (word == old && phase == 0);
            if !fine {
                bad += 1;
                mb.results[0].store(bad, Ordering::Release);
                mb.results[1].store(word, Ordering::Release);
            }
        }
        if phase == 1 {
            reads_after += 1;
            mb.results[2].store(reads_after, Ordering::Release);
        }
        mb.progress.fetch_add(1, Ordering::AcqRel);
    }
    0
}

/// Stacks for the threads of [`CMD_THREADS`] (this process has no VMAR handle).
#[repr(C, align(16))]
struct Stacks(UnsafeCell<[[u8; 16 * 1024]; 4]>);

// SAFETY: each thread uses its own stack only; nothing else touches them.
unsafe impl Sync for Stacks {}

static STACKS: Stacks = Stacks(UnsafeCell::new([[0; 16 * 1024]; 4]));
static PHASE_ADDR: AtomicU64 = AtomicU64::new(0);

/// Entry of the spinning threads: x0 = the counter, x1 = 1 when they should exit at
/// phase 1.
extern "C" fn spinner(counter: usize, exit_at_phase: usize) -> ! {
    // SAFETY: `counter` is one of the mailbox's result words, alive as long as the process.
    let counter = unsafe { &*(counter as *const AtomicU64) };
    loop {
        counter.fetch_add(1, Ordering::Relaxed);
        if exit_at_phase == 1 {
            // SAFETY: PHASE_ADDR holds the mailbox's phase word, set before any thread starts.
            let phase = unsafe { &*(PHASE_ADDR.load(Ordering::Acquire) as usize as *const AtomicU64) };
            if phase.load(Ordering::Acquire) >= 1 {
                zx::thread_exit();
            }
        }
    }
}

fn threads(mb: &Mailbox, process: u32, count: u64, mode: u64, code: u64) -> i64 {
    PHASE_ADDR.store(core::ptr::from_ref(&mb.phase) as usize as u64, Ordering::Release);
    let stacks = STACKS.0.get() as usize as u64;
    for i in 0..count.min(4) {
        let Ok(thread) = zx::thread_create(process, "spinner", 0) else { return 105 };
        let top = stacks + (i + 1) * 16 * 1024;
        let counter = core::ptr::from_ref(&mb.results[i as usize]) as usize as u64;
        let entry = spinner as *const () as usize as u64;
        if zx::thread_start(&thread, entry, top, counter, mode).is_err() {
            return 106;
        }
        // The handle stays open; the process's end closes it.
        let _ = thread.into_raw();
    }
    mb.progress.store(1, Ordering::Release);
    if mode == 0 {
        zx::process_exit(code as i64);
    }
    while mb.phase.load(Ordering::Acquire) < 1 {
        let _ = zx::nanosleep(0);
    }
    zx::thread_exit()
}

fn signal(handle: u32) -> i64 {
    if zx::object_signal_peer(handle, 0, zx::USER_SIGNAL_0).is_err() {
        return 107;
    }
    let (status, _) = zx::object_wait_one(handle, zx::USER_SIGNAL_0 << 1, zx::TIME_INFINITE);
    if status != zx::ZX_OK {
        return 108;
    }
    5
}
