//! A client's first moments: SSL/GSS negotiation, cancel requests, the startup packet, and
//! password authentication against `users.toml`.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{info, warn};

use super::Shared;
use crate::auth::md5::verify_md5;
use crate::auth::scram::{ScramServer, SCRAM_SHA_256};
use crate::auth::AuthError;
use crate::backend::Cluster;
use crate::config::{AuthType, PoolerMode, User};
use crate::wire::backend::{
    auth_request, AUTH_CLEARTEXT, AUTH_MD5, AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL,
};
use crate::wire::startup::{split_startup, StartupPacket};
use crate::wire::{frontend, split_message, ErrorResponse, Message};

/// Like PostgreSQL's `authentication_timeout`: a client that does not finish logging in by
/// then is dropped, so idle sockets cannot pin tasks and memory.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A client that has logged in.
pub struct LoggedIn {
    pub user: String,
    pub database: String,
    pub startup: Vec<(String, String)>,
    pub cluster: Arc<Cluster>,
    pub mode: PoolerMode,
}

/// Why a login ended without a session. `Rejected` has already been told to the client.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("{0}")]
    Rejected(ErrorResponse),
    #[error("client went away during login")]
    Gone,
    /// Logged into the admin database: served by `admin`, not a session.
    #[error("admin login")]
    Admin,
    #[error("cancel request handled")]
    Cancel,
    #[error("login timed out")]
    Timeout,
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub async fn login(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    shared: &Shared,
) -> Result<LoggedIn, LoginError> {
    match crate::timer::timeout(LOGIN_TIMEOUT, login_inner(stream, buf, shared)).await {
        Ok(Err(LoginError::Rejected(err))) => {
            let _ = stream.write_all(&err.to_bytes()).await;
            Err(LoginError::Rejected(err))
        }
        Ok(result) => result,
        Err(_) => {
            let err = ErrorResponse::fatal("08P01", "canceling authentication due to timeout");
            let _ = stream.write_all(&err.to_bytes()).await;
            Err(LoginError::Timeout)
        }
    }
}

