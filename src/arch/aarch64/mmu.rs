//! The MMU glue: how the kernel reaches page-table memory, switching translation
//! tables, TLB maintenance and the linear map. The tables themselves are built by the
//! pure `mm::page_table`.

use crate::error::{ZxError, ZxResult};
use crate::mm::frame::FrameAllocator;
use crate::mm::layout::{KERNEL_VBASE, LINEAR_BASE};
use crate::mm::page_table::TableMemory;
use crate::mm::{PhysAddr, VirtAddr};
use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::*;
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// Physical address the image was loaded at (set once at boot).
static KERNEL_PHYS_BASE: AtomicU64 = AtomicU64::new(0);

unsafe extern "C" {
    static __kernel_start: u8;
    static __kernel_end: u8;
}

/// Records where the image lives in physical memory.
pub fn set_kernel_phys_base(pa: u64) {
    KERNEL_PHYS_BASE.store(pa, Ordering::Relaxed);
}

/// Physical `[start, end)` of the loaded image, .bss included.
pub fn kernel_phys_range() -> (u64, u64) {
    let base = KERNEL_PHYS_BASE.load(Ordering::Relaxed);
    (base, base + kernel_image_size())
}

/// Bytes from `_start` to the end of .bss.
pub fn kernel_image_size() -> u64 {
    &raw const __kernel_end as u64 - &raw const __kernel_start as u64
}

/// Physical address of a kernel image symbol (for building tables).
pub fn kernel_virt_to_phys(va: u64) -> u64 {
    va - KERNEL_VBASE + KERNEL_PHYS_BASE.load(Ordering::Relaxed)
}

/// The kernel virtual address at which physical `pa` can be accessed: inside the image
/// through the image mapping, elsewhere through the linear map.
pub fn phys_to_virt(pa: PhysAddr) -> VirtAddr {
    let (start, end) = kernel_phys_range();
    if (start..end).contains(&pa.0) { VirtAddr(KERNEL_VBASE + (pa.0 - start)) } else { VirtAddr(LINEAR_BASE + pa.0) }
}

/// `dc zva` block size in bytes as read from DCZID_EL0, [`ZVA_PROHIBITED`], or 0 before
/// the first read. DCZID_EL0 is fixed for the life of the machine, so it is read once
/// rather than on every page.
static ZVA_BLOCK: AtomicU64 = AtomicU64::new(0);

/// [`ZVA_BLOCK`] when DCZID_EL0.DZP forbids `dc zva`.
const ZVA_PROHIBITED: u64 = u64::MAX;

/// Zeroes one page at physical `pa` with `dc zva`.
///
/// For the usual 64-byte block the loop is unrolled completely: 64 `dc zva` and the 63
/// address adds between them.
pub fn zero_page(pa: PhysAddr) {
    zero_page_at(phys_to_virt(pa).0);
}

/// The linear-map address of a frame the frame allocator handed out: such a frame is
/// never inside the image (the image is reserved from the allocator), so this skips
/// [`phys_to_virt`]'s test for an image address.
#[inline(always)]
pub fn frame_to_virt(pa: PhysAddr) -> VirtAddr {
    VirtAddr(LINEAR_BASE + pa.0)
}

/// Zeroes one page the frame allocator handed out, through the linear map: such a page
/// is never inside the image (the image is reserved from the allocator), so this skips
/// [`zero_page`]'s test for an image address.
#[inline(always)]
pub fn zero_frame(pa: PhysAddr) {
    zero_page_at(LINEAR_BASE + pa.0);
}

/// Zeroes the page at kernel address `va` (see [`zero_page`]).
#[inline(always)]
fn zero_page_at(va: u64) {
    let block = ZVA_BLOCK.load(Ordering::Relaxed);
    if block != 64 {
        zero_page_other(va, block);
        return;
    }
    // SAFETY: `pa` is a page the caller owns, reachable at `va` through a normal
    // cacheable mapping; `dc zva` zeroes exactly one naturally aligned 64-byte block
    // per instruction, and the 64 blocks cover the page.
    unsafe {
        // Fully unrolled: 64 `dc zva`, 63 adds, no loop.
        asm!(
            ".rept 63",
            "dc zva, {addr}",
            "add {addr}, {addr}, #64",
            ".endr",
            "dc zva, {addr}",
            addr = inout(reg) va => _,
            options(nostack),
        );
    }
}

