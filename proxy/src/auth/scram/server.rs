//! The server half of SCRAM-SHA-256: pgDog checking the password of an
//! application that connects to it.
//!
//! It lives apart from the client half because it has its own state machine
//! and must also accept PostgreSQL's stored verifier format, which lets
//! operators keep hashes rather than plaintext passwords in users.toml.

use std::fmt;

use super::{
    as_text, attribute, decode, encode, hmac, random_nonce, salted_password, sha256, valid_nonce,
    xor, Derived, Key, KEY_LEN,
};
use crate::auth::{constant_time_eq, AuthError};

/// PostgreSQL's default `scram_iterations`, so hashes pgDog derives cost the
/// same as the ones the database would have made.
const DEFAULT_ITERATIONS: u32 = 4096;

/// Length of a freshly generated salt, matching PostgreSQL's default.
const SALT_BYTES: usize = 16;

/// What a stored verifier holds, derived once from a plaintext password.
#[derive(Clone, Copy)]
struct DerivedKeys {
    salt: [u8; SALT_BYTES],
    stored_key: Key,
    server_key: Key,
}

/// A plaintext password's salt and keys, by a digest of the password: PostgreSQL, too,
/// keeps one salt and one pair of keys per password (in `pg_authid`), and a changed
/// password is a new entry.
static DERIVED: Derived<Key, DerivedKeys> = Derived::new();

fn derive_keys(password: &str) -> DerivedKeys {
    let mut salt = [0u8; SALT_BYTES];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut salt);
    let salted = salted_password(password.as_bytes(), &salt, DEFAULT_ITERATIONS);
    DerivedKeys {
        salt,
        stored_key: sha256(&hmac(&salted, b"Client Key")),
        server_key: hmac(&salted, b"Server Key"),
    }
}

/// Server side: pgDog authenticating a client whose plaintext password is known from users.toml.
///
/// If the configured password is already a PostgreSQL SCRAM verifier
/// ("SCRAM-SHA-256$<iter>:<salt b64>$<StoredKey b64>:<ServerKey b64>"), it is
/// used directly instead of deriving one.
pub struct ScramServer {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Key,
    server_key: Key,
    /// Our half of the nonce, appended to the client's half.
    server_nonce: String,
    state: State,
}

/// Where the exchange is. Any error moves to `Done`, so a client cannot retry
/// a proof against the same nonce.
enum State {
    Initial,
    FirstSent {
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    Done,
}

impl ScramServer {
    /// Prepares an exchange for one client connection.
    pub fn new(password: &str) -> Self {
        if let Some(server) = Self::from_verifier(password) {
            return server;
        }
        let keys = DERIVED.get_or_derive(sha256(password.as_bytes()), || derive_keys(password));
        Self {
            salt: keys.salt.to_vec(),
            iterations: DEFAULT_ITERATIONS,
            stored_key: keys.stored_key,
            server_key: keys.server_key,
            server_nonce: random_nonce(),
            state: State::Initial,
        }
    }

    /// Builds a server with a fixed salt and nonce, so tests can reproduce
    /// published example exchanges byte for byte.
    #[cfg(test)]
    pub(crate) fn with_params(password: &str, salt: &[u8], iterations: u32, nonce: &str) -> Self {
        Self::derive(password, salt, iterations, nonce.to_owned())
    }

    #[cfg(test)]
    fn derive(password: &str, salt: &[u8], iterations: u32, server_nonce: String) -> Self {
        let salted = salted_password(password.as_bytes(), salt, iterations);
        Self {
            salt: salt.to_vec(),
            iterations,
            stored_key: sha256(&hmac(&salted, b"Client Key")),
            server_key: hmac(&salted, b"Server Key"),
            server_nonce,
            state: State::Initial,
        }
    }

    /// Parses a verifier as stored in `pg_authid.rolpassword`. Anything that
    /// does not parse completely is treated as a plaintext password, which is
    /// also how PostgreSQL decides what a configured password is.
    fn from_verifier(verifier: &str) -> Option<Self> {
        let rest = verifier.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored_key, server_key) = keys.split_once(':')?;
        let iterations = iterations.parse::<u32>().ok().filter(|&i| i > 0)?;
        let salt = decode(salt, "salt").ok().filter(|s| !s.is_empty())?;
        Some(Self {
            salt,
            iterations,
            stored_key: decode(stored_key, "StoredKey").ok()?.try_into().ok()?,
            server_key: decode(server_key, "ServerKey").ok()?.try_into().ok()?,
            server_nonce: random_nonce(),
            state: State::Initial,
        })
    }

