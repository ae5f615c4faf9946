//! The numbers of ABI v1 (ABI.md §4, §5) in one place: syscall numbers, rights, options,
//! signals, properties, info topics and the byte layouts of the info records.

/// Page size of every address space (4 KiB granule).
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;

/// User space is `[USER_BASE, USER_END)` (ABI.md §2).
pub const USER_BASE: u64 = 0x1_0000;
/// One past the last user address: 2^47.
pub const USER_END: u64 = 1 << 47;

/// Handle value that names nothing.
pub const ZX_HANDLE_INVALID: u32 = 0;

/// Syscall numbers (ABI.md §4).
pub mod sys {
    pub const DEBUG_WRITE: u64 = 1;
    pub const PROCESS_EXIT: u64 = 2;
    pub const CLOCK_GET_MONOTONIC: u64 = 3;
    pub const HANDLE_CLOSE: u64 = 4;
    pub const HANDLE_DUPLICATE: u64 = 5;
    pub const HANDLE_REPLACE: u64 = 6;
    pub const OBJECT_GET_INFO: u64 = 7;
    pub const OBJECT_GET_PROPERTY: u64 = 8;
    pub const OBJECT_SET_PROPERTY: u64 = 9;
    pub const VMO_CREATE: u64 = 10;
    pub const VMO_READ: u64 = 11;
    pub const VMO_WRITE: u64 = 12;
    pub const VMO_GET_SIZE: u64 = 13;
    pub const VMO_SET_SIZE: u64 = 14;
    pub const VMO_OP_RANGE: u64 = 15;
    pub const VMO_CREATE_CHILD: u64 = 16;
    pub const VMO_SET_CACHE_POLICY: u64 = 17;
    pub const VMO_REPLACE_AS_EXECUTABLE: u64 = 18;
    pub const VMO_CREATE_PHYSICAL: u64 = 19;
    pub const VMAR_MAP: u64 = 20;
    pub const VMAR_UNMAP: u64 = 21;
    pub const VMAR_PROTECT: u64 = 22;
    pub const CACHE_FLUSH: u64 = 23;
    pub const OBJECT_SIGNAL: u64 = 24;
    pub const OBJECT_WAIT_ONE: u64 = 25;
    // (v2) Tasks, waiting, IPC, futexes, time, CPUs, sub-VMARs.
    pub const PROCESS_CREATE: u64 = 26;
    pub const PROCESS_START: u64 = 27;
    pub const PROCESS_READ_MEMORY: u64 = 28;
    pub const PROCESS_WRITE_MEMORY: u64 = 29;
    pub const THREAD_CREATE: u64 = 30;
    pub const THREAD_START: u64 = 31;
    pub const THREAD_EXIT: u64 = 32;
    pub const TASK_KILL: u64 = 33;
    pub const JOB_CREATE: u64 = 34;
    pub const HANDLE_CLOSE_MANY: u64 = 35;
    pub const OBJECT_WAIT_MANY: u64 = 36;
    pub const OBJECT_WAIT_ASYNC: u64 = 37;
    pub const OBJECT_SIGNAL_PEER: u64 = 38;
    pub const EVENT_CREATE: u64 = 39;
    pub const EVENTPAIR_CREATE: u64 = 40;
    pub const CHANNEL_CREATE: u64 = 41;
    pub const CHANNEL_READ: u64 = 42;
    pub const CHANNEL_WRITE: u64 = 43;
    pub const CHANNEL_CALL: u64 = 44;
    pub const PORT_CREATE: u64 = 45;
    pub const PORT_QUEUE: u64 = 46;
    pub const PORT_WAIT: u64 = 47;
    pub const PORT_CANCEL: u64 = 48;
    pub const FUTEX_WAIT: u64 = 49;
    pub const FUTEX_WAKE: u64 = 50;
    pub const FUTEX_REQUEUE: u64 = 51;
    pub const TIMER_CREATE: u64 = 52;
    pub const TIMER_SET: u64 = 53;
    pub const TIMER_CANCEL: u64 = 54;
    pub const NANOSLEEP: u64 = 55;
    pub const DEADLINE_AFTER: u64 = 56;
    pub const TICKS_GET: u64 = 57;
    pub const TICKS_PER_SECOND: u64 = 58;
    pub const SYSTEM_GET_NUM_CPUS: u64 = 59;
    pub const SYSTEM_GET_PAGE_SIZE: u64 = 60;
    pub const DEBUG_READ: u64 = 61;
    pub const VMAR_ALLOCATE: u64 = 62;
    pub const VMAR_DESTROY: u64 = 63;
    /// The highest number in use (v2: every number 1..=63).
    pub const LAST: u64 = 63;
}

