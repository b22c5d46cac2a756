//! Write pgDog routing plugins in Rust.
//!
//! A plugin is a WebAssembly component for the `keyed-router` world of `wit/router.wit`
//! (the `router` world, plus an optional cheaper call for plugins that route by a key). This
//! crate hides the component plumbing: implement [`Plugin`] for a type, name it in
//! [`export_plugin!`], and build with `cargo build --target wasm32-wasip2 --release`.
//!
//! ```no_run
//! use pgdog_plugin_sdk::prelude::*;
//!
//! struct ReadsToReplicas;
//!
//! impl Plugin for ReadsToReplicas {
//!     fn init(_config: &str) -> Result<Self, String> {
//!         Ok(Self)
//!     }
//!
//!     fn route(&self, statement: &Statement, context: &Context) -> Decision {
//!         if statement.command() == Command::Select && !statement.writes() && context.shards() == 1 {
//!             Decision::route(Shards::Any, Role::Replica)
//!         } else {
//!             Decision::Pass
//!         }
//!     }
//! }
//!
//! pgdog_plugin_sdk::export_plugin!(ReadsToReplicas);
//! ```
//!
//! # Layout
//!
//! - [`types`]: the contract's types (`Decision`, `Predicate`, …) under their Rust names,
//!   re-exported from the generated bindings, and the two a call lends:
//! - `statement` and `context`: [`Statement`] and [`Context`], which fetch each field from
//!   pgDog on first use and keep it for the call; built from `StatementFields` /
//!   `ContextFields` in tests.
//! - [`plugin`]: the [`Plugin`] trait a plugin implements.
//! - `export`: the [`export_plugin!`] macro and the one-instance slot behind it.
//! - [`decision`]: constructors for decisions (`Decision::route_to`, `Decision::reject`, …).
//! - [`sqlstate`]: SQLSTATE codes a plugin commonly rejects with.
//! - [`value`]: [`Resolved`], a value from the query text with `$n` replaced by its bound
//!   parameter.
//! - [`query`]: questions about a statement: the predicate on a column, the values a column
//!   is compared to or inserted with, the tables it touches.
//! - [`key`]: `Statement::key_values`, a routing key's values read as the column's type
//!   with `$n` resolved, in one call to pgDog: what a router by key should use.
//! - [`comment`]: `key: value` pairs in a statement's leading comment.
//! - [`config`]: parsing the plugin's JSON configuration into the author's own type.
//! - [`host`]: what pgDog computes for the plugin (`shard_for`).
//! - [`log`]: writing to pgDog's log.
//! - [`testing`]: hand-built statements and contexts for native unit tests.
//! - [`prelude`]: everything above a plugin usually needs, for a glob import.
//!
//! **Architecture invariant:** only `host`, `log`, the fetching inside `statement` and
//! `context`, and the generated export glue touch the component ABI. Everything else is
//! plain Rust over the contract's types, so plugin logic built on it runs in native
//! `cargo test` without a wasm runtime (a statement built from fields never fetches).

#[doc(hidden)]
// The generated glue for `after-query` takes the flattened outcome as a dozen arguments.
#[allow(clippy::too_many_arguments)]
pub mod bindings {
    // Public but hidden: the `export_plugin!` expansion in the plugin's crate names the
    // generated export glue through this path.
    wit_bindgen::generate!({
        path: "../wit",
        // Every plugin the SDK builds is a `keyed-router`: one that names no key in
        // `Plugin::key_request` is only ever called through `route`, as a `router` is.
        world: "keyed-router",
        pub_export_macro: true,
        export_macro_name: "__export_router",
        // Decisions and the records inside a statement are compared in plugin tests.
        additional_derives: [PartialEq, Eq],
    });
}

pub mod comment;
pub mod config;
mod context;
pub mod decision;
mod export;
pub mod host;
pub mod key;
mod lazy;
pub mod log;
pub mod plugin;
pub mod prelude;
pub mod query;
pub mod sqlstate;
mod statement;
pub mod testing;
pub mod types;
pub mod value;

pub use plugin::Plugin;
pub use types::{Context, Statement};
pub use value::Resolved;

/// What the `export_plugin!` expansion needs from this crate. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings::__export_router as export_router;
    pub use crate::bindings::pgdog::router::types::{
        Context as HostContext, Statement as HostStatement,
    };
    pub use crate::bindings::Guest;
    pub use crate::export::Instance;
}
