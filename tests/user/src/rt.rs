//! Program start-up (ABI.md §2), the command line, a few system registers, and the panic
//! handler.
//!
//! The kernel enters `_start` at EL0 with SP 16-byte aligned at the top of its stack,
//! x0 = root VMAR handle, x1 = root resource handle and x2 = the NUL-terminated command
//! line, and (ABI v2) x3..x5 = this process, this thread and the root job, x6/x7 = the
//! initrd VMO and its length (cpio initrd only). `_start` keeps x6/x7 aside and passes
//! the rest and the entry SP to [`start`], which builds a [`Ctx`] and calls the
//! program's main (named with [`crate::entry!`]); main's result is the exit status.

use crate::{println, zx};
use core::sync::atomic::{AtomicU64, Ordering};

/// x6 and x7 at entry (the initrd VMO and its length), stored by `_start`.
static ENTRY_X6_X7: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

core::arch::global_asm!(
    ".section .text.entry, \"ax\", %progbits",
    ".global _start",
    ".type _start, %function",
    "_start:",
    // x6/x7 (ABI v2, cpio initrd: the initrd VMO and its length) are kept aside: `start`
    // takes seven register arguments.
    "    adrp x8, {x6x7}",
    "    add x8, x8, :lo12:{x6x7}",
    "    stp x6, x7, [x8]",
    // x3..x5 (ABI v2: this process, this thread, the root job) move up one register
    // so that x3 can carry the entry SP.
    "    mov x6, x5",
    "    mov x5, x4",
    "    mov x4, x3",
    "    mov x3, sp",
    "    bl {start}",
    // `start` never returns; if it did, stop with a debug exception rather than run on.
    "    brk #0xbad",
    ".size _start, . - _start",
    start = sym start,
    x6x7 = sym ENTRY_X6_X7,
);

unsafe extern "Rust" {
    /// The program's main, defined by [`crate::entry!`].
    safe fn ferrite_user_main(ctx: &Ctx) -> i64;
}

/// Names the program's main: `entry!(main)` where `fn main(ctx: &Ctx) -> i64`.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        fn ferrite_user_main(ctx: &$crate::Ctx) -> i64 {
            $main(ctx)
        }
    };
}

/// What the kernel handed the program at entry.
#[derive(Debug)]
pub struct Ctx {
    /// x0: the root VMAR handle.
    pub root_vmar: u32,
    /// x1: the root resource handle.
    pub root_resource: u32,
    /// x2: the command line, whole (empty if it was not valid UTF-8).
    pub cmdline: &'static str,
    /// SP at entry (the top of the kernel-made stack).
    pub entry_sp: u64,
    /// CNTVCT_EL0 when the first Rust code ran.
    pub start_ticks: u64,
    /// (v2) x3: a handle to this process (0 under an ABI v1 kernel).
    pub process: u32,
    /// (v2) x4: a handle to this thread.
    pub thread: u32,
    /// (v2) x5: a handle to the root job.
    pub root_job: u32,
    /// (v2, cpio initrd) x6: the initrd VMO (0 when booted from a bare ELF).
    pub initrd: u32,
    /// (v2, cpio initrd) x7: the initrd's length in bytes.
    pub initrd_len: u64,
}

impl Ctx {
    /// The value of the command-line word `key=VALUE`, if present (first one wins).
    pub fn arg(&self, key: &str) -> Option<&'static str> {
        self.cmdline
            .split_ascii_whitespace()
            .find_map(|word| word.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    }

    /// The command-line word `key=NUMBER` (decimal or 0x-hex), if present and valid.
    pub fn arg_u64(&self, key: &str) -> Option<u64> {
        self.arg(key).and_then(parse_u64)
    }
}

/// Parses decimal or `0x` hexadecimal (underscores allowed).
pub fn parse_u64(text: &str) -> Option<u64> {
    let (digits, radix) = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (text, 10),
    };
    let mut value: u64 = 0;
    let mut any = false;
    for ch in digits.chars() {
        if ch == '_' {
            continue;
        }
        let digit = ch.to_digit(radix)? as u64;
        value = value.checked_mul(radix as u64)?.checked_add(digit)?;
        any = true;
    }
    any.then_some(value)
}

/// Reads the NUL-terminated command line at `ptr` (at most one page of it).
fn cmdline_at(ptr: u64) -> &'static str {
    if ptr == 0 {
        return "";
    }
    let base = ptr as usize as *const u8;
    let mut len = 0;
    // SAFETY: ABI.md §2: x2 points at a NUL-terminated string the kernel copied into our
    // memory and never changes again; the scan stops at the NUL or after 4096 bytes.
    unsafe {
        while len < 4096 && core::ptr::read(base.add(len)) != 0 {
            len += 1;
        }
        core::str::from_utf8(core::slice::from_raw_parts(base, len)).unwrap_or("")
    }
}

extern "C" fn start(
    root_vmar: u64,
    root_resource: u64,
    cmdline: u64,
    entry_sp: u64,
    process: u64,
    thread: u64,
    root_job: u64,
) -> ! {
    let start_ticks = counter_ticks();
    let ctx = Ctx {
        root_vmar: root_vmar as u32,
        root_resource: root_resource as u32,
        cmdline: cmdline_at(cmdline),
        entry_sp,
        start_ticks,
        process: process as u32,
        thread: thread as u32,
        root_job: root_job as u32,
        initrd: ENTRY_X6_X7[0].load(Ordering::Relaxed) as u32,
        initrd_len: ENTRY_X6_X7[1].load(Ordering::Relaxed),
    };
    zx::process_exit(ferrite_user_main(&ctx))
}

/// CNTVCT_EL0, the virtual counter EL0 may read.
pub fn counter_ticks() -> u64 {
    let ticks: u64;
    // SAFETY: ABI.md §2 lets EL0 read CNTVCT_EL0; `isb` orders the read after what came
    // before.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) ticks, options(nomem, nostack)) };
    ticks
}

/// CNTFRQ_EL0, the counter's frequency in Hz.
pub fn counter_frequency() -> u64 {
    let hz: u64;
    // SAFETY: ABI.md §2 lets EL0 read CNTFRQ_EL0.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
    hz
}

/// The current stack pointer.
pub fn stack_pointer() -> u64 {
    let sp: u64;
    // SAFETY: reads SP only.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack)) };
    sp
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("panic: {info}");
    zx::process_exit(1)
}
