//! A plugin that does what the leading comment of a query tells it to
//! (`/* chaos: loop */ SELECT 1`), so tests can make a plugin loop, trap, eat memory or
//! answer nonsense on purpose. Config: `{"version": "2", "fail_init": true,
//! "audit": true}`.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "router",
});

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pgdog::router::host::{log, shard_for};
use pgdog::router::types::{Level, Reject, Rewrite, Role, Route, ShardKey, Shards};

static AUDIT: AtomicBool = AtomicBool::new(false);
/// Memory kept alive by `eat`, so the allocator cannot give it back.
static HOARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

struct Chaos;

impl Guest for Chaos {
    fn init(config: String) -> Result<PluginInfo, String> {
        let config: serde_json::Value =
            serde_json::from_str(&config).map_err(|e| format!("bad config: {e}"))?;
        if config["fail_init"].as_bool() == Some(true) {
            return Err("told to fail by its config".into());
        }
        let audit = config["audit"].as_bool() == Some(true);
        AUDIT.store(audit, Ordering::Relaxed);
        Ok(PluginInfo {
            version: config["version"].as_str().unwrap_or("1").to_string(),
            wants_after_query: audit,
        })
    }

    fn route(statement: Statement, context: Context) -> Decision {
        let Some(comment) = statement.comment.as_deref() else {
            return Decision::Pass;
        };
        let Some(order) = comment.strip_prefix("chaos:").map(str::trim) else {
            return Decision::Pass;
        };
        let any = |shards| {
            Decision::Route(Route {
                shards,
                role: Role::Any,
            })
        };
        match order {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "trap" => panic!("chaos: told to trap"),
            "eat" => loop {
                HOARD.lock().unwrap().push(vec![1u8; 1 << 20]);
            },
            "print" => {
                println!("chaos says hello on stdout");
                Decision::Pass
            }
            "log" => {
                log(
                    Level::Warn,
                    &format!("chaos saw {} shard(s)", context.shards),
                );
                Decision::Pass
            }
            "bad-shard" => any(Shards::One(999)),
            "bad-sqlstate" => Decision::Reject(Reject {
                sqlstate: "nope".into(),
                message: "x".into(),
                detail: None,
            }),
            "params" => {
                // Refuses with the bound parameters it was given, as text.
                let values: Vec<String> = context
                    .params
                    .iter()
                    .map(|p| {
                        p.value
                            .as_ref()
                            .map_or("NULL".into(), |v| String::from_utf8_lossy(v).into_owned())
                    })
                    .collect();
                Decision::Reject(Reject {
                    sqlstate: "P0001".into(),
                    message: format!("params: {values:?}"),
                    detail: None,
                })
            }
            other => {
                if let Some(key) = other.strip_prefix("hash ") {
                    let shard =
                        shard_for(&ShardKey::Integer(key.parse().unwrap_or(0)), context.shards)
                            .unwrap_or(0);
                    return any(Shards::One(shard));
                }
                if let Some(sql) = other.strip_prefix("rewrite ") {
                    return Decision::Rewrite(Rewrite {
                        sql: sql.to_string(),
                        route: Route {
                            shards: Shards::Any,
                            role: Role::Any,
                        },
                    });
                }
                Decision::Pass
            }
        }
    }

    fn after_query(statement: Statement, _context: Context, outcome: QueryOutcome) {
        if AUDIT.load(Ordering::Relaxed) {
            let error = outcome.error.map(|e| e.sqlstate).unwrap_or_default();
            log(
                Level::Info,
                &format!(
                    "audit: {} rows={} shards={:?} error={error}",
                    statement.sql, outcome.rows, outcome.shards
                ),
            );
        }
    }
}

export!(Chaos);
