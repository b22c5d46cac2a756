//! `[[sharded_tables]]`: which column decides where a table's rows live, and how.

use serde::Deserialize;

use crate::router::hash::KeyType;

/// One sharded table (or, without `name`, every table that has `column`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardedTable {
    /// The `[[databases]]` name this applies to.
    pub database: String,
    /// The table; when omitted, any table with a column of this name is sharded by it.
    pub name: Option<String>,
    /// The sharding key column.
    pub column: String,
    #[serde(default = "ShardedTable::default_type")]
    pub data_type: KeyType,
    /// Explicit placement by list or range; keys no mapping matches hash as usual, unless
    /// `default_shard` is set.
    #[serde(default)]
    pub mapping: Vec<Mapping>,
    /// Where keys that no mapping matches go (instead of hashing).
    pub default_shard: Option<usize>,
}

impl ShardedTable {
    fn default_type() -> KeyType {
        KeyType::BigInt
    }
}

/// A list (`values`) or range (`start` inclusive, `end` exclusive) mapping to a shard.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    #[serde(default)]
    pub values: Vec<MappingValue>,
    pub start: Option<MappingValue>,
    pub end: Option<MappingValue>,
    pub shard: usize,
}

/// A key in a mapping: an integer or a string, as written in TOML.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(untagged)]
pub enum MappingValue {
    Int(i64),
    Text(String),
}

impl Mapping {
    /// Whether `key` (an integer or text key) falls in this mapping.
    pub fn matches(&self, key: &MappingValue) -> bool {
        if self.values.contains(key) {
            return true;
        }
        if self.start.is_none() && self.end.is_none() {
            return false;
        }
        let after_start = self.start.as_ref().is_none_or(|s| key >= s);
        let before_end = self.end.as_ref().is_none_or(|e| key < e);
        after_start && before_end
    }
}
