//! WebAssembly component plugins: compiled once, instantiated ahead of time, called under a
//! deadline and a memory cap.
//!
//! Calls are synchronous: the guest runs on the calling thread's stack, with no fiber to
//! switch to. Every import is synchronous too, WASI included (`no_wait.rs`): a plugin that
//! would wait traps instead.

mod convert;
mod engine;
mod host;
mod lent;
mod no_wait;
mod shelves;

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "router",
    });

    /// The two exports a `keyed-router` component adds; its imports and other exports
    /// are the `router` world's, bound above.
    pub mod keyed {
        wasmtime::component::bindgen!({
            path: "../wit",
            world: "keyed-router",
            with: {
                "pgdog:router/types": super::pgdog::router::types,
                "pgdog:router/host": super::pgdog::router::host,
            },
        });
    }
}

use std::sync::Arc;

use tracing::debug;
use wasmtime::component::{HasSelf, InstancePre, Linker, Resource};
use wasmtime::{Store, StoreLimitsBuilder, Trap};

use bindings::keyed::KeyedRouterIndices;
use bindings::pgdog::router::types as wit;
pub(crate) use engine::prepare_cache_dir;
pub use engine::{content_hash, default_cache_dir, WasmEngine, TICK};
use host::{HostState, Identity};
use shelves::Shelves;

use super::{AfterQuery, BoxFuture, Context, Decision, Plugin, PluginError, Stats};
use crate::config::PluginConfig;
use crate::router::statement::Statement;

/// Stack size for threads that call plugins. A plugin runs on its caller's stack and may
/// use up to 512 KiB of it (`Config::max_wasm_stack`'s default), on top of the frames of
/// the session that called it; Rust's default of 2 MiB for a spawned thread leaves little
/// room to spare. Only the pages a thread touches are backed by memory.
pub const CALLER_STACK: usize = 8 << 20;

/// Ready instances kept per calling thread and plugin; more are made on demand, and
/// dropped when given back to a full shelf. A thread makes one call at a time, so one
/// would do; the second covers instances it took from another thread's shelf.
const IDLE_PER_THREAD: usize = 2;
/// Instances made at load, so the first calls find one ready: calls run to completion on
/// the thread that makes them, so at most one per thread is in flight, plus the
/// after-query worker.
fn prefill() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get()) + 1
}
/// `init` may read its config and build tables: it gets this many times a call's deadline,
/// and at least a second.
const INIT_DEADLINE_FACTOR: u64 = 10;

/// A loaded wasm plugin: one version of one component.
pub struct WasmPlugin {
    identity: Arc<Identity>,
    hash: String,
    stats: Stats,
    wants_after_query: bool,
    /// What the first instance's `key-request` named, described (see `routing_key`).
    routing_key: Option<String>,
    pre: InstancePre<HostState>,
    exports: bindings::RouterIndices,
    /// Where to find `key-request` and `route-key` in a `keyed-router` component.
    keyed: Option<KeyedRouterIndices>,
    idle: Shelves<Instance>,
    /// A reload replaced this version: instances are no longer kept.
    retired: std::sync::atomic::AtomicBool,
    timeout_ms: u64,
    memory_mb: u64,
}

struct Instance {
    store: Store<HostState>,
    router: bindings::Router,
    /// The key `route-key` decides by, when the component has asked for one.
    key: Option<KeyPath>,
}

/// A `keyed-router` instance's cheaper call: the key it asked for and its exports.
struct KeyPath {
    request: wit::KeyRequest,
    exports: bindings::keyed::KeyedRouter,
}

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("plugin \"{name}\" ({path}): {reason}")]
pub struct LoadError {
    pub name: String,
    pub path: String,
    pub reason: String,
}

impl WasmPlugin {
    /// Reads, compiles (or loads from cache), type-checks and `init`s the component
    /// `config` names.
    pub async fn load(engine: &WasmEngine, config: &PluginConfig) -> Result<WasmPlugin, LoadError> {
        let fail = |reason: String| LoadError {
            name: config.name.clone(),
            path: config.path.display().to_string(),
            reason,
        };
        let bytes =
            std::fs::read(&config.path).map_err(|e| fail(format!("cannot read it: {e}")))?;
        Self::from_bytes(engine, config, &bytes).await.map_err(fail)
    }

