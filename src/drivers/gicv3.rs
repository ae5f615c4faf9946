//! GICv3 driver: QEMU `virt,gic-version=3`.
//!
//! Three parts: the distributor (GICD, 64 KiB) holds SPI state; each CPU's
//! redistributor holds its SGI and PPI state in two 64 KiB frames (RD_base with the
//! control and wake registers, then SGI_base at +0x10000 with the per-INTID arrays);
//! the CPU interface is reached through the ICC_* system registers.
//!
//! The driver uses affinity routing (GICD_CTLR.ARE_NS), so SPIs are routed by
//! GICD_IROUTER to the boot CPU's MPIDR affinity.
//!
//! Security: booted non-secure with two security states (QEMU `secure=on`), GICD_CTLR
//! bit 0 is EnableGrp1 (legacy), bit 1 EnableGrp1A and bit 4 ARE_NS; with one security
//! state (QEMU's default, GICD_CTLR.DS = 1) bit 0 is EnableGrp0, bit 1 EnableGrp1 and
//! bit 4 ARE. Writing bits 0, 1 and 4 enables Group 1 with affinity routing in both,
//! as Linux does. Group registers are written where writable (read-as-zero for a
//! non-secure access to a two-state GIC, whose firmware has already chosen the groups).
//!
//! The system registers are accessed with `mrs`/`msr` on the kernel target. On any
//! other target (host unit tests) they are backed by a fake register file, so the
//! crate and its tests build and run on the host.

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::{register_bitfields, register_structs};

use super::gic::{
    self, DEFAULT_PRIORITY, FIRST_SPECIAL_INTID, IntIdKind, InterruptController, MAX_POLLS, RegisterField, SPI_BASE,
    Trigger,
};
use super::mmio::{MmioBlock, ReadOnly, ReadWrite};
use crate::error::{ZxError, ZxResult};

// ─────────────────────────────────────────────────────────────────────────────
// Register definitions
// ─────────────────────────────────────────────────────────────────────────────

register_bitfields! {u32,
    /// Distributor control, in the bit positions shared by both security views.
    GICD_CTLR [
        /// One security state: EnableGrp0. Non-secure view: EnableGrp1 (legacy).
        EnableBit0 OFFSET(0) NUMBITS(1) [],
        /// One security state: EnableGrp1. Non-secure view: EnableGrp1A.
        EnableGrp1 OFFSET(1) NUMBITS(1) [],
        /// Affinity routing enable (ARE, or ARE_NS in the non-secure view).
        ARE OFFSET(4) NUMBITS(1) [],
        /// Register write pending: a write to CTLR or ICENABLER is still propagating.
        RWP OFFSET(31) NUMBITS(1) []
    ],

    /// Interrupt controller type.
    GICD_TYPER [
        /// The distributor implements `32 * (ITLinesNumber + 1)` INTIDs.
        ITLinesNumber OFFSET(0) NUMBITS(5) []
    ],

    /// Peripheral ID 2, common to GICD and GICR frames.
    PIDR2 [
        /// Architecture revision: 3 for GICv3, 4 for GICv4.
        ArchRev OFFSET(4) NUMBITS(4) []
    ],

    /// Redistributor control.
    GICR_CTLR [
        /// Register write pending: a write to GICR_ICENABLER0 is still propagating.
        RWP OFFSET(3) NUMBITS(1) []
    ],

    /// Redistributor power management.
    GICR_WAKER [
        /// 1: the CPU is asleep and the redistributor does not forward interrupts.
        ProcessorSleep OFFSET(1) NUMBITS(1) [],
        /// 1: the interface to the CPU is quiescent.
        ChildrenAsleep OFFSET(2) NUMBITS(1) []
    ]
}

register_bitfields! {u64,
    /// Redistributor type: which CPU this redistributor serves.
    GICR_TYPER [
        /// This is the last redistributor in the region.
        Last OFFSET(4) NUMBITS(1) [],
        /// MPIDR affinity (Aff3.Aff2.Aff1.Aff0) of the CPU this redistributor serves.
        Affinity OFFSET(32) NUMBITS(32) []
    ]
}

