//! Routing decisions for real SQL against a two- or three-shard configuration.

use super::*;
use crate::config::{Mapping, ShardedTable};
use crate::router::summarize::summarize;

fn sharding(shards: usize) -> Sharding {
    Sharding {
        shards,
        tables: vec![ShardedTable {
            database: "app".into(),
            name: Some("users".into()),
            column: "id".into(),
            data_type: KeyType::BigInt,
            mapping: vec![],
            default_shard: None,
        }],
    }
}

fn route(s: &Sharding, sql: &str, params: &Params) -> Result<Route, ErrorResponse> {
    s.route(&summarize(sql)[0], params, None)
}

fn shard(key: i64, shards: usize) -> usize {
    shard_for(&KeyValue::Int(key), KeyType::BigInt, shards)
}

#[test]
fn point_queries_go_to_the_key_shard() {
    let s = sharding(3);
    for key in [1_i64, 2, 3, 42, -7, 1 << 40] {
        let r = route(
            &s,
            &format!("SELECT * FROM users WHERE id = {key}"),
            &Params::default(),
        )
        .unwrap();
        assert_eq!(r.shards, Shards::Set(vec![shard(key, 3)]));
        assert!(!r.write);
    }
    let r = route(
        &s,
        "UPDATE users SET x = 1 WHERE id = 5",
        &Params::default(),
    )
    .unwrap();
    assert_eq!(r.shards, Shards::Set(vec![shard(5, 3)]));
    assert!(r.write);
}

#[test]
fn in_lists_and_parameters() {
    let s = sharding(3);
    let r = route(
        &s,
        "SELECT * FROM users u WHERE u.id IN (1, 2, 3, 4, 5, 6)",
        &Params::default(),
    )
    .unwrap();
    let mut expected: Vec<usize> = (1..=6).map(|k| shard(k, 3)).collect();
    expected.sort();
    expected.dedup();
    assert_eq!(r.shards, Shards::Set(expected));

    let text = Params {
        values: vec![Some(b"42".to_vec())],
        formats: vec![],
    };
    let binary = Params {
        values: vec![Some(42_i64.to_be_bytes().to_vec())],
        formats: vec![1],
    };
    for params in [text, binary] {
        let r = route(&s, "SELECT * FROM users WHERE id = $1", &params).unwrap();
        assert_eq!(r.shards, Shards::Set(vec![shard(42, 3)]));
    }
}

#[test]
fn without_a_key() {
    let s = sharding(2);
    let none = Params::default();
    assert_eq!(
        route(&s, "SELECT * FROM users", &none).unwrap().shards,
        Shards::All
    );
    assert_eq!(
        route(&s, "DELETE FROM users", &none).unwrap().shards,
        Shards::All
    );
    assert_eq!(
        route(&s, "SELECT * FROM countries", &none).unwrap().shards,
        Shards::Any
    );
    assert_eq!(route(&s, "SELECT 1", &none).unwrap().shards, Shards::Any);
    let w = route(&s, "INSERT INTO countries (code) VALUES ('fr')", &none).unwrap();
    assert_eq!((w.shards, w.write), (Shards::All, true));
    assert_eq!(
        route(&s, "CREATE TABLE t (id int)", &none).unwrap().shards,
        Shards::All
    );
    assert_eq!(
        route(&s, "SELEC broken", &none).unwrap().shards,
        Shards::Any
    );
}

#[test]
fn inserts_split_by_row() {
    let s = sharding(3);
    let r = route(
        &s,
        "INSERT INTO users (name, id) VALUES ('a', 1), ('b', 2), ('c', 3)",
        &Params::default(),
    )
    .unwrap();
    let mut expected: Vec<usize> = (1..=3).map(|k| shard(k, 3)).collect();
    expected.sort();
    expected.dedup();
    assert_eq!(r.shards, Shards::Set(expected));
    let err = route(
        &s,
        "INSERT INTO users (name) VALUES ('a')",
        &Params::default(),
    )
    .unwrap_err();
    assert_eq!(err.code, "0A000");
    let err = route(
        &s,
        "INSERT INTO users (id) VALUES (random())",
        &Params::default(),
    )
    .unwrap_err();
    assert_eq!(err.code, "0A000");
}

#[test]
fn manual_overrides() {
    let s = sharding(3);
    let none = Params::default();
    let r = route(&s, "/* pgdog_shard: 2 */ SELECT * FROM users", &none).unwrap();
    assert_eq!(r.shards, Shards::Set(vec![2]));
    let r = route(
        &s,
        "/* pgdog_sharding_key: 42 */ SELECT * FROM anything",
        &none,
    )
    .unwrap();
    assert_eq!(r.shards, Shards::Set(vec![shard(42, 3)]));
    let err = route(&s, "/* pgdog_shard: 9 */ SELECT 1", &none).unwrap_err();
    assert_eq!(err.code, "22023");
    let stmt = &summarize("SELECT * FROM users")[0];
    let r = s.route(stmt, &none, Some(&Override::Shard(1))).unwrap();
    assert_eq!(r.shards, Shards::Set(vec![1]));
    let stmt = &summarize("/* pgdog_shard: 0 */ SELECT * FROM users")[0];
    let r = s.route(stmt, &none, Some(&Override::Shard(1))).unwrap();
    assert_eq!(
        r.shards,
        Shards::Set(vec![0]),
        "the comment beats the session setting"
    );
}

#[test]
fn list_and_range_mappings() {
    let mut s = sharding(3);
    s.tables[0].mapping = vec![
        Mapping {
            values: vec![MappingValue::Int(7), MappingValue::Int(8)],
            start: None,
            end: None,
            shard: 2,
        },
        Mapping {
            values: vec![],
            start: Some(MappingValue::Int(100)),
            end: Some(MappingValue::Int(200)),
            shard: 1,
        },
    ];
    s.tables[0].default_shard = Some(0);
    let at = |key: i64| {
        route(
            &s,
            &format!("SELECT * FROM users WHERE id = {key}"),
            &Params::default(),
        )
        .unwrap()
        .shards
    };
    assert_eq!(at(7), Shards::Set(vec![2]));
    assert_eq!(at(150), Shards::Set(vec![1]));
    assert_eq!(at(200), Shards::Set(vec![0]), "range end is exclusive");
    assert_eq!(at(5), Shards::Set(vec![0]), "default shard");
}

#[test]
fn comment_syntax() {
    assert_eq!(comment_override("pgdog_shard: 3"), Some(Override::Shard(3)));
    assert_eq!(
        comment_override("app=x, pgdog_sharding_key: 'abc'"),
        Some(Override::Key("abc".into()))
    );
    assert_eq!(comment_override("nothing here"), None);
}
