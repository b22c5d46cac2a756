//! Dates, times and timestamps in both formats.

use super::*;

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
