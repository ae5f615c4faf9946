//! The one place where an address becomes device registers, and the one place where
//! device registers are read and written.
//!
//! Every driver describes its register block with `tock_registers::register_structs!`
//! (which also checks the layout at compile time) whose fields are this module's
//! [`ReadWrite`], [`ReadOnly`] and [`WriteOnly`], and reaches it through an
//! [`MmioBlock`]. The kernel maps device memory as Device-nGnRE and hands each driver
//! the *virtual* address of its block; [`MmioBlock::new`] is the single `unsafe` step
//! that turns that address into something the driver can dereference.
//!
//! ## One access, one `ldr`/`str` with a plain `[Xn]` address
//!
//! Under a hypervisor (KVM), a guest's access to an emulated device traps to EL2 as a
//! stage-2 data abort. The hypervisor can only emulate it when the syndrome describes
//! the access (ESR_EL2.ISV = 1), and the architecture provides that syndrome only for
//! single loads and stores of one general-purpose register *without writeback*: not
//! for `ldp`/`stp`, not for pre- or post-indexed forms. A volatile access in Rust does
//! not control the instruction: LLVM turned a loop of 64-bit stores to GICD_IROUTER
//! into `str x11, [x8], #8`, which KVM cannot emulate and answers with an external
//! abort (issue 10).
//!
//! So on the kernel target every register access calls one of eight out-of-line,
//! naked functions, `ferrite_mmio_read{8,16,32,64}` and `ferrite_mmio_write{8,16,32,64}`,
//! each exactly `ldr`/`str` of the register's width with the address in `x0` (`[x0]`,
//! no offset, no writeback) followed by `ret`, as Linux's `readl`/`writel` are written.
//! They live in `.text.mmio` under fixed symbol names, so `scripts/check-mmio.sh`
//! can check their disassembly in the linked kernel, and that no driver reaches device
//! memory any other way (no `tock_registers::registers` types, no `read_volatile`).
//! A call per access costs a few cycles next to the device access itself (or the trap
//! to the hypervisor). No barrier is added: Device-nGnRE accesses to one device stay
//! in program order, which is all the drivers rely on (none of them does DMA).
//!
//! On the host (unit tests with [`FakeMmio`]) the same types fall back to volatile
//! reads and writes of ordinary memory.
//!
//! A known caveat, shared with the rust-raspberrypi-OS-tutorials design this follows:
//! a `&T` over MMIO is marked `dereferenceable`, so the compiler may in principle insert
//! spurious reads. It has no load from these addresses to duplicate or hoist: the only
//! accesses are the calls above, opaque to it.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ops::Deref;

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::{RegisterLongName, UIntLike};

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
        // lifetime of `self` and holds a `T`'s worth of registers; the fields of `T` are
        // this module's register types, which only reach the memory through the
        // accessors, behind `UnsafeCell`s, so shared references are sound.
        unsafe { &*(self.base_va as *const T) }
    }
}

impl<T> core::fmt::Debug for MmioBlock<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MmioBlock({:#x})", self.base_va)
    }
}

// ─────────────────────────────────────────────────────────────────────────────
// The accessors: one instruction each
// ─────────────────────────────────────────────────────────────────────────────

/// The kernel's register accessors. Each is a naked function, so its body is exactly
/// the two instructions written here, whatever the optimiser does around the call.
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
mod accessors {
    macro_rules! mmio_read {
        ($name:ident, $ty:ty, $load:literal) => {
            /// Reads the register at `address` with one load of its width, `[x0]`.
            ///
            /// # Safety
            ///
            /// `address` is aligned for the type and lies in a mapped register block.
            // SAFETY: the symbol name is unique to this module (the check script finds
            // the accessors by it), and the body is a complete function per the AAPCS:
            // argument in x0, result in w0/x0, no stack, no other register touched.
            #[unsafe(naked)]
            #[unsafe(no_mangle)]
            #[unsafe(link_section = ".text.mmio")]
            pub unsafe extern "C" fn $name(address: *const $ty) -> $ty {
                core::arch::naked_asm!($load, "ret")
            }
        };
    }

