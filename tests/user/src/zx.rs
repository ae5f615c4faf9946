//! ABI v1 as EL0 sees it: the constants of ABI.md §4–§5, owned handles and mappings, the
//! info records, and one safe wrapper per syscall.
//!
//! Wrappers take handles as anything [`AsRaw`] (a raw `u32` or an owned [`Handle`]), so
//! tests can pass bogus values as easily as real ones. They return [`ZxResult`]; a failed
//! call gives its status. Bad-pointer cases go through [`crate::sys`] directly.

use crate::sys::call_status;

/// A `zx_status_t`.
pub type Status = i32;
/// The result of a syscall: a value, or the status that is not OK.
pub type ZxResult<T = ()> = Result<T, Status>;

/// Page size of every address space.
pub const PAGE_SIZE: u64 = 4096;
/// First user address.
pub const USER_BASE: u64 = 0x1_0000;
/// One past the last user address (2^47).
pub const USER_END: u64 = 1 << 47;
/// Zircon's largest VMO size for 4 KiB pages: 2^64 − 128 KiB.
pub const MAX_VMO_SIZE: u64 = u64::MAX - (128 * 1024 - 1);

/// Syscall numbers (ABI.md §4).
pub mod nr {
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
    /// (v2) Sub-VMARs.
    pub const VMAR_ALLOCATE: u64 = 62;
    pub const VMAR_DESTROY: u64 = 63;
}

/// Status codes (ABI.md §5).
pub const ZX_OK: Status = 0;
pub const ZX_ERR_INTERNAL: Status = -1;
pub const ZX_ERR_NOT_SUPPORTED: Status = -2;
pub const ZX_ERR_NO_RESOURCES: Status = -3;
pub const ZX_ERR_NO_MEMORY: Status = -4;
pub const ZX_ERR_INVALID_ARGS: Status = -10;
pub const ZX_ERR_BAD_HANDLE: Status = -11;
pub const ZX_ERR_WRONG_TYPE: Status = -12;
pub const ZX_ERR_BAD_SYSCALL: Status = -13;
pub const ZX_ERR_OUT_OF_RANGE: Status = -14;
pub const ZX_ERR_BUFFER_TOO_SMALL: Status = -15;
pub const ZX_ERR_BAD_STATE: Status = -20;
pub const ZX_ERR_TIMED_OUT: Status = -21;
pub const ZX_ERR_SHOULD_WAIT: Status = -22;
pub const ZX_ERR_CANCELED: Status = -23;
pub const ZX_ERR_PEER_CLOSED: Status = -24;
pub const ZX_ERR_NOT_FOUND: Status = -25;
pub const ZX_ERR_ALREADY_EXISTS: Status = -26;
pub const ZX_ERR_ALREADY_BOUND: Status = -27;
pub const ZX_ERR_UNAVAILABLE: Status = -28;
pub const ZX_ERR_ACCESS_DENIED: Status = -30;
pub const ZX_ERR_IO: Status = -40;

/// Every status ABI.md names, with its name, for messages and the fuzzer's tally.
pub const STATUS_NAMES: [(Status, &str); 22] = [
    (ZX_OK, "OK"),
    (ZX_ERR_INTERNAL, "INTERNAL"),
    (ZX_ERR_NOT_SUPPORTED, "NOT_SUPPORTED"),
    (ZX_ERR_NO_RESOURCES, "NO_RESOURCES"),
    (ZX_ERR_NO_MEMORY, "NO_MEMORY"),
    (ZX_ERR_INVALID_ARGS, "INVALID_ARGS"),
    (ZX_ERR_BAD_HANDLE, "BAD_HANDLE"),
    (ZX_ERR_WRONG_TYPE, "WRONG_TYPE"),
    (ZX_ERR_BAD_SYSCALL, "BAD_SYSCALL"),
    (ZX_ERR_OUT_OF_RANGE, "OUT_OF_RANGE"),
    (ZX_ERR_BUFFER_TOO_SMALL, "BUFFER_TOO_SMALL"),
    (ZX_ERR_BAD_STATE, "BAD_STATE"),
    (ZX_ERR_TIMED_OUT, "TIMED_OUT"),
    (ZX_ERR_SHOULD_WAIT, "SHOULD_WAIT"),
    (ZX_ERR_CANCELED, "CANCELED"),
    (ZX_ERR_PEER_CLOSED, "PEER_CLOSED"),
    (ZX_ERR_NOT_FOUND, "NOT_FOUND"),
    (ZX_ERR_ALREADY_EXISTS, "ALREADY_EXISTS"),
    (ZX_ERR_ALREADY_BOUND, "ALREADY_BOUND"),
    (ZX_ERR_UNAVAILABLE, "UNAVAILABLE"),
    (ZX_ERR_ACCESS_DENIED, "ACCESS_DENIED"),
    (ZX_ERR_IO, "IO"),
];

