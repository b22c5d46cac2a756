//! Native plugins: shared libraries exporting pgdog's original C ABI
//! (`pgdog_route_query(Input) -> Output`, optional `pgdog_init` / `pgdog_fini`), behind the
//! same [`Plugin`] trait as wasm plugins.
//!
//! A native plugin runs in pgDog's process: a crash in it cannot be contained, and
//! `timeout_ms` / `memory_mb` cannot be enforced (config refuses them). What the shim does
//! guarantee is that a malformed `Output` fails one query with a clear error.

pub mod abi;
mod library;
mod output;

use std::ffi::{c_char, c_int, CString};
use std::path::Path;

use libloading::os::unix::Library;
use tracing::info;

pub use library::{find_on_library_path, is_bare_name};

use super::wasm::content_hash;
use super::{Context, CopyChunk, CopyRows, CopyShard, Decision, Plugin, PluginError, Stats};
use crate::config::{Database, PluginConfig, Role};
use crate::router::statement::Statement;

/// What `SHOW PLUGINS` lists as a native plugin's version: the ABI has none.
pub const VERSION: &str = "native";

/// One loaded version of a native plugin.
pub struct NativePlugin {
    name: String,
    hash: String,
    stats: Stats,
    route_query: abi::RouteQuery,
    fini: Option<abi::Hook>,
    clusters: Vec<Cluster>,
    /// Kept open until `fini` has run (in `drop`).
    library: Option<Library>,
}

/// The `Config` of one database, built once: C strings and the server array stay put for
/// the plugin's lifetime.
struct Cluster {
    name: String,
    c_name: CString,
    _hosts: Vec<CString>,
    servers: Vec<abi::DatabaseConfig>,
}

// SAFETY: the raw pointers in `servers` point into `_hosts`, owned alongside and never
// changed after construction; plugins only read them.
unsafe impl Send for Cluster {}
unsafe impl Sync for Cluster {}

impl Cluster {
    fn new(name: &str, databases: &[Database]) -> Cluster {
        let servers: Vec<&Database> = databases.iter().filter(|d| d.name == name).collect();
        let hosts: Vec<CString> = servers.iter().map(|d| c_string(&d.host)).collect();
        let servers = servers
            .iter()
            .zip(&hosts)
            .map(|(d, host)| abi::DatabaseConfig {
                shard: c_int::try_from(d.shard).unwrap_or(c_int::MAX),
                role: match d.role {
                    Role::Primary => abi::PRIMARY,
                    Role::Replica => abi::REPLICA,
                },
                host: host.as_ptr() as *mut c_char,
                port: c_int::from(d.port),
            })
            .collect();
        Cluster {
            name: name.to_string(),
            c_name: c_string(name),
            _hosts: hosts,
            servers,
        }
    }

    fn config(&self, shards: usize) -> abi::Config {
        abi::Config {
            num_databases: self.servers.len() as c_int,
            databases: self.servers.as_ptr() as *mut abi::DatabaseConfig,
            name: self.c_name.as_ptr() as *mut c_char,
            shards: c_int::try_from(shards).unwrap_or(c_int::MAX),
        }
    }
}

/// A C string of `text` up to any NUL in it (names from config never hold one).
fn c_string(text: &str) -> CString {
    let end = text.find('\0').unwrap_or(text.len());
    CString::new(&text[..end]).unwrap_or_default()
}

/// Why a native plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("plugin \"{name}\" ({path}): {reason}")]
pub struct LoadError {
    pub name: String,
    pub path: String,
    pub reason: String,
}

