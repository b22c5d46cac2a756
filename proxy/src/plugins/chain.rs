//! The plugin chain: plugins asked in config order, the first decision that is not `pass`
//! wins, and a failing plugin is handled by its `on_error` policy.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::mpsc;
use tracing::{debug, warn};

use super::{AfterQuery, Context, Decision, Plugin, PluginError, Target};
use crate::config::{OnError, PluginConfig};
use crate::router::route::Shards;
use crate::router::statement::Statement;
use crate::wire::ErrorResponse;

/// SQLSTATE for a statement a failing plugin could not route (class 58: errors external to
/// PostgreSQL itself).
pub const PLUGIN_FAILED: &str = "58000";

/// PostgreSQL's own limit on the columns of a result.
const MAX_COLUMNS: usize = 1664;

/// How many after-query events may wait per plugin before new ones are dropped: the hook
/// must never slow clients down.
const AFTER_QUERY_QUEUE: usize = 4096;

/// One loaded plugin in the chain.
pub struct Link {
    pub plugin: Arc<dyn Plugin>,
    /// The plugin's name, shared with every verdict it gives rather than copied into each.
    name: Arc<str>,
    pub config: PluginConfig,
    pub loaded_at: SystemTime,
    /// Feeds the plugin's after-query worker, when it asked for the hook.
    after_query: Option<mpsc::Sender<AfterQuery>>,
}

impl Link {
    /// Wraps a loaded plugin; starts its after-query worker (on the current tokio runtime)
    /// if it asked for the hook.
    pub fn new(plugin: Arc<dyn Plugin>, config: PluginConfig, loaded_at: SystemTime) -> Link {
        let after_query = plugin.wants_after_query().then(|| {
            let (tx, mut rx) = mpsc::channel::<AfterQuery>(AFTER_QUERY_QUEUE);
            let worker = plugin.clone();
            tokio::spawn(async move {
                while let Some(event) = rx.recv().await {
                    worker.after_query(event).await;
                }
            });
            tx
        });
        Link {
            name: Arc::from(plugin.name()),
            plugin,
            config,
            loaded_at,
            after_query,
        }
    }
}

impl Link {
    /// The same loaded plugin in a new chain (a reload that did not change it).
    pub fn reuse(link: &Link) -> Link {
        Link {
            name: link.name.clone(),
            plugin: link.plugin.clone(),
            config: link.config.clone(),
            loaded_at: link.loaded_at,
            after_query: link.after_query.clone(),
        }
    }
}

/// The plugins one transaction routes with.
#[derive(Default)]
pub struct Chain {
    pub links: Vec<Link>,
}

/// The chain's answer for a query: the decision and the plugin that made it.
#[derive(Debug)]
pub struct Verdict {
    pub decision: Decision,
    /// The deciding plugin's place in `Chain::links`. An index rather than its name: a
    /// shared name's reference count, touched on every call from every worker, would
    /// move its cache line between cores at each query.
    pub plugin: Option<usize>,
}

impl Chain {
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The name of the plugin a verdict came from.
    pub fn decided_by(&self, verdict: &Verdict) -> Option<Arc<str>> {
        verdict
            .plugin
            .and_then(|index| self.links.get(index))
            .map(|link| link.name.clone())
    }

    /// Some plugin wants to hear how statements went.
    pub fn wants_after_query(&self) -> bool {
        self.links.iter().any(|l| l.after_query.is_some())
    }

    /// Asks each plugin in turn about each statement of the query text `sql`.
    pub fn route(&self, statements: &[Statement], sql: &str, ctx: &Context<'_>) -> Verdict {
        for (index, link) in self.links.iter().enumerate() {
            for stmt in statements {
                let started = Instant::now();
                let answer = link
                    .plugin
                    .route(stmt, sql, ctx)
                    .and_then(|d| check(d, ctx));
                link.plugin
                    .stats()
                    .record(started.elapsed(), answer.is_err());
                let name = link.plugin.name();
                match answer {
                    Ok(Decision::Pass) => continue,
                    Ok(decision) => {
                        debug!(plugin = name, ?decision, "plugin decided");
                        return Verdict {
                            decision,
                            plugin: Some(index),
                        };
                    }
                    Err(err) => match link.config.on_error {
                        OnError::FailOpen => {
                            warn!(
                                plugin = name,
                                "plugin {err}; skipped (on_error = fail_open)"
                            );
                            break;
                        }
                        OnError::FailClosed => {
                            warn!(
                                plugin = name,
                                "plugin {err}; statement refused (on_error = fail_closed)"
                            );
                            let reject = ErrorResponse::error(
                                PLUGIN_FAILED,
                                format!("routing plugin \"{name}\" {err}"),
                            )
                            .with_detail("The plugin's on_error policy is fail_closed, so the statement was not run.");
                            return Verdict {
                                decision: Decision::Reject(reject),
                                plugin: Some(index),
                            };
                        }
                    },
                }
            }
        }
        Verdict {
            decision: Decision::Pass,
            plugin: None,
        }
    }

