//! Sessions on sharded databases: choosing the shard of each statement.
//!
//! Simple queries are routed as they arrive; one that needs several shards, or a
//! transaction that reaches a second shard, goes to the fan (`fanout`). Extended-protocol
//! messages are held while no server is attached, until Sync or Flush: only then are the
//! statement's text and its bound parameters both known; they run on one shard (a clear
//! 0A000 error otherwise). BEGIN is answered by pgDog and replayed on each shard the
//! transaction reaches.

use bytes::Bytes;

use super::batch::BatchRoute;
use super::{ClientError, Flow, Session};
use crate::config::{PoolerMode, Role};
use crate::frontend::pending::Entry;
use crate::plugins::{Decision, Target};
use crate::router::route::{Override, Params, Shards};
use crate::router::statement::{Command, Statement};
use crate::wire::backend::{command_complete, ready_for_query};
use crate::wire::frontend::{self, Parse};
use crate::wire::{ErrorResponse, Message};

impl Session {
    /// Routes `msg` on a sharded database. `Some(flow)`: fully handled here; `None`: the
    /// ordinary path continues, with the right shard's server attached if one is needed.
    pub(super) async fn on_sharded_message(
        &mut self,
        msg: &Message,
    ) -> Result<Option<Flow>, ClientError> {
        let tag = msg.tag();
        if self.fan_copy.is_some() {
            self.on_fan_copy(msg).await?;
            return Ok(Some(Flow::Continue));
        }
        if tag == b'Q' {
            return self.on_sharded_query(msg).await;
        }
        if !self.fan.is_empty() || self.fan_aborted {
            return self.extended_on_fan(msg).await.map(Some);
        }
        if self.server.is_some() {
            // At a batch boundary (inside a transaction, or in session mode), hold the batch
            // like a session without a server does: its statement may need another shard,
            // which the fan can add.
            // A server checked out for reads holds every batch: one that writes must wait
            // for it to go back and take the primary.
            // With plugins, every batch is held: a plugin must see each statement (a
            // pipelined one too) before any server does.
            let boundary = (self.held.is_empty() && self.pending.is_idle())
                || self.server_role == Role::Replica
                || !self.chain.is_empty();
            match tag {
                b'P' | b'B' | b'D' | b'E' | b'C' if boundary || !self.held.is_empty() => {
                    self.held.push(msg.clone());
                    return Ok(Some(Flow::Continue));
                }
                b'S' | b'H' if !self.held.is_empty() => return self.release_held_at(tag).await,
                _ => {}
            }
        }
        if self.server.is_some() {
            if tag == b'B' {
                let routed = self.route_bind(msg, self.last_unnamed.as_deref())?;
                if let Err(err) = routed.and_then(|shard| self.same_shard(shard)) {
                    // Reported in order, after the replies to what the server already has.
                    self.pending.push(Entry::Local(err), &mut self.cout);
                    self.skip_until_sync = true;
                    return Ok(Some(Flow::Continue));
                }
            }
            return Ok(None);
        }
        match tag {
            b'P' if self.held.is_empty() => {
                let parse = Parse::decode(msg)?;
                // With plugins every Parse is held: a plugin may rewrite it.
                let known = self.chain.is_empty()
                    && !parse.name.is_empty()
                    && self.shared.statements.get_or_insert(parse.rest).is_valid();
                if known {
                    return Ok(None);
                }
                self.held.push(msg.clone());
                Ok(Some(Flow::Continue))
            }
            b'C' if self.held.is_empty() => Ok(None),
            b'P' | b'B' | b'D' | b'E' | b'C' => {
                self.held.push(msg.clone());
                Ok(Some(Flow::Continue))
            }
            b'S' | b'H' if !self.held.is_empty() => self.release_held_at(tag).await,
            _ => Ok(None),
        }
    }

