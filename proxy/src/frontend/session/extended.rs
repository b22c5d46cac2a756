//! Extended-protocol batches on several shards.
//!
//! A batch (Parse, Bind, Describe, Execute, Close, up to Sync) whose statement needs
//! several shards, or that arrives while a transaction spans shards, is held until Sync
//! and then sent to every shard it needs. Named statements are prepared on each shard's
//! server beforehand (under their proxy-wide names), and a Describe of the portal is
//! slipped in before each Execute that has none, so pgDog learns the result's columns and
//! formats (text or binary) to merge rows by; that RowDescription is not sent on to the
//! client, which did not ask for it.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use super::responses::{Expect, Outcome, Replies};
use super::{ClientError, Session};
use crate::backend::prepared::server_name;
use crate::backend::BackendError;
use crate::fanout::merge::Plan;
use crate::router::rewrite::{self, ShardLimit};
use crate::router::statement::{Command, Statement};
use crate::wire::error::ServerError;
use crate::wire::frontend::{self, Parse};
use crate::wire::{ErrorResponse, Message};

impl Session {
    /// Runs a held batch, ending with Sync, on the fan. `shards`: where its statement goes,
    /// if the caller routed it already.
    pub(super) async fn fan_batch(
        &mut self,
        mut held: Vec<Message>,
        shards: Option<Vec<usize>>,
    ) -> Result<(), ClientError> {
        if self.fan_status() == b'E' {
            ErrorResponse::error(
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
            )
            .encode(&mut self.cout);
            return self.end_batch();
        }
        let shards = match shards {
            Some(shards) => shards,
            None => match self.batch_route(&held).await? {
                Ok(route) => {
                    self.copy_split = route.copy;
                    for (at, parse) in route.rewrites {
                        held[at] = parse;
                    }
                    match route.shards {
                        Some(shards) => shards,
                        // Parse and Describe only read the catalog, which every shard has
                        // alike.
                        None => vec![self.fan.first().map_or(0, |(s, _)| *s)],
                    }
                }
                Err(err) => {
                    self.cout.extend_from_slice(&err);
                    return self.end_batch();
                }
            },
        };
        let Bound { statements, rest } = self.bound_statement(&held)?;
        if let Err(err) = check_portals(&held, shards.len()) {
            err.encode(&mut self.cout);
            return self.end_batch();
        }
        let only = match &statements[..] {
            [only] => Some(only),
            _ => None,
        };
        let mut plan = None;
        let mut rewrite: Option<Bytes> = None;
        if let (Some(stmt), true) = (only, shards.len() > 1) {
            if let Err(err) = self.check_extended(stmt) {
                err.encode(&mut self.cout);
                return self.end_batch();
            }
            if stmt.command == Command::Select {
                if distinct_binds(&held) > 1 {
                    ErrorResponse::error(
                        "0A000",
                        "a batch that binds several statements cannot merge a SELECT across shards; send a Sync after each",
                    )
                    .encode(&mut self.cout);
                    return self.end_batch();
                }
                match plan_with_rewrite(stmt, rest.as_deref()) {
                    Ok((p, rewritten)) => {
                        plan = Some(p);
                        rewrite = rewritten;
                    }
                    Err(err) => {
                        err.encode(&mut self.cout);
                        return self.end_batch();
                    }
                }
            }
        }
        let role = self.role_for(&statements);
        if let Err(err) = self.attach_fan(&shards, role).await {
            err.to_client().encode(&mut self.cout);
            return self.end_batch();
        }
        if let Err(err) = self.prepare_on_fan(&held, &shards).await {
            match err {
                Prepare::Failed(error) => {
                    error.to_client().encode(&mut self.cout);
                    return self.end_batch();
                }
                Prepare::Lost(shard, error) => {
                    self.after_fan(Outcome::Lost { shard, error }, false);
                    return Ok(());
                }
            }
        }
        let (stream, expect) = self.batch_stream(&held, rewrite.as_ref())?;
        let implicit = shards.len() > 1
            && self.fan_status() == b'I'
            && only.is_some_and(|s| matches!(s.command, Command::Update | Command::Delete));
        let mut at = Vec::with_capacity(shards.len());
        for shard in &shards {
            let index = self.fan_index(*shard);
            let server = &mut self.fan[index].1;
            let write = async {
                if implicit {
                    server.run_internal("BEGIN").await?;
                }
                server.stream.write_all(&stream).await?;
                Ok::<_, BackendError>(())
            };
            if let Err(error) = write.await {
                self.after_fan(
                    Outcome::Lost {
                        shard: *shard,
                        error,
                    },
                    implicit,
                );
                return Ok(());
            }
            at.push(index);
        }
        let replicated = match self.login.cluster.sharding.as_ref() {
            Some(sharding) => statements.iter().all(|s| !sharding.touches_sharded(s)),
            None => true,
        };
        let how = Replies {
            plan,
            skip_header: false,
            replicated,
            expect,
        };
        let outcome = self.merge_replies(&at, how).await?;
        if implicit && matches!(outcome, Outcome::Done) {
            self.end_implicit(false).await;
        }
        self.after_fan(outcome, implicit);
        Ok(())
    }

