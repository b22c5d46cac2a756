//! query-guard: a pgDog plugin that refuses dangerous statements before any server sees
//! them, and answers configured `SHOW` commands itself.
//!
//! It stops the two classic accidents of a shared database: an `UPDATE` or `DELETE`
//! that forgot its WHERE clause, and a query on a table the application's users must
//! never reach (an audit log, a secrets table). Its `SHOW` answers let operators publish a
//! small status table (`SHOW pgdog_guard`) that any client can read through pgDog.
//!
//! # Layout
//!
//! - `config`: the JSON configuration, validated into a `Guard`.
//! - `show`: recognising `SHOW <name>` in the query text.
//! - `decide`: the checks, in order: denied tables, then missing WHERE, then SHOW.

mod config;
mod decide;
mod show;

use pgdog_plugin_sdk::prelude::*;

pub use config::{DeniedTable, Guard, ShowTable};
pub use decide::decide;

/// The plugin: its validated configuration.
pub struct QueryGuard {
    guard: Guard,
}

impl Plugin for QueryGuard {
    fn init(config: &str) -> Result<Self, String> {
        Ok(Self {
            guard: Guard::parse(config)?,
        })
    }

    fn route(&self, statement: &Statement, _context: &Context) -> Decision {
        decide(&self.guard, statement)
    }
}

pgdog_plugin_sdk::export_plugin!(QueryGuard);
