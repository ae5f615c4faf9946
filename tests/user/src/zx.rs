//! The ABI as EL0 sees it: the constants of ABI.md §4–§5, owned handles and mappings, the
//! info records, and one safe wrapper per syscall (v1 first, then the v2 task, wait,
//! futex and time calls).
//!
//! Every number here is the kernel's own: syscall numbers ([`nr`]), rights ([`rights`]),
//! options, topics and signals come from `src/abi.rs` (compiled in as [`crate::abi`]),
//! status codes from `src/error.rs` ([`crate::kernel_error`]); nothing is copied, so the
//! tests and the kernel cannot disagree about a value.
//!
//! Wrappers take handles as anything [`AsRaw`] (a raw `u32` or an owned [`Handle`]), so
//! tests can pass bogus values as easily as real ones. They return [`ZxResult`]; a failed
//! call gives its status. Bad-pointer cases go through [`crate::sys`] directly.

use crate::sys::call_status;

/// A `zx_status_t`.
pub type Status = i32;
/// The result of a syscall: a value, or the status that is not OK.
pub type ZxResult<T = ()> = Result<T, Status>;

use crate::abi;
use crate::kernel_error::ZxError;

/// Page size of every address space.
pub const PAGE_SIZE: u64 = abi::PAGE_SIZE;
/// First user address.
pub const USER_BASE: u64 = abi::USER_BASE;
/// One past the last user address (2^47).
pub const USER_END: u64 = abi::USER_END;
/// Zircon's largest VMO size for 4 KiB pages: 2^64 − 128 KiB.
pub const MAX_VMO_SIZE: u64 = u64::MAX - (128 * 1024 - 1);

/// Syscall numbers (ABI.md §4): the kernel's table itself.
pub use crate::abi::sys as nr;

/// Status codes (ABI.md §5): the kernel's `ZxError` values.
pub const ZX_OK: Status = 0;
pub const ZX_ERR_INTERNAL: Status = ZxError::Internal.status();
pub const ZX_ERR_NOT_SUPPORTED: Status = ZxError::NotSupported.status();
pub const ZX_ERR_NO_RESOURCES: Status = ZxError::NoResources.status();
pub const ZX_ERR_NO_MEMORY: Status = ZxError::NoMemory.status();
pub const ZX_ERR_INVALID_ARGS: Status = ZxError::InvalidArgs.status();
pub const ZX_ERR_BAD_HANDLE: Status = ZxError::BadHandle.status();
pub const ZX_ERR_WRONG_TYPE: Status = ZxError::WrongType.status();
pub const ZX_ERR_BAD_SYSCALL: Status = ZxError::BadSyscall.status();
pub const ZX_ERR_OUT_OF_RANGE: Status = ZxError::OutOfRange.status();
pub const ZX_ERR_BUFFER_TOO_SMALL: Status = ZxError::BufferTooSmall.status();
pub const ZX_ERR_BAD_STATE: Status = ZxError::BadState.status();
pub const ZX_ERR_TIMED_OUT: Status = ZxError::TimedOut.status();
pub const ZX_ERR_SHOULD_WAIT: Status = ZxError::ShouldWait.status();
pub const ZX_ERR_CANCELED: Status = ZxError::Canceled.status();
pub const ZX_ERR_PEER_CLOSED: Status = ZxError::PeerClosed.status();
pub const ZX_ERR_NOT_FOUND: Status = ZxError::NotFound.status();
pub const ZX_ERR_ALREADY_EXISTS: Status = ZxError::AlreadyExists.status();
pub const ZX_ERR_ALREADY_BOUND: Status = ZxError::AlreadyBound.status();
pub const ZX_ERR_UNAVAILABLE: Status = ZxError::Unavailable.status();
pub const ZX_ERR_ACCESS_DENIED: Status = ZxError::AccessDenied.status();
pub const ZX_ERR_IO: Status = ZxError::Io.status();

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

/// Rights bits and the default rights of each object type (ABI.md §5): the kernel's.
pub use crate::abi::rights;

/// Object types.
pub const OBJ_TYPE_VMO: u32 = abi::obj_type::VMO;
pub const OBJ_TYPE_RESOURCE: u32 = abi::obj_type::RESOURCE;
pub const OBJ_TYPE_VMAR: u32 = abi::obj_type::VMAR;

/// `zx_vmo_create` options.
pub const VMO_RESIZABLE: u32 = abi::VMO_RESIZABLE;
/// `zx_vmo_create_child` options.
pub const CHILD_SNAPSHOT: u32 = abi::child::SNAPSHOT;
pub const CHILD_RESIZABLE: u32 = abi::child::RESIZABLE;
pub const CHILD_SLICE: u32 = abi::child::SLICE;
pub const CHILD_SNAPSHOT_AT_LEAST_ON_WRITE: u32 = abi::child::SNAPSHOT_AT_LEAST_ON_WRITE;
pub const CHILD_NO_WRITE: u32 = abi::child::NO_WRITE;

