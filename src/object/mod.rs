//! Kernel objects as user space names them: per-process handle tables and rights.

pub mod handle_table;
pub mod rights;
