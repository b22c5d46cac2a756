//! Messages clients send that the proxy must look inside (Parse, Bind, Describe, Close,
//! password messages), plus encoders for the ones pgDog itself sends to servers.

use bytes::{BufMut, Bytes, BytesMut};

use super::{begin, finish, put_cstr, Message, Reader};

/// A client message body that does not have the layout its tag promises.
#[derive(Debug, thiserror::Error)]
#[error("malformed {0} message")]
pub struct Malformed(pub &'static str);

/// Parse: statement name, then everything after it (query text and parameter types),
/// kept as raw bytes so a renamed Parse is the original body behind a new name.
#[derive(Debug, Clone)]
pub struct Parse<'a> {
    pub name: &'a str,
    pub query: &'a str,
    /// Query text, NUL, parameter type count and OIDs: what makes two Parses the same.
    pub rest: &'a [u8],
}

impl<'a> Parse<'a> {
    pub fn decode(msg: &'a Message) -> Result<Self, Malformed> {
        let mut r = Reader::new(msg.body());
        let name = r.cstr().ok_or(Malformed("Parse"))?;
        let rest = r.remaining();
        let query = Reader::new(rest).cstr().ok_or(Malformed("Parse"))?;
        Ok(Parse { name, query, rest })
    }
}

/// Whether a Parse's query text may open with a comment (`/*` or `--`, after whitespace),
/// read from the raw bytes: the common Parse, without one, costs no UTF-8 validation.
pub fn parse_opens_with_comment(msg: &Message) -> bool {
    let body = msg.body();
    let Some(end) = body.iter().position(|&b| b == 0) else {
        return false;
    };
    may_open_with(&body[end + 1..], &[b"/*", b"--"])
}

/// Whether `text`, after leading whitespace, may start with one of `marks`. Decided on the
/// bytes where they are ASCII; text that opens with a non-ASCII character (which could be
/// Unicode whitespace, as `str::trim_start` sees it) answers true, so the caller decodes it
/// and decides exactly.
pub fn may_open_with(text: &[u8], marks: &[&[u8]]) -> bool {
    // ASCII whitespace as `str::trim_start` trims it: also vertical tab.
    let start = text
        .iter()
        .position(|&b| !(b.is_ascii_whitespace() || b == 0x0B))
        .unwrap_or(text.len());
    let rest = &text[start..];
    rest.first().is_some_and(|&b| b >= 0x80) || marks.iter().any(|m| rest.starts_with(m))
}

/// Builds a Parse message for `name` from another Parse's `rest`.
pub fn parse_with_name(name: &str, rest: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(6 + name.len() + rest.len());
    let at = begin(&mut out, b'P');
    put_cstr(&mut out, name);
    out.extend_from_slice(rest);
    finish(&mut out, at);
    out.freeze()
}

/// Bind: only the statement name matters to the proxy.
pub fn bind_statement(msg: &Message) -> Result<&str, Malformed> {
    let mut r = Reader::new(msg.body());
    r.cstr().ok_or(Malformed("Bind"))?;
    r.cstr().ok_or(Malformed("Bind"))
}

/// What the proxy reads of a Bind: the statement it executes, and its parameters' format
/// codes and values (`None` for NULL).
pub struct BindParams<'a> {
    pub statement: &'a str,
    pub formats: Vec<i16>,
    pub values: Vec<Option<Vec<u8>>>,
}

/// Reads the statement name and the parameters of a Bind, in one pass over its names.
pub fn bind_params(msg: &Message) -> Result<BindParams<'_>, Malformed> {
    let bad = || Malformed("Bind");
    let mut r = Reader::new(msg.body());
    r.cstr().ok_or_else(bad)?;
    let statement = r.cstr().ok_or_else(bad)?;
    let nformats = r.i16().ok_or_else(bad)?;
    let formats = (0..nformats.max(0))
        .map(|_| r.i16().ok_or_else(bad))
        .collect::<Result<Vec<_>, _>>()?;
    let nparams = r.i16().ok_or_else(bad)?;
    let mut values = Vec::with_capacity(nparams.max(0) as usize);
    for _ in 0..nparams.max(0) {
        let len = r.i32().ok_or_else(bad)?;
        if len < 0 {
            values.push(None);
        } else {
            values.push(Some(r.bytes(len as usize).ok_or_else(bad)?.to_vec()));
        }
    }
    Ok(BindParams {
        statement,
        formats,
        values,
    })
}

/// Rewrites a Bind to use another statement name, keeping every other byte.
pub fn bind_with_statement(msg: &Message, statement: &str) -> Result<Bytes, Malformed> {
    let mut out = BytesMut::with_capacity(msg.len() + statement.len());
    put_bind_with_statement(&mut out, msg, statement)?;
    Ok(out.freeze())
}

/// [`bind_with_statement`], appended to `out`.
pub fn put_bind_with_statement(
    out: &mut BytesMut,
    msg: &Message,
    statement: &str,
) -> Result<(), Malformed> {
    let mut r = Reader::new(msg.body());
    let portal = r.cstr().ok_or(Malformed("Bind"))?;
    r.cstr().ok_or(Malformed("Bind"))?;
    let rest = r.remaining();
    let at = begin(out, b'B');
    put_cstr(out, portal);
    put_cstr(out, statement);
    out.extend_from_slice(rest);
    finish(out, at);
    Ok(())
}

