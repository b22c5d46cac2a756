//! A `keyed-router` plugin (contract 0.2.3): pgDog looks up the key it asked for in each
//! statement and calls `route-key` with the values, placed on their shards, before
//! `route`; `none` from it falls back to `route`, and a trap in it is handled like one in
//! `route`. The plugin is `tests/plugins/chaos` with `"key": "k"`, whose `route-key`
//! refuses with what it was given, so the client sees exactly what the plugin saw.

use pgdog_tests::{
    connect, describe, first_value, placed_integer_key, plugin_toml, plugin_wasm, sharded_env,
    sqlstate,
};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

/// The message of the error `sql` ends with, after checking its SQLSTATE.
async fn refusal(client: &Client, sql: &str, params: &[&(dyn ToSql + Sync)], code: &str) -> String {
    let err = client
        .query(sql, params)
        .await
        .expect_err("the plugin refuses it");
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some(code),
        "{sql}: {}",
        describe(&err)
    );
    err.as_db_error().unwrap().message().to_string()
}

#[tokio::test]
async fn route_key_gets_the_placed_key_and_falls_back_to_route() {
    let block = plugin_toml(
        "chaos",
        &plugin_wasm("chaos-plugin"),
        r#"key = "k""#,
        r#"on_error = "fail_closed""#,
    );
    let env = sharded_env(
        "plug_keyed",
        &[None, None, None],
        "CREATE TABLE t (k bigint, v text)",
        &block,
    )
    .await;
    let client = connect(&env.url).await;
    let placed = |k: i64| placed_integer_key(k, 3);

    // A bound parameter in WHERE, resolved and hashed by pgDog before the call.
    let answer = refusal(&client, "SELECT v FROM t WHERE k = $1", &[&7i64], "P0001").await;
    assert_eq!(
        answer,
        format!(
            "route-key: FoundKey {{ source: KeySource::Where, keys: PlacedKeys {{ \
             shard-count: 3, keys: PlacedKeyValues::One({}) }} }}",
            placed(7)
        )
    );
    // INSERT rows, when WHERE does not name the column.
    let answer = refusal(
        &client,
        "INSERT INTO t (v, k) VALUES ('a', 5), ('b', 6)",
        &[],
        "P0001",
    )
    .await;
    assert_eq!(
        answer,
        format!(
            "route-key: FoundKey {{ source: KeySource::Insert, keys: PlacedKeys {{ \
             shard-count: 3, keys: PlacedKeyValues::Many([{}, {}]) }} }}",
            placed(5),
            placed(6)
        )
    );

    // No key: `route` decides (chaos passes a statement without orders), and the
    // statement runs.
    assert_eq!(first_value(&client, "SELECT 40 + 2").await, "42");
    // `route-key` answers none for k = 0: `route` gets the whole statement, and obeys its
    // comment.
    let answer = refusal(
        &client,
        "/* chaos: keys integer */ SELECT v FROM t WHERE k = 0",
        &[],
        "P0001",
    )
    .await;
    assert!(answer.starts_with("keys: where=Some("), "{answer}");

    // A trap in `route-key` is a plugin failure like any other: refused under
    // fail_closed, the instance replaced, and the next statement served.
    let answer = refusal(&client, "SELECT v FROM t WHERE k = 666", &[], "58000").await;
    assert!(answer.contains("trapped"), "{answer}");
    let answer = refusal(&client, "SELECT v FROM t WHERE k = 8", &[], "P0001").await;
    assert!(answer.contains(&placed(8)), "{answer}");
}

#[tokio::test]
async fn a_keyed_plugin_that_names_no_key_is_only_asked_through_route() {
    // Without "key", chaos's `key-request` names none: pgDog never calls `route-key`
    // (which would refuse), so a statement on k reaches `route`, which passes it, and the
    // built-in sharding places it by k: the row written is the row read back.
    let block = plugin_toml("chaos", &plugin_wasm("chaos-plugin"), "", "");
    let env = sharded_env(
        "plug_keyless",
        &[None, None],
        "CREATE TABLE t (k bigint, v text)",
        &format!("[[sharded_tables]]\ndatabase = \"app\"\nname = \"t\"\ncolumn = \"k\"\ndata_type = \"bigint\"\n\n{block}"),
    )
    .await;
    let client = connect(&env.url).await;
    client
        .execute("INSERT INTO t (k, v) VALUES (7, 'seven')", &[])
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    let rows = client
        .query("SELECT v FROM t WHERE k = $1", &[&7i64])
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, String>(0), "seven");
}