/// `zx_vmo_op_range` ops.
pub const OP_COMMIT: u32 = abi::op::COMMIT;
pub const OP_DECOMMIT: u32 = abi::op::DECOMMIT;
pub const OP_LOCK: u32 = abi::op::LOCK;
pub const OP_UNLOCK: u32 = abi::op::UNLOCK;
pub const OP_CACHE_SYNC: u32 = abi::op::CACHE_SYNC;
pub const OP_CACHE_INVALIDATE: u32 = abi::op::CACHE_INVALIDATE;
pub const OP_CACHE_CLEAN: u32 = abi::op::CACHE_CLEAN;
pub const OP_CACHE_CLEAN_INVALIDATE: u32 = abi::op::CACHE_CLEAN_INVALIDATE;
pub const OP_ZERO: u32 = abi::op::ZERO;

/// Cache policies.
pub const CACHE_POLICY_CACHED: u32 = abi::cache_policy::CACHED;
pub const CACHE_POLICY_UNCACHED: u32 = abi::cache_policy::UNCACHED;
pub const CACHE_POLICY_UNCACHED_DEVICE: u32 = abi::cache_policy::UNCACHED_DEVICE;
pub const CACHE_POLICY_WRITE_COMBINING: u32 = abi::cache_policy::WRITE_COMBINING;

/// VM options for `zx_vmar_map` and `zx_vmar_protect`.
pub const VM_PERM_READ: u32 = abi::vm::PERM_READ;
pub const VM_PERM_WRITE: u32 = abi::vm::PERM_WRITE;
pub const VM_PERM_EXECUTE: u32 = abi::vm::PERM_EXECUTE;
pub const VM_COMPACT: u32 = abi::vm::COMPACT;
pub const VM_SPECIFIC: u32 = abi::vm::SPECIFIC;
pub const VM_SPECIFIC_OVERWRITE: u32 = abi::vm::SPECIFIC_OVERWRITE;
pub const VM_CAN_MAP_SPECIFIC: u32 = abi::vm::CAN_MAP_SPECIFIC;
pub const VM_CAN_MAP_READ: u32 = abi::vm::CAN_MAP_READ;
pub const VM_CAN_MAP_WRITE: u32 = abi::vm::CAN_MAP_WRITE;
pub const VM_CAN_MAP_EXECUTE: u32 = abi::vm::CAN_MAP_EXECUTE;
pub const VM_MAP_RANGE: u32 = abi::vm::MAP_RANGE;
pub const VM_REQUIRE_NON_RESIZABLE: u32 = abi::vm::REQUIRE_NON_RESIZABLE;
/// `ZX_VM_ALIGN_n`: the mapping's address is a multiple of 2^n (n in 10..=32).
pub const fn vm_align(log2: u32) -> u32 {
    log2 << abi::vm::ALIGN_SHIFT
}
/// Read and write, the usual data mapping.
pub const VM_RW: u32 = VM_PERM_READ | VM_PERM_WRITE;

/// `zx_cache_flush` options.
pub const CACHE_FLUSH_INSN: u32 = abi::cache_flush::INSN;
pub const CACHE_FLUSH_DATA: u32 = abi::cache_flush::DATA;
pub const CACHE_FLUSH_INVALIDATE: u32 = abi::cache_flush::INVALIDATE;

/// Time.
pub const TIME_INFINITE: i64 = abi::ZX_TIME_INFINITE;

/// Properties.
pub const PROP_NAME: u32 = abi::prop::NAME;
pub const PROP_VMO_CONTENT_SIZE: u32 = abi::prop::VMO_CONTENT_SIZE;
/// Size of a name buffer, NUL included.
pub const MAX_NAME_LEN: usize = abi::prop::NAME_LEN;

/// Signals.
pub const VMO_ZERO_CHILDREN: u32 = abi::signal::VMO_ZERO_CHILDREN;
pub const USER_SIGNAL_0: u32 = 1 << 24;
/// USER_SIGNAL_0..=7.
pub const USER_SIGNAL_ALL: u32 = abi::signal::USER_ALL;
const _: () = assert!(USER_SIGNAL_ALL == 0xFF * USER_SIGNAL_0);

/// get_info topics and record sizes.
pub const INFO_HANDLE_BASIC: u32 = abi::info::HANDLE_BASIC;
pub const INFO_VMAR: u32 = abi::info::VMAR;
pub const INFO_KMEM_STATS: u32 = abi::info::KMEM_STATS;
pub const INFO_VMO: u32 = abi::info::VMO;
pub const INFO_HANDLE_BASIC_SIZE: usize = abi::info::HANDLE_BASIC_SIZE;
pub const INFO_VMAR_SIZE: usize = abi::info::VMAR_SIZE;
pub const INFO_KMEM_STATS_SIZE: usize = abi::info::KMEM_STATS_SIZE;
pub const INFO_VMO_SIZE: usize = abi::info::VMO_SIZE;

