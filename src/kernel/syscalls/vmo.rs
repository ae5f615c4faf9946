//! The zx_vmo_* syscalls.

use super::{Caller, give_vmo, give_vmo_handle_inline, lookup_resource, lookup_vmo, user};
use crate::abi::{PAGE_SIZE, ZX_HANDLE_INVALID, cache_policy, child, rights};
use crate::arch::aarch64::{mmu, user_copy};
use crate::error::{ZxError, ZxResult};
use crate::kernel::aspace::apply_invalidations;
use crate::kernel::memory::{FramePages, LinearMapCaches, alloc_unzeroed_frame};
use crate::kernel::object::new_koid;
use crate::kernel::task::Process;
use crate::kernel::vm_object::VmoObject;
use crate::kernel::{Kernel, with_kernel, with_kernel_checked};
use crate::mm::PhysAddr;
use crate::object::rights::{check_rights, vmo_child_rights};
use crate::syscall::user_ptr::check_range;
use crate::vm::vmo::{VmoId, WriteTarget};
use alloc::sync::Arc;

/// `zx_vmo_create`: options, then size, then the out-pointer. `CHECKED`: whether the
/// lock-order check is on (its entry's table, `SYSCALL_TABLE_IN_USE`), for the VM lock and the handle
/// table's.
pub fn create<const CHECKED: bool>(c: &Caller, size: u64, options: u32, out: u64) -> ZxResult {
    // Zircon's order: options, then size, then NO_MEMORY.
    if options & !crate::abi::VMO_RESIZABLE != 0 {
        return Err(ZxError::InvalidArgs);
    }
    crate::vm::vmo::round_size(size)?;
    super::ensure_heap_headroom()?;
    let koid = new_koid();
    let (handle, vmo) = with_kernel_checked::<CHECKED, _>(|k| k.vmo_objects.create(&mut k.vmos, koid, size, options))?;
    give_vmo_handle_inline::<CHECKED>(c, handle, vmo, rights::DEFAULT_VMO, out)
}

/// `zx_vmo_read` / `zx_vmo_write`: handle, rights, then the VMO's checks (overflow,
/// cache policy, range), then the copy page by page. A write commits or forks exactly
/// the pages it touches; a read commits nothing (uncommitted pages read as zeros).
/// Compiled once for each direction (`WRITE`), so that neither tests it at run time
/// nor keeps it in a register. `CHECKED`: whether the lock-order check is on
/// (its entry's table, `SYSCALL_TABLE_IN_USE`), for the handle table's lock and the VM lock.
///
/// The arguments come in the order of the user's registers (x0..x3), with the caller's
/// process after them: the entry passes them on without moving any, and without
/// building a `Caller` in memory for a call that needs only the process.
fn read_write<const WRITE: bool, const CHECKED: bool>(
    handle: u32,
    buf: u64,
    offset: u64,
    len: u64,
    process: &Arc<Process>,
) -> ZxResult {
    let need = needed_right::<WRITE>();
    // Within one page (`offset % PAGE_SIZE + len` cannot overflow here): the VMO is
    // borrowed under the handle-table lock instead of counted, with the errors of
    // `lookup_vmo` in its order (BAD_HANDLE, WRONG_TYPE, ACCESS_DENIED). Sound by the
    // rules of `Process::with_handle`: the handle keeps the VMO alive while the table is
    // locked, and the copy neither blocks nor drops an object and takes only the
    // higher-ranked VM lock. Longer copies count a reference instead, so they do not
    // hold the handle table meanwhile.
    if len <= PAGE_SIZE && offset % PAGE_SIZE + len <= PAGE_SIZE {
        return process.with_vmo_handle::<CHECKED, _>(handle, |vmo, have| {
            check_rights(have, need)?;
            copy_in_page::<WRITE, CHECKED>(vmo, buf, offset, len)
        });
    }
    read_write_pages::<WRITE, CHECKED>(handle, buf, offset, len, process)
}

/// The right a read (`WRITE` false) or a write needs of the VMO handle.
const fn needed_right<const WRITE: bool>() -> u32 {
    if WRITE { rights::WRITE } else { rights::READ }
}

/// [`read_write`] of more than one page: out of line, so that the one-page path keeps
/// its arguments where they came (the counted lookup, inlined, would make the compiler
/// keep them in callee-saved registers on every call).
#[inline(never)]
fn read_write_pages<const WRITE: bool, const CHECKED: bool>(
    handle: u32,
    buf: u64,
    offset: u64,
    len: u64,
    process: &Arc<Process>,
) -> ZxResult {
    let (object, _) = process.get_object_and_rights::<VmoObject>(handle, needed_right::<WRITE>())?;
    with_kernel_checked::<CHECKED, _>(|k| copy_vmo(k, object.id(), buf, offset, len, WRITE))
}