register_structs! {
    /// GICD, the distributor (GICv3 architecture specification, "Distributor register map").
    #[allow(non_snake_case)]
    pub GicdRegisters {
        (0x0000 => CTLR: ReadWrite<u32, GICD_CTLR::Register>),
        (0x0004 => TYPER: ReadOnly<u32, GICD_TYPER::Register>),
        (0x0008 => IIDR: ReadOnly<u32>),
        (0x000c => _reserved0),
        (0x0080 => IGROUPR: [ReadWrite<u32>; 32]),
        (0x0100 => ISENABLER: [ReadWrite<u32>; 32]),
        (0x0180 => ICENABLER: [ReadWrite<u32>; 32]),
        (0x0200 => ISPENDR: [ReadWrite<u32>; 32]),
        (0x0280 => ICPENDR: [ReadWrite<u32>; 32]),
        (0x0300 => ISACTIVER: [ReadWrite<u32>; 32]),
        (0x0380 => ICACTIVER: [ReadWrite<u32>; 32]),
        (0x0400 => IPRIORITYR: [ReadWrite<u32>; 255]),
        (0x07fc => _reserved1),
        (0x0c00 => ICFGR: [ReadWrite<u32>; 64]),
        (0x0d00 => _reserved2),
        (0x6000 => IROUTER: [ReadWrite<u64>; 1020]),
        (0x7fe0 => _reserved3),
        (0xffe8 => PIDR2: ReadOnly<u32, PIDR2::Register>),
        (0xffec => _reserved4),
        (0x10000 => @END),
    },

    /// RD_base, the first 64 KiB frame of a redistributor.
    #[allow(non_snake_case)]
    pub GicrRdRegisters {
        (0x0000 => CTLR: ReadWrite<u32, GICR_CTLR::Register>),
        (0x0004 => IIDR: ReadOnly<u32>),
        (0x0008 => TYPER: ReadOnly<u64, GICR_TYPER::Register>),
        (0x0010 => _reserved0),
        (0x0014 => WAKER: ReadWrite<u32, GICR_WAKER::Register>),
        (0x0018 => _reserved1),
        (0xffe8 => PIDR2: ReadOnly<u32, PIDR2::Register>),
        (0xffec => _reserved2),
        (0x10000 => @END),
    },

    /// SGI_base, the second 64 KiB frame of a redistributor: SGI and PPI state.
    #[allow(non_snake_case)]
    pub GicrSgiRegisters {
        (0x0000 => _reserved0),
        (0x0080 => IGROUPR0: ReadWrite<u32>),
        (0x0084 => _reserved1),
        (0x0100 => ISENABLER0: ReadWrite<u32>),
        (0x0104 => _reserved2),
        (0x0180 => ICENABLER0: ReadWrite<u32>),
        (0x0184 => _reserved3),
        (0x0280 => ICPENDR0: ReadWrite<u32>),
        (0x0284 => _reserved4),
        (0x0380 => ICACTIVER0: ReadWrite<u32>),
        (0x0384 => _reserved5),
        (0x0400 => IPRIORITYR: [ReadWrite<u32>; 8]),
        (0x0420 => _reserved6),
        (0x0c00 => ICFGR: [ReadWrite<u32>; 2]),
        (0x0c08 => _reserved7),
        (0x10000 => @END),
    }
}

/// Offset of SGI_base from RD_base within one redistributor.
pub const GICR_SGI_FRAME_OFFSET: usize = 0x1_0000;
/// Size of one GICv3 redistributor (RD_base frame plus SGI_base frame).
pub const GICR_STRIDE: usize = 0x2_0000;

/// The GICD_IROUTER value that routes an SPI to the CPU with this MPIDR_EL1 value:
/// Aff3 (MPIDR bits 39:32) and Aff2.Aff1.Aff0 (bits 23:0) in place, Interrupt_Routing_Mode 0.
pub const fn irouter_for_mpidr(mpidr: u64) -> u64 {
    mpidr & 0x0000_00ff_00ff_ffff
}

/// The value GICR_TYPER.Affinity holds for the CPU with this MPIDR_EL1 value
/// (Aff3.Aff2.Aff1.Aff0 packed into 32 bits), for matching a redistributor to a CPU.
pub const fn gicr_affinity_for_mpidr(mpidr: u64) -> u32 {
    (((mpidr >> 8) & 0xff00_0000) | (mpidr & 0x00ff_ffff)) as u32
}

/// Whether a PIDR2 architecture revision belongs to a GICv3 or GICv4.
const fn is_gicv3_arch(arch_rev: u32) -> bool {
    matches!(arch_rev, 3 | 4)
}

// ─────────────────────────────────────────────────────────────────────────────
// CPU interface system registers (not provided by aarch64-cpu 11)
// ─────────────────────────────────────────────────────────────────────────────

