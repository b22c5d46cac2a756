//! From the tenants a statement names to where it goes.
//!
//! SQLSTATEs:
//! - `42704` (undefined_object) for a tenant the map does not name under
//!   `"unknown": "reject"`: to the application the tenant does not exist, and class 42 is
//!   one clients never retry. `42501` would wrongly suggest a grant could fix it.
//! - `0A000` (feature_not_supported) for a multi-row INSERT whose rows belong on
//!   different shards: one statement cannot be split across shards by this plugin.
//! - `F0000` (config_file_error) when the map names a shard the database does not have:
//!   the operator's configuration, not the query, is wrong.
//! - `XX000` (internal_error) when pgDog cannot hash a tenant.

use std::collections::BTreeSet;

use pgdog_plugin_sdk::prelude::*;

use crate::config::{Config, Unknown};
use crate::tenant::{self, Source, Tenant, Tenants};

/// The shard pgDog's hash puts a tenant in (as [`shard_key`] reads it), among this many
/// shards.
pub type Hash<'a> = &'a dyn Fn(&Tenant, u32) -> Result<u32, String>;

/// Routes `statement` to the shard(s) of the tenant(s) it names, with role `any`;
/// passes when it names none.
pub fn decide(
    config: &Config,
    statement: &Statement<'_>,
    context: &Context<'_>,
    hash: Hash,
) -> Decision {
    let Some(found) = tenant::find(config, statement, context, hash) else {
        return Decision::Pass;
    };
    // Keys from pgDog come with the shard count; a comment's tenant asks for it.
    let shard_count = found.shard_count.unwrap_or_else(|| context.shards());
    // With the context at hand the database can always be named: never `None`.
    decide_found(
        config,
        &found,
        shard_count,
        &|| Some(context.database().to_string()),
        hash,
    )
    .unwrap_or(Decision::Pass)
}

/// [`decide`] from the values of the tenant column alone (pgDog's `route-key` call), or
/// `None` where only the whole statement can tell: no conclusive tenant in the key (a
/// comment may name one) or an error message that names the database.
pub fn decide_key(config: &Config, key: Option<&FoundKey>, hash: Hash) -> Option<Decision> {
    let Some(key) = key else {
        // Neither WHERE nor INSERT names the column: only a comment could still.
        return match config.comment_key {
            Some(_) => None,
            None => Some(Decision::Pass),
        };
    };
    let found = tenant::from_key(key)?;
    let shard_count = key.keys.shard_count;
    decide_found(config, &found, shard_count, &|| None, hash)
}

/// Where the tenants `found` names go among `shard_count` shards; `None` when the answer
/// is an error naming the database and `database` cannot say which.
fn decide_found(
    config: &Config,
    found: &tenant::Found,
    shard_count: u32,
    database: &dyn Fn() -> Option<String>,
    hash: Hash,
) -> Option<Decision> {
    let place =
        |tenant, hashed| shard_of(config, found, tenant, hashed, shard_count, database, hash);
    // Most statements name one tenant: no set to build.
    if let Tenants::One(tenant, hashed) = &found.tenants {
        return match place(tenant, *hashed) {
            Ok(shard) => Some(Decision::route_to(shard, Role::Any)),
            Err(decision) => decision,
        };
    }
    let mut shards = BTreeSet::new();
    for (tenant, hashed) in found.tenants.iter() {
        match place(tenant, hashed) {
            Ok(shard) => shards.insert(shard),
            Err(decision) => return decision,
        };
    }
    let shards: Vec<u32> = shards.into_iter().collect();
    if shards.len() == 1 {
        return Some(Decision::route_to(shards[0], Role::Any));
    }
    if found.source == Source::Insert {
        return Some(
            Reject::new(
                sqlstate::FEATURE_NOT_SUPPORTED,
                "a multi-row INSERT must not mix tenants that live on different shards",
            )
            .with_detail(format!(
                "Its rows belong on shards {shards:?}; insert each tenant's rows separately."
            ))
            .into(),
        );
    }
    Some(Decision::route(Shards::Many(shards), Role::Any))
}

/// How an unmapped tenant is hashed: as the column's type, so that it lands where pgDog's
/// built-in sharding (and PostgreSQL's hash partitioning) of that column would put it. A
/// tenant of an integer column read from a comment that is not a number is hashed as text.
pub fn shard_key(tenant: &Tenant) -> ShardKey {
    match tenant {
        Tenant::Integer(value) => ShardKey::Integer(*value),
        Tenant::Text(text) => ShardKey::Text(text.clone()),
    }
}