impl NativePlugin {
    /// Opens a copy of the library `config` names, checks its symbols and runs its
    /// `pgdog_init`. `databases` become the `Config` each call receives.
    pub fn load(
        config: &PluginConfig,
        databases: &[Database],
        cache_dir: Option<&Path>,
    ) -> Result<NativePlugin, LoadError> {
        let fail = |reason: String| LoadError {
            name: config.name.clone(),
            path: config.path.display().to_string(),
            reason,
        };
        let bytes = std::fs::read(&config.path).map_err(|e| {
            fail(if is_bare_name(&config.path) {
                format!(
                    "lib{}.so is not on the library path (LD_LIBRARY_PATH, /usr/local/lib, /usr/lib, /lib)",
                    config.path.display()
                )
            } else {
                format!("cannot read it: {e}")
            })
        })?;
        let hash = content_hash(&bytes);
        let library = library::open_copy(&bytes, &config.name, &hash, cache_dir).map_err(fail)?;
        // SAFETY: the symbol's type is the ABI's; a library exporting the name with
        // another signature breaks the ABI contract, which cannot be checked from here.
        let route_query = unsafe { library.get::<abi::RouteQuery>(b"pgdog_route_query\0") }
            .map(|s| *s)
            .map_err(|_| {
                fail("it does not export pgdog_route_query, the one function a native plugin must have".into())
            })?;
        // SAFETY: as above, for the optional hooks.
        let init = unsafe { library.get::<abi::Hook>(b"pgdog_init\0") }
            .ok()
            .map(|s| *s);
        let fini = unsafe { library.get::<abi::Hook>(b"pgdog_fini\0") }
            .ok()
            .map(|s| *s);
        if let Some(init) = init {
            // SAFETY: the plugin's own initialiser, called once as the ABI says.
            unsafe { init() };
        }
        let mut names: Vec<&str> = databases.iter().map(|d| d.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        let clusters = names.iter().map(|n| Cluster::new(n, databases)).collect();
        Ok(NativePlugin {
            name: config.name.clone(),
            hash,
            stats: Stats::default(),
            route_query,
            fini,
            clusters,
            library: Some(library),
        })
    }

    /// The `Config` for `database`: prebuilt for configured databases, else (the plugin
    /// check) a bare one written into `scratch`.
    fn config(&self, database: &str, shards: usize, scratch: &mut Option<CString>) -> abi::Config {
        if let Some(cluster) = self.clusters.iter().find(|c| c.name == database) {
            return cluster.config(shards);
        }
        let name = scratch.insert(c_string(database));
        abi::Config {
            num_databases: 0,
            databases: std::ptr::null_mut(),
            name: name.as_ptr() as *mut c_char,
            shards: c_int::try_from(shards).unwrap_or(c_int::MAX),
        }
    }

    fn call_route(&self, sql: &str, ctx: &Context<'_>) -> Result<Decision, PluginError> {
        let len = c_int::try_from(sql.len())
            .map_err(|_| PluginError::Invalid("query text too long for the C ABI".into()))?;
        // The ABI promises a NUL-terminated query; the client's text is not.
        let mut text = Vec::with_capacity(sql.len() + 1);
        text.extend_from_slice(sql.as_bytes());
        text.push(0);
        let params: Vec<abi::Parameter> = ctx
            .params
            .values
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let format = match ctx.params.formats.len() {
                    0 => 0,
                    1 => ctx.params.formats[0],
                    _ => ctx.params.formats.get(i).copied().unwrap_or(0),
                };
                match value {
                    Some(v) => abi::Parameter {
                        len: c_int::try_from(v.len()).unwrap_or(c_int::MAX),
                        data: v.as_ptr() as *const c_char,
                        format: c_int::from(format),
                    },
                    None => abi::Parameter {
                        len: -1,
                        data: std::ptr::null(),
                        format: c_int::from(format),
                    },
                }
            })
            .collect();
        let mut scratch = None;
        let input = abi::Input {
            config: self.config(ctx.database, ctx.shards, &mut scratch),
            input_type: abi::ROUTING_INPUT,
            input: abi::RoutingInput {
                query: abi::Query {
                    len,
                    query: text.as_ptr() as *const c_char,
                    num_parameters: params.len() as c_int,
                    parameters: if params.is_empty() {
                        std::ptr::null()
                    } else {
                        params.as_ptr()
                    },
                },
            },
        };
        // SAFETY: `input` points into `text`, `params` and `scratch`, alive for the call.
        unsafe { self.call(input, output::read_route) }
    }

    /// Calls the plugin and reads its Output with `read`, then frees the Output.
    ///
    /// # Safety
    /// Every pointer in `input` is valid for the duration of the call.
    unsafe fn call<T>(
        &self,
        input: abi::Input,
        read: unsafe fn(&abi::Output) -> Result<T, String>,
    ) -> Result<T, PluginError> {
        // The plugin's function has the ABI's signature; its Output is read only through
        // the checks in `output` and freed exactly once.
        let out = (self.route_query)(input);
        let answer = read(&out);
        output::free(&out);
        answer.map_err(PluginError::Invalid)
    }
}

impl Plugin for NativePlugin {
    fn name(&self) -> &str {
        &self.name
    }

    fn version(&self) -> &str {
        VERSION
    }

    fn content_hash(&self) -> &str {
        &self.hash
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn route(
        &self,
        _stmt: &Statement,
        sql: &str,
        ctx: &Context<'_>,
    ) -> Result<Decision, PluginError> {
        // The C call is synchronous; the ABI gives no way to interrupt it.
        self.call_route(sql, ctx)
    }

    fn split_copy(&self, chunk: &CopyChunk<'_>) -> Result<CopyRows, PluginError> {
        let len = c_int::try_from(chunk.data.len())
            .map_err(|_| PluginError::Invalid("COPY chunk too long for the C ABI".into()))?;
        let mut scratch = None;
        let input = abi::Input {
            config: self.config(chunk.database, chunk.shards, &mut scratch),
            input_type: abi::COPY_INPUT,
            input: abi::RoutingInput {
                copy: abi::CopyInput {
                    len,
                    data: chunk.data.as_ptr() as *const c_char,
                    delimiter: chunk.delimiter as c_char,
                    has_headers: c_int::from(chunk.has_headers),
                    sharding_column: chunk
                        .sharding_column
                        .and_then(|c| c_int::try_from(c).ok())
                        .unwrap_or(-1),
                },
            },
        };
        // SAFETY: `input` points into the chunk and `scratch`, alive for the call.
        let rows = unsafe { self.call(input, output::read_copy_rows)? };
        if let Some(bad) = rows.rows.iter().find_map(|(_, shard)| match shard {
            CopyShard::One(n) if *n >= chunk.shards => Some(*n),
            _ => None,
        }) {
            return Err(PluginError::Invalid(format!(
                "a COPY row for shard {bad}: the database has {} shard(s)",
                chunk.shards
            )));
        }
        Ok(rows)
    }
}

impl Drop for NativePlugin {
    /// The last holder let go: every call has returned, so `pgdog_fini` may run, and only
    /// then is the library closed.
    fn drop(&mut self) {
        if let Some(fini) = self.fini {
            // SAFETY: the plugin's own finaliser, once, after its last call.
            unsafe { fini() };
        }
        drop(self.library.take());
        info!(
            plugin = self.name,
            hash = &self.hash[..12],
            "native plugin finalised"
        );
    }
}
