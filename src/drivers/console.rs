//! The kernel console: the UART the device tree names, or semihosting before there is
//! one (and when there is none), and the `log` backend with a level set by the command
//! line (`loglevel=debug`).

use crate::arch::aarch64::semihosting;
use crate::drivers::mini_uart::MiniUart;
use crate::drivers::pl011::Pl011;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Mutex;

/// Where console bytes go.
#[derive(Clone, Copy)]
pub enum Sink {
    /// Nothing found yet: semihosting, if the host answers.
    Early,
    /// An Arm PL011 whose registers are mapped at this virtual address.
    Pl011(usize),
    /// The BCM2835 auxiliary mini UART, its AUX_MU registers mapped at this address.
    MiniUart(usize),
}

impl Sink {
    fn write_bytes(self, bytes: &[u8]) {
        match self {
            Sink::Early => semihosting::write0(bytes),
            // SAFETY: `set_sink` callers map the device before naming it here, and the
            // mapping is never removed.
            Sink::Pl011(base) => unsafe { Pl011::new(base) }.write_bytes(bytes),
            // SAFETY: as above.
            Sink::MiniUart(base) => unsafe { MiniUart::new(base) }.write_bytes(bytes),
        }
    }
}

impl Sink {
    /// Takes received bytes into `buf` from a PL011 (when `pl011`) or a mini UART (when
    /// `mini`); returns how many.
    fn read_bytes(self, buf: &mut [u8], pl011: bool, mini: bool) -> usize {
        match self {
            // SAFETY: as in `write_bytes`.
            Sink::Pl011(base) if pl011 => unsafe { Pl011::new(base) }.drain_rx(buf),
            Sink::MiniUart(base) if mini => {
                // SAFETY: as in `write_bytes`.
                let uart = unsafe { MiniUart::new(base) };
                let mut n = 0;
                while n < buf.len() {
                    let Some(byte) = uart.read_byte() else { break };
                    buf[n] = byte;
                    n += 1;
                }
                n
            }
            _ => 0,
        }
    }

    fn enable_rx_interrupt(self) {
        if let Sink::Pl011(base) = self {
            // SAFETY: as in `write_bytes`.
            unsafe { Pl011::new(base) }.enable_rx_interrupt();
        }
    }
}

/// Console input: takes bytes received by the console UARTs (the primary and the
/// mirror) into `buf` and returns how many, from the PL011s when `pl011` and from the
/// mini UARTs when `mini`.
pub fn read_input(buf: &mut [u8], pl011: bool, mini: bool) -> usize {
    let (primary, mirror) = *CONSOLE.lock();
    let n = primary.read_bytes(buf, pl011, mini);
    n + mirror.map_or(0, |m| m.read_bytes(&mut buf[n..], pl011, mini))
}

/// Turns on the receive interrupt of every PL011 the console uses.
pub fn enable_input_interrupts() {
    let (primary, mirror) = *CONSOLE.lock();
    primary.enable_rx_interrupt();
    if let Some(mirror) = mirror {
        mirror.enable_rx_interrupt();
    }
}

/// Which kinds of UART the console uses: (a PL011, a mini UART).
pub fn input_uarts() -> (bool, bool) {
    let (primary, mirror) = *CONSOLE.lock();
    let is = |sink: Option<Sink>, pl011: bool| match sink {
        Some(Sink::Pl011(_)) => pl011,
        Some(Sink::MiniUart(_)) => !pl011,
        _ => false,
    };
    (is(Some(primary), true) || is(mirror, true), is(Some(primary), false) || is(mirror, false))
}

/// The console: a primary sink and an optional mirror (on the Raspberry Pi the
/// stdout-path UART is the mini UART, and the PL011 is mirrored so that QEMU's first
/// serial port shows the console too).
static CONSOLE: Mutex<(Sink, Option<Sink>)> = Mutex::new((Sink::Early, None));

/// Switches the console to a UART.
///
/// # Safety
/// The UART's registers must be mapped (Device memory) at the address in `sink` for the
/// rest of the kernel's life.
pub unsafe fn set_sink(sink: Sink) {
    CONSOLE.lock().0 = sink;
}

/// Adds a second UART that receives a copy of everything.
///
/// # Safety
/// As for [`set_sink`].
pub unsafe fn set_mirror(sink: Sink) {
    CONSOLE.lock().1 = Some(sink);
}

/// The CPU writing to the console now, as its index + 1 (0: none). Held across one
/// whole write (the bytes of one `zx_debug_write`, one formatted kernel line), so that
/// writes from different CPUs never interleave (ABI.md section 7, "Console"). The holder
/// may take it again (a panic while it prints), so the panic path cannot deadlock on it.
/// Kernel code runs with interrupts masked, so a holder is never stopped midway.
static WRITER: AtomicUsize = AtomicUsize::new(0);

/// Holds [`WRITER`]; `owned` is false for a nested acquisition by the same CPU.
struct WriterGuard {
    owned: bool,
}

fn lock_writer() -> WriterGuard {
    let me = crate::arch::aarch64::percpu::cpu_index() + 1;
    if WRITER.load(Ordering::Relaxed) == me {
        return WriterGuard { owned: false };
    }
    while WRITER.compare_exchange_weak(0, me, Ordering::Acquire, Ordering::Relaxed).is_err() {
        // Another CPU holds the console: let it run (see `spin_wait_hint`).
        crate::arch::aarch64::cpu::spin_wait_hint();
    }
    WriterGuard { owned: true }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if self.owned {
            WRITER.store(0, Ordering::Release);
        }
    }
}

fn write_unlocked(bytes: &[u8]) {
    let (primary, mirror) = *CONSOLE.lock();
    primary.write_bytes(bytes);
    if let Some(mirror) = mirror {
        mirror.write_bytes(bytes);
    }
}

/// Writes bytes verbatim (used by `zx_debug_write`), all together.
pub fn write_bytes(bytes: &[u8]) {
    let _writer = lock_writer();
    write_unlocked(bytes);
}

struct ConsoleWriter;

impl Write for ConsoleWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_unlocked(s.as_bytes());
        Ok(())
    }
}

/// Formats to the console, all of it together.
pub fn print(args: fmt::Arguments<'_>) {
    let _writer = lock_writer();
    let _ = ConsoleWriter.write_fmt(args);
}

/// `println!` for the kernel console.
#[macro_export]
macro_rules! kprintln {
    () => { $crate::drivers::console::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::drivers::console::print(format_args!("{}\n", format_args!($($arg)*))) };
}

struct Logger;

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            let secs = crate::kernel::irq::uptime_nanos();
            print(format_args!(
                "[{:>4}.{:06}] {:<5} {}\n",
                secs / 1_000_000_000,
                (secs % 1_000_000_000) / 1000,
                record.level(),
                record.args()
            ));
        }
    }

    fn flush(&self) {}
}

static LOGGER: Logger = Logger;

/// Installs the logger with the level named by `loglevel=` on the command line
/// (error, warn, info, debug, trace; default info).
pub fn init_logging(cmdline: &str) {
    let level = match crate::platform::cmdline_value(cmdline, "loglevel") {
        Some("error") => log::LevelFilter::Error,
        Some("warn") => log::LevelFilter::Warn,
        Some("debug") => log::LevelFilter::Debug,
        Some("trace") => log::LevelFilter::Trace,
        Some("off") => log::LevelFilter::Off,
        _ => log::LevelFilter::Info,
    };
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}
