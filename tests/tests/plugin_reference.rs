//! The reference plugins in `plugins/`, loaded by pgDog and driven by real clients:
//! tenant-router over two shards, query-guard's refusals and answers, read-write-split over
//! a real streaming replica.

use pgdog_tests::*;
use tokio_postgres::SimpleQueryMessage;

fn code(err: &tokio_postgres::Error) -> String {
    sqlstate(err).unwrap_or_else(|| describe(err))
}

async fn ids(client: &tokio_postgres::Client, sql: &str) -> Vec<i64> {
    text_rows(client, sql)
        .await
        .iter()
        .map(|r| r[0].as_deref().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn tenant_router_routes_by_predicate_insert_and_comment() {
    let block = plugin_toml(
        "tenants",
        &plugin_wasm("tenant-router"),
        "column = \"tenant_id\", tenants = { acme = 0, globex = 1 }, unknown = \"reject\"",
        "",
    );
    let env = sharded_env(
        "plug_tenant",
        &[None, None],
        "CREATE TABLE orders (tenant_id text, id bigint, item text)",
        &block,
    )
    .await;
    // Decoys placed by hand on the wrong shards: a query that reaches them was misrouted.
    env.shards[0]
        .batch_execute("INSERT INTO orders VALUES ('globex', 900, 'decoy')")
        .await
        .unwrap();
    env.shards[1]
        .batch_execute("INSERT INTO orders VALUES ('acme', 901, 'decoy')")
        .await
        .unwrap();
    let client = connect(&env.url).await;
    // INSERT values, simple and extended.
    client
        .batch_execute("INSERT INTO orders (tenant_id, id, item) VALUES ('globex', 1, 'a'), ('globex', 2, 'b')")
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO orders (tenant_id, id, item) VALUES ($1, $2, 'c')",
            &[&"acme", &3i64],
        )
        .await
        .unwrap();
    assert_eq!(
        ids(&env.shards[1], "SELECT id FROM orders ORDER BY id").await,
        [1, 2, 901]
    );
    assert_eq!(
        ids(&env.shards[0], "SELECT id FROM orders ORDER BY id").await,
        [3, 900]
    );
    // WHERE predicates, with a literal and with a bound parameter.
    assert_eq!(
        ids(
            &client,
            "SELECT id FROM orders WHERE tenant_id = 'globex' ORDER BY id"
        )
        .await,
        [1, 2]
    );
    let rows = client
        .query(
            "SELECT id FROM orders WHERE tenant_id = $1 ORDER BY id",
            &[&"acme"],
        )
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.get::<_, i64>(0)).collect::<Vec<_>>(),
        [3]
    );
    // A leading comment.
    assert_eq!(
        ids(
            &client,
            "/* tenant: globex */ SELECT id FROM orders WHERE id < 100 ORDER BY id"
        )
        .await,
        [1, 2]
    );
    // IN over both tenants reaches both shards, merged.
    assert_eq!(
        ids(
            &client,
            "SELECT id FROM orders WHERE tenant_id IN ('acme', 'globex') AND id < 100 ORDER BY id"
        )
        .await,
        [1, 2, 3]
    );
    // An unknown tenant is refused, and rows for two shards in one INSERT too.
    let err = client
        .simple_query("SELECT * FROM orders WHERE tenant_id = 'initech'")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "42704", "{}", describe(&err));
    let err = client
        .simple_query(
            "INSERT INTO orders (tenant_id, id, item) VALUES ('acme', 5, 'x'), ('globex', 6, 'y')",
        )
        .await
        .unwrap_err();
    assert_eq!(code(&err), "0A000", "{}", describe(&err));
    assert_eq!(
        ids(
            &env.shards[0],
            "SELECT count(*) FROM orders WHERE id IN (5, 6)"
        )
        .await,
        [0]
    );
}

