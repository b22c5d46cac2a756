//! Writes across shards through the real pgdog binary: DDL and unsharded writes reach
//! every shard, multi-row INSERT and COPY FROM STDIN are split by shard, COPY TO STDOUT
//! collects from all, and transactions that span shards commit and roll back everywhere.

use std::collections::BTreeSet;

use pgdog::router::hash::{shard_for, KeyType, KeyValue};
use pgdog_tests::*;
use tokio_postgres::Client;

const SCHEMA: &str = "CREATE TABLE users (id bigint PRIMARY KEY, name text, team text);";
const SHARDED: &str = "[[sharded_tables]]\ndatabase = \"app\"\nname = \"users\"\ncolumn = \"id\"\ndata_type = \"bigint\"\n";

fn shard_of(id: i64, shards: usize) -> usize {
    shard_for(&KeyValue::Int(id), KeyType::BigInt, shards)
}

async fn ids_on(shard: &tokio_postgres::Client) -> BTreeSet<i64> {
    ids_in(shard, "users").await
}

async fn assert_placed(env: &ShardedEnv, ids: &BTreeSet<i64>) {
    let n = env.shards.len();
    for (i, shard) in env.shards.iter().enumerate() {
        let expected: BTreeSet<i64> = ids
            .iter()
            .copied()
            .filter(|id| shard_of(*id, n) == i)
            .collect();
        assert_eq!(ids_on(shard).await, expected, "rows of shard {i}");
    }
}

/// A single-row INSERT through the simple protocol.
async fn insert(client: &Client, id: i64, name: &str) -> Result<(), tokio_postgres::Error> {
    client
        .simple_query(&format!(
            "INSERT INTO users (id, name) VALUES ({id}, '{name}')"
        ))
        .await
        .map(|_| ())
}

