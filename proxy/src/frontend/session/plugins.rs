//! The session's side of routing plugins: asking the chain, and carrying out what it
//! decides (a route, a rewrite, a rejection, or rows answered without a server).
//!
//! A session keeps the chain it started a transaction with until the transaction ends, so
//! a reload never changes the plugins in the middle of one.

use bytes::{Bytes, BytesMut};

use super::plugin_copy::PluginCopy;
use super::Session;
use crate::config::Role;
use crate::plugins::chain::PLUGIN_FAILED;
use crate::plugins::{Context, Respond, Target, Verdict};
use crate::router::route::{Params, Shards};
use crate::router::statement::{Command, Statement};
use crate::wire::backend::{command_complete, data_row, row_description_typed};
use crate::wire::ErrorResponse;

impl Session {
    /// Statements go through the routing path: the database is sharded or replicated, or
    /// plugins decide.
    pub(super) fn routed(&self) -> bool {
        self.login.cluster.sharding.is_some() || !self.chain.is_empty()
    }

    /// The client is inside a transaction, by what pgDog has seen of it.
    pub(super) fn in_transaction(&self) -> bool {
        self.deferred_begin.is_some()
            || self.server.as_ref().is_some_and(|s| s.status != b'I')
            || self.fan_status() != b'I'
    }

    /// Picks up a reloaded chain, but only between transactions, and only with nothing
    /// held or in flight: a batch is routed by the chain it started with. Inlined: it runs
    /// twice per transaction and nearly always stops at the first comparison.
    #[inline]
    pub(super) fn refresh_chain(&mut self) {
        let generation = self.shared.plugins.generation();
        if generation != self.chain_generation
            && self.held.is_empty()
            && self.pending.is_idle()
            && !self.in_transaction()
        {
            self.chain = self.shared.plugins.current();
            self.chain_generation = generation;
        }
    }

    /// Asks the chain about the statements of `sql`; `Pass` without plugins.
    pub(super) fn ask_plugins(
        &self,
        sql: &str,
        statements: &[Statement],
        params: &Params,
    ) -> Verdict {
        let cluster = &self.login.cluster;
        let ctx = Context {
            database: &self.login.database,
            user: &self.login.user,
            shards: cluster.shards.len(),
            has_replicas: cluster.shards.iter().any(|s| s.has_replicas()),
            in_transaction: self.in_transaction(),
            params,
        };
        self.chain.route(statements, sql, &ctx)
    }

    /// The role a statement runs with when a plugin may have chosen one. A plugin's
    /// replica is not honoured where the server stays with the client afterwards (session
    /// pooling, or inside a transaction that is not READ ONLY): what follows may write, and
    /// the connection could not leave the replica. The built-in choice applies there.
    pub(super) fn plugin_role(&self, chosen: Option<Role>, statements: &[Statement]) -> Role {
        let pinned = self.login.mode == crate::config::PoolerMode::Session
            || self.deferred_begin.is_some()
            || self.fan_status() != b'I';
        match chosen {
            Some(Role::Replica) if pinned => self.role_for(statements),
            Some(role) => role,
            None => self.role_for(statements),
        }
    }

    /// The concrete shards of a plugin's route (already checked against the shard count).
    pub(super) fn plugin_shards(&self, shards: &Shards) -> Vec<usize> {
        let count = self.login.cluster.shards.len().max(1);
        match shards {
            Shards::All => (0..count).collect(),
            Shards::Set(set) => set.clone(),
            // Stay where the transaction already is.
            Shards::Any => vec![match (&self.server, self.fan.first()) {
                (Some(_), _) => self.shard,
                (None, Some((shard, _))) => *shard,
                (None, None) => 0,
            }],
        }
    }

