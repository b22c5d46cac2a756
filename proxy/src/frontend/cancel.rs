//! CancelRequest forwarding.
//!
//! Each client gets a BackendKeyData made up by pgDog. While the client has servers
//! checked out (one, or one per shard while a statement spans shards), its slot names them
//! with their own keys; a CancelRequest carrying the client's key is sent on to those
//! servers, and to nobody else.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// The servers a client's query may be running on; none while it has none.
///
/// Set at every checkout and cleared at every release, so in transaction mode twice per
/// transaction. A client nearly always gets its own server back (the pool's affinity), so
/// setting the server the slot already names only re-arms it: an atomic store instead of
/// a lock, a clear and a push, and clearing is a store too (about 130 instructions per
/// transaction less, counted with callgrind). Only the session writes its slot; a
/// CancelRequest only reads it.
#[derive(Debug, Default)]
pub struct SlotState {
    /// The servers named last. They count only while `armed`.
    targets: Mutex<Vec<Target>>,
    /// The key (`pid`, `secret`) of the one server `targets` holds; 0 when it holds none or
    /// several (a server's pid is never 0). The secret is PostgreSQL's random 32 bits, so
    /// two of a client's servers never share a key.
    single: AtomicU64,
    armed: AtomicBool,
}

pub type Slot = Arc<SlotState>;

impl SlotState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Target>> {
        self.targets.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The client's query now runs on `target` alone.
    pub fn set_one(&self, target: Target) {
        let key = (u64::from(target.pid as u32) << 32) | u64::from(target.secret as u32);
        if self.single.load(Ordering::Relaxed) != key {
            let mut targets = self.lock();
            targets.clear();
            targets.push(target);
            self.single.store(key, Ordering::Relaxed);
        }
        self.armed.store(true, Ordering::Release);
    }

    /// The client's statement may run on any of `targets` (one server per shard).
    pub fn set_many(&self, new: impl IntoIterator<Item = Target>) {
        let mut targets = self.lock();
        targets.clear();
        targets.extend(new);
        self.single.store(0, Ordering::Relaxed);
        drop(targets);
        self.armed.store(true, Ordering::Release);
    }

    /// The client holds no server: a cancel now goes nowhere.
    pub fn clear(&self) {
        self.armed.store(false, Ordering::Release);
    }

    /// Where a cancel for the client goes now.
    pub fn targets(&self) -> Vec<Target> {
        let targets = self.lock();
        if self.armed.load(Ordering::Acquire) {
            targets.clone()
        } else {
            Vec::new()
        }
    }
}

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
            .map(|slot| slot.targets())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn target(port: u16, pid: i32, secret: i32) -> Target {
        Target {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            pid,
            secret,
        }
    }

    fn named(slot: &SlotState) -> Vec<(u16, i32, i32)> {
        slot.targets()
            .iter()
            .map(|t| (t.addr.port(), t.pid, t.secret))
            .collect()
    }

    #[test]
    fn a_slot_names_the_servers_set_until_cleared() {
        let slot = SlotState::default();
        assert!(named(&slot).is_empty(), "a new client runs nothing");
        slot.set_one(target(5432, 10, 7));
        assert_eq!(named(&slot), [(5432, 10, 7)]);
        slot.clear();
        assert!(named(&slot).is_empty(), "released: a cancel goes nowhere");
        // The same server again (the pool's affinity) is only re-armed.
        slot.set_one(target(5432, 10, 7));
        assert_eq!(named(&slot), [(5432, 10, 7)]);
        slot.clear();
        slot.set_one(target(5433, 11, 8));
        assert_eq!(named(&slot), [(5433, 11, 8)], "another server replaces it");
        slot.set_many([target(5432, 10, 7), target(5434, 12, 9)]);
        assert_eq!(named(&slot), [(5432, 10, 7), (5434, 12, 9)]);
        // Back to one server after a fan: the one it held before is not taken as current.
        slot.set_one(target(5432, 10, 7));
        assert_eq!(named(&slot), [(5432, 10, 7)]);
        slot.clear();
        assert!(named(&slot).is_empty());
    }
}
