//! Where a statement names its tenant.
//!
//! Three places, in order of trust: a WHERE predicate on the tenant column (the rows the
//! statement touches), the tenant column of an INSERT's rows (the rows it creates), and a
//! leading comment (what the application says about a statement it could not shape). The
//! first place that names the tenant conclusively wins; one that names it only partly
//! (`tenant_id IN ($1, lower(x))`) is skipped, since routing by the part pgDog can see
//! would miss the rest.

use pgdog_plugin_sdk::prelude::*;

use crate::config::{Config, DataType};
use crate::decide::Hash;

/// Where the tenants were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Where,
    Insert,
    Comment,
}

impl Source {
    /// For messages: where the client should look.
    pub fn describe(self, config: &Config) -> String {
        match self {
            Source::Where => format!("the WHERE clause ({})", config.column),
            Source::Insert => format!("the inserted rows ({})", config.column),
            Source::Comment => format!(
                "the query comment ({})",
                config.comment_key.as_deref().unwrap_or_default()
            ),
        }
    }
}

/// A tenant id as the tenant column holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenant {
    Integer(i64),
    Text(String),
}

impl Tenant {
    /// A tenant id written as text (in a comment): an integer when the column is one and
    /// the text is a number, else the text.
    pub fn from_text(text: &str, data_type: DataType) -> Tenant {
        match (data_type, text.trim().parse()) {
            (DataType::Integer, Ok(value)) => Tenant::Integer(value),
            _ => Tenant::Text(text.to_string()),
        }
    }
}

impl std::fmt::Display for Tenant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tenant::Integer(value) => write!(f, "{value}"),
            Tenant::Text(text) => f.write_str(text),
        }
    }
}

/// The tenant ids a statement names, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub source: Source,
    /// One per compared value or inserted row, NULLs left out; never empty.
    pub tenants: Tenants,
    /// The database's shard count, when pgDog gave it with the keys.
    pub shard_count: Option<u32>,
}

/// Tenants, each with the shard pgDog's hash puts it in when pgDog placed it with the keys
/// (`None` for a comment's tenant, which is hashed only if needed). The one tenant most
/// statements name is held inline: routing such a query allocates nothing in the plugin.
/// In a busy proxy the guest's allocator was a quarter of its time per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenants {
    One(Tenant, Option<u32>),
    /// Two or more.
    Many(Vec<(Tenant, Option<u32>)>),
}

impl Tenants {
    pub fn iter(&self) -> impl Iterator<Item = (&Tenant, Option<u32>)> {
        let (one, many) = match self {
            Tenants::One(tenant, shard) => (Some((tenant, *shard)), &[][..]),
            Tenants::Many(all) => (None, all.as_slice()),
        };
        one.into_iter()
            .chain(many.iter().map(|(tenant, shard)| (tenant, *shard)))
    }
}

impl Found {
    /// A tenant read from a comment: pgDog has not placed it.
    fn unplaced(source: Source, tenant: Tenant) -> Found {
        Found {
            source,
            tenants: Tenants::One(tenant, None),
            shard_count: None,
        }
    }
}

/// The tenants of `statement`, or `None` when no place names one conclusively. `hash`
/// places keys only for a statement built from fields (tests): inside pgDog the keys come
/// placed by pgDog's own hash.
pub fn find(
    config: &Config,
    statement: &Statement<'_>,
    context: &Context<'_>,
    hash: Hash,
) -> Option<Found> {
    let key_type = config.key_type();
    let hash_key = |key: &ShardKey, shards: u32| hash(&tenant_of(key), shards);
    // One question to pgDog per place: it finds the column, resolves `$n`, reads the
    // value as the column's type and hashes it, and says how many shards there are.
    let from = |place| {
        let keys = statement.placed_keys(&config.column, place, key_type, context, hash_key)?;
        found_in(place, &keys)
    };
    from(KeySource::Where)
        .or_else(|| from(KeySource::Insert))
        .or_else(|| {
            let key = config.comment_key.as_deref()?;
            let tenant = statement.comment_value(key)?;
            Some(Found::unplaced(
                Source::Comment,
                Tenant::from_text(tenant, config.data_type),
            ))
        })
}

/// The tenants of the key pgDog found for `route-key` (see [`find`]), or `None` when it
/// names none conclusively.
pub fn from_key(key: &FoundKey) -> Option<Found> {
    found_in(key.source, &key.keys)
}

/// The tenants `keys`, found at `place`, name conclusively.
fn found_in(place: KeySource, keys: &PlacedKeys) -> Option<Found> {
    let source = match place {
        KeySource::Where => Source::Where,
        KeySource::Insert => Source::Insert,
    };
    Some(Found {
        source,
        tenants: tenants_of(keys.keys.as_slice())?,
        shard_count: Some(keys.shard_count),
    })
}

fn tenant_of(key: &ShardKey) -> Tenant {
    match key {
        ShardKey::Integer(value) => Tenant::Integer(*value),
        ShardKey::Text(text) | ShardKey::Uuid(text) => Tenant::Text(text.clone()),
    }
}

