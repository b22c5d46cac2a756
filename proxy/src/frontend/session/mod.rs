//! One client session after login: the loop that moves messages between the client and its
//! server, checks servers out and back in, and keeps prepared statements and parameters
//! right across server connections.

mod audit;
mod batch;
mod checkout;
mod copy;
mod dispatch;
mod explain;
mod extended;
mod fan_servers;
mod fanout;
mod passthrough;
mod plugin_copy;
mod plugins;
mod responses;
mod retry;
mod send;
mod server;
mod shard;
mod sys;
mod wait;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::cancel::{Slot, Target};
use super::login::LoggedIn;
use super::params::ClientParams;
use super::pending::{Entry, Kind, Pending};
use super::prepared::ClientStatements;
use super::Shared;
use crate::backend::Guard;
use crate::config::{PoolerMode, Role};
use crate::router::route::Override;
use crate::wire::backend::{ready_for_query, CLOSE_COMPLETE, PARSE_COMPLETE};
use crate::wire::frontend::{self, Parse};
use crate::wire::{backend, split_message, ErrorResponse, Message};
use wait::Event;

/// Reads reserve at least this much room first, so a large result is read in few syscalls.
const READ_CHUNK: usize = 16 * 1024;

/// How long cleaning up after a vanished client may take before its server is closed.
pub(super) const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Session {
    shared: Arc<Shared>,
    client: TcpStream,
    peer: SocketAddr,
    crbuf: BytesMut,
    /// Bytes for the client, written once per batch of server messages.
    cout: BytesMut,
    /// Bytes for the server, written once per batch of client messages.
    sout: BytesMut,
    login: LoggedIn,
    server: Option<Guard>,
    pending: Pending,
    statements: ClientStatements,
    params: ClientParams,
    key: (i32, i32),
    slot: Slot,
    /// Whether the task is still registered for the client's data (see `wait`).
    client_watch: wait::ClientWatch,
    /// The last wait returned Pending: the next poll of it starts the task's turn after a
    /// wake-up (see `Session::read_ready`).
    wait_resumed: bool,
    /// pgDog itself answered an extended-protocol message with an error: like PostgreSQL,
    /// ignore the client's messages until its Sync.
    skip_until_sync: bool,
    /// The shard of the attached server.
    shard: usize,
    /// A BEGIN pgDog answered itself on a sharded database: sent to the first shard the
    /// transaction reaches.
    deferred_begin: Option<Bytes>,
    /// `SET pgdog.role`, and its `SET LOCAL` form.
    forced_role: Option<Role>,
    forced_role_local: Option<Role>,
    /// The client's BEGIN said READ ONLY: the transaction may run on a replica.
    txn_read_only: bool,
    /// The next checkout is for a batch that only prepares or describes statements.
    catalog_only: bool,
    /// The role the attached server was checked out for.
    server_role: Role,
    /// The current request, while it may still be retried on another server.
    replay: Option<retry::Replay>,
    /// The server died while pgDog settled it before answering itself: the client has
    /// been told (FATAL), and the session ends once that is written.
    server_lost: bool,
    /// `SET pgdog.shard` / `SET pgdog.sharding_key`, and their `SET LOCAL` forms (which
    /// last until the transaction ends).
    forced: Option<Override>,
    forced_local: Option<Override>,
    /// Extended-protocol messages held until their shard is known (at Sync or Flush).
    held: Vec<Message>,
    /// One server per shard while a statement or transaction spans shards (sorted by
    /// shard); empty otherwise. See `fanout`.
    fan: Vec<(usize, Guard)>,
    /// A transaction on the fan lost a shard: only its end is accepted.
    fan_aborted: bool,
    /// The fan's servers are running a statement whose replies are not all read yet.
    fan_busy: bool,
    /// A COPY FROM STDIN running on the fan.
    fan_copy: Option<copy::FanCopy>,
    /// A plugin took on splitting the rows of the COPY being routed (its COPY decision).
    copy_split: Option<plugin_copy::PluginCopy>,
    /// The text of the client's BEGIN while its transaction lasts, for shards that join it.
    txn_begin: Option<String>,
    /// The transaction's SAVEPOINT / RELEASE / ROLLBACK TO statements, in order, replayed
    /// on shards that join it.
    txn_savepoints: Vec<String>,
    /// The text of the last unnamed statement sent to the attached server (sharded
    /// databases only): a later Bind of it is routed by it.
    last_unnamed: Option<String>,
    /// The plugin chain this session routes with, and the registry generation it came
    /// from; replaced only between transactions.
    chain: Arc<crate::plugins::Chain>,
    chain_generation: u64,
    /// The statement running, while a plugin wants its after-query hook.
    audit: Option<Box<audit::Audit>>,
}

