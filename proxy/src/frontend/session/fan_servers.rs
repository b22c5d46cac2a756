//! The servers of a session's fan (see [`super::fanout`]): checked out as shards join it,
//! each opening the transaction with the client's BEGIN and savepoints; rolled back
//! together when the transaction fails; cleaned up and returned when the client leaves.

use tracing::{info, warn};

use super::Session;
use crate::backend::{BackendError, Guard};
use crate::config::{PoolerMode, Role};

impl Session {
    /// Makes sure the fan holds a server for every leg's shard, moving the attached
    /// server into it and opening the transaction on shards that join one.
    pub(super) async fn attach_fan(
        &mut self,
        shards: &[usize],
        role: Role,
    ) -> Result<(), BackendError> {
        self.settle_attached().await?;
        if let Some(server) = self.server.take() {
            self.fan.push((self.shard, server));
        }
        let in_transaction = self.deferred_begin.is_some() || self.fan_status() != b'I';
        for &shard in shards {
            if self.fan.iter().any(|(s, _)| *s == shard) {
                continue;
            }
            let server = self.fan_checkout(shard, in_transaction, role).await?;
            self.fan.push((shard, server));
        }
        self.fan.sort_by_key(|(s, _)| *s);
        // Every shard the transaction has reached now holds its BEGIN.
        self.deferred_begin = None;
        // A cancel reaches every shard the statement may be running on.
        self.slot
            .set_many(self.fan.iter().map(|(_, server)| super::Target {
                addr: server.peer,
                pid: server.backend_key.0,
                secret: server.backend_key.1,
            }));
        Ok(())
    }

    async fn fan_checkout(
        &mut self,
        shard: usize,
        begin: bool,
        role: Role,
    ) -> Result<Guard, BackendError> {
        // Inside a transaction the primary (unless it began READ ONLY); outside one, the
        // statement's own role.
        let role = if begin && !self.txn_read_only {
            Role::Primary
        } else {
            role
        };
        let mut server = self.get_server(shard, role).await?;
        if server.params_fingerprint != self.params.fingerprint() {
            if let Some(sql) = self.params.sync_sql(&server.params) {
                server.run_internal(&sql).await?;
            }
        }
        if begin {
            let sql = self
                .txn_begin
                .clone()
                .unwrap_or_else(|| "BEGIN".to_string());
            server.run_internal(&sql).await?;
            // The transaction's savepoints, so RELEASE and ROLLBACK TO work on this shard
            // as on the others.
            for savepoint in self.txn_savepoints.clone() {
                server.run_internal(&savepoint).await?;
            }
        }
        Ok(server)
    }

    /// Rolls back every shard of the fan and returns the servers that survive it.
    pub(super) async fn rollback_fan(&mut self) {
        self.fan_aborted = false;
        self.txn_begin = None;
        self.txn_savepoints.clear();
        self.forced_local = None;
        self.clear_slot();
        for (shard, mut server) in std::mem::take(&mut self.fan) {
            match server.run_internal("ROLLBACK").await {
                Ok(()) if server.status == b'I' => {
                    if self.login.mode == PoolerMode::Transaction {
                        server.release();
                    } else {
                        self.fan.push((shard, server));
                    }
                }
                Ok(()) => {}
                Err(err) => info!(shard, error = %err, "rollback failed; closing that server"),
            }
        }
    }

    /// After the client left: roll back and return every server of the fan.
    pub(super) fn finish_fan(&mut self) {
        let peer = self.peer;
        if std::mem::take(&mut self.fan_busy) {
            // The client left mid-statement: cancel what runs and close the connections,
            // whose replies nobody will read.
            info!(client = %peer, "client left mid-query on several shards; cancelling and closing their servers");
            for (_, server) in std::mem::take(&mut self.fan) {
                tokio::spawn(super::super::cancel::send_cancel(super::Target {
                    addr: server.peer,
                    pid: server.backend_key.0,
                    secret: server.backend_key.1,
                }));
            }
            return;
        }
        for (_, mut server) in std::mem::take(&mut self.fan) {
            let mode = self.login.mode;
            tokio::spawn(async move {
                let cleanup = async {
                    if server.status != b'I' {
                        server.run_internal("ROLLBACK").await?;
                    }
                    if mode == PoolerMode::Session {
                        server.run_internal("DISCARD ALL").await?;
                        server.prepared.clear();
                    }
                    Ok::<_, BackendError>(())
                };
                match crate::timer::timeout(super::CLEANUP_TIMEOUT, cleanup).await {
                    Ok(Ok(())) => server.release(),
                    _ => warn!(client = %peer, "cleanup of a shard server failed; closing it"),
                }
            });
        }
    }
}
