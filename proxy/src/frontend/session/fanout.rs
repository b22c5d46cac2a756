//! Statements that run on several shards, and transactions that reach more than one.
//!
//! A session normally streams one server's replies straight to its client. When a
//! statement needs several shards, or a transaction has already reached a second shard,
//! the session switches to its *fan*: one server per shard it touches, held together until
//! the transaction ends. Each statement is sent to the shards it needs (a shard joining a
//! transaction gets the client's BEGIN first), and the replies are merged by
//! [`super::responses`] into the single reply stream PostgreSQL would have sent.
//!
//! A transaction that failed on any shard is failed everywhere: further statements get
//! 25P02 from pgDog, and COMMIT rolls back every shard (PostgreSQL answers a COMMIT of a
//! failed transaction with ROLLBACK, too).

use bytes::Bytes;
use tracing::warn;

use super::responses::{Outcome, Replies};
use super::{ClientError, Session};

use crate::config::PoolerMode;
use crate::fanout::merge::Plan;
use crate::router::rewrite::{self, FanoutSql, ShardLimit};
use crate::router::statement::{Command, Statement};
use crate::wire::backend::command_complete;
use crate::wire::{frontend, ErrorResponse};

/// Where one statement of a fanned-out query goes.
pub(super) struct Leg {
    pub shard: usize,
    /// The Query message this shard runs.
    pub query: Bytes,
}

impl Session {
    /// Whether a statement for `shards` must go through the fan rather than the single
    /// attached server.
    pub(super) fn needs_fan(&self, shards: &[usize]) -> bool {
        !self.fan.is_empty()
            || shards.len() > 1
            || (self.server.is_some() && shards.first() != Some(&self.shard))
    }

    /// The transaction status the client sees while the fan holds servers.
    pub(super) fn fan_status(&self) -> u8 {
        if self.fan_aborted {
            return b'E';
        }
        let mut status = b'I';
        for (_, server) in &self.fan {
            match server.status {
                b'E' => return b'E',
                b'T' => status = b'T',
                _ => {}
            }
        }
        status
    }

    /// Runs a simple query whose statements need `shards`, merging the replies.
    pub(super) async fn fan_query(
        &mut self,
        msg: Bytes,
        sql: &str,
        statements: &[Statement],
        mut shards: Vec<usize>,
    ) -> Result<(), ClientError> {
        let only = match statements {
            [only] => Some(only),
            _ => None,
        };
        let command = only.map(|s| s.command);
        let ends_transaction = matches!(command, Some(Command::Commit | Command::Rollback));
        // ROLLBACK TO SAVEPOINT is how a failed transaction recovers; every shard still
        // holds the savepoint unless one was lost.
        let rollback_to = command == Some(Command::Savepoint)
            && sql
                .trim_start()
                .get(..8)
                .is_some_and(|w| w.eq_ignore_ascii_case("rollback"));
        let recovers = rollback_to && !self.fan_aborted;
        if self.fan_status() == b'E' && !recovers {
            return self.in_failed_transaction(command).await;
        }
        if matches!(
            command,
            Some(
                Command::Begin
                    | Command::Commit
                    | Command::Rollback
                    | Command::Savepoint
                    | Command::Set
            )
        ) {
            // Transaction control belongs to every shard the transaction reached, and a
            // SET to every shard the session holds.
            shards = self.fan.iter().map(|(s, _)| *s).collect();
            if let Some(shard) = self.server.as_ref().map(|_| self.shard) {
                shards.push(shard);
            }
            shards.sort_unstable();
            shards.dedup();
        }
        if statements.len() > 1 && self.must_split(statements, &shards) {
            return self.fan_split(sql, statements).await;
        }
        let (legs, plan) = match self.prepare_legs(msg, sql, only, &shards) {
            Ok(prepared) => prepared,
            Err(err) => {
                self.reply_error(err);
                return Ok(());
            }
        };
        let shards: Vec<usize> = legs.iter().map(|l| l.shard).collect();
        let role = self.role_for(statements);
        if let Err(err) = self.attach_fan(&shards, role).await {
            warn!(client = %self.peer, error = %err, "no server for a shard");
            self.reply_error(err.to_client());
            return Ok(());
        }
        // A write that several shards share is all or nothing: outside a transaction it
        // runs in one on every shard, committed only if every shard succeeded. (DDL is
        // left alone: some of it, like CREATE INDEX CONCURRENTLY, refuses transactions.)
        let implicit = legs.len() > 1
            && self.fan_status() == b'I'
            && statements.iter().all(|s| {
                matches!(
                    s.command,
                    Command::Insert | Command::Update | Command::Delete | Command::CopyFrom
                )
            });
        if implicit {
            for leg in &legs {
                let index = self.fan_index(leg.shard);
                if let Err(error) = self.fan[index].1.run_internal("BEGIN").await {
                    self.after_fan(
                        Outcome::Lost {
                            shard: leg.shard,
                            error,
                        },
                        true,
                    );
                    return Ok(());
                }
            }
        }
        let skip_header = only
            .and_then(|s| s.copy.as_ref())
            .is_some_and(|c| c.header && c.csv && only.map(|s| s.command) == Some(Command::CopyTo));
        let how = Replies {
            plan,
            skip_header,
            replicated: self.replicated(statements),
            ..Replies::default()
        };
        let outcome = self.run_legs(&legs, how).await?;
        if let Outcome::CopyIn = outcome {
            let stmt = only.expect("COPY is a single statement");
            let shards = legs.iter().map(|l| l.shard).collect();
            return self.start_copy_in(stmt, shards, implicit).await;
        }
        if implicit && matches!(outcome, Outcome::Done) {
            self.end_implicit(false).await;
        }
        self.after_fan(outcome, ends_transaction || implicit);
        Ok(())
    }

