//! SCRAM-SHA-256 (RFC 5802 with the SHA-256 profile of RFC 7677), the
//! password mechanism PostgreSQL prefers since version 10.
//!
//! pgDog needs both roles: `ScramServer` checks the applications that connect
//! to pgDog, and `ScramClient` logs pgDog into PostgreSQL. This file holds the
//! key derivation and message parsing the two roles share, so the arithmetic
//! that must agree on both ends exists only once.
//!
//! Channel binding is not implemented: pgDog terminates TLS itself, so binding
//! to the client's TLS channel would not prove anything about the server's.

mod client;
mod server;

pub use client::ScramClient;
pub use server::ScramServer;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use base64::{engine::general_purpose::STANDARD, Engine as _};
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::AuthError;

/// The mechanism name sent in AuthenticationSASL and SASLInitialResponse.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// Output size of SHA-256, and so of every key and signature in the exchange.
const KEY_LEN: usize = 32;

/// A SHA-256 sized key, proof or signature.
type Key = [u8; KEY_LEN];

/// The GS2 header pgDog sends as a client: no channel binding, no authzid.
const GS2_HEADER: &str = "n,,";

/// Length of the random part of a nonce, before base64. 18 bytes encode to
/// 24 characters without padding and carry 144 bits of randomness.
const NONCE_BYTES: usize = 18;

fn hmac(key: &[u8], data: &[u8]) -> Key {
    // HMAC is defined for keys of any length, so construction cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn sha256(data: &[u8]) -> Key {
    Sha256::digest(data).into()
}

/// SaltedPassword = Hi(password, salt, i), which is PBKDF2-HMAC-SHA-256.
///
/// No SASLprep normalisation is applied; the password bytes are used as
/// given. For ASCII passwords SASLprep is the identity, and PostgreSQL itself
/// falls back to the raw bytes whenever SASLprep fails, so this agrees with
/// the server for every password an operator is likely to configure.
fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> Key {
    let mut out = [0u8; KEY_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
    out
}

fn xor(a: &Key, b: &Key) -> Key {
    let mut out = [0u8; KEY_LEN];
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x ^ y;
    }
    out
}

fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes base64 from the peer, naming the field in the error so a broken
/// peer can be diagnosed from the log line alone.
fn decode(value: &str, what: &str) -> Result<Vec<u8>, AuthError> {
    STANDARD
        .decode(value)
        .map_err(|_| AuthError::Protocol(format!("{what} is not valid base64")))
}

/// A fresh random nonce part, base64 so it is printable and has no commas.
fn random_nonce() -> String {
    let mut bytes = [0u8; NONCE_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    encode(&bytes)
}

/// SCRAM messages are ASCII in practice and UTF-8 by definition.
fn as_text<'a>(message: &'a [u8], what: &str) -> Result<&'a str, AuthError> {
    std::str::from_utf8(message)
        .map_err(|_| AuthError::Protocol(format!("{what} is not valid UTF-8")))
}

/// Returns the value of `part` if it is the attribute `name`, e.g. `r=abc`.
///
/// A missing part is passed as `None` so callers can hand over the next
/// item of a split iterator directly.
fn attribute(part: Option<&str>, name: char) -> Result<&str, AuthError> {
    part.and_then(|p| p.strip_prefix(name))
        .and_then(|p| p.strip_prefix('='))
        .ok_or_else(|| AuthError::Protocol(format!("expected attribute '{name}='")))
}

/// RFC 5802 restricts nonces to printable ASCII other than the comma, which
/// is the attribute separator.
fn valid_nonce(nonce: &str) -> bool {
    !nonce.is_empty()
        && nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Keys derived by PBKDF2, kept so that it runs once per password and salt rather than
/// at every login: at 4096 iterations it is tens of milliseconds of CPU on the worker
/// thread, which serves no other client meanwhile, so a crowd of logins (clients
/// reconnecting, a pool refilling after a failover) would stall a worker for seconds.
/// Bounded by starting over when full.
struct Derived<K, V> {
    map: OnceLock<Mutex<HashMap<K, V>>>,
}

/// Entries a [`Derived`] keeps before it starts over; only reloads that keep changing
/// passwords, or a server changing its salt at every login, could get there.
const DERIVED_CAPACITY: usize = 4096;

impl<K: Eq + Hash, V: Copy> Derived<K, V> {
    const fn new() -> Self {
        Derived {
            map: OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, V>> {
        let map = self.map.get_or_init(Default::default);
        map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value kept for `key`, or `derive`'s, which is then kept. Derived outside the
    /// lock, so other logins do not wait for this one; of two first derivations at once,
    /// the one kept first is used by both.
    fn get_or_derive(&self, key: K, derive: impl FnOnce() -> V) -> V {
        if let Some(value) = self.lock().get(&key) {
            return *value;
        }
        let value = derive();
        let mut map = self.lock();
        if map.len() >= DERIVED_CAPACITY {
            map.clear();
        }
        *map.entry(key).or_insert(value)
    }
}

#[cfg(test)]
mod tests;
