//! Empty: the benchmarks are in ../core.rs.
#![no_std]
