//! `pgdog demo`: a ready-to-try sharded setup in one command.
//!
//! It starts a throwaway PostgreSQL server from the installed server binaries, creates a
//! user and two databases that act as the two shards of the database `pgdog`, with a
//! `users` table sharded by `id` and a few rows already placed where PostgreSQL's hash
//! partitioning puts them. It writes a config for them and serves it. Ctrl-C stops the
//! server and removes everything it created.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{Server, ServerAddress};
use crate::config::Config;

const USER: &str = "pgdog";
const PASSWORD: &str = "pgdog";
const DATABASE: &str = "pgdog";
/// The second shard's database on the same server.
const SHARD_1: &str = "pgdog_shard_1";
const CITIES: [&str; 4] = ["Lisbon", "Oslo", "Quito", "Seoul"];

pub fn run(port: u16, dir: Option<PathBuf>) -> Result<(), String> {
    let keep = dir.is_some();
    let dir = dir
        .unwrap_or_else(|| std::env::temp_dir().join(format!("pgdog-demo-{}", std::process::id())));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut server = DemoServer::start(&dir)?;
    let result = serve(&dir, port, server.port);
    server.stop();
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn serve(dir: &Path, port: u16, pg_port: u16) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let config = runtime.block_on(async {
        let admin = ServerAddress {
            host: "127.0.0.1".into(),
            port: pg_port,
            database: "postgres".into(),
            user: "postgres".into(),
            password: None,
        };
        let mut conn = Server::connect(&admin, Duration::from_secs(10))
            .await
            .map_err(|e| e.to_string())?;
        for sql in [
            format!("CREATE ROLE {USER} LOGIN PASSWORD '{PASSWORD}'"),
            format!("CREATE DATABASE {DATABASE} OWNER {USER}"),
            format!("CREATE DATABASE {SHARD_1} OWNER {USER}"),
        ] {
            conn.run_internal(&sql).await.map_err(|e| e.to_string())?;
        }
        conn.terminate().await;
        for (shard, database) in [DATABASE, SHARD_1].into_iter().enumerate() {
            let addr = ServerAddress {
                database: database.into(),
                user: USER.into(),
                password: Some(PASSWORD.into()),
                ..admin.clone()
            };
            let mut conn = Server::connect(&addr, Duration::from_secs(10))
                .await
                .map_err(|e| e.to_string())?;
            conn.run_internal(&demo_rows(shard))
                .await
                .map_err(|e| e.to_string())?;
            conn.terminate().await;
        }

        let pgdog_toml = format!(
            "[general]\nhost = \"127.0.0.1\"\nport = {port}\n\n\
             [[databases]]\nname = \"{DATABASE}\"\nhost = \"127.0.0.1\"\nport = {pg_port}\nshard = 0\n\n\
             [[databases]]\nname = \"{DATABASE}\"\nhost = \"127.0.0.1\"\nport = {pg_port}\ndatabase_name = \"{SHARD_1}\"\nshard = 1\n\n\
             [[sharded_tables]]\ndatabase = \"{DATABASE}\"\nname = \"users\"\ncolumn = \"id\"\ndata_type = \"bigint\"\n"
        );
        let users_toml = format!(
            "[[users]]\nname = \"{USER}\"\ndatabase = \"{DATABASE}\"\npassword = \"{PASSWORD}\"\n"
        );
        let (pgdog_path, users_path) = (dir.join("pgdog.toml"), dir.join("users.toml"));
        std::fs::write(&pgdog_path, pgdog_toml).map_err(|e| e.to_string())?;
        std::fs::write(&users_path, users_toml).map_err(|e| e.to_string())?;
        let config = Config::load(&pgdog_path, &users_path).map_err(|e| e.to_string())?;
        println!();
        println!("pgDog demo is ready. Connect with:");
        println!();
        println!("    psql postgres://{USER}:{PASSWORD}@127.0.0.1:{port}/{DATABASE}");
        println!();
        println!("The table users (id, name, city) is sharded by id over two shards. Try:");
        println!();
        println!("    SELECT * FROM users WHERE id = 7;                               -- one shard");
        println!("    SELECT city, count(*) FROM users GROUP BY city ORDER BY city;  -- both, merged");
        println!("    /* pgdog_explain */ SELECT * FROM users WHERE id = 7;           -- why it went there");
        println!();
        println!("Config in {}. Press Ctrl-C to stop and remove everything.", dir.display());
        println!();
        Ok::<_, String>(config)
    })?;
    drop(runtime);
    crate::run(Arc::new(config)).map_err(|e| e.to_string())
}

/// The demo table on `shard` with the rows of ids 1..=20 that hash to it.
fn demo_rows(shard: usize) -> String {
    use crate::router::hash::{shard_for, KeyType, KeyValue};
    let rows: Vec<String> = (1..=20_i64)
        .filter(|id| shard_for(&KeyValue::Int(*id), KeyType::BigInt, 2) == shard)
        .map(|id| {
            format!(
                "({id}, 'user {id}', '{}')",
                CITIES[id as usize % CITIES.len()]
            )
        })
        .collect();
    format!(
        "CREATE TABLE users (id bigint PRIMARY KEY, name text, city text); INSERT INTO users VALUES {}",
        rows.join(", ")
    )
}

/// A PostgreSQL server in `dir/data`, run as the `postgres` user when pgDog runs as root
/// (PostgreSQL refuses to run as root).
struct DemoServer {
    child: Child,
    port: u16,
}

impl DemoServer {
    fn start(dir: &Path) -> Result<DemoServer, String> {
        let bin = postgres_bin_dir()?;
        let data = dir.join("data");
        let as_root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        if as_root {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err("cannot hand the demo directory to the postgres user".into());
            }
        }
        let command = |program: &str| {
            let mut cmd = if as_root {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(bin.join(program));
                c
            } else {
                Command::new(bin.join(program))
            };
            cmd.stdin(Stdio::null());
            cmd
        };
        if !data.join("PG_VERSION").exists() {
            let out = command("initdb")
                .args([
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "-D",
                ])
                .arg(&data)
                .output()
                .map_err(|e| format!("initdb: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "initdb failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        let port = free_port()?;
        let log = std::fs::File::create(dir.join("postgres.log")).map_err(|e| e.to_string())?;
        if as_root {
            let _ = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.join("postgres.log"))
                .status();
        }
        let child = command("postgres")
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
            ])
            .arg(dir)
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("postgres: {e}"))?;
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "postgres did not start; see {}",
                    dir.join("postgres.log").display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // Accepting TCP is not the same as accepting logins; give recovery a moment.
        std::thread::sleep(Duration::from_millis(300));
        Ok(DemoServer { child, port })
    }

    fn stop(&mut self) {
        // SIGINT is PostgreSQL's "fast" shutdown. runuser forwards it to the server.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
    }
}

/// Where `initdb` and `postgres` are: on PATH, or Debian's versioned directory.
pub fn postgres_bin_dir() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("postgres").is_file() {
                return Ok(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .ok_or_else(|| "PostgreSQL server binaries not found (apt-get install postgresql)".into())
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
