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
    DebugWrite {
        buf: UserAddr,
        len: u64,
    },
    ProcessExit {
        retcode: i64,
    },
    ClockGetMonotonic,
    HandleClose {
        handle: u32,
    },
    HandleDuplicate {
        handle: u32,
        rights: u32,
        out: UserAddr,
    },
    HandleReplace {
        handle: u32,
        rights: u32,
        out: UserAddr,
    },
    ObjectGetInfo {
        handle: u32,
        topic: u32,
        buf: UserAddr,
        buf_size: u64,
        actual: UserAddr,
        avail: UserAddr,
    },
    ObjectGetProperty {
        handle: u32,
        property: u32,
        value: UserAddr,
        size: u64,
    },
    ObjectSetProperty {
        handle: u32,
        property: u32,
        value: UserAddr,
        size: u64,
    },
    VmoCreate {
        size: u64,
        options: u32,
        out: UserAddr,
    },
    VmoRead {
        handle: u32,
        buf: UserAddr,
        offset: u64,
        len: u64,
    },
    VmoWrite {
        handle: u32,
        buf: UserAddr,
        offset: u64,
        len: u64,
    },
    VmoGetSize {
        handle: u32,
        out: UserAddr,
    },
    VmoSetSize {
        handle: u32,
        size: u64,
    },
    VmoOpRange {
        handle: u32,
        op: u32,
        offset: u64,
        size: u64,
        buf: UserAddr,
        buf_size: u64,
    },
    VmoCreateChild {
        handle: u32,
        options: u32,
        offset: u64,
        size: u64,
        out: UserAddr,
    },
    VmoSetCachePolicy {
        handle: u32,
        policy: u32,
    },
    VmoReplaceAsExecutable {
        handle: u32,
        vmex: u32,
        out: UserAddr,
    },
    VmoCreatePhysical {
        resource: u32,
        paddr: u64,
        size: u64,
        out: UserAddr,
    },
    VmarMap {
        vmar: u32,
        options: u32,
        vmar_offset: u64,
        vmo: u32,
        vmo_offset: u64,
        len: u64,
        out: UserAddr,
    },
    VmarUnmap {
        vmar: u32,
        addr: u64,
        len: u64,
    },
    VmarProtect {
        vmar: u32,
        options: u32,
        addr: u64,
        len: u64,
    },
    CacheFlush {
        addr: UserAddr,
        len: u64,
        options: u32,
    },
    ObjectSignal {
        handle: u32,
        clear_mask: u32,
        set_mask: u32,
    },
    ObjectWaitOne {
        handle: u32,
        signals: u32,
        deadline: i64,
        observed: UserAddr,
    },
    ProcessCreate {
        job: u32,
        name: UserAddr,
        name_size: u64,
        options: u32,
        proc_out: UserAddr,
        vmar_out: UserAddr,
    },
    ProcessStart {
        process: u32,
        thread: u32,
        entry: u64,
        stack: u64,
        arg1: u32,
        arg2: u64,
    },
    ProcessReadMemory {
        process: u32,
        vaddr: u64,
        buf: UserAddr,
        len: u64,
        actual: UserAddr,
    },
    ProcessWriteMemory {
        process: u32,
        vaddr: u64,
        buf: UserAddr,
        len: u64,
        actual: UserAddr,
    },
    ThreadCreate {
        process: u32,
        name: UserAddr,
        name_size: u64,
        options: u32,
        out: UserAddr,
    },
    ThreadStart {
        thread: u32,
        entry: u64,
        stack: u64,
        arg1: u64,
        arg2: u64,
    },
    ThreadExit,
    TaskKill {
        task: u32,
    },
    JobCreate {
        parent: u32,
        options: u32,
        out: UserAddr,
    },
    HandleCloseMany {
        handles: UserAddr,
        count: u64,
    },
    ObjectWaitMany {
        items: UserAddr,
        count: u64,
        deadline: i64,
    },
    ObjectWaitAsync {
        handle: u32,
        port: u32,
        key: u64,
        signals: u32,
        options: u32,
    },
    ObjectSignalPeer {
        handle: u32,
        clear_mask: u32,
        set_mask: u32,
    },
    EventCreate {
        options: u32,
        out: UserAddr,
    },
    EventpairCreate {
        options: u32,
        out0: UserAddr,
        out1: UserAddr,
    },
    ChannelCreate {
        options: u32,
        out0: UserAddr,
        out1: UserAddr,
    },
    ChannelRead {
        handle: u32,
        options: u32,
        bytes: UserAddr,
        handles: UserAddr,
        num_bytes: u32,
        num_handles: u32,
        actual_bytes: UserAddr,
        actual_handles: UserAddr,
    },
    ChannelWrite {
        handle: u32,
        options: u32,
        bytes: UserAddr,
        num_bytes: u32,
        handles: UserAddr,
        num_handles: u32,
    },
    ChannelCall {
        handle: u32,
        options: u32,
        deadline: i64,
        args: UserAddr,
        actual_bytes: UserAddr,
        actual_handles: UserAddr,
    },
    PortCreate {
        options: u32,
        out: UserAddr,
    },
    PortQueue {
        port: u32,
        packet: UserAddr,
    },
    PortWait {
        port: u32,
        deadline: i64,
        packet: UserAddr,
    },
    PortCancel {
        port: u32,
        source: u32,
        key: u64,
    },
    FutexWait {
        value_ptr: UserAddr,
        current: i32,
        new_owner: u32,
        deadline: i64,
    },
    FutexWake {
        value_ptr: UserAddr,
        count: u32,
    },
    FutexRequeue {
        value_ptr: UserAddr,
        wake_count: u32,
        current: i32,
        requeue_ptr: UserAddr,
        requeue_count: u32,
        new_owner: u32,
    },
    TimerCreate {
        options: u32,
        clock_id: u32,
        out: UserAddr,
    },
    TimerSet {
        timer: u32,
        deadline: i64,
        slack: i64,
    },
    TimerCancel {
        timer: u32,
    },
    Nanosleep {
        deadline: i64,
    },
    DeadlineAfter {
        nanoseconds: i64,
    },
    TicksGet,
    TicksPerSecond,
    SystemGetNumCpus,
    SystemGetPageSize,
    DebugRead {
        resource: u32,
        buf: UserAddr,
        len: u64,
        actual: UserAddr,
    },
    VmarAllocate {
        parent: u32,
        options: u32,
        offset: u64,
        size: u64,
        vmar_out: UserAddr,
        addr_out: UserAddr,
    },
    VmarDestroy {
        vmar: u32,
    },
}

