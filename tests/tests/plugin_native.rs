//! Native plugins (pgdog's original C ABI), compiled from C by the harness and loaded by
//! pgDog: the C plugins in `plugins/` routing, answering, refusing and splitting COPY
//! against real servers, a native and a wasm plugin in one chain, and malformed output
//! or a library without the required symbol handled with a clear error.

use std::time::Duration;

use pgdog_tests::*;
use tokio_postgres::SimpleQueryMessage;

fn native_block(name: &str, path: &std::path::Path, extra: &str) -> String {
    format!(
        "[[plugins]]\nname = \"{name}\"\npath = \"{}\"\n{extra}\n",
        path.display()
    )
}

fn message(err: &tokio_postgres::Error) -> String {
    err.as_db_error()
        .map(|e| e.message().to_string())
        .unwrap_or_else(|| describe(err))
}

async fn one(client: &tokio_postgres::Client, sql: &str) -> Option<String> {
    text_rows(client, sql).await[0][0].clone()
}

#[tokio::test]
async fn c_read_write_split_routes_reads_to_the_replica_and_pgbench_runs_clean() {
    let primary = PgServer::start().await;
    let tenant = primary.tenant("native_rw", PasswordKind::Scram).await;
    let owner = connect(&primary.url(&tenant.user, &tenant.password, &tenant.database)).await;
    owner
        .batch_execute("CREATE SEQUENCE ids; CREATE TABLE hits (n int)")
        .await
        .unwrap();
    let init = run_pgbench(
        &primary.url(&tenant.user, &tenant.password, &tenant.database),
        &["-i", "-s", "1", "-q"],
    )
    .await;
    assert!(
        init.output.status.success(),
        "pgbench -i: {}",
        init.stderr()
    );
    let replica = PgServer::replica_of(&primary).await;
    let port = free_port();
    let mut toml = format!(
        "[general]\nhost = \"127.0.0.1\"\nport = {port}\nread_write_split = \"exclude_primary\"\nwrite_functions = []\ndefault_pool_size = 4\ncheckout_timeout = 30000\n\n"
    );
    for (role, server_port) in [("primary", primary.port()), ("replica", replica.port())] {
        toml.push_str(&format!(
            "[[databases]]\nname = \"app\"\nhost = \"127.0.0.1\"\nport = {server_port}\ndatabase_name = \"{}\"\nrole = \"{role}\"\n\n",
            tenant.database
        ));
    }
    toml.push_str(&native_block(
        "rw",
        &plugin_native("plugins/c-read-write-split/read_write_split.c", &[]),
        "",
    ));
    let users = format!(
        "[[users]]\nname = \"{}\"\ndatabase = \"app\"\npassword = \"{}\"\n",
        tenant.user, tenant.password
    );
    let pgdog = Pgdog::start(&toml, &users).await;
    let url = pgdog.url(&tenant.user, &tenant.password, "app");
    let client = connect(&url).await;
    // Reads land on the replica, in both protocols.
    assert_eq!(
        one(&client, "SELECT pg_is_in_recovery()").await.as_deref(),
        Some("t")
    );
    assert_eq!(
        one(&client, "/* hello */ SHOW transaction_read_only")
            .await
            .as_deref(),
        Some("on")
    );
    let row = client
        .query_one("select pg_is_in_recovery()", &[])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    // The plugin sends these SELECTs to the primary by their text. pgDog's own parse,
    // with `write_functions = []`, takes them for reads, and a replica refuses them
    // (25006): the plugin is what decides.
    assert_eq!(
        one(&client, "SELECT setval('ids', 41)").await.as_deref(),
        Some("41")
    );
    assert_eq!(
        one(&client, "SELECT nextval('ids')").await.as_deref(),
        Some("42")
    );
    client
        .batch_execute("INSERT INTO hits VALUES (1)")
        .await
        .unwrap();
    // Inside a transaction a READ does not take the transaction to a replica: a write
    // after it must still work, and a later COMMIT keep it.
    let rows = client
        .simple_query("BEGIN; SELECT pg_is_in_recovery(); INSERT INTO hits VALUES (2); COMMIT")
        .await
        .unwrap();
    assert_eq!(rows_of(&rows)[0][0].as_deref(), Some("f"));
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        one(&client, "SELECT pg_is_in_recovery()").await.as_deref(),
        Some("f")
    );
    client
        .batch_execute("INSERT INTO hits VALUES (3)")
        .await
        .unwrap();
    client.batch_execute("COMMIT").await.unwrap();
    let hits: i64 = owner
        .query_one("SELECT count(*) FROM hits", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(hits, 3);
    // pgbench's TPC-B transactions through the plugin, every statement asked.
    for mode in ["simple", "extended"] {
        let run = run_pgbench(&url, &["-c", "4", "-j", "2", "-t", "150", "-M", mode]).await;
        assert!(
            run.output.status.success(),
            "pgbench -M {mode}\n{}\n{}",
            run.stdout(),
            run.stderr()
        );
        assert_eq!(run.failed, 0, "{}\n{}", run.stdout(), run.stderr());
        assert_eq!(run.processed, 600, "{}\n{}", run.stdout(), run.stderr());
    }
    let history: i64 = owner
        .query_one("SELECT count(*) FROM pgbench_history", &[])
        .await
        .unwrap()
        .get(0);
    // pgbench empties pgbench_history at the start of each run.
    assert_eq!(history, 600);
}

