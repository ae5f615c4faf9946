//! `print!` and `println!` over `zx_debug_write`.
//!
//! Each macro call formats into a line buffer on the stack and writes it with as few
//! syscalls as it can, so a line normally reaches the console in one piece.

use core::fmt;

/// A formatter that collects output and hands it to `zx_debug_write` when full or dropped.
pub struct Console {
    buf: [u8; 256],
    len: usize,
}

impl Console {
    /// An empty console buffer.
    pub const fn new() -> Console {
        Console { buf: [0; 256], len: 0 }
    }

    /// Writes out whatever is buffered.
    pub fn flush(&mut self) {
        if self.len > 0 {
            let _ = crate::zx::debug_write(&self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl Default for Console {
    fn default() -> Console {
        Console::new()
    }
}

impl fmt::Write for Console {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for &byte in text.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = byte;
            self.len += 1;
        }
        Ok(())
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Formats and writes `args` to the console.
pub fn print_args(args: fmt::Arguments<'_>) {
    let mut console = Console::new();
    let _ = fmt::write(&mut console, args);
}

/// Prints to the console.
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::print_args(format_args!($($arg)*)) };
}

/// Prints to the console, with a newline.
#[macro_export]
macro_rules! println {
    () => { $crate::console::print_args(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::console::print_args(format_args!("{}\n", format_args!($($arg)*))) };
}

/// A fixed-size text buffer that keeps what fits and drops the rest (for messages built
/// without an allocator).
pub struct TextBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> TextBuf<N> {
    /// An empty buffer.
    pub const fn new() -> Self {
        TextBuf { bytes: [0; N], len: 0 }
    }

    /// The text so far (cut at a character boundary if it overflowed).
    pub fn as_str(&self) -> &str {
        match core::str::from_utf8(&self.bytes[..self.len]) {
            Ok(text) => text,
            Err(err) => core::str::from_utf8(&self.bytes[..err.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl<const N: usize> Default for TextBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for TextBuf<N> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let room = N - self.len;
        let take = text.len().min(room);
        self.bytes[self.len..self.len + take].copy_from_slice(&text.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}
