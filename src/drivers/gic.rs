//! The Arm Generic Interrupt Controller, version-independent part: the interface the
//! kernel programs against ([`InterruptController`], [`Gic`]) and the pure arithmetic
//! both versions share (INTID classes, which register word and bits hold an INTID's
//! enable, configuration and priority state).
//!
//! The register-level drivers are [`GicV2`] (the Raspberry Pi 4's
//! GIC-400 and QEMU `virt,gic-version=2`) and [`GicV3`] (QEMU
//! `virt,gic-version=3`).
//!
//! INTID map (GIC architecture specification, "INTIDs"):
//!
//! | INTID       | class | where its state lives                          |
//! |-------------|-------|------------------------------------------------|
//! | 0..=15      | SGI   | banked per CPU: GICD (v2) / redistributor (v3)  |
//! | 16..=31     | PPI   | banked per CPU: GICD (v2) / redistributor (v3)  |
//! | 32..=1019   | SPI   | distributor                                     |
//! | 1020..=1023 | special (1023 = spurious)                               |
//! | 8192..      | LPI   | not supported by these drivers                  |

use crate::error::{ZxError, ZxResult};

use super::gicv2::GicV2;
use super::gicv3::GicV3;

// ─────────────────────────────────────────────────────────────────────────────
// INTID classification
// ─────────────────────────────────────────────────────────────────────────────

/// First shared peripheral interrupt; a device tree SPI number `n` is INTID `n + 32`.
pub const SPI_BASE: u32 = 32;
/// First private peripheral interrupt; a device tree PPI number `n` is INTID `n + 16`.
pub const PPI_BASE: u32 = 16;
/// First of the special INTIDs 1020..=1023 that an acknowledge returns when there is
/// nothing (or nothing this CPU interface may take) to acknowledge.
pub const FIRST_SPECIAL_INTID: u32 = 1020;
/// The INTID read from the acknowledge register when no interrupt is pending.
pub const SPURIOUS_INTID: u32 = 1023;
/// The priority [`InterruptController::init`] gives every interrupt: in the middle of
/// the range, so that priorities above and below remain available, and well above
/// (numerically below) the priority mask 0xff, so that it is signalled.
pub const DEFAULT_PRIORITY: u8 = 0xa0;

/// The class of an interrupt identifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntIdKind {
    /// Software-generated interrupt, 0..=15.
    Sgi,
    /// Private peripheral interrupt, 16..=31 (the generic timers live here).
    Ppi,
    /// Shared peripheral interrupt, 32..=1019.
    Spi,
    /// 1020..=1023: returned by acknowledge, never programmed.
    Special,
    /// Extended ranges and LPIs (1024 and above), which these drivers do not handle.
    Unsupported,
}

/// Classifies `intid`.
pub const fn classify(intid: u32) -> IntIdKind {
    match intid {
        0..=15 => IntIdKind::Sgi,
        16..=31 => IntIdKind::Ppi,
        32..=1019 => IntIdKind::Spi,
        1020..=1023 => IntIdKind::Special,
        _ => IntIdKind::Unsupported,
    }
}

/// How an interrupt line signals: held (level) or pulsed (edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Level-sensitive: pending while the device holds the line asserted.
    Level,
    /// Edge-triggered: becomes pending on the rising edge.
    Edge,
}

// ─────────────────────────────────────────────────────────────────────────────
// Where an INTID's state lives in the GICD_*/GICR_* register arrays
// ─────────────────────────────────────────────────────────────────────────────

/// A field of one INTID inside an array of 32-bit registers: register `index`,
/// `width` bits starting at bit `shift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterField {
    /// Index of the 32-bit register in the array (for example `GICD_ISENABLER<n>`).
    pub index: usize,
    /// Lowest bit of the field inside that register.
    pub shift: u32,
    /// Number of bits in the field (1, 2 or 8).
    pub width: u32,
}

