//! `pgdog plugin check`: a component is loaded as pgDog loads it and its decisions are
//! printed, with no server; a file that is not a component, or a plugin whose `init`
//! fails, exits 2 with the reason.

use std::process::Output;

use pgdog::router::hash::{shard_for, KeyType, KeyValue};
use pgdog_tests::{plugin_wasm, Pgdog};

fn check(args: &[&str]) -> (Output, String) {
    let out = std::process::Command::new(Pgdog::binary())
        .args(["plugin", "check"])
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[test]
fn prints_each_decision() {
    let wasm = plugin_wasm("chaos-plugin");
    let (out, text) = check(&[
        wasm.to_str().unwrap(),
        "--plugin-config",
        r#"{"version": "3.1"}"#,
        "--shards",
        "4",
        "SELECT 1",
        "/* chaos: hash 5 */ SELECT 1",
        "/* chaos: rewrite SELECT 2 */ SELECT 1",
    ]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("version 3.1"), "{text}");
    // The plugin hashed through the host: the shard PostgreSQL's hash partitioning picks.
    let shard = shard_for(&KeyValue::Int(5), KeyType::BigInt, 4);
    assert!(
        text.contains(&format!("route: shards [{shard}], role any")),
        "{text}"
    );
    assert!(
        text.contains("pass (the built-in router decides)"),
        "{text}"
    );
    assert!(text.contains("rewrite to \"SELECT 2\""), "{text}");
    // It names no key, so it is not called through `route-key`.
    assert!(!text.contains("keyed:"), "{text}");
    // With a key it is, and says so; a statement naming the key is decided there.
    let (out, text) = check(&[
        wasm.to_str().unwrap(),
        "--plugin-config",
        r#"{"key": "k"}"#,
        "SELECT * FROM t WHERE k = 5",
    ]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("keyed: route-key is called with the placed values of k (integer)"),
        "{text}"
    );
    assert!(text.contains("route-key: FoundKey"), "{text}");
    // A failing call is reported, and the exit code says so.
    let (out, text) = check(&[wasm.to_str().unwrap(), "/* chaos: trap */ SELECT 1"]);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("reject 58000") && text.contains("trapped"),
        "{text}"
    );
}

#[test]
fn refuses_what_cannot_load() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm at all").unwrap();
    let (out, text) = check(&[junk.to_str().unwrap(), "SELECT 1"]);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("not a valid WebAssembly component"), "{text}");
    let wasm = plugin_wasm("chaos-plugin");
    let (out, text) = check(&[
        wasm.to_str().unwrap(),
        "--plugin-config",
        r#"{"fail_init": true}"#,
    ]);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("init refused its config: told to fail"),
        "{text}"
    );
    // A reference plugin's own config check.
    let guard = plugin_wasm("query-guard");
    let (out, text) = check(&[
        guard.to_str().unwrap(),
        "--plugin-config",
        r#"{"deny_tablez": []}"#,
    ]);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("deny_tablez"), "{text}");
}
