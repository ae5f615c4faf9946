//! zx_object_get_info, zx_object_get/set_property, zx_object_signal(_peer).

use super::{Caller, lookup_vmo, user};
use crate::abi::{info, obj_type, prop, rights};
use crate::error::{ZxError, ZxResult};
use crate::kernel::object::{KHandle, KernelObject};
use crate::kernel::task::{Job, Process, Thread};
use crate::kernel::vm_object::{VmarObject, VmoObject};
use crate::kernel::{Kernel, aspace, cpu, with_kernel};
use crate::object::rights::check_rights;
use alloc::sync::Arc;
use alloc::vec::Vec;

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

/// The record size of each single-record topic; None for unknown topics.
fn record_size(topic: u32) -> Option<usize> {
    Some(match topic {
        info::HANDLE_BASIC => info::HANDLE_BASIC_SIZE,
        info::VMAR => info::VMAR_SIZE,
        info::KMEM_STATS => info::KMEM_STATS_SIZE,
        info::VMO => info::VMO_SIZE,
        info::PROCESS => info::PROCESS_SIZE,
        info::THREAD => info::THREAD_SIZE,
        info::TASK_STATS => info::TASK_STATS_SIZE,
        info::THREAD_STATS => info::THREAD_STATS_SIZE,
        info::HANDLE_COUNT => info::HANDLE_COUNT_SIZE,
        info::PROCESS_HANDLE_STATS => info::PROCESS_HANDLE_STATS_SIZE,
        info::JOB => info::JOB_SIZE,
        info::TIMER => info::TIMER_SIZE,
        info::FERRITE_OBJECT_COUNTS if crate::kernel::object::test_info_enabled() => info::FERRITE_OBJECT_COUNTS_SIZE,
        _ => return None,
    })
}

