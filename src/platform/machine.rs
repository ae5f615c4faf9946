//! The machine as its device tree describes it: board, RAM and reserved memory, the
//! kernel command line and initrd, console UART, GIC, generic timer, PSCI, CPUs and
//! the Raspberry Pi GPIO block. Pure: no MMIO, no heap.
//!
//! [`Machine::from_fdt`] runs before the allocator exists, so every list is a
//! fixed-capacity table and every string is copied out of the blob (the result stays
//! valid after the DTB is unmapped). Capacities and what happens past them:
//!
//! | table | capacity | when full |
//! |---|---|---|
//! | RAM ranges | [`MAX_RAM_RANGES`] | the rest are dropped and `ram_truncated` is set (less RAM is safe) |
//! | reserved ranges | [`MAX_RESERVED_RANGES`] | error `TooManyReservedRanges` (ignoring one is unsafe) |
//! | CPUs | [`MAX_CPUS`] | the rest stay parked; `cpus_in_tree` counts them all |
//! | usable ranges | [`MAX_USABLE_RANGES`] | the rest are dropped (less RAM is safe) |
//! | model, compatible, stdout-path | [`NAME_CAPACITY`] bytes | cut at a character boundary |
//! | bootargs | [`BOOTARGS_CAPACITY`] bytes | cut between words; `bootargs_truncated` is set |
//!
//! Errors come in two sizes. A blob that is not a well-formed tree, or whose memory
//! description (RAM, reservations, initrd) is malformed, fails the whole parse: the
//! kernel cannot manage memory it cannot describe. A device that is absent or cannot
//! be used (say its bus has no `ranges`) only makes that device's field an `Err`, so
//! the kernel can still report it on whatever console it did find.

pub use super::bounded::{BoundedVec, CapacityExceeded, FixedStr};
pub use super::cmdline::{CmdlineArg, cmdline_args, cmdline_flag, cmdline_value};
pub use super::dt_error::{Block, Device, DtError};
pub use super::irq_spec::{IrqSpec, Trigger};
pub use super::phys_range::PhysRange;

use super::fdt_reader::{FdtReader, Node, read_cells, read_number};
use super::irq_spec::interrupts;
use super::phys_range::subtract;
use super::translate::{for_each_reg, reg_to_cpu};
use crate::mm::addr::PhysAddr;
use crate::mm::layout::LINEAR_SPAN;

/// The physical address width ID_AA64MMFR0_EL1.PARange (bits 3..0) encodes: 32, 36,
/// 40, 42, 44, 48 or 52 bits. A value the architecture does not define yet is read as
/// the widest known one, 52 (larger values only ever mean wider).
pub fn pa_bits_from_parange(parange: u64) -> u32 {
    match parange & 0xf {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    }
}

/// Most RAM ranges recorded.
pub const MAX_RAM_RANGES: usize = 16;
/// Most reserved ranges (`/memreserve/` plus `/reserved-memory`) recorded.
pub const MAX_RESERVED_RANGES: usize = 32;
/// Most CPUs recorded.
pub const MAX_CPUS: usize = 8;
/// Most ranges [`Machine::usable_ranges`] returns.
pub const MAX_USABLE_RANGES: usize = 64;
/// Bytes kept of `model`, the first root `compatible`, and `stdout-path`.
pub const NAME_CAPACITY: usize = 64;
/// Bytes kept of `/chosen/bootargs`.
pub const BOOTARGS_CAPACITY: usize = 1024;

/// PSCI 0.2+ standard function ID of SMC64 `CPU_ON`.
const PSCI_0_2_CPU_ON_64: u32 = 0xc400_0003;

/// Which board the root `compatible` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Board {
    /// QEMU's `virt` machine (`linux,dummy-virt`).
    QemuVirt,
    /// Raspberry Pi 4 Model B (`raspberrypi,4-model-b` or `brcm,bcm2711`).
    RaspberryPi4,
    /// Anything else.
    Unknown,
}

impl Board {
    /// Classifies a root `compatible` list.
    pub fn from_compatible<'s>(compatible: impl IntoIterator<Item = &'s str>) -> Board {
        for entry in compatible {
            match entry {
                "linux,dummy-virt" => return Board::QemuVirt,
                "raspberrypi,4-model-b" | "brcm,bcm2711" => return Board::RaspberryPi4,
                _ => {}
            }
        }
        Board::Unknown
    }
}

/// The UART models the kernel can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind {
    /// ARM PrimeCell PL011 (`arm,pl011`).
    Pl011,
    /// BCM2835-family mini UART (`brcm,bcm2835-aux-uart`), the Pi 4's default console.
    MiniUart,
}

/// A UART and what is needed to program it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uart {
    /// The model.
    pub kind: UartKind,
    /// Register block, CPU physical.
    pub regs: PhysRange,
    /// Reference clock, when its first `clocks` entry is a `fixed-clock` (for the baud
    /// divisor); `None` when the clock comes from a clock controller.
    pub clock_hz: Option<u32>,
    /// Baud rate from `stdout-path` options (`serial0:115200n8`), if given.
    pub baud: Option<u32>,
    /// Its interrupt; `None` when absent or not a GIC SPI/PPI.
    pub irq: Option<IrqSpec>,
}

/// The interrupt controller's register frames, CPU physical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gic {
    /// GICv2 (`arm,cortex-a15-gic`, `arm,gic-400`): distributor and CPU interface.
    V2 {
        /// GICD.
        distributor: PhysRange,
        /// GICC.
        cpu_interface: PhysRange,
    },
    /// GICv3 (`arm,gic-v3`): distributor and the first redistributor region.
    V3 {
        /// GICD.
        distributor: PhysRange,
        /// GICR frames of all CPUs (the first `#redistributor-regions` region).
        redistributors: PhysRange,
    },
}

impl Gic {
    /// 2 or 3.
    pub fn version(&self) -> u8 {
        match self {
            Gic::V2 { .. } => 2,
            Gic::V3 { .. } => 3,
        }
    }

    /// The distributor frame.
    pub fn distributor(&self) -> PhysRange {
        match *self {
            Gic::V2 { distributor, .. } | Gic::V3 { distributor, .. } => distributor,
        }
    }
}

/// The generic timer's per-CPU interrupts (`arm,armv8-timer`, in binding order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    /// Secure EL1 physical timer.
    pub secure_phys: IrqSpec,
    /// Non-secure EL1 physical timer (INTID 30 on both boards).
    pub nonsecure_phys: IrqSpec,
    /// Virtual timer (INTID 27).
    pub virt: IrqSpec,
    /// EL2 physical timer, when listed.
    pub hyp_phys: Option<IrqSpec>,
}

/// How PSCI calls reach the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    /// `hvc #0` (firmware at EL2; QEMU's default).
    Hvc,
    /// `smc #0` (firmware at EL3; QEMU with `virtualization=on`).
    Smc,
}

/// The PSCI firmware interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Psci {
    /// The conduit.
    pub method: PsciMethod,
    /// True for `arm,psci-0.2` or later, whose function IDs are standard.
    pub v0_2_or_later: bool,
    /// Function ID for `CPU_ON` (the `cpu_on` property, else the PSCI 0.2 SMC64 ID).
    pub cpu_on: u32,
}

