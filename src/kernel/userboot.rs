//! Userboot (ABI.md section 2): the first process from the initrd, which is either a
//! static ELF program or a cpio "newc" archive holding the program named by `init=`.
//! The first thread starts with x0..x7 as section 2 lists them.

use super::memory::FramePages;
use super::object::{Resource, new_koid};
use super::task::{Job, Process, Thread, name_from};
use super::vm_object::{VmarObject, VmoObject};
use super::{Kernel, aspace, with_kernel};
use crate::abi::{PAGE_SIZE, USER_BASE, rights, vm};
use crate::arch::aarch64::exception::TrapFrame;
use crate::arch::aarch64::mmu;
use crate::elf::{self, LoadPlan};
use crate::error::{ZxError, ZxResult};
use crate::mm::PhysAddr;
use crate::vm::vmar::MapSource;
use crate::vm::vmo::VmoId;
use alloc::sync::Arc;
use core::fmt;

/// Bytes of user stack (ABI.md section 2: at least 256 KiB).
pub const STACK_BYTES: u64 = 256 * 1024;
// The loader placed a region of guard, stack and command line (LoadPlan::stack_top).
const _: () = assert!(STACK_BYTES + 2 * PAGE_SIZE == elf::STACK_REGION_BYTES);

/// Why userboot refused the initrd or could not start it.
pub enum UserbootError {
    /// The initrd is neither an ELF program nor a usable archive (status 2).
    Refused(Refusal),
    /// The kernel ran out of something while building the process.
    Kernel(ZxError),
}

/// What was wrong with the initrd.
pub enum Refusal {
    /// The ELF program is not acceptable.
    BadElf(elf::ElfError),
    /// The archive member `init=` names is not an acceptable ELF program.
    BadMember(&'static str, elf::ElfError),
    /// The archive is malformed or lacks the program.
    Archive(crate::cpio::CpioError),
    /// Neither `\x7fELF` nor `070701`/`070702` at the start.
    UnknownFormat,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::BadElf(e) => write!(f, "{e}"),
            Refusal::BadMember(path, e) => write!(f, "`{path}` in the initrd archive: {e}"),
            Refusal::Archive(e) => write!(f, "{e}"),
            Refusal::UnknownFormat => {
                write!(
                    f,
                    "the initrd is neither an ELF program nor a cpio \"newc\" archive (compressed archives are not supported)"
                )
            }
        }
    }
}

impl From<ZxError> for UserbootError {
    fn from(e: ZxError) -> Self {
        UserbootError::Kernel(e)
    }
}

/// Builds the first process from the initrd image and starts its thread.
pub fn start(image: &'static [u8], cmdline: &'static str) -> Result<(), UserbootError> {
    let archive = !image.starts_with(b"\x7fELF");
    let (program, init) = if !archive {
        (image, None)
    } else if crate::cpio::is_cpio(image) {
        crate::cpio::validate(image).map_err(|e| UserbootError::Refused(Refusal::Archive(e)))?;
        let path = crate::cpio::init_path(cmdline);
        let member = crate::cpio::find(image, path).map_err(|e| UserbootError::Refused(Refusal::Archive(e)))?;
        (member, Some(path))
    } else {
        return Err(UserbootError::Refused(Refusal::UnknownFormat));
    };
    let plan = elf::parse(program).map_err(|e| {
        UserbootError::Refused(match init {
            Some(path) => Refusal::BadMember(path, e),
            None => Refusal::BadElf(e),
        })
    })?;

    let job = Job::root();
    let process = Process::create(job, name_from(b"userboot"))?;
    process.mark_first();
    let thread = Thread::create(&process, name_from(b"userboot"))?;
    let id = process.aspace_id();
    let cmdline_addr = with_kernel(|k| -> ZxResult<u64> {
        load_segments(k, id, &plan, program)?;
        build_stack(k, id, cmdline, plan.stack_top)
    })?;

    let vmar = Arc::new(VmarObject::root(id));
    let x0 = process.add_handle(vmar, rights::ROOT_VMAR)?;
    let x1 = process.add_handle(Resource::root().clone(), rights::ROOT_RESOURCE)?;
    let x3 = process.add_handle(process.clone(), rights::DEFAULT_PROCESS)?;
    let x4 = process.add_handle(thread.clone(), rights::DEFAULT_THREAD)?;
    let x5 = process.add_handle(job.clone(), rights::DEFAULT_JOB)?;
    let (x6, x7) = if archive {
        let vmo = initrd_vmo(image)?;
        (process.add_handle(vmo, rights::INITRD_VMO)?, image.len() as u64)
    } else {
        (0, 0)
    };
    let mut frame = TrapFrame::new_user(plan.entry, cmdline_addr & !15, [x0 as u64, x1 as u64, cmdline_addr]);
    frame.x[3] = x3 as u64;
    frame.x[4] = x4 as u64;
    frame.x[5] = x5 as u64;
    frame.x[6] = x6 as u64;
    frame.x[7] = x7;
    log::info!("userboot: entering {:#x}", plan.entry);
    thread.start_with_frame(&frame)?;
    Ok(())
}

