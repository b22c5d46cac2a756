//! Sessions on sharded databases: choosing the shard of each statement.
//!
//! Simple queries are routed as they arrive. Extended-protocol messages are held while no
//! server is attached, until Sync or Flush: only then are the statement's text and its
//! bound parameters both known. A transaction stays on the first shard it reaches; BEGIN is
//! answered by pgDog and replayed there. Statements that need several shards get a clear
//! 0A000 error until cross-shard execution lands.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};

use super::{ClientError, Flow, Session};
use crate::frontend::pending::Entry;
use crate::router::route::{Override, Params, Shards};
use crate::router::statement::{Command, Statement};
use crate::wire::backend::command_complete;
use crate::wire::frontend::{self, Parse};
use crate::wire::{ErrorResponse, Message, Reader};

impl Session {
    /// Routes `msg` on a sharded database. `Some(flow)`: fully handled here; `None`: the
    /// ordinary path continues, with the right shard's server attached if one is needed.
    pub(super) async fn on_sharded_message(
        &mut self,
        msg: &Message,
    ) -> Result<Option<Flow>, ClientError> {
        let tag = msg.tag();
        if tag == b'Q' {
            return self.on_sharded_query(msg).await;
        }
        if self.server.is_some() {
            if tag == b'B' {
                let routed = self.route_bind(msg, &HashMap::new(), None)?;
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
                let known = !parse.name.is_empty()
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
            b'S' | b'H' if !self.held.is_empty() => {
                self.release_held().await?;
                if self.skip_until_sync {
                    if tag == b'S' {
                        self.skip_until_sync = false;
                        self.ready();
                    }
                    return Ok(Some(Flow::Continue));
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    async fn on_sharded_query(&mut self, msg: &Message) -> Result<Option<Flow>, ClientError> {
        let sql = frontend::query_text(msg)?;
        let summaries = self.shared.parse_cache.get(sql);
        if let [only] = &summaries[..] {
            if let Some(flow) = self.local_command(only, msg) {
                return Ok(Some(flow));
            }
        }
        let shard = match self
            .route_statements(&summaries, &Params::default())
            .and_then(|shard| self.same_shard(shard).map(|()| shard))
        {
            Ok(shard) => shard,
            Err(err) => {
                self.cout.extend_from_slice(&err);
                self.ready();
                return Ok(Some(Flow::Continue));
            }
        };
        if self.server.is_none() && !self.checkout_or_report(shard, b'Q').await {
            return Ok(Some(Flow::Continue));
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
                let in_transaction = self.server.is_some() || self.deferred_begin.is_some();
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
            Command::Begin if self.server.is_none() => {
                self.deferred_begin = Some(Bytes::copy_from_slice(msg.bytes()));
                done(self, "BEGIN")
            }
            Command::Commit | Command::Rollback
                if self.server.is_none() && self.deferred_begin.is_some() =>
            {
                self.deferred_begin = None;
                self.forced_local = None;
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

    fn reject(&mut self, err: ErrorResponse) -> Option<Flow> {
        err.encode(&mut self.cout);
        self.ready();
        Some(Flow::Continue)
    }

    /// Routes the held batch, checks out its shard and sends the batch there.
    async fn release_held(&mut self) -> Result<(), ClientError> {
        let held = std::mem::take(&mut self.held);
        let mut named: HashMap<String, String> = HashMap::new();
        let mut unnamed: Option<String> = None;
        let mut shard = None;
        for msg in &held {
            match msg.tag() {
                b'P' => {
                    let parse = Parse::decode(msg)?;
                    if parse.name.is_empty() {
                        unnamed = Some(parse.query.to_string());
                    } else {
                        named.insert(parse.name.to_string(), parse.query.to_string());
                    }
                }
                b'B' => {
                    match self
                        .route_bind(msg, &named, unnamed.as_deref())
                        .map_err(ClientError::from)?
                    {
                        Ok(s) => shard = Some(s),
                        Err(err) => {
                            self.cout.extend_from_slice(&err);
                            self.skip_until_sync = true;
                            return Ok(());
                        }
                    }
                    break;
                }
                _ => {}
            }
        }
        // A batch without Bind (prepare, describe) reads only the catalog, which every
        // shard has alike.
        if !self.checkout_or_report(shard.unwrap_or(0), b'P').await {
            return Ok(());
        }
        for msg in held {
            self.dispatch(msg)?;
        }
        Ok(())
    }

    /// The shard of the statement a Bind executes. The outer error is a malformed
    /// message; the inner one is for the client.
    fn route_bind(
        &self,
        bind: &Message,
        named: &HashMap<String, String>,
        unnamed: Option<&str>,
    ) -> Result<Result<usize, Bytes>, frontend::Malformed> {
        let name = frontend::bind_statement(bind)?;
        let sql = if name.is_empty() {
            unnamed.map(str::to_string)
        } else {
            named.get(name).cloned().or_else(|| {
                let stmt = self.statements.get(name)?;
                Reader::new(&stmt.rest).cstr().map(str::to_string)
            })
        };
        let Some(sql) = sql else {
            // Unknown statement: the server reports it; any shard can.
            return Ok(Ok(if self.server.is_some() { self.shard } else { 0 }));
        };
        let (formats, values) = frontend::bind_params(bind)?;
        let summaries = self.shared.parse_cache.get(&sql);
        Ok(self.route_statements(&summaries, &Params { values, formats }))
    }

    /// The one shard all `statements` run on, or the error the client gets.
    fn route_statements(&self, statements: &[Statement], params: &Params) -> Result<usize, Bytes> {
        let Some(sharding) = self.login.cluster.sharding.as_ref() else {
            return Ok(0);
        };
        let forced = self.forced_local.as_ref().or(self.forced.as_ref());
        let mut target: Option<usize> = None;
        for stmt in statements {
            let route = sharding
                .route(stmt, params, forced)
                .map_err(|e| Bytes::from(e.to_bytes()))?;
            let shards = match route.shards {
                Shards::Any => continue,
                Shards::All if sharding.shards == 1 => vec![0],
                Shards::All => (0..sharding.shards).collect(),
                Shards::Set(set) => set,
            };
            for shard in shards {
                match target {
                    Some(t) if t != shard => return Err(cross_shard(sharding.shards)),
                    _ => target = Some(shard),
                }
            }
        }
        Ok(target.unwrap_or(if self.server.is_some() { self.shard } else { 0 }))
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

fn cross_shard(shards: usize) -> Bytes {
    let err = ErrorResponse::error(
        "0A000",
        format!("this statement needs more than one of the {shards} shards; queries across shards are not supported by pgDog yet"),
    )
    .with_detail(
        "Filter on the sharding key, or pick a shard with /* pgdog_shard: N */ or SET pgdog.shard.",
    );
    let mut out = BytesMut::new();
    err.encode(&mut out);
    out.freeze()
}
