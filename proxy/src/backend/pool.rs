//! A pool of server connections for one (database, user) pair on one server.
//!
//! At most `size` connections exist (checked out, idle, or being opened). Idle servers are
//! kept LIFO, so the warmest is reused first and the coldest age out past `idle_timeout`,
//! in one list per worker thread; clients waiting for a server queue per worker too. A
//! client is handed back the server it used last when that one is idle near the top of
//! its list ([`AFFINITY_DEPTH`]). A
//! server coming back goes straight to a waiter on its own worker when there is one, so
//! under load a connection keeps serving the thread whose runtime drives its socket and no
//! wake-up crosses threads. A waiter on another worker is served first only once it has
//! waited noticeably longer ([`FAIRNESS`]), so no worker's clients starve.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parking_lot::{Mutex as StateLock, MutexGuard};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use super::clock::CoarseInstant;
use super::{worker, BackendError, Server, ServerAddress};

/// How much longer another worker's client must have waited before a returning server
/// crosses threads to serve it instead of a client on its own worker.
const FAIRNESS: Duration = Duration::from_millis(2);

/// How far down its worker's idle list a checkout looks for the server its client used
/// last. The list holds each server's last client beside it, so the look reads one
/// contiguous list, not the servers. Why affinity at all: under `pgbench -M prepared -c 10`
/// with a pool of 10, giving each client back its own server ran 3-6% faster than handing
/// it whichever server came back last (three runs of 40 interleaved rounds, pgDog against
/// pgDog: paired ratios 1.031, 1.055 and 1.065, 95% intervals 0.99-1.06, 1.01-1.07 and
/// 1.04-1.09), at the same instructions and system calls per transaction: PostgreSQL's
/// backends and the kernel's scheduling do better with one backend per busy client, as in
/// session mode. It also keeps a client's prepared statements where they are.
pub const AFFINITY_DEPTH: usize = 16;

/// The longest pause between attempts to open `min_pool_size` connections to a server that
/// keeps refusing them.
const MAX_MIN_POOL_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub size: usize,
    pub min: usize,
    pub connect_timeout: Duration,
    pub checkout_timeout: Duration,
    pub idle_timeout: Duration,
    /// A connection idle this long is checked with an empty query before it is handed out.
    pub healthcheck_interval: Duration,
    pub healthcheck_timeout: Duration,
    /// Worker threads, each with its own idle list and wait queue.
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

/// What a waiting client is handed.
enum Grant {
    /// An idle server. Servers live boxed from connect to close, so a checkout or a
    /// handoff moves a pointer, not the whole connection state.
    Server(Box<Server>),
    /// Room to open a new connection (one closed, or the pool was below its size).
    Slot,
}

/// An idle server and the client it served last ([`Server::owner`]).
struct Idle {
    owner: u64,
    server: Box<Server>,
}

struct Waiter {
    since: Instant,
    tx: oneshot::Sender<Grant>,
}

struct State {
    // Boxed servers on purpose: a server moves from the idle list to a client and back on
    // every transaction, and a pointer is cheaper to move than the connection state.
    idle: Vec<Vec<Idle>>,
    waiters: Vec<VecDeque<Waiter>>,
    /// Connections that exist or are being opened.
    open: usize,
    checked_out: usize,
    /// When keeping `min_pool_size` last failed, and how long to wait before trying again.
    min_backoff: Option<(Instant, Duration)>,
}

pub struct Pool {
    pub addr: ServerAddress,
    pub settings: PoolSettings,
    state: StateLock<State>,
    startup_params: Mutex<Option<Vec<(String, String)>>>,
    pub stats: PoolStats,
    closed: AtomicBool,
}

/// A checked-out server. Dropping it closes the connection; [`Guard::release`] returns it.
pub struct Guard {
    server: Option<Box<Server>>,
    pool: Arc<Pool>,
}

impl Pool {
    pub fn new(addr: ServerAddress, settings: PoolSettings) -> Arc<Pool> {
        let workers = settings.workers.max(1);
        Arc::new(Pool {
            state: StateLock::new(State {
                idle: (0..workers).map(|_| Vec::new()).collect(),
                waiters: (0..workers).map(|_| VecDeque::new()).collect(),
                open: 0,
                checked_out: 0,
                min_backoff: None,
            }),
            addr,
            settings,
            startup_params: Mutex::new(None),
            stats: PoolStats::default(),
            closed: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock()
    }

    /// Checks out a server, waiting up to `checkout_timeout` for one to be free: the one
    /// `owner` used last if it is idle near the top of this worker's list (see
    /// [`Pool::get_idle_now`]), else the warmest.
    pub async fn get(self: &Arc<Self>, owner: u64) -> Result<Guard, BackendError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(BackendError::Closed);
        }
        self.stats.checkouts.fetch_add(1, Ordering::Relaxed);
        let here = worker::current() % self.settings.workers.max(1);
        let next = {
            let mut state = self.lock();
            let n = state.idle.len();
            let own = own_server(&state.idle[here], owner);
            let found = match own {
                Some(at) => Some(state.idle[here].remove(at).server),
                None => (0..n).find_map(|i| state.idle[(here + i) % n].pop().map(|e| e.server)),
            };
            if let Some(server) = found {
                state.checked_out += 1;
                Ok(Grant::Server(server))
            } else if state.open < self.settings.size {
                state.open += 1;
                state.checked_out += 1;
                Ok(Grant::Slot)
            } else {
                let (tx, rx) = oneshot::channel();
                state.waiters[here].push_back(Waiter {
                    since: Instant::now(),
                    tx,
                });
                Err(rx)
            }
        };
        let rx = match next {
            Ok(grant) => return self.hand_out(grant).await,
            Err(rx) => rx,
        };
        let wait = self.settings.checkout_timeout;
        match crate::timer::timeout(wait, rx).await {
            Ok(Ok(grant)) => self.hand_out(grant).await,
            Ok(Err(_)) => Err(BackendError::Closed),
            Err(_) => {
                // Our queue entry stays behind; whoever tries it finds it gone and moves on.
                self.stats.checkout_timeouts.fetch_add(1, Ordering::Relaxed);
                Err(BackendError::CheckoutTimeout(wait.as_millis() as u64))
            }
        }
    }

