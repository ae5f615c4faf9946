//! Device drivers over MMIO (tock-registers register blocks): the console UARTs, the
//! Raspberry Pi's GPIO pin setup and the GIC. The only other place besides `arch` where
//! `unsafe` is allowed: turning a mapped address into a register block. The register
//! sequences and pure helpers also build on the host, where their unit tests run against
//! fake register files; the console and the attach glue need the kernel target.

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod attach;
pub mod bcm2711_gpio;
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod console;
pub mod gic;
pub mod gicv2;
pub mod gicv3;
pub mod mini_uart;
pub mod mmio;
pub mod pl011;
