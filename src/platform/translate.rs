//! Bus-to-CPU address translation: turning a node's `reg` into CPU physical ranges.
//!
//! A `reg` address is in the address space of the node's parent bus. Each bus maps
//! its children's addresses into its own parent's space through `ranges`, a list of
//! (child address, parent address, size) triples:
//! - an empty `ranges` is the identity mapping;
//! - a missing `ranges` means the bus's children are not memory-mapped at all, so
//!   their addresses cannot be translated (an error for that device);
//! - the walk repeats up to the root, whose address space is the CPU's.
//!
//! On the Raspberry Pi 4, `/soc` maps bus 0x7e00_0000 to CPU 0xfe00_0000, so the PL011
//! at bus 0x7e20_1000 is at CPU 0xfe20_1000. `fdt`-style `reg()` helpers skip this step.

use super::dt_error::DtError;
use super::fdt_reader::{FdtReader, Node, read_cells};
use super::phys_range::PhysRange;

/// The cell counts of a bus, each checked to be at most 2 (64 bits).
fn checked_cells(cells: u32, property: &'static str) -> Result<u32, DtError> {
    if cells <= 2 { Ok(cells) } else { Err(DtError::UnsupportedCells { property, cells }) }
}

/// Calls `visit` with every `reg` entry of `node`, translated to CPU addresses.
///
/// Errors: `BadProperty("reg")` if `reg` is missing or its length is not a whole
/// number of entries, `UnsupportedCells` for more than 2 address or size cells,
/// `Untranslatable` if a parent bus does not map an entry, `AddressOverflow` if an
/// entry or its translation does not fit in 64 bits. The first error from `visit`
/// stops the walk and is returned.
pub fn for_each_reg(
    fdt: &FdtReader<'_>,
    node: Node,
    mut visit: impl FnMut(PhysRange) -> Result<(), DtError>,
) -> Result<(), DtError> {
    let malformed = DtError::MalformedStructure { offset: node.offset() };
    let buses = fdt.ancestors(node).ok_or(malformed)?;
    let parent = *buses.last().ok_or(DtError::BadProperty { property: "reg" })?;
    let address_cells = checked_cells(fdt.address_cells(parent), "#address-cells")?;
    let size_cells = checked_cells(fdt.size_cells(parent), "#size-cells")?;
    let entry_bytes = ((address_cells + size_cells) * 4) as usize;
    let reg = fdt.property(node, "reg").ok_or(DtError::BadProperty { property: "reg" })?;
    if address_cells == 0 || !reg.len().is_multiple_of(entry_bytes) {
        return Err(DtError::BadProperty { property: "reg" });
    }
    for entry in reg.chunks_exact(entry_bytes) {
        let (address_bytes, size_bytes) = entry.split_at((address_cells * 4) as usize);
        let bad_reg = DtError::BadProperty { property: "reg" };
        let address = read_cells(address_bytes, address_cells).ok_or(bad_reg)?;
        let size = read_cells(size_bytes, size_cells).ok_or(bad_reg)?;
        let cpu_address = translate(fdt, buses.as_slice(), address, size)?;
        visit(PhysRange::new(cpu_address, size)?)?;
    }
    Ok(())
}

/// The `index`-th `reg` entry of `node`, translated to CPU addresses.
pub fn reg_to_cpu(fdt: &FdtReader<'_>, node: Node, index: usize) -> Result<PhysRange, DtError> {
    let mut seen = 0usize;
    let mut found = None;
    for_each_reg(fdt, node, |range| {
        if seen == index {
            found = Some(range);
        }
        seen += 1;
        Ok(())
    })?;
    found.ok_or(DtError::BadProperty { property: "reg" })
}

/// Translates `[address, address + size)`, expressed in the space of the last bus in
/// `buses` (root first), into the root's (CPU) address space.
pub fn translate(fdt: &FdtReader<'_>, buses: &[Node], address: u64, size: u64) -> Result<u64, DtError> {
    let mut address = address;
    // buses[i] maps its children into the space of buses[i - 1]; the root maps nothing.
    for pair in buses.windows(2).rev() {
        let [above, bus] = pair else { continue };
        let ranges = fdt.property(*bus, "ranges").ok_or(DtError::Untranslatable { address })?;
        if ranges.is_empty() {
            continue; // identity
        }
        let child_cells = checked_cells(fdt.address_cells(*bus), "#address-cells")?;
        let parent_cells = checked_cells(fdt.address_cells(*above), "#address-cells")?;
        let size_cells = checked_cells(fdt.size_cells(*bus), "#size-cells")?;
        address = map_through_ranges(ranges, child_cells, parent_cells, size_cells, address, size)?;
    }
    Ok(address)
}

