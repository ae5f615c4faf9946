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
    /// `zx_debug_write(buf, len)`: write to the kernel console.
    pub const DEBUG_WRITE: u64 = 1;
    /// `zx_process_exit(retcode)`: end the process.
    pub const PROCESS_EXIT: u64 = 2;
    /// `zx_clock_get_monotonic()`: nanoseconds since boot.
    pub const CLOCK_GET_MONOTONIC: u64 = 3;
    /// `zx_handle_close(handle)`.
    pub const HANDLE_CLOSE: u64 = 4;
    /// `zx_handle_duplicate(handle, rights, out)`.
    pub const HANDLE_DUPLICATE: u64 = 5;
    /// `zx_handle_replace(handle, rights, out)`.
    pub const HANDLE_REPLACE: u64 = 6;
    /// `zx_object_get_info(handle, topic, buf, buf_size, actual, avail)`.
    pub const OBJECT_GET_INFO: u64 = 7;
    /// `zx_object_get_property(handle, property, value, size)`.
    pub const OBJECT_GET_PROPERTY: u64 = 8;
    /// `zx_object_set_property(handle, property, value, size)`.
    pub const OBJECT_SET_PROPERTY: u64 = 9;
    /// `zx_vmo_create(size, options, out)`.
    pub const VMO_CREATE: u64 = 10;
    /// `zx_vmo_read(handle, buf, offset, len)`.
    pub const VMO_READ: u64 = 11;
    /// `zx_vmo_write(handle, buf, offset, len)`.
    pub const VMO_WRITE: u64 = 12;
    /// `zx_vmo_get_size(handle, out)`.
    pub const VMO_GET_SIZE: u64 = 13;
    /// `zx_vmo_set_size(handle, size)`.
    pub const VMO_SET_SIZE: u64 = 14;
    /// `zx_vmo_op_range(handle, op, offset, size, buf, buf_size)`.
    pub const VMO_OP_RANGE: u64 = 15;
    /// `zx_vmo_create_child(handle, options, offset, size, out)`.
    pub const VMO_CREATE_CHILD: u64 = 16;
    /// `zx_vmo_set_cache_policy(handle, policy)`.
    pub const VMO_SET_CACHE_POLICY: u64 = 17;
    /// `zx_vmo_replace_as_executable(handle, vmex, out)`.
    pub const VMO_REPLACE_AS_EXECUTABLE: u64 = 18;
    /// `zx_vmo_create_physical(resource, paddr, size, out)`.
    pub const VMO_CREATE_PHYSICAL: u64 = 19;
    /// `zx_vmar_map(vmar, options, vmar_offset, vmo, vmo_offset, len, out)`.
    pub const VMAR_MAP: u64 = 20;
    /// `zx_vmar_unmap(vmar, addr, len)`.
    pub const VMAR_UNMAP: u64 = 21;
    /// `zx_vmar_protect(vmar, options, addr, len)`.
    pub const VMAR_PROTECT: u64 = 22;
    /// `zx_cache_flush(addr, len, options)`.
    pub const CACHE_FLUSH: u64 = 23;
    /// `zx_object_signal(handle, clear_mask, set_mask)`.
    pub const OBJECT_SIGNAL: u64 = 24;
    /// `zx_object_wait_one(handle, signals, deadline, observed)`.
    pub const OBJECT_WAIT_ONE: u64 = 25;
    // (v2) Tasks, waiting, IPC, futexes, time, CPUs, sub-VMARs.
    /// `zx_process_create(job, name, name_len, options, proc_out, vmar_out)`.
    pub const PROCESS_CREATE: u64 = 26;
    /// `zx_process_start(process, thread, entry, stack, arg1, arg2)`.
    pub const PROCESS_START: u64 = 27;
    /// `zx_process_read_memory(process, vaddr, buffer, len, actual)`.
    pub const PROCESS_READ_MEMORY: u64 = 28;
    /// `zx_process_write_memory(process, vaddr, buffer, len, actual)`.
    pub const PROCESS_WRITE_MEMORY: u64 = 29;
    /// `zx_thread_create(process, name, name_len, options, out)`.
    pub const THREAD_CREATE: u64 = 30;
    /// `zx_thread_start(thread, entry, stack, arg1, arg2)`.
    pub const THREAD_START: u64 = 31;
    /// `zx_thread_exit()`: does not return.
    pub const THREAD_EXIT: u64 = 32;
    /// `zx_task_kill(handle)`: a process, thread or job.
    pub const TASK_KILL: u64 = 33;
    /// `zx_job_create(parent_job, options, out)`.
    pub const JOB_CREATE: u64 = 34;
    /// `zx_handle_close_many(handles, num_handles)`.
    pub const HANDLE_CLOSE_MANY: u64 = 35;
    /// `zx_object_wait_many(items, num_items, deadline)`.
    pub const OBJECT_WAIT_MANY: u64 = 36;
    /// `zx_object_wait_async(handle, port, key, signals, options)`.
    pub const OBJECT_WAIT_ASYNC: u64 = 37;
    /// `zx_object_signal_peer(handle, clear_mask, set_mask)`.
    pub const OBJECT_SIGNAL_PEER: u64 = 38;
    /// `zx_event_create(options, out)`.
    pub const EVENT_CREATE: u64 = 39;
    /// `zx_eventpair_create(options, out0, out1)`.
    pub const EVENTPAIR_CREATE: u64 = 40;
    /// `zx_channel_create(options, out0, out1)`.
    pub const CHANNEL_CREATE: u64 = 41;
    /// `zx_channel_read(handle, options, bytes, handles, num_bytes, num_handles, actual_bytes, actual_handles)`.
    pub const CHANNEL_READ: u64 = 42;
    /// `zx_channel_write(handle, options, bytes, num_bytes, handles, num_handles)`.
    pub const CHANNEL_WRITE: u64 = 43;
    /// `zx_channel_call(handle, options, deadline, args, actual_bytes, actual_handles)`.
    pub const CHANNEL_CALL: u64 = 44;
    /// `zx_port_create(options, out)`.
    pub const PORT_CREATE: u64 = 45;
    /// `zx_port_queue(handle, packet)`.
    pub const PORT_QUEUE: u64 = 46;
    /// `zx_port_wait(handle, deadline, packet)`.
    pub const PORT_WAIT: u64 = 47;
    /// `zx_port_cancel(handle, source, key)`.
    pub const PORT_CANCEL: u64 = 48;
    /// `zx_futex_wait(value_ptr, current_value, new_futex_owner, deadline)`.
    pub const FUTEX_WAIT: u64 = 49;
    /// `zx_futex_wake(value_ptr, wake_count)`.
    pub const FUTEX_WAKE: u64 = 50;
    /// `zx_futex_requeue(value_ptr, wake_count, current_value, requeue_ptr, requeue_count, new_requeue_owner)`.
    pub const FUTEX_REQUEUE: u64 = 51;
    /// `zx_timer_create(options, clock_id, out)`.
    pub const TIMER_CREATE: u64 = 52;
    /// `zx_timer_set(handle, deadline, slack)`.
    pub const TIMER_SET: u64 = 53;
    /// `zx_timer_cancel(handle)`.
    pub const TIMER_CANCEL: u64 = 54;
    /// `zx_nanosleep(deadline)`.
    pub const NANOSLEEP: u64 = 55;
    /// `zx_deadline_after(nanoseconds)`: now plus `nanoseconds`, saturating.
    pub const DEADLINE_AFTER: u64 = 56;
    /// `zx_ticks_get()`.
    pub const TICKS_GET: u64 = 57;
    /// `zx_ticks_per_second()`.
    pub const TICKS_PER_SECOND: u64 = 58;
    /// `zx_system_get_num_cpus()`.
    pub const SYSTEM_GET_NUM_CPUS: u64 = 59;
    /// `zx_system_get_page_size()`.
    pub const SYSTEM_GET_PAGE_SIZE: u64 = 60;
    /// `zx_debug_read(handle, buffer, buffer_size, actual)`.
    pub const DEBUG_READ: u64 = 61;
    /// `zx_vmar_allocate(parent_vmar, options, offset, size, child_vmar, child_addr)`.
    pub const VMAR_ALLOCATE: u64 = 62;
    /// `zx_vmar_destroy(handle)`.
    pub const VMAR_DESTROY: u64 = 63;
    /// The highest number in use (v2: every number 1..=63).
    pub const LAST: u64 = 63;
}

