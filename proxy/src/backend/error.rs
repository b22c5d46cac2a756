//! Errors from the server side, recording whether the server ever saw a client's query, so
//! callers know when a retry elsewhere would be safe.

use crate::wire::error::ServerError;
use crate::wire::ErrorResponse;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("could not connect to server {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("connecting to server {addr} timed out")]
    ConnectTimeout { addr: String },
    #[error("server {addr} rejected the login: {error}")]
    Login { addr: String, error: ServerError },
    #[error("server {addr} asked for {what}, which pgDog does not support")]
    UnsupportedAuth { addr: String, what: String },
    #[error("server {addr} wants a password and none is configured")]
    NoPassword { addr: String },
    #[error("authentication with server {addr} failed: {0}", .source)]
    Auth {
        addr: String,
        source: crate::auth::AuthError,
    },
    #[error("server connection lost: {0}")]
    Io(#[from] std::io::Error),
    #[error("server sent an invalid message: {0}")]
    Protocol(String),
    #[error("no server connection available within checkout_timeout ({0} ms)")]
    CheckoutTimeout(u64),
    #[error("query failed on server: {0}")]
    Query(ServerError),
    #[error("the pool is shutting down")]
    Closed,
}

impl BackendError {
    /// The server could not be reached or broke down: another host may do better, and
    /// this one deserves a ban.
    pub fn is_unreachable(&self) -> bool {
        match self {
            BackendError::Connect { .. }
            | BackendError::ConnectTimeout { .. }
            | BackendError::Io(_)
            | BackendError::Protocol(_) => true,
            // Shutting down, starting up, in recovery, or out of connection slots.
            BackendError::Login { error, .. } => {
                error.code.starts_with("57P") || error.code == "53300"
            }
            _ => false,
        }
    }

    /// The ErrorResponse a client sees for this failure, in PostgreSQL's terms.
    pub fn to_client(&self) -> ErrorResponse {
        match self {
            BackendError::Login { error, .. } if !error.code.is_empty() => {
                ErrorResponse::error(&error.code, error.message.clone())
                    .with_detail(self.to_string())
            }
            BackendError::CheckoutTimeout(_) => ErrorResponse::error("53300", self.to_string()),
            BackendError::Closed => ErrorResponse::fatal("57P01", self.to_string()),
            _ => ErrorResponse::error("08006", self.to_string()),
        }
    }

    /// The same, as a FATAL error ending a connection that cannot be served.
    pub fn to_client_fatal(&self) -> ErrorResponse {
        ErrorResponse {
            severity: "FATAL",
            ..self.to_client()
        }
    }
}
