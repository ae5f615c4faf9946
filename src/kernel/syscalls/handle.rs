//! zx_handle_close, zx_handle_close_many, zx_handle_duplicate, zx_handle_replace.

use super::{Caller, publish_handle, user};
use crate::abi::ZX_HANDLE_INVALID;
use crate::error::{ZxError, ZxResult};
use crate::kernel::sync::with_order_check;
use crate::object::handle_table::derived_rights;

/// `zx_handle_close`: closing ZX_HANDLE_INVALID is OK (like free(NULL)); no rights.
/// `CHECKED`: whether the lock-order check is on (its entry's table, `SYSCALL_TABLE_IN_USE`), for the
/// handle table's lock.
#[inline(always)]
pub fn close<const CHECKED: bool>(c: &Caller, handle: u32) -> ZxResult {
    if handle == ZX_HANDLE_INVALID {
        return Ok(());
    }
    c.process().close_handle::<CHECKED>(handle)
}

/// `zx_handle_close_many`: chunks of 64 entries; every entry is closed even when one
/// names no handle (BAD_HANDLE at the end); an unreadable chunk stops the call.
pub fn close_many(c: &Caller, handles: u64, count: u64) -> ZxResult {
    let mut result = Ok(());
    let mut done = 0u64;
    while done < count {
        let n = (count - done).min(64) as usize;
        let mut raw = [0u8; 64 * 4];
        let at = done.checked_mul(4).and_then(|o| handles.checked_add(o)).ok_or(ZxError::InvalidArgs)?;
        user::get(at, &mut raw[..n * 4])?;
        for i in 0..n {
            let value = u32::from_le_bytes([raw[i * 4], raw[i * 4 + 1], raw[i * 4 + 2], raw[i * 4 + 3]]);
            if value != ZX_HANDLE_INVALID && with_order_check!(close(c, value)).is_err() {
                result = Err(ZxError::BadHandle);
            }
        }
        done += n as u64;
    }
    result
}

/// `zx_handle_duplicate`: BAD_HANDLE → ACCESS_DENIED (no DUPLICATE) → INVALID_ARGS
/// (rights not a subset) → the out-pointer.
pub fn duplicate(c: &Caller, handle: u32, rights: u32, out: u64) -> ZxResult {
    // The new handle is made under the table lock once the checks pass (a clone of the
    // handle: the object's own type, no trait object to turn back into one), and added
    // after it; on a later failure it is dropped with no lock held.
    let (fresh, new_rights) = c.process().with_handle(handle, |object, have, _| {
        if have & crate::abi::rights::DUPLICATE == 0 {
            return Err(ZxError::AccessDenied);
        }
        let new_rights = derived_rights(have, rights)?;
        Ok((object.clone(), new_rights))
    })??;
    super::ensure_heap_headroom()?;
    let value = c.process().add_khandle(fresh, new_rights)?;
    publish_handle(c, value, out)
}

/// `zx_handle_replace`: the old handle is always consumed; no DUPLICATE needed.
pub fn replace(c: &Caller, handle: u32, rights: u32, out: u64) -> ZxResult {
    let old = c.process().remove_handle(handle)?;
    let new_rights = match derived_rights(old.rights, rights) {
        Ok(r) => r,
        Err(e) => {
            drop(old);
            return Err(e);
        }
    };
    // A new handle (a new serial): waits through the old one end with CANCELED.
    let fresh = old.object.clone();
    drop(old);
    let value = c.process().add_khandle(fresh, new_rights)?;
    publish_handle(c, value, out)
}
