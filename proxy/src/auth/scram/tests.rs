//! Tests for SCRAM-SHA-256: published vectors pin the arithmetic, round trips
//! check that the two halves agree, and malformed input checks that a hostile
//! peer gets an error rather than a panic.

use super::*;

// RFC 7677, section 3.
const RFC_CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
const RFC_SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
const RFC_SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
const RFC_SERVER_FIRST: &str =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const RFC_CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                                p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const RFC_SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

// The verifier PostgreSQL would store for "pencil" with the RFC salt, computed
// independently with Python's hashlib and hmac modules:
//   sp = hashlib.pbkdf2_hmac("sha256", b"pencil", b64decode(RFC_SALT), 4096)
//   ck = hmac.new(sp, b"Client Key", "sha256").digest()
//   stored = sha256(ck); server = hmac.new(sp, b"Server Key", "sha256").digest()
const PENCIL_VERIFIER: &str = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$\
                               WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:\
                               wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

fn rfc_salt() -> Vec<u8> {
    decode(RFC_SALT, "salt").expect("RFC salt is base64")
}

/// Runs a whole exchange and returns the server's verdict on the proof.
fn exchange(client: &mut ScramClient, server: &mut ScramServer) -> Result<(), AuthError> {
    let server_first = server.server_first(&client.client_first())?;
    let client_final = client.client_final(&server_first)?;
    let server_final = server.server_final(&client_final)?;
    client.verify_server_final(&server_final)
}

/// A server ready for client-final, built from a verifier so no PBKDF2 runs.
fn server_after_first(client_first: &[u8]) -> (ScramServer, String) {
    let mut server = ScramServer::new(PENCIL_VERIFIER);
    let first = server
        .server_first(client_first)
        .expect("valid first message");
    (
        server,
        String::from_utf8(first).expect("server-first is ASCII"),
    )
}

#[test]
fn client_matches_rfc7677_example() {
    let mut client = ScramClient::with_nonce("user", "pencil", RFC_CLIENT_NONCE);
    assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let client_final = client.client_final(RFC_SERVER_FIRST.as_bytes()).unwrap();
    assert_eq!(String::from_utf8(client_final).unwrap(), RFC_CLIENT_FINAL);
    client
        .verify_server_final(RFC_SERVER_FINAL.as_bytes())
        .unwrap();
}

#[test]
fn server_matches_rfc7677_example() {
    let mut server = ScramServer::with_params("pencil", &rfc_salt(), 4096, RFC_SERVER_NONCE);
    let first = server
        .server_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        .unwrap();
    assert_eq!(String::from_utf8(first).unwrap(), RFC_SERVER_FIRST);
    let last = server.server_final(RFC_CLIENT_FINAL.as_bytes()).unwrap();
    assert_eq!(String::from_utf8(last).unwrap(), RFC_SERVER_FINAL);
}

#[test]
fn verifier_matches_independent_derivation() {
    let salted = salted_password(b"pencil", &rfc_salt(), 4096);
    let stored = sha256(&hmac(&salted, b"Client Key"));
    let server = hmac(&salted, b"Server Key");
    let expected = format!(
        "SCRAM-SHA-256$4096:{RFC_SALT}${}:{}",
        encode(&stored),
        encode(&server)
    );
    assert_eq!(expected, PENCIL_VERIFIER);
}

#[test]
fn round_trip_with_right_password() {
    let mut client = ScramClient::new("hunter2");
    let mut server = ScramServer::new("hunter2");
    exchange(&mut client, &mut server).unwrap();
}

#[test]
fn round_trip_with_wrong_password() {
    let mut client = ScramClient::new("hunter3");
    let mut server = ScramServer::new("hunter2");
    let err = exchange(&mut client, &mut server).unwrap_err();
    assert!(matches!(err, AuthError::WrongPassword), "{err:?}");
}

#[test]
fn server_from_verifier_accepts_only_the_password() {
    let mut server = ScramServer::new(PENCIL_VERIFIER);
    exchange(&mut ScramClient::new("pencil"), &mut server).unwrap();

    let mut server = ScramServer::new(PENCIL_VERIFIER);
    let err = exchange(&mut ScramClient::new("pen"), &mut server).unwrap_err();
    assert!(matches!(err, AuthError::WrongPassword), "{err:?}");

    // The verifier string itself is not the password.
    let mut server = ScramServer::new(PENCIL_VERIFIER);
    let err = exchange(&mut ScramClient::new(PENCIL_VERIFIER), &mut server).unwrap_err();
    assert!(matches!(err, AuthError::WrongPassword), "{err:?}");
}

#[test]
fn server_from_verifier_reproduces_rfc_signature() {
    let mut client = ScramClient::with_nonce("user", "pencil", RFC_CLIENT_NONCE);
    let (mut server, first) = server_after_first(&client.client_first());
    let client_final = client.client_final(first.as_bytes()).unwrap();
    let last = server.server_final(&client_final).unwrap();
    client.verify_server_final(&last).unwrap();
}