/// ICC_* system registers, by their `S3_<op1>_C<n>_C<m>_<op2>` encodings so that no
/// assembler GIC feature flag is needed.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod icc {
    use core::arch::asm;

    macro_rules! sysreg_read {
        ($read:ident, $encoding:literal) => {
            #[inline]
            pub fn $read() -> u64 {
                let value: u64;
                // SAFETY: reading an ICC register does not touch memory the compiler
                // knows about; the registers used here are accessible at EL1 once
                // ICC_SRE_EL1.SRE is set, which `init` checks before using the others.
                unsafe {
                    asm!(concat!("mrs {}, ", $encoding), out(reg) value, options(nomem, nostack))
                };
                value
            }
        };
    }

    macro_rules! sysreg_write {
        ($write:ident, $encoding:literal) => {
            #[inline]
            pub fn $write(value: u64) {
                // SAFETY: the GIC CPU interface registers control interrupt delivery
                // only; they do not alias memory the compiler knows about.
                unsafe {
                    asm!(concat!("msr ", $encoding, ", {}"), in(reg) value, options(nomem, nostack))
                };
            }
        };
    }

    sysreg_read!(read_sre, "s3_0_c12_c12_5"); // ICC_SRE_EL1
    sysreg_write!(write_sre, "s3_0_c12_c12_5");
    sysreg_write!(write_pmr, "s3_0_c4_c6_0"); // ICC_PMR_EL1
    sysreg_write!(write_bpr1, "s3_0_c12_c12_3"); // ICC_BPR1_EL1
    sysreg_write!(write_igrpen1, "s3_0_c12_c12_7"); // ICC_IGRPEN1_EL1
    sysreg_read!(read_iar1, "s3_0_c12_c12_0"); // ICC_IAR1_EL1
    sysreg_write!(write_eoir1, "s3_0_c12_c12_1"); // ICC_EOIR1_EL1
    sysreg_write!(write_sgi1r, "s3_0_c12_c11_5"); // ICC_SGI1R_EL1

    /// The boot CPU's MPIDR_EL1.
    pub fn read_mpidr() -> u64 {
        use aarch64_cpu::registers::{MPIDR_EL1, Readable};
        MPIDR_EL1.get()
    }

    /// Instruction synchronisation barrier: makes system register writes take effect.
    pub fn isb() {
        aarch64_cpu::asm::barrier::isb(aarch64_cpu::asm::barrier::SY);
    }

    /// Full-system data synchronisation barrier.
    pub fn dsb_sy() {
        aarch64_cpu::asm::barrier::dsb(aarch64_cpu::asm::barrier::SY);
    }
}

/// Host stand-in for the ICC_* registers: a fake register file (as in Google's arm-gic
/// `fakes`), so the driver's register sequences can be unit-tested. Reads return the
/// last value written; `read_iar1` returns whatever a test stored with `set_iar1`.
#[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
mod icc {
    use core::sync::atomic::{AtomicU64, Ordering};

    macro_rules! fake_sysreg {
        ($cell:ident, $read:ident, $write:ident, $reset:expr) => {
            static $cell: AtomicU64 = AtomicU64::new($reset);
            #[allow(dead_code)]
            pub fn $read() -> u64 {
                $cell.load(Ordering::SeqCst)
            }
            #[allow(dead_code)]
            pub fn $write(value: u64) {
                $cell.store(value, Ordering::SeqCst)
            }
        };
    }

    fake_sysreg!(SRE, read_sre, write_sre, 0);
    fake_sysreg!(PMR, read_pmr, write_pmr, 0);
    fake_sysreg!(BPR1, read_bpr1, write_bpr1, 0);
    fake_sysreg!(IGRPEN1, read_igrpen1, write_igrpen1, 0);
    fake_sysreg!(IAR1, read_iar1, set_iar1, 1023);
    fake_sysreg!(EOIR1, read_eoir1, write_eoir1, 0);
    fake_sysreg!(SGI1R, read_sgi1r, write_sgi1r, 0);

    /// The fake CPU is CPU 0 of cluster 0.
    pub fn read_mpidr() -> u64 {
        0x8000_0000
    }

    /// No-op on the host: the fakes are sequentially consistent.
    pub fn isb() {}

    /// No-op on the host.
    pub fn dsb_sy() {}
}

/// ICC_SRE_EL1.SRE: use the system register interface.
const ICC_SRE_SRE: u64 = 1 << 0;
/// ICC_IGRPEN1_EL1.Enable.
const ICC_IGRPEN1_ENABLE: u64 = 1 << 0;
/// ICC_IAR1_EL1.INTID width (24 bits: the architecture's maximum INTID width).
const ICC_IAR1_INTID_MASK: u64 = 0x00ff_ffff;

// ─────────────────────────────────────────────────────────────────────────────
// Driver
// ─────────────────────────────────────────────────────────────────────────────