    /// What a batch cannot do on several shards through the extended protocol.
    fn check_extended(&self, stmt: &Statement) -> Result<(), ErrorResponse> {
        let sharded = self
            .login
            .cluster
            .sharding
            .as_ref()
            .is_some_and(|s| s.touches_sharded(stmt));
        match stmt.command {
            Command::Insert if sharded => Err(ErrorResponse::error(
                "0A000",
                "an INSERT whose rows belong to different shards must be sent with the simple query protocol (pgDog splits it there)",
            )),
            Command::CopyFrom | Command::CopyTo => Err(ErrorResponse::error(
                "0A000",
                "COPY across shards works with the simple query protocol only",
            )),
            _ => Ok(()),
        }
    }

    /// Reports what pgDog said in place of the batch's replies, and the final
    /// ReadyForQuery.
    fn end_batch(&mut self) -> Result<(), ClientError> {
        let status = self.local_status();
        crate::wire::backend::ready_for_query(&mut self.cout, status);
        Ok(())
    }

    /// The statement a batch executes (its first Bind's, else its first Parse's) and the
    /// bound parameters.
    fn bound_statement(&self, held: &[Message]) -> Result<Bound, ClientError> {
        let mut named: std::collections::HashMap<&str, &[u8]> = Default::default();
        let mut unnamed: Option<&[u8]> = None;
        let mut first_parse: Option<&[u8]> = None;
        let summaries = |rest: Option<&[u8]>| {
            let sql = rest.and_then(|r| crate::wire::Reader::new(r).cstr());
            match sql {
                Some(sql) => self.shared.parse_cache.get(sql).to_vec(),
                None => Vec::new(),
            }
        };
        for msg in held {
            match msg.tag() {
                b'P' => {
                    let parse = Parse::decode(msg)?;
                    first_parse.get_or_insert(parse.rest);
                    if parse.name.is_empty() {
                        unnamed = Some(parse.rest);
                    } else {
                        named.insert(parse.name, parse.rest);
                    }
                }
                b'B' => {
                    let name = frontend::bind_statement(msg)?;
                    let rest: Option<Vec<u8>> = if name.is_empty() {
                        unnamed.map(<[u8]>::to_vec)
                    } else {
                        named
                            .get(name)
                            .map(|r| r.to_vec())
                            .or_else(|| Some(self.statements.get(name)?.rest().to_vec()))
                    };
                    return Ok(Bound {
                        statements: summaries(rest.as_deref()),
                        rest,
                    });
                }
                _ => {}
            }
        }
        Ok(Bound {
            statements: summaries(first_parse),
            rest: None,
        })
    }

