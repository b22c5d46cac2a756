//! Configuration parsing: defaults, the seed README's files verbatim, and precise errors.

use std::path::Path;

use super::*;

fn load(pgdog: &str, users: &str) -> Result<Config, ConfigError> {
    Config::from_strs(
        pgdog,
        Path::new("pgdog.toml"),
        users,
        Path::new("users.toml"),
    )
}

#[test]
fn minimal_config_with_servers_alias() {
    let config = load(
        "[general]\nhost = \"0.0.0.0\"\nport = 6432\n\n[[servers]]\nname = \"pgdog\"\nhost = \"127.0.0.1\"\n",
        "[[users]]\nname = \"pgdog\"\ndatabase = \"pgdog\"\npassword = \"pgdog\"\n",
    )
    .unwrap();
    assert_eq!(config.databases.len(), 1);
    assert_eq!(config.databases[0].port, 5432);
    assert_eq!(config.databases[0].server_database(), "pgdog");
    assert_eq!(config.general.pooler_mode, PoolerMode::Transaction);
    assert_eq!(config.general.default_pool_size, 10);
    assert_eq!(config.users[0].database, "pgdog");
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let err = load("[general]\nport = 6432\nbogus_key = 1\n", "")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("pgdog.toml:3:"), "{err}");
    assert!(err.contains("bogus_key"), "{err}");
}

#[test]
fn wrong_type_is_rejected_with_line() {
    let err = load("[general]\n\nport = \"six\"\n", "")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("pgdog.toml:3:"), "{err}");
}

#[test]
fn dangling_user_database_is_rejected() {
    let err = load(
        "[[databases]]\nname = \"app\"\nhost = \"127.0.0.1\"\n",
        "[[users]]\nname = \"u\"\npassword = \"p\"\ndatabase = \"nope\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("users.toml:4:"), "{err}");
    assert!(err.contains("nope"), "{err}");
    assert!(err.contains("database"), "{err}");
}

#[test]
fn bad_pooler_mode_is_rejected() {
    let err = load("[general]\npooler_mode = \"statement\"\n", "")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("pgdog.toml:2:"), "{err}");
}

#[test]
fn example_configs_in_the_repository_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    let config = Config::load(&dir.join("pgdog.toml"), &dir.join("users.toml")).unwrap();
    assert_eq!(config.general.port, 6432);
    assert_eq!(config.users[0].database, "pgdog");
}

#[test]
fn sharded_tables_are_parsed_and_checked() {
    let shards = "[[databases]]\nname = \"app\"\nhost = \"h\"\nshard = 0\n\n[[databases]]\nname = \"app\"\nhost = \"h\"\nshard = 1\n";
    let config = load(
        &format!(
            "{shards}\n[[sharded_tables]]\ndatabase = \"app\"\nname = \"users\"\ncolumn = \"id\"\ndata_type = \"varchar\"\n\n[[sharded_tables.mapping]]\nvalues = [\"a\", \"b\"]\nshard = 1\n"
        ),
        "",
    )
    .unwrap();
    assert_eq!(config.shard_count("app"), 2);
    let table = config.sharded_tables("app").next().unwrap();
    assert_eq!(table.data_type, crate::router::hash::KeyType::Text);
    assert!(table.mapping[0].matches(&MappingValue::Text("b".into())));

    let err = load(
        &format!("{shards}\n[[sharded_tables]]\ndatabase = \"app\"\ncolumn = \"id\"\ndefault_shard = 5\n"),
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("shard 5 does not exist"), "{err}");

    let err = load(
        "[[databases]]\nname = \"app\"\nhost = \"h\"\nshard = 1\n",
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("no [[databases]] entry for shard 0"), "{err}");

    let err = load(
        &format!("{shards}\n[[sharded_tables]]\ndatabase = \"app\"\ncolumn = \"id\"\ndata_type = \"float\"\n"),
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("pgdog.toml:14:"), "{err}");
}

#[test]
fn plugins_are_validated_and_resolved_next_to_pgdog_toml() {
    let db = "[[databases]]\nname = \"app\"\nhost = \"127.0.0.1\"\n";
    let config = Config::from_strs(
        &format!("{db}\n[[plugins]]\nname = \"guard\"\npath = \"plugins/guard.wasm\"\non_error = \"fail_open\"\n\n[plugins.config]\ndeny_tables = [\"a\"]\n"),
        Path::new("/etc/pgdog/pgdog.toml"),
        "",
        Path::new("users.toml"),
    )
    .unwrap();
    let plugin = &config.plugins[0];
    assert_eq!(plugin.path, Path::new("/etc/pgdog/plugins/guard.wasm"));
    assert_eq!(plugin.on_error, OnError::FailOpen);
    assert_eq!((plugin.timeout_ms, plugin.memory_mb), (100, 64));
    assert_eq!(plugin.config_json(), r#"{"deny_tables":["a"]}"#);
    for (bad, says) in [
        (
            "name = \"x\"\npath = \"x.dll\"",
            "must name a WebAssembly component (.wasm), a native plugin library (.so)",
        ),
        (
            "name = \"x\"\npath = \"x.so\"\nconfig = { a = 1 }",
            "key `config` cannot be used with a native plugin",
        ),
        (
            "name = \"x\"\npath = \"libx.so.1\"\nmemory_mb = 8",
            "key `memory_mb` cannot be enforced on a native plugin",
        ),
        (
            "name = \"x\"\npath = \"x.wasm\"\nmemory_mb = 4096",
            "memory_mb",
        ),
        (
            "name = \"x\"\npath = \"x.wasm\"\ntimeout_ms = 0",
            "timeout_ms",
        ),
        ("name = \"x\"\npath = \"x.wasm\"\nspeed = 1", "speed"),
    ] {
        let err = load(&format!("{db}\n[[plugins]]\n{bad}\n"), "")
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
    let twice = "[[plugins]]\nname = \"x\"\npath = \"x.wasm\"\n";
    let err = load(&format!("{db}\n{twice}\n{twice}"), "")
        .unwrap_err()
        .to_string();
    assert!(err.contains("used by an earlier entry"), "{err}");
}

#[test]
fn a_database_cannot_take_the_admin_databases_name() {
    let err = load(
        "[[databases]]\nname = \"admin\"\nhost = \"127.0.0.1\"\n",
        "",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("the name of the admin database"), "{err}");
}