/// `zx_object_get_info`. An unknown topic is NOT_SUPPORTED before the handle is looked
/// up; a buffer smaller than the record is BUFFER_TOO_SMALL with actual 0, avail 1.
pub fn get_info(c: &Caller, handle: u32, topic: u32, buf: u64, buf_size: u64, actual: u64, avail: u64) -> ZxResult {
    match topic {
        info::HANDLE_VALID => return c.process().get_handle(handle).map(|_| ()),
        info::PROCESS_THREADS | info::JOB_CHILDREN | info::JOB_PROCESSES => {
            return koid_list(c, handle, topic, buf, buf_size, actual, avail);
        }
        _ => {}
    }
    let size = record_size(topic).ok_or(ZxError::NotSupported)?;
    let mut record = Record::<{ info::PROCESS_HANDLE_STATS_SIZE }>::new();
    let (object, have, _) = c.process().get_handle(handle)?;
    match topic {
        info::HANDLE_BASIC => {
            let props = if object.waitable() { 1 } else { 0 };
            record
                .u64(0, object.base().koid())
                .u32(8, have)
                .u32(12, object.obj_type())
                .u64(16, object.related_koid())
                .u32(24, props);
        }
        info::VMAR => {
            let vmar = object.get::<VmarObject>()?;
            let (base, len) = vmar.range();
            record.u64(0, base).u64(8, len);
        }
        info::KMEM_STATS => {
            object.get::<crate::kernel::object::Resource>()?;
            let stats = with_kernel(|k| kmem_stats(k));
            for (i, value) in stats.iter().enumerate() {
                record.u64(i * 8, *value);
            }
        }
        info::FERRITE_OBJECT_COUNTS => {
            object.get::<crate::kernel::object::Resource>()?;
            let (store_vmos, retired_vmo_objects) =
                with_kernel(|k| (crate::kernel::vm_object::vmo_count(k), k.vmo_objects.retired_count()));
            record.u64(0, store_vmos as u64);
            for ty in 1..crate::kernel::object::LIVE_OBJECT_TYPES {
                // Retired VMO objects wait for reuse: no live objects.
                let retired = if ty == crate::abi::obj_type::VMO as usize { retired_vmo_objects } else { 0 };
                record.u64(ty * 8, crate::kernel::object::live_objects(ty).saturating_sub(retired));
            }
            record.u64(31 * 8, with_kernel(|k| k.kernel_table_pages));
        }
        info::VMO => {
            let (vmo, handle_rights) = lookup_vmo(c, handle, 0)?;
            let (v, sharing) = with_kernel(|k| (k.vmos.info(vmo.id()), aspace::spaces_mapping(k, vmo.id())));
            record
                .u64(0, v.koid)
                .raw(8, &v.name)
                .u64(40, v.size_bytes)
                .u64(48, v.parent_koid)
                .u64(56, v.num_children)
                .u64(64, v.num_mappings)
                .u64(72, (sharing as u64).max(v.share_count))
                .u32(80, v.flags | info::VMO_VIA_HANDLE)
                .u64(88, v.committed_bytes)
                .u32(96, handle_rights)
                .u32(100, v.cache_policy);
        }
        info::PROCESS => {
            let p = object.get::<Process>()?;
            check_rights(have, rights::INSPECT)?;
            let (code, started, exited) = p.info();
            record.u64(0, code as u64);
            record.bytes[8] = started as u8;
            record.bytes[9] = exited as u8;
        }
        info::THREAD => {
            let t = object.get::<Thread>()?;
            check_rights(have, rights::INSPECT)?;
            let mask = (0..cpu::online_count()).fold(0u64, |m, i| m | (1 << i));
            record.u32(0, t.info_state()).u32(4, 0).u64(8, mask);
        }
        info::TASK_STATS => {
            let p = object.get::<Process>()?;
            check_rights(have, rights::INSPECT)?;
            if p.life() == crate::kernel::task::ProcLife::Dead {
                return Err(ZxError::BadState);
            }
            let stats = with_kernel(|k| task_stats(k, p.aspace_id()));
            for (i, value) in stats.iter().enumerate() {
                record.u64(i * 8, *value);
            }
        }
        info::THREAD_STATS => {
            let t = object.get::<Thread>()?;
            check_rights(have, rights::INSPECT)?;
            let (runtime, last_cpu) = t.stats();
            record.u64(0, runtime).u32(8, last_cpu.map_or(u32::MAX, |c| c as u32));
        }
        info::HANDLE_COUNT => {
            check_rights(have, rights::INSPECT)?;
            record.u32(0, object.base().handle_count());
        }
        info::PROCESS_HANDLE_STATS => {
            let p = object.get::<Process>()?;
            check_rights(have, rights::INSPECT)?;
            for kind in p.handle_types() {
                let at = (kind as usize % 64) * 4;
                let n = u32::from_le_bytes([
                    record.bytes[at],
                    record.bytes[at + 1],
                    record.bytes[at + 2],
                    record.bytes[at + 3],
                ]);
                record.u32(at, n + 1);
            }
        }
        info::TIMER => {
            let t = object.get::<crate::kernel::ipc::timer::Timer>()?;
            check_rights(have, rights::INSPECT)?;
            let (options, deadline, slack) = t.info();
            record.u32(0, options).u32(4, 0).u64(8, deadline as u64).u64(16, slack as u64);
        }
        _ => {
            let j = object.get::<Job>()?;
            check_rights(have, rights::INSPECT)?;
            let (code, exited) = j.info();
            record.u64(0, code as u64);
            record.bytes[8] = exited as u8;
        }
    }
    drop(object);
    let fits = buf_size >= size as u64;
    if fits {
        user::put_bytes(buf, &record.bytes[..size])?;
    }
    let count: u64 = if fits { 1 } else { 0 };
    if actual != 0 {
        user::put(actual, &count.to_le_bytes())?;
    }
    if avail != 0 {
        user::put(avail, &1u64.to_le_bytes())?;
    }
    if fits { Ok(()) } else { Err(ZxError::BufferTooSmall) }
}