/// Maps `[address, address + size)` through one `ranges` property; the whole range
/// must fall inside a single window.
fn map_through_ranges(
    ranges: &[u8],
    child_cells: u32,
    parent_cells: u32,
    size_cells: u32,
    address: u64,
    size: u64,
) -> Result<u64, DtError> {
    let bad_ranges = DtError::BadProperty { property: "ranges" };
    let entry_bytes = ((child_cells + parent_cells + size_cells) * 4) as usize;
    if child_cells == 0 || parent_cells == 0 || !ranges.len().is_multiple_of(entry_bytes) {
        return Err(bad_ranges);
    }
    for entry in ranges.chunks_exact(entry_bytes) {
        let (child_bytes, rest) = entry.split_at((child_cells * 4) as usize);
        let (parent_bytes, size_bytes) = rest.split_at((parent_cells * 4) as usize);
        let child_base = read_cells(child_bytes, child_cells).ok_or(bad_ranges)?;
        let parent_base = read_cells(parent_bytes, parent_cells).ok_or(bad_ranges)?;
        let window = read_cells(size_bytes, size_cells).ok_or(bad_ranges)?;
        let Some(offset) = address.checked_sub(child_base) else {
            continue;
        };
        let fits = offset < window && size <= window - offset;
        if fits {
            return parent_base
                .checked_add(offset)
                .ok_or(DtError::AddressOverflow { address: parent_base, size: offset });
        }
    }
    Err(DtError::Untranslatable { address })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::platform::fdt_reader::builder::{FdtBuilder, cells};

    static RPI4: &[u8] = include_bytes!("../../tests/fixtures/dtb/bcm2711-rpi-4-b.dtb");

    fn base(fdt: &FdtReader<'_>, path: &str, index: usize) -> Result<u64, DtError> {
        let node = fdt.find_path(path).unwrap();
        reg_to_cpu(fdt, node, index).map(|r| r.base.0)
    }

    #[test]
    fn pi_soc_and_emmc2bus_windows() {
        let fdt = FdtReader::new(RPI4).unwrap();
        assert_eq!(base(&fdt, "/soc/serial@7e201000", 0), Ok(0xfe20_1000));
        assert_eq!(base(&fdt, "/soc/serial@7e215040", 0), Ok(0xfe21_5040));
        assert_eq!(base(&fdt, "/soc/interrupt-controller@40041000", 1), Ok(0xff84_2000));
        assert_eq!(base(&fdt, "/emmc2bus/mmc@7e340000", 0), Ok(0xfe34_0000));
        let gic = fdt.find_path("/soc/interrupt-controller@40041000").unwrap();
        let mut bases = std::vec::Vec::new();
        for_each_reg(&fdt, gic, |r| {
            bases.push((r.base.0, r.size));
            Ok(())
        })
        .unwrap();
        assert_eq!(bases, [(0xff84_1000, 0x1000), (0xff84_2000, 0x2000), (0xff84_4000, 0x2000), (0xff84_6000, 0x2000)]);
        assert_eq!(base(&fdt, "/soc/serial@7e201000", 1), Err(DtError::BadProperty { property: "reg" }));
    }

    /// / (2 addr, 1 size) -> bus@.. (1, 1) -> leaf, with the bus's ranges configurable.
    fn nested(ranges: Option<&[u32]>) -> std::vec::Vec<u8> {
        let mut b = FdtBuilder::new();
        b.begin("").prop("#address-cells", &cells(&[2])).prop("#size-cells", &cells(&[1]));
        b.begin("bus").prop("#address-cells", &cells(&[1])).prop("#size-cells", &cells(&[1]));
        if let Some(ranges) = ranges {
            b.prop("ranges", &cells(ranges));
        }
        b.begin("dev@100").prop("reg", &cells(&[0x100, 0x10])).end();
        b.end().end();
        b.build()
    }

    #[test]
    fn missing_ranges_is_untranslatable_and_empty_is_identity() {
        let blob = nested(None);
        let fdt = FdtReader::new(&blob).unwrap();
        assert_eq!(base(&fdt, "/bus/dev", 0), Err(DtError::Untranslatable { address: 0x100 }));
        let blob = nested(Some(&[]));
        let fdt = FdtReader::new(&blob).unwrap();
        assert_eq!(base(&fdt, "/bus/dev", 0), Ok(0x100));
        // Window 0..0x108 does not hold all of 0x100..0x110; the second window does.
        let blob = nested(Some(&[0, 0x1, 0, 0x108, 0x100, 0x2, 0, 0x100]));
        let fdt = FdtReader::new(&blob).unwrap();
        assert_eq!(base(&fdt, "/bus/dev", 0), Ok(0x2_0000_0000));
        // Malformed ranges length.
        let blob = nested(Some(&[0, 0x1]));
        let fdt = FdtReader::new(&blob).unwrap();
        assert_eq!(base(&fdt, "/bus/dev", 0), Err(DtError::BadProperty { property: "ranges" }));
        // Translation past 2^64.
        let blob = nested(Some(&[0x100, 0xffff_ffff, 0xffff_fff0, 0x1000]));
        let fdt = FdtReader::new(&blob).unwrap();
        assert!(matches!(base(&fdt, "/bus/dev", 0), Err(DtError::AddressOverflow { .. })));
    }
}
