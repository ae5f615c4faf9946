//! The build script of every program in `bin/` (each Cargo.toml says
//! `build = "../../link.rs"`): links it with `user.ld`, a static ELF at 0x40_0000 with one
//! page-aligned PT_LOAD per permission set (ABI.md §2).

fn main() {
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        println!("cargo:warning=CARGO_MANIFEST_DIR is not set; user.ld not passed");
        return;
    };
    println!("cargo:rerun-if-changed=../../user.ld");
    println!("cargo:rerun-if-changed=../../link.rs");
    println!("cargo:rustc-link-arg-bins=-T{dir}/../../user.ld");
    // p_align 4 KiB: each segment needs only page alignment, not lld's 64 KiB default.
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    println!("cargo:rustc-link-arg-bins=-static");
}
