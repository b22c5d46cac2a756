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
fn floats_order_like_postgres() {
    for oid in [FLOAT4, FLOAT8] {
        assert_eq!(cmp_text(oid, "NaN", "Infinity"), Ordering::Greater);
        assert_eq!(cmp_text(oid, "NaN", "NaN"), Ordering::Equal);
        assert_eq!(cmp_text(oid, "Infinity", "1e+30"), Ordering::Greater);
        assert_eq!(cmp_text(oid, "-Infinity", "-1e+30"), Ordering::Less);
        assert_eq!(cmp_text(oid, "-0", "0"), Ordering::Equal);
        assert_eq!(cmp_text(oid, "1.5", "1.25"), Ordering::Greater);
    }
    let f8 = |v: f64| v.to_be_bytes();
    assert_eq!(
        compare(FLOAT8, Binary, &f8(f64::NAN), &f8(f64::INFINITY)),
        Ok(Ordering::Greater)
    );
    assert_eq!(
        compare(FLOAT8, Binary, &f8(-0.0), &f8(0.0)),
        Ok(Ordering::Equal)
    );
    let f4 = |v: f32| v.to_be_bytes();
    assert_eq!(
        compare(FLOAT4, Binary, &f4(0.1), &f4(0.2)),
        Ok(Ordering::Less)
    );
    assert_eq!(
        compare(FLOAT4, Binary, &f4(f32::NAN), &f4(f32::NAN)),
        Ok(Ordering::Equal)
    );
    assert_eq!(
        compare(FLOAT8, Binary, &[0; 4], &[0; 8]),
        Err(malformed("float8"))
    );
    assert_eq!(compare(FLOAT4, Text, b"x", b"1"), Err(malformed("float4")));
}

#[test]
fn float8_text_matches_float8out() {
    let cases = [
        ("1e20", "1e+20"),
        ("1e15", "1e+15"),
        ("1e14", "100000000000000"),
        ("123456789012345.6", "123456789012345.6"),
        ("1.5e-5", "1.5e-05"),
        ("2.5e-05", "2.5e-05"),
        ("0.0001", "0.0001"),
        ("0.00012345", "0.00012345"),
        ("-0", "-0"),
        ("NaN", "NaN"),
        ("-Infinity", "-Infinity"),
        ("Infinity", "Infinity"),
        ("0.1", "0.1"),
        ("1e-300", "1e-300"),
        ("1.7976931348623157e308", "1.7976931348623157e+308"),
        ("5e-324", "5e-324"),
        ("123.456", "123.456"),
        ("-123.456", "-123.456"),
        ("1e100", "1e+100"),
        // Exactly halfway between two 16-digit candidates: the even one wins (Rust's own
        // formatting would print ...373.3).
        ("818332943325373.25", "818332943325373.2"),
        // Rust's shortest form, 9.8960358670307e16, lies exactly on the midpoint to the
        // next float down; PostgreSQL does not accept that and needs two more digits.
        ("98960358670307008", "9.896035867030701e+16"),
    ];
    for (input, expected) in cases {
        let v: f64 = input.parse().unwrap();
        assert_eq!(write_f64(Text, v), expected.as_bytes(), "{input}");
    }
}

#[test]
fn float4_text_matches_float4out() {
    let cases = [
        ("1e20", "1e+20"),
        ("1e6", "1e+06"),
        ("123456", "123456"),
        ("1234567", "1.234567e+06"),
        ("100000", "100000"),
        ("1.5e-5", "1.5e-05"),
        ("0.0001", "0.0001"),
        ("-0", "-0"),
        ("NaN", "NaN"),
        ("0.1", "0.1"),
        ("3.4028235e38", "3.4028235e+38"),
        ("1e-45", "1e-45"),
        ("16777216", "1.6777216e+07"),
        ("9999999", "9.999999e+06"),
        // The same two cases for float4: a tie going to even, and Rust's 1.017909e8 lying on
        // a midpoint.
        ("146637.625", "146637.62"),
        ("101790896", "1.01790896e+08"),
    ];
    for (input, expected) in cases {
        let v: f32 = input.parse().unwrap();
        assert_eq!(write_f32(Text, v), expected.as_bytes(), "{input}");
    }
}

