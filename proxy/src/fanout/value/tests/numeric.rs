//! numeric: binary form, order, addition and AVG's division, as PostgreSQL 15 computes them.

use super::*;

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