/// The initrd as a read-only-handle VMO named `initrd`, every page committed, its
/// content size the exact length.
fn initrd_vmo(image: &[u8]) -> ZxResult<Arc<VmoObject>> {
    let koid = new_koid();
    let id = with_kernel(|k| -> ZxResult<Arc<VmoObject>> {
        let id = k.vmos.create(koid, image.len() as u64, 0)?;
        if let Err(e) = write_kernel_bytes(k, id, 0, image) {
            k.vmos.release(id, &mut FramePages { frames: &mut k.frames });
            return Err(e);
        }
        k.vmos.set_name(id, b"initrd");
        k.vmos.set_content_size(id, image.len() as u64);
        Ok(k.vmo_objects.object_for(id, koid))
    })?;
    Ok(id)
}

/// Maps each PT_LOAD with its own VMO, holding the file bytes and zeros after them.
fn load_segments(k: &mut Kernel, id: u64, plan: &LoadPlan, image: &[u8]) -> ZxResult {
    for segment in &plan.segments {
        let start = segment.vaddr & !(PAGE_SIZE - 1);
        let end = crate::mm::addr::page_ceil(segment.vaddr + segment.memsz).ok_or(ZxError::InvalidArgs)?;
        let file_offset = segment.file_offset as usize;
        let bytes = file_offset
            .checked_add(segment.filesz as usize)
            .and_then(|file_end| image.get(file_offset..file_end))
            .ok_or(ZxError::InvalidArgs)?;
        let vmo = k.vmos.create(new_koid(), end - start, 0)?;
        if let Err(e) = write_kernel_bytes(k, vmo, segment.vaddr - start, bytes) {
            k.vmos.release(vmo, &mut FramePages { frames: &mut k.frames });
            return Err(e);
        }
        let mut perms = 0;
        if segment.read {
            perms |= vm::PERM_READ;
        }
        if segment.write {
            perms |= vm::PERM_WRITE;
        }
        if segment.execute {
            perms |= vm::PERM_EXECUTE;
        }
        let result = aspace::map_vmo(
            k,
            id,
            Some(start - USER_BASE),
            perms,
            MapSource { len: end - start, vmo, vmo_offset: 0, max_perms: perms },
        );
        // The mapping holds the VMO now (or nothing does, on failure).
        k.vmos.release(vmo, &mut FramePages { frames: &mut k.frames });
        result?;
    }
    Ok(())
}

/// Writes kernel bytes into a VMO nothing maps yet (used to load the ELF).
fn write_kernel_bytes(k: &mut Kernel, vmo: VmoId, offset: u64, bytes: &[u8]) -> ZxResult {
    let mut done = 0usize;
    while done < bytes.len() {
        let at = offset + done as u64;
        let in_page = (at % PAGE_SIZE) as usize;
        let n = (PAGE_SIZE as usize - in_page).min(bytes.len() - done);
        let mut mem = FramePages { frames: &mut k.frames };
        let pa = k.vmos.page_for_write(vmo, at / PAGE_SIZE, &mut mem)?;
        mmu::write_phys(PhysAddr(pa.0 + in_page as u64), &bytes[done..done + n]);
        done += n;
    }
    // Nothing maps the VMO yet, so no page-table entry can be stale.
    let _ = k.vmos.take_invalidations();
    Ok(())
}

/// Maps the stack (with an inaccessible guard page below it) and the command line
/// above it, ending at `stack_top` (where the loader found room). Returns the command
/// line's user address.
fn build_stack(k: &mut Kernel, id: u64, cmdline: &str, stack_top: u64) -> ZxResult<u64> {
    let bytes = cmdline.as_bytes();
    let cmdline_len = (bytes.len() + 1).min(PAGE_SIZE as usize);
    let vmo = k.vmos.create(new_koid(), STACK_BYTES + PAGE_SIZE * 2, 0)?;
    // Page 0 is the guard (mapped with no permissions), then the stack, then the
    // command line page.
    let cmdline_page = stack_top - PAGE_SIZE;
    let cmdline_addr = stack_top - cmdline_len as u64;
    let mut text = [0u8; PAGE_SIZE as usize];
    let used = cmdline_len - 1;
    text[..used].copy_from_slice(&bytes[..used]);
    if let Err(e) =
        write_kernel_bytes(k, vmo, STACK_BYTES + PAGE_SIZE + (cmdline_addr - cmdline_page), &text[..cmdline_len])
    {
        k.vmos.release(vmo, &mut FramePages { frames: &mut k.frames });
        return Err(e);
    }
    let guard = cmdline_page - STACK_BYTES - PAGE_SIZE;
    let rw = vm::PERM_READ | vm::PERM_WRITE;
    let result = aspace::map_vmo(
        k,
        id,
        Some(guard - USER_BASE),
        0,
        MapSource { len: PAGE_SIZE, vmo, vmo_offset: 0, max_perms: 0 },
    )
    .and_then(|_| {
        aspace::map_vmo(
            k,
            id,
            Some(guard + PAGE_SIZE - USER_BASE),
            rw,
            MapSource { len: STACK_BYTES + PAGE_SIZE, vmo, vmo_offset: PAGE_SIZE, max_perms: rw },
        )
    });
    k.vmos.release(vmo, &mut FramePages { frames: &mut k.frames });
    result?;
    Ok(cmdline_addr)
}
