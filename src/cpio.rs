//! The initrd as a cpio "newc" archive (ABI.md §2): walking and checking its headers,
//! finding the program named by `init=`, and the one console line that says why an
//! archive was refused.
//!
//! The archive is untrusted bytes. Every read goes through `get`, every offset sum is
//! checked, and nothing is allocated: errors carry a copy of at most
//! [`SHORT_NAME_LEN`] bytes of the name they are about, so no input can make the reader
//! panic or run the kernel out of memory.
//!
//! Layout of one member, offsets counted from the start of the archive:
//!
//! ```text
//!  offset          110-byte header: "070701" (or "070702") + 13 fields of 8 hex digits
//!  offset + 110    name, c_namesize bytes, the last one NUL
//!  align4(..)      data, c_filesize bytes
//!  align4(..)      the next header
//! ```
//!
//! The member named `TRAILER!!!` ends the archive; what follows it is padding and is
//! never read.

use core::fmt;

/// Bytes of a header: the magic and 13 fields of 8 hexadecimal digits.
pub const HEADER_LEN: usize = 110;
/// The name of the member that ends an archive.
pub const TRAILER: &str = "TRAILER!!!";
/// The program started when the command line has no `init=` word.
pub const DEFAULT_INIT: &str = "bin/init";
/// Bytes of a name kept in a [`CpioError`] (the rest is shown as `...`).
pub const SHORT_NAME_LEN: usize = 64;

/// The "newc" magic.
const MAGIC_NEWC: &[u8; 6] = b"070701";
/// The "crc" variant: the same layout, with a checksum in `c_check` that ABI.md says is
/// not verified (the bytes came from the boot loader, not over a wire).
const MAGIC_CRC: &[u8; 6] = b"070702";
const MAGIC_LEN: usize = 6;
const FIELD_LEN: usize = 8;

/// The header fields in archive order, for error messages.
const FIELD_NAMES: [&str; FIELD_COUNT] = [
    "c_ino",
    "c_mode",
    "c_uid",
    "c_gid",
    "c_nlink",
    "c_mtime",
    "c_filesize",
    "c_devmajor",
    "c_devminor",
    "c_rdevmajor",
    "c_rdevminor",
    "c_namesize",
    "c_check",
];
const FIELD_COUNT: usize = 13;
const C_MODE: usize = 1;
const C_FILESIZE: usize = 6;
const C_NAMESIZE: usize = 11;

/// The file-type bits of `c_mode` and the value for a regular file (`S_IFMT`, `S_IFREG`).
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;

/// At most [`SHORT_NAME_LEN`] bytes of a member name or path, copied into a
/// [`CpioError`] so that the error borrows neither the archive nor the command line
/// and needs no heap.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortName {
    bytes: [u8; SHORT_NAME_LEN],
    len: u8,
    cut: bool,
}

impl ShortName {
    /// The first [`SHORT_NAME_LEN`] bytes of `name`.
    pub fn new(name: &[u8]) -> Self {
        let len = name.len().min(SHORT_NAME_LEN);
        let mut bytes = [0; SHORT_NAME_LEN];
        if let (Some(to), Some(from)) = (bytes.get_mut(..len), name.get(..len)) {
            to.copy_from_slice(from);
        }
        // `len` is at most SHORT_NAME_LEN (64), so it fits a u8.
        ShortName { bytes, len: len as u8, cut: name.len() > SHORT_NAME_LEN }
    }

    /// The bytes kept.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }

    /// True when the name was longer than what is kept.
    pub fn is_cut(&self) -> bool {
        self.cut
    }
}

impl fmt::Display for ShortName {
    /// Printable ASCII as itself, every other byte as `\xNN`: a name comes from the
    /// archive or the command line, and a newline or escape sequence in it must not
    /// break (or forge) a console line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &byte in self.as_bytes() {
            match byte {
                b'\\' => f.write_str("\\\\")?,
                b' '..=b'~' => write!(f, "{}", char::from(byte))?,
                _ => write!(f, "\\x{byte:02x}")?,
            }
        }
        if self.cut { f.write_str("...") } else { Ok(()) }
    }
}

