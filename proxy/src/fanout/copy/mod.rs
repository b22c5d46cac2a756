//! Splitting a `COPY … FROM STDIN` stream into rows, so that each row can go to its shard.
//!
//! A client sends COPY data as CopyData messages whose boundaries mean nothing: one message
//! may hold many rows, or stop halfway through a row, a field, a backslash escape, or a CSV
//! quoted field that itself contains newlines. To route rows on a sharded database, pgDog
//! has to cut the stream back into whole rows and read the sharding key of each one, while
//! forwarding every row byte for byte, so that the shards parse exactly what the client
//! wrote.
//!
//! [`RowSplitter`] does that without any I/O: the session feeds it each payload and gets
//! back the rows that payload completed. It follows PostgreSQL 15's COPY FROM rules for the
//! text and CSV formats (binary COPY is not handled here). Where the data is malformed in a
//! way only the server can judge (a bad escape, a stray carriage return), the row is still
//! returned unchanged and the shard reports the error, just as a single server would.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};

/// How the COPY stream is written (from the COPY statement's options).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFormat {
    /// `FORMAT csv`; otherwise the text format.
    pub csv: bool,
    /// The field separator: a tab for text, a comma for CSV, unless the statement says
    /// otherwise.
    pub delimiter: u8,
    /// The CSV quote character (unused by the text format).
    pub quote: u8,
    /// The CSV escape character inside quotes; by default the quote itself, so that `""`
    /// stands for one quote.
    pub escape: u8,
    /// The spelling of NULL: `\N` for text, an unquoted empty field for CSV.
    pub null: Vec<u8>,
    /// The first line is a header, not data.
    pub header: bool,
}

impl CopyFormat {
    /// Defaults for text (csv = false) or CSV, with an optional delimiter override.
    pub fn new(csv: bool, delimiter: Option<u8>, header: bool) -> CopyFormat {
        let (default_delimiter, null): (u8, &[u8]) =
            if csv { (b',', b"") } else { (b'\t', b"\\N") };
        CopyFormat {
            csv,
            delimiter: delimiter.unwrap_or(default_delimiter),
            quote: b'"',
            escape: b'"',
            null: null.to_vec(),
            header,
        }
    }
}

/// One logical line of the COPY stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// The header line (CSV/text HEADER): every shard needs its own copy.
    Header(Bytes),
    /// A data row: its exact bytes including the line terminator, and the key field's value
    /// (unescaped / unquoted), `None` when the field is NULL.
    Data { bytes: Bytes, key: Option<String> },
    /// The `\.` end-of-data marker line (text format, or alone on a line in CSV): not
    /// forwarded. PostgreSQL ignores whatever follows it, and so does the splitter.
    End,
}

/// Why a row cannot be routed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CopyError {
    /// The row is too short to hold the sharding key. `line` counts logical lines from 1
    /// (the header included); `wanted` is the key's field number counted from 1, like
    /// `found`.
    #[error("COPY row {line} has {found} fields; the sharding key is field {wanted}")]
    MissingKey {
        line: u64,
        found: usize,
        wanted: usize,
    },
    /// The key's value, once unescaped, is not text pgDog can hash.
    #[error("COPY row {line}: sharding key is not valid UTF-8")]
    NotUtf8 { line: u64 },
    /// CopyDone arrived while a CSV quoted field was still open.
    #[error("COPY data ends inside a quoted field")]
    UnterminatedQuote,
}

/// Cuts a COPY stream, fed in arbitrary pieces, into rows and reads each row's sharding key.
///
/// Feeding the stream in any number of pieces gives the same rows as feeding it at once: the
/// splitter keeps the unfinished row and just enough scanner state (inside a quote, after an
/// escape) to carry on where the previous piece stopped, without rescanning.
#[derive(Debug)]
pub struct RowSplitter {
    format: CopyFormat,
    key_column: usize,
    /// The bytes of the row not yet complete (and, after a row with a bad key, of the rows
    /// after it).
    pending: BytesMut,
    /// How much of `pending` has already been scanned for the end of the row.
    scanned: usize,
    /// Text: the last scanned byte is a backslash, so the next byte is escaped. CSV with an
    /// escape different from the quote: the last scanned byte is an escape inside quotes, so
    /// a following quote is literal.
    escaped: bool,
    /// CSV: the scan is inside a quoted section, where newlines belong to the field.
    in_quote: bool,
    /// The next line is the header.
    header_due: bool,
    /// Logical lines seen so far, for error messages.
    line: u64,
    /// The end marker was seen: everything after it is ignored.
    ended: bool,
}

