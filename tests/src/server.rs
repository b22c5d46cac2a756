//! `PgServer`: a real, throw-away PostgreSQL server for integration tests.
//!
//! The proxy must be tested against the real thing (authentication methods,
//! protocol corner cases, pg_stat_activity), so every test talks to a genuine
//! postmaster. To keep that cheap on a 2-core machine:
//! * `initdb` runs once per test process into a template directory and each
//!   server is a `cp -a` of it;
//! * tests that only need a database of their own share one server
//!   (`shared_server()`), isolated by unique role and database names
//!   (`PgServer::tenant`); tests that stop or break servers start their own.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::client::{connect, try_connect};
use crate::util::{
    free_port, give_to_postgres, pg_bin, pg_command, register_pid, send_signal, temp_dir,
    temp_root, unique_name, unregister_pid, wait_timeout,
};

/// How a role's password is stored on the server, which decides whether
/// PostgreSQL (with `md5` in pg_hba.conf) asks for SCRAM or for md5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordKind {
    Scram,
    Md5,
}

/// A role plus a database it owns, created with unique names so that tests
/// sharing one server never see each other's objects.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub user: String,
    pub password: String,
    pub database: String,
}

/// pg_hba.conf written by the harness: superuser and `pgdog_trust` need no
/// password (harness bookkeeping, trust tests), everybody else must
/// authenticate, with md5 meaning "SCRAM or md5, as the role is stored".
const PG_HBA: &str = "\
local all all trust
local replication all trust
host replication postgres 127.0.0.1/32 trust
host all postgres 127.0.0.1/32 trust
host all pgdog_trust 127.0.0.1/32 trust
host all all 127.0.0.1/32 md5
";

/// Settings for speed (no durability needed) and for many test clients.
const BASE_SETTINGS: &[(&str, &str)] = &[
    ("listen_addresses", "127.0.0.1"),
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "200"),
    ("shared_buffers", "32MB"),
    ("log_min_messages", "warning"),
];

pub struct PgServer {
    /// Holds data/, the unix socket and postgres.log; removed on drop.
    dir: tempfile::TempDir,
    port: u16,
    settings: Vec<(String, String)>,
    child: Option<Child>,
}

impl PgServer {
    /// Start a server with the default settings.
    pub async fn start() -> PgServer {
        Self::start_with(&[]).await
    }

    /// Start a server with extra `-c name=value` settings, e.g.
    /// `("shared_preload_libraries", "pg_stat_statements")`.
    pub async fn start_with(settings: &[(&str, &str)]) -> PgServer {
        let dir = tokio::task::spawn_blocking(|| {
            let template = template_data_dir();
            let dir = temp_dir("pg-");
            give_to_postgres(dir.path());
            // cp -a keeps the postgres ownership and 0700 mode of the data
            // dir, both of which postgres insists on.
            let out = Command::new("cp")
                .arg("-a")
                .arg(template)
                .arg(dir.path().join("data"))
                .output()
                .expect("run cp");
            assert!(out.status.success(), "cp -a template failed: {out:?}");
            dir
        })
        .await
        .unwrap();
        let mut server = PgServer {
            dir,
            port: 0,
            settings: settings
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
        };
        // The port was free when we picked it, but another process may bind it
        // before postgres does: pick a new one and try again.
        for attempt in 1..=3 {
            server.port = free_port();
            match server.spawn_and_wait().await {
                Ok(()) => return server,
                Err(log) if attempt < 3 && log.contains("could not bind") => continue,
                Err(log) => panic!(
                    "PostgreSQL did not start (port {}), log:\n{log}",
                    server.port
                ),
            }
        }
        unreachable!()
    }

    /// A streaming replica of `primary`: `pg_basebackup -R` into a new data directory,
    /// started on its own port, returned once it accepts connections and has replayed
    /// everything the primary had written when it was made.
    pub async fn replica_of(primary: &PgServer) -> PgServer {
        let dir = temp_dir("pg-replica-");
        give_to_postgres(dir.path());
        let data = dir.path().join("data");
        let out = pg_command(&pg_bin("pg_basebackup"))
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
            .expect("run pg_basebackup");
        assert!(
            out.status.success(),
            "pg_basebackup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut server = PgServer {
            dir,
            port: 0,
            settings: primary.settings.clone(),
            child: None,
        };
        for attempt in 1..=3 {
            server.port = free_port();
            match server.spawn_and_wait().await {
                Ok(()) => break,
                Err(log) if attempt < 3 && log.contains("could not bind") => continue,
                Err(log) => panic!("replica did not start (port {}), log:\n{log}", server.port),
            }
        }
        server.wait_for_replay(primary).await;
        server
    }

    /// Waits until this replica has replayed everything `primary` has written so far.
    pub async fn wait_for_replay(&self, primary: &PgServer) {
        let lsn: String = primary
            .superuser()
            .await
            .query_one("SELECT pg_current_wal_lsn()::text", &[])
            .await
            .unwrap()
            .get(0);
        let me = self.superuser().await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let caught_up: bool = me
                .query_one(
                    "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)",
                    &[&lsn],
                )
                .await
                .unwrap()
                .get(0);
            if caught_up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "replica did not catch up within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Directory of the unix socket (`-k`), for psql `-h <dir>`.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// tokio-postgres / libpq key=value connection string over TCP.
    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        crate::client::conn_string(self.port, user, password, db)
    }

