//! The argument block a launched program finds at the top of its stack (x1 at entry
//! points at it; the stack pointer starts just below it). Little-endian:
//!
//! | offset | field |
//! |---:|---|
//! | 0 | magic u32 [`MAGIC`] (`"ARGS"`) |
//! | 4 | version u32, 1 |
//! | 8 | total_len u64: bytes of the whole block |
//! | 16 | argc u64 |
//! | 24 | argc × (address u64, length u64) of each argument's bytes |
//! | … | the arguments' bytes, each followed by a NUL |
//!
//! The block starts on a 16-byte boundary and ends at or below the stack top; its
//! addresses point into itself. `argv[0]` is the program's name.

use alloc::vec::Vec;

/// `"ARGS"` read as a little-endian u32.
pub const MAGIC: u32 = u32::from_le_bytes(*b"ARGS");
/// Bytes before the (address, length) pairs.
pub const HEADER_LEN: usize = 24;
/// Largest block [`build`] makes.
pub const MAX_LEN: usize = 64 * 1024;

/// Why a block was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgsError {
    /// The arguments do not fit in [`MAX_LEN`].
    TooBig,
    /// Wrong magic, version or length.
    BadHeader,
    /// An argument lies outside the block or is not UTF-8.
    BadArgument,
}

/// Lays out `args` for a stack whose top is `stack_top`: returns the block's address
/// (16-aligned, also the new stack pointer) and its bytes.
pub fn build(args: &[&str], stack_top: u64) -> Result<(u64, Vec<u8>), ArgsError> {
    let strings: usize = args.iter().map(|a| a.len() + 1).sum();
    let raw_len = HEADER_LEN + args.len() * 16 + strings;
    let total = (raw_len + 15) & !15;
    if total > MAX_LEN {
        return Err(ArgsError::TooBig);
    }
    let base = stack_top.checked_sub(total as u64).ok_or(ArgsError::TooBig)? & !15;
    let mut block = Vec::with_capacity(total);
    block.extend_from_slice(&MAGIC.to_le_bytes());
    block.extend_from_slice(&1u32.to_le_bytes());
    block.extend_from_slice(&(total as u64).to_le_bytes());
    block.extend_from_slice(&(args.len() as u64).to_le_bytes());
    let mut at = (HEADER_LEN + args.len() * 16) as u64;
    for a in args {
        block.extend_from_slice(&(base + at).to_le_bytes());
        block.extend_from_slice(&(a.len() as u64).to_le_bytes());
        at += a.len() as u64 + 1;
    }
    for a in args {
        block.extend_from_slice(a.as_bytes());
        block.push(0);
    }
    block.resize(total, 0);
    Ok((base, block))
}

/// The total length a block's header announces (to know how much to read), checked
/// against the magic and version.
pub fn total_len(header: &[u8; HEADER_LEN]) -> Result<usize, ArgsError> {
    let word = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or([0; 8]));
    if header[..4] != MAGIC.to_le_bytes() || header[4..8] != 1u32.to_le_bytes() {
        return Err(ArgsError::BadHeader);
    }
    let total = word(8);
    if total < HEADER_LEN as u64 || total > MAX_LEN as u64 {
        return Err(ArgsError::BadHeader);
    }
    Ok(total as usize)
}

/// The arguments of a block found at `base`.
pub fn parse(block: &[u8], base: u64) -> Result<Vec<&str>, ArgsError> {
    let header: &[u8; HEADER_LEN] =
        block.get(..HEADER_LEN).and_then(|h| h.try_into().ok()).ok_or(ArgsError::BadHeader)?;
    if total_len(header)? != block.len() {
        return Err(ArgsError::BadHeader);
    }
    let word = |at: usize| block.get(at..at + 8).map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
    let argc = word(16).ok_or(ArgsError::BadHeader)?;
    if argc > (block.len() as u64 - HEADER_LEN as u64) / 16 {
        return Err(ArgsError::BadHeader);
    }
    let mut out = Vec::with_capacity(argc as usize);
    for i in 0..argc as usize {
        let addr = word(HEADER_LEN + i * 16).ok_or(ArgsError::BadArgument)?;
        let len = word(HEADER_LEN + i * 16 + 8).ok_or(ArgsError::BadArgument)?;
        let start = addr.checked_sub(base).ok_or(ArgsError::BadArgument)?;
        let end = start.checked_add(len).ok_or(ArgsError::BadArgument)?;
        if end > block.len() as u64 {
            return Err(ArgsError::BadArgument);
        }
        let text = core::str::from_utf8(&block[start as usize..end as usize]).map_err(|_| ArgsError::BadArgument)?;
        out.push(text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_layout() {
        let args = ["demo-pingpong", "rounds=10", "", "héllo"];
        let top = 0x7000_1000_0000u64 + 8;
        let (base, block) = build(&args, top).unwrap();
        assert_eq!(base % 16, 0);
        assert!(base + block.len() as u64 <= top);
        assert_eq!(block.len() % 16, 0);
        let header: &[u8; HEADER_LEN] = block[..HEADER_LEN].try_into().unwrap();
        assert_eq!(total_len(header), Ok(block.len()));
        assert_eq!(parse(&block, base).unwrap(), args);
        // Each argument is NUL-terminated in place (for C-style readers).
        let first = u64::from_le_bytes(block[24..32].try_into().unwrap()) - base;
        assert_eq!(&block[first as usize..first as usize + 14], b"demo-pingpong\0");
    }

    #[test]
    fn empty_and_too_big() {
        let (base, block) = build(&[], 0x1000).unwrap();
        assert_eq!(parse(&block, base).unwrap(), Vec::<&str>::new());
        let big = alloc::string::String::from_utf8(alloc::vec![b'x'; MAX_LEN]).unwrap();
        assert_eq!(build(&[&big], 1 << 40), Err(ArgsError::TooBig));
        assert_eq!(build(&["a"], 8), Err(ArgsError::TooBig));
    }

    #[test]
    fn corrupted_blocks_are_refused_not_trusted() {
        let (base, block) = build(&["one", "two"], 1 << 30).unwrap();
        for at in 0..block.len() {
            for v in [0u8, 0xff, 0x41] {
                let mut b = block.clone();
                b[at] = v;
                if let Ok(args) = parse(&b, base) {
                    for a in args {
                        assert!(a.len() <= b.len());
                    }
                }
            }
        }
        assert_eq!(parse(&block, base + 64), Err(ArgsError::BadArgument));
        assert_eq!(parse(&block[..40], base), Err(ArgsError::BadHeader));
    }
}
