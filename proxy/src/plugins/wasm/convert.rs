//! Between pgDog's own types and the contract's (`wit/router.wit`).

use super::bindings::pgdog::router::types as wit;
use crate::config::Role;
use crate::plugins::{AfterQuery, Decision, Respond, Target};
use crate::router::hash::{format_uuid, shard_for, KeyType, KeyValue};
use crate::router::route::{resolve_key, Params, ResolvedKey, Shards};
use crate::router::statement::{Command, SortKey, Statement, Value};
use crate::wire::ErrorResponse;

pub fn tables(stmt: &Statement) -> Vec<wit::Table> {
    stmt.tables
        .iter()
        .map(|t| wit::Table {
            schema: t.schema.clone(),
            name: t.name.clone(),
            alias: t.alias.clone(),
            written: t.written,
        })
        .collect()
}

pub fn predicates(stmt: &Statement) -> Vec<wit::Predicate> {
    stmt.predicates
        .iter()
        .map(|p| wit::Predicate {
            qualifier: p.qualifier.clone(),
            column: p.column.clone(),
            values: p.values.iter().map(value).collect(),
        })
        .collect()
}

pub fn insert(stmt: &Statement) -> Option<wit::Insert> {
    stmt.insert.as_ref().map(|i| wit::Insert {
        columns: i.columns.clone(),
        rows: i
            .rows
            .iter()
            .map(|r| r.iter().map(value).collect())
            .collect(),
    })
}

pub fn order_by(stmt: &Statement) -> Vec<wit::OrderBy> {
    stmt.order_by
        .iter()
        .map(|o| wit::OrderBy {
            key: match &o.key {
                SortKey::Column(c) => wit::SortKey::Column(c.clone()),
                SortKey::Position(p) => {
                    wit::SortKey::Position(u32::try_from(*p).unwrap_or(u32::MAX))
                }
                SortKey::Expression => wit::SortKey::Expression,
            },
            descending: o.descending,
            nulls_first: o.nulls_first,
        })
        .collect()
}

pub fn set(stmt: &Statement) -> Option<wit::SetCommand> {
    stmt.set.as_ref().map(|s| wit::SetCommand {
        name: s.name.clone(),
        value: s.value.clone(),
        local: s.local,
    })
}

pub fn copy(stmt: &Statement) -> Option<wit::CopyOptions> {
    stmt.copy.as_ref().map(|c| wit::CopyOptions {
        columns: c.columns.clone(),
        csv: c.csv,
        binary: c.binary,
        header: c.header,
        delimiter: c
            .delimiter
            .unwrap_or(if c.csv { ',' } else { '\t' })
            .to_string(),
    })
}

pub fn command(c: Command) -> wit::Command {
    match c {
        Command::Select => wit::Command::Select,
        Command::SelectForUpdate => wit::Command::SelectForUpdate,
        Command::Insert => wit::Command::Insert,
        Command::Update => wit::Command::Update,
        Command::Delete => wit::Command::Delete,
        Command::CopyFrom => wit::Command::CopyFrom,
        Command::CopyTo => wit::Command::CopyTo,
        Command::Ddl => wit::Command::Ddl,
        Command::Begin => wit::Command::Begin,
        Command::Commit => wit::Command::Commit,
        Command::Rollback => wit::Command::Rollback,
        Command::Savepoint => wit::Command::Savepoint,
        Command::Set => wit::Command::Set,
        Command::Show => wit::Command::Show,
        Command::Listen => wit::Command::Listen,
        Command::Notify => wit::Command::Notify,
        Command::Other => wit::Command::Other,
    }
}

pub fn value(v: &Value) -> wit::Value {
    match v {
        Value::Integer(i) => wit::Value::Integer(*i),
        Value::Text(t) => wit::Value::Text(t.clone()),
        Value::Param(n) => wit::Value::Param(*n),
        Value::Null => wit::Value::Null,
        Value::Expression => wit::Value::Expression,
    }
}

/// The values `values` give a key of type `ty` in this execution (`statement.key-values`).
pub fn key_values<'v>(
    values: impl ExactSizeIterator<Item = Option<&'v Value>>,
    params: &Params,
    ty: wit::KeyType,
) -> wit::KeyValues {
    let ty = key_type(ty);
    let keys = values.map(|value| key_value(value.map(|v| resolve_key(v, params, ty))));
    one_or_many(keys, wit::KeyValues::One, wit::KeyValues::Many)
}

