//! The device-tree error type: why a blob was rejected, or why one device in it could
//! not be used.

use core::fmt;

/// A device the kernel looks for in the tree; names the subject of [`DtError::Missing`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The console UART (`/chosen/stdout-path`, or the first enabled PL011).
    Console,
    /// An enabled `arm,pl011` UART.
    Pl011,
    /// The GICv2 or GICv3 interrupt controller.
    InterruptController,
    /// The `arm,armv8-timer` node.
    Timer,
    /// The `/psci` node.
    Psci,
    /// The BCM2711 GPIO controller.
    Gpio,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Device::Console => "console UART",
            Device::Pl011 => "enabled PL011 UART",
            Device::InterruptController => "GICv2 or GICv3 interrupt controller",
            Device::Timer => "ARMv8 generic timer",
            Device::Psci => "PSCI firmware interface",
            Device::Gpio => "BCM2711 GPIO controller",
        })
    }
}

/// One of the three blocks a flattened device tree's header points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    /// The structure block (nodes and properties).
    Structure,
    /// The strings block (property names).
    Strings,
    /// The memory reservation block (`/memreserve/` entries).
    MemReserve,
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Block::Structure => "structure",
            Block::Strings => "strings",
            Block::MemReserve => "memory reservation",
        })
    }
}

