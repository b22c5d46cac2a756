//! `[general]` and `[[databases]]`: the proxy's own settings and the servers behind it.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolerMode {
    /// A server connection serves one client transaction, then goes back to the pool.
    Transaction,
    /// A server connection belongs to one client for its whole session.
    Session,
}

/// How clients prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthType {
    #[serde(alias = "scram-sha-256")]
    Scram,
    Md5,
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Primary,
    Replica,
}

/// How reads are spread over a shard's servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// In turn, in proportion to `lb_weight`.
    RoundRobin,
    /// At random, in proportion to `lb_weight`.
    Random,
    /// The server with the fewest connections in use (per unit of `lb_weight`).
    LeastActiveConnections,
}

/// Whether the primary also serves reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadWriteSplit {
    IncludePrimary,
    ExcludePrimary,
}

/// `[general]`. Timeouts are in milliseconds, as in pgdog.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    pub host: String,
    pub port: u16,
    pub workers: usize,
    pub default_pool_size: usize,
    pub min_pool_size: usize,
    pub pooler_mode: PoolerMode,
    pub auth_type: AuthType,
    pub connect_timeout: u64,
    pub checkout_timeout: u64,
    pub idle_timeout: u64,
    pub shutdown_timeout: u64,
    /// How many renamed prepared statements one server connection keeps before the least
    /// recently prepared is closed.
    pub prepared_statements_limit: usize,
    pub load_balancing_strategy: Strategy,
    pub read_write_split: ReadWriteSplit,
    /// How long a replica that could not be reached stays out of rotation.
    pub ban_timeout: u64,
    /// A pooled connection idle this long gets an empty query before a client gets it.
    pub healthcheck_interval: u64,
    /// How often every server is checked in the background (connect and empty query;
    /// replica lag).
    pub idle_healthcheck_interval: u64,
    pub healthcheck_timeout: u64,
    /// Replicas whose replay is more than this many bytes of WAL behind their primary are
    /// left out of reads until they catch up. No limit when unset.
    pub max_replica_lag: Option<u64>,
    /// Functions with side effects: a SELECT that calls one goes to the primary.
    pub write_functions: Vec<String>,
    /// Where compiled plugins are cached (`~/.cache/pgdog/plugins` when unset).
    pub plugin_cache_dir: Option<std::path::PathBuf>,
    /// How often plugin files and pgdog.toml are checked for changes that reload plugins;
    /// 0 turns the watch off (SIGHUP and the admin `RELOAD` still reload).
    pub plugin_watch_interval: u64,
}

impl Default for General {
    fn default() -> Self {
        General {
            host: "0.0.0.0".into(),
            port: 6432,
            workers: 2,
            default_pool_size: 10,
            min_pool_size: 1,
            pooler_mode: PoolerMode::Transaction,
            auth_type: AuthType::Scram,
            connect_timeout: 5_000,
            checkout_timeout: 5_000,
            idle_timeout: 60_000,
            shutdown_timeout: 60_000,
            prepared_statements_limit: 500,
            load_balancing_strategy: Strategy::RoundRobin,
            read_write_split: ReadWriteSplit::IncludePrimary,
            ban_timeout: 60_000,
            healthcheck_interval: 30_000,
            idle_healthcheck_interval: 30_000,
            healthcheck_timeout: 5_000,
            max_replica_lag: None,
            write_functions: [
                "nextval",
                "setval",
                "lastval",
                "currval",
                "pg_advisory_lock",
                "pg_advisory_xact_lock",
                "pg_try_advisory_lock",
                "pg_try_advisory_xact_lock",
                "pg_advisory_unlock",
                "pg_notify",
                "set_config",
                "txid_current",
                "pg_current_xact_id",
            ]
            .map(String::from)
            .to_vec(),
            plugin_cache_dir: None,
            plugin_watch_interval: 500,
        }
    }
}

impl General {
    pub(super) fn validate(&self) -> Option<String> {
        if self.workers == 0 {
            return Some("[general] key `workers` must be at least 1".into());
        }
        if self.default_pool_size == 0 {
            return Some("[general] key `default_pool_size` must be at least 1".into());
        }
        if self.prepared_statements_limit == 0 {
            return Some("[general] key `prepared_statements_limit` must be at least 1".into());
        }
        None
    }
}

/// One `[[databases]]` entry: a PostgreSQL server holding one shard of a database in one role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    /// The name clients put in their connection string.
    pub name: String,
    pub host: String,
    #[serde(default = "Database::default_port")]
    pub port: u16,
    /// The database on the server; defaults to `name`.
    pub database_name: Option<String>,
    /// Server-side credentials for every user of this database, unless the user sets its own.
    pub user: Option<String>,
    pub password: Option<String>,
    #[serde(default)]
    pub shard: usize,
    #[serde(default = "Database::default_role")]
    pub role: Role,
    /// This server's share of reads relative to the shard's other servers.
    #[serde(default = "Database::default_weight")]
    pub lb_weight: u32,
    /// Per-database overrides of the `[general]` keys of the same name.
    pub load_balancing_strategy: Option<Strategy>,
    pub read_write_split: Option<ReadWriteSplit>,
}

impl Database {
    fn default_port() -> u16 {
        5432
    }

    fn default_role() -> Role {
        Role::Primary
    }

    fn default_weight() -> u32 {
        1
    }

    pub fn server_database(&self) -> &str {
        self.database_name.as_deref().unwrap_or(&self.name)
    }
}
