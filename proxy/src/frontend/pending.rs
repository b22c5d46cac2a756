//! The responses a session still expects from its server, in order.
//!
//! The proxy does not always send the server what the client sent: a Parse for a statement
//! the server already holds is answered by pgDog itself, a Bind on a server that lacks its
//! statement gets a Parse injected before it, and parameter changes are replayed by a hidden
//! query. This queue keeps one entry per message sent (or answered locally) so that every
//! server response is forwarded or swallowed correctly and every local answer is written to
//! the client at exactly the place PostgreSQL would have written it.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// What a message sent to the server was, which decides the response that completes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Parse; the id is the proxy-wide statement it prepares, if named.
    Parse(Option<u64>),
    Bind,
    Describe,
    Execute,
    Close,
    Sync,
    /// A simple Query: ends at ReadyForQuery.
    Query,
}

impl Kind {
    fn ends_with(self, tag: u8) -> bool {
        match self {
            Kind::Parse(_) => tag == b'1',
            Kind::Bind => tag == b'2',
            Kind::Close => tag == b'3',
            Kind::Describe => tag == b'T' || tag == b'n',
            Kind::Execute => matches!(tag, b'C' | b'I' | b's'),
            Kind::Sync | Kind::Query => tag == b'Z',
        }
    }

    /// Extended-protocol messages are skipped by the server after an error until Sync.
    fn skipped_after_error(self) -> bool {
        !matches!(self, Kind::Sync | Kind::Query)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// The client sent it; its responses go to the client.
    Forward(Kind),
    /// pgDog sent it on its own; its responses are swallowed (errors of an injected Parse
    /// or Close still reach the client, which would otherwise wait for a reply that the
    /// server, now skipping to Sync, never sends).
    Swallow(Kind),
    /// pgDog answers it without the server (with these bytes).
    Local(Bytes),
    /// The client ended a COPY FROM STDIN (CopyDone or CopyFail). No reply of its own; it
    /// marks where the server left copy-in mode.
    CopyEnd,
}

/// What the server did with the named Parses it was sent.
#[derive(Debug, Default)]
pub struct ParseResults {
    /// Prepared: the server holds these now.
    pub done: Vec<u64>,
    /// Failed, or skipped after an earlier error: the server does not hold these.
    pub failed: Vec<u64>,
}

impl ParseResults {
    pub fn is_empty(&self) -> bool {
        self.done.is_empty() && self.failed.is_empty()
    }
}

/// Whether a server message goes to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Forward,
    Swallow,
}

/// An [`Entry`] as queued: a local answer's bytes wait in [`Pending::locals`] instead, so
/// that the queue holds plain values and empties without visiting its entries (settling a
/// batch cleared it entry by entry before: about 60 instructions per `-M prepared`
/// transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Forward(Kind),
    Swallow(Kind),
    /// The front of `locals` when it reaches the front of the queue.
    Local,
    CopyEnd,
}

