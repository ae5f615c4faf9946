//! (v2) Starting programs from the initrd archive as child processes, in user space.
//!
//! The first process gets the initrd as a read-only VMO (x6, its length in x7; ABI.md §2).
//! [`initrd`] maps it read-only once; [`cpio_find`] finds a member of the "newc" archive
//! (this crate's own small reader, independent of the kernel's); [`parse_elf`] reads the
//! program's header and PT_LOAD segments; [`ChildProcess::load`] builds a NEW process:
//! each segment copied into a VMO of its own (executable ones made so with the root
//! resource) and mapped at its address with its permissions, a stack VMO mapped below,
//! and a NEW thread. [`ChildProcess::start`] starts it with `zx_process_start`.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::rt::Ctx;
use crate::zx::{self, AsRaw, Handle, PAGE_SIZE, USER_BASE, ZX_ERR_INVALID_ARGS, ZX_ERR_NOT_FOUND, ZxResult};

static INITRD_ADDR: AtomicU64 = AtomicU64::new(0);
static INITRD_LEN: AtomicU64 = AtomicU64::new(0);

/// The initrd archive, mapped read-only in this process (once; the mapping stays).
/// NOT_FOUND when the initrd is not an archive (x6 was 0).
pub fn initrd(ctx: &Ctx) -> ZxResult<&'static [u8]> {
    let (mut addr, mut len) = (INITRD_ADDR.load(Ordering::Acquire), INITRD_LEN.load(Ordering::Acquire));
    if addr == 0 {
        let (vmo, length) = ctx.initrd().ok_or(ZX_ERR_NOT_FOUND)?;
        let size = length.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        addr = zx::vmar_map(ctx.root_vmar, zx::VM_PERM_READ, 0, vmo, 0, size)?;
        len = length;
        INITRD_LEN.store(len, Ordering::Release);
        INITRD_ADDR.store(addr, Ordering::Release);
    }
    // SAFETY: [addr, addr+len) is a read-only mapping of the initrd VMO that is never
    // unmapped, and nothing can write the VMO (its only handle lacks WRITE).
    Ok(unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len as usize) })
}

fn hex_field(header: &[u8], index: usize) -> Option<usize> {
    let field = header.get(6 + index * 8..6 + index * 8 + 8)?;
    let text = core::str::from_utf8(field).ok()?;
    usize::from_str_radix(text, 16).ok()
}

/// The data of the regular file `name` in a cpio "newc" archive (leading `/` and `./`
/// ignored on both sides), or None.
pub fn cpio_find<'a>(archive: &'a [u8], name: &str) -> Option<&'a [u8]> {
    let want = strip_name(name.as_bytes());
    let mut at = 0usize;
    loop {
        let header = archive.get(at..at + 110)?;
        if &header[..6] != b"070701" && &header[..6] != b"070702" {
            return None;
        }
        let mode = hex_field(header, 1)?;
        let filesize = hex_field(header, 6)?;
        let namesize = hex_field(header, 11)?;
        let name_bytes = archive.get(at + 110..at + 110 + namesize.checked_sub(1)?)?;
        let data_at = (at + 110 + namesize).next_multiple_of(4);
        let data = archive.get(data_at..data_at + filesize)?;
        if name_bytes == b"TRAILER!!!" {
            return None;
        }
        if mode & 0o170000 == 0o100000 && strip_name(name_bytes) == want {
            return Some(data);
        }
        at = (data_at + filesize).next_multiple_of(4);
    }
}

fn strip_name(mut name: &[u8]) -> &[u8] {
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

/// One PT_LOAD segment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Segment {
    pub vaddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
    /// PF_X 1, PF_W 2, PF_R 4.
    pub flags: u32,
}

/// What the loader needs of an ELF program: its entry and up to 8 PT_LOAD segments.
#[derive(Clone, Copy, Debug)]
pub struct ElfImage {
    pub entry: u64,
    pub segments: [Segment; 8],
    pub count: usize,
}