/// Rights bits (ABI.md §5).
pub mod rights {
    pub const NONE: u32 = 0;
    pub const DUPLICATE: u32 = 1 << 0;
    pub const TRANSFER: u32 = 1 << 1;
    pub const READ: u32 = 1 << 2;
    pub const WRITE: u32 = 1 << 3;
    pub const EXECUTE: u32 = 1 << 4;
    pub const MAP: u32 = 1 << 5;
    pub const GET_PROPERTY: u32 = 1 << 6;
    pub const SET_PROPERTY: u32 = 1 << 7;
    pub const ENUMERATE: u32 = 1 << 8;
    pub const DESTROY: u32 = 1 << 9;
    pub const SET_POLICY: u32 = 1 << 10;
    pub const GET_POLICY: u32 = 1 << 11;
    pub const SIGNAL: u32 = 1 << 12;
    pub const SIGNAL_PEER: u32 = 1 << 13;
    pub const WAIT: u32 = 1 << 14;
    pub const INSPECT: u32 = 1 << 15;
    pub const MANAGE_JOB: u32 = 1 << 16;
    pub const MANAGE_PROCESS: u32 = 1 << 17;
    pub const MANAGE_THREAD: u32 = 1 << 18;
    pub const APPLY_PROFILE: u32 = 1 << 19;
    /// Sentinel: "the rights of the source handle". Never stored on a handle.
    pub const SAME_RIGHTS: u32 = 1 << 31;

    pub const BASIC: u32 = TRANSFER | DUPLICATE | WAIT | INSPECT;
    pub const IO: u32 = READ | WRITE;
    pub const PROPERTY: u32 = GET_PROPERTY | SET_PROPERTY;
    /// Rights of a new VMO handle: 0xD0EF.
    pub const DEFAULT_VMO: u32 = BASIC | IO | PROPERTY | MAP | SIGNAL;
    /// Rights of the root VMAR handle.
    pub const ROOT_VMAR: u32 = DUPLICATE | TRANSFER | READ | WRITE | EXECUTE | INSPECT | WAIT;
    /// Rights of the root resource handle.
    pub const ROOT_RESOURCE: u32 = DUPLICATE | TRANSFER | WRITE | INSPECT;
    /// Rights of a process handle (not handed out by ABI v1, kept for get_info).
    pub const DEFAULT_PROCESS: u32 =
        BASIC | IO | PROPERTY | ENUMERATE | DESTROY | SIGNAL | MANAGE_PROCESS | MANAGE_THREAD;
    /// (v2) A new thread handle.
    pub const DEFAULT_THREAD: u32 = BASIC | IO | PROPERTY | DESTROY | SIGNAL | MANAGE_THREAD;
    /// (v2) A new job handle.
    pub const DEFAULT_JOB: u32 = BASIC
        | IO
        | PROPERTY
        | GET_POLICY
        | SET_POLICY
        | ENUMERATE
        | DESTROY
        | SIGNAL
        | MANAGE_JOB
        | MANAGE_PROCESS
        | MANAGE_THREAD;
    /// (v2) A new channel end: no DUPLICATE.
    pub const DEFAULT_CHANNEL: u32 = TRANSFER | WAIT | INSPECT | IO | SIGNAL | SIGNAL_PEER;
    /// (v2) A new event.
    pub const DEFAULT_EVENT: u32 = BASIC | SIGNAL;
    /// (v2) A new eventpair end.
    pub const DEFAULT_EVENTPAIR: u32 = BASIC | SIGNAL | SIGNAL_PEER;
    /// (v2) A new port: no WAIT.
    pub const DEFAULT_PORT: u32 = DUPLICATE | TRANSFER | INSPECT | IO;
    /// (v2) A new timer.
    pub const DEFAULT_TIMER: u32 = BASIC | WRITE | SIGNAL;
    /// (v2) A VMAR made by process_create or vmar_allocate, before R/W/X.
    pub const DEFAULT_VMAR: u32 = DUPLICATE | TRANSFER | INSPECT;
    /// (v2) The initrd VMO of the first process: the VMO default without WRITE.
    pub const INITRD_VMO: u32 = DEFAULT_VMO & !WRITE;