#[test]
fn float_add() {
    // sum(float8) of 0.1 and 0.2, and sum(real) of the same, from PostgreSQL.
    assert_eq!(add_text(FLOAT8, "0.1", "0.2"), "0.30000000000000004");
    assert_eq!(add_text(FLOAT4, "0.1", "0.2"), "0.3");
    assert_eq!(add_text(FLOAT8, "Infinity", "1"), "Infinity");
    assert_eq!(add_text(FLOAT8, "NaN", "1"), "NaN");
    assert_eq!(
        add(
            FLOAT8,
            Binary,
            &0.5f64.to_be_bytes(),
            &0.25f64.to_be_bytes()
        ),
        Ok(0.75f64.to_be_bytes().to_vec())
    );
    assert_eq!(
        add(
            FLOAT4,
            Binary,
            &0.5f32.to_be_bytes(),
            &0.25f32.to_be_bytes()
        ),
        Ok(0.75f32.to_be_bytes().to_vec())
    );
    // PostgreSQL: "value out of range: overflow".
    assert_eq!(
        add(FLOAT8, Text, b"1e+308", b"1e+308"),
        Err(ValueError::Unsupported {
            op: "add",
            oid: FLOAT8
        })
    );
    assert_eq!(
        add(FLOAT4, Text, b"3e+38", b"3e+38"),
        Err(ValueError::Unsupported {
            op: "add",
            oid: FLOAT4
        })
    );
}

#[test]
fn float_text_round_trips() {
    // Whatever the digits, they must read back to the same float.
    let mut bits = 0x0123_4567_89ab_cdefu64;
    for _ in 0..2000 {
        bits = bits
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v = f64::from_bits(bits);
        let text = String::from_utf8(write_f64(Text, v)).unwrap();
        let back: f64 = text.parse().unwrap();
        assert!(
            back == v || (v.is_nan() && back.is_nan()),
            "{v:e} -> {text}"
        );
        let v = f32::from_bits((bits >> 32) as u32);
        let text = String::from_utf8(write_f32(Text, v)).unwrap();
        let back: f32 = text.parse().unwrap();
        assert!(
            back == v || (v.is_nan() && back.is_nan()),
            "{v:e} -> {text}"
        );
    }
}

/// numeric_send output from PostgreSQL for values given in numeric_out's text form.
const NUMERIC_SEND: &[(&str, &str)] = &[
    ("1.5", "000200000000000100011388"),
    ("0.0", "0000000000000001"),
    ("0.00", "0000000000000002"),
    ("0", "0000000000000000"),
    ("-12345.6789", "0003000140000004000109291a85"),
    ("10000", "00010001000000000001"),
    ("10001.5", "0003000100000001000100011388"),
    ("0.00012", "0002ffff00000005000107d0"),
    ("123456789.1", "0004000200000001000109291a8503e8"),
    ("99999999.99990000", "0003000100000008270f270f270f"),
    ("3.50", "000200000000000200031388"),
    ("NaN", "00000000c0000000"),
    ("Infinity", "00000000d0000020"),
    ("-Infinity", "00000000f0000020"),
];

#[test]
fn numeric_binary_matches_numeric_send() {
    for (text, bytes) in NUMERIC_SEND {
        assert_eq!(numeric_bin(text), hex(bytes), "{text}");
        let decoded = Numeric::read(Binary, &hex(bytes)).unwrap();
        assert_eq!(decoded.to_text(), *text, "{bytes}");
    }
}

#[test]
fn numeric_order() {
    let sorted = [
        "-Infinity",
        "-99999999999999999999.5",
        "-123.4500",
        "-0.001",
        "0",
        "0.00012",
        "9.999",
        "10",
        "123456789012345678901234567890",
        "Infinity",
        "NaN",
    ];
    for (i, a) in sorted.iter().enumerate() {
        for (j, b) in sorted.iter().enumerate() {
            let expected = i.cmp(&j);
            assert_eq!(cmp_text(NUMERIC, a, b), expected, "{a} vs {b}");
            let (x, y) = (numeric_bin(a), numeric_bin(b));
            assert_eq!(compare(NUMERIC, Binary, &x, &y), Ok(expected), "{a} vs {b}");
        }
    }
    // Display scale does not matter for equality.
    assert_eq!(cmp_text(NUMERIC, "-123.4500", "-123.45"), Ordering::Equal);
    assert_eq!(cmp_text(NUMERIC, "0.00", "0"), Ordering::Equal);
    assert_eq!(cmp_text(NUMERIC, "NaN", "NaN"), Ordering::Equal);
}

