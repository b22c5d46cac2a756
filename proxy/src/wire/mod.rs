//! PostgreSQL v3 wire protocol: framing and the few messages the proxy must look inside.
//!
//! There is no I/O here. Bytes come in from a socket buffer, complete frames come out as
//! [`Message`]s that keep the exact bytes they arrived in, so forwarding never re-encodes.
//! Encoders are free functions that append to a caller's `BytesMut`.

pub mod backend;
pub mod error;
pub mod frontend;
pub mod startup;

use bytes::{Buf, Bytes, BytesMut};

pub use error::ErrorResponse;

/// The largest message pgDog accepts from either side. PostgreSQL itself caps a field at
/// 1 GB; anything larger is corrupt framing, not data, and would exhaust memory.
pub const MAX_MESSAGE_LEN: usize = 1 << 30;

/// The most a partial message makes the read buffer grow by at once.
const RESERVE_CHUNK: usize = 64 * 1024;

/// A framing error: the peer sent bytes that cannot be a PostgreSQL message.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("invalid message length {0}")]
    BadLength(i64),
}

/// One complete tagged message, as the exact bytes it arrived in (tag and length included).
#[derive(Clone, Debug)]
pub struct Message {
    bytes: Bytes,
}

impl Message {
    /// Wraps bytes that are already a full frame (tag + length + body).
    pub fn from_frame(bytes: Bytes) -> Self {
        debug_assert!(bytes.len() >= 5);
        Message { bytes }
    }

    pub fn tag(&self) -> u8 {
        self.bytes[0]
    }

    /// The body after the tag and length.
    pub fn body(&self) -> &[u8] {
        &self.bytes[5..]
    }

    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.len() <= 5
    }
}

/// Splits one complete tagged message off the front of `buf`.
///
/// Only the five header bytes are inspected until the whole frame is buffered, so a message
/// arriving in many small reads costs almost nothing until it is complete.
pub fn split_message(buf: &mut BytesMut) -> Result<Option<Message>, FrameError> {
    match frame_len(buf)? {
        Some(total) => Ok(Some(Message::from_frame(buf.split_to(total).freeze()))),
        None => {
            reserve_partial(buf);
            Ok(None)
        }
    }
}

/// The length of the complete message at the front of `buf` (tag and length included), or
/// `None` while it is still arriving. Reads the five header bytes only.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, FrameError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if len < 4 || len as usize > MAX_MESSAGE_LEN {
        return Err(FrameError::BadLength(len as i64));
    }
    let total = len as usize + 1;
    Ok((buf.len() >= total).then_some(total))
}

/// Makes room for the rest of the partial message at the front of `buf`.
pub fn reserve_partial(buf: &mut BytesMut) {
    if buf.len() < 5 {
        return;
    }
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    let total = (len.max(4) as usize).min(MAX_MESSAGE_LEN) + 1;
    if buf.len() < total {
        // Grow toward the announced size a chunk at a time: a peer claiming a 1 GB message
        // must send it before pgDog holds that much memory for it.
        buf.reserve((total - buf.len()).min(RESERVE_CHUNK));
    }
}

/// Starts a tagged message in `out` and returns the offset of its length field, to be
/// filled in by [`finish`] once the body is written.
pub fn begin(out: &mut BytesMut, tag: u8) -> usize {
    out.extend_from_slice(&[tag, 0, 0, 0, 0]);
    out.len() - 4
}

/// Writes the length of a message started with [`begin`].
pub fn finish(out: &mut BytesMut, at: usize) {
    let len = (out.len() - at) as i32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Appends a NUL-terminated string.
pub fn put_cstr(out: &mut BytesMut, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(&[0]);
}

/// A cursor over a message body that never panics on short or malformed input.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn remaining(&self) -> &'a [u8] {
        self.buf
    }

    pub fn cstr(&mut self) -> Option<&'a str> {
        // `CStr` finds the NUL a word at a time, not a byte at a time.
        let bytes = std::ffi::CStr::from_bytes_until_nul(self.buf)
            .ok()?
            .to_bytes();
        let end = bytes.len();
        // Names and query texts are nearly always ASCII, and checking for that inline
        // costs a fraction of a call to the general UTF-8 check (a Bind's names are read
        // several times per execution).
        let s = if bytes.is_ascii() {
            // SAFETY: ASCII is valid UTF-8.
            unsafe { std::str::from_utf8_unchecked(bytes) }
        } else {
            std::str::from_utf8(bytes).ok()?
        };
        self.buf = &self.buf[end + 1..];
        Some(s)
    }

    pub fn i32(&mut self) -> Option<i32> {
        if self.buf.len() < 4 {
            return None;
        }
        let v = (&self.buf[..4]).get_i32();
        self.buf = &self.buf[4..];
        Some(v)
    }

    pub fn i16(&mut self) -> Option<i16> {
        if self.buf.len() < 2 {
            return None;
        }
        let v = (&self.buf[..2]).get_i16();
        self.buf = &self.buf[2..];
        Some(v)
    }

    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }

    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.buf.len() < n {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_frames_wait_for_more_bytes() {
        let mut buf = BytesMut::from(&b"Q\0\0\0\x0dSELECT"[..]);
        assert!(split_message(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b" 1\0Z");
        let msg = split_message(&mut buf).unwrap().unwrap();
        assert_eq!(msg.tag(), b'Q');
        assert_eq!(msg.body(), b"SELECT 1\0");
        assert_eq!(&buf[..], b"Z");
    }

    #[test]
    fn negative_and_huge_lengths_are_errors() {
        let mut buf = BytesMut::from(&b"Q\xff\xff\xff\xff"[..]);
        assert!(split_message(&mut buf).is_err());
        let mut buf = BytesMut::from(&b"Q\0\0\0\x02"[..]);
        assert!(split_message(&mut buf).is_err());
    }

    #[test]
    fn reader_never_panics_on_short_input() {
        let mut r = Reader::new(b"ab");
        assert!(r.cstr().is_none());
        assert!(r.i32().is_none());
        assert_eq!(r.i16(), Some(0x6162));
        assert!(r.u8().is_none());
    }

    #[test]
    fn strings_are_read_as_utf8_and_refused_when_not() {
        let mut r = Reader::new("P_1\0SELECT 'ünï'\0\0".as_bytes());
        assert_eq!(r.cstr(), Some("P_1"));
        assert_eq!(r.cstr(), Some("SELECT 'ünï'"));
        assert_eq!(r.cstr(), Some(""));
        assert!(
            Reader::new(b"caf\xe9\0").cstr().is_none(),
            "Latin-1 is not UTF-8"
        );
    }
}
