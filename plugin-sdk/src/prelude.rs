//! What a plugin usually needs, for `use pgdog_plugin_sdk::prelude::*;`.

pub use crate::plugin::Plugin;
pub use crate::types::{
    Command, Context, ContextFields, Decision, FoundKey, KeyRequest, KeySource, KeyType, KeyValue,
    KeyValues, Level, Param, PlacedKey, PlacedKeys, Predicate, QueryOutcome, Reject, Respond, Role,
    Route, ShardKey, Shards, Statement, StatementFields, Table, Value,
};
pub use crate::value::Resolved;
pub use crate::{config, host, log, sqlstate};
