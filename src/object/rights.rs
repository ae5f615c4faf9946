//! Rights arithmetic: the rights check every syscall makes, the rights of a child VMO,
//! the link between handle rights and mapping permissions, and printing rights.

use core::fmt;

use crate::abi::{child, rights, vm};
use crate::error::{ZxError, ZxResult};

/// `Ok` when `have` holds every bit of `need`, else `AccessDenied`.
///
/// This is step 3 of Zircon's lookup order (handle, type, rights): call it after the
/// object's type has been checked.
/// The refusal is marked cold, so that callers lay out the allowed case as the straight
/// path (no branch over it, no jump back).
#[inline]
pub fn check_rights(have: u32, need: u32) -> ZxResult {
    if have & need == need {
        return Ok(());
    }
    core::hint::cold_path();
    Err(ZxError::AccessDenied)
}

/// True when every bit of `subset` is in `set`.
pub fn is_subset(subset: u32, set: u32) -> bool {
    subset & !set == 0
}

/// The rights of the handle `zx_vmo_create_child` returns, from the source handle's
/// rights and the child options (NO_WRITE included).
///
/// 1. Start from the source rights plus GET_PROPERTY and SET_PROPERTY, so the caller
///    can always name the child.
/// 2. NO_WRITE removes WRITE.
/// 3. Otherwise a SNAPSHOT or SNAPSHOT_AT_LEAST_ON_WRITE child gets WRITE (it is a
///    private copy) and loses EXECUTE.
/// 4. A slice keeps what step 1 gave.
///
/// Example (VmoCloneTestCase.Rights): READ|DUPLICATE with a COW child →
/// READ|DUPLICATE|WRITE|GET_PROPERTY|SET_PROPERTY.
pub fn vmo_child_rights(source: u32, options: u32) -> u32 {
    // 1.
    let mut child_rights = source | rights::GET_PROPERTY | rights::SET_PROPERTY;
    if options & child::NO_WRITE != 0 {
        // 2.
        child_rights &= !rights::WRITE;
    } else if options & (child::SNAPSHOT | child::SNAPSHOT_AT_LEAST_ON_WRITE) != 0 {
        // 3.
        child_rights &= !rights::EXECUTE;
        child_rights |= rights::WRITE;
    }
    // 4. Slices: nothing more.
    child_rights
}

/// The `PERM_*` mapping permissions that a handle with `handle_rights` allows:
/// READ → PERM_READ, WRITE → PERM_WRITE, EXECUTE → PERM_EXECUTE.
///
/// For `zx_vmar_map` step 6, the allowed set is
/// `perms_allowed_by(vmo_rights) & perms_allowed_by(vmar_rights)`; a requested PERM
/// outside it is `AccessDenied`, and the set itself becomes the mapping's `max_perms`
/// (Zircon's CAN_MAP_* on the mapping), which caps later `zx_vmar_protect` calls.
pub fn perms_allowed_by(handle_rights: u32) -> u32 {
    let mut perms = 0;
    if handle_rights & rights::READ != 0 {
        perms |= vm::PERM_READ;
    }
    if handle_rights & rights::WRITE != 0 {
        perms |= vm::PERM_WRITE;
    }
    if handle_rights & rights::EXECUTE != 0 {
        perms |= vm::PERM_EXECUTE;
    }
    perms
}

/// The handle rights that `PERM_*` bits require: PERM_READ → READ, PERM_WRITE → WRITE,
/// PERM_EXECUTE → EXECUTE. Other bits are ignored.
pub fn rights_for_perms(perms: u32) -> u32 {
    let mut needed = 0;
    if perms & vm::PERM_READ != 0 {
        needed |= rights::READ;
    }
    if perms & vm::PERM_WRITE != 0 {
        needed |= rights::WRITE;
    }
    if perms & vm::PERM_EXECUTE != 0 {
        needed |= rights::EXECUTE;
    }
    needed
}

/// Each named right with Zircon's spelling, in bit order.
const RIGHT_NAMES: [(u32, &str); 21] = [
    (rights::DUPLICATE, "DUPLICATE"),
    (rights::TRANSFER, "TRANSFER"),
    (rights::READ, "READ"),
    (rights::WRITE, "WRITE"),
    (rights::EXECUTE, "EXECUTE"),
    (rights::MAP, "MAP"),
    (rights::GET_PROPERTY, "GET_PROPERTY"),
    (rights::SET_PROPERTY, "SET_PROPERTY"),
    (rights::ENUMERATE, "ENUMERATE"),
    (rights::DESTROY, "DESTROY"),
    (rights::SET_POLICY, "SET_POLICY"),
    (rights::GET_POLICY, "GET_POLICY"),
    (rights::SIGNAL, "SIGNAL"),
    (rights::SIGNAL_PEER, "SIGNAL_PEER"),
    (rights::WAIT, "WAIT"),
    (rights::INSPECT, "INSPECT"),
    (rights::MANAGE_JOB, "MANAGE_JOB"),
    (rights::MANAGE_PROCESS, "MANAGE_PROCESS"),
    (rights::MANAGE_THREAD, "MANAGE_THREAD"),
    (rights::APPLY_PROFILE, "APPLY_PROFILE"),
    (rights::SAME_RIGHTS, "SAME_RIGHTS"),
];

