//! Load balancing over real streaming replicas (made with `pg_basebackup -R`): reads spread
//! over the replicas by strategy and weight, writes and transactions go to the primary, a
//! READ ONLY transaction to a replica, manual role overrides, and a replica that goes down
//! is banned while reads move to the others (and to the primary when none is left).

use std::collections::HashMap;

use pgdog_tests::*;
use tokio_postgres::Client;

struct Replicated {
    primary: PgServer,
    replicas: Vec<PgServer>,
    user: String,
    password: String,
    database: String,
}

async fn replicated(prefix: &str) -> Replicated {
    let primary = PgServer::start().await;
    let tenant = primary.tenant(prefix, PasswordKind::Scram).await;
    let owner = connect(&primary.url(&tenant.user, &tenant.password, &tenant.database)).await;
    owner
        .batch_execute("CREATE TABLE items (id bigint PRIMARY KEY, name text)")
        .await
        .unwrap();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        replicas.push(PgServer::replica_of(&primary).await);
    }
    Replicated {
        primary,
        replicas,
        user: tenant.user,
        password: tenant.password,
        database: tenant.database,
    }
}

/// pgDog in front of `env` with extra `[general]` lines and per-replica extra lines.
async fn pgdog(env: &Replicated, general: &str, replica_extra: &[&str]) -> (Pgdog, String) {
    let port = free_port();
    let mut toml = format!(
        "[general]\nhost = \"127.0.0.1\"\nport = {port}\ndefault_pool_size = 4\nmin_pool_size = 0\nconnect_timeout = 1000\n{general}\n\n\
         [[databases]]\nname = \"app\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase_name = \"{}\"\nrole = \"primary\"\n\n",
        env.primary.port(),
        env.database
    );
    for (i, replica) in env.replicas.iter().enumerate() {
        toml.push_str(&format!(
            "[[databases]]\nname = \"app\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase_name = \"{}\"\nrole = \"replica\"\n{}\n\n",
            replica.port(),
            env.database,
            replica_extra.get(i).copied().unwrap_or("")
        ));
    }
    let users = format!(
        "[[users]]\nname = \"{}\"\ndatabase = \"app\"\npassword = \"{}\"\n",
        env.user, env.password
    );
    let pgdog = Pgdog::start(&toml, &users).await;
    let url = pgdog.url(&env.user, &env.password, "app");
    (pgdog, url)
}

async fn port_of(client: &Client, sql: &str) -> u16 {
    let rows = text_rows(client, sql).await;
    rows[0][0].as_deref().unwrap().parse().unwrap()
}

