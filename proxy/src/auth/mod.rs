//! Password authentication, both sides: pgDog verifying its clients, and
//! pgDog proving itself to PostgreSQL servers.
//!
//! pgDog sits between applications and PostgreSQL, so it has to speak both
//! halves of each password exchange: it plays the server towards its own
//! clients and the client towards the real servers. Keeping the two halves in
//! one module means the key derivation they share is written once and tested
//! against itself.

pub mod md5;
pub mod scram;

/// Why a password exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The peer proved knowledge of a different password.
    #[error("password authentication failed")]
    WrongPassword,
    /// The peer sent something that does not follow RFC 5802.
    #[error("malformed SCRAM message: {0}")]
    Protocol(String),
    /// The server could not prove that it knows our password.
    #[error("server signature did not verify")]
    BadServerSignature,
    /// The peer asked for a feature pgDog deliberately does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// Compares two byte strings without stopping at the first difference.
///
/// An early exit would let an attacker learn, from response times, how many
/// leading bytes of a guessed proof or hash were right. The length check may
/// exit early because lengths are fixed by the protocol and so are not secret.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn errors_render_their_detail() {
        let err = AuthError::Protocol("missing nonce".into());
        assert_eq!(err.to_string(), "malformed SCRAM message: missing nonce");
        assert_eq!(
            AuthError::WrongPassword.to_string(),
            "password authentication failed"
        );
    }
}
