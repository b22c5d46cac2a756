//! The untagged first packet of a connection: StartupMessage, SSLRequest, GSSENCRequest and
//! CancelRequest, which all begin with a length and a 32-bit code instead of a tag byte.

use bytes::{BufMut, BytesMut};

use super::{put_cstr, Reader};

pub const PROTOCOL_3_0: i32 = 196608;
pub const SSL_REQUEST: i32 = 80877103;
pub const GSSENC_REQUEST: i32 = 80877104;
pub const CANCEL_REQUEST: i32 = 80877102;

/// PostgreSQL refuses startup packets longer than this; so do we, before buffering them.
pub const MAX_STARTUP_LEN: usize = 10_000;

#[derive(Debug, PartialEq, Eq)]
pub enum StartupPacket {
    Ssl,
    GssEnc,
    Cancel { pid: i32, secret: i32 },
    Startup { params: Vec<(String, String)> },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StartupError {
    #[error("invalid length of startup packet")]
    BadLength,
    #[error("unsupported frontend protocol {}.{}", .0 >> 16, .0 & 0xffff)]
    UnsupportedProtocol(i32),
    #[error("invalid startup packet layout")]
    Malformed,
}

/// Splits the first packet off `buf`, or returns `None` while it is incomplete.
pub fn split_startup(buf: &mut BytesMut) -> Result<Option<StartupPacket>, StartupError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len < 8 || len as usize > MAX_STARTUP_LEN {
        return Err(StartupError::BadLength);
    }
    if buf.len() < len as usize {
        return Ok(None);
    }
    let packet = buf.split_to(len as usize);
    let mut r = Reader::new(&packet[4..]);
    let code = r.i32().ok_or(StartupError::Malformed)?;
    match code {
        SSL_REQUEST => Ok(Some(StartupPacket::Ssl)),
        GSSENC_REQUEST => Ok(Some(StartupPacket::GssEnc)),
        CANCEL_REQUEST => {
            let pid = r.i32().ok_or(StartupError::Malformed)?;
            let secret = r.i32().ok_or(StartupError::Malformed)?;
            Ok(Some(StartupPacket::Cancel { pid, secret }))
        }
        code if code >> 16 == 3 => {
            let mut params = Vec::new();
            loop {
                let key = r.cstr().ok_or(StartupError::Malformed)?;
                if key.is_empty() {
                    break;
                }
                let value = r.cstr().ok_or(StartupError::Malformed)?;
                params.push((key.to_string(), value.to_string()));
            }
            Ok(Some(StartupPacket::Startup { params }))
        }
        code => Err(StartupError::UnsupportedProtocol(code)),
    }
}

/// Encodes a StartupMessage (protocol 3.0) with the given parameters.
pub fn startup_message(params: &[(&str, &str)]) -> BytesMut {
    let mut out = BytesMut::new();
    out.put_i32(0);
    out.put_i32(PROTOCOL_3_0);
    for (k, v) in params {
        put_cstr(&mut out, k);
        put_cstr(&mut out, v);
    }
    out.put_u8(0);
    let len = out.len() as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// Encodes a CancelRequest for a server's backend key.
pub fn cancel_request(pid: i32, secret: i32) -> BytesMut {
    let mut out = BytesMut::with_capacity(16);
    out.put_i32(16);
    out.put_i32(CANCEL_REQUEST);
    out.put_i32(pid);
    out.put_i32(secret);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_round_trip() {
        let mut buf = startup_message(&[("user", "alice"), ("database", "app")]);
        let packet = split_startup(&mut buf).unwrap().unwrap();
        assert_eq!(
            packet,
            StartupPacket::Startup {
                params: vec![
                    ("user".into(), "alice".into()),
                    ("database".into(), "app".into())
                ]
            }
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn cancel_and_garbage() {
        let mut buf = cancel_request(7, 9);
        assert_eq!(
            split_startup(&mut buf).unwrap(),
            Some(StartupPacket::Cancel { pid: 7, secret: 9 })
        );
        let mut garbage = BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]);
        assert!(split_startup(&mut garbage).is_err());
        let mut unterminated = BytesMut::from(&b"\0\0\0\x0c\0\x03\0\0user"[..]);
        assert_eq!(
            split_startup(&mut unterminated),
            Err(StartupError::Malformed)
        );
    }
}
