//! Cross-shard reads through the real pgdog binary: every query runs through pgDog over
//! two or three shards and directly on one reference database holding all the same rows,
//! and the two results must be identical, row for row and byte for byte.

use std::collections::BTreeSet;

use pgdog::router::hash::{shard_for, KeyType, KeyValue};
use pgdog_tests::*;

const SCHEMA: &str = "CREATE TABLE orders (id bigint PRIMARY KEY, customer text, region text, \
     amount numeric(10,2), qty integer, score double precision, created timestamptz, note text);\
     CREATE TABLE regions (name text PRIMARY KEY, label text);";

const SHARDED: &str = "[[sharded_tables]]\ndatabase = \"app\"\nname = \"orders\"\ncolumn = \"id\"\ndata_type = \"bigint\"\n";

/// One VALUES row of the test data set.
fn order(id: i64) -> String {
    let regions = ["north", "south", "east", "west"];
    let note = if id % 10 == 0 {
        "NULL".to_string()
    } else {
        format!("'note {}'", id % 13)
    };
    format!(
        "({id}, 'customer {c}', '{r}', {a}.{cents:02}, {q}, {s}, '2024-01-01 00:00:00+00'::timestamptz + interval '{id} hours' * 7, {note})",
        c = id % 17,
        r = regions[(id % 4) as usize],
        a = (id * 37) % 500,
        cents = (id * 11) % 100,
        q = id % 9,
        s = (id as f64) / 8.0,
    )
}

/// Inserts orders 1..=n through pgDog in multi-row INSERTs (split by shard) and directly
/// into the reference database.
async fn load(env: &ShardedEnv, n: i64) {
    let client = connect(&env.url).await;
    let ids: Vec<i64> = (1..=n).collect();
    for chunk in ids.chunks(40) {
        let values: Vec<String> = chunk.iter().map(|id| order(*id)).collect();
        let sql = format!(
            "INSERT INTO orders (id, customer, region, amount, qty, score, created, note) VALUES {}",
            values.join(", ")
        );
        let messages = client.simple_query(&sql).await.unwrap();
        assert_eq!(counts_of(&messages), vec![chunk.len() as u64], "{sql}");
        env.reference.batch_execute(&sql).await.unwrap();
    }
}

const QUERIES: &[&str] = &[
    "SELECT id, customer FROM orders ORDER BY id",
    "SELECT id, amount FROM orders ORDER BY amount DESC, id LIMIT 10 OFFSET 5",
    "SELECT note, id FROM orders ORDER BY note NULLS FIRST, id DESC LIMIT 25",
    "SELECT note, id FROM orders ORDER BY 1 DESC NULLS LAST, 2",
    "SELECT created, id FROM orders ORDER BY created DESC LIMIT 7",
    "SELECT score, id FROM orders ORDER BY score, id OFFSET 290",
    "SELECT region, customer, id FROM orders ORDER BY region, customer DESC, id LIMIT 30",
    "SELECT count(*), sum(amount), min(amount), max(amount), avg(amount) FROM orders",
    "SELECT sum(qty), avg(qty), min(created), max(created), avg(score), sum(score) FROM orders",
    "SELECT count(note), min(note), max(note) FROM orders",
    "SELECT region, count(*), sum(qty), avg(amount), min(created), max(created) FROM orders GROUP BY region ORDER BY region",
    "SELECT region, count(*) FROM orders GROUP BY region ORDER BY 2 DESC, 1 LIMIT 2 OFFSET 1",
    "SELECT region, avg(qty) AS mean FROM orders WHERE qty > 3 GROUP BY region ORDER BY mean, region",
    "SELECT count(*) FROM orders WHERE id IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)",
    "SELECT id FROM orders WHERE id IN (3, 4, 5, 250) ORDER BY id DESC",
    "SELECT count(*) FROM orders WHERE id > 1000",
    "SELECT sum(amount), avg(amount), max(note) FROM orders WHERE id > 1000",
];

async fn compare_all(env: &ShardedEnv) {
    let client = connect(&env.url).await;
    for sql in QUERIES {
        let through = text_rows(&client, sql).await;
        let direct = text_rows(&env.reference, sql).await;
        assert_eq!(through, direct, "{sql}");
    }
    // The command tag counts the merged rows, as PostgreSQL's would.
    let messages = client
        .simple_query("SELECT id FROM orders ORDER BY id LIMIT 12 OFFSET 3")
        .await
        .unwrap();
    assert_eq!(counts_of(&messages), vec![12]);
}

fn shard_of(id: i64, shards: usize) -> usize {
    shard_for(&KeyValue::Int(id), KeyType::BigInt, shards)
}

