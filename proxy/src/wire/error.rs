//! ErrorResponse and NoticeResponse: building the ones pgDog sends in PostgreSQL's own form,
//! and reading the SQLSTATE out of the ones servers send.

use bytes::BytesMut;

use super::{begin, finish, put_cstr, Reader};

/// An error pgDog reports to a client, with PostgreSQL's fields and a real SQLSTATE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorResponse {
    /// `ERROR` ends the statement; `FATAL` ends the connection.
    pub severity: &'static str,
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
}

impl ErrorResponse {
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ErrorResponse {
            severity: "ERROR",
            code: code.to_string(),
            message: message.into(),
            detail: None,
        }
    }

    pub fn fatal(code: &str, message: impl Into<String>) -> Self {
        ErrorResponse {
            severity: "FATAL",
            ..Self::error(code, message)
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Appends the message to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let at = begin(out, b'E');
        for (field, value) in [
            (b'S', self.severity),
            (b'V', self.severity),
            (b'C', &self.code),
            (b'M', &self.message),
        ] {
            out.extend_from_slice(&[field]);
            put_cstr(out, value);
        }
        if let Some(detail) = &self.detail {
            out.extend_from_slice(b"D");
            put_cstr(out, detail);
        }
        out.extend_from_slice(&[0]);
        finish(out, at);
    }

    pub fn to_bytes(&self) -> BytesMut {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out
    }
}

impl std::fmt::Display for ErrorResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)
    }
}

/// The fields of a server's ErrorResponse or NoticeResponse body that pgDog logs.
#[derive(Debug, Default, Clone)]
pub struct ServerError {
    pub severity: String,
    pub code: String,
    pub message: String,
}

impl ServerError {
    pub fn parse(body: &[u8]) -> ServerError {
        let mut err = ServerError::default();
        let mut r = Reader::new(body);
        while let Some(field) = r.u8() {
            if field == 0 {
                break;
            }
            let Some(value) = r.cstr() else { break };
            match field {
                b'V' => err.severity = value.to_string(),
                b'S' if err.severity.is_empty() => err.severity = value.to_string(),
                b'C' => err.code = value.to_string(),
                b'M' => err.message = value.to_string(),
                _ => {}
            }
        }
        err
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.severity, self.code, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_server_parser() {
        let bytes = ErrorResponse::error("28P01", "password authentication failed")
            .with_detail("x")
            .to_bytes();
        assert_eq!(bytes[0], b'E');
        let parsed = ServerError::parse(&bytes[5..]);
        assert_eq!(parsed.code, "28P01");
        assert_eq!(parsed.severity, "ERROR");
        assert_eq!(parsed.message, "password authentication failed");
    }
}
