//! The client side: accepting connections, logging clients in, and running their sessions.

pub mod cancel;
pub mod listener;
pub mod login;
pub mod params;
pub mod pending;
pub mod prepared;
pub mod session;
pub mod stop;

use std::sync::Arc;

use tokio::sync::watch;

use crate::backend::Pools;
use crate::config::Config;

/// What every session shares. Passed down explicitly; there is no global state.
pub struct Shared {
    pub config: Arc<Config>,
    pub pools: Pools,
    pub cancels: cancel::CancelRegistry,
    pub statements: prepared::GlobalStatements,
    /// Statement summaries by SQL text, for routing on sharded databases.
    pub parse_cache: crate::router::cache::ParseCache,
    /// The routing plugin chain, swapped whole at a reload.
    pub plugins: Arc<crate::plugins::Registry>,
    /// Turns true when pgDog starts shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// The same moment, for sessions to wait on cheaply; triggered by the accept loops.
    pub stop: stop::StopSignal,
}