/// How a secondary CPU is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EnableMethod {
    /// No `enable-method` (typically the only, already running, CPU).
    #[default]
    Unspecified,
    /// PSCI `CPU_ON`.
    Psci,
    /// Write the entry point to `release_addr`, then `dsb sy; sev`.
    SpinTable {
        /// The CPU's spin-table slot (`cpu-release-addr`).
        release_addr: PhysAddr,
    },
    /// Something else, or `spin-table` without a readable `cpu-release-addr`: the
    /// kernel cannot start this CPU.
    Other,
}

/// One CPU node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Cpu {
    /// Its `reg`: the MPIDR affinity fields.
    pub mpidr: u64,
    /// How to start it.
    pub enable_method: EnableMethod,
}

/// Everything the kernel takes from the device tree.
#[derive(Clone, Copy, Debug)]
pub struct Machine {
    /// Board family from the root `compatible`.
    pub board: Board,
    /// Root `model`.
    pub model: FixedStr<NAME_CAPACITY>,
    /// First (most specific) root `compatible` entry.
    pub compatible: FixedStr<NAME_CAPACITY>,
    /// The header's `totalsize`: keep this many bytes at the DTB's address reserved.
    pub dtb_total_size: u32,
    /// The header's `boot_cpuid_phys`.
    pub boot_cpuid_phys: u32,
    /// RAM from enabled `device_type = "memory"` nodes, zero-sized entries skipped.
    pub ram: BoundedVec<PhysRange, MAX_RAM_RANGES>,
    /// True when RAM ranges were dropped for lack of room.
    pub ram_truncated: bool,
    /// `/memreserve/` entries and enabled `/reserved-memory` children with `reg`.
    pub reserved: BoundedVec<PhysRange, MAX_RESERVED_RANGES>,
    /// `/chosen/bootargs` ("" if absent).
    pub bootargs: FixedStr<BOOTARGS_CAPACITY>,
    /// True when `bootargs` was cut to fit.
    pub bootargs_truncated: bool,
    /// `/chosen/stdout-path` as written, options included ("" if absent).
    pub stdout_path: FixedStr<NAME_CAPACITY>,
    /// `[linux,initrd-start, linux,initrd-end)`, if both are present and non-empty.
    pub initrd: Option<PhysRange>,
    /// The console: the node `stdout-path` names if it is a PL011 or mini UART, else
    /// the first enabled PL011.
    pub console: Result<Uart, DtError>,
    /// The first enabled PL011 (on the Pi: UART0, wired to Bluetooth by default).
    pub pl011: Result<Uart, DtError>,
    /// The interrupt controller.
    pub gic: Result<Gic, DtError>,
    /// The generic timer's interrupts.
    pub timer: Result<Timer, DtError>,
    /// PSCI; `Err(Missing(Psci))` when the firmware offers none (QEMU `secure=on`,
    /// the Pi's stock armstub).
    pub psci: Result<Psci, DtError>,
    /// CPUs in `/cpus`, in tree order, at most [`MAX_CPUS`] (CPUs without a readable
    /// `reg` are skipped).
    pub cpus: BoundedVec<Cpu, MAX_CPUS>,
    /// Number of CPU nodes in the tree, including any not recorded.
    pub cpus_in_tree: usize,
    /// The BCM2711 GPIO block (for UART pin muxing), CPU physical. Linux 6.1's tree
    /// gives it size 0xb4, which stops short of the BCM2711 pull-control registers at
    /// +0xe4, so map the whole 4 KiB page.
    pub gpio: Result<PhysRange, DtError>,
}

impl Machine {
    /// Parses and interprets the flattened device tree in `blob`.
    ///
    /// `blob` must hold at least the header's `totalsize` bytes; any input, however
    /// corrupt, gives an error rather than a panic. See the module documentation for
    /// which problems fail the whole parse and which only one device.
    pub fn from_fdt(blob: &[u8]) -> Result<Machine, DtError> {
        let fdt = FdtReader::new(blob)?;
        let root = fdt.root();
        let (ram, ram_truncated) = parse_ram(&fdt)?;
        let reserved = parse_reserved(&fdt)?;
        let chosen = parse_chosen(&fdt)?;
        let (bootargs, bootargs_truncated) = FixedStr::truncated_at_word(chosen.bootargs.unwrap_or(""));
        let (cpus, cpus_in_tree) = parse_cpus(&fdt);
        // One walk finds every device looked up by `compatible`.
        let [pl011_node, gic_node, timer_node, psci_node, gpio_node] = fdt.find_compatible_each([
            &PL011_COMPATIBLE,
            &GIC_COMPATIBLE,
            &TIMER_COMPATIBLE,
            &PSCI_COMPATIBLE,
            &GPIO_COMPATIBLE,
        ]);
        let pl011 = |fdt: &FdtReader<'_>| {
            let node = pl011_node.ok_or(DtError::Missing(Device::Pl011))?;
            Ok((node, uart_at(fdt, node, UartKind::Pl011)?))
        };
        let (console, console_node) = parse_console(&fdt, chosen.stdout_path, pl011);
        Ok(Machine {
            board: Board::from_compatible(fdt.property_strings(root, "compatible")),
            model: FixedStr::truncated(fdt.property_str(root, "model").unwrap_or("")).0,
            compatible: FixedStr::truncated(fdt.property_strings(root, "compatible").next().unwrap_or("")).0,
            dtb_total_size: fdt.total_size(),
            boot_cpuid_phys: fdt.boot_cpuid_phys(),
            ram,
            ram_truncated,
            reserved,
            bootargs,
            bootargs_truncated,
            stdout_path: FixedStr::truncated(chosen.stdout_path.unwrap_or("")).0,
            initrd: chosen.initrd,
            // The console is usually the first PL011 itself: then its description is
            // the same (`uart_at` depends on the node alone), without the baud rate.
            pl011: match (console, console_node) {
                (console, Some(node)) if Some(node) == pl011_node => console.map(|uart| Uart { baud: None, ..uart }),
                _ => pl011(&fdt).map(|(_, uart)| uart),
            },
            console,
            gic: parse_gic(&fdt, gic_node),
            timer: parse_timer(&fdt, timer_node),
            psci: parse_psci(&fdt, psci_node),
            cpus,
            cpus_in_tree,
            gpio: parse_gpio(&fdt, gpio_node),
        })
    }

    /// RAM minus the reserved ranges, the initrd, and `extra_reserved` (the caller
    /// passes what only it knows: the kernel image and the DTB's
    /// `[address, address + dtb_total_size)`), shrunk to whole pages, sorted.
    pub fn usable_ranges(&self, extra_reserved: &[PhysRange]) -> BoundedVec<PhysRange, MAX_USABLE_RANGES> {
        let initrd = self.initrd.as_slice();
        subtract(self.ram.as_slice(), &[self.reserved.as_slice(), initrd, extra_reserved])
    }

    /// Holds the tree to what can exist on this CPU, whose physical addresses are
    /// `pa_bits` wide (ID_AA64MMFR0_EL1.PARange, see [`pa_bits_from_parange`]):
    ///
    /// 1. a RAM range ending beyond 2^`pa_bits`, or beyond the [`LINEAR_SPAN`] the kernel's
    ///    linear map covers, fails the whole tree with `BeyondPhysicalRange` (the kernel
    ///    cannot manage memory it cannot reach; a 2^62-byte memory node once exhausted
    ///    the bootstrap heap);
    /// 2. a device whose registers end beyond 2^`pa_bits` (the console, the first PL011,
    ///    the GIC, the GPIO block) becomes that device's `BeyondPhysicalRange` error, so
    ///    the kernel reports it on whatever console it has instead of faulting on it.
    ///
    /// Reserved ranges beyond the limit are harmless (nothing there to allocate) and an
    /// initrd outside RAM is refused later, by userboot.
    pub fn check_physical_reach(&mut self, pa_bits: u32) -> Result<(), DtError> {
        let bits = pa_bits.min(u64::BITS);
        let limit = if bits >= u64::BITS { u64::MAX } else { 1u64 << bits };
        let ends_within =
            |range: &PhysRange, limit: u64| range.base.0.checked_add(range.size).is_some_and(|end| end <= limit);
        let linear_bits = LINEAR_SPAN.trailing_zeros();
        let (ram_limit, ram_bits) = if limit < LINEAR_SPAN { (limit, bits) } else { (LINEAR_SPAN, linear_bits) };
        if let Some(ram) = self.ram.iter().find(|range| !ends_within(range, ram_limit)) {
            return Err(DtError::BeyondPhysicalRange {
                what: "RAM range",
                address: ram.base.0,
                size: ram.size,
                bits: ram_bits,
            });
        }
        let check = |what: &'static str, range: PhysRange| {
            if ends_within(&range, limit) {
                Ok(())
            } else {
                Err(DtError::BeyondPhysicalRange { what, address: range.base.0, size: range.size, bits })
            }
        };
        if let Ok(uart) = self.console {
            self.console = check("console UART registers", uart.regs).map(|()| uart);
        }
        if let Ok(uart) = self.pl011 {
            self.pl011 = check("PL011 UART registers", uart.regs).map(|()| uart);
        }
        if let Ok(gic) = self.gic {
            let regs = match gic {
                Gic::V2 { distributor, cpu_interface } => [distributor, cpu_interface],
                Gic::V3 { distributor, redistributors } => [distributor, redistributors],
            };
            self.gic = regs.iter().try_for_each(|&range| check("interrupt controller registers", range)).map(|()| gic);
        }
        if let Ok(gpio) = self.gpio {
            self.gpio = check("GPIO registers", gpio).map(|()| gpio);
        }
        Ok(())
    }

    /// The last `key=value` value for `key` on the kernel command line.
    pub fn bootarg(&self, key: &str) -> Option<&str> {
        cmdline_value(self.bootargs.as_str(), key)
    }

    /// True when the bare flag `key` is on the kernel command line.
    pub fn bootarg_flag(&self, key: &str) -> bool {
        cmdline_flag(self.bootargs.as_str(), key)
    }
}