/// ZX_INFO_VMO flags.
pub const VMO_FLAG_TYPE_PAGED: u32 = abi::info::VMO_TYPE_PAGED;
pub const VMO_FLAG_RESIZABLE: u32 = abi::info::VMO_RESIZABLE;
pub const VMO_FLAG_IS_COW_CLONE: u32 = abi::info::VMO_IS_COW_CLONE;
pub const VMO_FLAG_VIA_HANDLE: u32 = abi::info::VMO_VIA_HANDLE;
pub const VMO_FLAG_VIA_MAPPING: u32 = abi::info::VMO_VIA_MAPPING;
pub const VMO_FLAG_CONTIGUOUS: u32 = abi::info::VMO_CONTIGUOUS;

/// Something that names a handle value: a raw `u32` (bogus values included) or a
/// [`Handle`]. Only the value is used; nothing is consumed.
pub trait AsRaw {
    /// The handle value passed to the kernel.
    fn raw(&self) -> u32;

    /// The handle value as a syscall argument.
    fn raw_u64(&self) -> u64 {
        self.raw() as u64
    }
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

/// An owned handle, closed when dropped: user/zx's own [`::zx::Handle`], so a test and a
/// program hold handles the same way (`from_raw`, `into_raw`, `raw`).
pub use ::zx::Handle;

impl AsRaw for Handle {
    fn raw(&self) -> u32 {
        Handle::raw(self)
    }
}

/// Turns a status into a [`ZxResult`].
pub fn ok(status: Status) -> ZxResult {
    if status == ZX_OK { Ok(()) } else { Err(status) }
}

/// `u64` view of a pointer, for syscall arguments (user/zx's `sys::addr`).
pub use ::zx::sys::addr as addr_of;

/// Writes `bytes` to the console with `zx_debug_write` (at most 4096 bytes per call).
pub fn debug_write(bytes: &[u8]) -> ZxResult {
    // SAFETY: the kernel only reads the buffer.
    ok(unsafe { call_status(nr::DEBUG_WRITE, [addr_of(bytes.as_ptr()), bytes.len() as u64]) })
}

/// Ends the process with `retcode`.
pub fn process_exit(retcode: i64) -> ! {
    // SAFETY: no pointer arguments.
    unsafe {
        crate::sys::call(nr::PROCESS_EXIT, [retcode as u64]);
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
    unsafe { crate::sys::call(nr::CLOCK_GET_MONOTONIC, []) as i64 }
}

/// Closes a handle value.
pub fn handle_close(handle: impl AsRaw) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::HANDLE_CLOSE, [handle.raw() as u64]) })
}

/// Duplicates a handle with `rights` (or SAME_RIGHTS).
pub fn handle_duplicate(handle: impl AsRaw, rights: u32) -> ZxResult<Handle> {
    let mut out = 0u32;
    // SAFETY: `out` is ours to overwrite.
    let args = [handle.raw() as u64, rights as u64, addr_of(&raw mut out)];
    ok(unsafe { call_status(nr::HANDLE_DUPLICATE, args) })?;
    Ok(Handle::from_raw(out))
}

/// Replaces a handle (consumed) with one of `rights`.
pub fn handle_replace(handle: u32, rights: u32) -> ZxResult<Handle> {
    let mut out = 0u32;
    // SAFETY: `out` is ours to overwrite.
    let args = [handle as u64, rights as u64, addr_of(&raw mut out)];
    ok(unsafe { call_status(nr::HANDLE_REPLACE, args) })?;
    Ok(Handle::from_raw(out))
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
    let status = unsafe { call_status(nr::OBJECT_GET_INFO, args) };
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
    ok(unsafe { call_status(nr::OBJECT_GET_PROPERTY, args) })
}

/// `zx_object_set_property` from `value`.
pub fn object_set_property(handle: impl AsRaw, prop: u32, value: &[u8]) -> ZxResult {
    let args = [handle.raw() as u64, prop as u64, addr_of(value.as_ptr()), value.len() as u64];
    // SAFETY: the kernel only reads `value`.
    ok(unsafe { call_status(nr::OBJECT_SET_PROPERTY, args) })
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
    ok(unsafe { call_status(nr::VMO_CREATE, args) })?;
    Ok(Handle::from_raw(out))
}

/// Reads `buf.len()` bytes at `offset`.
pub fn vmo_read(vmo: impl AsRaw, buf: &mut [u8], offset: u64) -> ZxResult {
    let args = [vmo.raw() as u64, addr_of(buf.as_mut_ptr()), offset, buf.len() as u64];
    // SAFETY: `buf` is ours to overwrite.
    ok(unsafe { call_status(nr::VMO_READ, args) })
}

