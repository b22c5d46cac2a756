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
