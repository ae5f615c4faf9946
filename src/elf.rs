//! Validation of the initrd's ELF64 image (ABI.md §2): turns untrusted bytes into a
//! [`LoadPlan`] of segments that are safe to map, or one [`ElfError`] that says why not.
//!
//! Only what userboot needs is read: the file header and the `PT_LOAD` program headers.
//! Every field is read with bounds-checked little-endian accessors and every sum with
//! checked arithmetic, so no input can make the parser panic.

use alloc::vec::Vec;
use core::fmt;

use crate::abi::{PAGE_SIZE, USER_BASE, USER_END};

/// What to map for the program: its entry point and its loadable segments, in
/// program-header order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadPlan {
    /// `e_entry`: where the first thread starts, inside an executable segment.
    pub entry: u64,
    /// The `PT_LOAD` segments; no two touch the same page.
    pub segments: Vec<Segment>,
    /// One past the top of the stack region: the highest place below `USER_END` where
    /// the [`STACK_REGION_BYTES`] of guard, stack and command line, and one free page
    /// above them, touch no segment (see [`place_stack`]).
    pub stack_top: u64,
}

/// Bytes of the region userboot puts below [`LoadPlan::stack_top`]: a guard page, the
/// 256 KiB stack and the command-line page.
pub const STACK_REGION_BYTES: u64 = 256 * 1024 + 2 * PAGE_SIZE;

/// Where the stack region goes: its top (exclusive) is the highest page boundary at or
/// below `USER_END - PAGE_SIZE` such that `[top - STACK_REGION_BYTES, top + PAGE_SIZE)`
/// touches no page of `segments` (the page above stays unmapped). So the stack sits at
/// the top of user space unless the program is there, and then just below the program's
/// pages. `None` when no such place exists at or above `USER_BASE`.
pub fn place_stack(segments: &[Segment]) -> Option<u64> {
    let mut top = USER_END - PAGE_SIZE;
    loop {
        let low = top.checked_sub(STACK_REGION_BYTES).filter(|&low| low >= USER_BASE)?;
        let clash = segments.iter().filter(|s| s.page_start() < top + PAGE_SIZE && s.page_end() > low);
        match clash.map(Segment::page_start).min() {
            None => return Some(top),
            // Strictly lower each time, so the loop ends.
            Some(start) => top = start.checked_sub(PAGE_SIZE)?,
        }
    }
}

/// One `PT_LOAD` segment: `memsz` bytes at `vaddr`, the first `filesz` of them copied from
/// the file at `file_offset`, the rest zero. A segment with no permission at all is
/// reserved address space that is never accessible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// `p_vaddr`: first byte in user space (not necessarily page aligned).
    pub vaddr: u64,
    /// `p_memsz`: bytes in memory.
    pub memsz: u64,
    /// `p_offset`: where the file bytes start; congruent to `vaddr` modulo the page size.
    pub file_offset: u64,
    /// `p_filesz`: bytes copied from the file, at most `memsz`.
    pub filesz: u64,
    /// `PF_R`.
    pub read: bool,
    /// `PF_W`; never together with `execute`, never without `read`.
    pub write: bool,
    /// `PF_X`.
    pub execute: bool,
}

impl Segment {
    /// First byte of the first page the segment touches.
    pub fn page_start(&self) -> u64 {
        self.vaddr & !(PAGE_SIZE - 1)
    }

    /// One past the last page the segment touches (validated not to overflow).
    pub fn page_end(&self) -> u64 {
        let end = self.vaddr.saturating_add(self.memsz);
        end.saturating_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
    }

    fn same_permissions(&self, other: &Segment) -> bool {
        (self.read, self.write, self.execute) == (other.read, other.write, other.execute)
    }
}