/// [`zero_page`] for any block size but 64 bytes, or before DCZID_EL0 has been read.
#[cold]
fn zero_page_other(va: u64, block: u64) {
    let block = if block == 0 { read_zva_block_size() } else { block };
    // SAFETY: as in `zero_page`; a page is a whole number of blocks (at most 2 KiB).
    unsafe {
        if block == ZVA_PROHIBITED {
            core::ptr::write_bytes(va as *mut u8, 0, 4096);
        } else {
            let mut addr = va;
            while addr < va + 4096 {
                asm!("dc zva, {}", in(reg) addr, options(nostack));
                addr += block;
            }
        }
    }
}

/// Reads DCZID_EL0 and records the `dc zva` block size in [`ZVA_BLOCK`].
#[cold]
fn read_zva_block_size() -> u64 {
    let dczid: u64;
    // SAFETY: reads a register.
    unsafe { asm!("mrs {}, dczid_el0", out(reg) dczid, options(nomem, nostack)) };
    let block = if dczid & (1 << 4) != 0 { ZVA_PROHIBITED } else { 4 << (dczid & 0xf) };
    ZVA_BLOCK.store(block, Ordering::Relaxed);
    block
}

/// Copies one page between physical addresses, 64 bytes per iteration with paired
/// 64-bit loads and stores (the kernel is built without SIMD registers).
pub fn copy_page(dst: PhysAddr, src: PhysAddr) {
    let (d, s) = (phys_to_virt(dst).0, phys_to_virt(src).0);
    // SAFETY: both are whole pages the caller owns (dst) or holds (src), distinct, and
    // mapped normal cacheable memory; the loop reads and writes exactly 4096 bytes.
    unsafe {
        asm!(
            "add {end}, {s}, #4096",
            "2:",
            "ldp {a}, {b}, [{s}]",
            "ldp {c}, {e}, [{s}, #16]",
            "stp {a}, {b}, [{d}]",
            "stp {c}, {e}, [{d}, #16]",
            "ldp {a}, {b}, [{s}, #32]",
            "ldp {c}, {e}, [{s}, #48]",
            "add {s}, {s}, #64",
            "stp {a}, {b}, [{d}, #32]",
            "stp {c}, {e}, [{d}, #48]",
            "add {d}, {d}, #64",
            "cmp {s}, {end}",
            "b.ne 2b",
            s = inout(reg) s => _,
            d = inout(reg) d => _,
            end = out(reg) _,
            a = out(reg) _,
            b = out(reg) _,
            c = out(reg) _,
            e = out(reg) _,
            options(nostack),
        );
    }
}

/// Page-table memory taken from the frame allocator. `USER`: the tables of a user address
/// space, every one of which (its root included) comes from the frame allocator, never
/// from the image's boot pool, so each is reached through the linear map without
/// [`phys_to_virt`]'s test for an image address at every level of a walk; the kernel's
/// own tables may be boot-pool pages inside the image, reached through that test.
pub struct FrameTableMemory<'a, const USER: bool> {
    /// Where table pages come from.
    pub frames: &'a mut FrameAllocator,
    /// Count of table pages in use, kept up to date (KMEM_STATS mmu_overhead_bytes).
    pub table_pages: &'a mut u64,
}

/// The kernel's page-table memory (some of its tables may be in the image's boot pool).
pub type KernelTableMemory<'a> = FrameTableMemory<'a, false>;
/// A user address space's page-table memory (every table from the frame allocator).
pub type UserTableMemory<'a> = FrameTableMemory<'a, true>;

impl<const USER: bool> TableMemory for FrameTableMemory<'_, USER> {
    fn alloc_table(&mut self) -> ZxResult<PhysAddr> {
        let pa = self.frames.alloc()?;
        // A frame from the allocator is never inside the image.
        zero_frame(pa);
        *self.table_pages += 1;
        Ok(pa)
    }

    #[inline]
    fn table_mut(&mut self, pa: PhysAddr) -> &mut [u64; 512] {
        let va = if USER { frame_to_virt(pa) } else { phys_to_virt(pa) };
        // SAFETY: `pa` is a table page of the page table this memory serves, which the
        // frame allocator (or, for the kernel's, the boot pool) handed out: page aligned,
        // owned by that page table, and reachable at `va` (a user table is never in the
        // image, so through the linear map; a kernel one through the linear map or the
        // image mapping, as `phys_to_virt` decides).
        unsafe { &mut *(va.0 as *mut [u64; 512]) }
    }

    fn free_table(&mut self, pa: PhysAddr) {
        self.frames.free(pa);
        *self.table_pages = self.table_pages.saturating_sub(1);
    }
}