/// The name of a status, or "?" for one ABI.md does not name.
pub fn status_name(status: Status) -> &'static str {
    STATUS_NAMES.iter().find(|(s, _)| *s == status).map_or("?", |(_, name)| name)
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
    pub const SIGNAL: u32 = 1 << 12;
    pub const WAIT: u32 = 1 << 14;
    pub const INSPECT: u32 = 1 << 15;
    pub const SAME_RIGHTS: u32 = 1 << 31;
    /// TRANSFER | DUPLICATE | WAIT | INSPECT.
    pub const BASIC: u32 = 0xC003;
    /// What a new VMO handle gets.
    pub const DEFAULT_VMO: u32 = 0xD0EF;
    /// What the root VMAR handle gets: DUPLICATE|TRANSFER|READ|WRITE|EXECUTE|INSPECT|WAIT.
    pub const ROOT_VMAR: u32 = DUPLICATE | TRANSFER | READ | WRITE | EXECUTE | INSPECT | WAIT;
    /// What the root resource handle gets: DUPLICATE|TRANSFER|WRITE|INSPECT.
    pub const ROOT_RESOURCE: u32 = DUPLICATE | TRANSFER | WRITE | INSPECT;
    /// (v2) A VMAR from `zx_vmar_allocate`, before READ/WRITE/EXECUTE for its CAN_MAP_*.
    pub const DEFAULT_VMAR: u32 = DUPLICATE | TRANSFER | INSPECT;
}

/// Object types.
pub const OBJ_TYPE_VMO: u32 = 3;
pub const OBJ_TYPE_RESOURCE: u32 = 15;
pub const OBJ_TYPE_VMAR: u32 = 18;

/// `zx_vmo_create` options.
pub const VMO_RESIZABLE: u32 = 1 << 1;
/// `zx_vmo_create_child` options.
pub const CHILD_SNAPSHOT: u32 = 1 << 0;
pub const CHILD_RESIZABLE: u32 = 1 << 2;
pub const CHILD_SLICE: u32 = 1 << 3;
pub const CHILD_SNAPSHOT_AT_LEAST_ON_WRITE: u32 = 1 << 4;
pub const CHILD_NO_WRITE: u32 = 1 << 5;

/// `zx_vmo_op_range` ops.
pub const OP_COMMIT: u32 = 1;
pub const OP_DECOMMIT: u32 = 2;
pub const OP_LOCK: u32 = 3;
pub const OP_UNLOCK: u32 = 4;
pub const OP_CACHE_SYNC: u32 = 6;
pub const OP_CACHE_INVALIDATE: u32 = 7;
pub const OP_CACHE_CLEAN: u32 = 8;
pub const OP_CACHE_CLEAN_INVALIDATE: u32 = 9;
pub const OP_ZERO: u32 = 10;

/// Cache policies.
pub const CACHE_POLICY_CACHED: u32 = 0;
pub const CACHE_POLICY_UNCACHED: u32 = 1;
pub const CACHE_POLICY_UNCACHED_DEVICE: u32 = 2;
pub const CACHE_POLICY_WRITE_COMBINING: u32 = 3;