#[test]
fn almost_verifiers_are_plaintext_passwords() {
    for password in [
        "SCRAM-SHA-256$bogus",
        "SCRAM-SHA-256$0:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:AAAA",
        "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$AAAA:AAAA",
        "SCRAM-SHA-256$4096:!!$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:AAAA",
    ] {
        let mut server = ScramServer::new(password);
        exchange(&mut ScramClient::new(password), &mut server).unwrap();
    }
}

#[test]
fn gs2_flag_y_is_accepted_and_echoed() {
    let (mut server, first) = server_after_first(b"y,,n=,r=abcdef");
    let nonce = first.split(',').next().unwrap();
    let last = format!("c=eSws,{nonce},p={}", encode(&[0u8; KEY_LEN]));
    // The binding check passes, so the failure is about the (zero) proof.
    let err = server.server_final(last.as_bytes()).unwrap_err();
    assert!(matches!(err, AuthError::WrongPassword), "{err:?}");
}

#[test]
fn unsupported_features_are_named() {
    for message in [
        &b"p=tls-server-end-point,,n=,r=abc"[..],
        b"n,a=admin,n=,r=abc",
        b"n,,m=ext,n=,r=abc",
    ] {
        let err = ScramServer::new(PENCIL_VERIFIER)
            .server_first(message)
            .unwrap_err();
        assert!(matches!(err, AuthError::Unsupported(_)), "{err:?}");
    }
}

#[test]
fn malformed_client_first_is_rejected() {
    for message in [
        &b""[..],
        b"n",
        b"n,,",
        b"n,,n=",
        b"n,,n=,r=",
        b"n,,r=abc",
        b"n,,n=,x=abc",
        b"x,,n=,r=abc",
        b"n,,n=,r=ab c",
        b"n,,n=,r=\xff",
        b"\xff\xfe",
    ] {
        let err = ScramServer::new(PENCIL_VERIFIER).server_first(message);
        assert!(
            matches!(err, Err(AuthError::Protocol(_))),
            "{message:?}: {err:?}"
        );
    }
}

#[test]
fn malformed_client_final_is_rejected() {
    let (_, first) = server_after_first(b"n,,n=,r=abcdef");
    let nonce = first.split(',').next().unwrap();
    let proof = encode(&[0u8; KEY_LEN]);
    for message in [
        String::new(),
        "c=biws".into(),
        format!("c=biws,{nonce}"),
        format!("c=biws,{nonce},p="),
        format!("c=biws,{nonce},p=!!!"),
        format!("c=biws,{nonce},p=AAAA"),
        format!("c=biws,r=abcdef,p={proof}"),
        format!("c=eSws,{nonce},p={proof}"),
        format!("c=!!,{nonce},p={proof}"),
        format!("{nonce},c=biws,p={proof}"),
        format!("c=biws,p={proof}"),
    ] {
        let (mut server, _) = server_after_first(b"n,,n=,r=abcdef");
        let err = server.server_final(message.as_bytes());
        assert!(
            matches!(err, Err(AuthError::Protocol(_))),
            "{message}: {err:?}"
        );
    }
}

#[test]
fn server_steps_out_of_order_fail() {
    let mut server = ScramServer::new(PENCIL_VERIFIER);
    assert!(matches!(
        server.server_final(b"c=biws"),
        Err(AuthError::Protocol(_))
    ));
    // A failed step ends the exchange; the same server cannot be reused.
    assert!(server.server_first(b"n,,n=,r=abc").is_err());

    let mut server = ScramServer::new(PENCIL_VERIFIER);
    server.server_first(b"n,,n=,r=abc").unwrap();
    assert!(server.server_first(b"n,,n=,r=abc").is_err());
}

#[test]
fn wrong_proof_cannot_be_retried() {
    let mut client = ScramClient::new("pencil");
    let (mut server, first) = server_after_first(&client.client_first());
    let good = client.client_final(first.as_bytes()).unwrap();
    let mut bad = good.clone();
    if let Some(last) = bad.len().checked_sub(3) {
        bad[last] ^= 1;
    }
    assert!(server.server_final(&bad).is_err());
    assert!(server.server_final(&good).is_err());
}