/// The koid-array topics: as many records as fit, `avail` all of them.
#[allow(clippy::too_many_arguments)]
fn koid_list(c: &Caller, handle: u32, topic: u32, buf: u64, buf_size: u64, actual: u64, avail: u64) -> ZxResult {
    let koids: Vec<u64> = if topic == info::PROCESS_THREADS {
        c.process().get_object_with_rights::<Process>(handle, rights::ENUMERATE)?.thread_koids()
    } else {
        let job = c.process().get_object_with_rights::<Job>(handle, rights::ENUMERATE)?;
        if topic == info::JOB_CHILDREN { job.child_koids() } else { job.process_koids() }
    };
    let n = koids.len().min((buf_size / 8) as usize);
    if n > 0 {
        let mut bytes = Vec::new();
        bytes.try_reserve(n * 8).map_err(|_| ZxError::NoMemory)?;
        for k in &koids[..n] {
            bytes.extend_from_slice(&k.to_le_bytes());
        }
        user::put_bytes(buf, &bytes)?;
    }
    if actual != 0 {
        user::put(actual, &(n as u64).to_le_bytes())?;
    }
    if avail != 0 {
        user::put(avail, &(koids.len() as u64).to_le_bytes())?;
    }
    Ok(())
}

/// The nine KMEM_STATS figures: total, free, wired, heap total, heap free, VMO, MMU
/// overhead, IPC, other. The parts but IPC add up to the total; IPC (queued messages
/// and port packets) is a part of the heap's used bytes.
fn kmem_stats(k: &Kernel) -> [u64; 9] {
    let total = k.frames.total_bytes();
    let free = k.frames.free_bytes();
    let vmo = k.vmos.committed_frames_total() * crate::abi::PAGE_SIZE;
    let mmu = k.user_table_pages * crate::abi::PAGE_SIZE;
    let heap_total = k.heap_bytes;
    // The page lists the VMO store keeps for reuse and the retired VMO objects count as
    // free, like the heap's own small-block lists.
    let spare: u64 =
        k.vmos.spare_lists().held_blocks().map(|b| crate::arch::aarch64::heap::block_bytes(b) as u64).sum::<u64>()
            + k.vmo_objects.retired_bytes();
    let heap_free = heap_total.saturating_sub(crate::arch::aarch64::heap::used_bytes()) + spare;
    let wired = total.saturating_sub(free).saturating_sub(vmo).saturating_sub(mmu).saturating_sub(heap_total);
    let ipc = crate::kernel::ipc::ipc_bytes();
    [total, free, wired, heap_total, heap_free, vmo, mmu, ipc, 0]
}

/// TASK_STATS: mapped bytes, and committed pages of mapped VMOs split private/shared.
fn task_stats(k: &Kernel, id: u64) -> [u64; 4] {
    let Some(space) = k.aspaces.get(id) else { return [0; 4] };
    let (mut mapped, mut private, mut shared, mut scaled) = (0u64, 0u64, 0u64, 0u64);
    for m in space.vmar.iter() {
        mapped += m.len;
        let pages = k.vmos.committed_pages_in(m.vmo, m.vmo_offset, m.len);
        let sharers = aspace::spaces_mapping(k, m.vmo) as u64;
        if sharers <= 1 {
            private += pages * 4096;
        } else {
            shared += pages * 4096;
            scaled += pages * (4096 / sharers);
        }
    }
    [mapped, private, shared, scaled]
}

/// `zx_object_get_property`: GET_PROPERTY → property → size → type → copy.
pub fn get_property(c: &Caller, handle: u32, property: u32, value: u64, size: u64) -> ZxResult {
    let (object, have, _) = c.process().get_handle(handle)?;
    check_rights(have, rights::GET_PROPERTY)?;
    match property {
        prop::NAME => {
            if size < prop::NAME_LEN as u64 {
                return Err(ZxError::BufferTooSmall);
            }
            let name = object.name().unwrap_or([0u8; prop::NAME_LEN]);
            drop(object);
            user::put(value, &name)
        }
        prop::VMO_CONTENT_SIZE => {
            if size < 8 {
                return Err(ZxError::BufferTooSmall);
            }
            let vmo = object.get::<VmoObject>()?;
            let content = with_kernel(|k| k.vmos.content_size(vmo.id()));
            user::put(value, &content.to_le_bytes())
        }
        _ => Err(ZxError::InvalidArgs),
    }
}

