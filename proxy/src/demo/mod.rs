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

mod plugin;

pub fn run(port: u16, dir: Option<PathBuf>, plugin: Option<PathBuf>) -> Result<(), String> {
    // Built before any server starts: a failed build then costs nothing to clean up.
    let plugin = match plugin {
        Some(path) => Some(path),
        None => plugin::build_tenant_router(),
    };
    let keep = dir.is_some();
    let dir = dir
        .unwrap_or_else(|| std::env::temp_dir().join(format!("pgdog-demo-{}", std::process::id())));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut server = DemoServer::start(&dir)?;
    let mut replica = match DemoServer::replica_of(&dir, &server) {
        Ok(replica) => replica,
        Err(err) => {
            server.stop();
            return Err(err);
        }
    };
    let result = serve(&dir, port, server.port, replica.port, plugin.as_deref());
    replica.stop();
    server.stop();
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

fn serve(
    dir: &Path,
    port: u16,
    pg_port: u16,
    replica_port: u16,
    plugin: Option<&Path>,
) -> Result<(), String> {
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

        wait_for_replica(&admin, replica_port).await?;
        let mut pgdog_toml = format!(
            "[general]\nhost = \"127.0.0.1\"\nport = {port}\nread_write_split = \"exclude_primary\"\n\n"
        );
        for (shard, database) in [DATABASE, SHARD_1].into_iter().enumerate() {
            for (role, port) in [("primary", pg_port), ("replica", replica_port)] {
                pgdog_toml.push_str(&format!(
                    "[[databases]]\nname = \"{DATABASE}\"\nhost = \"127.0.0.1\"\nport = {port}\ndatabase_name = \"{database}\"\nshard = {shard}\nrole = \"{role}\"\n\n"
                ));
            }
        }
        pgdog_toml.push_str(&format!(
            "[[sharded_tables]]\ndatabase = \"{DATABASE}\"\nname = \"users\"\ncolumn = \"id\"\ndata_type = \"bigint\"\n"
        ));
        if let Some(plugin) = plugin {
            pgdog_toml.push_str(&plugin::config_block(plugin));
        }
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
        println!("Each shard has a streaming replica (port {replica_port}; primary on {pg_port}): reads go to it,");
        println!("writes and transactions to the primary:");
        println!();
        println!("    SELECT pg_is_in_recovery();                     -- t: a replica answered");
        println!("    BEGIN; SELECT pg_is_in_recovery(); COMMIT;      -- f: the primary did");
        println!();
        if plugin.is_some() {
            plugin::explain(&pgdog_path);
        }
        println!("Config in {}. Press Ctrl-C to stop and remove everything.", dir.display());
        println!();
        Ok::<_, String>(config)
    })?;
    drop(runtime);
    crate::run(Arc::new(config)).map_err(|e| e.to_string())
}

/// Waits until the replica has replayed everything the primary wrote so far.
async fn wait_for_replica(primary: &ServerAddress, replica_port: u16) -> Result<(), String> {
    let mut conn = Server::connect(primary, Duration::from_secs(10))
        .await
        .map_err(|e| e.to_string())?;
    let lsn = conn
        .query_value("SELECT pg_current_wal_lsn()::text")
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    conn.terminate().await;
    let replica = ServerAddress {
        port: replica_port,
        ..primary.clone()
    };
    let started = Instant::now();
    loop {
        if let Ok(mut conn) = Server::connect(&replica, Duration::from_secs(5)).await {
            let sql = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
            let done = conn.query_value(&sql).await.ok().flatten();
            conn.terminate().await;
            if done.as_deref() == Some("t") {
                return Ok(());
            }
        }
        if started.elapsed() > Duration::from_secs(30) {
            return Err("the replica did not catch up with the primary".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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
        "CREATE TABLE users (id bigint PRIMARY KEY, name text, city text); INSERT INTO users VALUES {}; {}",
        rows.join(", "),
        plugin::orders(shard)
    )
}

/// A PostgreSQL server in `dir/data`, run as the `postgres` user when pgDog runs as root
/// (PostgreSQL refuses to run as root).
struct DemoServer {
    child: Child,
    port: u16,
}

/// Where the server binaries are and whether they must run as `postgres`.
struct Tools {
    bin: PathBuf,
    as_root: bool,
}

impl Tools {
    fn new() -> Result<Tools, String> {
        Ok(Tools {
            bin: postgres_bin_dir()?,
            as_root: std::fs::metadata("/proc/self")
                .map(|m| m.uid() == 0)
                .unwrap_or(false),
        })
    }

    fn command(&self, program: &str) -> Command {
        // Some installs link only the server binaries onto PATH; the others (such as
        // pg_basebackup) stay in Debian's versioned directory.
        let mut path = self.bin.join(program);
        if !path.is_file() {
            if let Some(found) = versioned_bin_dir()
                .map(|d| d.join(program))
                .filter(|p| p.is_file())
            {
                path = found;
            }
        }
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        cmd.stdin(Stdio::null());
        cmd
    }

    fn give_to_postgres(&self, path: &Path) -> Result<(), String> {
        if !self.as_root {
            return Ok(());
        }
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        if !status.success() {
            return Err("cannot hand the demo directory to the postgres user".into());
        }
        Ok(())
    }
}

impl DemoServer {
    fn start(dir: &Path) -> Result<DemoServer, String> {
        let tools = Tools::new()?;
        tools.give_to_postgres(dir)?;
        let data = dir.join("data");
        if !data.join("PG_VERSION").exists() {
            let out = tools
                .command("initdb")
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
        Self::launch(&tools, dir, &data, "postgres.log")
    }

    /// A streaming replica of `primary` (`pg_basebackup -R`) in `dir/replica`.
    fn replica_of(dir: &Path, primary: &DemoServer) -> Result<DemoServer, String> {
        let tools = Tools::new()?;
        let data = dir.join("replica");
        if !data.join("PG_VERSION").exists() {
            let out = tools
                .command("pg_basebackup")
                .args([
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                    "-X",
                    "stream",
                    "-R",
                    "-c",
                    "fast",
                    "-p",
                ])
                .arg(primary.port.to_string())
                .arg("-D")
                .arg(&data)
                .output()
                .map_err(|e| format!("pg_basebackup: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "pg_basebackup failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Self::launch(&tools, dir, &data, "replica.log")
    }

    /// Starts `postgres` on `data` and a free port, and waits until it accepts connections.
    fn launch(
        tools: &Tools,
        dir: &Path,
        data: &Path,
        log_name: &str,
    ) -> Result<DemoServer, String> {
        let port = free_port()?;
        let log_path = dir.join(log_name);
        let log = std::fs::File::create(&log_path).map_err(|e| e.to_string())?;
        tools.give_to_postgres(&log_path)?;
        let child = tools
            .command("postgres")
            .arg("-D")
            .arg(data)
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
                    log_path.display()
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
    versioned_bin_dir()
        .ok_or_else(|| "PostgreSQL server binaries not found (apt-get install postgresql)".into())
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding `initdb`.
fn versioned_bin_dir() -> Option<PathBuf> {
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
    versions.pop().map(|(_, bin)| bin)
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
