//! Built-in self-checks, run at boot without an initrd when the command line has the
//! word `selftest` (ABI.md section 2). Each check prints a libtest-style line; the
//! machine shuts down with status 0 when all pass, 1 otherwise.

use super::memory::FramePages;
use super::{Kernel, with_kernel};
use crate::abi::PAGE_SIZE;
use crate::arch::aarch64::mmu::{self, KernelTableMemory};
use crate::kprintln;
use crate::mm::page_table::descriptor_attrs;
use crate::mm::{PhysAddr, VirtAddr};

type Check = (&'static str, fn(&mut Kernel) -> Result<(), &'static str>);

const CHECKS: &[Check] = &[
    ("kernel_tables_are_write_xor_execute", kernel_tables_are_write_xor_execute),
    ("kernel_text_is_read_only_and_executable", kernel_text_is_read_only_and_executable),
    ("stack_guard_page_is_unmapped", stack_guard_page_is_unmapped),
    ("frames_come_back_when_freed", frames_come_back_when_freed),
    ("vmo_write_read_and_release_return_every_frame", vmo_round_trip),
];

/// Runs every check and the timer check; returns true when all passed.
pub fn run() -> bool {
    kprintln!("running {} self-checks", CHECKS.len() + 1);
    let mut failed = 0;
    for (name, check) in CHECKS {
        match with_kernel(check) {
            Ok(()) => kprintln!("selftest {name} ... ok"),
            Err(why) => {
                kprintln!("selftest {name} ... FAILED: {why}");
                failed += 1;
            }
        }
    }
    let before = super::irq::ticks();
    super::boot::show_ticks();
    if super::irq::ticks() > before {
        kprintln!("selftest timer_interrupts_arrive ... ok");
    } else {
        kprintln!("selftest timer_interrupts_arrive ... FAILED: no tick arrived");
        failed += 1;
    }
    kprintln!("{} passed, {} failed", CHECKS.len() + 1 - failed, failed);
    failed == 0
}

fn kernel_tables_are_write_xor_execute(k: &mut Kernel) -> Result<(), &'static str> {
    let mut bad = 0;
    let mut tables = KernelTableMemory { frames: &mut k.frames, table_pages: &mut 0 };
    k.kernel_table.for_each_leaf(&mut tables, |_, desc, _| {
        if let Some(info) = descriptor_attrs(desc)
            && info.el1_write
            && info.el1_execute
        {
            bad += 1;
        }
    });
    if bad == 0 { Ok(()) } else { Err("a kernel mapping is both writable and executable") }
}

fn kernel_text_is_read_only_and_executable(k: &mut Kernel) -> Result<(), &'static str> {
    let text = mmu::kernel_sections().text.0;
    let mut tables = KernelTableMemory { frames: &mut k.frames, table_pages: &mut 0 };
    let (_, desc) = k.kernel_table.translate(VirtAddr(text), &mut tables).ok_or(".text is not mapped")?;
    let info = descriptor_attrs(desc).ok_or(".text has no leaf descriptor")?;
    if info.el1_write || !info.el1_execute { Err(".text is writable or not executable") } else { Ok(()) }
}

fn stack_guard_page_is_unmapped(k: &mut Kernel) -> Result<(), &'static str> {
    let guard = mmu::kernel_sections().stack_guard;
    let mut tables = KernelTableMemory { frames: &mut k.frames, table_pages: &mut 0 };
    match k.kernel_table.translate(VirtAddr(guard), &mut tables) {
        None => Ok(()),
        Some(_) => Err("the boot stack's guard page is mapped"),
    }
}

fn frames_come_back_when_freed(k: &mut Kernel) -> Result<(), &'static str> {
    let before = k.frames.free_bytes();
    let mut taken = [PhysAddr(0); 64];
    for slot in taken.iter_mut() {
        *slot = k.frames.alloc().map_err(|_| "cannot allocate 64 frames")?;
    }
    if k.frames.free_bytes() != before - 64 * PAGE_SIZE {
        return Err("free_bytes did not fall by 64 pages");
    }
    for pa in taken {
        k.frames.free(pa);
    }
    if k.frames.free_bytes() == before { Ok(()) } else { Err("free_bytes did not come back") }
}

fn vmo_round_trip(k: &mut Kernel) -> Result<(), &'static str> {
    let before = k.frames.free_bytes();
    let koid = crate::kernel::object::new_koid();
    let vmo = k.vmos.create(koid, 4 * PAGE_SIZE, 0).map_err(|_| "vmo create failed")?;
    let mut mem = FramePages { frames: &mut k.frames };
    let pa = k.vmos.page_for_write(vmo, 2, &mut mem).map_err(|_| "commit failed")?;
    mmu::write_phys(PhysAddr(pa.0 + 5), b"ferrite");
    let read = k.vmos.page_for_read(vmo, 2).ok_or("the committed page reads as zero")?;
    let bytes = mmu::phys_slice(PhysAddr(read.pa.0 + 5), 7);
    let matches = bytes == b"ferrite";
    let uncommitted = k.vmos.page_for_read(vmo, 1).is_none();
    let committed = k.vmos.info(vmo).committed_bytes;
    let _ = k.vmos.take_invalidations().count();
    let mut mem = FramePages { frames: &mut k.frames };
    k.vmos.release(vmo, &mut mem);
    if !matches {
        return Err("bytes written to the page did not read back");
    }
    if !uncommitted || committed != PAGE_SIZE {
        return Err("commit state is not exactly the written page");
    }
    if k.frames.free_bytes() != before {
        return Err("releasing the VMO did not return its frame");
    }
    Ok(())
}
