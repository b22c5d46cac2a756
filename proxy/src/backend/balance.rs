//! One shard's servers: its primary and its replicas, which of them serves a statement,
//! and which are banned.
//!
//! Reads are spread over the replicas (and the primary with `read_write_split =
//! "include_primary"`) by the configured strategy and weights; writes go to the primary. A
//! replica that cannot be reached is banned for `ban_timeout` and skipped until the ban
//! expires; when every replica is banned, reads go to the primary. The primary is never
//! banned: writes have nowhere else to go, so they should see its real error.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Pool;
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
    pub stats: HostStats,
}

impl Host {
    pub fn new(pool: Arc<Pool>, role: Role, weight: u32) -> Arc<Host> {
        Arc::new(Host {
            pool,
            role,
            weight: weight.max(1),
            banned_until: Mutex::new(None),
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
    pub fn candidates(&self, role: Role) -> Vec<Arc<Host>> {
        self.candidates_for(role, true)
    }

    /// Like [`Shard::candidates`], but a round-robin turn is not used up: for checkouts
    /// that only prepare or describe (a client's prepare step must not take every other
    /// turn, or its queries would all land on the same replica).
    pub fn peek_candidates(&self, role: Role) -> Vec<Arc<Host>> {
        self.candidates_for(role, false)
    }

    fn candidates_for(&self, role: Role, advance: bool) -> Vec<Arc<Host>> {
        if role == Role::Primary || self.replicas.is_empty() {
            return match &self.primary {
                Some(primary) => vec![primary.clone()],
                // A shard of replicas only: writes get the replica's own error.
                None => self.replicas.clone(),
            };
        }
        let mut readers: Vec<Arc<Host>> = self
            .replicas
            .iter()
            .filter(|h| !h.is_banned())
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
            readers = self.replicas.clone();
        }
        readers
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
