//! `pgdog.toml` and `users.toml`: parsing, defaults and validation.
//!
//! Every error names the file, the line and the key, so a typo is found at start-up rather
//! than at the first query. The parsed [`Config`] is immutable and shared as `Arc<Config>`;
//! nothing reads configuration from a global.

mod general;
pub mod plugins;
pub mod sharding;
mod users;

use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use general::{AuthType, Database, General, PoolerMode, ReadWriteSplit, Role, Strategy};
pub use plugins::{OnError, PluginConfig};
pub use sharding::{Mapping, MappingValue, ShardedTable};
pub use users::User;

/// A configuration file that cannot be used, with where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
}

/// `pgdog.toml` as written by the user.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PgdogFile {
    #[serde(default)]
    pub general: General,
    /// pgdog's early releases called these `[[servers]]`; both spellings work.
    #[serde(default, alias = "servers")]
    pub databases: Vec<Database>,
    #[serde(default)]
    pub admin: Admin,
    #[serde(default)]
    pub sharded_tables: Vec<ShardedTable>,
    /// Routing plugins, asked in this order.
    #[serde(default)]
    pub plugins: Vec<PluginConfig>,
}

/// The admin database (`SHOW …`, `RELOAD`): parsed now so configs written for it load.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    #[serde(default = "Admin::default_name")]
    pub name: String,
    #[serde(default = "Admin::default_name")]
    pub user: String,
    pub password: Option<String>,
}

impl Admin {
    fn default_name() -> String {
        "admin".into()
    }
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            name: Self::default_name(),
            user: Self::default_name(),
            password: None,
        }
    }
}

/// Both files, validated against each other.
#[derive(Debug, Clone)]
pub struct Config {
    pub general: General,
    pub databases: Vec<Database>,
    pub admin: Admin,
    pub users: Vec<User>,
    pub sharded_tables: Vec<ShardedTable>,
    pub plugins: Vec<PluginConfig>,
    /// The pgdog.toml this was read from, for plugin reloads; `None` for configs built
    /// from text.
    pub pgdog_path: Option<PathBuf>,
}

impl Config {
    /// Reads and validates both files.
    pub fn load(pgdog: &Path, users: &Path) -> Result<Config, ConfigError> {
        let pgdog_text = read(pgdog)?;
        let users_text = read(users)?;
        let mut config = Self::from_strs(&pgdog_text, pgdog, &users_text, users)?;
        config.pgdog_path = Some(pgdog.to_path_buf());
        Ok(config)
    }

    /// Parses and validates configuration text; the paths are only used in errors.
    pub fn from_strs(
        pgdog_text: &str,
        pgdog_path: &Path,
        users_text: &str,
        users_path: &Path,
    ) -> Result<Config, ConfigError> {
        let mut file: PgdogFile = parse_toml(pgdog_text, pgdog_path)?;
        let users: users::UsersFile = parse_toml(users_text, users_path)?;
        let invalid = |text: &str, path: &Path, offset: usize, message: String| {
            let (line, column) = line_col(text, offset);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        if let Some(err) = file.general.validate() {
            return Err(invalid(pgdog_text, pgdog_path, 0, err));
        }
        if let Some(err) = validate_sharding(&file) {
            return Err(invalid(pgdog_text, pgdog_path, 0, err));
        }
        if file.databases.iter().any(|d| d.name == file.admin.name) {
            let at = pgdog_text.find("[admin]").unwrap_or(0);
            return Err(invalid(
                pgdog_text,
                pgdog_path,
                at,
                format!(
                    "a [[databases]] entry is named \"{}\", the name of the admin database; rename one of them ([admin] name = \"...\")",
                    file.admin.name
                ),
            ));
        }
        if let Some(err) = plugins::validate(&file.plugins) {
            let at = plugins_offset(pgdog_text);
            return Err(invalid(pgdog_text, pgdog_path, at, err));
        }
        for plugin in &mut file.plugins {
            plugin.resolve(pgdog_path);
        }
        for user in &users.users {
            let db = user.database.get_ref();
            if !file.databases.iter().any(|d| &d.name == db) {
                return Err(invalid(
                    users_text,
                    users_path,
                    user.database.span().start,
                    format!(
                        "user \"{}\": key `database` names \"{db}\", which no [[databases]] entry in {} defines",
                        user.name,
                        pgdog_path.display()
                    ),
                ));
            }
            let dup = users
                .users
                .iter()
                .filter(|u| u.name == user.name && u.database.get_ref() == db)
                .count();
            if dup > 1 {
                return Err(invalid(
                    users_text,
                    users_path,
                    user.database.span().start,
                    format!(
                        "user \"{}\" is defined twice for database \"{db}\"",
                        user.name
                    ),
                ));
            }
        }
        Ok(Config {
            general: file.general,
            databases: file.databases,
            admin: file.admin,
            users: users.users.into_iter().map(User::from).collect(),
            sharded_tables: file.sharded_tables,
            plugins: file.plugins,
            pgdog_path: None,
        })
    }

    /// How many shards a database has: one more than the highest `shard` among its entries.
    pub fn shard_count(&self, database: &str) -> usize {
        self.database_entries(database)
            .map(|d| d.shard + 1)
            .max()
            .unwrap_or(0)
    }

    /// The sharded tables of one database.
    pub fn sharded_tables<'a>(
        &'a self,
        database: &'a str,
    ) -> impl Iterator<Item = &'a ShardedTable> {
        self.sharded_tables
            .iter()
            .filter(move |t| t.database == database)
    }

    /// The `[[databases]]` entries clients reach by `name`.
    pub fn database_entries<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Database> {
        self.databases.iter().filter(move |d| d.name == name)
    }
}