/// Rights bits (ABI.md §5).
pub mod rights {
    /// No rights at all.
    pub const NONE: u32 = 0;
    /// May be duplicated.
    pub const DUPLICATE: u32 = 1 << 0;
    /// May be sent over a channel.
    pub const TRANSFER: u32 = 1 << 1;
    /// May read (VMO contents, mapping with READ).
    pub const READ: u32 = 1 << 2;
    /// May write (VMO contents, mapping with WRITE).
    pub const WRITE: u32 = 1 << 3;
    /// May map executable.
    pub const EXECUTE: u32 = 1 << 4;
    /// May be mapped into a VMAR.
    pub const MAP: u32 = 1 << 5;
    /// May read properties.
    pub const GET_PROPERTY: u32 = 1 << 6;
    /// May set properties.
    pub const SET_PROPERTY: u32 = 1 << 7;
    /// May enumerate children.
    pub const ENUMERATE: u32 = 1 << 8;
    /// May destroy the object.
    pub const DESTROY: u32 = 1 << 9;
    /// May set policy.
    pub const SET_POLICY: u32 = 1 << 10;
    /// May read policy.
    pub const GET_POLICY: u32 = 1 << 11;
    /// May assert user signals on the object.
    pub const SIGNAL: u32 = 1 << 12;
    /// May assert user signals on the peer.
    pub const SIGNAL_PEER: u32 = 1 << 13;
    /// May be waited on.
    pub const WAIT: u32 = 1 << 14;
    /// May be inspected (`zx_object_get_info`).
    pub const INSPECT: u32 = 1 << 15;
    /// May manage a job.
    pub const MANAGE_JOB: u32 = 1 << 16;
    /// May manage a process.
    pub const MANAGE_PROCESS: u32 = 1 << 17;
    /// May manage a thread.
    pub const MANAGE_THREAD: u32 = 1 << 18;
    /// May apply a scheduler profile.
    pub const APPLY_PROFILE: u32 = 1 << 19;
    /// Sentinel: "the rights of the source handle". Never stored on a handle.
    pub const SAME_RIGHTS: u32 = 1 << 31;

