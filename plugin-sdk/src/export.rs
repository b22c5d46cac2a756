//! Wiring a [`Plugin`] into the component's exports.
//!
//! The component model gives a guest free functions (`init`, `route`, `after-query`), not
//! an object, so the one plugin value lives in a global slot that `init` fills. The slot is
//! a `RefCell` in a thread-local: a component runs one call at a time, and this keeps
//! `Plugin` free of `Sync` bounds and avoids `static mut`. A `route` that arrives before
//! a successful `init` is answered with `pass` rather than trusted to never happen.

use std::cell::RefCell;

use crate::bindings::pgdog::router::types::{Context as HostContext, Statement as HostStatement};
use crate::plugin::Plugin;
use crate::types::{Context, Decision, FoundKey, KeyRequest, PluginInfo, QueryOutcome, Statement};

/// Exports a [`Plugin`] type as the component's `init`, `route`, `after-query`,
/// `key-request` and `route-key`.
///
/// Use it once, in the plugin crate's `lib.rs`:
///
/// ```ignore
/// pgdog_plugin_sdk::export_plugin!(MyPlugin);
/// // or, to report a version other than the crate's:
/// pgdog_plugin_sdk::export_plugin!(MyPlugin, version = "2024.1");
/// ```
///
/// The version `init` reports (shown by `SHOW PLUGINS` and in log lines) defaults to the
/// plugin crate's `CARGO_PKG_VERSION`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        $crate::export_plugin!($plugin, version = ::core::env!("CARGO_PKG_VERSION"));
    };
    ($plugin:ty, version = $version:expr) => {
        const _: () = {
            struct PgdogPluginExports;

            ::std::thread_local! {
                static INSTANCE: $crate::__private::Instance<$plugin> =
                    const { $crate::__private::Instance::new() };
            }

            impl $crate::__private::Guest for PgdogPluginExports {
                fn init(
                    config: ::std::string::String,
                ) -> ::core::result::Result<$crate::types::PluginInfo, ::std::string::String>
                {
                    INSTANCE.with(|instance| instance.init(&config, $version))
                }

                fn route(
                    statement: &$crate::__private::HostStatement,
                    context: &$crate::__private::HostContext,
                ) -> $crate::types::Decision {
                    INSTANCE.with(|instance| instance.route_lent(statement, context))
                }

                fn key_request() -> ::core::option::Option<$crate::types::KeyRequest> {
                    INSTANCE.with(|instance| instance.key_request())
                }

                fn route_key(
                    key: ::core::option::Option<$crate::types::FoundKey>,
                ) -> ::core::option::Option<$crate::types::Decision> {
                    INSTANCE.with(|instance| instance.route_key(key.as_ref()))
                }

                fn after_query(
                    statement: &$crate::__private::HostStatement,
                    context: &$crate::__private::HostContext,
                    outcome: $crate::types::QueryOutcome,
                ) {
                    INSTANCE
                        .with(|instance| instance.after_query_lent(statement, context, &outcome))
                }
            }

    $crate::__private::export_router!(PgdogPluginExports with_types_in $crate::bindings);
        };
    };
}

/// The slot holding a component's one plugin value. Only `export_plugin!` creates it.
#[doc(hidden)]
pub struct Instance<P> {
    plugin: RefCell<Option<P>>,
}

impl<P: Plugin> Instance<P> {
    pub const fn new() -> Self {
        Self {
            plugin: RefCell::new(None),
        }
    }

    /// Builds the plugin and keeps it. A failed `init` leaves the slot as it was: only a
    /// plugin that accepted its configuration ever routes.
    pub fn init(&self, config: &str, version: &str) -> Result<PluginInfo, String> {
        let plugin = P::init(config)?;
        *self.plugin.borrow_mut() = Some(plugin);
        Ok(PluginInfo {
            version: version.to_string(),
            wants_after_query: P::WANTS_AFTER_QUERY,
        })
    }

    /// `route` with what pgDog lent the call.
    pub fn route_lent(&self, statement: &HostStatement, context: &HostContext) -> Decision {
        self.route(
            &Statement::from_host(statement),
            &Context::from_host(context),
        )
    }

