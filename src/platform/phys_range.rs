//! Physical address ranges, and carving the usable part out of RAM.

use super::bounded::BoundedVec;
use super::dt_error::DtError;
use crate::abi::PAGE_SIZE;
use crate::mm::addr::PhysAddr;

/// A range of physical addresses `[base, base + size)`; `base + size` never overflows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct PhysRange {
    /// First address in the range.
    pub base: PhysAddr,
    /// Length in bytes.
    pub size: u64,
}

impl PhysRange {
    /// `[base, base + size)`, or `AddressOverflow` if the end does not fit in 64 bits.
    pub fn new(base: u64, size: u64) -> Result<Self, DtError> {
        match base.checked_add(size) {
            Some(_) => Ok(PhysRange { base: PhysAddr(base), size }),
            None => Err(DtError::AddressOverflow { address: base, size }),
        }
    }

    /// `[start, end)`, or `None` if `end < start`.
    pub fn from_bounds(start: u64, end: u64) -> Option<Self> {
        let size = end.checked_sub(start)?;
        Some(PhysRange { base: PhysAddr(start), size })
    }

    /// One past the last address.
    pub fn end(&self) -> u64 {
        // `new` and `from_bounds` guarantee this does not overflow; saturate anyway
        // so a hand-built range can never wrap.
        self.base.0.saturating_add(self.size)
    }

    /// True when the range holds `address`.
    pub fn contains(&self, address: u64) -> bool {
        self.base.0 <= address && address < self.end()
    }

    /// True when the two ranges share at least one address.
    pub fn overlaps(&self, other: &PhysRange) -> bool {
        self.base.0 < other.end() && other.base.0 < self.end()
    }
}

/// The parts of `ram` covered by none of the ranges in `holes`, each shrunk inward to
/// whole pages and sorted by address.
///
/// Overlapping RAM ranges are counted once (a later range loses what an earlier one
/// already covers), so no page is ever reported twice. If the result would exceed `N`
/// ranges the excess is dropped: that only hides usable memory, which is safe.
pub fn subtract<const N: usize>(ram: &[PhysRange], holes: &[&[PhysRange]]) -> BoundedVec<PhysRange, N> {
    let mut usable = BoundedVec::new();
    for (index, region) in ram.iter().enumerate() {
        let earlier_ram = ram.get(..index).unwrap_or(&[]);
        let all_holes = || holes.iter().copied().chain([earlier_ram]).flatten();
        let end = region.end();
        let mut position = region.base.0;
        while position < end {
            // The hole starting first among those that cut into [position, end).
            let next_hole = all_holes()
                .filter(|hole| hole.size > 0 && hole.end() > position && hole.base.0 < end)
                .min_by_key(|hole| hole.base.0);
            match next_hole {
                None => {
                    push_page_aligned(&mut usable, position, end);
                    break;
                }
                Some(hole) => {
                    push_page_aligned(&mut usable, position, hole.base.0);
                    // hole.end() > position, so every iteration makes progress.
                    position = hole.end();
                }
            }
        }
    }
    usable.as_mut_slice().sort_unstable_by_key(|range| range.base.0);
    usable
}

/// Pushes `[start, end)` shrunk to page boundaries, if any page remains.
fn push_page_aligned<const N: usize>(list: &mut BoundedVec<PhysRange, N>, start: u64, end: u64) {
    let Some(aligned_start) = crate::mm::addr::page_ceil(start) else {
        return;
    };
    let aligned_end = end & !(PAGE_SIZE - 1);
    if let Some(range) = PhysRange::from_bounds(aligned_start, aligned_end)
        && range.size > 0
    {
        // A full list drops the range; see `subtract`.
        let _ = list.push(range);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(base: u64, size: u64) -> PhysRange {
        PhysRange::new(base, size).unwrap()
    }

    #[test]
    fn new_rejects_overflow() {
        assert_eq!(PhysRange::new(u64::MAX, 2), Err(DtError::AddressOverflow { address: u64::MAX, size: 2 }));
        assert_eq!(r(0x1000, 0x1000).end(), 0x2000);
        assert!(r(0x1000, 0x1000).contains(0x1fff));
        assert!(!r(0x1000, 0x1000).contains(0x2000));
    }

    #[test]
    fn carves_holes_out_of_ram() {
        let ram = [r(0x4000_0000, 0x2000_0000)];
        let reserved = [r(0x4000_0000, 0x1000)];
        let extra = [r(0x4008_0000, 0x10_0000), r(0x4800_0000, 0x10_0000)];
        let usable = subtract::<8>(&ram, &[&reserved, &extra]);
        assert_eq!(
            usable.as_slice(),
            &[r(0x4000_1000, 0x7_f000), r(0x4018_0000, 0x7e8_0000), r(0x4810_0000, 0x17f0_0000),]
        );
    }

    #[test]
    fn shrinks_to_pages_and_handles_overlaps() {
        let ram = [r(0x1000, 0x10_000), r(0x8000, 0x10_000)]; // overlapping RAM
        let holes = [r(0x2800, 0x100), r(0x2000, 0x1000)]; // unsorted, overlapping
        let usable = subtract::<8>(&ram, &[&holes]);
        assert_eq!(usable.as_slice(), &[r(0x1000, 0x1000), r(0x3000, 0xe000), r(0x11000, 0x7000)]);
    }

    #[test]
    fn drops_excess_ranges() {
        let ram = [r(0, 0x10_0000)];
        let holes = [r(0x1000, 0x1000), r(0x3000, 0x1000), r(0x5000, 0x1000)];
        let usable = subtract::<2>(&ram, &[&holes]);
        assert_eq!(usable.as_slice(), &[r(0, 0x1000), r(0x2000, 0x1000)]);
    }
}
