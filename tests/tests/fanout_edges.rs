//! Edge cases of cross-shard sessions, each once a bug: pipelined statements for different
//! shards, batches binding several keys, session mode, SET LOCAL lifetime, savepoints,
//! queries whose results cannot be merged, a failing COPY, cancel across shards.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use pgdog::router::hash::{shard_for, KeyType, KeyValue};
use pgdog_tests::raw::{self, RawConn};
use pgdog_tests::*;

const SCHEMA: &str =
    "CREATE TABLE users (id bigint PRIMARY KEY, name text, city text, since interval);";
const SHARDED: &str = "[[sharded_tables]]\ndatabase = \"app\"\nname = \"users\"\ncolumn = \"id\"\ndata_type = \"bigint\"\n";

fn on(shard: usize) -> impl Iterator<Item = i64> {
    (1..).filter(move |id| shard_for(&KeyValue::Int(*id), KeyType::BigInt, 2) == shard)
}

async fn ids_on(shard: &tokio_postgres::Client) -> BTreeSet<i64> {
    ids_in(shard, "users").await
}

async fn raw(env: &ShardedEnv) -> RawConn {
    RawConn::startup(env.pgdog.port(), &env.user, &env.password, "app")
        .await
        .unwrap()
}

async fn load(env: &ShardedEnv) {
    let client = connect(&env.url).await;
    let values: Vec<String> = (1..=20)
        .map(|id| format!("({id}, 'u{id}', 'c{}', '{id} days')", id % 4))
        .collect();
    client
        .simple_query(&format!(
            "INSERT INTO users (id, name, city, since) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelines_and_multi_bind_batches_route_every_statement() {
    let env = sharded_env("edge_pipe", &[None, None], SCHEMA, SHARDED).await;
    let (a, b) = (on(0).next().unwrap(), on(1).next().unwrap());
    let mut conn = raw(&env).await;
    // Two simple queries for different shards in one write, inside a transaction.
    let mut bytes = raw::query("BEGIN");
    bytes.extend(raw::query(&format!(
        "INSERT INTO users (id, name) VALUES ({a}, 'a')"
    )));
    bytes.extend(raw::query(&format!(
        "INSERT INTO users (id, name) VALUES ({b}, 'b')"
    )));
    bytes.extend(raw::query("COMMIT"));
    conn.send(&bytes).await;
    for _ in 0..4 {
        let replies = tokio::time::timeout(Duration::from_secs(10), conn.until_ready())
            .await
            .expect("pipelined queries for two shards are answered");
        assert!(raw::rows_or_error(replies).is_ok());
    }
    assert_eq!(ids_on(&env.shards[0]).await, BTreeSet::from([a]));
    assert_eq!(ids_on(&env.shards[1]).await, BTreeSet::from([b]));

    // One batch binding an INSERT twice, for keys on different shards: refused whole,
    // nothing lands on the wrong shard.
    let (c, d) = (on(0).nth(1).unwrap(), on(1).nth(1).unwrap());
    let mut bytes = raw::parse("", "INSERT INTO users (id, name) VALUES ($1, 'x')");
    for id in [c, d] {
        bytes.extend(raw::bind("", "", &[Some(&id.to_string())]));
        bytes.extend(raw::execute("", 0));
    }
    bytes.extend(raw::sync());
    conn.send(&bytes).await;
    let err = raw::rows_or_error(conn.until_ready().await).unwrap_err();
    assert_eq!(err.sqlstate().as_deref(), Some("0A000"));
    assert_eq!(ids_on(&env.shards[0]).await, BTreeSet::from([a]));
    assert_eq!(ids_on(&env.shards[1]).await, BTreeSet::from([b]));
    // Keys on the same shard in one batch are fine.
    let e = on(0).nth(2).unwrap();
    let mut bytes = raw::parse("", "INSERT INTO users (id, name) VALUES ($1, 'x')");
    for id in [c, e] {
        bytes.extend(raw::bind("", "", &[Some(&id.to_string())]));
        bytes.extend(raw::execute("", 0));
    }
    bytes.extend(raw::sync());
    conn.send(&bytes).await;
    raw::rows_or_error(conn.until_ready().await).unwrap();
    assert_eq!(ids_on(&env.shards[0]).await, BTreeSet::from([a, c, e]));
    // A row-limited fetch across shards is refused rather than answered wrongly.
    let mut bytes = raw::parse("", "SELECT id FROM users ORDER BY id");
    bytes.extend(raw::bind("", "", &[]));
    bytes.extend(raw::execute("", 2));
    bytes.extend(raw::sync());
    conn.send(&bytes).await;
    let err = raw::rows_or_error(conn.until_ready().await).unwrap_err();
    assert_eq!(err.sqlstate().as_deref(), Some("0A000"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_mode_routes_each_statement_and_set_local_ends_with_its_transaction() {
    let env = sharded_env("edge_session", &[None, None], SCHEMA, SHARDED).await;
    load(&env).await;
    // The harness config is in transaction mode; a second pgDog in session mode.
    let port = free_port();
    let toml = env
        .pgdog_toml
        .replace("[general]\n", "[general]\npooler_mode = \"session\"\n")
        .replace(
            &format!("port = {}\n", env.pgdog.port()),
            &format!("port = {port}\n"),
        );
    let session = Pgdog::start(&toml, &env.users_toml).await;
    let client = connect(&session.url(&env.user, &env.password, "app")).await;
    for id in [on(0).next().unwrap(), on(1).next().unwrap()] {
        let row = client
            .query_one("SELECT name FROM users WHERE id = $1", &[&id])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), format!("u{id}"));
    }
    let n: i64 = client
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 20);
    // SET LOCAL routing lasts one transaction, also when the server stays attached.
    let id = on(0).next().unwrap();
    for sql in ["BEGIN", "SET LOCAL pgdog.shard = 1", "SELECT 1", "COMMIT"] {
        client.batch_execute(sql).await.unwrap();
    }
    let row = client
        .query_one("SELECT name FROM users WHERE id = $1", &[&id])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), format!("u{id}"));
    // SET reaches every shard the session holds.
    client
        .batch_execute("SET TimeZone = 'Asia/Tokyo'")
        .await
        .unwrap();
    let rows = text_rows(
        &client,
        "SELECT DISTINCT current_setting('TimeZone') FROM users",
    )
    .await;
    assert_eq!(rows, vec![vec![Some("Asia/Tokyo".to_string())]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoints_span_shards_and_recover_a_failed_transaction() {
    let env = sharded_env("edge_savepoint", &[None, None], SCHEMA, SHARDED).await;
    let client = connect(&env.url).await;
    let (a, b) = (on(0).next().unwrap(), on(1).next().unwrap());
    let b2 = on(1).nth(1).unwrap();
    client.simple_query("BEGIN").await.unwrap();
    client
        .simple_query(&format!("INSERT INTO users (id, name) VALUES ({a}, 'a')"))
        .await
        .unwrap();
    client.simple_query("SAVEPOINT s1").await.unwrap();
    // Shard 1 joins after the savepoint and still knows it.
    client
        .simple_query(&format!("INSERT INTO users (id, name) VALUES ({b}, 'b')"))
        .await
        .unwrap();
    let err = client
        .simple_query(&format!(
            "INSERT INTO users (id, name) VALUES ({b}, 'again')"
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("23505"));
    client
        .simple_query("ROLLBACK TO SAVEPOINT s1")
        .await
        .unwrap();
    client
        .simple_query(&format!("INSERT INTO users (id, name) VALUES ({b2}, 'b2')"))
        .await
        .unwrap();
    client.simple_query("RELEASE s1").await.unwrap();
    client.simple_query("COMMIT").await.unwrap();
    assert_eq!(ids_on(&env.shards[0]).await, BTreeSet::from([a]));
    assert_eq!(ids_on(&env.shards[1]).await, BTreeSet::from([b2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unmergeable_queries_and_failing_copies_get_errors_not_wrong_answers() {
    let env = sharded_env("edge_refuse", &[None, None], SCHEMA, SHARDED).await;
    load(&env).await;
    let client = connect(&env.url).await;
    for sql in [
        "SELECT count(*) FROM users GROUP BY city",
        "SELECT count(*)::int FROM users",
        "SELECT city FROM users GROUP BY city HAVING count(*) > 5",
        "SELECT string_agg(name, ',') FROM users",
        "SELECT id, row_number() OVER () FROM users",
        "SELECT DISTINCT ON (city) city, id FROM users",
        "SELECT id FROM users ORDER BY since",
    ] {
        let err = client.simple_query(sql).await.unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("0A000"), "{sql}: {err:?}");
    }
    // SELECT DISTINCT folds rows alike across shards.
    let rows = text_rows(&client, "SELECT DISTINCT city FROM users ORDER BY city").await;
    assert_eq!(rows.len(), 4);
    // A COPY that fails on one shard (the table exists only there) ends with an error,
    // not a hang, and the session goes on.
    env.shards[0]
        .batch_execute("CREATE TABLE only_here (id bigint, v text)")
        .await
        .unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(20),
        run_psql(&env.url, "COPY only_here (id, v) FROM STDIN;\n1\tx\n\\.\n"),
    )
    .await
    .expect("a failing COPY across shards ends");
    assert!(!out.status.success());
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM users").await,
        vec![vec![Some("20".into())]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_reaches_every_shard_of_a_transaction() {
    let env = sharded_env("edge_cancel", &[None, None], SCHEMA, SHARDED).await;
    load(&env).await;
    let client = connect(&env.url).await;
    client.simple_query("BEGIN").await.unwrap();
    // The transaction holds both shards; the sleep runs on shard 1.
    client
        .simple_query("SELECT count(*) FROM users")
        .await
        .unwrap();
    let token = client.cancel_token();
    let started = Instant::now();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        token.cancel_query(tokio_postgres::NoTls).await.unwrap();
    });
    let err = client
        .simple_query(&format!(
            "/* pgdog_shard: 1 */ SELECT pg_sleep(10), {}",
            on(1).next().unwrap()
        ))
        .await
        .unwrap_err();
    canceller.await.unwrap();
    assert_eq!(sqlstate(&err).as_deref(), Some("57014"));
    assert!(started.elapsed() < Duration::from_secs(5));
    client.simple_query("ROLLBACK").await.unwrap();
}
