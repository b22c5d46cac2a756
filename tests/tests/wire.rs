//! Message-level equivalence with PostgreSQL: the same hand-framed message
//! sequences are sent straight to the server and through pgDog, and the
//! sequence of response types (with transaction status) must be identical.
//! These are the protocol corners drivers rely on but rarely exercise all at
//! once: errors that skip to Sync, Flush without Sync, suspended portals,
//! Describe, empty queries, COPY sub-protocol, transaction status.

use std::time::Duration;

use pgdog_tests::raw::{self, RawConn, Recv};
use pgdog_tests::*;

/// One round trip: bytes to send, and how many ReadyForQuery end it (0:
/// read until the connection is quiet, for Flush / COPY starts).
type Step = (Vec<u8>, usize);

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// Response types of each step as letters; ReadyForQuery is written with its
/// status, e.g. `Z(I)`. Timeouts and closes are recorded, not panicked on,
/// so a failing assertion shows the whole transcript.
async fn transcript(port: u16, t: &Tenant, steps: &[Step]) -> Vec<String> {
    let mut c = RawConn::startup(port, &t.user, &t.password, &t.database)
        .await
        .unwrap_or_else(|e| panic!("login on port {port}: {:?}", e.fields()));
    let mut out = Vec::new();
    for (bytes, ready) in steps {
        c.send(bytes).await;
        let mut got = String::new();
        let mut seen = 0;
        loop {
            let wait = if *ready == 0 { 500 } else { 5000 };
            match c.recv_timeout(Duration::from_millis(wait)).await {
                Recv::Msg(m) if m.tag == b'Z' => {
                    got.push_str(&format!("Z({})", m.body[0] as char));
                    seen += 1;
                    if seen == *ready {
                        break;
                    }
                }
                Recv::Msg(m) => got.push(m.tag as char),
                Recv::Timeout if *ready == 0 => break,
                Recv::Timeout => {
                    got.push_str("<timeout>");
                    break;
                }
                Recv::Eof => {
                    got.push_str("<closed>");
                    out.push(got);
                    return out;
                }
            }
        }
        out.push(got);
    }
    out
}

/// Run `steps` directly and through pgDog; they must match.
async fn same_as_server(name: &str, setup_sql: &str, steps: Vec<Step>) {
    let env = ProxyEnv::shared("wire", |c| c.pool_size(3)).await;
    if !setup_sql.is_empty() {
        env.direct().await.batch_execute(setup_sql).await.unwrap();
    }
    let direct = transcript(env.server.port(), &env.tenant, &steps).await;
    let proxied = transcript(env.pgdog.port(), &env.tenant, &steps).await;
    assert_eq!(
        proxied, direct,
        "{name}: pgDog (left) differs from PostgreSQL (right)"
    );
}

