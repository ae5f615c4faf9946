//! GICv2 driver: the Raspberry Pi 4's GIC-400 and QEMU `virt,gic-version=2`.
//!
//! Both halves are memory-mapped: the distributor (GICD, 4 KiB) holds per-INTID state,
//! the CPU interface (GICC, first 4 KiB page used) acknowledges and ends interrupts.
//!
//! Security views. A GIC-400 always has the Security Extensions; the Pi's firmware
//! puts every interrupt in Group 1 and enters the kernel non-secure, where the group
//! registers read as zero and ignore writes, and bit 0 of GICD_CTLR and GICC_CTLR is
//! *EnableGrp1*. QEMU's GICs for `raspi4b` and `virt` (without `secure=on`) have no
//! Security Extensions: every access behaves like a secure one, the group registers
//! are writable, bit 0 is *EnableGrp0* and bit 1 *EnableGrp1*, and a Group 1 interrupt
//! can only be acknowledged through GICC_IAR when GICC_CTLR.AckCtl is set. [`GicV2::init`]
//! writes all ones to GICD_IGROUPR0 and reads it back to learn which view it has, then
//! enables Group 1 in that view's bit positions.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_bitfields, register_structs};

use super::gic::{
    self, DEFAULT_PRIORITY, FIRST_SPECIAL_INTID, IntIdKind, InterruptController, RegisterField, SPI_BASE, Trigger,
};
use super::mmio::{MmioBlock, ReadOnly, ReadWrite, WriteOnly};
use crate::error::{ZxError, ZxResult};

// ─────────────────────────────────────────────────────────────────────────────
// Register definitions
// ─────────────────────────────────────────────────────────────────────────────

register_bitfields! {u32,
    /// Distributor control.
    GICD_CTLR [
        /// Secure (or no-Security-Extensions) view: EnableGrp0.
        /// Non-secure view: EnableGrp1 (the only enable that view has).
        EnableBit0 OFFSET(0) NUMBITS(1) [],
        /// Secure (or no-Security-Extensions) view: EnableGrp1. Reserved when non-secure.
        EnableGrp1 OFFSET(1) NUMBITS(1) []
    ],

    /// Interrupt controller type.
    GICD_TYPER [
        /// The distributor implements `32 * (ITLinesNumber + 1)` INTIDs.
        ITLinesNumber OFFSET(0) NUMBITS(5) [],
        /// Number of implemented CPU interfaces minus one.
        CPUNumber OFFSET(5) NUMBITS(3) [],
        /// The GIC implements the Security Extensions.
        SecurityExtn OFFSET(10) NUMBITS(1) []
    ],

    /// CPU interface control.
    GICC_CTLR [
        /// Secure view: EnableGrp0. Non-secure view: EnableGrp1.
        EnableBit0 OFFSET(0) NUMBITS(1) [],
        /// Secure view: EnableGrp1.
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
        /// Secure view: a read of GICC_IAR may acknowledge a Group 1 interrupt.
        AckCtl OFFSET(2) NUMBITS(1) [],
        /// Secure view: signal Group 0 as FIQ (left clear: everything is an IRQ).
        FIQEn OFFSET(3) NUMBITS(1) [],
        /// Bypass-disable bits (both views); preserved as firmware set them.
        BypassDisable OFFSET(5) NUMBITS(4) []
    ],

    /// Interrupt acknowledge.
    GICC_IAR [
        /// The acknowledged INTID (1020..=1023: nothing acknowledged).
        InterruptID OFFSET(0) NUMBITS(10) [],
        /// For SGIs: the CPU that sent it.
        CPUID OFFSET(10) NUMBITS(3) []
    ]
}

