//! Links every program with `user/user.ld` (shared with the user/ workspace): a static ELF
//! at 0x40_0000 with one page-aligned
//! PT_LOAD per permission set (ABI.md §2). The path is made absolute here so the programs
//! link from any working directory, and a change to the script relinks them.

fn main() {
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        // Cargo always sets it; without it there is no way to name the script.
        println!("cargo:warning=CARGO_MANIFEST_DIR is not set; user.ld not passed");
        return;
    };
    println!("cargo:rerun-if-changed=../../user/user.ld");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-T{dir}/../../user/user.ld");
    // p_align 4 KiB: each segment needs only page alignment, not lld's 64 KiB default.
    println!("cargo:rustc-link-arg-bins=-zmax-page-size=4096");
    println!("cargo:rustc-link-arg-bins=-static");
}
