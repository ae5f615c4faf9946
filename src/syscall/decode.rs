//! Registers to a typed syscall (ABI.md section 4): the number in x16 compared as a full
//! 64-bit value, arguments in x0..x7, `u32` arguments taken from the low 32 bits and
//! handles (`zx_handle_t`, a `u32`) likewise.

use crate::abi::sys;
use crate::error::{ZxError, ZxResult};

/// A user address as passed in a register; checked only when the kernel copies.
pub type UserAddr = u64;

/// One decoded syscall with its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Syscall {
    DebugWrite { buf: UserAddr, len: u64 },
    ProcessExit { retcode: i64 },
    ClockGetMonotonic,
    HandleClose { handle: u32 },
    HandleDuplicate { handle: u32, rights: u32, out: UserAddr },
    HandleReplace { handle: u32, rights: u32, out: UserAddr },
    ObjectGetInfo { handle: u32, topic: u32, buf: UserAddr, buf_size: u64, actual: UserAddr, avail: UserAddr },
    ObjectGetProperty { handle: u32, property: u32, value: UserAddr, size: u64 },
    ObjectSetProperty { handle: u32, property: u32, value: UserAddr, size: u64 },
    VmoCreate { size: u64, options: u32, out: UserAddr },
    VmoRead { handle: u32, buf: UserAddr, offset: u64, len: u64 },
    VmoWrite { handle: u32, buf: UserAddr, offset: u64, len: u64 },
    VmoGetSize { handle: u32, out: UserAddr },
    VmoSetSize { handle: u32, size: u64 },
    VmoOpRange { handle: u32, op: u32, offset: u64, size: u64, buf: UserAddr, buf_size: u64 },
    VmoCreateChild { handle: u32, options: u32, offset: u64, size: u64, out: UserAddr },
    VmoSetCachePolicy { handle: u32, policy: u32 },
    VmoReplaceAsExecutable { handle: u32, vmex: u32, out: UserAddr },
    VmoCreatePhysical { resource: u32, paddr: u64, size: u64, out: UserAddr },
    VmarMap { vmar: u32, options: u32, vmar_offset: u64, vmo: u32, vmo_offset: u64, len: u64, out: UserAddr },
    VmarUnmap { vmar: u32, addr: u64, len: u64 },
    VmarProtect { vmar: u32, options: u32, addr: u64, len: u64 },
    CacheFlush { addr: UserAddr, len: u64, options: u32 },
    ObjectSignal { handle: u32, clear_mask: u32, set_mask: u32 },
    ObjectWaitOne { handle: u32, signals: u32, deadline: i64, observed: UserAddr },
}

/// The low 32 bits of a register.
const fn lo(value: u64) -> u32 {
    value as u32
}