    const _: () = assert!(DEFAULT_PROCESS == 0x6D3CF);
    const _: () = assert!(DEFAULT_THREAD == 0x4D2CF);
    const _: () = assert!(DEFAULT_JOB == 0x7DFCF);
    const _: () = assert!(DEFAULT_CHANNEL == 0xF00E);
    const _: () = assert!(DEFAULT_EVENT == 0xD003);
    const _: () = assert!(DEFAULT_EVENTPAIR == 0xF003);
    const _: () = assert!(DEFAULT_PORT == 0x800F);
    const _: () = assert!(DEFAULT_TIMER == 0xD00B);
    const _: () = assert!(INITRD_VMO == 0xD0E7);

    const _: () = assert!(DEFAULT_VMO == 0xD0EF);
}

/// Object types (ABI.md §5).
pub mod obj_type {
    pub const PROCESS: u32 = 1;
    pub const THREAD: u32 = 2;
    pub const VMO: u32 = 3;
    pub const RESOURCE: u32 = 15;
    pub const VMAR: u32 = 18;
    /// (v2)
    pub const CHANNEL: u32 = 4;
    /// (v2)
    pub const EVENT: u32 = 5;
    /// (v2)
    pub const PORT: u32 = 6;
    /// (v2)
    pub const EVENTPAIR: u32 = 16;
    /// (v2)
    pub const JOB: u32 = 17;
    /// (v2)
    pub const TIMER: u32 = 22;
}

/// `zx_vmo_create` options.
pub const VMO_RESIZABLE: u32 = 1 << 1;

/// `zx_vmo_create_child` options.
pub mod child {
    pub const SNAPSHOT: u32 = 1 << 0;
    pub const RESIZABLE: u32 = 1 << 2;
    pub const SLICE: u32 = 1 << 3;
    pub const SNAPSHOT_AT_LEAST_ON_WRITE: u32 = 1 << 4;
    pub const NO_WRITE: u32 = 1 << 5;
}

/// `zx_vmo_op_range` operations.
pub mod op {
    pub const COMMIT: u32 = 1;
    pub const DECOMMIT: u32 = 2;
    pub const LOCK: u32 = 3;
    pub const UNLOCK: u32 = 4;
    pub const CACHE_SYNC: u32 = 6;
    pub const CACHE_INVALIDATE: u32 = 7;
    pub const CACHE_CLEAN: u32 = 8;
    pub const CACHE_CLEAN_INVALIDATE: u32 = 9;
    pub const ZERO: u32 = 10;
}

/// Cache policies and the mask of valid bits.
pub mod cache_policy {
    pub const CACHED: u32 = 0;
    pub const UNCACHED: u32 = 1;
    pub const UNCACHED_DEVICE: u32 = 2;
    pub const WRITE_COMBINING: u32 = 3;
    pub const MASK: u32 = 3;
}