    /// An idle server that needs nothing awaited, or `None` (and nothing changed) when
    /// [`Pool::get`] must do the work: no idle server on this worker's list, a health check
    /// due, a connection that looks dead, or one that another worker opened. This is the
    /// checkout of nearly every transaction, taken without the layers of futures of the
    /// general path (about a hundred instructions each, counted with callgrind). `owner`
    /// (the client, as in [`Server::owner`]; 0 for none) gets its last server back when
    /// that one is among the top [`AFFINITY_DEPTH`] idle ones, else the warmest.
    pub fn get_idle_now(self: &Arc<Self>, owner: u64) -> Option<Guard> {
        if self.closed.load(Ordering::Relaxed) {
            return None;
        }
        let here = worker::current();
        let server = {
            let mut state = self.lock();
            let n = state.idle.len().max(1);
            let list = state.idle.get_mut(here % n)?;
            let at = own_server(list, owner).or(list.len().checked_sub(1))?;
            let s = &list[at].server;
            let ready = s.worker == here
                && s.is_alive()
                && !s.last_used.aged(self.settings.healthcheck_interval);
            if !ready {
                return None;
            }
            // `remove`, not `swap_remove`: the rest stay in the order they came back in,
            // which idle timeouts rely on.
            let server = list.remove(at).server;
            state.checked_out += 1;
            server
        };
        self.stats.checkouts.fetch_add(1, Ordering::Relaxed);
        Some(self.guard(server))
    }

    /// Turns a grant (already counted as checked out) into a usable server.
    async fn hand_out(self: &Arc<Self>, grant: Grant) -> Result<Guard, BackendError> {
        if let Grant::Server(mut server) = grant {
            let mut healthy = server.is_alive();
            if healthy && server.last_used.aged(self.settings.healthcheck_interval) {
                // Idle long enough that the connection may be dead without a FIN reaching
                // us (a firewall dropped it, a frozen host): ask it first. A connection that
                // fails the check is replaced by a new one below; only a failure to connect
                // is reported.
                let check = server.run_internal(";");
                match crate::timer::timeout(self.settings.healthcheck_timeout, check).await {
                    Ok(Ok(())) => server.last_used = CoarseInstant::now(),
                    Ok(Err(err)) => {
                        warn!(server = %self.addr, error = %err, "idle connection failed its health check; reconnecting");
                        healthy = false;
                    }
                    Err(_) => {
                        warn!(server = %self.addr, "idle connection's health check timed out; reconnecting");
                        healthy = false;
                    }
                }
            }
            if healthy {
                match server.rehome() {
                    Ok(server) => return Ok(self.guard(server)),
                    Err(err) => {
                        debug!(server = %self.addr, error = %err, "dropping a server that could not move threads")
                    }
                }
            } else {
                debug!(server = %self.addr, "dropping a dead idle server connection");
            }
        }
        match self.connect().await {
            Ok(server) => Ok(self.guard(server)),
            Err(err) => {
                self.give_back(None);
                Err(err)
            }
        }
    }

    fn guard(self: &Arc<Self>, server: Box<Server>) -> Guard {
        Guard {
            server: Some(server),
            pool: self.clone(),
        }
    }

