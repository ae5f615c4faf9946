//! BCM2835 auxiliary "mini UART" (UART1): the Raspberry Pi 4's primary console with
//! the default `enable_uart=1` configuration.
//!
//! The device tree's `brcm,bcm2835-aux-uart` node points at AUX_MU_IO (CPU physical
//! 0xFE21_5040 on a Pi 4); the AUX block's shared registers, among them AUX_ENABLES,
//! sit just below it, at AUX base = AUX_MU_IO - 0x40. The driver covers both with one
//! register block starting at the AUX base.
//!
//! The mini UART's clock is the VPU core clock (250 MHz when `enable_uart=1` pins it),
//! and its baud register is `clock / (8 * baud) - 1`. Polled, no interrupts.

use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};
use tock_registers::{register_bitfields, register_structs};

use super::mmio::{MmioBlock, ReadOnly, ReadWrite};
use super::pl011::with_crlf;
use crate::error::{ZxError, ZxResult};

// ─────────────────────────────────────────────────────────────────────────────
// Register definitions (BCM2711 ARM Peripherals, chapter 2 "Auxiliaries")
// ─────────────────────────────────────────────────────────────────────────────

register_bitfields! {u32,
    /// Which auxiliary peripherals have their registers and clock enabled.
    AUX_ENABLES [
        /// Mini UART.
        MINI_UART OFFSET(0) NUMBITS(1) [],
        /// SPI 1.
        SPI1 OFFSET(1) NUMBITS(1) [],
        /// SPI 2.
        SPI2 OFFSET(2) NUMBITS(1) []
    ],

    /// I/O data.
    AUX_MU_IO [
        /// Byte received or to transmit.
        DATA OFFSET(0) NUMBITS(8) []
    ],

    /// Interrupt identify; writing it clears the FIFOs.
    AUX_MU_IIR [
        /// Write 1: clear the receive FIFO.
        CLEAR_RX_FIFO OFFSET(1) NUMBITS(1) [],
        /// Write 1: clear the transmit FIFO.
        CLEAR_TX_FIFO OFFSET(2) NUMBITS(1) []
    ],

    /// Line control.
    AUX_MU_LCR [
        /// Data size. Both bits must be set for 8-bit mode (the documented single bit
        /// gives 7 bits: a well-known BCM2835 datasheet erratum).
        DATA_SIZE OFFSET(0) NUMBITS(2) [
            SevenBit = 0b00,
            EightBit = 0b11
        ]
    ],

    /// Line status.
    AUX_MU_LSR [
        /// The receive FIFO holds at least one byte.
        DATA_READY OFFSET(0) NUMBITS(1) [],
        /// The transmit FIFO can accept at least one byte.
        TX_EMPTY OFFSET(5) NUMBITS(1) [],
        /// The transmit FIFO is empty and the transmitter idle.
        TX_IDLE OFFSET(6) NUMBITS(1) []
    ],

    /// Extra control.
    AUX_MU_CNTL [
        /// Receiver enable.
        RX_ENABLE OFFSET(0) NUMBITS(1) [],
        /// Transmitter enable.
        TX_ENABLE OFFSET(1) NUMBITS(1) []
    ],

    /// Baud rate.
    AUX_MU_BAUD [
        /// `clock / (8 * baud) - 1`.
        BAUDRATE OFFSET(0) NUMBITS(16) []
    ]
}

register_structs! {
    /// The AUX block from its base through the mini UART's registers.
    #[allow(non_snake_case)]
    pub AuxRegisters {
        (0x00 => AUX_IRQ: ReadOnly<u32>),
        (0x04 => AUX_ENABLES: ReadWrite<u32, AUX_ENABLES::Register>),
        (0x08 => _reserved0),
        (0x40 => AUX_MU_IO: ReadWrite<u32, AUX_MU_IO::Register>),
        (0x44 => AUX_MU_IER: ReadWrite<u32>),
        (0x48 => AUX_MU_IIR: ReadWrite<u32, AUX_MU_IIR::Register>),
        (0x4c => AUX_MU_LCR: ReadWrite<u32, AUX_MU_LCR::Register>),
        (0x50 => AUX_MU_MCR: ReadWrite<u32>),
        (0x54 => AUX_MU_LSR: ReadOnly<u32, AUX_MU_LSR::Register>),
        (0x58 => AUX_MU_MSR: ReadOnly<u32>),
        (0x5c => AUX_MU_SCRATCH: ReadWrite<u32>),
        (0x60 => AUX_MU_CNTL: ReadWrite<u32, AUX_MU_CNTL::Register>),
        (0x64 => AUX_MU_STAT: ReadOnly<u32>),
        (0x68 => AUX_MU_BAUD: ReadWrite<u32, AUX_MU_BAUD::Register>),
        (0x6c => @END),
    }
}

