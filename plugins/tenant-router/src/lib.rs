//! tenant-router: a pgDog plugin that sends each tenant's queries to that tenant's shard.
//!
//! Multi-tenant applications often place tenants on shards by hand (a big customer on its
//! own shard) rather than by hash. This plugin reads the tenant from the statement and
//! routes by an explicit map, falling back to hashing, passing or refusing for tenants
//! the map does not name.
//!
//! # Layout
//!
//! - `config`: the JSON configuration and its validation.
//! - `tenant`: where a statement names its tenant (WHERE, INSERT rows, leading comment).
//! - `decide`: from the tenants found to a decision. Pure: the hash is a parameter, so the
//!   whole decision is tested natively.
//!
//! **Architecture invariant:** only this file calls the host (`shard_for`).

mod config;
mod decide;
mod tenant;

use pgdog_plugin_sdk::prelude::*;

pub use config::{Config, DataType, Unknown};
pub use decide::{decide, decide_key, shard_key};
pub use tenant::Tenant;

/// The plugin: its validated configuration.
pub struct TenantRouter {
    config: Config,
}

impl Plugin for TenantRouter {
    fn init(config: &str) -> Result<Self, String> {
        Ok(Self {
            config: Config::parse(config)?,
        })
    }

    fn route(&self, statement: &Statement, context: &Context) -> Decision {
        decide(&self.config, statement, context, &hash)
    }

    /// The tenant column, so most statements are decided by `route_key`: pgDog reads and
    /// hashes the column's values and calls without lending the statement.
    fn key_request(&self) -> Option<KeyRequest> {
        Some(KeyRequest {
            column: self.config.column.clone(),
            key_type: self.config.key_type(),
        })
    }

    fn route_key(&self, key: Option<&FoundKey>) -> Option<Decision> {
        decide_key(&self.config, key, &hash)
    }
}

/// pgDog's hash of a tenant, as the built-in sharding of the column would place it.
fn hash(tenant: &Tenant, shards: u32) -> Result<u32, String> {
    host::shard_for(&shard_key(tenant), shards)
}

pgdog_plugin_sdk::export_plugin!(TenantRouter);
