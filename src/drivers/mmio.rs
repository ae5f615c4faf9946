//! The one place where an address becomes a reference to device registers.
//!
//! Every driver describes its register block with `tock_registers::register_structs!`
//! (which also checks the layout at compile time) and reaches it through an
//! [`MmioBlock`]. The kernel maps device memory as Device-nGnRE and hands each driver
//! the *virtual* address of its block; [`MmioBlock::new`] is the single `unsafe` step
//! that turns that address into something the driver can dereference.
//!
//! A known caveat, shared with the rust-raspberrypi-OS-tutorials design this follows:
//! a `&T` over MMIO is marked `dereferenceable`, so the compiler may in principle insert
//! spurious reads. tock-registers only ever reads through volatile operations on
//! `UnsafeCell`s, and no register block here has read side effects that a spurious
//! read could trigger except the UART data registers and the GIC acknowledge register,
//! which are only read when the driver means to.

use core::marker::PhantomData;
use core::ops::Deref;

/// A register block of type `T` at a fixed virtual address.
///
/// `T` is a `#[repr(C)]` struct of tock-registers fields. `MmioBlock` is `Send` and
/// `Sync` (like a pointer to a device that any CPU may access); drivers whose methods
/// read, modify and write a register say so, and the caller serialises those calls.
pub struct MmioBlock<T> {
    base_va: usize,
    _registers: PhantomData<fn() -> T>,
}

impl<T> MmioBlock<T> {
    /// Wraps the register block at virtual address `base_va`.
    ///
    /// # Safety
    ///
    /// 1. `base_va` is aligned for `T` and the `size_of::<T>()` bytes from it are mapped
    ///    (as device memory, or as ordinary memory in host tests) for as long as the
    ///    returned value or anything created from it is alive.
    /// 2. Those bytes are the registers `T` describes (or memory standing in for them);
    ///    nothing else in the program treats them as ordinary Rust data.
    /// 3. If several `MmioBlock`s cover the same device, their users agree on who may
    ///    program what (the hardware, not the type system, arbitrates concurrent access).
    pub const unsafe fn new(base_va: usize) -> Self {
        Self { base_va, _registers: PhantomData }
    }

    /// The virtual address the block starts at.
    pub const fn base_va(&self) -> usize {
        self.base_va
    }
}

impl<T> Deref for MmioBlock<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `new`'s contract guarantees that `base_va` is aligned, mapped for the
        // lifetime of `self` and holds a `T`'s worth of registers; all fields of `T` are
        // tock-registers types, which only access the memory through volatile operations
        // on `UnsafeCell`s, so shared references are sound.
        unsafe { &*(self.base_va as *const T) }
    }
}

impl<T> core::fmt::Debug for MmioBlock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MmioBlock({:#x})", self.base_va)
    }
}

/// Ordinary memory standing in for a register block, for host tests of the drivers.
///
/// The memory is zeroed, 8-byte aligned and lives as long as the `FakeMmio`; tests
/// preset status bits with [`FakeMmio::set_word`] and check what a driver wrote with
/// [`FakeMmio::word`], including write-only registers.
#[cfg(test)]
pub(crate) struct FakeMmio {
    words: alloc::vec::Vec<u64>,
}

#[cfg(test)]
impl FakeMmio {
    /// Zeroed memory of at least `bytes` bytes.
    pub(crate) fn new(bytes: usize) -> Self {
        Self { words: alloc::vec![0u64; bytes.div_ceil(8)] }
    }

    /// The start address of the memory, to pass to a driver's `new`.
    pub(crate) fn base(&self) -> usize {
        self.words.as_ptr() as usize
    }

    /// Reads the 32-bit word at byte `offset`.
    pub(crate) fn word(&self, offset: usize) -> u32 {
        assert!(offset.is_multiple_of(4) && offset + 4 <= self.words.len() * 8);
        // SAFETY: the assertion keeps the aligned 4-byte read inside `words`; drivers
        // write the same memory only through volatile `UnsafeCell` accesses.
        unsafe { core::ptr::read_volatile((self.base() + offset) as *const u32) }
    }

    /// Writes the 32-bit word at byte `offset` (to model a status bit the device sets).
    pub(crate) fn set_word(&self, offset: usize, value: u32) {
        assert!(offset.is_multiple_of(4) && offset + 4 <= self.words.len() * 8);
        // SAFETY: as in `word`; the memory is only ever accessed with volatile
        // operations once a driver has been built over it.
        unsafe { core::ptr::write_volatile((self.base() + offset) as *mut u32, value) }
    }

    /// A register block of type `T` over this memory.
    pub(crate) fn block<T>(&self) -> MmioBlock<T> {
        assert!(core::mem::size_of::<T>() <= self.words.len() * 8);
        assert!(core::mem::align_of::<T>() <= 8);
        // SAFETY: the assertions establish size and alignment; the memory lives as long
        // as `self`, which every test keeps alive while it uses the block.
        unsafe { MmioBlock::new(self.base()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tock_registers::interfaces::{Readable, Writeable};
    use tock_registers::register_structs;
    use tock_registers::registers::ReadWrite;

    register_structs! {
        TwoRegisters {
            (0x0 => first: ReadWrite<u32>),
            (0x4 => _gap),
            (0x8 => second: ReadWrite<u32>),
            (0xc => @END),
        }
    }

    #[test]
    fn deref_reaches_the_register_at_its_offset() {
        let fake = FakeMmio::new(core::mem::size_of::<TwoRegisters>());
        let block: MmioBlock<TwoRegisters> = fake.block();
        block.second.set(0xdead_beef);
        block.first.set(7);
        assert_eq!(fake.word(8), 0xdead_beef);
        assert_eq!(fake.word(0), 7);
        assert_eq!(fake.word(4), 0);
        fake.set_word(8, 42);
        assert_eq!(block.second.get(), 42);
        assert_eq!(block.base_va(), fake.base());
    }
}
