use pgdog_tests::raw::{self, RawConn, Recv};
use pgdog_tests::*;
use std::time::Duration;
async fn drain(c: &mut RawConn, label: &str) {
    loop {
        match c.recv_timeout(Duration::from_millis(500)).await {
            Recv::Msg(m) => eprintln!("{label}: {} {:?}", m.tag as char, m.body),
            other => {
                eprintln!("{label} {other:?}");
                break;
            }
        }
    }
}
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch() {
    let env = ProxyEnv::shared("scr", |c| c).await;
    let t = env.tenant.clone();
    env.direct()
        .await
        .batch_execute("CREATE TABLE ct (id int)")
        .await
        .unwrap();
    for port in [env.server.port(), env.pgdog.port()] {
        eprintln!("===== {port}");
        let mut c = RawConn::startup(port, &t.user, &t.password, &t.database)
            .await
            .unwrap();
        let mut b = raw::parse("s1", "COPY ct FROM STDIN");
        b.extend(raw::describe_statement("s1"));
        b.extend(raw::sync());
        c.send(&b).await;
        c.until_ready().await;
        let mut b = raw::bind("", "s1", &[]);
        b.extend(raw::execute("", 0));
        c.send(&b).await;
        let m = c.recv().await.unwrap();
        eprintln!("got {}", m.tag as char);
        let m = c.recv().await.unwrap();
        eprintln!("got {}", m.tag as char);
        c.send(&raw::frame(b'd', b"1\n2\n")).await;
        let mut b = raw::frame(b'c', b"");
        b.extend(raw::sync());
        c.send(&b).await;
        drain(&mut c, "copyin").await;
        let mut b = raw::parse("s2", "COPY (SELECT id FROM ct ORDER BY id) TO STDOUT");
        b.extend(raw::describe_statement("s2"));
        b.extend(raw::sync());
        c.send(&b).await;
        drain(&mut c, "prep2").await;
        let mut b = raw::bind("", "s2", &[]);
        b.extend(raw::execute("", 0));
        b.extend(raw::sync());
        c.send(&b).await;
        drain(&mut c, "exec2").await;
    }
}
