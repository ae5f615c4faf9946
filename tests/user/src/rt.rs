//! Program start-up (ABI.md §2), the command line, a few system registers, and the panic
//! handler.
//!
//! The kernel enters `_start` at EL0 with SP 16-byte aligned at the top of its stack,
//! x0 = root VMAR handle, x1 = root resource handle and x2 = the NUL-terminated command
//! line; (v2) x3..x5 = handles to the process, its thread and the root job, x6/x7 = the
//! initrd VMO and its length when the initrd is an archive. `_start` saves x0..x7 on the
//! stack and passes them with the entry SP to [`start`], which builds a [`Ctx`] and
//! calls the program's main (named with [`crate::entry!`]); main's result is the exit
//! status.
//!
//! A program started by `zx_process_start` enters the same way with x0 = the handle
//! passed as `arg1`, x1 = `arg2` and every other register zero: [`Ctx::regs`] has them
//! (its `root_vmar`, `root_resource` and `cmdline` then mean nothing).

use core::sync::atomic::{AtomicU32, Ordering};

use crate::{println, zx};

core::arch::global_asm!(
    ".section .text.entry, \"ax\", %progbits",
    ".global _start",
    ".type _start, %function",
    "_start:",
    "    mov x9, sp",
    "    sub sp, sp, #64",
    "    stp x0, x1, [sp, #0]",
    "    stp x2, x3, [sp, #16]",
    "    stp x4, x5, [sp, #32]",
    "    stp x6, x7, [sp, #48]",
    "    mov x0, sp",
    "    mov x1, x9",
    "    bl {start}",
    // `start` never returns; if it did, stop with a debug exception rather than run on.
    "    brk #0xbad",
    ".size _start, . - _start",
    start = sym start,
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
    /// x0..x7 exactly as the kernel set them at entry.
    pub regs: [u64; 8],
}

impl Ctx {
    /// (v2) x3: a handle to this process (the first process only).
    pub fn process(&self) -> u32 {
        self.regs[3] as u32
    }

    /// (v2) x4: a handle to this first thread (the first process only).
    pub fn thread(&self) -> u32 {
        self.regs[4] as u32
    }

    /// (v2) x5: a handle to the root job (the first process only).
    pub fn root_job(&self) -> u32 {
        self.regs[5] as u32
    }

    /// (v2) x6 and x7: the initrd VMO handle and the initrd's length, when the initrd is
    /// a cpio archive.
    pub fn initrd(&self) -> Option<(u32, u64)> {
        (self.regs[6] != 0).then_some((self.regs[6] as u32, self.regs[7]))
    }

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

/// The root VMAR and process handles from x0 and x3, for helpers that need them without
/// a [`Ctx`] (0 until `start` ran, and in a program started by `zx_process_start`,
/// where x0 is something else and x3 is 0).
static ROOT_VMAR: AtomicU32 = AtomicU32::new(0);
static SELF_PROCESS: AtomicU32 = AtomicU32::new(0);

/// The root VMAR handle of the first process (x0 at entry).
pub fn root_vmar() -> u32 {
    ROOT_VMAR.load(Ordering::Relaxed)
}

/// This process's handle (x3 at entry; 0 in a process started by `zx_process_start`).
pub fn self_process() -> u32 {
    SELF_PROCESS.load(Ordering::Relaxed)
}

extern "C" fn start(regs: &[u64; 8], entry_sp: u64) -> ! {
    let start_ticks = counter_ticks();
    let regs = *regs;
    let ctx = Ctx {
        root_vmar: regs[0] as u32,
        root_resource: regs[1] as u32,
        cmdline: cmdline_at(regs[2]),
        entry_sp,
        start_ticks,
        regs,
    };
    // x3 is a process handle only in the first process; x0 is its root VMAR then.
    if regs[3] != 0 {
        ROOT_VMAR.store(ctx.root_vmar, Ordering::Relaxed);
        SELF_PROCESS.store(regs[3] as u32, Ordering::Relaxed);
    }
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
