//! The boot archive: a cpio "newc" archive (ABI.md §2; `070701`, or `070702` whose
//! checksum is not verified). Each member is a 110-byte header, its NUL-terminated name,
//! padding to 4, its data, padding to 4; the member `TRAILER!!!` ends the archive.
//! `scripts/mkcpio.py --page-align` starts every regular file's data on a page boundary
//! so the launcher can map program segments straight from the archive.

/// Why an archive could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// A header, name or data runs past the end, or the trailer is missing.
    Truncated,
    /// A header does not start with `070701`/`070702`, or a field is not hexadecimal.
    BadHeader,
    /// A name is empty or not NUL-terminated.
    BadName,
}

/// One member of the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Its name as stored (leading `/` and `./` kept).
    pub name: &'a str,
    /// `c_mode`.
    pub mode: u32,
    /// Offset of its data from the start of the archive.
    pub data_offset: usize,
    /// Bytes of data.
    pub data_len: usize,
}

impl Entry<'_> {
    /// A regular file (`c_mode & 0o170000 == 0o100000`).
    pub fn is_file(&self) -> bool {
        self.mode & 0o170000 == 0o100000
    }
}

/// The members of `archive`, in order, up to (not including) the trailer.
pub struct Entries<'a> {
    archive: &'a [u8],
    at: usize,
    done: bool,
}

/// Walks the archive's members.
pub fn entries(archive: &[u8]) -> Entries<'_> {
    Entries { archive, at: 0, done: false }
}

fn hex_field(bytes: &[u8]) -> Option<u32> {
    let mut v: u32 = 0;
    for &b in bytes {
        let d = (b as char).to_digit(16)?;
        v = (v << 4) | d;
    }
    Some(v)
}

fn align4(v: usize) -> Option<usize> {
    v.checked_add(3).map(|v| v & !3)
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.read_one();
        match result {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<'a> Entries<'a> {
    fn read_one(&mut self) -> Result<Option<Entry<'a>>, CpioError> {
        let a = self.archive;
        let h = a.get(self.at..self.at.checked_add(110).ok_or(CpioError::Truncated)?).ok_or(CpioError::Truncated)?;
        if &h[..6] != b"070701" && &h[..6] != b"070702" {
            return Err(CpioError::BadHeader);
        }
        let field = |i: usize| hex_field(&h[6 + i * 8..14 + i * 8]).ok_or(CpioError::BadHeader);
        let mode = field(1)?;
        let filesize = field(6)? as usize;
        let namesize = field(11)? as usize;
        if namesize == 0 {
            return Err(CpioError::BadName);
        }
        let name_start = self.at + 110;
        let name_bytes = a.get(name_start..name_start + namesize).ok_or(CpioError::Truncated)?;
        if name_bytes[namesize - 1] != 0 {
            return Err(CpioError::BadName);
        }
        let name = core::str::from_utf8(&name_bytes[..namesize - 1]).map_err(|_| CpioError::BadName)?;
        let data_offset = align4(name_start + namesize).ok_or(CpioError::Truncated)?;
        let data_end = data_offset.checked_add(filesize).ok_or(CpioError::Truncated)?;
        if data_end > a.len() {
            return Err(CpioError::Truncated);
        }
        self.at = align4(data_end).ok_or(CpioError::Truncated)?;
        if name == "TRAILER!!!" {
            return Ok(None);
        }
        Ok(Some(Entry { name, mode, data_offset, data_len: filesize }))
    }
}

/// `name` without its leading `/` and `./` (repeatedly), as the kernel compares names.
pub fn normalize(mut name: &str) -> &str {
    loop {
        if let Some(rest) = name.strip_prefix('/') {
            name = rest;
        } else if let Some(rest) = name.strip_prefix("./") {
            name = rest;
        } else {
            return name;
        }
    }
}

/// The first member whose normalized name equals the normalized `path`.
pub fn find<'a>(archive: &'a [u8], path: &str) -> Result<Option<Entry<'a>>, CpioError> {
    let want = normalize(path);
    for entry in entries(archive) {
        let entry = entry?;
        if normalize(entry.name) == want {
            return Ok(Some(entry));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn member(out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]) {
        let fields = [0, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(alloc::format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }

    fn archive() -> Vec<u8> {
        let mut a = Vec::new();
        member(&mut a, "bin", 0o40755, b"");
        member(&mut a, "bin/init", 0o100755, b"INIT!");
        member(&mut a, "./bin/sh", 0o100755, b"shell");
        member(&mut a, "TRAILER!!!", 0, b"");
        a
    }

    #[test]
    fn lists_and_finds_members() {
        let a = archive();
        let names: Vec<&str> = entries(&a).map(|e| e.unwrap().name).collect();
        assert_eq!(names, ["bin", "bin/init", "./bin/sh"]);
        let sh = find(&a, "/bin/sh").unwrap().unwrap();
        assert!(sh.is_file());
        assert_eq!(&a[sh.data_offset..sh.data_offset + sh.data_len], b"shell");
        assert_eq!(find(&a, "bin/nope").unwrap(), None);
        assert!(!find(&a, "bin").unwrap().unwrap().is_file());
    }

    #[test]
    fn truncations_and_corruptions_give_errors_not_panics() {
        let a = archive();
        for len in 0..a.len() {
            let r: Result<Vec<_>, _> = entries(&a[..len]).collect();
            assert!(r.is_err(), "len {len}");
        }
        let mut b = archive();
        b[0] = b'1';
        assert_eq!(entries(&b).next(), Some(Err(CpioError::BadHeader)));
        let mut c = archive();
        c[6 + 11 * 8] = b'G';
        assert_eq!(entries(&c).next(), Some(Err(CpioError::BadHeader)));
        let mut state = 12345u64;
        for _ in 0..20_000 {
            let mut m = archive();
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let at = (state >> 33) as usize % m.len();
            m[at] = (state >> 13) as u8;
            let _ = entries(&m).count();
        }
    }
}
