//! Routing a held extended-protocol batch: which shards and role its Binds need, what
//! the plugins decide about each Bind (and about a Parse no Bind of the batch executes),
//! and the Parse messages a plugin rewrote.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};

use super::{ClientError, Session};
use crate::config::Role;
use crate::plugins::Decision;
use crate::router::cache::Summaries;
use crate::router::route::Params;
use crate::wire::frontend::{self, Parse};
use crate::wire::{ErrorResponse, Message};

impl Session {
    /// Where a held batch runs, from the statements its Binds execute: their shards,
    /// which must agree (`None` without a Bind), and the primary if any of them needs it
    /// (a batch that only prepares or describes reads the catalog, which replicas have
    /// too). Plugins are asked about each Bind, and about each Parse that no Bind of the
    /// batch executes (a prepare-only batch), where only a rewrite counts.
    /// The outer error is a malformed message; the inner one is for the client.
    pub(super) async fn batch_route(
        &self,
        held: &[Message],
    ) -> Result<Result<BatchRoute, Bytes>, ClientError> {
        let mut named: HashMap<&str, (&str, usize)> = HashMap::new();
        let mut unnamed: Option<(&str, Option<usize>)> =
            self.last_unnamed.as_deref().map(|sql| (sql, None));
        let mut route = BatchRoute {
            shards: None,
            role: Role::Replica,
            rewrites: Vec::new(),
            audit: None,
            raise: None,
            copy: None,
        };
        let mut bound: Vec<usize> = Vec::new();
        for (index, msg) in held.iter().enumerate() {
            match msg.tag() {
                b'P' => {
                    let parse = Parse::decode(msg)?;
                    if parse.name.is_empty() {
                        unnamed = Some((parse.query, Some(index)));
                    } else {
                        named.insert(parse.name, (parse.query, index));
                    }
                }
                b'B' => {
                    let bind = frontend::bind_params(msg)?;
                    let parsed_here = if bind.statement.is_empty() {
                        unnamed.and_then(|(_, at)| at)
                    } else {
                        named.get(bind.statement).map(|&(_, at)| at)
                    };
                    bound.extend(parsed_here);
                    let (summaries, params, sql) =
                        self.bind_target(bind, &named, unnamed.map(|(sql, _)| sql));
                    let mut target = None;
                    if let (Some(summaries), Some(sql), false) =
                        (&summaries, sql, self.chain.is_empty())
                    {
                        let verdict = self.ask_plugins(sql, summaries, &params);
                        match verdict.decision {
                            Decision::Pass => {}
                            // What the plugin said of the COPY's options is informational: pgDog reads
                // them from the statement, as the servers will.
                Decision::SplitCopy(_) => {
                                match self.plugin_copy(summaries, self.chain.decided_by(&verdict).as_deref()) {
                                    Ok((t, copy)) => {
                                        target = Some(t);
                                        route.copy = Some(copy);
                                    }
                                    Err(err) => return Ok(Err(super::plugins::error_bytes(&err))),
                                }
                            }
                            Decision::Route(t) => target = Some(t),
                            Decision::Reject(err) if self.in_transaction() && self.fan.is_empty() && !self.fan_aborted => {
                                // Fail the transaction on its server too, as PostgreSQL
                                // would: the batch becomes a RAISE of this error.
                                route.raise = Some((
                                    super::plugins::raise_sql(&err),
                                    super::plugins::error_bytes(&err),
                                ));
                                return Ok(Ok(route));
                            }
                            Decision::Reject(err) => return Ok(Err(super::plugins::error_bytes(&err))),
                            Decision::Rewrite { sql: new_sql, target: t } => {
                                let Some(at) = parsed_here else {
                                    return Ok(Err(not_here(
                                        "a plugin rewrote a statement prepared before this batch; pgDog rewrites a statement when it is parsed, or in the batch that parses it",
                                    )));
                                };
                                route.rewrites.push((at, reparse(&held[at], &new_sql)?));
                                target = Some(t);
                            }
                            Decision::Respond(_) => {
                                return Ok(Err(not_here(
                                    "a plugin answered this statement with rows, which pgDog sends through the simple query protocol only",
                                )))
                            }
                        }
                    }
                    let these = match (target.as_ref().and_then(|t| t.shards.as_ref()), &summaries)
                    {
                        (Some(shards), _) => self.plugin_shards(shards),
                        (None, Some(summaries)) => match self.shards_of(summaries, &params) {
                            Ok(these) => these,
                            Err(err) => return Ok(Err(err)),
                        },
                        (None, None) => vec![self.unknown_statement_shard()],
                    };
                    let role = match (target.and_then(|t| t.role), &summaries) {
                        (chosen, Some(summaries)) => self.plugin_role(chosen, summaries),
                        (Some(role), None) => role,
                        // An unknown statement: let the primary report it.
                        (None, None) => Role::Primary,
                    };
                    if role == Role::Primary {
                        route.role = Role::Primary;
                    }
                    if self.chain.wants_after_query() {
                        if let (Some(summaries), Some(sql)) = (&summaries, sql) {
                            route.audit =
                                Some((summaries.clone(), sql.to_string(), params.clone()));
                        }
                    }
                    match &route.shards {
                        Some(earlier) if *earlier != these => {
                            let err = ErrorResponse::error(
                                "0A000",
                                "the statements of this pipeline belong to different shards; pgDog routes a batch (up to Sync) as one",
                            )
                            .with_detail("Send a Sync between statements for different shards, or use the simple query protocol.");
                            return Ok(Err(Bytes::from(err.to_bytes())));
                        }
                        _ => route.shards = Some(these),
                    }
                }
                _ => {}
            }
        }
        if !self.chain.is_empty() {
            // Parses no Bind of this batch executes: a rewrite must happen now, before the
            // server prepares the client's text.
            for (index, msg) in held.iter().enumerate() {
                if msg.tag() != b'P' || bound.contains(&index) {
                    continue;
                }
                let parse = Parse::decode(msg)?;
                let summaries = self.shared.parse_cache.get(parse.query);
                let verdict = self.ask_plugins(parse.query, &summaries, &Params::default());
                // Only a rewrite counts here: the rest depends on the parameters, and is
                // decided at the Bind.
                if let Decision::Rewrite { sql, .. } = verdict.decision {
                    route.rewrites.push((index, reparse(msg, &sql)?));
                }
            }
        }
        if self.login.mode == crate::config::PoolerMode::Session {
            // A session keeps the server its first batch gets, and only the primary can
            // take whatever comes later (a driver's prepare-only batch would otherwise pin
            // the session to a replica).
            route.role = Role::Primary;
        }
        Ok(Ok(route))
    }

