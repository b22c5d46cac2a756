//! A pool of server connections for one (database, user) pair on one server.
//!
//! A semaphore with `pool_size` permits bounds how many connections exist; a checkout holds
//! a permit for as long as it holds a server. Idle servers are kept LIFO so the warmest one
//! is reused first and the coldest ones age out past `idle_timeout`, in one list per worker
//! thread: a worker takes its own servers first (their sockets belong to its runtime) and
//! another worker's only when it has none.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, info, warn};

use super::{worker, BackendError, Server, ServerAddress};

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub size: usize,
    pub min: usize,
    pub connect_timeout: Duration,
    pub checkout_timeout: Duration,
    pub idle_timeout: Duration,
    /// Worker threads, each with its own idle list.
    pub workers: usize,
}

/// Counters kept for the admin database and metrics.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub checkouts: AtomicU64,
    pub connects: AtomicU64,
    pub connect_errors: AtomicU64,
    pub checkout_timeouts: AtomicU64,
}

pub struct Pool {
    pub addr: ServerAddress,
    pub settings: PoolSettings,
    permits: Arc<Semaphore>,
    idle: Vec<Mutex<Vec<Server>>>,
    startup_params: Mutex<Option<Vec<(String, String)>>>,
    pub stats: PoolStats,
    closed: AtomicBool,
}

/// A checked-out server. Dropping it closes the connection; [`Guard::release`] returns it.
pub struct Guard {
    server: Option<Server>,
    pool: Arc<Pool>,
    _permit: OwnedSemaphorePermit,
}

impl Pool {
    pub fn new(addr: ServerAddress, settings: PoolSettings) -> Arc<Pool> {
        Arc::new(Pool {
            permits: Arc::new(Semaphore::new(settings.size)),
            idle: (0..settings.workers.max(1))
                .map(|_| Mutex::new(Vec::new()))
                .collect(),
            addr,
            settings,
            startup_params: Mutex::new(None),
            stats: PoolStats::default(),
            closed: AtomicBool::new(false),
        })
    }

    /// Checks out a server, waiting up to `checkout_timeout` for one to be free.
    pub async fn get(self: &Arc<Self>) -> Result<Guard, BackendError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(BackendError::Closed);
        }
        let wait = self.settings.checkout_timeout;
        let permit = match tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(BackendError::Closed),
            Err(_) => {
                self.stats.checkout_timeouts.fetch_add(1, Ordering::Relaxed);
                return Err(BackendError::CheckoutTimeout(wait.as_millis() as u64));
            }
        };
        self.stats.checkouts.fetch_add(1, Ordering::Relaxed);
        while let Some(server) = self.pop_idle() {
            if server.is_alive() {
                return Ok(self.guard(server, permit));
            }
            debug!(server = %self.addr, "dropping a dead idle server connection");
        }
        let server = self.connect().await?;
        Ok(self.guard(server, permit))
    }

    fn guard(self: &Arc<Self>, server: Server, permit: OwnedSemaphorePermit) -> Guard {
        Guard {
            server: Some(server),
            pool: self.clone(),
            _permit: permit,
        }
    }

    fn pop_idle(&self) -> Option<Server> {
        let own = worker::current() % self.idle.len();
        let others = (1..self.idle.len()).map(|i| (own + i) % self.idle.len());
        std::iter::once(own)
            .chain(others)
            .find_map(|i| self.idle[i].lock().unwrap_or_else(|e| e.into_inner()).pop())
    }

    fn idle_list(&self, server: &Server) -> &Mutex<Vec<Server>> {
        &self.idle[server.worker % self.idle.len()]
    }

    async fn connect(&self) -> Result<Server, BackendError> {
        match Server::connect(&self.addr, self.settings.connect_timeout).await {
            Ok(server) => {
                self.stats.connects.fetch_add(1, Ordering::Relaxed);
                info!(server = %self.addr, "new server connection");
                let mut params = self
                    .startup_params
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if params.is_none() {
                    *params = Some(server.params.clone());
                }
                Ok(server)
            }
            Err(err) => {
                self.stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                warn!(server = %self.addr, error = %err, "server connection failed");
                Err(err)
            }
        }
    }

    /// The ParameterStatus set a new client is greeted with, as the server reports it.
    pub async fn startup_params(self: &Arc<Self>) -> Result<Vec<(String, String)>, BackendError> {
        if let Some(params) = self
            .startup_params
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(params);
        }
        let guard = self.get().await?;
        let params = guard.params.clone();
        guard.release();
        Ok(params)
    }

    fn checkin(&self, mut server: Server) {
        if self.closed.load(Ordering::Relaxed) || server.status != b'I' || !server.rbuf.is_empty() {
            return;
        }
        server.last_used = Instant::now();
        self.idle_list(&server)
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(server);
    }

    /// Connections checked out plus idle.
    pub fn total(&self) -> usize {
        self.checked_out() + self.idle_count()
    }

    pub fn checked_out(&self) -> usize {
        self.settings.size - self.permits.available_permits()
    }

    pub fn idle_count(&self) -> usize {
        self.idle
            .iter()
            .map(|list| list.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Closes idle connections past `idle_timeout` (keeping `min`) and opens connections up
    /// to `min`. Called periodically by [`Pool::spawn_maintenance`].
    pub async fn maintain(self: &Arc<Self>) {
        let mut expired = Vec::new();
        let mut keep = self.settings.min.saturating_sub(self.checked_out());
        for list in &self.idle {
            let mut idle = list.lock().unwrap_or_else(|e| e.into_inner());
            // Oldest first: each list is LIFO, so its front holds the coldest servers.
            let keep_here = keep.min(idle.len());
            keep -= keep_here;
            while idle.len() > keep_here
                && idle
                    .first()
                    .is_some_and(|s| s.last_used.elapsed() >= self.settings.idle_timeout)
            {
                expired.push(idle.remove(0));
            }
        }
        for server in expired {
            debug!(server = %self.addr, "closing idle server connection");
            server.terminate().await;
        }
        while !self.closed.load(Ordering::Relaxed) && self.total() < self.settings.min {
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                break;
            };
            match self.connect().await {
                Ok(server) => {
                    self.checkin(server);
                    drop(permit);
                }
                Err(_) => break,
            }
        }
    }

    /// Runs [`Pool::maintain`] every second until the pool is closed.
    pub fn spawn_maintenance(self: &Arc<Self>) {
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { break };
                if pool.closed.load(Ordering::Relaxed) {
                    break;
                }
                pool.maintain().await;
            }
        });
    }

    /// Stops handing out connections and closes the idle ones.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        for list in &self.idle {
            let idle = std::mem::take(&mut *list.lock().unwrap_or_else(|e| e.into_inner()));
            for server in idle {
                server.terminate().await;
            }
        }
    }
}

impl Guard {
    /// Returns the server to its pool if it is idle and clean; otherwise closes it.
    pub fn release(mut self) {
        if let Some(server) = self.server.take() {
            self.pool.checkin(server);
        }
    }

    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }
}

impl std::ops::Deref for Guard {
    type Target = Server;
    fn deref(&self) -> &Server {
        self.server
            .as_ref()
            .expect("guard holds a server until released")
    }
}

impl std::ops::DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut Server {
        self.server
            .as_mut()
            .expect("guard holds a server until released")
    }
}
