//! Routing by shard through the real pgdog binary: two shards (two databases on the
//! shared server), a table sharded by a bigint key, real clients.

use std::collections::BTreeSet;

use pgdog::router::hash::{shard_for, KeyType, KeyValue};
use pgdog_tests::*;
use tokio_postgres::Client;

struct Sharded {
    pgdog: Pgdog,
    url: String,
    shards: Vec<Client>,
}

/// A database `app` with shards on two databases, `users` sharded by `id`.
async fn sharded(prefix: &str) -> Sharded {
    let server = shared_server().await;
    let tenant = server.tenant(prefix, PasswordKind::Scram).await;
    let second = format!("{}_s1", tenant.database);
    server.create_database(&second, &tenant.user).await;
    let names = [tenant.database.clone(), second];
    let mut shards = Vec::new();
    for name in &names {
        let c = connect(&server.url(&tenant.user, &tenant.password, name)).await;
        c.batch_execute("CREATE TABLE users (id bigint PRIMARY KEY, name text)")
            .await
            .unwrap();
        shards.push(c);
    }
    let port = free_port();
    let pgdog_toml = format!(
        "[general]\nhost = \"127.0.0.1\"\nport = {port}\ndefault_pool_size = 4\n\n\
         [[databases]]\nname = \"app\"\nhost = \"127.0.0.1\"\nport = {pg}\ndatabase_name = \"{d0}\"\nshard = 0\n\n\
         [[databases]]\nname = \"app\"\nhost = \"127.0.0.1\"\nport = {pg}\ndatabase_name = \"{d1}\"\nshard = 1\n\n\
         [[sharded_tables]]\ndatabase = \"app\"\nname = \"users\"\ncolumn = \"id\"\ndata_type = \"bigint\"\n\n\
         [admin]\nname = \"admin\"\nuser = \"admin\"\npassword = \"admin\"\n",
        pg = server.port(),
        d0 = names[0],
        d1 = names[1],
    );
    let users_toml = format!(
        "[[users]]\nname = \"{}\"\ndatabase = \"app\"\npassword = \"{}\"\n",
        tenant.user, tenant.password
    );
    let pgdog = Pgdog::start(&pgdog_toml, &users_toml).await;
    let url = pgdog.url(&tenant.user, &tenant.password, "app");
    Sharded { pgdog, url, shards }
}

fn shard_of(id: i64) -> usize {
    shard_for(&KeyValue::Int(id), KeyType::BigInt, 2)
}

async fn ids_on(shard: &tokio_postgres::Client) -> BTreeSet<i64> {
    ids_in(shard, "users").await
}