/// `zx_object_set_property`: NULL value → SET_PROPERTY → property → size → type → copy.
pub fn set_property(c: &Caller, handle: u32, property: u32, value: u64, size: u64) -> ZxResult {
    if value == 0 {
        return Err(ZxError::InvalidArgs);
    }
    let (object, have, _) = c.process().get_handle(handle)?;
    check_rights(have, rights::SET_PROPERTY)?;
    match property {
        prop::NAME => {
            let len = (size as usize).min(prop::NAME_LEN - 1);
            let mut name = [0u8; prop::NAME_LEN];
            user::get(value, &mut name[..len])?;
            let end = name[..len].iter().position(|&b| b == 0).unwrap_or(len);
            object.set_name(&name[..end])
        }
        prop::VMO_CONTENT_SIZE => {
            if size < 8 {
                return Err(ZxError::BufferTooSmall);
            }
            let vmo = object.get::<VmoObject>()?;
            let mut bytes = [0u8; 8];
            user::get(value, &mut bytes)?;
            with_kernel(|k| k.vmos.set_content_size(vmo.id(), u64::from_le_bytes(bytes)));
            Ok(())
        }
        _ => Err(ZxError::InvalidArgs),
    }
}

/// `zx_object_signal` / `zx_object_signal_peer`: SIGNAL (SIGNAL_PEER) right, then only
/// user signals (and the object's own settable ones) may change. Inlined into the two
/// entries, where `peer` is a constant. `CHECKED`: whether the lock-order check is on
/// (its entry's table, `SYSCALL_TABLE_IN_USE`).
#[inline(always)]
pub fn signal<const CHECKED: bool>(c: &Caller, handle: u32, clear_mask: u32, set_mask: u32, peer: bool) -> ZxResult {
    // The checks and, without `peer`, the update run on the object borrowed under the
    // handle-table lock (no reference count): the update takes only higher-ranked locks
    // (signals, then port and scheduler through observers, VM for a VMO), and whatever
    // it drops (finished observers) it drops under the signal lock already.
    let handles = c.process().lookup_checked::<CHECKED>();
    let entry = handles.entry(handle)?;
    // An event's tag is tested right after the slot's occupied test, which the compiler
    // then folds into it (one compare of the tag for both); the rights test follows, and
    // for an event (always signalable) the two orders give the same error.
    // (`signal_user` then knows the type: the event's own code, inlined.)
    if !peer && let KHandle::Event(_) = &entry.object {
        check_rights(entry.rights, rights::SIGNAL)?;
        return entry.object.signal_user(clear_mask, set_mask);
    }
    let (object, have) = (&entry.object, entry.rights);
    check_rights(have, if peer { rights::SIGNAL_PEER } else { rights::SIGNAL })?;
    if !peer {
        // Waitable, the mask, then the update (a VMO's store too): for an event a compare
        // of the handle's type tag and the event's own code inlined (`KHandle::signal_user`).
        return object.signal_user(clear_mask, set_mask);
    }
    let header = object.as_dyn().header();
    if !matches!(header.facts.obj_type(), obj_type::CHANNEL | obj_type::EVENTPAIR) {
        return Err(ZxError::NotSupported);
    }
    // The mask first, then whether the peer is still there (ABI.md 38).
    if (clear_mask | set_mask) & !header.facts.signalable() != 0 {
        return Err(ZxError::InvalidArgs);
    }
    // A counted reference, used (and perhaps dropped last) after the unlock.
    let target = object.as_dyn().peer()?;
    drop(handles);
    update_peer_signals(target, clear_mask, set_mask)
}

/// `zx_object_signal_peer`'s update, on the peer (no lock held). The peer has the same
/// type (a channel or an eventpair), so `signal_user`'s checks pass as they did on the
/// handle's object.
#[inline(never)]
fn update_peer_signals(target: Arc<dyn KernelObject>, clear_mask: u32, set_mask: u32) -> ZxResult {
    target.signal_user(clear_mask, set_mask)
}
