//! The launcher: starts a program held in a VMO (a member of the boot archive, or any
//! VMO with an ELF file in it) as a new process — Zircon's process-builder shape.
//!
//! 1. The ELF file is validated in user space ([`pure::elf::load_plan`]); a malformed
//!    file is a [`LaunchError::Elf`], never a crash.
//! 2. A process is created in the given job.
//! 3. Each `PT_LOAD` is mapped with exactly its permissions. When the file's offset and
//!    the segment's address agree modulo the page size (the archive is page-aligned by
//!    `scripts/mkcpio.py --page-align`), the file pages are a copy-on-write child of the
//!    source VMO: nothing is copied for read-only and code segments, and a data segment's
//!    pages are copied only when written. Otherwise its bytes are copied into a new VMO.
//!    The zero-filled part past `filesz` is a fresh VMO (and the zeroed tail of the last
//!    file page).
//! 4. A 256 KiB stack, with an unmapped guard page below it, gets the argument block ([`pure::args`]) at its top.
//! 5. A channel is made; the bootstrap message ([`pure::bootstrap`]) with the process's
//!    own handles and the ones the caller added is written into it; the process starts
//!    with its other end in x0 and the argument block's address in x1.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use pure::elf::{self, ElfError, PF_R, PF_W, PF_X};
use pure::{args, bootstrap, cpio};
use zx::{AsHandleRef, Channel, Handle, HandleBased, Job, Process, Rights, Status, Thread, VmarFlags, Vmo};
use zx::{VmoChildOptions, abi};

/// Bytes of stack of a new process.
pub const STACK_SIZE: usize = 256 * 1024;

/// Why a program could not be started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchError {
    /// No such program in the archive (or no archive).
    NotFound,
    /// The archive member is not a regular file, or the archive is malformed.
    BadArchive,
    /// The file is not a valid program.
    Elf(ElfError),
    /// The arguments do not fit.
    TooManyArguments,
    /// A syscall failed.
    Zx(Status),
}

impl From<Status> for LaunchError {
    fn from(s: Status) -> Self {
        LaunchError::Zx(s)
    }
}

impl core::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LaunchError::NotFound => f.write_str("no such program"),
            LaunchError::BadArchive => f.write_str("not a regular file in a valid archive"),
            LaunchError::Elf(e) => write!(f, "bad ELF file: {e}"),
            LaunchError::TooManyArguments => f.write_str("arguments too long"),
            LaunchError::Zx(s) => write!(f, "{s}"),
        }
    }
}

/// A started program.
#[derive(Debug)]
pub struct Launched {
    /// Its process.
    pub process: Process,
    /// Its first thread.
    pub thread: Thread,
    /// Our end of its bootstrap channel (the program may keep talking on it).
    pub channel: Channel,
}

/// Where an ELF file lies: `len` bytes at `offset` in `vmo`.
pub struct ElfSource<'a> {
    /// The VMO holding the file (DUPLICATE and READ rights to map it without copies).
    pub vmo: &'a Vmo,
    /// The file's first byte in the VMO.
    pub offset: u64,
    /// The file's length.
    pub len: u64,
}

/// Builds and starts a process.
pub struct ProcessBuilder {
    name: String,
    args: Vec<String>,
    handles: Vec<(u32, Handle)>,
}

impl ProcessBuilder {
    /// A process named `name` (also its `argv[0]`).
    pub fn new(name: &str) -> ProcessBuilder {
        ProcessBuilder { name: name.into(), args: vec![name.into()], handles: Vec::new() }
    }

    /// Appends an argument.
    pub fn arg(mut self, arg: &str) -> ProcessBuilder {
        self.args.push(arg.into());
        self
    }

    /// Appends arguments.
    pub fn args<'s>(mut self, args: impl IntoIterator<Item = &'s str>) -> ProcessBuilder {
        self.args.extend(args.into_iter().map(String::from));
        self
    }

    /// Hands the program `handle` under `tag` in its bootstrap message
    /// (`pure::bootstrap::JOB`, `RESOURCE`, …, or `USER + n` for its own uses).
    pub fn handle(mut self, tag: u32, handle: Handle) -> ProcessBuilder {
        self.handles.push((tag, handle));
        self
    }

    /// Starts `path` of the boot archive in `job`.
    pub fn spawn_from_archive(self, job: &Job, path: &str) -> Result<Launched, LaunchError> {
        let archive = crate::boot_archive().ok_or(LaunchError::NotFound)?;
        let entry =
            cpio::find(archive.bytes, path).map_err(|_| LaunchError::BadArchive)?.ok_or(LaunchError::NotFound)?;
        if !entry.is_file() {
            return Err(LaunchError::BadArchive);
        }
        let source = ElfSource { vmo: &archive.vmo, offset: entry.data_offset as u64, len: entry.data_len as u64 };
        self.spawn(job, &source)
    }

    /// Starts the program in `source` in `job`.
    pub fn spawn(self, job: &Job, source: &ElfSource<'_>) -> Result<Launched, LaunchError> {
        let plan = elf::load_plan(source.len, |off, buf: &mut [u8]| source.vmo.read(buf, source.offset + off))
            .map_err(LaunchError::Elf)?;
        let (process, vmar) = Process::create(job, &self.name)?;
        let base = vmar.info()?.base as u64;
        for seg in &plan.segments {
            map_segment(&vmar, base, seg, source)?;
        }
        // The stack, with the argument block at its top.
        let stack_vmo = Vmo::create(STACK_SIZE as u64)?;
        // Inside a region one page larger whose lowest page stays unmapped (a guard).
        let (stack_region, region_base) = vmar.allocate(
            0,
            STACK_SIZE + zx::PAGE_SIZE,
            VmarFlags::CAN_MAP_READ | VmarFlags::CAN_MAP_WRITE | VmarFlags::CAN_MAP_SPECIFIC,
        )?;
        let flags = VmarFlags::PERM_READ | VmarFlags::PERM_WRITE | VmarFlags::SPECIFIC;
        stack_region.map(zx::PAGE_SIZE, &stack_vmo, 0, STACK_SIZE, flags)?;
        let stack = (region_base + zx::PAGE_SIZE) as u64;
        let arg_refs: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let (block_addr, block) =
            args::build(&arg_refs, stack + STACK_SIZE as u64).map_err(|_| LaunchError::TooManyArguments)?;
        stack_vmo.write(&block, block_addr - stack)?;

        let thread = Thread::create(&process, &self.name)?;
        let (ours, theirs) = Channel::create()?;
        let mut tags = vec![bootstrap::ROOT_VMAR, bootstrap::PROCESS_SELF, bootstrap::THREAD_SELF];
        let mut handles = vec![
            vmar.into_handle(),
            process.duplicate_handle(Rights::SAME_RIGHTS)?.into_handle(),
            thread.duplicate_handle(Rights::SAME_RIGHTS)?.into_handle(),
        ];
        for (tag, h) in self.handles {
            tags.push(tag);
            handles.push(h);
        }
        ours.write(&bootstrap::encode(&tags), &mut handles)?;
        process.start(&thread, plan.entry as usize, block_addr as usize, theirs.into_handle(), block_addr as usize)?;
        Ok(Launched { process, thread, channel: ours })
    }
}

