//! The architecture shell: everything that needs assembly, system registers or raw
//! pointers. Only built for the bare-metal AArch64 target; the pure core above it also
//! builds on the host for unit tests.

#[cfg(all(target_arch = "aarch64", target_os = "none"))]
pub mod aarch64;

/// Host unit tests only: an allocator with a per-thread budget (see the module).
#[cfg(test)]
pub mod host_alloc;
