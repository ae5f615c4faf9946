//! Host tests of the initrd archive reader (src/cpio.rs): hand-built archives for every
//! rule and refusal, archives written by GNU cpio and by scripts/mkcpio.py, truncation at
//! every byte, and byte mutations that must never make the reader panic.
extern crate std;

use super::*;
use alloc::vec::Vec;
use std::format;
use std::string::{String, ToString};

const REG: u32 = 0o100_755;
const DIR: u32 = 0o040_755;
const LINK: u32 = 0o120_777;

const GNU_NEWC: &[u8] = include_bytes!("../tests/fixtures/cpio/gnu-newc.cpio");
const GNU_CRC: &[u8] = include_bytes!("../tests/fixtures/cpio/gnu-crc.cpio");
const MKCPIO_NEWC: &[u8] = include_bytes!("../tests/fixtures/cpio/mkcpio-newc.cpio");

// ----- building archives ------------------------------------------------------------

/// Appends one member with every field spelled out: `name` is written as given (the
/// caller adds the NUL, or not), `namesize` and `filesize` as given, then the padding.
fn push_raw(out: &mut Vec<u8>, magic: &[u8; 6], fields: [u32; 13], name: &[u8], data: &[u8]) {
    out.extend_from_slice(magic);
    for value in fields {
        out.extend_from_slice(format!("{value:08x}").as_bytes());
    }
    out.extend_from_slice(name);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

fn fields(mode: u32, filesize: usize, namesize: usize) -> [u32; 13] {
    [7, mode, 0, 0, 1, 0, filesize as u32, 0, 0, 0, 0, namesize as u32, 0]
}

/// Appends a well-formed member.
fn push(out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]) {
    let mut name_with_nul = name.as_bytes().to_vec();
    name_with_nul.push(0);
    push_raw(out, MAGIC_NEWC, fields(mode, data.len(), name_with_nul.len()), &name_with_nul, data);
}

/// An archive of `members` and the trailer.
fn archive(members: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(name, mode, data) in members {
        push(&mut out, name, mode, data);
    }
    push(&mut out, TRAILER, 0, b"");
    out
}

/// A typical initrd: directories, the program (odd-sized, so it is padded), a symbolic
/// link, a second file.
fn typical() -> Vec<u8> {
    archive(&[
        (".", DIR, b""),
        ("bin", DIR, b""),
        ("bin/init", REG, b"\x7fELF program"),
        ("bin/sh", LINK, b"init"),
        ("etc/motd", 0o100_644, b"hello\n"),
    ])
}

/// Where `typical()`'s header number `index` starts.
fn header_offset(bytes: &[u8], index: usize) -> usize {
    members(bytes).nth(index).unwrap().unwrap().offset
}

/// Where the header after `member` starts (its data padded to a multiple of 4).
fn next_header(member: &Member<'_>) -> usize {
    let data_start = (member.offset + HEADER_LEN + member.name.len() + 1 + 3) & !3;
    (data_start + member.data.len() + 3) & !3
}

/// Where the trailer's name ends: the archive is whole from there on.
fn whole_len(bytes: &[u8]) -> usize {
    let trailer = members(bytes).last().map_or(0, |m| next_header(&m.unwrap()));
    trailer + HEADER_LEN + TRAILER.len() + 1
}

fn names(bytes: &[u8]) -> Vec<String> {
    members(bytes).map(|m| String::from_utf8(m.unwrap().name.to_vec()).unwrap()).collect()
}

// ----- finding the program ----------------------------------------------------------

#[test]
fn finds_the_program_and_its_neighbours() {
    let bytes = typical();
    assert_eq!(validate(&bytes), Ok(()));
    assert_eq!(find(&bytes, "bin/init"), Ok(&b"\x7fELF program"[..]));
    assert_eq!(find(&bytes, "etc/motd"), Ok(&b"hello\n"[..]));
    assert_eq!(names(&bytes), [".", "bin", "bin/init", "bin/sh", "etc/motd"]);
    // The data slice lies where the layout says: at the multiple of 4 after the name.
    let member = members(&bytes).nth(2).unwrap().unwrap();
    let data_at = member.data.as_ptr() as usize - bytes.as_ptr() as usize;
    assert_eq!(data_at, (member.offset + HEADER_LEN + "bin/init".len() + 1 + 3) & !3);
    assert_eq!(member.mode, REG);
    assert!(member.is_regular_file());
}

