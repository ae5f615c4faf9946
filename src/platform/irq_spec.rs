//! GIC interrupt specifiers from the device tree: `<kind number flags>` cells to INTIDs.
//!
//! The GIC binding numbers SPIs and PPIs from 0 within their class; the GIC itself
//! uses one INTID space where PPIs start at 16 and SPIs at 32. Mixing the two up is a
//! classic bug (google/arm-gic#4), so the conversion lives here, once, and is tested.

use super::bounded::BoundedVec;
use super::dt_error::DtError;
use super::fdt_reader::{FdtReader, Node, read_cells};

/// First cell of a specifier: shared peripheral interrupt.
pub const GIC_SPI: u32 = 0;
/// First cell of a specifier: private peripheral interrupt.
pub const GIC_PPI: u32 = 1;
/// INTID of PPI 0.
pub const PPI_INTID_BASE: u32 = 16;
/// INTID of SPI 0.
pub const SPI_INTID_BASE: u32 = 32;
/// Number of PPIs.
const PPI_COUNT: u32 = 16;
/// Largest SPI INTID (1020-1023 are special).
const MAX_SPI_INTID: u32 = 1019;
/// The most specifiers read from one `interrupts` property.
pub const MAX_INTERRUPTS: usize = 8;

/// How an interrupt line signals, from the low 4 bits of the flags cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Trigger {
    /// 0: not given; keep the controller's default.
    #[default]
    Unspecified,
    /// 1: rising edge.
    EdgeRising,
    /// 2: falling edge.
    EdgeFalling,
    /// 4: active-high level.
    LevelHigh,
    /// 8: active-low level.
    LevelLow,
}

impl Trigger {
    /// True for either edge trigger (programmed as edge in GICD_ICFGR).
    pub fn is_edge(self) -> bool {
        matches!(self, Trigger::EdgeRising | Trigger::EdgeFalling)
    }
}

/// One interrupt as the GIC numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct IrqSpec {
    /// GIC interrupt ID: PPI n is n + 16, SPI n is n + 32.
    pub intid: u32,
    /// Trigger type.
    pub trigger: Trigger,
}

impl IrqSpec {
    /// Converts the three GIC specifier cells. PPI numbers must be below 16 and SPI
    /// INTIDs at most 1019; other kinds (GICv3.1 extended ranges) are rejected.
    pub fn from_gic_cells(kind: u32, number: u32, flags: u32) -> Result<Self, DtError> {
        let bad = DtError::BadInterrupt { kind, number, flags };
        let intid = match kind {
            GIC_PPI if number < PPI_COUNT => number + PPI_INTID_BASE,
            GIC_SPI => number.checked_add(SPI_INTID_BASE).filter(|&intid| intid <= MAX_SPI_INTID).ok_or(bad)?,
            _ => return Err(bad),
        };
        let trigger = match flags & 0xf {
            0 => Trigger::Unspecified,
            1 => Trigger::EdgeRising,
            2 => Trigger::EdgeFalling,
            4 => Trigger::LevelHigh,
            8 => Trigger::LevelLow,
            _ => return Err(bad),
        };
        Ok(IrqSpec { intid, trigger })
    }
}

/// The interrupt controller that serves `node`: the nearest `interrupt-parent` on the
/// node or its ancestors, resolved by phandle.
pub fn interrupt_parent(fdt: &FdtReader<'_>, node: Node) -> Option<Node> {
    let ancestors = fdt.ancestors(node)?;
    let phandle = core::iter::once(node)
        .chain(ancestors.iter().rev().copied())
        .find_map(|n| fdt.property_u32(n, "interrupt-parent"))?;
    fdt.find_phandle(phandle)
}

/// The node's `interrupts`, decoded as GIC specifiers (at most [`MAX_INTERRUPTS`];
/// more is an error, as the order of entries carries meaning for some bindings).
///
/// The interrupt parent must use at least 3 cells per specifier (GICv3 may use a 4th
/// for PPI partitions, which is skipped).
pub fn interrupts(fdt: &FdtReader<'_>, node: Node) -> Result<BoundedVec<IrqSpec, MAX_INTERRUPTS>, DtError> {
    let bad = DtError::BadProperty { property: "interrupts" };
    let value = fdt.property(node, "interrupts").ok_or(bad)?;
    let controller = interrupt_parent(fdt, node).ok_or(bad)?;
    let cells = fdt.property_u32(controller, "#interrupt-cells").ok_or(bad)?;
    if !(3..=4).contains(&cells) {
        return Err(bad);
    }
    let entry_bytes = (cells * 4) as usize;
    if value.is_empty() || !value.len().is_multiple_of(entry_bytes) {
        return Err(bad);
    }
    let mut specs = BoundedVec::new();
    for entry in value.chunks_exact(entry_bytes) {
        let cell = |i: usize| entry.get(i * 4..).and_then(|b| read_cells(b, 1)).ok_or(bad);
        let spec = IrqSpec::from_gic_cells(cell(0)? as u32, cell(1)? as u32, cell(2)? as u32)?;
        specs.push(spec).map_err(|_| bad)?;
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppi_and_spi_offsets() {
        let timer = IrqSpec::from_gic_cells(GIC_PPI, 14, 0xf08).unwrap();
        assert_eq!(timer, IrqSpec { intid: 30, trigger: Trigger::LevelLow });
        let uart = IrqSpec::from_gic_cells(GIC_SPI, 121, 4).unwrap();
        assert_eq!(uart, IrqSpec { intid: 153, trigger: Trigger::LevelHigh });
        let edge = IrqSpec::from_gic_cells(GIC_SPI, 16, 1).unwrap();
        assert!(edge.trigger.is_edge());
        assert_eq!(IrqSpec::from_gic_cells(GIC_PPI, 11, 0).unwrap().intid, 27);
    }

    #[test]
    fn rejects_out_of_range_specifiers() {
        assert!(IrqSpec::from_gic_cells(GIC_PPI, 16, 4).is_err());
        assert!(IrqSpec::from_gic_cells(GIC_SPI, 988, 4).is_err());
        assert!(IrqSpec::from_gic_cells(GIC_SPI, 987, 4).is_ok());
        assert!(IrqSpec::from_gic_cells(GIC_SPI, u32::MAX, 4).is_err());
        assert!(IrqSpec::from_gic_cells(2, 0, 4).is_err());
        assert_eq!(IrqSpec::from_gic_cells(GIC_SPI, 1, 3), Err(DtError::BadInterrupt { kind: 0, number: 1, flags: 3 }));
    }
}
