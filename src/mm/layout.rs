//! The kernel's virtual address layout (TTBR1, 48-bit):
//!
//! ```text
//! 0xFFFF_0000_0000_0000  linear map: every RAM byte at LINEAR_BASE + physical address
//! 0xFFFF_FFFE_0000_0000  MMIO windows, mapped Device-nGnRE on demand
//! 0xFFFF_FFFF_8000_0000  the kernel image (text RX, rodata R, data/bss RW), per linker.ld
//! ```
//! User space is TTBR0: `[USER_BASE, USER_END)` (ABI.md section 2).

use crate::mm::{PhysAddr, VirtAddr};

/// Start of the linear map of physical memory.
pub const LINEAR_BASE: u64 = 0xFFFF_0000_0000_0000;
/// Bytes of physical address space the linear map can cover (2^46).
pub const LINEAR_SPAN: u64 = 1 << 46;
/// Start of the MMIO window area.
pub const MMIO_BASE: u64 = 0xFFFF_FFFE_0000_0000;
/// Size of the MMIO window area.
pub const MMIO_SPAN: u64 = 1 << 32;
/// Where the kernel image is linked (linker.ld's KERNEL_VBASE).
pub const KERNEL_VBASE: u64 = 0xFFFF_FFFF_8000_0000;

/// The kernel virtual address of physical `pa` in the linear map, if it is covered.
pub const fn linear_virt(pa: PhysAddr) -> Option<VirtAddr> {
    if pa.0 < LINEAR_SPAN { Some(VirtAddr(LINEAR_BASE + pa.0)) } else { None }
}

/// The physical address behind a linear-map address.
pub const fn linear_phys(va: VirtAddr) -> Option<PhysAddr> {
    if va.0 >= LINEAR_BASE && va.0 - LINEAR_BASE < LINEAR_SPAN { Some(PhysAddr(va.0 - LINEAR_BASE)) } else { None }
}

/// A bump allocator for MMIO windows: each device region gets fresh page-aligned
/// virtual addresses above [`MMIO_BASE`].
#[derive(Debug)]
pub struct MmioWindows {
    next: u64,
}

impl MmioWindows {
    /// An empty window area.
    pub const fn new() -> Self {
        MmioWindows { next: MMIO_BASE }
    }

    /// Reserves virtual space for `[pa, pa + size)`: returns the window's base and the
    /// virtual address of `pa` inside it, or `None` when the area is exhausted.
    pub fn reserve(&mut self, pa: PhysAddr, size: u64) -> Option<(VirtAddr, VirtAddr)> {
        let offset = pa.0 & 0xfff;
        let span = crate::mm::addr::page_ceil(size.checked_add(offset)?)?;
        let base = self.next;
        let end = base.checked_add(span)?;
        if end > MMIO_BASE + MMIO_SPAN {
            return None;
        }
        self.next = end + 0x1000; // an unmapped page between windows
        Some((VirtAddr(base), VirtAddr(base + offset)))
    }
}

impl Default for MmioWindows {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_map_round_trips() {
        let va = linear_virt(PhysAddr(0x4020_1000)).unwrap();
        assert_eq!(va, VirtAddr(0xFFFF_0000_4020_1000));
        assert_eq!(linear_phys(va), Some(PhysAddr(0x4020_1000)));
        assert_eq!(linear_virt(PhysAddr(1 << 46)), None);
        assert_eq!(linear_phys(VirtAddr(KERNEL_VBASE)), None);
    }

    #[test]
    fn mmio_windows_are_separated_and_keep_the_page_offset() {
        let mut w = MmioWindows::new();
        let (base, va) = w.reserve(PhysAddr(0xFE21_5040), 0x40).unwrap();
        assert_eq!(base, VirtAddr(MMIO_BASE));
        assert_eq!(va, VirtAddr(MMIO_BASE + 0x40));
        let (base2, _) = w.reserve(PhysAddr(0x0900_0000), 0x1000).unwrap();
        assert_eq!(base2, VirtAddr(MMIO_BASE + 0x2000));
        assert!(w.reserve(PhysAddr(0), u64::MAX).is_none());
    }
}