/// Offset of AUX_MU_IO (the device tree's address for the mini UART) from the AUX base.
pub const AUX_MU_IO_OFFSET: usize = 0x40;

// ─────────────────────────────────────────────────────────────────────────────
// Pure helpers
// ─────────────────────────────────────────────────────────────────────────────

/// The AUX_MU_BAUD value for `baud` from a `clock_hz` VPU clock: `clock / (8 * baud)`
/// rounded to the nearest integer, minus one. `InvalidArgs` if `baud` is 0 or the
/// value does not fit the register's 16 bits.
pub fn baud_register(clock_hz: u32, baud: u32) -> ZxResult<u32> {
    if baud == 0 {
        return Err(ZxError::InvalidArgs);
    }
    let eight_baud = 8 * u64::from(baud);
    let divisor = (u64::from(clock_hz) + eight_baud / 2) / eight_baud;
    match divisor.checked_sub(1) {
        Some(value) if value <= 0xffff => Ok(value as u32),
        _ => Err(ZxError::InvalidArgs),
    }
}

// ─────────────────────────────────────────────────────────────────────────────
// Driver
// ─────────────────────────────────────────────────────────────────────────────

/// The BCM2835 mini UART.
#[derive(Debug)]
pub struct MiniUart {
    registers: MmioBlock<AuxRegisters>,
}

impl MiniUart {
    /// A driver for the mini UART whose AUX_MU_IO register is at virtual address
    /// `mu_base` (the address in the device tree's `brcm,bcm2835-aux-uart` node).
    ///
    /// # Safety
    ///
    /// 1. `mu_base` is at least [`AUX_MU_IO_OFFSET`] and is the virtual address of a
    ///    BCM2835-compatible AUX_MU_IO register, and the range from `mu_base - 0x40`
    ///    (the AUX base, holding AUX_ENABLES) to `mu_base + 0x2c` is mapped as device
    ///    memory for as long as the driver lives.
    /// 2. Nothing else programs the mini UART while the driver is in use. Other AUX
    ///    users (SPI1/2) may exist: the driver changes only the mini UART's enable bit.
    pub unsafe fn new(mu_base: usize) -> Self {
        // SAFETY: the caller guarantees the AUX block is mapped from `mu_base - 0x40`
        // (items 1-2); the subtraction does not wrap because `mu_base >= 0x40`.
        let registers = unsafe { MmioBlock::new(mu_base - AUX_MU_IO_OFFSET) };
        Self { registers }
    }

    /// Enables the mini UART in 8-bit mode at `baud`, transmit and receive enabled.
    ///
    /// With `clock_hz` `None` the baud register is left untouched (QEMU ignores it;
    /// firmware has set it for its own console). `InvalidArgs`, before any register is
    /// touched, if the baud register value for `clock_hz` and `baud` is out of range.
    pub fn init(&self, clock_hz: Option<u32>, baud: u32) -> ZxResult {
        let baud_value = match clock_hz {
            Some(clock_hz) => Some(baud_register(clock_hz, baud)?),
            None => None,
        };
        let regs = &self.registers;
        // 1. If already running (firmware console), let queued output finish; the
        //    UART's registers only respond while its enable bit is set.
        if regs.AUX_ENABLES.is_set(AUX_ENABLES::MINI_UART) {
            self.flush();
        }
        regs.AUX_ENABLES.modify(AUX_ENABLES::MINI_UART::SET);
        // 2. Stop both directions and interrupts while reconfiguring.
        regs.AUX_MU_CNTL.set(0);
        regs.AUX_MU_IER.set(0);
        // 3. 8 data bits, RTS inactive, FIFOs cleared, then the baud rate.
        regs.AUX_MU_LCR.write(AUX_MU_LCR::DATA_SIZE::EightBit);
        regs.AUX_MU_MCR.set(0);
        regs.AUX_MU_IIR.write(AUX_MU_IIR::CLEAR_RX_FIFO::SET + AUX_MU_IIR::CLEAR_TX_FIFO::SET);
        if let Some(value) = baud_value {
            regs.AUX_MU_BAUD.write(AUX_MU_BAUD::BAUDRATE.val(value));
        }
        // 4. Enable.
        regs.AUX_MU_CNTL.write(AUX_MU_CNTL::RX_ENABLE::SET + AUX_MU_CNTL::TX_ENABLE::SET);
        Ok(())
    }