    /// Extended-protocol messages while a transaction spans shards: held until Sync, then
    /// run on the fan.
    async fn extended_on_fan(&mut self, msg: &Message) -> Result<Flow, ClientError> {
        match msg.tag() {
            b'P' | b'B' | b'D' | b'E' | b'C' => self.held.push(msg.clone()),
            b'S' => {
                let held = std::mem::take(&mut self.held);
                if held.is_empty() {
                    let status = self.fan_status();
                    ready_for_query(&mut self.cout, status);
                } else {
                    self.fan_batch(held, None).await?;
                }
            }
            b'F' => {
                ErrorResponse::error(
                    "0A000",
                    "the function call protocol is not supported inside a transaction that spans shards",
                )
                .encode(&mut self.cout);
                let status = self.fan_status();
                ready_for_query(&mut self.cout, status);
            }
            // Flush: the replies come at Sync. Left-over COPY messages after a COPY that
            // already ended are dropped, as PostgreSQL does.
            _ => {}
        }
        Ok(Flow::Continue)
    }

    async fn on_sharded_query(&mut self, msg: &Message) -> Result<Option<Flow>, ClientError> {
        let sql = frontend::query_text(msg)?;
        let mut summaries = self.shared.parse_cache.get_inline(sql);
        if let [only] = &summaries[..] {
            match only.command {
                // Shards that join this transaction later open it the same way.
                Command::Begin => {
                    self.txn_begin = Some(sql.to_string());
                    self.txn_read_only = only.read_only_transaction;
                    self.txn_savepoints.clear();
                }
                Command::Savepoint => self.txn_savepoints.push(sql.to_string()),
                _ => {}
            }
            if only
                .set
                .as_ref()
                .is_some_and(|s| s.name.starts_with("pgdog."))
            {
                // Answered by pgDog: what the attached server still owes an earlier
                // pipelined request goes to the client first.
                self.settle_before_local_answer().await;
            }
            if let Some(flow) = self.local_command(only, msg) {
                return Ok(Some(flow));
            }
        }
        // What a plugin decided: where to go, and possibly other SQL to send.
        let mut target = None;
        let mut rewritten: Option<(Message, String)> = None;
        // Set again below if a plugin splits this statement's COPY.
        self.copy_split = None;
        if !self.chain.is_empty() {
            let verdict = self.ask_plugins(sql, &summaries, &Params::default());
            match verdict.decision {
                Decision::Pass => {}
                // What the plugin said of the COPY's options is informational: pgDog reads
                // them from the statement, as the servers will.
                Decision::SplitCopy(_) => {
                    match self.plugin_copy(&summaries, self.chain.decided_by(&verdict).as_deref()) {
                        Ok((t, copy)) => {
                            target = Some(t);
                            self.copy_split = Some(copy);
                        }
                        Err(err) => {
                            self.settle_before_local_answer().await;
                            err.encode(&mut self.cout);
                            self.ready();
                            return Ok(Some(Flow::Continue));
                        }
                    }
                }
                Decision::Route(t) => target = Some(t),
                Decision::Rewrite {
                    sql: new_sql,
                    target: t,
                } => {
                    target = Some(t);
                    rewritten = Some((Message::from_frame(frontend::query(&new_sql)), new_sql));
                }
                Decision::Respond(respond) => {
                    self.settle_before_local_answer().await;
                    self.respond_simple(&respond);
                    return Ok(Some(Flow::Continue));
                }
                Decision::Reject(err) if !self.in_transaction() => {
                    self.settle_before_local_answer().await;
                    err.encode(&mut self.cout);
                    self.ready();
                    return Ok(Some(Flow::Continue));
                }
                Decision::Reject(err) => {
                    // Fail the transaction on its servers, as an error there would.
                    let raise = super::plugins::raise_sql(&err);
                    target = Some(Target {
                        shards: Some(Shards::Any),
                        role: None,
                    });
                    rewritten = Some((Message::from_frame(frontend::query(&raise)), raise));
                }
            }
        }
        let (msg, sql) = match &rewritten {
            Some((new_msg, new_sql)) => {
                summaries = self.shared.parse_cache.get_inline(new_sql);
                (new_msg, new_sql.as_str())
            }
            None => (msg, sql),
        };
        let shards = match target.as_ref().and_then(|t| t.shards.as_ref()) {
            Some(shards) => self.plugin_shards(shards),
            None => match self.shards_of(&summaries, &Params::default()) {
                Ok(shards) => shards,
                Err(err) => {
                    self.settle_before_local_answer().await;
                    self.cout.extend_from_slice(&err);
                    self.ready();
                    return Ok(Some(Flow::Continue));
                }
            },
        };
        if self.needs_fan(&shards) || self.fan_aborted {
            let bytes = msg.bytes().clone();
            self.fan_query(bytes, sql, &summaries, shards).await?;
            return Ok(Some(Flow::Continue));
        }
        let role = self.plugin_role(target.as_ref().and_then(|t| t.role), &summaries);
        if self.server.is_some() && self.server_role == Role::Replica && role == Role::Primary {
            // The attached server was checked out for reads: let it finish them (and go
            // back to the pool) before this statement takes the primary.
            if let Err(err) = self.settle_attached().await {
                self.reply_error(err.to_client());
                return Ok(Some(Flow::Continue));
            }
        }
        if self.server.is_none() {
            let in_transaction = self.deferred_begin.is_some();
            if !self.checkout_now(shards[0], role)
                && !self.checkout_or_report(shards[0], role, b'Q').await
            {
                return Ok(Some(Flow::Continue));
            }
            self.start_replay(shards[0], role, in_transaction);
        }
        self.start_audit(&summaries, sql, &Params::default(), &shards[..1]);
        if rewritten.is_some() {
            return self.dispatch(msg.clone()).map(Some);
        }
        Ok(None)
    }

