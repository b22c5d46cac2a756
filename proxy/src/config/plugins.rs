//! `[[plugins]]`: the routing plugin chain, in the order plugins are asked.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What happens to a statement when a plugin fails (traps, times out, runs out of memory,
/// or returns a decision pgDog cannot use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// The client gets an ErrorResponse: a plugin that guards data must not be bypassed.
    #[default]
    FailClosed,
    /// The plugin is skipped as if it had passed, and the error is logged.
    FailOpen,
}

/// One `[[plugins]]` entry.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// Names the plugin in logs, errors and `SHOW PLUGINS`.
    pub name: String,
    /// A `.wasm` component, a native `.so` library, or a bare name (`routing` →
    /// `librouting.so` on the library path). Relative paths are relative to the directory
    /// of pgdog.toml.
    pub path: PathBuf,
    /// Handed to the plugin's `init` (as JSON).
    #[serde(default)]
    pub config: toml::Table,
    #[serde(default)]
    pub on_error: OnError,
    /// The longest one call into the plugin may take.
    #[serde(default = "PluginConfig::default_timeout_ms")]
    pub timeout_ms: u64,
    /// The most linear memory one instance of the plugin may grow to.
    #[serde(default = "PluginConfig::default_memory_mb")]
    pub memory_mb: u64,
}

/// The most memory a plugin instance can be given; the engine reserves address space for
/// this much per instance slot.
pub const MAX_MEMORY_MB: u64 = 1024;

impl PluginConfig {
    fn default_timeout_ms() -> u64 {
        100
    }

    fn default_memory_mb() -> u64 {
        64
    }

    /// The plugin's configuration table as the JSON text `init` receives.
    pub fn config_json(&self) -> String {
        // A TOML table always has a JSON form (datetimes become strings).
        serde_json::to_string(&self.config).unwrap_or_else(|_| "{}".to_string())
    }

    /// A native (shared library) plugin rather than a wasm component.
    pub fn is_native(&self) -> bool {
        crate::plugins::native::is_bare_name(&self.path) || self.is_shared_library()
    }

    fn is_shared_library(&self) -> bool {
        let name = self.path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name.ends_with(".so") || name.contains(".so.")
    }

    /// Makes a relative `path` relative to the directory holding pgdog.toml, and finds a
    /// bare library name on the library path (left as it is when not found: loading says
    /// so).
    pub fn resolve(&mut self, pgdog_toml: &Path) {
        if crate::plugins::native::is_bare_name(&self.path) {
            let name = self.path.to_string_lossy().into_owned();
            if let Some(found) = crate::plugins::native::find_on_library_path(&name) {
                self.path = found;
            }
            return;
        }
        if self.path.is_relative() {
            if let Some(dir) = pgdog_toml.parent() {
                self.path = dir.join(&self.path);
            }
        }
    }
}

/// Problems a chain of plugins has that TOML types alone do not catch.
pub fn validate(plugins: &[PluginConfig]) -> Option<String> {
    for (i, plugin) in plugins.iter().enumerate() {
        if plugin.name.trim().is_empty() {
            return Some(format!("[[plugins]] entry {}: key `name` is empty", i + 1));
        }
        let what = format!("[[plugins]] \"{}\"", plugin.name);
        if plugins[..i].iter().any(|p| p.name == plugin.name) {
            return Some(format!("{what}: the name is used by an earlier entry"));
        }
        if plugin.is_native() {
            if let Some(problem) = native_limits(plugin) {
                return Some(format!("{what}: {problem}"));
            }
            continue;
        }
        if plugin.path.extension().and_then(|e| e.to_str()) != Some("wasm") {
            return Some(format!(
                "{what}: key `path` must name a WebAssembly component (.wasm), a native plugin library (.so) or a library by bare name, got {}",
                plugin.path.display()
            ));
        }
        if plugin.timeout_ms == 0 {
            return Some(format!("{what}: key `timeout_ms` must be at least 1"));
        }
        if !(1..=MAX_MEMORY_MB).contains(&plugin.memory_mb) {
            return Some(format!(
                "{what}: key `memory_mb` must be between 1 and {MAX_MEMORY_MB}"
            ));
        }
    }
    None
}

/// Keys a native plugin cannot honour: it runs as machine code in pgDog's process, and
/// the C ABI's `pgdog_init` takes no arguments.
fn native_limits(plugin: &PluginConfig) -> Option<String> {
    if !plugin.config.is_empty() {
        return Some(
            "key `config` cannot be used with a native plugin: the C ABI passes it no configuration".into(),
        );
    }
    if plugin.timeout_ms != PluginConfig::default_timeout_ms() {
        return Some(
            "key `timeout_ms` cannot be enforced on a native plugin (it runs as machine code in pgDog's process)".into(),
        );
    }
    if plugin.memory_mb != PluginConfig::default_memory_mb() {
        return Some(
            "key `memory_mb` cannot be enforced on a native plugin (it runs as machine code in pgDog's process)".into(),
        );
    }
    None
}