/// Why an image was refused. Segments are numbered by their program header index, as
/// `readelf -l` numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the 64-byte file header.
    TooShort {
        /// Bytes in the file.
        len: usize,
    },
    /// Does not start with `\x7fELF`.
    BadMagic,
    /// `EI_CLASS` is not `ELFCLASS64`.
    NotElf64 {
        /// The `EI_CLASS` found.
        class: u8,
    },
    /// `EI_DATA` is not `ELFDATA2LSB`.
    NotLittleEndian {
        /// The `EI_DATA` found.
        data: u8,
    },
    /// `EI_VERSION` or `e_version` is not 1.
    BadVersion {
        /// The version found.
        version: u32,
    },
    /// `e_type` is not `ET_EXEC`.
    NotExecutable {
        /// The `e_type` found.
        elf_type: u16,
    },
    /// `e_machine` is not `EM_AARCH64`.
    WrongMachine {
        /// The `e_machine` found.
        machine: u16,
    },
    /// `e_phentsize` is not 56.
    BadProgramHeaderSize {
        /// The `e_phentsize` found.
        size: u16,
    },
    /// The program header table does not lie wholly inside the file.
    ProgramHeadersOutsideFile {
        /// The `e_phoff` found.
        offset: u64,
        /// The `e_phnum` found.
        count: u16,
    },
    /// No `PT_LOAD` header.
    NoLoadSegment,
    /// `p_filesz > p_memsz`.
    FileSizeExceedsMemSize {
        /// Program header index of the segment.
        segment: usize,
        /// Its `p_filesz`.
        filesz: u64,
        /// Its `p_memsz`.
        memsz: u64,
    },
    /// `[p_vaddr, p_vaddr + p_memsz)` is not inside user space (or overflows).
    OutsideUserSpace {
        /// Program header index of the segment.
        segment: usize,
        /// Its `p_vaddr`.
        vaddr: u64,
        /// Its `p_memsz`.
        memsz: u64,
    },
    /// `[p_offset, p_offset + p_filesz)` is not inside the file (or overflows).
    FileRangeOutsideFile {
        /// Program header index of the segment.
        segment: usize,
        /// Its `p_offset`.
        offset: u64,
        /// Its `p_filesz`.
        filesz: u64,
    },
    /// `PF_W` and `PF_X` together.
    WritableAndExecutable {
        /// Program header index of the segment.
        segment: usize,
        /// Its `p_vaddr`.
        vaddr: u64,
    },
    /// `PF_W` without `PF_R`: no page table can express it.
    WritableNotReadable {
        /// Program header index of the segment.
        segment: usize,
        /// Its `p_vaddr`.
        vaddr: u64,
    },
    /// `PF_X` without `PF_R`: Zircon's mapping rules (and so `zx_vmar_map`) do not
    /// allow execute-only mappings, so the loader cannot give the segment exactly its
    /// permissions.
    ExecutableNotReadable {
        /// Program header index of the segment.
        segment: usize,
        /// Its `p_vaddr`.
        vaddr: u64,
    },
    /// `p_align` is neither 0 nor a power of two.
    BadAlignment {
        /// Program header index of the segment.
        segment: usize,
        /// Its `p_align`.
        align: u64,
    },
    /// `p_offset` and `p_vaddr` differ modulo the page size.
    OffsetNotCongruent {
        /// Program header index of the segment.
        segment: usize,
        /// Its `p_vaddr`.
        vaddr: u64,
        /// Its `p_offset`.
        offset: u64,
    },
    /// Two segments cover the same bytes, or share a page with equal permissions.
    OverlappingSegments {
        /// Program header index of the first segment.
        first: usize,
        /// Program header index of the second segment.
        second: usize,
        /// The first page they both touch.
        page: u64,
    },
    /// Two segments with different permissions share a page.
    SharedPageDifferentPermissions {
        /// Program header index of the first segment.
        first: usize,
        /// Program header index of the second segment.
        second: usize,
        /// The first page they both touch.
        page: u64,
    },
    /// `e_entry` is not inside an executable segment.
    EntryNotExecutable {
        /// The `e_entry` found.
        entry: u64,
    },
    /// The kernel heap could not hold the segment list.
    OutOfMemory,
    /// More than [`MAX_LOAD_SEGMENTS`] `PT_LOAD` headers.
    TooManySegments {
        /// How many `PT_LOAD` headers the image has.
        count: usize,
    },
    /// The segments leave no room anywhere in user space for the stack region.
    NoRoomForStack,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ElfError::TooShort { len } => {
                write!(f, "initrd: {len} bytes is too short for an ELF64 header")
            }
            ElfError::BadMagic => write!(f, "initrd: not an ELF file (bad magic)"),
            ElfError::NotElf64 { class } => {
                write!(f, "initrd: ELF class {class} is not ELF64 (2)")
            }
            ElfError::NotLittleEndian { data } => {
                write!(f, "initrd: ELF data encoding {data} is not little-endian (1)")
            }
            ElfError::BadVersion { version } => {
                write!(f, "initrd: ELF version {version} is not 1")
            }
            ElfError::NotExecutable { elf_type } => {
                write!(f, "initrd: ELF type {elf_type} is not a static executable (ET_EXEC, 2)")
            }
            ElfError::WrongMachine { machine } => {
                write!(f, "initrd: ELF machine {machine} is not AArch64 (183)")
            }
            ElfError::BadProgramHeaderSize { size } => {
                write!(f, "initrd: program header size {size} is not 56")
            }
            ElfError::ProgramHeadersOutsideFile { offset, count } => {
                write!(f, "initrd: {count} program headers at offset {offset:#x} lie outside the file")
            }
            ElfError::NoLoadSegment => write!(f, "initrd: no PT_LOAD segment"),
            ElfError::FileSizeExceedsMemSize { segment, filesz, memsz } => {
                write!(f, "initrd: segment {segment} has file size {filesz:#x} above its memory size {memsz:#x}")
            }
            ElfError::OutsideUserSpace { segment, vaddr, memsz } => write!(
                f,
                "initrd: segment {segment} at {vaddr:#x} (size {memsz:#x}) is outside user space \
                 [{USER_BASE:#x}, {USER_END:#x})"
            ),
            ElfError::FileRangeOutsideFile { segment, offset, filesz } => {
                write!(f, "initrd: segment {segment} file range {offset:#x}+{filesz:#x} lies outside the file")
            }
            ElfError::WritableAndExecutable { segment, vaddr } => {
                write!(f, "initrd: segment {segment} at {vaddr:#x} is both writable and executable")
            }
            ElfError::WritableNotReadable { segment, vaddr } => {
                write!(f, "initrd: segment {segment} at {vaddr:#x} is writable but not readable")
            }
            ElfError::ExecutableNotReadable { segment, vaddr } => {
                write!(f, "initrd: segment {segment} at {vaddr:#x} is executable but not readable")
            }
            ElfError::BadAlignment { segment, align } => {
                write!(f, "initrd: segment {segment} alignment {align:#x} is not a power of two")
            }
            ElfError::OffsetNotCongruent { segment, vaddr, offset } => write!(
                f,
                "initrd: segment {segment} at {vaddr:#x} has file offset {offset:#x} \
                 not congruent to it modulo the page size"
            ),
            ElfError::OverlappingSegments { first, second, page } => {
                write!(f, "initrd: segments {first} and {second} overlap at page {page:#x}")
            }
            ElfError::SharedPageDifferentPermissions { first, second, page } => {
                write!(f, "initrd: segments {first} and {second} share page {page:#x} with different permissions")
            }
            ElfError::EntryNotExecutable { entry } => {
                write!(f, "initrd: entry point {entry:#x} is not inside an executable segment")
            }
            ElfError::OutOfMemory => write!(f, "initrd: out of memory reading program headers"),
            ElfError::NoRoomForStack => {
                write!(f, "initrd: the segments leave no room for the {STACK_REGION_BYTES}-byte stack region")
            }
            ElfError::TooManySegments { count } => {
                write!(f, "initrd: {count} PT_LOAD segments, more than the {MAX_LOAD_SEGMENTS} the loader takes")
            }
        }
    }
}

