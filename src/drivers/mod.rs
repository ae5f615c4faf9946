//! Device drivers over MMIO (tock-registers register blocks): the console UARTs, the
//! Raspberry Pi's GPIO pin setup and the GIC. The only other place besides `arch` where
//! `unsafe` is allowed: turning a mapped address into a register block.

pub mod attach;
pub mod bcm2711_gpio;
pub mod console;
pub mod gic;
pub mod gicv2;
pub mod gicv3;
pub mod mini_uart;
pub mod mmio;
pub mod pl011;