    /// `ZX_RIGHTS_BASIC`: transfer, duplicate, wait, inspect.
    pub const BASIC: u32 = TRANSFER | DUPLICATE | WAIT | INSPECT;
    /// `ZX_RIGHTS_IO`: read and write.
    pub const IO: u32 = READ | WRITE;
    /// `ZX_RIGHTS_PROPERTY`: get and set properties.
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
    /// `ZX_OBJ_TYPE_PROCESS`.
    pub const PROCESS: u32 = 1;
    /// `ZX_OBJ_TYPE_THREAD`.
    pub const THREAD: u32 = 2;
    /// `ZX_OBJ_TYPE_VMO`.
    pub const VMO: u32 = 3;
    /// `ZX_OBJ_TYPE_RESOURCE`.
    pub const RESOURCE: u32 = 15;
    /// `ZX_OBJ_TYPE_VMAR`.
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
    /// A copy-on-write snapshot of the parent.
    pub const SNAPSHOT: u32 = 1 << 0;
    /// The child may be resized (snapshots only).
    pub const RESIZABLE: u32 = 1 << 2;
    /// A window onto the parent's pages.
    pub const SLICE: u32 = 1 << 3;
    /// Copy-on-write at least on write (a snapshot here).
    pub const SNAPSHOT_AT_LEAST_ON_WRITE: u32 = 1 << 4;
    /// The child's handle lacks WRITE.
    pub const NO_WRITE: u32 = 1 << 5;
}

