//! The kernel command line (`/chosen/bootargs`): `key=value` and bare-flag parameters.
//!
//! The rules follow Linux's `next_arg()`: parameters are separated by ASCII
//! whitespace, double quotes group spaces into one parameter (`key="a b"` gives the
//! value `a b`; the quotes are not part of it), and a bare `--` ends the kernel's
//! parameters (everything after it belongs to init).

/// One parameter: its key and, for `key=value`, its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmdlineArg<'a> {
    /// Text before the first `=` (or the whole parameter).
    pub key: &'a str,
    /// Text after the first `=`, quotes removed; `None` for a bare flag.
    pub value: Option<&'a str>,
}

/// The parameters of `cmdline`, in order, up to a bare `--`.
pub fn cmdline_args(cmdline: &str) -> impl Iterator<Item = CmdlineArg<'_>> {
    let mut rest = cmdline;
    core::iter::from_fn(move || {
        rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
        if rest.is_empty() {
            return None;
        }
        // The parameter ends at the first whitespace outside double quotes.
        let mut in_quotes = false;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    in_quotes = !in_quotes;
                }
                c.is_ascii_whitespace() && !in_quotes
            })
            .map_or(rest.len(), |(i, _)| i);
        let (raw, remainder) = rest.split_at(end);
        rest = remainder;
        if raw == "--" {
            rest = "";
            return None;
        }
        // A parameter quoted as a whole ("key=value") loses its outer quotes.
        let param = strip_quotes(raw);
        Some(match param.split_once('=') {
            Some((key, value)) => CmdlineArg { key, value: Some(strip_quotes(value)) },
            None => CmdlineArg { key: param, value: None },
        })
    })
}

/// `text` without one leading `"` and, if then present, one trailing `"`.
fn strip_quotes(text: &str) -> &str {
    match text.strip_prefix('"') {
        Some(inner) => inner.strip_suffix('"').unwrap_or(inner),
        None => text,
    }
}

/// The value of the last `key=value` parameter for `key` (later parameters override
/// earlier ones, as in Linux). `key=` gives `Some("")`; a bare `key` gives `None`.
pub fn cmdline_value<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline_args(cmdline).filter(|arg| arg.key == key).filter_map(|arg| arg.value).last()
}

/// True when `key` appears as a bare flag (`quiet`, not `quiet=...`).
pub fn cmdline_flag(cmdline: &str, key: &str) -> bool {
    cmdline_args(cmdline).any(|arg| arg.key == key && arg.value.is_none())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn values_and_flags() {
        let line = "console=ttyAMA0 loglevel=debug quiet root= ";
        assert_eq!(cmdline_value(line, "console"), Some("ttyAMA0"));
        assert_eq!(cmdline_value(line, "loglevel"), Some("debug"));
        assert_eq!(cmdline_value(line, "root"), Some(""));
        assert_eq!(cmdline_value(line, "quiet"), None);
        assert_eq!(cmdline_value(line, "missing"), None);
        assert_eq!(cmdline_value(line, "log"), None); // no prefix matches
        assert!(cmdline_flag(line, "quiet"));
        assert!(!cmdline_flag(line, "console"));
        assert!(!cmdline_flag(line, "qui"));
        assert!(!cmdline_flag("", "quiet"));
    }

    #[test]
    fn last_value_wins_and_double_dash_ends() {
        let line = "loglevel=3 loglevel=7 -- loglevel=1 quiet";
        assert_eq!(cmdline_value(line, "loglevel"), Some("7"));
        assert!(!cmdline_flag(line, "quiet"));
    }

    #[test]
    fn quotes_group_spaces() {
        let line = "\tinit=/bin/sh dyndbg=\"file a.c +p\"  \"opt=x y\" tail";
        let args: Vec<_> = cmdline_args(line).collect();
        assert_eq!(args.len(), 4);
        assert_eq!(cmdline_value(line, "dyndbg"), Some("file a.c +p"));
        assert_eq!(cmdline_value(line, "opt"), Some("x y"));
        assert!(cmdline_flag(line, "tail"));
        assert_eq!(cmdline_value("k=\"unterminated", "k"), Some("unterminated"));
        assert_eq!(cmdline_value("a=b=c", "a"), Some("b=c"));
    }
}