fn sqlstate(err: &tokio_postgres::Error) -> String {
    err.code().map(|c| c.code().to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_land_on_the_shard_postgres_hashing_picks() {
    let env = sharded("shard_rows").await;
    let client = connect(&env.url).await;
    for id in 1..=40_i64 {
        client
            .simple_query(&format!(
                "INSERT INTO users (id, name) VALUES ({id}, 'simple {id}')"
            ))
            .await
            .unwrap();
    }
    for id in 41..=80_i64 {
        client
            .execute(
                "INSERT INTO users (id, name) VALUES ($1, $2)",
                &[&id, &format!("extended {id}")],
            )
            .await
            .unwrap();
    }
    for (n, shard) in env.shards.iter().enumerate() {
        let expected: BTreeSet<i64> = (1..=80).filter(|&id| shard_of(id) == n).collect();
        assert!(!expected.is_empty());
        assert_eq!(ids_on(shard).await, expected, "shard {n}");
    }
    // Reads by key find every row through pgDog, in both protocols.
    for id in 1..=80_i64 {
        let name: String = client
            .query_one("SELECT name FROM users WHERE id = $1", &[&id])
            .await
            .unwrap()
            .get(0);
        assert!(name.ends_with(&format!(" {id}")));
    }
    let rows = client
        .simple_query("SELECT name FROM users WHERE id = 7")
        .await
        .unwrap();
    assert!(rows.iter().any(
        |m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(r) if r.get(0) == Some("simple 7"))
    ));
}

/// `SHOW PARSE_CACHE`'s counter `name`.
async fn parse_cache(env: &Sharded, name: &str) -> u64 {
    let admin = connect(&env.pgdog.url("admin", "admin", "admin")).await;
    let rows = admin.simple_query("SHOW PARSE_CACHE").await.unwrap();
    rows.iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(name)?.parse().ok(),
            _ => None,
        })
        .unwrap_or_else(|| panic!("SHOW PARSE_CACHE has no {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_queries_differing_in_constants_route_by_their_own_values_once_their_shape_is_learned(
) {
    let env = sharded("shard_shapes").await;
    let client = connect(&env.url).await;
    let parses_before = parse_cache(&env, "parses").await;
    for id in 1..=100_i64 {
        client
            .simple_query(&format!(
                "INSERT INTO users (id, name) VALUES ({id}, 'it''s {id}')"
            ))
            .await
            .unwrap();
    }
    for (n, shard) in env.shards.iter().enumerate() {
        let expected: BTreeSet<i64> = (1..=100).filter(|&id| shard_of(id) == n).collect();
        assert_eq!(ids_on(shard).await, expected, "shard {n}");
    }
    // A read routed by any other key than its own finds nothing on that shard.
    for id in 1..=100_i64 {
        let rows = client
            .simple_query(&format!("SELECT name FROM users WHERE id = {id}"))
            .await
            .unwrap();
        let names: Vec<String> = rows
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                _ => None,
            })
            .collect();
        assert_eq!(names, vec![format!("it's {id}")], "id {id}");
    }
    // Two shapes, each parsed three times (its first query; its second query and the
    // shape); the other 196 queries were answered from their shape.
    let parses = parse_cache(&env, "parses").await - parses_before;
    assert!(parses <= 6, "{parses} parses for 200 queries of two shapes");
    assert!(parse_cache(&env, "shape_hits").await >= 196);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_routing_by_comment_and_set() {
    let env = sharded("shard_manual").await;
    let client = connect(&env.url).await;
    let mut dbs = Vec::new();
    for shard in &env.shards {
        let row = shard
            .query_one("SELECT current_database()", &[])
            .await
            .unwrap();
        dbs.push(row.get::<_, String>(0));
    }
    let (d0, d1) = (dbs[0].clone(), dbs[1].clone());
    let current = |sql: &'static str| {
        let client = &client;
        async move {
            client
                .query_one(sql, &[])
                .await
                .unwrap()
                .get::<_, String>(0)
        }
    };
    assert_eq!(
        current("/* pgdog_shard: 1 */ SELECT current_database()").await,
        d1
    );
    assert_eq!(
        current("/* pgdog_shard: 0 */ SELECT current_database()").await,
        d0
    );
    client.simple_query("SET pgdog.shard = 1").await.unwrap();
    assert_eq!(current("SELECT current_database()").await, d1);
    assert_eq!(
        current("/* pgdog_shard: 0 */ SELECT current_database()").await,
        d0,
        "a comment beats the session setting"
    );
    let key = (1..100_i64).find(|&k| shard_of(k) == 0).unwrap();
    client
        .simple_query(&format!("SET pgdog.sharding_key = '{key}'"))
        .await
        .unwrap();
    assert_eq!(current("SELECT current_database()").await, d0);
    client
        .simple_query("RESET pgdog.sharding_key")
        .await
        .unwrap();
    let err = client
        .simple_query("/* pgdog_shard: 5 */ SELECT 1")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "22023");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_and_roll_back_on_their_shard() {
    let env = sharded("shard_tx").await;
    let client = connect(&env.url).await;
    let on0 = (1..100_i64).find(|&k| shard_of(k) == 0).unwrap();
    let on1 = (1..100_i64).find(|&k| shard_of(k) == 1).unwrap();

    client
        .batch_execute(&format!(
            "BEGIN; INSERT INTO users (id, name) VALUES ({on1}, 'kept'); COMMIT"
        ))
        .await
        .unwrap();
    assert!(ids_on(&env.shards[1]).await.contains(&on1));

    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute("INSERT INTO users (id, name) VALUES ($1, 'gone')", &[&on0])
        .await
        .unwrap();
    // Visible inside the transaction, through the same shard.
    let seen = client
        .query("SELECT 1 FROM users WHERE id = $1", &[&on0])
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    client.batch_execute("ROLLBACK").await.unwrap();
    assert!(!ids_on(&env.shards[0]).await.contains(&on0));

    // Through the extended protocol too, a transaction that reaches the other shard takes
    // it along, and ROLLBACK undoes both.
    let other = (on1 + 1..).find(|&k| shard_of(k) == 1).unwrap();
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute("INSERT INTO users (id, name) VALUES ($1, 'x')", &[&on0])
        .await
        .unwrap();
    client
        .execute("INSERT INTO users (id, name) VALUES ($1, 'y')", &[&other])
        .await
        .unwrap();
    let seen = client
        .query("SELECT id FROM users WHERE id IN ($1, $2)", &[&on0, &other])
        .await
        .unwrap();
    assert_eq!(seen.len(), 2);
    client.batch_execute("ROLLBACK").await.unwrap();
    assert!(!ids_on(&env.shards[0]).await.contains(&on0));
    assert!(!ids_on(&env.shards[1]).await.contains(&other));
    let n: i64 = client
        .query_one(
            "SELECT count(*) FROM users WHERE id IN ($1, $2)",
            &[&on0, &other],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_queries_span_shards() {
    let env = sharded("shard_cross").await;
    let client = connect(&env.url).await;
    for id in 1..=6_i64 {
        client
            .execute("INSERT INTO users (id, name) VALUES ($1, 'n')", &[&id])
            .await
            .unwrap();
    }
    assert!((1..=6).any(|id| shard_of(id) == 0) && (1..=6).any(|id| shard_of(id) == 1));
    let rows = client
        .query(
            "SELECT id FROM users WHERE id IN (1, 2, 3, 4, 5, 6) ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
    let rows = client
        .query(
            "SELECT id FROM users WHERE id = ANY($1) ORDER BY id DESC",
            &[&vec![2_i64, 5]],
        )
        .await
        .unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, vec![5, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_key_lookups_through_two_shards() {
    let env = sharded("shard_bench").await;
    for id in 1..=200_i64 {
        env.shards[shard_of(id)]
            .execute("INSERT INTO users VALUES ($1, 'x')", &[&id])
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lookups.sql");
    std::fs::write(
        &script,
        "\\set id random(1, 200)\nSELECT name FROM users WHERE id = :id;\n",
    )
    .unwrap();
    for mode in ["simple", "extended", "prepared"] {
        let run = run_pgbench(
            &env.url,
            &[
                "-n",
                "-c",
                "4",
                "-j",
                "2",
                "-t",
                "200",
                "-M",
                mode,
                "-f",
                script.to_str().unwrap(),
            ],
        )
        .await;
        assert_eq!(run.failed, 0, "{mode}: {:?}", run.output);
        assert_eq!(
            run.processed,
            800,
            "{mode}: {}",
            String::from_utf8_lossy(&run.output.stderr)
        );
    }
    drop(env.pgdog);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgdog_explain_shows_the_summary_and_route_without_running() {
    let env = sharded("shard_explain").await;
    let client = connect(&env.url).await;
    let explain = |sql: String| {
        let client = &client;
        async move {
            let messages = client.simple_query(&sql).await.unwrap();
            messages
                .iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some((
                        r.get(0).unwrap_or_default().to_string(),
                        r.get(1).unwrap_or_default().to_string(),
                    )),
                    _ => None,
                })
                .collect::<Vec<_>>()
        }
    };
    let key = 42_i64;
    let rows = explain(format!(
        "/* pgdog_explain */ SELECT name FROM users u WHERE u.id = {key}"
    ))
    .await;
    let get = |rows: &[(String, String)], field: &str| {
        rows.iter()
            .find(|(f, _)| f == field)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {field} in {rows:?}"))
    };
    assert_eq!(get(&rows, "command"), "Select");
    assert_eq!(get(&rows, "tables"), "users as u");
    assert_eq!(get(&rows, "predicate"), format!("u.id = any({key})"));
    assert_eq!(
        get(&rows, "route"),
        format!("shards [{}] of 2 (read)", shard_of(key))
    );

    let rows = explain("/* pgdog_explain */ DELETE FROM users".into()).await;
    assert_eq!(get(&rows, "route"), "all 2 shards (write, no sharding key)");

    // Nothing ran: an explained INSERT leaves no row behind, in either protocol.
    explain("/* pgdog_explain */ INSERT INTO users (id, name) VALUES (1, 'no')".into()).await;
    let err = client
        .execute(
            "/* pgdog_explain */ INSERT INTO users (id, name) VALUES ($1, 'no')",
            &[&2_i64],
        )
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err), "0A000");
    for shard in &env.shards {
        assert!(ids_on(shard).await.is_empty());
    }
    // The session goes on normally afterwards.
    client
        .execute("INSERT INTO users (id, name) VALUES ($1, 'yes')", &[&3_i64])
        .await
        .unwrap();
}