/// Describe and Close: a kind (`S` statement, `P` portal) and a name.
pub fn target(msg: &Message) -> Result<(u8, &str), Malformed> {
    let what = if msg.tag() == b'D' {
        "Describe"
    } else {
        "Close"
    };
    let mut r = Reader::new(msg.body());
    let kind = r.u8().ok_or(Malformed(what))?;
    let name = r.cstr().ok_or(Malformed(what))?;
    if kind != b'S' && kind != b'P' {
        return Err(Malformed(what));
    }
    Ok((kind, name))
}

/// Builds a Describe or Close (`tag`) of a statement or portal.
pub fn target_message(tag: u8, kind: u8, name: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(7 + name.len());
    put_target_message(&mut out, tag, kind, name);
    out.freeze()
}

/// [`target_message`], appended to `out`.
pub fn put_target_message(out: &mut BytesMut, tag: u8, kind: u8, name: &str) {
    let at = begin(out, tag);
    out.put_u8(kind);
    put_cstr(out, name);
    finish(out, at);
}

/// A simple Query message.
pub fn query(sql: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(6 + sql.len());
    let at = begin(&mut out, b'Q');
    put_cstr(&mut out, sql);
    finish(&mut out, at);
    out.freeze()
}

/// The text of a simple Query, for logging and (later) routing.
pub fn query_text(msg: &Message) -> Result<&str, Malformed> {
    Reader::new(msg.body()).cstr().ok_or(Malformed("Query"))
}

/// SASLInitialResponse: mechanism name and the client-first-message.
pub fn sasl_initial(body: &[u8]) -> Result<(&str, &[u8]), Malformed> {
    let mut r = Reader::new(body);
    let mechanism = r.cstr().ok_or(Malformed("SASLInitialResponse"))?;
    let len = r.i32().ok_or(Malformed("SASLInitialResponse"))?;
    let data = if len < 0 {
        &[][..]
    } else {
        r.bytes(len as usize)
            .ok_or(Malformed("SASLInitialResponse"))?
    };
    Ok((mechanism, data))
}

/// Encodes a PasswordMessage (`p`) carrying a NUL-terminated password or md5 hash.
pub fn password_message(password: &str) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, b'p');
    put_cstr(&mut out, password);
    finish(&mut out, at);
    out.freeze()
}

/// Encodes a SASLInitialResponse.
pub fn sasl_initial_response(mechanism: &str, data: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, b'p');
    put_cstr(&mut out, mechanism);
    out.put_i32(data.len() as i32);
    out.extend_from_slice(data);
    finish(&mut out, at);
    out.freeze()
}

/// Encodes a SASLResponse.
pub fn sasl_response(data: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    let at = begin(&mut out, b'p');
    out.extend_from_slice(data);
    finish(&mut out, at);
    out.freeze()
}

/// The Terminate message.
pub fn terminate() -> Bytes {
    Bytes::from_static(b"X\0\0\0\x04")
}

#[cfg(test)]
mod tests {
    #[test]
    fn comment_detection_on_raw_bytes_errs_towards_decoding() {
        use super::may_open_with;
        let marks: &[&[u8]] = &[b"/*"];
        assert!(may_open_with(b"/* x */ SELECT 1", marks));
        assert!(may_open_with(b" \t\r\n\x0B\x0C/* x */", marks));
        assert!(!may_open_with(b"SELECT 1 /* x */", marks));
        assert!(!may_open_with(b"", marks));
        // A non-ASCII start may be Unicode whitespace: the caller must decode and look.
        assert!(may_open_with("\u{a0}/* x */".as_bytes(), marks));
        assert!(may_open_with("é".as_bytes(), marks));
    }

    use super::*;

    fn msg(bytes: Bytes) -> Message {
        Message::from_frame(bytes)
    }

    #[test]
    fn parse_rename_keeps_query_and_types() {
        let original = msg(parse_with_name("s1", b"SELECT $1\0\0\x01\0\0\0\x17"));
        let p = Parse::decode(&original).unwrap();
        assert_eq!(p.name, "s1");
        assert_eq!(p.query, "SELECT $1");
        let renamed = msg(parse_with_name("__pgdog_7", p.rest));
        let q = Parse::decode(&renamed).unwrap();
        assert_eq!(q.name, "__pgdog_7");
        assert_eq!(q.rest, p.rest);
    }

    #[test]
    fn bind_rename() {
        let mut raw = BytesMut::new();
        let at = begin(&mut raw, b'B');
        put_cstr(&mut raw, "portal");
        put_cstr(&mut raw, "s1");
        raw.extend_from_slice(b"\0\0\0\0\0\0");
        finish(&mut raw, at);
        let bind = msg(raw.freeze());
        assert_eq!(bind_statement(&bind).unwrap(), "s1");
        let renamed = msg(bind_with_statement(&bind, "__pgdog_1").unwrap());
        assert_eq!(bind_statement(&renamed).unwrap(), "__pgdog_1");
        assert!(renamed.body().starts_with(b"portal\0__pgdog_1\0"));
    }

    #[test]
    fn describe_target() {
        let d = msg(target_message(b'D', b'S', "x"));
        assert_eq!(target(&d).unwrap(), (b'S', "x"));
        let bad = msg(Bytes::from_static(b"D\0\0\0\x06Q\0"));
        assert!(target(&bad).is_err());
    }
}
