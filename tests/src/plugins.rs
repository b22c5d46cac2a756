//! The wasm plugins the suites load: the reference plugins in `plugins/` and the test
//! plugin `tests/plugins/chaos`, built for wasm32-wasip2 by `tests/run` before the tests
//! (or here, once per test process, when a test runs without it).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// Every plugin crate the suites use.
const PLUGINS: &[&str] = &[
    "tenant-router",
    "read-write-split",
    "query-guard",
    "chaos-plugin",
    "legacy-plugin",
];

/// Serialises the fallback build: one cargo at a time.
static BUILD: Mutex<()> = Mutex::new(());

/// The built component of plugin crate `name` (e.g. `tenant-router`).
pub fn plugin_wasm(name: &str) -> PathBuf {
    let file = format!("{}.wasm", name.replace('-', "_"));
    if let Some(dir) = std::env::var_os("PGDOG_PLUGINS_DIR") {
        let path = PathBuf::from(dir).join(&file);
        assert!(path.is_file(), "{} is missing", path.display());
        return path;
    }
    let target = target_dir();
    let built = target.join("wasm32-wasip2/release").join(&file);
    if built.is_file() && !stale(&built) {
        return built;
    }
    // Not built by tests/run: build into a target dir of its own, since the one this test
    // was built in is locked by the cargo running it.
    let _one = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let own = target.join("plugin-build");
    let path = own.join("wasm32-wasip2/release").join(&file);
    if path.is_file() && !stale(&path) {
        return path;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", &own);
    for p in PLUGINS {
        cmd.args(["-p", p]);
    }
    let status = cmd.status().expect("run cargo to build the plugins");
    assert!(status.success(), "building the wasm plugins failed (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)");
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// target/ of the workspace: this test executable is target/<profile>/deps/<test>.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .expect("test executable is not in target/<profile>/deps")
        .to_path_buf()
}

/// A component older than the plugin sources or the WIT: rebuilt rather than tested stale.
fn stale(wasm: &Path) -> bool {
    let Ok(built) = wasm.metadata().and_then(|m| m.modified()) else {
        return true;
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let roots = ["wit", "plugin-sdk/src", "plugins", "tests/plugins"].map(|r| workspace.join(r));
    roots.iter().any(|r| newer_than(r, built))
}

fn newer_than(path: &Path, than: std::time::SystemTime) -> bool {
    let Ok(meta) = path.metadata() else {
        return false;
    };
    if meta.is_dir() {
        let Ok(entries) = std::fs::read_dir(path) else {
            return false;
        };
        return entries
            .flatten()
            .any(|e| e.file_name() != "target" && newer_than(&e.path(), than));
    }
    meta.modified().is_ok_and(|m| m > than)
}

/// A `[[plugins]]` block. `config` is the inside of an inline TOML table (`a = 1, b = "x"`).
pub fn plugin_toml(name: &str, path: &Path, config: &str, extra: &str) -> String {
    format!(
        "[[plugins]]\nname = \"{name}\"\npath = \"{}\"\nconfig = {{ {config} }}\n{extra}\n",
        path.display()
    )
}

/// How a wasm plugin's `{:?}` prints the `placed-key` pgDog gives integer key `k` among
/// `shards` shards: the value and the shard pgDog's own hash puts it in.
pub fn placed_integer_key(k: i64, shards: usize) -> String {
    use pgdog::router::hash::{shard_for, KeyType, KeyValue};
    let shard = shard_for(&KeyValue::Int(k), KeyType::BigInt, shards);
    format!("PlacedKey {{ value: KeyValue::Key(ShardKey::Integer({k})), shard: Some({shard}) }}")
}

/// Builds the native (C ABI) plugin whose C source is `source` (relative to the workspace,
/// e.g. `plugins/c-guard/guard.c`) into a shared library with the system C compiler,
/// against `plugin-sdk/c/pgdog_plugin.h`. `defines` become `-D` flags and part of the file
/// name, so builds with different defines can live side by side. Built once per test
/// process, atomically (test processes run in parallel).
pub fn plugin_native(source: &str, defines: &[&str]) -> PathBuf {
    static BUILT: Mutex<Vec<(String, PathBuf)>> = Mutex::new(Vec::new());
    let key = format!("{source} {}", defines.join(" "));
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, path)) = built.iter().find(|(k, _)| *k == key) {
        return path.clone();
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let dir = target_dir().join("plugin-build").join("native");
    std::fs::create_dir_all(&dir).expect("create the native plugin build dir");
    let stem = Path::new(source)
        .file_stem()
        .expect("a C source file")
        .to_string_lossy()
        .into_owned();
    let suffix: String = defines
        .iter()
        .map(|d| format!("-{}", d.replace(|c: char| !c.is_ascii_alphanumeric(), "_")))
        .collect();
    let path = dir.join(format!("lib{stem}{suffix}.so"));
    let tmp = dir.join(format!("lib{stem}{suffix}.so.{}", std::process::id()));
    let mut cmd = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()));
    cmd.args([
        "-std=c11",
        "-D_DEFAULT_SOURCE",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-shared",
        "-fPIC",
        "-O2",
    ])
    .arg("-I")
    .arg(workspace.join("plugin-sdk/c"));
    for d in defines {
        cmd.arg(format!("-D{d}"));
    }
    cmd.arg("-o").arg(&tmp).arg(workspace.join(source));
    let status = cmd
        .status()
        .expect("run the C compiler (cc) to build a native plugin");
    assert!(status.success(), "compiling {source} failed");
    std::fs::rename(&tmp, &path).expect("move the built plugin into place");
    built.push((key, path.clone()));
    path
}
