//! query-guard's configuration.
//!
//! ```json
//! {
//!   "deny_tables": ["audit_log", "app.secrets"],
//!   "require_where": true,
//!   "show": {
//!     "pgdog_guard": {"columns": ["status", "since"], "rows": [["active", "2024-06-01"]]}
//!   }
//! }
//! ```
//!
//! Everything is checked here, at `init`, so a mistake refuses the plugin at start-up
//! rather than surfacing as odd answers to clients.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    deny_tables: Vec<String>,
    #[serde(default = "yes")]
    require_where: bool,
    #[serde(default)]
    show: BTreeMap<String, ShowTable>,
}

fn yes() -> bool {
    true
}

/// The answer to one `SHOW <name>`: text columns and rows, `null` for SQL NULL.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowTable {
    pub columns: Vec<String>,
    #[serde(default)]
    pub rows: Vec<Vec<Option<String>>>,
}

/// A table no statement may touch. Names are kept lower case and compared without
/// regard to case, so a quoted mixed-case spelling cannot slip past the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedTable {
    /// `None` denies the name in every schema.
    pub schema: Option<String>,
    pub name: String,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub deny_tables: Vec<DeniedTable>,
    /// Refuse UPDATE and DELETE without a WHERE clause. On unless configured off.
    pub require_where: bool,
    /// Keyed by the lower-case SHOW name.
    pub show: BTreeMap<String, ShowTable>,
}

impl Guard {
    pub fn parse(json: &str) -> Result<Self, String> {
        let raw: Raw = pgdog_plugin_sdk::config::parse(json)?;
        let deny_tables = raw
            .deny_tables
            .iter()
            .map(|entry| DeniedTable::parse(entry))
            .collect::<Result<_, _>>()?;
        let mut show = BTreeMap::new();
        for (name, table) in raw.show {
            let key = name.to_lowercase();
            check_show(&key, &table)?;
            if show.insert(key, table).is_some() {
                return Err(format!(
                    "invalid plugin config: SHOW name {name:?} is given twice (names ignore case)"
                ));
            }
        }
        Ok(Self {
            deny_tables,
            require_where: raw.require_where,
            show,
        })
    }
}

impl DeniedTable {
    /// `table` or `schema.table`.
    fn parse(entry: &str) -> Result<Self, String> {
        let invalid = || {
            format!("invalid plugin config: deny_tables entry {entry:?} is not `table` or `schema.table`")
        };
        let parts: Vec<&str> = entry.trim().split('.').collect();
        if parts.iter().any(|part| part.is_empty()) {
            return Err(invalid());
        }
        match parts.as_slice() {
            [name] => Ok(Self {
                schema: None,
                name: name.to_lowercase(),
            }),
            [schema, name] => Ok(Self {
                schema: Some(schema.to_lowercase()),
                name: name.to_lowercase(),
            }),
            _ => Err(invalid()),
        }
    }
}

fn check_show(name: &str, table: &ShowTable) -> Result<(), String> {
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !is_name {
        return Err(format!(
            "invalid plugin config: SHOW name {name:?} must be letters, digits, `_` and `.`"
        ));
    }
    if name == "all" {
        return Err(
            "invalid plugin config: SHOW name \"all\" would hide PostgreSQL's SHOW ALL".into(),
        );
    }
    if table.columns.is_empty() {
        return Err(format!("invalid plugin config: SHOW {name} has no columns"));
    }
    if let Some(row) = table
        .rows
        .iter()
        .find(|row| row.len() != table.columns.len())
    {
        return Err(format!(
            "invalid plugin config: SHOW {name} has {} columns but a row of {} values",
            table.columns.len(),
            row.len()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let guard = Guard::parse("{}").unwrap();
        assert!(guard.deny_tables.is_empty());
        assert!(guard.require_where);
        assert!(guard.show.is_empty());
    }

    #[test]
    fn full() {
        let guard = Guard::parse(
            r#"{"deny_tables": ["Audit_Log", "app.secrets"], "require_where": false,
                "show": {"PGDOG_Guard": {"columns": ["status", "note"], "rows": [["active", null]]}}}"#,
        )
        .unwrap();
        assert_eq!(
            guard.deny_tables,
            vec![
                DeniedTable {
                    schema: None,
                    name: "audit_log".into()
                },
                DeniedTable {
                    schema: Some("app".into()),
                    name: "secrets".into()
                },
            ]
        );
        assert!(!guard.require_where);
        assert_eq!(
            guard.show["pgdog_guard"].rows,
            vec![vec![Some("active".into()), None]]
        );
    }

    #[test]
    fn mistakes_are_refused() {
        for bad in [
            r#"{"deny_table": []}"#,
            r#"{"deny_tables": ["a.b.c"]}"#,
            r#"{"deny_tables": [".secrets"]}"#,
            r#"{"deny_tables": [""]}"#,
            r#"{"show": {"x": {"columns": []}}}"#,
            r#"{"show": {"x": {"columns": ["a"], "rows": [["1", "2"]]}}}"#,
            r#"{"show": {"bad name": {"columns": ["a"]}}}"#,
            r#"{"show": {"all": {"columns": ["a"]}}}"#,
            r#"{"show": {"x": {"columns": ["a"]}, "X": {"columns": ["b"]}}}"#,
            r#"{"show": {"x": {"columns": ["a"], "rows": [[1]]}}}"#,
        ] {
            assert!(Guard::parse(bad).is_err(), "{bad}");
        }
    }
}
