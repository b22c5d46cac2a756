//! Integration-test harness for pgDog: real PostgreSQL servers (`PgServer`),
//! the real proxy binary (`Pgdog`, configured through `Config`), and real
//! clients (tokio-postgres, psql, pgbench). The test files in tests/ use it
//! to check the proxy end to end, the way users run it.

pub mod client;
pub mod config;
pub mod fixture;
pub mod plugins;
pub mod proxy;
pub mod raw;
pub mod server;
pub mod shards;
pub mod util;

pub use client::{
    concurrently, conn_string, connect, connect_raw, connect_with_messages, describe, run_pgbench,
    run_psql, sqlstate, try_connect, try_connect_raw, PgbenchRun,
};
pub use config::{toml_str, Config};
pub use fixture::{ProxyEnv, ServerHandle};
pub use plugins::{placed_integer_key, plugin_native, plugin_toml, plugin_wasm};
pub use proxy::Pgdog;
pub use server::{quote_ident, quote_literal, shared_server, PasswordKind, PgServer, Tenant};
pub use shards::{counts_of, first_value, ids_in, rows_of, sharded_env, text_rows, ShardedEnv};
pub use util::{free_port, unique_name};
