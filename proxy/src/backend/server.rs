//! One connection to a PostgreSQL server: connect, log in, and the raw byte stream after.
//!
//! The session owns the protocol flow once a server is checked out; this type only knows how
//! to log in, remember what the server told it (parameters, backend key, transaction
//! status, prepared statements), and run the proxy's own housekeeping queries.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::clock::CoarseInstant;
use super::prepared::PreparedSet;
use super::BackendError;
use crate::auth::{md5::md5_response, scram::ScramClient};
use crate::wire::backend::{
    decode_auth, decode_backend_key, decode_parameter_status, sasl_mechanisms, AUTH_CLEARTEXT,
    AUTH_MD5, AUTH_OK, AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL,
};
use crate::wire::error::ServerError;
use crate::wire::{frontend, split_message, startup, Message};

/// The parameters PostgreSQL reports on change (GUC_REPORT) that a client can set, so a
/// pooler can both see and restore them.
pub const TRACKED: &[&str] = &[
    "application_name",
    "client_encoding",
    "DateStyle",
    "IntervalStyle",
    "TimeZone",
    "standard_conforming_strings",
];

pub fn is_tracked(name: &str) -> bool {
    TRACKED.iter().any(|t| t.eq_ignore_ascii_case(name))
}

/// A hash of the tracked parameters' values: equal fingerprints mean nothing to replay.
pub fn tracked_fingerprint<'a>(params: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for name in TRACKED {
        let value = params
            .clone()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v);
        (name, value).hash(&mut hasher);
    }
    hasher.finish()
}

/// Where and as whom to log in.
#[derive(Debug, Clone)]
pub struct ServerAddress {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: Option<String>,
}

impl std::fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}/{} as {}",
            self.host, self.port, self.database, self.user
        )
    }
}

pub struct Server {
    pub stream: TcpStream,
    /// Bytes read from the server and not yet split into messages.
    pub rbuf: BytesMut,
    pub peer: SocketAddr,
    /// ParameterStatus values as this server last reported them.
    pub params: Vec<(String, String)>,
    /// [`tracked_fingerprint`] of `params`: a checkout compares one number, not strings.
    pub params_fingerprint: u64,
    pub backend_key: (i32, i32),
    pub prepared: PreparedSet,
    /// The status byte of the last ReadyForQuery: `I`, `T` or `E`.
    pub status: u8,
    pub last_used: CoarseInstant,
    /// The worker thread whose runtime this connection's socket is registered with.
    pub worker: usize,
    /// The client this connection served last (its cancel key, packed; 0 for none): the
    /// pool hands a client back its own server when it can (`pool::AFFINITY_DEPTH`).
    pub owner: u64,
}

impl Server {
    /// Connects and logs in, within `timeout`.
    pub async fn connect(addr: &ServerAddress, timeout: Duration) -> Result<Server, BackendError> {
        match crate::timer::timeout(timeout, Self::connect_inner(addr)).await {
            Ok(result) => result,
            Err(_) => Err(BackendError::ConnectTimeout {
                addr: addr.to_string(),
            }),
        }
    }

    async fn connect_inner(addr: &ServerAddress) -> Result<Server, BackendError> {
        let stream = TcpStream::connect((addr.host.as_str(), addr.port))
            .await
            .map_err(|source| BackendError::Connect {
                addr: addr.to_string(),
                source,
            })?;
        stream.set_nodelay(true)?;
        let peer = stream.peer_addr()?;
        let mut server = Server {
            stream,
            rbuf: BytesMut::with_capacity(16 * 1024),
            peer,
            params: Vec::new(),
            params_fingerprint: tracked_fingerprint(std::iter::empty()),
            backend_key: (0, 0),
            prepared: PreparedSet::default(),
            status: b'I',
            last_used: CoarseInstant::now(),
            owner: 0,
            worker: super::worker::current(),
        };
        let hello = startup::startup_message(&[
            ("user", &addr.user),
            ("database", &addr.database),
            ("application_name", "pgdog"),
        ]);
        server.stream.write_all(&hello).await?;
        server.login(addr).await?;
        Ok(server)
    }

