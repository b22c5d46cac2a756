//! tenant-router's configuration.
//!
//! ```json
//! {"column": "tenant_id", "comment_key": "tenant",
//!  "tenants": {"acme": 0, "globex": 1}, "unknown": "reject"}
//! ```
//!
//! Unknown fields are an error so a misspelt key refuses the plugin at start-up instead
//! of silently routing every tenant by the default.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use crate::tenant::Tenant;

/// What to do with a tenant the map does not name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unknown {
    /// Refuse the statement: a tenant must be provisioned before it is served. The
    /// default, because routing an unknown tenant anywhere can read or write the wrong
    /// shard.
    #[default]
    Reject,
    /// Place it by pgDog's hash of the tenant's text among the database's shards.
    Hash,
    /// Let the next plugin or pgDog's built-in router decide.
    Pass,
}

/// The type of the tenant column, which says how a binary-format parameter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// text, varchar: a binary parameter is the UTF-8 string.
    #[default]
    Text,
    /// smallint, integer, bigint: a binary parameter is a big-endian integer.
    Integer,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The tenant column looked for in WHERE predicates and INSERT column lists.
    #[serde(default = "default_column")]
    pub column: String,
    /// The key looked for in a leading comment (`/* tenant: acme */`); `null` turns
    /// comment routing off.
    #[serde(default = "default_comment_key")]
    pub comment_key: Option<String>,
    /// Tenant id (as text) to 0-based shard.
    #[serde(default)]
    pub tenants: BTreeMap<String, u32>,
    #[serde(default)]
    pub unknown: Unknown,
    /// The tenant column's type.
    #[serde(default)]
    pub data_type: DataType,
    /// The keys of `tenants` that are integers, by value: an integer tenant is looked up
    /// without being printed first (`7` finds `"7"`, and `"007"`).
    #[serde(skip)]
    pub(crate) integer_tenants: HashMap<i64, u32>,
}

fn default_column() -> String {
    "tenant_id".to_string()
}

fn default_comment_key() -> Option<String> {
    Some("tenant".to_string())
}

impl Config {
    /// How pgDog reads the tenant column's values.
    pub fn key_type(&self) -> pgdog_plugin_sdk::types::KeyType {
        use pgdog_plugin_sdk::types::KeyType;
        match self.data_type {
            DataType::Text => KeyType::Text,
            DataType::Integer => KeyType::Integer,
        }
    }

    pub fn parse(json: &str) -> Result<Self, String> {
        let config: Self = pgdog_plugin_sdk::config::parse(json)?;
        if config.column.is_empty() {
            return Err("invalid plugin config: `column` is empty".into());
        }
        if config.comment_key.as_deref() == Some("") {
            return Err(
                "invalid plugin config: `comment_key` is empty (use null to turn comments off)"
                    .into(),
            );
        }
        let mut config = config;
        for (tenant, &shard) in &config.tenants {
            let Ok(value) = tenant.trim().parse::<i64>() else {
                continue;
            };
            if let Some(other) = config.integer_tenants.insert(value, shard) {
                if other != shard {
                    return Err(format!(
                        "invalid plugin config: tenants map integer {value} to both shard {other} and shard {shard}"
                    ));
                }
            }
        }
        Ok(config)
    }

    /// The shard the map gives `tenant`.
    pub fn mapped_shard(&self, tenant: &Tenant) -> Option<u32> {
        match tenant {
            Tenant::Integer(value) => self.integer_tenants.get(value).copied(),
            Tenant::Text(text) => self.tenants.get(text).copied(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let config = Config::parse("{}").unwrap();
        assert_eq!(config.column, "tenant_id");
        assert_eq!(config.comment_key.as_deref(), Some("tenant"));
        assert!(config.tenants.is_empty());
        assert_eq!(config.unknown, Unknown::Reject);
    }

    #[test]
    fn full() {
        let config = Config::parse(
            r#"{"column": "org", "comment_key": null, "tenants": {"acme": 0, "globex": 1}, "unknown": "hash"}"#,
        )
        .unwrap();
        assert_eq!(config.column, "org");
        assert_eq!(config.comment_key, None);
        assert_eq!(config.tenants["globex"], 1);
        assert_eq!(config.unknown, Unknown::Hash);
    }

    #[test]
    fn mistakes_are_refused() {
        assert!(Config::parse(r#"{"colunm": "x"}"#).is_err());
        assert!(Config::parse(r#"{"unknown": "drop"}"#).is_err());
        assert!(Config::parse(r#"{"tenants": {"acme": -1}}"#).is_err());
        assert!(Config::parse(r#"{"column": ""}"#).is_err());
        assert!(Config::parse(r#"{"comment_key": ""}"#).is_err());
        // Two spellings of one integer tenant on different shards.
        assert!(Config::parse(r#"{"tenants": {"7": 0, "007": 1}}"#).is_err());
    }

    #[test]
    fn integer_tenants_are_found_by_value() {
        let config = Config::parse(r#"{"tenants": {"007": 1, "acme": 0, "-3": 1}}"#).unwrap();
        assert_eq!(config.mapped_shard(&Tenant::Integer(7)), Some(1));
        assert_eq!(config.mapped_shard(&Tenant::Integer(-3)), Some(1));
        assert_eq!(config.mapped_shard(&Tenant::Integer(8)), None);
        assert_eq!(config.mapped_shard(&Tenant::Text("acme".into())), Some(0));
        assert_eq!(config.mapped_shard(&Tenant::Text("7".into())), None);
    }
}