    /// Statements pgDog answers itself on a sharded database: `SET pgdog.*`, and the
    /// BEGIN / COMMIT / ROLLBACK of a transaction that has not reached a shard yet.
    fn local_command(&mut self, stmt: &Statement, msg: &Message) -> Option<Flow> {
        let done = |session: &mut Session, tag: &str| {
            command_complete(&mut session.cout, tag);
            session.ready();
            Some(Flow::Continue)
        };
        match stmt.command {
            Command::Set => {
                let set = stmt.set.as_ref()?;
                let name = set.name.strip_prefix("pgdog.")?;
                if name == "role" {
                    return self.set_role(set.value.as_deref(), set.local);
                }
                let value = match (name, set.value.as_deref()) {
                    (_, None) => None,
                    ("shard", Some(v)) => match v.trim().parse() {
                        Ok(shard) => Some(Override::Shard(shard)),
                        Err(_) => {
                            return self.reject(ErrorResponse::error(
                                "22023",
                                format!("invalid value for pgdog.shard: \"{v}\""),
                            ))
                        }
                    },
                    ("sharding_key", Some(v)) => Some(Override::Key(v.to_string())),
                    (other, _) => {
                        return self.reject(ErrorResponse::error(
                            "42704",
                            format!("unrecognized configuration parameter \"pgdog.{other}\""),
                        ))
                    }
                };
                let in_transaction = self.in_transaction();
                if set.local {
                    // Like PostgreSQL, SET LOCAL outside a transaction has no effect.
                    if in_transaction {
                        self.forced_local = value;
                    }
                } else {
                    self.forced = value;
                }
                done(self, "SET")
            }
            Command::Begin if self.server.is_none() && self.fan.is_empty() && !self.fan_aborted => {
                self.deferred_begin = Some(Bytes::copy_from_slice(msg.bytes()));
                self.txn_begin = frontend::query_text(msg).ok().map(str::to_string);
                done(self, "BEGIN")
            }
            Command::Commit | Command::Rollback
                if self.server.is_none()
                    && self.fan.is_empty()
                    && !self.fan_aborted
                    && self.deferred_begin.is_some() =>
            {
                self.deferred_begin = None;
                self.txn_begin = None;
                self.txn_read_only = false;
                self.forced_local = None;
                self.forced_role_local = None;
                let tag = if stmt.command == Command::Commit {
                    "COMMIT"
                } else {
                    "ROLLBACK"
                };
                done(self, tag)
            }
            _ => None,
        }
    }