enum Flow {
    Continue,
    Exit,
}

/// A client message handled at once, or one that must wait (for a server, for routing).
enum Step {
    Done(Flow),
    Wait(Message),
}

/// Whether text may open with `/*` after whitespace: checked on the raw bytes so that the
/// usual query, without one, is not decoded here.
fn opens_with_block_comment(text: &[u8]) -> bool {
    frontend::may_open_with(text, &[b"/*"])
}

/// A simple query whose leading comment asks for `pgdog_explain`.
fn explain_requested(sql: &str) -> bool {
    sql.trim_start().starts_with("/*")
        && crate::router::statement::leading_comment(sql)
            .is_some_and(|c| c.contains("pgdog_explain"))
}

impl Session {
    pub fn new(
        shared: Arc<Shared>,
        client: TcpStream,
        peer: SocketAddr,
        crbuf: BytesMut,
        login: LoggedIn,
        server_params: &[(String, String)],
    ) -> Session {
        let (key, slot) = shared.cancels.register();
        // Generation first: a chain newer than its generation is only picked up again.
        let chain_generation = shared.plugins.generation();
        let chain = shared.plugins.current();
        Session {
            params: ClientParams::new(server_params, &login.startup),
            shared,
            client,
            peer,
            crbuf,
            cout: BytesMut::with_capacity(READ_CHUNK),
            sout: BytesMut::with_capacity(1024),
            login,
            server: None,
            pending: Pending::default(),
            statements: ClientStatements::default(),
            key,
            slot,
            client_watch: wait::ClientWatch::default(),
            wait_resumed: false,
            skip_until_sync: false,
            shard: 0,
            deferred_begin: None,
            forced: None,
            forced_local: None,
            forced_role: None,
            forced_role_local: None,
            txn_read_only: false,
            catalog_only: false,
            server_role: Role::Primary,
            replay: None,
            server_lost: false,
            held: Vec::new(),
            fan: Vec::new(),
            fan_aborted: false,
            fan_busy: false,
            fan_copy: None,
            copy_split: None,
            txn_begin: None,
            txn_savepoints: Vec::new(),
            last_unnamed: None,
            chain,
            chain_generation,
            audit: None,
        }
    }

    /// Greets the client: AuthenticationOk, its parameters, its cancel key, ReadyForQuery.
    pub async fn greet(&mut self) -> std::io::Result<()> {
        let mut out = BytesMut::from(&backend::auth_request(backend::AUTH_OK, &[])[..]);
        for (name, value) in self.params.iter() {
            backend::parameter_status(&mut out, name, value);
        }
        backend::backend_key_data(&mut out, self.key.0, self.key.1);
        ready_for_query(&mut out, b'I');
        self.client.write_all(&out).await
    }