    async fn login(&mut self, addr: &ServerAddress) -> Result<(), BackendError> {
        let mut scram: Option<ScramClient> = None;
        let password = || {
            addr.password.clone().ok_or(BackendError::NoPassword {
                addr: addr.to_string(),
            })
        };
        loop {
            let msg = self.read_message().await?;
            match msg.tag() {
                b'R' => {
                    let (code, data) = decode_auth(msg.body())
                        .ok_or_else(|| BackendError::Protocol("short authentication".into()))?;
                    match code {
                        AUTH_OK => {}
                        AUTH_CLEARTEXT => {
                            let reply = frontend::password_message(&password()?);
                            self.stream.write_all(&reply).await?;
                        }
                        AUTH_MD5 => {
                            let salt: [u8; 4] = data
                                .get(..4)
                                .and_then(|s| s.try_into().ok())
                                .ok_or_else(|| BackendError::Protocol("short md5 salt".into()))?;
                            let hash = md5_response(&addr.user, &password()?, salt);
                            self.stream
                                .write_all(&frontend::password_message(&hash))
                                .await?;
                        }
                        AUTH_SASL => {
                            let mechanisms = sasl_mechanisms(data);
                            if !mechanisms.contains(&crate::auth::scram::SCRAM_SHA_256) {
                                return Err(BackendError::UnsupportedAuth {
                                    addr: addr.to_string(),
                                    what: format!("SASL {mechanisms:?}"),
                                });
                            }
                            let client = ScramClient::new(&password()?);
                            let first = frontend::sasl_initial_response(
                                crate::auth::scram::SCRAM_SHA_256,
                                &client.client_first(),
                            );
                            self.stream.write_all(&first).await?;
                            scram = Some(client);
                        }
                        AUTH_SASL_CONTINUE => {
                            let client = scram.as_mut().ok_or_else(|| {
                                BackendError::Protocol("SASL continue before SASL start".into())
                            })?;
                            let reply =
                                client
                                    .client_final(data)
                                    .map_err(|source| BackendError::Auth {
                                        addr: addr.to_string(),
                                        source,
                                    })?;
                            self.stream
                                .write_all(&frontend::sasl_response(&reply))
                                .await?;
                        }
                        AUTH_SASL_FINAL => {
                            let client = scram.as_ref().ok_or_else(|| {
                                BackendError::Protocol("SASL final before SASL start".into())
                            })?;
                            client.verify_server_final(data).map_err(|source| {
                                BackendError::Auth {
                                    addr: addr.to_string(),
                                    source,
                                }
                            })?;
                        }
                        other => {
                            return Err(BackendError::UnsupportedAuth {
                                addr: addr.to_string(),
                                what: format!("authentication method {other}"),
                            })
                        }
                    }
                }
                b'S' => self.note_parameter(msg.body()),
                b'K' => {
                    self.backend_key = decode_backend_key(msg.body())
                        .ok_or_else(|| BackendError::Protocol("short BackendKeyData".into()))?;
                }
                b'Z' => {
                    self.status = msg.body().first().copied().unwrap_or(b'I');
                    return Ok(());
                }
                b'E' => {
                    return Err(BackendError::Login {
                        addr: addr.to_string(),
                        error: ServerError::parse(msg.body()),
                    })
                }
                b'N' => {}
                other => {
                    return Err(BackendError::Protocol(format!(
                        "unexpected message '{}' during login",
                        other as char
                    )))
                }
            }
        }
    }

    /// Records a ParameterStatus the server sent.
    pub fn note_parameter(&mut self, body: &[u8]) {
        if let Some((name, value)) = decode_parameter_status(body) {
            match self.params.iter_mut().find(|(n, _)| n == name) {
                Some(slot) if slot.1 == value => return,
                Some(slot) => slot.1 = value.to_string(),
                None => self.params.push((name.to_string(), value.to_string())),
            }
            if is_tracked(name) {
                self.params_fingerprint =
                    tracked_fingerprint(self.params.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            }
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reads one whole message.
    pub async fn read_message(&mut self) -> Result<Message, BackendError> {
        loop {
            if let Some(msg) =
                split_message(&mut self.rbuf).map_err(|e| BackendError::Protocol(e.to_string()))?
            {
                return Ok(msg);
            }
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(BackendError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
        }
    }

    /// Runs the proxy's own simple query to completion, discarding results. Used for
    /// rollback after a vanished client and for session resets; never for client queries.
    pub async fn run_internal(&mut self, sql: &str) -> Result<(), BackendError> {
        self.stream.write_all(&frontend::query(sql)).await?;
        let mut failure = None;
        loop {
            let msg = self.read_message().await?;
            match msg.tag() {
                b'E' => failure = Some(ServerError::parse(msg.body())),
                b'S' => self.note_parameter(msg.body()),
                b'Z' => {
                    self.status = msg.body().first().copied().unwrap_or(b'I');
                    return match failure {
                        Some(err) => Err(BackendError::Query(err)),
                        None => Ok(()),
                    };
                }
                _ => {}
            }
        }
    }

    /// Runs the proxy's own one-value query (health and lag checks) and returns the first
    /// column of the first row as text.
    pub async fn query_value(&mut self, sql: &str) -> Result<Option<String>, BackendError> {
        self.stream.write_all(&frontend::query(sql)).await?;
        let mut failure = None;
        let mut value = None;
        loop {
            let msg = self.read_message().await?;
            match msg.tag() {
                b'E' => failure = Some(ServerError::parse(msg.body())),
                b'S' => self.note_parameter(msg.body()),
                b'D' if value.is_none() => {
                    let mut r = crate::wire::Reader::new(msg.body());
                    let _columns = r.i16();
                    value = match r.i32() {
                        Some(len) if len >= 0 => r
                            .bytes(len as usize)
                            .map(|b| String::from_utf8_lossy(b).into_owned()),
                        _ => None,
                    };
                }
                b'Z' => {
                    self.status = msg.body().first().copied().unwrap_or(b'I');
                    return match failure {
                        Some(err) => Err(BackendError::Query(err)),
                        None => Ok(value),
                    };
                }
                _ => {}
            }
        }
    }

    /// False when the server closed the connection or sent something while idle (both
    /// mean it must not be handed to a client).
    pub fn is_alive(&self) -> bool {
        if !self.rbuf.is_empty() {
            return false;
        }
        // Nothing seen on the socket since its last read: alive, decided without a system
        // call (or the error kind check, which std does not inline).
        if self
            .stream
            .try_io(tokio::io::Interest::READABLE, || Ok(()))
            .is_err()
        {
            return true;
        }
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Moves the socket to the current worker's runtime if another worker opened it, so its
    /// wake-ups no longer go through a second thread. Only for idle servers: the move
    /// forgets readiness, which is harmless when nothing is in flight.
    pub fn rehome(self: Box<Self>) -> std::io::Result<Box<Server>> {
        let here = super::worker::current();
        if self.worker == here {
            return Ok(self);
        }
        let server = *self;
        let stream = TcpStream::from_std(server.stream.into_std()?)?;
        Ok(Box::new(Server {
            stream,
            worker: here,
            ..server
        }))
    }

    /// Sends Terminate so the server logs a clean disconnect instead of an EOF.
    pub async fn terminate(mut self) {
        let _ = self.stream.write_all(&frontend::terminate()).await;
    }
}