/// Rights written out for log lines, e.g. `READ|WRITE|0x400000`; see [`describe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RightsDisplay(pub u32);

/// A printable form of `rights`: names joined by `|`, unnamed bits as one hex number,
/// `NONE` for 0. Allocation-free, so usable in any log line.
pub fn describe(rights: u32) -> RightsDisplay {
    RightsDisplay(rights)
}

impl fmt::Display for RightsDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == rights::NONE {
            return f.write_str("NONE");
        }
        let mut unnamed = self.0;
        let mut separator = "";
        for (bit, name) in RIGHT_NAMES {
            if self.0 & bit != 0 {
                write!(f, "{separator}{name}")?;
                separator = "|";
                unnamed &= !bit;
            }
        }
        if unnamed != 0 {
            write!(f, "{separator}{unnamed:#x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::rights::*;
    use std::format;

    #[test]
    fn check_rights_needs_every_bit() {
        assert_eq!(check_rights(READ | WRITE, READ), Ok(()));
        assert_eq!(check_rights(READ | WRITE, READ | WRITE), Ok(()));
        assert_eq!(check_rights(0, 0), Ok(()));
        assert_eq!(check_rights(READ, READ | WRITE), Err(ZxError::AccessDenied));
        assert_eq!(check_rights(DEFAULT_VMO, EXECUTE), Err(ZxError::AccessDenied));
        assert_eq!(check_rights(DEFAULT_VMO, DUPLICATE | READ), Ok(()));
    }

    #[test]
    fn subsets() {
        assert!(is_subset(0, 0));
        assert!(is_subset(READ, READ | WRITE));
        assert!(!is_subset(READ | MAP, READ | WRITE));
        assert!(!is_subset(SAME_RIGHTS, DEFAULT_VMO));
    }

    #[test]
    fn cow_child_gains_write_and_properties_loses_execute() {
        // VmoCloneTestCase.Rights.
        assert_eq!(
            vmo_child_rights(READ | DUPLICATE, child::SNAPSHOT_AT_LEAST_ON_WRITE),
            READ | DUPLICATE | WRITE | GET_PROPERTY | SET_PROPERTY
        );
        assert_eq!(
            vmo_child_rights(READ | DUPLICATE | EXECUTE, child::SNAPSHOT),
            READ | DUPLICATE | WRITE | GET_PROPERTY | SET_PROPERTY
        );
        assert_eq!(vmo_child_rights(DEFAULT_VMO, child::SNAPSHOT | child::RESIZABLE), DEFAULT_VMO);
    }

    #[test]
    fn no_write_removes_write_and_keeps_execute() {
        assert_eq!(
            vmo_child_rights(DEFAULT_VMO | EXECUTE, child::SNAPSHOT | child::NO_WRITE),
            (DEFAULT_VMO | EXECUTE) & !WRITE
        );
        assert_eq!(
            vmo_child_rights(READ | DUPLICATE, child::SLICE | child::NO_WRITE),
            READ | DUPLICATE | GET_PROPERTY | SET_PROPERTY
        );
    }

    #[test]
    fn slice_keeps_source_rights_plus_properties() {
        assert_eq!(
            vmo_child_rights(READ | DUPLICATE | EXECUTE, child::SLICE),
            READ | DUPLICATE | EXECUTE | GET_PROPERTY | SET_PROPERTY
        );
        // No WRITE is added to a slice.
        assert_eq!(vmo_child_rights(READ | DUPLICATE, child::SLICE) & WRITE, 0);
    }

    #[test]
    fn perms_and_rights_map_both_ways() {
        assert_eq!(perms_allowed_by(DEFAULT_VMO), vm::PERM_READ | vm::PERM_WRITE);
        assert_eq!(perms_allowed_by(ROOT_VMAR), vm::PERM_MASK);
        assert_eq!(perms_allowed_by(MAP | DUPLICATE), 0);
        assert_eq!(rights_for_perms(vm::PERM_READ | vm::PERM_EXECUTE), READ | EXECUTE);
        assert_eq!(rights_for_perms(vm::SPECIFIC), 0);
        for perms in 0..=vm::PERM_MASK {
            assert_eq!(perms_allowed_by(rights_for_perms(perms)), perms);
        }
    }

    #[test]
    fn describe_names_bits() {
        assert_eq!(format!("{}", describe(0)), "NONE");
        assert_eq!(format!("{}", describe(READ | WRITE)), "READ|WRITE");
        assert_eq!(
            format!("{}", describe(DEFAULT_VMO)),
            "DUPLICATE|TRANSFER|READ|WRITE|MAP|GET_PROPERTY|SET_PROPERTY|SIGNAL|WAIT|INSPECT"
        );
        assert_eq!(format!("{}", describe(READ | (1 << 22))), "READ|0x400000");
        assert_eq!(format!("{}", describe(1 << 23)), "0x800000");
        assert_eq!(format!("{}", describe(SAME_RIGHTS)), "SAME_RIGHTS");
    }
}