/// Whether syscall `number` leaves ELR_EL1 and SPSR_EL1 (the caller's return address and
/// state) as its `svc` set them, on every path: it touches no user memory (a fault taken
/// at EL1 on a user access would overwrite them), and it never blocks, yields or
/// switches threads (another thread's return to EL0 would); a thread it kills, itself
/// included, ends without returning. The syscall entry then neither saves nor restores
/// them (vectors.S): a "lean" call. The list is short on purpose: only calls whose every
/// path is plainly so, the null syscall and the event's signal among them; any other
/// number, a new one included, gets them saved. Under `lockcheck` the kernel checks each
/// lean call against both rules as it runs (`kernel::syscalls`, the checked table).
pub const fn keeps_return_state(number: u64) -> bool {
    matches!(
        number,
        // Entry 0 (and every unknown number) answers BAD_SYSCALL.
        0 | sys::HANDLE_CLOSE
            | sys::OBJECT_SIGNAL
            | sys::OBJECT_SIGNAL_PEER
            | sys::CLOCK_GET_MONOTONIC
            | sys::TICKS_GET
            | sys::TICKS_PER_SECOND
            | sys::SYSTEM_GET_NUM_CPUS
            | sys::SYSTEM_GET_PAGE_SIZE
            | sys::DEADLINE_AFTER
    )
}