/// Writes `buf` at `offset`.
pub fn vmo_write(vmo: impl AsRaw, buf: &[u8], offset: u64) -> ZxResult {
    let args = [vmo.raw() as u64, addr_of(buf.as_ptr()), offset, buf.len() as u64];
    // SAFETY: the kernel only reads `buf`.
    ok(unsafe { call_status(nr::VMO_WRITE, args) })
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
    ok(unsafe { call_status(nr::VMO_GET_SIZE, [vmo.raw() as u64, addr_of(&raw mut size)]) })?;
    Ok(size)
}

/// Resizes a VMO.
pub fn vmo_set_size(vmo: impl AsRaw, size: u64) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::VMO_SET_SIZE, [vmo.raw() as u64, size]) })
}

/// `zx_vmo_op_range` with no buffer.
pub fn vmo_op_range(vmo: impl AsRaw, op: u32, offset: u64, size: u64) -> ZxResult {
    // SAFETY: the buffer is NULL with size 0.
    ok(unsafe { call_status(nr::VMO_OP_RANGE, [vmo.raw() as u64, op as u64, offset, size, 0, 0]) })
}

/// Creates a child VMO.
pub fn vmo_create_child(vmo: impl AsRaw, options: u32, offset: u64, size: u64) -> ZxResult<Handle> {
    let mut out = 0u32;
    let args = [vmo.raw() as u64, options as u64, offset, size, addr_of(&raw mut out)];
    // SAFETY: `out` is ours to overwrite.
    ok(unsafe { call_status(nr::VMO_CREATE_CHILD, args) })?;
    Ok(Handle::from_raw(out))
}

/// Sets the cache policy.
pub fn vmo_set_cache_policy(vmo: impl AsRaw, policy: u32) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::VMO_SET_CACHE_POLICY, [vmo.raw() as u64, policy as u64]) })
}

/// Replaces `vmo` (consumed) with an executable handle.
pub fn vmo_replace_as_executable(vmo: u32, vmex: impl AsRaw) -> ZxResult<Handle> {
    let mut out = 0u32;
    let args = [vmo as u64, vmex.raw() as u64, addr_of(&raw mut out)];
    // SAFETY: `out` is ours to overwrite.
    ok(unsafe { call_status(nr::VMO_REPLACE_AS_EXECUTABLE, args) })?;
    Ok(Handle::from_raw(out))
}

/// Creates a VMO over physical memory.
pub fn vmo_create_physical(resource: impl AsRaw, paddr: u64, size: u64) -> ZxResult<Handle> {
    let mut out = 0u32;
    let args = [resource.raw() as u64, paddr, size, addr_of(&raw mut out)];
    // SAFETY: `out` is ours to overwrite.
    ok(unsafe { call_status(nr::VMO_CREATE_PHYSICAL, args) })?;
    Ok(Handle::from_raw(out))
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
    ok(unsafe { call_status(nr::VMAR_MAP, args) })?;
    Ok(addr)
}

/// Unmaps `[addr, addr+len)`.
pub fn vmar_unmap(vmar: impl AsRaw, addr: u64, len: u64) -> ZxResult {
    // SAFETY: no pointer the kernel writes; unmapping our own live memory is the caller's
    // concern, and the tests only unmap their own mappings.
    ok(unsafe { call_status(nr::VMAR_UNMAP, [vmar.raw() as u64, addr, len]) })
}

/// Changes the protection of `[addr, addr+len)`.
pub fn vmar_protect(vmar: impl AsRaw, options: u32, addr: u64, len: u64) -> ZxResult {
    // SAFETY: as for `vmar_unmap`.
    ok(unsafe { call_status(nr::VMAR_PROTECT, [vmar.raw() as u64, options as u64, addr, len]) })
}

/// (v2) `zx_vmar_allocate`: a sub-region of `size` bytes in `parent` (at `offset` with
/// `VM_SPECIFIC`); returns its handle and address. Closing the handle does not destroy
/// the region: see [`vmar_destroy`].
pub fn vmar_allocate(parent: impl AsRaw, options: u32, offset: u64, size: u64) -> ZxResult<(Handle, u64)> {
    let (mut handle, mut addr) = (0u32, 0u64);
    let args = [parent.raw() as u64, options as u64, offset, size, addr_of(&raw mut handle), addr_of(&raw mut addr)];
    // SAFETY: `handle` and `addr` are ours to overwrite.
    ok(unsafe { call_status(nr::VMAR_ALLOCATE, args) })?;
    Ok((Handle::from_raw(handle), addr))
}

/// (v2) `zx_vmar_destroy`: unmaps everything in the region and destroys it and every
/// region below it.
pub fn vmar_destroy(vmar: impl AsRaw) -> ZxResult {
    // SAFETY: no pointer argument; the caller only destroys regions it made.
    ok(unsafe { call_status(nr::VMAR_DESTROY, [vmar.raw() as u64]) })
}

