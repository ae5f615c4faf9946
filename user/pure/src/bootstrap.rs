//! The bootstrap message: the first message on the channel a launched program gets in
//! x0, written by the launcher before the program starts. Its bytes say what each of its
//! handles is:
//!
//! | offset | field |
//! |---:|---|
//! | 0 | magic u32 [`MAGIC`] (`"BOOT"`) |
//! | 4 | count u32: the number of handles |
//! | 8 | count × tag u32, in the order of the message's handles |
//!
//! Tags below [`USER`] are the runtime's; programs pass their own from [`USER`] up.

use alloc::vec::Vec;

/// `"BOOT"` read as a little-endian u32.
pub const MAGIC: u32 = u32::from_le_bytes(*b"BOOT");
/// The program's root VMAR.
pub const ROOT_VMAR: u32 = 1;
/// The program's own process.
pub const PROCESS_SELF: u32 = 2;
/// The program's first thread.
pub const THREAD_SELF: u32 = 3;
/// The job the program runs in (it may start processes there).
pub const JOB: u32 = 4;
/// The root resource (console input, KMEM_STATS); only given to trusted programs.
pub const RESOURCE: u32 = 5;
/// The boot archive (read-only), to start further programs.
pub const BOOT_ARCHIVE: u32 = 6;
/// The root job (a system view for `ps`); only given to trusted programs.
pub const ROOT_JOB: u32 = 7;
/// First tag free for programs' own handles.
pub const USER: u32 = 0x100;

/// The bytes of a message carrying handles with these tags.
pub fn encode(tags: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + tags.len() * 4);
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&(tags.len() as u32).to_le_bytes());
    for t in tags {
        out.extend_from_slice(&t.to_le_bytes());
    }
    out
}

/// The tags of a message that carried `handles` handles; `None` when the bytes are not a
/// bootstrap message for that many handles.
pub fn decode(bytes: &[u8], handles: usize) -> Option<Vec<u32>> {
    let word = |at: usize| bytes.get(at..at + 4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    if word(0)? != MAGIC || word(4)? as usize != handles || bytes.len() != 8 + handles * 4 {
        return None;
    }
    (0..handles).map(|i| word(8 + i * 4)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let tags = [ROOT_VMAR, PROCESS_SELF, USER + 3];
        let bytes = encode(&tags);
        assert_eq!(decode(&bytes, 3).unwrap(), tags);
        assert_eq!(decode(&bytes, 2), None);
        assert_eq!(decode(&bytes[..10], 3), None);
        assert_eq!(decode(b"nope", 0), None);
        assert_eq!(decode(&encode(&[]), 0).unwrap(), Vec::<u32>::new());
    }
}