#[derive(Debug, Default)]
pub struct Pending {
    queue: VecDeque<Slot>,
    /// The bytes of the queue's `Local` slots, in the same order.
    locals: VecDeque<Bytes>,
    /// The server reported an error and no Sync is queued yet: it ignores everything until
    /// the client's next Sync, so nothing else is expected.
    skipping: bool,
    /// The server is in copy-in mode and the client has not ended it yet. PostgreSQL
    /// ignores Sync in copy-in mode, so no ReadyForQuery will answer one sent now.
    copy_in: bool,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Nothing is in flight and the server is not waiting for anything from the client:
    /// the only state in which its connection can serve someone else. An empty queue is
    /// not enough: after an error the server still waits for the client's Sync.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && !self.skipping && !self.copy_in
    }

    /// True while the server discards extended-protocol messages after an error.
    pub fn is_skipping(&self) -> bool {
        self.skipping
    }

    /// [`Pending::push`] of `Entry::Forward(kind)`, the entry of nearly every message on
    /// the pass-through path: inlined, and only the first test when nothing is being
    /// skipped or copied in.
    #[inline]
    pub fn forward(&mut self, kind: Kind) {
        if self.skipping || self.copy_in {
            if kind == Kind::Sync {
                // PostgreSQL ignores a Sync in copy-in mode; otherwise it ends the skipping.
                if self.copy_in {
                    return;
                }
                self.skipping = false;
            } else if self.skipping {
                return;
            }
        }
        self.queue.push_back(Slot::Forward(kind));
    }

    pub fn push(&mut self, entry: Entry, client_out: &mut BytesMut) {
        match entry {
            // One rule for the client's own messages, whichever way they are queued.
            Entry::Forward(kind) => return self.forward(kind),
            Entry::CopyEnd => self.copy_in = false,
            _ => {}
        }
        if self.skipping {
            match entry {
                Entry::Swallow(Kind::Sync) => self.skipping = false,
                // Everything else, a simple Query included, is read and dropped by the
                // server until Sync: no reply will come for it.
                _ => return,
            }
        }
        let local = matches!(entry, Entry::Local(_) | Entry::CopyEnd);
        self.enqueue(entry);
        if local {
            // Only a local answer can become answerable by being pushed: one already at
            // the front was answered when it got there.
            self.answer_locally(client_out);
        }
    }

    /// Appends `entry` as it is, its bytes to `locals` if it is a local answer.
    fn enqueue(&mut self, entry: Entry) {
        self.queue.push_back(match entry {
            Entry::Forward(kind) => Slot::Forward(kind),
            Entry::Swallow(kind) => Slot::Swallow(kind),
            Entry::Local(bytes) => {
                self.locals.push_back(bytes);
                Slot::Local
            }
            Entry::CopyEnd => Slot::CopyEnd,
        });
    }

    /// Takes one whole server message, writes it to `client_out` unless it is swallowed,
    /// followed by any local answers that were waiting for it, and says where it went.
    /// What became of named Parses is recorded in `parses`.
    pub fn on_server(
        &mut self,
        message: &[u8],
        client_out: &mut BytesMut,
        parses: &mut ParseResults,
    ) -> Delivery {
        let tag = message.first().copied().unwrap_or(0);
        let Some(front) = self.queue.front() else {
            client_out.extend_from_slice(message);
            return Delivery::Forward;
        };
        let (kind, swallow) = match *front {
            Slot::Forward(kind) => (kind, false),
            Slot::Swallow(kind) => (kind, true),
            Slot::Local | Slot::CopyEnd => {
                unreachable!("local answers never wait at the front")
            }
        };
        if tag == b'G' {
            self.enter_copy_in();
        }
        let delivery = if tag == b'E' {
            if swallow && kind == Kind::Query {
                Delivery::Swallow
            } else {
                Delivery::Forward
            }
        } else if swallow {
            Delivery::Swallow
        } else {
            Delivery::Forward
        };

        if tag == b'E' && kind.skipped_after_error() {
            while let Some(slot) = self.queue.front() {
                match *slot {
                    Slot::Forward(Kind::Sync) | Slot::Swallow(Kind::Sync) => break,
                    Slot::Forward(Kind::Parse(Some(id))) | Slot::Swallow(Kind::Parse(Some(id))) => {
                        parses.failed.push(id)
                    }
                    _ => {}
                }
                self.pop_front();
            }
            self.skipping = self.queue.is_empty();
        } else if tag == b'Z' {
            // ReadyForQuery ends everything up to the Sync or Query that asked for it.
            while let Some(slot) = self.pop_front() {
                if matches!(
                    slot,
                    Slot::Forward(Kind::Sync | Kind::Query)
                        | Slot::Swallow(Kind::Sync | Kind::Query)
                ) {
                    break;
                }
            }
        } else if kind.ends_with(tag) {
            if let Kind::Parse(Some(id)) = kind {
                parses.done.push(id);
            }
            self.queue.pop_front();
        }
        if delivery == Delivery::Forward {
            client_out.extend_from_slice(message);
        }
        self.answer_locally(client_out);
        delivery
    }

    /// Settles the whole queue at once for a reply holding `ready` ReadyForQuery messages
    /// and nothing that needs a decision (no error, no COPY, see
    /// [`crate::wire::backend::plain_reply`]), if every entry is the client's own and the
    /// last of them is the Sync or Query that reply answers. The caller then forwards the
    /// reply as it is. False, with nothing changed, when the message-by-message path must
    /// decide instead.
    pub fn settle_plain(&mut self, ready: usize, parses: &mut ParseResults) -> bool {
        if self.skipping || self.copy_in {
            return false;
        }
        // The queue as its two slices: iterating a VecDeque directly costs more.
        let (head, tail) = self.queue.as_slices();
        let (Some(head_scan), Some(tail_scan)) = (scan_plain(head), scan_plain(tail)) else {
            return false;
        };
        let ends_with_sync = matches!(
            self.queue.back(),
            Some(Slot::Forward(Kind::Sync | Kind::Query))
        );
        if head_scan.syncs + tail_scan.syncs != ready || !ends_with_sync {
            return false;
        }
        // No error came back, so every named Parse in the batch succeeded.
        if head_scan.named_parses || tail_scan.named_parses {
            for slot in head.iter().chain(tail) {
                if let Slot::Forward(Kind::Parse(Some(id))) = *slot {
                    parses.done.push(id);
                }
            }
        }
        // Slots own nothing, so this only resets the queue's ends.
        self.queue.clear();
        true
    }

    /// Writes local answers that have reached the front: everything before them is done.
    fn answer_locally(&mut self, client_out: &mut BytesMut) {
        loop {
            match self.queue.front() {
                Some(Slot::Local) => {
                    if let Some(bytes) = self.locals.front() {
                        client_out.extend_from_slice(bytes);
                    }
                }
                Some(Slot::CopyEnd) => {}
                _ => break,
            }
            self.pop_front();
        }
    }

    /// Removes the front slot, with its bytes if it is a local answer.
    fn pop_front(&mut self) -> Option<Slot> {
        let slot = self.queue.pop_front();
        if slot == Some(Slot::Local) {
            self.locals.pop_front();
        }
        slot
    }

    /// CopyInResponse: Syncs the client sent after the COPY and before ending it were
    /// ignored by the server (clients such as libpq and tokio-postgres send one right after
    /// Execute), so they must not wait for a ReadyForQuery.
    fn enter_copy_in(&mut self) {
        let mut i = 1;
        let mut ended = false;
        while i < self.queue.len() {
            match self.queue[i] {
                Slot::CopyEnd => {
                    ended = true;
                    break;
                }
                Slot::Forward(Kind::Sync) => {
                    self.queue.remove(i);
                }
                _ => i += 1,
            }
        }
        self.copy_in = !ended;
    }

    /// Forgets everything, e.g. when the server connection is lost.
    pub fn clear(&mut self) {
        self.queue.clear();
        self.locals.clear();
        self.skipping = false;
        self.copy_in = false;
    }
}

