//! Arm PrimeCell PL011 UART: QEMU `virt`'s console and the Raspberry Pi 4's UART0.
//!
//! Polled transmit and receive, no interrupts. The baud rate divisor is only programmed
//! when the caller knows the UART's reference clock (48 MHz on a Pi 4 with the usual
//! `init_uart_clock`); QEMU ignores the divisors, so an unknown clock leaves them as
//! they are.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{register_bitfields, register_structs};

use super::mmio::{MmioBlock, ReadOnly, ReadWrite, WriteOnly};
use crate::error::{ZxError, ZxResult};

// ─────────────────────────────────────────────────────────────────────────────
// Register definitions (PL011 Technical Reference Manual, section 3)
// ─────────────────────────────────────────────────────────────────────────────

register_bitfields! {u32,
    /// Data register.
    DR [
        /// Byte received or to transmit.
        DATA OFFSET(0) NUMBITS(8) []
    ],

    /// Flag register.
    FR [
        /// Busy transmitting (set until the transmit FIFO is empty and the last byte
        /// has left the shift register).
        BUSY OFFSET(3) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Transmit FIFO empty.
        TXFE OFFSET(7) NUMBITS(1) []
    ],

    /// Integer baud rate divisor.
    IBRD [
        /// Integer part of `clock / (16 * baud)`.
        BAUD_DIVINT OFFSET(0) NUMBITS(16) []
    ],

    /// Fractional baud rate divisor.
    FBRD [
        /// Fractional part of `clock / (16 * baud)`, in 64ths.
        BAUD_DIVFRAC OFFSET(0) NUMBITS(6) []
    ],

    /// Line control. Writing it latches IBRD and FBRD.
    LCR_H [
        /// Enable the transmit and receive FIFOs.
        FEN OFFSET(4) NUMBITS(1) [],
        /// Word length.
        WLEN OFFSET(5) NUMBITS(2) [
            FiveBit = 0b00,
            SixBit = 0b01,
            SevenBit = 0b10,
            EightBit = 0b11
        ]
    ],

    /// Control.
    CR [
        /// UART enable.
        UARTEN OFFSET(0) NUMBITS(1) [],
        /// Transmit enable.
        TXE OFFSET(8) NUMBITS(1) [],
        /// Receive enable.
        RXE OFFSET(9) NUMBITS(1) []
    ],

    /// Interrupt clear (write 1 to clear).
    ICR [
        /// All eleven interrupt sources (bits 0..=10).
        ALL OFFSET(0) NUMBITS(11) []
    ]
}

register_structs! {
    /// The PL011 register block.
    #[allow(non_snake_case)]
    pub Pl011Registers {
        (0x00 => DR: ReadWrite<u32, DR::Register>),
        (0x04 => _reserved0),
        (0x18 => FR: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x24 => IBRD: ReadWrite<u32, IBRD::Register>),
        (0x28 => FBRD: ReadWrite<u32, FBRD::Register>),
        (0x2c => LCR_H: ReadWrite<u32, LCR_H::Register>),
        (0x30 => CR: ReadWrite<u32, CR::Register>),
        (0x34 => IFLS: ReadWrite<u32>),
        (0x38 => IMSC: ReadWrite<u32>),
        (0x3c => RIS: ReadOnly<u32>),
        (0x40 => MIS: ReadOnly<u32>),
        (0x44 => ICR: WriteOnly<u32, ICR::Register>),
        (0x48 => @END),
    }
}

// ─────────────────────────────────────────────────────────────────────────────
// Pure helpers
// ─────────────────────────────────────────────────────────────────────────────