#[test]
fn malformed_server_first_is_rejected() {
    let client_nonce = "fixednonce";
    for message in [
        String::new(),
        "r=other,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096".into(),
        format!("r={client_nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
        format!("r={client_nonce}x"),
        format!("r={client_nonce}x,s=,i=4096"),
        format!("r={client_nonce}x,s=!!,i=4096"),
        format!("r={client_nonce}x,s=AAAA"),
        format!("r={client_nonce}x,s=AAAA,i=0"),
        format!("r={client_nonce}x,s=AAAA,i=-1"),
        format!("r={client_nonce}x,s=AAAA,i=lots"),
        format!("r={client_nonce}x,s=AAAA,i=99999999999"),
        format!("r={client_nonce} x,s=AAAA,i=1"),
        format!("s=AAAA,r={client_nonce}x,i=1"),
    ] {
        let mut client = ScramClient::with_nonce("", "pencil", client_nonce);
        let err = client.client_final(message.as_bytes());
        assert!(
            matches!(err, Err(AuthError::Protocol(_))),
            "{message}: {err:?}"
        );
    }
    let mut client = ScramClient::with_nonce("", "pencil", client_nonce);
    let err = client.client_final(b"m=ext,r=fixednoncex,s=AAAA,i=1");
    assert!(matches!(err, Err(AuthError::Unsupported(_))), "{err:?}");
}

#[test]
fn server_final_problems_are_reported() {
    let client = ScramClient::new("pencil");
    assert!(matches!(
        client.verify_server_final(RFC_SERVER_FINAL.as_bytes()),
        Err(AuthError::Protocol(_))
    ));

    let mut client = ScramClient::with_nonce("user", "pencil", RFC_CLIENT_NONCE);
    client.client_final(RFC_SERVER_FIRST.as_bytes()).unwrap();
    match client.verify_server_final(b"e=invalid-proof") {
        Err(AuthError::Protocol(text)) => assert_eq!(text, "invalid-proof"),
        other => panic!("unexpected {other:?}"),
    }
    for message in [&b""[..], b"v=!!", b"x=abc", b"\xff"] {
        let err = client.verify_server_final(message);
        assert!(
            matches!(err, Err(AuthError::Protocol(_))),
            "{message:?}: {err:?}"
        );
    }
    for message in [
        &b"v="[..],
        b"v=AAAA",
        b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
    ] {
        let err = client.verify_server_final(message);
        assert!(matches!(err, Err(AuthError::BadServerSignature)), "{err:?}");
    }
    // Extensions after the verifier are allowed and ignored.
    let with_ext = format!("{RFC_SERVER_FINAL},x=1");
    client.verify_server_final(with_ext.as_bytes()).unwrap();
    // The client refuses a second server-first-message.
    assert!(client.client_final(RFC_SERVER_FIRST.as_bytes()).is_err());
}

#[test]
fn truncated_messages_never_panic() {
    let mut client = ScramClient::with_nonce("user", "pencil", RFC_CLIENT_NONCE);
    let client_first = client.client_first();
    for end in 0..=client_first.len() {
        let _ = ScramServer::new(PENCIL_VERIFIER).server_first(&client_first[..end]);
    }

    // Use a single iteration so the sweep does not run PBKDF2 in earnest.
    let server_first = format!("r={RFC_CLIENT_NONCE}xyz,s={RFC_SALT},i=1");
    for end in 0..=server_first.len() {
        let mut fresh = ScramClient::with_nonce("user", "pencil", RFC_CLIENT_NONCE);
        let _ = fresh.client_final(&server_first.as_bytes()[..end]);
        let _ = fresh.verify_server_final(&server_first.as_bytes()[..end]);
    }

    let (_, first) = server_after_first(&client_first);
    let client_final = client.client_final(first.as_bytes()).unwrap();
    for end in 0..client_final.len() {
        let (mut server, _) = server_after_first(&client_first);
        assert!(server.server_final(&client_final[..end]).is_err());
    }
}

/// A plaintext password's keys are derived once: later logins are offered the same salt
/// (as PostgreSQL's stored verifier keeps one), with a fresh nonce, and still check the
/// proof.
#[test]
fn plaintext_password_keys_are_derived_once_and_still_checked() {
    // The salt and nonce a new exchange offers, from its server-first message.
    fn offer(password: &str) -> (String, String) {
        let mut server = ScramServer::new(password);
        let first = server
            .server_first(&ScramClient::new(password).client_first())
            .unwrap();
        let first = String::from_utf8(first).unwrap();
        let field = |name: &str| {
            first
                .split(',')
                .find_map(|part| part.strip_prefix(name))
                .unwrap()
                .to_string()
        };
        (field("s="), field("r="))
    }
    let (salt, nonce) = offer("cached-password");
    let (again_salt, again_nonce) = offer("cached-password");
    assert_eq!(salt, again_salt);
    assert_ne!(nonce, again_nonce);
    assert_ne!(offer("another-password").0, salt);
    let mut server = ScramServer::new("cached-password");
    exchange(&mut ScramClient::new("cached-password"), &mut server).unwrap();
    let mut server = ScramServer::new("cached-password");
    assert!(exchange(&mut ScramClient::new("wrong"), &mut server).is_err());
}

/// pgDog logging into a server derives SaltedPassword once per salt: a second login with
/// the same salt is answered from the cache, with the same (published) proof.
#[test]
fn client_keeps_the_salted_password_for_the_next_login() {
    for _ in 0..2 {
        let mut client = ScramClient::with_nonce("user", "pencil", RFC_CLIENT_NONCE);
        let client_final = client.client_final(RFC_SERVER_FIRST.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(client_final).unwrap(), RFC_CLIENT_FINAL);
    }
    let cache = super::client::SALTED.lock();
    assert!(cache.contains_key(&(sha256(b"pencil"), rfc_salt(), 4096)));
}