    /// Serves the client until it leaves. `drain` is the worker's drain sender, held
    /// until the session has finished.
    pub async fn run(mut self, drain: tokio::sync::mpsc::Sender<()>) {
        let result = self.serve().await;
        if let Err(err) = &result {
            debug!(client = %self.peer, error = %err, "client connection error");
        }
        self.finish().await;
        info!(
            client = %self.peer,
            user = %self.login.user,
            database = %self.login.database,
            "client disconnected"
        );
        drop(drain);
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        // One shutdown wait for the whole session: creating it anew on every turn of the
        // loop would register and unregister a waiter twice per transaction.
        let shared = self.shared.clone();
        let changed = shared.stop.wait();
        tokio::pin!(changed);
        let mut shutdown_seen = false;
        loop {
            let ready = self.sendable();
            if ready > 0 {
                // Nearly always the socket takes the whole reply at once; only a short
                // write builds the future that waits for room.
                let sent = send::send_now(&self.client, &self.cout[..ready])?;
                if sent < ready {
                    send::send_all(&mut self.client, &self.cout[sent..ready]).await?;
                }
                if ready == self.cout.len() {
                    self.cout.clear();
                } else {
                    bytes::Buf::advance(&mut self.cout, ready);
                }
                self.sent(ready);
            }
            if self.server_lost {
                return Ok(());
            }
            if self.shared.stop.is_set() && self.at_transaction_boundary() {
                let err = ErrorResponse::fatal(
                    "57P01",
                    "terminating connection due to administrator command",
                );
                self.client.write_all(&err.to_bytes()).await?;
                return Ok(());
            }
            reserve(&mut self.crbuf);
            if let Some(server) = self.server.as_deref_mut() {
                reserve(&mut server.rbuf);
            }
            // In transaction mode the boundary check at the top of the loop sees a shutdown
            // as soon as the server goes back; only a session holding its server (session
            // mode) must wake up for it.
            let watch_shutdown =
                !shutdown_seen && (self.server.is_none() || self.login.mode == PoolerMode::Session);
            // Polled here rather than in an async fn of its own: each level of nested async
            // fns is another state machine resumed on every wake-up.
            let event =
                std::future::poll_fn(|cx| self.poll_event(cx, &mut changed, watch_shutdown)).await;
            match event {
                Event::Shutdown => shutdown_seen = true,
                Event::Client(Ok(0)) => return Ok(()),
                Event::Client(Err(err)) => return Err(err),
                Event::Client(Ok(_)) => {
                    if !self.on_client_data_now() {
                        if let Flow::Exit = self.on_client_data().await? {
                            return Ok(());
                        }
                    }
                }
                Event::Server(Ok(n)) if n > 0 => self.on_server_data(),
                Event::Server(_) if self.retry().await => {}
                Event::Server(result) => {
                    let reason = match result {
                        Err(err) => err.to_string(),
                        Ok(_) => "server closed the connection".to_string(),
                    };
                    warn!(client = %self.peer, %reason, "server connection lost mid-session");
                    self.server = None;
                    self.pending.clear();
                    self.clear_slot();
                    let err =
                        ErrorResponse::fatal("08006", "server closed the connection unexpectedly")
                            .with_detail(reason);
                    err.encode(&mut self.cout);
                    self.client.write_all(&self.cout).await?;
                    return Ok(());
                }
            }
        }
    }

    fn at_transaction_boundary(&self) -> bool {
        if !self.fan.is_empty() {
            return self.fan_copy.is_none() && self.fan_status() == b'I';
        }
        match &self.server {
            None => true,
            Some(server) => {
                self.pending.is_idle() && server.status == b'I' && !self.skip_until_sync
            }
        }
    }

    /// [`Session::on_client_data`] when it finishes without waiting, the usual case: a
    /// server at hand (or idle in the pool), the whole batch passed through, and the
    /// server's socket taking all of it. False when the general path must go on from where
    /// this stopped; what was done stays done (a server checked out, messages queued, bytes
    /// written). Skips creating the general path's future, which holds a whole checkout.
    fn on_client_data_now(&mut self) -> bool {
        let first = self.checks_out_first();
        if first.is_some() && !self.checkout_now(0, Role::Primary) {
            return false;
        }
        self.pass_through(first);
        if !self.crbuf.is_empty() {
            return false;
        }
        if self.sout.is_empty() {
            return true;
        }
        let Some(server) = self.server.as_deref() else {
            return false;
        };
        match send::send_now(&server.stream, &self.sout) {
            Ok(n) if n == self.sout.len() => {
                self.sout.clear();
                true
            }
            Ok(n) => {
                bytes::Buf::advance(&mut self.sout, n);
                false
            }
            // Nothing was written: the general path writes again and handles the failure.
            Err(_) => false,
        }
    }