impl Syscall {
    /// Whether the call can leave its own thread marked to end before it returns to EL0:
    /// the calls that end threads (`zx_process_exit`, `zx_task_kill`, `zx_thread_exit`)
    /// and the calls that can block, since a thread killed while blocked learns it only
    /// when it wakes. The others neither block nor end a thread, and a kill from another
    /// thread while they run reaches this one through its own flag and an IPI taken on
    /// the way back to EL0, so the syscall entry tests the end-of-thread flag only after
    /// the calls named here. `zx_object_wait_one` and `zx_port_wait` block only on their
    /// slow paths, which test the flag themselves once nothing is held
    /// (`kernel::syscalls::end_if_killed`), so that their common paths (the event and port
    /// benchmarks) skip it. No wildcard: a new call must be placed on one side.
    #[inline(always)]
    pub const fn may_end_caller(&self) -> bool {
        use Syscall::*;
        match self {
            ProcessExit { .. } | TaskKill { .. } | ThreadExit => true,
            ObjectWaitOne { .. } | PortWait { .. } => false,
            ObjectWaitMany { .. } | ChannelCall { .. } | FutexWait { .. } | Nanosleep { .. } | DebugRead { .. } => true,
            DebugWrite { .. }
            | ClockGetMonotonic
            | HandleClose { .. }
            | HandleDuplicate { .. }
            | HandleReplace { .. }
            | ObjectGetInfo { .. }
            | ObjectGetProperty { .. }
            | ObjectSetProperty { .. }
            | VmoCreate { .. }
            | VmoRead { .. }
            | VmoWrite { .. }
            | VmoGetSize { .. }
            | VmoSetSize { .. }
            | VmoOpRange { .. }
            | VmoCreateChild { .. }
            | VmoSetCachePolicy { .. }
            | VmoReplaceAsExecutable { .. }
            | VmoCreatePhysical { .. }
            | VmarMap { .. }
            | VmarUnmap { .. }
            | VmarProtect { .. }
            | CacheFlush { .. }
            | ObjectSignal { .. }
            | ProcessCreate { .. }
            | ProcessStart { .. }
            | ProcessReadMemory { .. }
            | ProcessWriteMemory { .. }
            | ThreadCreate { .. }
            | ThreadStart { .. }
            | JobCreate { .. }
            | HandleCloseMany { .. }
            | ObjectWaitAsync { .. }
            | ObjectSignalPeer { .. }
            | EventCreate { .. }
            | EventpairCreate { .. }
            | ChannelCreate { .. }
            | ChannelRead { .. }
            | ChannelWrite { .. }
            | PortCreate { .. }
            | PortQueue { .. }
            | PortCancel { .. }
            | FutexWake { .. }
            | FutexRequeue { .. }
            | TimerCreate { .. }
            | TimerSet { .. }
            | TimerCancel { .. }
            | DeadlineAfter { .. }
            | TicksGet
            | TicksPerSecond
            | SystemGetNumCpus
            | SystemGetPageSize
            | VmarAllocate { .. }
            | VmarDestroy { .. } => false,
        }
    }
}

/// The low 32 bits of a register.
const fn lo(value: u64) -> u32 {
    value as u32
}

