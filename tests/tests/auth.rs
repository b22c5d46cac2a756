//! Authentication through pgDog, on both sides: clients authenticating to
//! the proxy (SCRAM, md5, plain; wrong password / user / database errors),
//! hostile or broken startup packets, and the proxy authenticating to
//! PostgreSQL as roles stored with SCRAM and with md5.

use std::time::Duration;

use pgdog_tests::raw::{self, RawConn, Recv};
use pgdog_tests::*;

/// Run `SELECT current_user` through the proxy and return it.
async fn whoami(url: &str) -> String {
    let c = connect(url).await;
    c.query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0)
}

/// The SQLSTATE a failed connection attempt produced (panics on success).
async fn connect_error(url: &str) -> String {
    match try_connect(url).await {
        Ok(_) => panic!("connecting with `{url}` should have failed"),
        Err(e) => {
            sqlstate(&e).unwrap_or_else(|| panic!("error without SQLSTATE: {}", describe(&e)))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_client_auth() {
    let env = ProxyEnv::shared("auth", |c| c.auth_type("scram")).await;
    assert_eq!(whoami(&env.url()).await, env.tenant.user);
    let t = &env.tenant;
    let bad = env.pgdog.url(&t.user, "wrong", &t.database);
    assert_eq!(connect_error(&bad).await, "28P01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn md5_client_auth() {
    let env = ProxyEnv::shared("auth", |c| c.auth_type("md5")).await;
    assert_eq!(whoami(&env.url()).await, env.tenant.user);
    // The raw client follows whatever method is requested; check that it
    // really is md5 (AuthenticationMD5Password = 5).
    let mut conn = RawConn::tcp(env.pgdog.port()).await;
    let t = &env.tenant;
    conn.send(&raw::startup_message(&[
        ("user", &t.user),
        ("database", &t.database),
    ]))
    .await;
    let m = conn
        .recv()
        .await
        .expect("closed instead of an auth request");
    assert_eq!(m.tag, b'R', "expected an authentication request: {m:?}");
    assert_eq!(i32::from_be_bytes(m.body[..4].try_into().unwrap()), 5);

    let bad = env.pgdog.url(&t.user, "wrong", &t.database);
    assert_eq!(connect_error(&bad).await, "28P01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_client_auth() {
    let env = ProxyEnv::shared("auth", |c| c.auth_type("plain")).await;
    assert_eq!(whoami(&env.url()).await, env.tenant.user);
    let t = &env.tenant;
    let bad = env.pgdog.url(&t.user, "wrong", &t.database);
    assert_eq!(connect_error(&bad).await, "28P01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_unknown_user_unknown_database() {
    let env = ProxyEnv::shared("auth", |c| c).await;
    let t = &env.tenant;
    assert_eq!(
        connect_error(&env.pgdog.url(&t.user, "wrong", &t.database)).await,
        "28P01"
    );
    assert_eq!(
        connect_error(&env.pgdog.url("nobody", &t.password, &t.database)).await,
        "28000"
    );
    assert_eq!(
        connect_error(&env.pgdog.url(&t.user, &t.password, "no_such_db")).await,
        "3D000"
    );
    // None of that affected real clients.
    assert_eq!(whoami(&env.url()).await, t.user);
}

/// Send `bytes` as the start of a connection: the proxy must answer with an
/// ErrorResponse or close the socket, promptly (not wait for more input).
async fn expect_rejected(port: u16, bytes: &[u8], what: &str) {
    let mut conn = RawConn::tcp(port).await;
    // The proxy may already have closed the socket: that is fine.
    let _ = conn.try_send(bytes).await;
    match conn.recv_timeout(Duration::from_secs(5)).await {
        Recv::Eof => {}
        Recv::Msg(m) if m.tag == b'E' => {}
        Recv::Msg(m) => panic!("{what}: expected ErrorResponse or close, got {m:?}"),
        Recv::Timeout => panic!("{what}: proxy neither answered nor closed within 5 s"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_startup_packets_are_rejected() {
    let mut env = ProxyEnv::shared("auth", |c| c).await;
    let port = env.pgdog.port();
    // A client that stays connected through all of it.
    let survivor = env.client().await;

    // An HTTP request: its first 4 bytes read as a ~1.2 GB length.
    expect_rejected(port, b"GET / HTTP/1.1\r\nHost: pgdog\r\n\r\n", "http").await;
    // Absurd length.
    expect_rejected(port, &[0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0], "huge length").await;
    // Length smaller than the header itself.
    expect_rejected(port, &[0, 0, 0, 2, 0, 3, 0, 0], "tiny length").await;
    // Unknown protocol version 9.9.
    let mut v99 = raw::startup_message(&[("user", "x")]);
    v99[4..8].copy_from_slice(&0x0009_0009u32.to_be_bytes());
    expect_rejected(port, &v99, "protocol 9.9").await;
    // No user parameter.
    expect_rejected(port, &raw::startup_message(&[("database", "x")]), "no user").await;
    // Parameters not terminated.
    let mut unterminated = vec![0, 0, 0, 16, 0, 3, 0, 0];
    unterminated.extend_from_slice(b"useruser");
    expect_rejected(port, &unterminated, "unterminated").await;
    // Random bytes, then the client just goes away.
    let mut conn = RawConn::tcp(port).await;
    conn.send(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3]).await;
    drop(conn);

    assert!(
        env.pgdog.is_running(),
        "pgdog died; log:\n{}",
        env.pgdog.log()
    );
    assert_eq!(whoami(&env.url()).await, env.tenant.user);
    let n: i32 = survivor.query_one("SELECT 7", &[]).await.unwrap().get(0);
    assert_eq!(n, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_request_is_answered_then_startup_continues() {
    let env = ProxyEnv::shared("auth", |c| c).await;
    let mut conn = RawConn::tcp(env.pgdog.port()).await;
    conn.send(&raw::ssl_request()).await;
    let answer = conn
        .recv_byte()
        .await
        .expect("closed instead of answering SSLRequest");
    assert!(
        answer == b'N' || answer == b'S',
        "SSLRequest answer {answer:#x}"
    );
    if answer == b'N' {
        // Declined: the same socket carries on in plaintext.
        let t = &env.tenant;
        conn.send(&raw::startup_message(&[
            ("user", &t.user),
            ("database", &t.database),
        ]))
        .await;
        let m = conn.recv().await.expect("closed after SSL refusal");
        assert_eq!(m.tag, b'R', "expected an authentication request, got {m:?}");
    }
    // psql's default sslmode=prefer sends SSLRequest first, then plaintext.
    let out = run_psql(&env.url(), "SELECT 'via psql';").await;
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "via psql");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_roles_stored_as_md5_and_scram() {
    let server = shared_server().await;
    let owner = server.tenant("authsrv", PasswordKind::Scram).await;
    let md5_role = unique_name("srv_md5");
    let scram_role = unique_name("srv_scram");
    server
        .create_user(&md5_role, "md5 server pw", PasswordKind::Md5)
        .await;
    server
        .create_user(&scram_role, "scram server pw", PasswordKind::Scram)
        .await;

    // Clients log in to the proxy with their own names and passwords; the
    // proxy logs in to PostgreSQL as the server roles.
    let cfg = Config::new(free_port())
        .database(&owner.database, "127.0.0.1", server.port(), &owner.database)
        .user("client_md5", &owner.database, "client one")
        .server_credentials(&md5_role, "md5 server pw")
        .user("client_scram", &owner.database, "client two")
        .server_credentials(&scram_role, "scram server pw");
    let pgdog = Pgdog::from_config(&cfg).await;

    let url = pgdog.url("client_md5", "client one", &owner.database);
    assert_eq!(whoami(&url).await, md5_role);
    let url = pgdog.url("client_scram", "client two", &owner.database);
    assert_eq!(whoami(&url).await, scram_role);
    // The server password is not a client password.
    let url = pgdog.url("client_md5", "md5 server pw", &owner.database);
    assert_eq!(connect_error(&url).await, "28P01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_server_password_is_an_error_not_a_hang() {
    let server = shared_server().await;
    let t = server.tenant("authbad", PasswordKind::Scram).await;
    let cfg = Config::new(free_port())
        .tenant(&t, server.port())
        .server_credentials(&t.user, "not the server password");
    let pgdog = Pgdog::from_config(&cfg).await;
    // Depending on the design the client sees the error at login or at its
    // first query; either way it must be an error, within the timeouts.
    let url = pgdog.url(&t.user, &t.password, &t.database);
    let res = tokio::time::timeout(Duration::from_secs(15), async {
        let c = try_connect(&url).await?;
        c.simple_query("SELECT 1").await.map(|_| ())
    })
    .await
    .expect("no answer within 15 s with a wrong server password");
    let err = res.expect_err("query succeeded with a wrong server password");
    eprintln!("wrong server password gives: {}", describe(&err));
}