    /// Transmits `byte`, waiting until the transmit FIFO has room.
    pub fn write_byte(&self, byte: u8) {
        while !self.registers.AUX_MU_LSR.is_set(AUX_MU_LSR::TX_EMPTY) {
            core::hint::spin_loop();
        }
        self.registers.AUX_MU_IO.set(u32::from(byte));
    }

    /// Transmits `bytes`, sending each `\n` as `\r\n` for terminals.
    pub fn write_bytes(&self, bytes: &[u8]) {
        for byte in with_crlf(bytes) {
            self.write_byte(byte);
        }
    }

    /// Waits until every queued byte has been sent.
    pub fn flush(&self) {
        while !self.registers.AUX_MU_LSR.is_set(AUX_MU_LSR::TX_IDLE) {
            core::hint::spin_loop();
        }
    }

    /// A received byte, or `None` if the receive FIFO is empty.
    pub fn read_byte(&self) -> Option<u8> {
        if !self.registers.AUX_MU_LSR.is_set(AUX_MU_LSR::DATA_READY) {
            return None;
        }
        // The mask makes the narrowing exact.
        Some(self.registers.AUX_MU_IO.read(AUX_MU_IO::DATA) as u8)
    }
}

impl core::fmt::Write for MiniUart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::mmio::FakeMmio;

    const AUX_ENABLES_OFF: usize = 0x04;
    const IO_OFF: usize = 0x40;
    const IIR_OFF: usize = 0x48;
    const LCR_OFF: usize = 0x4c;
    const LSR_OFF: usize = 0x54;
    const CNTL_OFF: usize = 0x60;
    const BAUD_OFF: usize = 0x68;

    /// A fake AUX block whose line status says "room to transmit, transmitter idle".
    fn fake_uart() -> (FakeMmio, MiniUart) {
        let fake = FakeMmio::new(core::mem::size_of::<AuxRegisters>());
        fake.set_word(LSR_OFF, 0x60);
        // SAFETY: the fake covers the whole AUX block and outlives the driver.
        let uart = unsafe { MiniUart::new(fake.base() + AUX_MU_IO_OFFSET) };
        (fake, uart)
    }

    #[test]
    fn baud_register_values() {
        assert_eq!(baud_register(250_000_000, 115_200), Ok(270));
        assert_eq!(baud_register(500_000_000, 115_200), Ok(542)); // 542.53 rounds to 543
        assert_eq!(baud_register(250_000_000, 0), Err(ZxError::InvalidArgs));
        assert_eq!(baud_register(1_000, 115_200), Err(ZxError::InvalidArgs)); // divisor 0
        assert_eq!(baud_register(u32::MAX, 300), Err(ZxError::InvalidArgs)); // > 16 bits
    }

    #[test]
    fn init_enables_only_the_mini_uart_and_programs_it() {
        let (fake, uart) = fake_uart();
        fake.set_word(AUX_ENABLES_OFF, 0b100); // SPI2 in use by someone else
        uart.init(Some(250_000_000), 115_200).unwrap();
        assert_eq!(fake.word(AUX_ENABLES_OFF), 0b101);
        assert_eq!(fake.word(LCR_OFF), 0b11);
        assert_eq!(fake.word(IIR_OFF), 0b110);
        assert_eq!(fake.word(BAUD_OFF), 270);
        assert_eq!(fake.word(CNTL_OFF), 0b11);
    }

    #[test]
    fn init_without_a_clock_leaves_the_baud_register_alone() {
        let (fake, uart) = fake_uart();
        fake.set_word(BAUD_OFF, 541);
        uart.init(None, 115_200).unwrap();
        assert_eq!(fake.word(BAUD_OFF), 541);
        assert_eq!(uart.init(Some(250_000_000), 0), Err(ZxError::InvalidArgs));
    }

    #[test]
    fn transmit_and_receive_through_the_io_register() {
        let (fake, uart) = fake_uart();
        uart.write_byte(b'Z');
        assert_eq!(fake.word(IO_OFF), u32::from(b'Z'));
        uart.flush();
        assert_eq!(uart.read_byte(), None); // DATA_READY clear
        fake.set_word(LSR_OFF, 0x61);
        fake.set_word(IO_OFF, u32::from(b'q'));
        assert_eq!(uart.read_byte(), Some(b'q'));
    }
}