#[tokio::test]
async fn tenant_router_hashes_unmapped_integer_tenants_as_integers() {
    use pgdog::router::hash::{shard_for, KeyType, KeyValue};
    let block = plugin_toml(
        "tenants",
        &plugin_wasm("tenant-router"),
        "column = \"aid\", data_type = \"integer\", unknown = \"hash\"",
        "",
    );
    let env = sharded_env(
        "plug_tenant_int",
        &[None, None],
        "CREATE TABLE accounts (aid bigint, n int)",
        &block,
    )
    .await;
    let client = connect(&env.url).await;
    for aid in 1..=24i64 {
        client
            .execute("INSERT INTO accounts (aid, n) VALUES ($1, 0)", &[&aid])
            .await
            .unwrap();
    }
    let integer = |aid: i64| shard_for(&KeyValue::Int(aid), KeyType::BigInt, 2);
    let as_text = |aid: i64| shard_for(&KeyValue::Text(aid.to_string()), KeyType::Text, 2);
    // The keys tell the two hashes apart, so the test sees which one placed them.
    assert!((1..=24).any(|aid| integer(aid) != as_text(aid)));
    for (shard, server) in env.shards.iter().enumerate() {
        let expected: Vec<i64> = (1..=24).filter(|&aid| integer(aid) == shard).collect();
        assert_eq!(
            ids(server, "SELECT aid FROM accounts ORDER BY aid").await,
            expected,
            "shard {shard}"
        );
    }
    // Reads by key find each row where it was put.
    for aid in [1i64, 2, 3, 24] {
        let rows = client
            .query("SELECT aid FROM accounts WHERE aid = $1", &[&aid])
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "aid {aid}");
    }
}

async fn guard_env(prefix: &str) -> ProxyEnv {
    let block = plugin_toml(
        "guard",
        &plugin_wasm("query-guard"),
        "deny_tables = [\"secrets\"], show = { pgdog_guard = { columns = [\"status\", \"since\"], rows = [[\"active\", \"2024-06-01\"]] } }",
        "on_error = \"fail_closed\"",
    );
    let env = ProxyEnv::shared(prefix, |c| c.raw(&block)).await;
    env.direct()
        .await
        .batch_execute(
            "CREATE TABLE items (id int); INSERT INTO items VALUES (1), (2), (3);
             CREATE TABLE secrets (x int)",
        )
        .await
        .unwrap();
    env
}

#[tokio::test]
async fn query_guard_rejects_and_responds() {
    let env = guard_env("plug_guard").await;
    let client = env.client().await;
    let direct = env.direct().await;
    // UPDATE / DELETE without WHERE, in both protocols; nothing changes.
    let err = client
        .simple_query("UPDATE items SET id = id + 10")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "21000", "{}", describe(&err));
    assert!(
        describe(&err).contains("UPDATE requires a WHERE clause"),
        "{}",
        describe(&err)
    );
    let err = client.execute("DELETE FROM items", &[]).await.unwrap_err();
    assert_eq!(code(&err), "21000", "{}", describe(&err));
    assert_eq!(ids(&direct, "SELECT sum(id) FROM items").await, [6]);
    // With a WHERE clause the statement runs.
    assert_eq!(
        client
            .execute("DELETE FROM items WHERE id = $1", &[&1i32])
            .await
            .unwrap(),
        1
    );
    // A denied table: refused before any server.
    let err = client
        .simple_query("SELECT * FROM secrets")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "42501", "{}", describe(&err));
    // SHOW answered by the plugin, through tokio-postgres and psql.
    assert_eq!(
        text_rows(&client, "SHOW pgdog_guard").await,
        [[Some("active".to_string()), Some("2024-06-01".to_string())]]
    );
    let out = run_psql(&env.url(), "SHOW pgdog_guard;\n").await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "active|2024-06-01"
    );
    // Pipelined: the refusal of the second query comes after the first one's rows.
    let (first, second) = tokio::join!(
        client.query("SELECT id FROM items WHERE id > $1 ORDER BY id", &[&0i32]),
        client.query("SELECT * FROM secrets WHERE x = $1", &[&1i32]),
    );
    assert_eq!(first.unwrap().len(), 2);
    assert_eq!(code(&second.unwrap_err()), "42501");
    // Other SHOWs reach the server.
    assert_eq!(
        text_rows(&client, "SHOW client_encoding").await[0][0].as_deref(),
        Some("UTF8")
    );
}

