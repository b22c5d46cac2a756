//! Unit tests for value ordering and combining. Every expected output was checked against a
//! PostgreSQL 15 server (C locale, DateStyle ISO, extra_float_digits 1), mostly through
//! psql and the types' send functions (numeric_send, date_send, ...) for binary forms.

use super::*;
use Format::{Binary, Text};

/// Bytes from a hex string as psql prints bytea (without the \x).
fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn cmp_text(oid: u32, a: &str, b: &str) -> Ordering {
    compare(oid, Text, a.as_bytes(), b.as_bytes()).unwrap()
}

fn add_text(oid: u32, a: &str, b: &str) -> String {
    String::from_utf8(add(oid, Text, a.as_bytes(), b.as_bytes()).unwrap()).unwrap()
}

/// numeric_send of a numeric given as text.
fn numeric_bin(s: &str) -> Vec<u8> {
    Numeric::parse(s).unwrap().encode().unwrap()
}

mod float;
mod numeric;
mod temporal;

#[test]
fn format_codes() {
    assert_eq!(Format::from_code(0), Text);
    assert_eq!(Format::from_code(1), Binary);
    assert_eq!(Format::from_code(7), Text);
}

#[test]
fn error_messages() {
    let err = ValueError::Unsupported {
        op: "compare",
        oid: 17,
    };
    assert_eq!(
        err.to_string(),
        "cannot compare values of type oid 17 across shards"
    );
    assert_eq!(
        malformed("numeric").to_string(),
        "malformed numeric value from a shard"
    );
}

#[test]
fn bool_both_formats() {
    assert_eq!(cmp_text(BOOL, "f", "t"), Ordering::Less);
    assert_eq!(cmp_text(BOOL, "t", "t"), Ordering::Equal);
    assert_eq!(compare(BOOL, Binary, &[1], &[0]), Ok(Ordering::Greater));
    assert_eq!(compare(BOOL, Binary, &[0], &[0]), Ok(Ordering::Equal));
    assert_eq!(compare(BOOL, Text, b"x", b"t"), Err(malformed("bool")));
    assert_eq!(compare(BOOL, Binary, &[], &[1]), Err(malformed("bool")));
}

#[test]
fn integers_both_formats() {
    for oid in [INT2, INT4, INT8] {
        assert_eq!(cmp_text(oid, "-5", "3"), Ordering::Less);
        assert_eq!(cmp_text(oid, "10", "9"), Ordering::Greater);
        assert_eq!(cmp_text(oid, "7", "7"), Ordering::Equal);
    }
    assert_eq!(
        compare(INT2, Binary, &(-5i16).to_be_bytes(), &3i16.to_be_bytes()),
        Ok(Ordering::Less)
    );
    assert_eq!(
        compare(INT4, Binary, &70000i32.to_be_bytes(), &3i32.to_be_bytes()),
        Ok(Ordering::Greater)
    );
    assert_eq!(
        compare(INT8, Binary, &i64::MIN.to_be_bytes(), &0i64.to_be_bytes()),
        Ok(Ordering::Less)
    );
    assert_eq!(compare(INT2, Text, b"40000", b"1"), Err(malformed("int2")));
    assert_eq!(
        compare(INT4, Binary, &[0; 8], &[0; 4]),
        Err(malformed("int4"))
    );
    assert_eq!(
        compare(INT8, Binary, &[0; 7], &[0; 8]),
        Err(malformed("int8"))
    );
}

#[test]
fn oids_are_unsigned() {
    assert_eq!(cmp_text(OID, "4294967295", "1"), Ordering::Greater);
    assert_eq!(
        compare(OID, Binary, &u32::MAX.to_be_bytes(), &1u32.to_be_bytes()),
        Ok(Ordering::Greater)
    );
    assert_eq!(compare(OID, Text, b"-1", b"1"), Err(malformed("oid")));
}

#[test]
fn int8_reads_count() {
    assert_eq!(int8(Text, b"42"), Ok(42));
    assert_eq!(int8(Binary, &42i64.to_be_bytes()), Ok(42));
    assert_eq!(int8(Binary, &[0; 4]), Err(malformed("int8")));
    assert_eq!(int8(Text, b"4x"), Err(malformed("int8")));
}

#[test]
fn integer_add() {
    assert_eq!(add_text(INT8, "40", "2"), "42");
    assert_eq!(add_text(INT4, "-40", "2"), "-38");
    assert_eq!(
        add(INT8, Binary, &40i64.to_be_bytes(), &2i64.to_be_bytes()),
        Ok(42i64.to_be_bytes().to_vec())
    );
    assert_eq!(
        add(INT2, Binary, &40i16.to_be_bytes(), &2i16.to_be_bytes()),
        Ok(42i16.to_be_bytes().to_vec())
    );
    // PostgreSQL: "smallint out of range" / "bigint out of range".
    let overflow = |oid| Err(ValueError::Unsupported { op: "add", oid });
    assert_eq!(add(INT2, Text, b"32767", b"1"), overflow(INT2));
    assert_eq!(
        add(INT4, Binary, &i32::MAX.to_be_bytes(), &1i32.to_be_bytes()),
        overflow(INT4)
    );
    assert_eq!(
        add(INT8, Text, b"9223372036854775807", b"1"),
        overflow(INT8)
    );
}