impl RegisterField {
    /// The field for `intid` in an array with `width` bits per INTID
    /// (`width` is 1, 2 or 8 in the GIC; it must divide 32).
    pub const fn for_intid(intid: u32, width: u32) -> Self {
        let per_register = 32 / width;
        Self { index: (intid / per_register) as usize, shift: (intid % per_register) * width, width }
    }

    /// One bit per INTID: IGROUPR, ISENABLER, ICENABLER, ISPENDR, ICPENDR, ISACTIVER, ICACTIVER.
    pub const fn one_bit(intid: u32) -> Self {
        Self::for_intid(intid, 1)
    }

    /// Two bits per INTID: ICFGR.
    pub const fn two_bit(intid: u32) -> Self {
        Self::for_intid(intid, 2)
    }

    /// Eight bits per INTID: IPRIORITYR, ITARGETSR.
    pub const fn byte(intid: u32) -> Self {
        Self::for_intid(intid, 8)
    }

    /// The field's bits, in place.
    pub const fn mask(&self) -> u32 {
        // `width` is at most 8 here, but compute without overflow for 32 as well.
        (((1u64 << self.width) - 1) as u32) << self.shift
    }

    /// `old` with the field replaced by `value` (truncated to the field's width).
    pub const fn insert(&self, old: u32, value: u32) -> u32 {
        (old & !self.mask()) | ((value << self.shift) & self.mask())
    }

    /// The field's value in `word`.
    pub const fn extract(&self, word: u32) -> u32 {
        (word & self.mask()) >> self.shift
    }
}

/// The new ICFGR word for `intid` set to `trigger`, given the register's old value.
///
/// Each INTID has two bits; the upper one selects edge (1) or level (0), the lower one
/// is reserved, so it is preserved.
pub const fn icfgr_with_trigger(old: u32, intid: u32, trigger: Trigger) -> u32 {
    let field = RegisterField::two_bit(intid);
    let edge_bit = 1u32 << (field.shift + 1);
    match trigger {
        Trigger::Edge => old | edge_bit,
        Trigger::Level => old & !edge_bit,
    }
}

/// The new IPRIORITYR word with `intid`'s priority byte set to `priority`.
pub const fn ipriorityr_with(old: u32, intid: u32, priority: u8) -> u32 {
    RegisterField::byte(intid).insert(old, priority as u32)
}

/// A priority byte repeated four times, to program four INTIDs with one word write.
pub const fn priority_word(priority: u8) -> u32 {
    u32::from_ne_bytes([priority; 4])
}

/// The number of INTIDs (SGIs, PPIs and SPIs) a distributor handles, from
/// `GICD_TYPER.ITLinesNumber` (`32 * (N + 1)`, the architecture's maximum is 1020).
pub const fn supported_intids(it_lines_number: u32) -> u32 {
    let lines = 32 * ((it_lines_number & 0x1f) + 1);
    if lines > FIRST_SPECIAL_INTID { FIRST_SPECIAL_INTID } else { lines }
}

/// Polls `done` up to `max_polls` times; `TimedOut` if it never became true.
///
/// Used where hardware promises to finish quickly (register write propagation, waking
/// a redistributor): a dead or misaddressed GIC becomes an error instead of a hang.
pub(crate) fn poll_until(max_polls: u32, mut done: impl FnMut() -> bool) -> ZxResult {
    for _ in 0..max_polls {
        if done() {
            return Ok(());
        }
        core::hint::spin_loop();
    }
    Err(ZxError::TimedOut)
}

/// How many times [`poll_until`] polls before giving up. Real hardware and QEMU finish
/// in a handful of polls; this bound only catches a GIC that is not there.
pub(crate) const MAX_POLLS: u32 = 1_000_000;

// ─────────────────────────────────────────────────────────────────────────────
// The interface
// ─────────────────────────────────────────────────────────────────────────────

