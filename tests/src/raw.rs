//! A minimal wire-protocol client over a raw TCP socket.
//!
//! tokio-postgres cannot send malformed startup packets, and it names
//! prepared statements uniquely per process, so it never produces the case
//! that is hardest for a transaction-mode pooler: different clients using the
//! *same* statement name for *different* SQL. This module frames messages by
//! hand for those tests; authentication reuses postgres-protocol's SCRAM and
//! md5 code so only the framing is ours.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use postgres_protocol::authentication::{md5_hash, sasl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any single read may take before the test fails as a hang.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One backend message: type byte and body (without the length).
#[derive(Clone, Debug)]
pub struct Msg {
    pub tag: u8,
    pub body: Bytes,
}

impl Msg {
    /// Fields of an ErrorResponse / NoticeResponse, keyed by field type
    /// ('C' = SQLSTATE, 'M' = message, 'S' = severity).
    pub fn fields(&self) -> HashMap<char, String> {
        let mut out = HashMap::new();
        let mut b = &self.body[..];
        while let Some((&code, rest)) = b.split_first() {
            if code == 0 {
                break;
            }
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            out.insert(
                code as char,
                String::from_utf8_lossy(&rest[..end]).into_owned(),
            );
            b = &rest[(end + 1).min(rest.len())..];
        }
        out
    }

    pub fn sqlstate(&self) -> Option<String> {
        self.fields().remove(&'C')
    }

    /// Text values of a DataRow.
    pub fn data_row(&self) -> Vec<Option<String>> {
        let mut b = self.body.clone();
        let n = b.get_i16();
        (0..n)
            .map(|_| {
                let len = b.get_i32();
                (len >= 0).then(|| {
                    let v = b.split_to(len as usize);
                    String::from_utf8_lossy(&v).into_owned()
                })
            })
            .collect()
    }
}

/// What a read produced: a message, a closed socket, or nothing in time.
#[derive(Debug)]
pub enum Recv {
    Msg(Msg),
    Eof,
    Timeout,
}

pub struct RawConn {
    stream: TcpStream,
    buf: BytesMut,
}

