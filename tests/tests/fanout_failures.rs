//! Shards that fail or must stay untouched: a point query reaches one shard only (checked
//! with each shard's pg_stat_statements), and a shard that is down fails the queries that
//! need it while every other query keeps working.

use pgdog::router::hash::{shard_for, KeyType, KeyValue};
use pgdog_tests::*;

const SCHEMA: &str = "CREATE TABLE accounts (id bigint PRIMARY KEY, balance integer);";
const SHARDED: &str = "[[sharded_tables]]\ndatabase = \"app\"\nname = \"accounts\"\ncolumn = \"id\"\ndata_type = \"bigint\"\n";

fn shard_of(id: i64, shards: usize) -> usize {
    shard_for(&KeyValue::Int(id), KeyType::BigInt, shards)
}

async fn load(env: &ShardedEnv, n: i64) {
    let client = connect(&env.url).await;
    let values: Vec<String> = (1..=n).map(|id| format!("({id}, {})", id * 10)).collect();
    client
        .simple_query(&format!(
            "INSERT INTO accounts (id, balance) VALUES {}",
            values.join(", ")
        ))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn point_queries_touch_one_shard_only() {
    let server = PgServer::start_with(&[("shared_preload_libraries", "pg_stat_statements")]).await;
    let env = sharded_env(
        "fanf_stat",
        &[Some(&server), Some(&server)],
        SCHEMA,
        SHARDED,
    )
    .await;
    load(&env, 50).await;
    let su = server.superuser().await;
    su.batch_execute("CREATE EXTENSION pg_stat_statements; SELECT pg_stat_statements_reset()")
        .await
        .unwrap();
    let client = connect(&env.url).await;
    let key = 7_i64;
    for _ in 0..3 {
        text_rows(
            &client,
            &format!("SELECT balance FROM accounts WHERE id = {key}"),
        )
        .await;
        client
            .query_one("SELECT balance + 0 FROM accounts WHERE id = $1", &[&key])
            .await
            .unwrap();
    }
    text_rows(&client, "SELECT sum(balance) FROM accounts").await;
    let locations = &env.locations;
    let calls = |pattern: &'static str| {
        let su = &su;
        async move {
            let mut per_db = Vec::new();
            for (_, db) in locations {
                let row = su
                    .query_one(
                        "SELECT coalesce(sum(s.calls), 0)::bigint FROM pg_stat_statements s \
                         JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1 AND s.query LIKE $2",
                        &[db, &pattern],
                    )
                    .await
                    .unwrap();
                per_db.push(row.get::<_, i64>(0));
            }
            per_db
        }
    };
    let home = shard_of(key, 2);
    let mut expected = vec![0, 0];
    expected[home] = 3;
    assert_eq!(
        calls("SELECT balance FROM accounts WHERE id = %").await,
        expected,
        "simple protocol"
    );
    assert_eq!(
        calls("SELECT balance + % FROM accounts WHERE id = %").await,
        expected,
        "extended protocol"
    );
    // The cross-shard sum ran once on each shard.
    assert_eq!(
        calls("SELECT sum(balance) FROM accounts%").await,
        vec![1, 1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_that_is_down_fails_only_what_needs_it() {
    let mut down = PgServer::start().await;
    let env = sharded_env("fanf_down", &[None, Some(&down), None], SCHEMA, SHARDED).await;
    load(&env, 60).await;
    let client = connect(&env.url).await;
    let on = |shard: usize| (1..).find(move |id| shard_of(*id, 3) == shard).unwrap();
    // The harness runs PostgreSQL with synchronous_commit off: make the rows survive the
    // crash-stop below.
    down.superuser()
        .await
        .batch_execute("CHECKPOINT")
        .await
        .unwrap();
    down.stop();

    for _ in 0..2 {
        for shard in [0, 2] {
            let rows = text_rows(
                &client,
                &format!("SELECT balance FROM accounts WHERE id = {}", on(shard)),
            )
            .await;
            assert_eq!(rows.len(), 1);
            let row = client
                .query_one("SELECT balance FROM accounts WHERE id = $1", &[&on(shard)])
                .await
                .unwrap();
            assert_eq!(row.get::<_, i32>(0) as i64, on(shard) * 10);
        }
        let err = client
            .simple_query(&format!(
                "SELECT balance FROM accounts WHERE id = {}",
                on(1)
            ))
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("08006"), "{err:?}");
        let err = client
            .simple_query("SELECT count(*) FROM accounts")
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("08006"), "{err:?}");
        let err = client
            .query("SELECT balance FROM accounts ORDER BY id", &[])
            .await
            .unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("08006"), "{err:?}");
    }

    down.restart().await;
    let rows = text_rows(
        &client,
        &format!("SELECT balance FROM accounts WHERE id = {}", on(1)),
    )
    .await;
    assert_eq!(rows, vec![vec![Some((on(1) * 10).to_string())]]);
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM accounts").await,
        vec![vec![Some("60".to_string())]]
    );
}
