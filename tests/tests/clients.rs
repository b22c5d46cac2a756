//! Real-world clients and process lifecycle: psql scripts and pgbench in all
//! three query modes through pgDog, and graceful shutdown on SIGTERM (the
//! transaction in flight finishes, new clients are refused, exit code 0).

use std::time::{Duration, Instant};

use pgdog_tests::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_script() {
    let env = ProxyEnv::shared("cli", |c| c).await;
    let script = r#"
CREATE TABLE people (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO people (name) VALUES ('ada'), ('grace');
BEGIN;
INSERT INTO people (name) VALUES ('linus');
COMMIT;
\copy people (name) FROM stdin
ken
dennis
\.
SELECT count(*) FROM people;
SELECT string_agg(name, ',' ORDER BY id) FROM people;
BEGIN;
PREPARE q(int) AS SELECT name FROM people WHERE id = $1;
EXECUTE q(2);
DEALLOCATE q;
COMMIT;
SELECT 'v=' || :'greeting';
"#;
    // psql variables are expanded client-side. SQL-level PREPARE lives on
    // one server connection, hence inside a transaction in the script.
    let script = format!("\\set greeting hello\n{script}");
    let out = run_psql(&env.url(), &script).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "psql failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        vec!["5", "ada,grace,linus,ken,dennis", "grace", "v=hello"]
    );

    // ON_ERROR_STOP: an error fails psql and the rest is not run.
    let out = run_psql(&env.url(), "SELECT 1/0;\nSELECT 'after';\n").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("division by zero"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("after"));
}

/// pgbench's TPC-B-like workload through a transaction-mode pool smaller
/// than the number of clients.
async fn pgbench_mode(mode: &str) {
    let env = ProxyEnv::shared("bench", |c| c.user_pool_size(4).checkout_timeout_ms(30_000)).await;
    // Initialise directly: -i is bulk COPY and DDL, not what is tested here.
    let init = run_pgbench(&env.direct_url(), &["-i", "-s", "1", "-q"]).await;
    assert!(
        init.output.status.success(),
        "pgbench -i: {}",
        init.stderr()
    );

    let txns: u64 = std::env::var("PGDOG_TEST_PGBENCH_TXNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let t = txns.to_string();
    let run = run_pgbench(&env.url(), &["-c", "8", "-j", "2", "-t", &t, "-M", mode]).await;
    assert!(
        run.output.status.success(),
        "pgbench -M {mode} failed\nstdout:\n{}\nstderr:\n{}",
        run.stdout(),
        run.stderr()
    );
    assert_eq!(
        run.failed,
        0,
        "failed transactions:\n{}\n{}",
        run.stdout(),
        run.stderr()
    );
    assert_eq!(
        run.processed,
        8 * txns,
        "{}\n{}",
        run.stdout(),
        run.stderr()
    );
    eprintln!("pgbench -M {mode} through pgDog: tps = {:?}", run.tps);

    // Every transaction landed exactly once.
    let n: i64 = env
        .direct()
        .await
        .query_one("SELECT count(*) FROM pgbench_history", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n as u64, 8 * txns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_simple() {
    pgbench_mode("simple").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_extended() {
    pgbench_mode("extended").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_prepared() {
    pgbench_mode("prepared").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_initialises_through_pgdog() {
    // -i through the proxy: DDL, COPY FROM STDIN in bulk, VACUUM.
    let env = ProxyEnv::shared("benchi", |c| c).await;
    let init = run_pgbench(&env.url(), &["-i", "-s", "1", "-q"]).await;
    assert!(
        init.output.status.success(),
        "pgbench -i through pgDog: {}",
        init.stderr()
    );
    let n: i64 = env
        .direct()
        .await
        .query_one("SELECT count(*) FROM pgbench_accounts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_on_sigterm() {
    let env = ProxyEnv::shared("shutdown", |c| c.shutdown_timeout_ms(10_000)).await;
    let c = env.client().await;
    c.batch_execute("CREATE TABLE done (x int)").await.unwrap();
    c.batch_execute("BEGIN; INSERT INTO done VALUES (1)")
        .await
        .unwrap();

    env.pgdog.signal(libc::SIGTERM);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // New clients are turned away (refused, closed, or an error) quickly.
    let attempt = tokio::time::timeout(Duration::from_secs(5), async {
        let c = try_connect(&env.url()).await?;
        c.simple_query("SELECT 1").await.map(|_| ())
    })
    .await
    .expect("connection attempt during shutdown hung");
    match attempt {
        Ok(()) => panic!("a new client could log in and run a query during shutdown"),
        Err(e) => eprintln!("new client during shutdown: {}", describe(&e)),
    }

    // The transaction in flight can finish.
    c.execute("INSERT INTO done VALUES (2)", &[]).await.unwrap();
    c.batch_execute("COMMIT").await.unwrap();
    drop(c);

    let ProxyEnv {
        pgdog,
        tenant,
        server,
    } = env;
    let start = Instant::now();
    let status = pgdog.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status}");
    assert!(start.elapsed() < Duration::from_secs(12));

    let direct = connect(&server.url(&tenant.user, &tenant.password, &tenant.database)).await;
    let n: i64 = direct
        .query_one("SELECT count(*) FROM done", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2, "the committed transaction was lost");
}