/// The copy of [`read_write`] within one page, once the handle and its rights are
/// checked: under the VM lock. A function of its own, always inlined, so that the
/// closure around it stays small enough for LLVM to inline into the syscall's entry (a
/// closure holding it all was called out of line, with its captures through memory).
#[inline(always)]
fn copy_in_page<const WRITE: bool, const CHECKED: bool>(vmo: VmoId, buf: u64, offset: u64, len: u64) -> ZxResult {
    with_kernel_checked::<CHECKED, _>(|k| {
        if WRITE { write_in_page(k, vmo, buf, offset, len) } else { copy_vmo(k, vmo, buf, offset, len, false) }
    })
}

/// `zx_vmo_read` ([`read_write`]).
#[inline(always)]
pub fn read<const CHECKED: bool>(c: &Caller, handle: u32, buf: u64, offset: u64, len: u64) -> ZxResult {
    read_write::<false, CHECKED>(handle, buf, offset, len, c.process())
}

/// `zx_vmo_write` ([`read_write`]).
#[inline(always)]
pub fn write<const CHECKED: bool>(c: &Caller, handle: u32, buf: u64, offset: u64, len: u64) -> ZxResult {
    read_write::<true, CHECKED>(handle, buf, offset, len, c.process())
}

/// A write that stays within one page, after the handle lookup: the VMO's checks and the
/// page's state in one slot lookup ([`crate::vm::vmo::VmoStore::write_target`]), then
/// - a page the VMO holds privately: the copy, as [`copy_vmo`] would make it;
/// - a whole page not committed yet: the copy goes into a fresh frame that is not
///   zeroed first, and the frame is committed after the copy. Sound because every byte
///   of the frame is written before anything can read it: the frame is in no page list
///   or page table until `commit_filled`, and the VM lock (held throughout) keeps other
///   CPUs out of the VMO store. If the copy faults (a user page to commit or fork, or a
///   bad pointer) the frame is freed and the write goes the general way, so a fault is
///   resolved with the store as it was, and the result and errors are those of
///   [`copy_vmo`]. A source that maps this very page showed the zero page (readable,
///   not yet invalidated), so the page is committed holding zeros, as the general way
///   (commit a zero page, invalidate, copy) would leave it. The invalidation of
///   mappings that showed the zero page is queued by `commit_filled` and applied here;
/// - anything else (a partial page to commit, a shared frame, a slice or a physical
///   VMO): [`copy_vmo`], which checks again and takes the general path.
#[inline(always)]
fn write_in_page(k: &mut Kernel, vmo: VmoId, buf: u64, offset: u64, len: u64) -> ZxResult {
    let target = k.vmos.write_target(vmo, offset, len)?;
    if len == 0 {
        return Ok(());
    }
    check_range(buf, len, false)?;
    match target {
        WriteTarget::Private(pa) => {
            // Every frame of a paged VMO came from the frame allocator, never from the
            // image, so the linear map reaches it without `phys_to_virt`'s image test.
            let kva = mmu::frame_to_virt(pa).0 + offset % PAGE_SIZE;
            user::copy_page_bytes(k, buf, kva, len as usize, false)
        }
        WriteTarget::Uncommitted if len == PAGE_SIZE && write_fresh_page(k, vmo, buf, offset)? => Ok(()),
        _ => copy_vmo(k, vmo, buf, offset, len, true),
    }
}

/// The whole-page write into an uncommitted page of [`write_in_page`]: true when done,
/// false when the general path must make it (no frame, or the copy faulted; nothing
/// changed then). NO_MEMORY from the page list after a successful copy is the write's
/// error, as it would be on the general path, with the frame freed.
#[inline(always)]
fn write_fresh_page(k: &mut Kernel, vmo: VmoId, buf: u64, offset: u64) -> ZxResult<bool> {
    let Ok(frame) = alloc_unzeroed_frame(&mut k.frames) else { return Ok(false) };
    let kva = mmu::frame_to_virt(frame).0;
    if user_copy::copy_kernel_page(buf, kva, PAGE_SIZE as usize, false).is_err() {
        k.frames.free(frame);
        return Ok(false);
    }
    if let Err(e) = k.vmos.commit_filled(vmo, offset / PAGE_SIZE, frame) {
        k.frames.free(frame);
        return Err(e);
    }
    apply_invalidations(k);
    Ok(true)
}

/// Pages a write looks up at once (see [`write_runs`]).
const PRIVATE_RUN: usize = 16;