    /// The server log (startup errors, crashes, warnings).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// A superuser connection to the `postgres` database.
    pub async fn superuser(&self) -> Client {
        self.superuser_on("postgres").await
    }

    /// A superuser connection to the given database.
    pub async fn superuser_on(&self, db: &str) -> Client {
        connect(&self.url("postgres", "", db)).await
    }

    /// Create a login role whose password is stored as SCRAM or md5.
    pub async fn create_user(&self, name: &str, password: &str, kind: PasswordKind) {
        let su = self.superuser().await;
        // password_encryption decides the stored format; setting it in this
        // session only leaves the server default (scram) for everyone else.
        let enc = match kind {
            PasswordKind::Scram => "scram-sha-256",
            PasswordKind::Md5 => "md5",
        };
        su.batch_execute(&format!(
            "SET password_encryption = '{enc}'; CREATE ROLE {} LOGIN PASSWORD {}",
            quote_ident(name),
            quote_literal(password)
        ))
        .await
        .unwrap_or_else(|e| panic!("create user {name}: {e:?}"));
    }

    pub async fn create_database(&self, name: &str, owner: &str) {
        let su = self.superuser().await;
        su.batch_execute(&format!(
            "CREATE DATABASE {} OWNER {}",
            quote_ident(name),
            quote_ident(owner)
        ))
        .await
        .unwrap_or_else(|e| panic!("create database {name}: {e:?}"));
    }

    /// A fresh uniquely named role (password stored as `kind`) owning a
    /// fresh database.
    pub async fn tenant(&self, prefix: &str, kind: PasswordKind) -> Tenant {
        let user = unique_name(prefix);
        let t = Tenant {
            password: format!("pw-{user}"),
            database: format!("{user}_db"),
            user,
        };
        self.create_user(&t.user, &t.password, kind).await;
        self.create_database(&t.database, &t.user).await;
        t
    }

    /// Number of server backends currently connected as `user`.
    pub async fn backends_of(&self, su: &Client, user: &str) -> i64 {
        su.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = $1",
            &[&user],
        )
        .await
        .expect("query pg_stat_activity")
        .get(0)
    }

    /// Immediate shutdown (SIGQUIT): fast, and what a crash looks like to
    /// the proxy. Idempotent. With the harness's synchronous_commit=off the
    /// last ~200 ms of commits may be lost; sessions whose data must survive
    /// a stop should `SET synchronous_commit = on`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send_signal(child.id(), libc::SIGQUIT);
            if wait_timeout(&mut child, Duration::from_secs(10)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            unregister_pid(child.id());
        }
    }

    /// Stop (if running) and start again on the same port and data.
    pub async fn restart(&mut self) {
        self.stop();
        if let Err(log) = self.spawn_and_wait().await {
            panic!(
                "PostgreSQL did not restart on port {}, log:\n{log}",
                self.port
            );
        }
    }

    /// Spawn the postmaster and wait until it accepts connections. On
    /// failure returns the log (the process has been reaped).
    async fn spawn_and_wait(&mut self) -> Result<(), String> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("postgres.log"))
            .expect("open postgres.log");
        let mut cmd = pg_command(&pg_bin("postgres"));
        cmd.arg("-D")
            .arg(self.data_dir())
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.path());
        for (k, v) in BASE_SETTINGS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain(self.settings.iter().cloned())
        {
            cmd.arg("-c").arg(format!("{k}={v}"));
        }
        // Own process group: a Ctrl-C on the terminal goes to the test
        // binary, whose cleanup then stops postgres in an orderly way.
        let child = cmd
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("spawn postgres");
        register_pid(child.id(), "QUIT");
        self.child = Some(child);

        let url = self.url("postgres", "", "postgres");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(_)) = self.child.as_mut().unwrap().try_wait() {
                // Already exited; wait() just reaps it.
                let mut child = self.child.take().unwrap();
                let _ = child.wait();
                unregister_pid(child.id());
                return Err(self.log());
            }
            if try_connect(&url).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "(not accepting connections after 30 s)\n{}",
                    self.log()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The initdb'ed template data dir, created once per test process.
fn template_data_dir() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let base = temp_root().join("template");
        std::fs::create_dir(&base).expect("create template dir");
        give_to_postgres(&base);
        let data = base.join("data");
        let out = pg_command(&pg_bin("initdb"))
            .current_dir(&base)
            .arg("-D")
            .arg(&data)
            .args([
                "--auth=trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .expect("spawn initdb");
        assert!(
            out.status.success(),
            "initdb failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let hba = data.join("pg_hba.conf");
        std::fs::write(&hba, PG_HBA).expect("write pg_hba.conf");
        give_to_postgres(&hba);
        data
    })
}

/// One server per test process for tests that only need their own tenant.
/// It lives in a static (never dropped): the atexit handler and watchdog in
/// `util` stop it when the process ends.
pub async fn shared_server() -> &'static PgServer {
    static SHARED: tokio::sync::OnceCell<PgServer> = tokio::sync::OnceCell::const_new();
    SHARED.get_or_init(PgServer::start).await
}

/// Quote an SQL identifier.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quote an SQL string literal (standard_conforming_strings is on).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
