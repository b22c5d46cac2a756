//! A plugin that does what the leading comment of a query tells it to
//! (`/* chaos: loop */ SELECT 1`), so tests can make a plugin loop, trap, eat memory, wait
//! or answer nonsense on purpose. Config: `{"version": "2", "fail_init": true,
//! "audit": true, "key": "k"}`.
//!
//! With `"key"` it is a `keyed-router` that asks for that (integer) column: `route-key`
//! refuses each statement that names it with what it was given (`P0001`, "route-key: …"),
//! asks for `route` when there is no key or the first value is 0, and traps at 666.

// The generated glue for `after-query` takes the flattened outcome as a dozen arguments.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "../../../wit",
    world: "keyed-router",
});

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use pgdog::router::host::{log, shard_for};
use pgdog::router::types::{
    KeySource, KeyType, KeyValue, Level, Param, PlacedKeyValues, PlacedKeys, Reject, Respond,
    Rewrite, Role, Route, ShardKey, Shards,
};

static AUDIT: AtomicBool = AtomicBool::new(false);
/// The column `key-request` names, from the config's `key`.
static KEY: Mutex<Option<String>> = Mutex::new(None);
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
        *KEY.lock().unwrap() = config["key"].as_str().map(str::to_string);
        Ok(PluginInfo {
            version: config["version"].as_str().unwrap_or("1").to_string(),
            wants_after_query: audit,
        })
    }

    fn route(statement: &Statement, context: &Context) -> Decision {
        let comment = statement.comment();
        let Some(comment) = comment.as_deref() else {
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
            "sleep" => {
                // A wait on a clock: pgDog's host traps it rather than stall its worker.
                std::thread::sleep(std::time::Duration::from_secs(3));
                Decision::Pass
            }
            "no-wait" => {
                // Waits that are over at once: a zero-length block, and a poll with a
                // zero timeout, as wasi-libc's `poll(2)` makes it.
                use wasip2::clocks::monotonic_clock::{subscribe_duration, subscribe_instant};
                subscribe_duration(0).block();
                let ready = wasip2::io::poll::poll(&[&subscribe_instant(0)]);
                log(Level::Warn, &format!("chaos polled {ready:?}"));
                Decision::Pass
            }
            "network" => {
                use wasip2::sockets::network::IpAddressFamily::Ipv4;
                let tcp = wasip2::sockets::tcp_create_socket::create_tcp_socket(Ipv4).err();
                let udp = wasip2::sockets::udp_create_socket::create_udp_socket(Ipv4).err();
                Decision::Reject(Reject {
                    sqlstate: "P0001".into(),
                    message: format!("network: tcp {tcp:?}, udp {udp:?}"),
                    detail: None,
                })
            }
            "stdin" => {
                // Stdin is closed: the read ends at once, with nothing.
                let mut line = String::new();
                let read = std::io::stdin().read_line(&mut line);
                log(Level::Warn, &format!("chaos read {read:?} from stdin"));
                Decision::Pass
            }
            "print" => {
                println!("chaos says hello on stdout");
                Decision::Pass
            }
            "log" => {
                log(
                    Level::Warn,
                    &format!("chaos saw {} shard(s)", context.shards()),
                );
                Decision::Pass
            }
            "fields" => fields(statement, context),
            "bad-shard" => any(Shards::One(999)),
            "bad-sqlstate" => Decision::Reject(Reject {
                sqlstate: "nope".into(),
                message: "x".into(),
                detail: None,
            }),
            "params" => {
                // Refuses with the bound parameters it was given, as text: all of them,
                // then each asked for by position (one past the end too).
                let text = |p: &Param| {
                    p.value
                        .as_ref()
                        .map_or("NULL".into(), |v| String::from_utf8_lossy(v).into_owned())
                };
                let values: Vec<String> = context.params().iter().map(text).collect();
                let count = values.len() as u32;
                let each: Vec<String> = (0..=count + 1)
                    .map(|n| format!("${n}={:?}", context.param(n).as_ref().map(text)))
                    .collect();
                Decision::Reject(Reject {
                    sqlstate: "P0001".into(),
                    message: format!("params: {values:?} {}", each.join(" ")),
                    detail: None,
                })
            }
            other => {
                if let Some(key_type) = other.strip_prefix("placed ") {
                    return placed(statement, context, key_type);
                }
                if let Some(key_type) = other.strip_prefix("keys ") {
                    return keys(statement, key_type);
                }
                if let Some(key) = other.strip_prefix("hash ") {
                    let shard = shard_for(
                        &ShardKey::Integer(key.parse().unwrap_or(0)),
                        context.shards(),
                    )
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

    fn key_request() -> Option<KeyRequest> {
        let column = KEY.lock().unwrap().clone()?;
        Some(KeyRequest {
            column,
            key_type: KeyType::Integer,
        })
    }

    fn route_key(key: Option<FoundKey>) -> Option<Decision> {
        let key = key?;
        let first = match &key.keys.keys {
            PlacedKeyValues::One(one) => Some(&one.value),
            PlacedKeyValues::Many(many) => many.first().map(|placed| &placed.value),
        };
        match first {
            Some(KeyValue::Key(ShardKey::Integer(0))) => None,
            Some(KeyValue::Key(ShardKey::Integer(666))) => panic!("chaos: route-key told to trap"),
            _ => Some(Decision::Reject(Reject {
                sqlstate: "P0001".into(),
                message: format!("route-key: {key:?}"),
                detail: None,
            })),
        }
    }

    fn after_query(statement: &Statement, _context: &Context, outcome: QueryOutcome) {
        if AUDIT.load(Ordering::Relaxed) {
            let error = outcome.error.map(|e| e.sqlstate).unwrap_or_default();
            log(
                Level::Info,
                &format!(
                    "audit: {} rows={} shards={:?} error={error}",
                    statement.sql(),
                    outcome.rows,
                    outcome.shards
                ),
            );
        }
    }
}

/// Refuses with what `key-values` answers for column `k`, read as `key_type` (`integer`,
/// `text` or `uuid`), from the WHERE clause and from the INSERT rows.
fn keys(statement: &Statement, key_type: &str) -> Decision {
    let key_type = match key_type {
        "integer" => KeyType::Integer,
        "uuid" => KeyType::Uuid,
        _ => KeyType::Text,
    };
    let from_where = statement.key_values("k", KeySource::Where, key_type);
    let from_insert = statement.key_values("k", KeySource::Insert, key_type);
    Decision::Reject(Reject {
        sqlstate: "P0001".into(),
        message: format!("keys: where={from_where:?} insert={from_insert:?}"),
        detail: None,
    })
}

/// Refuses with what `placed-keys` answers for the WHERE values of column `k`, and what
/// `shard-for` answers for each key among `context.shards`, so a test can see the two agree.
fn placed(statement: &Statement, context: &Context, key_type: &str) -> Decision {
    let key_type = match key_type {
        "integer" => KeyType::Integer,
        "uuid" => KeyType::Uuid,
        _ => KeyType::Text,
    };
    let placed = statement.placed_keys("k", KeySource::Where, key_type);
    let values = match &placed {
        Some(PlacedKeys {
            keys: PlacedKeyValues::One(key),
            ..
        }) => vec![key.value.clone()],
        Some(PlacedKeys {
            keys: PlacedKeyValues::Many(keys),
            ..
        }) => keys.iter().map(|k| k.value.clone()).collect(),
        None => Vec::new(),
    };
    let hashed: Vec<Option<u32>> = values
        .iter()
        .map(|value| match value {
            KeyValue::Key(key) => shard_for(key, context.shards()).ok(),
            _ => None,
        })
        .collect();
    Decision::Reject(Reject {
        sqlstate: "P0001".into(),
        message: format!("placed: {placed:?} shard-for={hashed:?}"),
        detail: None,
    })
}

/// Answers with every field the statement and context methods return, one row each, so
/// tests see exactly what a plugin reads through the contract.
fn fields(statement: &Statement, context: &Context) -> Decision {
    let rows = [
        ("sql", statement.sql()),
        ("command", format!("{:?}", statement.command())),
        ("tables", format!("{:?}", statement.tables())),
        ("predicates", format!("{:?}", statement.predicates())),
        (
            "predicate-values k",
            format!("{:?}", statement.predicate_values("k")),
        ),
        ("insert", format!("{:?}", statement.insert())),
        (
            "insert-values k",
            format!("{:?}", statement.insert_values("k")),
        ),
        ("order-by", format!("{:?}", statement.order_by())),
        ("limit", format!("{:?}", statement.limit())),
        ("offset", format!("{:?}", statement.offset())),
        ("targets", format!("{:?}", statement.targets())),
        ("functions", format!("{:?}", statement.functions())),
        ("writes", format!("{:?}", statement.writes())),
        (
            "read-only-transaction",
            format!("{:?}", statement.read_only_transaction()),
        ),
        ("comment", format!("{:?}", statement.comment())),
        ("set", format!("{:?}", statement.set())),
        ("copy", format!("{:?}", statement.copy())),
        ("parse-error", format!("{:?}", statement.parse_error())),
        ("has-where", format!("{:?}", statement.has_where())),
        ("database", context.database()),
        ("user", context.user()),
        ("shards", format!("{:?}", context.shards())),
        ("has-replicas", format!("{:?}", context.has_replicas())),
        ("in-transaction", format!("{:?}", context.in_transaction())),
        ("params", format!("{:?}", context.params())),
        ("param 1", format!("{:?}", context.param(1))),
    ];
    Decision::Respond(Respond {
        columns: vec!["field".into(), "value".into()],
        rows: rows
            .into_iter()
            .map(|(field, value)| vec![Some(field.to_string()), Some(value)])
            .collect(),
    })
}

export!(Chaos);
