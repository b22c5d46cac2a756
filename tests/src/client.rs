//! Client-side helpers: tokio-postgres connections (with timeouts, so a proxy
//! that hangs fails the test instead of stalling it), and the real `psql` and
//! `pgbench` programs, which exercise code paths tokio-postgres never uses
//! (SSLRequest negotiation, libpq's startup parameters, pgbench's pipelines).

use std::process::{Output, Stdio};
use std::time::Duration;

use futures_util::{future, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client, Error, NoTls};

/// Upper bound for any connection attempt made by the harness.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A libpq/tokio-postgres key=value connection string to 127.0.0.1:port.
/// An empty password is left out (trust authentication).
pub fn conn_string(port: u16, user: &str, password: &str, db: &str) -> String {
    let mut s = format!(
        "host=127.0.0.1 port={port} user={} dbname={}",
        quote_value(user),
        quote_value(db)
    );
    if !password.is_empty() {
        s.push_str(&format!(" password={}", quote_value(password)));
    }
    s
}

fn quote_value(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Split a key=value connection string produced by `conn_string` back into
/// pairs (handles the quoting that `conn_string` applies).
pub fn parse_conn_string(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let mut val = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => val.extend(chars.next()),
                    '\'' => break,
                    c => val.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ' ') {
                val.push(c);
            }
        }
        out.push((key.trim().to_string(), val));
    }
}

/// Connect or return the error (for tests that expect a failure). Panics if
/// the attempt does not finish within `CONNECT_TIMEOUT`: a hang is a bug.
pub async fn try_connect(url: &str) -> Result<Client, Error> {
    try_connect_raw(url).await.map(|(client, _)| client)
}

/// Like `try_connect`, also returning the connection driver task: aborting
/// it drops the socket without a Terminate message, i.e. a killed client.
pub async fn try_connect_raw(url: &str) -> Result<(Client, JoinHandle<()>), Error> {
    let fut = tokio_postgres::connect(url, NoTls);
    let (client, conn) = match tokio::time::timeout(CONNECT_TIMEOUT, fut).await {
        Ok(res) => res?,
        Err(_) => panic!("connecting with `{url}` did not finish within {CONNECT_TIMEOUT:?}"),
    };
    let handle = tokio::spawn(async move {
        // The Client only reports "connection closed"; the cause (protocol
        // violation, I/O error) is only visible here, so print it.
        if let Err(e) = conn.await {
            eprintln!("tokio-postgres connection ended with an error: {e:?}");
        }
    });
    Ok((client, handle))
}

/// Connect or panic with the server's error.
pub async fn connect(url: &str) -> Client {
    connect_raw(url).await.0
}

/// `connect` plus the driver task handle (see `try_connect_raw`).
pub async fn connect_raw(url: &str) -> (Client, JoinHandle<()>) {
    try_connect_raw(url)
        .await
        .unwrap_or_else(|e| panic!("connect `{url}`: {}", describe(&e)))
}

/// Connect and forward asynchronous messages (NOTICEs, NOTIFYs) to a channel;
/// the plain driver discards them.
pub async fn connect_with_messages(url: &str) -> (Client, mpsc::UnboundedReceiver<AsyncMessage>) {
    let fut = tokio_postgres::connect(url, NoTls);
    let (client, mut conn) = tokio::time::timeout(CONNECT_TIMEOUT, fut)
        .await
        .unwrap_or_else(|_| panic!("connecting with `{url}` timed out"))
        .unwrap_or_else(|e| panic!("connect `{url}`: {}", describe(&e)));
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        // poll_message drives the connection and yields async messages.
        let mut stream = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(msg) = stream.next().await {
            match msg {
                Ok(m) => {
                    let _ = tx.send(m);
                }
                Err(e) => {
                    eprintln!("tokio-postgres connection ended with an error: {e:?}");
                    break;
                }
            }
        }
    });
    (client, rx)
}

/// The SQLSTATE of an error, if the server (or proxy) sent one.
pub fn sqlstate(e: &Error) -> Option<String> {
    e.code().map(|c| c.code().to_string())
}

/// A one-line description including SQLSTATE and message, for assertions.
pub fn describe(e: &Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        ),
        None => format!("{e} ({e:?})"),
    }
}

/// Run `f` concurrently for each of `n` ids and return all results, for
/// "many clients at once" tests.
pub async fn concurrently<F, Fut, T>(n: usize, f: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|i| tokio::spawn(f(i))).collect();
    future::join_all(handles)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic())))
        .collect()
}

/// Split a connection string into libpq command-line form: the password goes
/// into PGPASSWORD (kept off the command line, as a user would do), the rest
/// stays a conninfo string.
fn libpq_args(url: &str) -> (String, String) {
    let mut password = String::new();
    let mut rest = Vec::new();
    for (k, v) in parse_conn_string(url) {
        if k == "password" {
            password = v;
        } else {
            rest.push(format!("{k}={}", quote_value(&v)));
        }
    }
    (rest.join(" "), password)
}

/// Run a script through the real `psql` (`-X -q -A -t -v ON_ERROR_STOP=1`:
/// output is one unaligned line per row, no command tags, and the first
/// error fails the run).
pub async fn run_psql(url: &str, script: &str) -> Output {
    let (conninfo, password) = libpq_args(url);
    let mut child = tokio::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-f",
            "-",
            "-d",
        ])
        .arg(&conninfo)
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn psql (is the postgresql-client package installed?)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(script.as_bytes()).await.unwrap();
    drop(stdin);
    tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("psql did not finish within 120 s")
        .expect("wait for psql")
}

/// Outcome of one pgbench run, with the counters pgbench prints at the end.
#[derive(Debug)]
pub struct PgbenchRun {
    pub output: Output,
    /// "number of failed transactions: N" (0 if pgbench did not print it).
    pub failed: u64,
    /// "number of transactions actually processed: N/M" -> N.
    pub processed: u64,
    /// "tps = X (without initial connection time)".
    pub tps: Option<f64>,
}

impl PgbenchRun {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Run the real `pgbench` against `url` with extra `args` (e.g. `-i -s 1`,
/// or `-c 8 -j 2 -t 500 -M prepared`).
pub async fn run_pgbench(url: &str, args: &[&str]) -> PgbenchRun {
    let mut host = "127.0.0.1".to_string();
    let (mut port, mut user, mut db, mut password) =
        (String::new(), String::new(), String::new(), String::new());
    for (k, v) in parse_conn_string(url) {
        match k.as_str() {
            "host" => host = v,
            "port" => port = v,
            "user" => user = v,
            "dbname" => db = v,
            "password" => password = v,
            _ => {}
        }
    }
    let child = tokio::process::Command::new("pgbench")
        .args(["-h", &host, "-p", &port, "-U", &user])
        .args(args)
        .arg(&db)
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn pgbench (is the postgresql-contrib/client package installed?)");
    let output = tokio::time::timeout(Duration::from_secs(600), child.wait_with_output())
        .await
        .expect("pgbench did not finish within 600 s")
        .expect("wait for pgbench");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let number_after = |prefix: &str| -> Option<&str> {
        stdout
            .lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(|rest| rest.trim())
    };
    let failed = number_after("number of failed transactions:")
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let processed = number_after("number of transactions actually processed:")
        .and_then(|r| r.split('/').next()?.trim().parse().ok())
        .unwrap_or(0);
    let tps = number_after("tps =").and_then(|r| r.split_whitespace().next()?.parse().ok());
    PgbenchRun {
        output,
        failed,
        processed,
        tps,
    }
}