/// A GICv3 distributor, the boot CPU's redistributor and its CPU interface.
#[derive(Debug)]
pub struct GicV3 {
    gicd: MmioBlock<GicdRegisters>,
    gicr_rd: MmioBlock<GicrRdRegisters>,
    gicr_sgi: MmioBlock<GicrSgiRegisters>,
    /// The whole redistributor region (every CPU's frames) and its length.
    gicr_region: usize,
    gicr_region_len: usize,
}

impl GicV3 {
    /// A driver for the distributor at virtual address `gicd` and the redistributor
    /// whose RD_base frame is at virtual address `gicr`.
    ///
    /// `gicr` is the first redistributor of the DT's redistributor region, which on
    /// QEMU `virt` serves CPU 0, the boot CPU. Bringing up more CPUs needs the
    /// redistributor whose GICR_TYPER.Affinity matches the CPU's MPIDR (see
    /// [`gicr_affinity_for_mpidr`]; redistributors are [`GICR_STRIDE`] apart and the
    /// last has GICR_TYPER.Last set).
    ///
    /// # Safety
    ///
    /// 1. `gicd` is the virtual address of a GICv3 distributor mapped as device memory
    ///    for 64 KiB, and `gicr` that of a redistributor mapped for 128 KiB (RD_base
    ///    and SGI_base frames), both for as long as the driver lives.
    /// 2. No other code programs the distributor or this redistributor while the
    ///    driver is in use, except through this driver.
    pub unsafe fn new(gicd: usize, gicr: usize) -> Self {
        // SAFETY: the caller guarantees the three frames are mapped GIC registers
        // (items 1-2); the SGI frame is the second half of the mapped redistributor.
        unsafe {
            Self {
                gicd: MmioBlock::new(gicd),
                gicr_rd: MmioBlock::new(gicr),
                gicr_sgi: MmioBlock::new(gicr + GICR_SGI_FRAME_OFFSET),
                gicr_region: gicr,
                gicr_region_len: GICR_STRIDE,
            }
        }
    }

    /// A driver whose redistributor region `[gicr, gicr + len)` holds every CPU's
    /// frames; the boot CPU's are found by its MPIDR (else the first are used).
    ///
    /// # Safety
    ///
    /// As [`GicV3::new`], with the whole region mapped for `len` bytes (a multiple of
    /// [`GICR_STRIDE`]).
    pub unsafe fn with_region(gicd: usize, gicr: usize, len: usize) -> Self {
        // SAFETY: the caller maps the whole region; the first frames are inside it.
        let mut gic = unsafe { Self::new(gicd, gicr) };
        gic.gicr_region_len = len - len % GICR_STRIDE;
        if let Some(own) = gic.find_redistributor(icc::read_mpidr()) {
            // SAFETY: `own` is a redistributor's RD_base inside the mapped region.
            unsafe {
                gic.gicr_rd = MmioBlock::new(own);
                gic.gicr_sgi = MmioBlock::new(own + GICR_SGI_FRAME_OFFSET);
            }
        }
        gic
    }

    /// The RD_base address of the redistributor serving the CPU `mpidr`.
    fn find_redistributor(&self, mpidr: u64) -> Option<usize> {
        let want = gicr_affinity_for_mpidr(mpidr);
        let mut offset = 0;
        while offset + GICR_STRIDE <= self.gicr_region_len {
            let at = self.gicr_region + offset;
            // SAFETY: `at` is a GICR_STRIDE-aligned frame inside the mapped region.
            let rd: MmioBlock<GicrRdRegisters> = unsafe { MmioBlock::new(at) };
            let typer = rd.TYPER.get();
            if (typer >> 32) as u32 == want {
                return Some(at);
            }
            if rd.TYPER.is_set(GICR_TYPER::Last) {
                return None;
            }
            offset += GICR_STRIDE;
        }
        None
    }

    /// Per-CPU set-up on a CPU other than the boot CPU: wakes and programs its own
    /// redistributor, its CPU interface, and enables the SGIs and PPIs `ppis` there.
    pub fn init_this_cpu(&self, ppis: &[u32]) -> ZxResult {
        let at = self.find_redistributor(icc::read_mpidr()).ok_or(ZxError::NotFound)?;
        // SAFETY: `at` is this CPU's redistributor inside the mapped region; only this
        // CPU programs it.
        let (rd, sgi): (MmioBlock<GicrRdRegisters>, MmioBlock<GicrSgiRegisters>) =
            unsafe { (MmioBlock::new(at), MmioBlock::new(at + GICR_SGI_FRAME_OFFSET)) };
        Self::program_redistributor_frames(&rd, &sgi)?;
        self.program_cpu_interface()?;
        for &intid in ppis.iter().filter(|&&i| i < SPI_BASE) {
            sgi.ISENABLER0.set(RegisterField::one_bit(intid).mask());
        }
        Ok(())
    }

