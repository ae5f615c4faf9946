//! Data and instruction cache maintenance by virtual address.

use core::arch::asm;

/// The smallest data cache line (CTR_EL0.DminLine), in bytes.
fn dcache_line() -> u64 {
    let ctr: u64;
    // SAFETY: reads a register.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4 << ((ctr >> 16) & 0xf)
}

/// The smallest instruction cache line (CTR_EL0.IminLine), in bytes.
fn icache_line() -> u64 {
    let ctr: u64;
    // SAFETY: reads a register.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack)) };
    4 << (ctr & 0xf)
}

/// A cache maintenance operation on a range of data cache lines.
#[derive(Clone, Copy, Debug)]
pub enum DataOp {
    /// `dc cvac`: clean to the point of coherency.
    Clean,
    /// `dc civac`: clean and invalidate to the point of coherency.
    CleanInvalidate,
    /// `dc ivac`: invalidate to the point of coherency.
    Invalidate,
    /// `dc cvau`: clean to the point of unification (before an I-cache invalidate).
    CleanToPou,
}

/// Applies `op` to every data cache line of `[va, va + len)` of kernel memory.
pub fn data_range(op: DataOp, va: u64, len: u64) {
    if len == 0 {
        return;
    }
    let line = dcache_line();
    let mut addr = va & !(line - 1);
    let end = va.saturating_add(len);
    while addr < end {
        // SAFETY: `va..va+len` is mapped kernel memory (the caller's contract); cache
        // maintenance by VA does not change memory contents except for Invalidate,
        // which the caller asked for on memory it owns.
        unsafe {
            match op {
                DataOp::Clean => asm!("dc cvac, {}", in(reg) addr, options(nostack)),
                DataOp::CleanInvalidate => asm!("dc civac, {}", in(reg) addr, options(nostack)),
                DataOp::Invalidate => asm!("dc ivac, {}", in(reg) addr, options(nostack)),
                DataOp::CleanToPou => asm!("dc cvau, {}", in(reg) addr, options(nostack)),
            }
        }
        addr += line;
    }
    // SAFETY: a barrier.
    unsafe { asm!("dsb sy", options(nostack)) };
}

/// Invalidates the instruction cache for `[va, va + len)` (after a clean to PoU).
pub fn instruction_range(va: u64, len: u64) {
    if len == 0 {
        return;
    }
    let line = icache_line();
    let mut addr = va & !(line - 1);
    let end = va.saturating_add(len);
    while addr < end {
        // SAFETY: invalidating instruction cache lines has no effect on memory.
        unsafe { asm!("ic ivau, {}", in(reg) addr, options(nostack)) };
        addr += line;
    }
    // SAFETY: barriers.
    unsafe { asm!("dsb sy", "isb", options(nostack)) };
}

/// Invalidates the whole instruction cache (inner shareable).
pub fn invalidate_all_instructions() {
    // SAFETY: instruction cache invalidation has no effect on memory.
    unsafe { asm!("ic ialluis", "dsb sy", "isb", options(nostack)) };
}