/// What the kernel needs from an interrupt controller, on the boot CPU.
///
/// Methods that program one INTID return `OutOfRange` for an INTID the controller does
/// not implement and `InvalidArgs` for one the operation does not apply to (a special
/// INTID, an LPI, or changing the trigger of an SGI). Methods that read, modify and
/// write a shared register word (`set_trigger`, `set_priority`) must not run on two
/// CPUs at once for INTIDs that share a word; the caller serialises them.
pub trait InterruptController {
    /// Programs the distributor and this CPU's interface: every interrupt disabled,
    /// group 1 where the group is writable, [`DEFAULT_PRIORITY`], SPIs level-triggered
    /// and routed to this CPU, priority mask 0xff, then both enabled.
    fn init(&self) -> ZxResult;

    /// Lets `intid` be signalled to a CPU.
    fn enable_interrupt(&self, intid: u32) -> ZxResult;

    /// Stops `intid` from being signalled (it may still become pending).
    fn disable_interrupt(&self, intid: u32) -> ZxResult;

    /// Configures `intid` as level-sensitive or edge-triggered. SGIs are always edge
    /// and are rejected; some implementations make PPI configuration read-only, in
    /// which case the write is ignored by the hardware.
    fn set_trigger(&self, intid: u32, trigger: Trigger) -> ZxResult;

    /// Shorthand for `set_trigger(intid, Trigger::Level)`.
    fn set_level_triggered(&self, intid: u32) -> ZxResult {
        self.set_trigger(intid, Trigger::Level)
    }

    /// Sets `intid`'s priority (lower is more urgent; the GIC may ignore low bits).
    fn set_priority(&self, intid: u32, priority: u8) -> ZxResult;

    /// Acknowledges the highest-priority pending interrupt and returns the value read
    /// from the acknowledge register, or `None` if it read a special INTID (1020..=1023).
    ///
    /// The value is the INTID, except for GICv2 SGIs, where bits 12:10 also hold the
    /// sending CPU (use [`acknowledged_intid`] to strip them). Pass the value unchanged
    /// to [`end_of_interrupt`](Self::end_of_interrupt).
    fn acknowledge(&self) -> Option<u32>;

    /// Signals the end of handling the interrupt `acknowledge` returned.
    fn end_of_interrupt(&self, acknowledged: u32);
}

/// The INTID in a value returned by [`InterruptController::acknowledge`] (drops the
/// GICv2 SGI source-CPU bits; a no-op for every other interrupt the drivers handle).
pub const fn acknowledged_intid(acknowledged: u32) -> u32 {
    acknowledged & 0x3ff
}

/// The interrupt controller found in the device tree.
#[derive(Debug)]
pub enum Gic {
    /// GICv2: memory-mapped distributor and CPU interface.
    V2(GicV2),
    /// GICv3: memory-mapped distributor and redistributor, system-register CPU interface.
    V3(GicV3),
}

impl Gic {
    /// The architecture version, 2 or 3.
    pub const fn version(&self) -> u32 {
        match self {
            Gic::V2(_) => 2,
            Gic::V3(_) => 3,
        }
    }

    fn controller(&self) -> &dyn InterruptController {
        match self {
            Gic::V2(gic) => gic,
            Gic::V3(gic) => gic,
        }
    }

    // The methods below repeat the trait's so that callers holding a `Gic` need not
    // import `InterruptController`; each forwards to the version-specific driver.

    /// Per-CPU set-up of a CPU other than the boot CPU, enabling `ppis` (SGIs and PPIs)
    /// on it.
    pub fn init_this_cpu(&self, ppis: &[u32]) -> ZxResult {
        match self {
            Gic::V2(gic) => gic.init_this_cpu(ppis),
            Gic::V3(gic) => gic.init_this_cpu(ppis),
        }
    }

    /// This CPU's address for [`Gic::send_sgi`]: its GICv2 target bit, or its MPIDR.
    pub fn this_cpu_target(&self, mpidr: u64) -> u64 {
        match self {
            Gic::V2(gic) => gic.cpu_target() as u64,
            Gic::V3(_) => mpidr,
        }
    }

    /// Sends SGI `intid` to the CPU whose [`Gic::this_cpu_target`] is `target`.
    pub fn send_sgi(&self, intid: u32, target: u64) {
        match self {
            Gic::V2(gic) => gic.send_sgi(intid, target as u32),
            Gic::V3(gic) => gic.send_sgi(intid, target),
        }
    }