#[tokio::test]
async fn c_guard_refuses_answers_and_splits_copy_across_shards() {
    let block = native_block("guard", &plugin_native("plugins/c-guard/guard.c", &[]), "");
    let env = sharded_env(
        "native_guard",
        &[None, None],
        "CREATE TABLE items (id bigint, note text)",
        &format!("[[sharded_tables]]\ndatabase = \"app\"\nname = \"items\"\ncolumn = \"id\"\ndata_type = \"bigint\"\n\n{block}"),
    )
    .await;
    let client = connect(&env.url).await;
    // INTERCEPT: the servers of the database, from the Config pgDog passes.
    let rows = text_rows(&client, "SHOW pgdog_servers").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (n, (port, _)) in env.locations.iter().enumerate() {
        assert_eq!(
            rows[n],
            vec![
                Some(n.to_string()),
                Some("primary".to_string()),
                Some("127.0.0.1".to_string()),
                Some(port.to_string())
            ]
        );
    }
    // COPY (psql, simple protocol): the plugin splits the rows by id mod 2, and the
    // header line goes to both shards.
    let mut script =
        String::from("COPY items (id, note) FROM STDIN WITH (FORMAT csv, HEADER true);\nid,note\n");
    for i in 1..=10 {
        script.push_str(&format!("{i},note {i}\n"));
    }
    script.push_str("\\.\n");
    let out = run_psql(&env.url, &script).await;
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        ids_in(&env.shards[0], "items")
            .await
            .into_iter()
            .collect::<Vec<_>>(),
        [2, 4, 6, 8, 10]
    );
    assert_eq!(
        ids_in(&env.shards[1], "items")
            .await
            .into_iter()
            .collect::<Vec<_>>(),
        [1, 3, 5, 7, 9]
    );
    // The COPY's own delimiter reaches the plugin, the key is where pgDog's config says
    // (second column here), and a last row without its newline is still a whole row.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("more.csv");
    std::fs::write(&file, "note;id\nx;11\ny;12").unwrap();
    let out = run_psql(
        &env.url,
        &format!(
            "\\copy items (note, id) from '{}' with (format csv, delimiter ';', header true)\n",
            file.display()
        ),
    )
    .await;
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(ids_in(&env.shards[0], "items").await.contains(&12));
    assert!(ids_in(&env.shards[1], "items").await.contains(&11));
    // ERROR: refused with the plugin's SQLSTATE and detail; nothing is truncated.
    let err = client.simple_query("TRUNCATE items").await.unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("42501"),
        "{}",
        describe(&err)
    );
    assert_eq!(message(&err), "TRUNCATE is not allowed through pgDog");
    assert!(err
        .as_db_error()
        .and_then(|e| e.detail())
        .is_some_and(|d| d.contains("c-guard")));
    let err = client.execute("DROP TABLE items", &[]).await.unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("42501"),
        "{}",
        describe(&err)
    );
    assert_eq!(ids_in(&env.shards[0], "items").await.len(), 6);
    // Everything else is the built-in router's.
    assert_eq!(
        one(&client, "SELECT count(*) FROM items").await.as_deref(),
        Some("12")
    );
}