/// VM options for `zx_vmar_map` and `zx_vmar_protect`.
pub const VM_PERM_READ: u32 = 1;
pub const VM_PERM_WRITE: u32 = 1 << 1;
pub const VM_PERM_EXECUTE: u32 = 1 << 2;
/// (v2) A placement hint for `zx_vmar_allocate` and `zx_vmar_map`.
pub const VM_COMPACT: u32 = 1 << 3;
pub const VM_SPECIFIC: u32 = 1 << 4;
pub const VM_SPECIFIC_OVERWRITE: u32 = 1 << 5;
pub const VM_CAN_MAP_SPECIFIC: u32 = 1 << 6;
pub const VM_CAN_MAP_READ: u32 = 1 << 7;
pub const VM_CAN_MAP_WRITE: u32 = 1 << 8;
pub const VM_CAN_MAP_EXECUTE: u32 = 1 << 9;
pub const VM_MAP_RANGE: u32 = 1 << 10;
pub const VM_REQUIRE_NON_RESIZABLE: u32 = 1 << 11;
/// `ZX_VM_ALIGN_n`: the mapping's address is a multiple of 2^n (n in 10..=32).
pub const fn vm_align(log2: u32) -> u32 {
    log2 << 24
}
/// Read and write, the usual data mapping.
pub const VM_RW: u32 = VM_PERM_READ | VM_PERM_WRITE;

/// `zx_cache_flush` options.
pub const CACHE_FLUSH_INSN: u32 = 1 << 0;
pub const CACHE_FLUSH_DATA: u32 = 1 << 1;
pub const CACHE_FLUSH_INVALIDATE: u32 = 1 << 2;

/// Time.
pub const TIME_INFINITE: i64 = i64::MAX;

/// Properties.
pub const PROP_NAME: u32 = 3;
pub const PROP_VMO_CONTENT_SIZE: u32 = 17;
/// Size of a name buffer, NUL included.
pub const MAX_NAME_LEN: usize = 32;

/// Signals.
pub const VMO_ZERO_CHILDREN: u32 = 1 << 3;
pub const USER_SIGNAL_0: u32 = 1 << 24;
/// USER_SIGNAL_0..=7.
pub const USER_SIGNAL_ALL: u32 = 0xFF00_0000;

/// get_info topics and record sizes.
pub const INFO_HANDLE_BASIC: u32 = 2;
pub const INFO_VMAR: u32 = 7;
pub const INFO_KMEM_STATS: u32 = 17;
pub const INFO_VMO: u32 = 23;
pub const INFO_HANDLE_BASIC_SIZE: usize = 32;
pub const INFO_VMAR_SIZE: usize = 16;
pub const INFO_KMEM_STATS_SIZE: usize = 72;
pub const INFO_VMO_SIZE: usize = 104;

/// ZX_INFO_VMO flags.
pub const VMO_FLAG_TYPE_PAGED: u32 = 1 << 0;
pub const VMO_FLAG_RESIZABLE: u32 = 1 << 1;
pub const VMO_FLAG_IS_COW_CLONE: u32 = 1 << 2;
pub const VMO_FLAG_VIA_HANDLE: u32 = 1 << 3;
pub const VMO_FLAG_VIA_MAPPING: u32 = 1 << 4;
pub const VMO_FLAG_CONTIGUOUS: u32 = 1 << 6;

/// Something that names a handle value: a raw `u32` (bogus values included) or a
/// [`Handle`]. Only the value is used; nothing is consumed.
pub trait AsRaw {
    /// The handle value passed to the kernel.
    fn raw(&self) -> u32;
}

impl AsRaw for u32 {
    fn raw(&self) -> u32 {
        *self
    }
}

impl<T: AsRaw + ?Sized> AsRaw for &T {
    fn raw(&self) -> u32 {
        (**self).raw()
    }
}

/// An owned handle: closed when dropped.
#[derive(Debug)]
pub struct Handle(u32);

