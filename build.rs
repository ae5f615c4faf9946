//! Links the kernel image and the kernel test images with linker.ld (high-half layout,
//! page-aligned W^X sections). Only for the bare-metal target: host builds (unit tests)
//! link normally. Done here rather than in .cargo/config.toml so that the flag does not
//! leak into the EL0 crate under tests/user, and so a change to the script relinks.

fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    println!("cargo:rerun-if-changed=linker.ld");
    if target.ends_with("-none") || target.ends_with("-none-softfloat") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
        println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
        println!("cargo:rustc-link-arg-tests=-T{dir}/linker.ld");
    }
}