    /// See [`InterruptController::init`].
    pub fn init(&self) -> ZxResult {
        self.controller().init()
    }

    /// See [`InterruptController::enable_interrupt`].
    pub fn enable_interrupt(&self, intid: u32) -> ZxResult {
        self.controller().enable_interrupt(intid)
    }

    /// See [`InterruptController::disable_interrupt`].
    pub fn disable_interrupt(&self, intid: u32) -> ZxResult {
        self.controller().disable_interrupt(intid)
    }

    /// See [`InterruptController::set_trigger`].
    pub fn set_trigger(&self, intid: u32, trigger: Trigger) -> ZxResult {
        self.controller().set_trigger(intid, trigger)
    }

    /// See [`InterruptController::set_level_triggered`].
    pub fn set_level_triggered(&self, intid: u32) -> ZxResult {
        self.controller().set_trigger(intid, Trigger::Level)
    }

    /// See [`InterruptController::set_priority`].
    pub fn set_priority(&self, intid: u32, priority: u8) -> ZxResult {
        self.controller().set_priority(intid, priority)
    }

    /// See [`InterruptController::acknowledge`].
    pub fn acknowledge(&self) -> Option<u32> {
        self.controller().acknowledge()
    }

    /// See [`InterruptController::end_of_interrupt`].
    pub fn end_of_interrupt(&self, acknowledged: u32) {
        self.controller().end_of_interrupt(acknowledged)
    }
}

impl InterruptController for Gic {
    fn init(&self) -> ZxResult {
        Gic::init(self)
    }

    fn enable_interrupt(&self, intid: u32) -> ZxResult {
        Gic::enable_interrupt(self, intid)
    }

    fn disable_interrupt(&self, intid: u32) -> ZxResult {
        Gic::disable_interrupt(self, intid)
    }

    fn set_trigger(&self, intid: u32, trigger: Trigger) -> ZxResult {
        Gic::set_trigger(self, intid, trigger)
    }

    fn set_priority(&self, intid: u32, priority: u8) -> ZxResult {
        Gic::set_priority(self, intid, priority)
    }

    fn acknowledge(&self) -> Option<u32> {
        Gic::acknowledge(self)
    }

