//! A wasm plugin that loops, traps, eats memory or answers nonsense is stopped by its
//! limits and handled by its `on_error` policy, while pgDog and every other client keep
//! going. The misbehaving plugin is `tests/plugins/chaos`.

use std::time::Duration;

use pgdog_tests::{connect, describe, first_value, plugin_toml, plugin_wasm, sqlstate, ProxyEnv};

async fn chaos_env(prefix: &str, config: &str, extra: &str) -> ProxyEnv {
    let block = plugin_toml("chaos", &plugin_wasm("chaos-plugin"), config, extra);
    ProxyEnv::shared(prefix, |c| c.raw(&block)).await
}

/// Errors carry the plugin's name and what went wrong; the same client and a new one
/// both keep working.
async fn fails_then_recovers(env: &ProxyEnv, sql: &str, code: &str, says: &str) {
    let client = env.client().await;
    let err = client.simple_query(sql).await.expect_err(sql);
    assert_eq!(sqlstate(&err).as_deref(), Some(code), "{}", describe(&err));
    assert!(describe(&err).contains(says), "{}", describe(&err));
    assert_eq!(first_value(&client, "SELECT 1").await, "1");
    let other = connect(&env.url()).await;
    assert_eq!(first_value(&other, "SELECT 2").await, "2");
}