impl Handle {
    /// Takes ownership of `value` (closed on drop).
    pub fn from_raw(value: u32) -> Handle {
        Handle(value)
    }

    /// Gives up ownership without closing (for handles a syscall consumes).
    pub fn into_raw(self) -> u32 {
        let value = self.0;
        core::mem::forget(self);
        value
    }
}

impl AsRaw for Handle {
    fn raw(&self) -> u32 {
        self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // A handle the test already closed through a raw call gives BAD_HANDLE here,
        // which is harmless.
        let _ = handle_close(self.0);
    }
}

/// Turns a status into a [`ZxResult`].
pub fn ok(status: Status) -> ZxResult {
    if status == ZX_OK { Ok(()) } else { Err(status) }
}

/// `u64` view of a pointer, for syscall arguments.
pub fn addr_of<T: ?Sized>(ptr: *const T) -> u64 {
    ptr.cast::<u8>() as usize as u64
}

/// Writes `bytes` to the console with `zx_debug_write` (at most 4096 bytes per call).
pub fn debug_write(bytes: &[u8]) -> ZxResult {
    // SAFETY: the kernel only reads the buffer.
    ok(unsafe { call_status(nr::DEBUG_WRITE, &[addr_of(bytes.as_ptr()), bytes.len() as u64]) })
}

/// Ends the process with `retcode`.
pub fn process_exit(retcode: i64) -> ! {
    // SAFETY: no pointer arguments.
    unsafe {
        crate::sys::call(nr::PROCESS_EXIT, &[retcode as u64]);
    }
    // The kernel never returns from process_exit; if it does, stop here loudly.
    loop {
        // SAFETY: `brk` only raises a debug exception, which ends the process.
        unsafe { core::arch::asm!("brk #0xdead") };
    }
}

/// Nanoseconds since boot.
pub fn clock_get_monotonic() -> i64 {
    // SAFETY: no pointer arguments.
    unsafe { crate::sys::call(nr::CLOCK_GET_MONOTONIC, &[]) as i64 }
}

/// Closes a handle value.
pub fn handle_close(handle: impl AsRaw) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::HANDLE_CLOSE, &[handle.raw() as u64]) })
}

/// Duplicates a handle with `rights` (or SAME_RIGHTS).
pub fn handle_duplicate(handle: impl AsRaw, rights: u32) -> ZxResult<Handle> {
    let mut out = 0u32;
    // SAFETY: `out` is ours to overwrite.
    let args = [handle.raw() as u64, rights as u64, addr_of(&raw mut out)];
    ok(unsafe { call_status(nr::HANDLE_DUPLICATE, &args) })?;
    Ok(Handle(out))
}

/// Replaces a handle (consumed) with one of `rights`.
pub fn handle_replace(handle: u32, rights: u32) -> ZxResult<Handle> {
    let mut out = 0u32;
    // SAFETY: `out` is ours to overwrite.
    let args = [handle as u64, rights as u64, addr_of(&raw mut out)];
    ok(unsafe { call_status(nr::HANDLE_REPLACE, &args) })?;
    Ok(Handle(out))
}

/// `zx_object_get_info` into `buf`; returns (actual, avail).
pub fn object_get_info(handle: impl AsRaw, topic: u32, buf: &mut [u8]) -> ZxResult<(u64, u64)> {
    let (mut actual, mut avail) = (u64::MAX, u64::MAX);
    let args = [
        handle.raw() as u64,
        topic as u64,
        addr_of(buf.as_mut_ptr()),
        buf.len() as u64,
        addr_of(&raw mut actual),
        addr_of(&raw mut avail),
    ];
    // SAFETY: the buffer and the two counts are ours to overwrite.
    let status = unsafe { call_status(nr::OBJECT_GET_INFO, &args) };
    ok(status).map(|()| (actual, avail))
}

/// Little-endian field readers for info records.
fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        word.copy_from_slice(src);
    }
    u64::from_le_bytes(word)
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        word.copy_from_slice(src);
    }
    u32::from_le_bytes(word)
}

