//! Validation of a static ELF64 AArch64 program into a [`LoadPlan`]: what the launcher
//! maps where, with which permissions. Every read is checked and every sum is checked
//! arithmetic, so a malformed file gives an [`ElfError`], never a panic (the tests mutate
//! real programs byte by byte to hold it to that).
//!
//! Rules (those of the kernel's loader, ABI.md §2): ELF64, little-endian, version 1,
//! `ET_EXEC`, `EM_AARCH64`; 1 to 64 program headers of 56 bytes; at least one `PT_LOAD`;
//! each `PT_LOAD` has `filesz <= memsz`, file bytes inside the file, an address range
//! inside user space, some permission and never write with execute; `PT_LOAD`s do not
//! share a page; the entry point lies in an executable segment.

use alloc::vec::Vec;

/// First user address.
pub const USER_BASE: u64 = 0x1_0000;
/// One past the last user address.
pub const USER_END: u64 = 1 << 47;
/// Page size.
pub const PAGE: u64 = 4096;
/// Most program headers accepted.
pub const MAX_PHDRS: u16 = 64;

/// Segment permission: read.
pub const PF_R: u32 = 4;
/// Segment permission: write.
pub const PF_W: u32 = 2;
/// Segment permission: execute.
pub const PF_X: u32 = 1;

/// Why a file is not a program we can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the ELF header, or a header or table runs past its end.
    Truncated,
    /// Not `\x7fELF`.
    BadMagic,
    /// Not ELF64.
    NotElf64,
    /// Not little-endian.
    NotLittleEndian,
    /// `e_ident[EI_VERSION]` or `e_version` is not 1.
    BadVersion,
    /// Not `ET_EXEC` (a shared object or relocatable file).
    NotExecutable,
    /// Not `EM_AARCH64`.
    NotAarch64,
    /// `e_phentsize` is not 56, or `e_phnum` is 0 or above [`MAX_PHDRS`].
    BadProgramHeaders,
    /// No `PT_LOAD` segment.
    NoLoadSegments,
    /// A segment's `filesz` exceeds its `memsz`.
    FileSizeAboveMemSize,
    /// A segment's file bytes lie outside the file.
    SegmentOutsideFile,
    /// A segment lies outside user space (or its end overflows).
    SegmentOutsideUserSpace,
    /// A segment is both writable and executable.
    WritableAndExecutable,
    /// A segment has no permission at all.
    NoPermissions,
    /// Two segments share a page, or are not in address order.
    Overlap,
    /// The entry point is not inside an executable segment.
    BadEntry,
}

impl ElfError {
    /// A phrase for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ElfError::Truncated => "truncated file",
            ElfError::BadMagic => "not an ELF file",
            ElfError::NotElf64 => "not ELF64",
            ElfError::NotLittleEndian => "not little-endian",
            ElfError::BadVersion => "bad ELF version",
            ElfError::NotExecutable => "not an ET_EXEC executable",
            ElfError::NotAarch64 => "not an AArch64 program",
            ElfError::BadProgramHeaders => "bad program header table",
            ElfError::NoLoadSegments => "no PT_LOAD segment",
            ElfError::FileSizeAboveMemSize => "segment filesz above memsz",
            ElfError::SegmentOutsideFile => "segment outside the file",
            ElfError::SegmentOutsideUserSpace => "segment outside user space",
            ElfError::WritableAndExecutable => "segment both writable and executable",
            ElfError::NoPermissions => "segment with no permission",
            ElfError::Overlap => "segments overlap",
            ElfError::BadEntry => "entry point outside executable code",
        }
    }
}

impl core::fmt::Display for ElfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.describe())
    }
}

/// One `PT_LOAD` segment to map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of its first byte.
    pub vaddr: u64,
    /// Bytes in memory (the part past `filesz` reads as zero).
    pub memsz: u64,
    /// Offset of its bytes in the file.
    pub offset: u64,
    /// Bytes taken from the file.
    pub filesz: u64,
    /// `PF_R | PF_W | PF_X` bits.
    pub flags: u32,
}

