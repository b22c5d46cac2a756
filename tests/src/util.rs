//! Process-wide plumbing shared by the PostgreSQL and pgDog launchers:
//! finding binaries, dropping root privileges, free ports, unique names, and
//! making sure no server outlives the test process that started it.
//!
//! Every temporary directory of a test process lives under one root
//! directory. Every long-running child (postmaster, pgdog) is registered in
//! `<root>/pids`. Two mechanisms clean that up even though the shared
//! PostgreSQL server sits in a `static` that Rust never drops:
//! * an `atexit` handler, for the normal end of the test binary;
//! * a tiny `sh` watchdog polling the test process, for when it is killed
//!   (Ctrl-C, timeout, SIGKILL) and no Rust code runs at all.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Uid/gid that PostgreSQL runs as when the tests run as root
/// (PostgreSQL refuses to start as root).
#[derive(Clone, Copy, Debug)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// `Some(postgres user)` when we are root and must drop privileges for
/// PostgreSQL binaries, `None` otherwise.
pub fn postgres_ids() -> Option<Ids> {
    static IDS: OnceLock<Option<Ids>> = OnceLock::new();
    *IDS.get_or_init(|| {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return None;
        }
        // SAFETY: getpwnam returns NULL or a pointer to static storage, which
        // we read immediately (the OnceLock serialises calls from here).
        let pw = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
        assert!(
            !pw.is_null(),
            "running as root but there is no `postgres` user to run PostgreSQL as"
        );
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        Some(Ids { uid, gid })
    })
}

/// A `Command` for a PostgreSQL binary, run as the `postgres` user if we are
/// root. `CommandExt::uid` does the same as `runuser -u postgres --` but
/// without an intermediate process, so the child pid is the real postmaster
/// pid and signals reach it directly.
pub fn pg_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    if let Some(ids) = postgres_ids() {
        cmd.uid(ids.uid).gid(ids.gid);
        // The test binary's HOME (/root) is unreadable for postgres; some
        // tools stat it (e.g. for ~/.psqlrc-like files).
        cmd.env("HOME", "/tmp");
    }
    cmd
}

/// Make `path` owned by the postgres user when running as root, so initdb /
/// postgres can write into it.
pub fn give_to_postgres(path: &Path) {
    if let Some(ids) = postgres_ids() {
        std::os::unix::fs::chown(path, Some(ids.uid), Some(ids.gid))
            .unwrap_or_else(|e| panic!("chown {} to postgres: {e}", path.display()));
    }
}

/// Locate a PostgreSQL server binary (initdb, pg_ctl, postgres): first on
/// PATH, then in the highest-versioned /usr/lib/postgresql/<ver>/bin, which is
/// where Debian installs them without putting them on PATH.
pub fn pg_bin(name: &str) -> PathBuf {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return candidate;
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let ver = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((ver, e.path().join("bin").join(name)))
        })
        .filter(|(_, p)| is_executable(p))
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, p)) => p,
        None => panic!(
            "PostgreSQL binary `{name}` not found on PATH nor in /usr/lib/postgresql/*/bin; \
             install the postgresql package"
        ),
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// A free loopback TCP port. The listener is dropped before returning, so a
/// concurrent process may grab the port first; callers that bind it retry.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// A name unique within this machine for the life of the process: tests that
/// share one PostgreSQL server each create their own roles and databases.
/// Lowercase, so it needs no quoting as an SQL identifier.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}_{}_{}", prefix.to_lowercase(), std::process::id(), n)
}

static ROOT: OnceLock<PathBuf> = OnceLock::new();

/// The root directory of all temporary files of this test process; created
/// on first use together with its watchdog and atexit cleanup.
pub fn temp_root() -> &'static Path {
    ROOT.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("pgdog-tests-")
            .tempdir()
            .expect("create temp root")
            .keep();
        // postgres must traverse it to reach its own (chowned) subdirectory.
        set_mode(&dir, 0o755);
        std::fs::create_dir(dir.join("pids")).expect("create pids dir");
        spawn_watchdog(&dir);
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe { libc::atexit(cleanup_at_exit) };
        dir
    })
}

/// A fresh directory under the temp root, removed when the handle drops.
pub fn temp_dir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(temp_root())
        .expect("create temp dir")
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {} {mode:o}: {e}", path.display()));
}

/// Record a child pid so the cleanup paths can kill it; `signal` is the
/// polite signal to send first (QUIT = immediate shutdown for postgres).
pub fn register_pid(pid: u32, signal: &str) {
    let _ = std::fs::write(temp_root().join("pids").join(pid.to_string()), signal);
}

/// Forget a pid once it has been reaped (so a recycled pid is never killed).
pub fn unregister_pid(pid: u32) {
    let _ = std::fs::remove_file(temp_root().join("pids").join(pid.to_string()));
}

/// Send a signal to a pid (no-op if it is already gone).
pub fn send_signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid as libc::pid_t, sig) };
}

/// Poll `child` until it exits or `timeout` passes.
pub fn wait_timeout(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The shell cleanup: polite signal, up to 2 s grace, SIGKILL, delete root.
/// Zombies count as gone (in the atexit path our children are unreaped).
const CLEANUP_SH: &str = r#"
alive() { s=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null); [ -n "$s" ] && [ "$s" != Z ]; }
kill_all() {
  pids=
  for f in "$ROOT"/pids/*; do
    [ -e "$f" ] || continue
    p=$(basename "$f")
    kill -"$(cat "$f")" "$p" 2>/dev/null && pids="$pids $p"
  done
  i=0
  while [ -n "$pids" ] && [ $i -lt 20 ]; do
    left=
    for p in $pids; do alive "$p" && left="$left $p"; done
    pids=$left
    [ -n "$pids" ] && sleep 0.1
    i=$((i+1))
  done
  for p in $pids; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$ROOT"
}
"#;

fn spawn_watchdog(root: &Path) {
    // Ignore terminal signals so a Ctrl-C that kills the test binary does not
    // also kill the watchdog before it cleaned up.
    let script = format!(
        "{CLEANUP_SH}\ntrap '' INT TERM HUP\n\
         while kill -0 \"$PARENT\" 2>/dev/null; do sleep 1; done\nkill_all\n"
    );
    let res = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("ROOT", root)
        .env("PARENT", std::process::id().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    // The watchdog is deliberately never waited for: it outlives us.
    if let Err(e) = res {
        eprintln!("warning: could not start cleanup watchdog: {e}");
    }
}

extern "C" fn cleanup_at_exit() {
    if let Some(root) = ROOT.get() {
        let _ = Command::new("sh")
            .arg("-c")
            .arg(format!("{CLEANUP_SH}\nkill_all\n"))
            .env("ROOT", root)
            .status();
    }
}