impl fmt::Debug for ShortName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{self}`")
    }
}

/// Why an archive, or the program looked up in it, was refused. Offsets are byte
/// offsets from the start of the archive, of the header the problem belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// The bytes at `offset` start with neither `070701` nor `070702`.
    BadMagic {
        /// Where the header should start.
        offset: usize,
    },
    /// Fewer than 110 bytes are left for the header at `offset`.
    HeaderPastEnd {
        /// Where the header starts.
        offset: usize,
    },
    /// A header field is not exactly 8 hexadecimal digits.
    BadField {
        /// Where the header starts.
        offset: usize,
        /// The field's name, such as `c_filesize`.
        field: &'static str,
    },
    /// `c_namesize` is 0: not even room for the NUL.
    EmptyName {
        /// Where the header starts.
        offset: usize,
    },
    /// The name (`namesize` bytes at `offset + 110`) runs past the end of the archive.
    NamePastEnd {
        /// Where the header starts.
        offset: usize,
        /// Its `c_namesize`.
        namesize: u32,
    },
    /// The name's byte at `c_namesize - 1` is not NUL.
    NameNotTerminated {
        /// Where the header starts.
        offset: usize,
        /// The start of the name.
        name: ShortName,
    },
    /// The member's `size` bytes of data run past the end of the archive.
    DataPastEnd {
        /// Where the header starts.
        offset: usize,
        /// The member's name.
        name: ShortName,
        /// Its `c_filesize`.
        size: u32,
    },
    /// The archive (or the zero padding at its end) ends at `offset` before a member
    /// named `TRAILER!!!`.
    NoTrailer {
        /// Where the archive ends.
        offset: usize,
    },
    /// No member has the name `path` (compared without leading `/` and `./`).
    NotFound {
        /// The path looked up.
        path: ShortName,
    },
    /// The first member named `path` (its header at `offset`) is not a regular file.
    NotRegularFile {
        /// The path looked up.
        path: ShortName,
        /// The member's `c_mode`.
        mode: u32,
        /// Where its header starts.
        offset: usize,
    },
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CpioError::BadMagic { offset } => {
                write!(f, "initrd: bad cpio magic at offset {offset:#x} (expected 070701 or 070702)")
            }
            CpioError::HeaderPastEnd { offset } => {
                write!(f, "initrd: cpio header at offset {offset:#x} runs past the end of the initrd")
            }
            CpioError::BadField { offset, field } => {
                write!(f, "initrd: cpio header at offset {offset:#x}: {field} is not 8 hexadecimal digits")
            }
            CpioError::EmptyName { offset } => {
                write!(f, "initrd: cpio member at offset {offset:#x} has c_namesize 0")
            }
            CpioError::NamePastEnd { offset, namesize } => write!(
                f,
                "initrd: name of the cpio member at offset {offset:#x} ({namesize} bytes) runs past the end \
                 of the initrd"
            ),
            CpioError::NameNotTerminated { offset, name } => {
                write!(f, "initrd: member name `{name}` at offset {offset:#x} is not NUL-terminated")
            }
            CpioError::DataPastEnd { offset, name, size } => write!(
                f,
                "initrd: data of `{name}` ({size:#x} bytes, member at offset {offset:#x}) runs past the end \
                 of the initrd"
            ),
            CpioError::NoTrailer { offset } => {
                write!(f, "initrd: cpio archive has no TRAILER!!! (its members end at offset {offset:#x})")
            }
            CpioError::NotFound { path } => write!(f, "initrd: `{path}` not found in the archive"),
            CpioError::NotRegularFile { path, mode, offset } => {
                write!(f, "initrd: `{path}` is not a regular file (mode {mode:#o}, member at offset {offset:#x})")
            }
        }
    }
}

/// One member of an archive, borrowing the archive's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Member<'a> {
    /// Where its header starts.
    pub offset: usize,
    /// `c_mode`: file type and permission bits.
    pub mode: u32,
    /// The name as stored, without its terminating NUL (any other byte, an inner NUL
    /// included, is part of it).
    pub name: &'a [u8],
    /// The `c_filesize` bytes of data.
    pub data: &'a [u8],
}

impl Member<'_> {
    /// True for a regular file (`c_mode & 0o170000 == 0o100000`), the only kind of
    /// member that can be a program: directories, symbolic links (whose data is the
    /// link target) and device nodes cannot.
    pub fn is_regular_file(&self) -> bool {
        self.mode & S_IFMT == S_IFREG
    }
}

/// True when `bytes` start with a "newc" or "crc" magic: the test ABI.md §2 uses to tell
/// an archive from an ELF program.
pub fn is_cpio(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC_NEWC) || bytes.starts_with(MAGIC_CRC)
}

/// The members of `archive` in order, up to (not including) the trailer. After an
/// error the iterator ends, so the error is the last item.
pub fn members(archive: &[u8]) -> Members<'_> {
    Members { archive, offset: 0, done: false }
}

/// The iterator [`members`] returns.
#[derive(Clone, Debug)]
pub struct Members<'a> {
    archive: &'a [u8],
    offset: usize,
    done: bool,
}

impl<'a> Iterator for Members<'a> {
    type Item = Result<Member<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match read_member(self.archive, self.offset) {
            Ok((member, next)) => {
                if member.name == TRAILER.as_bytes() {
                    self.done = true;
                    return None;
                }
                self.offset = next;
                Some(Ok(member))
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

/// Walks every header up to the trailer, as the kernel does before it starts anything,
/// and returns the first problem.
pub fn validate(archive: &[u8]) -> Result<(), CpioError> {
    members(archive).try_for_each(|member| member.map(|_| ()))
}

/// The data of the program at `path`: the first member whose name equals `path` once
/// every leading `/` and `./` is removed from both (so `/bin/init`, `./bin/init` and
/// `bin/init` are one name), which must be a regular file.
///
/// The whole archive is validated first, as ABI.md §2 asks: a damaged archive is
/// refused even when the program lies before the damage.
pub fn find<'a>(archive: &'a [u8], path: &str) -> Result<&'a [u8], CpioError> {
    let wanted = without_leading_slashes(path.as_bytes());
    let mut found = None;
    for member in members(archive) {
        let member = member?;
        if found.is_none() && without_leading_slashes(member.name) == wanted {
            found = Some(member);
        }
    }
    let short_path = ShortName::new(path.as_bytes());
    let member = found.ok_or(CpioError::NotFound { path: short_path })?;
    if !member.is_regular_file() {
        return Err(CpioError::NotRegularFile { path: short_path, mode: member.mode, offset: member.offset });
    }
    Ok(member.data)
}

/// The program path the command line asks for: the text after `init=` in the last word
/// that starts with `init=` (an empty text included), or [`DEFAULT_INIT`].
///
/// Words are separated by spaces, tabs and newlines only, with no quoting and no `--`.
/// That is ABI.md §2's rule for `init=`, and it differs from the Linux-style parsing of
/// [`crate::platform::cmdline_value`] (quotes, `--`), which therefore is not used here.
pub fn init_path(cmdline: &str) -> &str {
    cmdline.split([' ', '\t', '\n']).rev().find_map(|word| word.strip_prefix("init=")).unwrap_or(DEFAULT_INIT)
}

/// `name` without its leading `/` and `./`, removed repeatedly (`/././/bin` is `bin`).
fn without_leading_slashes(mut name: &[u8]) -> &[u8] {
    loop {
        if let Some(rest) = name.strip_prefix(b"/") {
            name = rest;
        } else if let Some(rest) = name.strip_prefix(b"./") {
            name = rest;
        } else {
            return name;
        }
    }
}

