//! Wire-protocol behaviour through pgDog: every message flow a PostgreSQL
//! client relies on (simple and extended queries, pipelining, COPY, cancel,
//! errors inside transactions, asynchronous NOTICE / NOTIFY) must come out of
//! the proxy exactly as it would from the server.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{future, pin_mut, SinkExt, TryStreamExt};
use pgdog_tests::*;
use tokio_postgres::{AsyncMessage, NoTls, SimpleQueryMessage};

/// First column of every row of a simple-query response, as text.
fn col0(msgs: &[SimpleQueryMessage]) -> Vec<Option<String>> {
    msgs.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simple_query() {
    let env = ProxyEnv::shared("proto", |c| c).await;
    let c = env.client().await;

    // Several statements in one Query message: all results come back.
    let msgs = c
        .simple_query("SELECT 1; SELECT 'two'; SELECT NULL::text")
        .await
        .unwrap();
    assert_eq!(
        col0(&msgs),
        vec![Some("1".into()), Some("two".into()), None]
    );

    c.batch_execute("CREATE TABLE simple_t (id int PRIMARY KEY, v text); INSERT INTO simple_t VALUES (1, 'a'), (2, 'b')")
        .await
        .unwrap();
    let msgs = c
        .simple_query("SELECT v FROM simple_t ORDER BY id")
        .await
        .unwrap();
    assert_eq!(col0(&msgs), vec![Some("a".into()), Some("b".into())]);

    // Empty query and a syntax error leave the connection usable.
    c.simple_query("").await.unwrap();
    let err = c.simple_query("SELEC 1").await.unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("42601"),
        "{}",
        describe(&err)
    );
    let msgs = c.simple_query("SELECT 3").await.unwrap();
    assert_eq!(col0(&msgs), vec![Some("3".into())]);

    // A large result (≈5 MB) crosses many buffers intact.
    let msgs = c
        .simple_query("SELECT repeat(md5(g::text), 32) FROM generate_series(1, 5000) g")
        .await
        .unwrap();
    let rows = col0(&msgs);
    assert_eq!(rows.len(), 5000);
    assert!(rows.iter().all(|r| r.as_ref().unwrap().len() == 1024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extended_query_with_parameters() {
    let env = ProxyEnv::shared("proto", |c| c).await;
    let c = env.client().await;
    let bytes: Vec<u8> = vec![0, 1, 2, 255];
    let row = c
        .query_one(
            "SELECT $1::int4 + $2::int4, $3::text, $4::bytea, $5::text IS NULL",
            &[&1i32, &2i32, &"héllo ✓", &bytes, &None::<String>],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 3);
    assert_eq!(row.get::<_, String>(1), "héllo ✓");
    assert_eq!(row.get::<_, Vec<u8>>(2), bytes);
    assert!(row.get::<_, bool>(3));

    // A 1 MB parameter and many result rows.
    let big = "x".repeat(1 << 20);
    let len: i32 = c
        .query_one("SELECT length($1::text)", &[&big])
        .await
        .unwrap()
        .get(0);
    assert_eq!(len, 1 << 20);
    let rows = c
        .query(
            "SELECT g FROM generate_series(1, $1::int) g",
            &[&100_000i32],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), 100_000);
    assert_eq!(rows[99_999].get::<_, i32>(0), 100_000);

    // A failing Bind (bad input for the type) is an error, not a dead client.
    let err = c
        .query_one("SELECT $1::text::int", &[&"nope"])
        .await
        .unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("22P02"),
        "{}",
        describe(&err)
    );
    assert_eq!(
        c.query_one("SELECT 5", &[]).await.unwrap().get::<_, i32>(0),
        5
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_reused_many_times() {
    let env = ProxyEnv::shared("proto", |c| c.pool_size(2)).await;
    let c = env.client().await;
    let double = c.prepare("SELECT $1::int8 * 2").await.unwrap();
    let concat = c
        .prepare("SELECT $1::text || '-' || $2::text")
        .await
        .unwrap();
    for i in 0..300i64 {
        let got: i64 = c.query_one(&double, &[&i]).await.unwrap().get(0);
        assert_eq!(got, i * 2);
        let s: String = c
            .query_one(&concat, &[&i.to_string(), &"x"])
            .await
            .unwrap()
            .get(0);
        assert_eq!(s, format!("{i}-x"));
    }
    // Still valid inside explicit transactions too.
    for i in 0..50i64 {
        c.batch_execute("BEGIN").await.unwrap();
        let got: i64 = c.query_one(&double, &[&i]).await.unwrap().get(0);
        assert_eq!(got, i * 2);
        c.batch_execute("COMMIT").await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_queries_on_one_client() {
    let env = ProxyEnv::shared("proto", |c| c).await;
    let c = env.client().await;
    let stmt = c.prepare("SELECT $1::int4 * 10").await.unwrap();
    for _round in 0..5 {
        // tokio-postgres writes all of these before reading any response.
        let results = future::join_all((0..64i32).map(|i| {
            let (c, stmt) = (&c, &stmt);
            async move {
                if i % 2 == 0 {
                    c.query_one(stmt, &[&i]).await.map(|r| r.get::<_, i32>(0))
                } else if i == 33 {
                    // One failing query in the middle of the pipeline.
                    c.query_one("SELECT 1 / ($1::int4 - 33)", &[&i])
                        .await
                        .map(|r| r.get::<_, i32>(0))
                } else {
                    c.query_one("SELECT $1::int4 + 1000", &[&i])
                        .await
                        .map(|r| r.get::<_, i32>(0))
                }
            }
        }))
        .await;
        for (i, r) in results.into_iter().enumerate() {
            let i = i as i32;
            match i {
                33 => {
                    let err = r.unwrap_err();
                    assert_eq!(
                        sqlstate(&err).as_deref(),
                        Some("22012"),
                        "{}",
                        describe(&err)
                    );
                }
                _ if i % 2 == 0 => assert_eq!(r.unwrap(), i * 10),
                _ => assert_eq!(r.unwrap(), i + 1000),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_in_and_copy_out() {
    let env = ProxyEnv::shared("proto", |c| c).await;
    let c = env.client().await;
    c.batch_execute("CREATE TABLE copy_t (id int, name text)")
        .await
        .unwrap();

    let mut expected = String::new();
    for i in 0..20_000 {
        expected.push_str(&format!("{i}\tname {i}\n"));
    }
    let sink = c
        .copy_in::<_, Bytes>("COPY copy_t (id, name) FROM STDIN")
        .await
        .unwrap();
    pin_mut!(sink);
    // Several CopyData messages of odd sizes, split mid-row.
    for chunk in expected.as_bytes().chunks(7_777) {
        sink.send(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert_eq!(sink.finish().await.unwrap(), 20_000);

    let out: Vec<Bytes> = c
        .copy_out("COPY (SELECT id, name FROM copy_t ORDER BY id) TO STDOUT")
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(String::from_utf8(out.concat()).unwrap(), expected);

    // Bad data: the COPY fails with the server's error, nothing is inserted,
    // and the connection is fine afterwards.
    let sink = c
        .copy_in::<_, Bytes>("COPY copy_t FROM STDIN")
        .await
        .unwrap();
    pin_mut!(sink);
    sink.send(Bytes::from_static(b"1\tok\nnot-a-number\tbad\n"))
        .await
        .unwrap();
    let err = sink.finish().await.unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("22P02"),
        "{}",
        describe(&err)
    );
    let n: i64 = c
        .query_one("SELECT count(*) FROM copy_t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 20_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_request_reaches_the_right_backend() {
    let env = ProxyEnv::shared("proto", |c| c.pool_size(4)).await;
    let victim = env.client().await;
    let bystander = env.client().await;
    let token = victim.cancel_token();

    let start = Instant::now();
    let slow = victim.simple_query("SELECT pg_sleep(10)");
    let other = bystander.simple_query("SELECT pg_sleep(1.5), 'bystander'");
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        token.cancel_query(NoTls).await
    };
    let (slow, other, cancel) = tokio::time::timeout(Duration::from_secs(8), async {
        tokio::join!(slow, other, cancel)
    })
    .await
    .expect("cancel did not interrupt pg_sleep(10) within 8 s");
    cancel.expect("sending the CancelRequest failed");
    let err = slow.unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("57014"),
        "{}",
        describe(&err)
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    // The other client's query was not the one cancelled.
    assert_eq!(col0(&other.unwrap()), vec![Some("".into())]);

    // Both connections remain usable.
    assert_eq!(
        col0(&victim.simple_query("SELECT 1").await.unwrap()),
        vec![Some("1".into())]
    );
    assert_eq!(
        col0(&bystander.simple_query("SELECT 2").await.unwrap()),
        vec![Some("2".into())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_inside_transaction_then_rollback() {
    let env = ProxyEnv::shared("proto", |c| c).await;
    let mut c = env.client().await;
    c.batch_execute("CREATE TABLE err_t (x int)").await.unwrap();

    c.batch_execute("BEGIN; INSERT INTO err_t VALUES (1)")
        .await
        .unwrap();
    let err = c.simple_query("SELECT 1/0").await.unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("22012"),
        "{}",
        describe(&err)
    );
    // The transaction is aborted until it ends, in both protocols.
    let err = c.simple_query("SELECT 1").await.unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("25P02"),
        "{}",
        describe(&err)
    );
    let err = c.query("SELECT $1::int", &[&1i32]).await.unwrap_err();
    assert_eq!(
        sqlstate(&err).as_deref(),
        Some("25P02"),
        "{}",
        describe(&err)
    );
    c.batch_execute("ROLLBACK").await.unwrap();

    let n: i64 = c
        .query_one("SELECT count(*) FROM err_t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
    // Same with an extended-protocol error inside a transaction object.
    let tx = c.transaction().await.unwrap();
    tx.execute("INSERT INTO err_t VALUES (2)", &[])
        .await
        .unwrap();
    assert!(tx.query_one("SELECT 1/0", &[]).await.is_err());
    tx.rollback().await.unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM err_t", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notice_is_delivered() {
    let env = ProxyEnv::shared("proto", |c| c).await;
    let (c, mut rx) = connect_with_messages(&env.url()).await;
    c.batch_execute("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$")
        .await
        .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("no NOTICE within 5 s")
        .expect("connection closed");
    match msg {
        AsyncMessage::Notice(n) => {
            assert_eq!(n.message(), "hello 42");
            assert_eq!(n.severity(), "NOTICE");
        }
        other => panic!("expected a notice, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_notify_in_session_mode() {
    let env = ProxyEnv::shared("proto", |c| c.pooler_mode("session")).await;
    let (listener, mut rx) = connect_with_messages(&env.url()).await;
    listener.batch_execute("LISTEN pgdog_chan").await.unwrap();
    let notifier = env.client().await;
    notifier
        .batch_execute(
            "NOTIFY pgdog_chan, 'payload 1'; SELECT pg_notify('pgdog_chan', 'payload 2')",
        )
        .await
        .unwrap();
    // Delivered while the listener sits idle: the proxy must forward it
    // without the client sending anything.
    let mut got = Vec::new();
    while got.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(AsyncMessage::Notification(n))) => {
                assert_eq!(n.channel(), "pgdog_chan");
                got.push(n.payload().to_string());
            }
            Ok(Some(_)) => {}
            Ok(None) => panic!("listener connection closed"),
            Err(_) => panic!("notifications not delivered within 5 s; got {got:?}"),
        }
    }
    assert_eq!(got, vec!["payload 1", "payload 2"]);
}