    /// Prepares on every server of `shards` the named statements the batch binds or
    /// describes and the server lacks, one round trip each.
    async fn prepare_on_fan(&mut self, held: &[Message], shards: &[usize]) -> Result<(), Prepare> {
        let limit = self.shared.config.general.prepared_statements_limit;
        for msg in held {
            if msg.tag() == b'P' {
                // A named Parse registers the client's name now; the statement is prepared
                // below like any other the batch uses, and the Parse itself reaches the
                // shards as an unnamed one, which answers alike whether or not a shard
                // held the statement already.
                if let Ok(parse) = Parse::decode(msg) {
                    if !parse.name.is_empty() {
                        let stmt = self.shared.statements.get_or_insert(parse.rest);
                        self.statements.insert(parse.name, stmt);
                    }
                }
            }
            let name = match msg.tag() {
                b'P' => Parse::decode(msg).map(|p| p.name).unwrap_or(""),
                b'B' => frontend::bind_statement(msg).unwrap_or(""),
                b'D' => match frontend::target(msg) {
                    Ok((b'S', name)) => name,
                    _ => "",
                },
                _ => "",
            };
            if name.is_empty() {
                continue;
            }
            let Some(stmt) = self.statements.get(name).cloned() else {
                continue;
            };
            for shard in shards {
                let index = self.fan_index(*shard);
                let server = &mut self.fan[index].1;
                if server.prepared.contains(stmt.id) {
                    continue;
                }
                let mut out = BytesMut::new();
                for old in server.prepared.insert(stmt.id, limit) {
                    out.extend_from_slice(&frontend::target_message(b'C', b'S', &server_name(old)));
                }
                out.extend_from_slice(&frontend::parse_with_name(&stmt.server_name, stmt.rest()));
                out.extend_from_slice(b"S\0\0\0\x04");
                let lost = |e: BackendError| Prepare::Lost(*shard, e);
                server
                    .stream
                    .write_all(&out)
                    .await
                    .map_err(|e| lost(e.into()))?;
                let mut failure = None;
                loop {
                    let reply = server.read_message().await.map_err(lost)?;
                    match reply.tag() {
                        b'E' => failure = Some(ServerError::parse(reply.body())),
                        b'Z' => {
                            server.status = reply.body().first().copied().unwrap_or(b'I');
                            break;
                        }
                        _ => {}
                    }
                }
                if let Some(error) = failure {
                    server.prepared.remove(stmt.id);
                    return Err(Prepare::Failed(BackendError::Query(error)));
                }
                stmt.mark_valid();
            }
        }
        Ok(())
    }

    /// The bytes every shard gets for the batch, with statement names translated and a
    /// Describe before each Execute that lacks one; and for each Describe, whether the
    /// client asked for it (its RowDescription or NoData goes to the client).
    fn batch_stream(
        &mut self,
        held: &[Message],
        rewrite: Option<&Bytes>,
    ) -> Result<(Bytes, VecDeque<Expect>), ClientError> {
        let mut out = BytesMut::new();
        let mut expect = VecDeque::new();
        let mut described_portal = false;
        for msg in held {
            match msg.tag() {
                b'P' => {
                    let parse = Parse::decode(msg)?;
                    expect.push_back(Expect::Parse { visible: true });
                    if parse.name.is_empty() {
                        out.extend_from_slice(msg.bytes());
                    } else {
                        // Prepared under its proxy-wide name already (`prepare_on_fan`).
                        out.extend_from_slice(&frontend::parse_with_name("", parse.rest));
                    }
                    described_portal = false;
                }
                b'B' if rewrite.is_some() => {
                    // The shards run the rewritten statement (hidden AVG columns, LIMIT
                    // pushed down), prepared unnamed right before its Bind.
                    out.extend_from_slice(rewrite.expect("checked"));
                    expect.push_back(Expect::Parse { visible: false });
                    out.extend_from_slice(&frontend::bind_with_statement(msg, "")?);
                    described_portal = false;
                }
                b'B' => {
                    let name = frontend::bind_statement(msg)?;
                    match self.statements.get(name) {
                        Some(stmt) if !name.is_empty() => out.extend_from_slice(
                            &frontend::bind_with_statement(msg, &stmt.server_name)?,
                        ),
                        _ => out.extend_from_slice(msg.bytes()),
                    }
                    described_portal = false;
                }
                b'D' => {
                    let (kind, name) = frontend::target(msg)?;
                    match (kind, self.statements.get(name)) {
                        (b'S', Some(stmt)) if !name.is_empty() => out.extend_from_slice(
                            &frontend::target_message(b'D', b'S', &stmt.server_name),
                        ),
                        _ => out.extend_from_slice(msg.bytes()),
                    }
                    expect.push_back(if kind == b'P' {
                        Expect::Describe { visible: true }
                    } else {
                        Expect::DescribeStatement
                    });
                    described_portal = kind == b'P';
                }
                b'E' => {
                    if !described_portal {
                        let portal = crate::wire::Reader::new(msg.body()).cstr().unwrap_or("");
                        out.extend_from_slice(&frontend::target_message(b'D', b'P', portal));
                        expect.push_back(Expect::Describe { visible: false });
                    }
                    out.extend_from_slice(msg.bytes());
                    described_portal = false;
                }
                b'C' => {
                    let (kind, name) = frontend::target(msg)?;
                    if kind == b'S' && !name.is_empty() {
                        // Statements are shared on servers; the client only lets go of its
                        // name. The shards still answer a Close, of the unnamed statement.
                        self.statements.remove(name);
                        out.extend_from_slice(&frontend::target_message(b'C', b'S', ""));
                    } else {
                        out.extend_from_slice(msg.bytes());
                    }
                }
                _ => out.extend_from_slice(msg.bytes()),
            }
        }
        out.extend_from_slice(b"S\0\0\0\x04");
        Ok((out.freeze(), expect))
    }
}