    async fn on_client_data(&mut self) -> std::io::Result<Flow> {
        loop {
            let first = self.checks_out_first();
            if first.is_some() {
                let tag = self.crbuf[0];
                if !self.checkout_now(0, Role::Primary)
                    && !self.checkout_or_report(0, Role::Primary, tag).await
                {
                    // As on the general path, the message that needed the server is dropped:
                    // a query has its ReadyForQuery, the rest are skipped up to Sync.
                    if let Ok(Some(len)) = crate::wire::frame_len(&self.crbuf) {
                        bytes::Buf::advance(&mut self.crbuf, len);
                    }
                    continue;
                }
            }
            self.pass_through(first);
            if self.crbuf.is_empty() {
                // The usual end: the pass-through path took the whole batch.
                break;
            }
            let msg = match split_message(&mut self.crbuf) {
                Ok(Some(msg)) => msg,
                Ok(None) => break,
                Err(err) => {
                    self.protocol_violation(err.to_string()).await?;
                    return Ok(Flow::Exit);
                }
            };
            if self.replay.is_some() {
                // The client sent more while a reply is held (it pipelines).
                self.end_hold();
            }
            let result = match self.on_client_message(msg) {
                Ok(Step::Done(flow)) => Ok(flow),
                Ok(Step::Wait(msg)) => self.on_client_message_async(msg).await,
                Err(err) => Err(err),
            };
            match result {
                Ok(Flow::Continue) => {}
                Ok(Flow::Exit) => return Ok(Flow::Exit),
                Err(ClientError::Protocol(what)) => {
                    self.protocol_violation(what).await?;
                    return Ok(Flow::Exit);
                }
                Err(ClientError::Io(err)) => return Err(err),
            }
        }
        if !self.sout.is_empty() {
            if let Some(server) = self.server.as_deref_mut() {
                let written = match send::send_now(&server.stream, &self.sout) {
                    Ok(n) if n == self.sout.len() => Ok(()),
                    Ok(n) => send::send_all(&mut server.stream, &self.sout[n..]).await,
                    Err(err) => Err(err),
                };
                if let Err(err) = written {
                    if self.retry().await {
                        return Ok(Flow::Continue);
                    }
                    warn!(client = %self.peer, error = %err, "writing to server failed");
                    self.sout.clear();
                    self.server = None;
                    self.pending.clear();
                    self.clear_slot();
                    ErrorResponse::fatal("08006", "server closed the connection unexpectedly")
                        .encode(&mut self.cout);
                    self.client.write_all(&self.cout).await?;
                    return Ok(Flow::Exit);
                }
            }
            self.sout.clear();
        }
        Ok(Flow::Continue)
    }

    async fn protocol_violation(&mut self, what: String) -> std::io::Result<()> {
        warn!(client = %self.peer, %what, "protocol violation");
        ErrorResponse::fatal("08P01", format!("invalid frontend message: {what}"))
            .encode(&mut self.cout);
        self.client.write_all(&self.cout).await?;
        self.cout.clear();
        Ok(())
    }

    /// Handles what needs no waiting (most messages of a client with its server attached)
    /// without building the future of [`Session::on_client_message_async`]: creating and
    /// dropping that future, which holds a whole checkout inline, cost more than
    /// forwarding the message.
    fn on_client_message(&mut self, msg: Message) -> Result<Step, ClientError> {
        let tag = msg.tag();
        if tag == b'X' {
            return Ok(Step::Done(Flow::Exit));
        }
        if self.skip_until_sync {
            if tag == b'S' {
                self.skip_until_sync = false;
                if self.server.is_some() {
                    // The server has messages of this batch; its ReadyForQuery ends it.
                    self.forward(msg, Some(Kind::Sync));
                } else {
                    self.ready();
                }
            }
            return Ok(Step::Done(Flow::Continue));
        }
        if tag == b'Q'
            && opens_with_block_comment(msg.body())
            && explain_requested(frontend::query_text(&msg)?)
        {
            return Ok(Step::Wait(msg));
        }
        if tag == b'P' && frontend::parse_opens_with_comment(&msg) {
            let parse = Parse::decode(&msg)?;
            if crate::router::statement::leading_comment(parse.query)
                .is_some_and(|c| c.contains("pgdog_explain"))
            {
                // Running the statement would defeat the point of explaining it.
                let err = ErrorResponse::error(
                    "0A000",
                    "pgdog_explain works with the simple query protocol (psql, simple_query); the statement was not run",
                );
                let bytes = Bytes::from(err.to_bytes());
                if self.server.is_some() {
                    self.pending.push(Entry::Local(bytes), &mut self.cout);
                } else {
                    self.cout.extend_from_slice(&bytes);
                }
                self.skip_until_sync = true;
                return Ok(Step::Done(Flow::Continue));
            }
        }
        self.refresh_chain();
        if self.routed() || self.server.is_none() {
            return Ok(Step::Wait(msg));
        }
        self.dispatch(msg).map(Step::Done)
    }

