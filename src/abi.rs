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
    /// The highest number in use; 26..=63 are reserved.
    pub const LAST: u64 = 25;
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

    const _: () = assert!(DEFAULT_VMO == 0xD0EF);
}

/// Object types (ABI.md §5).
pub mod obj_type {
    pub const PROCESS: u32 = 1;
    pub const THREAD: u32 = 2;
    pub const VMO: u32 = 3;
    pub const RESOURCE: u32 = 15;
    pub const VMAR: u32 = 18;
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