#[test]
fn numeric_add_text() {
    // sum(x) over (1.50), (2) is 3.50 in PostgreSQL: the larger display scale wins.
    assert_eq!(add_text(NUMERIC, "1.50", "2"), "3.50");
    assert_eq!(add_text(NUMERIC, "-123.4500", "0.0001"), "-123.4499");
    assert_eq!(add_text(NUMERIC, "1.5", "-1.5"), "0.0");
    assert_eq!(add_text(NUMERIC, "-0.5", "0.25"), "-0.25");
    assert_eq!(
        add_text(NUMERIC, "99999999999999999999", "1"),
        "100000000000000000000"
    );
    assert_eq!(add_text(NUMERIC, "NaN", "1"), "NaN");
    assert_eq!(add_text(NUMERIC, "Infinity", "-Infinity"), "NaN");
    assert_eq!(add_text(NUMERIC, "Infinity", "5"), "Infinity");
    assert_eq!(add_text(NUMERIC, "-7", "-Infinity"), "-Infinity");
}

#[test]
fn numeric_add_binary() {
    let sum = |a: &str, b: &str| add(NUMERIC, Binary, &numeric_bin(a), &numeric_bin(b)).unwrap();
    assert_eq!(sum("1.50", "2"), hex("000200000000000200031388"));
    // sum over (1.5), (-1.5): numeric_send gives zero with ndigits 0, dscale 1.
    assert_eq!(sum("1.5", "-1.5"), hex("0000000000000001"));
    assert_eq!(sum("10000", "1.5"), hex("0003000100000001000100011388"));
    assert_eq!(
        sum("99999999", "0.9999"),
        hex("0003000100000004270f270f270f")
    );
    assert_eq!(sum("Infinity", "1"), hex("00000000d0000020"));
}

#[test]
fn numeric_binary_input_is_canonicalized() {
    // 1 written with a leading and a trailing zero digit: [0, 1, 0] at weight 1.
    let loose = hex("0003000100000000" /* header */)
        .into_iter()
        .chain(hex("000000010000"))
        .collect::<Vec<u8>>();
    assert_eq!(
        add(NUMERIC, Binary, &loose, &numeric_bin("0")),
        Ok(hex("00010000000000000001"))
    );
    // numeric_recv truncates digits hidden by the display scale: 1.5 with dscale 0 is 1.
    let hidden = hex("00020000000000000001" /* ..., 1 */)
        .into_iter()
        .chain(hex("1388"))
        .collect::<Vec<u8>>();
    assert_eq!(Numeric::read(Binary, &hidden).unwrap().to_text(), "1");
}

#[test]
fn numeric_malformed() {
    let bad: &[&[u8]] = &[b"", b"1.2.3", b"-", b".", b"1e5", b"12a", b" 1"];
    for v in bad {
        assert_eq!(
            compare(NUMERIC, Text, v, b"1"),
            Err(malformed("numeric")),
            "{v:?}"
        );
    }
    let bad_binary = [
        "",                         // empty
        "000100000000",             // short header
        "0001000000000000",         // a digit missing
        "000000000000000000",       // a stray byte after the header
        "ffff000000000000",         // negative ndigits
        "000100000000000027100000", // digit 10000 and trailing bytes
        "000100000000000027101388", // digit 10000
        "0000000012340000",         // unknown sign
        "000000000000ffff",         // dscale too large
    ];
    for v in bad_binary {
        assert_eq!(
            compare(NUMERIC, Binary, &hex(v), &numeric_bin("1")),
            Err(malformed("numeric")),
            "{v}"
        );
    }
}

/// avg() results from PostgreSQL as `sum / count`, with their numeric_send bytes where
/// checked: (sum, count, text, binary).
const NUMERIC_AVG: &[(&str, i64, &str, &str)] = &[
    ("3", 2, "1.5000000000000000", ""),
    ("5", 3, "1.6666666666666667", ""),
    ("30", 2, "15.0000000000000000", ""),
    ("-5", 2, "-2.5000000000000000", ""),
    ("3.75", 2, "1.8750000000000000", ""),
    ("9995.375", 3, "3331.7916666666666667", ""),
    (
        "1",
        3,
        "0.33333333333333333333",
        "0005ffff000000140d050d050d050d050d05",
    ),
    (
        "-5",
        3,
        "-1.6666666666666667",
        "000500004000001000011a0a1a0a1a0a1a0b",
    ),
    (
        "100000",
        7,
        "14285.714285714286",
        "000500010000000c000110bd1be6217b10be",
    ),
    (
        "0.001",
        3,
        "0.00033333333333333333",
        "0005ffff0000001400030d050d050d050d05",
    ),
    ("0", 5, "0.00000000000000000000", "0000000000000014"),
    ("0.0", 2, "0.00000000000000000000", "0000000000000014"),
    (
        "9999",
        10000,
        "0.99990000000000000000",
        "0001ffff00000014270f",
    ),
    (
        "10000",
        10000,
        "1.00000000000000000000",
        "00010000000000140001",
    ),
    (
        "-0.00005",
        2,
        "-0.000025000000000000000000",
        "0001fffe4000001809c4",
    ),
    (
        "123456789.123456789",
        1000000,
        "123.4567891234567890",
        "0005000000000010007b11d722d00d801ed2",
    ),
    (
        "0.00000000000000000001",
        3,
        "0.0000000000000000000033333333333333333333",
        "0005fffa000000280d050d050d050d050d05",
    ),
    ("2.5", 1, "2.5000000000000000", "000200000000001000021388"),
    ("NaN", 2, "NaN", "00000000c0000000"),
    ("-Infinity", 3, "-Infinity", "00000000f0000020"),
];

