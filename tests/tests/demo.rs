//! `pgdog demo` as a new user runs it: two shards, each with a streaming replica, come up
//! with a sharded table; a single-shard and a cross-shard query answer through psql, reads
//! from the replica and a transaction from the primary; the tenant-router plugin routes by
//! tenant and follows an edit of its config without a restart.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgdog_tests::util::send_signal;
use pgdog_tests::*;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How long four PostgreSQL servers (two of them from base backups) may take to come up
/// while the rest of the suite runs beside them on two cores.
const COME_UP: Duration = Duration::from_secs(180);

/// Reads the demo's output as it comes: a pipe nobody reads fills up and then blocks the
/// demo at its next log line. What was read is shown when the test fails.
fn drain(mut pipe: impl AsyncRead + Unpin + Send + 'static, into: Arc<Mutex<Vec<u8>>>) {
    tokio::spawn(async move {
        let mut chunk = [0u8; 4096];
        while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
            into.lock().unwrap().extend_from_slice(&chunk[..n]);
        }
    });
}

fn shown(output: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&output.lock().unwrap()).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_a_sharded_table_over_two_shards() {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(Pgdog::binary())
        .args(["demo", "--port", &port.to_string(), "--dir"])
        .arg(dir.path().join("demo"))
        .arg("--plugin")
        .arg(plugin_wasm("tenant-router"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = Arc::new(Mutex::new(Vec::new()));
    drain(child.stdout.take().unwrap(), output.clone());
    drain(child.stderr.take().unwrap(), output.clone());
    let url = conn_string(port, "pgdog", "pgdog", "pgdog");
    let started = Instant::now();
    let client = loop {
        if let Ok(client) = try_connect(&url).await {
            break client;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "the demo exited ({status}) before serving:\n{}",
                shown(&output)
            );
        }
        assert!(
            started.elapsed() < COME_UP,
            "the demo did not come up within {COME_UP:?}:\n{}",
            shown(&output)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    drop(client);
    let out = run_psql(
        &url,
        "SELECT name FROM users WHERE id = 7;\n\
         SELECT city, count(*) FROM users GROUP BY city ORDER BY city;\n\
         SELECT count(*) FROM users;\n",
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["user 7", "Lisbon|5", "Oslo|5", "Quito|5", "Seoul|5", "20"],
        "{stdout}"
    );
    // Reads go to the shard's replica; a transaction to its primary.
    let out = run_psql(
        &url,
        "SELECT pg_is_in_recovery();\nBEGIN;\nSELECT pg_is_in_recovery();\nCOMMIT;\n",
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .collect::<Vec<_>>(),
        ["t", "f"]
    );
    // The tenant-router plugin routes orders by tenant, and follows an edit of its map.
    let globex = "SELECT count(*) FROM orders WHERE tenant = 'globex';\n";
    let out = run_psql(
        &url,
        &format!("{globex}/* tenant: acme */ SELECT count(*) FROM orders;\n"),
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["3", "3"],
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_psql(&url, "SELECT * FROM orders WHERE tenant = 'initech';\n").await;
    assert!(!out.status.success());
    let toml_path = dir.path().join("demo/pgdog.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    std::fs::write(&toml_path, toml.replace("globex = 1", "globex = 0")).unwrap();
    let edited = Instant::now();
    loop {
        let out = run_psql(&url, globex).await;
        if String::from_utf8_lossy(&out.stdout).trim() == "0" {
            break;
        }
        assert!(
            edited.elapsed() < Duration::from_secs(15),
            "the edit was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    send_signal(child.id().unwrap(), libc::SIGINT);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("demo stops on Ctrl-C")
        .unwrap();
    assert!(status.success());
}
