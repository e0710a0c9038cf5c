//! Link settings that only the `sandbot` binary of a dev build takes.
//!
//! Packed relative relocations (`-z pack-relative-relocs`, DT_RELR): a
//! position-independent binary keeps one 24-byte `.rela.dyn` entry for every
//! pointer in its data (vtables, string tables), 10 MB of a debug build; RELR
//! packs them into bitmaps of a few hundred KB. The loader must know RELR:
//! glibc 2.36 and later say so with the symbol version `GLIBC_ABI_DT_RELR`,
//! which the linker then requires. A debug binary runs where it was built,
//! so it takes RELR only when this machine's C library has that version; the
//! shipped release binary (`make release`) keeps plain relocations so that it
//! still runs on glibc 2.34.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    let host = std::env::var("HOST").unwrap_or_default();
    let profile = std::env::var("PROFILE").unwrap_or_default();
    if profile == "debug" && target == host && target.ends_with("-linux-gnu") && loader_takes_relr()
    {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

/// Does this machine's glibc define `GLIBC_ABI_DT_RELR` (2.36 and later)?
fn loader_takes_relr() -> bool {
    const NEEDLE: &[u8] = b"GLIBC_ABI_DT_RELR";
    [
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib/aarch64-linux-gnu/libc.so.6",
        "/lib64/libc.so.6",
        "/usr/lib64/libc.so.6",
        "/usr/lib/libc.so.6",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.exists())
    .and_then(|p| std::fs::read(p).ok())
    .is_some_and(|bytes| bytes.windows(NEEDLE.len()).any(|w| w == NEEDLE))
}
