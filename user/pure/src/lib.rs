//! The pure parts of Ferrite's user space, with no syscalls, so they are unit-tested on
//! the host (`make test-host` runs `cargo test -p pure` for the host target):
//!
//! - [`elf`]: validation of an ELF64 program into a load plan (the launcher's first step);
//! - [`cpio`]: the boot archive (cpio "newc"), member lookup and listing;
//! - [`args`]: the argument block a new process finds on its stack;
//! - [`bootstrap`]: the handle message a new process finds on its bootstrap channel;
//! - [`line`]: the shell's line editor and command splitting.
#![no_std]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod args;
pub mod bootstrap;
pub mod cpio;
pub mod elf;
pub mod line;