fn perms(flags: u32) -> VmarFlags {
    let mut p = VmarFlags::empty();
    if flags & PF_R != 0 {
        p |= VmarFlags::PERM_READ;
    }
    if flags & PF_W != 0 {
        p |= VmarFlags::PERM_WRITE;
    }
    if flags & PF_X != 0 {
        p |= VmarFlags::PERM_EXECUTE;
    }
    p
}

/// Maps one validated segment into `vmar` (whose first address is `base`).
fn map_segment(vmar: &zx::Vmar, base: u64, seg: &elf::Segment, source: &ElfSource<'_>) -> Result<(), LaunchError> {
    let flags = perms(seg.flags) | VmarFlags::SPECIFIC;
    let start = seg.page_start();
    let file_end = seg.file_page_end();
    let in_page = seg.vaddr - start;
    if file_end > start {
        let len = file_end - start;
        let vmo = if seg.mappable_from(source.offset) {
            // Copy-on-write child of the source's pages: nothing is copied now.
            let at = source.offset + seg.offset - in_page;
            source.vmo.create_child(VmoChildOptions::SNAPSHOT_AT_LEAST_ON_WRITE, at, len)?
        } else {
            let vmo = Vmo::create(len)?;
            let mut buf = vec![0u8; seg.filesz.min(64 * 1024) as usize];
            let mut done = 0;
            while done < seg.filesz {
                let n = (seg.filesz - done).min(buf.len() as u64) as usize;
                source.vmo.read(&mut buf[..n], source.offset + seg.offset + done)?;
                vmo.write(&buf[..n], in_page + done)?;
                done += n as u64;
            }
            vmo
        };
        // The last file page's bytes past filesz belong to the zero-filled part.
        let tail = in_page + seg.filesz;
        if seg.memsz > seg.filesz && tail < len {
            vmo.write(&vec![0u8; (len - tail) as usize], tail)?;
        }
        let vmo = if seg.flags & PF_X != 0 { vmo.replace_as_executable(None)? } else { vmo };
        if seg.flags & PF_X != 0 {
            // The pages came through the data cache; make instruction fetch see them.
            vmo.op_range(abi::op::CACHE_SYNC, 0, len)?;
        }
        vmar.map((start - base) as usize, &vmo, 0, len as usize, flags)?;
    }
    let end = seg.page_end();
    if end > file_end {
        let vmo = Vmo::create(end - file_end)?;
        vmar.map((file_end - base) as usize, &vmo, 0, (end - file_end) as usize, flags)?;
    }
    Ok(())
}

/// Starts `bin/<name>` (or `name` itself when it contains a `/`) from the boot archive
/// in a new job below this program's job, with `args` after its name. The program gets
/// its job too, and the boot archive, so it can start programs of its own.
pub fn spawn(name: &str, args: &[&str]) -> Result<(Job, Launched), LaunchError> {
    let startup = crate::startup();
    let parent = startup.job.as_ref().ok_or(LaunchError::Zx(Status::BadHandle))?;
    let job = Job::create(parent)?;
    let mut builder = ProcessBuilder::new(name).args(args.iter().copied());
    builder = builder.handle(bootstrap::JOB, job.duplicate_handle(Rights::SAME_RIGHTS)?.into_handle());
    if let Some(archive) = crate::boot_archive() {
        builder =
            builder.handle(bootstrap::BOOT_ARCHIVE, archive.vmo.duplicate_handle(Rights::SAME_RIGHTS)?.into_handle());
    }
    let path = program_path(name);
    let launched = builder.spawn_from_archive(&job, &path)?;
    Ok((job, launched))
}

/// The archive path of a program name: `bin/<name>` unless it names a path.
pub fn program_path(name: &str) -> String {
    if name.contains('/') { String::from(name) } else { alloc::format!("bin/{name}") }
}

/// Waits for a process to end and returns its return code.
pub fn wait_exit(process: &Process) -> zx::Result<i64> {
    process.wait_handle(zx::Signals::PROCESS_TERMINATED, zx::Time::INFINITE)?;
    Ok(process.info()?.return_code)
}