/// `zx_cache_flush` over `[addr, addr+len)`.
pub fn cache_flush(addr: u64, len: u64, options: u32) -> ZxResult {
    // SAFETY: cache maintenance never changes what memory holds (DATA|INVALIDATE cleans
    // first), and the kernel writes through no pointer.
    ok(unsafe { call_status(nr::CACHE_FLUSH, [addr, len, options as u64]) })
}

/// Clears then sets user signals on an object.
pub fn object_signal(handle: impl AsRaw, clear_mask: u32, set_mask: u32) -> ZxResult {
    let args = [handle.raw() as u64, clear_mask as u64, set_mask as u64];
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::OBJECT_SIGNAL, args) })
}

/// Waits for any of `signals` until `deadline`; returns the status and the observed set
/// (the observed set is reported for TIMED_OUT too, so both come back).
pub fn object_wait_one(handle: impl AsRaw, signals: u32, deadline: i64) -> (Status, u32) {
    let mut observed = 0xDEAD_BEEFu32;
    let args = [handle.raw() as u64, signals as u64, deadline as u64, addr_of(&raw mut observed)];
    // SAFETY: `observed` is ours to overwrite.
    let status = unsafe { call_status(nr::OBJECT_WAIT_ONE, args) };
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

// ---------------------------------------------------------------------------------------
// (v2) Tasks, waits, events, futexes, time and CPUs (ABI.md §4.2, §5, §7). The numbers
// come from the kernel's table (`crate::abi`).
// ---------------------------------------------------------------------------------------

pub use crate::abi::{info, obj_type, retcode, signal, thread_state};

/// (v2) Object types of the task and event objects.
pub const OBJ_TYPE_PROCESS: u32 = obj_type::PROCESS;
pub const OBJ_TYPE_THREAD: u32 = obj_type::THREAD;
pub const OBJ_TYPE_EVENT: u32 = obj_type::EVENT;
pub const OBJ_TYPE_EVENTPAIR: u32 = obj_type::EVENTPAIR;
pub const OBJ_TYPE_JOB: u32 = obj_type::JOB;

/// (v2) Signals of tasks, events and eventpairs.
pub const TASK_TERMINATED: u32 = signal::TASK_TERMINATED;
pub const THREAD_RUNNING: u32 = signal::THREAD_RUNNING;
pub const JOB_NO_JOBS: u32 = signal::JOB_NO_JOBS;
pub const JOB_NO_PROCESSES: u32 = signal::JOB_NO_PROCESSES;
pub const EVENT_SIGNALED: u32 = signal::SIGNALED;
pub const PEER_CLOSED: u32 = signal::PEER_CLOSED;
pub const SIGNAL_HANDLE_CLOSED: u32 = signal::HANDLE_CLOSED;

/// (v2) The most distant past deadline.
pub const TIME_INFINITE_PAST: i64 = crate::abi::ZX_TIME_INFINITE_PAST;
/// (v2) The most items one `zx_object_wait_many` takes.
pub const WAIT_MANY_MAX_ITEMS: usize = 64;

/// The koid of the object behind a handle.
pub fn koid_of(handle: impl AsRaw) -> ZxResult<u64> {
    info_handle_basic(handle).map(|info| info.koid)
}

/// (v2) `zx_process_create`: a NEW process in `job`; returns (process, root VMAR).
pub fn process_create(job: impl AsRaw, name: &str, options: u32) -> ZxResult<(Handle, Handle)> {
    let (mut process, mut vmar) = (0u32, 0u32);
    let args = [
        job.raw() as u64,
        addr_of(name.as_ptr()),
        name.len() as u64,
        options as u64,
        addr_of(&raw mut process),
        addr_of(&raw mut vmar),
    ];
    // SAFETY: the kernel reads the name and writes the two handle values, all ours.
    ok(unsafe { call_status(nr::PROCESS_CREATE, args) })?;
    Ok((Handle::from_raw(process), Handle::from_raw(vmar)))
}

/// (v2) `zx_process_start`. `arg1` is consumed whatever the result (ABI.md 4.2 call 27).
pub fn process_start(
    process: impl AsRaw,
    thread: impl AsRaw,
    entry: u64,
    stack: u64,
    arg1: u32,
    arg2: u64,
) -> ZxResult {
    let args = [process.raw() as u64, thread.raw() as u64, entry, stack, arg1 as u64, arg2];
    // SAFETY: no pointer the kernel writes through in this process; `entry` and `stack`
    // are addresses in the other process.
    ok(unsafe { call_status(nr::PROCESS_START, args) })
}

/// (v2) `zx_process_read_memory` into `buf`; returns the bytes read.
pub fn process_read_memory(process: impl AsRaw, vaddr: u64, buf: &mut [u8]) -> ZxResult<usize> {
    let mut actual = 0u64;
    let args = [process.raw() as u64, vaddr, addr_of(buf.as_mut_ptr()), buf.len() as u64, addr_of(&raw mut actual)];
    // SAFETY: `buf` and `actual` are ours to overwrite.
    ok(unsafe { call_status(nr::PROCESS_READ_MEMORY, args) })?;
    Ok(actual as usize)
}

/// (v2) `zx_process_write_memory` from `buf`; returns the bytes written.
pub fn process_write_memory(process: impl AsRaw, vaddr: u64, buf: &[u8]) -> ZxResult<usize> {
    let mut actual = 0u64;
    let args = [process.raw() as u64, vaddr, addr_of(buf.as_ptr()), buf.len() as u64, addr_of(&raw mut actual)];
    // SAFETY: the kernel reads `buf` and writes `actual`, ours; the memory it writes is
    // the other process's.
    ok(unsafe { call_status(nr::PROCESS_WRITE_MEMORY, args) })?;
    Ok(actual as usize)
}

/// (v2) `zx_thread_create`: a NEW thread of `process`.
pub fn thread_create(process: impl AsRaw, name: &str, options: u32) -> ZxResult<Handle> {
    let mut out = 0u32;
    let args = [process.raw() as u64, addr_of(name.as_ptr()), name.len() as u64, options as u64, addr_of(&raw mut out)];
    // SAFETY: the kernel reads the name and writes `out`, ours.
    ok(unsafe { call_status(nr::THREAD_CREATE, args) })?;
    Ok(Handle::from_raw(out))
}

/// (v2) `zx_thread_start`. The new thread runs at `entry` on `stack`: the caller vouches
/// for both (see [`crate::thread`] for a safe way to start threads).
pub fn thread_start(thread: impl AsRaw, entry: u64, stack: u64, arg1: u64, arg2: u64) -> ZxResult {
    // SAFETY: the kernel writes through no pointer of ours.
    ok(unsafe { call_status(nr::THREAD_START, [thread.raw() as u64, entry, stack, arg1, arg2]) })
}

/// (v2) `zx_thread_exit`: the calling thread ends.
pub fn thread_exit() -> ! {
    // SAFETY: no arguments.
    unsafe {
        crate::sys::call(nr::THREAD_EXIT, []);
    }
    loop {
        // SAFETY: `brk` only raises a debug exception, which ends the process.
        unsafe { core::arch::asm!("brk #0xdead") };
    }
}

/// (v2) `zx_task_kill` of a job, process or thread.
pub fn task_kill(task: impl AsRaw) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::TASK_KILL, [task.raw() as u64]) })
}

