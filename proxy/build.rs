//! Puts the functions native plugins import from pgDog (`plugin-sdk/c/pgdog_plugin.h`)
//! in the dynamic symbol table of every executable built from this crate, so a plugin
//! library loaded with every symbol bound at once finds them.

fn main() {
    for symbol in ["pgdog_row_new", "pgdog_row_free"] {
        // Keep the definition even though nothing in pgDog calls it...
        println!("cargo:rustc-link-arg=-Wl,--undefined={symbol}");
        // ...and make it visible to libraries loaded at run time.
        println!("cargo:rustc-link-arg=-Wl,--export-dynamic-symbol={symbol}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
