//! The server side of a session: reading its replies, settling what it still owes before
//! pgDog answers itself or moves on, handing the server back at the end of a
//! transaction, and cleaning up after a client that left.

use tracing::{info, warn};

use super::super::cancel::{self, Target};
use super::super::params::is_tracked;
use super::super::pending::ParseResults;
use super::{Session, CLEANUP_TIMEOUT};
use crate::backend::BackendError;
use crate::config::PoolerMode;
use bytes::Buf;

use crate::wire::{backend, frame_len, reserve_partial, ErrorResponse};

impl Session {
    pub(super) fn on_server_data(&mut self) {
        let Some(server) = self.server.as_deref_mut() else {
            return;
        };
        let mut parses = ParseResults::default();
        // Messages are read where they lie in the buffer, which is advanced once at the
        // end: the common reply (a handful of small messages) costs no per-message
        // allocation or reference counting.
        let mut at = 0;
        // The common reply, a whole batch's answers up to its ReadyForQuery with nothing in
        // them to act on, is forwarded in one copy after a look at each header.
        if self.audit.is_none() {
            if let Some(reply) = backend::plain_reply(&server.rbuf) {
                if self.pending.settle_plain(reply.ready, &mut parses) {
                    server.status = reply.status;
                    if self.cout.is_empty() {
                        // The reply goes out as it came in: the buffers trade places instead
                        // of the reply being copied (the read buffer gets the emptied one).
                        std::mem::swap(&mut self.cout, &mut server.rbuf);
                    } else {
                        self.cout.extend_from_slice(&server.rbuf);
                        at = server.rbuf.len();
                    }
                }
            }
        }
        loop {
            let len = match frame_len(&server.rbuf[at..]) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(err) => {
                    warn!(client = %self.peer, error = %err, "server sent garbage");
                    // Not retried: what was held goes out ahead of the error.
                    self.replay = None;
                    ErrorResponse::fatal("08006", "server sent an invalid message")
                        .encode(&mut self.cout);
                    // Dropping the guard closes the connection; the client is told and the
                    // session ends at its next read.
                    self.server = None;
                    self.pending.clear();
                    self.clear_slot();
                    return;
                }
            };
            let msg = &server.rbuf[at..at + len];
            at += len;
            let (tag, body) = (msg[0], &msg[5..]);
            self.pending.on_server(msg, &mut self.cout, &mut parses);
            if let Some(audit) = self.audit.as_mut() {
                audit.observe(tag, body);
            }
            match tag {
                b'Z' => server.status = body.first().copied().unwrap_or(b'I'),
                // The server waits for the client's COPY data: nothing may be held back.
                b'G' | b'W' => self.replay = None,
                b'S' => {
                    // While attached, the server's parameters change only because of this
                    // client: its own SETs (forwarded) or pgDog replaying them (swallowed,
                    // where the server reports the value in its normal form, e.g. `ISO, MDY`
                    // for `ISO`). Either way it is now the client's value.
                    if let Some((name, value)) = backend::decode_parameter_status(body) {
                        if is_tracked(name) {
                            self.params.set(name, value);
                        }
                    }
                    let body = body.to_vec();
                    server.note_parameter(&body);
                }
                _ => {}
            }
        }
        if at == server.rbuf.len() {
            server.rbuf.clear();
        } else {
            server.rbuf.advance(at);
            reserve_partial(&mut server.rbuf);
        }
        if server.status == b'I' && self.pending.is_idle() && self.deferred_begin.is_none() {
            // The client's transaction is over (session mode keeps the server past it):
            // SET LOCAL pgdog.* and the transaction's own settings end with it. Checked
            // only once nothing is in flight, so the idle ReadyForQuery of pgDog's hidden
            // parameter SET before a BEGIN does not count.
            self.forced_local = None;
            self.forced_role_local = None;
            self.txn_read_only = false;
        }
        if !parses.is_empty() {
            for id in parses.failed {
                server.prepared.remove(id);
            }
            for id in parses.done {
                if let Some(stmt) = self.statements.by_id(id) {
                    stmt.mark_valid();
                }
            }
        }
        if self.login.mode == PoolerMode::Transaction
            && self.pending.is_idle()
            && server.status == b'I'
            && server.rbuf.is_empty()
        {
            self.clear_slot();
            self.forced_local = None;
            self.forced_role_local = None;
            self.replay = None;
            if let Some(server) = self.server.take() {
                server.release();
            }
        }
        if self.audit.is_some() && self.pending.is_idle() {
            self.finish_audit();
        }
        self.check_hold();
    }

    pub(super) fn clear_slot(&self) {
        self.slot.clear();
    }

    /// After the client is gone: make its server safe for the next client, or close it.
    pub(super) async fn finish(&mut self) {
        self.shared.cancels.unregister(self.key);
        self.clear_slot();
        if self.fan_copy.take().is_some() {
            // Mid-COPY the servers expect rows, not a ROLLBACK: closing them aborts it.
            self.fan.clear();
        }
        self.finish_fan();
        let Some(mut server) = self.server.take() else {
            return;
        };
        if !self.pending.is_idle() {
            // A query is still running for nobody. Cancel it so its locks go now, and close
            // the connection: its protocol state is unknown.
            info!(client = %self.peer, "client left mid-query; cancelling and closing its server");
            let target = Target {
                addr: server.peer,
                pid: server.backend_key.0,
                secret: server.backend_key.1,
            };
            tokio::spawn(cancel::send_cancel(target));
            return;
        }
        let mode = self.login.mode;
        let peer = self.peer;
        tokio::spawn(async move {
            let cleanup = async {
                if server.status != b'I' {
                    info!(client = %peer, "client left mid-transaction; rolling back");
                    server.run_internal("ROLLBACK").await?;
                }
                if mode == PoolerMode::Session {
                    server.run_internal("DISCARD ALL").await?;
                    server.prepared.clear();
                }
                Ok::<_, BackendError>(())
            };
            match crate::timer::timeout(CLEANUP_TIMEOUT, cleanup).await {
                Ok(Ok(())) => server.release(),
                Ok(Err(err)) => warn!(error = %err, "server cleanup failed; closing it"),
                Err(_) => warn!("server cleanup timed out; closing it"),
            }
        });
    }

    /// Reads what the attached server still owes the client, so it can join the fan at a
    /// statement boundary.
    pub(super) async fn settle_attached(&mut self) -> Result<(), BackendError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        if let Some(server) = self.server.as_deref_mut() {
            // Messages of earlier pipelined statements may still wait to be written; their
            // replies are what the server owes.
            if !self.sout.is_empty() {
                if let Err(err) = server.stream.write_all(&self.sout).await {
                    if !self.retry().await {
                        return Err(self.lost_while_settling(err));
                    }
                }
                self.sout.clear();
            }
        }
        while !self.pending.is_idle() {
            let Some(server) = self.server.as_deref_mut() else {
                return Ok(());
            };
            super::reserve(&mut server.rbuf);
            let lost = match server.stream.read_buf(&mut server.rbuf).await {
                Ok(0) => std::io::ErrorKind::UnexpectedEof.into(),
                Ok(_) => {
                    self.on_server_data();
                    continue;
                }
                Err(err) => err,
            };
            // A read the server died in the middle of runs again elsewhere, if it may.
            if !self.retry().await {
                return Err(self.lost_while_settling(lost));
            }
        }
        Ok(())
    }

    /// The attached server is gone and its request cannot run elsewhere.
    fn lost_while_settling(&mut self, err: std::io::Error) -> BackendError {
        self.replay = None;
        self.server = None;
        self.pending.clear();
        BackendError::Io(err)
    }
}
