//! What a wasm plugin reads through the contract's `statement` and `context` resources,
//! method by method, for real statements sent by a real client. The plugin
//! (`tests/plugins/chaos`, order `fields`) uses the raw WIT bindings and answers with one
//! row per method, so each row is exactly what any plugin would see.

use std::collections::BTreeMap;

use pgdog_tests::{describe, plugin_toml, plugin_wasm, sqlstate, ProxyEnv};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, SimpleQueryMessage};

async fn fields(client: &Client, sql: &str) -> BTreeMap<String, String> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)));
    messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some((
                row.get(0).unwrap().to_string(),
                row.get(1).unwrap().to_string(),
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_statement_and_context_method_reports_the_query() {
    let block = plugin_toml("chaos", &plugin_wasm("chaos-plugin"), "", "");
    let env = ProxyEnv::shared("plug_contract", |c| c.raw(&block)).await;
    let client = env.client().await;

    let sql = "/* chaos: fields */ SELECT o.id, lower(o.note) AS note FROM app.orders o \
               WHERE o.k = 7 AND region IN ('eu', $1) ORDER BY 2 DESC LIMIT 5 OFFSET 10";
    let select = fields(&client, sql).await;
    assert_eq!(select.len(), 26, "{select:#?}");
    assert_eq!(select["sql"], sql);
    assert_eq!(select["command"], "Command::Select");
    assert_eq!(
        select["tables"],
        r#"[Table { schema: Some("app"), name: "orders", alias: Some("o"), written: false }]"#
    );
    assert_eq!(
        select["predicates"],
        r#"[Predicate { qualifier: Some("o"), column: "k", values: [Value::Integer(7)] }, Predicate { qualifier: None, column: "region", values: [Value::Text("eu"), Value::Param(1)] }]"#
    );
    // The narrow question gives the same values as the full list.
    assert_eq!(select["predicate-values k"], "Some([Value::Integer(7)])");
    assert_eq!(select["insert"], "None");
    assert_eq!(select["insert-values k"], "None");
    assert_eq!(
        select["order-by"],
        "[OrderBy { key: SortKey::Position(2), descending: true, nulls-first: true }]"
    );
    assert_eq!(select["limit"], "Some(Value::Integer(5))");
    assert_eq!(select["offset"], "Some(Value::Integer(10))");
    assert_eq!(select["targets"], r#"["id", "note"]"#);
    assert_eq!(select["functions"], r#"["lower"]"#);
    assert_eq!(select["writes"], "false");
    assert_eq!(select["read-only-transaction"], "false");
    assert_eq!(select["comment"], r#"Some("chaos: fields")"#);
    assert_eq!(select["set"], "None");
    assert_eq!(select["copy"], "None");
    assert_eq!(select["parse-error"], "None");
    assert_eq!(select["has-where"], "true");
    assert_eq!(select["database"], env.tenant.database);
    assert_eq!(select["user"], env.tenant.user);
    assert_eq!(select["shards"], "1");
    assert_eq!(select["has-replicas"], "false");
    assert_eq!(select["in-transaction"], "false");
    // A simple query binds nothing.
    assert_eq!(select["params"], "[]");
    assert_eq!(select["param 1"], "None");

    let insert = fields(
        &client,
        "/* chaos: fields */ INSERT INTO t (id, k) VALUES (1, 'a'), (2, $1), (3, NULL)",
    )
    .await;
    assert_eq!(insert["command"], "Command::Insert");
    assert_eq!(insert["writes"], "true");
    assert_eq!(
        insert["insert"],
        r#"Some(Insert { columns: ["id", "k"], rows: [[Value::Integer(1), Value::Text("a")], [Value::Integer(2), Value::Param(1)], [Value::Integer(3), Value::Null]] })"#
    );
    assert_eq!(
        insert["insert-values k"],
        r#"Some([Value::Text("a"), Value::Param(1), Value::Null])"#
    );
    assert_eq!(insert["predicate-values k"], "None");
    assert_eq!(insert["has-where"], "false");

    // A row too short to reach the column (PostgreSQL refuses it later) has no value
    // there; no column list means no column can be found.
    let short = fields(
        &client,
        "/* chaos: fields */ INSERT INTO t (id, k) VALUES (1)",
    )
    .await;
    assert_eq!(short["insert-values k"], "Some([Value::Expression])");
    let unnamed = fields(&client, "/* chaos: fields */ INSERT INTO t VALUES (1, 'a')").await;
    assert_eq!(unnamed["insert-values k"], "None");

    client.batch_execute("BEGIN").await.unwrap();
    let set = fields(&client, "/* chaos: fields */ SET LOCAL search_path = app").await;
    assert_eq!(set["command"], "Command::Set");
    assert_eq!(set["in-transaction"], "true");
    assert_eq!(
        set["set"],
        r#"Some(SetCommand { name: "search_path", value: Some("app"), local: true })"#
    );
    client.batch_execute("ROLLBACK").await.unwrap();

    let copy = fields(
        &client,
        "/* chaos: fields */ COPY t (id, k) FROM STDIN WITH (FORMAT csv, HEADER)",
    )
    .await;
    assert_eq!(copy["command"], "Command::CopyFrom");
    assert_eq!(
        copy["copy"],
        r#"Some(CopyOptions { columns: ["id", "k"], csv: true, binary: false, header: true, delimiter: "," })"#
    );

    let broken = fields(&client, "/* chaos: fields */ SELEC 1").await;
    assert_eq!(broken["command"], "Command::Other");
    assert!(
        broken["parse-error"].contains("syntax error"),
        "{}",
        broken["parse-error"]
    );
}

/// What `key-values` answers: the error message of the chaos plugin's `keys` order. With
/// parameters through the extended protocol, without as a simple query.
async fn keys(client: &Client, sql: &str, params: &[&(dyn ToSql + Sync)]) -> String {
    let err = match params {
        [] => client.simple_query(sql).await.map(|_| ()),
        _ => client.query(sql, params).await.map(|_| ()),
    }
    .unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("P0001"),
        "{}",
        describe(&err)
    );
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("{}", describe(&err)));
    db.message().to_string()
}

#[tokio::test]
async fn key_values_are_read_as_the_column_type_with_parameters_bound() {
    let block = plugin_toml("chaos", &plugin_wasm("chaos-plugin"), "", "");
    let env = ProxyEnv::shared("plug_keys", |c| c.raw(&block)).await;
    let client = env.client().await;

    // A bigint bound in binary, text that PostgreSQL's int8 input accepts, NULL, a
    // literal, and an expression pgDog cannot read.
    let integer = keys(
        &client,
        "/* chaos: keys integer */ SELECT k FROM (VALUES (1::int8)) v(k) \
         WHERE k IN ($1, ' 12 ', NULL, 7, abs(1))",
        &[&5i64],
    )
    .await;
    assert_eq!(
        integer,
        "keys: where=Some(KeyValues::Many([KeyValue::Key(ShardKey::Integer(5)), \
         KeyValue::Key(ShardKey::Integer(12)), KeyValue::Null, KeyValue::Key(ShardKey::Integer(7)), \
         KeyValue::Unknown])) insert=None"
    );
    // One value comes without a list; an int4 bound in binary reads too.
    let one = keys(
        &client,
        "/* chaos: keys integer */ SELECT k FROM (VALUES (1)) v(k) WHERE k = $1",
        &[&-3i32],
    )
    .await;
    assert_eq!(
        one,
        "keys: where=Some(KeyValues::One(KeyValue::Key(ShardKey::Integer(-3)))) insert=None"
    );
    // A string bound for a text column; a number that is no integer for an integer one.
    let text = keys(
        &client,
        "/* chaos: keys text */ SELECT k FROM (VALUES ('a')) v(k) WHERE k = $1",
        &[&"acme"],
    )
    .await;
    assert_eq!(
        text,
        r#"keys: where=Some(KeyValues::One(KeyValue::Key(ShardKey::Text("acme")))) insert=None"#
    );
    let not_integer = keys(
        &client,
        "/* chaos: keys integer */ SELECT k FROM (VALUES (1.5)) v(k) WHERE k = '1.5'",
        &[],
    )
    .await;
    assert_eq!(
        not_integer,
        "keys: where=Some(KeyValues::One(KeyValue::Unknown)) insert=None"
    );
    // uuids in any accepted spelling come back canonical.
    let uuid = keys(
        &client,
        "/* chaos: keys uuid */ SELECT 1 WHERE k IN ('{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}', 'nope')",
        &[],
    )
    .await;
    assert_eq!(
        uuid,
        r#"keys: where=Some(KeyValues::Many([KeyValue::Key(ShardKey::Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")), KeyValue::Unknown])) insert=None"#
    );
    // INSERT rows, one value per row; a row too short for the column is unknown.
    let insert = keys(
        &client,
        "/* chaos: keys text */ INSERT INTO t (id, k) VALUES (1, 'a'), (2, 42), (3, NULL), (4)",
        &[],
    )
    .await;
    assert_eq!(
        insert,
        r#"keys: where=None insert=Some(KeyValues::Many([KeyValue::Key(ShardKey::Text("a")), KeyValue::Key(ShardKey::Text("42")), KeyValue::Null, KeyValue::Unknown]))"#
    );
}

#[tokio::test]
async fn a_plugin_built_against_contract_0_2_0_still_loads() {
    let block = plugin_toml("legacy", &plugin_wasm("legacy-plugin"), "", "");
    let env = ProxyEnv::shared("plug_legacy", |c| c.raw(&block)).await;
    let client = env.client().await;
    let answer = fields_of_row(&client, "/* legacy */ SELECT * FROM t WHERE k = 3").await;
    assert_eq!(
        answer,
        ["pgdog:router@0.2.0", "Some([Value::Integer(3)])", "1"]
    );
    // What it passes reaches the server.
    let passed = fields_of_row(&client, "SELECT 40 + 2").await;
    assert_eq!(passed, ["42"]);
}

/// The columns of the one row a simple query returns, as text.
async fn fields_of_row(client: &Client, sql: &str) -> Vec<String> {
    let messages = client
        .simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", describe(&e)));
    let rows: Vec<Vec<String>> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                (0..row.len())
                    .map(|i| row.get(i).unwrap_or("NULL").to_string())
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows.into_iter().next().unwrap_or_default()
}

#[tokio::test]
async fn placed_keys_carry_the_shard_pgdogs_hash_gives_each_value() {
    use pgdog::router::hash::{shard_for, KeyType, KeyValue};
    use pgdog_tests::{connect, sharded_env};
    let block = plugin_toml("chaos", &plugin_wasm("chaos-plugin"), "", "");
    let env = sharded_env(
        "plug_placed",
        &[None, None, None],
        "CREATE TABLE t (k bigint)",
        &block,
    )
    .await;
    let client = connect(&env.url).await;
    let integer = |k: i64| shard_for(&KeyValue::Int(k), KeyType::BigInt, 3);
    // The keys land on more than one shard, so a wrong shard count or hash shows.
    let ids = [1i64, 2, 3, 4, 5];
    assert!(ids.iter().any(|&k| integer(k) != integer(1)));
    let placed = |k: i64| pgdog_tests::placed_integer_key(k, 3);
    let answer = keys(
        &client,
        "/* chaos: placed integer */ SELECT k FROM t WHERE k IN ($1, 2, ' 3 ', 4, 5, NULL, abs(1))",
        &[&1i64],
    )
    .await;
    let expected_keys: Vec<String> = ids.iter().map(|&k| placed(k)).collect();
    let expected_shards: Vec<String> = ids
        .iter()
        .map(|&k| format!("Some({})", integer(k)))
        .collect();
    assert_eq!(
        answer,
        format!(
            "placed: Some(PlacedKeys {{ shard-count: 3, keys: PlacedKeyValues::Many([{}, \
             PlacedKey {{ value: KeyValue::Null, shard: None }}, \
             PlacedKey {{ value: KeyValue::Unknown, shard: None }}]) }}) \
             shard-for=[{}, None, None]",
            expected_keys.join(", "),
            expected_shards.join(", ")
        )
    );
    // Text and uuid keys hash as their types; one value comes without a list.
    let text = keys(
        &client,
        "/* chaos: placed text */ SELECT k FROM t WHERE k = 'acme'",
        &[],
    )
    .await;
    let acme = shard_for(&KeyValue::Text("acme".into()), KeyType::Text, 3);
    assert_eq!(
        text,
        format!(
            "placed: Some(PlacedKeys {{ shard-count: 3, keys: PlacedKeyValues::One(PlacedKey {{ \
             value: KeyValue::Key(ShardKey::Text(\"acme\")), shard: Some({acme}) }}) }}) \
             shard-for=[Some({acme})]"
        )
    );
    let uuid = keys(
        &client,
        "/* chaos: placed uuid */ SELECT k FROM t WHERE k = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'",
        &[],
    )
    .await;
    let canonical = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    let bytes = pgdog::router::hash::KeyValue::parse(canonical, KeyType::Uuid).unwrap();
    let on = shard_for(&bytes, KeyType::Uuid, 3);
    assert!(
        uuid.contains(&format!(
            "ShardKey::Uuid(\"{canonical}\")), shard: Some({on}) }}"
        )) && uuid.ends_with(&format!("shard-for=[Some({on})]")),
        "{uuid}"
    );
    // No predicate on the column: none.
    let none = keys(&client, "/* chaos: placed integer */ SELECT 1", &[]).await;
    assert_eq!(none, "placed: None shard-for=[]");
}