/// The (IBRD, FBRD) pair for `baud` from a `clock_hz` reference clock.
///
/// The divisor is `clock / (16 * baud)` with six fractional bits, rounded to the
/// nearest 64th: `round(clock * 4 / baud)` split into integer and fraction.
/// `InvalidArgs` if `baud` is 0 or the integer part does not fit IBRD's 1..=65535.
pub fn baud_divisors(clock_hz: u32, baud: u32) -> ZxResult<(u32, u32)> {
    if baud == 0 {
        return Err(ZxError::InvalidArgs);
    }
    let baud = u64::from(baud);
    let divisor_64ths = (u64::from(clock_hz) * 4 + baud / 2) / baud;
    let ibrd = divisor_64ths >> 6;
    let fbrd = divisor_64ths & 0x3f;
    if ibrd == 0 || ibrd > 0xffff {
        return Err(ZxError::InvalidArgs);
    }
    // Both fit in u32: ibrd <= 0xffff and fbrd < 64.
    Ok((ibrd as u32, fbrd as u32))
}

/// `bytes` as a terminal wants them: every `\n` preceded by `\r`.
/// Shared by the UART drivers' `write_bytes`.
pub fn with_crlf(bytes: &[u8]) -> impl Iterator<Item = u8> + '_ {
    bytes.iter().flat_map(|&byte| {
        let carriage_return = (byte == b'\n').then_some(b'\r');
        carriage_return.into_iter().chain(core::iter::once(byte))
    })
}

// ─────────────────────────────────────────────────────────────────────────────
// Driver
// ─────────────────────────────────────────────────────────────────────────────

/// IMSC/ICR bit of the receive interrupt.
pub const IMSC_RX: u32 = 1 << 4;
/// IMSC/ICR bit of the receive-timeout interrupt.
pub const IMSC_RT: u32 = 1 << 6;

/// Depth of the transmit FIFO, which [`Pl011::init`] enables: 16 bytes up to PL011
/// revision r1p4 and in QEMU's model (r1p5 has 32; 16 is safe on both).
pub const TX_FIFO_BYTES: usize = 16;

/// A PL011 UART.
#[derive(Debug)]
pub struct Pl011 {
    registers: MmioBlock<Pl011Registers>,
}

