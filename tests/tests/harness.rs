//! Self-test of the harness, without the proxy: if these fail, every proxy
//! test would fail for reasons that have nothing to do with pgDog. They check
//! that servers start, that SCRAM- and md5-stored roles really authenticate
//! with the method their names promise, and that psql/pgbench work.

use pgdog_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_with_scram_and_md5_users() {
    let server = PgServer::start().await;
    server
        .create_user("h_scram", "scram secret", PasswordKind::Scram)
        .await;
    server
        .create_user("h_md5", "md5 'secret'", PasswordKind::Md5)
        .await;
    server.create_database("h_db", "h_scram").await;

    // The stored formats decide which method PostgreSQL asks for.
    let su = server.superuser().await;
    for (role, prefix) in [("h_scram", "SCRAM-SHA-256$"), ("h_md5", "md5")] {
        let stored: String = su
            .query_one(
                "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
                &[&role],
            )
            .await
            .unwrap()
            .get(0);
        assert!(stored.starts_with(prefix), "{role} stored as {stored}");
    }

    for (user, pw) in [("h_scram", "scram secret"), ("h_md5", "md5 'secret'")] {
        let client = connect(&server.url(user, pw, "h_db")).await;
        let row = client
            .query_one(
                "SELECT current_user::text, current_database()::text, $1::int + 1",
                &[&41i32],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), user);
        assert_eq!(row.get::<_, String>(1), "h_db");
        assert_eq!(row.get::<_, i32>(2), 42);
    }

    // Passwords are really checked (pg_hba says md5, not trust).
    let err = try_connect(&server.url("h_md5", "wrong", "h_db"))
        .await
        .err()
        .unwrap();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("28P01"),
        "{}",
        describe(&err)
    );
    let err = try_connect(&server.url("h_scram", "wrong", "h_db"))
        .await
        .err()
        .unwrap();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("28P01"),
        "{}",
        describe(&err)
    );

    let out = run_psql(
        &server.url("h_md5", "md5 'secret'", "h_db"),
        "CREATE TEMP TABLE t (x int);\nINSERT INTO t SELECT generate_series(1, 3);\nSELECT sum(x) FROM t;\n",
    )
    .await;
    assert!(out.status.success(), "psql failed: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "6");

    // ON_ERROR_STOP makes a failing script fail the run.
    let out = run_psql(
        &server.url("h_md5", "md5 'secret'", "h_db"),
        "SELECT 1/0;\nSELECT 'not reached';\n",
    )
    .await;
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains("not reached"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_server_tenants_are_isolated() {
    let server = shared_server().await;
    let a = server.tenant("iso", PasswordKind::Scram).await;
    let b = server.tenant("iso", PasswordKind::Md5).await;
    assert_ne!(a.user, b.user);
    let ca = connect(&server.url(&a.user, &a.password, &a.database)).await;
    ca.batch_execute("CREATE TABLE only_a (x int)")
        .await
        .unwrap();
    // b cannot even connect to a's database (no CONNECT revoke needed: the
    // table simply does not exist in b's own database).
    let cb = connect(&server.url(&b.user, &b.password, &b.database)).await;
    let err = cb.simple_query("SELECT * FROM only_a").await.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("42P01"));
    // Same server for every caller in this process.
    assert_eq!(shared_server().await.port(), server.port());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_and_restart_keep_data_and_port() {
    let mut server =
        PgServer::start_with(&[("shared_preload_libraries", "pg_stat_statements")]).await;
    let port = server.port();
    let t = server.tenant("restart", PasswordKind::Scram).await;
    let url = server.url(&t.user, &t.password, &t.database);
    let c = connect(&url).await;
    // synchronous_commit=off (harness default) may lose the last commits on
    // an immediate stop; this data must survive.
    c.batch_execute(
        "SET synchronous_commit = on; CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)",
    )
    .await
    .unwrap();

    let su = server.superuser().await;
    let libs: String = su
        .query_one("SHOW shared_preload_libraries", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(libs, "pg_stat_statements");

    server.stop();
    // Immediate shutdown: the existing connection is gone, new ones refused.
    assert!(c.simple_query("SELECT 1").await.is_err());
    assert!(try_connect(&url).await.is_err());

    server.restart().await;
    assert_eq!(server.port(), port);
    let c = connect(&url).await;
    let x: i32 = c.query_one("SELECT x FROM kept", &[]).await.unwrap().get(0);
    assert_eq!(x, 7);
    assert!(server.log().len() < 1_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_runs_directly() {
    let server = shared_server().await;
    let t = server.tenant("bench", PasswordKind::Md5).await;
    let url = server.url(&t.user, &t.password, &t.database);
    let init = run_pgbench(&url, &["-i", "-s", "1", "-q"]).await;
    assert!(init.output.status.success(), "{}", init.stderr());
    let run = run_pgbench(&url, &["-c", "2", "-j", "2", "-t", "50", "-M", "prepared"]).await;
    assert!(
        run.output.status.success(),
        "{}\n{}",
        run.stdout(),
        run.stderr()
    );
    assert_eq!(run.failed, 0);
    assert_eq!(run.processed, 100);
    assert!(run.tps.unwrap() > 0.0);
}

#[test]
fn config_builder_renders_both_files() {
    let cfg = Config::new(7001)
        .pool_size(3)
        .pooler_mode("session")
        .database("app", "127.0.0.1", 5432, "app_db")
        .user("alice", "app", "se\"cret")
        .user_pool_size(2)
        .server_credentials("alice_srv", "x");
    let main = cfg.pgdog_toml();
    assert!(main.contains("port = 7001\n"));
    assert!(main.contains("default_pool_size = 3\n"));
    assert!(main.contains("pooler_mode = \"session\"\n"));
    assert!(main.contains("[[databases]]\nname = \"app\"\n"));
    assert!(main.contains("database_name = \"app_db\"\n"));
    assert!(main.contains("[admin]\n"));
    let users = cfg.users_toml();
    assert!(users.contains("password = \"se\\\"cret\"\n"));
    assert!(users.contains("pool_size = 2\n"));
    assert!(users.contains("server_user = \"alice_srv\"\n"));
}

#[test]
fn conn_strings_round_trip() {
    let s = conn_string(5, "u s", "p'w\\", "d");
    let pairs = pgdog_tests::client::parse_conn_string(&s);
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).unwrap().1.clone();
    assert_eq!(get("user"), "u s");
    assert_eq!(get("password"), "p'w\\");
    assert_eq!(get("port"), "5");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_client_speaks_scram_md5_and_named_statements() {
    use pgdog_tests::raw::RawConn;
    let server = shared_server().await;
    for kind in [PasswordKind::Scram, PasswordKind::Md5] {
        let t = server.tenant("raw", kind).await;
        let mut c = RawConn::startup(server.port(), &t.user, &t.password, &t.database)
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {:?}", e.fields()));
        assert_eq!(
            c.simple("SELECT 1, NULL").await.unwrap(),
            vec![vec![Some("1".into()), None]]
        );
        c.prepare("stmt", "SELECT $1::int + 1").await.unwrap();
        assert_eq!(
            c.execute("stmt", &[Some("41")]).await.unwrap()[0][0].as_deref(),
            Some("42")
        );
        // Re-preparing an existing name is an error (42P05) until Close.
        let err = c.prepare("stmt", "SELECT 2").await.unwrap_err();
        assert_eq!(err.sqlstate().as_deref(), Some("42P05"));
        c.close_statement("stmt").await.unwrap();
        c.prepare("stmt", "SELECT 'again'").await.unwrap();
        assert_eq!(
            c.execute("stmt", &[]).await.unwrap()[0][0].as_deref(),
            Some("again")
        );
        let err = RawConn::startup(server.port(), &t.user, "nope", &t.database)
            .await
            .err()
            .unwrap();
        assert_eq!(err.sqlstate().as_deref(), Some("28P01"));
    }
}