#[test]
fn text_types_compare_bytewise() {
    for oid in [TEXT, VARCHAR, NAME, BPCHAR] {
        for format in [Text, Binary] {
            let cmp = |a: &str, b: &str| compare(oid, format, a.as_bytes(), b.as_bytes());
            assert_eq!(cmp("a", "b"), Ok(Ordering::Less));
            // The C collation puts upper case before lower case.
            assert_eq!(cmp("B", "a"), Ok(Ordering::Less));
            assert_eq!(cmp("ab", "a"), Ok(Ordering::Greater));
            assert_eq!(cmp("é", "z"), Ok(Ordering::Greater));
            assert_eq!(cmp("", ""), Ok(Ordering::Equal));
        }
    }
    assert_eq!(cmp_text(BPCHAR, "a  ", "a"), Ordering::Equal);
    assert_eq!(cmp_text(BPCHAR, "a ", "a!"), Ordering::Less);
    assert_eq!(cmp_text(TEXT, "a ", "a"), Ordering::Greater);
    assert_eq!(cmp_text(VARCHAR, "a ", "a"), Ordering::Greater);
}

#[test]
fn uuid_both_formats() {
    let a = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";
    let b = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12";
    assert_eq!(cmp_text(UUID, a, b), Ordering::Less);
    assert_eq!(cmp_text(UUID, a, &a.to_uppercase()), Ordering::Equal);
    assert_eq!(
        cmp_text(UUID, "ffffffff-0000-0000-0000-000000000000", a),
        Ordering::Greater
    );
    // uuid_send of a, from PostgreSQL.
    let a_bin = hex("a0eebc999c0b4ef8bb6d6bb9bd380a11");
    assert_eq!(
        read_uuid(Text, a.as_bytes()),
        Ok(a_bin.clone().try_into().unwrap())
    );
    let mut b_bin = a_bin.clone();
    b_bin[15] = 0x12;
    assert_eq!(compare(UUID, Binary, &a_bin, &b_bin), Ok(Ordering::Less));
    assert_eq!(
        compare(UUID, Binary, &a_bin[..15], &b_bin),
        Err(malformed("uuid"))
    );
    assert_eq!(
        compare(UUID, Text, b"a0eebc99", a.as_bytes()),
        Err(malformed("uuid"))
    );
    assert_eq!(
        compare(
            UUID,
            Text,
            b"g0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            a.as_bytes()
        ),
        Err(malformed("uuid"))
    );
}

#[test]
fn unsupported_types() {
    const BYTEA: u32 = 17;
    assert_eq!(
        compare(BYTEA, Text, b"a", b"b"),
        Err(ValueError::Unsupported {
            op: "compare",
            oid: BYTEA
        })
    );
    assert_eq!(
        add(TEXT, Text, b"a", b"b"),
        Err(ValueError::Unsupported {
            op: "add",
            oid: TEXT
        })
    );
}

/// Garbage of every shape must come back as an error (or a value), never a panic.
#[test]
fn garbage_never_panics() {
    let oids = [
        BOOL,
        NAME,
        INT8,
        INT2,
        INT4,
        TEXT,
        OID,
        FLOAT4,
        FLOAT8,
        BPCHAR,
        VARCHAR,
        DATE,
        TIME,
        TIMESTAMP,
        TIMESTAMPTZ,
        NUMERIC,
        UUID,
    ];
    let inputs: &[&[u8]] = &[
        b"",
        &[0xff],
        &[0xff; 2],
        &[0; 3],
        &[0xff; 4],
        &[0x7f; 7],
        &[0x80; 8],
        &[0xff; 9],
        &[0x80, 0x00, 0x80, 0x00, 0xc0, 0x00, 0x00, 0x00],
        &[0x7f, 0xff, 0x7f, 0xff, 0x00, 0x00, 0x3f, 0xff],
        b"-",
        b"+",
        b"1-2-3 4:5:6+7",
        b"2024-01-02 03:04:05+",
        b"99999999999-01-01",
        b"\xc3",
    ];
    for oid in oids {
        for format in [Text, Binary] {
            for a in inputs {
                for b in inputs {
                    let _ = compare(oid, format, a, b);
                    let _ = add(oid, format, a, b);
                }
                let _ = average(NUMERIC, format, oid, format, a, 3);
                let _ = average(FLOAT8, format, oid, format, a, 3);
            }
        }
    }
}