/// Why a device tree, or a device described in it, cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtError {
    /// The slice is shorter than the 40-byte header.
    TooShort {
        /// Length of the slice.
        len: usize,
    },
    /// The first word is not 0xd00dfeed.
    BadMagic {
        /// The word found instead.
        found: u32,
    },
    /// The header's `totalsize` is smaller than a header or larger than the slice.
    BadTotalSize {
        /// `totalsize` from the header.
        total_size: u32,
        /// Bytes actually available.
        available: usize,
    },
    /// The format version is older than 17 or the blob needs a reader newer than 17.
    UnsupportedVersion {
        /// `version` from the header.
        version: u32,
        /// `last_comp_version` from the header.
        last_compatible: u32,
    },
    /// A block lies outside `totalsize`, is misaligned, or (for the memory
    /// reservation block) has no terminating entry.
    BlockOutOfBounds {
        /// Which block.
        block: Block,
    },
    /// The structure block holds an unknown token, an unbalanced node, a property
    /// outside a node or after a child node, or does not end with `FDT_END`.
    MalformedStructure {
        /// Offset of the offending token within the structure block.
        offset: usize,
    },
    /// Nodes nest deeper than [`super::fdt_reader::MAX_DEPTH`].
    TooDeep {
        /// Offset of the node that is too deep.
        offset: usize,
    },
    /// A node or property name is not a NUL-terminated UTF-8 string inside its block.
    BadName {
        /// Offset of the node token, or of the name in the strings block.
        offset: usize,
    },
    /// The tree has no root node.
    NoRoot,
    /// A property the kernel relies on is missing or has the wrong length or value.
    BadProperty {
        /// The property's name.
        property: &'static str,
    },
    /// `#address-cells` or `#size-cells` is larger than 64 bits can hold.
    UnsupportedCells {
        /// The cells property that was read.
        property: &'static str,
        /// Its value.
        cells: u32,
    },
    /// A bus address is not covered by some parent's `ranges` (or the parent has no
    /// `ranges`, which means its children are not memory-mapped).
    Untranslatable {
        /// The address that could not be mapped, in the bus's address space.
        address: u64,
    },
    /// `address + size` does not fit in 64 bits.
    AddressOverflow {
        /// Start of the range.
        address: u64,
        /// Its size.
        size: u64,
    },
    /// More reserved ranges than the fixed table holds; ignoring one could hand
    /// firmware memory to the allocator, so this is an error, not a truncation.
    TooManyReservedRanges {
        /// Capacity of the table.
        capacity: usize,
    },
    /// `linux,initrd-start`/`-end` are malformed, only one is present, or end < start.
    BadInitrd {
        /// Start address (0 if absent).
        start: u64,
        /// End address (0 if absent).
        end: u64,
    },
    /// A GIC interrupt specifier that is not an SPI or PPI in range.
    BadInterrupt {
        /// First cell: 0 = SPI, 1 = PPI.
        kind: u32,
        /// Second cell: the SPI or PPI number.
        number: u32,
        /// Third cell: trigger flags.
        flags: u32,
    },
    /// The tree does not describe this device (or describes it only as disabled).
    Missing(Device),
    /// A range ends beyond the physical addresses this CPU (or, for RAM, the kernel's
    /// linear map) can reach: the tree describes memory or registers that cannot exist.
    BeyondPhysicalRange {
        /// What the range is ("RAM range", "console UART registers", ...).
        what: &'static str,
        /// Start of the range.
        address: u64,
        /// Its size.
        size: u64,
        /// The reachable width in bits: addresses are below 2^bits.
        bits: u32,
    },
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DtError::TooShort { len } => {
                write!(f, "the device tree is {len} bytes long, too short for the 40-byte header")
            }
            DtError::BadMagic { found } => {
                write!(f, "the device tree starts with {found:#010x} instead of the magic 0xd00dfeed")
            }
            DtError::BadTotalSize { total_size, available } => {
                write!(f, "the device tree header claims {total_size} bytes but {available} are available")
            }
            DtError::UnsupportedVersion { version, last_compatible } => write!(
                f,
                "the device tree has format version {version} (compatible back to \
                 {last_compatible}), but only readers of version 17 are supported"
            ),
            DtError::BlockOutOfBounds { block } => {
                write!(f, "the device tree's {block} block lies outside the blob or is malformed")
            }
            DtError::MalformedStructure { offset } => {
                write!(f, "the device tree's structure block is malformed at offset {offset:#x}")
            }
            DtError::TooDeep { offset } => {
                write!(f, "the device tree node at structure offset {offset:#x} nests too deeply")
            }
            DtError::BadName { offset } => {
                write!(f, "the device tree name at offset {offset:#x} is not a terminated UTF-8 string")
            }
            DtError::NoRoot => f.write_str("the device tree has no root node"),
            DtError::BadProperty { property } => {
                write!(f, "the device tree property `{property}` is missing or malformed")
            }
            DtError::UnsupportedCells { property, cells } => {
                write!(f, "the device tree sets `{property}` to {cells}, more than 2 cells are unsupported")
            }
            DtError::Untranslatable { address } => {
                write!(f, "bus address {address:#x} is not mapped to a CPU address by any parent's `ranges`")
            }
            DtError::AddressOverflow { address, size } => {
                write!(f, "the device tree range at {address:#x} of size {size:#x} overflows 64 bits")
            }
            DtError::TooManyReservedRanges { capacity } => {
                write!(f, "the device tree reserves more than {capacity} memory ranges")
            }
            DtError::BadInitrd { start, end } => {
                write!(f, "the device tree's initrd range {start:#x}..{end:#x} is malformed")
            }
            DtError::BadInterrupt { kind, number, flags } => {
                write!(f, "the interrupt specifier <{kind} {number} {flags:#x}> is not a valid GIC SPI or PPI")
            }
            DtError::Missing(device) => {
                write!(f, "the device tree describes no {device}")
            }
            DtError::BeyondPhysicalRange { what, address, size, bits } => write!(
                f,
                "the device tree's {what} at {address:#x} (size {size:#x}) lies beyond the {bits}-bit \
                 physical address range"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn display_is_one_sentence() {
        let samples = [
            DtError::TooShort { len: 3 },
            DtError::BadMagic { found: 0x1234 },
            DtError::Missing(Device::Psci),
            DtError::Untranslatable { address: 0x7e20_1000 },
            DtError::BeyondPhysicalRange { what: "RAM range", address: 0x4000_0000, size: 1 << 62, bits: 44 },
        ];
        for error in samples {
            let text = error.to_string();
            assert!(!text.is_empty() && !text.contains('\n'), "{text}");
            assert!(!text.ends_with('.'), "{text}");
        }
        assert_eq!(
            DtError::BadMagic { found: 0x1234 }.to_string(),
            "the device tree starts with 0x00001234 instead of the magic 0xd00dfeed"
        );
        assert_eq!(DtError::Missing(Device::Psci).to_string(), "the device tree describes no PSCI firmware interface");
    }
}