    async fn from_bytes(
        engine: &WasmEngine,
        config: &PluginConfig,
        bytes: &[u8],
    ) -> Result<WasmPlugin, String> {
        let hash = content_hash(bytes);
        let component = {
            let engine = engine.clone();
            let bytes = bytes.to_vec();
            let hash = hash.clone();
            // Compiling takes tens to hundreds of milliseconds: not on a client's worker.
            tokio::task::spawn_blocking(move || engine.compile(&bytes, &hash))
                .await
                .map_err(|e| format!("compilation did not finish: {e}"))?
                .map_err(|e| {
                    format!(
                        "not a valid WebAssembly component: {}",
                        one_line(&format!("{e:#}"))
                    )
                })?
        };
        let mut linker = Linker::<HostState>::new(&engine.engine);
        no_wait::add_to_linker(&mut linker).map_err(|e| format!("{e:#}"))?;
        bindings::Router::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| format!("{e:#}"))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| format!("its imports do not match pgdog:router@0.2.3: {e:#}"))?;
        let exports = bindings::RouterIndices::new(&pre)
            .map_err(|e| format!("its exports do not match pgdog:router@0.2.3: {e:#}"))?;
        // A component that exports either of `keyed-router`'s own functions means to be
        // one: its exports must then match that world, not be quietly ignored.
        let keyed = if ["key-request", "route-key"]
            .iter()
            .any(|name| component.get_export_index(None, name).is_some())
        {
            Some(KeyedRouterIndices::new(&pre).map_err(|e| {
                format!("its exports do not match pgdog:router@0.2.3 keyed-router: {e:#}")
            })?)
        } else {
            None
        };
        let identity = Arc::new(Identity {
            name: config.name.clone(),
            version: Default::default(),
            config_json: config.config_json(),
        });
        let mut plugin = WasmPlugin {
            identity,
            hash,
            stats: Stats::default(),
            wants_after_query: false,
            routing_key: None,
            pre,
            exports,
            keyed,
            idle: Shelves::new(IDLE_PER_THREAD),
            retired: Default::default(),
            timeout_ms: config.timeout_ms,
            memory_mb: config.memory_mb,
        };
        let at_load = |e: PluginError| match e {
            PluginError::Unavailable(why) => why,
            other => format!("its first instance {other}"),
        };
        let (first, info) = plugin.instantiate().map_err(at_load)?;
        let _ = plugin.identity.version.set(info.version);
        plugin.wants_after_query = info.wants_after_query;
        plugin.routing_key = first.key.as_ref().map(|key| {
            let ty = match key.request.key_type {
                wit::KeyType::Integer => "integer",
                wit::KeyType::Text => "text",
                wit::KeyType::Uuid => "uuid",
            };
            format!("{} ({ty})", key.request.column)
        });
        let mut ready = vec![first];
        for _ in 1..prefill() {
            ready.push(plugin.instantiate().map_err(at_load)?.0);
        }
        plugin.idle.fill(ready);
        Ok(plugin)
    }

    /// A new instance with `init` done.
    fn instantiate(
        &self,
    ) -> Result<(Instance, bindings::pgdog::router::types::PluginInfo), PluginError> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(usize::try_from(self.memory_mb << 20).unwrap_or(usize::MAX))
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(
            self.pre.engine(),
            HostState::new(self.identity.clone(), limits),
        );
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        let init_ticks = ticks(self.timeout_ms * INIT_DEADLINE_FACTOR).max(ticks(1000));
        store.set_epoch_deadline(init_ticks);
        let instance = self
            .pre
            .instantiate(&mut store)
            .map_err(|e| self.classify(e))?;
        let router = self
            .exports
            .load(&mut store, &instance)
            .map_err(|e| self.classify(e))?;
        let info = router
            .call_init(&mut store, &self.identity.config_json)
            .map_err(|e| self.classify(e))?
            .map_err(|e| PluginError::Unavailable(format!("init refused its config: {e}")))?;
        let key = match &self.keyed {
            Some(indices) => {
                let exports = indices
                    .load(&mut store, &instance)
                    .map_err(|e| self.classify(e))?;
                let request = exports
                    .call_key_request(&mut store)
                    .map_err(|e| self.classify(e))?;
                request.map(|request| KeyPath { request, exports })
            }
            None => None,
        };
        Ok((Instance { store, router, key }, info))
    }

    fn take(&self) -> Result<Instance, PluginError> {
        match self.idle.take() {
            Some(instance) => Ok(instance),
            None => {
                debug!(
                    plugin = self.identity.name,
                    "all instances busy; making another"
                );
                Ok(self.instantiate()?.0)
            }
        }
    }

    fn give_back(&self, instance: Instance) {
        if self.retired.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        drop(self.idle.give_back(instance));
    }

    /// Names what went wrong in a call. The instance it happened in is never used again.
    fn classify(&self, err: wasmtime::Error) -> PluginError {
        if let Some(trap) = err.downcast_ref::<Trap>() {
            if *trap == Trap::Interrupt {
                return PluginError::Timeout(self.timeout_ms);
            }
            return PluginError::Trap(trap.to_string());
        }
        let text = format!("{err:#}");
        if text.contains("growing memory") || text.contains("memory.grow") {
            return PluginError::Memory(self.memory_mb);
        }
        PluginError::Trap(first_line(&err.root_cause().to_string()))
    }

    fn call_route(
        &self,
        stmt: &Statement,
        sql: &str,
        ctx: &Context<'_>,
    ) -> Result<Decision, PluginError> {
        let mut instance = self.take()?;
        instance.store.set_epoch_deadline(ticks(self.timeout_ms));
        if let Some(key) = &instance.key {
            let found = lent::found_key(stmt, ctx, &key.request);
            match key
                .exports
                .call_route_key(&mut instance.store, found.as_ref())
            {
                Ok(Some(decision)) => {
                    self.give_back(instance);
                    return Ok(convert::decision(decision));
                }
                // The plugin wants the whole statement: a `route` call, under the same
                // deadline.
                Ok(None) => {}
                Err(err) => return Err(self.classify(err)),
            }
        }
        // SAFETY: the loan ends right after the call, which borrows `stmt`, `sql` and
        // `ctx` for its whole length; a call that fails drops the instance with its store.
        unsafe { instance.store.data_mut().lend(stmt, sql, ctx) };
        let answer = instance.router.call_route(
            &mut instance.store,
            Resource::new_borrow(0),
            Resource::new_borrow(0),
        );
        instance.store.data_mut().end_loan();
        match answer {
            Ok(decision) => {
                self.give_back(instance);
                Ok(convert::decision(decision))
            }
            // A trapped instance may be in any state: drop it, never call it again.
            Err(err) => Err(self.classify(err)),
        }
    }

    fn call_after_query(&self, event: AfterQuery) {
        let Ok(mut instance) = self.take() else {
            return;
        };
        let outcome = convert::outcome(&event);
        let ctx = Context {
            database: &event.database,
            user: &event.user,
            shards: event.shards,
            has_replicas: event.has_replicas,
            in_transaction: event.in_transaction,
            params: &event.params,
        };
        // SAFETY: as in `call_route`: the loan ends after the call, and `event` and `ctx`
        // outlive it.
        unsafe {
            instance
                .store
                .data_mut()
                .lend(&event.statement, &event.sql, &ctx)
        };
        instance.store.set_epoch_deadline(ticks(self.timeout_ms));
        let started = std::time::Instant::now();
        let result = instance.router.call_after_query(
            &mut instance.store,
            Resource::new_borrow(0),
            Resource::new_borrow(0),
            &outcome,
        );
        instance.store.data_mut().end_loan();
        self.stats.record(started.elapsed(), result.is_err());
        match result {
            Ok(()) => self.give_back(instance),
            Err(err) => tracing::warn!(
                plugin = self.identity.name,
                "after-query hook {}",
                self.classify(err)
            ),
        }
    }
}

