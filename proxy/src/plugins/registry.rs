//! The live plugin chain and how it changes: loading at start-up, and reloading on a
//! changed file, SIGHUP or the admin database's `RELOAD`, without dropping a client.
//!
//! Loading and reloading run on a thread of their own ("pgdog-plugins"), so compiling and
//! `init`ing a new version never stalls a worker; the new chain is swapped in atomically
//! and sessions pick it up at their next transaction.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio::runtime::Handle;
use tracing::{error, info, warn};

use super::chain::{Chain, Link};
use super::native::NativePlugin;
use super::wasm::{content_hash, default_cache_dir, WasmEngine, WasmPlugin};
use super::Plugin;
use crate::config::{self, Database, PluginConfig};

pub struct Registry {
    chain: ArcSwap<Chain>,
    /// Bumped at every swap, so sessions notice a new chain with one atomic load.
    generation: AtomicU64,
    engine: OnceLock<WasmEngine>,
    /// Where `[[plugins]]` is re-read from at a reload; `None` keeps the start-up list.
    pgdog_toml: Option<PathBuf>,
    /// The start-up list, used when there is no file to re-read.
    initial: Vec<PluginConfig>,
    cache_dir: Option<PathBuf>,
    /// The servers native plugins are told about.
    databases: Vec<Database>,
    /// The plugin thread's runtime.
    runtime: Handle,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// Shutdown unloaded every plugin: no reload may load them again.
    stopped: std::sync::atomic::AtomicBool,
    /// Every configured plugin file and its content hash when it was last loaded or
    /// refused: what the watcher compares against (a refused plugin's file too, so fixing
    /// it reloads).
    seen: std::sync::Mutex<Vec<(PathBuf, Option<String>)>>,
}

/// What a reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    pub loaded: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
    /// Plugins whose new version was refused (the old one, if any, keeps serving).
    pub refused: Vec<String>,
}