    /// `SET [LOCAL] pgdog.role = primary | replica` (or RESET).
    fn set_role(&mut self, value: Option<&str>, local: bool) -> Option<Flow> {
        let role = match value.map(|v| v.trim().to_ascii_lowercase()) {
            None => None,
            Some(v) if v == "primary" => Some(Role::Primary),
            Some(v) if v == "replica" => Some(Role::Replica),
            Some(v) => {
                return self.reject(ErrorResponse::error(
                    "22023",
                    format!("invalid value for pgdog.role: \"{v}\" (primary or replica)"),
                ))
            }
        };
        if local {
            let in_transaction = self.in_transaction();
            if in_transaction {
                self.forced_role_local = role;
            }
        } else {
            self.forced_role = role;
        }
        command_complete(&mut self.cout, "SET");
        self.ready();
        Some(Flow::Continue)
    }

    /// Where `statements` may run: a replica for reads outside a transaction (or in one
    /// that began READ ONLY), the primary for everything else; a `pgdog_role` comment or
    /// `SET pgdog.role` decides first.
    pub(super) fn role_for(&self, statements: &[Statement]) -> Role {
        if self.login.mode == PoolerMode::Session {
            // A session keeps its first server for good; only the primary can take
            // whatever comes later.
            return Role::Primary;
        }
        let comment = statements
            .iter()
            .find_map(|s| s.comment.as_deref().and_then(comment_role));
        if let Some(role) = comment.or(self.forced_role_local).or(self.forced_role) {
            return role;
        }
        if self.deferred_begin.is_some() || self.fan_status() != b'I' {
            return if self.txn_read_only {
                Role::Replica
            } else {
                Role::Primary
            };
        }
        let writers = &self.shared.config.general.write_functions;
        let reads = !statements.is_empty()
            && statements.iter().all(|s| {
                matches!(s.command, Command::Select | Command::Show)
                    && !s.writes
                    && !s
                        .functions
                        .iter()
                        .any(|f| writers.iter().any(|w| w.eq_ignore_ascii_case(f)))
            });
        if reads {
            Role::Replica
        } else {
            Role::Primary
        }
    }

    fn reject(&mut self, err: ErrorResponse) -> Option<Flow> {
        err.encode(&mut self.cout);
        self.ready();
        Some(Flow::Continue)
    }

    /// Releases the held batch at its Sync or Flush (`tag`). `None`: the Sync or Flush
    /// goes on to the batch's server.
    async fn release_held_at(&mut self, tag: u8) -> Result<Option<Flow>, ClientError> {
        if self.release_held(tag).await? {
            return Ok(Some(Flow::Continue));
        }
        if self.skip_until_sync {
            // pgDog answered the batch with an error; like PostgreSQL, it ends at Sync.
            if tag == b'S' {
                self.skip_until_sync = false;
                self.ready();
            }
            return Ok(Some(Flow::Continue));
        }
        Ok(None)
    }

    /// A batch a plugin refused inside a transaction: at its Sync, the transaction's server
    /// runs `sql` (a RAISE of the refusal) in place of the batch, and its ErrorResponse and
    /// ReadyForQuery answer the batch. At a Flush, or without a server to run it on, the
    /// client gets the error from pgDog.
    async fn raise_in_transaction(
        &mut self,
        tag: u8,
        sql: String,
        err: Bytes,
    ) -> Result<bool, ClientError> {
        let local = |session: &mut Session| {
            session.cout.extend_from_slice(&err);
            session.skip_until_sync = true;
            Ok(false)
        };
        if tag != b'S' {
            self.settle_before_local_answer().await;
            return local(self);
        }
        if self.server.is_none() {
            let in_transaction = self.deferred_begin.is_some();
            if !self.checkout_now(0, Role::Primary)
                && !self.checkout_or_report(0, Role::Primary, b'Q').await
            {
                return Ok(true);
            }
            self.start_replay(0, Role::Primary, in_transaction);
        }
        self.dispatch(Message::from_frame(frontend::query(&sql)))?;
        // The RAISE's ReadyForQuery answers the client's Sync.
        Ok(true)
    }