#[test]
fn leading_slashes_and_dot_slashes_are_removed_from_both_sides() {
    let bytes = archive(&[("./bin/init", REG, b"A"), ("/./etc//motd", REG, b"B"), ("lib", REG, b"C")]);
    for path in ["bin/init", "/bin/init", "./bin/init", "//bin/init", "././/./bin/init", "/./bin/init"] {
        assert_eq!(find(&bytes, path), Ok(&b"A"[..]), "{path}");
    }
    // Only leading ones: an inner `//` or `./` is part of the name.
    assert_eq!(find(&bytes, "etc//motd"), Ok(&b"B"[..]));
    assert!(matches!(find(&bytes, "etc/motd"), Err(CpioError::NotFound { .. })));
    assert!(matches!(find(&bytes, "bin/./init"), Err(CpioError::NotFound { .. })));
    // `.` without a slash and `..` are not prefixes to remove.
    assert!(matches!(find(&bytes, ".bin/init"), Err(CpioError::NotFound { .. })));
    assert!(matches!(find(&bytes, "../bin/init"), Err(CpioError::NotFound { .. })));
    // Byte for byte: no case folding, no trailing-slash removal.
    assert!(matches!(find(&bytes, "BIN/init"), Err(CpioError::NotFound { .. })));
    assert!(matches!(find(&bytes, "lib/"), Err(CpioError::NotFound { .. })));
}

#[test]
fn the_first_member_of_a_name_wins() {
    let file_first = archive(&[("bin/init", REG, b"first"), ("/bin/init", REG, b"second")]);
    assert_eq!(find(&file_first, "bin/init"), Ok(&b"first"[..]));
    // A directory first is the program, and is refused, though a file follows.
    let dir_first = archive(&[("bin/init", DIR, b""), ("bin/init", REG, b"file")]);
    assert_eq!(
        find(&dir_first, "bin/init"),
        Err(CpioError::NotRegularFile { path: ShortName::new(b"bin/init"), mode: DIR, offset: 0 })
    );
}

#[test]
fn only_regular_files_are_programs() {
    let bytes = typical();
    let sh_offset = header_offset(&bytes, 3);
    let error = find(&bytes, "/bin/sh").unwrap_err();
    assert_eq!(error, CpioError::NotRegularFile { path: ShortName::new(b"/bin/sh"), mode: LINK, offset: sh_offset });
    assert_eq!(
        error.to_string(),
        format!("initrd: `/bin/sh` is not a regular file (mode 0o120777, member at offset {sh_offset:#x})")
    );
    assert!(matches!(find(&bytes, "bin"), Err(CpioError::NotRegularFile { mode: DIR, .. })));
    let odd = archive(&[("dev/null", 0o020_666, b""), ("fifo", 0o010_644, b""), ("sock", 0o140_755, b"")]);
    for path in ["dev/null", "fifo", "sock"] {
        assert!(matches!(find(&odd, path), Err(CpioError::NotRegularFile { .. })), "{path}");
    }
    // Permission bits do not matter, only the type.
    assert_eq!(find(&archive(&[("bin/init", 0o100_000, b"x")]), "bin/init"), Ok(&b"x"[..]));
}

#[test]
fn a_missing_program_is_named() {
    let error = find(&typical(), "/sbin/init").unwrap_err();
    assert_eq!(error, CpioError::NotFound { path: ShortName::new(b"/sbin/init") });
    assert_eq!(error.to_string(), "initrd: `/sbin/init` not found in the archive");
    // The trailer is not a member.
    assert!(matches!(find(&typical(), TRAILER), Err(CpioError::NotFound { .. })));
    // An empty path (`init=`) matches nothing here.
    assert!(matches!(find(&typical(), ""), Err(CpioError::NotFound { .. })));
}