impl Pl011 {
    /// A driver for the PL011 at virtual address `base`.
    ///
    /// # Safety
    ///
    /// 1. `base` is the virtual address of a PL011, mapped as device memory for at
    ///    least 0x48 bytes for as long as the driver lives.
    /// 2. Nothing else programs this UART while the driver is in use.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` maps a PL011's registers (items 1-2).
        let registers = unsafe { MmioBlock::new(base) };
        Self { registers }
    }

    /// Sets the UART up for 8N1 with FIFOs at `baud`, transmit and receive enabled.
    ///
    /// With `clock_hz` `None` the divisors are left untouched (QEMU ignores them, and
    /// firmware has usually set them already). `InvalidArgs`, before any register is
    /// touched, if the divisor for `clock_hz` and `baud` is out of range.
    pub fn init(&self, clock_hz: Option<u32>, baud: u32) -> ZxResult {
        let divisors = match clock_hz {
            Some(clock_hz) => Some(baud_divisors(clock_hz, baud)?),
            None => None,
        };
        let regs = &self.registers;
        // 1. Let anything already queued (firmware messages) finish.
        self.flush();
        // 2. Disable while reconfiguring; clear every pending interrupt.
        regs.CR.set(0);
        regs.ICR.write(ICR::ALL::SET);
        // 3. Divisors, then LCR_H, whose write latches them.
        if let Some((ibrd, fbrd)) = divisors {
            regs.IBRD.write(IBRD::BAUD_DIVINT.val(ibrd));
            regs.FBRD.write(FBRD::BAUD_DIVFRAC.val(fbrd));
        }
        regs.LCR_H.write(LCR_H::WLEN::EightBit + LCR_H::FEN::SET);
        // 4. Enable.
        regs.CR.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
        Ok(())
    }

    /// Transmits `byte`, waiting while the transmit FIFO is full.
    pub fn write_byte(&self, byte: u8) {
        while self.registers.FR.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        self.registers.DR.set(u32::from(byte));
    }

    /// Transmits `bytes`, sending each `\n` as `\r\n` for terminals.
    ///
    /// The flag register is read once per FIFO's worth of bytes rather than once per
    /// byte: when it says the FIFO is empty, [`TX_FIFO_BYTES`] bytes fit. Under a
    /// hypervisor every register access is a trap, so this halves the cost of the
    /// console there.
    pub fn write_bytes(&self, bytes: &[u8]) {
        let mut room = 0;
        for byte in with_crlf(bytes) {
            if room == 0 {
                room = self.wait_for_room();
            }
            self.registers.DR.set(u32::from(byte));
            room -= 1;
        }
    }

    /// How many bytes the transmit FIFO accepts now, waiting until it accepts one.
    fn wait_for_room(&self) -> usize {
        loop {
            let flags = self.registers.FR.extract();
            if flags.is_set(FR::TXFE) {
                return TX_FIFO_BYTES;
            }
            if !flags.is_set(FR::TXFF) {
                return 1;
            }
            core::hint::spin_loop();
        }
    }

    /// Waits until every queued byte has been sent.
    pub fn flush(&self) {
        while self.registers.FR.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }

    /// Lets received bytes raise the UART's interrupt: the receive interrupt (FIFO at
    /// its trigger level) and the receive timeout (bytes waiting, none arriving).
    pub fn enable_rx_interrupt(&self) {
        self.registers.IMSC.set(self.registers.IMSC.get() | IMSC_RX | IMSC_RT);
    }

    /// Takes received bytes into `buf` until it is full or the receive FIFO is empty;
    /// returns how many. The receive interrupts are cleared first, then the FIFO
    /// drained: a byte that arrives after the drain's last look raises the interrupt
    /// again. A clear after the drain would lose that byte's interrupt, and with it
    /// every later one (the receive interrupt rises when the FIFO level reaches the
    /// trigger, which it has then passed; QEMU models no receive timeout), so input
    /// would stop for good.
    pub fn drain_rx(&self, buf: &mut [u8]) -> usize {
        self.registers.ICR.set(IMSC_RX | IMSC_RT);
        let mut n = 0;
        while n < buf.len() {
            let Some(byte) = self.read_byte() else { break };
            buf[n] = byte;
            n += 1;
        }
        n
    }

    /// A received byte, or `None` if the receive FIFO is empty.
    pub fn read_byte(&self) -> Option<u8> {
        if self.registers.FR.is_set(FR::RXFE) {
            return None;
        }
        // The mask makes the narrowing exact.
        Some(self.registers.DR.read(DR::DATA) as u8)
    }
}

impl core::fmt::Write for Pl011 {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::mmio::FakeMmio;

    const DR_OFF: usize = 0x00;
    const FR_OFF: usize = 0x18;
    const IBRD_OFF: usize = 0x24;
    const FBRD_OFF: usize = 0x28;
    const LCR_H_OFF: usize = 0x2c;
    const CR_OFF: usize = 0x30;
    const ICR_OFF: usize = 0x44;

    fn fake_uart() -> (FakeMmio, Pl011) {
        let fake = FakeMmio::new(core::mem::size_of::<Pl011Registers>());
        // SAFETY: the fake is sized for the block and outlives the driver in each test.
        let uart = unsafe { Pl011::new(fake.base()) };
        (fake, uart)
    }

    #[test]
    fn divisors_for_the_pi_clock() {
        assert_eq!(baud_divisors(48_000_000, 115_200), Ok((26, 3)));
        assert_eq!(baud_divisors(48_000_000, 921_600), Ok((3, 16)));
        // QEMU raspi4b reports a 3 MHz UART clock: 3e6 / (16 * 115200) = 1.6276.
        assert_eq!(baud_divisors(3_000_000, 115_200), Ok((1, 40)));
        // 24 MHz (QEMU virt's apb_pclk), 115200: 13.0208 -> 13 + 1/64.
        assert_eq!(baud_divisors(24_000_000, 115_200), Ok((13, 1)));
    }

    #[test]
    fn divisors_reject_impossible_rates() {
        assert_eq!(baud_divisors(48_000_000, 0), Err(ZxError::InvalidArgs));
        assert_eq!(baud_divisors(1_000_000, 115_200), Err(ZxError::InvalidArgs)); // < 1
        assert_eq!(baud_divisors(u32::MAX, 1), Err(ZxError::InvalidArgs)); // > 0xffff
    }