#[test]
fn numeric_average_matches_numeric_div() {
    for (sum, count, text, bytes) in NUMERIC_AVG {
        let avg = |result_format, sum_format, sum: &[u8]| {
            average(NUMERIC, result_format, NUMERIC, sum_format, sum, *count).unwrap()
        };
        assert_eq!(
            avg(Text, Text, sum.as_bytes()),
            text.as_bytes(),
            "{sum}/{count}"
        );
        let binary = avg(Binary, Binary, &numeric_bin(sum));
        assert_eq!(binary, numeric_bin(text), "{sum}/{count}");
        if !bytes.is_empty() {
            assert_eq!(binary, hex(bytes), "{sum}/{count}");
        }
    }
}

#[test]
fn integer_sums_average_as_numeric() {
    // avg(int4) over 1, 2 and 1, 2, 2: the hidden sum(int4) is an int8.
    assert_eq!(
        average(NUMERIC, Text, INT8, Text, b"3", 2),
        Ok(b"1.5000000000000000".to_vec())
    );
    assert_eq!(
        average(NUMERIC, Text, INT8, Binary, &5i64.to_be_bytes(), 3),
        Ok(b"1.6666666666666667".to_vec())
    );
    assert_eq!(
        average(NUMERIC, Binary, INT4, Binary, &30i32.to_be_bytes(), 2),
        Ok(numeric_bin("15.0000000000000000"))
    );
    assert_eq!(
        average(NUMERIC, Text, INT2, Text, b"-5", 2),
        Ok(b"-2.5000000000000000".to_vec())
    );
}

#[test]
fn float_average() {
    // avg(float8) over 0.1, 0.2 and over 1, 2, 2.
    assert_eq!(
        average(FLOAT8, Text, FLOAT8, Text, b"0.30000000000000004", 2),
        Ok(b"0.15000000000000002".to_vec())
    );
    assert_eq!(
        average(FLOAT8, Text, FLOAT8, Binary, &5f64.to_be_bytes(), 3),
        Ok(b"1.6666666666666667".to_vec())
    );
    assert_eq!(
        average(FLOAT8, Binary, FLOAT4, Binary, &3f32.to_be_bytes(), 2),
        Ok(1.5f64.to_be_bytes().to_vec())
    );
    assert_eq!(
        average(FLOAT8, Text, NUMERIC, Text, b"1e+20", 1),
        Err(malformed("numeric"))
    );
    assert_eq!(
        average(FLOAT8, Text, NUMERIC, Text, b"200000000000000000000", 2),
        Ok(b"1e+20".to_vec())
    );
    assert_eq!(
        average(FLOAT8, Text, FLOAT8, Text, b"NaN", 2),
        Ok(b"NaN".to_vec())
    );
}