    /// The shard of the statement a Bind executes, on a server already attached. The
    /// outer error is a malformed message; the inner one is for the client.
    pub(super) fn route_bind(
        &self,
        bind: &Message,
        unnamed: Option<&str>,
    ) -> Result<Result<usize, Bytes>, frontend::Malformed> {
        let bind = frontend::bind_params(bind)?;
        let (summaries, params, _) = self.bind_target(bind, &HashMap::new(), unnamed);
        let Some(summaries) = summaries else {
            return Ok(Ok(self.unknown_statement_shard()));
        };
        Ok(self
            .shards_of(&summaries, &params)
            .and_then(|shards| match shards[..] {
                [one] => Ok(one),
                _ => Err(cross_shard(
                    self.login.cluster.sharding.as_ref().map_or(1, |s| s.shards),
                )),
            }))
    }

    /// The summaries of the statement a Bind executes (`None` when pgDog does not know it),
    /// its bound parameters and its SQL text. `named`: the statements parsed earlier in the
    /// batch, with their position in it.
    fn bind_target<'a>(
        &'a self,
        bind: frontend::BindParams<'_>,
        named: &HashMap<&'a str, (&'a str, usize)>,
        unnamed: Option<&'a str>,
    ) -> (Option<Summaries>, Params, Option<&'a str>) {
        let name = bind.statement;
        let sql = if name.is_empty() {
            unnamed
        } else if let Some(&(sql, _)) = named.get(name) {
            Some(sql)
        } else {
            self.statements.get(name).and_then(|stmt| stmt.sql())
        };
        let Some(sql) = sql else {
            return (None, Params::default(), None);
        };
        let summaries = self.shared.parse_cache.get(sql);
        let params = Params {
            values: bind.values,
            formats: bind.formats,
        };
        (Some(summaries), params, Some(sql))
    }

    /// A statement pgDog does not know: the server reports it, any shard can.
    fn unknown_statement_shard(&self) -> usize {
        if self.server.is_some() {
            self.shard
        } else {
            0
        }
    }
}

/// Where a held batch runs.
pub(super) struct BatchRoute {
    pub shards: Option<Vec<usize>>,
    pub role: Role,
    /// Parse messages (by index in the batch) a plugin rewrote, with their replacement.
    pub rewrites: Vec<(usize, Message)>,
    /// The statement the batch executes, its text and parameters, for the after-query
    /// hook (only when a plugin wants it).
    pub audit: Option<(Summaries, String, Params)>,
    /// A plugin refused a statement inside a transaction: instead of the batch, the server
    /// runs this SQL (which raises the refusal) so the transaction fails there too; the
    /// error bytes are the answer when that cannot be done.
    pub raise: Option<(String, Bytes)>,
    /// A plugin splits the rows of the COPY this batch runs.
    pub copy: Option<super::plugin_copy::PluginCopy>,
}

/// `parse` with its query text replaced, same name and parameter types.
fn reparse(parse: &Message, sql: &str) -> Result<Message, frontend::Malformed> {
    let decoded = Parse::decode(parse)?;
    let types = &decoded.rest[decoded.query.len() + 1..];
    let mut rest = Vec::with_capacity(sql.len() + 1 + types.len());
    rest.extend_from_slice(sql.as_bytes());
    rest.push(0);
    rest.extend_from_slice(types);
    Ok(Message::from_frame(frontend::parse_with_name(
        decoded.name,
        &rest,
    )))
}

/// A plugin decision pgDog cannot carry out in the extended protocol.
fn not_here(message: &str) -> Bytes {
    Bytes::from(ErrorResponse::error("0A000", message).to_bytes())
}

fn cross_shard(shards: usize) -> Bytes {
    let err = ErrorResponse::error(
        "0A000",
        format!("this statement needs more than one of the {shards} shards; through the extended query protocol pgDog runs statements on one shard only (the simple query protocol can span shards)"),
    )
    .with_detail(
        "Filter on the sharding key, pick a shard with /* pgdog_shard: N */ or SET pgdog.shard, or send the query with the simple query protocol.",
    );
    let mut out = BytesMut::new();
    err.encode(&mut out);
    out.freeze()
}
