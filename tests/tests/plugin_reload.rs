//! Hot reload: a changed plugin file, an edited pgdog.toml, SIGHUP or the admin database's
//! `RELOAD` swap plugins in without dropping a client; a transaction keeps the version it
//! started with; a broken new version is refused and the old one keeps routing.
//!
//! Two different components stand in for two versions of one plugin: `query-guard` (v1,
//! which passes a plain SELECT) and `chaos` (v2, which rewrites a query whose comment asks
//! it to). The marker query below answers 'v1' under the first and 'v2' under the second.

use std::path::{Path, PathBuf};
use std::time::Duration;

use pgdog_tests::{
    connect, describe, first_value, plugin_toml, plugin_wasm, run_pgbench, ProxyEnv,
};
use tokio_postgres::{Client, SimpleQueryMessage};

const MARKER: &str = "/* chaos: rewrite SELECT 'v2' */ SELECT 'v1'";

/// The plugin file lives in a directory of the test's own, as a user's would.
struct PluginFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl PluginFile {
    fn new(from: &Path) -> PluginFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("router.wasm");
        std::fs::copy(from, &path).unwrap();
        PluginFile { _dir: dir, path }
    }

    /// Replaces the file the way editors and build tools do: write aside, then rename.
    fn replace_with(&self, bytes: &[u8]) {
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, &self.path).unwrap();
    }
}

async fn env_with(prefix: &str, file: &PluginFile, watch_ms: u64) -> ProxyEnv {
    let block = plugin_toml("router", &file.path, "deny_tables = [\"secrets\"]", "");
    ProxyEnv::shared(prefix, move |c| {
        c.general("plugin_watch_interval", watch_ms).raw(&block)
    })
    .await
}

async fn admin(env: &ProxyEnv) -> Client {
    connect(&env.pgdog.url("admin", "admin", "admin")).await
}

