//! `Pgdog`: the real pgdog binary running as a child process with a
//! generated configuration. Tests go through the same entry point users do
//! (command line, config files, TCP port, signals), so what passes here works
//! for them too.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::client::conn_string;
use crate::config::Config;
use crate::util::{register_pid, send_signal, temp_dir, unregister_pid};

pub struct Pgdog {
    /// Holds pgdog.toml, users.toml and pgdog.log; removed on drop.
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Pgdog {
    /// Path of the binary under test: `$PGDOG_BIN`, else `pgdog` in the
    /// target profile dir this test executable was built into
    /// (target/<profile>/deps/<test> -> target/<profile>/pgdog).
    pub fn binary() -> PathBuf {
        if let Some(bin) = std::env::var_os("PGDOG_BIN") {
            return PathBuf::from(bin);
        }
        let exe = std::env::current_exe().expect("current_exe");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("test executable is not in target/<profile>/deps");
        let bin = profile_dir.join("pgdog");
        assert!(
            bin.is_file(),
            "pgdog binary not found at {}: run `cargo build -p pgdog` first \
             (or set PGDOG_BIN to the binary to test)",
            bin.display()
        );
        warn_if_stale(&bin);
        bin
    }

    /// Start pgdog with a config built by `Config`.
    pub async fn from_config(cfg: &Config) -> Pgdog {
        Self::start(&cfg.pgdog_toml(), &cfg.users_toml()).await
    }

    /// Start pgdog with hand-written config files.
    pub async fn start(pgdog_toml: &str, users_toml: &str) -> Pgdog {
        Self::start_with_env(pgdog_toml, users_toml, &[]).await
    }

    /// Start pgdog with extra environment variables (RUST_LOG defaults to
    /// `info`), and wait until its port accepts TCP connections.
    pub async fn start_with_env(pgdog_toml: &str, users_toml: &str, env: &[(&str, &str)]) -> Pgdog {
        Self::launch(pgdog_toml, users_toml, env, None).await
    }

    /// Start pgdog with its address space limited to `bytes` (RLIMIT_AS, as `ulimit -v`
    /// sets it).
    pub async fn start_limited(pgdog_toml: &str, users_toml: &str, bytes: u64) -> Pgdog {
        Self::launch(pgdog_toml, users_toml, &[], Some(bytes)).await
    }

    async fn launch(
        pgdog_toml: &str,
        users_toml: &str,
        env: &[(&str, &str)],
        address_space: Option<u64>,
    ) -> Pgdog {
        let bin = Self::binary();
        let port = general_port(pgdog_toml);
        let dir = temp_dir("pgdog-");
        let config = dir.path().join("pgdog.toml");
        let users = dir.path().join("users.toml");
        std::fs::write(&config, pgdog_toml).expect("write pgdog.toml");
        std::fs::write(&users, users_toml).expect("write users.toml");
        let log = File::create(dir.path().join("pgdog.log")).expect("create pgdog.log");

        let mut cmd = Command::new(&bin);
        cmd.arg("--config")
            .arg(&config)
            .arg("--users")
            .arg(&users)
            .env("RUST_LOG", "info")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Terminal signals must not reach it: tests send their own.
            .process_group(0);
        for (k, v) in env {
            cmd.env(k, v);
        }
        if let Some(bytes) = address_space {
            let limit = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            // SAFETY: setrlimit is async-signal-safe, and `limit` is plain data copied
            // into the closure.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        register_pid(child.id(), "KILL");
        let mut pgdog = Pgdog {
            dir,
            port,
            child: Some(child),
        };

        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = pgdog.child.as_mut().unwrap().try_wait() {
                // Already exited; wait() just reaps it (and satisfies clippy).
                let mut child = pgdog.child.take().unwrap();
                let _ = child.wait();
                unregister_pid(child.id());
                panic!(
                    "pgdog exited during startup ({status}); config:\n{pgdog_toml}\nusers:\n{users_toml}\nlog:\n{}",
                    pgdog.log()
                );
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return pgdog;
            }
            if Instant::now() > deadline {
                panic!(
                    "pgdog is not accepting connections on port {port} after 10 s; log:\n{}",
                    pgdog.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Run pgdog with configs expected to be rejected: returns its exit
    /// status and log once it exits; panics if it is still running (i.e.
    /// accepted the config) after `timeout`.
    pub async fn run_to_exit(
        pgdog_toml: &str,
        users_toml: &str,
        timeout: Duration,
    ) -> (ExitStatus, String) {
        let dir = temp_dir("pgdog-");
        let config = dir.path().join("pgdog.toml");
        let users = dir.path().join("users.toml");
        std::fs::write(&config, pgdog_toml).expect("write pgdog.toml");
        std::fs::write(&users, users_toml).expect("write users.toml");
        let run = tokio::process::Command::new(Self::binary())
            .arg("--config")
            .arg(&config)
            .arg("--users")
            .arg(&users)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(timeout, run)
            .await
            .unwrap_or_else(|_| panic!("pgdog still running after {timeout:?}: config accepted?"))
            .expect("run pgdog");
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status, log)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Connection string for a client of the proxy.
    pub fn url(&self, user: &str, password: &str, db: &str) -> String {
        conn_string(self.port, user, password, db)
    }

    /// Everything pgdog wrote to stdout/stderr so far.
    /// The pgdog.toml it was started with (tests rewrite it to test reloads).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("pgdog.toml")
    }

    /// Waits until the log contains `needle`; panics with the log after `timeout`.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "pgdog did not log {needle:?} within {timeout:?}; log:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgdog.log")).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// Send a signal (e.g. `libc::SIGTERM`) without waiting.
    pub fn signal(&self, sig: libc::c_int) {
        if let Some(pid) = self.pid() {
            send_signal(pid, sig);
        }
    }

    /// Wait for the process to exit; panics (showing the log) on timeout.
    pub async fn wait_exit(mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("pgdog is not running");
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                unregister_pid(child.id());
                return status;
            }
            if Instant::now() > deadline {
                // Put it back so Drop kills it.
                self.child = Some(child);
                panic!(
                    "pgdog did not exit within {timeout:?}; log:\n{}",
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Send `sig` (SIGTERM / SIGINT) and wait up to 30 s for the exit status.
    pub async fn shutdown(self, sig: libc::c_int) -> ExitStatus {
        self.signal(sig);
        self.wait_exit(Duration::from_secs(30)).await
    }
}

impl Drop for Pgdog {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            unregister_pid(child.id());
        }
        // On a failing test the proxy's log is the most useful evidence, and
        // the directory holding it is about to be deleted.
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(80)..];
            eprintln!(
                "---- pgdog log (port {}, last {} lines) ----\n{}\n---- end of pgdog log ----",
                self.port,
                tail.len(),
                tail.join("\n")
            );
        }
    }
}

/// The `port` of the `[general]` section (6432, pgDog's default, if absent).
fn general_port(toml: &str) -> u16 {
    let mut section = "";
    for line in toml.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.starts_with('[') {
            section = line;
            continue;
        }
        if section == "[general]" {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim() == "port" {
                    return v.trim().parse().expect("general.port is not a number");
                }
            }
        }
    }
    6432
}

/// `cargo test -p pgdog-tests` does not rebuild the proxy binary, so a test
/// run can silently exercise old code. Warn (shown with any test failure)
/// when a proxy source file is newer than the binary.
fn warn_if_stale(bin: &std::path::Path) {
    fn newest(dir: &std::path::Path) -> Option<std::time::SystemTime> {
        std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                if meta.is_dir() {
                    newest(&e.path())
                } else {
                    meta.modified().ok()
                }
            })
            .max()
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../proxy/src");
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok();
    if let (Some(src_time), Some(built)) = (newest(&src), built) {
        if src_time > built {
            eprintln!(
                "WARNING: {} is older than the sources in {}: run `cargo build -p pgdog` \
                 to test the current code",
                bin.display(),
                src.display()
            );
        }
    }
}
