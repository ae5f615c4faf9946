//! zx_debug_write and zx_cache_flush.

use super::user;
use crate::abi::cache_flush as flush;
use crate::arch::aarch64::cache::{self, DataOp};
use crate::arch::aarch64::mmu::{self, KernelTableMemory};
use crate::error::{ZxError, ZxResult};
use crate::kernel::{Kernel, with_kernel};
use crate::mm::page_table::descriptor_address;
use crate::mm::{PhysAddr, VirtAddr};
use crate::syscall::user_ptr::check_range;

/// The most bytes one `zx_debug_write` writes (ABI.md section 4).
const DEBUG_WRITE_MAX: usize = 4096;

/// `zx_debug_write`: at most 4096 bytes, verbatim to the console. The pointer must be a
/// user address even for 0 bytes.
pub fn debug_write(buf: u64, len: u64) -> ZxResult {
    let len = (len as usize).min(DEBUG_WRITE_MAX);
    check_range(buf, len as u64, true)?;
    let mut bytes = [0u8; DEBUG_WRITE_MAX];
    user::get(buf, &mut bytes[..len])?;
    crate::drivers::console::write_bytes(&bytes[..len]);
    Ok(())
}

/// `zx_cache_flush`: cache maintenance over a user range. Pages never mapped hold no
/// cached data and are skipped.
pub fn cache_flush(c: &super::Caller, addr: u64, len: u64, options: u32) -> ZxResult {
    // 1. The option set must be one Zircon accepts.
    let valid = [
        flush::INSN,
        flush::DATA,
        flush::DATA | flush::INSN,
        flush::DATA | flush::INVALIDATE,
        flush::DATA | flush::INVALIDATE | flush::INSN,
    ];
    if !valid.contains(&options) {
        return Err(ZxError::InvalidArgs);
    }
    // 2. The range must lie wholly inside user space.
    check_range(addr, len, true)?;
    // 3. Maintain what is mapped: pages never mapped hold no cached data. The walk skips
    //    unmapped stretches a table at a time, so a huge sparse range costs little.
    let id = c.process().aspace_id();
    with_kernel(|k| flush_mapped(k, id, addr, len, options))?;
    if options & flush::INSN != 0 {
        cache::invalidate_all_instructions();
    }
    Ok(())
}

/// Cache maintenance of what address space `id` maps in `[addr, addr + len)`.
fn flush_mapped(k: &mut Kernel, id: u64, addr: u64, len: u64, options: u32) -> ZxResult {
    let Kernel { aspaces, frames, user_table_pages, .. } = k;
    let space = aspaces.get_mut(id).ok_or(ZxError::BadState)?;
    let mut tables = KernelTableMemory { frames, table_pages: user_table_pages };
    let end = addr + len;
    space.page_table.for_each_leaf_in(VirtAddr(addr), len, &mut tables, |va, desc, size| {
        let (from, to) = (addr.max(va.0), end.min(va.0 + size));
        let pa = PhysAddr(descriptor_address(desc).0 + (from - va.0));
        // Only RAM is cached; device pages of a physical VMO need nothing.
        if crate::kernel::memory::RAM.get().is_some_and(|ram| ram.contains(pa)) {
            let kva = mmu::phys_to_virt(pa).0;
            if options & flush::DATA != 0 {
                let op = if options & flush::INVALIDATE != 0 { DataOp::CleanInvalidate } else { DataOp::Clean };
                cache::data_range(op, kva, to - from);
            }
            if options & flush::INSN != 0 {
                cache::data_range(DataOp::CleanToPou, kva, to - from);
            }
        }
    });
    Ok(())
}

/// `zx_deadline_after`: now + ns, saturating to ZX_TIME_INFINITE / INFINITE_PAST.
pub fn deadline_after(ns: i64) -> i64 {
    let now = crate::kernel::irq::uptime_nanos() as i64;
    now.saturating_add(ns)
}

/// `zx_event_create`: options must be 0.
pub fn event_create(c: &super::Caller, options: u32, out: u64) -> ZxResult {
    if options != 0 {
        return Err(ZxError::InvalidArgs);
    }
    super::give(c, crate::kernel::ipc::event::Event::new(), crate::abi::rights::DEFAULT_EVENT, out)
}

/// `zx_eventpair_create`: options must be 0 (else NOT_SUPPORTED, as Zircon says, with
/// nothing written); both handles or none.
pub fn eventpair_create(c: &super::Caller, options: u32, out0: u64, out1: u64) -> ZxResult {
    if options != 0 {
        return Err(ZxError::NotSupported);
    }
    let (a, b) = crate::kernel::ipc::event::EventPair::create();
    let rights = crate::abi::rights::DEFAULT_EVENTPAIR;
    let h0 = c.process().add_handle(a, rights)?;
    let h1 = match c.process().add_handle(b, rights) {
        Ok(h) => h,
        Err(e) => {
            drop(c.process().remove_handle(h0));
            return Err(e);
        }
    };
    let written = super::user::put(out0, &h0.to_le_bytes()).and_then(|_| super::user::put(out1, &h1.to_le_bytes()));
    if let Err(e) = written {
        drop(c.process().remove_handle(h0));
        drop(c.process().remove_handle(h1));
        return Err(e);
    }
    Ok(())
}