fn psql_ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_and_copy_land_where_postgres_hashing_puts_them() {
    let env = sharded_env("fanw_place", &[None, None, None], SCHEMA, SHARDED).await;
    let client = connect(&env.url).await;
    // One multi-row INSERT spanning every shard, with RETURNING.
    let values: Vec<String> = (1..=30)
        .map(|id| format!("({id}, 'user {id}', 'a')"))
        .collect();
    let messages = client
        .simple_query(&format!(
            "INSERT INTO users (id, name, team) VALUES {} RETURNING id",
            values.join(", ")
        ))
        .await
        .unwrap();
    assert_eq!(counts_of(&messages), vec![30]);
    let returned: BTreeSet<i64> = rows_of(&messages)
        .into_iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(returned, (1..=30).collect());

    // COPY in text format, and CSV with a header, a custom delimiter and quoted fields
    // holding the delimiter, quotes and newlines.
    let mut script = String::from("COPY users (id, name, team) FROM STDIN;\n");
    for id in 31..=60 {
        script.push_str(&format!("{id}\tuser\\t{id}\tb\n"));
    }
    script.push_str("\\.\n");
    script.push_str("COPY users (name, id, team) FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ';');\nname;id;team\n");
    for id in 61..=90 {
        script.push_str(&format!("\"quoted; \"\"{id}\"\"\nline two\";{id};c\n"));
    }
    script.push_str("\\.\n");
    psql_ok(&run_psql(&env.url, &script).await);
    let ids: BTreeSet<i64> = (1..=90).collect();
    assert_placed(&env, &ids).await;
    let name: String = env.shards[shard_of(70, 3)]
        .query_one("SELECT name FROM users WHERE id = 70", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "quoted; \"70\"\nline two");
    let name: String = env.shards[shard_of(33, 3)]
        .query_one("SELECT name FROM users WHERE id = 33", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(name, "user\t33");

    // COPY TO STDOUT collects every shard's rows (one CSV header).
    let out = psql_ok(
        &run_psql(
            &env.url,
            "COPY users TO STDOUT WITH (FORMAT csv, HEADER true);\n",
        )
        .await,
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("id,name,team"));
    let copied: BTreeSet<i64> = lines
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .collect();
    assert_eq!(copied, ids);

    // A bad key fails the whole COPY: nothing lands anywhere.
    let out = run_psql(
        &env.url,
        "COPY users (id, name, team) FROM STDIN;\n500\tx\ty\nnot-a-number\tx\ty\n\\.\n",
    )
    .await;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sharding key"),
        "{out:?}"
    );
    assert_placed(&env, &ids).await;
    // A COPY that does not name the key column is refused up front.
    let out = run_psql(&env.url, "COPY users FROM STDIN;\n1\tx\ty\n\\.\n").await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must list its columns"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_and_keyless_writes_reach_every_shard() {
    let env = sharded_env("fanw_ddl", &[None, None], SCHEMA, SHARDED).await;
    let client = connect(&env.url).await;
    client
        .simple_query("CREATE TABLE teams (name text PRIMARY KEY, size integer)")
        .await
        .unwrap();
    let messages = client
        .simple_query("INSERT INTO teams VALUES ('a', 1), ('b', 2)")
        .await
        .unwrap();
    // An unsharded table is copied on every shard; the client sees one INSERT of 2 rows.
    assert_eq!(counts_of(&messages), vec![2]);
    for shard in &env.shards {
        let n: i64 = shard
            .query_one("SELECT count(*) FROM teams", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 2);
    }
    // Reads of an unsharded table go to one shard.
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM teams").await,
        vec![vec![Some("2".into())]]
    );

    let values: Vec<String> = (1..=20).map(|id| format!("({id}, 'u{id}', 'x')")).collect();
    client
        .simple_query(&format!(
            "INSERT INTO users (id, name, team) VALUES {}",
            values.join(",")
        ))
        .await
        .unwrap();
    let messages = client
        .simple_query("UPDATE users SET team = 'y' WHERE id > 5")
        .await
        .unwrap();
    assert_eq!(counts_of(&messages), vec![15]);
    let messages = client
        .simple_query("DELETE FROM users WHERE team = 'x'")
        .await
        .unwrap();
    assert_eq!(counts_of(&messages), vec![5]);
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM users").await,
        vec![vec![Some("15".into())]]
    );

    // A write that fails on one shard fails on all: pgDog wrapped it in a transaction.
    env.shards[shard_of(3, 2)]
        .batch_execute("INSERT INTO users VALUES (1003, 'only here', 'z')")
        .await
        .unwrap();
    let ids_before: Vec<BTreeSet<i64>> =
        futures_util::future::join_all(env.shards.iter().map(ids_on)).await;
    let other = (1000..1100)
        .find(|id| shard_of(*id, 2) != shard_of(1003, 2))
        .unwrap();
    let err = client
        .simple_query(&format!(
            "INSERT INTO users (id, name, team) VALUES ({other}, 'a', 'b'), (1003, 'dup', 'b')"
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("23505"));
    let ids_after: Vec<BTreeSet<i64>> =
        futures_util::future::join_all(env.shards.iter().map(ids_on)).await;
    assert_eq!(
        ids_before, ids_after,
        "no shard kept part of the failed INSERT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_spanning_shards_commit_and_roll_back_everywhere() {
    let env = sharded_env("fanw_tx", &[None, None], SCHEMA, SHARDED).await;
    let client = connect(&env.url).await;
    let a = (1..).find(|id| shard_of(*id, 2) == 0).unwrap();
    let b = (1..).find(|id| shard_of(*id, 2) == 1).unwrap();
    let c = (a + 1..).find(|id| shard_of(*id, 2) == 0).unwrap();
    let d = (b + 1..).find(|id| shard_of(*id, 2) == 1).unwrap();

    client.simple_query("BEGIN").await.unwrap();
    insert(&client, a, "a").await.unwrap();
    insert(&client, b, "b").await.unwrap();
    // Inside the transaction a cross-shard read sees both uncommitted rows.
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM users").await,
        vec![vec![Some("2".into())]]
    );
    // Not yet visible outside it.
    assert!(ids_on(&env.shards[1]).await.is_empty());
    client.simple_query("COMMIT").await.unwrap();
    assert_eq!(ids_on(&env.shards[0]).await, BTreeSet::from([a]));
    assert_eq!(ids_on(&env.shards[1]).await, BTreeSet::from([b]));

    client.simple_query("BEGIN").await.unwrap();
    insert(&client, c, "c").await.unwrap();
    insert(&client, d, "d").await.unwrap();
    client.simple_query("ROLLBACK").await.unwrap();
    assert_eq!(ids_on(&env.shards[0]).await, BTreeSet::from([a]));
    assert_eq!(ids_on(&env.shards[1]).await, BTreeSet::from([b]));

    // An error on one shard fails the whole transaction; COMMIT rolls back everywhere.
    client.simple_query("BEGIN").await.unwrap();
    insert(&client, c, "c").await.unwrap();
    let err = client
        .simple_query(&format!(
            "INSERT INTO users (id, name) VALUES ({b}, 'duplicate')"
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("23505"));
    let err = client
        .simple_query("SELECT count(*) FROM users")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("25P02"));
    client.simple_query("COMMIT").await.unwrap();
    assert_eq!(ids_on(&env.shards[0]).await, BTreeSet::from([a]));
    // The session goes on normally afterwards, in both protocols.
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM users").await,
        vec![vec![Some("2".into())]]
    );
    let row = client
        .query_one("SELECT name FROM users WHERE id = $1", &[&b])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_statement_queries_run_each_statement_on_its_shards() {
    let env = sharded_env("fanw_multi", &[None, None], SCHEMA, SHARDED).await;
    let client = connect(&env.url).await;
    let a = (1..).find(|id| shard_of(*id, 2) == 0).unwrap();
    let b = (1..).find(|id| shard_of(*id, 2) == 1).unwrap();
    let c = (a + 1..).find(|id| shard_of(*id, 2) == 0).unwrap();
    let messages = client
        .simple_query(&format!(
            "INSERT INTO users (id, name) VALUES ({a}, 'a'); INSERT INTO users (id, name) VALUES ({b}, 'b')"
        ))
        .await
        .unwrap();
    assert_eq!(counts_of(&messages), vec![1, 1]);
    assert_eq!(ids_on(&env.shards[0]).await, BTreeSet::from([a]));
    assert_eq!(ids_on(&env.shards[1]).await, BTreeSet::from([b]));

    // Reads in one string: each result set merged on its own.
    let messages = client
        .simple_query(&format!(
            "SELECT count(*) FROM users; SELECT name FROM users WHERE id = {b}; SELECT id FROM users ORDER BY id DESC"
        ))
        .await
        .unwrap();
    let mut ids = [a, b];
    ids.sort_unstable_by(|x, y| y.cmp(x));
    let mut expected = vec![vec![Some("2".to_string())], vec![Some("b".to_string())]];
    expected.extend(ids.iter().map(|id| vec![Some(id.to_string())]));
    assert_eq!(rows_of(&messages), expected);

    // Like PostgreSQL's implicit transaction: a failing statement undoes the ones before.
    let err = client
        .simple_query(&format!(
            "INSERT INTO users (id, name) VALUES ({c}, 'c'); INSERT INTO users (id, name) VALUES ({b}, 'dup')"
        ))
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("23505"));
    assert_eq!(ids_on(&env.shards[0]).await, BTreeSet::from([a]));
    assert_eq!(
        text_rows(&client, "SELECT count(*) FROM users").await,
        vec![vec![Some("2".into())]]
    );
}