/// Copies `len` bytes between the VMO at `offset` and the caller's buffer `buf`
/// (`write`: into the VMO), after the VMO's own checks.
pub fn copy_vmo(k: &mut Kernel, vmo: VmoId, buf: u64, offset: u64, len: u64, write: bool) -> ZxResult {
    k.vmos.check_read_write(vmo, offset, len)?;
    if len == 0 {
        return Ok(());
    }
    check_range(buf, len, false)?;
    // Longer than a page: runs (a write of at most a page takes the path below, as
    // before, with no extra lookup).
    if write && len > PAGE_SIZE {
        return write_runs(k, vmo, buf, offset, len);
    }
    let mut done = 0u64;
    while done < len {
        done += copy_one_page(k, vmo, buf, offset, len, done, write)?;
    }
    Ok(())
}

/// A write of more than one page: runs of pages the VMO already holds privately (the
/// common case of rewriting committed memory), found with one slot and directory
/// lookup per run of up to [`PRIVATE_RUN`] pages, each copied as it is
/// (`page_for_write` would return it unchanged). A page that is not private goes the
/// general way ([`copy_one_page`]: commit or fork), and so does a page whose copy
/// faults (a user page to commit or fork, or a bad pointer): that path resolves the
/// fault and copies the page again from its start. Once a run finds no page (a VMO
/// being committed page by page), the rest of the write goes the general way.
///
/// Sound on SMP: the VM lock, held by the caller for the whole copy, keeps every other
/// CPU out of the VMO store, and nothing on this CPU changes the store while a run's
/// frames are in use (a fault ends the run before it is resolved).
#[inline(never)]
fn write_runs(k: &mut Kernel, vmo: VmoId, buf: u64, offset: u64, len: u64) -> ZxResult {
    let mut done = 0u64;
    let mut runs = true;
    while done < len {
        if runs {
            let at = offset + done;
            let mut run = [PhysAddr(0); PRIVATE_RUN];
            let pages_left = ((at % PAGE_SIZE + (len - done)).div_ceil(PAGE_SIZE) as usize).min(PRIVATE_RUN);
            let got = k.vmos.private_pages(vmo, at / PAGE_SIZE, &mut run[..pages_left]);
            runs = got > 0;
            let mut whole = got > 0;
            for pa in &run[..got] {
                let at = offset + done;
                let in_page = at % PAGE_SIZE;
                let n = (PAGE_SIZE - in_page).min(len - done);
                let kva = mmu::phys_to_virt(PhysAddr(pa.0 + in_page)).0;
                if user_copy::copy_kernel_page(buf + done, kva, n as usize, false).is_err() {
                    whole = false;
                    break;
                }
                done += n;
            }
            if whole {
                continue;
            }
        }
        done += copy_one_page(k, vmo, buf, offset, len, done, true)?;
    }
    Ok(())
}

/// Copies the part of the page at `offset + done` that the copy still needs (up to
/// `len` in all) and returns its length; a write commits or forks the page if the VMO
/// does not hold it privately, a read of an uncommitted page reads the zero page.
#[inline(always)]
fn copy_one_page(k: &mut Kernel, vmo: VmoId, buf: u64, offset: u64, len: u64, done: u64, write: bool) -> ZxResult<u64> {
    let at = offset + done;
    let in_page = at % PAGE_SIZE;
    let n = (PAGE_SIZE - in_page).min(len - done);
    let pa = if write {
        // A page the VMO already holds privately needs nothing else (the common
        // case of rewriting committed memory); otherwise commit or fork it.
        match k.vmos.private_page(vmo, at / PAGE_SIZE) {
            Some(pa) => pa,
            None => {
                let mut mem = FramePages { frames: &mut k.frames };
                let pa = k.vmos.page_for_write(vmo, at / PAGE_SIZE, &mut mem)?;
                apply_invalidations(k);
                pa
            }
        }
    } else {
        k.vmos.page_for_read(vmo, at / PAGE_SIZE).map_or(k.zero_page, |page| page.pa)
    };
    let kva = mmu::phys_to_virt(PhysAddr(pa.0 + in_page)).0;
    user::copy_page_bytes(k, buf + done, kva, n as usize, !write)?;
    Ok(n)
}

/// `zx_vmo_get_size`: no rights needed; the page-rounded size.
pub fn get_size(c: &Caller, handle: u32, out: u64) -> ZxResult {
    let (object, _) = lookup_vmo(c, handle, 0)?;
    with_kernel(|k| {
        let size = k.vmos.size(object.id());
        user::write_u64(k, out, size)
    })
}