#[test]
fn average_errors() {
    assert_eq!(
        average(NUMERIC, Text, INT8, Text, b"3", 0),
        Err(malformed("count"))
    );
    assert_eq!(
        average(TEXT, Text, INT8, Text, b"3", 2),
        Err(ValueError::Unsupported {
            op: "average",
            oid: TEXT
        })
    );
    assert_eq!(
        average(NUMERIC, Text, FLOAT8, Text, b"3", 2),
        Err(ValueError::Unsupported {
            op: "average",
            oid: FLOAT8
        })
    );
    assert_eq!(
        average(NUMERIC, Binary, INT8, Binary, &[0; 3], 2),
        Err(malformed("int8"))
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

/// Text forms and the matching *_send bytes from PostgreSQL, per type.
const TEMPORAL_SEND: &[(u32, &str, &str)] = &[
    (DATE, "2000-01-02", "00000001"),
    (DATE, "1970-01-01", "ffffd533"),
    (DATE, "0001-01-01 BC", "fff4da8b"),
    (DATE, "12345-01-01", "0039a782"),
    (TIMESTAMP, "2000-01-01 00:00:01", "00000000000f4240"),
    (TIMESTAMP, "0001-01-01 00:00:00.5 BC", "ff1fc63d1bb8c120"),
    (TIMESTAMPTZ, "2000-01-01 00:00:00+00", "0000000000000000"),
    (
        TIMESTAMPTZ,
        "2024-01-02 03:04:05.123+02",
        "0002b0ead7f08bb8",
    ),
    (
        TIMESTAMPTZ,
        "2024-01-02 06:34:05.123+05:30",
        "0002b0ead7f08bb8",
    ),
    (
        TIMESTAMPTZ,
        "2024-01-01 21:34:05.123-03:30",
        "0002b0ead7f08bb8",
    ),
    (
        TIMESTAMPTZ,
        "1800-01-01 00:00:00-03:30:52",
        "ffe993dfea353300",
    ),
    (TIME, "00:00:01", "00000000000f4240"),
    (TIME, "24:00:00", "000000141dd76000"),
];

#[test]
fn temporal_text_agrees_with_binary() {
    for (oid, text, bytes) in TEMPORAL_SEND {
        assert_eq!(
            read_temporal(*oid, Text, text.as_bytes()),
            read_temporal(*oid, Binary, &hex(bytes)),
            "{text}"
        );
    }
}

#[test]
fn temporal_order() {
    let dates = [
        "-infinity",
        "0044-03-15 BC",
        "0001-01-01 BC",
        "0001-01-01",
        "2000-02-29",
        "2000-03-01",
        "9999-12-31",
        "12345-01-01",
        "infinity",
    ];
    let timestamps = [
        "-infinity",
        "0044-03-15 12:00:00 BC",
        "2024-01-02 03:04:05",
        "2024-01-02 03:04:05.000001",
        "2024-01-02 03:04:05.1",
        "12345-01-01 00:00:00",
        "infinity",
    ];
    let timestamptzs = [
        "-infinity",
        "0044-03-15 12:00:00+05:53:28 BC",
        // In UTC: 00:30, 01:00, 01:04:05.123 and 01:30 on 2024-01-02.
        "2024-01-02 06:00:00+05:30",
        "2024-01-02 01:00:00+00",
        "2024-01-02 03:04:05.123+02",
        "2024-01-01 22:00:00-03:30",
        "infinity",
    ];
    let times = [
        "00:00:00",
        "00:00:00.5",
        "12:30:00",
        "23:59:59.999999",
        "24:00:00",
    ];
    for (oid, sorted) in [
        (DATE, &dates[..]),
        (TIMESTAMP, &timestamps[..]),
        (TIMESTAMPTZ, &timestamptzs[..]),
        (TIME, &times[..]),
    ] {
        for (i, a) in sorted.iter().enumerate() {
            for (j, b) in sorted.iter().enumerate() {
                assert_eq!(cmp_text(oid, a, b), i.cmp(&j), "{a} vs {b}");
            }
        }
    }
    // Binary infinities are the extreme integers.
    assert_eq!(
        compare(DATE, Binary, &hex("7fffffff"), &hex("0039a782")),
        Ok(Ordering::Greater)
    );
    assert_eq!(
        compare(
            TIMESTAMP,
            Binary,
            &hex("8000000000000000"),
            &hex("ff1fc63d1bb8c120")
        ),
        Ok(Ordering::Less)
    );
    assert_eq!(
        compare(
            TIMESTAMPTZ,
            Binary,
            &hex("0002b0ead7f08bb8"),
            &hex("0000000000000000")
        ),
        Ok(Ordering::Greater)
    );
}

#[test]
fn temporal_malformed() {
    let bad = [
        (DATE, "2024-13-01"),
        (DATE, "2024-01"),
        (DATE, "January 2, 2024"),
        (TIMESTAMP, "2024-01-02"),
        (TIMESTAMP, "2024-01-02 25:00:00"),
        (TIMESTAMPTZ, "2024-01-02 03:04:05"),
        (TIMESTAMPTZ, "2024-01-02 03:04:05+1:2:3:4"),
        (TIME, "12:00"),
        (TIME, "12:00:00.1234567"),
    ];
    for (oid, text) in bad {
        assert!(
            matches!(
                compare(oid, Text, text.as_bytes(), text.as_bytes()),
                Err(ValueError::Malformed { .. })
            ),
            "{text}"
        );
    }
    assert_eq!(
        compare(DATE, Binary, &[0; 8], &[0; 4]),
        Err(malformed("date"))
    );
    assert_eq!(
        compare(TIMESTAMPTZ, Binary, &[0; 4], &[0; 8]),
        Err(malformed("timestamptz"))
    );
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