/// Decodes syscall `number` with argument registers `a` (x0..x7). An unknown number,
/// 0 and everything above 2^32 included, is `BadSyscall`.
#[inline(always)]
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
        sys::PROCESS_CREATE => ProcessCreate {
            job: lo(a[0]),
            name: a[1],
            name_size: a[2],
            options: lo(a[3]),
            proc_out: a[4],
            vmar_out: a[5],
        },
        sys::PROCESS_START => {
            ProcessStart { process: lo(a[0]), thread: lo(a[1]), entry: a[2], stack: a[3], arg1: lo(a[4]), arg2: a[5] }
        }
        sys::PROCESS_READ_MEMORY => {
            ProcessReadMemory { process: lo(a[0]), vaddr: a[1], buf: a[2], len: a[3], actual: a[4] }
        }
        sys::PROCESS_WRITE_MEMORY => {
            ProcessWriteMemory { process: lo(a[0]), vaddr: a[1], buf: a[2], len: a[3], actual: a[4] }
        }
        sys::THREAD_CREATE => {
            ThreadCreate { process: lo(a[0]), name: a[1], name_size: a[2], options: lo(a[3]), out: a[4] }
        }
        sys::THREAD_START => ThreadStart { thread: lo(a[0]), entry: a[1], stack: a[2], arg1: a[3], arg2: a[4] },
        sys::THREAD_EXIT => ThreadExit,
        sys::TASK_KILL => TaskKill { task: lo(a[0]) },
        sys::JOB_CREATE => JobCreate { parent: lo(a[0]), options: lo(a[1]), out: a[2] },
        sys::HANDLE_CLOSE_MANY => HandleCloseMany { handles: a[0], count: a[1] },
        sys::OBJECT_WAIT_MANY => ObjectWaitMany { items: a[0], count: a[1], deadline: a[2] as i64 },
        sys::OBJECT_WAIT_ASYNC => {
            ObjectWaitAsync { handle: lo(a[0]), port: lo(a[1]), key: a[2], signals: lo(a[3]), options: lo(a[4]) }
        }
        sys::OBJECT_SIGNAL_PEER => ObjectSignalPeer { handle: lo(a[0]), clear_mask: lo(a[1]), set_mask: lo(a[2]) },
        sys::EVENT_CREATE => EventCreate { options: lo(a[0]), out: a[1] },
        sys::EVENTPAIR_CREATE => EventpairCreate { options: lo(a[0]), out0: a[1], out1: a[2] },
        sys::CHANNEL_CREATE => ChannelCreate { options: lo(a[0]), out0: a[1], out1: a[2] },
        sys::CHANNEL_READ => ChannelRead {
            handle: lo(a[0]),
            options: lo(a[1]),
            bytes: a[2],
            handles: a[3],
            num_bytes: lo(a[4]),
            num_handles: lo(a[5]),
            actual_bytes: a[6],
            actual_handles: a[7],
        },
        sys::CHANNEL_WRITE => ChannelWrite {
            handle: lo(a[0]),
            options: lo(a[1]),
            bytes: a[2],
            num_bytes: lo(a[3]),
            handles: a[4],
            num_handles: lo(a[5]),
        },
        sys::CHANNEL_CALL => ChannelCall {
            handle: lo(a[0]),
            options: lo(a[1]),
            deadline: a[2] as i64,
            args: a[3],
            actual_bytes: a[4],
            actual_handles: a[5],
        },
        sys::PORT_CREATE => PortCreate { options: lo(a[0]), out: a[1] },
        sys::PORT_QUEUE => PortQueue { port: lo(a[0]), packet: a[1] },
        sys::PORT_WAIT => PortWait { port: lo(a[0]), deadline: a[1] as i64, packet: a[2] },
        sys::PORT_CANCEL => PortCancel { port: lo(a[0]), source: lo(a[1]), key: a[2] },
        sys::FUTEX_WAIT => {
            FutexWait { value_ptr: a[0], current: lo(a[1]) as i32, new_owner: lo(a[2]), deadline: a[3] as i64 }
        }
        sys::FUTEX_WAKE => FutexWake { value_ptr: a[0], count: lo(a[1]) },
        sys::FUTEX_REQUEUE => FutexRequeue {
            value_ptr: a[0],
            wake_count: lo(a[1]),
            current: lo(a[2]) as i32,
            requeue_ptr: a[3],
            requeue_count: lo(a[4]),
            new_owner: lo(a[5]),
        },
        sys::TIMER_CREATE => TimerCreate { options: lo(a[0]), clock_id: lo(a[1]), out: a[2] },
        sys::TIMER_SET => TimerSet { timer: lo(a[0]), deadline: a[1] as i64, slack: a[2] as i64 },
        sys::TIMER_CANCEL => TimerCancel { timer: lo(a[0]) },
        sys::NANOSLEEP => Nanosleep { deadline: a[0] as i64 },
        sys::DEADLINE_AFTER => DeadlineAfter { nanoseconds: a[0] as i64 },
        sys::TICKS_GET => TicksGet,
        sys::TICKS_PER_SECOND => TicksPerSecond,
        sys::SYSTEM_GET_NUM_CPUS => SystemGetNumCpus,
        sys::SYSTEM_GET_PAGE_SIZE => SystemGetPageSize,
        sys::DEBUG_READ => DebugRead { resource: lo(a[0]), buf: a[1], len: a[2], actual: a[3] },
        sys::VMAR_ALLOCATE => VmarAllocate {
            parent: lo(a[0]),
            options: lo(a[1]),
            offset: a[2],
            size: a[3],
            vmar_out: a[4],
            addr_out: a[5],
        },
        sys::VMAR_DESTROY => VmarDestroy { vmar: lo(a[0]) },
        _ => return Err(ZxError::BadSyscall),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_numbers_are_bad_syscall() {
        for n in [0, 64, 65, 1000, (1 << 32) | 4, u64::MAX] {
            assert_eq!(decode(n, &[0; 8]), Err(ZxError::BadSyscall), "number {n:#x}");
        }
    }

    #[test]
    fn every_number_1_to_63_decodes() {
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

    #[test]
    fn lean_calls_neither_block_nor_end_the_caller_nor_take_user_pointers() {
        // A lean call must not block (a switch would rewrite ELR/SPSR): none may end or
        // block its caller; and none decodes a user address (a fault at EL1 would
        // rewrite them). Both are necessary, not sufficient: the kernel checks the rest
        // (no switch, no exception at EL1) under `lockcheck` as each call runs.
        let lean: alloc::vec::Vec<u64> = (0..=sys::LAST).filter(|&n| keeps_return_state(n)).collect();
        assert!(lean.contains(&0) && lean.contains(&sys::HANDLE_CLOSE) && lean.contains(&sys::OBJECT_SIGNAL));
        assert!(!keeps_return_state(sys::LAST + 1) && !keeps_return_state(u64::MAX));
        for number in lean.into_iter().filter(|&n| n != 0) {
            let call = decode(number, &[u64::MAX; 8]).unwrap_or_else(|e| panic!("syscall {number}: {e:?}"));
            assert!(!call.may_end_caller(), "syscall {number}: {call:?}");
            // The variants with no `UserAddr` field.
            use Syscall::*;
            let no_user_address = matches!(
                call,
                HandleClose { .. }
                    | ObjectSignal { .. }
                    | ObjectSignalPeer { .. }
                    | ClockGetMonotonic
                    | TicksGet
                    | TicksPerSecond
                    | SystemGetNumCpus
                    | SystemGetPageSize
                    | DeadlineAfter { .. }
            );
            assert!(no_user_address, "syscall {number} takes a user address: {call:?}");
        }
    }

    #[test]
    fn only_blocking_and_ending_calls_may_end_the_caller_but_the_waits_that_test_it_themselves() {
        let a = [0; 8];
        let ending = [
            sys::PROCESS_EXIT,
            sys::TASK_KILL,
            sys::THREAD_EXIT,
            sys::OBJECT_WAIT_MANY,
            sys::CHANNEL_CALL,
            sys::FUTEX_WAIT,
            sys::NANOSLEEP,
            sys::DEBUG_READ,
        ];
        for number in 1..=sys::LAST {
            let Ok(call) = decode(number, &a) else { continue };
            assert_eq!(call.may_end_caller(), ending.contains(&number), "syscall {number}: {call:?}");
        }
    }
}
