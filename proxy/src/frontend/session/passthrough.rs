//! The pass-through path: a client's messages that pgDog forwards unchanged to the server
//! it already holds, copied from the read buffer straight into the server's write buffer.
//!
//! Most of an unsharded, plugin-free workload is this: a server is checked out for the
//! first message of a transaction while it still lies in the buffer, and then it and the
//! rest of the batch (Parse, Bind, Describe, Execute, Sync, or a simple Query) only need to
//! be queued for their replies. Taking them here skips cutting each into a reference-counted `Message`
//! and the general dispatch. A Bind of a named statement the server already holds is
//! renamed here too (`pgbench -M prepared`'s every query). Anything this path does not
//! handle plainly (a statement to prepare first, comments pgDog reads, errors being
//! skipped, a retry being recorded) falls through to it.

use bytes::Buf;

use super::super::pending::Kind;
use super::Session;
use crate::wire::frontend::may_open_with;
use crate::wire::{begin, finish, frame_len};

impl Session {
    /// Forwards the plain messages at the front of the client's buffer, stopping at the
    /// first one that needs the general path (or is incomplete). `first` is what
    /// [`Session::checks_out_first`] found the front message to be, when it just looked:
    /// the message is not read twice.
    pub(super) fn pass_through(&mut self, first: Option<FirstMessage>) {
        let mut known = first.and_then(|f| f.0);
        if self.server.is_none() || self.skip_until_sync || self.replay.is_some() {
            return;
        }
        // What `on_client_message` does first for every message; here once for the run,
        // since a reloaded chain is only taken with nothing in flight.
        self.refresh_chain();
        if self.routed() || tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        // Borrowed out of the session (an empty buffer allocates nothing) so messages can
        // be read where they lie while the session's other buffers are written.
        let mut input = std::mem::take(&mut self.crbuf);
        let mut at = 0;
        // Plain messages in a row are copied to the server's buffer in one piece, when the
        // run ends: an extended-protocol batch is five messages.
        let mut run_from = 0;
        while !self.pending.is_skipping() {
            let frame = &input[at..];
            let Ok(Some(len)) = frame_len(frame) else {
                break;
            };
            let frame = &frame[..len];
            if let Some(kind) = known.take().or_else(|| plain_kind(frame)) {
                self.pending.forward(kind);
            } else {
                // The renamed Bind goes after the plain messages before it.
                self.sout.extend_from_slice(&input[run_from..at]);
                run_from = at;
                if !self.bind_prepared(&input[at..at + len]) {
                    break;
                }
                run_from = at + len;
            }
            at += len;
        }
        self.sout.extend_from_slice(&input[run_from..at]);
        if at > 0 {
            input.advance(at);
        }
        self.crbuf = input;
    }
}

/// The message at the front of the client's buffer needs a server checked out first; its
/// reply kind, when [`plain_kind`] already read it.
pub(super) struct FirstMessage(Option<Kind>);

impl Session {
    /// Whether the message at the front of the client's buffer needs a server and will
    /// then be handled by [`Session::pass_through`]: the first message of a transaction,
    /// checked out for before it is taken off the buffer, so that it too is forwarded in
    /// place. Messages pgDog answers without a server, or looks into, are left to the
    /// general path.
    pub(super) fn checks_out_first(&mut self) -> Option<FirstMessage> {
        if self.server.is_some()
            || self.skip_until_sync
            || self.replay.is_some()
            || self.pending.is_skipping()
        {
            return None;
        }
        self.refresh_chain();
        if self.routed() || tracing::enabled!(tracing::Level::DEBUG) {
            return None;
        }
        let Ok(Some(len)) = frame_len(&self.crbuf) else {
            return None;
        };
        // A Sync needs no server; the rest of `plain_kind`'s messages always check one out.
        // A named Bind does too (the general path prepares its statement if need be).
        let frame = &self.crbuf[..len];
        match frame[0] {
            b'S' => None,
            b'B' => Some(FirstMessage(None)),
            _ => plain_kind(frame).map(|kind| FirstMessage(Some(kind))),
        }
    }

    /// A Bind of a named statement the attached server already holds, renamed to the
    /// server's name of it and queued; false (nothing done) for anything else, which the
    /// general path then handles (preparing the statement first, or answering an error).
    fn bind_prepared(&mut self, frame: &[u8]) -> bool {
        if frame[0] != b'B' {
            return false;
        }
        let body = &frame[5..];
        let Some(portal_end) = body.iter().position(|&b| b == 0) else {
            return false;
        };
        let after_portal = &body[portal_end + 1..];
        let Some(name_end) = after_portal.iter().position(|&b| b == 0) else {
            return false;
        };
        if name_end == 0 {
            return false;
        }
        let Some(stmt) = self.statements.get_bytes(&after_portal[..name_end]) else {
            return false;
        };
        let server = self
            .server
            .as_deref()
            .expect("pass_through runs with a server");
        if !server.prepared.contains(stmt.id) {
            return false;
        }
        let at = begin(&mut self.sout, b'B');
        self.sout.extend_from_slice(&body[..=portal_end]);
        self.sout.extend_from_slice(stmt.server_name.as_bytes());
        self.sout.extend_from_slice(&[0]);
        self.sout.extend_from_slice(&after_portal[name_end + 1..]);
        finish(&mut self.sout, at);
        self.pending.forward(Kind::Bind);
        true
    }
}

