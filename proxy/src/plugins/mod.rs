//! Routing plugins: one [`Plugin`] trait the session asks through a [`Chain`], whatever the
//! plugin is made of.
//!
//! **Architecture invariant:** the session never knows whether a plugin is a wasm
//! component (`wasm`) or anything else; it holds an `Arc<Chain>` for the length of a
//! transaction, so a reload (`registry`) never changes the plugins a transaction sees.

pub mod chain;
pub mod check;
pub mod native;
pub mod per_thread;
pub mod registry;
mod stats;
pub mod wasm;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::config::Role;
use crate::router::route::{Params, Shards};
use crate::router::statement::Statement;
use crate::wire::ErrorResponse;

pub use stats::Stats;

pub use chain::{Chain, Verdict};
pub use registry::Registry;

/// What a plugin learns about one execution besides the statement.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub database: &'a str,
    pub user: &'a str,
    pub shards: usize,
    pub has_replicas: bool,
    pub in_transaction: bool,
    pub params: &'a Params,
}

/// Where a plugin sends a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `None`: the shards pgDog's built-in sharding picks.
    pub shards: Option<Shards>,
    /// `None`: pgDog chooses the role as it would without the plugin.
    pub role: Option<Role>,
}

/// Rows a plugin answers with, no server touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Respond {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// Type OID of each column; empty: every column is text.
    pub oids: Vec<u32>,
}

/// A plugin splits the rows of a `COPY … FROM STDIN` itself (a native plugin's COPY
/// decision): the COPY goes to every shard and [`Plugin::split_copy`] says where each row
/// goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySplit {
    pub delimiter: u8,
    pub has_headers: bool,
    pub columns: Vec<String>,
}

/// Whole rows of a COPY for a plugin to split.
#[derive(Debug, Clone, Copy)]
pub struct CopyChunk<'a> {
    pub database: &'a str,
    pub shards: usize,
    pub data: &'a [u8],
    pub delimiter: u8,
    /// The first row of `data` is the header line.
    pub has_headers: bool,
    /// 0-based column of the sharding key, when pgDog's config names one.
    pub sharding_column: Option<usize>,
}

/// Where a plugin sent each row of a [`CopyChunk`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyRows {
    /// A header line for every shard.
    pub header: Option<Vec<u8>>,
    pub rows: Vec<(Vec<u8>, CopyShard)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyShard {
    One(usize),
    All,
}

/// A plugin's answer for one statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Pass,
    Route(Target),
    Rewrite { sql: String, target: Target },
    Reject(ErrorResponse),
    Respond(Respond),
    SplitCopy(CopySplit),
}

/// How a statement went, for the after-query hook.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub shards: Vec<usize>,
    pub rows: u64,
    pub duration: Duration,
    /// SQLSTATE and message of the error the statement ended with.
    pub error: Option<(String, String)>,
}

/// Why a call into a plugin produced no decision.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    #[error("timed out after {0} ms")]
    Timeout(u64),
    #[error("exceeded its memory limit of {0} MB")]
    Memory(u64),
    #[error("trapped: {0}")]
    Trap(String),
    /// The plugin answered, but with something pgDog cannot use.
    #[error("returned an invalid decision: {0}")]
    Invalid(String),
    #[error("is not ready: {0}")]
    Unavailable(String),
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A routing plugin, as the chain sees it.
pub trait Plugin: Send + Sync {
    fn name(&self) -> &str;
    /// The version the plugin reported at `init`.
    fn version(&self) -> &str;
    /// Hex SHA-256 of what was loaded.
    fn content_hash(&self) -> &str;
    fn stats(&self) -> &Stats;
    /// Decides where `stmt` goes. `sql` is the whole text the client sent. Synchronous:
    /// every kind of plugin runs to completion on the caller's thread (a wasm plugin cannot
    /// wait, a native one cannot be interrupted), so a call needs no future to allocate.
    fn route(
        &self,
        stmt: &Statement,
        sql: &str,
        ctx: &Context<'_>,
    ) -> Result<Decision, PluginError>;
    /// The plugin asked at `init` to hear how statements went.
    fn wants_after_query(&self) -> bool {
        false
    }
    /// The key a `keyed-router` plugin asked to be called with (`route-key`), described:
    /// `aid (integer)`. Shown by `pgdog plugin check`.
    fn routing_key(&self) -> Option<String> {
        None
    }
    /// Reports how a statement went. Called off the client's path.
    fn after_query(&self, _event: AfterQuery) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// Splits the rows of a COPY this plugin answered [`Decision::SplitCopy`] for.
    fn split_copy(&self, _chunk: &CopyChunk<'_>) -> Result<CopyRows, PluginError> {
        Err(PluginError::Invalid(
            "the plugin does not split COPY rows".into(),
        ))
    }
    /// A reload replaced this version: let go of what it keeps ready. Sessions still in a
    /// transaction with it may call it again (and pay for what they need then).
    fn retire(&self) {}
}

/// Everything the after-query hook receives, owned so it can wait in a queue.
#[derive(Debug, Clone)]
pub struct AfterQuery {
    pub statement: Statement,
    pub sql: String,
    pub database: String,
    pub user: String,
    pub shards: usize,
    pub has_replicas: bool,
    pub in_transaction: bool,
    pub params: Params,
    pub outcome: Outcome,
}