/// What [`Pending::settle_plain`] needs to know of a run of entries.
struct PlainScan {
    /// Entries a ReadyForQuery answers.
    syncs: usize,
    named_parses: bool,
}

/// `None` when an entry is not the client's own message (a swallowed reply must be cut out
/// and a local answer placed between replies, so the reply cannot go out whole).
fn scan_plain(entries: &[Slot]) -> Option<PlainScan> {
    let mut scan = PlainScan {
        syncs: 0,
        named_parses: false,
    };
    for entry in entries {
        match entry {
            Slot::Forward(Kind::Sync | Kind::Query) => scan.syncs += 1,
            Slot::Forward(Kind::Parse(Some(_))) => scan.named_parses = true,
            Slot::Forward(_) => {}
            Slot::Swallow(_) | Slot::Local | Slot::CopyEnd => return None,
        }
    }
    Some(scan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::backend::PARSE_COMPLETE;

    fn feed(p: &mut Pending, tags: &[u8], out: &mut BytesMut) -> Vec<(u8, Delivery)> {
        let mut unprepared = ParseResults::default();
        tags.iter()
            .map(|&t| (t, p.on_server(&[t], out, &mut unprepared)))
            .collect()
    }

    #[test]
    fn settle_plain_takes_a_batch_of_forwarded_messages_whole() {
        let mut p = Pending::default();
        let mut out = BytesMut::new();
        for kind in [
            Kind::Parse(Some(7)),
            Kind::Bind,
            Kind::Execute,
            Kind::Sync,
            Kind::Query,
        ] {
            p.push(Entry::Forward(kind), &mut out);
        }
        let mut parses = ParseResults::default();
        assert!(
            !p.settle_plain(1, &mut parses),
            "two ReadyForQuery are owed"
        );
        assert!(!p.is_idle());
        assert!(p.settle_plain(2, &mut parses));
        assert!(p.is_idle());
        assert_eq!(parses.done, vec![7]);
        assert!(out.is_empty());
    }

    #[test]
    fn settle_plain_refuses_what_needs_the_slow_path() {
        let mut out = BytesMut::new();
        let mut parses = ParseResults::default();
        let cases: [&[Entry]; 4] = [
            &[
                Entry::Swallow(Kind::Parse(Some(1))),
                Entry::Forward(Kind::Sync),
            ],
            &[
                Entry::Forward(Kind::Sync),
                Entry::Local(Bytes::from_static(PARSE_COMPLETE)),
            ],
            // The client has not sent its Sync yet: the batch is not over.
            &[Entry::Forward(Kind::Sync), Entry::Forward(Kind::Bind)],
            &[Entry::CopyEnd, Entry::Forward(Kind::Sync)],
        ];
        for entries in cases {
            let mut p = Pending::default();
            for entry in entries {
                p.enqueue(entry.clone());
            }
            let before = p.queue.len();
            assert!(!p.settle_plain(1, &mut parses), "{entries:?}");
            assert_eq!(p.queue.len(), before);
        }
        let mut p = Pending::default();
        p.push(Entry::Forward(Kind::Sync), &mut out);
        p.skipping = true;
        assert!(!p.settle_plain(1, &mut parses));
        assert!(parses.is_empty());
    }

    #[test]
    fn local_parse_complete_lands_before_bind_complete() {
        let mut p = Pending::default();
        let mut out = BytesMut::new();
        p.push(Entry::Forward(Kind::Execute), &mut out);
        p.push(Entry::Local(Bytes::from_static(PARSE_COMPLETE)), &mut out);
        p.push(Entry::Forward(Kind::Bind), &mut out);
        p.push(Entry::Forward(Kind::Sync), &mut out);
        assert!(out.is_empty(), "the Execute before it is not done yet");
        feed(&mut p, b"D", &mut out);
        assert_eq!(&out[..], b"D");
        feed(&mut p, b"C", &mut out);
        assert_eq!(
            &out[..],
            b"DC1\0\0\0\x04",
            "ParseComplete right after Execute's end"
        );
        let d = feed(&mut p, b"2Z", &mut out);
        assert!(d.iter().all(|(_, d)| *d == Delivery::Forward));
        assert!(p.is_empty());
    }

    #[test]
    fn local_answer_with_nothing_pending_is_immediate() {
        let mut p = Pending::default();
        let mut out = BytesMut::new();
        p.push(Entry::Local(Bytes::from_static(PARSE_COMPLETE)), &mut out);
        assert_eq!(&out[..], PARSE_COMPLETE);
        assert!(p.is_empty());
    }

    #[test]
    fn injected_parse_is_swallowed() {
        let mut p = Pending::default();
        let mut out = BytesMut::new();
        p.push(Entry::Swallow(Kind::Parse(Some(1))), &mut out);
        p.push(Entry::Forward(Kind::Bind), &mut out);
        p.push(Entry::Forward(Kind::Execute), &mut out);
        p.push(Entry::Forward(Kind::Sync), &mut out);
        let d = feed(&mut p, b"12DCZ", &mut out);
        assert_eq!(d[0].1, Delivery::Swallow);
        assert!(d[1..].iter().all(|(_, d)| *d == Delivery::Forward));
        assert!(p.is_empty());
    }

    #[test]
    fn error_skips_to_sync_and_drops_local_answers_after_it() {
        let mut p = Pending::default();
        let mut out = BytesMut::new();
        let mut unprepared = ParseResults::default();
        p.push(Entry::Forward(Kind::Bind), &mut out);
        p.push(Entry::Forward(Kind::Parse(Some(9))), &mut out);
        p.push(Entry::Local(Bytes::from_static(PARSE_COMPLETE)), &mut out);
        p.push(Entry::Forward(Kind::Execute), &mut out);
        p.push(Entry::Forward(Kind::Sync), &mut out);
        assert_eq!(
            p.on_server(b"E", &mut out, &mut unprepared),
            Delivery::Forward
        );
        assert_eq!(unprepared.failed, vec![9]);
        assert_eq!(
            &out[..],
            b"E",
            "PostgreSQL would not have answered after the error"
        );
        p.on_server(b"Z", &mut out, &mut unprepared);
        assert!(p.is_empty());
        // The dropped answer's bytes went with it: the next local answer is its own.
        p.push(
            Entry::Local(Bytes::from_static(crate::wire::backend::CLOSE_COMPLETE)),
            &mut out,
        );
        assert_eq!(
            &out[2..],
            crate::wire::backend::CLOSE_COMPLETE,
            "after E and Z"
        );
    }

    #[test]
    fn error_before_sync_arrives_skips_later_messages() {
        let mut p = Pending::default();
        let mut out = BytesMut::new();
        let mut unprepared = ParseResults::default();
        p.push(Entry::Forward(Kind::Parse(None)), &mut out);
        p.on_server(b"E", &mut out, &mut unprepared);
        assert!(p.is_skipping());
        assert!(!p.is_idle(), "the server still waits for Sync");
        p.push(Entry::Forward(Kind::Bind), &mut out);
        p.push(Entry::Local(Bytes::from_static(PARSE_COMPLETE)), &mut out);
        assert_eq!(&out[..], b"E");
        p.push(Entry::Forward(Kind::Sync), &mut out);
        assert!(!p.is_skipping());
        p.on_server(b"Z", &mut out, &mut unprepared);
        assert!(p.is_empty());
    }

    #[test]
    fn a_query_sent_while_the_server_skips_to_sync_expects_no_reply() {
        let mut p = Pending::default();
        let mut out = BytesMut::new();
        let mut unprepared = ParseResults::default();
        for kind in [Kind::Parse(None), Kind::Bind, Kind::Execute] {
            p.push(Entry::Forward(kind), &mut out);
        }
        p.on_server(b"E", &mut out, &mut unprepared);
        assert!(p.is_skipping());
        // PostgreSQL ignores a Query until Sync too; only the Sync's ReadyForQuery comes.
        p.push(Entry::Forward(Kind::Query), &mut out);
        p.push(Entry::Forward(Kind::Sync), &mut out);
        p.on_server(b"Z", &mut out, &mut unprepared);
        assert!(p.is_idle(), "the server can go back to the pool");
        assert_eq!(&out[..], b"EZ");
    }

    /// The client's own messages follow PostgreSQL: after an error everything but Sync is
    /// dropped until Sync, and in copy-in mode a Sync is ignored; queued through `push` or
    /// through the pass-through path's `forward` alike.
    #[test]
    fn forwarded_messages_follow_skipping_and_copy_in() {
        let kinds = [
            Kind::Parse(None),
            Kind::Bind,
            Kind::Describe,
            Kind::Execute,
            Kind::Close,
            Kind::Sync,
            Kind::Query,
        ];
        for (skipping, copy_in) in [(false, false), (true, false), (false, true), (true, true)] {
            for kind in kinds {
                let start = || Pending {
                    queue: VecDeque::from([Slot::Forward(Kind::Execute)]),
                    locals: VecDeque::new(),
                    skipping,
                    copy_in,
                };
                let sync = kind == Kind::Sync;
                let queued = if sync { !copy_in } else { !skipping };
                // Only a Sync the server reads (not in copy-in mode) ends the skipping.
                let still_skipping = skipping && (!sync || copy_in);
                let (mut pushed, mut forwarded) = (start(), start());
                let mut out = BytesMut::new();
                pushed.push(Entry::Forward(kind), &mut out);
                forwarded.forward(kind);
                for p in [&pushed, &forwarded] {
                    let what = format!("{kind:?} with skipping={skipping} copy_in={copy_in}");
                    assert_eq!(p.queue.len(), 1 + usize::from(queued), "{what}");
                    if queued {
                        assert_eq!(p.queue.back(), Some(&Slot::Forward(kind)), "{what}");
                    }
                    assert_eq!(p.skipping, still_skipping, "{what}");
                    assert_eq!(p.copy_in, copy_in, "{what}");
                }
                assert!(out.is_empty());
            }
        }
    }

    #[test]
    fn sync_sent_during_copy_in_expects_no_reply() {
        let mut p = Pending::default();
        let mut out = BytesMut::new();
        p.push(Entry::Forward(Kind::Bind), &mut out);
        p.push(Entry::Forward(Kind::Execute), &mut out);
        p.push(Entry::Forward(Kind::Sync), &mut out);
        feed(&mut p, b"2G", &mut out);
        p.push(Entry::CopyEnd, &mut out);
        p.push(Entry::Forward(Kind::Sync), &mut out);
        feed(&mut p, b"CZ", &mut out);
        assert!(p.is_empty(), "one ReadyForQuery answers the whole COPY");
        p.push(
            Entry::Local(Bytes::from_static(crate::wire::backend::CLOSE_COMPLETE)),
            &mut out,
        );
        assert!(out.ends_with(crate::wire::backend::CLOSE_COMPLETE));
    }

    #[test]
    fn hidden_query_errors_are_swallowed_but_simple_query_errors_are_not() {
        let mut p = Pending::default();
        let mut out = BytesMut::new();
        p.push(Entry::Swallow(Kind::Query), &mut out);
        p.push(Entry::Forward(Kind::Query), &mut out);
        let d = feed(&mut p, b"ECZECZ", &mut out);
        assert_eq!(d[0].1, Delivery::Swallow);
        assert_eq!(d[2].1, Delivery::Swallow);
        assert_eq!(d[3].1, Delivery::Forward);
        assert_eq!(d[5].1, Delivery::Forward);
    }
}