/// Page-table memory for the first kernel tables, built before the linear map exists:
/// a pool of pages inside the image's .bss.
pub struct BootTableMemory {
    next: usize,
}

const BOOT_POOL_PAGES: usize = 64;

#[repr(C, align(4096))]
struct BootPool([[u64; 512]; BOOT_POOL_PAGES]);

/// In `.noinit` (linker.ld): boot.S does not zero it, so `alloc_table` zeroes each page
/// it hands out (about 130 instructions with `dc zva`, against 1,024 per page for the
/// MMU-off zeroing of .bss).
#[unsafe(link_section = ".noinit.boot_pool")]
static mut BOOT_POOL: BootPool = BootPool([[0; 512]; BOOT_POOL_PAGES]);

impl BootTableMemory {
    /// The pool; only the boot CPU uses it, once.
    pub const fn new() -> Self {
        BootTableMemory { next: 0 }
    }
}

impl Default for BootTableMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl TableMemory for BootTableMemory {
    fn alloc_table(&mut self) -> ZxResult<PhysAddr> {
        if self.next == BOOT_POOL_PAGES {
            return Err(ZxError::NoMemory);
        }
        // SAFETY: the boot CPU alone runs this, once; each page is handed out once.
        let va = unsafe { (&raw mut BOOT_POOL.0[self.next]) as u64 };
        self.next += 1;
        let pa = PhysAddr(kernel_virt_to_phys(va));
        // The pool is not zeroed at boot (`.noinit`); a new table must be all invalid.
        zero_page(pa);
        Ok(pa)
    }

    fn table_mut(&mut self, pa: PhysAddr) -> &mut [u64; 512] {
        // SAFETY: `pa` is a pool page inside the image (zeroed by `alloc_table`),
        // reached through the image mapping.
        unsafe { &mut *(phys_to_virt(pa).0 as *mut [u64; 512]) }
    }

    fn free_table(&mut self, _pa: PhysAddr) {
        // Pool pages belong to the kernel's own tables for its whole life.
    }
}

/// Switches the kernel half (TTBR1) to `root` and drops every cached translation.
/// The new tables must map the running code and stack at the same addresses.
pub fn activate_kernel_tables(root: PhysAddr) {
    barrier::dsb(barrier::ISHST);
    TTBR1_EL1.set(root.0);
    barrier::isb(barrier::SY);
    // The final tables are W^X, so writable memory may now be made never-executable by
    // the hardware as well (the boot tables' RWX blocks could not be).
    SCTLR_EL1.modify(SCTLR_EL1::WXN::Enable);
    barrier::isb(barrier::SY);
    flush_tlb_all();
}

/// On a secondary CPU that switched to the kernel's final tables (boot.S): makes
/// writable memory never-executable as on the boot CPU and drops stale translations.
pub fn finish_secondary_tables() {
    SCTLR_EL1.modify(SCTLR_EL1::WXN::Enable);
    barrier::isb(barrier::SY);
    // SAFETY: local TLB maintenance changes no memory.
    unsafe { asm!("tlbi vmalle1", "dsb nsh", "isb", options(nostack)) };
}

/// Turns off walks of TTBR0 (no process runs).
pub fn disable_user_tables() {
    TCR_EL1.modify(TCR_EL1::EPD0::DisableTTBR0Walks);
    barrier::isb(barrier::SY);
    flush_tlb_all();
}

/// Installs a process's tables in TTBR0 with its ASID.
pub fn activate_user_tables(root: PhysAddr, asid: u16) {
    barrier::dsb(barrier::ISHST);
    TTBR0_EL1.set(root.0 | ((asid as u64) << 48));
    TCR_EL1.modify(TCR_EL1::EPD0::EnableTTBR0Walks);
    barrier::isb(barrier::SY);
}

/// Sets TTBR0 (user tables | ASID << 48) on this CPU and turns its walks on. With
/// ASID-tagged entries nothing needs invalidating: another ASID's entries never match.
pub fn set_ttbr0(value: u64) {
    barrier::dsb(barrier::ISHST);
    TTBR0_EL1.set(value);
    barrier::isb(barrier::SY);
}

/// Uses 16-bit ASIDs when the CPU has them (ID_AA64MMFR0_EL1.ASIDBits = 2): sets
/// TCR_EL1.AS. Returns the ASID width in use, 8 or 16.
pub fn enable_wide_asids() -> u8 {
    if (ID_AA64MMFR0_EL1.get() >> 4) & 0xf == 2 {
        TCR_EL1.modify(TCR_EL1::AS::ASID16Bits);
        barrier::isb(barrier::SY);
        16
    } else {
        8
    }
}

