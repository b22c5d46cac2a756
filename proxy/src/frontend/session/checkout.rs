//! Getting a server for the session: the balancing strategy's pick among a shard's hosts
//! (banning replicas that cannot give a connection), then making it the client's: session
//! parameters synced, the cancel slot pointed at it, a deferred BEGIN sent first.

use tracing::{debug, warn};

use super::super::cancel::Target;
use super::super::pending::{Entry, Kind};
use super::Session;
use crate::backend::{BackendError, Guard};
use crate::config::Role;
use crate::wire::frontend;

impl Session {
    /// Checks out a server of `shard` the general way, after [`Session::checkout_now`]
    /// said no (callers try that first, so the common checkout builds no future); on
    /// failure tells the client (as PostgreSQL would for a message of type `tag`) and
    /// returns false.
    pub(super) async fn checkout_or_report(&mut self, shard: usize, role: Role, tag: u8) -> bool {
        match self.checkout_waiting(shard, role).await {
            Ok(()) => true,
            Err(err) => {
                warn!(client = %self.peer, error = %err, "no server for client");
                err.to_client().encode(&mut self.cout);
                if tag == b'Q' || tag == b'F' {
                    self.ready();
                } else {
                    self.skip_until_sync = true;
                }
                false
            }
        }
    }

    /// A server of `shard` for `role`: the balancing strategy's host first, then the
    /// others. A replica that cannot give a connection is banned and the next host tried;
    /// nothing was sent yet, so the client sees an error only when every host failed.
    pub(super) async fn get_server(&self, shard: usize, role: Role) -> Result<Guard, BackendError> {
        let shard = self
            .login
            .cluster
            .shards
            .get(shard)
            .ok_or(BackendError::Closed)?;
        // Made only on failure: an error held from the start is dropped on every checkout.
        let mut last = None;
        let candidates = if self.catalog_only {
            shard.peek_candidates(role)
        } else {
            shard.candidates(role)
        };
        for host in candidates.iter() {
            host.stats
                .picks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match host.pool.get(self.owner()).await {
                Ok(server) => return Ok(server),
                // A replica whose pool stays busy (it may hang without breaking its
                // connections): try another for reads, without a ban.
                Err(err @ BackendError::CheckoutTimeout(_)) if role == Role::Replica => {
                    last = Some(err);
                }
                Err(err) if err.is_unreachable() => {
                    warn!(server = %host.pool.addr, error = %err, role = ?host.role, "server unreachable; trying another");
                    shard.failed(host);
                    last = Some(err);
                }
                Err(err) => return Err(err),
            }
        }
        Err(last.unwrap_or(BackendError::Closed))
    }

    /// [`Session::checkout`] when it can finish without waiting: the shard's only host for
    /// `role` has an idle server ready ([`crate::backend::pool::Pool::get_idle_now`]).
    /// `false` changes nothing; the caller takes the general path.
    pub(super) fn checkout_now(&mut self, shard: usize, role: Role) -> bool {
        if self.catalog_only {
            return false;
        }
        let Some(host) = self
            .login
            .cluster
            .shards
            .get(shard)
            .and_then(|s| s.sole_host(role))
        else {
            return false;
        };
        let Some(server) = host.pool.get_idle_now(self.owner()) else {
            return false;
        };
        host.stats
            .picks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.attach(server, shard, role);
        true
    }

    /// This client as the pool remembers who a server served last: its cancel key, which
    /// is unique among connected clients.
    fn owner(&self) -> u64 {
        (u64::from(self.key.0 as u32) << 32) | u64::from(self.key.1 as u32)
    }

    pub(super) async fn checkout(&mut self, shard: usize, role: Role) -> Result<(), BackendError> {
        if self.checkout_now(shard, role) {
            return Ok(());
        }
        self.checkout_waiting(shard, role).await
    }

    /// The general checkout: picks a host, waits for, connects or checks a server.
    async fn checkout_waiting(&mut self, shard: usize, role: Role) -> Result<(), BackendError> {
        let server = self.get_server(shard, role).await?;
        self.attach(server, shard, role);
        Ok(())
    }

    /// Makes `server` the client's: parameters synced, cancel slot, deferred BEGIN.
    fn attach(&mut self, mut server: Guard, shard: usize, role: Role) {
        self.server_role = role;
        server.owner = self.owner();
        if server.params_fingerprint != self.params.fingerprint() {
            if let Some(sql) = self.params.sync_sql(&server.params) {
                debug!(client = %self.peer, %sql, "syncing session parameters");
                self.sout.extend_from_slice(&frontend::query(&sql));
                self.pending
                    .push(Entry::Swallow(Kind::Query), &mut self.cout);
            }
        }
        self.slot.set_one(Target {
            addr: server.peer,
            pid: server.backend_key.0,
            secret: server.backend_key.1,
        });
        if let Some(begin) = self.deferred_begin.take() {
            // The client's BEGIN, answered by pgDog earlier, now opens the transaction on
            // the shard the transaction reached.
            self.sout.extend_from_slice(&begin);
            self.pending
                .push(Entry::Swallow(Kind::Query), &mut self.cout);
        }
        self.server = Some(server);
        self.shard = shard;
    }
}