    pub fn after_query_lent(
        &self,
        statement: &HostStatement,
        context: &HostContext,
        outcome: &QueryOutcome,
    ) {
        self.after_query(
            &Statement::from_host(statement),
            &Context::from_host(context),
            outcome,
        );
    }

    pub fn route(&self, statement: &Statement<'_>, context: &Context<'_>) -> Decision {
        match &*self.plugin.borrow() {
            Some(plugin) => plugin.route(statement, context),
            None => Decision::Pass,
        }
    }

    /// The plugin's key; none before a successful `init`.
    pub fn key_request(&self) -> Option<KeyRequest> {
        self.plugin.borrow().as_ref()?.key_request()
    }

    /// `route_key`; before a successful `init`, `None`: the `route` call that follows
    /// passes.
    pub fn route_key(&self, key: Option<&FoundKey>) -> Option<Decision> {
        self.plugin.borrow().as_ref()?.route_key(key)
    }

    pub fn after_query(
        &self,
        statement: &Statement<'_>,
        context: &Context<'_>,
        outcome: &QueryOutcome,
    ) {
        if let Some(plugin) = &*self.plugin.borrow() {
            plugin.after_query(statement, context, outcome);
        }
    }
}

impl<P: Plugin> Default for Instance<P> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;
    use crate::testing::{context, statement};
    use crate::types::{Command, Role};

    /// Routes everything to the shard named in its configuration and counts outcomes.
    struct Fixed {
        shard: u32,
        seen: Cell<u32>,
    }

    impl Plugin for Fixed {
        const WANTS_AFTER_QUERY: bool = true;

        fn init(config: &str) -> Result<Self, String> {
            let shard = config
                .trim()
                .parse()
                .map_err(|_| "not a shard".to_string())?;
            Ok(Self {
                shard,
                seen: Cell::new(0),
            })
        }

        fn route(&self, _: &Statement, _: &Context) -> Decision {
            Decision::route_to(self.shard, Role::Any)
        }

        fn after_query(&self, _: &Statement, _: &Context, _: &QueryOutcome) {
            self.seen.set(self.seen.get() + 1);
        }
    }

    fn outcome() -> QueryOutcome {
        QueryOutcome {
            shards: vec![0],
            rows: 1,
            duration_us: 10,
            error: None,
        }
    }

    #[test]
    fn route_before_init_passes() {
        let instance = Instance::<Fixed>::new();
        let stmt = Statement::from(statement(Command::Select, "SELECT 1"));
        assert_eq!(instance.route(&stmt, &context(2).into()), Decision::Pass);
        // And the hook is a no-op rather than a panic.
        instance.after_query(&stmt, &context(2).into(), &outcome());
    }

    #[test]
    fn init_reports_version_and_hook() {
        let instance = Instance::<Fixed>::new();
        let info = instance.init("1", "1.2.3").unwrap();
        assert_eq!(info.version, "1.2.3");
        assert!(info.wants_after_query);
        let stmt = Statement::from(statement(Command::Select, "SELECT 1"));
        assert_eq!(
            instance.route(&stmt, &context(2).into()),
            Decision::route_to(1, Role::Any)
        );
        instance.after_query(&stmt, &context(2).into(), &outcome());
        let seen = instance.plugin.borrow().as_ref().unwrap().seen.get();
        assert_eq!(seen, 1);
    }

    #[test]
    fn failed_init_keeps_the_previous_plugin() {
        let instance = Instance::<Fixed>::new();
        instance.init("1", "1").unwrap();
        assert_eq!(instance.init("x", "2").unwrap_err(), "not a shard");
        let stmt = Statement::from(statement(Command::Select, "SELECT 1"));
        assert_eq!(
            instance.route(&stmt, &context(2).into()),
            Decision::route_to(1, Role::Any)
        );
    }

    #[test]
    fn failed_first_init_keeps_passing() {
        let instance = Instance::<Fixed>::new();
        assert!(instance.init("x", "1").is_err());
        let stmt = Statement::from(statement(Command::Select, "SELECT 1"));
        assert_eq!(instance.route(&stmt, &context(2).into()), Decision::Pass);
    }
}