/// Which server port answered each of `n` reads.
async fn spread(client: &Client, n: usize) -> HashMap<u16, usize> {
    let mut seen = HashMap::new();
    for _ in 0..n {
        *seen
            .entry(port_of(client, "SELECT inet_server_port()").await)
            .or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_replicas_and_writes_to_the_primary() {
    let env = replicated("lb_split").await;
    let (p, r1, r2) = (
        env.primary.port(),
        env.replicas[0].port(),
        env.replicas[1].port(),
    );
    let (_pgdog, url) = pgdog(&env, "read_write_split = \"exclude_primary\"", &[]).await;
    let client = connect(&url).await;

    let seen = spread(&client, 30).await;
    assert_eq!(
        seen.get(&r1),
        Some(&15),
        "round robin over two replicas: {seen:?}"
    );
    assert_eq!(seen.get(&r2), Some(&15), "{seen:?}");
    // The extended protocol is balanced too.
    let mut ports = std::collections::HashSet::new();
    for _ in 0..6 {
        let row = client
            .query_one("SELECT inet_server_port()", &[])
            .await
            .unwrap();
        ports.insert(row.get::<_, i32>(0) as u16);
    }
    assert_eq!(ports, [r1, r2].into_iter().collect());

    // Writes, row locks and plain transactions run on the primary.
    let rows = text_rows(
        &client,
        "INSERT INTO items VALUES (1, 'a') RETURNING inet_server_port()",
    )
    .await;
    assert_eq!(rows[0][0].as_deref(), Some(p.to_string().as_str()));
    let n = client
        .execute("INSERT INTO items VALUES ($1, 'b')", &[&2_i64])
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert_eq!(
        port_of(
            &client,
            "SELECT inet_server_port() FROM items WHERE id = 1 FOR UPDATE"
        )
        .await,
        p
    );
    // Functions with side effects (write_functions) send a SELECT to the primary.
    text_rows(&client, "CREATE SEQUENCE ids").await;
    let rows = text_rows(&client, "SELECT nextval('ids'), inet_server_port()").await;
    assert_eq!(rows[0][1].as_deref(), Some(p.to_string().as_str()));
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(port_of(&client, "SELECT inet_server_port()").await, p);
    assert_eq!(port_of(&client, "SELECT inet_server_port()").await, p);
    client.batch_execute("COMMIT").await.unwrap();
    // A READ ONLY transaction may run on a replica, all of it on the same one.
    client.batch_execute("BEGIN READ ONLY").await.unwrap();
    let first = port_of(&client, "SELECT inet_server_port()").await;
    assert!(first == r1 || first == r2, "{first}");
    assert_eq!(port_of(&client, "SELECT inet_server_port()").await, first);
    client.batch_execute("COMMIT").await.unwrap();

    // Manual overrides.
    assert_eq!(
        port_of(
            &client,
            "/* pgdog_role: primary */ SELECT inet_server_port()"
        )
        .await,
        p
    );
    client
        .batch_execute("SET pgdog.role = 'primary'")
        .await
        .unwrap();
    assert_eq!(port_of(&client, "SELECT inet_server_port()").await, p);
    client.batch_execute("RESET pgdog.role").await.unwrap();
    assert_ne!(port_of(&client, "SELECT inet_server_port()").await, p);
    // pgdog_explain says which role a statement gets.
    let explained = text_rows(&client, "/* pgdog_explain */ SELECT * FROM items").await;
    let role = explained
        .iter()
        .find(|r| r[0].as_deref() == Some("role"))
        .unwrap();
    assert!(
        role[1].as_deref().unwrap().starts_with("replica"),
        "{explained:?}"
    );
    let explained = text_rows(&client, "/* pgdog_explain */ DELETE FROM items").await;
    let role = explained
        .iter()
        .find(|r| r[0].as_deref() == Some("role"))
        .unwrap();
    assert_eq!(role[1].as_deref(), Some("primary"));
    let err = client
        .batch_execute("SET pgdog.role = 'leader'")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("22023"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategies_and_weights_decide_the_spread() {
    let env = replicated("lb_weights").await;
    let (p, r1, r2) = (
        env.primary.port(),
        env.replicas[0].port(),
        env.replicas[1].port(),
    );
    let (pgdog_rr, url) = pgdog(&env, "", &["lb_weight = 3", "lb_weight = 1"]).await;
    let client = connect(&url).await;
    // include_primary (the default): primary weight 1, replicas 3 and 1.
    let seen = spread(&client, 50).await;
    assert_eq!(
        (seen.get(&r1), seen.get(&r2), seen.get(&p)),
        (Some(&30), Some(&10), Some(&10)),
        "{seen:?}"
    );
    drop(client);
    drop(pgdog_rr);

    for strategy in ["random", "least_active_connections"] {
        let (_pgdog, url) = pgdog(
            &env,
            &format!(
                "load_balancing_strategy = \"{strategy}\"\nread_write_split = \"exclude_primary\""
            ),
            &[],
        )
        .await;
        let client = connect(&url).await;
        let seen = spread(&client, 40).await;
        assert!(!seen.contains_key(&p), "{strategy}: {seen:?}");
        if strategy == "random" {
            assert!(
                seen.get(&r1).copied().unwrap_or(0) >= 5,
                "{strategy}: {seen:?}"
            );
            assert!(
                seen.get(&r2).copied().unwrap_or(0) >= 5,
                "{strategy}: {seen:?}"
            );
        } else {
            // One client at a time: every replica is equally idle, the first one wins.
            assert_eq!(seen.values().sum::<usize>(), 40);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_goes_down_is_banned_and_reads_move_on() {
    let mut env = replicated("lb_ban").await;
    let (p, r1, r2) = (
        env.primary.port(),
        env.replicas[0].port(),
        env.replicas[1].port(),
    );
    let (pgdog, url) = pgdog(
        &env,
        "read_write_split = \"exclude_primary\"\nban_timeout = 1500",
        &[],
    )
    .await;
    let client = connect(&url).await;
    assert_eq!(spread(&client, 4).await.len(), 2);

    env.replicas[0].stop();
    // No read fails: the dead replica's connections are dropped, it is banned, and the
    // other replica answers.
    let seen = spread(&client, 20).await;
    assert_eq!(seen.get(&r2), Some(&20), "{seen:?}");
    assert!(
        pgdog.log().contains("server unreachable"),
        "{}",
        pgdog.log()
    );

    // Back after the ban expires.
    env.replicas[0].restart().await;
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let seen = spread(&client, 10).await;
    assert!(seen.get(&r1).copied().unwrap_or(0) >= 4, "{seen:?}");

    // With every replica down, reads go to the primary.
    env.replicas[0].stop();
    env.replicas[1].stop();
    let seen = spread(&client, 6).await;
    assert_eq!(seen.get(&p), Some(&6), "{seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgbench_reads_survive_a_replica_stopping_mid_run() {
    let mut env = replicated("lb_pgbench").await;
    let direct = conn_string(env.primary.port(), &env.user, &env.password, &env.database);
    let init = run_pgbench(&direct, &["-i", "-s", "1", "-q"]).await;
    assert!(init.output.status.success(), "{}", init.stderr());
    for replica in &env.replicas {
        replica.wait_for_replay(&env.primary).await;
    }
    let (pgdog, url) = pgdog(&env, "read_write_split = \"exclude_primary\"", &[]).await;
    let run = tokio::spawn({
        let url = url.clone();
        async move { run_pgbench(&url, &["-S", "-n", "-c", "8", "-j", "2", "-T", "6"]).await }
    });
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    env.replicas[0].stop();
    let run = run.await.unwrap();
    assert!(
        run.output.status.success(),
        "{}\n{}\npgdog log:\n{}",
        run.stdout(),
        run.stderr(),
        pgdog.log()
    );
    assert_eq!(run.failed, 0, "{}", run.stdout());
    assert!(run.processed > 100, "{}", run.stdout());
    let log = pgdog.log();
    assert!(
        log.contains("retrying it on another server") || log.contains("server unreachable"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_and_failing_replicas_are_found_by_background_checks() {
    let mut env = replicated("lb_lag").await;
    let (r1, r2) = (env.replicas[0].port(), env.replicas[1].port());
    let (pgdog, url) = pgdog(
        &env,
        "read_write_split = \"exclude_primary\"\nmax_replica_lag = 4096\nidle_healthcheck_interval = 200\nban_timeout = 60000",
        &[],
    )
    .await;
    let client = connect(&url).await;
    assert_eq!(spread(&client, 4).await.len(), 2);

    // Replay paused on one replica while the primary writes: it falls behind.
    let lagging = env.replicas[0].superuser().await;
    lagging
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    let owner = connect(&env.primary.url(&env.user, &env.password, &env.database)).await;
    owner
        .batch_execute(
            "INSERT INTO items SELECT g, repeat('x', 100) FROM generate_series(1000, 3000) g",
        )
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !pgdog.log().contains("replica lags") {
        assert!(std::time::Instant::now() < deadline, "{}", pgdog.log());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The healthy replica may itself fall past this small lag limit for a moment on a busy
    // machine (every replica lagging puts them all back in rotation): once a check has seen
    // it replay the primary's position, every read must go to it.
    env.replicas[1].wait_for_replay(&env.primary).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let seen = spread(&client, 10).await;
        if seen.get(&r2) == Some(&10) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{seen:?}\n{}",
            pgdog.log()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Caught up again: back in rotation.
    lagging
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    env.replicas[0].wait_for_replay(&env.primary).await;
    while !pgdog.log().contains("caught up") {
        assert!(std::time::Instant::now() < deadline + std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(spread(&client, 4).await.get(&r1), Some(&2));

    // A replica that dies while nobody reads is found by the background check.
    env.replicas[1].stop();
    while !pgdog.log().contains("failed its health check") {
        assert!(std::time::Instant::now() < deadline + std::time::Duration::from_secs(20));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(spread(&client, 4).await.get(&r1), Some(&4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_never_land_on_a_replica() {
    let env = replicated("lb_roles").await;
    let p = env.primary.port();
    let (proxy, url) = pgdog(&env, "read_write_split = \"exclude_primary\"", &[]).await;
    // A read and a write pipelined in one write to the socket.
    let mut conn =
        pgdog_tests::raw::RawConn::startup(proxy.port(), &env.user, &env.password, "app")
            .await
            .unwrap();
    let mut bytes = pgdog_tests::raw::query("SELECT inet_server_port()");
    bytes.extend(pgdog_tests::raw::query(
        "INSERT INTO items VALUES (10, 'pipelined') RETURNING inet_server_port()",
    ));
    conn.send(&bytes).await;
    let read = pgdog_tests::raw::rows_or_error(conn.until_ready().await).unwrap();
    assert_ne!(read[0][0].as_deref(), Some(p.to_string().as_str()));
    let write = pgdog_tests::raw::rows_or_error(conn.until_ready().await).unwrap();
    assert_eq!(write[0][0].as_deref(), Some(p.to_string().as_str()));

    let client = connect(&url).await;
    // SET LOCAL pgdog.role ends with its transaction, even one pgDog answered itself.
    for sql in ["BEGIN", "SET LOCAL pgdog.role = 'replica'", "COMMIT"] {
        client.batch_execute(sql).await.unwrap();
    }
    let rows = text_rows(
        &client,
        "INSERT INTO items VALUES (11, 'x') RETURNING inet_server_port()",
    )
    .await;
    assert_eq!(rows[0][0].as_deref(), Some(p.to_string().as_str()));
    // SELECT … INTO creates a table: the primary.
    client
        .batch_execute("SELECT * INTO items_copy FROM items")
        .await
        .unwrap();

    // In session mode a client keeps its first server, so it gets the primary.
    let (session, session_url) = pgdog(
        &env,
        "read_write_split = \"exclude_primary\"\npooler_mode = \"session\"",
        &[],
    )
    .await;
    let client = connect(&session_url).await;
    text_rows(&client, "SELECT 1").await;
    let rows = text_rows(
        &client,
        "INSERT INTO items VALUES (12, 'y') RETURNING inet_server_port()",
    )
    .await;
    assert_eq!(rows[0][0].as_deref(), Some(p.to_string().as_str()));
    drop(session);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_dying_after_half_a_reply_is_retried_without_the_client_noticing() {
    let env = replicated("lb_half").await;
    let doomed = env.replicas[0].port();
    let (pgdog, url) = pgdog(
        &env,
        "read_write_split = \"exclude_primary\"\nload_balancing_strategy = \"round_robin\"\nban_timeout = 100",
        &[],
    )
    .await;
    let client = connect(&url).await;
    // On the doomed replica the first row is produced (and sits in the server's output
    // buffer), then the backend terminates itself: PostgreSQL flushes the row with its
    // FATAL error and closes. Elsewhere the query answers both rows.
    let sql = format!(
        "SELECT 1 AS n UNION ALL \
         SELECT CASE WHEN inet_server_port() = {doomed} \
         THEN pg_terminate_backend(pg_backend_pid())::int ELSE 2 END"
    );
    for _ in 0..4 {
        let rows = text_rows(&client, &sql).await;
        assert_eq!(
            rows,
            vec![vec![Some("1".to_string())], vec![Some("2".to_string())]],
            "{}",
            pgdog.log()
        );
    }
    assert!(
        pgdog.log().contains("retrying it on another server"),
        "the doomed replica was never tried:\n{}",
        pgdog.log()
    );
    // A client that pipelines a statement pgDog answers itself behind such a read gets
    // every answer in order (the read is then not retried: its reply is no longer held).
    for _ in 0..6 {
        // Past the doomed replica's ban, so round robin reaches it again.
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        let client = connect(&url).await;
        let both = tokio::time::timeout(std::time::Duration::from_secs(15), async {
            tokio::join!(
                client.simple_query(&sql),
                client.simple_query("SET pgdog.role = 'replica'")
            )
        })
        .await
        .expect("pipelined answers never came");
        // Each finished, with rows or with the error the dead server caused.
        if let (Ok(rows), Ok(_)) = &both {
            assert_eq!(rows_of(rows).len(), 2, "{rows:?}\n{}", pgdog.log());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_into_a_writable_replica_is_not_held_back() {
    // A "replica" that accepts writes (here: the primary's own server, listed again as a
    // replica) and a COPY forced onto it: the server waits for data after
    // CopyInResponse, so pgDog must pass that on at once rather than hold it as a
    // retryable read's reply.
    let server = shared_server().await;
    let tenant = server.tenant("lb_copy_replica", PasswordKind::Scram).await;
    let port = free_port();
    let mut toml = format!(
        "[general]\nhost = \"127.0.0.1\"\nport = {port}\nread_write_split = \"exclude_primary\"\n\n"
    );
    for role in ["primary", "replica"] {
        toml.push_str(&format!(
            "[[databases]]\nname = \"app\"\nhost = \"127.0.0.1\"\nport = {}\ndatabase_name = \"{}\"\nrole = \"{role}\"\n\n",
            server.port(),
            tenant.database
        ));
    }
    let users = format!(
        "[[users]]\nname = \"{}\"\ndatabase = \"app\"\npassword = \"{}\"\n",
        tenant.user, tenant.password
    );
    let pgdog = Pgdog::start(&toml, &users).await;
    let url = pgdog.url(&tenant.user, &tenant.password, "app");
    connect(&url)
        .await
        .batch_execute("CREATE TABLE copied (n int)")
        .await
        .unwrap();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        run_psql(
            &url,
            "/* pgdog_role: replica */ COPY copied FROM STDIN;\n1\n2\n\\.\n",
        ),
    )
    .await
    .expect("the COPY hung");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = text_rows(&connect(&url).await, "SELECT count(*) FROM copied").await;
    assert_eq!(rows[0][0].as_deref(), Some("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_starts_by_preparing_stays_able_to_write() {
    // tokio-postgres prepares in a batch of its own (Parse, Describe, Sync) before it
    // executes: in session pooling that first batch picks the server for good, so it must
    // not be a replica.
    let env = replicated("lb_session_prepare").await;
    let (_pgdog, url) = pgdog(
        &env,
        "read_write_split = \"exclude_primary\"\npooler_mode = \"session\"",
        &[],
    )
    .await;
    let client = connect(&url).await;
    let insert = client
        .prepare("INSERT INTO items (id, name) VALUES ($1, 'prepared')")
        .await
        .unwrap();
    client.execute(&insert, &[&7i64]).await.unwrap();
    let row = client
        .query_one("SELECT name FROM items WHERE id = 7", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "prepared");
}