    #[test]
    fn init_programs_divisors_line_control_and_enables() {
        let (fake, uart) = fake_uart();
        uart.init(Some(48_000_000), 115_200).unwrap();
        assert_eq!(fake.word(IBRD_OFF), 26);
        assert_eq!(fake.word(FBRD_OFF), 3);
        assert_eq!(fake.word(LCR_H_OFF), 0x70); // WLEN = 8 bits, FEN
        assert_eq!(fake.word(CR_OFF), 0x301); // UARTEN | TXE | RXE
        assert_eq!(fake.word(ICR_OFF), 0x7ff);
    }

    #[test]
    fn init_without_a_clock_leaves_divisors_alone() {
        let (fake, uart) = fake_uart();
        fake.set_word(IBRD_OFF, 1);
        fake.set_word(FBRD_OFF, 40);
        uart.init(None, 115_200).unwrap();
        assert_eq!((fake.word(IBRD_OFF), fake.word(FBRD_OFF)), (1, 40));
        assert_eq!(fake.word(CR_OFF), 0x301);
        assert_eq!(uart.init(Some(48_000_000), 0), Err(ZxError::InvalidArgs));
    }

    #[test]
    fn newlines_become_crlf() {
        let out: alloc::vec::Vec<u8> = with_crlf(b"a\nb\n\n").collect();
        assert_eq!(out, b"a\r\nb\r\n\r\n");
        assert_eq!(with_crlf(b"").count(), 0);
        assert_eq!(with_crlf(b"\r\n").collect::<alloc::vec::Vec<u8>>(), b"\r\r\n");
    }

    #[test]
    fn write_byte_lands_in_the_data_register() {
        let (fake, uart) = fake_uart();
        uart.write_byte(b'A');
        assert_eq!(fake.word(DR_OFF), u32::from(b'A'));
        uart.write_bytes(b"ok\n");
        assert_eq!(fake.word(DR_OFF), u32::from(b'\n')); // the fake keeps the last byte
        uart.flush();
    }

    #[test]
    fn room_in_the_transmit_fifo_follows_the_flags() {
        let (fake, uart) = fake_uart();
        assert_eq!(uart.wait_for_room(), 1); // neither empty nor full: one byte fits
        fake.set_word(FR_OFF, 1 << 7); // TXFE: a whole FIFO fits
        assert_eq!(uart.wait_for_room(), TX_FIFO_BYTES);
        uart.write_bytes(b"0123456789abcdef\n"); // 18 bytes: two rounds
        assert_eq!(fake.word(DR_OFF), u32::from(b'\n'));
    }

    #[test]
    fn drain_clears_the_receive_interrupts_before_it_reads() {
        let (fake, uart) = fake_uart();
        fake.set_word(FR_OFF, 0); // never empty: the drain stops when `buf` is full
        fake.set_word(DR_OFF, u32::from(b'k'));
        let mut buf = [0u8; 3];
        assert_eq!(uart.drain_rx(&mut buf), 3);
        assert_eq!(&buf, b"kkk");
        // Cleared although the FIFO still held bytes: the clear comes first.
        assert_eq!(fake.word(ICR_OFF), IMSC_RX | IMSC_RT);
        fake.set_word(ICR_OFF, 0);
        fake.set_word(FR_OFF, 1 << 4); // RXFE
        assert_eq!(uart.drain_rx(&mut buf), 0);
        assert_eq!(fake.word(ICR_OFF), IMSC_RX | IMSC_RT);
    }

    #[test]
    fn read_byte_honours_rx_fifo_empty() {
        let (fake, uart) = fake_uart();
        fake.set_word(FR_OFF, 1 << 4);
        assert_eq!(uart.read_byte(), None);
        fake.set_word(FR_OFF, 0);
        fake.set_word(DR_OFF, 0x100 | u32::from(b'x')); // framing error bit above the data
        assert_eq!(uart.read_byte(), Some(b'x'));
    }
}