#[test]
fn a_name_with_an_inner_nul_is_a_different_name() {
    let mut bytes = Vec::new();
    push_raw(&mut bytes, MAGIC_NEWC, fields(REG, 1, 11), b"bin/init\0x\0", b"A");
    push(&mut bytes, TRAILER, 0, b"");
    assert_eq!(validate(&bytes), Ok(()));
    assert_eq!(names(&bytes), ["bin/init\0x"]);
    assert!(matches!(find(&bytes, "bin/init"), Err(CpioError::NotFound { .. })));
}

#[test]
fn crc_magic_and_upper_case_digits_are_accepted() {
    let mut bytes = Vec::new();
    push_raw(&mut bytes, MAGIC_CRC, fields(REG, 3, 9), b"bin/init\0", b"abc");
    push(&mut bytes, TRAILER, 0, b"");
    assert!(is_cpio(&bytes));
    assert_eq!(find(&bytes, "bin/init"), Ok(&b"abc"[..]));
    // The checksum is not verified: any well-formed value is accepted.
    bytes[HEADER_LEN - 8..HEADER_LEN].copy_from_slice(b"DEADBEEF");
    // Upper-case mode, mixed-case inode.
    bytes[14..22].copy_from_slice(b"000081ED");
    bytes[6..14].copy_from_slice(b"0000aBcD");
    let member = members(&bytes).next().unwrap().unwrap();
    assert_eq!(member.mode, 0o100_755);
    assert_eq!(find(&bytes, "bin/init"), Ok(&b"abc"[..]));
}

#[test]
fn bytes_after_the_trailer_are_ignored() {
    let mut bytes = archive(&[("bin/init", REG, b"x")]);
    let whole = bytes.len();
    bytes.extend_from_slice(&[0; 300]);
    bytes.extend_from_slice(b"garbage that is not a header");
    push(&mut bytes, "late", REG, b"never seen");
    assert_eq!(validate(&bytes), Ok(()));
    assert!(matches!(find(&bytes, "late"), Err(CpioError::NotFound { .. })));
    // And the archive is whole without them, even without the trailer's padding.
    assert_eq!(validate(&bytes[..whole]), Ok(()));
    let name_end = whole_len(&bytes);
    assert_eq!(name_end, whole - 3);
    assert_eq!(validate(&bytes[..name_end]), Ok(()));
}

#[test]
fn an_archive_can_be_only_a_trailer() {
    let bytes = archive(&[]);
    assert_eq!(validate(&bytes), Ok(()));
    assert_eq!(members(&bytes).count(), 0);
    assert!(matches!(find(&bytes, "bin/init"), Err(CpioError::NotFound { .. })));
}

// ----- refusals ---------------------------------------------------------------------

#[test]
fn refuses_bad_magic_wherever_it_is() {
    let mut bytes = typical();
    bytes[5] = b'7';
    assert_eq!(validate(&bytes), Err(CpioError::BadMagic { offset: 0 }));
    assert!(!is_cpio(&bytes));
    let mut bytes = typical();
    let third = header_offset(&bytes, 2);
    bytes[third + 2] = b'8';
    assert_eq!(validate(&bytes), Err(CpioError::BadMagic { offset: third }));
    // Even when the program comes first.
    assert_eq!(find(&bytes, "bin"), Err(CpioError::BadMagic { offset: third }));
    // The old binary and "odc" formats are refused too.
    assert_eq!(validate(b"070707000000000000"), Err(CpioError::BadMagic { offset: 0 }));
    assert_eq!(validate(&[0xc7, 0x71, 0, 0]), Err(CpioError::BadMagic { offset: 0 }));
    assert_eq!(
        CpioError::BadMagic { offset: 0x1f0 }.to_string(),
        "initrd: bad cpio magic at offset 0x1f0 (expected 070701 or 070702)"
    );
}

#[test]
fn refuses_every_malformed_field() {
    let bytes = typical();
    let second = header_offset(&bytes, 1);
    for (index, name) in FIELD_NAMES.iter().enumerate() {
        for bad in [b'g', b' ', b'+', b'-', b'x', 0] {
            let mut broken = bytes.clone();
            broken[second + MAGIC_LEN + FIELD_LEN * index + index % FIELD_LEN] = bad;
            assert_eq!(validate(&broken), Err(CpioError::BadField { offset: second, field: name }), "{name}");
        }
    }
    let mut broken = bytes.clone();
    broken[MAGIC_LEN + 7] = b'G';
    let error = validate(&broken).unwrap_err();
    assert_eq!(error.to_string(), "initrd: cpio header at offset 0x0: c_ino is not 8 hexadecimal digits");
    // A leading `+` is what u32::from_str_radix would have let through.
    let mut plus = bytes.clone();
    plus[MAGIC_LEN..MAGIC_LEN + 8].copy_from_slice(b"+0000007");
    assert_eq!(validate(&plus), Err(CpioError::BadField { offset: 0, field: "c_ino" }));
}

