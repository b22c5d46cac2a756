//! Every pool one configuration describes: one per (database, user) pair.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{Pool, PoolSettings, ServerAddress};
use crate::config::{Config, Role};

pub struct Pools {
    by_key: HashMap<(String, String), Arc<Pool>>,
}

impl Pools {
    /// Builds the pools (without connecting; see [`Pools::start`]).
    pub fn from_config(config: &Config) -> Pools {
        let g = &config.general;
        let mut by_key = HashMap::new();
        for user in &config.users {
            // Until sharding and replicas land, a database is served by its shard-0 primary
            // (or its first entry if no primary is marked).
            let mut entries = config.database_entries(&user.database);
            let first = entries.next();
            let db = config
                .database_entries(&user.database)
                .find(|d| d.shard == 0 && d.role == Role::Primary)
                .or(first);
            let Some(db) = db else { continue };
            let addr = ServerAddress {
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
            };
            let settings = PoolSettings {
                size: user.pool_size.unwrap_or(g.default_pool_size).max(1),
                min: user.min_pool_size.unwrap_or(g.min_pool_size),
                connect_timeout: Duration::from_millis(g.connect_timeout),
                checkout_timeout: Duration::from_millis(g.checkout_timeout),
                idle_timeout: Duration::from_millis(g.idle_timeout),
                workers: g.workers,
            };
            by_key.insert(
                (user.database.clone(), user.name.clone()),
                Pool::new(addr, settings),
            );
        }
        Pools { by_key }
    }

    /// Starts each pool's maintenance (min connections, idle timeout).
    pub fn start(&self) {
        for pool in self.by_key.values() {
            pool.spawn_maintenance();
        }
    }

    pub fn get(&self, database: &str, user: &str) -> Option<&Arc<Pool>> {
        self.by_key.get(&(database.to_string(), user.to_string()))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&(String, String), &Arc<Pool>)> {
        self.by_key.iter()
    }

    pub async fn close(&self) {
        for pool in self.by_key.values() {
            pool.close().await;
        }
    }
}
