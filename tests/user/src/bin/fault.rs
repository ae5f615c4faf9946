//! Isolation cases for the runner, one per boot: the command-line word `case=NAME` picks
//! one. The program prints `fault: about to NAME`, then does something no user program
//! may do. The kernel must kill it with a `user fault:` line and exit status 139; if the
//! program survives it prints `fault: NOT faulted` and exits 1. Without a known case it
//! lists the cases and exits 3.
#![no_std]
// Without an allocator a failure carries its message inline, so `Err` is large on purpose.
#![allow(clippy::result_large_err)]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use user::harness::{kernel_can_read, stack_bounds, unmapped_range};
use user::zx::*;
use user::{Ctx, entry, println, rt};

entry!(main);

/// One isolation case: its name, what it does, and the action itself.
struct Case {
    name: &'static str,
    what: &'static str,
    run: fn(&Ctx) -> Result<(), &'static str>,
}

static CASES: &[Case] = &[
    Case { name: "read_kernel", what: "load from a kernel address", run: read_kernel },
    Case { name: "write_kernel", what: "store to a kernel address", run: write_kernel },
    Case { name: "exec_kernel", what: "branch to a kernel address", run: exec_kernel },
    Case { name: "read_null", what: "load from address 0", run: read_null },
    Case { name: "read_unmapped", what: "load from a page nothing maps", run: read_unmapped },
    Case { name: "read_guard_page", what: "load from the stack's guard page", run: read_guard_page },
    Case { name: "read_below_stack", what: "load from 8 MiB below SP", run: read_below_stack },
    Case { name: "stack_overflow", what: "recurse into the guard page", run: stack_overflow },
    Case { name: "write_rodata", what: "store to the R segment", run: write_rodata },
    Case { name: "write_text", what: "store to the R+X segment", run: write_text },
    Case { name: "exec_data", what: "branch into the R+W segment", run: exec_data },
    Case { name: "exec_stack", what: "branch into the stack", run: exec_stack },
    Case { name: "exec_nx_mapping", what: "branch into an R+W mapping", run: exec_nx_mapping },
    Case { name: "exec_unmapped", what: "branch to a page nothing maps", run: exec_unmapped },
    Case { name: "write_ro_mapping", what: "store to an R mapping", run: write_ro_mapping },
    Case {
        name: "read_no_access_mapping",
        what: "load from a mapping with no permissions",
        run: read_no_access_mapping,
    },
    Case { name: "write_after_protect", what: "store after vmar_protect to R", run: write_after_protect },
    Case { name: "read_past_vmo_end", what: "load from a mapping beyond its VMO's end", run: read_past_vmo_end },
    Case {
        name: "read_after_shrink",
        what: "load from a mapping after set_size shrank its VMO",
        run: read_after_shrink,
    },
    Case { name: "undefined_instruction", what: "execute udf #0", run: undefined_instruction },
    Case { name: "brk", what: "execute brk #0", run: brk },
    Case { name: "privileged_register", what: "read SCTLR_EL1 at EL0", run: privileged_register },
    Case { name: "hvc", what: "execute hvc #0 at EL0", run: hvc },
    Case { name: "alignment", what: "ldxr from an unaligned address", run: alignment },
];

fn main(ctx: &Ctx) -> i64 {
    let Some(name) = ctx.arg("case") else {
        return usage("no case= word on the command line");
    };
    let Some(case) = CASES.iter().find(|case| case.name == name) else {
        return usage("unknown case");
    };
    println!("fault: about to {} ({})", case.name, case.what);
    match (case.run)(ctx) {
        Ok(()) => {
            println!("fault: NOT faulted");
            1
        }
        Err(why) => {
            println!("fault: could not set up {}: {why}", case.name);
            3
        }
    }
}

fn usage(problem: &str) -> i64 {
    println!("fault: {problem}; boot with case=NAME, one of:");
    for case in CASES {
        println!("fault:   {:<24} {}", case.name, case.what);
    }
    3
}

/// A kernel-half address (the kernel's image lives up there).
const KERNEL_ADDR: u64 = 0xffff_0000_0008_0000;

/// `ret`, the instruction every "branch into" case plants.
const RET: u32 = 0xd65f_03c0;