impl RowSplitter {
    /// `key_column`: 0-based position of the sharding key among the row's fields.
    pub fn new(format: CopyFormat, key_column: usize) -> RowSplitter {
        RowSplitter {
            header_due: format.header,
            format,
            key_column,
            pending: BytesMut::new(),
            scanned: 0,
            escaped: false,
            in_quote: false,
            line: 0,
            ended: false,
        }
    }

    /// True once the `\.` end marker went by; later input is ignored.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Feeds one CopyData payload; appends every row completed by it to `out`.
    ///
    /// On an error, the rows before the offending one are already in `out` and the offending
    /// row is dropped.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<Row>) -> Result<(), CopyError> {
        if self.ended {
            return Ok(());
        }
        // One copy per payload: every row is then a cheap slice of this buffer, and only a
        // row that straddles payloads waits here for the rest of its bytes.
        self.pending.extend_from_slice(data);
        while !self.ended {
            let Some(end) = self.scan() else { break };
            let row = self.pending.split_to(end).freeze();
            self.emit(row, out)?;
        }
        if self.ended {
            self.pending.clear();
            self.scanned = 0;
        }
        Ok(())
    }

    /// At CopyDone: the last row if it had no line terminator (still a valid row), or an error
    /// if inside a quote.
    pub fn finish(&mut self, out: &mut Vec<Row>) -> Result<(), CopyError> {
        // Rows left behind by an earlier error come out first, one by one.
        self.feed(&[], out)?;
        if self.ended || self.pending.is_empty() {
            return Ok(());
        }
        let unterminated = self.format.csv && self.in_quote;
        let row = self.pending.split().freeze();
        self.scanned = 0;
        self.escaped = false;
        self.in_quote = false;
        if unterminated {
            return Err(CopyError::UnterminatedQuote);
        }
        self.emit(row, out)
    }

    /// Looks for the end of the row at the front of `pending`, starting where the last scan
    /// stopped. Returns the length of the row, its `\n` included.
    fn scan(&mut self) -> Option<usize> {
        let buf = &self.pending[..];
        let from = self.scanned;
        let end = if self.format.csv {
            scan_csv(
                buf,
                from,
                &self.format,
                &mut self.in_quote,
                &mut self.escaped,
            )
        } else {
            scan_text(buf, from, &mut self.escaped)
        };
        self.scanned = if end.is_some() { 0 } else { buf.len() };
        end
    }

    /// Turns one complete logical line into rows.
    fn emit(&mut self, row: Bytes, out: &mut Vec<Row>) -> Result<(), CopyError> {
        self.line += 1;
        let header = std::mem::take(&mut self.header_due);
        let line = row.strip_suffix(b"\n").unwrap_or(&row);
        let (row, ended) = match end_marker(line, self.format.csv) {
            None => (Some(row), false),
            Some(0) => (None, true),
            Some(at) => {
                // Text format only: `data\.` ends the data after the row `data`. The shards
                // must not see the marker, or they would stop reading there, so the row is
                // rebuilt without it (the only time a row is not the client's exact bytes).
                let mut rebuilt = BytesMut::with_capacity(row.len() - 2);
                rebuilt.extend_from_slice(&row[..at]);
                rebuilt.extend_from_slice(&row[at + 2..]);
                (Some(rebuilt.freeze()), true)
            }
        };
        if let Some(row) = row {
            if header {
                out.push(Row::Header(row));
            } else {
                let key = self.key(&row)?;
                out.push(Row::Data { bytes: row, key });
            }
        }
        if ended {
            self.ended = true;
            out.push(Row::End);
        }
        Ok(())
    }

    /// The sharding key of a complete data row.
    fn key(&self, row: &[u8]) -> Result<Option<String>, CopyError> {
        let f = &self.format;
        let line = strip_terminator(row, f.csv);
        let span = if f.csv {
            csv_span(line, f, self.key_column)
        } else {
            text_span(line, f.delimiter, self.key_column).map(|(start, end)| (start, end, false))
        };
        let (start, end, quoted) = span.map_err(|found| CopyError::MissingKey {
            line: self.line,
            found,
            wanted: self.key_column.saturating_add(1),
        })?;
        let raw = &line[start..end];
        // PostgreSQL compares the raw field, before unescaping, with the NULL string; in
        // CSV a field with quotes anywhere is never NULL.
        if !quoted && raw == f.null.as_slice() {
            return Ok(None);
        }
        let value: Cow<'_, [u8]> = if quoted {
            Cow::Owned(unquote(raw, f.quote, f.escape))
        } else if !f.csv && raw.contains(&b'\\') {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        };
        match std::str::from_utf8(&value) {
            Ok(text) => Ok(Some(text.to_owned())),
            Err(_) => Err(CopyError::NotUtf8 { line: self.line }),
        }
    }
}

