//! Messages servers send that the proxy must read (authentication requests, ParameterStatus,
//! BackendKeyData, ReadyForQuery), and encoders for the ones pgDog sends to clients itself.

use bytes::{BufMut, Bytes, BytesMut};

use super::{begin, finish, put_cstr, Reader};

pub const AUTH_OK: i32 = 0;
pub const AUTH_CLEARTEXT: i32 = 3;
pub const AUTH_MD5: i32 = 5;
pub const AUTH_SASL: i32 = 10;
pub const AUTH_SASL_CONTINUE: i32 = 11;
pub const AUTH_SASL_FINAL: i32 = 12;

/// AuthenticationOk / CleartextPassword / MD5Password / SASL* requests.
pub fn auth_request(code: i32, data: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(9 + data.len());
    let at = begin(&mut out, b'R');
    out.put_i32(code);
    out.extend_from_slice(data);
    finish(&mut out, at);
    out.freeze()
}

pub fn parameter_status(out: &mut BytesMut, name: &str, value: &str) {
    let at = begin(out, b'S');
    put_cstr(out, name);
    put_cstr(out, value);
    finish(out, at);
}

pub fn backend_key_data(out: &mut BytesMut, pid: i32, secret: i32) {
    let at = begin(out, b'K');
    out.put_i32(pid);
    out.put_i32(secret);
    finish(out, at);
}

pub fn ready_for_query(out: &mut BytesMut, status: u8) {
    out.extend_from_slice(&[b'Z', 0, 0, 0, 5, status]);
}

pub const PARSE_COMPLETE: &[u8] = b"1\0\0\0\x04";
pub const CLOSE_COMPLETE: &[u8] = b"3\0\0\0\x04";

/// Reads a ParameterStatus body.
pub fn decode_parameter_status(body: &[u8]) -> Option<(&str, &str)> {
    let mut r = Reader::new(body);
    Some((r.cstr()?, r.cstr()?))
}

/// Reads a BackendKeyData body.
pub fn decode_backend_key(body: &[u8]) -> Option<(i32, i32)> {
    let mut r = Reader::new(body);
    Some((r.i32()?, r.i32()?))
}

/// Reads an Authentication request: its code and the data after it.
pub fn decode_auth(body: &[u8]) -> Option<(i32, &[u8])> {
    let mut r = Reader::new(body);
    let code = r.i32()?;
    Some((code, r.remaining()))
}

/// Reads the SASL mechanisms a server offers.
pub fn sasl_mechanisms(data: &[u8]) -> Vec<&str> {
    let mut r = Reader::new(data);
    let mut out = Vec::new();
    while let Some(m) = r.cstr() {
        if m.is_empty() {
            break;
        }
        out.push(m);
    }
    out
}

/// CommandComplete with a command tag such as `SET` or `BEGIN`.
pub fn command_complete(out: &mut BytesMut, tag: &str) {
    let at = begin(out, b'C');
    put_cstr(out, tag);
    finish(out, at);
}

/// RowDescription for text columns with these names.
pub fn row_description(out: &mut BytesMut, columns: &[&str]) {
    row_description_typed(out, columns, &[]);
}

/// RowDescription whose columns have the type OIDs `oids` (text where none is given);
/// values are still sent in text format.
pub fn row_description_typed(out: &mut BytesMut, columns: &[&str], oids: &[u32]) {
    let at = begin(out, b'T');
    out.put_i16(columns.len() as i16);
    for (i, name) in columns.iter().enumerate() {
        put_cstr(out, name);
        out.put_i32(0); // table oid
        out.put_i16(0); // column number
        out.put_u32(oids.get(i).copied().unwrap_or(25)); // type oid (25: text)
        out.put_i16(-1); // type length: variable
        out.put_i32(-1); // type modifier
        out.put_i16(0); // format: text
    }
    finish(out, at);
}

/// DataRow of text values (`None` for NULL).
pub fn data_row(out: &mut BytesMut, values: &[Option<&str>]) {
    let at = begin(out, b'D');
    out.put_i16(values.len() as i16);
    for value in values {
        match value {
            Some(v) => {
                out.put_i32(v.len() as i32);
                out.extend_from_slice(v.as_bytes());
            }
            None => out.put_i32(-1),
        }
    }
    finish(out, at);
}

/// NoticeResponse: `severity` (NOTICE, WARNING, …), SQLSTATE `code` and `message`.
pub fn notice(out: &mut BytesMut, severity: &str, code: &str, message: &str) {
    let at = begin(out, b'N');
    for (field, value) in [
        (b'S', severity),
        (b'V', severity),
        (b'C', code),
        (b'M', message),
    ] {
        out.put_u8(field);
        put_cstr(out, value);
    }
    out.put_u8(0);
    finish(out, at);
}