    /// Routes the held batch, checks out its shard and sends the batch there. True when
    /// the batch was handled completely (it ran on several shards, or waits for its Sync
    /// to do so).
    async fn release_held(&mut self, tag: u8) -> Result<bool, ClientError> {
        let mut held = std::mem::take(&mut self.held);
        let BatchRoute {
            shards,
            role,
            rewrites,
            audit,
            raise,
            copy,
        } = match self.batch_route(&held).await? {
            Ok(route) => route,
            Err(err) => {
                self.settle_before_local_answer().await;
                self.cout.extend_from_slice(&err);
                self.skip_until_sync = true;
                return Ok(false);
            }
        };
        self.copy_split = copy;
        if let Some((sql, err)) = raise {
            return self.raise_in_transaction(tag, sql, err).await;
        }
        for (at, parse) in rewrites {
            held[at] = parse;
        }
        let here = self.server.as_ref().map(|_| self.shard);
        let elsewhere = match (&shards, here) {
            (Some(shards), _) if shards.len() > 1 => true,
            (Some(shards), Some(here)) => shards[0] != here,
            _ => false,
        };
        if elsewhere {
            if tag == b'S' {
                self.fan_batch(held, shards).await?;
            } else {
                // The replies of a batch on several shards come at Sync.
                self.held = held;
            }
            return Ok(true);
        }
        // A batch without Bind (prepare, describe) reads only the catalog, which every
        // shard has alike.
        let shard = shards.and_then(|s| s.first().copied()).unwrap_or(0);
        if self.server.is_some() && self.server_role == Role::Replica && role == Role::Primary {
            if let Err(err) = self.settle_attached().await {
                err.to_client().encode(&mut self.cout);
                self.skip_until_sync = true;
                return Ok(false);
            }
        }
        self.catalog_only = !held.iter().any(|m| m.tag() == b'B');
        let in_transaction = self.deferred_begin.is_some();
        let checked_out = self.server.is_none();
        let attached = !checked_out
            || self.checkout_now(shard, role)
            || self.checkout_or_report(shard, role, b'P').await;
        self.catalog_only = false;
        if !attached {
            return Ok(false);
        }
        if checked_out {
            self.start_replay(shard, role, in_transaction);
        }
        if let Some((summaries, sql, params)) = audit {
            self.start_audit(&summaries, &sql, &params, &[shard]);
        }
        for msg in held {
            self.dispatch(msg)?;
        }
        Ok(false)
    }

    /// The shards `statements` run on (sorted, at least one), or the error the client gets.
    pub(super) fn shards_of(
        &self,
        statements: &[Statement],
        params: &Params,
    ) -> Result<Vec<usize>, Bytes> {
        let Some(sharding) = self.login.cluster.sharding.as_ref() else {
            return Ok(vec![0]);
        };
        let forced = self.forced_local.as_ref().or(self.forced.as_ref());
        let mut target: Vec<usize> = Vec::new();
        for stmt in statements {
            let route = sharding
                .route(stmt, params, forced)
                .map_err(|e| Bytes::from(e.to_bytes()))?;
            match route.shards {
                Shards::Any => continue,
                Shards::All => target.extend(0..sharding.shards.max(1)),
                Shards::Set(set) => target.extend(set),
            }
        }
        target.sort_unstable();
        target.dedup();
        if target.is_empty() {
            // Any shard will do: stay where the transaction already is.
            let here = match (&self.server, self.fan.first()) {
                (Some(_), _) => self.shard,
                (None, Some((shard, _))) => *shard,
                (None, None) => 0,
            };
            target.push(here);
        }
        Ok(target)
    }

    /// Inside a transaction every statement must stay on the transaction's shard.
    fn same_shard(&self, shard: usize) -> Result<(), Bytes> {
        if self.server.is_some() && shard != self.shard {
            let err = ErrorResponse::error(
                "0A000",
                format!(
                    "this statement belongs to shard {shard}, but the transaction already runs on shard {}; transactions across shards are not supported by pgDog yet",
                    self.shard
                ),
            );
            return Err(Bytes::from(err.to_bytes()));
        }
        Ok(())
    }
}

/// `pgdog_role: primary|replica` in a comment.
fn comment_role(comment: &str) -> Option<Role> {
    for part in comment.split([',', ';']) {
        let Some((key, value)) = part.split_once(':').or_else(|| part.split_once('=')) else {
            continue;
        };
        if key.trim() == "pgdog_role" {
            return match value.trim().trim_matches('\'').trim_matches('"') {
                "primary" => Some(Role::Primary),
                "replica" => Some(Role::Replica),
                _ => None,
            };
        }
    }
    None
}