impl Registry {
    /// Starts the plugin thread and loads every configured plugin. Any plugin failing to
    /// load fails start-up: running without a configured plugin could bypass what it
    /// guards.
    pub fn start(config: &config::Config) -> Result<Arc<Registry>, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("pgdog-plugins".into())
            // It runs the after-query hooks.
            .stack_size(super::wasm::CALLER_STACK)
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = tx.send(Err(err.to_string()));
                        return;
                    }
                };
                let _ = tx.send(Ok(runtime.handle().clone()));
                runtime.block_on(std::future::pending::<()>());
            })
            .map_err(|e| format!("cannot start the plugin thread: {e}"))?;
        let runtime = rx
            .recv()
            .map_err(|_| "the plugin thread did not start".to_string())??;
        let registry = Arc::new(Registry {
            chain: ArcSwap::from_pointee(Chain::default()),
            generation: AtomicU64::new(0),
            engine: OnceLock::new(),
            pgdog_toml: config.pgdog_path.clone(),
            initial: config.plugins.clone(),
            cache_dir: config
                .general
                .plugin_cache_dir
                .clone()
                .or_else(default_cache_dir),
            databases: config.databases.clone(),
            runtime: runtime.clone(),
            reloading: tokio::sync::Mutex::new(()),
            stopped: Default::default(),
            seen: std::sync::Mutex::new(Vec::new()),
        });
        let plugins = config.plugins.clone();
        let loader = registry.clone();
        // Loaded on the plugin thread (whose runtime drives timers and I/O), waited for here:
        // start-up runs before any worker.
        let loading = runtime.spawn(async move {
            let mut links = Vec::new();
            for plugin in &plugins {
                links.push(loader.load(plugin).await?);
            }
            Ok::<_, String>(links)
        });
        let links = runtime
            .block_on(loading)
            .map_err(|e| format!("plugin loading did not finish: {e}"))??;
        for link in &links {
            info!(
                plugin = link.plugin.name(),
                version = link.plugin.version(),
                hash = &link.plugin.content_hash()[..12],
                "plugin loaded"
            );
        }
        registry.remember(&config.plugins);
        registry.swap(Chain { links });
        let every = Duration::from_millis(config.general.plugin_watch_interval);
        if !every.is_zero() {
            let watcher = registry.clone();
            runtime.spawn(async move { watcher.watch(every).await });
        }
        Ok(registry)
    }

    fn swap(&self, chain: Chain) {
        self.chain.store(Arc::new(chain));
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Unloads every plugin: called once no session is left, so each plugin's last holder
    /// lets go here and native plugins' `pgdog_fini` runs.
    pub fn shutdown(&self) {
        // Waits for a reload in progress, and keeps later ones from loading anything.
        let _one = self.reloading.blocking_lock();
        self.stopped.store(true, Ordering::Release);
        self.swap(Chain::default());
    }

    /// Changes whenever the chain is replaced.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The chain new transactions route with.
    pub fn current(&self) -> Arc<Chain> {
        self.chain.load_full()
    }

    /// Re-reads `[[plugins]]` and reloads what changed. Runs on the plugin thread.
    pub async fn reload(self: &Arc<Self>) -> Result<ReloadReport, String> {
        let this = self.clone();
        self.runtime
            .spawn(async move { this.reload_here().await })
            .await
            .map_err(|e| format!("the reload did not finish: {e}"))?
    }

    async fn reload_here(&self) -> Result<ReloadReport, String> {
        let _one = self.reloading.lock().await;
        if self.stopped.load(Ordering::Acquire) {
            return Err("reload refused: pgDog is shutting down".into());
        }
        let configs = match &self.pgdog_toml {
            Some(path) => config::load_plugins(path).map_err(|e| {
                error!("reload refused: {e}");
                format!("reload refused: {e}")
            })?,
            None => self.initial.clone(),
        };
        self.remember(&configs);
        let old = self.current();
        let mut report = ReloadReport::default();
        let mut links = Vec::new();
        for config in &configs {
            let current = old.find(&config.name);
            if let Some(link) = current {
                let same_file = std::fs::read(&config.path)
                    .map(|bytes| content_hash(&bytes) == link.plugin.content_hash())
                    .unwrap_or(false);
                if same_file && link.config == *config {
                    report.unchanged.push(config.name.clone());
                    links.push(Link::reuse(link));
                    continue;
                }
            }
            match self.load(config).await {
                Ok(link) => {
                    report.loaded.push(config.name.clone());
                    links.push(link);
                }
                Err(err) => {
                    error!("{err}; the previous version keeps serving");
                    report.refused.push(err);
                    if let Some(link) = current {
                        links.push(Link::reuse(link));
                    }
                }
            }
        }
        for link in &old.links {
            if !configs.iter().any(|c| c.name == link.plugin.name()) {
                report.removed.push(link.plugin.name().to_string());
            }
        }
        let kept: Vec<*const ()> = links
            .iter()
            .map(|l| Arc::as_ptr(&l.plugin) as *const ())
            .collect();
        self.swap(Chain { links });
        // Logged once the new chain is the one transactions take: whoever reads these lines
        // (an operator, a test) may rely on the next transaction routing accordingly.
        let chain = self.current();
        let loaded = chain
            .links
            .iter()
            .filter(|l| report.loaded.iter().any(|n| n == l.plugin.name()));
        for link in loaded {
            info!(
                plugin = link.plugin.name(),
                version = link.plugin.version(),
                hash = &link.plugin.content_hash()[..12],
                "plugin reloaded"
            );
        }
        for name in &report.removed {
            info!(plugin = name, "plugin removed");
        }
        for link in &old.links {
            if !kept.contains(&(Arc::as_ptr(&link.plugin) as *const ())) {
                link.plugin.retire();
            }
        }
        Ok(report)
    }

    async fn load(&self, config: &PluginConfig) -> Result<Link, String> {
        let plugin: Arc<dyn Plugin> = if config.is_native() {
            let native = NativePlugin::load(config, &self.databases, self.cache_dir.as_deref())
                .map_err(|e| e.to_string())?;
            Arc::new(native)
        } else {
            Arc::new(self.load_wasm(config).await?)
        };
        Ok(Link::new(plugin, config.clone(), SystemTime::now()))
    }

    async fn load_wasm(&self, config: &PluginConfig) -> Result<WasmPlugin, String> {
        let engine = match self.engine.get() {
            Some(engine) => engine,
            None => {
                let engine = WasmEngine::new(self.cache_dir.clone())
                    .map_err(|e| format!("cannot start the WebAssembly engine: {e:#}"))?;
                self.engine.get_or_init(|| engine)
            }
        };
        WasmPlugin::load(engine, config)
            .await
            .map_err(|e| e.to_string())
    }

    /// Reloads when a plugin file's content or pgdog.toml changes. Editors save in several
    /// steps, so a change is acted on once the file has stayed the same for one check.
    async fn watch(self: Arc<Self>, every: Duration) {
        let mut seen = self.fingerprints();
        let mut pending = false;
        loop {
            crate::timer::sleep(every).await;
            let now = self.fingerprints();
            if now != seen {
                seen = now;
                pending = true;
                continue;
            }
            if !pending {
                continue;
            }
            pending = false;
            if !self.content_changed() {
                continue;
            }
            info!("a plugin file or pgdog.toml changed; reloading plugins");
            if let Err(err) = self.reload_here().await {
                warn!("{err}");
            }
        }
    }

    /// Notes the content of every configured plugin file, as a reload reads them.
    fn remember(&self, configs: &[PluginConfig]) {
        let seen = configs
            .iter()
            .map(|c| (c.path.clone(), file_hash(&c.path)))
            .collect();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = seen;
    }

    /// Modification time and size of every watched file.
    fn fingerprints(&self) -> Vec<Option<(SystemTime, u64)>> {
        self.watched()
            .iter()
            .map(|p| {
                let meta = std::fs::metadata(p).ok()?;
                Some((meta.modified().ok()?, meta.len()))
            })
            .collect()
    }

    fn watched(&self) -> Vec<PathBuf> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let mut paths: Vec<PathBuf> = seen.iter().map(|(p, _)| p.clone()).collect();
        paths.extend(self.pgdog_toml.clone());
        paths
    }

    /// A touched file whose bytes are the same is not a change.
    fn content_changed(&self) -> bool {
        let plugin_changed = {
            let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            seen.iter().any(|(path, hash)| file_hash(path) != *hash)
        };
        plugin_changed
            || self
                .pgdog_toml
                .as_deref()
                .is_some_and(|p| self.config_changed(p))
    }

    fn config_changed(&self, path: &Path) -> bool {
        let Ok(configs) = config::load_plugins(path) else {
            // Let the reload report what is wrong with it.
            return true;
        };
        let chain = self.current();
        configs.len() != chain.links.len()
            || configs
                .iter()
                .zip(&chain.links)
                .any(|(c, l)| *c != l.config)
    }
}

/// Hex SHA-256 of a file's content; `None` when it cannot be read.
fn file_hash(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| content_hash(&bytes))
}
