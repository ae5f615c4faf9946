//! BCM2711 GPIO (Raspberry Pi 4): routing GPIO 14/15 to a UART.
//!
//! GPIO 14 (TXD) and 15 (RXD) carry the console. Function select ALT0 connects them to
//! the PL011 (UART0), ALT5 to the mini UART (UART1). The BCM2711 sets pulls through
//! GPIO_PUP_PDN_CNTRL_REG0..3 (two bits per pin); the BCM2835/7 GPPUD + GPPUDCLK
//! clocking sequence does not exist on this chip.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{LocalRegisterCopy, register_bitfields, register_structs};

use super::mmio::{MmioBlock, ReadOnly, ReadWrite, WriteOnly};

// ─────────────────────────────────────────────────────────────────────────────
// Register definitions (BCM2711 ARM Peripherals, chapter 5 "General Purpose I/O")
// ─────────────────────────────────────────────────────────────────────────────

register_bitfields! {u32,
    /// Function select for GPIO 10..=19 (three bits per pin).
    GPFSEL1 [
        /// GPIO 14: TXD0 on ALT0, TXD1 on ALT5.
        FSEL14 OFFSET(12) NUMBITS(3) [
            Input = 0b000,
            Output = 0b001,
            Alt0 = 0b100,
            Alt5 = 0b010
        ],
        /// GPIO 15: RXD0 on ALT0, RXD1 on ALT5.
        FSEL15 OFFSET(15) NUMBITS(3) [
            Input = 0b000,
            Output = 0b001,
            Alt0 = 0b100,
            Alt5 = 0b010
        ]
    ],

    /// Pull-up/down control for GPIO 0..=15 (two bits per pin).
    GPIO_PUP_PDN_CNTRL_REG0 [
        /// GPIO 14.
        GPIO_PUP_PDN_CNTRL14 OFFSET(28) NUMBITS(2) [
            NoResistor = 0b00,
            PullUp = 0b01,
            PullDown = 0b10
        ],
        /// GPIO 15.
        GPIO_PUP_PDN_CNTRL15 OFFSET(30) NUMBITS(2) [
            NoResistor = 0b00,
            PullUp = 0b01,
            PullDown = 0b10
        ]
    ]
}

register_structs! {
    /// The GPIO register block.
    #[allow(non_snake_case)]
    pub GpioRegisters {
        (0x00 => GPFSEL0: ReadWrite<u32>),
        (0x04 => GPFSEL1: ReadWrite<u32, GPFSEL1::Register>),
        (0x08 => GPFSEL2: ReadWrite<u32>),
        (0x0c => GPFSEL3: ReadWrite<u32>),
        (0x10 => GPFSEL4: ReadWrite<u32>),
        (0x14 => GPFSEL5: ReadWrite<u32>),
        (0x18 => _reserved0),
        (0x1c => GPSET0: WriteOnly<u32>),
        (0x20 => GPSET1: WriteOnly<u32>),
        (0x24 => _reserved1),
        (0x28 => GPCLR0: WriteOnly<u32>),
        (0x2c => GPCLR1: WriteOnly<u32>),
        (0x30 => _reserved2),
        (0x34 => GPLEV0: ReadOnly<u32>),
        (0x38 => GPLEV1: ReadOnly<u32>),
        (0x3c => _reserved3),
        (0xe4 => GPIO_PUP_PDN_CNTRL_REG0: ReadWrite<u32, GPIO_PUP_PDN_CNTRL_REG0::Register>),
        (0xe8 => GPIO_PUP_PDN_CNTRL_REG1: ReadWrite<u32>),
        (0xec => GPIO_PUP_PDN_CNTRL_REG2: ReadWrite<u32>),
        (0xf0 => GPIO_PUP_PDN_CNTRL_REG3: ReadWrite<u32>),
        (0xf4 => @END),
    }
}

// ─────────────────────────────────────────────────────────────────────────────
// Pure helpers
// ─────────────────────────────────────────────────────────────────────────────

/// Which UART GPIO 14/15 are connected to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartAlt {
    /// Alternate function 0: the PL011 (UART0).
    Alt0,
    /// Alternate function 5: the mini UART (UART1).
    Alt5,
}

