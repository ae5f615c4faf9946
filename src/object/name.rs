//! Object names (`ZX_PROP_NAME`): at most 31 bytes, NUL padded to 32.
//!
//! A [`Name`] is kept as four little-endian words so that the kernel stores, moves and
//! compares it as four words (as a byte array it was copied with `memcpy` a byte at a
//! time when it lay at an odd address), and cutting a name read from user space at its
//! first NUL is a test of four words, not a loop over bytes.

/// A name: bytes up to the first NUL (at most 31), then NUL bytes up to 32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name([u64; 4]);

/// One in every byte.
const ONES: u64 = 0x0101_0101_0101_0101;
/// The top bit of every byte.
const HIGHS: u64 = 0x8080_8080_8080_8080;

impl Name {
    /// The empty name.
    pub const EMPTY: Name = Name([0; 4]);

    /// The name `bytes` starts with: up to its first NUL, at most 31 bytes.
    pub fn new(bytes: &[u8]) -> Name {
        let mut padded = [0u8; 32];
        let len = bytes.len().min(32);
        padded[..len].copy_from_slice(&bytes[..len]);
        Name::from_padded(padded)
    }

    /// The name 32 bytes hold: cut at their first NUL, and at 31 bytes.
    pub fn from_padded(bytes: [u8; 32]) -> Name {
        let mut words = [0u64; 4];
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut le = [0u8; 8];
            le.copy_from_slice(chunk);
            *w = u64::from_le_bytes(le);
        }
        // The 32nd byte is always the terminator.
        words[3] &= u64::MAX >> 8;
        let mut ended = false;
        for w in words.iter_mut() {
            if ended {
                *w = 0;
                continue;
            }
            // The lowest set bit of this is the top bit of the word's first zero byte
            // (a borrow can set bits only above a zero byte, never below the first).
            let zeros = w.wrapping_sub(ONES) & !*w & HIGHS;
            if zeros != 0 {
                let first = zeros.trailing_zeros() / 8;
                // Keep the bytes below the first zero one (none when it is byte 0).
                *w &= (1u64 << (first * 8)).wrapping_sub(1);
                ended = true;
            }
        }
        Name(words)
    }

    /// The 32 bytes: the name and NUL padding.
    pub fn bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (chunk, word) in out.chunks_exact_mut(8).zip(self.0) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        out
    }

    /// The four words (little-endian bytes).
    pub const fn words(&self) -> [u64; 4] {
        self.0
    }

    /// The name whose words are `words`, as [`Name::words`] gave them.
    pub const fn from_words(words: [u64; 4]) -> Name {
        Name(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: bytes up to the first NUL or the end, at most 31, then zeros.
    fn reference(bytes: &[u8]) -> [u8; 32] {
        let mut name = [0u8; 32];
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len()).min(31);
        name[..len].copy_from_slice(&bytes[..len]);
        name
    }

    #[test]
    fn cuts_at_the_first_nul_and_at_31_bytes() {
        let cases: [&[u8]; 9] = [
            b"",
            b"\0",
            b"a",
            b"bench",
            b"abc\0def",
            b"abcdefgh\0ijklmnop",
            b"0123456789abcdef0123456789abcdef",
            b"0123456789abcdef0123456789abcdefXYZ",
            b"0123456789abcde\x80\xff\x01\0zz",
        ];
        for bytes in cases {
            assert_eq!(Name::new(bytes).bytes(), reference(bytes), "{bytes:?}");
        }
    }

    #[test]
    fn every_position_of_one_nul_and_bytes_that_borrow() {
        // A NUL at each position among bytes 0x01 and 0x80/0xff (whose neighbours make
        // the zero-byte test borrow), and no NUL at all.
        for fill in [0x01u8, 0x80, 0xff, 0x41] {
            for nul in 0..=32 {
                let mut bytes = [fill; 32];
                if nul < 32 {
                    bytes[nul] = 0;
                }
                let name = Name::from_padded(bytes);
                assert_eq!(name.bytes(), reference(&bytes), "fill {fill:#x} nul {nul}");
                assert_eq!(Name::from_words(name.words()), name);
            }
        }
    }

    #[test]
    fn a_short_read_is_zero_padded() {
        // What `zx_thread_create` does: `len` bytes read into zeros.
        for len in 0..=32 {
            let mut bytes = [0u8; 32];
            bytes[..len].fill(b'x');
            assert_eq!(Name::from_padded(bytes).bytes(), reference(&bytes[..len]));
        }
    }
}
