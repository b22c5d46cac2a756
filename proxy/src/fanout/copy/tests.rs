use bytes::Bytes;

use super::*;

/// Feeds `chunks` to a fresh splitter, then finishes; stops at the first error, which is
/// what a session does.
fn run(format: &CopyFormat, key: usize, chunks: &[&[u8]]) -> (Vec<Row>, Option<CopyError>) {
    let mut splitter = RowSplitter::new(format.clone(), key);
    let mut rows = Vec::new();
    for chunk in chunks {
        if let Err(err) = splitter.feed(chunk, &mut rows) {
            return (rows, Some(err));
        }
    }
    let err = splitter.finish(&mut rows).err();
    (rows, err)
}

/// Feeds `input` whole, split at every single boundary, and one byte at a time, and checks
/// that all give the same result. Returns that result.
fn any_split(format: &CopyFormat, key: usize, input: &[u8]) -> (Vec<Row>, Option<CopyError>) {
    let whole = run(format, key, &[input]);
    for at in 0..=input.len() {
        let (a, b) = input.split_at(at);
        assert_eq!(run(format, key, &[a, b]), whole, "split at byte {at}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(run(format, key, &bytes), whole, "one byte at a time");
    whole
}

/// Every pair of boundaries, which catches state carried across two pieces in a row.
fn any_two_splits(format: &CopyFormat, key: usize, input: &[u8]) {
    let whole = run(format, key, &[input]);
    for i in 0..=input.len() {
        for j in i..=input.len() {
            let chunks = [&input[..i], &input[i..j], &input[j..]];
            assert_eq!(run(format, key, &chunks), whole, "split at {i} and {j}");
        }
    }
}

fn keys(rows: &[Row]) -> Vec<Option<&str>> {
    rows.iter()
        .filter_map(|row| match row {
            Row::Data { key, .. } => Some(key.as_deref()),
            _ => None,
        })
        .collect()
}

/// The bytes of the header and data rows, in order: what the shards receive between them.
fn forwarded(rows: &[Row]) -> Vec<u8> {
    let mut out = Vec::new();
    for row in rows {
        match row {
            Row::Header(bytes) | Row::Data { bytes, .. } => out.extend_from_slice(bytes),
            Row::End => {}
        }
    }
    out
}

fn data(bytes: &'static [u8], key: Option<&str>) -> Row {
    Row::Data {
        bytes: Bytes::from_static(bytes),
        key: key.map(str::to_string),
    }
}

const CSV_STREAM: &[u8] = b"id,name,note\r\n\
1,alice,\"hello, world\"\n\
2,\"bob \"\"the builder\"\"\",\"line one\nline two\"\n\
3,,null key\n\
4,\"\",empty string key\n\
5,\"multi\r\nline, with \"\"quotes\"\"\",crlf\r\n\
6,\"h\xc3\xa9l\xc3\xa8ne\",utf8\n\
7,\"\\N\",backslash is plain in csv\n\
8,plain\"quoted,mid\"field,quote inside a field\n\
9,\"\"\"\",\"\"\n\
\\.\n";

const TEXT_STREAM: &[u8] = b"1\talice\tplain\n\
2\tb\\\\ob\ttab\\there\n\
3\t\\N\tnull key\n\
4\t\\x41\\102\\tc\tescapes\n\
5\tnew\\\nline\tbackslash newline\n\
6\td\\\te\tescaped delimiter\r\n\
7\t\\\\N\tnot null\n\
8\t\\N1\tnot null either\n\
9\t\tempty\n\
\\.\n";

#[test]
fn defaults() {
    let text = CopyFormat::new(false, None, false);
    assert_eq!(
        text,
        CopyFormat {
            csv: false,
            delimiter: b'\t',
            quote: b'"',
            escape: b'"',
            null: b"\\N".to_vec(),
            header: false,
        }
    );
    let csv = CopyFormat::new(true, Some(b';'), true);
    assert_eq!(
        csv,
        CopyFormat {
            csv: true,
            delimiter: b';',
            quote: b'"',
            escape: b'"',
            null: Vec::new(),
            header: true,
        }
    );
    assert_eq!(CopyFormat::new(true, None, false).delimiter, b',');
}

#[test]
fn csv_stream_at_every_boundary() {
    let format = CopyFormat::new(true, None, true);
    let (rows, err) = any_split(&format, 1, CSV_STREAM);
    assert_eq!(err, None);
    assert_eq!(
        rows[0],
        Row::Header(Bytes::from_static(b"id,name,note\r\n"))
    );
    assert_eq!(rows.last(), Some(&Row::End));
    assert_eq!(
        keys(&rows),
        vec![
            Some("alice"),
            Some("bob \"the builder\""),
            None,
            Some(""),
            Some("multi\r\nline, with \"quotes\""),
            Some("h\u{e9}l\u{e8}ne"),
            Some("\\N"),
            Some("plainquoted,midfield"),
            Some("\""),
        ]
    );
    assert_eq!(
        rows[2],
        data(
            b"2,\"bob \"\"the builder\"\"\",\"line one\nline two\"\n",
            Some("bob \"the builder\"")
        )
    );
    // The shards get the client's bytes unchanged; only the end marker is held back.
    assert_eq!(forwarded(&rows), &CSV_STREAM[..CSV_STREAM.len() - 3]);
    any_two_splits(&format, 1, CSV_STREAM);
}

#[test]
fn csv_key_in_first_and_last_column() {
    let format = CopyFormat::new(true, None, true);
    let (rows, _) = run(&format, 0, &[CSV_STREAM]);
    assert_eq!(
        keys(&rows),
        ["1", "2", "3", "4", "5", "6", "7", "8", "9"].map(Some)
    );
    let (rows, err) = any_split(&format, 2, CSV_STREAM);
    assert_eq!(err, None);
    assert_eq!(keys(&rows)[1], Some("line one\nline two"));
    assert_eq!(keys(&rows)[4], Some("crlf"));
    assert_eq!(keys(&rows)[8], Some(""));
}

#[test]
fn text_stream_at_every_boundary() {
    let format = CopyFormat::new(false, None, false);
    let (rows, err) = any_split(&format, 1, TEXT_STREAM);
    assert_eq!(err, None);
    assert_eq!(rows.last(), Some(&Row::End));
    assert_eq!(
        keys(&rows),
        vec![
            Some("alice"),
            Some("b\\ob"),
            None,
            Some("AB\tc"),
            Some("new\nline"),
            Some("d\te"),
            Some("\\N"),
            Some("N1"),
            Some(""),
        ]
    );
    assert_eq!(
        rows[4],
        data(b"5\tnew\\\nline\tbackslash newline\n", Some("new\nline"))
    );
    assert_eq!(forwarded(&rows), &TEXT_STREAM[..TEXT_STREAM.len() - 3]);
    any_two_splits(&format, 1, TEXT_STREAM);
}

#[test]
fn text_crlf_and_header() {
    let format = CopyFormat::new(false, None, true);
    let input = b"id\tname\r\n1\ta\r\n2\tb\\\r\n\\.\r\n";
    let (rows, err) = any_split(&format, 1, input);
    assert_eq!(err, None);
    assert_eq!(
        rows,
        vec![
            Row::Header(Bytes::from_static(b"id\tname\r\n")),
            data(b"1\ta\r\n", Some("a")),
            // A backslash before the `\r` makes it data, not part of the terminator.
            data(b"2\tb\\\r\n", Some("b\r")),
            Row::End,
        ]
    );
}

#[test]
fn csv_crlf_inside_and_outside_quotes() {
    let format = CopyFormat::new(true, None, false);
    let input = b"\"a\r\n\",1\r\n\"b\r\",2\r\n";
    let (rows, err) = any_split(&format, 0, input);
    assert_eq!(err, None);
    assert_eq!(
        rows,
        vec![
            data(b"\"a\r\n\",1\r\n", Some("a\r\n")),
            data(b"\"b\r\",2\r\n", Some("b\r")),
        ]
    );
}

#[test]
fn csv_with_backslash_escape() {
    let mut format = CopyFormat::new(true, Some(b'|'), false);
    format.escape = b'\\';
    // `\"` is a literal quote, `\\` a literal backslash, `""` closes and reopens the quotes,
    // and a backslash before anything else is itself.
    let input = b"1|\"a\\\"b|\\\\\"|x\n2|\"q\"\"r\\n\"|y\n3|\"\\\\\"\"\\\"\n\"|z\n";
    let (rows, err) = any_split(&format, 1, input);
    assert_eq!(err, None);
    assert_eq!(
        keys(&rows),
        vec![Some("a\"b|\\"), Some("qr\\n"), Some("\\\"\n")]
    );
    assert_eq!(forwarded(&rows), input);
    any_two_splits(&format, 1, input);
}

#[test]
fn custom_null_strings() {
    let mut csv = CopyFormat::new(true, None, false);
    csv.null = b"NULL".to_vec();
    let (rows, _) = run(&csv, 0, &[b"NULL\n\"NULL\"\n\n"]);
    assert_eq!(keys(&rows), vec![None, Some("NULL"), Some("")]);

    let mut text = CopyFormat::new(false, Some(b','), false);
    text.null = b"".to_vec();
    let (rows, _) = run(&text, 1, &[b"1,\n2,a\\,b\n3,\\N\n"]);
    assert_eq!(keys(&rows), vec![None, Some("a,b"), Some("N")]);
}

#[test]
fn last_row_without_terminator() {
    let text = CopyFormat::new(false, None, false);
    let (rows, err) = any_split(&text, 1, b"1\ta\n2\tb");
    assert_eq!(err, None);
    assert_eq!(
        rows,
        vec![data(b"1\ta\n", Some("a")), data(b"2\tb", Some("b"))]
    );
    let csv = CopyFormat::new(true, None, false);
    let (rows, err) = any_split(&csv, 1, b"1,\"x\ny\"");
    assert_eq!(err, None);
    assert_eq!(rows, vec![data(b"1,\"x\ny\"", Some("x\ny"))]);
    // Nothing at all is not a row.
    assert_eq!(run(&csv, 0, &[b""]), (vec![], None));
}

#[test]
fn unterminated_quote() {
    let csv = CopyFormat::new(true, None, false);
    let (rows, err) = any_split(&csv, 0, b"1,a\n\"2,b\n3,c\n");
    assert_eq!(rows, vec![data(b"1,a\n", Some("1"))]);
    assert_eq!(err, Some(CopyError::UnterminatedQuote));
}

#[test]
fn missing_key() {
    let text = CopyFormat::new(false, None, true);
    let (rows, err) = any_split(&text, 2, b"a\tb\n1\tx\ty\n2\tz\n3\tw\tv\n");
    assert_eq!(rows.len(), 2);
    assert_eq!(
        err,
        Some(CopyError::MissingKey {
            line: 3,
            found: 2,
            wanted: 3
        })
    );
    // An escaped delimiter does not start a field.
    let (_, err) = run(&text, 1, &[b"h\n1\\\tx\n"]);
    assert_eq!(
        err,
        Some(CopyError::MissingKey {
            line: 2,
            found: 1,
            wanted: 2
        })
    );
    let csv = CopyFormat::new(true, None, false);
    let (_, err) = run(&csv, 1, &[b"\"1,2\"\n"]);
    assert_eq!(
        err,
        Some(CopyError::MissingKey {
            line: 1,
            found: 1,
            wanted: 2
        })
    );
    assert_eq!(
        err.unwrap().to_string(),
        "COPY row 1 has 1 fields; the sharding key is field 2"
    );
}

#[test]
fn key_not_utf8() {
    let text = CopyFormat::new(false, None, false);
    let (rows, err) = run(&text, 0, &[b"ok\n\\xff\n"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(err, Some(CopyError::NotUtf8 { line: 2 }));
    let csv = CopyFormat::new(true, None, false);
    assert_eq!(
        run(&csv, 1, &[b"1,\"\xfe\"\n"]).1,
        Some(CopyError::NotUtf8 { line: 1 })
    );
    // Bytes that are not UTF-8 outside the key do not matter.
    assert_eq!(
        run(&csv, 0, &[b"1,\xfe\n"]).0,
        vec![data(b"1,\xfe\n", Some("1"))]
    );
}

#[test]
fn end_marker() {
    let text = CopyFormat::new(false, None, false);
    let mut splitter = RowSplitter::new(text.clone(), 0);
    let mut rows = Vec::new();
    splitter.feed(b"1\n\\.\n2\n", &mut rows).unwrap();
    assert!(splitter.ended());
    // PostgreSQL ignores everything after the marker, so nothing more comes out.
    splitter.feed(b"3\n", &mut rows).unwrap();
    splitter.finish(&mut rows).unwrap();
    assert_eq!(rows, vec![data(b"1\n", Some("1")), Row::End]);

    // In the text format the marker may end a row; the row goes out without it.
    let (rows, err) = any_split(&text, 1, b"1\ta\\.\r\n2\tb\n");
    assert_eq!(err, None);
    assert_eq!(rows, vec![data(b"1\ta\r\n", Some("a")), Row::End]);
    // An escaped backslash followed by a dot is data.
    let (rows, _) = run(&text, 0, &[b"\\\\.\n"]);
    assert_eq!(rows, vec![data(b"\\\\.\n", Some("\\."))]);
    // The marker at the very end, without a newline, ends the data too.
    assert_eq!(run(&text, 0, &[b"\\."]).0, vec![Row::End]);

    // In CSV only a line holding nothing but the marker counts.
    let csv = CopyFormat::new(true, None, true);
    let (rows, err) = any_split(&csv, 0, b"\\.\n");
    assert_eq!((rows, err), (vec![Row::End], None));
    let csv = CopyFormat::new(true, None, false);
    let (rows, _) = any_split(&csv, 0, b"\"\\.\"\n\\.x\na\\.\n\"x\n\\.\n\"\n\\.\r\n");
    assert_eq!(
        keys(&rows),
        vec![Some("\\."), Some("\\.x"), Some("a\\."), Some("x\n\\.\n")]
    );
    assert_eq!(rows.last(), Some(&Row::End));
}

#[test]
fn header_only() {
    let csv = CopyFormat::new(true, None, true);
    let (rows, err) = any_split(&csv, 5, b"a,\"b\nc\"");
    assert_eq!(err, None);
    assert_eq!(rows, vec![Row::Header(Bytes::from_static(b"a,\"b\nc\""))]);
}

#[test]
fn text_unescape() {
    assert_eq!(unescape(b"\\101\\60\\0x"), b"A0\0x");
    assert_eq!(unescape(b"\\1012"), b"A2");
    assert_eq!(unescape(b"\\777"), [0xff]);
    assert_eq!(unescape(b"\\x4g\\x4F\\xg\\x"), b"\x04gOxgx");
    assert_eq!(
        unescape(b"\\b\\f\\n\\r\\t\\v\\\\\\N\\z"),
        b"\x08\x0c\n\r\t\x0b\\Nz"
    );
    assert_eq!(unescape(b"end\\"), b"end");
}

/// A small deterministic generator, so the property test needs no extra crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn random_input_splits_consistently_and_never_panics() {
    const ALPHABET: &[u8] = b"a1,,\t\"\"\\\\\n\n\r.Nx|\xff";
    let mut formats = vec![
        CopyFormat::new(false, None, false),
        CopyFormat::new(false, Some(b','), true),
        CopyFormat::new(true, None, false),
        CopyFormat::new(true, Some(b'\t'), true),
    ];
    let mut escape = CopyFormat::new(true, Some(b'|'), false);
    escape.escape = b'\\';
    formats.push(escape);
    // Options PostgreSQL rejects must still not panic.
    let mut odd = CopyFormat::new(true, Some(b'"'), false);
    odd.escape = b'\n';
    formats.push(odd);
    let mut odd = CopyFormat::new(true, None, false);
    odd.quote = b'\n';
    formats.push(odd);
    formats.push(CopyFormat::new(false, Some(b'\\'), false));

    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let len = rng.below(48);
        let input: Vec<u8> = (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        for format in &formats {
            let key = rng.below(3);
            let whole = run(format, key, &[&input]);
            let mut chunks = Vec::new();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(1 + rng.below(rest.len()).min(6));
                chunks.push(chunk);
                rest = tail;
            }
            assert_eq!(run(format, key, &chunks), whole, "{input:?} in {chunks:?}");
            let bytes: Vec<&[u8]> = input.chunks(1).collect();
            assert_eq!(run(format, key, &bytes), whole, "{input:?} byte by byte");
            // Rows are the client's bytes, in order (only a text row ending in the marker
            // is rebuilt).
            if format.csv || !input.windows(2).any(|w| w == b"\\.") {
                assert!(input.starts_with(&forwarded(&whole.0)), "{input:?}");
            }
        }
    }
}