#[tokio::test]
async fn a_native_and_a_wasm_plugin_share_one_chain() {
    let block = format!(
        "{}{}",
        native_block(
            "c-guard",
            &plugin_native("plugins/c-guard/guard.c", &[]),
            ""
        ),
        plugin_toml(
            "query-guard",
            &plugin_wasm("query-guard"),
            "deny_tables = [\"secrets\"]",
            ""
        )
    );
    let env = ProxyEnv::shared("native_chain", |c| c.raw(&block)).await;
    env.direct()
        .await
        .batch_execute(
            "CREATE TABLE secrets (x int); CREATE TABLE open (x int); INSERT INTO open VALUES (7)",
        )
        .await
        .unwrap();
    let client = env.client().await;
    // The native plugin is asked first...
    let err = client.simple_query("TRUNCATE secrets").await.unwrap_err();
    assert_eq!(message(&err), "TRUNCATE is not allowed through pgDog");
    // ...passes what it does not know to the wasm plugin...
    let err = client
        .simple_query("SELECT * FROM secrets")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"));
    assert!(message(&err).contains("secrets"), "{}", message(&err));
    assert_ne!(message(&err), "TRUNCATE is not allowed through pgDog");
    // ...and what both pass runs as usual.
    assert_eq!(
        one(&client, "SELECT x FROM open").await.as_deref(),
        Some("7")
    );
    let rows = text_rows(&client, "SHOW pgdog_servers").await;
    assert_eq!(rows.len(), 1);
}

/// Each malformed answer, and the words the client's error must carry.
const GARBAGE: &[(&str, &str)] = &[
    ("chaos_null_message", "ERROR message is NULL"),
    ("chaos_bad_code", "is not a SQLSTATE"),
    ("chaos_negative_rows", "negative count -3"),
    ("chaos_null_rows", "NULL for 2 entries"),
    ("chaos_row_mismatch", "row with 3 columns for 1 described"),
    ("chaos_bad_utf8", "not valid UTF-8"),
    ("chaos_far_shard", "shard 7 does not exist"),
    ("chaos_minus_shard", "shard -5"),
    ("chaos_bad_decision", "unknown decision 42"),
];

#[tokio::test]
async fn malformed_output_fails_that_query_and_the_proxy_keeps_serving() {
    let chaos = plugin_native("tests/plugins/native/chaos.c", &[]);
    let env = ProxyEnv::shared("native_chaos", |c| {
        c.raw(&native_block("chaos", &chaos, "on_error = \"fail_closed\""))
    })
    .await;
    let client = env.client().await;
    for (keyword, words) in GARBAGE {
        let sql = format!("SELECT '{keyword}' AS k");
        let err = client.simple_query(&sql).await.unwrap_err();
        assert_eq!(
            sqlstate(&err).as_deref(),
            Some("58000"),
            "{sql}: {}",
            describe(&err)
        );
        let text = message(&err);
        assert!(
            text.contains("routing plugin \"chaos\"") && text.contains(words),
            "{sql}: {text}"
        );
    }
    // The extended protocol gets the same treatment.
    let err = client
        .query("SELECT $1::text, 'chaos_negative_rows'", &[&"x"])
        .await
        .unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("58000"),
        "{}",
        describe(&err)
    );
    // The session and the proxy carry on; good answers still work.
    assert_eq!(
        one(&client, "SELECT 'chaos_version'").await.as_deref(),
        Some("1")
    );
    assert_eq!(
        one(&client, "SELECT 'chaos_rewrite'").await.as_deref(),
        Some("rewritten by native")
    );
    assert_eq!(one(&client, "SELECT 2 + 2").await.as_deref(), Some("4"));
    let other = env.client().await;
    assert_eq!(one(&other, "SELECT 1").await.as_deref(), Some("1"));
    assert!(env.pgdog.log().contains("native-chaos 1: init"));

    // fail_open: a malformed answer is skipped and the built-in router runs the query.
    let open = ProxyEnv::shared("native_chaos_open", |c| {
        c.raw(&native_block("chaos", &chaos, "on_error = \"fail_open\""))
    })
    .await;
    let client = open.client().await;
    assert_eq!(
        one(&client, "SELECT 'chaos_bad_decision' AS k")
            .await
            .as_deref(),
        Some("chaos_bad_decision")
    );
}

#[tokio::test]
async fn bound_parameters_reach_the_plugin() {
    let chaos = plugin_native("tests/plugins/native/chaos.c", &["PARAMS_AS_ERROR"]);
    let env = ProxyEnv::shared("native_params", |c| {
        c.raw(&native_block("chaos", &chaos, ""))
    })
    .await;
    let client = env.client().await;
    let err = client
        .query(
            "SELECT $1::text, $2::text, 'chaos_params'",
            &[&"hi", &None::<&str>],
        )
        .await
        .unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("P0001"),
        "{}",
        describe(&err)
    );
    // tokio-postgres sends text parameters in binary format (1); NULL has length -1.
    assert_eq!(message(&err), "2:1:hi|-1:1:|");
}