    /// The rest of [`Session::on_client_message`]: explaining, routing, checking out.
    async fn on_client_message_async(&mut self, msg: Message) -> Result<Flow, ClientError> {
        let tag = msg.tag();
        if tag == b'Q' && opens_with_block_comment(msg.body()) {
            let sql = frontend::query_text(&msg)?;
            if explain_requested(sql) {
                self.settle_before_local_answer().await;
                return Ok(self.explain(sql));
            }
        }
        if self.routed() {
            if let Some(flow) = self.on_sharded_message(&msg).await? {
                return Ok(flow);
            }
        }
        if self.server.is_none() {
            match tag {
                // Nothing is open without a server: answer these without checking one out.
                b'S' => {
                    self.ready();
                    return Ok(Flow::Continue);
                }
                b'H' | b'd' | b'c' | b'f' => return Ok(Flow::Continue),
                // An unnamed Parse (body starts with the empty name) always goes to a server.
                b'P' if msg.body().first() != Some(&0) => {
                    let parse = Parse::decode(&msg)?;
                    if !parse.name.is_empty() {
                        let stmt = self.shared.statements.get_or_insert(parse.rest);
                        if stmt.is_valid() {
                            // A server accepted this exact statement before: answer now and
                            // prepare it on whichever server later runs it.
                            self.statements.insert(parse.name, stmt);
                            self.cout.extend_from_slice(PARSE_COMPLETE);
                            return Ok(Flow::Continue);
                        }
                    }
                }
                b'C' => {
                    let (kind, name) = frontend::target(&msg).map_err(ClientError::from)?;
                    if kind == b'S' {
                        self.statements.remove(name);
                    }
                    self.cout.extend_from_slice(CLOSE_COMPLETE);
                    return Ok(Flow::Continue);
                }
                _ => {}
            }
            if !self.checkout_now(0, Role::Primary)
                && !self.checkout_or_report(0, Role::Primary, tag).await
            {
                return Ok(Flow::Continue);
            }
        }
        self.dispatch(msg)
    }

    /// Sends ReadyForQuery with the status pgDog itself knows.
    fn ready(&mut self) {
        let status = self.local_status();
        ready_for_query(&mut self.cout, status);
    }

    /// The transaction status to report when no server speaks for it.
    fn local_status(&self) -> u8 {
        if !self.fan.is_empty() || self.fan_aborted {
            return self.fan_status();
        }
        match (&self.server, &self.deferred_begin) {
            (Some(server), _) => server.status,
            (None, Some(_)) => b'T',
            (None, None) => b'I',
        }
    }
}

fn reserve(buf: &mut BytesMut) {
    if buf.capacity() - buf.len() < READ_CHUNK / 2 {
        buf.reserve(READ_CHUNK);
    }
}

/// A client message pgDog cannot act on; the session ends with 08P01.
#[derive(Debug)]
enum ClientError {
    Protocol(String),
    /// Writing to the client failed mid-statement; the session ends.
    Io(std::io::Error),
}

impl From<frontend::Malformed> for ClientError {
    fn from(err: frontend::Malformed) -> Self {
        ClientError::Protocol(err.to_string())
    }
}