// ---------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------

/// RAM from the root's enabled `device_type = "memory"` children.
fn parse_ram(fdt: &FdtReader<'_>) -> Result<(BoundedVec<PhysRange, MAX_RAM_RANGES>, bool), DtError> {
    let mut ram = BoundedVec::new();
    let mut truncated = false;
    let memory_nodes = fdt
        .children(fdt.root())
        .filter(|&node| fdt.property_str(node, "device_type") == Some("memory") && fdt.is_enabled(node));
    for node in memory_nodes {
        for_each_reg(fdt, node, |range| {
            if range.size > 0 && ram.push(range).is_err() {
                truncated = true;
            }
            Ok(())
        })?;
    }
    Ok((ram, truncated))
}

/// `/memreserve/` entries plus the `reg` of enabled `/reserved-memory` children
/// (dynamically placed pools, which have only `size`, are the allocator's business).
fn parse_reserved(fdt: &FdtReader<'_>) -> Result<BoundedVec<PhysRange, MAX_RESERVED_RANGES>, DtError> {
    let mut reserved = BoundedVec::new();
    let mut add = |range: PhysRange| {
        if range.size == 0 {
            return Ok(());
        }
        reserved.push(range).map_err(|_| DtError::TooManyReservedRanges { capacity: MAX_RESERVED_RANGES })
    };
    for (address, size) in fdt.memory_reservations() {
        add(PhysRange::new(address, size)?)?;
    }
    if let Some(pool) = fdt.find_path("/reserved-memory") {
        for child in fdt.children(pool) {
            if fdt.is_enabled(child) && fdt.property(child, "reg").is_some() {
                for_each_reg(fdt, child, &mut add)?;
            }
        }
    }
    Ok(reserved)
}

// ---------------------------------------------------------------------------------
// /chosen
// ---------------------------------------------------------------------------------

/// What `/chosen` says, borrowed from the blob.
struct Chosen<'a> {
    bootargs: Option<&'a str>,
    stdout_path: Option<&'a str>,
    initrd: Option<PhysRange>,
}

fn parse_chosen<'a>(fdt: &FdtReader<'a>) -> Result<Chosen<'a>, DtError> {
    let Some(chosen) = fdt.find_path("/chosen") else {
        return Ok(Chosen { bootargs: None, stdout_path: None, initrd: None });
    };
    let stdout_path = fdt.property_str(chosen, "stdout-path").or_else(|| fdt.property_str(chosen, "linux,stdout-path"));
    let start = fdt.property(chosen, "linux,initrd-start").map(read_number);
    let end = fdt.property(chosen, "linux,initrd-end").map(read_number);
    let initrd = match (start, end) {
        (None, None) => None,
        (Some(Some(start)), Some(Some(end))) => {
            let range = PhysRange::from_bounds(start, end).ok_or(DtError::BadInitrd { start, end })?;
            (range.size > 0).then_some(range)
        }
        (start, end) => {
            return Err(DtError::BadInitrd { start: start.flatten().unwrap_or(0), end: end.flatten().unwrap_or(0) });
        }
    };
    Ok(Chosen { bootargs: fdt.property_str(chosen, "bootargs"), stdout_path, initrd })
}

// ---------------------------------------------------------------------------------
// Devices
// ---------------------------------------------------------------------------------

/// The UART model of `node`, if the kernel has a driver for it.
fn uart_kind(fdt: &FdtReader<'_>, node: Node) -> Option<UartKind> {
    if fdt.is_compatible(node, "arm,pl011") {
        Some(UartKind::Pl011)
    } else if fdt.is_compatible(node, "brcm,bcm2835-aux-uart") {
        Some(UartKind::MiniUart)
    } else {
        None
    }
}

/// Describes the UART at `node`.
fn uart_at(fdt: &FdtReader<'_>, node: Node, kind: UartKind) -> Result<Uart, DtError> {
    Ok(Uart {
        kind,
        regs: reg_to_cpu(fdt, node, 0)?,
        clock_hz: fixed_clock_hz(fdt, node),
        baud: None,
        irq: interrupts(fdt, node).ok().and_then(|irqs| irqs.as_slice().first().copied()),
    })
}

/// The frequency of the node's first clock, if that clock is a `fixed-clock`.
fn fixed_clock_hz(fdt: &FdtReader<'_>, node: Node) -> Option<u32> {
    let phandle = read_cells(fdt.property(node, "clocks")?, 1)?;
    let clock = fdt.find_phandle(u32::try_from(phandle).ok()?)?;
    if !fdt.is_compatible(clock, "fixed-clock") {
        return None;
    }
    u32::try_from(read_number(fdt.property(clock, "clock-frequency")?)?).ok()
}