/// Most `PT_LOAD` headers an image may have. Each becomes a VMO and a mapping, so the
/// count bounds what loading costs; real programs have a handful.
pub const MAX_LOAD_SEGMENTS: usize = 1024;

// ELF constants (System V gABI, AArch64 ELF ABI).
const ELF_MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];
const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const EV_CURRENT: u32 = 1;
const ET_EXEC: u16 = 2;
const EM_AARCH64: u16 = 183;
const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;
const FILE_HEADER_SIZE: usize = 64;
const PROGRAM_HEADER_SIZE: u16 = 56;

// File header field offsets.
const EI_CLASS: usize = 4;
const EI_DATA: usize = 5;
const EI_VERSION: usize = 6;
const E_TYPE: usize = 16;
const E_MACHINE: usize = 18;
const E_VERSION: usize = 20;
const E_ENTRY: usize = 24;
const E_PHOFF: usize = 32;
const E_PHENTSIZE: usize = 54;
const E_PHNUM: usize = 56;

// Program header field offsets.
const P_TYPE: usize = 0;
const P_FLAGS: usize = 4;
const P_OFFSET: usize = 8;
const P_VADDR: usize = 16;
const P_FILESZ: usize = 32;
const P_MEMSZ: usize = 40;
const P_ALIGN: usize = 48;

/// Little-endian reads that fail instead of panicking.
fn bytes<const N: usize>(image: &[u8], offset: usize) -> Option<[u8; N]> {
    image.get(offset..offset.checked_add(N)?)?.try_into().ok()
}

fn read_u8(image: &[u8], offset: usize) -> Option<u8> {
    image.get(offset).copied()
}

fn read_u16(image: &[u8], offset: usize) -> Option<u16> {
    bytes(image, offset).map(u16::from_le_bytes)
}

fn read_u32(image: &[u8], offset: usize) -> Option<u32> {
    bytes(image, offset).map(u32::from_le_bytes)
}

fn read_u64(image: &[u8], offset: usize) -> Option<u64> {
    bytes(image, offset).map(u64::from_le_bytes)
}