/// The values as tenant ids, with their shards. NULL names no tenant (`= NULL` matches
/// no row, a NULL tenant in a row belongs to none); any value pgDog cannot read as the
/// column's type makes the whole list inconclusive.
fn tenants_of(values: &[PlacedKey]) -> Option<Tenants> {
    let mut found: Option<Tenants> = None;
    for placed in values {
        let tenant = match &placed.value {
            KeyValue::Null => continue,
            KeyValue::Unknown => return None,
            KeyValue::Key(key) => tenant_of(key),
        };
        found = Some(match found {
            None => Tenants::One(tenant, placed.shard),
            Some(Tenants::One(first, shard)) => {
                let mut all = Vec::with_capacity(values.len());
                all.push((first, shard));
                all.push((tenant, placed.shard));
                Tenants::Many(all)
            }
            Some(Tenants::Many(mut all)) => {
                all.push((tenant, placed.shard));
                Tenants::Many(all)
            }
        });
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgdog_plugin_sdk::testing::{context, predicate, statement, text_param};
    use pgdog_plugin_sdk::types::Insert;

    /// `find` over hand-built fields.
    fn find(config: &Config, stmt: &StatementFields, ctx: &ContextFields) -> Option<Found> {
        super::find(
            config,
            &stmt.clone().into(),
            &ctx.clone().into(),
            &by_length,
        )
    }

    /// A stand-in for pgDog's hash: the tenant's length.
    fn by_length(tenant: &Tenant, shards: u32) -> Result<u32, String> {
        Ok(tenant.to_string().len() as u32 % shards)
    }

    fn config() -> Config {
        Config::parse("{}").unwrap()
    }

    #[test]
    fn where_literal_and_param() {
        let mut stmt = statement(
            Command::Select,
            "SELECT * FROM t WHERE tenant_id IN ('acme', $1)",
        );
        stmt.predicates = vec![predicate(
            "tenant_id",
            vec![Value::Text("acme".into()), Value::Param(1)],
        )];
        let ctx = ContextFields {
            params: vec![text_param("globex")],
            ..context(3)
        };
        assert_eq!(
            find(&config(), &stmt, &ctx),
            Some(Found {
                source: Source::Where,
                tenants: Tenants::Many(vec![(text("acme"), Some(1)), (text("globex"), Some(0))]),
                shard_count: Some(3),
            })
        );
    }

    fn text(tenant: &str) -> Tenant {
        Tenant::Text(tenant.into())
    }

    /// The tenants found, without their shards.
    fn names(found: Option<Found>) -> Vec<Tenant> {
        let found = found.expect("tenants found");
        found
            .tenants
            .iter()
            .map(|(tenant, _)| tenant.clone())
            .collect()
    }

    #[test]
    fn tenants_are_read_as_the_column_type() {
        let mut stmt = statement(Command::Select, "SELECT * FROM t WHERE tenant_id = 42");
        stmt.predicates = vec![predicate("tenant_id", vec![Value::Integer(42)])];
        assert_eq!(names(find(&config(), &stmt, &context(2))), vec![text("42")]);
        let integer = Config {
            data_type: DataType::Integer,
            ..config()
        };
        assert_eq!(
            names(find(&integer, &stmt, &context(2))),
            vec![Tenant::Integer(42)]
        );
        // A text that is no integer, for an integer column: pgDog cannot place it.
        stmt.predicates = vec![predicate(
            "tenant_id",
            vec![Value::Text("x".into()), Value::Integer(1)],
        )];
        assert_eq!(find(&integer, &stmt, &context(2)), None);
        // A comment's tenant is an integer when it reads as one.
        stmt.predicates.clear();
        stmt.comment = Some("tenant: 0042".into());
        assert_eq!(
            names(find(&integer, &stmt, &context(2))),
            vec![Tenant::Integer(42)]
        );
    }

    #[test]
    fn partly_readable_where_falls_back_to_the_comment() {
        let mut stmt = statement(
            Command::Select,
            "/* tenant: acme */ SELECT * FROM t WHERE tenant_id IN ('acme', lower(x))",
        );
        stmt.predicates = vec![predicate(
            "tenant_id",
            vec![Value::Text("acme".into()), Value::Expression],
        )];
        stmt.comment = Some("tenant: acme".into());
        assert_eq!(
            find(&config(), &stmt, &context(2)).unwrap().source,
            Source::Comment
        );
        stmt.comment = None;
        assert_eq!(find(&config(), &stmt, &context(2)), None);
    }

    #[test]
    fn insert_rows() {
        let mut stmt = statement(
            Command::Insert,
            "INSERT INTO t (id, tenant_id) VALUES (1, 'acme'), (2, NULL)",
        );
        stmt.insert = Some(Insert {
            columns: vec!["id".into(), "tenant_id".into()],
            rows: vec![
                vec![Value::Integer(1), Value::Text("acme".into())],
                vec![Value::Integer(2), Value::Null],
            ],
        });
        assert_eq!(
            find(&config(), &stmt, &context(2)),
            Some(Found {
                source: Source::Insert,
                tenants: Tenants::One(text("acme"), Some(0)),
                shard_count: Some(2),
            })
        );
    }

    #[test]
    fn where_wins_over_comment() {
        let mut stmt = statement(
            Command::Update,
            "UPDATE t SET x = 1 WHERE tenant_id = 'acme'",
        );
        stmt.predicates = vec![predicate("tenant_id", vec![Value::Text("acme".into())])];
        stmt.comment = Some("tenant: globex".into());
        assert_eq!(
            names(find(&config(), &stmt, &context(2))),
            vec![text("acme")]
        );
    }

    #[test]
    fn comment_key_can_be_turned_off() {
        let mut stmt = statement(Command::Select, "/* tenant: acme */ SELECT 1");
        stmt.comment = Some("tenant: acme".into());
        let config = Config::parse(r#"{"comment_key": null}"#).unwrap();
        assert_eq!(find(&config, &stmt, &context(2)), None);
        let config = Config::parse(r#"{"comment_key": "org"}"#).unwrap();
        assert_eq!(find(&config, &stmt, &context(2)), None);
    }

    #[test]
    fn nothing_found() {
        let stmt = statement(Command::Select, "SELECT 1");
        assert_eq!(find(&config(), &stmt, &context(2)), None);
    }
}