/// The baud rate at the start of `stdout-path` options (`115200n8` → 115200).
fn parse_baud(options: &str) -> Option<u32> {
    let digits = options.find(|c: char| !c.is_ascii_digit()).unwrap_or(options.len());
    options.get(..digits)?.parse().ok()
}

/// The UART `stdout-path` names, else the first enabled PL011 (`pl011` describes it,
/// or says why not), and the node it was read from, when it was read from one.
fn parse_console(
    fdt: &FdtReader<'_>,
    stdout_path: Option<&str>,
    pl011: impl FnOnce(&FdtReader<'_>) -> Result<(Node, Uart), DtError>,
) -> (Result<Uart, DtError>, Option<Node>) {
    if let Some(stdout_path) = stdout_path {
        let (path, options) = stdout_path.split_once(':').unwrap_or((stdout_path, ""));
        if let Some(node) = fdt.resolve(path)
            && let Some(kind) = uart_kind(fdt, node)
        {
            let uart = uart_at(fdt, node, kind).map(|uart| Uart { baud: parse_baud(options), ..uart });
            // A UART of another kind is not described as a PL011 would be.
            return (uart, (kind == UartKind::Pl011).then_some(node));
        }
    }
    match pl011(fdt) {
        Ok((node, uart)) => (Ok(uart), Some(node)),
        Err(DtError::Missing(_)) => (Err(DtError::Missing(Device::Console)), None),
        Err(other) => (Err(other), None),
    }
}

/// `compatible` strings of the devices boot looks for.
const PL011_COMPATIBLE: [&str; 1] = ["arm,pl011"];
const GIC_V2_COMPATIBLE: [&str; 3] = ["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a7-gic"];
const GIC_V3_COMPATIBLE: &str = "arm,gic-v3";
const GIC_COMPATIBLE: [&str; 4] = [GIC_V2_COMPATIBLE[0], GIC_V2_COMPATIBLE[1], GIC_V2_COMPATIBLE[2], GIC_V3_COMPATIBLE];
const TIMER_COMPATIBLE: [&str; 2] = ["arm,armv8-timer", "arm,armv7-timer"];
const PSCI_COMPATIBLE: [&str; 3] = ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"];
const GPIO_COMPATIBLE: [&str; 1] = ["brcm,bcm2711-gpio"];

/// The first enabled GICv2 or GICv3 (`node`, found by [`GIC_COMPATIBLE`]).
fn parse_gic(fdt: &FdtReader<'_>, node: Option<Node>) -> Result<Gic, DtError> {
    const V3: &str = GIC_V3_COMPATIBLE;
    let node = node.ok_or(DtError::Missing(Device::InterruptController))?;
    let distributor = reg_to_cpu(fdt, node, 0)?;
    let second = reg_to_cpu(fdt, node, 1)?;
    Ok(if fdt.is_compatible(node, V3) {
        Gic::V3 { distributor, redistributors: second }
    } else {
        Gic::V2 { distributor, cpu_interface: second }
    })
}

/// The generic timer's interrupts (`node`, found by [`TIMER_COMPATIBLE`]).
fn parse_timer(fdt: &FdtReader<'_>, node: Option<Node>) -> Result<Timer, DtError> {
    let node = node.ok_or(DtError::Missing(Device::Timer))?;
    let irqs = interrupts(fdt, node)?;
    let bad = DtError::BadProperty { property: "interrupts" };
    let irqs = irqs.as_slice();
    Ok(Timer {
        secure_phys: *irqs.first().ok_or(bad)?,
        nonsecure_phys: *irqs.get(1).ok_or(bad)?,
        virt: *irqs.get(2).ok_or(bad)?,
        hyp_phys: irqs.get(3).copied(),
    })
}

/// The `/psci` node (`node`, found by [`PSCI_COMPATIBLE`]).
fn parse_psci(fdt: &FdtReader<'_>, node: Option<Node>) -> Result<Psci, DtError> {
    let node = node.ok_or(DtError::Missing(Device::Psci))?;
    let method = match fdt.property_str(node, "method") {
        Some("hvc") => PsciMethod::Hvc,
        Some("smc") => PsciMethod::Smc,
        _ => return Err(DtError::BadProperty { property: "method" }),
    };
    let v0_2_or_later = fdt.property_strings(node, "compatible").any(|c| c.starts_with("arm,psci-"));
    let cpu_on = match (fdt.property_u32(node, "cpu_on"), v0_2_or_later) {
        (Some(id), _) => id,
        (None, true) => PSCI_0_2_CPU_ON_64,
        (None, false) => return Err(DtError::BadProperty { property: "cpu_on" }),
    };
    Ok(Psci { method, v0_2_or_later, cpu_on })
}

/// The CPU nodes of `/cpus`, and how many there are in all.
fn parse_cpus(fdt: &FdtReader<'_>) -> (BoundedVec<Cpu, MAX_CPUS>, usize) {
    let mut cpus = BoundedVec::new();
    let mut in_tree = 0;
    let Some(parent) = fdt.find_path("/cpus") else {
        return (cpus, 0);
    };
    let address_cells = fdt.address_cells(parent);
    for node in fdt.children(parent) {
        if fdt.property_str(node, "device_type") != Some("cpu") {
            continue; // cpu-map, l2-cache and friends
        }
        in_tree += 1;
        let mpidr = match address_cells {
            1 | 2 => fdt.property(node, "reg").and_then(|reg| read_cells(reg, address_cells)),
            _ => None,
        };
        let Some(mpidr) = mpidr else { continue };
        let enable_method = match fdt.property_str(node, "enable-method") {
            None => EnableMethod::Unspecified,
            Some("psci") => EnableMethod::Psci,
            Some("spin-table") => fdt
                .property(node, "cpu-release-addr")
                .and_then(read_number)
                .map_or(EnableMethod::Other, |addr| EnableMethod::SpinTable { release_addr: PhysAddr(addr) }),
            Some(_) => EnableMethod::Other,
        };
        // Past MAX_CPUS the CPU is not recorded; it simply stays parked.
        let _ = cpus.push(Cpu { mpidr, enable_method });
    }
    (cpus, in_tree)
}

/// The BCM2711 GPIO block (`node`, found by [`GPIO_COMPATIBLE`]).
fn parse_gpio(fdt: &FdtReader<'_>, node: Option<Node>) -> Result<PhysRange, DtError> {
    let node = node.ok_or(DtError::Missing(Device::Gpio))?;
    reg_to_cpu(fdt, node, 0)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::platform::fdt_reader::builder::{FdtBuilder, cells, strs};
    use std::string::ToString;
    use std::vec::Vec;

    static VIRT_DEFAULT: &[u8] = include_bytes!("../../tests/fixtures/dtb/virt-default.dtb");
    static VIRT_SMP4: &[u8] = include_bytes!("../../tests/fixtures/dtb/virt-smp4.dtb");
    static VIRT_MEM2G: &[u8] = include_bytes!("../../tests/fixtures/dtb/virt-mem2g.dtb");
    static VIRT_GICV3: &[u8] = include_bytes!("../../tests/fixtures/dtb/virt-gicv3.dtb");
    static VIRT_EL2: &[u8] = include_bytes!("../../tests/fixtures/dtb/virt-el2.dtb");
    static VIRT_SECURE: &[u8] = include_bytes!("../../tests/fixtures/dtb/virt-secure.dtb");
    static VIRT_INITRD: &[u8] = include_bytes!("../../tests/fixtures/dtb/virt-initrd.dtb");
    static RPI4: &[u8] = include_bytes!("../../tests/fixtures/dtb/bcm2711-rpi-4-b.dtb");

    const ALL_FIXTURES: [&[u8]; 8] =
        [VIRT_DEFAULT, VIRT_SMP4, VIRT_MEM2G, VIRT_GICV3, VIRT_EL2, VIRT_SECURE, VIRT_INITRD, RPI4];

    const MIB: u64 = 1024 * 1024;

    fn range(base: u64, size: u64) -> PhysRange {
        PhysRange::new(base, size).unwrap()
    }

    fn parse(blob: &[u8]) -> Machine {
        match Machine::from_fdt(blob) {
            Ok(machine) => machine,
            Err(error) => panic!("fixture rejected: {error}"),
        }
    }

    fn irq(intid: u32, trigger: Trigger) -> IrqSpec {
        IrqSpec { intid, trigger }
    }

    // --- QEMU virt fixtures -------------------------------------------------------

    #[test]
    fn virt_default_machine() {
        let m = parse(VIRT_DEFAULT);
        assert_eq!(m.board, Board::QemuVirt);
        assert_eq!(m.model.as_str(), "linux,dummy-virt");
        assert_eq!(m.compatible.as_str(), "linux,dummy-virt");
        assert_eq!(m.dtb_total_size, 0x10_0000);
        assert_eq!(m.ram.as_slice(), &[range(0x4000_0000, 512 * MIB)]);
        assert!(m.reserved.is_empty());
        assert_eq!(m.bootargs.as_str(), "");
        assert_eq!(m.initrd, None);
        assert_eq!(m.stdout_path.as_str(), "/pl011@9000000");
        let console = m.console.unwrap();
        assert_eq!(console.kind, UartKind::Pl011);
        assert_eq!(console.regs, range(0x0900_0000, 0x1000));
        assert_eq!(console.clock_hz, Some(24_000_000));
        assert_eq!(console.baud, None);
        assert_eq!(console.irq, Some(irq(33, Trigger::LevelHigh)));
        assert_eq!(m.pl011, Ok(console));
        assert_eq!(
            m.gic,
            Ok(Gic::V2 { distributor: range(0x0800_0000, 0x1_0000), cpu_interface: range(0x0801_0000, 0x1_0000) })
        );
        let timer = m.timer.unwrap();
        assert_eq!(timer.secure_phys, irq(29, Trigger::LevelHigh));
        assert_eq!(timer.nonsecure_phys, irq(30, Trigger::LevelHigh));
        assert_eq!(timer.virt, irq(27, Trigger::LevelHigh));
        assert_eq!(timer.hyp_phys, Some(irq(26, Trigger::LevelHigh)));
        assert_eq!(m.psci, Ok(Psci { method: PsciMethod::Hvc, v0_2_or_later: true, cpu_on: 0xc400_0003 }));
        // One CPU, which is already running: no enable-method.
        assert_eq!(m.cpus.as_slice(), &[Cpu { mpidr: 0, enable_method: EnableMethod::Unspecified }]);
        assert_eq!(m.cpus_in_tree, 1);
        assert_eq!(m.gpio, Err(DtError::Missing(Device::Gpio)));
    }

    #[test]
    fn virt_smp4_cpus_use_psci() {
        let m = parse(VIRT_SMP4);
        assert_eq!(m.cpus.len(), 4);
        assert_eq!(m.cpus_in_tree, 4);
        for (index, cpu) in m.cpus.iter().enumerate() {
            assert_eq!(cpu.mpidr, index as u64);
            assert_eq!(cpu.enable_method, EnableMethod::Psci);
        }
        // With 4 CPUs the GICv2 PPI CPU mask covers them all (0xf04).
        assert_eq!(m.timer.unwrap().nonsecure_phys, irq(30, Trigger::LevelHigh));
    }

    #[test]
    fn virt_mem2g_ram_and_usable_ranges() {
        let m = parse(VIRT_MEM2G);
        assert_eq!(m.ram.as_slice(), &[range(0x4000_0000, 2048 * MIB)]);
        // Kernel image at 0x4008_0000 (2 MiB), DTB at 0x4800_0000 (1 MiB totalsize).
        let kernel = range(0x4008_0000, 2 * MIB);
        let dtb = range(0x4800_0000, u64::from(m.dtb_total_size));
        let usable = m.usable_ranges(&[kernel, dtb]);
        assert_eq!(
            usable.as_slice(),
            &[
                range(0x4000_0000, 0x8_0000),
                range(0x4028_0000, 0x4800_0000 - 0x4028_0000),
                range(0x4810_0000, 0xc000_0000 - 0x4810_0000),
            ]
        );
        let total: u64 = usable.iter().map(|r| r.size).sum();
        assert_eq!(total, 2048 * MIB - 3 * MIB);
    }

    #[test]
    fn virt_gicv3_bases() {
        let m = parse(VIRT_GICV3);
        let gic = m.gic.unwrap();
        assert_eq!(gic.version(), 3);
        assert_eq!(
            gic,
            Gic::V3 { distributor: range(0x0800_0000, 0x1_0000), redistributors: range(0x080a_0000, 0xf6_0000) }
        );
        assert_eq!(gic.distributor().base, PhysAddr(0x0800_0000));
        assert_eq!(m.timer.unwrap().nonsecure_phys.intid, 30);
    }

    #[test]
    fn virt_el2_uses_smc() {
        let m = parse(VIRT_EL2);
        assert_eq!(m.psci.unwrap().method, PsciMethod::Smc);
        // GICH/GICV frames are present but the kernel needs only GICD and GICC.
        assert_eq!(m.gic.unwrap().version(), 2);
    }

    #[test]
    fn virt_secure_has_no_psci_and_skips_secure_only_nodes() {
        let m = parse(VIRT_SECURE);
        assert_eq!(m.psci, Err(DtError::Missing(Device::Psci)));
        // secram@e000000 is device_type memory but status "disabled".
        assert_eq!(m.ram.as_slice(), &[range(0x4000_0000, 512 * MIB)]);
        // The secure UART at 0x9040000 is disabled; the console stays UART0.
        assert_eq!(m.console.unwrap().regs.base, PhysAddr(0x0900_0000));
        assert_eq!(m.pl011.unwrap().regs.base, PhysAddr(0x0900_0000));
    }

    #[test]
    fn virt_initrd_and_bootargs() {
        let m = parse(VIRT_INITRD);
        assert_eq!(m.bootargs.as_str(), "console=ttyAMA0 loglevel=debug");
        assert!(!m.bootargs_truncated);
        assert_eq!(m.bootarg("console"), Some("ttyAMA0"));
        assert_eq!(m.bootarg("loglevel"), Some("debug"));
        assert!(!m.bootarg_flag("quiet"));
        assert_eq!(m.initrd, Some(range(0x4800_0000, 0x1000)));
        // The initrd is carved out of usable memory even if the caller forgets it.
        let usable = m.usable_ranges(&[]);
        assert_eq!(usable.as_slice(), &[range(0x4000_0000, 0x800_0000), range(0x4800_1000, 0x1800_0000 - 0x1000)]);
    }

    // --- Raspberry Pi 4 -----------------------------------------------------------

    #[test]
    fn rpi4_machine() {
        let m = parse(RPI4);
        assert_eq!(m.board, Board::RaspberryPi4);
        assert_eq!(m.model.as_str(), "Raspberry Pi 4 Model B");
        assert_eq!(m.compatible.as_str(), "raspberrypi,4-model-b");
        // The stock tree ships `memory@0 { reg = <0 0 0>; }` for the firmware to fill.
        assert!(m.ram.is_empty());
        assert_eq!(m.reserved.as_slice(), &[range(0, 0x1000)]);
        // stdout-path = "serial1:115200n8" → alias → /soc/serial@7e215040.
        assert_eq!(m.stdout_path.as_str(), "serial1:115200n8");
        let console = m.console.unwrap();
        assert_eq!(console.kind, UartKind::MiniUart);
        assert_eq!(console.regs, range(0xfe21_5040, 0x40));
        assert_eq!(console.baud, Some(115_200));
        assert_eq!(console.clock_hz, None); // from the aux clock gate, not fixed
        assert_eq!(console.irq, Some(irq(125, Trigger::LevelHigh)));
        let pl011 = m.pl011.unwrap();
        assert_eq!(pl011.kind, UartKind::Pl011);
        assert_eq!(pl011.regs, range(0xfe20_1000, 0x200));
        assert_eq!(pl011.irq, Some(irq(153, Trigger::LevelHigh)));
        assert_eq!(
            m.gic,
            Ok(Gic::V2 { distributor: range(0xff84_1000, 0x1000), cpu_interface: range(0xff84_2000, 0x2000) })
        );
        let timer = m.timer.unwrap();
        assert_eq!(timer.secure_phys, irq(29, Trigger::LevelLow));
        assert_eq!(timer.nonsecure_phys, irq(30, Trigger::LevelLow));
        assert_eq!(timer.virt, irq(27, Trigger::LevelLow));
        assert_eq!(timer.hyp_phys, Some(irq(26, Trigger::LevelLow)));
        assert_eq!(m.psci, Err(DtError::Missing(Device::Psci)));
        let releases: Vec<(u64, EnableMethod)> = m.cpus.iter().map(|c| (c.mpidr, c.enable_method)).collect();
        let spin = |addr| EnableMethod::SpinTable { release_addr: PhysAddr(addr) };
        assert_eq!(releases, [(0, spin(0xd8)), (1, spin(0xe0)), (2, spin(0xe8)), (3, spin(0xf0))]);
        assert_eq!(m.gpio, Ok(range(0xfe20_0000, 0xb4)));
    }

    /// Issue 13, defect 6: trees that describe what cannot exist on this CPU are
    /// refused with one line (RAM) or make that device unusable (registers), instead of
    /// exhausting the bootstrap heap or faulting.
    #[test]
    fn ranges_beyond_the_physical_address_range_are_refused() {
        assert_eq!([0, 1, 2, 3, 4, 5, 6, 7, 15].map(pa_bits_from_parange), [32, 36, 40, 42, 44, 48, 52, 52, 52]);
        // Every fixture fits a 40-bit CPU (the Pi 4's Cortex-A72 has 44 bits).
        for blob in ALL_FIXTURES {
            let mut m = parse(blob);
            let before = (m.console, m.gic, m.gpio);
            assert_eq!(m.check_physical_reach(40), Ok(()));
            assert_eq!((m.console, m.gic, m.gpio), before);
        }
        // A memory node claiming 2^62 bytes: the parse alone accepts it...
        let mut blob = VIRT_DEFAULT.to_vec();
        patch_property(&mut blob, "/memory@40000000", "reg", &cells(&[0, 0x4000_0000, 0x4000_0000, 0]));
        let mut m = parse(&blob);
        assert_eq!(m.ram.as_slice(), &[range(0x4000_0000, 1 << 62)]);
        // ...the reach check refuses the tree, at the linear map's 2^46 even on a 52-bit CPU.
        let refused = m.check_physical_reach(52).unwrap_err();
        assert_eq!(
            refused,
            DtError::BeyondPhysicalRange { what: "RAM range", address: 0x4000_0000, size: 1 << 62, bits: 46 }
        );
        assert_eq!(
            refused.to_string(),
            "the device tree's RAM range at 0x40000000 (size 0x4000000000000000) lies beyond the 46-bit physical \
             address range"
        );
        // RAM just inside a 36-bit CPU's range is fine, just past it is not.
        patch_property(&mut blob, "/memory@40000000", "reg", &cells(&[0xf, 0xc000_0000, 0, 0x4000_0000]));
        assert_eq!(parse(&blob).check_physical_reach(36), Ok(()));
        patch_property(&mut blob, "/memory@40000000", "reg", &cells(&[0xf, 0xc000_0000, 0, 0x4000_1000]));
        assert!(matches!(parse(&blob).check_physical_reach(36), Err(DtError::BeyondPhysicalRange { bits: 36, .. })));
        // A PL011 at 2^45 on a 44-bit CPU: the console and the PL011 become errors (the
        // kernel stays on semihosting), the rest of the machine is unchanged.
        let mut blob = VIRT_DEFAULT.to_vec();
        patch_property(&mut blob, "/pl011@9000000", "reg", &cells(&[0x2000, 0, 0, 0x1000]));
        let mut m = parse(&blob);
        assert_eq!(m.console.map(|uart| uart.regs.base), Ok(PhysAddr(1 << 45)));
        assert_eq!(m.check_physical_reach(44), Ok(()));
        let beyond =
            DtError::BeyondPhysicalRange { what: "console UART registers", address: 1 << 45, size: 0x1000, bits: 44 };
        assert_eq!(m.console.map(|uart| uart.regs), Err(beyond));
        assert!(matches!(m.pl011, Err(DtError::BeyondPhysicalRange { what: "PL011 UART registers", .. })));
        assert!(m.gic.is_ok() && m.ram.len() == 1);
        // The same UART is fine on a 48-bit CPU.
        let mut m = parse(&blob);
        assert_eq!(m.check_physical_reach(48), Ok(()));
        assert!(m.console.is_ok());
        // A GIC redistributor region beyond the range.
        let mut m = parse(VIRT_GICV3);
        if let Ok(Gic::V3 { distributor, .. }) = m.gic {
            m.gic = Ok(Gic::V3 { distributor, redistributors: range(1 << 50, 0x2_0000) });
        }
        assert_eq!(m.check_physical_reach(44), Ok(()));
        assert!(matches!(m.gic, Err(DtError::BeyondPhysicalRange { what: "interrupt controller registers", .. })));
    }

    #[test]
    fn rpi4_with_firmware_memory_and_stdout_serial0() {
        // What the firmware does before handing over: fill /memory, pick the PL011.
        let mut blob = RPI4.to_vec();
        patch_property(&mut blob, "/memory@0", "reg", &cells(&[0, 0, 0x3b40_0000]));
        patch_property(&mut blob, "/chosen", "stdout-path", b"serial0:9600");
        let m = parse(&blob);
        assert_eq!(m.ram.as_slice(), &[range(0, 0x3b40_0000)]);
        let console = m.console.unwrap();
        assert_eq!((console.kind, console.regs.base), (UartKind::Pl011, PhysAddr(0xfe20_1000)));
        assert_eq!(console.baud, Some(9600));
        // The console is the first PL011: the same description, without the baud rate.
        assert_eq!(m.pl011, Ok(Uart { baud: None, ..console }));
        let usable = m.usable_ranges(&[range(0x8_0000, 0x20_0000)]);
        assert_eq!(usable.as_slice(), &[range(0x1000, 0x7_f000), range(0x28_0000, 0x3b40_0000 - 0x28_0000)]);
    }

    #[test]
    fn one_walk_finds_what_one_walk_per_device_found() {
        // The rule `find_compatible` had before it shared the walk of
        // `find_compatible_each`: the first enabled node, depth-first, listing one of them.
        fn first(fdt: &FdtReader<'_>, compatibles: &[&str]) -> Option<Node> {
            fdt.nodes().find(|&node| {
                fdt.property_strings(node, "compatible").any(|c| compatibles.contains(&c)) && fdt.is_enabled(node)
            })
        }
        let lists: [&[&str]; 6] =
            [&PL011_COMPATIBLE, &GIC_COMPATIBLE, &TIMER_COMPATIBLE, &PSCI_COMPATIBLE, &GPIO_COMPATIBLE, &["nothing"]];
        for blob in ALL_FIXTURES {
            let fdt = FdtReader::new(blob).unwrap();
            let each = fdt.find_compatible_each(lists);
            for (found, list) in each.into_iter().zip(lists) {
                assert_eq!(found, first(&fdt, list), "{list:?}");
                assert_eq!(fdt.find_compatible(list), found);
            }
            // The console read from the same node as the first PL011 is that PL011.
            let m = parse(blob);
            if let (Ok(console), Ok(pl011)) = (m.console, m.pl011)
                && console.regs == pl011.regs
            {
                assert_eq!(pl011, Uart { baud: None, ..console });
            }
        }
    }

    /// Overwrites the value of an existing property in place, padding `value` with
    /// NULs to the old length (which it must not exceed).
    fn patch_property(blob: &mut [u8], path: &str, name: &str, value: &[u8]) {
        let fdt = FdtReader::new(blob).unwrap();
        let node = fdt.find_path(path).unwrap();
        let old = fdt.property(node, name).unwrap();
        assert!(value.len() <= old.len(), "patch must fit in the old value");
        let start = old.as_ptr() as usize - blob.as_ptr() as usize;
        let old_len = old.len();
        blob[start..start + old_len].fill(0);
        blob[start..start + value.len()].copy_from_slice(value);
    }

    // --- Synthetic trees ----------------------------------------------------------

    /// A minimal tree with 1-cell addresses and sizes and 1-cell initrd properties.
    fn one_cell_tree(chosen: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut b = FdtBuilder::new();
        b.reserve(0x8000_0000, 0x1000)
            .begin("")
            .prop("compatible", &strs(&["acme,board"]))
            .prop("#address-cells", &cells(&[1]))
            .prop("#size-cells", &cells(&[1]))
            .begin("memory@80000000")
            .prop("device_type", &strs(&["memory"]))
            .prop("reg", &cells(&[0x8000_0000, 0x1000_0000, 0xa000_0000, 0x100_0000]))
            .end()
            .begin("reserved-memory")
            .prop("#address-cells", &cells(&[1]))
            .prop("#size-cells", &cells(&[1]))
            .prop("ranges", &[])
            .begin("fw@8f000000")
            .prop("reg", &cells(&[0x8f00_0000, 0x100_0000]))
            .prop("no-map", &[])
            .end()
            .begin("pool")
            .prop("size", &cells(&[0x40_0000]))
            .end()
            .end()
            .begin("chosen");
        for (name, value) in chosen {
            b.prop(name, value);
        }
        b.end().end();
        b.build()
    }

    #[test]
    fn one_cell_memory_reservations_and_initrd() {
        let blob = one_cell_tree(&[
            ("linux,initrd-start", cells(&[0x8100_0000])),
            ("linux,initrd-end", cells(&[0x8120_0000])),
            ("bootargs", strs(&["quiet root=/dev/vda"])),
        ]);
        let m = parse(&blob);
        assert_eq!(m.board, Board::Unknown);
        assert_eq!(m.ram.as_slice(), &[range(0x8000_0000, 0x1000_0000), range(0xa000_0000, 0x100_0000)]);
        assert_eq!(m.reserved.as_slice(), &[range(0x8000_0000, 0x1000), range(0x8f00_0000, 0x100_0000)]);
        assert_eq!(m.initrd, Some(range(0x8100_0000, 0x20_0000)));
        assert!(m.bootarg_flag("quiet"));
        assert_eq!(m.bootarg("root"), Some("/dev/vda"));
        assert_eq!(
            m.usable_ranges(&[]).as_slice(),
            &[
                range(0x8000_1000, 0x0100_0000 - 0x1000),
                range(0x8120_0000, 0x8f00_0000 - 0x8120_0000),
                range(0xa000_0000, 0x100_0000),
            ]
        );
        // Nothing else is described.
        assert_eq!(m.console, Err(DtError::Missing(Device::Console)));
        assert_eq!(m.gic, Err(DtError::Missing(Device::InterruptController)));
        assert_eq!(m.timer, Err(DtError::Missing(Device::Timer)));
        assert!(m.cpus.is_empty());
    }

    #[test]
    fn bad_initrd_fails_the_parse() {
        let only_start = one_cell_tree(&[("linux,initrd-start", cells(&[0x8100_0000]))]);
        assert_eq!(Machine::from_fdt(&only_start).unwrap_err(), DtError::BadInitrd { start: 0x8100_0000, end: 0 });
        let backwards = one_cell_tree(&[
            ("linux,initrd-start", cells(&[0x8200_0000])),
            ("linux,initrd-end", cells(&[0x8100_0000])),
        ]);
        assert!(matches!(Machine::from_fdt(&backwards), Err(DtError::BadInitrd { .. })));
        let odd_length =
            one_cell_tree(&[("linux,initrd-start", std::vec![0, 0, 1]), ("linux,initrd-end", cells(&[0x8100_0000]))]);
        assert!(matches!(Machine::from_fdt(&odd_length), Err(DtError::BadInitrd { .. })));
    }

    #[test]
    fn too_many_reservations_is_an_error() {
        let mut b = FdtBuilder::new();
        for i in 0..=MAX_RESERVED_RANGES as u64 {
            b.reserve(i * 0x1_0000, 0x1000);
        }
        b.begin("").end();
        assert_eq!(
            Machine::from_fdt(&b.build()).unwrap_err(),
            DtError::TooManyReservedRanges { capacity: MAX_RESERVED_RANGES }
        );
    }

    #[test]
    fn long_bootargs_are_cut_between_words() {
        let long: std::string::String = (0..300).map(|i| std::format!("opt{i}=1 ")).collect();
        let blob = one_cell_tree(&[("bootargs", strs(&[long.trim_end()]))]);
        let m = parse(&blob);
        assert!(m.bootargs_truncated);
        assert!(m.bootargs.as_str().len() <= BOOTARGS_CAPACITY);
        assert!(m.bootargs.as_str().ends_with("=1"));
        assert_eq!(m.bootarg("opt0"), Some("1"));
        assert_eq!(m.bootarg("opt299"), None);
    }

    #[test]
    fn untranslatable_device_fails_only_that_device() {
        // A PL011 under a bus without `ranges`: not memory-mapped.
        let blob = FdtBuilder::new()
            .begin("")
            .prop("#address-cells", &cells(&[1]))
            .prop("#size-cells", &cells(&[1]))
            .begin("chosen")
            .prop("stdout-path", &strs(&["/i2c/uart@40"]))
            .end()
            .begin("i2c")
            .prop("#address-cells", &cells(&[1]))
            .prop("#size-cells", &cells(&[1]))
            .begin("uart@40")
            .prop("compatible", &strs(&["arm,pl011"]))
            .prop("reg", &cells(&[0x40, 0x1000]))
            .end()
            .end()
            .end()
            .build();
        let m = parse(&blob);
        assert_eq!(m.console, Err(DtError::Untranslatable { address: 0x40 }));
        assert_eq!(m.pl011, Err(DtError::Untranslatable { address: 0x40 }));
    }

    #[test]
    fn nopped_nodes_are_skipped() {
        // QEMU's raspi4b deletes nodes by overwriting them with FDT_NOP; do the same
        // to /psci and check that the rest of the tree still reads the same.
        let mut blob = VIRT_SMP4.to_vec();
        let (start, end) = {
            let fdt = FdtReader::new(&blob).unwrap();
            let children: Vec<Node> = fdt.children(fdt.root()).collect();
            let index = children.iter().position(|&n| fdt.name(n) == "psci").unwrap();
            let struct_offset = u32::from_be_bytes(blob[8..12].try_into().unwrap()) as usize;
            (struct_offset + children[index].offset(), struct_offset + children[index + 1].offset())
        };
        for word in blob[start..end].chunks_exact_mut(4) {
            word.copy_from_slice(&4u32.to_be_bytes());
        }
        let m = parse(&blob);
        assert_eq!(m.psci, Err(DtError::Missing(Device::Psci)));
        assert_eq!(m.cpus.len(), 4);
        assert_eq!(m.ram.as_slice(), &[range(0x4000_0000, 512 * MIB)]);
        assert_eq!(m.console.unwrap().regs.base, PhysAddr(0x0900_0000));
    }

    #[test]
    fn board_from_compatible() {
        assert_eq!(Board::from_compatible(["linux,dummy-virt"]), Board::QemuVirt);
        assert_eq!(Board::from_compatible(["acme,x", "brcm,bcm2711"]), Board::RaspberryPi4);
        assert_eq!(Board::from_compatible(["raspberrypi,4-model-b"]), Board::RaspberryPi4);
        assert_eq!(Board::from_compatible(["raspberrypi,3-model-b"]), Board::Unknown);
        assert_eq!(Board::from_compatible([]), Board::Unknown);
    }

    #[test]
    fn baud_from_options() {
        assert_eq!(parse_baud("115200n8"), Some(115_200));
        assert_eq!(parse_baud("9600"), Some(9600));
        assert_eq!(parse_baud(""), None);
        assert_eq!(parse_baud("n8"), None);
        assert_eq!(parse_baud("99999999999"), None);
    }

    // --- Garbage ------------------------------------------------------------------

    /// xorshift64*: a fixed-seed generator, so every run mutates the same way.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, bound: usize) -> usize {
            (self.next() % bound.max(1) as u64) as usize
        }
    }

    /// Parses `blob` and, if it is accepted, uses every result; true if accepted.
    fn exercise(blob: &[u8]) -> bool {
        match Machine::from_fdt(blob) {
            Ok(m) => {
                let _ = m.usable_ranges(&[range(0x4000_0000, 0x10_0000)]);
                let _ = m.bootarg("console");
                let _ = (m.console, m.gic, m.timer, m.psci, m.gpio, m.model.as_str());
                true
            }
            Err(error) => {
                assert!(!error.to_string().is_empty());
                false
            }
        }
    }

    #[test]
    fn every_fixture_parses_without_error() {
        for blob in ALL_FIXTURES {
            assert!(exercise(blob));
        }
    }

    #[test]
    fn garbage_and_truncation_give_errors() {
        assert_eq!(Machine::from_fdt(&[]).unwrap_err(), DtError::TooShort { len: 0 });
        assert_eq!(Machine::from_fdt(&[0u8; 64]).unwrap_err(), DtError::BadMagic { found: 0 });
        // QEMU's blobs carry a 1 MiB totalsize; a slice of only the used part is
        // refused rather than read past.
        assert!(matches!(
            Machine::from_fdt(&VIRT_DEFAULT[..0x4000]),
            Err(DtError::BadTotalSize { total_size: 0x10_0000, available: 0x4000 })
        ));
        for cut in (0..RPI4.len()).step_by(97) {
            assert!(Machine::from_fdt(&RPI4[..cut]).is_err(), "cut at {cut}");
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..500 {
            let len = rng.below(256);
            let mut blob: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if len >= 8 && rng.below(2) == 0 {
                blob[..4].copy_from_slice(&0xd00d_feedu32.to_be_bytes());
                blob[4..8].copy_from_slice(&(len as u32).to_be_bytes());
            }
            assert!(!exercise(&blob));
        }
    }

    #[test]
    fn mutated_fixtures_never_panic() {
        const SPECIAL_WORDS: [u32; 9] = [0, 1, 2, 3, 4, 9, 0xffff_ffff, 0x8000_0000, 0xd00d_feed];
        let mut rng = Rng(0x0123_4567_89ab_cdef);
        let (mut accepted, mut rejected) = (0, 0);
        for (fixture, rounds) in [(RPI4, 1000), (VIRT_SMP4, 250), (VIRT_INITRD, 250)] {
            // Mutate only the part of the blob that is used (QEMU pads to 1 MiB).
            let header = |i: usize| u32::from_be_bytes(fixture[i * 4..i * 4 + 4].try_into().unwrap());
            let used = (header(3) + header(8)) as usize;
            for _ in 0..rounds {
                let mut blob = fixture.to_vec();
                match rng.below(4) {
                    0 => {
                        for _ in 0..1 + rng.below(8) {
                            let at = rng.below(used);
                            blob[at] ^= 1 << rng.below(8);
                        }
                    }
                    1 => {
                        let at = rng.below(used / 4) * 4;
                        let word = if rng.below(2) == 0 {
                            SPECIAL_WORDS[rng.below(SPECIAL_WORDS.len())]
                        } else {
                            rng.next() as u32
                        };
                        blob[at..at + 4].copy_from_slice(&word.to_be_bytes());
                    }
                    2 => {
                        let at = rng.below(10) * 4; // a header field
                        let word = rng.below(used + 64) as u32;
                        blob[at..at + 4].copy_from_slice(&word.to_be_bytes());
                    }
                    _ => {
                        let at = rng.below(used);
                        blob.truncate(at);
                    }
                }
                if exercise(&blob) {
                    accepted += 1;
                } else {
                    rejected += 1;
                }
            }
        }
        // Both outcomes happen, so the loop reaches the interpretation code too.
        assert!(accepted > 100 && rejected > 100, "accepted {accepted}, rejected {rejected}");
    }
}
