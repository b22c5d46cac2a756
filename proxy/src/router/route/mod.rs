//! The built-in sharding decision: which shards a statement must run on.
//!
//! Pure: a statement summary, its bound parameters, the database's sharding configuration
//! and any manual override go in; a [`Route`] or a clear error comes out.

use super::hash::{shard_for, KeyType, KeyValue};
use super::statement::{Command, Statement, Table, Value};
use crate::config::{MappingValue, ShardedTable};
use crate::wire::ErrorResponse;

/// The shards a statement runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shards {
    /// Any single shard will do: the statement reads only unsharded data.
    Any,
    /// Every shard.
    All,
    /// These shards (sorted, without duplicates).
    Set(Vec<usize>),
}

impl Shards {
    fn from_set(mut shards: Vec<usize>) -> Shards {
        shards.sort_unstable();
        shards.dedup();
        Shards::Set(shards)
    }

    /// The concrete shard list for a cluster of `count` shards; `Any` picks `any`.
    pub fn resolve(&self, count: usize, any: usize) -> Vec<usize> {
        match self {
            Shards::Any => vec![any % count.max(1)],
            Shards::All => (0..count).collect(),
            Shards::Set(set) => set.clone(),
        }
    }
}

/// Where a statement goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub shards: Shards,
    /// It changes data (or locks rows): the primary, and every shard for unsharded data.
    pub write: bool,
}

/// The sharding of one database.
#[derive(Debug, Clone)]
pub struct Sharding {
    pub shards: usize,
    pub tables: Vec<ShardedTable>,
}

/// Bound parameter values of one execution.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub values: Vec<Option<Vec<u8>>>,
    /// Format codes as Bind sent them: none (all text), one (for all), or one each.
    pub formats: Vec<i16>,
}

impl Params {
    fn get(&self, number: u16) -> Option<(Option<&[u8]>, bool)> {
        let index = usize::from(number).checked_sub(1)?;
        let value = self.values.get(index)?;
        let binary = match self.formats.len() {
            0 => false,
            1 => self.formats[0] == 1,
            _ => self.formats.get(index).copied() == Some(1),
        };
        Some((value.as_deref(), binary))
    }
}

/// A manual choice that beats the statement's own keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Override {
    Shard(usize),
    Key(String),
}

impl Sharding {
    /// Decides where `stmt` runs. `forced` comes from a `/* pgdog_shard: N */` or
    /// `/* pgdog_sharding_key: V */` comment, or the session's `SET pgdog.shard` /
    /// `SET pgdog.sharding_key`; a comment wins over the session setting.
    pub fn route(
        &self,
        stmt: &Statement,
        params: &Params,
        session: Option<&Override>,
    ) -> Result<Route, ErrorResponse> {
        let write = stmt.writes;
        let forced = stmt
            .comment
            .as_deref()
            .and_then(comment_override)
            .or_else(|| session.cloned());
        if let Some(forced) = forced {
            let shard = match forced {
                Override::Shard(shard) => shard,
                Override::Key(key) => self.shard_of_key(&key)?,
            };
            if shard >= self.shards {
                return Err(ErrorResponse::error(
                    "22023",
                    format!(
                        "shard {shard} does not exist: this database has {} shard(s)",
                        self.shards
                    ),
                ));
            }
            return Ok(Route {
                shards: Shards::Set(vec![shard]),
                write,
            });
        }
        if stmt.parse_error.is_some() {
            // PostgreSQL will report the syntax error itself; any shard can do that.
            return Ok(Route {
                shards: Shards::Any,
                write: false,
            });
        }
        let shards = match stmt.command {
            Command::Insert => self.route_insert(stmt, params)?,
            Command::Select | Command::SelectForUpdate | Command::Update | Command::Delete => {
                match self.keyed_shards(stmt, params) {
                    Some(set) => Shards::from_set(set),
                    None if self.touches_sharded(stmt) || write => Shards::All,
                    None => Shards::Any,
                }
            }
            Command::CopyTo if !self.touches_sharded(stmt) => Shards::Any,
            Command::CopyFrom | Command::CopyTo | Command::Ddl | Command::Notify => Shards::All,
            _ if write => Shards::All,
            _ => Shards::Any,
        };
        Ok(Route { shards, write })
    }

