//! The client half of SCRAM-SHA-256: pgDog logging into a PostgreSQL server.
//!
//! Besides proving that pgDog knows the password, the client checks the
//! server's signature at the end, so pgDog does not hand application traffic
//! to something that merely pretends to be the database.

use std::fmt;

use super::{
    as_text, attribute, decode, encode, hmac, random_nonce, salted_password, sha256, valid_nonce,
    xor, Derived, Key, GS2_HEADER,
};
use crate::auth::{constant_time_eq, AuthError};

/// SaltedPassword by a digest of the password, the server's salt and its iteration
/// count: a role's salt only changes with its password.
pub(super) static SALTED: Derived<(Key, Vec<u8>, u32), Key> = Derived::new();

/// Client side: pgDog authenticating to a PostgreSQL server with a plaintext password.
pub struct ScramClient {
    password: String,
    /// Our half of the nonce; the server must echo it as a prefix of its own.
    nonce: String,
    client_first_bare: String,
    /// The ServerSignature we expect, known once client_final has run.
    server_signature: Option<Key>,
}

impl ScramClient {
    /// Prepares an exchange with a fresh random nonce.
    pub fn new(password: &str) -> Self {
        // The user name is left empty: PostgreSQL ignores it in favour of the
        // one in the startup packet, which is also what libpq does.
        Self::build("", password, random_nonce())
    }

    /// Builds a client with a fixed user name and nonce, so tests can
    /// reproduce published example exchanges byte for byte.
    #[cfg(test)]
    pub(crate) fn with_nonce(user: &str, password: &str, nonce: &str) -> Self {
        Self::build(user, password, nonce.to_owned())
    }

    fn build(user: &str, password: &str, nonce: String) -> Self {
        // RFC 5802 escapes '=' and ',' in user names so they cannot be
        // mistaken for attribute syntax.
        let user = user.replace('=', "=3D").replace(',', "=2C");
        Self {
            password: password.to_owned(),
            client_first_bare: format!("n={user},r={nonce}"),
            nonce,
            server_signature: None,
        }
    }

    /// The client-first-message, sent as the SASLInitialResponse data.
    pub fn client_first(&self) -> Vec<u8> {
        format!("{GS2_HEADER}{}", self.client_first_bare).into_bytes()
    }

    /// Answers the server-first-message with the client-final-message,
    /// which carries our proof of the password.
    pub fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, AuthError> {
        if self.server_signature.is_some() {
            return Err(AuthError::Protocol(
                "server-first-message arrived twice".into(),
            ));
        }
        let message = as_text(server_first, "server-first-message")?;
        let mut attrs = message.split(',');
        let first = attrs.next();
        if first.is_some_and(|a| a.starts_with("m=")) {
            return Err(AuthError::Unsupported("SCRAM mandatory extensions".into()));
        }

        let nonce = attribute(first, 'r')?;
        // The server must extend our nonce, not replace it: otherwise it could
        // replay an exchange recorded with another client.
        if nonce.len() <= self.nonce.len() || !nonce.starts_with(&self.nonce) || !valid_nonce(nonce)
        {
            return Err(AuthError::Protocol(
                "server nonce does not extend the client nonce".into(),
            ));
        }
        let salt = decode(attribute(attrs.next(), 's')?, "salt")?;
        if salt.is_empty() {
            return Err(AuthError::Protocol("salt is empty".into()));
        }
        let iterations = attribute(attrs.next(), 'i')?
            .parse::<u32>()
            .ok()
            .filter(|&i| i > 0)
            .ok_or_else(|| AuthError::Protocol("invalid iteration count".into()))?;

        let password = self.password.as_bytes();
        let salted = SALTED.get_or_derive((sha256(password), salt.clone(), iterations), || {
            salted_password(password, &salt, iterations)
        });
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = sha256(&client_key);

        let without_proof = format!("c={},r={nonce}", encode(GS2_HEADER.as_bytes()));
        let auth_message = format!("{},{message},{without_proof}", self.client_first_bare);
        let client_signature = hmac(&stored_key, auth_message.as_bytes());
        let proof = xor(&client_key, &client_signature);

        let server_key = hmac(&salted, b"Server Key");
        self.server_signature = Some(hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", encode(&proof)).into_bytes())
    }

    /// Checks the server-final-message. A server that reports an error with
    /// `e=` yields a `Protocol` error carrying exactly that error text.
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), AuthError> {
        let expected = self.server_signature.as_ref().ok_or_else(|| {
            AuthError::Protocol("server-final-message arrived before server-first-message".into())
        })?;
        let message = as_text(server_final, "server-final-message")?;
        // Extensions may follow the first attribute; none are defined, so
        // only the first one matters.
        let first = message.split(',').next();
        if let Some(error) = first.and_then(|a| a.strip_prefix("e=")) {
            return Err(AuthError::Protocol(error.to_owned()));
        }
        let signature = decode(attribute(first, 'v')?, "server signature")?;
        if constant_time_eq(&signature, expected) {
            Ok(())
        } else {
            Err(AuthError::BadServerSignature)
        }
    }
}

/// Keeps the password out of logs if a containing struct derives `Debug`.
impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("nonce", &self.nonce)
            .finish_non_exhaustive()
    }
}