/// ZX_INFO_HANDLE_BASIC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfoHandleBasic {
    pub koid: u64,
    pub rights: u32,
    pub obj_type: u32,
    pub related_koid: u64,
    pub props: u32,
}

/// Reads ZX_INFO_HANDLE_BASIC.
pub fn info_handle_basic(handle: impl AsRaw) -> ZxResult<InfoHandleBasic> {
    let mut buf = [0u8; INFO_HANDLE_BASIC_SIZE];
    object_get_info(handle, INFO_HANDLE_BASIC, &mut buf)?;
    Ok(InfoHandleBasic {
        koid: le_u64(&buf, 0),
        rights: le_u32(&buf, 8),
        obj_type: le_u32(&buf, 12),
        related_koid: le_u64(&buf, 16),
        props: le_u32(&buf, 24),
    })
}

/// The rights of a handle, from ZX_INFO_HANDLE_BASIC.
pub fn rights_of(handle: impl AsRaw) -> ZxResult<u32> {
    info_handle_basic(handle).map(|info| info.rights)
}

/// ZX_INFO_VMAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfoVmar {
    pub base: u64,
    pub len: u64,
}

/// Reads ZX_INFO_VMAR.
pub fn info_vmar(handle: impl AsRaw) -> ZxResult<InfoVmar> {
    let mut buf = [0u8; INFO_VMAR_SIZE];
    object_get_info(handle, INFO_VMAR, &mut buf)?;
    Ok(InfoVmar { base: le_u64(&buf, 0), len: le_u64(&buf, 8) })
}

/// ZX_INFO_VMO (v1, 104 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfoVmo {
    pub koid: u64,
    pub name: [u8; 32],
    pub size_bytes: u64,
    pub parent_koid: u64,
    pub num_children: u64,
    pub num_mappings: u64,
    pub share_count: u64,
    pub flags: u32,
    pub committed_bytes: u64,
    pub handle_rights: u32,
    pub cache_policy: u32,
}

/// Reads ZX_INFO_VMO.
pub fn info_vmo(handle: impl AsRaw) -> ZxResult<InfoVmo> {
    let mut buf = [0u8; INFO_VMO_SIZE];
    object_get_info(handle, INFO_VMO, &mut buf)?;
    let mut name = [0u8; 32];
    name.copy_from_slice(&buf[8..40]);
    Ok(InfoVmo {
        koid: le_u64(&buf, 0),
        name,
        size_bytes: le_u64(&buf, 40),
        parent_koid: le_u64(&buf, 48),
        num_children: le_u64(&buf, 56),
        num_mappings: le_u64(&buf, 64),
        share_count: le_u64(&buf, 72),
        flags: le_u32(&buf, 80),
        committed_bytes: le_u64(&buf, 88),
        handle_rights: le_u32(&buf, 96),
        cache_policy: le_u32(&buf, 100),
    })
}

/// ZX_INFO_KMEM_STATS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KmemStats {
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub wired_bytes: u64,
    pub total_heap_bytes: u64,
    pub free_heap_bytes: u64,
    pub vmo_bytes: u64,
    pub mmu_overhead_bytes: u64,
    pub ipc_bytes: u64,
    pub other_bytes: u64,
}

/// Reads ZX_INFO_KMEM_STATS (ask the root resource).
pub fn kmem_stats(resource: impl AsRaw) -> ZxResult<KmemStats> {
    let mut buf = [0u8; INFO_KMEM_STATS_SIZE];
    object_get_info(resource, INFO_KMEM_STATS, &mut buf)?;
    let field = |i: usize| le_u64(&buf, i * 8);
    Ok(KmemStats {
        total_bytes: field(0),
        free_bytes: field(1),
        wired_bytes: field(2),
        total_heap_bytes: field(3),
        free_heap_bytes: field(4),
        vmo_bytes: field(5),
        mmu_overhead_bytes: field(6),
        ipc_bytes: field(7),
        other_bytes: field(8),
    })
}

