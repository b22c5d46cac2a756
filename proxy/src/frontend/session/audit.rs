//! Feeding plugins' after-query hook: what a statement was, where it ran, how many rows it
//! returned or changed, how long it took and how it failed, read off the replies as they
//! pass (no reply is held back for it).

use std::time::Instant;

use super::Session;
use crate::plugins::{AfterQuery, Outcome};
use crate::router::route::Params;
use crate::router::statement::Statement;
use crate::wire::error::ServerError;
use crate::wire::Reader;

/// A statement on its way, while some plugin wants to hear how it went.
pub(super) struct Audit {
    statement: Statement,
    sql: String,
    params: Params,
    shards: Vec<usize>,
    in_transaction: bool,
    started: Instant,
    rows: u64,
    error: Option<(String, String)>,
}

impl Audit {
    /// Reads one server message of the statement's replies.
    pub(super) fn observe(&mut self, tag: u8, body: &[u8]) {
        match tag {
            b'C' => {
                let count = Reader::new(body)
                    .cstr()
                    .and_then(|t| t.rsplit(' ').next())
                    .and_then(|n| n.parse::<u64>().ok());
                self.rows += count.unwrap_or(0);
            }
            b'E' if self.error.is_none() => {
                let err = ServerError::parse(body);
                self.error = Some((err.code, err.message));
            }
            _ => {}
        }
    }
}

impl Session {
    /// Starts watching a statement, if some plugin has the after-query hook.
    pub(super) fn start_audit(
        &mut self,
        statements: &[Statement],
        sql: &str,
        params: &Params,
        shards: &[usize],
    ) {
        // A statement pipelined behind one whose replies are still coming is counted with
        // it: replies are attributed when the server goes idle.
        if !self.chain.wants_after_query() || self.audit.is_some() {
            return;
        }
        let Some(first) = statements.first() else {
            return;
        };
        self.audit = Some(Box::new(Audit {
            statement: first.clone(),
            sql: sql.to_string(),
            params: params.clone(),
            shards: shards.to_vec(),
            in_transaction: self.in_transaction(),
            started: Instant::now(),
            rows: 0,
            error: None,
        }));
    }

    /// The statement's last reply has passed: hand its outcome to the plugins.
    pub(super) fn finish_audit(&mut self) {
        let Some(audit) = self.audit.take() else {
            return;
        };
        let cluster = &self.login.cluster;
        let event = AfterQuery {
            statement: audit.statement,
            sql: audit.sql,
            database: self.login.database.clone(),
            user: self.login.user.clone(),
            shards: cluster.shards.len(),
            has_replicas: cluster.shards.iter().any(|s| s.has_replicas()),
            in_transaction: audit.in_transaction,
            params: audit.params,
            outcome: Outcome {
                shards: audit.shards,
                rows: audit.rows,
                duration: audit.started.elapsed(),
                error: audit.error,
            },
        };
        self.chain.after_query(event);
    }
}