#[test]
fn refuses_an_empty_name() {
    let mut bytes = Vec::new();
    push_raw(&mut bytes, MAGIC_NEWC, fields(REG, 0, 0), b"", b"");
    push(&mut bytes, TRAILER, 0, b"");
    assert_eq!(validate(&bytes), Err(CpioError::EmptyName { offset: 0 }));
    assert_eq!(validate(&bytes).unwrap_err().to_string(), "initrd: cpio member at offset 0x0 has c_namesize 0");
}

#[test]
fn refuses_a_name_without_its_nul() {
    let mut bytes = Vec::new();
    push(&mut bytes, "bin", DIR, b"");
    let second = bytes.len();
    // c_namesize 8 covers "bin/init" but not its NUL.
    push_raw(&mut bytes, MAGIC_NEWC, fields(REG, 1, 8), b"bin/init\0", b"x");
    push(&mut bytes, TRAILER, 0, b"");
    let error = validate(&bytes).unwrap_err();
    assert_eq!(error, CpioError::NameNotTerminated { offset: second, name: ShortName::new(b"bin/init") });
    assert_eq!(error.to_string(), "initrd: member name `bin/init` at offset 0x74 is not NUL-terminated");
    // A NUL-only name is an empty name, which is allowed (it just never matches a path
    // with something in it).
    let mut empty = Vec::new();
    push_raw(&mut empty, MAGIC_NEWC, fields(REG, 0, 1), b"\0", b"");
    push(&mut empty, TRAILER, 0, b"");
    assert_eq!(validate(&empty), Ok(()));
}

#[test]
fn refuses_a_name_past_the_end() {
    let mut bytes = Vec::new();
    push_raw(&mut bytes, MAGIC_NEWC, fields(REG, 0, 0x100), b"bin/init\0", b"");
    assert_eq!(validate(&bytes), Err(CpioError::NamePastEnd { offset: 0, namesize: 0x100 }));
    let mut huge = Vec::new();
    push_raw(&mut huge, MAGIC_NEWC, fields(REG, 0, 0xffff_ffff), b"bin/init\0", b"");
    assert_eq!(validate(&huge), Err(CpioError::NamePastEnd { offset: 0, namesize: 0xffff_ffff }));
    assert_eq!(
        validate(&huge).unwrap_err().to_string(),
        "initrd: name of the cpio member at offset 0x0 (4294967295 bytes) runs past the end of the initrd"
    );
}

#[test]
fn refuses_data_past_the_end() {
    let mut bytes = Vec::new();
    push(&mut bytes, "bin", DIR, b"");
    let second = bytes.len();
    push_raw(&mut bytes, MAGIC_NEWC, fields(REG, 0x1000, 9), b"bin/init\0", b"short");
    push(&mut bytes, TRAILER, 0, b"");
    let error = find(&bytes, "bin/init").unwrap_err();
    assert_eq!(error, CpioError::DataPastEnd { offset: second, name: ShortName::new(b"bin/init"), size: 0x1000 });
    assert_eq!(
        error.to_string(),
        "initrd: data of `bin/init` (0x1000 bytes, member at offset 0x74) runs past the end of the initrd"
    );
    let mut huge = Vec::new();
    push_raw(&mut huge, MAGIC_NEWC, fields(REG, 0xffff_ffff, 2), b"x\0", b"");
    assert!(matches!(validate(&huge), Err(CpioError::DataPastEnd { size: 0xffff_ffff, .. })));
}