/// Loads one byte from `addr`.
fn load(addr: u64) {
    // SAFETY: deliberately unsound for the program: the load is meant to fault.
    let value = unsafe { read_volatile(addr as usize as *const u8) };
    core::hint::black_box(value);
}

/// Stores one byte to `addr`.
fn store(addr: u64) {
    // SAFETY: deliberately unsound for the program: the store is meant to fault.
    unsafe { write_volatile(addr as usize as *mut u8, 0xA5) };
}

/// Calls the code at `addr`.
fn branch(addr: u64) {
    // SAFETY: deliberately unsound: the branch is meant to fault. Where it does not, the
    // target holds `ret` and returns here.
    let function: extern "C" fn() = unsafe { core::mem::transmute(addr as usize) };
    function();
}

fn read_kernel(_: &Ctx) -> Result<(), &'static str> {
    load(KERNEL_ADDR);
    Ok(())
}

fn write_kernel(_: &Ctx) -> Result<(), &'static str> {
    store(KERNEL_ADDR);
    Ok(())
}

fn exec_kernel(_: &Ctx) -> Result<(), &'static str> {
    branch(KERNEL_ADDR);
    Ok(())
}

fn read_null(_: &Ctx) -> Result<(), &'static str> {
    load(0);
    Ok(())
}

fn read_unmapped(ctx: &Ctx) -> Result<(), &'static str> {
    let addr = unmapped_range(ctx, 1).map_err(|_| "no free range")?;
    load(addr);
    Ok(())
}

fn read_guard_page(ctx: &Ctx) -> Result<(), &'static str> {
    // The kernel tells us where the stack ends: the first page below SP that it cannot
    // read on our behalf is the guard page.
    let (lowest, guard) = stack_bounds(rt::stack_pointer(), 64 << 20).ok_or("no guard page within 64 MiB below SP")?;
    println!(
        "fault: stack {lowest:#x}..{:#x} ({} KiB), guard page {guard:#x}",
        ctx.entry_sp,
        (ctx.entry_sp - lowest) / 1024
    );
    if ctx.entry_sp - lowest < 256 * 1024 {
        println!("fault: note: the stack is smaller than the 256 KiB ABI.md promises");
    }
    load(guard + 8);
    Ok(())
}

fn read_below_stack(_: &Ctx) -> Result<(), &'static str> {
    let addr = rt::stack_pointer() - (8 << 20);
    if kernel_can_read(addr) {
        return Err("8 MiB below SP is mapped");
    }
    load(addr);
    Ok(())
}

/// Recurses with 4 KiB frames until the guard page stops it.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut frame = [0u8; 4096];
    frame[depth as usize % 4096] = depth as u8;
    core::hint::black_box(&mut frame);
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1) + frame[(depth as usize * 7) % 4096] as u64
}

fn stack_overflow(_: &Ctx) -> Result<(), &'static str> {
    core::hint::black_box(recurse(0));
    Ok(())
}

static RODATA_WORD: u64 = 0x1234_5678;

fn write_rodata(_: &Ctx) -> Result<(), &'static str> {
    store(addr_of(core::hint::black_box(&RODATA_WORD)));
    Ok(())
}

fn write_text(_: &Ctx) -> Result<(), &'static str> {
    let this: fn(&Ctx) -> Result<(), &'static str> = write_text;
    store(this as usize as u64);
    Ok(())
}

/// Two `ret`s in the R+W segment.
static mut RET_IN_DATA: [u32; 2] = [RET, RET];

fn exec_data(_: &Ctx) -> Result<(), &'static str> {
    branch(addr_of(&raw const RET_IN_DATA));
    Ok(())
}

fn exec_stack(_: &Ctx) -> Result<(), &'static str> {
    let code = [RET; 4];
    let code = core::hint::black_box(&code);
    branch(addr_of(code.as_ptr()));
    Ok(())
}