register_structs! {
    /// GICD, the distributor (GICv2 architecture specification, table 4-1).
    #[allow(non_snake_case)]
    pub GicdRegisters {
        (0x000 => CTLR: ReadWrite<u32, GICD_CTLR::Register>),
        (0x004 => TYPER: ReadOnly<u32, GICD_TYPER::Register>),
        (0x008 => IIDR: ReadOnly<u32>),
        (0x00c => _reserved0),
        (0x080 => IGROUPR: [ReadWrite<u32>; 32]),
        (0x100 => ISENABLER: [ReadWrite<u32>; 32]),
        (0x180 => ICENABLER: [ReadWrite<u32>; 32]),
        (0x200 => ISPENDR: [ReadWrite<u32>; 32]),
        (0x280 => ICPENDR: [ReadWrite<u32>; 32]),
        (0x300 => ISACTIVER: [ReadWrite<u32>; 32]),
        (0x380 => ICACTIVER: [ReadWrite<u32>; 32]),
        (0x400 => IPRIORITYR: [ReadWrite<u32>; 255]),
        (0x7fc => _reserved1),
        (0x800 => ITARGETSR: [ReadWrite<u32>; 255]),
        (0xbfc => _reserved2),
        (0xc00 => ICFGR: [ReadWrite<u32>; 64]),
        (0xd00 => _reserved3),
        (0xf00 => SGIR: WriteOnly<u32>),
        (0xf04 => _reserved4),
        (0x1000 => @END),
    },

    /// GICC, the CPU interface (GICv2 architecture specification, table 4-2). Only the
    /// first 4 KiB page is described: GICC_DIR, in the second page, is unused because
    /// the driver leaves EOImode at 0 (EOIR both drops priority and deactivates).
    #[allow(non_snake_case)]
    pub GiccRegisters {
        (0x000 => CTLR: ReadWrite<u32, GICC_CTLR::Register>),
        (0x004 => PMR: ReadWrite<u32>),
        (0x008 => BPR: ReadWrite<u32>),
        (0x00c => IAR: ReadOnly<u32, GICC_IAR::Register>),
        (0x010 => EOIR: WriteOnly<u32>),
        (0x014 => RPR: ReadOnly<u32>),
        (0x018 => HPPIR: ReadOnly<u32>),
        (0x01c => _reserved0),
        (0x0fc => IIDR: ReadOnly<u32>),
        (0x100 => @END),
    }
}

// ─────────────────────────────────────────────────────────────────────────────
// Driver
// ─────────────────────────────────────────────────────────────────────────────

/// A GICv2 distributor and the boot CPU's interface to it.
#[derive(Debug)]
pub struct GicV2 {
    gicd: MmioBlock<GicdRegisters>,
    gicc: MmioBlock<GiccRegisters>,
}

/// Which register view the CPU has, learnt from whether GICD_IGROUPR0 is writable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SecurityView {
    /// Non-secure access to a GIC with Security Extensions (real Raspberry Pi 4).
    NonSecure,
    /// Secure access, or a GIC without Security Extensions (QEMU).
    SecureOrSingle,
}

impl GicV2 {
    /// A driver for the distributor at virtual address `gicd` and the CPU interface at
    /// virtual address `gicc`.
    ///
    /// # Safety
    ///
    /// 1. `gicd` is the virtual address of a GICv2 distributor, mapped as device memory
    ///    for 4 KiB, and `gicc` that of its CPU interface, mapped for at least 4 KiB,
    ///    both for as long as the driver lives.
    /// 2. No other code programs the GIC while this driver is in use, except through
    ///    this driver (per-CPU interfaces of other CPUs aside).
    pub unsafe fn new(gicd: usize, gicc: usize) -> Self {
        // SAFETY: the caller guarantees both blocks are mapped GIC registers (items 1-2).
        let (gicd, gicc) = unsafe { (MmioBlock::new(gicd), MmioBlock::new(gicc)) };
        Self { gicd, gicc }
    }

    /// The number of INTIDs the distributor implements (32 to 1020).
    pub fn supported_intids(&self) -> u32 {
        gic::supported_intids(self.gicd.TYPER.read(GICD_TYPER::ITLinesNumber))
    }

    /// `intid` if the distributor implements it and it is not special.
    fn check_intid(&self, intid: u32) -> ZxResult<u32> {
        match gic::classify(intid) {
            IntIdKind::Special | IntIdKind::Unsupported => Err(ZxError::InvalidArgs),
            _ if intid >= self.supported_intids() => Err(ZxError::OutOfRange),
            _ => Ok(intid),
        }
    }

    /// This CPU's bit in the ITARGETSR target masks. GICD_ITARGETSR0..7 are banked and
    /// read back the accessing CPU's mask in every byte; a uniprocessor GIC reads zero.
    fn this_cpu_target_mask(&self) -> u32 {
        let banked = self.gicd.ITARGETSR[0].get() & 0xff;
        if banked == 0 { 1 } else { banked }
    }

    /// This CPU's bit for [`GicV2::send_sgi`].
    pub fn cpu_target(&self) -> u32 {
        self.this_cpu_target_mask()
    }

