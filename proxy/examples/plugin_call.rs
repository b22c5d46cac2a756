//! Measures one route call into a wasm or native (.so) plugin, the way a session makes it:
//! an instance taken from the pool, the statement and context lent to it (wasm) or
//! converted to the C ABI (native), the call under its deadline, the decision converted
//! back and checked by the chain.
//!
//! Run with
//! `cargo run --release -p pgdog --example plugin_call -- PLUGIN.wasm [JSON-CONFIG]`,
//! e.g. with the tenant-router built by
//! `cargo build --release --target wasm32-wasip2 -p tenant-router`, or a native plugin,
//! e.g. `cc -shared -fPIC -O2 -I plugin-sdk/c -o /tmp/librw.so
//! plugins/c-read-write-split/read_write_split.c` (the JSON config does not apply to it).
//!
//! `THREADS=N` (default 1) makes the same calls from N threads at once, as pgDog's
//! workers do, to show what sharing the plugin's instances between cores costs.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use pgdog::config::{OnError, PluginConfig};
use pgdog::plugins::chain::{Chain, Link};
use pgdog::plugins::native::NativePlugin;
use pgdog::plugins::wasm::{WasmEngine, WasmPlugin};
use pgdog::plugins::{Context, Plugin};
use pgdog::router::route::Params;
use pgdog::router::summarize::summarize;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: plugin_call PLUGIN.wasm [JSON-CONFIG]");
    let json = args
        .next()
        .unwrap_or_else(|| r#"{"column": "aid", "tenants": {"1": 0}, "unknown": "pass"}"#.into());
    let mut config = PluginConfig {
        name: "bench".into(),
        path: path.into(),
        config: serde_json::from_str(&json).expect("config is a JSON object"),
        on_error: OnError::FailClosed,
        timeout_ms: 100,
        memory_mb: 64,
    };
    let threads: usize = std::env::var("THREADS").map_or(1, |t| t.parse().expect("THREADS=N"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let plugin: Arc<dyn Plugin> = if config.is_native() {
            config.config.clear();
            Arc::new(NativePlugin::load(&config, &[], None).unwrap())
        } else {
            let engine = WasmEngine::new(None).unwrap();
            Arc::new(WasmPlugin::load(&engine, &config).await.unwrap())
        };
        let chain = Chain {
            links: vec![Link::new(plugin, config, SystemTime::now())],
        };
        println!("{threads} thread(s) calling at once");
        println!("| statement | params | µs per route call, median of 5 runs | fastest run |");
        println!("|---|---|---|---|");
        for (sql, params) in [
            ("SELECT abalance FROM pgbench_accounts WHERE aid = $1", vec!["1"]),
            ("SELECT abalance FROM pgbench_accounts WHERE aid = 12345", vec![]),
            (
                "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, now())",
                vec!["1", "2", "3", "4"],
            ),
        ] {
            let statements = summarize(sql);
            let params = Params {
                values: params.iter().map(|p| Some(p.as_bytes().to_vec())).collect(),
                formats: vec![],
            };
            let ctx = Context {
                database: "pgbench",
                user: "pgbench",
                shards: 2,
                has_replicas: false,
                in_transaction: false,
                params: &params,
            };
            let rounds = 20_000;
            let mut runs = Vec::new();
            for _ in 0..5 {
                // Each thread's own mean, averaged: the time one call takes on a worker.
                let per_thread: Vec<f64> = std::thread::scope(|scope| {
                    let calls: Vec<_> = (0..threads)
                        .map(|_| {
                            scope.spawn(|| {
                                let started = Instant::now();
                                for _ in 0..rounds {
                                    std::hint::black_box(chain.route(&statements, sql, &ctx));
                                }
                                started.elapsed().as_secs_f64() * 1e6 / rounds as f64
                            })
                        })
                        .collect();
                    calls.into_iter().map(|c| c.join().unwrap()).collect()
                });
                runs.push(per_thread.iter().sum::<f64>() / per_thread.len() as f64);
            }
            runs.sort_by(f64::total_cmp);
            println!(
                "| `{sql}` | {} | {:.2} | {:.2} |",
                params.values.len(),
                runs[2],
                runs[0]
            );
        }
    });
}