/// The shard of one tenant, or the decision that ends the statement instead (pass,
/// reject) when the map cannot place it; `Err(None)` when that decision is an error
/// naming the database and `database` cannot say which. `hashed`: where pgDog already
/// hashed it.
fn shard_of(
    config: &Config,
    found: &tenant::Found,
    tenant: &Tenant,
    hashed: Option<u32>,
    shard_count: u32,
    database: &dyn Fn() -> Option<String>,
    hash: Hash,
) -> Result<u32, Option<Decision>> {
    let shard = match config.mapped_shard(tenant) {
        Some(shard) => shard,
        None => match config.unknown {
            Unknown::Pass => return Err(Some(Decision::Pass)),
            Unknown::Reject => {
                return Err(Some(
                    Reject::new(
                        sqlstate::UNDEFINED_OBJECT,
                        format!("unknown tenant \"{tenant}\""),
                    )
                    .with_detail(format!(
                        "The tenant was read from {}.",
                        found.source.describe(config)
                    ))
                    .into(),
                ))
            }
            Unknown::Hash => match hashed {
                Some(shard) => shard,
                None => hash(tenant, shard_count).map_err(|error| {
                    Some(Decision::reject(
                        sqlstate::INTERNAL_ERROR,
                        format!("tenant-router cannot hash tenant \"{tenant}\": {error}"),
                    ))
                })?,
            },
        },
    };
    if shard >= shard_count {
        let database = database().ok_or(None)?;
        return Err(Some(
            Reject::new(
                sqlstate::CONFIG_FILE_ERROR,
                format!(
                    "tenant \"{tenant}\" is mapped to shard {shard}, but database \"{database}\" has {shard_count} shard(s)"
                ),
            )
            .with_detail("Shards are numbered from 0; fix the tenants map of tenant-router.")
            .into(),
        ));
    }
    Ok(shard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DataType;
    use pgdog_plugin_sdk::testing::{binary_param, context, predicate, statement, text_param};
    use pgdog_plugin_sdk::types::{Insert, PlacedKeyValues};

    /// `decide` over hand-built fields.
    fn decide(
        config: &Config,
        stmt: &StatementFields,
        ctx: &ContextFields,
        hash: Hash,
    ) -> Decision {
        super::decide(config, &stmt.clone().into(), &ctx.clone().into(), hash)
    }

    fn config(unknown: &str) -> Config {
        Config::parse(&format!(
            r#"{{"tenants": {{"acme": 0, "globex": 1, "initech": 0, "7": 1, "lost": 9}}, "unknown": "{unknown}"}}"#
        ))
        .unwrap()
    }

    /// A stand-in for pgDog's hash: the tenant's length.
    fn by_length(tenant: &Tenant, shards: u32) -> Result<u32, String> {
        Ok(tenant.to_string().len() as u32 % shards)
    }

    /// For configs whose tenants are all mapped: an answer from it must never be used.
    fn no_hash(_: &Tenant, _: u32) -> Result<u32, String> {
        Err("no hash here".into())
    }

    fn select_where(values: Vec<Value>) -> StatementFields {
        let mut stmt = statement(
            Command::Select,
            "SELECT * FROM orders WHERE tenant_id IN (…)",
        );
        stmt.predicates = vec![predicate("tenant_id", values)];
        stmt
    }

    fn insert(tenants: &[&str]) -> StatementFields {
        let mut stmt = statement(
            Command::Insert,
            "INSERT INTO orders (tenant_id, n) VALUES …",
        );
        stmt.insert = Some(Insert {
            columns: vec!["tenant_id".into(), "n".into()],
            rows: tenants
                .iter()
                .map(|t| vec![Value::Text(t.to_string()), Value::Integer(1)])
                .collect(),
        });
        stmt
    }

    fn sqlstate_of(decision: &Decision) -> &str {
        match decision {
            Decision::Reject(reject) => &reject.sqlstate,
            other => panic!("expected a reject, got {other:?}"),
        }
    }

    #[test]
    fn unmapped_tenants_hash_as_the_column_type() {
        let key = |text: &str, data_type| shard_key(&Tenant::from_text(text, data_type));
        assert_eq!(key("42", DataType::Text), ShardKey::Text("42".into()));
        assert_eq!(key("42", DataType::Integer), ShardKey::Integer(42));
        assert_eq!(key("-7", DataType::Integer), ShardKey::Integer(-7));
        assert_eq!(
            key("acme", DataType::Integer),
            ShardKey::Text("acme".into())
        );
        // From the WHERE clause of an integer column, through decide.
        let stmt = select_where(vec![Value::Integer(12)]);
        let integer = Config {
            data_type: DataType::Integer,
            ..config("hash")
        };
        let keyed = |tenant: &Tenant, _: u32| match shard_key(tenant) {
            ShardKey::Integer(12) => Ok(1),
            other => Err(format!("hashed {other:?}")),
        };
        assert_eq!(
            decide(&integer, &stmt, &context(2), &keyed),
            Decision::route_to(1, Role::Any)
        );
    }

    #[test]
    fn mapped_tenant_goes_to_its_shard() {
        let stmt = select_where(vec![Value::Text("globex".into())]);
        assert_eq!(
            decide(&config("reject"), &stmt, &context(2), &no_hash),
            Decision::route_to(1, Role::Any)
        );
    }

    #[test]
    fn binary_params_read_as_the_column_type() {
        // `tenant_id = $1` bound in binary: to a text column the bytes are the string, to
        // an integer column a big-endian integer.
        let stmt = select_where(vec![Value::Param(1)]);
        let text = ContextFields {
            params: vec![binary_param(b"acme")],
            ..context(2)
        };
        assert_eq!(
            decide(&config("reject"), &stmt, &text, &no_hash),
            Decision::route_to(0, Role::Any)
        );
        let integer = ContextFields {
            params: vec![binary_param(&7i32.to_be_bytes())],
            ..context(2)
        };
        let mut by_integer = config("reject");
        by_integer.data_type = crate::config::DataType::Integer;
        assert_eq!(
            decide(&by_integer, &stmt, &integer, &no_hash),
            Decision::route_to(1, Role::Any)
        );
    }

    #[test]
    fn in_list_spanning_shards_goes_to_both() {
        let stmt = select_where(vec![Value::Text("acme".into()), Value::Param(1)]);
        let ctx = ContextFields {
            params: vec![text_param("globex")],
            ..context(2)
        };
        assert_eq!(
            decide(&config("reject"), &stmt, &ctx, &no_hash),
            Decision::route(Shards::Many(vec![0, 1]), Role::Any)
        );
    }

    #[test]
    fn in_list_on_one_shard_is_one_shard() {
        let stmt = select_where(vec![
            Value::Text("acme".into()),
            Value::Text("initech".into()),
        ]);
        assert_eq!(
            decide(&config("reject"), &stmt, &context(2), &no_hash),
            Decision::route_to(0, Role::Any)
        );
    }

    #[test]
    fn insert_rows_on_one_shard() {
        let stmt = insert(&["acme", "initech"]);
        assert_eq!(
            decide(&config("reject"), &stmt, &context(2), &no_hash),
            Decision::route_to(0, Role::Any)
        );
    }

    #[test]
    fn insert_rows_on_two_shards_are_refused() {
        let decision = decide(
            &config("reject"),
            &insert(&["acme", "globex"]),
            &context(2),
            &no_hash,
        );
        assert_eq!(sqlstate_of(&decision), "0A000");
    }

    #[test]
    fn comment_tenant() {
        let mut stmt = statement(
            Command::Select,
            "/* tenant: globex */ SELECT count(*) FROM orders",
        );
        stmt.comment = Some("tenant: globex".into());
        assert_eq!(
            decide(&config("reject"), &stmt, &context(2), &no_hash),
            Decision::route_to(1, Role::Any)
        );
    }

    #[test]
    fn unknown_tenant_rejected_with_its_source() {
        let stmt = select_where(vec![Value::Text("hooli".into())]);
        let decision = decide(&config("reject"), &stmt, &context(2), &no_hash);
        assert_eq!(sqlstate_of(&decision), "42704");
        let Decision::Reject(reject) = decision else {
            unreachable!()
        };
        assert_eq!(reject.message, "unknown tenant \"hooli\"");
        assert_eq!(
            reject.detail.as_deref(),
            Some("The tenant was read from the WHERE clause (tenant_id).")
        );
    }

    #[test]
    fn unknown_tenant_hashed() {
        let stmt = select_where(vec![Value::Text("hooli".into())]);
        assert_eq!(
            decide(&config("hash"), &stmt, &context(3), &by_length),
            Decision::route_to(5 % 3, Role::Any)
        );
    }

    #[test]
    fn hash_failure_is_refused() {
        let stmt = select_where(vec![Value::Text("hooli".into())]);
        let failing = |_: &Tenant, _: u32| Err("no host".to_string());
        let decision = decide(&config("hash"), &stmt, &context(2), &failing);
        assert_eq!(sqlstate_of(&decision), "XX000");
    }

    #[test]
    fn unknown_tenant_passed() {
        // One unknown tenant in the list passes the whole statement on.
        let stmt = select_where(vec![
            Value::Text("acme".into()),
            Value::Text("hooli".into()),
        ]);
        assert_eq!(
            decide(&config("pass"), &stmt, &context(2), &no_hash),
            Decision::Pass
        );
    }

    #[test]
    fn shard_beyond_the_database_is_a_config_error() {
        let stmt = select_where(vec![Value::Text("lost".into())]);
        let decision = decide(&config("reject"), &stmt, &context(2), &no_hash);
        assert_eq!(sqlstate_of(&decision), "F0000");
        // And so is a mapped shard 1 on an unsharded database.
        let stmt = select_where(vec![Value::Text("globex".into())]);
        let decision = decide(&config("reject"), &stmt, &context(1), &no_hash);
        assert_eq!(sqlstate_of(&decision), "F0000");
    }

    #[test]
    fn no_tenant_passes() {
        let stmt = statement(Command::Select, "SELECT now()");
        assert_eq!(
            decide(&config("reject"), &stmt, &context(2), &no_hash),
            Decision::Pass
        );
        // A WHERE on other columns only.
        let mut stmt = statement(Command::Select, "SELECT * FROM orders WHERE id = 1");
        stmt.predicates = vec![predicate("id", vec![Value::Integer(1)])];
        assert_eq!(
            decide(&config("reject"), &stmt, &context(2), &no_hash),
            Decision::Pass
        );
    }

    #[test]
    fn null_tenant_names_none() {
        let stmt = select_where(vec![Value::Param(1)]);
        let ctx = ContextFields {
            params: vec![pgdog_plugin_sdk::testing::null_param()],
            ..context(2)
        };
        assert_eq!(
            decide(&config("reject"), &stmt, &ctx, &no_hash),
            Decision::Pass
        );
    }

    /// What pgDog hands `route-key` for one text tenant it placed on `shard`.
    fn found_one(source: KeySource, tenant: &str, shard: u32) -> FoundKey {
        let key = |value| PlacedKey {
            value,
            shard: Some(shard),
        };
        FoundKey {
            source,
            keys: PlacedKeys {
                shard_count: 2,
                keys: PlacedKeyValues::One(key(KeyValue::Key(ShardKey::Text(tenant.into())))),
            },
        }
    }

    #[test]
    fn the_key_alone_decides_as_the_statement_does() {
        // Mapped, hashed and refused tenants, from WHERE and from INSERT.
        for unknown in ["reject", "hash", "pass"] {
            let config = config(unknown);
            for tenant in ["acme", "globex", "stranger"] {
                let stmt = select_where(vec![Value::Text(tenant.into())]);
                let whole = decide(&config, &stmt, &context(2), &by_length);
                let hashed = tenant.len() as u32 % 2;
                let key = found_one(KeySource::Where, tenant, hashed);
                assert_eq!(
                    decide_key(&config, Some(&key), &no_hash),
                    Some(whole),
                    "{unknown} {tenant}"
                );
                let whole = decide(&config, &insert(&[tenant]), &context(2), &by_length);
                let key = found_one(KeySource::Insert, tenant, hashed);
                assert_eq!(decide_key(&config, Some(&key), &no_hash), Some(whole));
            }
        }
    }

    #[test]
    fn what_the_key_cannot_decide_goes_to_route() {
        let config = config("reject");
        // No key: a comment may name the tenant, which only `route` reads...
        assert_eq!(decide_key(&config, None, &no_hash), None);
        // ... unless comments are off: then nothing can, and the answer is pass.
        let mut no_comments = config.clone();
        no_comments.comment_key = None;
        assert_eq!(
            decide_key(&no_comments, None, &no_hash),
            Some(Decision::Pass)
        );
        // A value pgDog could not read: another place may still name the tenant.
        let mut unknown = found_one(KeySource::Where, "acme", 0);
        unknown.keys.keys = PlacedKeyValues::One(PlacedKey {
            value: KeyValue::Unknown,
            shard: None,
        });
        assert_eq!(decide_key(&config, Some(&unknown), &no_hash), None);
        // The map names a shard the database lacks: the error names the database, which
        // only `route`'s context knows.
        let lost = found_one(KeySource::Where, "lost", 0);
        assert_eq!(decide_key(&config, Some(&lost), &no_hash), None);
    }
}