/// `SHOW PLUGINS` as (name, version, content hash, calls) rows.
async fn plugins(admin: &Client) -> Vec<(String, String, String, u64)> {
    let rows = admin.simple_query("SHOW PLUGINS").await.unwrap();
    rows.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some((
                r.get("name").unwrap().to_string(),
                r.get("version").unwrap().to_string(),
                r.get("content_hash").unwrap().to_string(),
                r.get("calls").unwrap().parse().unwrap(),
            )),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_changed_file_is_reloaded_under_pgbench_without_a_failed_transaction() {
    let file = PluginFile::new(&plugin_wasm("query-guard"));
    let env = env_with("reload_bench", &file, 200).await;
    let init = run_pgbench(&env.direct_url(), &["-i", "-s", "1", "-q"]).await;
    assert!(init.output.status.success(), "{}", init.stderr());
    let client = env.client().await;
    assert_eq!(first_value(&client, MARKER).await, "v1");

    let url = env.url();
    let bench = tokio::spawn(async move {
        run_pgbench(
            &url,
            &["-S", "-c", "4", "-j", "2", "-T", "6", "-M", "extended"],
        )
        .await
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    file.replace_with(&std::fs::read(plugin_wasm("chaos-plugin")).unwrap());
    env.pgdog
        .wait_for_log("plugin reloaded", Duration::from_secs(10))
        .await;
    let run = bench.await.unwrap();
    assert!(run.output.status.success(), "{}", run.stderr());
    assert_eq!(run.failed, 0, "{}", run.stdout());
    assert!(run.processed > 100, "{}", run.stdout());
    // The client connected before the swap is still there, and follows the new version.
    assert_eq!(first_value(&client, MARKER).await, "v2");
}

#[tokio::test]
async fn a_transaction_keeps_the_version_it_started_with() {
    let file = PluginFile::new(&plugin_wasm("query-guard"));
    let env = env_with("reload_txn", &file, 100).await;
    let client = env.client().await;
    client.batch_execute("BEGIN").await.unwrap();
    assert_eq!(first_value(&client, MARKER).await, "v1");
    file.replace_with(&std::fs::read(plugin_wasm("chaos-plugin")).unwrap());
    env.pgdog
        .wait_for_log("plugin reloaded", Duration::from_secs(10))
        .await;
    // A new client already routes with the new version...
    let fresh = env.client().await;
    assert_eq!(first_value(&fresh, MARKER).await, "v2");
    // ...the open transaction still with the old one, until it ends.
    assert_eq!(first_value(&client, MARKER).await, "v1");
    client.batch_execute("COMMIT").await.unwrap();
    assert_eq!(first_value(&client, MARKER).await, "v2");
}

#[tokio::test]
async fn a_broken_new_version_is_refused_and_the_old_one_keeps_routing() {
    let file = PluginFile::new(&plugin_wasm("query-guard"));
    let env = env_with("reload_broken", &file, 100).await;
    let admin = admin(&env).await;
    let before = plugins(&admin).await;
    assert_eq!(before.len(), 1);
    file.replace_with(b"\0asm this is not a component");
    env.pgdog
        .wait_for_log(
            "the previous version keeps serving",
            Duration::from_secs(10),
        )
        .await;
    let client = env.client().await;
    let err = client
        .simple_query("SELECT * FROM secrets")
        .await
        .unwrap_err();
    assert_eq!(
        err.code().map(|c| c.code()),
        Some("42501"),
        "{}",
        describe(&err)
    );
    assert_eq!(
        plugins(&admin).await[0].2,
        before[0].2,
        "the old version's hash"
    );
}

#[tokio::test]
async fn admin_reload_and_sighup_follow_pgdog_toml() {
    let file = PluginFile::new(&plugin_wasm("query-guard"));
    // No watching: only RELOAD and SIGHUP may change anything.
    let env = env_with("reload_admin", &file, 0).await;
    let admin = admin(&env).await;
    let client = env.client().await;
    assert_eq!(first_value(&client, MARKER).await, "v1");
    assert_eq!(plugins(&admin).await.len(), 1);

    // Add a second plugin in front of the first, then RELOAD.
    let toml_path = env.pgdog.config_path();
    let original = std::fs::read_to_string(&toml_path).unwrap();
    let chaos = plugin_toml(
        "chaos",
        &plugin_wasm("chaos-plugin"),
        "version = \"2.0\"",
        "",
    );
    let with_chaos = original.replacen("[[plugins]]", &format!("{chaos}\n[[plugins]]"), 1);
    std::fs::write(&toml_path, &with_chaos).unwrap();
    assert_eq!(
        first_value(&client, MARKER).await,
        "v1",
        "nothing changes before a reload"
    );
    let reply = admin.simple_query("RELOAD").await.unwrap();
    assert!(matches!(
        reply.last(),
        Some(SimpleQueryMessage::CommandComplete(_))
    ));
    let listed = plugins(&admin).await;
    let names: Vec<&str> = listed.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(names, ["chaos", "router"]);
    assert_eq!(listed[0].1, "2.0");
    assert_eq!(first_value(&client, MARKER).await, "v2");

    // Remove it again, then SIGHUP.
    std::fs::write(&toml_path, &original).unwrap();
    env.pgdog.signal(libc::SIGHUP);
    env.pgdog
        .wait_for_log("plugin removed", Duration::from_secs(10))
        .await;
    assert_eq!(plugins(&admin).await.len(), 1);
    assert_eq!(first_value(&client, MARKER).await, "v1");
    let calls = plugins(&admin).await[0].3;
    assert!(calls >= 3, "calls counted: {calls}");

    // A pgdog.toml that does not parse is refused as a whole.
    std::fs::write(&toml_path, format!("{original}\n[[plugins]]\nname = 1\n")).unwrap();
    let err = admin.simple_query("RELOAD").await.unwrap_err();
    assert!(
        describe(&err).contains("reload refused"),
        "{}",
        describe(&err)
    );
    assert_eq!(first_value(&client, MARKER).await, "v1");
}

#[tokio::test]
async fn admin_database_answers_only_its_own_commands() {
    let file = PluginFile::new(&plugin_wasm("query-guard"));
    let env = env_with("admin_cmds", &file, 0).await;
    let admin = admin(&env).await;
    let err = admin.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(
        err.code().map(|c| c.code()),
        Some("42601"),
        "{}",
        describe(&err)
    );
    let version = first_value(&admin, "SHOW VERSION").await;
    assert!(version.starts_with("pgDog "), "{version}");
    // The extended protocol is refused cleanly.
    let err = admin.query("SHOW PLUGINS", &[]).await.unwrap_err();
    assert_eq!(
        err.code().map(|c| c.code()),
        Some("0A000"),
        "{}",
        describe(&err)
    );
    // Wrong password for the admin user.
    let bad = pgdog_tests::try_connect(&env.pgdog.url("admin", "wrong", "admin")).await;
    assert_eq!(
        bad.err()
            .and_then(|e| e.code().map(|c| c.code().to_string()))
            .as_deref(),
        Some("28P01")
    );
}

#[tokio::test]
async fn a_refused_new_plugin_loads_once_its_file_is_fixed() {
    let file = PluginFile::new(&plugin_wasm("query-guard"));
    let env = env_with("reload_fixed", &file, 100).await;
    let admin = admin(&env).await;
    // Add a second plugin whose file is broken: refused, the first keeps serving.
    let broken = PluginFile::new(&plugin_wasm("chaos-plugin"));
    broken.replace_with(b"not a component yet");
    let toml_path = env.pgdog.config_path();
    let mut toml = std::fs::read_to_string(&toml_path).unwrap();
    toml.push_str(&plugin_toml("chaos", &broken.path, "", ""));
    std::fs::write(&toml_path, toml).unwrap();
    env.pgdog
        .wait_for_log("not a valid WebAssembly component", Duration::from_secs(10))
        .await;
    assert_eq!(plugins(&admin).await.len(), 1);
    // Fixing the file is enough: it is watched although it never loaded.
    broken.replace_with(&std::fs::read(plugin_wasm("chaos-plugin")).unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while plugins(&admin).await.len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the fixed plugin was not loaded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let client = env.client().await;
    // query-guard passes the marker on to chaos, which rewrites it.
    assert_eq!(first_value(&client, MARKER).await, "v2");
}

#[tokio::test]
async fn an_idle_admin_console_does_not_hold_up_shutdown() {
    let file = PluginFile::new(&plugin_wasm("query-guard"));
    let ProxyEnv { pgdog, .. } = env_with("admin_stop", &file, 0).await;
    let admin = connect(&pgdog.url("admin", "admin", "admin")).await;
    assert_eq!(plugins(&admin).await.len(), 1);
    // The test config's shutdown_timeout is 10 s; an idle console must not use it up.
    let started = std::time::Instant::now();
    let status = pgdog.shutdown(libc::SIGTERM).await;
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let err = admin.simple_query("SHOW VERSION").await.unwrap_err();
    assert!(
        err.is_closed() || describe(&err).contains("57P01"),
        "{}",
        describe(&err)
    );
}
