//! The plugin's configuration, as the author's own type.
//!
//! pgDog hands `init` the plugin's `[plugins.config]` table from pgdog.toml converted to
//! JSON. Parsing it with serde into a `Deserialize` type gives the operator an error that
//! names the field and position when the table is wrong, which `init` returns to refuse
//! the plugin at start-up instead of misrouting later.

use serde::de::DeserializeOwned;

/// Parses the configuration JSON into `T`. Blank text counts as `{}` so a plugin whose
/// fields all have defaults needs no config table.
///
/// ```
/// #[derive(Debug, serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct Config {
///     column: String,
/// }
///
/// let config: Config = pgdog_plugin_sdk::config::parse(r#"{"column": "id"}"#).unwrap();
/// assert_eq!(config.column, "id");
/// let error = pgdog_plugin_sdk::config::parse::<Config>(r#"{"colum": "id"}"#).unwrap_err();
/// assert!(error.starts_with("invalid plugin config: unknown field `colum`"));
/// ```
pub fn parse<T: DeserializeOwned>(json: &str) -> Result<T, String> {
    let json = if json.trim().is_empty() { "{}" } else { json };
    serde_json::from_str(json).map_err(|error| format!("invalid plugin config: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Config {
        #[serde(default)]
        shards: Vec<u32>,
    }

    #[test]
    fn blank_is_empty_object() {
        assert_eq!(parse::<Config>("  ").unwrap(), Config { shards: vec![] });
    }

    #[test]
    fn errors_say_where() {
        let error = parse::<Config>(r#"{"shards": ["a"]}"#).unwrap_err();
        assert!(
            error.starts_with("invalid plugin config: invalid type"),
            "{error}"
        );
        assert!(error.contains("line 1 column"), "{error}");
    }
}