/// (v2) `zx_job_create`: a child job of `parent`.
pub fn job_create(parent: impl AsRaw, options: u32) -> ZxResult<Handle> {
    let mut out = 0u32;
    // SAFETY: `out` is ours to overwrite.
    ok(unsafe { call_status(nr::JOB_CREATE, [parent.raw() as u64, options as u64, addr_of(&raw mut out)]) })?;
    Ok(Handle::from_raw(out))
}

/// (v2) `zx_handle_close_many`.
pub fn handle_close_many(handles: &[u32]) -> ZxResult {
    // SAFETY: the kernel only reads the array.
    ok(unsafe { call_status(nr::HANDLE_CLOSE_MANY, [addr_of(handles.as_ptr()), handles.len() as u64]) })
}

/// (v2) `zx_wait_item_t`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WaitItem {
    pub handle: u32,
    pub waitfor: u32,
    pub pending: u32,
}

impl WaitItem {
    /// An item waiting for `waitfor` on `handle`, `pending` poisoned so a write shows.
    pub fn new(handle: impl AsRaw, waitfor: u32) -> WaitItem {
        WaitItem { handle: handle.raw(), waitfor, pending: 0xDEAD_BEEF }
    }
}

/// (v2) `zx_object_wait_many`; `pending` of each item is written back.
pub fn object_wait_many(items: &mut [WaitItem], deadline: i64) -> ZxResult {
    // SAFETY: `items` is ours; the kernel reads and rewrites exactly those 12-byte records.
    ok(unsafe { call_status(nr::OBJECT_WAIT_MANY, [addr_of(items.as_mut_ptr()), items.len() as u64, deadline as u64]) })
}

/// (v2) `zx_object_signal_peer`.
pub fn object_signal_peer(handle: impl AsRaw, clear_mask: u32, set_mask: u32) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::OBJECT_SIGNAL_PEER, [handle.raw() as u64, clear_mask as u64, set_mask as u64]) })
}

/// (v2) `zx_event_create`.
pub fn event_create(options: u32) -> ZxResult<Handle> {
    let mut out = 0u32;
    // SAFETY: `out` is ours to overwrite.
    ok(unsafe { call_status(nr::EVENT_CREATE, [options as u64, addr_of(&raw mut out)]) })?;
    Ok(Handle::from_raw(out))
}

/// (v2) `zx_eventpair_create`.
pub fn eventpair_create(options: u32) -> ZxResult<(Handle, Handle)> {
    let (mut a, mut b) = (0u32, 0u32);
    // SAFETY: `a` and `b` are ours to overwrite.
    ok(unsafe { call_status(nr::EVENTPAIR_CREATE, [options as u64, addr_of(&raw mut a), addr_of(&raw mut b)]) })?;
    Ok((Handle::from_raw(a), Handle::from_raw(b)))
}