fn le(bytes: &[u8], at: usize, n: usize) -> Option<u64> {
    let field = bytes.get(at..at + n)?;
    Some(field.iter().rev().fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

/// Reads an ELF64 little-endian AArch64 executable's entry and PT_LOAD segments.
pub fn parse_elf(image: &[u8]) -> Option<ElfImage> {
    if image.get(..4)? != b"\x7fELF" || image[4] != 2 || image[5] != 1 || le(image, 18, 2)? != 183 {
        return None;
    }
    let entry = le(image, 24, 8)?;
    let phoff = le(image, 32, 8)? as usize;
    let phentsize = le(image, 54, 2)? as usize;
    let phnum = le(image, 56, 2)? as usize;
    let mut elf = ElfImage { entry, segments: [Segment::default(); 8], count: 0 };
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if le(image, ph, 4)? != 1 {
            continue;
        }
        let segment = Segment {
            flags: le(image, ph + 4, 4)? as u32,
            offset: le(image, ph + 8, 8)?,
            vaddr: le(image, ph + 16, 8)?,
            filesz: le(image, ph + 32, 8)?,
            memsz: le(image, ph + 40, 8)?,
        };
        *elf.segments.get_mut(elf.count)? = segment;
        elf.count += 1;
    }
    Some(elf)
}

/// Bytes of stack a child process gets.
pub const CHILD_STACK_SIZE: u64 = 64 * 1024;

/// A NEW child process with its program loaded, its stack mapped and a NEW thread.
pub struct ChildProcess {
    pub process: Handle,
    pub vmar: Handle,
    pub thread: Handle,
    pub entry: u64,
    /// The stack mapping in the child: [stack_base, stack_base + CHILD_STACK_SIZE).
    pub stack_base: u64,
    pub stack_vmo: Handle,
}

impl ChildProcess {
    /// Creates process `name` in `job` and loads the ELF program `image` into it.
    /// `vmex` (the root resource) makes the executable segments' VMOs executable.
    pub fn load(job: impl AsRaw, name: &str, image: &[u8], vmex: impl AsRaw) -> ZxResult<ChildProcess> {
        let elf = parse_elf(image).ok_or(ZX_ERR_INVALID_ARGS)?;
        let (process, vmar) = zx::process_create(job, name, 0)?;
        for segment in &elf.segments[..elf.count] {
            map_segment(&vmar, image, segment, &vmex)?;
        }
        let stack_vmo = zx::vmo_create(CHILD_STACK_SIZE, 0)?;
        let stack_base = zx::vmar_map(&vmar, zx::VM_RW, 0, &stack_vmo, 0, CHILD_STACK_SIZE)?;
        let thread = zx::thread_create(&process, name, 0)?;
        Ok(ChildProcess { process, vmar, thread, entry: elf.entry, stack_base, stack_vmo })
    }

    /// The child's initial SP.
    pub fn stack_top(&self) -> u64 {
        self.stack_base + CHILD_STACK_SIZE
    }

    /// `zx_process_start` of the child: x0 = `arg1` (a handle of ours, moved into the
    /// child; 0 for none), x1 = `arg2`.
    pub fn start(&self, arg1: u32, arg2: u64) -> ZxResult {
        zx::process_start(&self.process, &self.thread, self.entry, self.stack_top(), arg1, arg2)
    }
}

/// Copies one PT_LOAD into a new VMO and maps it in `vmar` at its address.
fn map_segment(vmar: &Handle, image: &[u8], segment: &Segment, vmex: &impl AsRaw) -> ZxResult {
    let start = segment.vaddr & !(PAGE_SIZE - 1);
    let end = (segment.vaddr + segment.memsz).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let bytes =
        image.get(segment.offset as usize..(segment.offset + segment.filesz) as usize).ok_or(ZX_ERR_INVALID_ARGS)?;
    let mut vmo = zx::vmo_create(end - start, 0)?;
    zx::vmo_write(&vmo, bytes, segment.vaddr - start)?;
    let mut options = zx::VM_SPECIFIC;
    if segment.flags & 4 != 0 {
        options |= zx::VM_PERM_READ;
    }
    if segment.flags & 2 != 0 {
        options |= zx::VM_PERM_WRITE;
    }
    if segment.flags & 1 != 0 {
        options |= zx::VM_PERM_EXECUTE;
        vmo = zx::vmo_replace_as_executable(vmo.into_raw(), vmex)?;
    }
    zx::vmar_map(vmar, options, start - USER_BASE, &vmo, 0, end - start)?;
    Ok(())
}