    /// Sends SGI `intid` to the CPU `mpidr` (ICC_SGI1R_EL1).
    pub fn send_sgi(&self, intid: u32, mpidr: u64) {
        let aff0 = mpidr & 0xf;
        let value = ((mpidr >> 32) & 0xff) << 48
            | ((mpidr >> 16) & 0xff) << 32
            | ((intid as u64) & 0xf) << 24
            | ((mpidr >> 8) & 0xff) << 16
            | (1 << aff0);
        icc::dsb_sy();
        icc::write_sgi1r(value);
        icc::isb();
    }

    /// The number of INTIDs the distributor implements (32 to 1020).
    pub fn supported_intids(&self) -> u32 {
        gic::supported_intids(self.gicd.TYPER.read(GICD_TYPER::ITLinesNumber))
    }

    /// `intid` if it is an SGI, a PPI or an SPI the distributor implements.
    fn check_intid(&self, intid: u32) -> ZxResult<u32> {
        match gic::classify(intid) {
            IntIdKind::Special | IntIdKind::Unsupported => Err(ZxError::InvalidArgs),
            _ if intid >= self.supported_intids() => Err(ZxError::OutOfRange),
            _ => Ok(intid),
        }
    }

    fn wait_for_distributor_writes(&self) -> ZxResult {
        gic::poll_until(MAX_POLLS, || !self.gicd.CTLR.is_set(GICD_CTLR::RWP))
    }

    fn wait_for_redistributor_writes(&self) -> ZxResult {
        gic::poll_until(MAX_POLLS, || !self.gicr_rd.CTLR.is_set(GICR_CTLR::RWP))
    }

    /// 1. Both frames identify as GICv3 or GICv4 (as Linux checks before using them).
    fn check_architecture(&self) -> ZxResult {
        if is_gicv3_arch(self.gicd.PIDR2.read(PIDR2::ArchRev)) && is_gicv3_arch(self.gicr_rd.PIDR2.read(PIDR2::ArchRev))
        {
            Ok(())
        } else {
            Err(ZxError::NotSupported)
        }
    }

    fn program_distributor(&self) -> ZxResult {
        let last = self.supported_intids() - 1;
        let words_1bit = RegisterField::one_bit(last).index + 1;
        let words_2bit = RegisterField::two_bit(last).index + 1;
        let words_8bit = RegisterField::byte(last).index + 1;
        let first_spi_1bit = RegisterField::one_bit(SPI_BASE).index;
        let first_spi_2bit = RegisterField::two_bit(SPI_BASE).index;
        let first_spi_8bit = RegisterField::byte(SPI_BASE).index;

        // 1. Disable and wait, so that no SPI is forwarded half-configured.
        self.gicd.CTLR.set(0);
        self.wait_for_distributor_writes()?;

        // 2. SPIs: Group 1, disabled, inactive, not pending, one priority, level.
        //    (Word 0 of these arrays is the redistributor's business under ARE.)
        for index in first_spi_1bit..words_1bit {
            self.gicd.IGROUPR[index].set(u32::MAX);
            self.gicd.ICENABLER[index].set(u32::MAX);
            self.gicd.ICPENDR[index].set(u32::MAX);
            self.gicd.ICACTIVER[index].set(u32::MAX);
        }
        for ipriorityr in self.gicd.IPRIORITYR.iter().take(words_8bit).skip(first_spi_8bit) {
            ipriorityr.set(gic::priority_word(DEFAULT_PRIORITY));
        }
        for icfgr in self.gicd.ICFGR.iter().take(words_2bit).skip(first_spi_2bit) {
            icfgr.set(0);
        }
        self.wait_for_distributor_writes()?;

        // 3. Enable Group 1 with affinity routing (bits valid in both security views).
        self.gicd.CTLR.write(GICD_CTLR::ARE::SET + GICD_CTLR::EnableGrp1::SET + GICD_CTLR::EnableBit0::SET);
        self.wait_for_distributor_writes()?;

        // 4. Route every SPI to this CPU (IROUTER is only meaningful once ARE is set).
        let route = irouter_for_mpidr(icc::read_mpidr());
        let spis = SPI_BASE as usize..self.supported_intids() as usize;
        for irouter in self.gicd.IROUTER.iter().take(spis.end).skip(spis.start) {
            irouter.set(route);
        }
        Ok(())
    }