    macro_rules! mmio_write {
        ($name:ident, $ty:ty, $store:literal) => {
            /// Writes `value` to the register at `address` with one store of its
            /// width, `[x0]`.
            ///
            /// # Safety
            ///
            /// `address` is aligned for the type and lies in a mapped register block.
            // SAFETY: as for the readers: a unique symbol and a complete function
            // (address in x0, value in w1/x1).
            #[unsafe(naked)]
            #[unsafe(no_mangle)]
            #[unsafe(link_section = ".text.mmio")]
            pub unsafe extern "C" fn $name(address: *mut $ty, value: $ty) {
                core::arch::naked_asm!($store, "ret")
            }
        };
    }

    mmio_read!(ferrite_mmio_read8, u8, "ldrb w0, [x0]");
    mmio_read!(ferrite_mmio_read16, u16, "ldrh w0, [x0]");
    mmio_read!(ferrite_mmio_read32, u32, "ldr w0, [x0]");
    mmio_read!(ferrite_mmio_read64, u64, "ldr x0, [x0]");
    mmio_write!(ferrite_mmio_write8, u8, "strb w1, [x0]");
    mmio_write!(ferrite_mmio_write16, u16, "strh w1, [x0]");
    mmio_write!(ferrite_mmio_write32, u32, "str w1, [x0]");
    mmio_write!(ferrite_mmio_write64, u64, "str x1, [x0]");
}

mod sealed {
    pub trait Sealed {}
}

/// A register width: `u8`, `u16`, `u32` or `u64`, with its single-access load and store.
pub trait MmioValue: UIntLike + sealed::Sealed {
    /// Reads the register at `address`.
    ///
    /// # Safety
    ///
    /// `address` is aligned for `Self` and lies in a mapped register block (or, on the
    /// host, in memory standing in for one).
    unsafe fn load(address: *const Self) -> Self;

    /// Writes `value` to the register at `address`.
    ///
    /// # Safety
    ///
    /// As for [`load`](Self::load).
    unsafe fn store(address: *mut Self, value: Self);
}

macro_rules! mmio_value {
    ($ty:ty, $read:ident, $write:ident) => {
        impl sealed::Sealed for $ty {}

        impl MmioValue for $ty {
            #[inline]
            unsafe fn load(address: *const Self) -> Self {
                #[cfg(all(target_arch = "aarch64", target_os = "none"))]
                // SAFETY: the caller guarantees an aligned address inside a mapped
                // register block; the accessor is one load from it.
                let value = unsafe { accessors::$read(address) };
                #[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
                // SAFETY: as above; on the host the block is ordinary memory.
                let value = unsafe { core::ptr::read_volatile(address) };
                value
            }

            #[inline]
            unsafe fn store(address: *mut Self, value: Self) {
                #[cfg(all(target_arch = "aarch64", target_os = "none"))]
                // SAFETY: the caller guarantees an aligned address inside a mapped
                // register block; the accessor is one store to it.
                unsafe {
                    accessors::$write(address, value)
                };
                #[cfg(not(all(target_arch = "aarch64", target_os = "none")))]
                // SAFETY: as above; on the host the block is ordinary memory.
                unsafe {
                    core::ptr::write_volatile(address, value)
                };
            }
        }
    };
}

mmio_value!(u8, ferrite_mmio_read8, ferrite_mmio_write8);
mmio_value!(u16, ferrite_mmio_read16, ferrite_mmio_write16);
mmio_value!(u32, ferrite_mmio_read32, ferrite_mmio_write32);
mmio_value!(u64, ferrite_mmio_read64, ferrite_mmio_write64);

// ─────────────────────────────────────────────────────────────────────────────
// Register types for `register_structs!`
// ─────────────────────────────────────────────────────────────────────────────

macro_rules! register_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Only ever reached through a reference into an [`MmioBlock`] (there is no
        /// constructor), so its address is aligned and mapped. `repr(transparent)` over
        /// the value: the register block's layout is the device's.
        #[repr(transparent)]
        pub struct $name<T: MmioValue, R: RegisterLongName = ()> {
            value: UnsafeCell<T>,
            register: PhantomData<R>,
        }
    };
}

