//! One shard's servers: its primary and its replicas, which of them serves a statement,
//! and which are banned.
//!
//! Reads are spread over the replicas (and the primary with `read_write_split =
//! "include_primary"`) by the configured strategy and weights; writes go to the primary. A
//! replica that cannot be reached is banned for `ban_timeout` and skipped until the ban
//! expires; when every replica is banned, reads go to the primary. The primary is never
//! banned: writes have nowhere else to go, so they should see its real error.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use super::{BackendError, Pool, Server};
use crate::config::{ReadWriteSplit, Role, Strategy};

/// Counters per host, for the admin database and metrics.
#[derive(Debug, Default)]
pub struct HostStats {
    /// Times a session chose this host.
    pub picks: AtomicU64,
    /// Failures to get a connection from it.
    pub errors: AtomicU64,
    pub bans: AtomicU64,
}

/// One server of a shard.
pub struct Host {
    pub pool: Arc<Pool>,
    pub role: Role,
    /// Relative share of reads (`lb_weight`).
    pub weight: u32,
    banned_until: Mutex<Option<Instant>>,
    /// A replica whose replay is behind by more than `max_replica_lag`.
    lagging: AtomicBool,
    pub stats: HostStats,
}

impl Host {
    pub fn new(pool: Arc<Pool>, role: Role, weight: u32) -> Arc<Host> {
        Arc::new(Host {
            pool,
            role,
            weight: weight.max(1),
            banned_until: Mutex::new(None),
            lagging: AtomicBool::new(false),
            stats: HostStats::default(),
        })
    }

    /// Whether the host is banned now (an expired ban is lifted).
    pub fn is_banned(&self) -> bool {
        let mut until = self.banned_until.lock().unwrap_or_else(|e| e.into_inner());
        match *until {
            Some(t) if Instant::now() < t => true,
            Some(_) => {
                *until = None;
                false
            }
            None => false,
        }
    }

    /// Whether the replica is too far behind its primary to serve reads.
    pub fn is_lagging(&self) -> bool {
        self.lagging.load(Ordering::Relaxed)
    }

    fn ban(&self, duration: Duration) {
        *self.banned_until.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Instant::now() + duration);
        self.stats.bans.fetch_add(1, Ordering::Relaxed);
    }
}

/// How a shard chooses among its servers.
#[derive(Debug, Clone, Copy)]
pub struct Balance {
    pub strategy: Strategy,
    pub split: ReadWriteSplit,
    pub ban_timeout: Duration,
    /// How often every replica is checked in the background.
    pub check_every: Duration,
    pub check_timeout: Duration,
    /// Bytes of WAL a replica's replay may be behind its primary.
    pub max_lag: Option<u64>,
}

/// One shard: a primary (optional: a shard may be replicas only) and its replicas.
pub struct Shard {
    pub primary: Option<Arc<Host>>,
    pub replicas: Vec<Arc<Host>>,
    balance: Balance,
    next: AtomicUsize,
}

impl Shard {
    pub fn new(primary: Option<Arc<Host>>, replicas: Vec<Arc<Host>>, balance: Balance) -> Shard {
        Shard {
            primary,
            replicas,
            balance,
            next: AtomicUsize::new(0),
        }
    }

    /// Whether reads and writes can go to different servers.
    pub fn has_replicas(&self) -> bool {
        !self.replicas.is_empty()
    }

    /// The pool that answers questions about the database itself (startup parameters).
    pub fn any_pool(&self) -> Option<&Arc<Pool>> {
        self.primary
            .as_ref()
            .or_else(|| self.replicas.first())
            .map(|h| &h.pool)
    }