impl Segment {
    /// First page of the mapping.
    pub fn page_start(&self) -> u64 {
        self.vaddr & !(PAGE - 1)
    }
    /// One past the last page of the mapping (validated: no overflow).
    pub fn page_end(&self) -> u64 {
        (self.vaddr + self.memsz + PAGE - 1) & !(PAGE - 1)
    }
    /// One past the last page holding file bytes (== `page_start` when `filesz` is 0).
    pub fn file_page_end(&self) -> u64 {
        if self.filesz == 0 { self.page_start() } else { (self.vaddr + self.filesz + PAGE - 1) & !(PAGE - 1) }
    }
    /// Whether the segment's file bytes can be mapped straight from the file's pages:
    /// its offset and address agree modulo the page size, given where the file starts
    /// (`file_base`, its offset inside a larger object such as an archive).
    pub fn mappable_from(&self, file_base: u64) -> bool {
        file_base.checked_add(self.offset).is_some_and(|at| at % PAGE == self.vaddr % PAGE)
    }
}

/// What to map for a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    /// The entry point.
    pub entry: u64,
    /// The `PT_LOAD` segments with memory, in address order.
    pub segments: Vec<Segment>,
}

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const PT_LOAD: u32 = 1;
const ET_EXEC: u16 = 2;
const EM_AARCH64: u16 = 183;

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Validates the program in a file of `file_len` bytes; `read(offset, buf)` fills `buf`
/// from the file (it is asked only for ranges inside `file_len`) and may fail, which
/// reads as [`ElfError::Truncated`].
pub fn load_plan<E>(
    file_len: u64,
    mut read: impl FnMut(u64, &mut [u8]) -> Result<(), E>,
) -> Result<LoadPlan, ElfError> {
    if file_len < EHDR_SIZE as u64 {
        return Err(ElfError::Truncated);
    }
    let mut eh = [0u8; EHDR_SIZE];
    read(0, &mut eh).map_err(|_| ElfError::Truncated)?;
    if eh[0..4] != *b"\x7fELF" {
        return Err(ElfError::BadMagic);
    }
    if eh[4] != 2 {
        return Err(ElfError::NotElf64);
    }
    if eh[5] != 1 {
        return Err(ElfError::NotLittleEndian);
    }
    if eh[6] != 1 || u32_at(&eh, 20) != 1 {
        return Err(ElfError::BadVersion);
    }
    if u16_at(&eh, 16) != ET_EXEC {
        return Err(ElfError::NotExecutable);
    }
    if u16_at(&eh, 18) != EM_AARCH64 {
        return Err(ElfError::NotAarch64);
    }
    let entry = u64_at(&eh, 24);
    let phoff = u64_at(&eh, 32);
    let phentsize = u16_at(&eh, 54);
    let phnum = u16_at(&eh, 56);
    if phentsize as usize != PHDR_SIZE || phnum == 0 || phnum > MAX_PHDRS {
        return Err(ElfError::BadProgramHeaders);
    }
    let table_len = phnum as u64 * PHDR_SIZE as u64;
    if phoff.checked_add(table_len).is_none_or(|end| end > file_len) {
        return Err(ElfError::Truncated);
    }
    let mut segments = Vec::new();
    let mut ph = [0u8; PHDR_SIZE];
    for i in 0..phnum as u64 {
        read(phoff + i * PHDR_SIZE as u64, &mut ph).map_err(|_| ElfError::Truncated)?;
        if u32_at(&ph, 0) != PT_LOAD {
            continue;
        }
        let seg = Segment {
            flags: u32_at(&ph, 4),
            offset: u64_at(&ph, 8),
            vaddr: u64_at(&ph, 16),
            filesz: u64_at(&ph, 32),
            memsz: u64_at(&ph, 40),
        };
        if seg.filesz > seg.memsz {
            return Err(ElfError::FileSizeAboveMemSize);
        }
        if seg.offset.checked_add(seg.filesz).is_none_or(|end| end > file_len) {
            return Err(ElfError::SegmentOutsideFile);
        }
        if seg.memsz == 0 {
            continue;
        }
        let end = seg.vaddr.checked_add(seg.memsz).and_then(|e| e.checked_add(PAGE - 1));
        if seg.vaddr < USER_BASE || end.is_none_or(|e| e > USER_END) {
            return Err(ElfError::SegmentOutsideUserSpace);
        }
        let perms = seg.flags & (PF_R | PF_W | PF_X);
        if perms & PF_W != 0 && perms & PF_X != 0 {
            return Err(ElfError::WritableAndExecutable);
        }
        if perms == 0 {
            return Err(ElfError::NoPermissions);
        }
        if let Some(prev) = segments.last()
            && seg.page_start() < Segment::page_end(prev)
        {
            return Err(ElfError::Overlap);
        }
        segments.push(seg);
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadSegments);
    }
    let in_code = segments.iter().any(|s| s.flags & PF_X != 0 && entry >= s.vaddr && entry - s.vaddr < s.memsz);
    if !in_code {
        return Err(ElfError::BadEntry);
    }
    Ok(LoadPlan { entry, segments })
}

