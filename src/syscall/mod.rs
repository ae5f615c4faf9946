//! The pure half of the syscall layer: decoding registers into a typed call and
//! checking user pointers against user space. The handlers that act on a decoded call
//! live in `kernel::syscalls`.

pub mod decode;
pub mod user_ptr;

pub use decode::{Syscall, decode, keeps_return_state};