/// VM (mapping) options.
pub mod vm {
    pub const PERM_READ: u32 = 1 << 0;
    pub const PERM_WRITE: u32 = 1 << 1;
    pub const PERM_EXECUTE: u32 = 1 << 2;
    /// (v2) A placement hint, accepted by `zx_vmar_allocate` and `zx_vmar_map`.
    pub const COMPACT: u32 = 1 << 3;
    pub const SPECIFIC: u32 = 1 << 4;
    pub const SPECIFIC_OVERWRITE: u32 = 1 << 5;
    pub const CAN_MAP_SPECIFIC: u32 = 1 << 6;
    pub const CAN_MAP_READ: u32 = 1 << 7;
    pub const CAN_MAP_WRITE: u32 = 1 << 8;
    pub const CAN_MAP_EXECUTE: u32 = 1 << 9;
    pub const MAP_RANGE: u32 = 1 << 10;
    pub const REQUIRE_NON_RESIZABLE: u32 = 1 << 11;
    pub const PERM_MASK: u32 = PERM_READ | PERM_WRITE | PERM_EXECUTE;
    pub const CAN_MAP_MASK: u32 = CAN_MAP_SPECIFIC | CAN_MAP_READ | CAN_MAP_WRITE | CAN_MAP_EXECUTE;
    /// Bits 24..=31 hold log2 of the requested alignment.
    pub const ALIGN_SHIFT: u32 = 24;
    pub const ALIGN_MASK: u32 = 0xff << ALIGN_SHIFT;
}

/// `zx_cache_flush` options.
pub mod cache_flush {
    pub const INSN: u32 = 1 << 0;
    pub const DATA: u32 = 1 << 1;
    pub const INVALIDATE: u32 = 1 << 2;
}

/// Signals.
pub mod signal {
    pub const VMO_ZERO_CHILDREN: u32 = 1 << 3;
    pub const USER_ALL: u32 = 0xff << 24;
    /// (v2) Channel: a message is queued.
    pub const CHANNEL_READABLE: u32 = 1 << 0;
    /// (v2) Channel: the peer is open.
    pub const CHANNEL_WRITABLE: u32 = 1 << 1;
    /// (v2) Channel or eventpair: the peer is closed.
    pub const PEER_CLOSED: u32 = 1 << 2;
    /// (v2) Event, eventpair, timer.
    pub const SIGNALED: u32 = 1 << 3;
    /// (v2) Process, thread, job: ended.
    pub const TASK_TERMINATED: u32 = 1 << 3;
    /// (v2) Thread: started and not dead.
    pub const THREAD_RUNNING: u32 = 1 << 4;
    /// (v2) Job: no child job.
    pub const JOB_NO_JOBS: u32 = 1 << 4;
    /// (v2) Job: no child process.
    pub const JOB_NO_PROCESSES: u32 = 1 << 5;
    /// (v2) In results only: the handle waited through was closed.
    pub const HANDLE_CLOSED: u32 = 1 << 23;
}

/// Properties.
pub mod prop {
    pub const NAME: u32 = 3;
    pub const VMO_CONTENT_SIZE: u32 = 17;
    /// Bytes in a name, NUL included.
    pub const NAME_LEN: usize = 32;
}

/// `zx_object_get_info` topics and record sizes.
pub mod info {
    pub const HANDLE_BASIC: u32 = 2;
    pub const VMAR: u32 = 7;
    pub const KMEM_STATS: u32 = 17;
    pub const VMO: u32 = 23;