/// `zx_vmo_op_range` operations.
pub mod op {
    /// Commit (allocate) the range's pages.
    pub const COMMIT: u32 = 1;
    /// Give the range's pages back.
    pub const DECOMMIT: u32 = 2;
    /// Lock the range (not supported).
    pub const LOCK: u32 = 3;
    /// Unlock the range (not supported).
    pub const UNLOCK: u32 = 4;
    /// Make the range coherent for instruction fetch.
    pub const CACHE_SYNC: u32 = 6;
    /// Invalidate the range's data cache lines.
    pub const CACHE_INVALIDATE: u32 = 7;
    /// Clean (write back) the range's data cache lines.
    pub const CACHE_CLEAN: u32 = 8;
    /// Clean and invalidate the range's data cache lines.
    pub const CACHE_CLEAN_INVALIDATE: u32 = 9;
    /// Zero the range (whole pages are given back).
    pub const ZERO: u32 = 10;
}

/// Cache policies and the mask of valid bits.
pub mod cache_policy {
    /// Normal write-back memory.
    pub const CACHED: u32 = 0;
    /// Device memory (nGnRE).
    pub const UNCACHED: u32 = 1;
    /// Strongly ordered device memory (nGnRnE).
    pub const UNCACHED_DEVICE: u32 = 2;
    /// Normal non-cacheable memory.
    pub const WRITE_COMBINING: u32 = 3;
    /// The bits a policy may use.
    pub const MASK: u32 = 3;
}

/// VM (mapping) options.
pub mod vm {
    /// The mapping may be read.
    pub const PERM_READ: u32 = 1 << 0;
    /// The mapping may be written.
    pub const PERM_WRITE: u32 = 1 << 1;
    /// The mapping may be executed.
    pub const PERM_EXECUTE: u32 = 1 << 2;
    /// (v2) A placement hint, accepted by `zx_vmar_allocate` and `zx_vmar_map`.
    pub const COMPACT: u32 = 1 << 3;
    /// Map at `vmar_offset`.
    pub const SPECIFIC: u32 = 1 << 4;
    /// Map at `vmar_offset`, replacing what is there.
    pub const SPECIFIC_OVERWRITE: u32 = 1 << 5;
    /// VMAR creation only: SPECIFIC mappings allowed (refused on a mapping).
    pub const CAN_MAP_SPECIFIC: u32 = 1 << 6;
    /// VMAR creation only: READ mappings allowed.
    pub const CAN_MAP_READ: u32 = 1 << 7;
    /// VMAR creation only: WRITE mappings allowed.
    pub const CAN_MAP_WRITE: u32 = 1 << 8;
    /// VMAR creation only: EXECUTE mappings allowed.
    pub const CAN_MAP_EXECUTE: u32 = 1 << 9;
    /// Commit and map every page now.
    pub const MAP_RANGE: u32 = 1 << 10;
    /// Refuse a resizable VMO.
    pub const REQUIRE_NON_RESIZABLE: u32 = 1 << 11;
    /// The three permission bits.
    pub const PERM_MASK: u32 = PERM_READ | PERM_WRITE | PERM_EXECUTE;
    /// The four CAN_MAP bits.
    pub const CAN_MAP_MASK: u32 = CAN_MAP_SPECIFIC | CAN_MAP_READ | CAN_MAP_WRITE | CAN_MAP_EXECUTE;
    /// Bits 24..=31 hold log2 of the requested alignment.
    pub const ALIGN_SHIFT: u32 = 24;
    /// The alignment field.
    pub const ALIGN_MASK: u32 = 0xff << ALIGN_SHIFT;
}

