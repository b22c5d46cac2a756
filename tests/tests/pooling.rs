//! Pooling semantics: transaction mode multiplexes many clients over few
//! server connections without leaking state between them; session mode pins
//! a server connection to a client; a dead client's transaction is cleaned
//! up; an exhausted pool fails fast; prepared statements survive being moved
//! between server connections; the pool recovers from a server restart.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgdog_tests::raw::RawConn;
use pgdog_tests::*;
use tokio_postgres::SimpleQueryMessage;

fn first_value(msgs: &[SimpleQueryMessage]) -> Option<String> {
    msgs.iter().find_map(|m| match m {
        SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
        _ => None,
    })?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_mode_50_clients_over_5_connections() {
    let env = ProxyEnv::shared("pool", |c| c.user_pool_size(5).checkout_timeout_ms(20_000)).await;
    env.direct()
        .await
        .batch_execute("CREATE TABLE tx_t (client int, n int)")
        .await
        .unwrap();

    // Watch the server side while the clients run.
    let su = env.server.superuser().await;
    let max_seen = Arc::new(AtomicI64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (max_seen, stop, user) = (max_seen.clone(), stop.clone(), env.tenant.user.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let n: i64 = su
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
                        &[&user],
                    )
                    .await
                    .unwrap()
                    .get(0);
                max_seen.fetch_max(n, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    let url = env.url();
    let results = concurrently(50, |i| {
        let url = url.clone();
        async move {
            let c = connect(&url).await;
            for n in 0..10i32 {
                let tx_res = async {
                    c.batch_execute("BEGIN").await?;
                    c.execute("INSERT INTO tx_t VALUES ($1, $2)", &[&(i as i32), &n])
                        .await?;
                    // Read-your-writes inside the transaction: same backend.
                    let seen: i64 = c
                        .query_one(
                            "SELECT count(*) FROM tx_t WHERE client = $1",
                            &[&(i as i32)],
                        )
                        .await?
                        .get(0);
                    assert_eq!(seen, n as i64 + 1);
                    c.batch_execute("COMMIT").await
                };
                if let Err(e) = tx_res.await {
                    return Err(format!("client {i} tx {n}: {}", describe(&e)));
                }
            }
            Ok(())
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    monitor.await.unwrap();

    let failures: Vec<_> = results.into_iter().filter_map(Result::err).collect();
    assert!(
        failures.is_empty(),
        "{} failures, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    let total: i64 = env
        .direct()
        .await
        .query_one("SELECT count(*) FROM tx_t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(total, 500);
    let max = max_seen.load(Ordering::Relaxed);
    assert!(max <= 5, "{max} server connections for a pool of 5");
    assert!(max >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_mode_keeps_the_server_connection() {
    let env = ProxyEnv::shared("pool", |c| c.pooler_mode("session").pool_size(4)).await;
    let a = env.client().await;
    let b = env.client().await;
    a.batch_execute("SET application_name = 'client_a'; CREATE TEMP TABLE mine (x int)")
        .await
        .unwrap();
    let pid_a: i32 = a
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    let pid_b: i32 = b
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(pid_a, pid_b);
    for i in 0..10 {
        // Interleave the two clients' transactions.
        b.batch_execute("BEGIN; SELECT 1; COMMIT").await.unwrap();
        a.batch_execute(&format!("BEGIN; INSERT INTO mine VALUES ({i}); COMMIT"))
            .await
            .unwrap();
        let row = a
            .query_one(
                "SELECT pg_backend_pid(), current_setting('application_name')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, i32>(0), pid_a);
        assert_eq!(row.get::<_, String>(1), "client_a");
    }
    let n: i64 = a
        .query_one("SELECT count(*) FROM mine", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 10);
    let name: String = b
        .query_one("SHOW application_name", &[])
        .await
        .unwrap()
        .get(0);
    assert_ne!(name, "client_a", "session state leaked to another client");
}

/// The backend serving `c`'s next transaction.
async fn backend_pid(c: &tokio_postgres::Client) -> String {
    first_value(&c.simple_query("SELECT pg_backend_pid()").await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_mode_gives_a_client_back_its_own_idle_server() {
    // One worker: with two, each worker keeps its own idle list, and two clients on
    // different workers would keep their servers apart without any affinity.
    let env = ProxyEnv::shared("pool", |c| c.user_pool_size(4).general("workers", 1)).await;
    let a = env.client().await;
    let b = env.client().await;
    // Two transactions open at once, so two server connections exist and both go back idle:
    // B's last, on top of the idle list.
    a.batch_execute("BEGIN").await.unwrap();
    b.batch_execute("BEGIN").await.unwrap();
    let pid_a = backend_pid(&a).await;
    let pid_b = backend_pid(&b).await;
    assert_ne!(pid_a, pid_b);
    a.batch_execute("COMMIT").await.unwrap();
    b.batch_execute("COMMIT").await.unwrap();
    // Taking turns, each client finds the other's server on top of the list every time;
    // handing out the warmest would swap their backends at every turn.
    for turn in 0..6 {
        assert_eq!(backend_pid(&a).await, pid_a, "A's turn {turn}");
        assert_eq!(backend_pid(&b).await, pid_b, "B's turn {turn}");
    }
    // Prepared and executed apart (tokio-postgres' way), the statement's two batches
    // also land on the client's own server.
    let row = a
        .query_one("SELECT pg_backend_pid()::text", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), pid_a);
    // A third client, with no server of its own, still gets one at once.
    let c = env.client().await;
    let pid_c = backend_pid(&c).await;
    assert!(
        pid_c == pid_a || pid_c == pid_b,
        "a third connection was opened: {pid_c}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_killed_mid_transaction_is_cleaned_up() {
    // Pool of 1: the next client must get the very server connection the
    // dead client was using (or a fresh one), never its open transaction.
    let env = ProxyEnv::shared("pool", |c| c.user_pool_size(1)).await;
    env.direct()
        .await
        .batch_execute("CREATE TABLE locks (id int PRIMARY KEY); INSERT INTO locks VALUES (1); CREATE TABLE ins (x int)")
        .await
        .unwrap();

    let (victim, driver) = connect_raw(&env.url()).await;
    victim
        .batch_execute(
            "BEGIN; INSERT INTO ins VALUES (1); SELECT id FROM locks WHERE id = 1 FOR UPDATE",
        )
        .await
        .unwrap();
    // Kill it: the socket is dropped without a Terminate message.
    driver.abort();
    drop(victim);
    let killed = Instant::now();

    let deadline = killed + Duration::from_secs(5);
    let c = loop {
        match tokio::time::timeout(Duration::from_secs(3), try_connect(&env.url())).await {
            Ok(Ok(c)) => break c,
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            other => panic!(
                "no usable connection after the kill: {:?}",
                other.map(|r| r.err().map(|e| describe(&e)))
            ),
        }
    };
    // Not inside the dead client's transaction: a new implicit transaction
    // starts at this statement, and no transaction id is assigned yet.
    // (Simple protocol on purpose: with Bind/Execute, statement_timestamp()
    // is taken at Execute, after the transaction began at Bind.)
    let msgs = c
        .simple_query("SELECT now() = statement_timestamp() AND txid_current_if_assigned() IS NULL")
        .await
        .unwrap();
    assert_eq!(
        first_value(&msgs).as_deref(),
        Some("t"),
        "still in the killed client's transaction"
    );
    c.batch_execute(
        "BEGIN; SET LOCAL lock_timeout = '4s'; SELECT id FROM locks WHERE id = 1 FOR UPDATE",
    )
    .await
    .unwrap_or_else(|e| panic!("row lock still held: {}", describe(&e)));
    let n: i64 = c
        .query_one("SELECT count(*) FROM ins", &[])
        .await
        .unwrap()
        .get(0);
    c.batch_execute("COMMIT").await.unwrap();
    assert_eq!(n, 0, "uncommitted insert of the killed client is visible");
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "lock released only after {took:?}"
    );

    // And the server has no transaction of that user left open.
    let su = env.superuser().await;
    let open: i64 = su
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state LIKE 'idle in transaction%'",
            &[&env.tenant.user],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(open, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_timeout_is_an_error_not_a_hang() {
    let env = ProxyEnv::shared("pool", |c| c.user_pool_size(1).checkout_timeout_ms(1000)).await;
    let holder = env.client().await;
    holder.batch_execute("BEGIN; SELECT 1").await.unwrap();

    // The waiting client may fail at login (if the proxy needs a server
    // connection for it) or at its first query.
    let url = env.url();
    let start = Instant::now();
    let res = tokio::time::timeout(Duration::from_secs(10), async {
        let c = try_connect(&url).await?;
        c.simple_query("SELECT 1").await.map(|_| c)
    })
    .await
    .expect("waiting client hung instead of timing out");
    let err = match res {
        Ok(_) => panic!("query ran although the only server connection is in a transaction"),
        Err(e) => e,
    };
    let code = sqlstate(&err);
    assert!(
        matches!(code.as_deref(), Some(c) if c == "53300" || c.starts_with("08")),
        "expected SQLSTATE 53300 or 08xxx, got {}",
        describe(&err)
    );
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "failed before the checkout timeout"
    );

    // The pool is fine once the holder is done.
    holder.batch_execute("COMMIT").await.unwrap();
    let c = env.client().await;
    assert_eq!(
        first_value(&c.simple_query("SELECT 'ok'").await.unwrap()).as_deref(),
        Some("ok")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_move_between_server_connections() {
    let env = ProxyEnv::shared("pool", |c| c.user_pool_size(2).checkout_timeout_ms(20_000)).await;
    let url = env.url();
    // tokio-postgres: same SQL prepared by every client (under different
    // names), plus SQL unique to each client.
    let results = concurrently(10, |i| {
        let url = url.clone();
        async move {
            let mut c = connect(&url).await;
            let k = i as i32 + 2;
            let own = c.prepare(&format!("SELECT $1::int4 * {k}")).await.unwrap();
            let shared = c.prepare("SELECT $1::int4 + 1000").await.unwrap();
            for round in 0..40i32 {
                let tx = c.transaction().await.unwrap();
                assert_eq!(
                    tx.query_one(&shared, &[&round])
                        .await
                        .unwrap()
                        .get::<_, i32>(0),
                    round + 1000
                );
                assert_eq!(
                    tx.query_one(&own, &[&round])
                        .await
                        .unwrap()
                        .get::<_, i32>(0),
                    round * k
                );
                tx.commit().await.unwrap();
                assert_eq!(
                    c.query_one(&own, &[&round]).await.unwrap().get::<_, i32>(0),
                    round * k
                );
            }
        }
    })
    .await;
    assert_eq!(results.len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_statement_name_different_sql_per_client() {
    // The hard case for transaction pooling: every client uses the name
    // "stmt" for its own SQL, over only 2 server connections.
    let env = ProxyEnv::shared("pool", |c| c.user_pool_size(2).checkout_timeout_ms(20_000)).await;
    let port = env.pgdog.port();
    let t = env.tenant.clone();
    let results = concurrently(8, |i| {
        let t = t.clone();
        async move {
            let mut c = RawConn::startup(port, &t.user, &t.password, &t.database)
                .await
                .unwrap_or_else(|e| panic!("client {i} login: {:?}", e.fields()));
            c.prepare("stmt", &format!("SELECT $1::int + {i}"))
                .await
                .unwrap();
            c.prepare("common", "SELECT 'common'").await.unwrap();
            for round in 0..40 {
                let r = round.to_string();
                let rows = c
                    .execute("stmt", &[Some(&r)])
                    .await
                    .unwrap_or_else(|e| panic!("client {i} round {round}: {:?}", e.fields()));
                assert_eq!(
                    rows[0][0],
                    Some((round + i).to_string()),
                    "client {i} got another client's statement"
                );
                if round % 5 == 0 {
                    c.simple("BEGIN").await.unwrap();
                    assert_eq!(
                        c.execute("common", &[]).await.unwrap()[0][0].as_deref(),
                        Some("common")
                    );
                    assert_eq!(
                        c.execute("stmt", &[Some("0")]).await.unwrap()[0][0],
                        Some(i.to_string())
                    );
                    c.simple("COMMIT").await.unwrap();
                }
            }
            // Close and reuse the name for different SQL.
            c.close_statement("stmt").await.unwrap();
            c.prepare("stmt", &format!("SELECT 'client {i}'"))
                .await
                .unwrap();
            for _ in 0..10 {
                let rows = c.execute("stmt", &[]).await.unwrap();
                assert_eq!(rows[0][0], Some(format!("client {i}")));
            }
            // Executing a statement this client never prepared is an error
            // (26000) even if another client prepared that name.
            let err = c.execute("never_prepared", &[]).await.unwrap_err();
            assert_eq!(
                err.sqlstate().as_deref(),
                Some("26000"),
                "{:?}",
                err.fields()
            );
        }
    })
    .await;
    assert_eq!(results.len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_recovers_after_server_restart() {
    let server = ServerHandle::Owned(PgServer::start().await);
    let mut env = ProxyEnv::on(server, "restart", PasswordKind::Scram, |c| c.pool_size(3)).await;
    let c = env.client().await;
    assert_eq!(
        first_value(&c.simple_query("SELECT 1").await.unwrap()).as_deref(),
        Some("1")
    );

    env.server.owned_mut().restart().await;
    // Old server connections are dead; the proxy must notice and reconnect.
    // The first query on an old client may fail (its server went away), but
    // new clients must work within a few seconds.
    let _ = c.simple_query("SELECT 1").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = async {
            let c = try_connect(&env.url()).await?;
            c.simple_query("SELECT 2").await
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(msgs)) => {
                assert_eq!(first_value(&msgs).as_deref(), Some("2"));
                break;
            }
            other if Instant::now() > deadline => {
                panic!(
                    "no working connection 10 s after restart: {:?}",
                    other.map(|r| r.err().map(|e| describe(&e)))
                )
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    assert!(env.pgdog.is_running());
}

/// Two clients share one server connection in transaction mode; each keeps the TimeZone
/// and application_name it set, as PostgreSQL would give each its own session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reported_parameters_follow_each_client_across_a_shared_server() {
    let env = ProxyEnv::shared("pool", |c| c.user_pool_size(1)).await;
    let a = env.client().await;
    let b = env.client().await;
    a.batch_execute("SET TimeZone = 'Asia/Tokyo'; SET application_name = 'client_a'")
        .await
        .unwrap();
    b.batch_execute("SET TimeZone = 'America/Lima'")
        .await
        .unwrap();
    for _ in 0..3 {
        let tz_a: String = a.query_one("SHOW TimeZone", &[]).await.unwrap().get(0);
        let app_a: String = a
            .query_one("SHOW application_name", &[])
            .await
            .unwrap()
            .get(0);
        let tz_b: String = b.query_one("SHOW TimeZone", &[]).await.unwrap().get(0);
        let app_b: String = b
            .query_one("SHOW application_name", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!((tz_a.as_str(), app_a.as_str()), ("Asia/Tokyo", "client_a"));
        assert_eq!(tz_b, "America/Lima");
        assert_ne!(app_b, "client_a", "client A's application_name leaked to B");
    }
    let pids: Vec<i32> = futures_util::future::join_all([
        a.query_one("SELECT pg_backend_pid()", &[]),
        b.query_one("SELECT pg_backend_pid()", &[]),
    ])
    .await
    .into_iter()
    .map(|r| r.unwrap().get(0))
    .collect();
    assert_eq!(
        pids[0], pids[1],
        "pool_size 1: both clients used the same server"
    );
}

/// After an error in the extended protocol the server discards everything until the
/// client's Sync. A server in that state must not go back to the pool early: with a pool
/// of one, the next client would get a connection that swallows its queries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_waiting_for_sync_after_an_error_is_not_handed_out() {
    use pgdog_tests::raw::{self, Recv};
    let env = ProxyEnv::shared("pool", |c| c.user_pool_size(1).checkout_timeout_ms(20_000)).await;
    let t = &env.tenant;
    let mut raw_client = RawConn::startup(env.pgdog.port(), &t.user, &t.password, &t.database)
        .await
        .unwrap();
    let mut batch = raw::parse("", "SELEC broken");
    batch.extend(raw::flush());
    raw_client.send(&batch).await;
    let error = raw_client.recv().await.unwrap();
    assert_eq!(error.tag, b'E');

    // Meanwhile another client queries; it must wait for the one server, not get it now.
    let other = env.client().await;
    let query = tokio::spawn(async move {
        let n: i32 = other.query_one("SELECT 41 + 1", &[]).await.unwrap().get(0);
        n
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    raw_client.send(&raw::sync()).await;
    match raw_client.recv_timeout(Duration::from_secs(5)).await {
        Recv::Msg(m) => assert_eq!(m.tag, b'Z', "ReadyForQuery after Sync"),
        other => panic!("no ReadyForQuery: {other:?}"),
    }
    raw_client.send(&raw::terminate()).await;
    let n = tokio::time::timeout(Duration::from_secs(10), query)
        .await
        .expect("the other client got its answer")
        .unwrap();
    assert_eq!(n, 42);
}

/// An idle server connection that dies behind pgDog's back (terminated on the server) is
/// never handed to the next transaction: that transaction runs on a fresh connection,
/// with no error, on its first try. Checked several times over, since the quick
/// checkout of an idle server must look at the connection first just as the slow one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_server_killed_on_the_server_is_not_handed_out() {
    let mut env = ProxyEnv::shared("idle_kill", |c| c.user_pool_size(1)).await;
    let su = env.server.superuser().await;
    let client = env.client().await;
    let pid_of = |msgs: &[SimpleQueryMessage]| -> i64 {
        first_value(msgs)
            .and_then(|v| v.parse().ok())
            .expect("a backend pid")
    };
    let mut pid = pid_of(
        &client
            .simple_query("SELECT pg_backend_pid()")
            .await
            .unwrap(),
    );
    for round in 0..3 {
        su.execute("SELECT pg_terminate_backend($1::int)", &[&(pid as i32)])
            .await
            .unwrap();
        // Gone from the server before pgDog is asked again.
        let deadline = Instant::now() + Duration::from_secs(10);
        while su
            .query_opt(
                "SELECT 1 FROM pg_stat_activity WHERE pid = $1::int",
                &[&(pid as i32)],
            )
            .await
            .unwrap()
            .is_some()
        {
            assert!(Instant::now() < deadline, "backend {pid} did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let msgs = client
            .simple_query("SELECT pg_backend_pid()")
            .await
            .unwrap_or_else(|e| panic!("round {round}: {}", describe(&e)));
        let next = pid_of(&msgs);
        assert_ne!(next, pid, "round {round}: the killed connection was reused");
        pid = next;
    }
    assert!(env.pgdog.is_running());
}