#[test]
fn refuses_an_archive_without_a_trailer() {
    let mut bytes = typical();
    let trailer = next_header(&members(&bytes).nth(4).unwrap().unwrap());
    assert_eq!(&bytes[trailer..trailer + 6], MAGIC_NEWC);
    bytes.truncate(trailer);
    assert_eq!(validate(&bytes), Err(CpioError::NoTrailer { offset: trailer }));
    assert_eq!(
        validate(&bytes).unwrap_err().to_string(),
        format!("initrd: cpio archive has no TRAILER!!! (its members end at offset {trailer:#x})")
    );
    // Zero padding where the trailer should be says the same.
    bytes.extend_from_slice(&[0; 1000]);
    assert_eq!(validate(&bytes), Err(CpioError::NoTrailer { offset: trailer }));
    // The last member's data padding cut off: the next header would start past the end.
    // Name "bin/init\0" ends at 119, data "abcde" fills 120..125, the next header would be
    // at 128.
    let mut cut = archive(&[("bin/init", REG, b"abcde")]);
    cut.truncate(125);
    assert_eq!(validate(&cut), Err(CpioError::NoTrailer { offset: 125 }));
    assert_eq!(validate(&[]), Err(CpioError::NoTrailer { offset: 0 }));
}

#[test]
fn refuses_a_cut_header() {
    let bytes = typical();
    let second = header_offset(&bytes, 1);
    assert_eq!(validate(&bytes[..second + 6]), Err(CpioError::HeaderPastEnd { offset: second }));
    assert_eq!(validate(&bytes[..second + 109]), Err(CpioError::HeaderPastEnd { offset: second }));
    assert_eq!(validate(&bytes[..3]), Err(CpioError::HeaderPastEnd { offset: 0 }));
    assert_eq!(
        CpioError::HeaderPastEnd { offset: 0x74 }.to_string(),
        "initrd: cpio header at offset 0x74 runs past the end of the initrd"
    );
}

#[test]
fn every_truncation_is_an_error_and_never_a_panic() {
    for bytes in [typical(), GNU_NEWC.to_vec(), GNU_CRC.to_vec(), MKCPIO_NEWC.to_vec()] {
        let whole = whole_len(&bytes);
        assert!(whole > HEADER_LEN && whole <= bytes.len());
        for cut in 0..=bytes.len() {
            let prefix = &bytes[..cut];
            let result = validate(prefix);
            assert_eq!(result.is_ok(), cut >= whole, "cut at {cut}: {result:?}");
            let found = find(prefix, "bin/init");
            assert_eq!(found.is_ok(), cut >= whole, "cut at {cut}: {found:?}");
            if let Err(error) = result {
                let line = error.to_string();
                assert!(line.starts_with("initrd: ") && !line.contains('\n'), "{line}");
            }
        }
    }
}

// ----- archives from real tools -----------------------------------------------------

#[test]
fn reads_archives_written_by_gnu_cpio() {
    for bytes in [GNU_NEWC, GNU_CRC] {
        assert!(is_cpio(bytes));
        assert_eq!(validate(bytes), Ok(()));
        assert_eq!(names(bytes), [".", "bin", "bin/init", "bin/sh", "etc", "etc/motd"]);
        assert_eq!(find(bytes, "bin/init"), Ok(&b"not an ELF: a stand-in for the program\n"[..]));
        assert_eq!(find(bytes, "/etc/motd"), Ok(&b"hello from the initrd\n"[..]));
        assert!(matches!(find(bytes, "bin/sh"), Err(CpioError::NotRegularFile { mode: 0o120_777, .. })));
        assert!(matches!(find(bytes, "."), Err(CpioError::NotRegularFile { mode: 0o040_755, .. })));
        let modes: Vec<u32> = members(bytes).map(|m| m.unwrap().mode).collect();
        assert_eq!(modes, [0o040_755, 0o040_755, 0o100_755, 0o120_777, 0o040_755, 0o100_644]);
        // The symbolic link's data is its target.
        assert_eq!(members(bytes).nth(3).unwrap().unwrap().data, b"init");
    }
    assert!(GNU_NEWC.starts_with(b"070701") && GNU_CRC.starts_with(b"070702"));
}