/// Text format: the row ends at the first `\n` not escaped by a backslash. `escaped` carries
/// a backslash that ended the previous piece over to the next one.
fn scan_text(buf: &[u8], from: usize, escaped: &mut bool) -> Option<usize> {
    let mut i = from;
    while i < buf.len() {
        if *escaped {
            *escaped = false;
            i += 1;
            continue;
        }
        let off = buf[i..].iter().position(|&b| b == b'\n' || b == b'\\')?;
        i += off;
        if buf[i] == b'\n' {
            return Some(i + 1);
        }
        *escaped = true;
        i += 1;
    }
    None
}

/// CSV: the row ends at the first `\n` outside quotes. Quotes toggle quoting wherever they
/// appear, as in PostgreSQL; when the escape differs from the quote, an escape inside quotes
/// makes the next quote (or escape) literal.
fn scan_csv(
    buf: &[u8],
    from: usize,
    f: &CopyFormat,
    in_quote: &mut bool,
    escaped: &mut bool,
) -> Option<usize> {
    let (q, e) = (f.quote, f.escape);
    let mut i = from;
    while i < buf.len() {
        if !*in_quote {
            let off = buf[i..].iter().position(|&b| b == q || b == b'\n')?;
            i += off;
            if buf[i] == q {
                *in_quote = true;
            } else {
                return Some(i + 1);
            }
        } else if q == e {
            // A doubled quote closes and reopens the quoted section, which is the same as
            // staying inside it, so each quote can simply toggle.
            let off = buf[i..].iter().position(|&b| b == q)?;
            i += off;
            *in_quote = false;
        } else {
            let Some(off) = buf[i..].iter().position(|&b| b == q || b == e) else {
                // Whatever came after an escape was not a quote: the escape is spent.
                *escaped = false;
                return None;
            };
            if off > 0 {
                *escaped = false;
            }
            i += off;
            if buf[i] == e {
                *escaped = !*escaped;
            } else {
                if !*escaped {
                    *in_quote = false;
                }
                *escaped = false;
            }
        }
        i += 1;
    }
    None
}

/// Where the end-of-data marker `\.` starts in `line` (a row without its `\n`), if the line
/// ends the data. Alone on a line it ends the data in both formats; the text format also
/// accepts it at the end of a row, where it follows that row's last field.
fn end_marker(line: &[u8], csv: bool) -> Option<usize> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line == b"\\." {
        return Some(0);
    }
    if csv {
        return None;
    }
    let at = line.len().checked_sub(2)?;
    (line.ends_with(b"\\.") && !escaped_at(line, at)).then_some(at)
}

/// Text format: whether the byte at `at` is escaped, that is, preceded by an odd run of
/// backslashes. Any other byte ends an escape, so the run alone decides.
fn escaped_at(line: &[u8], at: usize) -> bool {
    let run = line[..at].iter().rev().take_while(|&&b| b == b'\\').count();
    run % 2 == 1
}

