//! zx_handle_close, zx_handle_duplicate, zx_handle_replace.

use super::{install_handle, process, publish_handle, release_object, retain_object};
use crate::abi::ZX_HANDLE_INVALID;
use crate::error::{ZxError, ZxResult};
use crate::kernel::Kernel;

/// `zx_handle_close`: closing ZX_HANDLE_INVALID is OK (like free(NULL)); no rights.
pub fn close(k: &mut Kernel, handle: u32) -> ZxResult {
    if handle == ZX_HANDLE_INVALID {
        return Ok(());
    }
    let removed = process(k)?.handles.remove(handle)?;
    release_object(k, removed.object);
    Ok(())
}

/// `zx_handle_duplicate`: BAD_HANDLE → ACCESS_DENIED (no DUPLICATE) → INVALID_ARGS
/// (rights not a subset) → the out-pointer.
pub fn duplicate(k: &mut Kernel, handle: u32, rights: u32, out: u64) -> ZxResult {
    // BAD_HANDLE before NO_MEMORY (the rights checks come after it when the heap is low).
    process(k)?.handles.get(handle)?;
    super::ensure_heap_headroom()?;
    let value = process(k)?.handles.duplicate(handle, rights)?;
    let object = process(k)?.handles.get(value)?.object;
    retain_object(k, object);
    publish_handle(k, value, out)
}

/// `zx_handle_replace`: the old handle is always consumed; no DUPLICATE needed.
pub fn replace(k: &mut Kernel, handle: u32, rights: u32, out: u64) -> ZxResult {
    let object = process(k)?.handles.get(handle)?.object;
    match process(k)?.handles.replace(handle, rights) {
        Ok(value) => publish_handle(k, value, out),
        Err(e) => {
            // The source handle is gone even though no new one was made.
            if e != ZxError::BadHandle {
                release_object(k, object);
            }
            Err(e)
        }
    }
}

/// Makes a handle for a new object (used by the VMO constructors).
pub fn give(k: &mut Kernel, object: crate::kernel::process::KObject, rights: u32, out: u64) -> ZxResult {
    install_handle(k, object, rights, out)
}