#[test]
fn reads_the_archive_mkcpio_writes() {
    assert_eq!(validate(MKCPIO_NEWC), Ok(()));
    assert_eq!(names(MKCPIO_NEWC), ["bin", "bin/init", "etc", "etc/motd"]);
    // The same members, data and modes as GNU cpio's archive of the same tree.
    for path in ["bin/init", "etc/motd"] {
        assert_eq!(find(MKCPIO_NEWC, path), find(GNU_NEWC, path));
    }
    let gnu: Vec<Member<'_>> =
        members(GNU_NEWC).map(Result::unwrap).filter(|m| !m.name.starts_with(b"bin/sh")).collect();
    let ours: Vec<Member<'_>> = members(MKCPIO_NEWC).map(Result::unwrap).collect();
    for (ours, gnu) in ours.iter().zip(gnu.iter().skip(1)) {
        assert_eq!((ours.name, ours.mode, ours.data), (gnu.name, gnu.mode, gnu.data));
    }
    assert_eq!(MKCPIO_NEWC.len() % 512, 0);
}

// ----- mutations --------------------------------------------------------------------

/// What must hold of any answer, for any bytes.
fn check_answers(bytes: &[u8]) {
    let range = bytes.as_ptr_range();
    let inside = |data: &[u8]| {
        let r = data.as_ptr_range();
        data.is_empty() || (range.start <= r.start && r.end <= range.end)
    };
    let validated = validate(bytes);
    let mut seen_error = false;
    for member in members(bytes) {
        assert!(!seen_error, "an item after an error");
        match member {
            Ok(m) => assert!(inside(m.data) && inside(m.name) && m.offset % 4 == 0),
            Err(error) => {
                seen_error = true;
                assert_eq!(Err(error), validated);
            }
        }
    }
    assert_eq!(seen_error, validated.is_err());
    match find(bytes, "bin/init") {
        Ok(data) => assert!(validated.is_ok() && inside(data)),
        Err(CpioError::NotFound { .. } | CpioError::NotRegularFile { .. }) => assert!(validated.is_ok()),
        Err(error) => {
            assert_eq!(Err(error), validated);
            let line = error.to_string();
            assert!(line.starts_with("initrd: ") && !line.contains('\n'), "{line}");
        }
    }
}

/// Every byte of a valid archive, replaced by each of a set of values chosen to hit
/// both the digit parser and the lengths: the reader never panics, and what it accepts
/// is consistent.
#[test]
fn every_byte_mutation_never_panics() {
    let valid = typical();
    let mut accepted = 0;
    let mut refused = 0;
    for at in 0..valid.len() {
        let original = valid[at];
        for value in [original ^ 0xff, original ^ 1, 0, b'0', b'7', b'f', b'F', b'g', 0xff, b'\n', b'/'] {
            if value == original {
                continue;
            }
            let mut bytes = valid.clone();
            bytes[at] = value;
            check_answers(&bytes);
            if validate(&bytes).is_ok() { accepted += 1 } else { refused += 1 }
        }
    }
    // Both paths were reached: digits in data and names are harmless, in headers not.
    assert!(accepted > 100 && refused > 1000, "{accepted} accepted, {refused} refused");
}

/// Random multi-byte mutations of the GNU archive, with interesting field values.
#[test]
fn random_mutations_never_panic() {
    let valid = GNU_NEWC.to_vec();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        // xorshift64*
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let headers: Vec<usize> = members(&valid).map(|m| m.unwrap().offset).collect();
    let values: [&[u8; 8]; 7] =
        [b"00000000", b"FFFFFFFF", b"7FFFFFFF", b"00000001", b"00000100", b"00008000", b"0000000B"];
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut bytes = valid.clone();
        for _ in 0..1 + next() % 4 {
            match next() % 4 {
                0 => bytes.truncate((next() % (valid.len() as u64 + 1)) as usize),
                1 => {
                    if !bytes.is_empty() {
                        let at = (next() % bytes.len() as u64) as usize;
                        bytes[at] = next() as u8;
                    }
                }
                2 => {
                    // A whole field of some header.
                    let header = headers[(next() % headers.len() as u64) as usize];
                    let at = header + MAGIC_LEN + FIELD_LEN * (next() % 13) as usize;
                    let value = values[(next() % values.len() as u64) as usize];
                    if at + 8 <= bytes.len() {
                        bytes[at..at + 8].copy_from_slice(value);
                    }
                }
                _ => {
                    let header = headers[(next() % headers.len() as u64) as usize];
                    let at = header + (next() % HEADER_LEN as u64) as usize;
                    if at < bytes.len() {
                        bytes[at] ^= 1 << (next() % 8);
                    }
                }
            }
        }
        check_answers(&bytes);
        accepted += usize::from(validate(&bytes).is_ok());
    }
    assert!(accepted > 100, "only {accepted} mutated archives accepted");
}