    /// Takes the client-first-message bytes (the SASLInitialResponse data), returns the server-first-message.
    pub fn server_first(&mut self, client_first: &[u8]) -> Result<Vec<u8>, AuthError> {
        if !matches!(self.state, State::Initial) {
            return Err(AuthError::Protocol(
                "client-first-message arrived out of order".into(),
            ));
        }
        // Leave the exchange finished unless every check below passes.
        self.state = State::Done;

        let message = as_text(client_first, "client-first-message")?;
        let (gs2_header, bare) = split_gs2_header(message)?;
        let mut attrs = bare.split(',');
        let first = attrs.next();
        if first.is_some_and(|a| a.starts_with("m=")) {
            return Err(AuthError::Unsupported("SCRAM mandatory extensions".into()));
        }
        // The user name is required by the grammar but ignored: PostgreSQL
        // takes the role from the startup packet, and libpq sends it empty.
        attribute(first, 'n')?;
        let client_nonce = attribute(attrs.next(), 'r')?;
        if !valid_nonce(client_nonce) {
            return Err(AuthError::Protocol("client nonce is not printable".into()));
        }

        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!("r={nonce},s={},i={}", encode(&self.salt), self.iterations);
        self.state = State::FirstSent {
            gs2_header,
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
            nonce,
        };
        Ok(server_first.into_bytes())
    }

    /// Takes client-final-message, verifies nonce and proof; returns server-final-message ("v=...") or WrongPassword.
    pub fn server_final(&mut self, client_final: &[u8]) -> Result<Vec<u8>, AuthError> {
        let State::FirstSent {
            gs2_header,
            client_first_bare,
            server_first,
            nonce,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(AuthError::Protocol(
                "client-final-message arrived out of order".into(),
            ));
        };

        let message = as_text(client_final, "client-final-message")?;
        // The proof is always the last attribute, and everything before it is
        // signed, so split there rather than parsing attribute by attribute.
        let (without_proof, proof) = message
            .rsplit_once(',')
            .ok_or_else(|| AuthError::Protocol("client-final-message has no proof".into()))?;
        let proof: Key = decode(attribute(Some(proof), 'p')?, "proof")?
            .try_into()
            .map_err(|_| AuthError::Protocol(format!("proof is not {KEY_LEN} bytes")))?;

        let mut attrs = without_proof.split(',');
        let binding = decode(attribute(attrs.next(), 'c')?, "channel binding")?;
        // Without channel binding the c= attribute just repeats the GS2
        // header; a mismatch means someone altered the first message.
        if binding != gs2_header.as_bytes() {
            return Err(AuthError::Protocol(
                "channel binding does not match the GS2 header".into(),
            ));
        }
        // The nonce is public, so an ordinary comparison is fine here.
        if attribute(attrs.next(), 'r')? != nonce {
            return Err(AuthError::Protocol("nonce does not match".into()));
        }

        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = hmac(&self.stored_key, auth_message.as_bytes());
        // Recover the ClientKey the proof implies and check that it hashes to
        // StoredKey. This works from a verifier, which never holds ClientKey.
        let client_key = xor(&proof, &client_signature);
        if !constant_time_eq(&sha256(&client_key), &self.stored_key) {
            return Err(AuthError::WrongPassword);
        }

        let server_signature = hmac(&self.server_key, auth_message.as_bytes());
        Ok(format!("v={}", encode(&server_signature)).into_bytes())
    }
}

/// Keeps the keys out of logs if a containing struct derives `Debug`.
impl fmt::Debug for ScramServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramServer")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// Splits the GS2 header off a client-first-message, returning the header
/// (with its trailing comma, as c= must echo it) and client-first-bare.
fn split_gs2_header(message: &str) -> Result<(String, &str), AuthError> {
    let mut parts = message.splitn(3, ',');
    let (Some(flag), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(AuthError::Protocol("missing GS2 header".into()));
    };
    match flag {
        // "y" means the client could bind but believes we cannot. pgDog
        // never advertises SCRAM-SHA-256-PLUS, so that belief is correct and
        // there is no downgrade to detect.
        "n" | "y" => {}
        _ if flag.starts_with("p=") => {
            return Err(AuthError::Unsupported("SCRAM channel binding".into()))
        }
        _ => return Err(AuthError::Protocol("invalid channel binding flag".into())),
    }
    if !authzid.is_empty() {
        return Err(AuthError::Unsupported(
            "SCRAM authorization identity".into(),
        ));
    }
    Ok((format!("{flag},,"), bare))
}