    /// The sharded-table configuration that applies to `table`.
    fn config_for(&self, table: &Table) -> Option<&ShardedTable> {
        self.tables
            .iter()
            .find(|t| t.name.as_deref() == Some(table.name.as_str()))
            .or_else(|| self.tables.iter().find(|t| t.name.is_none()))
    }

    /// Whether `stmt` names a table listed in `[[sharded_tables]]`.
    pub fn touches_sharded(&self, stmt: &Statement) -> bool {
        stmt.tables.iter().any(|t| {
            self.tables
                .iter()
                .any(|s| s.name.as_deref() == Some(t.name.as_str()))
        })
    }

    /// Shards named by `column = value` / `IN` predicates on a sharded table's key, or
    /// `None` when the predicates do not pin the statement down.
    fn keyed_shards(&self, stmt: &Statement, params: &Params) -> Option<Vec<usize>> {
        for table in &stmt.tables {
            let Some(config) = self.config_for(table) else {
                continue;
            };
            let single_table = stmt.tables.len() == 1;
            for predicate in &stmt.predicates {
                if predicate.column != config.column {
                    continue;
                }
                let qualifies = match &predicate.qualifier {
                    Some(q) => Some(q) == table.alias.as_ref() || *q == table.name,
                    None => single_table || config.name.is_some(),
                };
                if !qualifies {
                    continue;
                }
                let shards: Option<Vec<usize>> = predicate
                    .values
                    .iter()
                    .map(|v| self.shard_of_value(config, v, params))
                    .collect();
                if let Some(shards) = shards {
                    return Some(shards);
                }
            }
        }
        None
    }

    fn route_insert(&self, stmt: &Statement, params: &Params) -> Result<Shards, ErrorResponse> {
        Ok(match self.insert_row_shards(stmt, params)? {
            Some(rows) => Shards::from_set(rows),
            None => Shards::All,
        })
    }

    /// The shard of each VALUES row of an INSERT into a sharded table, in row order.
    /// `None` when the rows go to every shard: the table is not sharded, or the rows come
    /// from a SELECT.
    pub fn insert_row_shards(
        &self,
        stmt: &Statement,
        params: &Params,
    ) -> Result<Option<Vec<usize>>, ErrorResponse> {
        let (Some(table), Some(insert)) = (stmt.tables.first(), &stmt.insert) else {
            return Ok(None);
        };
        let Some(config) = self
            .tables
            .iter()
            .find(|t| t.name.as_deref() == Some(table.name.as_str()))
        else {
            return Ok(None);
        };
        let Some(index) = insert.columns.iter().position(|c| *c == config.column) else {
            return Err(ErrorResponse::error(
                "0A000",
                format!(
                    "INSERT into sharded table \"{}\" must name its sharding key column \"{}\" in the column list",
                    table.name, config.column
                ),
            ));
        };
        if insert.rows.is_empty() {
            // INSERT … SELECT: rows are computed by the server, on every shard.
            return Ok(None);
        }
        let mut shards = Vec::with_capacity(insert.rows.len());
        for row in &insert.rows {
            let value = row.get(index).unwrap_or(&Value::Expression);
            match self.shard_of_value(config, value, params) {
                Some(shard) => shards.push(shard),
                None => {
                    return Err(ErrorResponse::error(
                        "0A000",
                        format!(
                            "cannot tell which shard an INSERT into \"{}\" belongs to: the value of \"{}\" must be a literal or a parameter",
                            table.name, config.column
                        ),
                    ))
                }
            }
        }
        Ok(Some(shards))
    }

