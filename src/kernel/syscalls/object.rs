//! zx_object_get_info, zx_object_get/set_property, zx_object_signal,
//! zx_object_wait_one.

use super::{lookup_resource, lookup_vmo, process, user};
use crate::abi::{ZX_TIME_INFINITE, info, obj_type, prop, rights, signal};
use crate::error::{ZxError, ZxResult};
use crate::kernel::Kernel;
use crate::kernel::process::KObject;
use crate::object::rights::check_rights;

/// Little-endian record builder for info structs.
struct Record<const N: usize> {
    bytes: [u8; N],
}

impl<const N: usize> Record<N> {
    fn new() -> Self {
        Record { bytes: [0; N] }
    }
    fn u32(&mut self, offset: usize, value: u32) -> &mut Self {
        self.bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
        self
    }
    fn u64(&mut self, offset: usize, value: u64) -> &mut Self {
        self.bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
        self
    }
    fn raw(&mut self, offset: usize, value: &[u8]) -> &mut Self {
        self.bytes[offset..offset + value.len()].copy_from_slice(value);
        self
    }
}

/// The koid, type and rights behind a handle.
fn describe(k: &mut Kernel, handle: u32) -> ZxResult<(KObject, u64, u32, u32)> {
    let root_resource_koid = k.root_resource_koid;
    let p = k.process.as_ref().ok_or(ZxError::BadState)?;
    let entry = p.handles.get(handle)?;
    let (koid, kind) = match entry.object {
        KObject::Vmo(vmo) => (k.vmos.koid(vmo), obj_type::VMO),
        KObject::Vmar => (p.vmar_koid, obj_type::VMAR),
        KObject::Resource => (root_resource_koid, obj_type::RESOURCE),
    };
    Ok((entry.object, koid, kind, entry.rights))
}

/// `zx_object_get_info`. An unknown topic is NOT_SUPPORTED before the handle is looked
/// up; a buffer smaller than the record is BUFFER_TOO_SMALL with actual 0, avail 1.
pub fn get_info(k: &mut Kernel, handle: u32, topic: u32, buf: u64, buf_size: u64, actual: u64, avail: u64) -> ZxResult {
    let size = match topic {
        info::HANDLE_BASIC => info::HANDLE_BASIC_SIZE,
        info::VMAR => info::VMAR_SIZE,
        info::KMEM_STATS => info::KMEM_STATS_SIZE,
        info::VMO => info::VMO_SIZE,
        _ => return Err(ZxError::NotSupported),
    };
    let mut record = Record::<{ info::VMO_SIZE }>::new();
    match topic {
        info::HANDLE_BASIC => {
            let (_, koid, kind, rights) = describe(k, handle)?;
            // Every object of ABI v1 can be waited on: ZX_OBJ_PROP_WAITABLE.
            record.u64(0, koid).u32(8, rights).u32(12, kind).u64(16, 0).u32(24, 1);
        }
        info::VMAR => {
            super::lookup_vmar(k, handle)?;
            let p = process(k)?;
            record.u64(0, p.vmar.base()).u64(8, p.vmar.len());
        }
        info::KMEM_STATS => {
            lookup_resource(k, handle)?;
            let stats = kmem_stats(k);
            for (i, value) in stats.iter().enumerate() {
                record.u64(i * 8, *value);
            }
        }
        _ => {
            let (vmo, handle_rights) = lookup_vmo(k, handle, 0)?;
            let v = k.vmos.info(vmo);
            record
                .u64(0, v.koid)
                .raw(8, &v.name)
                .u64(40, v.size_bytes)
                .u64(48, v.parent_koid)
                .u64(56, v.num_children)
                .u64(64, v.num_mappings)
                .u64(72, v.share_count)
                .u32(80, v.flags | info::VMO_VIA_HANDLE)
                .u64(88, v.committed_bytes)
                .u32(96, handle_rights)
                .u32(100, v.cache_policy);
        }
    }
    let fits = buf_size >= size as u64;
    if fits {
        user::write_bytes(k, buf, &record.bytes[..size])?;
    }
    let count: u64 = if fits { 1 } else { 0 };
    if actual != 0 {
        user::write_value(k, actual, &count.to_le_bytes())?;
    }
    if avail != 0 {
        user::write_value(k, avail, &1u64.to_le_bytes())?;
    }
    if fits { Ok(()) } else { Err(ZxError::BufferTooSmall) }
}

/// The nine KMEM_STATS figures: total, free, wired, heap total, heap free, VMO, MMU
/// overhead, IPC, other. The parts add up to the total.
fn kmem_stats(k: &Kernel) -> [u64; 9] {
    let total = k.frames.total_bytes();
    let free = k.frames.free_bytes();
    let vmo = k.vmos.committed_frames_total() * crate::abi::PAGE_SIZE;
    let mmu = k.user_table_pages * crate::abi::PAGE_SIZE;
    let heap_total = k.heap_bytes;
    let heap_free = heap_total.saturating_sub(crate::arch::aarch64::heap::used_bytes());
    let wired = total.saturating_sub(free).saturating_sub(vmo).saturating_sub(mmu).saturating_sub(heap_total);
    [total, free, wired, heap_total, heap_free, vmo, mmu, 0, 0]
}

