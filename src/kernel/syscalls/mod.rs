//! Syscall handlers (ABI.md section 4): vectors.S calls the entry for the number in x16
//! from `SYSCALL_TABLE` with the user's x0..x7; it decodes them, runs the handler under
//! the kernel lock and returns the value for x0. Every other register is restored by
//! vectors.S (or preserved by the handler itself, as the AAPCS64 requires).
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
use crate::abi::ZX_HANDLE_INVALID;
use crate::arch::aarch64::exception::TrapFrame;
use crate::error::{ZxError, ZxResult, status_word};
use crate::object::rights::check_rights;
use crate::syscall::{Syscall, decode};
use crate::vm::vmo::VmoId;

/// Entries in [`SYSCALL_TABLE`]: numbers 0..=LAST (vectors.S has the same constant).
pub const SYSCALL_COUNT: usize = 26;
const _: () = assert!(SYSCALL_COUNT as u64 == crate::abi::sys::LAST + 1);

/// A syscall handler as vectors.S calls it: the user's x0..x7 as arguments, the value
/// for x0 as the result.
pub type SyscallEntry = extern "C" fn(u64, u64, u64, u64, u64, u64, u64, u64) -> u64;

/// The handler for each syscall number, indexed by x16 in vectors.S: a table rather than
/// a chain of checks. Entry `N` is `entry::<N>`, in which the decoding of number `N` and
/// the dispatch fold to the one handler. Entry 0 (which vectors.S also uses for every
/// number past the table) answers ZX_ERR_BAD_SYSCALL.
#[allow(unsafe_code)] // exported by name: vectors.S loads it
#[unsafe(no_mangle)]
static SYSCALL_TABLE: [SyscallEntry; SYSCALL_COUNT] = [
    entry::<0>,
    entry::<1>,
    entry::<2>,
    entry::<3>,
    entry::<4>,
    entry::<5>,
    entry::<6>,
    entry::<7>,
    entry::<8>,
    entry::<9>,
    entry::<10>,
    entry::<11>,
    entry::<12>,
    entry::<13>,
    entry::<14>,
    entry::<15>,
    entry::<16>,
    entry::<17>,
    entry::<18>,
    entry::<19>,
    entry::<20>,
    entry::<21>,
    entry::<22>,
    entry::<23>,
    entry::<24>,
    entry::<25>,
];

/// Syscall number `N` with the user's argument registers.
#[allow(clippy::too_many_arguments)]
extern "C" fn entry<const N: u64>(a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64, a6: u64, a7: u64) -> u64 {
    run(N, &[a0, a1, a2, a3, a4, a5, a6, a7])
}

/// Decodes and runs syscall `number`; returns the value for x0.
#[inline(always)]
fn run(number: u64, args: &[u64; 8]) -> u64 {
    match decode(number, args) {
        // The null syscall: closing ZX_HANDLE_INVALID is OK and touches no state, so it
        // does not even take the kernel lock.
        Ok(Syscall::HandleClose { handle: ZX_HANDLE_INVALID }) => 0,
        Ok(call) => super::with_kernel(|k| dispatch(k, call)),
        Err(e) => status_word(Err(e)),
    }
}

/// Runs the syscall an `svc #0` from EL0 asked for, with the registers in `frame`, and
/// puts the result in x0; every other register in the frame is left as it was. (The
/// vector table calls [`SYSCALL_TABLE`] directly; this is the same path for a frame.)
pub fn handle(frame: &mut TrapFrame) {
    let number = frame.x[16];
    let index = if number < SYSCALL_COUNT as u64 { number as usize } else { 0 };
    let a = &frame.x;
    frame.x[0] = SYSCALL_TABLE[index](a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
}

/// Runs one decoded call; returns the value for x0.
#[inline(always)]
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
        ObjectWaitOne { handle, signals, deadline, observed } => {
            object::wait_one(k, handle, signals, deadline, observed)
        }
        VmoCreate { size, options, out } => vmo::create(k, size, options, out),
        VmoRead { handle, buf, offset, len } => vmo::read_write(k, handle, buf, offset, len, false),
        VmoWrite { handle, buf, offset, len } => vmo::read_write(k, handle, buf, offset, len, true),
        VmoGetSize { handle, out } => vmo::get_size(k, handle, out),
        VmoSetSize { handle, size } => vmo::set_size(k, handle, size),
        VmoOpRange { handle, op, offset, size, buf, buf_size } => {
            vmo::op_range(k, handle, op, offset, size, buf, buf_size)
        }
        VmoCreateChild { handle, options, offset, size, out } => {
            vmo::create_child(k, handle, options, offset, size, out)
        }
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

/// NO_MEMORY when the kernel heap is too low for a call that creates kernel objects or
/// mappings: the kernel refuses rather than risk an allocation it cannot recover from.
fn ensure_heap_headroom() -> ZxResult {
    if crate::arch::aarch64::heap::has_headroom() { Ok(()) } else { Err(ZxError::NoMemory) }
}