    async fn connect(&self) -> Result<Box<Server>, BackendError> {
        match Server::connect(&self.addr, self.settings.connect_timeout).await {
            Ok(server) => {
                let server = Box::new(server);
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

    /// Takes back a checked-out server (`None`: it was closed) and hands it, or the room it
    /// leaves, to the client that should get it next.
    fn give_back(&self, server: Option<Box<Server>>) {
        let server = server.filter(|s| {
            !self.closed.load(Ordering::Relaxed) && s.status == b'I' && s.rbuf.is_empty()
        });
        let mut state = self.lock();
        state.checked_out -= 1;
        let mut grant = match server {
            Some(mut server) => {
                server.last_used = CoarseInstant::now();
                Grant::Server(server)
            }
            None => {
                state.open -= 1;
                if state.waiters.iter().all(VecDeque::is_empty) {
                    return;
                }
                state.open += 1;
                Grant::Slot
            }
        };
        let home = match &grant {
            Grant::Server(s) => s.worker % state.idle.len(),
            Grant::Slot => worker::current() % state.idle.len(),
        };
        while let Some(queue) = next_queue(&state, home) {
            let waiter = state.waiters[queue]
                .pop_front()
                .expect("next_queue picks a non-empty queue");
            state.checked_out += 1;
            match waiter.tx.send(grant) {
                Ok(()) => return,
                Err(returned) => {
                    // That client gave up waiting; try the next one.
                    state.checked_out -= 1;
                    grant = returned;
                }
            }
        }
        match grant {
            Grant::Server(server) => state.idle[home].push(Idle {
                owner: server.owner,
                server,
            }),
            Grant::Slot => state.open -= 1,
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
        let guard = self.get(0).await?;
        let params = guard.params.clone();
        guard.release();
        Ok(params)
    }

    /// Connections checked out plus idle.
    pub fn total(&self) -> usize {
        self.lock().open
    }

    pub fn checked_out(&self) -> usize {
        self.lock().checked_out
    }

    pub fn idle_count(&self) -> usize {
        self.lock().idle.iter().map(Vec::len).sum()
    }

    /// Closes idle connections past `idle_timeout` (keeping `min`) and opens connections up
    /// to `min`. Called periodically by [`Pool::spawn_maintenance`].
    pub async fn maintain(self: &Arc<Self>) {
        let (expired, backoff) = {
            let mut state = self.lock();
            let mut keep = self.settings.min.saturating_sub(state.checked_out);
            let mut expired = Vec::new();
            for idle in state.idle.iter_mut() {
                // Oldest first: each list is LIFO, so its front holds the coldest servers.
                let keep_here = keep.min(idle.len());
                keep -= keep_here;
                while idle.len() > keep_here
                    && idle
                        .first()
                        .is_some_and(|e| e.server.last_used.aged(self.settings.idle_timeout))
                {
                    expired.push(idle.remove(0).server);
                }
            }
            state.open -= expired.len();
            (expired, state.min_backoff)
        };
        for server in expired {
            debug!(server = %self.addr, "closing idle server connection");
            server.terminate().await;
        }
        // A server that refused the last attempt is retried with backoff, so a server that
        // is down does not fill the log with one failure a second.
        if backoff.is_some_and(|(at, wait)| at.elapsed() < wait) {
            return;
        }
        while !self.closed.load(Ordering::Relaxed) {
            {
                let mut state = self.lock();
                if state.open >= self.settings.min || state.open >= self.settings.size {
                    break;
                }
                state.open += 1;
                state.checked_out += 1;
            }
            let result = self.connect().await;
            let ok = result.is_ok();
            self.give_back(result.ok());
            let mut state = self.lock();
            if ok {
                state.min_backoff = None;
            } else {
                let wait = state.min_backoff.map_or(Duration::from_secs(1), |(_, w)| {
                    (w * 2).min(MAX_MIN_POOL_BACKOFF)
                });
                state.min_backoff = Some((Instant::now(), wait));
                break;
            }
        }
    }

    /// Runs [`Pool::maintain`] every second until the pool is closed.
    pub fn spawn_maintenance(self: &Arc<Self>) {
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = crate::timer::interval(Duration::from_secs(1));
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

    /// Stops handing out connections, turns waiting clients away and closes idle servers.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let idle: Vec<Box<Server>> = {
            let mut state = self.lock();
            for queue in state.waiters.iter_mut() {
                queue.clear();
            }
            let idle: Vec<Box<Server>> = state
                .idle
                .iter_mut()
                .flat_map(std::mem::take)
                .map(|e| e.server)
                .collect();
            state.open -= idle.len();
            idle
        };
        for server in idle {
            server.terminate().await;
        }
    }
}

/// Where in `list` the server `owner` used last sits, if among the top [`AFFINITY_DEPTH`].
fn own_server(list: &[Idle], owner: u64) -> Option<usize> {
    if owner == 0 {
        return None;
    }
    let top = list.len().saturating_sub(AFFINITY_DEPTH);
    list[top..]
        .iter()
        .rposition(|e| e.owner == owner)
        .map(|i| top + i)
}

/// The wait queue a grant from worker `home` should serve: `home`'s own, unless another
/// worker's first client has waited longer by more than [`FAIRNESS`].
fn next_queue(state: &State, home: usize) -> Option<usize> {
    let oldest = (0..state.waiters.len())
        .filter_map(|q| state.waiters[q].front().map(|w| (w.since, q)))
        .min()?;
    match state.waiters[home].front() {
        Some(own) if own.since <= oldest.0 + FAIRNESS => Some(home),
        _ => Some(oldest.1),
    }
}

impl Guard {
    /// Returns the server to its pool if it is idle and clean; otherwise closes it.
    pub fn release(mut self) {
        let server = self.server.take();
        self.pool.give_back(server);
    }

    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            drop(server);
            self.pool.give_back(None);
        }
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