macro_rules! readable {
    ($name:ident) => {
        impl<T: MmioValue, R: RegisterLongName> Readable for $name<T, R> {
            type T = T;
            type R = R;

            #[inline]
            fn get(&self) -> T {
                // SAFETY: `self` lies inside a register block an `MmioBlock` (or a
                // `FakeMmio`) vouches for, aligned for `T` (see the type's docs).
                unsafe { T::load(self.value.get()) }
            }
        }
    };
}

macro_rules! writeable {
    ($name:ident) => {
        impl<T: MmioValue, R: RegisterLongName> Writeable for $name<T, R> {
            type T = T;
            type R = R;

            #[inline]
            fn set(&self, value: T) {
                // SAFETY: as in `get`: an aligned register inside a vouched-for block.
                unsafe { T::store(self.value.get(), value) }
            }
        }
    };
}

register_type!(
    /// A register the driver reads and writes.
    ReadWrite
);
register_type!(
    /// A register the driver only reads.
    ReadOnly
);
register_type!(
    /// A register the driver only writes.
    WriteOnly
);
readable!(ReadWrite);
writeable!(ReadWrite);
readable!(ReadOnly);
writeable!(WriteOnly);

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
        // write the same memory only through the register types, whose host fallback
        // is a volatile access through an `UnsafeCell`.
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
    use tock_registers::interfaces::ReadWriteable;
    use tock_registers::{register_bitfields, register_structs};

    register_bitfields! {u32,
        CONTROL [
            ENABLE OFFSET(0) NUMBITS(1) [],
            MODE OFFSET(4) NUMBITS(2) []
        ]
    }

    register_structs! {
        TwoRegisters {
            (0x0 => first: ReadWrite<u32>),
            (0x4 => _gap),
            (0x8 => second: ReadWrite<u32>),
            (0xc => @END),
        },

        EveryWidth {
            (0x00 => byte: ReadWrite<u8>),
            (0x01 => _gap0),
            (0x02 => half: ReadWrite<u16>),
            (0x04 => status: ReadOnly<u32>),
            (0x08 => wide: ReadWrite<u64>),
            (0x10 => control: ReadWrite<u32, CONTROL::Register>),
            (0x14 => command: WriteOnly<u32>),
            (0x18 => @END),
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

    #[test]
    fn register_types_are_as_wide_as_their_value() {
        use core::mem::{align_of, size_of};
        assert_eq!(size_of::<ReadWrite<u8>>(), 1);
        assert_eq!(size_of::<ReadOnly<u16>>(), 2);
        assert_eq!(size_of::<WriteOnly<u32, CONTROL::Register>>(), 4);
        assert_eq!((size_of::<ReadWrite<u64>>(), align_of::<ReadWrite<u64>>()), (8, 8));
        assert_eq!(size_of::<EveryWidth>(), 0x18);
    }

    #[test]
    fn each_width_touches_only_its_own_bytes() {
        let fake = FakeMmio::new(core::mem::size_of::<EveryWidth>());
        let block: MmioBlock<EveryWidth> = fake.block();
        block.byte.set(0xab);
        block.half.set(0x1234);
        assert_eq!(fake.word(0), 0x1234_00ab); // little-endian: byte 0, half at 2
        block.wide.set(0x0123_4567_89ab_cdef);
        assert_eq!((fake.word(8), fake.word(12)), (0x89ab_cdef, 0x0123_4567));
        assert_eq!(block.wide.get(), 0x0123_4567_89ab_cdef);
        assert_eq!((block.byte.get(), block.half.get()), (0xab, 0x1234));
        fake.set_word(4, 0x5a5a);
        assert_eq!(block.status.get(), 0x5a5a);
        block.command.set(9);
        assert_eq!(fake.word(0x14), 9);
    }

    #[test]
    fn fields_read_write_and_modify() {
        let fake = FakeMmio::new(core::mem::size_of::<EveryWidth>());
        let block: MmioBlock<EveryWidth> = fake.block();
        fake.set_word(0x10, 0xff00);
        block.control.modify(CONTROL::ENABLE::SET + CONTROL::MODE.val(2));
        assert_eq!(fake.word(0x10), 0xff21);
        assert!(block.control.is_set(CONTROL::ENABLE));
        assert_eq!(block.control.read(CONTROL::MODE), 2);
        block.control.write(CONTROL::MODE.val(1));
        assert_eq!(fake.word(0x10), 0x10);
    }
}