/// (v2) `zx_futex_wait` on the word at `word`.
pub fn futex_wait(word: &core::sync::atomic::AtomicI32, current: i32, new_owner: u32, deadline: i64) -> ZxResult {
    let args = [addr_of(word.as_ptr()), current as u32 as u64, new_owner as u64, deadline as u64];
    // SAFETY: the kernel only reads the futex word.
    ok(unsafe { call_status(nr::FUTEX_WAIT, args) })
}

/// (v2) `zx_futex_wake` of up to `count` waiters of `word` (u32::MAX: all).
pub fn futex_wake(word: &core::sync::atomic::AtomicI32, count: u32) -> ZxResult {
    // SAFETY: the kernel never touches the memory.
    ok(unsafe { call_status(nr::FUTEX_WAKE, [addr_of(word.as_ptr()), count as u64]) })
}

/// (v2) `zx_futex_requeue`.
pub fn futex_requeue(
    word: &core::sync::atomic::AtomicI32,
    wake_count: u32,
    current: i32,
    requeue: &core::sync::atomic::AtomicI32,
    requeue_count: u32,
    new_owner: u32,
) -> ZxResult {
    let args = [
        addr_of(word.as_ptr()),
        wake_count as u64,
        current as u32 as u64,
        addr_of(requeue.as_ptr()),
        requeue_count as u64,
        new_owner as u64,
    ];
    // SAFETY: the kernel only reads the first futex word.
    ok(unsafe { call_status(nr::FUTEX_REQUEUE, args) })
}

/// (v2) `zx_nanosleep` until `deadline` (≤ 0: yield).
pub fn nanosleep(deadline: i64) -> ZxResult {
    // SAFETY: no pointer arguments.
    ok(unsafe { call_status(nr::NANOSLEEP, [deadline as u64]) })
}

/// (v2) Sleeps for `nanoseconds`.
pub fn sleep_ns(nanoseconds: i64) {
    let _ = nanosleep(deadline_after(nanoseconds));
}

/// (v2) `zx_deadline_after`.
pub fn deadline_after(nanoseconds: i64) -> i64 {
    // SAFETY: no pointer arguments.
    unsafe { crate::sys::call(nr::DEADLINE_AFTER, [nanoseconds as u64]) as i64 }
}

/// (v2) `zx_ticks_get`.
pub fn ticks_get() -> i64 {
    // SAFETY: no arguments.
    unsafe { crate::sys::call(nr::TICKS_GET, []) as i64 }
}

/// (v2) `zx_ticks_per_second`.
pub fn ticks_per_second() -> i64 {
    // SAFETY: no arguments.
    unsafe { crate::sys::call(nr::TICKS_PER_SECOND, []) as i64 }
}

/// (v2) `zx_system_get_num_cpus` (the whole of x0, to see that it is zero-extended).
pub fn system_get_num_cpus() -> u64 {
    // SAFETY: no arguments.
    unsafe { crate::sys::call(nr::SYSTEM_GET_NUM_CPUS, []) }
}

/// (v2) `zx_system_get_page_size` (the whole of x0).
pub fn system_get_page_size() -> u64 {
    // SAFETY: no arguments.
    unsafe { crate::sys::call(nr::SYSTEM_GET_PAGE_SIZE, []) }
}

/// (v2) ZX_INFO_PROCESS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfoProcess {
    pub return_code: i64,
    pub started: bool,
    pub exited: bool,
    pub debugger_attached: bool,
}

/// (v2) Reads ZX_INFO_PROCESS.
pub fn info_process(process: impl AsRaw) -> ZxResult<InfoProcess> {
    let mut buf = [0xA5u8; info::PROCESS_SIZE];
    object_get_info(process, info::PROCESS, &mut buf)?;
    Ok(InfoProcess {
        return_code: le_u64(&buf, 0) as i64,
        started: buf[8] != 0,
        exited: buf[9] != 0,
        debugger_attached: buf[10] != 0,
    })
}

/// (v2) ZX_INFO_THREAD (the fields that are not always zero, and the ones that are).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfoThread {
    pub state: u32,
    pub wait_exception_channel_type: u32,
    pub cpu_affinity_mask: u64,
    /// Words 1..8 of the affinity mask, OR-ed (always 0).
    pub other_mask_words: u64,
}

/// (v2) Reads ZX_INFO_THREAD.
pub fn info_thread(thread: impl AsRaw) -> ZxResult<InfoThread> {
    let mut buf = [0xA5u8; info::THREAD_SIZE];
    object_get_info(thread, info::THREAD, &mut buf)?;
    Ok(InfoThread {
        state: le_u32(&buf, 0),
        wait_exception_channel_type: le_u32(&buf, 4),
        cpu_affinity_mask: le_u64(&buf, 8),
        other_mask_words: (1..8).fold(0, |acc, i| acc | le_u64(&buf, 8 + 8 * i)),
    })
}

