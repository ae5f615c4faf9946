//! Syscall handlers (ABI.md section 4): `handle` decodes the registers of an `svc`,
//! runs the handler under the kernel lock and puts the result in x0. Every other
//! register is restored from the trap frame untouched.
//!
//! Each handler follows Zircon's check order: handle, type, rights, options, ranges
//! against the object, and user buffers last (when the kernel copies them).

mod handle;
mod misc;
mod object;
mod user;
mod vmar;
mod vmo;

use super::Kernel;
use super::process::{KObject, Process};
use crate::arch::aarch64::exception::TrapFrame;
use crate::error::{ZxError, ZxResult, status_word};
use crate::object::rights::check_rights;
use crate::syscall::{Syscall, decode};
use crate::vm::vmo::VmoId;

/// Entry from the exception vector for `svc #0` from EL0.
pub fn handle(frame: &mut TrapFrame) {
    let number = frame.x[16];
    let mut args = [0u64; 8];
    args.copy_from_slice(&frame.x[..8]);
    frame.x[0] = match decode(number, &args) {
        Ok(call) => super::with_kernel(|k| dispatch(k, call)),
        Err(e) => status_word(Err(e)),
    };
}

/// Runs one decoded call; returns the value for x0.
fn dispatch(k: &mut Kernel, call: Syscall) -> u64 {
    use Syscall::*;
    let result = match call {
        DebugWrite { buf, len } => misc::debug_write(k, buf, len),
        ProcessExit { retcode } => super::process::exit(k, retcode),
        ClockGetMonotonic => return super::irq::uptime_nanos(),
        HandleClose { handle } => handle::close(k, handle),
        HandleDuplicate { handle, rights, out } => handle::duplicate(k, handle, rights, out),
        HandleReplace { handle, rights, out } => handle::replace(k, handle, rights, out),
        ObjectGetInfo { handle, topic, buf, buf_size, actual, avail } => {
            object::get_info(k, handle, topic, buf, buf_size, actual, avail)
        }
        ObjectGetProperty { handle, property, value, size } => object::get_property(k, handle, property, value, size),
        ObjectSetProperty { handle, property, value, size } => object::set_property(k, handle, property, value, size),
        ObjectSignal { handle, clear_mask, set_mask } => object::signal(k, handle, clear_mask, set_mask),
        ObjectWaitOne { handle, signals, deadline, observed } => object::wait_one(k, handle, signals, deadline, observed),
        VmoCreate { size, options, out } => vmo::create(k, size, options, out),
        VmoRead { handle, buf, offset, len } => vmo::read_write(k, handle, buf, offset, len, false),
        VmoWrite { handle, buf, offset, len } => vmo::read_write(k, handle, buf, offset, len, true),
        VmoGetSize { handle, out } => vmo::get_size(k, handle, out),
        VmoSetSize { handle, size } => vmo::set_size(k, handle, size),
        VmoOpRange { handle, op, offset, size, buf, buf_size } => vmo::op_range(k, handle, op, offset, size, buf, buf_size),
        VmoCreateChild { handle, options, offset, size, out } => vmo::create_child(k, handle, options, offset, size, out),
        VmoSetCachePolicy { handle, policy } => vmo::set_cache_policy(k, handle, policy),
        VmoReplaceAsExecutable { handle, vmex, out } => vmo::replace_as_executable(k, handle, vmex, out),
        VmoCreatePhysical { resource, paddr, size, out } => vmo::create_physical(k, resource, paddr, size, out),
        VmarMap { vmar, options, vmar_offset, vmo, vmo_offset, len, out } => {
            vmar::map(k, vmar, options, vmar_offset, vmo, vmo_offset, len, out)
        }
        VmarUnmap { vmar, addr, len } => vmar::unmap(k, vmar, addr, len),
        VmarProtect { vmar, options, addr, len } => vmar::protect(k, vmar, options, addr, len),
        CacheFlush { addr, len, options } => misc::cache_flush(k, addr, len, options),
    };
    status_word(result)
}

/// The running process (syscalls only come from one).
fn process(k: &mut Kernel) -> ZxResult<&mut Process> {
    k.process.as_mut().ok_or(ZxError::BadState)
}

/// Looks up a VMO handle: BAD_HANDLE, then WRONG_TYPE, then ACCESS_DENIED for `need`.
/// Returns the VMO and the handle's rights.
fn lookup_vmo(k: &mut Kernel, handle: u32, need: u32) -> ZxResult<(VmoId, u32)> {
    let entry = process(k)?.handles.get(handle)?;
    let KObject::Vmo(vmo) = entry.object else {
        return Err(ZxError::WrongType);
    };
    check_rights(entry.rights, need)?;
    Ok((vmo, entry.rights))
}

/// Looks up the root VMAR handle: BAD_HANDLE, then WRONG_TYPE. Returns its rights.
fn lookup_vmar(k: &mut Kernel, handle: u32) -> ZxResult<u32> {
    let entry = process(k)?.handles.get(handle)?;
    match entry.object {
        KObject::Vmar => Ok(entry.rights),
        _ => Err(ZxError::WrongType),
    }
}

/// Looks up a resource handle (only the root resource exists): BAD_HANDLE, WRONG_TYPE.
fn lookup_resource(k: &mut Kernel, handle: u32) -> ZxResult<u32> {
    let entry = process(k)?.handles.get(handle)?;
    match entry.object {
        KObject::Resource => Ok(entry.rights),
        _ => Err(ZxError::WrongType),
    }
}

/// Gives up one reference to `object` (a closed or consumed handle).
fn release_object(k: &mut Kernel, object: KObject) {
    if let KObject::Vmo(vmo) = object {
        let mut mem = super::memory::FramePages { frames: &mut k.frames };
        k.vmos.release(vmo, &mut mem);
        super::process::apply_invalidations(k);
    }
}

/// Takes one more reference to `object` (a new handle to it).
fn retain_object(k: &mut Kernel, object: KObject) {
    if let KObject::Vmo(vmo) = object {
        k.vmos.retain(vmo);
    }
}

/// Installs a new handle and writes its value to `out`. If the copy fails the handle
/// is removed again and the object dropped (INVALID_ARGS), as Zircon does.
fn install_handle(k: &mut Kernel, object: KObject, rights: u32, out: u64) -> ZxResult {
    let value = process(k)?.handles.insert(object, rights)?;
    publish_handle(k, value, out)
}

/// Writes a handle value already in the table to `out`, undoing the handle on failure.
fn publish_handle(k: &mut Kernel, value: u32, out: u64) -> ZxResult {
    if let Err(e) = user::write_value(k, out, &value.to_le_bytes()) {
        if let Ok(removed) = process(k)?.handles.remove(value) {
            release_object(k, removed.object);
        }
        return Err(e);
    }
    Ok(())
}