/// A one-page VMO holding `ret` at offset 0, mapped with `options`.
fn mapped_ret(ctx: &Ctx, options: u32, len: u64) -> Result<u64, &'static str> {
    let vmo = vmo_create(PAGE_SIZE, 0).map_err(|_| "vmo_create")?;
    vmo_write(&vmo, &RET.to_le_bytes(), 0).map_err(|_| "vmo_write")?;
    let addr = vmar_map(ctx.root_vmar, options, 0, &vmo, 0, len).map_err(|_| "vmar_map")?;
    Ok(addr)
}

fn exec_nx_mapping(ctx: &Ctx) -> Result<(), &'static str> {
    let addr = mapped_ret(ctx, VM_RW, PAGE_SIZE)?;
    branch(addr);
    Ok(())
}

fn exec_unmapped(ctx: &Ctx) -> Result<(), &'static str> {
    let addr = unmapped_range(ctx, 1).map_err(|_| "no free range")?;
    branch(addr);
    Ok(())
}

fn write_ro_mapping(ctx: &Ctx) -> Result<(), &'static str> {
    let addr = mapped_ret(ctx, VM_PERM_READ, PAGE_SIZE)?;
    load(addr);
    store(addr);
    Ok(())
}

fn read_no_access_mapping(ctx: &Ctx) -> Result<(), &'static str> {
    let addr = mapped_ret(ctx, 0, PAGE_SIZE)?;
    load(addr);
    Ok(())
}

fn write_after_protect(ctx: &Ctx) -> Result<(), &'static str> {
    let addr = mapped_ret(ctx, VM_RW, PAGE_SIZE)?;
    store(addr + 8);
    vmar_protect(ctx.root_vmar, VM_PERM_READ, addr, PAGE_SIZE).map_err(|_| "vmar_protect")?;
    load(addr + 8);
    store(addr + 8);
    Ok(())
}

fn read_past_vmo_end(ctx: &Ctx) -> Result<(), &'static str> {
    let addr = mapped_ret(ctx, VM_PERM_READ, 2 * PAGE_SIZE)?;
    load(addr);
    load(addr + PAGE_SIZE);
    Ok(())
}

fn read_after_shrink(ctx: &Ctx) -> Result<(), &'static str> {
    let vmo = vmo_create(2 * PAGE_SIZE, VMO_RESIZABLE).map_err(|_| "vmo_create")?;
    let addr = vmar_map(ctx.root_vmar, VM_RW, 0, &vmo, 0, 2 * PAGE_SIZE).map_err(|_| "vmar_map")?;
    store(addr + PAGE_SIZE);
    vmo_set_size(&vmo, PAGE_SIZE).map_err(|_| "vmo_set_size")?;
    load(addr);
    load(addr + PAGE_SIZE);
    Ok(())
}

fn undefined_instruction(_: &Ctx) -> Result<(), &'static str> {
    // SAFETY: meant to raise an undefined-instruction exception.
    unsafe { core::arch::asm!("udf #0") };
    Ok(())
}

fn brk(_: &Ctx) -> Result<(), &'static str> {
    // SAFETY: meant to raise a breakpoint exception.
    unsafe { core::arch::asm!("brk #0") };
    Ok(())
}

fn privileged_register(_: &Ctx) -> Result<(), &'static str> {
    let value: u64;
    // SAFETY: EL0 may not read SCTLR_EL1: meant to trap.
    unsafe { core::arch::asm!("mrs {}, sctlr_el1", out(reg) value) };
    core::hint::black_box(value);
    Ok(())
}

fn hvc(_: &Ctx) -> Result<(), &'static str> {
    // SAFETY: HVC is undefined at EL0: meant to trap.
    unsafe { core::arch::asm!("hvc #0") };
    Ok(())
}

fn alignment(ctx: &Ctx) -> Result<(), &'static str> {
    let vmo = vmo_create(PAGE_SIZE, 0).map_err(|_| "vmo_create")?;
    let addr = vmar_map(ctx.root_vmar, VM_RW, 0, &vmo, 0, PAGE_SIZE).map_err(|_| "vmar_map")?;
    let value: u64;
    // SAFETY: exclusive loads must be aligned; this one is meant to fault.
    unsafe { core::arch::asm!("ldxr {v}, [{a}]", "clrex", v = out(reg) value, a = in(reg) addr + 1) };
    core::hint::black_box(value);
    Ok(())
}