/// `zx_cache_flush` options.
pub mod cache_flush {
    /// Make the range coherent for instruction fetch.
    pub const INSN: u32 = 1 << 0;
    /// Clean the data cache over the range.
    pub const DATA: u32 = 1 << 1;
    /// With DATA: invalidate too.
    pub const INVALIDATE: u32 = 1 << 2;
}

/// Signals.
pub mod signal {
    /// `ZX_VMO_ZERO_CHILDREN`: the VMO has no children.
    pub const VMO_ZERO_CHILDREN: u32 = 1 << 3;
    /// The eight user signals, bits 24..=31.
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
    /// `ZX_PROP_NAME`: the object's name.
    pub const NAME: u32 = 3;
    /// `ZX_PROP_VMO_CONTENT_SIZE`.
    pub const VMO_CONTENT_SIZE: u32 = 17;
    /// Bytes in a name, NUL included.
    pub const NAME_LEN: usize = 32;
}

/// `zx_object_get_info` topics and record sizes.
pub mod info {
    /// `ZX_INFO_HANDLE_BASIC`.
    pub const HANDLE_BASIC: u32 = 2;
    /// `ZX_INFO_VMAR`.
    pub const VMAR: u32 = 7;
    /// `ZX_INFO_KMEM_STATS`.
    pub const KMEM_STATS: u32 = 17;
    /// `ZX_INFO_VMO`.
    pub const VMO: u32 = 23;
    /// Ferrite's test-only topic (not Zircon's; answered only when the command line has
    /// the word `testinfo`, otherwise NOT_SUPPORTED like any unknown topic), asked of the
    /// root resource: 32 u64, entry `t` (1..=30) = live kernel objects of `ZX_OBJ_TYPE`
    /// `t`, entry 0 = VMOs in the VMO store (those kept only by mappings included), entry
    /// 31 = the kernel's own page-table pages (kept at their high-water mark: the
    /// kernel-stack area's tables grow with the most threads alive at once).
    pub const FERRITE_OBJECT_COUNTS: u32 = 0x4652_0001;
    /// Bytes of the `FERRITE_OBJECT_COUNTS` record.
    pub const FERRITE_OBJECT_COUNTS_SIZE: usize = 256;

    /// Bytes of a `zx_info_handle_basic_t`.
    pub const HANDLE_BASIC_SIZE: usize = 32;
    /// Bytes of a `zx_info_vmar_t`.
    pub const VMAR_SIZE: usize = 16;
    /// Bytes of a `zx_info_kmem_stats_t`.
    pub const KMEM_STATS_SIZE: usize = 72;
    /// Bytes of a `zx_info_vmo_t`.
    pub const VMO_SIZE: usize = 104;
    // (v2) topics.
    /// `ZX_INFO_HANDLE_VALID`: no record, only whether the handle is valid.
    pub const HANDLE_VALID: u32 = 1;
    /// `ZX_INFO_PROCESS`.
    pub const PROCESS: u32 = 3;
    /// `ZX_INFO_PROCESS_THREADS`: koids of the process's threads.
    pub const PROCESS_THREADS: u32 = 4;
    /// `ZX_INFO_JOB_CHILDREN`: koids of the child jobs.
    pub const JOB_CHILDREN: u32 = 8;
    /// `ZX_INFO_JOB_PROCESSES`: koids of the job's processes.
    pub const JOB_PROCESSES: u32 = 9;
    /// `ZX_INFO_THREAD`.
    pub const THREAD: u32 = 10;
    /// `ZX_INFO_TASK_STATS`.
    pub const TASK_STATS: u32 = 12;
    /// `ZX_INFO_THREAD_STATS`.
    pub const THREAD_STATS: u32 = 15;
    /// `ZX_INFO_HANDLE_COUNT`.
    pub const HANDLE_COUNT: u32 = 19;
    /// `ZX_INFO_PROCESS_HANDLE_STATS`.
    pub const PROCESS_HANDLE_STATS: u32 = 21;
    /// `ZX_INFO_JOB`.
    pub const JOB: u32 = 24;
    /// `ZX_INFO_TIMER`.
    pub const TIMER: u32 = 25;
    /// Bytes of a `zx_info_process_t`.
    pub const PROCESS_SIZE: usize = 16;
    /// Bytes of a `zx_info_thread_t`.
    pub const THREAD_SIZE: usize = 72;
    /// Bytes of a `zx_info_task_stats_t`.
    pub const TASK_STATS_SIZE: usize = 32;
    /// Bytes of a `zx_info_thread_stats_t`.
    pub const THREAD_STATS_SIZE: usize = 16;
    /// Bytes of a `zx_info_handle_count_t`.
    pub const HANDLE_COUNT_SIZE: usize = 4;
    /// Bytes of a `zx_info_process_handle_stats_t` (64 counts).
    pub const PROCESS_HANDLE_STATS_SIZE: usize = 256;
    /// Bytes of a `zx_info_job_t`.
    pub const JOB_SIZE: usize = 16;
    /// Bytes of a `zx_info_timer_t`.
    pub const TIMER_SIZE: usize = 24;