/// A row without its line terminator: `\n`, and the `\r` of `\r\n` unless a backslash
/// escapes it (then it is data, in the text format).
fn strip_terminator(row: &[u8], csv: bool) -> &[u8] {
    let line = row.strip_suffix(b"\n").unwrap_or(row);
    match line.strip_suffix(b"\r") {
        Some(stripped) if csv || !escaped_at(line, stripped.len()) => stripped,
        _ => line,
    }
}

/// Text format: the byte range of field `want` in `line`, or the number of fields when the
/// line has fewer. A backslash escapes the next byte, delimiter included.
fn text_span(line: &[u8], delimiter: u8, want: usize) -> Result<(usize, usize), usize> {
    let mut field = 0;
    let mut start = 0;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if b == b'\\' {
            i += 2;
            continue;
        }
        if b == delimiter {
            if field == want {
                return Ok((start, i));
            }
            field += 1;
            start = i + 1;
        }
        i += 1;
    }
    if field == want {
        Ok((start, line.len()))
    } else {
        Err(field + 1)
    }
}

/// CSV: the byte range of field `want` in `line` and whether it contains quotes, or the
/// number of fields when the line has fewer.
fn csv_span(line: &[u8], f: &CopyFormat, want: usize) -> Result<(usize, usize, bool), usize> {
    let (d, q, e) = (f.delimiter, f.quote, f.escape);
    let mut field = 0;
    let mut start = 0;
    let mut quoted = false;
    let mut in_quote = false;
    let mut i = 0;
    while i < line.len() {
        let b = line[i];
        if in_quote {
            if b == e && matches!(line.get(i + 1), Some(&n) if n == q || n == e) {
                i += 2;
                continue;
            }
            if b == q {
                in_quote = false;
            }
        } else if b == d {
            if field == want {
                return Ok((start, i, quoted));
            }
            field += 1;
            start = i + 1;
            quoted = false;
        } else if b == q {
            in_quote = true;
            quoted = true;
        }
        i += 1;
    }
    if field == want {
        Ok((start, line.len(), quoted))
    } else {
        Err(field + 1)
    }
}

/// CSV: the value of a field with quotes. Quoted sections lose their quotes, and inside
/// them an escape followed by a quote or an escape stands for that character.
fn unquote(raw: &[u8], q: u8, e: u8) -> Vec<u8> {
    let mut value = Vec::with_capacity(raw.len());
    let mut in_quote = false;
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if in_quote {
            if b == e {
                if let Some(&n) = raw.get(i + 1).filter(|&&n| n == q || n == e) {
                    value.push(n);
                    i += 2;
                    continue;
                }
            }
            if b == q {
                in_quote = false;
            } else {
                value.push(b);
            }
        } else if b == q {
            in_quote = true;
        } else {
            value.push(b);
        }
        i += 1;
    }
    value
}

/// Text format: the value of a field with backslash escapes, decoded as PostgreSQL does.
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        i += 1;
        if b != b'\\' {
            value.push(b);
            continue;
        }
        // PostgreSQL drops a backslash that ends the line.
        let Some(&n) = raw.get(i) else { break };
        i += 1;
        let decoded = match n {
            b'0'..=b'7' => {
                // One to three octal digits; the value wraps to a byte like PostgreSQL's.
                let mut code = u32::from(n - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            code = code * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                (code & 0xff) as u8
            }
            b'x' => match raw.get(i).and_then(|&h| hex_digit(h)) {
                // One or two hex digits; `\x` without any is just `x`.
                Some(high) => {
                    i += 1;
                    match raw.get(i).and_then(|&h| hex_digit(h)) {
                        Some(low) => {
                            i += 1;
                            high * 16 + low
                        }
                        None => high,
                    }
                }
                None => b'x',
            },
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 0x0b,
            // Any other escaped byte (backslash, delimiter, newline, `N` inside a longer
            // field) stands for itself.
            other => other,
        };
        value.push(decoded);
    }
    value
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