/// Parse + Bind + Execute + Sync of unnamed `sql` without parameters.
fn run(sql: &str) -> Vec<u8> {
    cat(&[
        raw::parse("", sql),
        raw::bind("", "", &[]),
        raw::execute("", 0),
        raw::sync(),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_skip_to_sync() {
    let bad_bind = cat(&[
        raw::parse("", "SELECT $1::int"),
        raw::bind("", "", &[Some("not a number")]),
        raw::execute("", 0),
        raw::sync(),
    ]);
    let steps = vec![
        (run("SELEC 1"), 1),
        (bad_bind, 1),
        (cat(&[run("SELECT 1/0"), run("SELECT 1")]), 2),
        (raw::query("SELECT 1; SELECT 1/0; SELECT 2"), 1),
        (raw::sync(), 1),
    ];
    same_as_server("errors", "", steps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_suspended_portals_and_describe() {
    let flushed = cat(&[
        raw::parse("", "SELECT 1"),
        raw::bind("", "", &[]),
        raw::execute("", 0),
        raw::flush(),
    ]);
    let suspended = cat(&[
        raw::parse("", "SELECT generate_series(1, 5)"),
        raw::bind("", "", &[]),
        raw::execute("", 2),
        raw::execute("", 2),
        raw::execute("", 0),
        raw::sync(),
    ]);
    let mut describe_portal = raw::describe_statement("");
    describe_portal[5] = b'P';
    let described = cat(&[
        raw::parse("named", "SELECT $1::text AS a, 2 AS b"),
        raw::describe_statement("named"),
        raw::bind("", "named", &[Some("x")]),
        describe_portal,
        raw::execute("", 0),
        raw::close_statement("named"),
        raw::sync(),
    ]);
    let steps = vec![
        // Responses must arrive on Flush, before any Sync.
        (flushed, 0),
        (raw::sync(), 1),
        (suspended, 1),
        (described, 1),
        (run(""), 1),
        (raw::query(""), 1),
        (run("DO $$ BEGIN RAISE NOTICE 'n'; END $$"), 1),
    ];
    same_as_server("flush/portals/describe", "", steps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_status_in_ready_for_query() {
    let steps = vec![
        (raw::query("BEGIN"), 1),
        (run("INSERT INTO wire_tx VALUES (1)"), 1),
        (run("SELECT 1/0"), 1),
        (raw::query("SELECT 1"), 1),
        (raw::query("ROLLBACK"), 1),
        (
            raw::query("BEGIN; INSERT INTO wire_tx VALUES (2); COMMIT"),
            1,
        ),
        (raw::query("SELECT count(*) FROM wire_tx"), 1),
    ];
    same_as_server("transaction status", "CREATE TABLE wire_tx (x int)", steps).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_sub_protocol() {
    let steps = vec![
        // Both runs share the table: start from the same contents.
        (raw::query("TRUNCATE wire_copy"), 1),
        (raw::query("COPY wire_copy FROM STDIN"), 0),
        (
            cat(&[raw::frame(b'd', b"1\n2\n"), raw::frame(b'c', b"")]),
            1,
        ),
        (raw::query("COPY wire_copy FROM STDIN"), 0),
        (raw::frame(b'f', b"client gave up\0"), 1),
        (raw::query("COPY wire_copy FROM STDIN"), 0),
        (
            cat(&[raw::frame(b'd', b"oops\n"), raw::frame(b'c', b"")]),
            1,
        ),
        (
            raw::query("COPY (SELECT x FROM wire_copy ORDER BY x) TO STDOUT"),
            1,
        ),
        (run("COPY (SELECT 1) TO STDOUT"), 1),
    ];
    same_as_server("copy", "CREATE TABLE wire_copy (x int)", steps).await;
}

/// tokio-postgres (like libpq for extended-protocol COPY) sends Sync right
/// after Execute of COPY FROM STDIN. The server ignores Sync in copy-in
/// mode, so only one ReadyForQuery follows the COPY; a proxy that counts
/// that Sync gets out of step and shifts every later response (tokio-postgres
/// then fails with UnexpectedMessage after `copy_in` + statement Close).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_during_copy_in_keeps_responses_in_order() {
    let steps = vec![
        (raw::parse("copy_stmt", "COPY wire_sync FROM STDIN"), 0),
        (
            cat(&[
                raw::bind("", "copy_stmt", &[]),
                raw::execute("", 0),
                raw::sync(),
            ]),
            0,
        ),
        (
            cat(&[
                raw::frame(b'd', b"1\n2\n"),
                raw::frame(b'c', b""),
                raw::sync(),
            ]),
            1,
        ),
        (cat(&[raw::close_statement("copy_stmt"), raw::sync()]), 1),
        (run("SELECT count(*) FROM wire_sync"), 1),
    ];
    same_as_server(
        "sync during copy-in",
        "CREATE TABLE wire_sync (x int)",
        steps,
    )
    .await;
}

/// After an extended-protocol error PostgreSQL reads and drops everything up to Sync, a
/// simple Query included: nothing answers that Query. A proxy that waits for its
/// ReadyForQuery never sees its client's transaction end, and keeps the server from
/// everyone else for as long as that client stays connected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_while_skipping_to_sync_gets_no_reply_and_frees_the_server() {
    let steps = vec![
        (cat(&[raw::parse("", "SELEC 1"), raw::flush()]), 0),
        (raw::query("SELECT 1"), 0),
        (raw::sync(), 1),
        (run("SELECT 2"), 1),
    ];
    same_as_server("query while skipping", "", steps).await;

    let env = ProxyEnv::shared("wire_skip", |c| c.pool_size(1).checkout_timeout_ms(2000)).await;
    let t = &env.tenant;
    let mut held = RawConn::startup(env.pgdog.port(), &t.user, &t.password, &t.database)
        .await
        .unwrap_or_else(|e| panic!("login: {:?}", e.fields()));
    // The Query goes once the error is in: sent with the Parse, it would be queued (and
    // dropped with it) before the server is known to skip.
    held.send(&cat(&[raw::parse("", "SELEC 1"), raw::flush()]))
        .await;
    let mut tags = String::new();
    match held.recv_timeout(Duration::from_secs(5)).await {
        Recv::Msg(m) => tags.push(m.tag as char),
        other => panic!("no reply to the Parse: {other:?}"),
    }
    held.send(&raw::query("SELECT 1")).await;
    held.send(&raw::sync()).await;
    loop {
        match held.recv_timeout(Duration::from_secs(5)).await {
            Recv::Msg(m) if m.tag == b'Z' => break,
            Recv::Msg(m) => tags.push(m.tag as char),
            Recv::Timeout => panic!("no ReadyForQuery after Sync (got {tags})"),
            Recv::Eof => panic!("connection closed (got {tags})"),
        }
    }
    assert_eq!(
        tags, "E",
        "only the Parse's error, nothing for the ignored Query"
    );
    // The first client stays connected; the pool's only server must serve the next one.
    let other = env.client().await;
    let row = other.query_one("SELECT 3", &[]).await.unwrap_or_else(|e| {
        panic!(
            "the server did not go back to the pool: {e}\n{}",
            env.pgdog.log()
        )
    });
    assert_eq!(row.get::<_, i32>(0), 3);
    drop(held);
}