#[tokio::test]
async fn a_plugin_that_loops_is_stopped_at_its_deadline() {
    let env = chaos_env(
        "plug_loop",
        "",
        "timeout_ms = 50\non_error = \"fail_closed\"",
    )
    .await;
    let started = std::time::Instant::now();
    fails_then_recovers(
        &env,
        "/* chaos: loop */ SELECT 1",
        "58000",
        "timed out after 50 ms",
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    // Many at once: each loop is stopped, none blocks the others for long.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let url = env.url();
        tasks.push(tokio::spawn(async move {
            let c = connect(&url).await;
            let err = c
                .simple_query("/* chaos: loop */ SELECT 1")
                .await
                .unwrap_err();
            assert_eq!(sqlstate(&err).as_deref(), Some("58000"));
            assert_eq!(first_value(&c, "SELECT 3").await, "3");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn fail_open_skips_a_looping_plugin() {
    let env = chaos_env("plug_open", "", "timeout_ms = 30\non_error = \"fail_open\"").await;
    let client = env.client().await;
    assert_eq!(
        first_value(&client, "/* chaos: loop */ SELECT 42").await,
        "42"
    );
    env.pgdog
        .wait_for_log(
            "timed out after 30 ms; skipped (on_error = fail_open)",
            Duration::from_secs(5),
        )
        .await;
}

#[tokio::test]
async fn a_plugin_that_traps_is_replaced() {
    let env = chaos_env("plug_trap", "", "on_error = \"fail_closed\"").await;
    for _ in 0..3 {
        fails_then_recovers(&env, "/* chaos: trap */ SELECT 1", "58000", "trapped").await;
    }
    // Fail open: the statement runs as if the plugin had passed.
    let open = chaos_env("plug_trap_open", "", "on_error = \"fail_open\"").await;
    let client = open.client().await;
    assert_eq!(
        first_value(&client, "/* chaos: trap */ SELECT 5").await,
        "5"
    );
}

#[tokio::test]
async fn a_plugin_that_eats_memory_is_stopped_at_its_cap() {
    let env = chaos_env("plug_mem", "", "memory_mb = 16\ntimeout_ms = 5000").await;
    fails_then_recovers(
        &env,
        "/* chaos: eat */ SELECT 1",
        "58000",
        "memory limit of 16 MB",
    )
    .await;
    fails_then_recovers(
        &env,
        "/* chaos: eat */ SELECT 1",
        "58000",
        "memory limit of 16 MB",
    )
    .await;
}

#[tokio::test]
async fn invalid_decisions_are_plugin_errors() {
    let env = chaos_env("plug_bad", "", "").await;
    fails_then_recovers(
        &env,
        "/* chaos: bad-shard */ SELECT 1",
        "58000",
        "shard 999 does not exist",
    )
    .await;
    fails_then_recovers(
        &env,
        "/* chaos: bad-sqlstate */ SELECT 1",
        "58000",
        "is not a SQLSTATE",
    )
    .await;
}

#[tokio::test]
async fn a_plugin_that_waits_is_stopped_at_once() {
    // Plugins run on a worker's own thread: a sleep would stall every client of it.
    let env = chaos_env("plug_wait", "", "timeout_ms = 5000").await;
    let started = std::time::Instant::now();
    fails_then_recovers(
        &env,
        "/* chaos: sleep */ SELECT 1",
        "58000",
        "must not wait",
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_millis(2000),
        "the sleep was waited for: {:?}",
        started.elapsed()
    );
    // Reading the closed stdin is not a wait: it ends at once, and the statement runs.
    let client = env.client().await;
    assert_eq!(
        first_value(&client, "/* chaos: stdin */ SELECT 4").await,
        "4"
    );
    env.pgdog
        .wait_for_log("chaos read Ok(0) from stdin", Duration::from_secs(5))
        .await;
    // Nor are a zero-length wait and a zero-timeout poll: the deadline is already past.
    assert_eq!(
        first_value(&client, "/* chaos: no-wait */ SELECT 5").await,
        "5"
    );
    env.pgdog
        .wait_for_log("chaos polled [0]", Duration::from_secs(5))
        .await;
}

#[tokio::test]
async fn plugins_get_no_network() {
    let env = chaos_env("plug_net", "", "").await;
    let client = env.client().await;
    let err = client
        .simple_query("/* chaos: network */ SELECT 1")
        .await
        .unwrap_err();
    let text = describe(&err);
    assert!(
        text.contains("tcp Some(ErrorCode { code: 1, name: \"access-denied\"")
            && text.contains("udp Some(ErrorCode { code: 1, name: \"access-denied\""),
        "{text}"
    );
    assert_eq!(first_value(&client, "SELECT 6").await, "6");
}

#[tokio::test]
async fn guest_output_and_log_lines_reach_pgdogs_log() {
    let env = chaos_env("plug_log", "version = \"7.1\"", "").await;
    let client = env.client().await;
    first_value(&client, "/* chaos: print */ SELECT 1").await;
    first_value(&client, "/* chaos: log */ SELECT 1").await;
    let log = env
        .pgdog
        .wait_for_log("chaos saw 1 shard(s)", Duration::from_secs(5))
        .await;
    let printed = log
        .lines()
        .find(|l| l.contains("chaos says hello on stdout"))
        .unwrap_or_else(|| panic!("no stdout line in:\n{log}"));
    assert!(
        printed.contains("chaos") && printed.contains("7.1"),
        "{printed}"
    );
    let logged = log
        .lines()
        .find(|l| l.contains("chaos saw 1 shard(s)"))
        .unwrap();
    assert!(
        logged.contains("WARN") && logged.contains("7.1"),
        "{logged}"
    );
}

#[tokio::test]
async fn rewrites_reach_the_server_in_both_protocols() {
    let env = chaos_env("plug_rw", "", "").await;
    let client = env.client().await;
    assert_eq!(
        first_value(&client, "/* chaos: rewrite SELECT 7 */ SELECT 1").await,
        "7"
    );
    // tokio-postgres prepares (Parse, Describe, Sync) before it binds: the rewrite happens
    // at the Parse.
    let row = client
        .query_one(
            "/* chaos: rewrite SELECT $1::int + 100 */ SELECT $1::int",
            &[&5i32],
        )
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)));
    assert_eq!(row.get::<_, i32>(0), 105);
}

#[tokio::test]
async fn bound_parameters_reach_the_plugin() {
    let env = chaos_env("plug_params", "", "").await;
    let client = env.client().await;
    let err = client
        .query_one(
            "/* chaos: params */ SELECT $1::text, $2::text",
            &[&"abc", &"xyz"],
        )
        .await
        .unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("P0001"),
        "{}",
        describe(&err)
    );
    // The whole list, and each position: `$0` and one past the end are nothing.
    assert!(
        describe(&err).contains(
            "params: [\"abc\", \"xyz\"] $0=None $1=Some(\"abc\") $2=Some(\"xyz\") $3=None"
        ),
        "{}",
        describe(&err)
    );
}

#[tokio::test]
async fn after_query_hook_hears_how_statements_went() {
    let env = chaos_env("plug_audit", "audit = true", "").await;
    let client = env.client().await;
    client
        .batch_execute("CREATE TABLE audited (id int); INSERT INTO audited VALUES (1), (2), (3)")
        .await
        .unwrap();
    first_value(&client, "SELECT count(*) FROM audited").await;
    client
        .simple_query("SELECT * FROM missing_table")
        .await
        .unwrap_err();
    // Through the extended protocol, with its parameters.
    let rows = client
        .query("SELECT id FROM audited WHERE id >= $1", &[&2i32])
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    env.pgdog
        .wait_for_log(
            "audit: SELECT count(*) FROM audited rows=1 shards=[0] error=",
            Duration::from_secs(5),
        )
        .await;
    env.pgdog
        .wait_for_log(
            "audit: SELECT * FROM missing_table rows=0 shards=[0] error=42P01",
            Duration::from_secs(5),
        )
        .await;
    env.pgdog
        .wait_for_log(
            "audit: SELECT id FROM audited WHERE id >= $1 rows=2 shards=[0] error=",
            Duration::from_secs(5),
        )
        .await;
}

#[tokio::test]
async fn a_plugin_whose_init_fails_stops_start_up() {
    let env = chaos_env("plug_init", "", "").await;
    let toml = std::fs::read_to_string(env.pgdog.config_path()).unwrap();
    let broken = toml.replace("config = {  }", "config = { fail_init = true }");
    assert_ne!(broken, toml);
    let port = pgdog_tests::free_port();
    let broken = broken.replace(
        &format!("port = {}", env.pgdog.port()),
        &format!("port = {port}"),
    );
    let users =
        std::fs::read_to_string(env.pgdog.config_path().with_file_name("users.toml")).unwrap();
    let (status, log) =
        pgdog_tests::Pgdog::run_to_exit(&broken, &users, Duration::from_secs(30)).await;
    assert!(!status.success());
    assert!(log.contains("told to fail by its config"), "{log}");
}

/// Where the address space is limited (`ulimit -v`, valgrind), the plugin engine starts
/// with a smaller pool of instance slots instead of refusing to start, says so in the
/// log, and plugins work as usual.
#[tokio::test]
async fn a_limited_address_space_gets_a_smaller_instance_pool() {
    let server = pgdog_tests::shared_server().await;
    let tenant = server
        .tenant("plug_vm", pgdog_tests::PasswordKind::Scram)
        .await;
    let block = plugin_toml(
        "guard",
        &plugin_wasm("query-guard"),
        "deny_tables = [\"secrets\"]",
        "on_error = \"fail_closed\"",
    );
    let cfg = pgdog_tests::Config::new(pgdog_tests::free_port())
        .tenant(&tenant, server.port())
        .raw(&block);
    // 256 slots reserve about 2 TiB and 64 about 520 GiB; 16 take about 130 GiB.
    let pgdog =
        pgdog_tests::Pgdog::start_limited(&cfg.pgdog_toml(), &cfg.users_toml(), 300 << 30).await;
    pgdog
        .wait_for_log(
            "could not reserve address space for 256 instances",
            Duration::from_secs(10),
        )
        .await;
    let client = connect(&pgdog.url(&tenant.user, &tenant.password, &tenant.database)).await;
    let err = client
        .simple_query("SELECT * FROM secrets")
        .await
        .expect_err("query-guard refuses the denied table");
    assert!(describe(&err).contains("secrets"), "{}", describe(&err));
    assert_eq!(first_value(&client, "SELECT 7").await, "7");
}