/// How many different statement names the batch's Binds use.
fn distinct_binds(held: &[Message]) -> usize {
    let mut names: Vec<&str> = held
        .iter()
        .filter(|m| m.tag() == b'B')
        .filter_map(|m| frontend::bind_statement(m).ok())
        .collect();
    names.sort_unstable();
    names.dedup();
    names.len()
}

/// The statement a batch executes.
struct Bound {
    statements: Vec<Statement>,
    /// Its Parse body after the name: text, NUL, parameter types.
    rest: Option<Vec<u8>>,
}

/// What a batch on several shards cannot do: fetch a portal a few rows at a time (each
/// shard would hand out its own first rows), or run a portal opened by an earlier batch,
/// or bind several different statements when the shards run a rewritten one.
fn check_portals(held: &[Message], shards: usize) -> Result<(), ErrorResponse> {
    if shards < 2 {
        return Ok(());
    }
    let refuse = |why: &str| Err(ErrorResponse::error("0A000", why.to_string()));
    let mut bound = false;
    for msg in held {
        match msg.tag() {
            b'B' => bound = true,
            b'E' => {
                let mut r = crate::wire::Reader::new(msg.body());
                let max_rows = r.cstr().and_then(|_| r.i32()).unwrap_or(0);
                if max_rows > 0 {
                    return refuse("fetching a result a few rows at a time (Execute with a row limit) is not supported across shards");
                }
                if !bound {
                    return refuse("a portal opened by an earlier batch cannot run across shards");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The merge plan of a SELECT a batch runs on several shards, and the unnamed Parse of
/// the statement the shards run instead of the client's, if it differs.
fn plan_with_rewrite(
    stmt: &Statement,
    rest: Option<&[u8]>,
) -> Result<(Plan, Option<Bytes>), ErrorResponse> {
    let plan = Plan::new(stmt)?;
    let limit = plan.shard_limit();
    if !plan.has_avg() && limit == ShardLimit::Keep {
        return Ok((plan, None));
    }
    let unsupported = |why: String| ErrorResponse::error("0A000", why);
    let rest = rest.ok_or_else(|| unsupported("the statement's text is unknown".into()))?;
    let mut reader = crate::wire::Reader::new(rest);
    let sql = reader
        .cstr()
        .ok_or_else(|| unsupported("malformed statement".into()))?;
    let types = reader.remaining();
    let rewritten = rewrite::for_fanout(sql, limit).map_err(|e| unsupported(e.to_string()))?;
    let Some(rewritten) = rewritten else {
        return Ok((plan, None));
    };
    let mut body = Vec::with_capacity(rewritten.sql.len() + 1 + types.len());
    body.extend_from_slice(rewritten.sql.as_bytes());
    body.push(0);
    body.extend_from_slice(types);
    let plan = plan.with_hidden(rewritten.avg, rewritten.hidden);
    Ok((plan, Some(frontend::parse_with_name("", &body))))
}

/// Why preparing a batch's statements on the fan failed.
enum Prepare {
    /// A shard refused the statement: the client gets its error.
    Failed(BackendError),
    Lost(usize, BackendError),
}