/// [`load_plan`] over bytes in memory.
pub fn load_plan_from_bytes(file: &[u8]) -> Result<LoadPlan, ElfError> {
    load_plan(file.len() as u64, |offset, buf: &mut [u8]| {
        let start = usize::try_from(offset).map_err(|_| ())?;
        let src = file.get(start..start.checked_add(buf.len()).ok_or(())?).ok_or(())?;
        buf.copy_from_slice(src);
        Ok::<(), ()>(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A minimal valid program: text R+X at 0x40_0000 (file 0x1000..0x1100), data R+W
    /// at 0x40_1000 with bss.
    fn program() -> Vec<u8> {
        let mut f = vec![0u8; 0x1200];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        f[18..20].copy_from_slice(&EM_AARCH64.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..32].copy_from_slice(&0x40_0010u64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        f[56..58].copy_from_slice(&3u16.to_le_bytes());
        let phdr = |f: &mut Vec<u8>, i: usize, ty: u32, flags: u32, off: u64, va: u64, filesz: u64, memsz: u64| {
            let at = 64 + i * PHDR_SIZE;
            f[at..at + 4].copy_from_slice(&ty.to_le_bytes());
            f[at + 4..at + 8].copy_from_slice(&flags.to_le_bytes());
            f[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
            f[at + 16..at + 24].copy_from_slice(&va.to_le_bytes());
            f[at + 32..at + 40].copy_from_slice(&filesz.to_le_bytes());
            f[at + 40..at + 48].copy_from_slice(&memsz.to_le_bytes());
        };
        phdr(&mut f, 0, PT_LOAD, PF_R | PF_X, 0x1000, 0x40_0000, 0x100, 0x100);
        phdr(&mut f, 1, 0x6474e551, PF_R | PF_W, 0, 0, 0, 0); // PT_GNU_STACK: ignored
        phdr(&mut f, 2, PT_LOAD, PF_R | PF_W, 0x1100, 0x40_1100, 0x100, 0x3000);
        f
    }

    fn set_phdr_u64(f: &mut [u8], i: usize, field: usize, v: u64) {
        let at = 64 + i * PHDR_SIZE + field;
        f[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn valid_program_gives_its_plan() {
        let plan = load_plan_from_bytes(&program()).unwrap();
        assert_eq!(plan.entry, 0x40_0010);
        assert_eq!(plan.segments.len(), 2);
        let data = plan.segments[1];
        assert_eq!((data.page_start(), data.page_end(), data.file_page_end()), (0x40_1000, 0x40_5000, 0x40_2000));
        assert!(data.mappable_from(0));
        assert!(data.mappable_from(0x3000));
        assert!(!data.mappable_from(0x204));
    }

    #[test]
    fn refuses_each_defect() {
        type Case = (fn(&mut Vec<u8>), ElfError);
        let cases: Vec<Case> = vec![
            (|f| f.truncate(40), ElfError::Truncated),
            (|f| f[1] = b'X', ElfError::BadMagic),
            (|f| f[4] = 1, ElfError::NotElf64),
            (|f| f[5] = 2, ElfError::NotLittleEndian),
            (|f| f[6] = 0, ElfError::BadVersion),
            (|f| f[16] = 3, ElfError::NotExecutable),
            (|f| f[18] = 62, ElfError::NotAarch64),
            (|f| f[54] = 32, ElfError::BadProgramHeaders),
            (|f| f[56..58].copy_from_slice(&0u16.to_le_bytes()), ElfError::BadProgramHeaders),
            (|f| f[32..40].copy_from_slice(&0x1180u64.to_le_bytes()), ElfError::Truncated),
            (|f| set_phdr_u64(f, 0, 32, 0x200), ElfError::FileSizeAboveMemSize),
            (|f| set_phdr_u64(f, 2, 8, 0x1180), ElfError::SegmentOutsideFile),
            (|f| set_phdr_u64(f, 0, 16, 0x1000), ElfError::SegmentOutsideUserSpace),
            (|f| set_phdr_u64(f, 2, 40, u64::MAX - 0x100), ElfError::SegmentOutsideUserSpace),
            (|f| f[64 + 4] = (PF_R | PF_W | PF_X) as u8, ElfError::WritableAndExecutable),
            (|f| f[64 + 2 * PHDR_SIZE + 4] = 0, ElfError::NoPermissions),
            (|f| set_phdr_u64(f, 2, 16, 0x40_0080), ElfError::Overlap),
            (|f| f[24..32].copy_from_slice(&0x40_1100u64.to_le_bytes()), ElfError::BadEntry),
            (
                |f| {
                    f[64..68].copy_from_slice(&7u32.to_le_bytes());
                    f[64 + 2 * PHDR_SIZE..64 + 2 * PHDR_SIZE + 4].copy_from_slice(&7u32.to_le_bytes());
                },
                ElfError::NoLoadSegments,
            ),
        ];
        for (i, (mutate, want)) in cases.into_iter().enumerate() {
            let mut f = program();
            mutate(&mut f);
            assert_eq!(load_plan_from_bytes(&f), Err(want), "case {i}");
        }
    }

    /// xorshift: deterministic pseudo-random numbers for the mutation test.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Mutation test: random byte flips, truncations and field overwrites of a valid
    /// program never panic, and every plan accepted is sound (inside the file and user
    /// space, sorted, no W+X, entry in code).
    #[test]
    fn random_mutations_never_panic_and_accepted_plans_are_sound() {
        let base = program();
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut accepted = 0;
        for _ in 0..200_000 {
            let mut f = base.clone();
            for _ in 0..1 + next(&mut state) % 4 {
                let r = next(&mut state);
                let at = (r >> 8) as usize % 0x1c0;
                if at + 8 > f.len() {
                    continue;
                }
                match r % 4 {
                    0 => f[at] ^= 1 << ((r >> 40) % 8),
                    1 => f[at] = (r >> 32) as u8,
                    2 => {
                        let v = next(&mut state);
                        f[at..at + 8].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => f.truncate(((r >> 16) as usize % 0x1200).max(1)),
                }
            }
            if let Ok(plan) = load_plan_from_bytes(&f) {
                accepted += 1;
                let mut last_end = 0;
                for s in &plan.segments {
                    assert!(s.offset + s.filesz <= f.len() as u64);
                    assert!(s.vaddr >= USER_BASE && s.page_end() <= USER_END);
                    assert!(s.page_start() >= last_end);
                    assert!(s.flags & PF_W == 0 || s.flags & PF_X == 0);
                    assert!(s.filesz <= s.memsz);
                    last_end = s.page_end();
                }
            }
        }
        assert!(accepted > 0, "some mutations (of unchecked bytes) must stay valid");
    }

    #[test]
    fn failing_reader_reads_as_truncated() {
        let r = load_plan(4096, |_, _: &mut [u8]| Err(()));
        assert_eq!(r, Err(ElfError::Truncated));
    }
}