impl RawConn {
    /// A bare TCP connection to 127.0.0.1:port, nothing sent yet.
    pub async fn tcp(port: u16) -> RawConn {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("tcp connect to {port}: {e}"));
        stream.set_nodelay(true).unwrap();
        RawConn {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Connect, send a StartupMessage and authenticate (SCRAM, md5 or
    /// cleartext, whatever is asked). Returns the ErrorResponse on failure.
    pub async fn startup(port: u16, user: &str, password: &str, db: &str) -> Result<RawConn, Msg> {
        let mut conn = Self::tcp(port).await;
        conn.send(&startup_message(&[("user", user), ("database", db)]))
            .await;
        let mut scram: Option<sasl::ScramSha256> = None;
        loop {
            let msg = conn.recv().await.expect("connection closed during startup");
            match msg.tag {
                b'E' => return Err(msg),
                b'Z' => return Ok(conn),
                b'R' => {
                    let mut body = msg.body.clone();
                    match body.get_i32() {
                        0 => {} // AuthenticationOk
                        3 => conn.send(&password_message(password.as_bytes())).await,
                        5 => {
                            let salt = [body[0], body[1], body[2], body[3]];
                            let hash = md5_hash(user.as_bytes(), password.as_bytes(), salt);
                            conn.send(&password_message(hash.as_bytes())).await;
                        }
                        10 => {
                            let s = sasl::ScramSha256::new(
                                password.as_bytes(),
                                sasl::ChannelBinding::unsupported(),
                            );
                            let mut b = BytesMut::new();
                            b.put_slice(b"SCRAM-SHA-256\0");
                            b.put_i32(s.message().len() as i32);
                            b.put_slice(s.message());
                            conn.send(&frame(b'p', &b)).await;
                            scram = Some(s);
                        }
                        11 => {
                            let s = scram.as_mut().expect("SASLContinue before SASL");
                            s.update(&body).expect("bad SCRAM server-first message");
                            let reply = frame(b'p', s.message());
                            conn.send(&reply).await;
                        }
                        12 => {
                            let s = scram.as_mut().expect("SASLFinal before SASL");
                            s.finish(&body).expect("SCRAM server signature mismatch");
                        }
                        other => panic!("unsupported authentication request {other}"),
                    }
                }
                // ParameterStatus, BackendKeyData, NoticeResponse: not needed.
                _ => {}
            }
        }
    }

    pub async fn send(&mut self, data: &[u8]) {
        self.stream.write_all(data).await.expect("write to socket");
    }

    /// Like `send`, but a peer that already closed is not a test failure.
    pub async fn try_send(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(data).await
    }

    /// Next message, `Eof` if the peer closed (or reset) the connection.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Recv {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.buf.len() >= 5 {
                let len = u32::from_be_bytes(self.buf[1..5].try_into().unwrap()) as usize;
                if self.buf.len() > len {
                    let mut m = self.buf.split_to(1 + len);
                    let tag = m[0];
                    m.advance(5);
                    return Recv::Msg(Msg {
                        tag,
                        body: m.freeze(),
                    });
                }
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Recv::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => return Recv::Eof,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Next message or `None` on EOF; a hang past READ_TIMEOUT panics.
    pub async fn recv(&mut self) -> Option<Msg> {
        match self.recv_timeout(READ_TIMEOUT).await {
            Recv::Msg(m) => Some(m),
            Recv::Eof => None,
            Recv::Timeout => panic!("no message from the server within {READ_TIMEOUT:?}"),
        }
    }

    /// A single byte (the answer to SSLRequest / GSSENCRequest).
    pub async fn recv_byte(&mut self) -> Option<u8> {
        if !self.buf.is_empty() {
            return Some(self.buf.split_to(1)[0]);
        }
        let mut b = [0u8; 1];
        match tokio::time::timeout(READ_TIMEOUT, self.stream.read(&mut b)).await {
            Ok(Ok(1)) => Some(b[0]),
            Ok(_) => None,
            Err(_) => panic!("no answer byte within {READ_TIMEOUT:?}"),
        }
    }

    /// Messages up to and including the next ReadyForQuery.
    pub async fn until_ready(&mut self) -> Vec<Msg> {
        let mut out = Vec::new();
        loop {
            let m = self
                .recv()
                .await
                .unwrap_or_else(|| panic!("connection closed before ReadyForQuery; got {out:?}"));
            let done = m.tag == b'Z';
            out.push(m);
            if done {
                return out;
            }
        }
    }

    /// Simple-protocol query: the rows, or the ErrorResponse.
    pub async fn simple(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, Msg> {
        self.send(&query(sql)).await;
        rows_or_error(self.until_ready().await)
    }

    /// Bind + Execute + Sync of an already parsed statement with text params.
    pub async fn execute(
        &mut self,
        stmt: &str,
        params: &[Option<&str>],
    ) -> Result<Vec<Vec<Option<String>>>, Msg> {
        let mut b = bind("", stmt, params);
        b.extend_from_slice(&execute("", 0));
        b.extend_from_slice(&sync());
        self.send(&b).await;
        rows_or_error(self.until_ready().await)
    }

    /// Parse + Sync a named statement.
    pub async fn prepare(&mut self, name: &str, sql: &str) -> Result<(), Msg> {
        let mut b = parse(name, sql);
        b.extend_from_slice(&sync());
        self.send(&b).await;
        rows_or_error(self.until_ready().await).map(|_| ())
    }

    /// Close (statement) + Sync.
    pub async fn close_statement(&mut self, name: &str) -> Result<(), Msg> {
        let mut b = close_statement(name);
        b.extend_from_slice(&sync());
        self.send(&b).await;
        rows_or_error(self.until_ready().await).map(|_| ())
    }
}

/// DataRows of a response, or its first ErrorResponse.
pub fn rows_or_error(msgs: Vec<Msg>) -> Result<Vec<Vec<Option<String>>>, Msg> {
    if let Some(err) = msgs.iter().find(|m| m.tag == b'E') {
        return Err(err.clone());
    }
    Ok(msgs
        .iter()
        .filter(|m| m.tag == b'D')
        .map(Msg::data_row)
        .collect())
}

/// Type byte + length + body.
pub fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(body.len() + 5);
    b.push(tag);
    b.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    b.extend_from_slice(body);
    b
}

fn cstr(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

/// StartupMessage, protocol 3.0.
pub fn startup_message(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196608i32.to_be_bytes().to_vec();
    for (k, v) in params {
        cstr(&mut body, k);
        cstr(&mut body, v);
    }
    body.push(0);
    let mut b = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(&body);
    b
}

/// SSLRequest (length 8, code 80877103).
pub fn ssl_request() -> Vec<u8> {
    let mut b = 8u32.to_be_bytes().to_vec();
    b.extend_from_slice(&80877103u32.to_be_bytes());
    b
}

pub fn password_message(pw: &[u8]) -> Vec<u8> {
    let mut body = pw.to_vec();
    body.push(0);
    frame(b'p', &body)
}

pub fn query(sql: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, sql);
    frame(b'Q', &body)
}

/// Parse with no parameter types declared (the server infers them).
pub fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, name);
    cstr(&mut body, sql);
    body.extend_from_slice(&0i16.to_be_bytes());
    frame(b'P', &body)
}

/// Bind with all parameters and results in text format.
pub fn bind(portal: &str, stmt: &str, params: &[Option<&str>]) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, portal);
    cstr(&mut body, stmt);
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&(params.len() as i16).to_be_bytes());
    for p in params {
        match p {
            Some(v) => {
                body.extend_from_slice(&(v.len() as i32).to_be_bytes());
                body.extend_from_slice(v.as_bytes());
            }
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    body.extend_from_slice(&0i16.to_be_bytes());
    frame(b'B', &body)
}

pub fn execute(portal: &str, max_rows: i32) -> Vec<u8> {
    let mut body = Vec::new();
    cstr(&mut body, portal);
    body.extend_from_slice(&max_rows.to_be_bytes());
    frame(b'E', &body)
}

pub fn describe_statement(name: &str) -> Vec<u8> {
    let mut body = vec![b'S'];
    cstr(&mut body, name);
    frame(b'D', &body)
}

pub fn close_statement(name: &str) -> Vec<u8> {
    let mut body = vec![b'S'];
    cstr(&mut body, name);
    frame(b'C', &body)
}

pub fn sync() -> Vec<u8> {
    frame(b'S', &[])
}

pub fn flush() -> Vec<u8> {
    frame(b'H', &[])
}

pub fn terminate() -> Vec<u8> {
    frame(b'X', &[])
}