    /// Whether the statements of a multi-statement query must run one by one: they need
    /// different shards (sending the whole text everywhere would run each statement on
    /// shards it does not belong to), or their rows need merging.
    fn must_split(&self, statements: &[Statement], union: &[usize]) -> bool {
        statements.iter().any(|stmt| {
            matches!(
                stmt.command,
                Command::Select | Command::SelectForUpdate | Command::CopyFrom | Command::CopyTo
            ) || self
                .shards_of(std::slice::from_ref(stmt), &Default::default())
                .map_or(true, |shards| shards != union)
        })
    }

    /// Runs the statements of a multi-statement query one at a time, each on its own
    /// shards, as one transaction (PostgreSQL runs such a query in an implicit transaction,
    /// so a failing statement undoes the ones before it).
    async fn fan_split(&mut self, sql: &str, statements: &[Statement]) -> Result<(), ClientError> {
        let refuse = |why: &str| ErrorResponse::error("0A000", why.to_string());
        let texts = match pg_query::split_with_parser(sql) {
            Ok(texts) if texts.len() == statements.len() => texts,
            _ => {
                self.reply_error(refuse("this multi-statement query could not be split into its statements; send them one at a time"));
                return Ok(());
            }
        };
        if statements.iter().any(|s| {
            matches!(
                s.command,
                Command::Begin
                    | Command::Commit
                    | Command::Rollback
                    | Command::Savepoint
                    | Command::CopyFrom
                    | Command::CopyTo
            )
        }) {
            self.reply_error(refuse("transaction control and COPY cannot be part of a multi-statement query that spans shards; send them on their own"));
            return Ok(());
        }
        let mut per_statement = Vec::with_capacity(statements.len());
        for stmt in statements {
            match self.shards_of(std::slice::from_ref(stmt), &Default::default()) {
                Ok(shards) => per_statement.push(shards),
                Err(err) => {
                    self.cout.extend_from_slice(&err);
                    self.ready_on_fan();
                    return Ok(());
                }
            }
        }
        let mut union: Vec<usize> = per_statement.iter().flatten().copied().collect();
        union.sort_unstable();
        union.dedup();
        let role = self.role_for(statements);
        if let Err(err) = self.attach_fan(&union, role).await {
            warn!(client = %self.peer, error = %err, "no server for a shard");
            self.reply_error(err.to_client());
            return Ok(());
        }
        let implicit = self.fan_status() == b'I';
        if implicit {
            for shard in &union {
                let index = self.fan_index(*shard);
                if let Err(error) = self.fan[index].1.run_internal("BEGIN").await {
                    self.after_fan(
                        Outcome::Lost {
                            shard: *shard,
                            error,
                        },
                        true,
                    );
                    return Ok(());
                }
            }
        }
        let mut refused = false;
        for ((text, stmt), shards) in texts.iter().zip(statements).zip(&per_statement) {
            let (legs, plan) =
                match self.prepare_legs(frontend::query(text), text, Some(stmt), shards) {
                    Ok(prepared) => prepared,
                    Err(err) => {
                        err.encode(&mut self.cout);
                        refused = true;
                        break;
                    }
                };
            let how = Replies {
                plan,
                replicated: self.replicated(std::slice::from_ref(stmt)),
                ..Replies::default()
            };
            match self.run_legs(&legs, how).await? {
                Outcome::Done => {}
                outcome => {
                    self.after_fan(outcome, implicit);
                    return Ok(());
                }
            }
            if self.fan.iter().any(|(_, s)| s.status == b'E') {
                break;
            }
        }
        if implicit {
            self.end_implicit(refused).await;
        } else if refused {
            // Like an error from a server, pgDog's own error fails the transaction.
            self.fan_aborted = true;
        }
        self.after_fan(Outcome::Done, false);
        Ok(())
    }