    /// Queues `event` for every plugin that wants it; a full queue drops it (and says so).
    pub fn after_query(&self, event: AfterQuery) {
        let mut senders = self.links.iter().filter_map(|l| {
            l.after_query
                .as_ref()
                .map(|tx| (l.plugin.name().to_string(), tx))
        });
        let Some(first) = senders.next() else { return };
        for (name, tx) in senders {
            if tx.try_send(event.clone()).is_err() {
                warn!(plugin = name, "after-query queue full; event dropped");
            }
        }
        if first.1.try_send(event).is_err() {
            warn!(plugin = first.0, "after-query queue full; event dropped");
        }
    }

    pub fn find(&self, name: &str) -> Option<&Link> {
        self.links.iter().find(|l| l.plugin.name() == name)
    }
}

/// Refuses a decision pgDog cannot carry out, so a buggy plugin is handled by its policy
/// rather than sending nonsense to a client or a server.
fn check(decision: Decision, ctx: &Context<'_>) -> Result<Decision, PluginError> {
    let target = |t: &Target| -> Result<(), PluginError> {
        if let Some(Shards::Set(set)) = &t.shards {
            if set.is_empty() {
                return Err(PluginError::Invalid(
                    "a route to an empty list of shards".into(),
                ));
            }
            if let Some(bad) = set.iter().find(|&&s| s >= ctx.shards) {
                return Err(PluginError::Invalid(format!(
                    "shard {bad} does not exist: the database has {} shard(s)",
                    ctx.shards
                )));
            }
        }
        Ok(())
    };
    match &decision {
        Decision::Pass => {}
        Decision::Route(t) => target(t)?,
        Decision::Rewrite { sql, target: t } => {
            if sql.trim().is_empty() {
                return Err(PluginError::Invalid("a rewrite to empty SQL".into()));
            }
            if sql.contains('\0') {
                return Err(PluginError::Invalid(
                    "a rewrite whose SQL holds a NUL byte".into(),
                ));
            }
            target(t)?;
        }
        Decision::Reject(err) => {
            let valid = err.code.len() == 5
                && err
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
            if !valid {
                return Err(PluginError::Invalid(format!(
                    "\"{}\" is not a SQLSTATE (five digits or upper-case letters)",
                    err.code.escape_debug()
                )));
            }
            if err.message.contains('\0') || err.detail.as_deref().is_some_and(|d| d.contains('\0'))
            {
                return Err(PluginError::Invalid(
                    "an error message holding a NUL byte".into(),
                ));
            }
        }
        Decision::SplitCopy(split) => {
            if split.delimiter == 0 || split.delimiter == b'\n' || split.delimiter == b'\r' {
                return Err(PluginError::Invalid(format!(
                    "COPY with delimiter {:?}",
                    split.delimiter as char
                )));
            }
        }
        Decision::Respond(respond) => {
            if respond.oids.len() > respond.columns.len() {
                return Err(PluginError::Invalid(
                    "more column types than columns".into(),
                ));
            }
            if respond.columns.is_empty() || respond.columns.len() > MAX_COLUMNS {
                return Err(PluginError::Invalid(format!(
                    "a response with {} columns (1 to {MAX_COLUMNS})",
                    respond.columns.len()
                )));
            }
            if respond.columns.iter().any(|c| c.contains('\0')) {
                return Err(PluginError::Invalid(
                    "a column name holding a NUL byte".into(),
                ));
            }
            if let Some(row) = respond
                .rows
                .iter()
                .find(|r| r.len() != respond.columns.len())
            {
                return Err(PluginError::Invalid(format!(
                    "a response row with {} values for {} columns",
                    row.len(),
                    respond.columns.len()
                )));
            }
        }
    }
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::{Respond, Stats};
    use crate::router::route::Params;
    use crate::router::statement::Command;

    /// A plugin answering from a fixed script, to test the chain's rules.
    struct Scripted {
        name: &'static str,
        answer: Result<Decision, PluginError>,
        stats: Stats,
    }

    impl Plugin for Scripted {
        fn name(&self) -> &str {
            self.name
        }
        fn version(&self) -> &str {
            "1"
        }
        fn content_hash(&self) -> &str {
            ""
        }
        fn stats(&self) -> &Stats {
            &self.stats
        }
        fn route(&self, _: &Statement, _: &str, _: &Context<'_>) -> Result<Decision, PluginError> {
            self.answer.clone()
        }
    }

    fn chain(plugins: Vec<(Result<Decision, PluginError>, OnError)>) -> Chain {
        let links = plugins
            .into_iter()
            .enumerate()
            .map(|(i, (answer, on_error))| {
                let name: &'static str = ["first", "second", "third"][i];
                let plugin = Arc::new(Scripted {
                    name,
                    answer,
                    stats: Stats::default(),
                });
                let config = PluginConfig {
                    name: name.into(),
                    path: "x.wasm".into(),
                    config: Default::default(),
                    on_error,
                    timeout_ms: 10,
                    memory_mb: 1,
                };
                Link {
                    name: Arc::from(name),
                    plugin,
                    config,
                    loaded_at: SystemTime::now(),
                    after_query: None,
                }
            })
            .collect();
        Chain { links }
    }

    fn ask(chain: &Chain, shards: usize) -> Verdict {
        let params = Params::default();
        let ctx = Context {
            database: "db",
            user: "u",
            shards,
            has_replicas: false,
            in_transaction: false,
            params: &params,
        };
        chain.route(&[Statement::empty(Command::Select)], "SELECT 1", &ctx)
    }

    fn to(shard: usize) -> Decision {
        Decision::Route(Target {
            shards: Some(Shards::Set(vec![shard])),
            role: None,
        })
    }

    #[test]
    fn first_decision_that_is_not_pass_wins() {
        let c = chain(vec![
            (Ok(Decision::Pass), OnError::FailClosed),
            (Ok(to(1)), OnError::FailClosed),
            (Ok(to(0)), OnError::FailClosed),
        ]);
        let v = ask(&c, 2);
        assert_eq!(v.decision, to(1));
        assert_eq!(c.decided_by(&v).as_deref(), Some("second"));
        assert_eq!(ask(&chain(vec![]), 2).decision, Decision::Pass);
    }

    #[test]
    fn failures_follow_the_policy() {
        let timeout = Err(PluginError::Timeout(10));
        let open = chain(vec![
            (timeout.clone(), OnError::FailOpen),
            (Ok(to(1)), OnError::FailClosed),
        ]);
        assert_eq!(ask(&open, 2).decision, to(1));
        assert_eq!(open.links[0].plugin.stats().errors(), 1);
        let closed = chain(vec![
            (timeout, OnError::FailClosed),
            (Ok(to(1)), OnError::FailClosed),
        ]);
        match ask(&closed, 2).decision {
            Decision::Reject(err) => {
                assert_eq!(err.code, PLUGIN_FAILED);
                assert!(
                    err.message.contains("\"first\" timed out after 10 ms"),
                    "{}",
                    err.message
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_decisions_are_plugin_errors() {
        let bad = [
            to(2),
            Decision::Route(Target {
                shards: Some(Shards::Set(vec![])),
                role: None,
            }),
            Decision::Reject(ErrorResponse::error("nope", "x")),
            Decision::Respond(Respond {
                columns: vec!["a".into()],
                rows: vec![vec![None, None]],
                oids: Vec::new(),
            }),
            Decision::Rewrite {
                sql: " ".into(),
                target: Target {
                    shards: Some(Shards::Any),
                    role: None,
                },
            },
        ];
        for decision in bad {
            let c = chain(vec![(Ok(decision.clone()), OnError::FailOpen)]);
            assert_eq!(ask(&c, 2).decision, Decision::Pass, "{decision:?}");
            assert_eq!(c.links[0].plugin.stats().errors(), 1);
        }
    }
}