/// Cross-checks `[[sharded_tables]]` and the shards `[[databases]]` declares.
fn validate_sharding(file: &PgdogFile) -> Option<String> {
    let mut names: Vec<&str> = file.databases.iter().map(|d| d.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let shards = file
            .databases
            .iter()
            .filter(|d| d.name == name)
            .map(|d| d.shard + 1)
            .max()
            .unwrap_or(0);
        for shard in 0..shards {
            if !file
                .databases
                .iter()
                .any(|d| d.name == name && d.shard == shard)
            {
                return Some(format!(
                    "database \"{name}\" has shards up to {} but no [[databases]] entry for shard {shard}",
                    shards - 1
                ));
            }
        }
    }
    for table in &file.sharded_tables {
        let what = format!(
            "[[sharded_tables]] {}.{}",
            table.name.as_deref().unwrap_or("*"),
            table.column
        );
        let shards = file
            .databases
            .iter()
            .filter(|d| d.name == table.database)
            .map(|d| d.shard + 1)
            .max();
        let Some(shards) = shards else {
            return Some(format!(
                "{what}: key `database` names \"{}\", which no [[databases]] entry defines",
                table.database
            ));
        };
        let out_of_range = table
            .mapping
            .iter()
            .map(|m| m.shard)
            .chain(table.default_shard)
            .find(|&s| s >= shards);
        if let Some(shard) = out_of_range {
            return Some(format!(
                "{what}: shard {shard} does not exist (database \"{}\" has {shards})",
                table.database
            ));
        }
        for mapping in &table.mapping {
            let is_list = !mapping.values.is_empty();
            let is_range = mapping.start.is_some() || mapping.end.is_some();
            if is_list == is_range {
                return Some(format!(
                    "{what}: each [[sharded_tables.mapping]] needs either `values` (a list) or `start`/`end` (a range)"
                ));
            }
        }
    }
    None
}

/// Where the first `[[plugins]]` table starts, for errors about the chain.
fn plugins_offset(text: &str) -> usize {
    text.find("[[plugins]]").unwrap_or(0)
}

/// Only the `[[plugins]]` of pgdog.toml, re-read for a reload: the rest of the file needs
/// a restart to change.
pub fn load_plugins(pgdog: &Path) -> Result<Vec<PluginConfig>, ConfigError> {
    let text = read(pgdog)?;
    // The whole file is parsed as it would be at start-up, so a reload never accepts what
    // a restart would refuse.
    let mut only: PgdogFile = parse_toml(&text, pgdog)?;
    if let Some(err) = plugins::validate(&only.plugins) {
        let (line, column) = line_col(&text, plugins_offset(&text));
        return Err(ConfigError::Invalid {
            path: pgdog.to_path_buf(),
            line,
            column,
            message: err,
        });
    }
    for plugin in &mut only.plugins {
        plugin.resolve(pgdog);
    }
    Ok(only.plugins)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_toml<T: serde::de::DeserializeOwned>(text: &str, path: &Path) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let (line, column) = line_col(text, offset);
        ConfigError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
