//! Kernel objects as user space names them: per-process handle tables, rights and
//! object names.

pub mod handle_table;
pub mod name;
pub mod rights;
pub mod signal_word;