#[tokio::test]
async fn a_rejection_inside_a_transaction_fails_the_transaction() {
    let env = guard_env("plug_guard_txn").await;
    let client = env.client().await;
    client.batch_execute("BEGIN").await.unwrap();
    client
        .batch_execute("INSERT INTO items VALUES (100)")
        .await
        .unwrap();
    let err = client
        .simple_query("UPDATE items SET id = 0")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "21000", "{}", describe(&err));
    // As after any error in a transaction, PostgreSQL refuses what follows and COMMIT
    // rolls back.
    let err = client.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(code(&err), "25P02", "{}", describe(&err));
    let done = client.simple_query("COMMIT").await.unwrap();
    assert!(
        matches!(done.last(), Some(SimpleQueryMessage::CommandComplete(_))),
        "{done:?}"
    );
    assert_eq!(
        ids(
            &env.direct().await,
            "SELECT count(*) FROM items WHERE id = 100"
        )
        .await,
        [0]
    );
    // The connection is fine for the next transaction.
    assert_eq!(ids(&client, "SELECT count(*) FROM items").await, [3]);
    // The same through the extended protocol.
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute("INSERT INTO items VALUES ($1)", &[&200i32])
        .await
        .unwrap();
    let err = client
        .execute("UPDATE items SET id = $1", &[&0i32])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "21000", "{}", describe(&err));
    let err = client
        .execute("SELECT $1::int", &[&1i32])
        .await
        .unwrap_err();
    assert_eq!(code(&err), "25P02", "{}", describe(&err));
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        ids(
            &env.direct().await,
            "SELECT count(*) FROM items WHERE id = 200"
        )
        .await,
        [0]
    );
    assert_eq!(ids(&client, "SELECT count(*) FROM items").await, [3]);
}

#[tokio::test]
async fn read_write_split_sends_listed_functions_to_the_primary() {
    let primary = PgServer::start().await;
    let tenant = primary.tenant("plug_rw", PasswordKind::Scram).await;
    let owner = connect(&primary.url(&tenant.user, &tenant.password, &tenant.database)).await;
    owner
        .batch_execute(
            "CREATE TABLE hits (n int);
             CREATE FUNCTION record_hit() RETURNS bigint LANGUAGE sql
               AS $$ INSERT INTO hits VALUES (1); SELECT count(*) FROM hits $$;",
        )
        .await
        .unwrap();
    let replica = PgServer::replica_of(&primary).await;
    let port = free_port();
    let toml = |plugin: bool| {
        let mut toml = format!(
            "[general]\nhost = \"127.0.0.1\"\nport = {port}\nread_write_split = \"exclude_primary\"\nmin_pool_size = 0\n\n"
        );
        for (role, server_port) in [("primary", primary.port()), ("replica", replica.port())] {
            toml.push_str(&format!(
                "[[databases]]\nname = \"app\"\nhost = \"127.0.0.1\"\nport = {server_port}\ndatabase_name = \"{}\"\nrole = \"{role}\"\n\n",
                tenant.database
            ));
        }
        if plugin {
            toml.push_str(&plugin_toml(
                "split",
                &plugin_wasm("read-write-split"),
                "write_functions = [\"nextval\", \"record_hit\"]",
                "",
            ));
        }
        toml
    };
    let users = format!(
        "[[users]]\nname = \"{}\"\ndatabase = \"app\"\npassword = \"{}\"\n",
        tenant.user, tenant.password
    );
    // Without the plugin, pgDog takes SELECT record_hit() for a read: the replica refuses.
    let builtin = Pgdog::start(&toml(false), &users).await;
    let client = connect(&builtin.url(&tenant.user, &tenant.password, "app")).await;
    let err = client
        .simple_query("SELECT record_hit()")
        .await
        .unwrap_err();
    assert_eq!(code(&err), "25006", "{}", describe(&err));
    drop(client);
    drop(builtin);
    // With it, the listed function goes to the primary; plain reads still to the replica.
    let pgdog = Pgdog::start(&toml(true), &users).await;
    let client = connect(&pgdog.url(&tenant.user, &tenant.password, "app")).await;
    assert_eq!(ids(&client, "SELECT record_hit()").await, [1]);
    let rows = client.query("SELECT record_hit()", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, i64>(0), 2);
    assert_eq!(
        text_rows(&client, "SELECT pg_is_in_recovery()").await[0][0].as_deref(),
        Some("t")
    );
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        text_rows(&client, "SELECT pg_is_in_recovery()").await[0][0].as_deref(),
        Some("f")
    );
    client.batch_execute("COMMIT").await.unwrap();
}