/// The GPFSEL1 value with GPIO 14 and 15 switched to `alt`, every other pin's function
/// as in `old`.
pub fn gpfsel1_for_uart(old: u32, alt: UartAlt) -> u32 {
    let mut register = LocalRegisterCopy::<u32, GPFSEL1::Register>::new(old);
    register.modify(match alt {
        UartAlt::Alt0 => GPFSEL1::FSEL14::Alt0 + GPFSEL1::FSEL15::Alt0,
        UartAlt::Alt5 => GPFSEL1::FSEL14::Alt5 + GPFSEL1::FSEL15::Alt5,
    });
    register.get()
}

/// The GPIO_PUP_PDN_CNTRL_REG0 value with pull-ups on GPIO 14 and 15 (an idle UART
/// line is high), every other pin's pull as in `old`.
pub fn pull_control0_for_uart(old: u32) -> u32 {
    let mut register = LocalRegisterCopy::<u32, GPIO_PUP_PDN_CNTRL_REG0::Register>::new(old);
    register.modify(
        GPIO_PUP_PDN_CNTRL_REG0::GPIO_PUP_PDN_CNTRL14::PullUp + GPIO_PUP_PDN_CNTRL_REG0::GPIO_PUP_PDN_CNTRL15::PullUp,
    );
    register.get()
}

// ─────────────────────────────────────────────────────────────────────────────
// Driver
// ─────────────────────────────────────────────────────────────────────────────

/// The BCM2711 GPIO controller.
#[derive(Debug)]
pub struct Bcm2711Gpio {
    registers: MmioBlock<GpioRegisters>,
}

impl Bcm2711Gpio {
    /// A driver for the GPIO block at virtual address `base` (CPU physical 0xFE20_0000).
    ///
    /// # Safety
    ///
    /// 1. `base` is the virtual address of a BCM2711 GPIO block, mapped as device memory
    ///    for at least 0xF4 bytes for as long as the driver lives.
    /// 2. Nothing else changes GPFSEL1 or GPIO_PUP_PDN_CNTRL_REG0 while
    ///    [`select_uart_pins`](Self::select_uart_pins) runs (it reads, modifies and
    ///    writes them).
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` maps the GPIO registers (items 1-2).
        let registers = unsafe { MmioBlock::new(base) };
        Self { registers }
    }

    /// Connects GPIO 14/15 to the UART `alt` selects and pulls both lines up.
    pub fn select_uart_pins(&self, alt: UartAlt) {
        let regs = &self.registers;
        regs.GPFSEL1.set(gpfsel1_for_uart(regs.GPFSEL1.get(), alt));
        regs.GPIO_PUP_PDN_CNTRL_REG0.set(pull_control0_for_uart(regs.GPIO_PUP_PDN_CNTRL_REG0.get()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::mmio::FakeMmio;

    #[test]
    fn gpfsel1_sets_only_pins_14_and_15() {
        // Pins 14/15 at bits 12..14 and 15..17: ALT0 = 0b100, ALT5 = 0b010.
        assert_eq!(gpfsel1_for_uart(0, UartAlt::Alt0), 0b100_100 << 12);
        assert_eq!(gpfsel1_for_uart(0, UartAlt::Alt5), 0b010_010 << 12);
        // Other pins keep their functions; previous 14/15 functions are replaced.
        let old = 0xffff_ffff;
        assert_eq!(gpfsel1_for_uart(old, UartAlt::Alt0), 0xfffc_0fff | (0b100_100 << 12));
        assert_eq!(gpfsel1_for_uart(0x0000_1249, UartAlt::Alt5), 0x0001_2249);
    }

    #[test]
    fn pull_ups_for_pins_14_and_15() {
        assert_eq!(pull_control0_for_uart(0), 0x5000_0000);
        assert_eq!(pull_control0_for_uart(0xa000_0001), 0x5000_0001); // pull-downs replaced
        assert_eq!(pull_control0_for_uart(0x0fff_ffff), 0x5fff_ffff);
    }

    #[test]
    fn select_uart_pins_writes_both_registers() {
        let fake = FakeMmio::new(core::mem::size_of::<GpioRegisters>());
        fake.set_word(0x04, 0x0000_0009); // pins 10 and 11 are outputs
        // SAFETY: the fake is sized for the block and outlives the driver.
        let gpio = unsafe { Bcm2711Gpio::new(fake.base()) };
        gpio.select_uart_pins(UartAlt::Alt0);
        assert_eq!(fake.word(0x04), 0x0002_4009);
        assert_eq!(fake.word(0xe4), 0x5000_0000);
    }
}
