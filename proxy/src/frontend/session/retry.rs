//! Retrying a read on another server when its server dies before answering.
//!
//! A read routed to a replica outside a transaction can safely run again elsewhere as
//! long as nothing of its reply reached the client: the session records the client
//! messages it sends for such a request and holds the reply back (up to `HOLD_LIMIT`)
//! until the server has finished it. If the server connection breaks first, it drops what
//! it held (a dying server may flush half a reply and a shutdown notice), bans that
//! replica, checks out another server of the same shard and sends the messages again.
//! The client sees no error.

use tokio::io::AsyncWriteExt;
use tracing::warn;

use super::Session;
use crate::config::Role;
use crate::wire::Message;

/// How many servers one request may be tried on.
const ATTEMPTS: usize = 3;

/// How much of a retryable reply is held back. A larger reply streams to the client
/// instead, and its read can no longer run elsewhere.
const HOLD_LIMIT: usize = 64 * 1024;

/// A request that may still be retried.
pub(super) struct Replay {
    shard: usize,
    role: Role,
    messages: Vec<Message>,
    attempts: usize,
    /// Where the request's reply starts in `cout`: what comes after is held back.
    held_from: usize,
}

impl Session {
    /// Starts recording the request a server was just checked out for, if it is a read
    /// that may run again elsewhere.
    pub(super) fn start_replay(&mut self, shard: usize, role: Role, in_transaction: bool) {
        // A read that fell back to the primary is not replayed: running it again could
        // run twice whatever it did there (a function that writes, say).
        let on_primary = match (&self.server, self.login.cluster.shards.get(shard)) {
            (Some(server), Some(shard)) => shard
                .primary
                .as_ref()
                .is_some_and(|p| std::sync::Arc::ptr_eq(&p.pool, server.pool())),
            _ => false,
        };
        self.replay = (role == Role::Replica && !in_transaction && !on_primary).then(|| Replay {
            shard,
            role,
            messages: Vec::new(),
            attempts: 1,
            held_from: self.cout.len(),
        });
    }

    /// How many bytes at the front of `cout` may go to the client now: all of them, but
    /// for a reply that may still be replaced by a retry.
    pub(super) fn sendable(&self) -> usize {
        self.replay
            .as_ref()
            .map_or(self.cout.len(), |r| r.held_from.min(self.cout.len()))
    }

    /// `n` sendable bytes left the front of `cout`.
    pub(super) fn sent(&mut self, n: usize) {
        if let Some(replay) = self.replay.as_mut() {
            replay.held_from -= n.min(replay.held_from);
        }
    }

    /// Ends the hold: what is held goes to the client, and the request is no longer
    /// retried. For a client that sends more while a reply is held (it pipelines), since
    /// what pgDog answers it may land behind the held bytes.
    pub(super) fn end_hold(&mut self) {
        self.replay = None;
    }

    /// A reply that is complete, or that outgrew the limit, goes to the client from now
    /// on, and its request is no longer retried.
    pub(super) fn check_hold(&mut self) {
        if let Some(replay) = &self.replay {
            if self.pending.is_idle()
                || self.cout.len().saturating_sub(replay.held_from) > HOLD_LIMIT
            {
                self.replay = None;
            }
        }
    }

    /// Records a message sent to the server for the current request.
    pub(super) fn record(&mut self, msg: &Message) {
        if let Some(replay) = self.replay.as_mut() {
            replay.messages.push(msg.clone());
        }
    }

    /// After the server connection broke: runs the request on another server if it may.
    /// True when it did (the session goes on); false when the client must be told.
    pub(super) async fn retry(&mut self) -> bool {
        loop {
            let Some(mut replay) = self.replay.take() else {
                return false;
            };
            // Whatever the dead server managed to send is dropped: a retry answers anew,
            // and a failure is reported on its own.
            self.cout.truncate(replay.held_from.min(self.cout.len()));
            if replay.attempts >= ATTEMPTS {
                return false;
            }
            if let Some(dead) = self.server.take() {
                if let Some(shard) = self.login.cluster.shards.get(replay.shard) {
                    shard.failed_pool(dead.pool());
                }
                warn!(client = %self.peer, server = %dead.pool().addr, "server lost before answering a read; retrying it on another server");
            }
            self.pending.clear();
            self.sout.clear();
            if let Err(err) = self.checkout(replay.shard, replay.role).await {
                warn!(client = %self.peer, error = %err, "no server to retry a read on");
                return false;
            }
            replay.attempts += 1;
            let messages = std::mem::take(&mut replay.messages);
            for msg in &messages {
                if self.dispatch(msg.clone()).is_err() {
                    return false;
                }
            }
            replay.messages = messages;
            self.replay = Some(replay);
            let Some(server) = self.server.as_deref_mut() else {
                return false;
            };
            match server.stream.write_all(&self.sout).await {
                Ok(()) => {
                    self.sout.clear();
                    return true;
                }
                // That one is gone too: next server.
                Err(_) => continue,
            }
        }
    }
}