    pub const HANDLE_BASIC_SIZE: usize = 32;
    pub const VMAR_SIZE: usize = 16;
    pub const KMEM_STATS_SIZE: usize = 72;
    pub const VMO_SIZE: usize = 104;
    /// (v2) topics
    pub const HANDLE_VALID: u32 = 1;
    pub const PROCESS: u32 = 3;
    pub const PROCESS_THREADS: u32 = 4;
    pub const JOB_CHILDREN: u32 = 8;
    pub const JOB_PROCESSES: u32 = 9;
    pub const THREAD: u32 = 10;
    pub const TASK_STATS: u32 = 12;
    pub const THREAD_STATS: u32 = 15;
    pub const HANDLE_COUNT: u32 = 19;
    pub const PROCESS_HANDLE_STATS: u32 = 21;
    pub const JOB: u32 = 24;
    pub const TIMER: u32 = 25;
    pub const PROCESS_SIZE: usize = 16;
    pub const THREAD_SIZE: usize = 72;
    pub const TASK_STATS_SIZE: usize = 32;
    pub const THREAD_STATS_SIZE: usize = 16;
    pub const HANDLE_COUNT_SIZE: usize = 4;
    pub const PROCESS_HANDLE_STATS_SIZE: usize = 256;
    pub const JOB_SIZE: usize = 16;
    pub const TIMER_SIZE: usize = 24;

    /// `zx_info_vmo_t.flags` bits.
    pub const VMO_TYPE_PAGED: u32 = 1 << 0;
    pub const VMO_RESIZABLE: u32 = 1 << 1;
    pub const VMO_IS_COW_CLONE: u32 = 1 << 2;
    pub const VMO_VIA_HANDLE: u32 = 1 << 3;
    pub const VMO_VIA_MAPPING: u32 = 1 << 4;
    pub const VMO_CONTIGUOUS: u32 = 1 << 6;
}

/// `zx_time_t` meaning "never".
pub const ZX_TIME_INFINITE: i64 = i64::MAX;
/// (v2)
pub const ZX_TIME_INFINITE_PAST: i64 = i64::MIN;

/// (v2) Task return codes.
pub mod retcode {
    /// `zx_task_kill`.
    pub const SYSCALL_KILL: i64 = -1024;
    /// A user fault.
    pub const EXCEPTION_KILL: i64 = -1028;
}

/// (v2) `ZX_INFO_THREAD.state`.
pub mod thread_state {
    pub const NEW: u32 = 0x0;
    pub const RUNNING: u32 = 0x1;
    pub const DYING: u32 = 0x4;
    pub const DEAD: u32 = 0x5;
    pub const BLOCKED_SLEEPING: u32 = 0x203;
    pub const BLOCKED_FUTEX: u32 = 0x303;
    pub const BLOCKED_PORT: u32 = 0x403;
    pub const BLOCKED_CHANNEL: u32 = 0x503;
    pub const BLOCKED_WAIT_ONE: u32 = 0x603;
    pub const BLOCKED_WAIT_MANY: u32 = 0x703;
}

/// (v2) Job nesting below the root job.
pub const MAX_JOB_DEPTH: u32 = 32;

/// QEMU exit statuses with a fixed meaning (ABI.md §3).
pub mod exit_status {
    /// The kernel refused the initrd.
    pub const BAD_INITRD: u32 = 2;
    /// Kernel panic.
    pub const KERNEL_PANIC: u32 = 101;
    /// A user fault killed the process.
    pub const USER_FAULT: u32 = 139;

    /// The QEMU exit status for a process return code: its low byte, except that a
    /// nonzero code whose low byte is 0 gives 1.
    pub const fn for_retcode(retcode: i64) -> u32 {
        let low = (retcode & 0xff) as u32;
        if low == 0 && retcode != 0 { 1 } else { low }
    }
}

#[cfg(test)]
mod tests {
    use super::exit_status::for_retcode;

    #[test]
    fn exit_statuses_follow_abi_section_3() {
        assert_eq!(for_retcode(0), 0);
        assert_eq!(for_retcode(1), 1);
        assert_eq!(for_retcode(300), 44);
        assert_eq!(for_retcode(256), 1);
        assert_eq!(for_retcode(-1), 255);
    }
}