/// `offset` rounded up to a multiple of 4; `None` on overflow.
fn align4(offset: usize) -> Option<usize> {
    offset.checked_add(3).map(|end| end & !3)
}

/// The value of the 8 hexadecimal digits (either case) of field `index`, or `None` when
/// any of them is something else. `u32::from_str_radix` is not used: it also accepts a
/// leading `+`.
fn hex_field(header: &[u8], index: usize) -> Option<u32> {
    let start = MAGIC_LEN.checked_add(index.checked_mul(FIELD_LEN)?)?;
    let digits = header.get(start..start.checked_add(FIELD_LEN)?)?;
    digits.iter().try_fold(0u32, |value, &digit| Some(value << 4 | char::from(digit).to_digit(16)?))
}

/// Reads the member whose header starts at `offset`: the member and where the next
/// header starts.
fn read_member(archive: &[u8], offset: usize) -> Result<(Member<'_>, usize), CpioError> {
    let rest = archive.get(offset..).unwrap_or_default();
    // Nothing but zeros left: the archive was padded (a boot loader rounds the initrd up
    // to a block) but never terminated. Saying so beats "bad magic" at the padding.
    if rest.iter().all(|&byte| byte == 0) {
        return Err(CpioError::NoTrailer { offset: offset.min(archive.len()) });
    }
    let magic = rest.get(..MAGIC_LEN.min(rest.len())).unwrap_or_default();
    if !MAGIC_NEWC.starts_with(magic) && !MAGIC_CRC.starts_with(magic) {
        return Err(CpioError::BadMagic { offset });
    }
    // A header cut short after a good magic (or part of one) is a truncated archive.
    let header = rest.get(..HEADER_LEN).ok_or(CpioError::HeaderPastEnd { offset })?;

    // Every field must be well formed, even those the kernel does not use.
    let mut fields = [0u32; FIELD_COUNT];
    for (index, (value, field)) in fields.iter_mut().zip(FIELD_NAMES).enumerate() {
        *value = hex_field(header, index).ok_or(CpioError::BadField { offset, field })?;
    }
    let field = |index: usize| fields.get(index).copied().unwrap_or_default();
    let (mode, size, namesize) = (field(C_MODE), field(C_FILESIZE), field(C_NAMESIZE));

    // The name, NUL-terminated at c_namesize - 1.
    if namesize == 0 {
        return Err(CpioError::EmptyName { offset });
    }
    let name_past_end = CpioError::NamePastEnd { offset, namesize };
    let name_start = offset.checked_add(HEADER_LEN).ok_or(name_past_end)?;
    let name_end = usize::try_from(namesize).ok().and_then(|n| name_start.checked_add(n)).ok_or(name_past_end)?;
    let name_with_nul = archive.get(name_start..name_end).ok_or(name_past_end)?;
    let name = match name_with_nul.split_last() {
        Some((0, name)) => name,
        _ => return Err(CpioError::NameNotTerminated { offset, name: ShortName::new(name_with_nul) }),
    };

    // The data, at the next multiple of 4. Empty data needs no bytes, not even its
    // padding: an archive cut right after a trailer's name is still whole.
    let data_past_end = CpioError::DataPastEnd { offset, name: ShortName::new(name), size };
    let data_start = align4(name_end).ok_or(data_past_end)?;
    let (data, data_end) = if size == 0 {
        (&[][..], data_start)
    } else {
        let data_end = usize::try_from(size).ok().and_then(|n| data_start.checked_add(n)).ok_or(data_past_end)?;
        (archive.get(data_start..data_end).ok_or(data_past_end)?, data_end)
    };
    // An overflow here can only mean there is no room for another header.
    let next = align4(data_end).unwrap_or(usize::MAX);
    Ok((Member { offset, mode, name, data }, next))
}

#[cfg(test)]
#[path = "cpio_tests.rs"]
mod tests;
