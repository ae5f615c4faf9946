//! User pointer ranges: a buffer `[addr, addr + len)` is acceptable only when it lies
//! wholly inside user space (ABI.md section 2). The copy itself may still fault (the page
//! may be unmapped or read-only); that is the arch layer's business.

use crate::abi::{USER_BASE, USER_END};
use crate::error::{ZxError, ZxResult};

/// Checks a user buffer of `len` bytes at `addr`. An empty buffer needs no address
/// unless `pointer_required` (Zircon still range-checks some pointers at length 0).
pub fn check_range(addr: u64, len: u64, pointer_required: bool) -> ZxResult {
    if len == 0 && !pointer_required {
        return Ok(());
    }
    let end = addr.checked_add(len).ok_or(ZxError::InvalidArgs)?;
    if addr < USER_BASE || end > USER_END {
        return Err(ZxError::InvalidArgs);
    }
    Ok(())
}

/// Checks an out-pointer to a value of `size` bytes.
pub fn check_out(addr: u64, size: u64) -> ZxResult {
    check_range(addr, size, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_must_lie_in_user_space() {
        assert_eq!(check_range(0, 8, false), Err(ZxError::InvalidArgs));
        assert_eq!(check_range(1, 8, false), Err(ZxError::InvalidArgs));
        assert_eq!(check_range(USER_BASE - 8, 16, false), Err(ZxError::InvalidArgs));
        assert_eq!(check_range(USER_END, 8, false), Err(ZxError::InvalidArgs));
        assert_eq!(check_range(USER_END - 8, 16, false), Err(ZxError::InvalidArgs));
        assert_eq!(check_range(0xffff_0000_0000_0000, 8, false), Err(ZxError::InvalidArgs));
        assert_eq!(check_range(u64::MAX - 4095, 8192, false), Err(ZxError::InvalidArgs));
        assert_eq!(check_range(USER_BASE, 8, false), Ok(()));
        assert_eq!(check_range(USER_END - 8, 8, false), Ok(()));
    }

    #[test]
    fn empty_buffers_need_an_address_only_when_required() {
        assert_eq!(check_range(0, 0, false), Ok(()));
        assert_eq!(check_range(0, 0, true), Err(ZxError::InvalidArgs));
        assert_eq!(check_range(USER_BASE, 0, true), Ok(()));
    }
}
