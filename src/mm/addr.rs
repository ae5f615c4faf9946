//! Physical and virtual address newtypes, so the two are never mixed up.

use crate::abi::PAGE_SIZE;

/// A physical address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PhysAddr(pub u64);

/// A virtual address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct VirtAddr(pub u64);

macro_rules! address_methods {
    ($t:ident) => {
        impl $t {
            /// The raw value.
            pub const fn as_u64(self) -> u64 {
                self.0
            }
            /// True when the address is a multiple of the page size.
            pub const fn is_page_aligned(self) -> bool {
                self.0 % PAGE_SIZE == 0
            }
            /// Rounded down to a page boundary.
            pub const fn page_floor(self) -> Self {
                $t(self.0 & !(PAGE_SIZE - 1))
            }
            /// `self + bytes`, or `None` on overflow.
            pub const fn checked_add(self, bytes: u64) -> Option<Self> {
                match self.0.checked_add(bytes) {
                    Some(v) => Some($t(v)),
                    None => None,
                }
            }
        }
        impl core::fmt::Display for $t {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    };
}
address_methods!(PhysAddr);
address_methods!(VirtAddr);

/// `value` rounded up to a page multiple, or `None` on overflow.
pub const fn page_ceil(value: u64) -> Option<u64> {
    match value.checked_add(PAGE_SIZE - 1) {
        Some(v) => Some(v & !(PAGE_SIZE - 1)),
        None => None,
    }
}
