//! `print!` and `println!` over `zx_debug_write`. One call's output is written in one
//! piece (up to 4096 bytes), so lines of different threads and processes do not mix.

use core::fmt::Write;

/// Collects formatted output and writes it with one `zx_debug_write` per 1 KiB.
struct Buffered {
    buf: [u8; 1024],
    len: usize,
}

impl Buffered {
    fn flush(&mut self) {
        zx::debug_write(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl Write for Buffered {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Writes formatted text to the console (used by [`print!`](crate::print!)).
pub fn print_fmt(args: core::fmt::Arguments<'_>) {
    let mut out = Buffered { buf: [0; 1024], len: 0 };
    let _ = out.write_fmt(args);
    out.flush();
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::print::print_fmt(format_args!($($arg)*)) };
}

/// Prints to the console, with a newline.
#[macro_export]
macro_rules! println {
    () => { $crate::print::print_fmt(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::print::print_fmt(format_args!("{}\n", format_args!($($arg)*))) };
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let name = crate::startup_name();
    crate::println!("{name}: panic: {info}");
    zx::process_exit(1)
}