/// `zx_object_get_property`: GET_PROPERTY → property → size → type → copy.
pub fn get_property(k: &mut Kernel, handle: u32, property: u32, value: u64, size: u64) -> ZxResult {
    let (object, _, _, rights) = describe(k, handle)?;
    check_rights(rights, rights::GET_PROPERTY)?;
    match property {
        prop::NAME => {
            if size < prop::NAME_LEN as u64 {
                return Err(ZxError::BufferTooSmall);
            }
            let name = match object {
                KObject::Vmo(vmo) => k.vmos.name(vmo),
                _ => [0u8; prop::NAME_LEN],
            };
            user::write_value(k, value, &name)
        }
        prop::VMO_CONTENT_SIZE => {
            if size < 8 {
                return Err(ZxError::BufferTooSmall);
            }
            let KObject::Vmo(vmo) = object else { return Err(ZxError::WrongType) };
            let content = k.vmos.content_size(vmo);
            user::write_value(k, value, &content.to_le_bytes())
        }
        _ => Err(ZxError::InvalidArgs),
    }
}

/// `zx_object_set_property`: NULL value → SET_PROPERTY → property → size → type → copy.
pub fn set_property(k: &mut Kernel, handle: u32, property: u32, value: u64, size: u64) -> ZxResult {
    if value == 0 {
        return Err(ZxError::InvalidArgs);
    }
    let (object, _, _, rights) = describe(k, handle)?;
    check_rights(rights, rights::SET_PROPERTY)?;
    match property {
        prop::NAME => {
            let len = (size as usize).min(prop::NAME_LEN - 1);
            let mut name = [0u8; prop::NAME_LEN];
            user::read_bytes(k, value, &mut name[..len])?;
            match object {
                KObject::Vmo(vmo) => {
                    k.vmos.set_name(vmo, &name[..len]);
                    Ok(())
                }
                _ => Err(ZxError::NotSupported),
            }
        }
        prop::VMO_CONTENT_SIZE => {
            if size < 8 {
                return Err(ZxError::BufferTooSmall);
            }
            let KObject::Vmo(vmo) = object else { return Err(ZxError::WrongType) };
            let mut bytes = [0u8; 8];
            user::read_bytes(k, value, &mut bytes)?;
            k.vmos.set_content_size(vmo, u64::from_le_bytes(bytes));
            Ok(())
        }
        _ => Err(ZxError::InvalidArgs),
    }
}

/// The signals currently asserted on `object`.
fn signals_of(k: &mut Kernel, object: KObject) -> ZxResult<u32> {
    Ok(match object {
        KObject::Vmo(vmo) => k.vmos.signals(vmo),
        KObject::Vmar => process(k)?.vmar_signals,
        KObject::Resource => process(k)?.resource_signals,
    })
}

/// `zx_object_signal`: SIGNAL right, then only user signals may change.
pub fn signal(k: &mut Kernel, handle: u32, clear_mask: u32, set_mask: u32) -> ZxResult {
    let (object, _, _, rights) = describe(k, handle)?;
    check_rights(rights, rights::SIGNAL)?;
    if (clear_mask | set_mask) & !signal::USER_ALL != 0 {
        return Err(ZxError::InvalidArgs);
    }
    let update = |s: u32| (s & !clear_mask) | set_mask;
    match object {
        KObject::Vmo(vmo) => k.vmos.signal(vmo, clear_mask, set_mask),
        KObject::Vmar => {
            let p = process(k)?;
            p.vmar_signals = update(p.vmar_signals);
        }
        KObject::Resource => {
            let p = process(k)?;
            p.resource_signals = update(p.resource_signals);
        }
    }
    Ok(())
}

/// `zx_object_wait_one`: WAIT right; returns at once when a signal is asserted or the
/// deadline has passed (TIMED_OUT), else sleeps until the deadline. With one thread
/// nothing else can assert a signal meanwhile, so the sleep ends at the deadline.
pub fn wait_one(k: &mut Kernel, handle: u32, signals: u32, deadline: i64, observed: u64) -> ZxResult {
    let (object, _, _, rights) = describe(k, handle)?;
    check_rights(rights, rights::WAIT)?;
    let mut current = signals_of(k, object)?;
    let result = if current & signals != 0 {
        Ok(())
    } else {
        if deadline == ZX_TIME_INFINITE {
            log::warn!("zx_object_wait_one: waiting forever on signals {signals:#x} that nothing can raise");
        }
        while deadline > 0 && (crate::kernel::irq::uptime_nanos() as i64) < deadline {
            crate::kernel::irq::sleep_until_interrupt();
        }
        current = signals_of(k, object)?;
        if current & signals != 0 { Ok(()) } else { Err(ZxError::TimedOut) }
    };
    if observed != 0 {
        user::write_value(k, observed, &current.to_le_bytes())?;
    }
    result
}
