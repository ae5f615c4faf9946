//! Kernel panics: `kernel panic:` with the message, the registers and a frame-pointer
//! backtrace, then shutdown with status 101 (ABI.md section 3).

use crate::abi::exit_status::KERNEL_PANIC;
use crate::arch::aarch64::cpu;
use crate::arch::aarch64::exception::TrapFrame;
use crate::kprintln;
use aarch64_cpu::registers::Readable;
use core::fmt::Display;
use core::sync::atomic::{AtomicBool, Ordering};

static PANICKING: AtomicBool = AtomicBool::new(false);

/// The kernel's panic handler.
#[cfg(not(test))]
#[panic_handler]
fn on_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    begin();
    kprintln!("kernel panic: {}", info.message());
    if let Some(location) = info.location() {
        kprintln!("  at {}:{}", location.file(), location.line());
    }
    let r = cpu::snapshot();
    kprintln!("  sp={:#018x} fp={:#018x} lr={:#018x} daif={:#x} el={}", r.sp, r.fp, r.lr, r.daif, cpu::current_el());
    kprintln!("  esr_el1={:#010x} far_el1={:#018x} elr_el1={:#018x}", r.esr, r.far, r.elr);
    backtrace(r.fp);
    finish()
}

/// A fatal exception taken in the kernel: prints the cause, the saved registers and a
/// backtrace from the interrupted frame.
pub fn trap_panic(frame: &TrapFrame, cause: &dyn Display) -> ! {
    begin();
    let far = aarch64_cpu::registers::FAR_EL1.get();
    let esr = aarch64_cpu::registers::ESR_EL1.get();
    kprintln!("kernel panic: {cause} at ELR={:#018x} FAR={far:#018x} ESR={esr:#010x}", frame.elr);
    dump_registers(frame);
    backtrace(frame.reg(29));
    finish()
}

/// A kernel stack overflowed into its guard page (reported on the emergency stack).
pub fn stack_overflow(elr: u64, far: u64) -> ! {
    begin();
    kprintln!("kernel panic: kernel stack overflow at ELR={elr:#018x} FAR={far:#018x}");
    finish()
}

fn begin() {
    cpu::disable_interrupts();
    if PANICKING.swap(true, Ordering::Relaxed) {
        // A panic while panicking: say so and stop without more work.
        kprintln!("kernel panic: nested panic");
        super::shutdown::shutdown(KERNEL_PANIC, "nested kernel panic");
    }
}

fn finish() -> ! {
    super::shutdown::shutdown(KERNEL_PANIC, "kernel panic")
}

fn dump_registers(frame: &TrapFrame) {
    for row in 0..8 {
        let r = row * 4;
        let reg = |i: usize| if i <= 30 { frame.reg(i) } else { 0 };
        if r + 3 < 31 {
            kprintln!(
                "  x{:<2}={:#018x} x{:<2}={:#018x} x{:<2}={:#018x} x{:<2}={:#018x}",
                r,
                reg(r),
                r + 1,
                reg(r + 1),
                r + 2,
                reg(r + 2),
                r + 3,
                reg(r + 3)
            );
        } else {
            kprintln!(
                "  x{:<2}={:#018x} x{:<2}={:#018x} x{:<2}={:#018x}",
                r,
                reg(r),
                r + 1,
                reg(r + 1),
                r + 2,
                reg(r + 2)
            );
        }
    }
    kprintln!("  sp_el0={:#018x} elr={:#018x} spsr={:#010x}", frame.sp_el0, frame.elr, frame.spsr);
}

/// Walks frame records (x29 chain) within the kernel image and stacks.
fn backtrace(mut fp: u64) {
    kprintln!("  backtrace:");
    for depth in 0..32 {
        if fp == 0 || !fp.is_multiple_of(16) || fp < crate::mm::layout::LINEAR_BASE {
            break;
        }
        let Some((next, ret)) = crate::arch::aarch64::mmu::read_frame_record(fp) else { break };
        if ret == 0 {
            break;
        }
        kprintln!("    #{depth:<2} {ret:#018x}");
        if next <= fp {
            break;
        }
        fp = next;
    }
}