/// (v2) The state of a thread (ZX_INFO_THREAD.state), or u32::MAX when it cannot be read.
pub fn thread_state_of(thread: impl AsRaw) -> u32 {
    info_thread(thread).map_or(u32::MAX, |info| info.state)
}

/// (v2) ZX_INFO_THREAD_STATS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfoThreadStats {
    pub total_runtime: i64,
    pub last_scheduled_cpu: u32,
}

/// (v2) Reads ZX_INFO_THREAD_STATS.
pub fn info_thread_stats(thread: impl AsRaw) -> ZxResult<InfoThreadStats> {
    let mut buf = [0xA5u8; info::THREAD_STATS_SIZE];
    object_get_info(thread, info::THREAD_STATS, &mut buf)?;
    Ok(InfoThreadStats { total_runtime: le_u64(&buf, 0) as i64, last_scheduled_cpu: le_u32(&buf, 8) })
}

/// (v2) ZX_INFO_TASK_STATS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfoTaskStats {
    pub mem_mapped_bytes: u64,
    pub mem_private_bytes: u64,
    pub mem_shared_bytes: u64,
    pub mem_scaled_shared_bytes: u64,
}

/// (v2) Reads ZX_INFO_TASK_STATS.
pub fn info_task_stats(process: impl AsRaw) -> ZxResult<InfoTaskStats> {
    let mut buf = [0xA5u8; info::TASK_STATS_SIZE];
    object_get_info(process, info::TASK_STATS, &mut buf)?;
    Ok(InfoTaskStats {
        mem_mapped_bytes: le_u64(&buf, 0),
        mem_private_bytes: le_u64(&buf, 8),
        mem_shared_bytes: le_u64(&buf, 16),
        mem_scaled_shared_bytes: le_u64(&buf, 24),
    })
}

/// (v2) ZX_INFO_JOB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InfoJob {
    pub return_code: i64,
    pub exited: bool,
}

/// (v2) Reads ZX_INFO_JOB.
pub fn info_job(job: impl AsRaw) -> ZxResult<InfoJob> {
    let mut buf = [0xA5u8; info::JOB_SIZE];
    object_get_info(job, info::JOB, &mut buf)?;
    Ok(InfoJob { return_code: le_u64(&buf, 0) as i64, exited: buf[8] != 0 })
}

/// (v2) A koid-array topic (PROCESS_THREADS, JOB_CHILDREN, JOB_PROCESSES) into `koids`;
/// returns (actual, avail).
pub fn info_koids(handle: impl AsRaw, topic: u32, koids: &mut [u64]) -> ZxResult<(usize, usize)> {
    let (mut actual, mut avail) = (u64::MAX, u64::MAX);
    let args = [
        handle.raw() as u64,
        topic as u64,
        addr_of(koids.as_mut_ptr()),
        (koids.len() * 8) as u64,
        addr_of(&raw mut actual),
        addr_of(&raw mut avail),
    ];
    // SAFETY: the array and the two counts are ours to overwrite.
    ok(unsafe { call_status(nr::OBJECT_GET_INFO, args) })?;
    Ok((actual as usize, avail as usize))
}

/// (v2) ZX_INFO_HANDLE_COUNT.
pub fn info_handle_count(handle: impl AsRaw) -> ZxResult<u32> {
    let mut buf = [0xA5u8; info::HANDLE_COUNT_SIZE];
    object_get_info(handle, info::HANDLE_COUNT, &mut buf)?;
    Ok(le_u32(&buf, 0))
}

/// (v2) ZX_INFO_PROCESS_HANDLE_STATS: handles in the process's table by object type.
pub fn info_process_handle_stats(process: impl AsRaw) -> ZxResult<[u32; 64]> {
    let mut buf = [0xA5u8; info::PROCESS_HANDLE_STATS_SIZE];
    object_get_info(process, info::PROCESS_HANDLE_STATS, &mut buf)?;
    let mut counts = [0u32; 64];
    for (i, count) in counts.iter_mut().enumerate() {
        *count = le_u32(&buf, i * 4);
    }
    Ok(counts)
}

/// (v2) ZX_INFO_HANDLE_VALID: OK when the handle exists.
pub fn handle_valid(handle: impl AsRaw) -> ZxResult {
    // SAFETY: the topic touches no buffer; all pointers are NULL.
    ok(unsafe { call_status(nr::OBJECT_GET_INFO, [handle.raw() as u64, info::HANDLE_VALID as u64, 0, 0, 0, 0]) })
}

/// (v2) Waits until `handle` asserts TERMINATED (at most until `deadline`).
pub fn wait_terminated(handle: impl AsRaw, deadline: i64) -> ZxResult {
    ok(object_wait_one(handle, TASK_TERMINATED, deadline).0)
}
