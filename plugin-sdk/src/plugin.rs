//! The trait a plugin implements.
//!
//! pgDog calls a component's three exports; the SDK turns those calls into methods on one
//! value of the author's type, created by [`Plugin::init`] from the configuration. The
//! hooks take the statement and context by reference because a plugin only inspects them;
//! both fetch a field from pgDog the first time it is read, so reading fewer costs less.

use crate::types::{Context, Decision, FoundKey, KeyRequest, QueryOutcome, Statement};

/// A routing plugin. Export it with [`crate::export_plugin!`].
///
/// The component runs one call at a time, so `&self` methods may keep mutable state in a
/// `Cell` or `RefCell` without locking.
pub trait Plugin: Sized + 'static {
    /// Ask pgDog to call [`Plugin::after_query`] after each statement. It stays false by
    /// default so plugins that only route keep the hook off pgDog's hot path.
    const WANTS_AFTER_QUERY: bool = false;

    /// Builds the plugin from its configuration: the `[plugins.config]` table of
    /// pgdog.toml as JSON (see [`crate::config::parse`]). An error refuses the plugin at
    /// start-up, or the new version at reload; its text is shown to the operator.
    fn init(config: &str) -> Result<Self, String>;

    /// Decides where one statement goes. [`Decision::Pass`] defers to the next plugin of
    /// the chain, and to pgDog's built-in router after the last.
    fn route(&self, statement: &Statement<'_>, context: &Context<'_>) -> Decision;

    /// The routing key pgDog looks up in every statement for [`Plugin::route_key`]
    /// (asked once per instance, right after `init`). `None`, the default: pgDog only
    /// calls [`Plugin::route`].
    fn key_request(&self) -> Option<KeyRequest> {
        None
    }

    /// Decides a statement from the values of the key [`Plugin::key_request`] names, as
    /// `Statement::placed_keys` would read them (WHERE before INSERT), without the
    /// statement or context: the cheap call, since nothing is lent and nothing is asked of
    /// pgDog (for tenant-router, 4,000 instructions of pgDog's per statement instead of
    /// 6,900 through `route`). `key` is `None` when the statement
    /// names the column in neither place. Answer `None` to have pgDog call
    /// [`Plugin::route`] instead, for the statements the key alone cannot decide; that is
    /// the default.
    fn route_key(&self, key: Option<&FoundKey>) -> Option<Decision> {
        let _ = key;
        None
    }

    /// Runs after a statement finished, when [`Plugin::WANTS_AFTER_QUERY`] is true. It is
    /// off the client's path and cannot change what the client sees.
    fn after_query(
        &self,
        statement: &Statement<'_>,
        context: &Context<'_>,
        outcome: &QueryOutcome,
    ) {
        let _ = (statement, context, outcome);
    }
}
