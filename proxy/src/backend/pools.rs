//! Every pool one configuration describes: for each (database, user) pair, a cluster with
//! one pool per shard.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Pool, PoolSettings, ServerAddress};
use crate::config::{Config, Database, Role, User};
use crate::router::route::Sharding;

/// The servers one (database, user) pair reaches: a pool per shard, and how to route.
pub struct Cluster {
    pub shards: Vec<Arc<Pool>>,
    /// `None` for a single-shard database without sharded tables: nothing to route.
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
                // Until replicas are load balanced, each shard is served by its primary
                // (or its first entry if no primary is marked).
                let entries: Vec<&Database> = config
                    .database_entries(&user.database)
                    .filter(|d| d.shard == shard)
                    .collect();
                let Some(db) = entries
                    .iter()
                    .find(|d| d.role == Role::Primary)
                    .or(entries.first())
                else {
                    continue;
                };
                shards.push(Pool::new(address(db, user), settings(config, user)));
            }
            let tables: Vec<_> = config.sharded_tables(&user.database).cloned().collect();
            let sharding = (count > 1 || !tables.is_empty()).then_some(Sharding {
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
    }

    pub fn get(&self, database: &str, user: &str) -> Option<&Arc<Cluster>> {
        self.by_key.get(&(database.to_string(), user.to_string()))
    }

    fn pools(&self) -> impl Iterator<Item = &Arc<Pool>> {
        self.by_key.values().flat_map(|c| c.shards.iter())
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
        workers: g.workers,
    }
}