    fn program_redistributor(&self) -> ZxResult {
        Self::program_redistributor_frames(&self.gicr_rd, &self.gicr_sgi)
    }

    fn program_redistributor_frames(rd: &MmioBlock<GicrRdRegisters>, sgi: &MmioBlock<GicrSgiRegisters>) -> ZxResult {
        // 1. Wake it: clear ProcessorSleep, then wait for the CPU interface to wake.
        rd.WAKER.modify(GICR_WAKER::ProcessorSleep::CLEAR);
        gic::poll_until(MAX_POLLS, || !rd.WAKER.is_set(GICR_WAKER::ChildrenAsleep))?;

        // 2. SGIs and PPIs: Group 1, disabled, inactive, not pending, one priority.
        sgi.IGROUPR0.set(u32::MAX);
        sgi.ICENABLER0.set(u32::MAX);
        sgi.ICPENDR0.set(u32::MAX);
        sgi.ICACTIVER0.set(u32::MAX);
        for ipriorityr in sgi.IPRIORITYR.iter() {
            ipriorityr.set(gic::priority_word(DEFAULT_PRIORITY));
        }
        gic::poll_until(MAX_POLLS, || !rd.CTLR.is_set(GICR_CTLR::RWP))
    }

    fn program_cpu_interface(&self) -> ZxResult {
        // 1. Use the system register interface. If EL2/EL3 did not allow it
        //    (ICC_SRE_EL2.Enable), SRE stays 0 and the interface is unusable.
        icc::write_sre(icc::read_sre() | ICC_SRE_SRE);
        icc::isb();
        if icc::read_sre() & ICC_SRE_SRE == 0 {
            return Err(ZxError::NotSupported);
        }
        // 2. Unmask every priority, use all priority bits for preemption, EOImode 0.
        icc::write_pmr(0xff);
        icc::write_bpr1(0);
        // 3. Take Group 1 interrupts.
        icc::write_igrpen1(ICC_IGRPEN1_ENABLE);
        icc::isb();
        Ok(())
    }
}

impl InterruptController for GicV3 {
    fn init(&self) -> ZxResult {
        self.check_architecture()?;
        self.program_distributor()?;
        self.program_redistributor()?;
        self.program_cpu_interface()
    }

    fn enable_interrupt(&self, intid: u32) -> ZxResult {
        let intid = self.check_intid(intid)?;
        let field = RegisterField::one_bit(intid);
        if intid < SPI_BASE {
            self.gicr_sgi.ISENABLER0.set(field.mask());
        } else {
            let register = self.gicd.ISENABLER.get(field.index).ok_or(ZxError::OutOfRange)?;
            register.set(field.mask());
        }
        Ok(())
    }

    fn disable_interrupt(&self, intid: u32) -> ZxResult {
        let intid = self.check_intid(intid)?;
        let field = RegisterField::one_bit(intid);
        if intid < SPI_BASE {
            self.gicr_sgi.ICENABLER0.set(field.mask());
            self.wait_for_redistributor_writes()
        } else {
            let register = self.gicd.ICENABLER.get(field.index).ok_or(ZxError::OutOfRange)?;
            register.set(field.mask());
            self.wait_for_distributor_writes()
        }
    }

    fn set_trigger(&self, intid: u32, trigger: Trigger) -> ZxResult {
        let intid = self.check_intid(intid)?;
        let field = RegisterField::two_bit(intid);
        let register = match gic::classify(intid) {
            IntIdKind::Sgi => return Err(ZxError::InvalidArgs),
            IntIdKind::Ppi => self.gicr_sgi.ICFGR.get(field.index),
            _ => self.gicd.ICFGR.get(field.index),
        }
        .ok_or(ZxError::OutOfRange)?;
        register.set(gic::icfgr_with_trigger(register.get(), intid, trigger));
        Ok(())
    }

    fn set_priority(&self, intid: u32, priority: u8) -> ZxResult {
        let intid = self.check_intid(intid)?;
        let field = RegisterField::byte(intid);
        let register = if intid < SPI_BASE {
            self.gicr_sgi.IPRIORITYR.get(field.index)
        } else {
            self.gicd.IPRIORITYR.get(field.index)
        }
        .ok_or(ZxError::OutOfRange)?;
        register.set(gic::ipriorityr_with(register.get(), intid, priority));
        Ok(())
    }