/// `zx_object_get_property` into `value`.
pub fn object_get_property(handle: impl AsRaw, prop: u32, value: &mut [u8]) -> ZxResult {
    let args = [handle.raw() as u64, prop as u64, addr_of(value.as_mut_ptr()), value.len() as u64];
    // SAFETY: `value` is ours to overwrite.
    ok(unsafe { call_status(nr::OBJECT_GET_PROPERTY, &args) })
}

/// `zx_object_set_property` from `value`.
pub fn object_set_property(handle: impl AsRaw, prop: u32, value: &[u8]) -> ZxResult {
    let args = [handle.raw() as u64, prop as u64, addr_of(value.as_ptr()), value.len() as u64];
    // SAFETY: the kernel only reads `value`.
    ok(unsafe { call_status(nr::OBJECT_SET_PROPERTY, &args) })
}

/// Reads ZX_PROP_NAME (32 bytes, NUL-terminated).
pub fn get_name(handle: impl AsRaw) -> ZxResult<[u8; MAX_NAME_LEN]> {
    let mut name = [0xFFu8; MAX_NAME_LEN];
    object_get_property(handle, PROP_NAME, &mut name)?;
    Ok(name)
}

/// Reads ZX_PROP_VMO_CONTENT_SIZE.
pub fn get_content_size(handle: impl AsRaw) -> ZxResult<u64> {
    let mut value = [0u8; 8];
    object_get_property(handle, PROP_VMO_CONTENT_SIZE, &mut value)?;
    Ok(u64::from_le_bytes(value))
}

/// Sets ZX_PROP_VMO_CONTENT_SIZE.
pub fn set_content_size(handle: impl AsRaw, size: u64) -> ZxResult {
    object_set_property(handle, PROP_VMO_CONTENT_SIZE, &size.to_le_bytes())
}

/// Creates a VMO.
pub fn vmo_create(size: u64, options: u32) -> ZxResult<Handle> {
    let mut out = 0u32;
    // SAFETY: `out` is ours to overwrite.
    let args = [size, options as u64, addr_of(&raw mut out)];
    ok(unsafe { call_status(nr::VMO_CREATE, &args) })?;
    Ok(Handle(out))
}

/// Reads `buf.len()` bytes at `offset`.
pub fn vmo_read(vmo: impl AsRaw, buf: &mut [u8], offset: u64) -> ZxResult {
    let args = [vmo.raw() as u64, addr_of(buf.as_mut_ptr()), offset, buf.len() as u64];
    // SAFETY: `buf` is ours to overwrite.
    ok(unsafe { call_status(nr::VMO_READ, &args) })
}

/// Writes `buf` at `offset`.
pub fn vmo_write(vmo: impl AsRaw, buf: &[u8], offset: u64) -> ZxResult {
    let args = [vmo.raw() as u64, addr_of(buf.as_ptr()), offset, buf.len() as u64];
    // SAFETY: the kernel only reads `buf`.
    ok(unsafe { call_status(nr::VMO_WRITE, &args) })
}

/// Reads one byte at `offset`.
pub fn vmo_read_byte(vmo: impl AsRaw, offset: u64) -> ZxResult<u8> {
    let mut byte = [0u8];
    vmo_read(vmo, &mut byte, offset)?;
    Ok(byte[0])
}

/// The VMO's size (page-rounded).
pub fn vmo_get_size(vmo: impl AsRaw) -> ZxResult<u64> {
    let mut size = u64::MAX;
    // SAFETY: `size` is ours to overwrite.
    ok(unsafe { call_status(nr::VMO_GET_SIZE, &[vmo.raw() as u64, addr_of(&raw mut size)]) })?;
    Ok(size)
}

/// Resizes a VMO.
pub fn vmo_set_size(vmo: impl AsRaw, size: u64) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::VMO_SET_SIZE, &[vmo.raw() as u64, size]) })
}

