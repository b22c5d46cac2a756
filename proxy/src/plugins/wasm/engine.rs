//! The one wasmtime engine: component model, pooling allocator, epoch deadlines, and an
//! on-disk cache of compiled components.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tracing::{debug, warn};
use wasmtime::component::Component;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::plugins::MAX_MEMORY_MB;

/// How often the engine's epoch advances: the granularity of call deadlines. The ticker
/// thread wakes this often for as long as plugins are loaded, and under load every wake
/// preempts a client's work on a busy machine: at 1 ms it cost pgDog about 1.5% of its
/// CPU under pgbench. Deadlines are there to stop runaway plugins, where 5 ms of slack
/// does not matter.
pub const TICK: Duration = Duration::from_millis(5);

/// Set to `1` to write a perf map of compiled plugin code, for profiling plugins.
pub const PERF_MAP_ENV: &str = "PGDOG_PLUGIN_PERF_MAP";

/// Instance slots the pooling allocator reserves, tried largest first. Each plugin keeps
/// a few ready instances per calling thread, and a reload briefly holds two versions.
/// Every slot reserves (not commits) 4 GiB of address space per memory, so 256 slots take
/// about 2 TiB of it: free on a 64-bit Linux machine, but more than a process limited by
/// `ulimit -v` (RLIMIT_AS) or run under valgrind may have. Smaller pools start there.
const INSTANCE_SLOTS: [u32; 4] = [256, 64, 16, 4];

/// The engine shared by every plugin, and where compiled components are cached.
#[derive(Clone)]
pub struct WasmEngine {
    pub engine: Engine,
    cache_dir: Option<Arc<PathBuf>>,
}

impl WasmEngine {
    /// Builds the engine and starts the thread that ticks its epoch. `cache_dir`: where
    /// compiled components are kept (`None`: compile at every load).
    pub fn new(cache_dir: Option<PathBuf>) -> wasmtime::Result<WasmEngine> {
        let engine = match Engine::new(&engine_config(INSTANCE_SLOTS[0])) {
            Ok(engine) => engine,
            Err(err) => smaller_engine(err)?,
        };
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("pgdog-wasm-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(TICK);
                match ticker.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            })?;
        let cache_dir = cache_dir.and_then(|dir| match prepare_cache_dir(&dir) {
            Ok(()) => Some(Arc::new(dir)),
            Err(err) => {
                warn!(
                    "plugin cache directory {} is unusable ({err}); components are compiled at every load",
                    dir.display()
                );
                None
            }
        });
        Ok(WasmEngine { engine, cache_dir })
    }

    /// Compiles `bytes` (whose hex SHA-256 is `hash`), or loads the cached compilation.
    pub fn compile(&self, bytes: &[u8], hash: &str) -> wasmtime::Result<Component> {
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, bytes);
        };
        let path = dir.join(format!("{hash}-{}.cwasm", self.compatibility()));
        if let Ok(compiled) = std::fs::read(&path) {
            // SAFETY: the cache directory is created by pgDog with mode 0700 and entries are
            // keyed by the source's content hash and the engine's compatibility hash, so the
            // bytes are a compilation of exactly this component by a compatible engine.
            match unsafe { Component::deserialize(&self.engine, &compiled) } {
                Ok(component) => {
                    debug!(path = %path.display(), "compiled plugin loaded from cache");
                    return Ok(component);
                }
                Err(err) => {
                    warn!(path = %path.display(), "cached compilation unusable ({err}); compiling again")
                }
            }
        }
        let component = Component::new(&self.engine, bytes)?;
        if let Err(err) = store_atomically(&path, &component.serialize()?) {
            warn!(path = %path.display(), "could not cache the compiled plugin: {err}");
        }
        Ok(component)
    }

    /// The engine's compatibility hash, short and printable.
    fn compatibility(&self) -> String {
        let mut hasher = DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        format!("{:016x}", hasher.finish())
    }
}

/// Hex SHA-256 of a plugin file's content.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The default cache directory: `$XDG_CACHE_HOME/pgdog/plugins` or
/// `~/.cache/pgdog/plugins`.
pub fn default_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("pgdog").join("plugins"))
}

/// Creates the cache directory readable by its owner only: its contents are loaded as
/// machine code, so nobody else may write there.
pub(crate) fn prepare_cache_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = std::fs::metadata(dir)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc_geteuid() };
    if meta.uid() != me || meta.permissions().mode() & 0o022 != 0 {
        return Err(std::io::Error::other(
            "it must belong to pgDog's user and not be writable by others",
        ));
    }
    Ok(())
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

/// The engine with the largest smaller pool that can be reserved; `err` (why the full
/// pool could not) when none can.
fn smaller_engine(err: wasmtime::Error) -> wasmtime::Result<Engine> {
    for &slots in &INSTANCE_SLOTS[1..] {
        if let Ok(engine) = Engine::new(&engine_config(slots)) {
            warn!(
                "the plugin engine could not reserve address space for {} instances ({err}); it has {slots}, and each plugin holds a few per worker. Raise `ulimit -v` to lift this",
                INSTANCE_SLOTS[0]
            );
            return Ok(engine);
        }
    }
    Err(err)
}

/// The engine's settings, with a pool of `slots` instances.
fn engine_config(slots: u32) -> Config {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 4)
        .total_memories(slots * 2)
        .total_tables(slots * 4)
        // Calls run on the caller's stack (see `mod.rs`): no fiber stacks to reserve.
        .total_stacks(0)
        .max_memory_size((MAX_MEMORY_MB as usize) << 20);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        // Component-model async is not used; leaving it off keeps each call cheap.
        .concurrency_support(false)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    if std::env::var_os(PERF_MAP_ENV).is_some_and(|v| v == "1") {
        // `perf` can then name plugin functions (it reads /tmp/perf-PID.map).
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    config
}

/// Writes `bytes` to `path` so readers never see a partial file.
fn store_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
