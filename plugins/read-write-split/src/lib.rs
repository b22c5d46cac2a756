//! read-write-split: a pgDog plugin that sends reads to replicas and writes to the primary.
//!
//! pgDog's built-in role choice looks at the statement alone. This plugin adds what an
//! application knows about its own functions: a `SELECT nextval('s')` or `SELECT
//! my_audit_insert(…)` parses as a read but writes, and must reach the primary. The
//! functions are configured; everything else follows the statement's command.
//!
//! # Layout
//!
//! - `config`: the JSON configuration (the write functions).
//! - `decide`: the role a statement needs, and when the plugin stays out of it.

mod config;
mod decide;

use pgdog_plugin_sdk::prelude::*;

pub use config::Config;
pub use decide::{decide, role_for};

/// The plugin: its validated configuration.
pub struct ReadWriteSplit {
    config: Config,
}

impl Plugin for ReadWriteSplit {
    fn init(config: &str) -> Result<Self, String> {
        Ok(Self {
            config: Config::parse(config)?,
        })
    }

    fn route(&self, statement: &Statement, context: &Context) -> Decision {
        decide(&self.config, statement, context)
    }
}

pgdog_plugin_sdk::export_plugin!(ReadWriteSplit);