    /// ReadyForQuery with the fan's status.
    fn ready_on_fan(&mut self) {
        let status = self.local_status();
        crate::wire::backend::ready_for_query(&mut self.cout, status);
    }

    /// The statements write only tables copied on every shard: one shard's row count and
    /// returned rows speak for all.
    fn replicated(&self, statements: &[Statement]) -> bool {
        match self.login.cluster.sharding.as_ref() {
            Some(sharding) => statements.iter().all(|s| !sharding.touches_sharded(s)),
            None => true,
        }
    }

    /// The legs of one statement (the client's Query, or per shard its rows of a split
    /// INSERT, or the rewritten SELECT) and the merge plan of a SELECT across shards.
    fn prepare_legs(
        &self,
        msg: Bytes,
        sql: &str,
        only: Option<&Statement>,
        shards: &[usize],
    ) -> Result<(Vec<Leg>, Option<Plan>), ErrorResponse> {
        let legs = self.build_legs(msg, sql, only, shards)?;
        let Some(stmt) = only.filter(|s| s.command == Command::Select && legs.len() > 1) else {
            return Ok((legs, None));
        };
        Ok(match plan_for(stmt, sql)? {
            (plan, None) => (legs, Some(plan)),
            (plan, Some(rewritten)) => {
                let query = frontend::query(&rewritten.sql);
                let legs = legs
                    .into_iter()
                    .map(|leg| Leg {
                        shard: leg.shard,
                        query: query.clone(),
                    })
                    .collect();
                (
                    legs,
                    Some(plan.with_hidden(rewritten.avg, rewritten.hidden)),
                )
            }
        })
    }

    /// Ends the transaction pgDog opened around a write on several shards: COMMIT if every
    /// shard succeeded, else ROLLBACK everywhere.
    pub(super) async fn end_implicit(&mut self, refused: bool) {
        let failed = refused || self.fan.iter().any(|(_, s)| s.status == b'E');
        let sql = if failed { "ROLLBACK" } else { "COMMIT" };
        let mut lost = Vec::new();
        for (shard, server) in self.fan.iter_mut() {
            if server.status == b'I' {
                continue;
            }
            if let Err(err) = server.run_internal(sql).await {
                warn!(shard = *shard, error = %err, "{sql} of a cross-shard write failed");
                if !failed {
                    ErrorResponse::error(
                        "40003",
                        format!("COMMIT failed on shard {shard}; other shards may have committed"),
                    )
                    .with_detail(err.to_string())
                    .encode(&mut self.cout);
                }
                lost.push(*shard);
            }
        }
        self.fan.retain(|(s, _)| !lost.contains(s));
    }

    /// The Query each shard runs: the client's own, or for a multi-row INSERT that spans
    /// shards, one holding only that shard's rows.
    fn build_legs(
        &self,
        msg: Bytes,
        sql: &str,
        only: Option<&Statement>,
        shards: &[usize],
    ) -> Result<Vec<Leg>, ErrorResponse> {
        if let (Some(stmt), true) = (only, shards.len() > 1) {
            if stmt.command == Command::CopyFrom {
                let tables = self.login.cluster.sharding.as_ref().map(|s| &s.tables[..]);
                super::copy::copy_key(stmt, tables.unwrap_or_default())?;
            }
            if stmt.command == Command::CopyTo && stmt.copy.as_ref().is_some_and(|c| c.binary) {
                // Each shard's binary stream has its own header and trailer.
                return Err(ErrorResponse::error(
                    "0A000",
                    "COPY TO in binary format across shards is not supported; use text or CSV",
                ));
            }
            if stmt.command == Command::Insert {
                if let Some(rows) = self.insert_row_shards(stmt)? {
                    let mut legs = Vec::new();
                    for shard in shards {
                        let mine: Vec<usize> = rows
                            .iter()
                            .enumerate()
                            .filter(|(_, s)| *s == shard)
                            .map(|(i, _)| i)
                            .collect();
                        if mine.is_empty() {
                            continue;
                        }
                        let text = rewrite::insert_rows(sql, &mine)
                            .map_err(|e| ErrorResponse::error("0A000", e.to_string()))?;
                        legs.push(Leg {
                            shard: *shard,
                            query: frontend::query(&text),
                        });
                    }
                    return Ok(legs);
                }
            }
        }
        Ok(shards
            .iter()
            .map(|shard| Leg {
                shard: *shard,
                query: msg.clone(),
            })
            .collect())
    }

