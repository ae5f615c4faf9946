//! The machine as the device tree describes it (pure): RAM and reserved ranges, the
//! command line, the console UART, the GIC, the timer, PSCI and the CPUs, with
//! bus-to-CPU address translation.

mod bounded;
pub mod cmdline;
pub mod dt_error;
mod fdt_reader;
pub mod irq_spec;
pub mod machine;
pub mod phys_range;
mod translate;

pub use cmdline::{cmdline_flag, cmdline_value};
pub use machine::{Board, Cpu, EnableMethod, Gic, Machine, Psci, PsciMethod, Timer, Uart, UartKind};
pub use phys_range::PhysRange;