    /// Per-CPU set-up on a CPU other than the boot CPU: its banked SGI/PPI state in the
    /// distributor and its CPU interface; enables the SGIs and PPIs `ppis` there.
    pub fn init_this_cpu(&self, ppis: &[u32]) -> ZxResult {
        self.gicd.IGROUPR[0].set(u32::MAX);
        let view = if self.gicd.IGROUPR[0].get() == 0 { SecurityView::NonSecure } else { SecurityView::SecureOrSingle };
        self.gicd.ICENABLER[0].set(u32::MAX);
        self.gicd.ICPENDR[0].set(u32::MAX);
        self.gicd.ICACTIVER[0].set(u32::MAX);
        for ipriorityr in self.gicd.IPRIORITYR.iter().take(SPI_BASE as usize / 4) {
            ipriorityr.set(gic::priority_word(DEFAULT_PRIORITY));
        }
        self.program_cpu_interface(view);
        for &intid in ppis.iter().filter(|&&i| i < SPI_BASE) {
            self.gicd.ISENABLER[0].set(RegisterField::one_bit(intid).mask());
        }
        Ok(())
    }

    /// Sends SGI `intid` to the CPUs in `target_mask` (their [`GicV2::cpu_target`] bits).
    pub fn send_sgi(&self, intid: u32, target_mask: u32) {
        self.gicd.SGIR.set(((target_mask & 0xff) << 16) | (intid & 0xf));
    }

    fn program_distributor(&self) -> SecurityView {
        let words_1bit = RegisterField::one_bit(self.supported_intids() - 1).index + 1;
        let words_2bit = RegisterField::two_bit(self.supported_intids() - 1).index + 1;
        let words_8bit = RegisterField::byte(self.supported_intids() - 1).index + 1;
        let first_spi_byte_word = RegisterField::byte(SPI_BASE).index;
        let first_spi_cfg_word = RegisterField::two_bit(SPI_BASE).index;

        // 1. Stop forwarding while the configuration is inconsistent.
        self.gicd.CTLR.set(0);

        // 2. Group 1 for everything; word 0 (SGIs and PPIs) is banked for this CPU.
        //    Reading it back tells us whether the group registers are ours to write.
        for igroupr in self.gicd.IGROUPR.iter().take(words_1bit) {
            igroupr.set(u32::MAX);
        }
        let view = if self.gicd.IGROUPR[0].get() == 0 { SecurityView::NonSecure } else { SecurityView::SecureOrSingle };

        // 3. Everything disabled, not pending, not active.
        for index in 0..words_1bit {
            self.gicd.ICENABLER[index].set(u32::MAX);
            self.gicd.ICPENDR[index].set(u32::MAX);
            self.gicd.ICACTIVER[index].set(u32::MAX);
        }

        // 4. One priority for all; SPIs level-triggered and routed to this CPU.
        for ipriorityr in self.gicd.IPRIORITYR.iter().take(words_8bit) {
            ipriorityr.set(gic::priority_word(DEFAULT_PRIORITY));
        }
        let targets = self.this_cpu_target_mask() * 0x0101_0101;
        for itargetsr in self.gicd.ITARGETSR.iter().take(words_8bit).skip(first_spi_byte_word) {
            itargetsr.set(targets);
        }
        for icfgr in self.gicd.ICFGR.iter().take(words_2bit).skip(first_spi_cfg_word) {
            icfgr.set(0);
        }

        // 5. Forward Group 1 (bit 0 in the non-secure view, bit 1 otherwise; bit 0 also
        //    enables Group 0 there, which holds nothing once step 2 has run).
        match view {
            SecurityView::NonSecure => self.gicd.CTLR.write(GICD_CTLR::EnableBit0::SET),
            SecurityView::SecureOrSingle => {
                self.gicd.CTLR.write(GICD_CTLR::EnableBit0::SET + GICD_CTLR::EnableGrp1::SET)
            }
        }
        view
    }

    fn program_cpu_interface(&self, view: SecurityView) {
        // Unmask every priority and use all priority bits for preemption grouping.
        self.gicc.PMR.set(0xff);
        self.gicc.BPR.set(0);
        let bypass = self.gicc.CTLR.read(GICC_CTLR::BypassDisable);
        let enable = match view {
            SecurityView::NonSecure => GICC_CTLR::EnableBit0::SET,
            // AckCtl lets GICC_IAR acknowledge Group 1; FIQEn stays 0 so that all
            // interrupts arrive as IRQs.
            SecurityView::SecureOrSingle => {
                GICC_CTLR::EnableBit0::SET + GICC_CTLR::EnableGrp1::SET + GICC_CTLR::AckCtl::SET
            }
        };
        self.gicc.CTLR.write(enable + GICC_CTLR::BypassDisable.val(bypass));
    }
}

