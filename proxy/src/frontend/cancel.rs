//! CancelRequest forwarding.
//!
//! Each client gets a BackendKeyData made up by pgDog. While the client has servers
//! checked out (one, or one per shard while a statement spans shards), its slot names them
//! with their own keys; a CancelRequest carrying the client's key is sent on to those
//! servers, and to nobody else.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use dashmap::DashMap;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tracing::{debug, info};

use crate::wire::startup::cancel_request;

/// The server a client's query is running on.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub addr: SocketAddr,
    pub pid: i32,
    pub secret: i32,
}

/// The servers a client's query may be running on; empty while it has none.
pub type Slot = Arc<Mutex<Vec<Target>>>;

#[derive(Default)]
pub struct CancelRegistry {
    clients: DashMap<(i32, i32), Slot>,
}

impl CancelRegistry {
    /// Registers a new client and returns its key and slot.
    pub fn register(&self) -> ((i32, i32), Slot) {
        loop {
            let key = (rand::random::<i32>() & i32::MAX, rand::random::<i32>());
            let slot: Slot = Arc::default();
            if let dashmap::Entry::Vacant(v) = self.clients.entry(key) {
                v.insert(slot.clone());
                return (key, slot);
            }
        }
    }

    pub fn unregister(&self, key: (i32, i32)) {
        self.clients.remove(&key);
    }

    /// Forwards a cancel for the client with this key, if it is running a query.
    pub async fn cancel(&self, pid: i32, secret: i32) {
        let targets = self
            .clients
            .get(&(pid, secret))
            .map(|slot| slot.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default();
        if targets.is_empty() {
            debug!("cancel request for no running query ignored");
        }
        for target in targets {
            info!(server = %target.addr, "forwarding cancel request");
            send_cancel(target).await;
        }
    }
}

/// Sends a CancelRequest straight to a server.
pub async fn send_cancel(target: Target) {
    if let Ok(mut stream) = TcpStream::connect(target.addr).await {
        let _ = stream
            .write_all(&cancel_request(target.pid, target.secret))
            .await;
    }
}