async fn ids_on(shard: &tokio_postgres::Client) -> BTreeSet<i64> {
    ids_in(shard, "orders").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_return_what_one_server_returns() {
    let env = sharded_env("fan_two", &[None, None], SCHEMA, SHARDED).await;
    load(&env, 300).await;
    for (n, shard) in env.shards.iter().enumerate() {
        let expected: BTreeSet<i64> = (1..=300).filter(|id| shard_of(*id, 2) == n).collect();
        assert_eq!(ids_on(shard).await, expected, "rows of shard {n}");
    }
    compare_all(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_return_what_one_server_returns() {
    let env = sharded_env("fan_three", &[None, None, None], SCHEMA, SHARDED).await;
    load(&env, 300).await;
    for (n, shard) in env.shards.iter().enumerate() {
        let expected: BTreeSet<i64> = (1..=300).filter(|id| shard_of(*id, 3) == n).collect();
        assert!(!expected.is_empty());
        assert_eq!(ids_on(shard).await, expected, "rows of shard {n}");
    }
    compare_all(&env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_be_merged_gets_a_clear_error() {
    let env = sharded_env("fan_refuse", &[None, None], SCHEMA, SHARDED).await;
    load(&env, 20).await;
    let client = connect(&env.url).await;
    for sql in [
        "SELECT count(DISTINCT region) FROM orders",
        "SELECT id FROM orders ORDER BY amount * 2",
        "BEGIN; UPDATE orders SET qty = 0; COMMIT",
    ] {
        let err = client.simple_query(sql).await.unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("0A000"), "{sql}: {err:?}");
    }
    // The session is still usable, in both protocols.
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM orders").await,
        vec![vec![Some("20".to_string())]]
    );
    let row = client
        .query_one("SELECT customer FROM orders WHERE id = $1", &[&7_i64])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "customer 7");
}

/// Every value of a row as text, decoded from tokio-postgres's binary results.
fn typed(row: &tokio_postgres::Row) -> Vec<Option<String>> {
    use tokio_postgres::types::Type;
    (0..row.len())
        .map(|i| match *row.columns()[i].type_() {
            Type::INT8 => row.get::<_, Option<i64>>(i).map(|v| v.to_string()),
            Type::INT4 => row.get::<_, Option<i32>>(i).map(|v| v.to_string()),
            Type::FLOAT8 => row.get::<_, Option<f64>>(i).map(|v| v.to_string()),
            Type::TEXT => row.get::<_, Option<String>>(i),
            Type::TIMESTAMPTZ => row
                .get::<_, Option<std::time::SystemTime>>(i)
                .map(|v| format!("{v:?}")),
            ref other => panic!("no decoder for {other} in this test"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_protocol_merges_binary_rows() {
    let env = sharded_env("fan_ext", &[None, None, None], SCHEMA, SHARDED).await;
    load(&env, 240).await;
    let client = connect(&env.url).await;
    for sql in [
        "SELECT id, customer, score, created FROM orders ORDER BY created DESC, id LIMIT 40",
        "SELECT id, score FROM orders ORDER BY score DESC, id OFFSET 100",
        "SELECT customer, id FROM orders ORDER BY customer, id DESC LIMIT 50 OFFSET 3",
        "SELECT note, id FROM orders ORDER BY note DESC, id LIMIT 30",
        "SELECT region, count(*), sum(qty), min(created), max(score) FROM orders GROUP BY region ORDER BY region",
        "SELECT count(*), max(id), min(customer) FROM orders",
        "SELECT region, avg(score), count(*) FROM orders GROUP BY region ORDER BY 2 DESC LIMIT 3 OFFSET 1",
        "SELECT id FROM orders ORDER BY id OFFSET 200",
    ] {
        let through: Vec<_> = client.query(sql, &[]).await.unwrap().iter().map(typed).collect();
        let direct: Vec<_> = env.reference.query(sql, &[]).await.unwrap().iter().map(typed).collect();
        assert_eq!(through, direct, "{sql}");
    }
    // Bound parameters go to every shard; a prepared statement runs again on the fan.
    let stmt = client
        .prepare("SELECT id, qty FROM orders WHERE qty = $1 ORDER BY id DESC")
        .await
        .unwrap();
    let reference = env
        .reference
        .prepare("SELECT id, qty FROM orders WHERE qty = $1 ORDER BY id DESC")
        .await
        .unwrap();
    for qty in [3_i32, 5, 3] {
        let through: Vec<_> = client
            .query(&stmt, &[&qty])
            .await
            .unwrap()
            .iter()
            .map(typed)
            .collect();
        let direct: Vec<_> = env
            .reference
            .query(&reference, &[&qty])
            .await
            .unwrap()
            .iter()
            .map(typed)
            .collect();
        assert!(!through.is_empty());
        assert_eq!(through, direct, "qty = {qty}");
    }
    // Keyless writes through the extended protocol reach every shard.
    let n = client
        .execute("UPDATE orders SET qty = qty + 1 WHERE qty = $1", &[&8_i32])
        .await
        .unwrap();
    let m = env
        .reference
        .execute("UPDATE orders SET qty = qty + 1 WHERE qty = $1", &[&8_i32])
        .await
        .unwrap();
    assert_eq!(n, m);
    // Inside a transaction that spans shards, too.
    client.batch_execute("BEGIN").await.unwrap();
    let on = |shard: usize| (1..).find(move |id| shard_of(*id, 3) == shard).unwrap();
    for shard in 0..3 {
        client
            .execute("UPDATE orders SET note = 'tx' WHERE id = $1", &[&on(shard)])
            .await
            .unwrap();
    }
    let rows = client
        .query("SELECT id FROM orders WHERE note = 'tx' ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 3);
    client.batch_execute("ROLLBACK").await.unwrap();
    let rows = client
        .query("SELECT id FROM orders WHERE note = 'tx'", &[])
        .await
        .unwrap();
    assert!(rows.is_empty());
}
