//! Every pool one configuration describes: for each (database, user) pair, a cluster with
//! one pool per shard.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::balance::Balance;
use super::{Host, Pool, PoolSettings, ServerAddress, Shard};
use crate::config::{Config, Database, Role, User};
use crate::router::route::Sharding;

/// The servers one (database, user) pair reaches: its shards' hosts, and how to route.
pub struct Cluster {
    pub shards: Vec<Arc<Shard>>,
    /// `None` for a single-shard database without sharded tables or replicas: nothing to
    /// route.
    pub sharding: Option<Sharding>,
}

pub struct Pools {
    by_key: HashMap<(String, String), Arc<Cluster>>,
}

impl Pools {
    /// Builds the pools (without connecting; see [`Pools::start`]).
    pub fn from_config(config: &Config) -> Pools {
        let mut by_key = HashMap::new();
        for user in &config.users {
            let count = config.shard_count(&user.database);
            let mut shards = Vec::with_capacity(count);
            for shard in 0..count {
                let entries: Vec<&Database> = config
                    .database_entries(&user.database)
                    .filter(|d| d.shard == shard)
                    .collect();
                let host = |db: &Database| {
                    Host::new(
                        Pool::new(address(db, user), settings(config, user)),
                        db.role,
                        db.lb_weight,
                    )
                };
                let primary = entries
                    .iter()
                    .find(|d| d.role == Role::Primary)
                    .map(|d| host(d));
                let replicas = entries
                    .iter()
                    .filter(|d| d.role == Role::Replica)
                    .map(|d| host(d))
                    .collect();
                let first = entries.first();
                let g = &config.general;
                let balance = Balance {
                    strategy: first
                        .and_then(|d| d.load_balancing_strategy)
                        .unwrap_or(g.load_balancing_strategy),
                    split: first
                        .and_then(|d| d.read_write_split)
                        .unwrap_or(g.read_write_split),
                    ban_timeout: Duration::from_millis(g.ban_timeout),
                    check_every: Duration::from_millis(g.idle_healthcheck_interval),
                    check_timeout: Duration::from_millis(g.healthcheck_timeout),
                    max_lag: g.max_replica_lag,
                };
                shards.push(Arc::new(Shard::new(primary, replicas, balance)));
            }
            let tables: Vec<_> = config.sharded_tables(&user.database).cloned().collect();
            // Replicas need every statement classified as a read or a write, which is the
            // routing path's job even with one shard.
            let replicated = shards.iter().any(|s| s.has_replicas());
            let sharding = (count > 1 || !tables.is_empty() || replicated).then_some(Sharding {
                shards: count,
                tables,
            });
            by_key.insert(
                (user.database.clone(), user.name.clone()),
                Arc::new(Cluster { shards, sharding }),
            );
        }
        Pools { by_key }
    }

    /// Starts each pool's maintenance (min connections, idle timeout).
    pub fn start(&self) {
        for pool in self.pools() {
            pool.spawn_maintenance();
        }
        for cluster in self.by_key.values() {
            for shard in &cluster.shards {
                if shard.has_replicas() {
                    shard.spawn_health_checks();
                }
            }
        }
    }

    pub fn get(&self, database: &str, user: &str) -> Option<&Arc<Cluster>> {
        self.by_key.get(&(database.to_string(), user.to_string()))
    }

    fn pools(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.by_key.values().flat_map(|c| {
            c.shards
                .iter()
                .flat_map(|s| s.primary.iter().chain(s.replicas.iter()).map(|h| &h.pool))
        })
    }

    pub async fn close(&self) {
        for pool in self.pools() {
            pool.close().await;
        }
    }
}

fn address(db: &Database, user: &User) -> ServerAddress {
    ServerAddress {
        host: db.host.clone(),
        port: db.port,
        database: db.server_database().to_string(),
        user: user
            .server_user
            .clone()
            .or_else(|| db.user.clone())
            .unwrap_or_else(|| user.name.clone()),
        password: user
            .server_password
            .clone()
            .or_else(|| db.password.clone())
            .or_else(|| user.password.clone()),
    }
}

fn settings(config: &Config, user: &User) -> PoolSettings {
    let g = &config.general;
    PoolSettings {
        size: user.pool_size.unwrap_or(g.default_pool_size).max(1),
        min: user.min_pool_size.unwrap_or(g.min_pool_size),
        connect_timeout: Duration::from_millis(g.connect_timeout),
        checkout_timeout: Duration::from_millis(g.checkout_timeout),
        idle_timeout: Duration::from_millis(g.idle_timeout),
        healthcheck_interval: Duration::from_millis(g.healthcheck_interval),
        healthcheck_timeout: Duration::from_millis(g.healthcheck_timeout),
        workers: g.workers,
    }
}