/// `zx_vmo_op_range` with no buffer.
pub fn vmo_op_range(vmo: impl AsRaw, op: u32, offset: u64, size: u64) -> ZxResult {
    // SAFETY: the buffer is NULL with size 0.
    ok(unsafe { call_status(nr::VMO_OP_RANGE, &[vmo.raw() as u64, op as u64, offset, size, 0, 0]) })
}

/// Creates a child VMO.
pub fn vmo_create_child(vmo: impl AsRaw, options: u32, offset: u64, size: u64) -> ZxResult<Handle> {
    let mut out = 0u32;
    let args = [vmo.raw() as u64, options as u64, offset, size, addr_of(&raw mut out)];
    // SAFETY: `out` is ours to overwrite.
    ok(unsafe { call_status(nr::VMO_CREATE_CHILD, &args) })?;
    Ok(Handle(out))
}

/// Sets the cache policy.
pub fn vmo_set_cache_policy(vmo: impl AsRaw, policy: u32) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::VMO_SET_CACHE_POLICY, &[vmo.raw() as u64, policy as u64]) })
}

/// Replaces `vmo` (consumed) with an executable handle.
pub fn vmo_replace_as_executable(vmo: u32, vmex: impl AsRaw) -> ZxResult<Handle> {
    let mut out = 0u32;
    let args = [vmo as u64, vmex.raw() as u64, addr_of(&raw mut out)];
    // SAFETY: `out` is ours to overwrite.
    ok(unsafe { call_status(nr::VMO_REPLACE_AS_EXECUTABLE, &args) })?;
    Ok(Handle(out))
}

/// Creates a VMO over physical memory.
pub fn vmo_create_physical(resource: impl AsRaw, paddr: u64, size: u64) -> ZxResult<Handle> {
    let mut out = 0u32;
    let args = [resource.raw() as u64, paddr, size, addr_of(&raw mut out)];
    // SAFETY: `out` is ours to overwrite.
    ok(unsafe { call_status(nr::VMO_CREATE_PHYSICAL, &args) })?;
    Ok(Handle(out))
}

/// Maps `len` bytes of `vmo` from `vmo_offset`; returns the address. The mapping is not
/// owned: see [`Mapping`] for one that unmaps itself.
pub fn vmar_map(
    vmar: impl AsRaw,
    options: u32,
    vmar_offset: u64,
    vmo: impl AsRaw,
    vmo_offset: u64,
    len: u64,
) -> ZxResult<u64> {
    let mut addr = 0u64;
    let args =
        [vmar.raw() as u64, options as u64, vmar_offset, vmo.raw() as u64, vmo_offset, len, addr_of(&raw mut addr)];
    // SAFETY: `addr` is ours to overwrite.
    ok(unsafe { call_status(nr::VMAR_MAP, &args) })?;
    Ok(addr)
}

/// Unmaps `[addr, addr+len)`.
pub fn vmar_unmap(vmar: impl AsRaw, addr: u64, len: u64) -> ZxResult {
    // SAFETY: no pointer the kernel writes; unmapping our own live memory is the caller's
    // concern, and the tests only unmap their own mappings.
    ok(unsafe { call_status(nr::VMAR_UNMAP, &[vmar.raw() as u64, addr, len]) })
}

/// Changes the protection of `[addr, addr+len)`.
pub fn vmar_protect(vmar: impl AsRaw, options: u32, addr: u64, len: u64) -> ZxResult {
    // SAFETY: as for `vmar_unmap`.
    ok(unsafe { call_status(nr::VMAR_PROTECT, &[vmar.raw() as u64, options as u64, addr, len]) })
}