/// Invalidates every TLB entry of this CPU only (after an ASID roll-over).
pub fn flush_tlb_local() {
    // SAFETY: TLB maintenance changes no memory; the barriers order it.
    unsafe { asm!("dsb nshst", "tlbi vmalle1", "dsb nsh", "isb", options(nostack)) };
}

/// Turns on walks of TTBR0 on this CPU (after `set_ttbr0` named valid tables).
pub fn enable_user_walks() {
    TCR_EL1.modify(TCR_EL1::EPD0::EnableTTBR0Walks);
    barrier::isb(barrier::SY);
}

/// Invalidates every TLB entry of this CPU's inner-shareable domain.
pub fn flush_tlb_all() {
    // SAFETY: TLB maintenance changes no memory; the barriers order it.
    unsafe { asm!("dsb ishst", "tlbi vmalle1is", "dsb ish", "isb", options(nostack)) };
}

/// Invalidates the translation of one user page of address space `asid`.
pub fn flush_tlb_user_page(va: u64, asid: u16) {
    let arg = ((va >> 12) & ((1 << 44) - 1)) | ((asid as u64) << 48);
    // SAFETY: TLB maintenance changes no memory; the barriers order it.
    unsafe { asm!("dsb ishst", "tlbi vae1is, {}", "dsb ish", "isb", in(reg) arg, options(nostack)) };
}

/// Invalidates the translation of one kernel page.
pub fn flush_tlb_kernel_page(va: u64) {
    let arg = (va >> 12) & ((1 << 44) - 1);
    // SAFETY: TLB maintenance changes no memory.
    unsafe { asm!("dsb ishst", "tlbi vaae1is, {}", "dsb ish", "isb", in(reg) arg, options(nostack)) };
}

/// Writes `len` zero bytes at `offset` in the page at physical `pa`.
pub fn zero_bytes(pa: PhysAddr, offset: usize, len: usize) {
    let len = len.min(4096usize.saturating_sub(offset));
    let va = phys_to_virt(pa).0 as usize + offset;
    // SAFETY: the range lies inside one page the caller owns (clamped above).
    unsafe { core::ptr::write_bytes(va as *mut u8, 0, len) };
}

/// Reads the frame record (saved x29, x30) at `fp` if `fp` lies in mapped kernel
/// memory (the image or the linear map of RAM), for backtraces.
pub fn read_frame_record(fp: u64) -> Option<(u64, u64)> {
    let in_image = fp >= KERNEL_VBASE && fp + 16 <= KERNEL_VBASE + kernel_image_size();
    let in_ram = crate::mm::layout::linear_phys(VirtAddr(fp))
        .is_some_and(|pa| crate::kernel::memory::RAM.get().is_some_and(|ram| ram.contains(pa)));
    if !in_image && !in_ram {
        return None;
    }
    // SAFETY: `fp..fp+16` is mapped, readable kernel memory (checked above) and 16-byte
    // aligned (checked by the caller).
    unsafe { Some((*(fp as *const u64), *((fp + 8) as *const u64))) }
}

/// Copies `bytes` to physical memory at `pa` (which must not cross a page).
pub fn write_phys(pa: PhysAddr, bytes: &[u8]) {
    let room = 4096 - (pa.0 & 0xfff) as usize;
    let len = bytes.len().min(room);
    // SAFETY: the destination lies inside one page the caller owns (clamped above) and
    // is reachable through the linear map, so it cannot overlap the borrowed `bytes`.
    // The user-copy routine's q-register loop makes long copies cheap (userboot loads
    // the initrd and the ELF through here).
    unsafe { super::user_copy::copy_kernel(phys_to_virt(pa).0 as *mut u8, bytes.as_ptr(), len) };
}

/// A read-only view of physical memory that the kernel keeps for its whole life (the
/// initrd, the device tree), through the linear map.
pub fn phys_slice(pa: PhysAddr, len: usize) -> &'static [u8] {
    // SAFETY: callers pass ranges of RAM reserved at boot and never freed or written,
    // and the linear map covers all RAM.
    unsafe { core::slice::from_raw_parts(phys_to_virt(pa).0 as *const u8, len) }
}

/// Invalidates every TLB entry of address space `asid`.
pub fn flush_tlb_asid(asid: u16) {
    let arg = (asid as u64) << 48;
    // SAFETY: TLB maintenance changes no memory; the barriers order it.
    unsafe { asm!("dsb ishst", "tlbi aside1is, {}", "dsb ish", "isb", in(reg) arg, options(nostack)) };
}

