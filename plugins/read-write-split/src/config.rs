//! read-write-split's configuration.
//!
//! ```json
//! {"write_functions": ["nextval", "setval", "app.record_login"]}
//! ```
//!
//! Names are matched as pgDog reports a statement's functions: lower case, without
//! schema. A configured `app.Record_Login` is therefore kept as `record_login`.

use std::collections::BTreeSet;

use serde::Deserialize;

/// Functions that write, or must see the session that wrote, when the list is not given.
/// `currval`/`lastval` read state `nextval` left in a session on the primary; advisory
/// locks only coordinate with sessions on the same server; `txid_current` and
/// `pg_current_xact_id` assign a transaction id, which a replica cannot.
pub const DEFAULT_WRITE_FUNCTIONS: &[&str] = &[
    "nextval",
    "setval",
    "currval",
    "lastval",
    "pg_advisory_lock",
    "pg_advisory_lock_shared",
    "pg_advisory_xact_lock",
    "pg_advisory_xact_lock_shared",
    "pg_try_advisory_lock",
    "pg_try_advisory_lock_shared",
    "pg_try_advisory_xact_lock",
    "pg_try_advisory_xact_lock_shared",
    "pg_advisory_unlock",
    "pg_advisory_unlock_shared",
    "pg_advisory_unlock_all",
    "txid_current",
    "pg_current_xact_id",
    "pg_notify",
    "lo_create",
    "lo_creat",
    "lo_import",
    "lo_unlink",
    "lo_put",
    "lo_from_bytea",
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    write_functions: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Lower case, without schema.
    pub write_functions: BTreeSet<String>,
}

impl Config {
    /// Parses the JSON; a given `write_functions` replaces the default list.
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: Raw = pgdog_plugin_sdk::config::parse(json)?;
        let names = match raw.write_functions {
            Some(names) => names,
            None => DEFAULT_WRITE_FUNCTIONS
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        let mut write_functions = BTreeSet::new();
        for name in names {
            let bare = name.rsplit('.').next().unwrap_or_default().trim();
            if bare.is_empty() {
                return Err(format!(
                    "invalid plugin config: write_functions has an empty name ({name:?})"
                ));
            }
            write_functions.insert(bare.to_lowercase());
        }
        Ok(Self { write_functions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_list() {
        let config = Config::parse("{}").unwrap();
        assert!(config.write_functions.contains("nextval"));
        assert_eq!(config.write_functions.len(), DEFAULT_WRITE_FUNCTIONS.len());
    }

    #[test]
    fn given_list_replaces_and_normalises() {
        let config =
            Config::parse(r#"{"write_functions": ["app.Record_Login", "nextval"]}"#).unwrap();
        assert_eq!(
            config.write_functions.into_iter().collect::<Vec<_>>(),
            vec!["nextval".to_string(), "record_login".to_string()]
        );
        assert!(Config::parse(r#"{"write_functions": []}"#)
            .unwrap()
            .write_functions
            .is_empty());
    }

    #[test]
    fn mistakes_are_refused() {
        assert!(Config::parse(r#"{"write_function": ["x"]}"#).is_err());
        assert!(Config::parse(r#"{"write_functions": ["app."]}"#).is_err());
        assert!(Config::parse(r#"{"write_functions": "nextval"}"#).is_err());
    }
}