/// Validates `image` as a static AArch64 executable for user space and returns what to
/// map. The checks, in order:
///
/// 1. the file holds a whole 64-byte header;
/// 2. magic, class ELF64, little-endian, version 1, type `ET_EXEC`, machine `EM_AARCH64`;
/// 3. program headers are 56 bytes each and lie wholly inside the file; at most
///    [`MAX_LOAD_SEGMENTS`] of them are `PT_LOAD`;
/// 4. each `PT_LOAD` (others are ignored; empty ones are checked, then left out): `filesz <= memsz`; `[vaddr, vaddr + memsz)`
///    inside user space; file range inside the file; not writable and executable; not
///    writable without readable; `p_align` zero or a power of two; `p_offset` congruent
///    to `p_vaddr` modulo the page size;
/// 5. at least one `PT_LOAD`;
/// 6. no two segments touch the same page (segments are mapped a page at a time);
/// 7. the entry point lies inside an executable segment;
/// 8. the stack region fits somewhere the segments are not ([`place_stack`]).
pub fn parse(image: &[u8]) -> Result<LoadPlan, ElfError> {
    // 1. A whole file header; after this every header read below succeeds.
    if image.len() < FILE_HEADER_SIZE {
        return Err(ElfError::TooShort { len: image.len() });
    }
    let header_u8 = |offset| read_u8(image, offset).unwrap_or_default();
    let header_u16 = |offset| read_u16(image, offset).unwrap_or_default();
    let header_u32 = |offset| read_u32(image, offset).unwrap_or_default();
    let header_u64 = |offset| read_u64(image, offset).unwrap_or_default();

    // 2. Identification.
    if image.get(..4) != Some(&ELF_MAGIC[..]) {
        return Err(ElfError::BadMagic);
    }
    let class = header_u8(EI_CLASS);
    if class != ELFCLASS64 {
        return Err(ElfError::NotElf64 { class });
    }
    let data = header_u8(EI_DATA);
    if data != ELFDATA2LSB {
        return Err(ElfError::NotLittleEndian { data });
    }
    let ident_version = u32::from(header_u8(EI_VERSION));
    if ident_version != EV_CURRENT {
        return Err(ElfError::BadVersion { version: ident_version });
    }
    let version = header_u32(E_VERSION);
    if version != EV_CURRENT {
        return Err(ElfError::BadVersion { version });
    }
    let elf_type = header_u16(E_TYPE);
    if elf_type != ET_EXEC {
        return Err(ElfError::NotExecutable { elf_type });
    }
    let machine = header_u16(E_MACHINE);
    if machine != EM_AARCH64 {
        return Err(ElfError::WrongMachine { machine });
    }

    // 3. The program header table.
    let entry = header_u64(E_ENTRY);
    let phoff = header_u64(E_PHOFF);
    let phentsize = header_u16(E_PHENTSIZE);
    let phnum = header_u16(E_PHNUM);
    if phentsize != PROGRAM_HEADER_SIZE {
        return Err(ElfError::BadProgramHeaderSize { size: phentsize });
    }
    let table_outside = ElfError::ProgramHeadersOutsideFile { offset: phoff, count: phnum };
    let table_start = usize::try_from(phoff).map_err(|_| table_outside)?;
    let table_end =
        (usize::from(phnum) * usize::from(PROGRAM_HEADER_SIZE)).checked_add(table_start).ok_or(table_outside)?;
    let table = image.get(table_start..table_end).ok_or(table_outside)?;
    let loads = table.chunks_exact(usize::from(PROGRAM_HEADER_SIZE)).filter(|h| read_u32(h, P_TYPE) == Some(PT_LOAD));
    let count = loads.count();
    if count > MAX_LOAD_SEGMENTS {
        return Err(ElfError::TooManySegments { count });
    }

    // 4. Each loadable segment on its own.
    let mut segments = Vec::new();
    let mut indexes = Vec::new();
    for (index, header) in table.chunks_exact(usize::from(PROGRAM_HEADER_SIZE)).enumerate() {
        if read_u32(header, P_TYPE) != Some(PT_LOAD) {
            continue;
        }
        let segment = check_segment(image, index, header)?;
        // An empty segment maps nothing; leaving it out spares the loader a special case.
        if segment.memsz == 0 {
            continue;
        }
        segments.try_reserve(1).map_err(|_| ElfError::OutOfMemory)?;
        indexes.try_reserve(1).map_err(|_| ElfError::OutOfMemory)?;
        segments.push(segment);
        indexes.push(index);
    }

    // 5. Something to run.
    if segments.is_empty() {
        return Err(ElfError::NoLoadSegment);
    }

    // 6. No page belongs to two segments. Sorting by start page makes any overlap show
    //    up between neighbours.
    let mut order: Vec<usize> = Vec::new();
    order.try_reserve_exact(segments.len()).map_err(|_| ElfError::OutOfMemory)?;
    order.extend(0..segments.len());
    order.sort_unstable_by_key(|&i| segments.get(i).map(|s| (s.page_start(), s.vaddr)));
    for pair in order.windows(2) {
        let (Some(&a), Some(&b)) = (pair.first(), pair.get(1)) else {
            continue;
        };
        let (Some(first), Some(second)) = (segments.get(a), segments.get(b)) else {
            continue;
        };
        if second.page_start() < first.page_end() {
            let (first_index, second_index) =
                (indexes.get(a).copied().unwrap_or(a), indexes.get(b).copied().unwrap_or(b));
            let page = second.page_start();
            let bytes_overlap = second.vaddr < first.vaddr.saturating_add(first.memsz);
            return Err(if bytes_overlap || first.same_permissions(second) {
                ElfError::OverlappingSegments { first: first_index, second: second_index, page }
            } else {
                ElfError::SharedPageDifferentPermissions { first: first_index, second: second_index, page }
            });
        }
    }

    // 7. The first instruction is executable.
    let entry_ok = segments.iter().any(|s| s.execute && s.vaddr <= entry && entry - s.vaddr < s.memsz);
    if !entry_ok {
        return Err(ElfError::EntryNotExecutable { entry });
    }

    // 8. Somewhere for the stack.
    let stack_top = place_stack(&segments).ok_or(ElfError::NoRoomForStack)?;

    Ok(LoadPlan { entry, segments, stack_top })
}