    /// The shard of each VALUES row of a sharded INSERT, `None` when it is not one.
    fn insert_row_shards(&self, stmt: &Statement) -> Result<Option<Vec<usize>>, ErrorResponse> {
        let Some(sharding) = self.login.cluster.sharding.as_ref() else {
            return Ok(None);
        };
        sharding.insert_row_shards(stmt, &Default::default())
    }

    /// Bookkeeping after a fanned-out query: give servers back at the end of a
    /// transaction, or give up on a fan that lost a server.
    /// `ends_transaction`: the statement was the client's COMMIT or ROLLBACK, or a
    /// transaction pgDog itself opened around it; losing a shard then leaves no
    /// transaction for the client to end.
    pub(super) fn after_fan(&mut self, outcome: Outcome, ends_transaction: bool) {
        match outcome {
            Outcome::Done | Outcome::CopyIn => {
                let status = self.fan_status();
                crate::wire::backend::ready_for_query(&mut self.cout, status);
            }
            Outcome::Lost { shard, error } => {
                warn!(client = %self.peer, shard, %error, "shard connection lost mid-query");
                let was_in_transaction =
                    self.fan.iter().any(|(_, s)| s.status != b'I') && !ends_transaction;
                // Dropping the guards closes them: their protocol state is unknown, and
                // closing aborts whatever transaction they had open.
                self.fan.clear();
                self.clear_slot();
                ErrorResponse::error(
                    "08006",
                    format!("lost the connection to shard {shard}: {error}"),
                )
                .encode(&mut self.cout);
                self.fan_aborted = was_in_transaction;
                crate::wire::backend::ready_for_query(
                    &mut self.cout,
                    if was_in_transaction { b'E' } else { b'I' },
                );
                return;
            }
        }
        let idle = self.fan.iter().all(|(_, s)| s.status == b'I');
        if idle {
            self.txn_begin = None;
            self.txn_read_only = false;
            self.txn_savepoints.clear();
            self.forced_local = None;
            self.forced_role_local = None;
            if self.login.mode == PoolerMode::Transaction {
                self.clear_slot();
                for (_, server) in self.fan.drain(..) {
                    server.release();
                }
            }
        }
    }

    /// A transaction failed on some shard: only ending it is allowed.
    async fn in_failed_transaction(&mut self, command: Option<Command>) -> Result<(), ClientError> {
        match command {
            Some(Command::Commit | Command::Rollback) => {
                self.rollback_fan().await;
                command_complete(&mut self.cout, "ROLLBACK");
                crate::wire::backend::ready_for_query(&mut self.cout, b'I');
            }
            _ => {
                ErrorResponse::error(
                    "25P02",
                    "current transaction is aborted, commands ignored until end of transaction block",
                )
                .encode(&mut self.cout);
                crate::wire::backend::ready_for_query(&mut self.cout, b'E');
            }
        }
        Ok(())
    }

    /// An error pgDog reports itself, in place of the statement's replies.
    pub(super) fn reply_error(&mut self, err: ErrorResponse) {
        err.encode(&mut self.cout);
        let status = if self.fan.is_empty() {
            self.local_status()
        } else {
            self.fan_status()
        };
        crate::wire::backend::ready_for_query(&mut self.cout, status);
    }
}

/// Flushes the client's buffer once it holds this much: merged results stream.
pub(super) const FLUSH_AT: usize = 64 * 1024;

/// The merge plan of a SELECT across shards, and the SQL the shards run instead of the
/// client's (hidden AVG columns, LIMIT pushed down) if it differs.
fn plan_for(stmt: &Statement, sql: &str) -> Result<(Plan, Option<FanoutSql>), ErrorResponse> {
    let plan = Plan::new(stmt)?;
    let limit = plan.shard_limit();
    if !plan.has_avg() && limit == ShardLimit::Keep {
        return Ok((plan, None));
    }
    match rewrite::for_fanout(sql, limit) {
        Ok(rewritten) => Ok((plan, rewritten)),
        // Without the push-down every shard would apply the OFFSET (or cut its partial
        // groups short) itself: refuse rather than answer wrongly.
        Err(err) => Err(ErrorResponse::error("0A000", err.to_string())),
    }
}