/// (v2) `zx_vmar_allocate`: a sub-region of `size` bytes in `parent` (at `offset` with
/// `VM_SPECIFIC`); returns its handle and address. Closing the handle does not destroy
/// the region: see [`vmar_destroy`].
pub fn vmar_allocate(parent: impl AsRaw, options: u32, offset: u64, size: u64) -> ZxResult<(Handle, u64)> {
    let (mut handle, mut addr) = (0u32, 0u64);
    let args = [parent.raw() as u64, options as u64, offset, size, addr_of(&raw mut handle), addr_of(&raw mut addr)];
    // SAFETY: `handle` and `addr` are ours to overwrite.
    ok(unsafe { call_status(nr::VMAR_ALLOCATE, &args) })?;
    Ok((Handle(handle), addr))
}

/// (v2) `zx_vmar_destroy`: unmaps everything in the region and destroys it and every
/// region below it.
pub fn vmar_destroy(vmar: impl AsRaw) -> ZxResult {
    // SAFETY: no pointer argument; the caller only destroys regions it made.
    ok(unsafe { call_status(nr::VMAR_DESTROY, &[vmar.raw() as u64]) })
}

/// `zx_cache_flush` over `[addr, addr+len)`.
pub fn cache_flush(addr: u64, len: u64, options: u32) -> ZxResult {
    // SAFETY: cache maintenance never changes what memory holds (DATA|INVALIDATE cleans
    // first), and the kernel writes through no pointer.
    ok(unsafe { call_status(nr::CACHE_FLUSH, &[addr, len, options as u64]) })
}

/// Clears then sets user signals on an object.
pub fn object_signal(handle: impl AsRaw, clear_mask: u32, set_mask: u32) -> ZxResult {
    let args = [handle.raw() as u64, clear_mask as u64, set_mask as u64];
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::OBJECT_SIGNAL, &args) })
}

/// Waits for any of `signals` until `deadline`; returns the status and the observed set
/// (the observed set is reported for TIMED_OUT too, so both come back).
pub fn object_wait_one(handle: impl AsRaw, signals: u32, deadline: i64) -> (Status, u32) {
    let mut observed = 0xDEAD_BEEFu32;
    let args = [handle.raw() as u64, signals as u64, deadline as u64, addr_of(&raw mut observed)];
    // SAFETY: `observed` is ours to overwrite.
    let status = unsafe { call_status(nr::OBJECT_WAIT_ONE, &args) };
    (status, observed)
}

/// A mapping in a VMAR that is unmapped when dropped.
#[derive(Debug)]
pub struct Mapping {
    vmar: u32,
    addr: u64,
    len: u64,
}

impl Mapping {
    /// Maps like [`vmar_map`] and owns the result (`len` rounded up to pages).
    pub fn new(
        vmar: impl AsRaw,
        options: u32,
        vmar_offset: u64,
        vmo: impl AsRaw,
        vmo_offset: u64,
        len: u64,
    ) -> ZxResult<Mapping> {
        let vmar = vmar.raw();
        let addr = vmar_map(vmar, options, vmar_offset, vmo, vmo_offset, len)?;
        Ok(Mapping { vmar, addr, len: len.div_ceil(PAGE_SIZE) * PAGE_SIZE })
    }

    /// First address.
    pub fn addr(&self) -> u64 {
        self.addr
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the mapping has length 0 (never, for a mapping that succeeded).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reads the byte at `offset` with a plain load. Faults (ending the process) when the
    /// mapping does not allow reading there: that is what some tests check.
    pub fn read(&self, offset: u64) -> u8 {
        // SAFETY: the address lies in a mapping this object made and nothing in Rust
        // refers to; a permission fault ends the process instead of reading.
        unsafe { core::ptr::read_volatile((self.addr + offset) as usize as *const u8) }
    }

    /// Writes the byte at `offset` with a plain store (faults like [`Mapping::read`]).
    pub fn write(&self, offset: u64, value: u8) {
        // SAFETY: as for `read`.
        unsafe { core::ptr::write_volatile((self.addr + offset) as usize as *mut u8, value) }
    }

    /// Gives up ownership (the mapping stays).
    pub fn leak(self) -> (u64, u64) {
        let parts = (self.addr, self.len);
        core::mem::forget(self);
        parts
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        let _ = vmar_unmap(self.vmar, self.addr, self.len);
    }
}