/// EmptyQueryResponse: the reply to a query string with no statement in it.
pub const EMPTY_QUERY_RESPONSE: &[u8] = b"I\0\0\0\x04";

/// A run of whole server messages that needs nothing from the proxy but forwarding:
/// [`plain_reply`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainReply {
    /// How many ReadyForQuery messages it holds.
    pub ready: usize,
    /// The transaction status of the last one.
    pub status: u8,
}

/// Checks whether `buf` is exactly whole server messages ending in ReadyForQuery, none of
/// which the proxy must act on: replies to Parse, Bind, Close, Describe, Execute and Query
/// (rows, completions, notices, notifications). Errors, ParameterStatus and COPY are left
/// to the caller's message-by-message path, as is anything still arriving. Reads only the
/// five header bytes of each message.
pub fn plain_reply(buf: &[u8]) -> Option<PlainReply> {
    let mut rest = buf;
    let mut ready = 0;
    let mut status = 0;
    let mut ends_ready = false;
    // Every reply to every query passes here: the header is matched in place (one length
    // check) and its tag looked up in a table instead of a match over a dozen tags.
    while let [tag, a, b, c, d, ..] = *rest {
        let len = u32::from_be_bytes([a, b, c, d]) as usize;
        if !(4..=super::MAX_MESSAGE_LEN).contains(&len) || rest.len() - 1 < len {
            return None;
        }
        match PLAIN_TAGS[tag as usize] {
            PLAIN => ends_ready = false,
            READY if len >= 5 => {
                ready += 1;
                status = rest[5];
                ends_ready = true;
            }
            _ => return None,
        }
        rest = &rest[1 + len..];
    }
    (rest.is_empty() && ends_ready).then_some(PlainReply { ready, status })
}

const PLAIN: u8 = 1;
const READY: u8 = 2;
/// How [`plain_reply`] takes each message tag: replies to Parse, Bind, Close, Describe,
/// Execute and Query (rows, completions, notices, notifications) are `PLAIN`,
/// ReadyForQuery is `READY`, anything else (errors, ParameterStatus, COPY) is 0.
static PLAIN_TAGS: [u8; 256] = {
    let mut table = [0u8; 256];
    let plain = *b"123TntDCIsNA";
    let mut i = 0;
    while i < plain.len() {
        table[plain[i] as usize] = PLAIN;
        i += 1;
    }
    table[b'Z' as usize] = READY;
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
        out.push(tag);
        out.extend_from_slice(&(body.len() as i32 + 4).to_be_bytes());
        out.extend_from_slice(body);
    }

    #[test]
    fn plain_reply_counts_ready_and_keeps_the_last_status() {
        let mut buf = Vec::new();
        for tag in [b'1', b'2', b'T'] {
            msg(&mut buf, tag, b"");
        }
        msg(&mut buf, b'D', b"\0\x01\0\0\0\x01x");
        msg(&mut buf, b'C', b"SELECT 1\0");
        msg(&mut buf, b'Z', b"T");
        msg(&mut buf, b'N', b"notice");
        msg(&mut buf, b'C', b"COMMIT\0");
        msg(&mut buf, b'Z', b"I");
        assert_eq!(
            plain_reply(&buf),
            Some(PlainReply {
                ready: 2,
                status: b'I'
            })
        );
    }

    #[test]
    fn plain_reply_leaves_errors_parameters_copy_and_partial_data() {
        for tag in [b'E', b'S', b'G', b'H', b'd', b'c', b'W', b'K', b'R'] {
            let mut buf = Vec::new();
            msg(&mut buf, b'2', b"");
            msg(&mut buf, tag, b"xx");
            msg(&mut buf, b'Z', b"I");
            assert_eq!(plain_reply(&buf), None, "tag {}", tag as char);
        }
        let mut buf = Vec::new();
        msg(&mut buf, b'C', b"SELECT 1\0");
        assert_eq!(plain_reply(&buf), None, "no ReadyForQuery yet");
        msg(&mut buf, b'Z', b"I");
        msg(&mut buf, b'A', b"late notification");
        assert_eq!(plain_reply(&buf), None, "something after the ReadyForQuery");
        buf.truncate(buf.len() - 3);
        assert_eq!(plain_reply(&buf), None, "a partial message");
        assert_eq!(
            plain_reply(&[b'Z', 0, 0, 0, 4]),
            None,
            "a ReadyForQuery without status"
        );
        assert_eq!(plain_reply(&[b'Z', 0, 0, 0, 1, b'I']), None, "a bad length");
        assert_eq!(plain_reply(&[]), None);
    }
}