    // `zx_info_vmo_t.flags` bits.
    /// A paged (not physical) VMO.
    pub const VMO_TYPE_PAGED: u32 = 1 << 0;
    /// A resizable VMO.
    pub const VMO_RESIZABLE: u32 = 1 << 1;
    /// A copy-on-write child.
    pub const VMO_IS_COW_CLONE: u32 = 1 << 2;
    /// Reported through a handle.
    pub const VMO_VIA_HANDLE: u32 = 1 << 3;
    /// Reported through a mapping.
    pub const VMO_VIA_MAPPING: u32 = 1 << 4;
    /// Physically contiguous (a physical VMO).
    pub const VMO_CONTIGUOUS: u32 = 1 << 6;
}

/// `zx_time_t` meaning "never".
pub const ZX_TIME_INFINITE: i64 = i64::MAX;
/// (v2) `zx_time_t` meaning "long past": a deadline that has always passed.
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
    /// `ZX_THREAD_STATE_NEW`: created, not started.
    pub const NEW: u32 = 0x0;
    /// `ZX_THREAD_STATE_RUNNING`: started, not blocked.
    pub const RUNNING: u32 = 0x1;
    /// `ZX_THREAD_STATE_DYING`: being killed or exiting.
    pub const DYING: u32 = 0x4;
    /// `ZX_THREAD_STATE_DEAD`: ended.
    pub const DEAD: u32 = 0x5;
    /// `ZX_THREAD_STATE_BLOCKED_SLEEPING`: in `zx_nanosleep`.
    pub const BLOCKED_SLEEPING: u32 = 0x203;
    /// `ZX_THREAD_STATE_BLOCKED_FUTEX`: in `zx_futex_wait`.
    pub const BLOCKED_FUTEX: u32 = 0x303;
    /// `ZX_THREAD_STATE_BLOCKED_PORT`: in `zx_port_wait`.
    pub const BLOCKED_PORT: u32 = 0x403;
    /// `ZX_THREAD_STATE_BLOCKED_CHANNEL`: in `zx_channel_call`.
    pub const BLOCKED_CHANNEL: u32 = 0x503;
    /// `ZX_THREAD_STATE_BLOCKED_WAIT_ONE`: in `zx_object_wait_one`.
    pub const BLOCKED_WAIT_ONE: u32 = 0x603;
    /// `ZX_THREAD_STATE_BLOCKED_WAIT_MANY`: in `zx_object_wait_many`.
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