    /// A plugin's COPY decision: the COPY goes to every shard's primary, and the plugin
    /// splits its rows once the shards are in copy-in mode.
    pub(super) fn plugin_copy(
        &self,
        statements: &[Statement],
        plugin: Option<&str>,
    ) -> Result<(Target, PluginCopy), ErrorResponse> {
        let name = plugin.unwrap_or("?");
        let refuse = |why: &str| {
            ErrorResponse::error(
                PLUGIN_FAILED,
                format!("routing plugin \"{name}\" answered COPY for {why}"),
            )
        };
        let [only] = statements else {
            return Err(refuse("several statements"));
        };
        if only.command != Command::CopyFrom || !only.copy.as_ref().is_some_and(|c| c.stdio) {
            return Err(refuse("a statement that is not COPY … FROM STDIN"));
        }
        if only.copy.as_ref().is_some_and(|c| c.binary) {
            return Err(ErrorResponse::error(
                "0A000",
                "a plugin cannot split a COPY in binary format; use text or CSV",
            ));
        }
        let Some(link) = self.chain.find(name) else {
            return Err(refuse("a COPY, but is no longer loaded"));
        };
        let target = Target {
            shards: Some(Shards::All),
            role: Some(Role::Primary),
        };
        let copy = PluginCopy {
            plugin: link.plugin.clone(),
        };
        Ok((target, copy))
    }

    /// Before pgDog answers something itself: replies the attached server still owes for
    /// earlier pipelined requests go to the client first, so answers stay in order.
    pub(super) async fn settle_before_local_answer(&mut self) {
        if self.server.is_some() && !self.pending.is_idle() {
            if let Err(err) = self.settle_attached().await {
                // The server is gone with replies the client still waits for: it is told,
                // as when a server dies mid-request, and the session ends.
                tracing::warn!(client = %self.peer, error = %err, "server lost while settling before a local answer");
                ErrorResponse::fatal("08006", "server closed the connection unexpectedly")
                    .with_detail(err.to_string())
                    .encode(&mut self.cout);
                self.server_lost = true;
            }
        }
    }

    /// Answers a simple query with a plugin's rows.
    pub(super) fn respond_simple(&mut self, respond: &Respond) {
        encode_rows(&mut self.cout, respond, true);
        self.ready();
    }
}

/// RowDescription (unless `describe` is false), the DataRows and CommandComplete of a
/// plugin's answer.
pub(super) fn encode_rows(out: &mut BytesMut, respond: &Respond, describe: bool) {
    if describe {
        let columns: Vec<&str> = respond.columns.iter().map(String::as_str).collect();
        row_description_typed(out, &columns, &respond.oids);
    }
    for row in &respond.rows {
        let values: Vec<Option<&str>> = row.iter().map(Option::as_deref).collect();
        data_row(out, &values);
    }
    command_complete(out, &format!("SELECT {}", respond.rows.len()));
}

/// SQL that makes the server raise `err`: how a rejection inside a transaction fails that
/// transaction on the server too, as any error in it would, so a later COMMIT cannot
/// commit what came before the rejected statement.
pub(super) fn raise_sql(err: &ErrorResponse) -> String {
    let mut body = format!(
        "BEGIN RAISE EXCEPTION USING ERRCODE = {}, MESSAGE = {}",
        literal(&err.code),
        literal(&err.message)
    );
    if let Some(detail) = &err.detail {
        body.push_str(&format!(", DETAIL = {}", literal(detail)));
    }
    body.push_str("; END");
    // A dollar-quote tag the body does not contain.
    let tag = (0..)
        .map(|n| {
            if n == 0 {
                "$pgdog$".to_string()
            } else {
                format!("$pgdog{n}$")
            }
        })
        .find(|tag| !body.contains(tag.as_str()))
        .unwrap_or_default();
    format!("DO {tag} {body} {tag}")
}

/// An escape-string literal, right whatever `standard_conforming_strings` says.
fn literal(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('\'', "''");
    format!("E'{escaped}'")
}

/// The error bytes of a rejection, for paths that report errors as bytes.
pub(super) fn error_bytes(err: &ErrorResponse) -> Bytes {
    Bytes::from(err.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_sql_quotes_everything() {
        let err = ErrorResponse::error("42501", "it's \\ denied").with_detail("x'y");
        assert_eq!(
            raise_sql(&err),
            "DO $pgdog$ BEGIN RAISE EXCEPTION USING ERRCODE = E'42501', MESSAGE = E'it''s \\\\ denied', DETAIL = E'x''y'; END $pgdog$"
        );
        let sneaky = ErrorResponse::error("P0001", "$pgdog$");
        assert!(raise_sql(&sneaky).starts_with("DO $pgdog1$ "));
    }
}