/// Decodes syscall `number` with argument registers `a` (x0..x7). An unknown number,
/// 0 and everything above 2^32 included, is `BadSyscall`.
pub fn decode(number: u64, a: &[u64; 8]) -> ZxResult<Syscall> {
    use Syscall::*;
    Ok(match number {
        sys::DEBUG_WRITE => DebugWrite { buf: a[0], len: a[1] },
        sys::PROCESS_EXIT => ProcessExit { retcode: a[0] as i64 },
        sys::CLOCK_GET_MONOTONIC => ClockGetMonotonic,
        sys::HANDLE_CLOSE => HandleClose { handle: lo(a[0]) },
        sys::HANDLE_DUPLICATE => HandleDuplicate { handle: lo(a[0]), rights: lo(a[1]), out: a[2] },
        sys::HANDLE_REPLACE => HandleReplace { handle: lo(a[0]), rights: lo(a[1]), out: a[2] },
        sys::OBJECT_GET_INFO => {
            ObjectGetInfo { handle: lo(a[0]), topic: lo(a[1]), buf: a[2], buf_size: a[3], actual: a[4], avail: a[5] }
        }
        sys::OBJECT_GET_PROPERTY => ObjectGetProperty { handle: lo(a[0]), property: lo(a[1]), value: a[2], size: a[3] },
        sys::OBJECT_SET_PROPERTY => ObjectSetProperty { handle: lo(a[0]), property: lo(a[1]), value: a[2], size: a[3] },
        sys::VMO_CREATE => VmoCreate { size: a[0], options: lo(a[1]), out: a[2] },
        sys::VMO_READ => VmoRead { handle: lo(a[0]), buf: a[1], offset: a[2], len: a[3] },
        sys::VMO_WRITE => VmoWrite { handle: lo(a[0]), buf: a[1], offset: a[2], len: a[3] },
        sys::VMO_GET_SIZE => VmoGetSize { handle: lo(a[0]), out: a[1] },
        sys::VMO_SET_SIZE => VmoSetSize { handle: lo(a[0]), size: a[1] },
        sys::VMO_OP_RANGE => {
            VmoOpRange { handle: lo(a[0]), op: lo(a[1]), offset: a[2], size: a[3], buf: a[4], buf_size: a[5] }
        }
        sys::VMO_CREATE_CHILD => {
            VmoCreateChild { handle: lo(a[0]), options: lo(a[1]), offset: a[2], size: a[3], out: a[4] }
        }
        sys::VMO_SET_CACHE_POLICY => VmoSetCachePolicy { handle: lo(a[0]), policy: lo(a[1]) },
        sys::VMO_REPLACE_AS_EXECUTABLE => VmoReplaceAsExecutable { handle: lo(a[0]), vmex: lo(a[1]), out: a[2] },
        sys::VMO_CREATE_PHYSICAL => VmoCreatePhysical { resource: lo(a[0]), paddr: a[1], size: a[2], out: a[3] },
        sys::VMAR_MAP => VmarMap {
            vmar: lo(a[0]),
            options: lo(a[1]),
            vmar_offset: a[2],
            vmo: lo(a[3]),
            vmo_offset: a[4],
            len: a[5],
            out: a[6],
        },
        sys::VMAR_UNMAP => VmarUnmap { vmar: lo(a[0]), addr: a[1], len: a[2] },
        sys::VMAR_PROTECT => VmarProtect { vmar: lo(a[0]), options: lo(a[1]), addr: a[2], len: a[3] },
        sys::CACHE_FLUSH => CacheFlush { addr: a[0], len: a[1], options: lo(a[2]) },
        sys::OBJECT_SIGNAL => ObjectSignal { handle: lo(a[0]), clear_mask: lo(a[1]), set_mask: lo(a[2]) },
        sys::OBJECT_WAIT_ONE => {
            ObjectWaitOne { handle: lo(a[0]), signals: lo(a[1]), deadline: a[2] as i64, observed: a[3] }
        }
        _ => return Err(ZxError::BadSyscall),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_numbers_are_bad_syscall() {
        for n in [0, 26, 63, 64, 1000, (1 << 32) | 4, u64::MAX] {
            assert_eq!(decode(n, &[0; 8]), Err(ZxError::BadSyscall), "number {n:#x}");
        }
    }

    #[test]
    fn every_number_1_to_25_decodes() {
        for n in 1..=sys::LAST {
            assert!(decode(n, &[0; 8]).is_ok(), "number {n}");
        }
    }

    #[test]
    fn u32_arguments_ignore_the_upper_bits() {
        let a = [0xdead_beef_0000_0007, 0xffff_ffff_0000_0002, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            decode(sys::VMO_OP_RANGE, &a),
            Ok(Syscall::VmoOpRange { handle: 7, op: 2, offset: 3, size: 4, buf: 5, buf_size: 6 })
        );
        assert_eq!(decode(sys::HANDLE_CLOSE, &a), Ok(Syscall::HandleClose { handle: 7 }));
    }

    #[test]
    fn vmar_map_takes_seven_arguments_in_order() {
        let a = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            decode(sys::VMAR_MAP, &a),
            Ok(Syscall::VmarMap { vmar: 1, options: 2, vmar_offset: 3, vmo: 4, vmo_offset: 5, len: 6, out: 7 })
        );
    }

    #[test]
    fn signed_arguments_keep_their_sign() {
        let a = [u64::MAX, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(decode(sys::PROCESS_EXIT, &a), Ok(Syscall::ProcessExit { retcode: -1 }));
        let w = [3, 1, (-5i64) as u64, 0, 0, 0, 0, 0];
        assert_eq!(
            decode(sys::OBJECT_WAIT_ONE, &w),
            Ok(Syscall::ObjectWaitOne { handle: 3, signals: 1, deadline: -5, observed: 0 })
        );
    }
}