/// A device's registers mapped Device-nGnRE in the kernel's MMIO area. Only
/// [`map_device`] makes one, so holding it proves the registers are mapped (for life:
/// device mappings are never removed).
#[derive(Clone, Copy, Debug)]
pub struct DeviceMapping {
    va: usize,
    size: u64,
}

impl DeviceMapping {
    /// The virtual address of the first register.
    pub fn va(&self) -> usize {
        self.va
    }
    /// Bytes mapped from `va`.
    pub fn size(&self) -> u64 {
        self.size
    }
}

/// Maps `[pa, pa + size)` as device memory in the kernel's tables.
pub fn map_device(
    table: &mut crate::mm::page_table::PageTable,
    windows: &mut crate::mm::layout::MmioWindows,
    tables: &mut KernelTableMemory<'_>,
    pa: PhysAddr,
    size: u64,
) -> ZxResult<DeviceMapping> {
    use crate::mm::page_table::{MemoryType, PageAttrs};
    let (base, va) = windows.reserve(pa, size).ok_or(ZxError::NoMemory)?;
    let first_page = pa.0 & !0xfff;
    let span = crate::mm::addr::page_ceil(pa.0 + size).ok_or(ZxError::InvalidArgs)? - first_page;
    let attrs = PageAttrs::kernel(true, true, false, MemoryType::Device_nGnRE);
    table.map_range(base, PhysAddr(first_page), span, attrs, tables)?;
    Ok(DeviceMapping { va: va.0 as usize, size })
}

/// The device tree, before the kernel's own tables exist: the boot tables map the GiB
/// holding the image and (when it shares the image's 512 GiB slot) the GiB holding the
/// tree, 1:1. Returns the blob or why it cannot be read.
pub fn boot_device_tree(dtb_pa: u64) -> Result<&'static [u8], &'static str> {
    const GIB: u64 = 1 << 30;
    let image = KERNEL_PHYS_BASE.load(Ordering::Relaxed);
    if dtb_pa == 0 {
        return Err("x0 is 0: the loader passed no device tree");
    }
    if !dtb_pa.is_multiple_of(8) {
        return Err("the device tree address is not 8-byte aligned");
    }
    let mapped = |a: u64| a / GIB == image / GIB || (a >> 39 == image >> 39 && a / GIB == dtb_pa / GIB);
    if !mapped(dtb_pa) || !mapped(dtb_pa + 40) {
        return Err("the device tree lies outside the boot identity map");
    }
    // SAFETY: the 40-byte header lies inside an identity-mapped GiB of normal memory
    // (checked above).
    let header = unsafe { core::slice::from_raw_parts(dtb_pa as *const u8, 40) };
    let word = |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    if word(0) != 0xd00d_feed {
        return Err("no device tree magic (0xd00dfeed) at x0");
    }
    let total = word(4) as u64;
    if !(40..=(32 << 20)).contains(&total) || !mapped(dtb_pa + total - 1) {
        return Err("the device tree's totalsize is implausible or runs outside the boot map");
    }
    // SAFETY: the whole blob lies inside the identity map (checked above) and the
    // loader's memory holding it is reserved from allocation for the kernel's life.
    Ok(unsafe { core::slice::from_raw_parts(dtb_pa as *const u8, total as usize) })
}

/// Virtual ranges of the image's sections, from the linker script.
pub struct KernelSections {
    /// `.text`: read + execute.
    pub text: (u64, u64),
    /// `.rodata`: read-only.
    pub rodata: (u64, u64),
    /// `.data` and `.bss`: read + write.
    pub data: (u64, u64),
    /// The boot stack's guard page (left unmapped).
    pub stack_guard: u64,
}

/// Where the linker put each section.
pub fn kernel_sections() -> KernelSections {
    unsafe extern "C" {
        static __text_start: u8;
        static __text_end: u8;
        static __rodata_start: u8;
        static __rodata_end: u8;
        static __data_start: u8;
        static __kernel_end: u8;
        static boot_stack_guard: u8;
    }
    KernelSections {
        text: (&raw const __text_start as u64, &raw const __text_end as u64),
        rodata: (&raw const __rodata_start as u64, &raw const __rodata_end as u64),
        data: (&raw const __data_start as u64, &raw const __kernel_end as u64),
        stack_guard: &raw const boot_stack_guard as u64,
    }
}

/// Orders page-table stores before later table walks (for a new entry where there was
/// none: nothing to invalidate).
pub fn publish_table_update() {
    // SAFETY: a barrier.
    unsafe { asm!("dsb ishst", options(nostack)) };
}
