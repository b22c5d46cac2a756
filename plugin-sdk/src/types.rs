//! The contract's types under their Rust names.
//!
//! The records, variants and enums of `interface types` in `wit/router.wit` are generated
//! by wit-bindgen: WIT's kebab-case becomes Rust's snake_case fields and CamelCase types
//! and cases (`select-for-update` is `Command::SelectForUpdate`). The two resources a call
//! lends, `statement` and `context`, are this crate's [`Statement`] and [`Context`], which
//! fetch each field on first use. Everything is re-exported here so plugins never name the
//! generated module path, which is an implementation detail of this crate.

pub use crate::bindings::pgdog::router::types::{
    Command, CopyOptions, Decision, FoundKey, Insert, KeyRequest, KeySource, KeyType, KeyValue,
    KeyValues, Level, OrderBy, Param, PlacedKey, PlacedKeyValues, PlacedKeys, PluginInfo,
    Predicate, QueryError, QueryOutcome, Reject, Respond, Rewrite, Role, Route, SetCommand,
    ShardKey, Shards, SortKey, Table, Value,
};
pub use crate::context::{Context, ContextFields};
pub use crate::statement::{Statement, StatementFields};