impl Plugin for WasmPlugin {
    fn name(&self) -> &str {
        &self.identity.name
    }

    fn version(&self) -> &str {
        self.identity.version()
    }

    fn content_hash(&self) -> &str {
        &self.hash
    }

    fn stats(&self) -> &Stats {
        &self.stats
    }

    fn route(
        &self,
        stmt: &Statement,
        sql: &str,
        ctx: &Context<'_>,
    ) -> Result<Decision, PluginError> {
        self.call_route(stmt, sql, ctx)
    }

    fn wants_after_query(&self) -> bool {
        self.wants_after_query
    }

    fn routing_key(&self) -> Option<String> {
        self.routing_key.clone()
    }

    fn after_query(&self, event: AfterQuery) -> BoxFuture<'_, ()> {
        self.call_after_query(event);
        Box::pin(std::future::ready(()))
    }

    fn retire(&self) {
        // Idle instances hold slots of the engine's fixed pool; a replaced version must
        // not keep them while idle sessions still point at it.
        self.retired
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.idle.clear();
    }
}

/// Epoch ticks for a deadline of `ms` milliseconds. The next tick may come at any moment,
/// so one more is added: a call is stopped between `ms` and `ms` plus a tick after it
/// started, never before.
fn ticks(ms: u64) -> u64 {
    let tick = TICK.as_millis().max(1) as u64;
    ms.div_ceil(tick) + 1
}

/// Error text as one line: wasmtime's parse errors print byte arrays over many lines.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or(text);
    line.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_are_never_shorter_than_asked() {
        let tick = TICK.as_millis() as u64;
        for ms in [1, tick - 1, tick, tick + 1, 100, 1000] {
            // The first tick may come right after the call starts: it does not count.
            let at_least = (ticks(ms) - 1) * tick;
            assert!(at_least >= ms, "{ms} ms: stopped after {at_least} ms");
            assert!(at_least < ms + tick, "{ms} ms: waits {at_least} ms");
        }
    }
}