async fn login_inner(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    shared: &Shared,
) -> Result<LoggedIn, LoginError> {
    let params = loop {
        let packet = loop {
            match split_startup(buf) {
                Ok(Some(packet)) => break packet,
                Ok(None) => {
                    if stream.read_buf(buf).await? == 0 {
                        return Err(LoginError::Gone);
                    }
                }
                Err(err) => {
                    return Err(LoginError::Rejected(ErrorResponse::fatal(
                        "08P01",
                        err.to_string(),
                    )))
                }
            }
        };
        match packet {
            // TLS is not offered yet; `N` tells the client to go on in plain text.
            StartupPacket::Ssl | StartupPacket::GssEnc => stream.write_all(b"N").await?,
            StartupPacket::Cancel { pid, secret } => {
                shared.cancels.cancel(pid, secret).await;
                return Err(LoginError::Cancel);
            }
            StartupPacket::Startup { params } => break params,
        }
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let Some(user) = param("user") else {
        return Err(LoginError::Rejected(ErrorResponse::fatal(
            "28000",
            "no PostgreSQL user name specified in startup packet",
        )));
    };
    let database = param("database").unwrap_or_else(|| user.clone());
    if param("replication").is_some_and(|v| v != "false" && v != "0") {
        return Err(LoginError::Rejected(ErrorResponse::fatal(
            "08P01",
            "pgDog does not proxy replication connections",
        )));
    }
    let config = &shared.config;
    if database == config.admin.name {
        // The admin database: pgDog's own commands, for `[admin] user` only.
        let admin = User {
            name: config.admin.user.clone(),
            database: database.clone(),
            password: config.admin.password.clone(),
            pool_size: None,
            min_pool_size: None,
            pooler_mode: None,
            auth_type: None,
            server_user: None,
            server_password: None,
        };
        if user != admin.name {
            return Err(LoginError::Rejected(ErrorResponse::fatal(
                "28000",
                format!("role \"{user}\" is not allowed to connect to the admin database \"{database}\""),
            )));
        }
        authenticate(stream, buf, &admin, config.general.auth_type).await?;
        info!(%user, %database, "admin client logged in");
        return Err(LoginError::Admin);
    }
    if config.database_entries(&database).next().is_none() {
        return Err(LoginError::Rejected(ErrorResponse::fatal(
            "3D000",
            format!("database \"{database}\" does not exist"),
        )));
    }
    let Some(user_config) = config
        .users
        .iter()
        .find(|u| u.name == user && u.database == database)
    else {
        warn!(%user, %database, "login refused: no such user for this database");
        return Err(LoginError::Rejected(ErrorResponse::fatal(
            "28000",
            format!("role \"{user}\" is not allowed to connect to database \"{database}\""),
        )));
    };
    let auth_type = user_config.auth_type.unwrap_or(config.general.auth_type);
    authenticate(stream, buf, user_config, auth_type).await?;

    let Some(cluster) = shared.pools.get(&database, &user).cloned() else {
        return Err(LoginError::Rejected(ErrorResponse::fatal(
            "3D000",
            format!("database \"{database}\" has no server for user \"{user}\""),
        )));
    };
    let mode = user_config
        .pooler_mode
        .unwrap_or(config.general.pooler_mode);
    info!(%user, %database, ?auth_type, ?mode, "client logged in");
    Ok(LoggedIn {
        user,
        database,
        startup: params,
        cluster,
        mode,
    })
}

async fn authenticate(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    user: &User,
    auth_type: AuthType,
) -> Result<(), LoginError> {
    let failed = || {
        warn!(user = %user.name, database = %user.database, "password authentication failed");
        LoginError::Rejected(ErrorResponse::fatal(
            "28P01",
            format!("password authentication failed for user \"{}\"", user.name),
        ))
    };
    // A user with no password configured can never log in: there is nothing to check.
    let Some(password) = user.password.as_deref() else {
        return Err(failed());
    };
    match auth_type {
        AuthType::Plain => {
            stream.write_all(&auth_request(AUTH_CLEARTEXT, &[])).await?;
            let msg = read_password(stream, buf).await?;
            let given = crate::wire::Reader::new(msg.body()).cstr().unwrap_or("");
            if !crate::auth::constant_time_eq(given.as_bytes(), password.as_bytes()) {
                return Err(failed());
            }
        }
        AuthType::Md5 => {
            let salt: [u8; 4] = rand::random();
            stream.write_all(&auth_request(AUTH_MD5, &salt)).await?;
            let msg = read_password(stream, buf).await?;
            let given = crate::wire::Reader::new(msg.body()).cstr().unwrap_or("");
            if !verify_md5(&user.name, password, salt, given) {
                return Err(failed());
            }
        }
        AuthType::Scram => {
            let mut offer = Vec::from(SCRAM_SHA_256.as_bytes());
            offer.extend_from_slice(&[0, 0]);
            stream.write_all(&auth_request(AUTH_SASL, &offer)).await?;
            let mut scram = ScramServer::new(password);
            let msg = read_password(stream, buf).await?;
            let (mechanism, data) = frontend::sasl_initial(msg.body()).map_err(protocol)?;
            if mechanism != SCRAM_SHA_256 {
                return Err(LoginError::Rejected(ErrorResponse::fatal(
                    "28000",
                    format!("unsupported SASL mechanism \"{mechanism}\""),
                )));
            }
            let first = scram.server_first(data).map_err(scram_error)?;
            stream
                .write_all(&auth_request(AUTH_SASL_CONTINUE, &first))
                .await?;
            let msg = read_password(stream, buf).await?;
            let last = match scram.server_final(msg.body()) {
                Ok(last) => last,
                Err(AuthError::WrongPassword) => return Err(failed()),
                Err(err) => return Err(scram_error(err)),
            };
            stream
                .write_all(&auth_request(AUTH_SASL_FINAL, &last))
                .await?;
        }
    }
    Ok(())
}

fn protocol(err: impl std::fmt::Display) -> LoginError {
    LoginError::Rejected(ErrorResponse::fatal("08P01", err.to_string()))
}

fn scram_error(err: AuthError) -> LoginError {
    LoginError::Rejected(ErrorResponse::fatal("28000", err.to_string()))
}

/// Reads the client's next message, which must be a password message (`p`).
async fn read_password(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<Message, LoginError> {
    loop {
        match split_message(buf) {
            Ok(Some(msg)) if msg.tag() == b'p' => return Ok(msg),
            Ok(Some(msg)) => {
                return Err(protocol(format!(
                    "expected password response, got message type '{}'",
                    msg.tag() as char
                )))
            }
            Ok(None) => {
                if stream.read_buf(buf).await? == 0 {
                    return Err(LoginError::Gone);
                }
            }
            Err(err) => return Err(protocol(err)),
        }
    }
}
