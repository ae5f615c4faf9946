//! The shell's line editor (bytes from the console in, what to echo and what happened
//! out) and its command-line splitting.
//!
//! Keys: printable ASCII inserts at the end; Backspace (DEL 0x7f or BS 0x08) erases the
//! last character; Ctrl-U erases the line; Ctrl-C abandons the line (or, to the shell,
//! interrupts the foreground program); Ctrl-D on an empty line is end of input; Enter
//! (`\n` — the kernel turns `\r` into `\n`) ends the line. Escape sequences (arrow keys)
//! are swallowed. Other control bytes are ignored.

use alloc::string::String;
use alloc::vec::Vec;

/// Ctrl-C.
pub const CTRL_C: u8 = 0x03;
/// Ctrl-D.
pub const CTRL_D: u8 = 0x04;
/// Ctrl-U.
pub const CTRL_U: u8 = 0x15;
/// The longest line kept (more input is ignored until Enter).
pub const MAX_LINE: usize = 256;

/// What a byte did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Nothing for the caller to do beyond echoing.
    None,
    /// A complete line (without its newline).
    Line(String),
    /// Ctrl-C.
    Interrupt,
    /// Ctrl-D on an empty line.
    Eof,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Escape {
    No,
    Started,
    Csi,
}

/// The line being typed.
#[derive(Debug)]
pub struct LineEditor {
    line: String,
    escape: Escape,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    /// An empty line.
    pub const fn new() -> LineEditor {
        LineEditor { line: String::new(), escape: Escape::No }
    }

    /// The text typed so far.
    pub fn text(&self) -> &str {
        &self.line
    }

    /// Feeds one byte: appends what to echo to `echo` and says what happened.
    pub fn feed(&mut self, byte: u8, echo: &mut Vec<u8>) -> Event {
        match self.escape {
            Escape::Started => {
                self.escape = if byte == b'[' || byte == b'O' { Escape::Csi } else { Escape::No };
                return Event::None;
            }
            Escape::Csi => {
                // Parameters and intermediates are 0x20..=0x3f; the final byte ends it.
                if !(0x20..=0x3f).contains(&byte) {
                    self.escape = Escape::No;
                }
                return Event::None;
            }
            Escape::No => {}
        }
        match byte {
            b'\n' | b'\r' => {
                echo.extend_from_slice(b"\n");
                Event::Line(core::mem::take(&mut self.line))
            }
            0x7f | 0x08 => {
                if self.line.pop().is_some() {
                    echo.extend_from_slice(b"\x08 \x08");
                }
                Event::None
            }
            CTRL_U => {
                for _ in 0..self.line.len() {
                    echo.extend_from_slice(b"\x08 \x08");
                }
                self.line.clear();
                Event::None
            }
            CTRL_C => {
                echo.extend_from_slice(b"^C\n");
                self.line.clear();
                Event::Interrupt
            }
            CTRL_D => {
                if self.line.is_empty() {
                    Event::Eof
                } else {
                    Event::None
                }
            }
            0x1b => {
                self.escape = Escape::Started;
                Event::None
            }
            0x20..=0x7e => {
                if self.line.len() < MAX_LINE {
                    self.line.push(byte as char);
                    echo.push(byte);
                }
                Event::None
            }
            _ => Event::None,
        }
    }
}

/// A command line split into words, with a trailing `&` (background) taken off.
#[derive(Debug, PartialEq, Eq)]
pub struct Command<'a> {
    /// The words (the first is the command).
    pub words: Vec<&'a str>,
    /// Ended with `&`.
    pub background: bool,
}

/// Splits a line at spaces and tabs; `&` at the end (alone or stuck to the last word)
/// asks for the background. `#` starts a comment.
pub fn split(line: &str) -> Command<'_> {
    let line = line.split('#').next().unwrap_or("");
    let mut line = line.trim_end();
    let mut background = false;
    if let Some(rest) = line.strip_suffix('&') {
        background = true;
        line = rest;
    }
    Command { words: line.split([' ', '\t']).filter(|w| !w.is_empty()).collect(), background }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn type_all(ed: &mut LineEditor, bytes: &[u8]) -> (Vec<Event>, Vec<u8>) {
        let mut echo = Vec::new();
        let events = bytes.iter().map(|&b| ed.feed(b, &mut echo)).filter(|e| *e != Event::None).collect();
        (events, echo)
    }

    #[test]
    fn typing_backspace_and_enter() {
        let mut ed = LineEditor::new();
        let (events, echo) = type_all(&mut ed, b"lsx\x7f -l\n");
        assert_eq!(events, vec![Event::Line("ls -l".into())]);
        assert_eq!(echo, b"lsx\x08 \x08 -l\n");
        // Backspace on an empty line echoes nothing.
        let (events, echo) = type_all(&mut ed, b"\x08\x08\n");
        assert_eq!(events, vec![Event::Line(String::new())]);
        assert_eq!(echo, b"\n");
    }

    #[test]
    fn ctrl_c_ctrl_d_ctrl_u_and_escapes() {
        let mut ed = LineEditor::new();
        let (events, _) = type_all(&mut ed, b"abc\x03");
        assert_eq!(events, vec![Event::Interrupt]);
        assert_eq!(ed.text(), "");
        let (events, _) = type_all(&mut ed, b"x\x04");
        assert_eq!(events, vec![]);
        let (events, echo) = type_all(&mut ed, b"\x15\x04");
        assert_eq!(events, vec![Event::Eof]);
        assert_eq!(echo, b"\x08 \x08");
        // Arrow keys (ESC [ A) and a longer CSI sequence leave no trace.
        let (events, echo) = type_all(&mut ed, b"a\x1b[A\x1b[1;5Cb\n");
        assert_eq!(events, vec![Event::Line("ab".into())]);
        assert_eq!(echo, b"ab\n");
    }

    #[test]
    fn long_lines_are_capped() {
        let mut ed = LineEditor::new();
        let mut echo = Vec::new();
        for _ in 0..MAX_LINE + 10 {
            ed.feed(b'a', &mut echo);
        }
        assert_eq!(ed.text().len(), MAX_LINE);
        assert_eq!(echo.len(), MAX_LINE);
    }

    #[test]
    fn every_byte_sequence_is_safe() {
        let mut ed = LineEditor::new();
        let mut echo = Vec::new();
        for i in 0..100_000u32 {
            let b = (i.wrapping_mul(2654435761) >> 13) as u8;
            ed.feed(b, &mut echo);
            assert!(ed.text().len() <= MAX_LINE);
            echo.clear();
        }
    }

    #[test]
    fn splitting_commands() {
        assert_eq!(split("  echo  a\tb  "), Command { words: vec!["echo", "a", "b"], background: false });
        assert_eq!(split("demo-spin 4 &"), Command { words: vec!["demo-spin", "4"], background: true });
        assert_eq!(split("demo-spin&"), Command { words: vec!["demo-spin"], background: true });
        assert_eq!(split("# nothing"), Command { words: vec![], background: false });
        assert_eq!(split(""), Command { words: vec![], background: false });
    }
}
