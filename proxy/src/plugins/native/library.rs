//! Finding and opening a native plugin's shared library.
//!
//! Every load opens a private copy of the file: the dynamic loader hands back the library
//! already loaded for a path (or the same file), so a changed `.so` at the same path would
//! otherwise never be loaded again. The copy is unlinked once open; its mapping stays.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};

use crate::plugins::wasm::prepare_cache_dir;

/// Directories searched for a plugin given by bare name, after `LD_LIBRARY_PATH`: where
/// Debian's dynamic loader looks by default.
const SYSTEM_DIRS: &[&str] = &[
    "/usr/local/lib",
    "/usr/local/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/lib",
];

/// A `[[plugins]]` path that names a library on the library path (`routing` →
/// `librouting.so`), as pgdog's original config did: no directory and no extension.
pub fn is_bare_name(path: &Path) -> bool {
    path.components().count() == 1 && path.extension().is_none()
}

/// The file `lib<name>.so` on the library path, if any.
pub fn find_on_library_path(name: &str) -> Option<PathBuf> {
    find_in(name, std::env::var_os("LD_LIBRARY_PATH"))
}

fn find_in(name: &str, ld_library_path: Option<std::ffi::OsString>) -> Option<PathBuf> {
    let file = format!("lib{name}.so");
    let from_env = ld_library_path
        .map(|v| std::env::split_paths(&v).collect::<Vec<_>>())
        .unwrap_or_default();
    from_env
        .into_iter()
        .chain(SYSTEM_DIRS.iter().map(PathBuf::from))
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(&file))
        .find(|candidate| candidate.is_file())
}

/// Opens a private copy of `bytes` (the library file's content) with every symbol bound
/// now, so a missing dependency or host symbol fails the load, not a later call.
pub fn open_copy(
    bytes: &[u8],
    name: &str,
    hash: &str,
    cache_dir: Option<&Path>,
) -> Result<Library, String> {
    static SERIAL: AtomicU64 = AtomicU64::new(0);
    let dir = private_dir(cache_dir)?;
    let file = dir.join(format!(
        "{}-{}-{}-{}.so",
        sanitize(name),
        &hash[..12.min(hash.len())],
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&file, bytes)
        .map_err(|e| format!("cannot copy it to {}: {e}", file.display()))?;
    // SAFETY: loading runs the library's initialisers: native plugins are trusted code,
    // which the README states plainly.
    let opened = unsafe { Library::open(Some(&file), RTLD_NOW | RTLD_LOCAL) };
    let _ = std::fs::remove_file(&file);
    opened.map_err(|e| format!("cannot load it as a shared library: {e}"))
}

/// `<cache>/native`, or a per-user directory under the system temp dir; owned by pgDog's
/// user and closed to others, since what is in it gets loaded as code.
fn private_dir(cache_dir: Option<&Path>) -> Result<PathBuf, String> {
    let dir = match cache_dir {
        Some(dir) => dir.join("native"),
        None => std::env::temp_dir().join(format!("pgdog-native-{}", std::process::id())),
    };
    prepare_cache_dir(&dir)
        .map_err(|e| format!("cannot use {} for its loaded copy: {e}", dir.display()))?;
    Ok(dir)
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_are_single_components_without_extension() {
        assert!(is_bare_name(Path::new("routing")));
        assert!(!is_bare_name(Path::new("librouting.so")));
        assert!(!is_bare_name(Path::new("./routing")));
        assert!(!is_bare_name(Path::new("plugins/routing")));
    }

    #[test]
    fn library_path_is_searched() {
        let dir = std::env::temp_dir().join(format!("pgdog-libpath-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("libpgdog_probe_x.so"), b"").unwrap();
        let path = Some(dir.clone().into_os_string());
        assert_eq!(
            find_in("pgdog_probe_x", path.clone()),
            Some(dir.join("libpgdog_probe_x.so"))
        );
        assert_eq!(find_in("pgdog_surely_missing_lib", path), None);
        let _ = std::fs::remove_dir_all(dir);
    }
}
