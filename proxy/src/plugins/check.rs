//! `pgdog plugin check`: load a component as pgDog would, `init` it, and print what it
//! decides for some SQL, without any server.

use std::path::PathBuf;

use super::native::NativePlugin;
use super::wasm::{WasmEngine, WasmPlugin};
use super::{Context, Decision, Plugin, Target};
use crate::config::{OnError, PluginConfig, Role};
use crate::router::route::{Params, Shards};
use crate::router::summarize::summarize;

/// What to check.
pub struct Check {
    pub path: PathBuf,
    /// The plugin's config as JSON (what `init` receives).
    pub config_json: String,
    pub shards: usize,
    pub replicas: bool,
    pub sql: Vec<String>,
    pub timeout_ms: u64,
    pub memory_mb: u64,
}

/// Runs the check, printing to stdout. `Err` when the plugin cannot be loaded; `Ok(false)`
/// when it loaded but a call failed or returned an invalid decision.
pub fn run(check: Check) -> Result<bool, String> {
    let config: toml::Table = serde_json::from_str(&check.config_json)
        .map_err(|e| format!("--config is not a JSON object pgDog can pass on: {e}"))?;
    let name = check
        .path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plugin".into());
    let plugin_config = PluginConfig {
        name,
        path: check.path.clone(),
        config,
        on_error: OnError::FailClosed,
        timeout_ms: check.timeout_ms,
        memory_mb: check.memory_mb,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let plugin: std::sync::Arc<dyn Plugin> = if plugin_config.is_native() {
            let mut native_config = plugin_config.clone();
            native_config.resolve(std::path::Path::new("./pgdog.toml"));
            let plugin =
                NativePlugin::load(&native_config, &[], None).map_err(|e| e.to_string())?;
            std::sync::Arc::new(plugin)
        } else {
            let engine = WasmEngine::new(None).map_err(|e| format!("{e:#}"))?;
            let plugin = WasmPlugin::load(&engine, &plugin_config)
                .await
                .map_err(|e| e.to_string())?;
            std::sync::Arc::new(plugin)
        };
        println!(
            "loaded {} version {} (sha256 {}), after-query hook: {}",
            plugin.name(),
            plugin.version(),
            plugin.content_hash(),
            if plugin.wants_after_query() {
                "yes"
            } else {
                "no"
            }
        );
        if let Some(key) = plugin.routing_key() {
            println!("keyed: route-key is called with the placed values of {key}");
        }
        let params = Params::default();
        let ctx = Context {
            database: "check",
            user: "check",
            shards: check.shards.max(1),
            has_replicas: check.replicas,
            in_transaction: false,
            params: &params,
        };
        let chain = super::Chain {
            links: vec![super::chain::Link::new(
                plugin,
                plugin_config.clone(),
                std::time::SystemTime::now(),
            )],
        };
        let mut all_ok = true;
        for sql in &check.sql {
            let statements = summarize(sql);
            let verdict = chain.route(&statements, sql, &ctx);
            let failed = chain.links[0].plugin.stats().errors() > 0;
            println!("{sql}\n  -> {}", describe(&verdict.decision));
            all_ok &= !failed;
        }
        Ok(all_ok)
    })
}

fn describe(decision: &Decision) -> String {
    fn target(t: &Target) -> String {
        let shards = match &t.shards {
            None => "as pgDog's sharding picks".to_string(),
            Some(Shards::Any) => "any".to_string(),
            Some(Shards::All) => "all".to_string(),
            Some(Shards::Set(set)) => format!("{set:?}"),
        };
        let role = match t.role {
            Some(Role::Primary) => "primary",
            Some(Role::Replica) => "replica",
            None => "any",
        };
        format!("shards {shards}, role {role}")
    }
    match decision {
        Decision::Pass => "pass (the built-in router decides)".into(),
        Decision::Route(t) => format!("route: {}", target(t)),
        Decision::Rewrite { sql, target: t } => format!("rewrite to {sql:?}: {}", target(t)),
        Decision::Reject(err) => match &err.detail {
            Some(detail) => format!("reject {}: {} ({detail})", err.code, err.message),
            None => format!("reject {}: {}", err.code, err.message),
        },
        Decision::Respond(r) => format!("respond: columns {:?}, rows {:?}", r.columns, r.rows),
        Decision::SplitCopy(c) => format!(
            "copy: to every shard, the plugin splits the rows (delimiter {:?}, header {}, columns {:?})",
            c.delimiter as char, c.has_headers, c.columns
        ),
    }
}