    fn end_of_interrupt(&self, acknowledged: u32) {
        Gic::end_of_interrupt(self, acknowledged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_covers_every_range_boundary() {
        assert_eq!(classify(0), IntIdKind::Sgi);
        assert_eq!(classify(15), IntIdKind::Sgi);
        assert_eq!(classify(16), IntIdKind::Ppi);
        assert_eq!(classify(27), IntIdKind::Ppi); // virtual timer
        assert_eq!(classify(30), IntIdKind::Ppi); // non-secure physical timer
        assert_eq!(classify(31), IntIdKind::Ppi);
        assert_eq!(classify(32), IntIdKind::Spi);
        assert_eq!(classify(33), IntIdKind::Spi); // QEMU virt PL011
        assert_eq!(classify(153), IntIdKind::Spi); // Pi 4 PL011
        assert_eq!(classify(1019), IntIdKind::Spi);
        assert_eq!(classify(1020), IntIdKind::Special);
        assert_eq!(classify(SPURIOUS_INTID), IntIdKind::Special);
        assert_eq!(classify(1024), IntIdKind::Unsupported);
        assert_eq!(classify(8192), IntIdKind::Unsupported);
    }

    #[test]
    fn one_bit_fields_pick_word_and_bit() {
        assert_eq!(RegisterField::one_bit(0), RegisterField { index: 0, shift: 0, width: 1 });
        assert_eq!(RegisterField::one_bit(30).mask(), 1 << 30);
        let pl011_pi = RegisterField::one_bit(153);
        assert_eq!((pl011_pi.index, pl011_pi.shift), (4, 25));
        assert_eq!(pl011_pi.mask(), 0x0200_0000);
        let last = RegisterField::one_bit(1019);
        assert_eq!((last.index, last.mask()), (31, 1 << 27));
    }

    #[test]
    fn two_bit_fields_pick_icfgr_word_and_shift() {
        let timer = RegisterField::two_bit(30);
        assert_eq!((timer.index, timer.shift, timer.mask()), (1, 28, 0x3000_0000));
        let uart = RegisterField::two_bit(33);
        assert_eq!((uart.index, uart.shift), (2, 2));
        assert_eq!(RegisterField::two_bit(1019).index, 63);
    }

    #[test]
    fn byte_fields_pick_priority_word_and_shift() {
        let f = RegisterField::byte(153);
        assert_eq!((f.index, f.shift, f.mask()), (38, 8, 0x0000_ff00));
        assert_eq!(RegisterField::byte(1019).index, 254);
        assert_eq!(f.insert(0x1122_3344, 0xa0), 0x1122_a044);
        assert_eq!(f.extract(0x1122_a044), 0xa0);
        // Values wider than the field are truncated, not spilled into neighbours.
        assert_eq!(RegisterField::one_bit(3).insert(0, 0b11), 0b1000);
    }

    #[test]
    fn icfgr_trigger_sets_and_clears_only_the_edge_bit() {
        // INTID 33: field at bits 2..3, edge bit is bit 3.
        assert_eq!(icfgr_with_trigger(0, 33, Trigger::Edge), 0b1000);
        assert_eq!(icfgr_with_trigger(0xffff_ffff, 33, Trigger::Level), 0xffff_fff7);
        // INTID 31: top field of ICFGR1, edge bit is bit 31.
        assert_eq!(icfgr_with_trigger(0x5555_5555, 31, Trigger::Edge), 0xd555_5555);
    }

    #[test]
    fn priority_helpers() {
        assert_eq!(ipriorityr_with(0, 30, 0x80), 0x0080_0000);
        assert_eq!(ipriorityr_with(0xffff_ffff, 35, 0x00), 0x00ff_ffff);
        assert_eq!(priority_word(0xa0), 0xa0a0_a0a0);
    }

    #[test]
    fn supported_intids_from_typer() {
        assert_eq!(supported_intids(0), 32);
        assert_eq!(supported_intids(6), 224); // QEMU raspi4b GICD_TYPER = 0x66
        assert_eq!(supported_intids(7), 256);
        assert_eq!(supported_intids(31), 1020); // capped below the special INTIDs
    }

    #[test]
    fn acknowledged_intid_drops_sgi_source_cpu() {
        assert_eq!(acknowledged_intid((2 << 10) | 5), 5);
        assert_eq!(acknowledged_intid(153), 153);
    }

    #[test]
    fn poll_until_gives_up() {
        let mut polls = 0;
        assert_eq!(
            poll_until(10, || {
                polls += 1;
                false
            }),
            Err(ZxError::TimedOut)
        );
        assert_eq!(polls, 10);
        let mut countdown = 3;
        assert_eq!(
            poll_until(10, || {
                countdown -= 1;
                countdown == 0
            }),
            Ok(())
        );
    }

    #[test]
    fn gic_enum_forwards_to_the_version_driver() {
        use crate::drivers::mmio::FakeMmio;
        let gicd = FakeMmio::new(0x1000);
        let gicc = FakeMmio::new(0x100);
        gicd.set_word(0x004, 0x66); // 224 INTIDs
        // SAFETY: the fakes are sized for GICv2's register blocks and outlive `gic`.
        let gic = Gic::V2(unsafe { GicV2::new(gicd.base(), gicc.base()) });
        assert_eq!(gic.version(), 2);
        gic.enable_interrupt(153).unwrap();
        assert_eq!(gicd.word(0x100 + 4 * 4), 1 << 25);
        assert_eq!(gic.enable_interrupt(224), Err(ZxError::OutOfRange));
        gicc.set_word(0x00c, 1023);
        assert_eq!(gic.acknowledge(), None);
        let as_trait: &dyn InterruptController = &gic;
        as_trait.set_level_triggered(153).unwrap();
    }
}