    /// The shard of one key value, or `None` if it is an expression or unparsable.
    pub fn shard_of_value(
        &self,
        config: &ShardedTable,
        value: &Value,
        params: &Params,
    ) -> Option<usize> {
        match resolve_key(value, params, config.data_type) {
            // PostgreSQL hash partitioning skips NULL keys, so their row hash stays 0.
            ResolvedKey::Null => Some(0),
            ResolvedKey::Unknown => None,
            ResolvedKey::Key(key) => Some(self.place(config, &key)),
        }
    }

    fn place(&self, config: &ShardedTable, key: &KeyValue) -> usize {
        let mapped = match key {
            KeyValue::Int(i) => Some(MappingValue::Int(*i)),
            KeyValue::Text(t) => Some(MappingValue::Text(t.clone())),
            KeyValue::Uuid(_) => None,
        };
        if let Some(mapped) = mapped {
            if let Some(m) = config.mapping.iter().find(|m| m.matches(&mapped)) {
                return m.shard;
            }
        }
        match config.default_shard {
            Some(shard) if !config.mapping.is_empty() => shard,
            _ => shard_for(key, config.data_type, self.shards.max(1)),
        }
    }

    /// The shard a `pgdog_sharding_key` value names, hashed like the first sharded table.
    fn shard_of_key(&self, key: &str) -> Result<usize, ErrorResponse> {
        let Some(config) = self.tables.first() else {
            return Err(ErrorResponse::error(
                "22023",
                "pgdog_sharding_key needs a [[sharded_tables]] entry for this database",
            ));
        };
        let value = KeyValue::parse(key, config.data_type).map_err(|e| {
            ErrorResponse::error("22P02", format!("invalid sharding key \"{key}\": {e}"))
        })?;
        Ok(self.place(config, &value))
    }
}

/// Reads `pgdog_shard: N` or `pgdog_sharding_key: V` from a comment.
pub fn comment_override(comment: &str) -> Option<Override> {
    for part in comment.split([',', ';']) {
        let Some((key, value)) = part.split_once(':').or_else(|| part.split_once('=')) else {
            continue;
        };
        let value = value.trim().trim_matches('\'').trim_matches('"');
        match key.trim() {
            "pgdog_shard" => return value.parse().ok().map(Override::Shard),
            "pgdog_sharding_key" => return Some(Override::Key(value.to_string())),
            _ => {}
        }
    }
    None
}

/// A key value of a statement as one execution binds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedKey {
    Key(KeyValue),
    /// NULL, written or bound.
    Null,
    /// An expression, a `$n` with nothing bound, or a value that does not read as the type.
    Unknown,
}

/// `value` read as a key of type `ty`, with `$n` taken from `params`: what both the
/// built-in router and plugins (`statement.key-values`) route on, so the two agree.
pub fn resolve_key(value: &Value, params: &Params, ty: KeyType) -> ResolvedKey {
    let parsed = match value {
        Value::Null => return ResolvedKey::Null,
        Value::Expression => return ResolvedKey::Unknown,
        Value::Integer(i) => match ty {
            KeyType::BigInt | KeyType::Integer => Ok(KeyValue::Int(*i)),
            _ => KeyValue::parse(&i.to_string(), ty),
        },
        Value::Text(text) => KeyValue::parse(text, ty),
        Value::Param(n) => match params.get(*n) {
            None => return ResolvedKey::Unknown,
            Some((None, _)) => return ResolvedKey::Null,
            Some((Some(bytes), true)) => KeyValue::from_binary(bytes, ty),
            Some((Some(bytes), false)) => match std::str::from_utf8(bytes) {
                Ok(text) => KeyValue::parse(text, ty),
                Err(_) => return ResolvedKey::Unknown,
            },
        },
    };
    parsed.map_or(ResolvedKey::Unknown, ResolvedKey::Key)
}

#[cfg(test)]
mod tests;