/// `zx_vmo_set_size`: WRITE; UNAVAILABLE unless resizable; pages past a new, smaller
/// end are freed and unmapped in every address space.
pub fn set_size(c: &Caller, handle: u32, size: u64) -> ZxResult {
    let (object, _) = lookup_vmo(c, handle, rights::WRITE)?;
    with_kernel(|k| {
        let mut mem = FramePages { frames: &mut k.frames };
        let result = k.vmos.set_size(object.id(), size, &mut mem);
        apply_invalidations(k);
        result
    })
}

/// `zx_vmo_op_range`: handle and type first; the op, its rights and its range checks
/// are the VMO's rules.
pub fn op_range(c: &Caller, handle: u32, op: u32, offset: u64, size: u64, _buf: u64, _buf_size: u64) -> ZxResult {
    let (object, handle_rights) = lookup_vmo(c, handle, 0)?;
    with_kernel(|k| {
        let mut mem = FramePages { frames: &mut k.frames };
        let result = k.vmos.op_range(object.id(), op, offset, size, handle_rights, &mut mem, &mut LinearMapCaches);
        apply_invalidations(k);
        result
    })
}

/// `zx_vmo_create_child`: NO_WRITE only shapes the rights; DUPLICATE|READ on the
/// source; the VMO's option, offset and size rules; the child's rights derive from the
/// source's.
pub fn create_child(c: &Caller, handle: u32, options: u32, offset: u64, size: u64, out: u64) -> ZxResult {
    let vmo_options = options & !child::NO_WRITE;
    let (parent, source_rights) = lookup_vmo(c, handle, rights::DUPLICATE | rights::READ)?;
    super::ensure_heap_headroom()?;
    let koid = new_koid();
    let copy_name = source_rights & rights::GET_PROPERTY != 0;
    let object = with_kernel(|k| {
        let result = k.vmos.create_child(parent.id(), koid, vmo_options, offset, size, copy_name);
        // Pages the parent now shares must become read-only in its mappings.
        apply_invalidations(k);
        result.map(|id| k.vmo_objects.object_for(id, koid))
    })?;
    give_vmo(c, object, vmo_child_rights(source_rights, options), out)
}

/// `zx_vmo_set_cache_policy`: the policy is checked before the handle; MAP right; the
/// VMO's state rules (BAD_STATE).
pub fn set_cache_policy(c: &Caller, handle: u32, policy: u32) -> ZxResult {
    if policy & !cache_policy::MASK != 0 {
        return Err(ZxError::InvalidArgs);
    }
    let (object, _) = lookup_vmo(c, handle, rights::MAP)?;
    with_kernel(|k| k.vmos.set_cache_policy(object.id(), policy, &mut LinearMapCaches))
}

/// `zx_vmo_replace_as_executable`: `vmex` must be invalid or a resource; the source
/// handle is consumed even when `vmex` is refused; the new handle adds EXECUTE.
pub fn replace_as_executable(c: &Caller, handle: u32, vmex: u32, out: u64) -> ZxResult {
    let vmex_status = if vmex == ZX_HANDLE_INVALID { Ok(()) } else { lookup_resource(c, vmex).map(|_| ()) };
    let source = c.process().remove_handle(handle)?;
    if let Err(e) = vmex_status {
        drop(source);
        return Err(e);
    }
    if source.object.as_dyn().obj_type() != crate::abi::obj_type::VMO {
        drop(source);
        return Err(ZxError::WrongType);
    }
    // A new handle to the same VMO: waits through the old one end.
    let fresh = source.object.clone();
    let new_rights = source.rights | rights::EXECUTE;
    let tag = source.tag;
    drop(source);
    let value = c.process().add_tagged_khandle(fresh, new_rights, tag)?;
    super::publish_handle(c, value, out)
}

/// `zx_vmo_create_physical`: the root resource; page-aligned, nonzero, non-wrapping
/// range; not RAM the kernel allocates from (MMIO and reserved memory are fine).
pub fn create_physical(c: &Caller, resource: u32, paddr: u64, size: u64, out: u64) -> ZxResult {
    lookup_resource(c, resource)?;
    if !paddr.is_multiple_of(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) || size == 0 {
        return Err(ZxError::InvalidArgs);
    }
    let end = paddr.checked_add(size).ok_or(ZxError::InvalidArgs)?;
    super::ensure_heap_headroom()?;
    let koid = new_koid();
    let object = with_kernel(|k| {
        if k.frames.contains_ram(PhysAddr(paddr), PhysAddr(end)) {
            return Err(ZxError::AccessDenied);
        }
        k.vmos.create_physical(koid, PhysAddr(paddr), size).map(|id| k.vmo_objects.object_for(id, koid))
    })?;
    give_vmo(c, object, rights::DEFAULT_VMO, out)
}