/// The checks of step 4 for the `PT_LOAD` header at `index`.
fn check_segment(image: &[u8], index: usize, header: &[u8]) -> Result<Segment, ElfError> {
    let field = |offset| read_u64(header, offset).unwrap_or_default();
    let flags = read_u32(header, P_FLAGS).unwrap_or_default();
    let segment = Segment {
        vaddr: field(P_VADDR),
        memsz: field(P_MEMSZ),
        file_offset: field(P_OFFSET),
        filesz: field(P_FILESZ),
        read: flags & PF_R != 0,
        write: flags & PF_W != 0,
        execute: flags & PF_X != 0,
    };
    let Segment { vaddr, memsz, file_offset, filesz, .. } = segment;
    let align = field(P_ALIGN);

    if filesz > memsz {
        return Err(ElfError::FileSizeExceedsMemSize { segment: index, filesz, memsz });
    }
    let in_user_space = vaddr >= USER_BASE && vaddr.checked_add(memsz).is_some_and(|end| end <= USER_END);
    if !in_user_space {
        return Err(ElfError::OutsideUserSpace { segment: index, vaddr, memsz });
    }
    let in_file = file_offset.checked_add(filesz).is_some_and(|end| end <= image.len() as u64);
    if !in_file {
        return Err(ElfError::FileRangeOutsideFile { segment: index, offset: file_offset, filesz });
    }
    if segment.write && segment.execute {
        return Err(ElfError::WritableAndExecutable { segment: index, vaddr });
    }
    if segment.write && !segment.read {
        return Err(ElfError::WritableNotReadable { segment: index, vaddr });
    }
    if segment.execute && !segment.read {
        return Err(ElfError::ExecutableNotReadable { segment: index, vaddr });
    }
    if align != 0 && !align.is_power_of_two() {
        return Err(ElfError::BadAlignment { segment: index, align });
    }
    if vaddr % PAGE_SIZE != file_offset % PAGE_SIZE {
        return Err(ElfError::OffsetNotCongruent { segment: index, vaddr, offset: file_offset });
    }
    Ok(segment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;
    use std::string::ToString;
    use std::vec;

    /// One program header for the builder.
    #[derive(Clone, Copy)]
    struct Ph {
        kind: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
        memsz: u64,
        align: u64,
    }

    const R: u32 = PF_R;
    const RW: u32 = PF_R | PF_W;
    const RX: u32 = PF_R | PF_X;

    fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
        Ph { kind: PT_LOAD, flags, offset, vaddr, filesz, memsz, align: 0x1000 }
    }

    /// Builds an ELF64 image: header, program headers at offset 64, and a file long
    /// enough for every segment's file range (filled with a pattern).
    struct Builder {
        entry: u64,
        phdrs: Vec<Ph>,
    }

    impl Builder {
        /// A typical static program: RX text over the headers, RW data, a bss-only RW
        /// segment and a non-load header (GNU_STACK).
        fn valid() -> Self {
            Builder {
                entry: 0x40_0100,
                phdrs: vec![
                    load(RX, 0, 0x40_0000, 0x300, 0x300),
                    load(RW, 0x1000, 0x40_1000, 0x10, 0x2000),
                    load(RW, 0, 0x40_4000, 0, 0x1000),
                    Ph { kind: 0x6474_e551, flags: RW, offset: 0, vaddr: 0, filesz: 0, memsz: 0, align: 16 },
                ],
            }
        }

        fn bytes(&self) -> Vec<u8> {
            let table_end = 64 + 56 * self.phdrs.len();
            let file_end = self
                .phdrs
                .iter()
                .filter(|p| p.kind == PT_LOAD)
                .map(|p| p.offset.saturating_add(p.filesz).min(1 << 20) as usize)
                .max()
                .unwrap_or(0);
            let mut image: Vec<u8> = (0..table_end.max(file_end)).map(|i| (i * 7) as u8).collect();
            image[..64].fill(0);
            image[..4].copy_from_slice(&ELF_MAGIC);
            image[EI_CLASS] = ELFCLASS64;
            image[EI_DATA] = ELFDATA2LSB;
            image[EI_VERSION] = 1;
            image[E_TYPE..E_TYPE + 2].copy_from_slice(&ET_EXEC.to_le_bytes());
            image[E_MACHINE..E_MACHINE + 2].copy_from_slice(&EM_AARCH64.to_le_bytes());
            image[E_VERSION..E_VERSION + 4].copy_from_slice(&1u32.to_le_bytes());
            image[E_ENTRY..E_ENTRY + 8].copy_from_slice(&self.entry.to_le_bytes());
            image[E_PHOFF..E_PHOFF + 8].copy_from_slice(&64u64.to_le_bytes());
            image[52..54].copy_from_slice(&64u16.to_le_bytes());
            image[E_PHENTSIZE..E_PHENTSIZE + 2].copy_from_slice(&56u16.to_le_bytes());
            image[E_PHNUM..E_PHNUM + 2].copy_from_slice(&(self.phdrs.len() as u16).to_le_bytes());
            for (i, p) in self.phdrs.iter().enumerate() {
                let h = &mut image[64 + 56 * i..64 + 56 * (i + 1)];
                h.fill(0);
                h[P_TYPE..P_TYPE + 4].copy_from_slice(&p.kind.to_le_bytes());
                h[P_FLAGS..P_FLAGS + 4].copy_from_slice(&p.flags.to_le_bytes());
                h[P_OFFSET..P_OFFSET + 8].copy_from_slice(&p.offset.to_le_bytes());
                h[P_VADDR..P_VADDR + 8].copy_from_slice(&p.vaddr.to_le_bytes());
                h[24..32].copy_from_slice(&p.vaddr.to_le_bytes());
                h[P_FILESZ..P_FILESZ + 8].copy_from_slice(&p.filesz.to_le_bytes());
                h[P_MEMSZ..P_MEMSZ + 8].copy_from_slice(&p.memsz.to_le_bytes());
                h[P_ALIGN..P_ALIGN + 8].copy_from_slice(&p.align.to_le_bytes());
            }
            image
        }
    }

    fn parse_with(edit: impl FnOnce(&mut Builder)) -> Result<LoadPlan, ElfError> {
        let mut builder = Builder::valid();
        edit(&mut builder);
        parse(&builder.bytes())
    }

    fn parse_bytes_with(edit: impl FnOnce(&mut Vec<u8>)) -> Result<LoadPlan, ElfError> {
        let mut image = Builder::valid().bytes();
        edit(&mut image);
        parse(&image)
    }

    #[test]
    fn valid_image_gives_the_load_plan() {
        let plan = parse(&Builder::valid().bytes()).unwrap();
        assert_eq!(plan.entry, 0x40_0100);
        assert_eq!(
            plan.segments,
            [
                Segment {
                    vaddr: 0x40_0000,
                    memsz: 0x300,
                    file_offset: 0,
                    filesz: 0x300,
                    read: true,
                    write: false,
                    execute: true
                },
                Segment {
                    vaddr: 0x40_1000,
                    memsz: 0x2000,
                    file_offset: 0x1000,
                    filesz: 0x10,
                    read: true,
                    write: true,
                    execute: false
                },
                Segment {
                    vaddr: 0x40_4000,
                    memsz: 0x1000,
                    file_offset: 0,
                    filesz: 0,
                    read: true,
                    write: true,
                    execute: false
                },
            ]
        );
        assert_eq!(plan.segments[1].page_start(), 0x40_1000);
        assert_eq!(plan.segments[1].page_end(), 0x40_3000);
    }

    #[test]
    fn many_segments_are_accepted() {
        let plan = parse_with(|b| {
            b.phdrs.push(load(R, 0, 0x40_0000, 0, 0)); // empty: dropped from the plan
            for i in 0..20 {
                b.phdrs.push(load(R, 0, 0x50_0000 + i * 0x1000, 0, 0x800));
            }
        })
        .unwrap();
        assert_eq!(plan.segments.len(), 23);
        assert!(plan.segments[0].read && plan.segments[0].execute);
    }

    /// Issue 13, defect 2: 40,001 PT_LOAD segments made the kernel run out of heap at
    /// boot (one VMO and one mapping each). More than [`MAX_LOAD_SEGMENTS`] is refused.
    #[test]
    fn refuses_too_many_load_segments() {
        let many = |count: u64| {
            parse_with(|b| {
                b.phdrs.truncate(1);
                for i in 1..count {
                    b.phdrs.push(load(R, 0, 0x50_0000 + i * 0x1000, 0, 0x1000));
                }
            })
        };
        assert_eq!(many(40_001).map(|plan| plan.segments.len()), Err(ElfError::TooManySegments { count: 40_001 }));
        assert_eq!(many(MAX_LOAD_SEGMENTS as u64).map(|plan| plan.segments.len()), Ok(MAX_LOAD_SEGMENTS));
        assert_eq!(
            many(MAX_LOAD_SEGMENTS as u64 + 1).map(|plan| plan.segments.len()),
            Err(ElfError::TooManySegments { count: MAX_LOAD_SEGMENTS + 1 })
        );
    }

    /// Issue 13, defect 4: a valid program with a segment in the top 264 KiB of user
    /// space, where the stack always went, gets its stack below that segment.
    #[test]
    fn stack_goes_where_the_program_is_not() {
        let plan = parse(&Builder::valid().bytes()).unwrap();
        assert_eq!(plan.stack_top, USER_END - PAGE_SIZE, "the top of user space when it is free");
        for vaddr in [USER_END - PAGE_SIZE, USER_END - 0x4_0000, USER_END - STACK_REGION_BYTES - PAGE_SIZE] {
            let plan = parse_with(|b| b.phdrs.push(load(RW, 0, vaddr, 0, 0x800))).unwrap();
            let low = plan.stack_top - STACK_REGION_BYTES;
            assert!(low >= USER_BASE);
            for s in &plan.segments {
                assert!(s.page_end() <= low || s.page_start() >= plan.stack_top + PAGE_SIZE, "{vaddr:#x}: {s:?}");
            }
            assert_eq!(plan.stack_top, (vaddr & !(PAGE_SIZE - 1)) - PAGE_SIZE, "just below {vaddr:#x}");
        }
        // Two segments with a gap too small for the region between them: below both.
        let plan = parse_with(|b| {
            b.phdrs.push(load(RW, 0, USER_END - 0x1000, 0, 0x1000));
            b.phdrs.push(load(R, 0, USER_END - 0x2_0000, 0, 0x1000));
        })
        .unwrap();
        assert_eq!(plan.stack_top, USER_END - 0x2_0000 - PAGE_SIZE);
        // A program that fills user space leaves no room: refused, not a kernel failure.
        assert_eq!(
            parse_with(|b| {
                b.entry = USER_BASE;
                b.phdrs = vec![load(RX, 0, USER_BASE, 0, USER_END - USER_BASE)];
            }),
            Err(ElfError::NoRoomForStack)
        );
    }

    #[test]
    fn refuses_execute_only_segment() {
        assert_eq!(
            parse_with(|b| b.phdrs[0].flags = PF_X),
            Err(ElfError::ExecutableNotReadable { segment: 0, vaddr: 0x40_0000 })
        );
    }

    #[test]
    fn refuses_short_file() {
        let image = Builder::valid().bytes();
        assert_eq!(parse(&image[..63]), Err(ElfError::TooShort { len: 63 }));
        assert_eq!(parse(&[]), Err(ElfError::TooShort { len: 0 }));
    }

    #[test]
    fn refuses_bad_magic() {
        assert_eq!(parse_bytes_with(|i| i[1] = b'e'), Err(ElfError::BadMagic));
    }

    #[test]
    fn refuses_elf32() {
        assert_eq!(parse_bytes_with(|i| i[EI_CLASS] = 1), Err(ElfError::NotElf64 { class: 1 }));
    }

    #[test]
    fn refuses_big_endian() {
        assert_eq!(parse_bytes_with(|i| i[EI_DATA] = 2), Err(ElfError::NotLittleEndian { data: 2 }));
    }

    #[test]
    fn refuses_bad_versions() {
        assert_eq!(parse_bytes_with(|i| i[EI_VERSION] = 0), Err(ElfError::BadVersion { version: 0 }));
        assert_eq!(parse_bytes_with(|i| i[E_VERSION] = 2), Err(ElfError::BadVersion { version: 2 }));
    }

    #[test]
    fn refuses_shared_object() {
        assert_eq!(parse_bytes_with(|i| i[E_TYPE] = 3), Err(ElfError::NotExecutable { elf_type: 3 }));
    }

    #[test]
    fn refuses_other_machines() {
        assert_eq!(parse_bytes_with(|i| i[E_MACHINE] = 62), Err(ElfError::WrongMachine { machine: 62 }));
    }

    #[test]
    fn refuses_wrong_program_header_size() {
        assert_eq!(parse_bytes_with(|i| i[E_PHENTSIZE] = 64), Err(ElfError::BadProgramHeaderSize { size: 64 }));
    }

    #[test]
    fn refuses_program_headers_outside_the_file() {
        let image = Builder::valid().bytes();
        let len = image.len() as u64;
        let set_phoff = |value: u64| {
            let mut image = image.clone();
            image[E_PHOFF..E_PHOFF + 8].copy_from_slice(&value.to_le_bytes());
            parse(&image)
        };
        assert_eq!(set_phoff(len - 8), Err(ElfError::ProgramHeadersOutsideFile { offset: len - 8, count: 4 }));
        assert_eq!(
            set_phoff(u64::MAX - 8),
            Err(ElfError::ProgramHeadersOutsideFile { offset: u64::MAX - 8, count: 4 })
        );
        // The table itself cut short by the end of the file.
        let short = &image[..64 + 56 * 3];
        assert_eq!(parse(short), Err(ElfError::ProgramHeadersOutsideFile { offset: 64, count: 4 }));
    }

    #[test]
    fn refuses_image_without_load_segment() {
        assert_eq!(parse_with(|b| b.phdrs.retain(|p| p.kind != PT_LOAD)), Err(ElfError::NoLoadSegment));
        assert_eq!(parse_bytes_with(|i| i[E_PHNUM] = 0), Err(ElfError::NoLoadSegment));
    }

    #[test]
    fn refuses_segment_outside_user_space() {
        let low = parse_with(|b| b.phdrs[2].vaddr = 0xf000);
        assert_eq!(low, Err(ElfError::OutsideUserSpace { segment: 2, vaddr: 0xf000, memsz: 0x1000 }));
        let high = parse_with(|b| b.phdrs[2].vaddr = USER_END - 0x800);
        assert_eq!(high, Err(ElfError::OutsideUserSpace { segment: 2, vaddr: USER_END - 0x800, memsz: 0x1000 }));
        let wrapping = parse_with(|b| {
            b.phdrs[2].vaddr = 0x40_4000;
            b.phdrs[2].memsz = u64::MAX - 0x1000;
        });
        assert!(matches!(wrapping, Err(ElfError::OutsideUserSpace { segment: 2, .. })));
        // Ending exactly at the top of user space is fine.
        assert!(parse_with(|b| b.phdrs[2].vaddr = USER_END - 0x1000).is_ok());
    }

    #[test]
    fn refuses_file_size_above_memory_size() {
        assert_eq!(
            parse_with(|b| b.phdrs[1].filesz = 0x3000),
            Err(ElfError::FileSizeExceedsMemSize { segment: 1, filesz: 0x3000, memsz: 0x2000 })
        );
    }

    #[test]
    fn refuses_file_range_outside_the_file() {
        let image = Builder::valid().bytes();
        let mut edited = Builder::valid();
        edited.phdrs[1].offset = image.len() as u64 & !0xfff;
        edited.phdrs[1].filesz = 0x1000;
        let mut bytes = edited.bytes();
        bytes.truncate(image.len());
        assert!(matches!(parse(&bytes), Err(ElfError::FileRangeOutsideFile { segment: 1, .. })));
        let overflow = parse_with(|b| {
            b.phdrs[1].offset = u64::MAX - 0xfff;
            b.phdrs[1].filesz = 0x1000;
        });
        assert!(matches!(overflow, Err(ElfError::FileRangeOutsideFile { segment: 1, .. })));
    }

    #[test]
    fn refuses_writable_and_executable_segment() {
        let result = parse_with(|b| b.phdrs[1].flags = PF_R | PF_W | PF_X);
        assert_eq!(result, Err(ElfError::WritableAndExecutable { segment: 1, vaddr: 0x40_1000 }));
        assert_eq!(result.unwrap_err().to_string(), "initrd: segment 1 at 0x401000 is both writable and executable");
    }

    #[test]
    fn refuses_write_only_segment() {
        assert_eq!(
            parse_with(|b| b.phdrs[1].flags = PF_W),
            Err(ElfError::WritableNotReadable { segment: 1, vaddr: 0x40_1000 })
        );
    }

    #[test]
    fn refuses_bad_alignment() {
        assert_eq!(
            parse_with(|b| b.phdrs[1].align = 0x1800),
            Err(ElfError::BadAlignment { segment: 1, align: 0x1800 })
        );
    }

    #[test]
    fn refuses_offset_not_congruent_to_address() {
        assert_eq!(
            parse_with(|b| b.phdrs[1].offset = 0x1008),
            Err(ElfError::OffsetNotCongruent { segment: 1, vaddr: 0x40_1000, offset: 0x1008 })
        );
    }

    #[test]
    fn refuses_overlapping_segments() {
        // Byte ranges overlap.
        assert_eq!(
            parse_with(|b| b.phdrs[2].vaddr = 0x40_2000),
            Err(ElfError::OverlappingSegments { first: 1, second: 2, page: 0x40_2000 })
        );
        // Same permissions, distinct bytes, one shared page: still one page for two.
        assert_eq!(
            parse_with(|b| {
                b.phdrs[1].memsz = 0x2800;
                b.phdrs[2].vaddr = 0x40_3800;
                b.phdrs[2].memsz = 0x100;
                b.phdrs[2].offset = 0x800;
            }),
            Err(ElfError::OverlappingSegments { first: 1, second: 2, page: 0x40_3000 })
        );
    }

    #[test]
    fn refuses_shared_page_with_different_permissions() {
        // Data starts in the last page of text.
        let result = parse_with(|b| {
            b.phdrs[1].vaddr = 0x40_0800;
            b.phdrs[1].offset = 0x800;
        });
        assert_eq!(result, Err(ElfError::SharedPageDifferentPermissions { first: 0, second: 1, page: 0x40_0000 }));
    }

    #[test]
    fn refuses_entry_outside_executable_segment() {
        assert_eq!(parse_with(|b| b.entry = 0x40_1000), Err(ElfError::EntryNotExecutable { entry: 0x40_1000 }));
        assert_eq!(parse_with(|b| b.entry = 0x40_0300), Err(ElfError::EntryNotExecutable { entry: 0x40_0300 }));
        assert_eq!(parse_with(|b| b.entry = 0), Err(ElfError::EntryNotExecutable { entry: 0 }));
    }

    #[test]
    fn every_error_reads_as_one_sentence() {
        let errors = [
            ElfError::TooShort { len: 3 },
            ElfError::BadMagic,
            ElfError::NoLoadSegment,
            ElfError::OverlappingSegments { first: 0, second: 1, page: 0x1000 },
            ElfError::OutOfMemory,
            ElfError::TooManySegments { count: 40_001 },
            ElfError::NoRoomForStack,
        ];
        for error in errors {
            let line = format!("{error}");
            assert!(line.starts_with("initrd: "), "{line}");
            assert!(!line.contains('\n'), "{line}");
        }
    }

    /// Mutations of a valid image: the parser must never panic, and whatever it accepts
    /// must satisfy every promise of a `LoadPlan`.
    #[test]
    fn random_mutations_never_panic_and_accepted_plans_are_sound() {
        let valid = Builder::valid().bytes();
        let header_bytes = 64 + 56 * 4;
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut accepted = 0;
        for _ in 0..30_000 {
            let mut image = valid.clone();
            for _ in 0..1 + next() % 4 {
                match next() % 4 {
                    0 => image.truncate((next() % (valid.len() as u64 + 1)) as usize),
                    1 => {
                        if !image.is_empty() {
                            let at = (next() % header_bytes.min(image.len()) as u64) as usize;
                            image[at] = next() as u8;
                        }
                    }
                    2 => {
                        // A whole 8-byte field of some header, with an interesting value.
                        let at = (next() % (header_bytes as u64 / 8)) as usize * 8;
                        let values = [0, 1, u64::MAX, 1 << 47, 0x40_0000, next()];
                        let value = values[(next() % values.len() as u64) as usize];
                        if at + 8 <= image.len() {
                            image[at..at + 8].copy_from_slice(&value.to_le_bytes());
                        }
                    }
                    _ => {
                        let at = (next() % header_bytes as u64) as usize;
                        if at < image.len() {
                            image[at] ^= 1 << (next() % 8);
                        }
                    }
                }
            }
            if let Ok(plan) = parse(&image) {
                accepted += 1;
                for s in &plan.segments {
                    assert!(s.vaddr >= USER_BASE && s.vaddr.checked_add(s.memsz).unwrap() <= USER_END);
                    assert!(s.file_offset + s.filesz <= image.len() as u64);
                    assert!(s.filesz <= s.memsz && !(s.write && s.execute));
                }
                assert!(
                    plan.segments.iter().any(|s| s.execute && s.vaddr <= plan.entry && plan.entry < s.vaddr + s.memsz)
                );
                let low = plan.stack_top - STACK_REGION_BYTES;
                assert!(low >= USER_BASE && plan.stack_top < USER_END);
                assert!(plan.segments.iter().all(|s| s.page_end() <= low || s.page_start() > plan.stack_top));
            }
        }
        // Some mutations are harmless (pattern bytes, unused fields): the loop did reach
        // the accepting path, not only early refusals.
        assert!(accepted > 100, "only {accepted} mutated images accepted");
    }
}
