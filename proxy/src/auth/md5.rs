//! PostgreSQL's legacy md5 password exchange.
//!
//! Old servers and clients still use md5, so pgDog needs to compute the
//! response when logging into such a server and to check it when a client
//! chooses md5. The scheme is weak (the hash of password and user is a
//! password equivalent), which is why SCRAM lives next to it and is preferred.

// The `md-5` package is imported under the crate name `md5`, which is also the
// name of this module; the leading `::` makes sure we reach the crate.
use ::md5::{Digest, Md5};

use super::constant_time_eq;

/// PostgreSQL's md5 response: "md5" + hex(md5( hex(md5(password ++ user)) ++ salt )).
pub fn md5_response(user: &str, password: &str, salt: [u8; 4]) -> String {
    // The inner hash is what PostgreSQL stores in pg_authid for md5 users; the
    // outer hash mixes in the per-connection salt so replaying fails.
    let mut inner = Md5::new();
    inner.update(password.as_bytes());
    inner.update(user.as_bytes());
    let inner_hex = to_hex(&inner.finalize());

    let mut outer = Md5::new();
    outer.update(inner_hex.as_bytes());
    outer.update(salt);
    format!("md5{}", to_hex(&outer.finalize()))
}

/// Verifies a client's md5 response (the string WITHOUT the trailing NUL) in constant time.
pub fn verify_md5(user: &str, password: &str, salt: [u8; 4], response: &str) -> bool {
    let expected = md5_response(user, password, salt);
    constant_time_eq(expected.as_bytes(), response.as_bytes())
}

/// Lower-case hex, the form PostgreSQL uses on both hashing rounds.
fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with Python's hashlib:
    //   inner = hashlib.md5(b"secret" + b"postgres").hexdigest()
    //   "md5" + hashlib.md5(inner.encode() + bytes([1, 2, 3, 4])).hexdigest()
    const EXPECTED: &str = "md5bb41a296aab6baccb36ff243a562abff";

    #[test]
    fn response_matches_known_vector() {
        assert_eq!(md5_response("postgres", "secret", [1, 2, 3, 4]), EXPECTED);
    }

    #[test]
    fn verify_accepts_right_and_rejects_wrong() {
        let salt = [1, 2, 3, 4];
        assert!(verify_md5("postgres", "secret", salt, EXPECTED));
        assert!(!verify_md5("postgres", "Secret", salt, EXPECTED));
        assert!(!verify_md5("postgres", "secret", [4, 3, 2, 1], EXPECTED));
        assert!(!verify_md5("other", "secret", salt, EXPECTED));
        assert!(!verify_md5("postgres", "secret", salt, ""));
        assert!(!verify_md5("postgres", "secret", salt, "md5"));
        // A trailing NUL is the caller's job to strip, so it must not match.
        assert!(!verify_md5(
            "postgres",
            "secret",
            salt,
            &format!("{EXPECTED}\0")
        ));
    }

    #[test]
    fn hex_is_lower_case() {
        assert_eq!(to_hex(&[0x00, 0xab, 0xff, 0x10]), "00abff10");
    }
}