/// The reply kind of a message the pass-through path may forward as it is, or `None` when
/// the general path must look at it.
fn plain_kind(frame: &[u8]) -> Option<Kind> {
    let body = &frame[5..];
    match frame[0] {
        b'E' => Some(Kind::Execute),
        // A simple query, unless it opens with a comment that could ask for pgdog_explain.
        b'Q' => (!may_open_with(body, &[b"/*"])).then_some(Kind::Query),
        b'S' => Some(Kind::Sync),
        // Bind: portal name, then the statement name; only the unnamed statement.
        b'B' => {
            let portal_end = body.iter().position(|&b| b == 0)?;
            (body.get(portal_end + 1) == Some(&0)).then_some(Kind::Bind)
        }
        // Describe of a portal, or of the unnamed statement.
        b'D' => match body {
            [b'P', .., 0] => Some(Kind::Describe),
            [b'S', 0] => Some(Kind::Describe),
            _ => None,
        },
        // The unnamed statement without a leading comment (which could be a pgdog_explain).
        // Only the start of the text is read: the server checks the rest of the framing.
        b'P' if body.first() == Some(&0) => {
            let opens_comment = may_open_with(&body[1..], &[b"/*", b"--"]);
            (!opens_comment).then_some(Kind::Parse(None))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn plain_messages_are_recognised() {
        assert_eq!(plain_kind(&frame(b'E', b"\0\0\0\0\0")), Some(Kind::Execute));
        assert_eq!(plain_kind(&frame(b'S', b"")), Some(Kind::Sync));
        assert_eq!(plain_kind(&frame(b'Q', b"SELECT 1\0")), Some(Kind::Query));
        assert_eq!(
            plain_kind(&frame(b'Q', b"SELECT 1 /* late */\0")),
            Some(Kind::Query)
        );
        assert_eq!(
            plain_kind(&frame(b'Q', b" /* pgdog_explain */ SELECT 1\0")),
            None
        );
        assert_eq!(
            plain_kind(&frame(b'B', b"\0\0\0\0\0\0\0\0")),
            Some(Kind::Bind)
        );
        assert_eq!(
            plain_kind(&frame(b'B', b"p1\0\0\0\0\0\0\0\0")),
            Some(Kind::Bind)
        );
        assert_eq!(plain_kind(&frame(b'D', b"P\0")), Some(Kind::Describe));
        assert_eq!(plain_kind(&frame(b'D', b"Pportal\0")), Some(Kind::Describe));
        assert_eq!(plain_kind(&frame(b'D', b"S\0")), Some(Kind::Describe));
        assert_eq!(
            plain_kind(&frame(b'P', b"\0SELECT 1\0\0\0")),
            Some(Kind::Parse(None))
        );
    }

    #[test]
    fn messages_the_session_must_read_are_left_to_it() {
        // Named statements are renamed to pgDog's server-wide names.
        assert_eq!(plain_kind(&frame(b'B', b"\0stmt\0\0\0\0\0\0\0")), None);
        assert_eq!(plain_kind(&frame(b'D', b"Sstmt\0")), None);
        assert_eq!(plain_kind(&frame(b'P', b"stmt\0SELECT 1\0\0\0")), None);
        // A leading comment may ask for pgdog_explain.
        assert_eq!(
            plain_kind(&frame(b'P', b"\0 /* pgdog_explain */ SELECT 1\0\0\0")),
            None
        );
        assert_eq!(plain_kind(&frame(b'P', b"\0-- hint\nSELECT 1\0\0\0")), None);
        assert_eq!(
            plain_kind(&frame(b'P', b"\0\x0B/* pgdog_explain */ SELECT 1\0\0\0")),
            None
        );
        // Close, Flush, simple queries, COPY data and Terminate have their own handling.
        for tag in [b'C', b'H', b'd', b'c', b'f', b'X', b'F'] {
            assert_eq!(plain_kind(&frame(tag, b"S\0")), None, "{}", tag as char);
        }
        // Malformed: no terminator where one must be.
        assert_eq!(plain_kind(&frame(b'B', b"portal")), None);
        assert_eq!(plain_kind(&frame(b'D', b"Pportal")), None);
        assert_eq!(plain_kind(&frame(b'D', b"X\0")), None);
    }
}