// ----- the command line, the format test, the messages -------------------------------

#[test]
fn init_path_is_the_last_init_word() {
    assert_eq!(init_path(""), "bin/init");
    assert_eq!(init_path("console=ttyAMA0 loglevel=info"), "bin/init");
    assert_eq!(init_path("init=/sbin/init"), "/sbin/init");
    assert_eq!(init_path("init=a console=x init=b quiet"), "b");
    assert_eq!(init_path("init=a\tinit=b\ninit=c"), "c");
    assert_eq!(init_path("  init=/x  "), "/x");
    // `init=` alone asks for the empty path; the default is only for no word at all.
    assert_eq!(init_path("init=/x init="), "");
    // The word must start with `init=`.
    assert_eq!(init_path("rdinit=/x xinit=/y init"), "bin/init");
    assert_eq!(init_path("init=a=b"), "a=b");
    // No quoting and no `--`: those are Linux's rules, not ABI.md §2's.
    assert_eq!(init_path("-- init=\"a"), "\"a");
    // Carriage returns are not separators.
    assert_eq!(init_path("init=a\rinit=b"), "a\rinit=b");
}

#[test]
fn is_cpio_looks_only_at_the_magic() {
    assert!(is_cpio(b"070701"));
    assert!(is_cpio(b"070702garbage"));
    assert!(!is_cpio(b"07070"));
    assert!(!is_cpio(b"070707"));
    assert!(!is_cpio(b"\x7fELF\x02\x01\x01"));
    assert!(!is_cpio(&[0x1f, 0x8b, 0x08])); // gzip
    assert!(!is_cpio(b""));
}

#[test]
fn every_error_is_one_console_line_with_names_escaped() {
    let evil = ShortName::new(b"bin/\ninit\x1b[2J\\`");
    assert_eq!(format!("{evil}"), "bin/\\x0ainit\\x1b[2J\\\\`");
    let long = [b'a'; 100];
    let cut = ShortName::new(&long);
    assert!(cut.is_cut() && cut.as_bytes().len() == SHORT_NAME_LEN);
    assert_eq!(format!("{cut}"), format!("{}...", "a".repeat(SHORT_NAME_LEN)));
    assert_eq!(format!("{cut:?}"), format!("`{}...`", "a".repeat(SHORT_NAME_LEN)));
    let errors = [
        CpioError::BadMagic { offset: 0 },
        CpioError::HeaderPastEnd { offset: 4 },
        CpioError::BadField { offset: 8, field: "c_mode" },
        CpioError::EmptyName { offset: 12 },
        CpioError::NamePastEnd { offset: 16, namesize: 3 },
        CpioError::NameNotTerminated { offset: 20, name: evil },
        CpioError::DataPastEnd { offset: 24, name: cut, size: 5 },
        CpioError::NoTrailer { offset: 28 },
        CpioError::NotFound { path: evil },
        CpioError::NotRegularFile { path: evil, mode: DIR, offset: 32 },
    ];
    for error in errors {
        let line = error.to_string();
        assert!(line.starts_with("initrd: "), "{line}");
        assert!(line.chars().all(|c| (' '..='~').contains(&c)), "{line}");
    }
    // A path from the command line is escaped the same way.
    let error = find(&typical(), "bin/\u{7f}x").unwrap_err();
    assert_eq!(error.to_string(), "initrd: `bin/\\x7fx` not found in the archive");
}

#[test]
fn members_stop_after_an_error() {
    let mut bytes = typical();
    let third = header_offset(&bytes, 2);
    bytes[third] = b'X';
    let items: Vec<_> = members(&bytes).collect();
    assert_eq!(items.len(), 3);
    assert_eq!(items[2], Err(CpioError::BadMagic { offset: third }));
}