/// `key_values` with each key's shard among `shard_count` (at least 1), hashed as the
/// built-in router and `shard-for` hash it.
pub fn placed_keys<'v>(
    values: impl ExactSizeIterator<Item = Option<&'v Value>>,
    params: &Params,
    ty: wit::KeyType,
    shard_count: usize,
) -> wit::PlacedKeys {
    let ty = key_type(ty);
    let shard_count = shard_count.max(1);
    let keys = values.map(|value| {
        let resolved = value.map(|v| resolve_key(v, params, ty));
        let shard = match &resolved {
            // Below shard_count, which the caller took from a u32.
            Some(ResolvedKey::Key(key)) => Some(shard_for(key, ty, shard_count) as u32),
            _ => None,
        };
        wit::PlacedKey {
            value: key_value(resolved),
            shard,
        }
    });
    wit::PlacedKeys {
        shard_count: u32::try_from(shard_count).unwrap_or(u32::MAX),
        keys: one_or_many(keys, wit::PlacedKeyValues::One, wit::PlacedKeyValues::Many),
    }
}

fn key_type(ty: wit::KeyType) -> KeyType {
    match ty {
        // Any integer column: a literal or parameter is read as a bigint, whose range
        // holds the others'.
        wit::KeyType::Integer => KeyType::BigInt,
        wit::KeyType::Text => KeyType::Text,
        wit::KeyType::Uuid => KeyType::Uuid,
    }
}

/// A resolved value (`None`: the row has no such column) as the contract's key value.
fn key_value(resolved: Option<ResolvedKey>) -> wit::KeyValue {
    match resolved {
        Some(ResolvedKey::Key(key)) => wit::KeyValue::Key(shard_key(key)),
        Some(ResolvedKey::Null) => wit::KeyValue::Null,
        Some(ResolvedKey::Unknown) | None => wit::KeyValue::Unknown,
    }
}

/// A single item without a list (no allocation in the guest for the common case).
fn one_or_many<T, V>(
    mut items: impl ExactSizeIterator<Item = T>,
    one: impl FnOnce(T) -> V,
    many: impl FnOnce(Vec<T>) -> V,
) -> V {
    if items.len() == 1 {
        if let Some(item) = items.next() {
            return one(item);
        }
    }
    many(items.collect())
}

fn shard_key(key: KeyValue) -> wit::ShardKey {
    match key {
        KeyValue::Int(i) => wit::ShardKey::Integer(i),
        KeyValue::Text(text) => wit::ShardKey::Text(text),
        KeyValue::Uuid(bytes) => wit::ShardKey::Uuid(format_uuid(&bytes)),
    }
}

pub fn params(p: &Params) -> Vec<wit::Param> {
    (0..p.values.len()).filter_map(|i| param(p, i)).collect()
}

/// Parameter `index` (0-based), with its format.
pub fn param(p: &Params, index: usize) -> Option<wit::Param> {
    Some(wit::Param {
        value: p.values.get(index)?.clone(),
        binary: match p.formats.len() {
            0 => false,
            1 => p.formats[0] == 1,
            _ => p.formats.get(index).copied() == Some(1),
        },
    })
}

pub fn outcome(event: &AfterQuery) -> wit::QueryOutcome {
    wit::QueryOutcome {
        shards: event
            .outcome
            .shards
            .iter()
            .map(|&s| u32::try_from(s).unwrap_or(u32::MAX))
            .collect(),
        rows: event.outcome.rows,
        duration_us: u64::try_from(event.outcome.duration.as_micros()).unwrap_or(u64::MAX),
        error: event
            .outcome
            .error
            .as_ref()
            .map(|(sqlstate, message)| wit::QueryError {
                sqlstate: sqlstate.clone(),
                message: message.clone(),
            }),
    }
}

pub fn decision(d: wit::Decision) -> Decision {
    match d {
        wit::Decision::Pass => Decision::Pass,
        wit::Decision::Route(r) => Decision::Route(target(r)),
        wit::Decision::Rewrite(r) => Decision::Rewrite {
            sql: r.sql,
            target: target(r.route),
        },
        wit::Decision::Reject(r) => {
            let err = ErrorResponse::error(&r.sqlstate, r.message);
            Decision::Reject(match r.detail {
                Some(detail) => err.with_detail(detail),
                None => err,
            })
        }
        wit::Decision::Respond(r) => Decision::Respond(Respond {
            columns: r.columns,
            rows: r.rows,
            oids: Vec::new(),
        }),
    }
}

fn target(r: wit::Route) -> Target {
    let shards = match r.shards {
        wit::Shards::One(s) => Some(Shards::Set(vec![s as usize])),
        wit::Shards::Many(list) => {
            let mut set: Vec<usize> = list.into_iter().map(|s| s as usize).collect();
            set.sort_unstable();
            set.dedup();
            Some(Shards::Set(set))
        }
        wit::Shards::All => Some(Shards::All),
        wit::Shards::Any => Some(Shards::Any),
        wit::Shards::Default => None,
    };
    let role = match r.role {
        wit::Role::Primary => Some(Role::Primary),
        wit::Role::Replica => Some(Role::Replica),
        wit::Role::Any => None,
    };
    Target { shards, role }
}
