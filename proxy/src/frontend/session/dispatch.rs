//! The general path for one client message bound for the attached server: forwarded as it
//! came, or with a prepared statement's name changed to the server-side one, preparing the
//! statement first on a server that does not hold it yet; Close of a statement and Parse
//! of one the server holds are answered by pgDog.

use bytes::Bytes;
use tracing::debug;

use super::super::pending::{Entry, Kind};
use super::super::prepared::Statement;
use super::{ClientError, Flow, Session};
use crate::backend::prepared::server_name;
use crate::wire::backend::{CLOSE_COMPLETE, PARSE_COMPLETE};
use crate::wire::frontend::{self, Parse};
use crate::wire::Message;

impl Session {
    /// Sends a client message on to the attached server, renaming prepared statements.
    pub(super) fn dispatch(&mut self, msg: Message) -> Result<Flow, ClientError> {
        let tag = msg.tag();
        if tag == b'H' {
            // The client waits for output before it sends Sync: nothing may be held back,
            // so this request can no longer be retried.
            self.replay = None;
        }
        if self.replay.is_some() {
            self.record(&msg);
        }
        if self.pending.is_skipping() && !matches!(tag, b'S' | b'Q' | b'd' | b'c' | b'f') {
            // The server ignores these until Sync after an error; so do we.
            return Ok(Flow::Continue);
        }
        match tag {
            b'Q' => {
                if tracing::enabled!(tracing::Level::DEBUG) {
                    debug!(client = %self.peer, query = frontend::query_text(&msg).unwrap_or(""), "query");
                }
                self.forward(msg, Some(Kind::Query));
            }
            b'F' => self.forward(msg, Some(Kind::Query)),
            b'P' => self.on_parse(msg)?,
            b'B' => {
                let name = frontend::bind_statement(&msg)?;
                let named = if name.is_empty() {
                    None
                } else {
                    self.statements.get(name).cloned()
                };
                match named {
                    Some(stmt) => {
                        self.ensure_prepared(&stmt);
                        frontend::put_bind_with_statement(&mut self.sout, &msg, &stmt.server_name)?;
                        self.pending
                            .push(Entry::Forward(Kind::Bind), &mut self.cout);
                    }
                    // Unnamed or unknown: the server answers, with its own error if unknown.
                    None => self.forward(msg, Some(Kind::Bind)),
                }
            }
            b'D' => {
                let (kind, name) = frontend::target(&msg)?;
                let named = if kind == b'S' && !name.is_empty() {
                    self.statements.get(name).cloned()
                } else {
                    None
                };
                match named {
                    Some(stmt) => {
                        self.ensure_prepared(&stmt);
                        frontend::put_target_message(&mut self.sout, b'D', b'S', &stmt.server_name);
                        self.pending
                            .push(Entry::Forward(Kind::Describe), &mut self.cout);
                    }
                    _ => self.forward(msg, Some(Kind::Describe)),
                }
            }
            b'C' => {
                let (kind, name) = frontend::target(&msg)?;
                if kind == b'S' {
                    // Server-side statements are shared; the client only lets go of its name.
                    self.statements.remove(name);
                    self.pending.push(
                        Entry::Local(Bytes::from_static(CLOSE_COMPLETE)),
                        &mut self.cout,
                    );
                } else {
                    self.forward(msg, Some(Kind::Close));
                }
            }
            b'E' => self.forward(msg, Some(Kind::Execute)),
            b'S' => self.forward(msg, Some(Kind::Sync)),
            b'H' | b'd' => self.forward(msg, None),
            b'c' | b'f' => {
                self.forward(msg, None);
                self.pending.push(Entry::CopyEnd, &mut self.cout);
            }
            other => {
                return Err(ClientError::Protocol(format!(
                    "unexpected message type '{}'",
                    other as char
                )))
            }
        }
        Ok(Flow::Continue)
    }

    pub(super) fn forward(&mut self, msg: Message, kind: Option<Kind>) {
        self.sout.extend_from_slice(msg.bytes());
        if let Some(kind) = kind {
            self.pending.push(Entry::Forward(kind), &mut self.cout);
        }
    }

    fn on_parse(&mut self, msg: Message) -> Result<(), ClientError> {
        let parse = Parse::decode(&msg)?;
        if tracing::enabled!(tracing::Level::DEBUG) {
            debug!(client = %self.peer, statement = parse.name, query = parse.query, "parse");
        }
        if parse.name.is_empty() {
            if self.routed() {
                self.last_unnamed = Some(parse.query.to_string());
            }
            self.forward(msg, Some(Kind::Parse(None)));
            return Ok(());
        }
        let stmt = self.shared.statements.get_or_insert(parse.rest);
        self.statements.insert(parse.name, stmt.clone());
        let server = self.server.as_deref().expect("checked out above");
        if server.prepared.contains(stmt.id) {
            self.pending.push(
                Entry::Local(Bytes::from_static(PARSE_COMPLETE)),
                &mut self.cout,
            );
        } else {
            self.prepare(&stmt, Entry::Forward(Kind::Parse(Some(stmt.id))));
        }
        Ok(())
    }

    /// Prepares a statement the client named before on a server that does not hold it yet.
    pub(super) fn ensure_prepared(&mut self, stmt: &Statement) {
        let server = self.server.as_deref().expect("checked out above");
        if !server.prepared.contains(stmt.id) {
            self.prepare(stmt, Entry::Swallow(Kind::Parse(Some(stmt.id))));
        }
    }

    fn prepare(&mut self, stmt: &Statement, entry: Entry) {
        let limit = self.shared.config.general.prepared_statements_limit;
        let server = self.server.as_deref_mut().expect("checked out above");
        for old in server.prepared.insert(stmt.id, limit) {
            let close = frontend::target_message(b'C', b'S', &server_name(old));
            self.sout.extend_from_slice(&close);
            self.pending
                .push(Entry::Swallow(Kind::Close), &mut self.cout);
        }
        self.sout
            .extend_from_slice(&frontend::parse_with_name(&stmt.server_name, stmt.rest()));
        self.pending.push(entry, &mut self.cout);
    }
}