    fn acknowledge(&self) -> Option<u32> {
        let intid = (icc::read_iar1() & ICC_IAR1_INTID_MASK) as u32;
        // Make the acknowledge visible before the handler touches the device (Linux
        // does the same after reading ICC_IAR1_EL1).
        icc::dsb_sy();
        if (FIRST_SPECIAL_INTID..=gic::SPURIOUS_INTID).contains(&intid) { None } else { Some(intid) }
    }

    fn end_of_interrupt(&self, acknowledged: u32) {
        icc::write_eoir1(u64::from(acknowledged));
        icc::isb();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::mmio::FakeMmio;

    const GICD_CTLR_OFF: usize = 0x0000;
    const GICD_TYPER_OFF: usize = 0x0004;
    const GICD_IGROUPR: usize = 0x0080;
    const GICD_ISENABLER: usize = 0x0100;
    const GICD_ICENABLER: usize = 0x0180;
    const GICD_IPRIORITYR: usize = 0x0400;
    const GICD_ICFGR: usize = 0x0c00;
    const GICD_IROUTER: usize = 0x6000;
    const PIDR2_OFF: usize = 0xffe8;
    const GICR_WAKER_OFF: usize = 0x0014;
    const SGI_IGROUPR0: usize = GICR_SGI_FRAME_OFFSET + 0x0080;
    const SGI_ISENABLER0: usize = GICR_SGI_FRAME_OFFSET + 0x0100;
    const SGI_ICENABLER0: usize = GICR_SGI_FRAME_OFFSET + 0x0180;
    const SGI_IPRIORITYR: usize = GICR_SGI_FRAME_OFFSET + 0x0400;
    const SGI_ICFGR1: usize = GICR_SGI_FRAME_OFFSET + 0x0c04;

    struct Fixture {
        gicd: FakeMmio,
        gicr: FakeMmio,
    }

    impl Fixture {
        /// A fake GICv3 with 288 INTIDs (QEMU virt: GICD_TYPER.ITLinesNumber = 8).
        fn new() -> Self {
            let gicd = FakeMmio::new(core::mem::size_of::<GicdRegisters>());
            let gicr = FakeMmio::new(GICR_STRIDE);
            gicd.set_word(GICD_TYPER_OFF, 8);
            gicd.set_word(PIDR2_OFF, 0x3b);
            gicr.set_word(PIDR2_OFF, 0x3b);
            // ProcessorSleep set as out of reset; plain memory cannot model the hardware
            // clearing ChildrenAsleep in response, so that bit starts clear.
            gicr.set_word(GICR_WAKER_OFF, 0b010);
            Self { gicd, gicr }
        }

        fn driver(&self) -> GicV3 {
            // SAFETY: the fakes are sized for the frames and outlive the driver.
            unsafe { GicV3::new(self.gicd.base(), self.gicr.base()) }
        }
    }

    #[test]
    fn layout_matches_the_architecture() {
        assert_eq!(core::mem::size_of::<GicdRegisters>(), 0x10000);
        assert_eq!(core::mem::size_of::<GicrRdRegisters>(), 0x10000);
        assert_eq!(core::mem::size_of::<GicrSgiRegisters>(), 0x10000);
    }

    #[test]
    fn affinity_helpers() {
        // Aff3 = 0x12, Aff2 = 0x34, Aff1 = 0x56, Aff0 = 0x78, U and MT bits set.
        let mpidr = 0x12_c134_5678;
        assert_eq!(irouter_for_mpidr(mpidr), 0x12_0034_5678);
        assert_eq!(gicr_affinity_for_mpidr(mpidr), 0x1234_5678);
        assert_eq!(irouter_for_mpidr(0x8000_0001), 1);
        assert!(is_gicv3_arch(3) && is_gicv3_arch(4) && !is_gicv3_arch(2));
    }

    /// The only test that touches the fake ICC registers (they are process-global).
    #[test]
    fn init_programs_distributor_redistributor_and_cpu_interface() {
        let f = Fixture::new();
        let gic = f.driver();
        assert_eq!(gic.supported_intids(), 288);
        gic.init().unwrap();

        assert_eq!(f.gicd.word(GICD_CTLR_OFF), 0b1_0011);
        assert_eq!(f.gicd.word(GICD_IGROUPR), 0); // SGIs/PPIs belong to the redistributor
        assert_eq!(f.gicd.word(GICD_IGROUPR + 4), u32::MAX);
        assert_eq!(f.gicd.word(GICD_IGROUPR + 4 * 8), u32::MAX);
        assert_eq!(f.gicd.word(GICD_IGROUPR + 4 * 9), 0);
        assert_eq!(f.gicd.word(GICD_ICENABLER + 4 * 8), u32::MAX);
        assert_eq!(f.gicd.word(GICD_IPRIORITYR + 4 * 7), 0);
        assert_eq!(f.gicd.word(GICD_IPRIORITYR + 4 * 8), 0xa0a0_a0a0);
        assert_eq!(f.gicd.word(GICD_IPRIORITYR + 4 * 71), 0xa0a0_a0a0);
        assert_eq!(f.gicd.word(GICD_IPRIORITYR + 4 * 72), 0);
        // SPIs 32..=287, and only they, are routed to the fake CPU 0 (IROUTER = 0).
        for n in [31, 32, 287, 288] {
            f.gicd.set_word(GICD_IROUTER + 8 * n, 0xdead);
        }
        gic.init().unwrap();
        assert_eq!(f.gicd.word(GICD_IROUTER + 8 * 31), 0xdead);
        assert_eq!(f.gicd.word(GICD_IROUTER + 8 * 32), 0);
        assert_eq!(f.gicd.word(GICD_IROUTER + 8 * 287), 0);
        assert_eq!(f.gicd.word(GICD_IROUTER + 8 * 288), 0xdead);

        assert_eq!(f.gicr.word(GICR_WAKER_OFF), 0); // ProcessorSleep cleared
        assert_eq!(f.gicr.word(SGI_IGROUPR0), u32::MAX);
        assert_eq!(f.gicr.word(SGI_ICENABLER0), u32::MAX);
        assert_eq!(f.gicr.word(SGI_IPRIORITYR + 4 * 7), 0xa0a0_a0a0);

        assert_eq!(icc::read_sre() & ICC_SRE_SRE, 1);
        assert_eq!(icc::read_pmr(), 0xff);
        assert_eq!(icc::read_igrpen1(), 1);

        // Acknowledge and end through the fake ICC registers.
        icc::set_iar1(1023);
        assert_eq!(gic.acknowledge(), None);
        icc::set_iar1(30);
        assert_eq!(gic.acknowledge(), Some(30));
        gic.end_of_interrupt(30);
        assert_eq!(icc::read_eoir1(), 30);
    }

    #[test]
    fn init_rejects_a_frame_that_is_not_gicv3() {
        let f = Fixture::new();
        f.gicr.set_word(PIDR2_OFF, 0x2b);
        assert_eq!(f.driver().init(), Err(ZxError::NotSupported));
    }

    #[test]
    fn init_times_out_on_a_redistributor_that_stays_asleep() {
        let f = Fixture::new();
        // ChildrenAsleep never clears in plain memory once the modify leaves it set.
        f.gicr.set_word(GICR_WAKER_OFF, 0b100);
        assert_eq!(f.driver().program_redistributor(), Err(ZxError::TimedOut));
    }

    #[test]
    fn ppis_go_to_the_redistributor_and_spis_to_the_distributor() {
        let f = Fixture::new();
        let gic = f.driver();
        gic.enable_interrupt(27).unwrap();
        assert_eq!(f.gicr.word(SGI_ISENABLER0), 1 << 27);
        assert_eq!(f.gicd.word(GICD_ISENABLER), 0);
        gic.enable_interrupt(33).unwrap();
        assert_eq!(f.gicd.word(GICD_ISENABLER + 4), 1 << 1);
        gic.disable_interrupt(27).unwrap();
        assert_eq!(f.gicr.word(SGI_ICENABLER0), 1 << 27);
        gic.disable_interrupt(33).unwrap();
        assert_eq!(f.gicd.word(GICD_ICENABLER + 4), 1 << 1);

        gic.set_trigger(30, Trigger::Edge).unwrap(); // ICFGR1, field at bits 28..29
        assert_eq!(f.gicr.word(SGI_ICFGR1), 1 << 29);
        gic.set_level_triggered(30).unwrap();
        assert_eq!(f.gicr.word(SGI_ICFGR1), 0);
        gic.set_trigger(33, Trigger::Edge).unwrap();
        assert_eq!(f.gicd.word(GICD_ICFGR + 4 * 2), 1 << 3);
        gic.set_priority(30, 0x80).unwrap();
        assert_eq!(f.gicr.word(SGI_IPRIORITYR + 4 * 7), 0x0080_0000);
        gic.set_priority(33, 0x40).unwrap();
        assert_eq!(f.gicd.word(GICD_IPRIORITYR + 4 * 8), 0x0000_4000);

        assert_eq!(gic.enable_interrupt(288), Err(ZxError::OutOfRange));
        assert_eq!(gic.enable_interrupt(1020), Err(ZxError::InvalidArgs));
        assert_eq!(gic.set_trigger(0, Trigger::Edge), Err(ZxError::InvalidArgs));
    }
}