impl InterruptController for GicV2 {
    fn init(&self) -> ZxResult {
        let view = self.program_distributor();
        self.program_cpu_interface(view);
        Ok(())
    }

    fn enable_interrupt(&self, intid: u32) -> ZxResult {
        let field = RegisterField::one_bit(self.check_intid(intid)?);
        let register = self.gicd.ISENABLER.get(field.index).ok_or(ZxError::OutOfRange)?;
        register.set(field.mask()); // write-one-to-set: no read-modify-write
        Ok(())
    }

    fn disable_interrupt(&self, intid: u32) -> ZxResult {
        let field = RegisterField::one_bit(self.check_intid(intid)?);
        let register = self.gicd.ICENABLER.get(field.index).ok_or(ZxError::OutOfRange)?;
        register.set(field.mask()); // write-one-to-clear
        Ok(())
    }

    fn set_trigger(&self, intid: u32, trigger: Trigger) -> ZxResult {
        let intid = self.check_intid(intid)?;
        if gic::classify(intid) == IntIdKind::Sgi {
            return Err(ZxError::InvalidArgs);
        }
        let field = RegisterField::two_bit(intid);
        let register = self.gicd.ICFGR.get(field.index).ok_or(ZxError::OutOfRange)?;
        register.set(gic::icfgr_with_trigger(register.get(), intid, trigger));
        Ok(())
    }

    fn set_priority(&self, intid: u32, priority: u8) -> ZxResult {
        let intid = self.check_intid(intid)?;
        let field = RegisterField::byte(intid);
        let register = self.gicd.IPRIORITYR.get(field.index).ok_or(ZxError::OutOfRange)?;
        register.set(gic::ipriorityr_with(register.get(), intid, priority));
        Ok(())
    }

    fn acknowledge(&self) -> Option<u32> {
        let iar = self.gicc.IAR.extract();
        if iar.read(GICC_IAR::InterruptID) >= FIRST_SPECIAL_INTID {
            return None;
        }
        Some(iar.get() & (GICC_IAR::InterruptID.mask | (GICC_IAR::CPUID.mask << 10)))
    }