#[tokio::test]
async fn a_library_without_pgdog_route_query_or_with_config_is_refused() {
    let server = shared_server().await;
    let tenant = server.tenant("native_refused", PasswordKind::Scram).await;
    // Start-up must fail, and the log must say `why`.
    let refused = |block: String, why: &'static str| {
        let c = Config::new(free_port())
            .tenant(&tenant, server.port())
            .raw(&block);
        async move {
            let (status, log) =
                Pgdog::run_to_exit(&c.pgdog_toml(), &c.users_toml(), Duration::from_secs(30)).await;
            assert!(!status.success());
            assert!(log.contains(why), "{log}");
        }
    };
    let no_symbol = plugin_native("tests/plugins/native/no_symbol.c", &[]);
    refused(
        native_block("broken", &no_symbol, ""),
        "does not export pgdog_route_query",
    )
    .await;
    let chaos = plugin_native("tests/plugins/native/chaos.c", &[]);
    refused(
        native_block("chaos", &chaos, "config = { a = 1 }"),
        "key `config` cannot be used with a native plugin",
    )
    .await;
    refused(
        native_block("chaos", &chaos, "timeout_ms = 5"),
        "key `timeout_ms` cannot be enforced",
    )
    .await;
    refused(
        native_block("gone", std::path::Path::new("pgdog_no_such_plugin"), ""),
        "libpgdog_no_such_plugin.so is not on the library path",
    )
    .await;
}

#[tokio::test]
async fn a_changed_library_is_reloaded_and_the_old_one_finalised() {
    let first = plugin_native("tests/plugins/native/chaos.c", &["VARIANT=\"1\""]);
    let second = plugin_native("tests/plugins/native/chaos.c", &["VARIANT=\"2\""]);
    let dir = tempfile::tempdir().unwrap();
    // Loaded by bare name from LD_LIBRARY_PATH, as pgdog's original config allowed.
    let live = dir.path().join("libchaos_live.so");
    std::fs::copy(&first, &live).unwrap();
    let server = shared_server().await;
    let tenant = server.tenant("native_reload", PasswordKind::Scram).await;
    let cfg = Config::new(free_port())
        .tenant(&tenant, server.port())
        .general("plugin_watch_interval", 100)
        .raw(&native_block(
            "chaos",
            std::path::Path::new("chaos_live"),
            "",
        ));
    let pgdog = Pgdog::start_with_env(
        &cfg.pgdog_toml(),
        &cfg.users_toml(),
        &[("LD_LIBRARY_PATH", &dir.path().display().to_string())],
    )
    .await;
    let url = pgdog.url(&tenant.user, &tenant.password, &tenant.database);
    let client = connect(&url).await;
    assert_eq!(
        one(&client, "SELECT 'chaos_version'").await.as_deref(),
        Some("1")
    );
    // A transaction open across the reload...
    let in_txn = connect(&url).await;
    in_txn.batch_execute("BEGIN").await.unwrap();
    assert_eq!(
        one(&in_txn, "SELECT 'chaos_version'").await.as_deref(),
        Some("1")
    );
    // Replace the file the way a deploy would: write aside, rename over.
    let staged = dir.path().join("staged.so");
    std::fs::copy(&second, &staged).unwrap();
    std::fs::rename(&staged, &live).unwrap();
    pgdog
        .wait_for_log("plugin reloaded", Duration::from_secs(10))
        .await;
    // ...keeps the old version, which is not finalised while it is in use.
    assert_eq!(
        one(&in_txn, "SELECT 'chaos_version'").await.as_deref(),
        Some("1")
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !pgdog.log().contains("native-chaos 1: fini"),
        "{}",
        pgdog.log()
    );
    in_txn.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        one(&in_txn, "SELECT 'chaos_version'").await.as_deref(),
        Some("2")
    );
    drop(in_txn);
    // The same connection, at its next transaction, routes with the new library.
    assert_eq!(
        one(&client, "SELECT 'chaos_version'").await.as_deref(),
        Some("2")
    );
    // The old library's fini ran once nothing used it any more.
    pgdog
        .wait_for_log("native-chaos 1: fini", Duration::from_secs(10))
        .await;
    assert!(!pgdog.log().contains("native-chaos 2: fini"));
    let messages = client.simple_query("SELECT 1").await.unwrap();
    assert!(matches!(
        messages[0],
        SimpleQueryMessage::Row(_) | SimpleQueryMessage::RowDescription(_)
    ));
}
