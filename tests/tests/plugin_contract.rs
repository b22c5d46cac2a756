//! What a wasm plugin reads through the contract's `statement` and `context` resources,
//! method by method, for real statements sent by a real client. The plugin
//! (`tests/plugins/chaos`, order `fields`) uses the raw WIT bindings and answers with one
//! row per method, so each row is exactly what any plugin would see.

use std::collections::BTreeMap;

use pgdog_tests::{describe, plugin_toml, plugin_wasm, ProxyEnv};
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
