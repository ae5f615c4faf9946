//! Safe constructors from mapped device registers: a `DeviceMapping` (only the MMU
//! code makes one) proves the registers are there, so drivers can be built without
//! `unsafe` in the kernel.

use super::bcm2711_gpio::{Bcm2711Gpio, UartAlt};
use super::console::{self, Sink};
use super::gic::Gic;
use super::gicv2::GicV2;
use super::gicv3::GicV3;
use super::mini_uart::MiniUart;
use super::pl011::Pl011;
use crate::arch::aarch64::mmu::DeviceMapping;
use crate::error::ZxResult;

/// Which UART the console uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleUart {
    /// An Arm PL011.
    Pl011,
    /// The BCM2835 mini UART (the mapping points at AUX_MU_IO).
    MiniUart,
}

/// Programs the UART (divisors only when the clock is known) and makes it the console,
/// or, with `mirror`, a second UART that receives a copy of the console.
pub fn attach_console(
    kind: ConsoleUart,
    regs: DeviceMapping,
    clock_hz: Option<u32>,
    baud: u32,
    mirror: bool,
) -> ZxResult {
    let sink = match kind {
        ConsoleUart::Pl011 => {
            // SAFETY: `regs` maps the PL011's registers for the kernel's life.
            let uart = unsafe { Pl011::new(regs.va()) };
            uart.init(clock_hz, baud)?;
            Sink::Pl011(regs.va())
        }
        ConsoleUart::MiniUart => {
            // SAFETY: `regs` maps AUX_MU_IO (and the AUX block before it) for life.
            let uart = unsafe { MiniUart::new(regs.va()) };
            uart.init(clock_hz, baud)?;
            Sink::MiniUart(regs.va())
        }
    };
    // SAFETY: the sink names the registers `regs` maps for the kernel's life.
    unsafe { if mirror { console::set_mirror(sink) } else { console::set_sink(sink) } }
    Ok(())
}

/// Routes GPIO 14/15 to the console UART (ALT0 for the PL011, ALT5 for the mini UART),
/// as a real Raspberry Pi needs.
pub fn route_uart_pins(gpio: DeviceMapping, kind: ConsoleUart) {
    // SAFETY: `gpio` maps the BCM2711 GPIO block for life.
    let gpio = unsafe { Bcm2711Gpio::new(gpio.va()) };
    gpio.select_uart_pins(match kind {
        ConsoleUart::Pl011 => UartAlt::Alt0,
        ConsoleUart::MiniUart => UartAlt::Alt5,
    });
}

/// A GICv2 from its mapped distributor and CPU interface.
pub fn gic_v2(distributor: DeviceMapping, cpu_interface: DeviceMapping) -> Gic {
    // SAFETY: both mappings cover the GIC's frames for life.
    Gic::V2(unsafe { GicV2::new(distributor.va(), cpu_interface.va()) })
}

/// A GICv3 from its mapped distributor and its whole mapped redistributor region.
pub fn gic_v3(distributor: DeviceMapping, redistributors: DeviceMapping) -> Gic {
    // SAFETY: both mappings cover the GIC's frames for life.
    Gic::V3(unsafe { GicV3::with_region(distributor.va(), redistributors.va(), redistributors.size() as usize) })
}