    /// The hosts to try for `role`, best first: the strategy's choice among the hosts that
    /// may serve it and are not banned, then the others as fallbacks (the primary for reads
    /// when every replica is banned).
    pub fn candidates(&self, role: Role) -> Cow<'_, [Arc<Host>]> {
        self.candidates_for(role, true)
    }

    /// Like [`Shard::candidates`], but a round-robin turn is not used up: for checkouts
    /// that only prepare or describe (a client's prepare step must not take every other
    /// turn, or its queries would all land on the same replica).
    pub fn peek_candidates(&self, role: Role) -> Cow<'_, [Arc<Host>]> {
        self.candidates_for(role, false)
    }

    /// The one host a checkout for `role` goes to when there is no choice to make (the
    /// primary, for writes or where there are no replicas); `None` when the strategy picks.
    pub fn sole_host(&self, role: Role) -> Option<&Arc<Host>> {
        if role == Role::Primary || self.replicas.is_empty() {
            self.primary.as_ref()
        } else {
            None
        }
    }

    fn candidates_for(&self, role: Role, advance: bool) -> Cow<'_, [Arc<Host>]> {
        if role == Role::Primary || self.replicas.is_empty() {
            // Borrowed: the usual checkout (a primary) costs no allocation.
            return match &self.primary {
                Some(primary) => Cow::Borrowed(std::slice::from_ref(primary)),
                // A shard of replicas only: writes get the replica's own error.
                None => Cow::Borrowed(&self.replicas),
            };
        }
        let mut readers: Vec<Arc<Host>> = self
            .replicas
            .iter()
            .filter(|h| !h.is_banned() && !h.is_lagging())
            .cloned()
            .collect();
        let primary_reads = self.balance.split == ReadWriteSplit::IncludePrimary;
        if primary_reads {
            readers.extend(self.primary.iter().cloned());
        }
        self.order(&mut readers, advance);
        if !primary_reads {
            // The last resort when every replica is banned or fails.
            readers.extend(self.primary.iter().cloned());
        }
        if readers.is_empty() {
            // Every replica is banned and there is no primary: try them anyway.
            return Cow::Borrowed(&self.replicas);
        }
        Cow::Owned(readers)
    }

    /// Puts the strategy's pick first.
    fn order(&self, hosts: &mut [Arc<Host>], advance: bool) {
        if hosts.len() < 2 {
            return;
        }
        let pick = match self.balance.strategy {
            Strategy::RoundRobin => {
                let total: u64 = hosts.iter().map(|h| u64::from(h.weight)).sum();
                let turn = if advance {
                    self.next.fetch_add(1, Ordering::Relaxed)
                } else {
                    self.next.load(Ordering::Relaxed)
                };
                let ticket = turn as u64 % total;
                weighted(hosts, ticket)
            }
            Strategy::Random => {
                let total: u64 = hosts.iter().map(|h| u64::from(h.weight)).sum();
                weighted(hosts, rand::random::<u64>() % total)
            }
            Strategy::LeastActiveConnections => {
                // Fewest checked-out connections per unit of weight.
                (0..hosts.len())
                    .min_by(|&a, &b| {
                        let load =
                            |h: &Host| h.pool.checked_out() as u64 * 1000 / u64::from(h.weight);
                        load(&hosts[a]).cmp(&load(&hosts[b]))
                    })
                    .unwrap_or(0)
            }
        };
        hosts.swap(0, pick);
    }

    /// Records that the host owning `pool` broke a connection mid-request.
    pub fn failed_pool(&self, pool: &Arc<Pool>) {
        let host = self
            .primary
            .iter()
            .chain(self.replicas.iter())
            .find(|h| Arc::ptr_eq(&h.pool, pool));
        if let Some(host) = host {
            self.failed(host);
        }
    }

    /// Records that `host` could not give a connection; replicas are banned.
    pub fn failed(&self, host: &Host) {
        host.stats.errors.fetch_add(1, Ordering::Relaxed);
        if host.role == Role::Replica {
            host.ban(self.balance.ban_timeout);
        }
    }
}

impl Shard {
    /// Checks every replica each `idle_healthcheck_interval` until the shard is dropped: a
    /// replica that fails is banned, and one whose replay lags too far is left out of reads
    /// until it catches up.
    pub fn spawn_health_checks(self: &Arc<Self>) {
        let shard = Arc::downgrade(self);
        let every = self.balance.check_every.max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut tick = crate::timer::interval(every);
            loop {
                tick.tick().await;
                let Some(shard) = shard.upgrade() else { break };
                shard.check_replicas().await;
            }
        });
    }

    async fn check_replicas(&self) {
        let timeout = self.balance.check_timeout;
        let primary_lsn = match (&self.primary, self.balance.max_lag) {
            (Some(primary), Some(_)) => {
                probe(primary, "SELECT pg_current_wal_lsn()::text", timeout)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|v| parse_lsn(&v))
            }
            _ => None,
        };
        if self.balance.max_lag.is_some() && primary_lsn.is_none() {
            // Without the primary's position, lag cannot be told: do not keep replicas out
            // on an old measurement (reads would fall back to a primary that may be down).
            for host in &self.replicas {
                host.lagging.store(false, Ordering::Relaxed);
            }
        }
        for host in &self.replicas {
            let replay = probe(host, "SELECT pg_last_wal_replay_lsn()::text", timeout).await;
            match replay {
                Err(err) => {
                    if !host.is_banned() {
                        warn!(server = %host.pool.addr, error = %err, "replica failed its health check; banned");
                    }
                    self.failed(host);
                }
                Ok(replayed) => {
                    let (Some(max), Some(primary)) = (self.balance.max_lag, primary_lsn) else {
                        continue;
                    };
                    let replayed = replayed.as_deref().and_then(parse_lsn).unwrap_or(0);
                    let lag = primary.saturating_sub(replayed);
                    let lagging = lag > max;
                    if host.lagging.swap(lagging, Ordering::Relaxed) != lagging {
                        if lagging {
                            warn!(server = %host.pool.addr, lag, max, "replica lags; left out of reads");
                        } else {
                            info!(server = %host.pool.addr, lag, "replica caught up; back in rotation");
                        }
                    }
                }
            }
        }
    }
}

/// Runs a one-value query on a fresh connection to `host`, within `timeout`. Not one of
/// the pool's: a pool busy serving clients must not make a healthy host look dead.
async fn probe(host: &Host, sql: &str, timeout: Duration) -> Result<Option<String>, BackendError> {
    let check = async {
        let mut server = Server::connect(&host.pool.addr, timeout).await?;
        let value = server.query_value(sql).await;
        server.terminate().await;
        value
    };
    match crate::timer::timeout(timeout, check).await {
        Ok(result) => result,
        Err(_) => Err(BackendError::Io(std::io::ErrorKind::TimedOut.into())),
    }
}

/// A WAL position written as PostgreSQL prints it (`16/B374D848`), as a byte offset.
fn parse_lsn(text: &str) -> Option<u64> {
    let (high, low) = text.trim().split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

/// The host a ticket in `0..total weight` falls on.
fn weighted(hosts: &[Arc<Host>], mut ticket: u64) -> usize {
    for (i, host) in hosts.iter().enumerate() {
        let w = u64::from(host.weight);
        if ticket < w {
            return i;
        }
        ticket -= w;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::parse_lsn;

    #[test]
    fn wal_positions() {
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("16/B374D848"), Some((0x16 << 32) | 0xB374_D848));
        assert_eq!(parse_lsn("garbage"), None);
    }
}