    fn end_of_interrupt(&self, acknowledged: u32) {
        self.gicc.EOIR.set(acknowledged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::mmio::FakeMmio;

    const GICD_CTLR_OFF: usize = 0x000;
    const GICD_TYPER_OFF: usize = 0x004;
    const GICD_IGROUPR: usize = 0x080;
    const GICD_ISENABLER: usize = 0x100;
    const GICD_ICENABLER: usize = 0x180;
    const GICD_IPRIORITYR: usize = 0x400;
    const GICD_ITARGETSR: usize = 0x800;
    const GICD_ICFGR: usize = 0xc00;
    const GICC_CTLR_OFF: usize = 0x000;
    const GICC_PMR: usize = 0x004;
    const GICC_IAR_OFF: usize = 0x00c;
    const GICC_EOIR: usize = 0x010;

    struct Fixture {
        gicd: FakeMmio,
        gicc: FakeMmio,
    }

    impl Fixture {
        /// A fake GIC with 224 INTIDs, like QEMU's raspi4b (GICD_TYPER = 0x66).
        fn new() -> Self {
            let gicd = FakeMmio::new(core::mem::size_of::<GicdRegisters>());
            let gicc = FakeMmio::new(core::mem::size_of::<GiccRegisters>());
            gicd.set_word(GICD_TYPER_OFF, 0x66);
            Self { gicd, gicc }
        }

        fn driver(&self) -> GicV2 {
            // SAFETY: the fakes are sized for the register blocks and outlive the driver.
            unsafe { GicV2::new(self.gicd.base(), self.gicc.base()) }
        }
    }

    #[test]
    fn init_in_single_security_view_enables_group1_with_ackctl() {
        let f = Fixture::new();
        let gic = f.driver();
        assert_eq!(gic.supported_intids(), 224);
        gic.init().unwrap();
        // Plain memory keeps the IGROUPR0 write, as QEMU's GIC does: secure view.
        assert_eq!(f.gicd.word(GICD_IGROUPR), u32::MAX);
        assert_eq!(f.gicd.word(GICD_IGROUPR + 4 * 6), u32::MAX);
        assert_eq!(f.gicd.word(GICD_IGROUPR + 4 * 7), 0); // beyond 224 INTIDs
        assert_eq!(f.gicd.word(GICD_ICENABLER + 4 * 4), u32::MAX);
        assert_eq!(f.gicd.word(GICD_IPRIORITYR + 4 * 55), 0xa0a0_a0a0);
        assert_eq!(f.gicd.word(GICD_IPRIORITYR + 4 * 56), 0);
        // The fake's banked ITARGETSR0 reads 0 (uniprocessor): fall back to CPU 0.
        assert_eq!(f.gicd.word(GICD_ITARGETSR + 4 * 7), 0);
        assert_eq!(f.gicd.word(GICD_ITARGETSR + 4 * 8), 0x0101_0101);
        assert_eq!(f.gicd.word(GICD_ITARGETSR + 4 * 55), 0x0101_0101);
        assert_eq!(f.gicd.word(GICD_CTLR_OFF), 0b11);
        assert_eq!(f.gicc.word(GICC_PMR), 0xff);
        assert_eq!(f.gicc.word(GICC_CTLR_OFF), 0b111);
    }

    #[test]
    fn init_preserves_bypass_disable_bits_and_routes_to_the_banked_cpu_mask() {
        let f = Fixture::new();
        f.gicc.set_word(GICC_CTLR_OFF, 0x1e0); // what the Pi's armstub leaves behind
        f.gicd.set_word(GICD_ITARGETSR, 0x0202_0202); // as read by CPU 1
        f.driver().init().unwrap();
        assert_eq!(f.gicc.word(GICC_CTLR_OFF), 0x1e7);
        assert_eq!(f.gicd.word(GICD_ITARGETSR + 4 * 8), 0x0202_0202);
    }

    #[test]
    fn enable_and_configure_interrupts() {
        let f = Fixture::new();
        let gic = f.driver();
        gic.enable_interrupt(153).unwrap(); // Pi 4 PL011
        assert_eq!(f.gicd.word(GICD_ISENABLER + 4 * 4), 1 << 25);
        gic.enable_interrupt(30).unwrap(); // timer PPI
        assert_eq!(f.gicd.word(GICD_ISENABLER), 1 << 30);
        gic.disable_interrupt(30).unwrap();
        assert_eq!(f.gicd.word(GICD_ICENABLER), 1 << 30);

        f.gicd.set_word(GICD_ICFGR + 4 * 9, 0xffff_ffff);
        gic.set_level_triggered(153).unwrap(); // ICFGR9, field at bits 18..19
        assert_eq!(f.gicd.word(GICD_ICFGR + 4 * 9), 0xfff7_ffff);
        gic.set_trigger(153, Trigger::Edge).unwrap();
        assert_eq!(f.gicd.word(GICD_ICFGR + 4 * 9), 0xffff_ffff);
        gic.set_priority(153, 0x40).unwrap();
        assert_eq!(f.gicd.word(GICD_IPRIORITYR + 4 * 38), 0x0000_4000);

        assert_eq!(gic.enable_interrupt(224), Err(ZxError::OutOfRange));
        assert_eq!(gic.enable_interrupt(1023), Err(ZxError::InvalidArgs));
        assert_eq!(gic.enable_interrupt(5000), Err(ZxError::InvalidArgs));
        assert_eq!(gic.set_trigger(3, Trigger::Level), Err(ZxError::InvalidArgs));
    }

    #[test]
    fn acknowledge_filters_special_intids_and_keeps_the_sgi_source() {
        let f = Fixture::new();
        let gic = f.driver();
        f.gicc.set_word(GICC_IAR_OFF, 1023);
        assert_eq!(gic.acknowledge(), None);
        f.gicc.set_word(GICC_IAR_OFF, 1022);
        assert_eq!(gic.acknowledge(), None);
        f.gicc.set_word(GICC_IAR_OFF, 30);
        assert_eq!(gic.acknowledge(), Some(30));
        f.gicc.set_word(GICC_IAR_OFF, (3 << 10) | 1);
        let ack = gic.acknowledge().unwrap();
        assert_eq!(gic::acknowledged_intid(ack), 1);
        gic.end_of_interrupt(ack);
        assert_eq!(f.gicc.word(GICC_EOIR), (3 << 10) | 1);
    }
}
