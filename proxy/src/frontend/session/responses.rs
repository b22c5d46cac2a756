//! Merging the replies of several shards into one reply stream.
//!
//! Every shard runs the same statements, so their replies have the same shape: the session
//! reads them in step, one message per shard at a time, and sends the client one of each
//! (one RowDescription, one CommandComplete with the summed row count, one CopyOutResponse,
//! …). Only the rows between a RowDescription and its CommandComplete differ; those are
//! merged by [`crate::fanout::merge`]. An ErrorResponse from any shard goes to the client
//! and ends the merge: the other shards are read to their ReadyForQuery and their replies
//! dropped.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use super::fanout::{Leg, FLUSH_AT};
use super::{ClientError, Session};
use crate::backend::BackendError;
use crate::fanout::merge::{Merge, Plan};
use crate::fanout::rows::{parse_row, tag_count, with_count, Columns};
use crate::wire::{backend, ErrorResponse, Message, Reader};

/// How a fanned-out query ended.
pub(super) enum Outcome {
    /// Every shard reached ReadyForQuery; their statuses are on their servers.
    Done,
    /// Every shard is in copy-in mode, waiting for the client's rows.
    CopyIn,
    /// A shard's connection failed mid-query.
    Lost { shard: usize, error: BackendError },
}

/// A shard's connection failed: the fan index and the error.
type Lost = (usize, BackendError);

impl Session {
    /// Sends each leg its query and merges the replies.
    pub(super) async fn run_legs(
        &mut self,
        legs: &[Leg],
        how: Replies,
    ) -> Result<Outcome, ClientError> {
        let mut at = Vec::with_capacity(legs.len());
        for leg in legs {
            let index = self.fan_index(leg.shard);
            if let Err(err) = self.fan[index].1.stream.write_all(&leg.query).await {
                return Ok(Outcome::Lost {
                    shard: leg.shard,
                    error: err.into(),
                });
            }
            at.push(index);
        }
        self.merge_replies(&at, how).await
    }

    pub(super) fn fan_index(&self, shard: usize) -> usize {
        self.fan
            .iter()
            .position(|(s, _)| *s == shard)
            .expect("the fan holds every leg's shard")
    }

    /// Reads the replies of the fan servers at `at` in step and sends the client one
    /// merged stream, up to (not including) the final ReadyForQuery.
    pub(super) async fn merge_replies(
        &mut self,
        at: &[usize],
        how: Replies,
    ) -> Result<Outcome, ClientError> {
        // Until the merge ends, a client that leaves takes the servers down with it: their
        // protocol state is mid-statement.
        self.fan_busy = true;
        let result = self.merge_inner(at, how).await;
        if !matches!(result, Err(Step::Client(_))) {
            self.fan_busy = false;
        }
        match result {
            Ok(outcome) => Ok(outcome),
            Err(Step::Client(err)) => Err(err),
            Err(Step::Lost((index, error))) => Ok(Outcome::Lost {
                shard: self.fan[index].0,
                error,
            }),
        }
    }

    async fn merge_inner(&mut self, at: &[usize], how: Replies) -> Result<Outcome, Step> {
        let Replies {
            plan,
            skip_header,
            replicated,
            mut expect,
        } = how;
        let mut heads: Vec<Option<Message>> = vec![None; at.len()];
        loop {
            for (slot, &index) in heads.iter_mut().zip(at) {
                if slot.is_none() {
                    *slot = Some(self.next_reply(index).await?);
                }
            }
            let tags: Vec<u8> = heads
                .iter()
                .map(|h| h.as_ref().map_or(0, |m| m.tag()))
                .collect();
            if let Some(failed) = tags.iter().position(|t| *t == b'E') {
                let error = heads[failed].take().expect("read above");
                self.cout.extend_from_slice(error.bytes());
                self.drain(at, &mut heads).await?;
                return Ok(Outcome::Done);
            }
            let first = tags[0];
            if tags.iter().any(|t| *t != first) {
                ErrorResponse::error(
                    "XX000",
                    "shards answered the same statement differently; the results cannot be merged",
                )
                .encode(&mut self.cout);
                self.drain(at, &mut heads).await?;
                return Ok(Outcome::Done);
            }
            match first {
                b'Z' => {
                    for (head, &index) in heads.iter().zip(at) {
                        let status = head.as_ref().and_then(|m| m.body().first().copied());
                        self.fan[index].1.status = status.unwrap_or(b'I');
                    }
                    return Ok(Outcome::Done);
                }
                b'T' if expect.front() == Some(&Expect::DescribeStatement) => {
                    expect.pop_front();
                    self.cout
                        .extend_from_slice(heads[0].as_ref().expect("read").bytes());
                    heads.iter_mut().for_each(|h| *h = None);
                }
                b'T' => {
                    let visible = visible(&mut expect, true);
                    let plan = plan.clone().unwrap_or_default();
                    match self.rows(at, &mut heads, plan, replicated, visible).await? {
                        Some(sent) => {
                            // Every shard is now at its CommandComplete (or an error).
                            if heads
                                .iter()
                                .all(|h| h.as_ref().is_some_and(|m| m.tag() == b'C'))
                            {
                                let tag = command_tag(heads[0].as_ref().expect("read"));
                                backend::command_complete(&mut self.cout, &with_count(&tag, sent));
                                heads.iter_mut().for_each(|h| *h = None);
                            }
                        }
                        None => {
                            self.drain(at, &mut heads).await?;
                            return Ok(Outcome::Done);
                        }
                    }
                }
                b'C' => {
                    let tags: Vec<String> = heads
                        .iter()
                        .map(|h| command_tag(h.as_ref().expect("read")))
                        .collect();
                    let total: Option<u64> = tags.iter().map(|t| tag_count(t)).sum();
                    let tag = match total {
                        Some(total) if !replicated => with_count(&tags[0], total),
                        _ => tags[0].clone(),
                    };
                    backend::command_complete(&mut self.cout, &tag);
                    heads.iter_mut().for_each(|h| *h = None);
                }
                b'H' => {
                    self.cout
                        .extend_from_slice(heads[0].as_ref().expect("read").bytes());
                    self.copy_out(at, &mut heads, skip_header).await?;
                }
                b'n' | b'1' => {
                    if visible(&mut expect, first == b'n') {
                        self.cout
                            .extend_from_slice(heads[0].as_ref().expect("read").bytes());
                    }
                    heads.iter_mut().for_each(|h| *h = None);
                }
                b'G' => {
                    self.cout
                        .extend_from_slice(heads[0].as_ref().expect("read").bytes());
                    return Ok(Outcome::CopyIn);
                }
                _ => {
                    // ParseComplete, EmptyQueryResponse, NoData, …: the same from every
                    // shard, so the first one speaks for all.
                    self.cout
                        .extend_from_slice(heads[0].as_ref().expect("read").bytes());
                    heads.iter_mut().for_each(|h| *h = None);
                }
            }
            self.flush_if_large().await?;
        }
    }

    /// Merges one result set, starting at the RowDescriptions in `heads`. Leaves each
    /// shard's message after its rows in `heads`. `None`: an error went to the client.
    async fn rows(
        &mut self,
        at: &[usize],
        heads: &mut [Option<Message>],
        plan: Plan,
        replicated: bool,
        visible: bool,
    ) -> Result<Option<u64>, Step> {
        let columns: Vec<Option<Columns>> = heads
            .iter()
            .map(|h| h.as_ref().and_then(Columns::parse))
            .collect();
        let Some(Some(first)) = columns.first().cloned() else {
            ErrorResponse::error("08P01", "a shard sent an invalid RowDescription")
                .encode(&mut self.cout);
            return Ok(None);
        };
        if !columns
            .iter()
            .all(|c| c.as_ref().is_some_and(|c| c.same_shape(&first)))
        {
            ErrorResponse::error(
                "42804",
                "shards returned different columns for the same query",
            )
            .with_detail(
                "Every shard must have the same schema for the tables a cross-shard query reads.",
            )
            .encode(&mut self.cout);
            return Ok(None);
        }
        let mut merge = match Merge::new(plan, first) {
            Ok(merge) => merge,
            Err(err) => {
                err.encode(&mut self.cout);
                return Ok(None);
            }
        };
        if visible {
            merge.describe(&mut self.cout);
        }
        let width = merge.width();
        heads.iter_mut().for_each(|h| *h = None);
        if merge.aggregates() {
            for (slot, &index) in heads.iter_mut().zip(at) {
                loop {
                    let msg = self.next_reply(index).await?;
                    if msg.tag() != b'D' {
                        *slot = Some(msg);
                        break;
                    }
                    match parse_row(&msg).filter(|r| r.len() == width) {
                        Some(row) => merge.fold(row),
                        None => return Err(bad_row(index)),
                    }
                }
            }
            if heads
                .iter()
                .any(|h| h.as_ref().is_some_and(|m| m.tag() == b'E'))
            {
                return Ok(Some(0));
            }
            if let Err(err) = merge.finish(&mut self.cout) {
                err.encode(&mut self.cout);
                return Ok(None);
            }
            return Ok(Some(merge.sent()));
        }
        if !merge.sorted() {
            for (i, (slot, &index)) in heads.iter_mut().zip(at).enumerate() {
                loop {
                    let msg = self.next_reply(index).await?;
                    if msg.tag() != b'D' {
                        *slot = Some(msg);
                        break;
                    }
                    // A table copied on every shard: one shard's rows are all of them.
                    let copy_elsewhere = replicated && i > 0;
                    if !merge.full() && !copy_elsewhere {
                        let row = parse_row(&msg)
                            .filter(|r| r.len() == width)
                            .ok_or_else(|| bad_row(index))?;
                        merge.emit(&mut self.cout, &row, Some(msg.bytes()));
                        self.flush_if_large().await?;
                    }
                }
            }
            return Ok(Some(merge.sent()));
        }
        // k-way merge: each shard's current row; the smallest goes out next.
        let mut current: Vec<Option<(Vec<Option<Bytes>>, Message)>> = vec![None; at.len()];
        for i in 0..at.len() {
            current[i] = self.next_row(at[i], &mut heads[i], width).await?;
        }
        loop {
            let mut best: Option<usize> = None;
            for (i, row) in current.iter().enumerate() {
                let Some((row, _)) = row else { continue };
                best = match best {
                    Some(b)
                        if merge
                            .compare(row, &current[b].as_ref().expect("set").0)
                            .is_lt() =>
                    {
                        Some(i)
                    }
                    Some(b) => Some(b),
                    None => Some(i),
                };
            }
            let Some(best) = best else { break };
            let (row, msg) = current[best].take().expect("chosen");
            merge.emit(&mut self.cout, &row, Some(msg.bytes()));
            self.flush_if_large().await?;
            current[best] = self.next_row(at[best], &mut heads[best], width).await?;
        }
        Ok(Some(merge.sent()))
    }

    /// The next DataRow of a shard, or `None` once its rows end (the message that ended
    /// them goes to `head`).
    async fn next_row(
        &mut self,
        index: usize,
        head: &mut Option<Message>,
        width: usize,
    ) -> Result<Option<(Vec<Option<Bytes>>, Message)>, Step> {
        let msg = self.next_reply(index).await?;
        if msg.tag() != b'D' {
            *head = Some(msg);
            return Ok(None);
        }
        let row = parse_row(&msg)
            .filter(|r| r.len() == width)
            .ok_or_else(|| bad_row(index))?;
        Ok(Some((row, msg)))
    }

    /// Forwards each shard's COPY data in turn, then one CopyDone.
    async fn copy_out(
        &mut self,
        at: &[usize],
        heads: &mut [Option<Message>],
        skip_header: bool,
    ) -> Result<(), Step> {
        for (i, (slot, &index)) in heads.iter_mut().zip(at).enumerate() {
            let mut first_line = true;
            loop {
                let msg = self.next_reply(index).await?;
                if msg.tag() != b'd' {
                    *slot = if msg.tag() == b'c' { None } else { Some(msg) };
                    break;
                }
                if !(skip_header && first_line && i > 0) {
                    self.cout.extend_from_slice(msg.bytes());
                    self.flush_if_large().await?;
                }
                first_line = false;
            }
            if slot.is_some() {
                // An error mid-COPY: the merge loop reports it.
                return Ok(());
            }
        }
        self.cout.extend_from_slice(b"c\0\0\0\x04");
        Ok(())
    }

    /// Reads every shard up to its ReadyForQuery, dropping what it says.
    async fn drain(&mut self, at: &[usize], heads: &mut [Option<Message>]) -> Result<(), Step> {
        for (slot, &index) in heads.iter_mut().zip(at) {
            let mut msg = match slot.take() {
                Some(msg) => msg,
                None => self.next_reply(index).await?,
            };
            while msg.tag() != b'Z' {
                if msg.tag() == b'G' {
                    // This shard waits for COPY data the merge will never send: end it.
                    let server = &mut self.fan[index].1;
                    server
                        .stream
                        .write_all(b"f\0\0\0\x05\0")
                        .await
                        .map_err(|e| Step::Lost((index, e.into())))?;
                }
                msg = self.next_reply(index).await?;
            }
            self.fan[index].1.status = msg.body().first().copied().unwrap_or(b'I');
        }
        Ok(())
    }

    /// The next reply of the fan server at `index` that belongs to the statement: notices
    /// and notifications go straight to the client, parameter changes are noted.
    async fn next_reply(&mut self, index: usize) -> Result<Message, Step> {
        loop {
            let server = &mut self.fan[index].1;
            let msg = server
                .read_message()
                .await
                .map_err(|e| Step::Lost((index, e)))?;
            match msg.tag() {
                b'N' | b'A' => self.cout.extend_from_slice(msg.bytes()),
                b'S' => {
                    server.note_parameter(msg.body());
                    if index == 0 {
                        if let Some((name, value)) = backend::decode_parameter_status(msg.body()) {
                            if super::super::params::is_tracked(name) {
                                self.params.set(name, value);
                            }
                        }
                        self.cout.extend_from_slice(msg.bytes());
                    }
                }
                _ => return Ok(msg),
            }
        }
    }

    async fn flush_if_large(&mut self) -> Result<(), Step> {
        if self.cout.len() >= FLUSH_AT {
            let out: BytesMut = self.cout.split();
            self.client
                .write_all(&out)
                .await
                .map_err(|e| Step::Client(ClientError::Io(e)))?;
        }
        Ok(())
    }
}

/// How to merge the replies of one fanned-out query.
#[derive(Default)]
pub(super) struct Replies {
    /// How to merge result rows (SELECT across shards); `None`: concatenate them.
    pub plan: Option<Plan>,
    /// A CSV COPY TO with HEADER: only the first shard's header line is kept.
    pub skip_header: bool,
    /// The statement writes a table copied on every shard: row counts and returned rows
    /// come from one shard, not their sum.
    pub replicated: bool,
    /// For each Parse and Describe sent (extended protocol), whether the client asked for
    /// it; the others were added by pgDog (a rewritten statement, the columns of an
    /// Execute) and their replies stay hidden.
    pub expect: VecDeque<Expect>,
}

/// A reply-bearing message of an extended-protocol batch, in the order sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    Parse {
        visible: bool,
    },
    /// A Describe of a portal: its RowDescription describes the rows of an Execute.
    Describe {
        visible: bool,
    },
    /// A Describe of a statement (always the client's): its RowDescription is sent as
    /// the first shard sent it, with the statement's own columns.
    DescribeStatement,
}

/// Whether the next reply of this kind goes to the client (everything not listed does).
fn visible(expect: &mut VecDeque<Expect>, describe: bool) -> bool {
    match expect.front().copied() {
        Some(Expect::Parse { visible }) if !describe => {
            expect.pop_front();
            visible
        }
        Some(Expect::Describe { visible }) if describe => {
            expect.pop_front();
            visible
        }
        Some(Expect::DescribeStatement) if describe => {
            expect.pop_front();
            true
        }
        _ => true,
    }
}

/// Why the merge stopped early.
enum Step {
    Client(ClientError),
    Lost(Lost),
}

impl From<Lost> for Step {
    fn from(lost: Lost) -> Step {
        Step::Lost(lost)
    }
}

fn bad_row(index: usize) -> Step {
    Step::Lost((
        index,
        BackendError::Protocol("malformed DataRow".to_string()),
    ))
}

fn command_tag(msg: &Message) -> String {
    Reader::new(msg.body())
        .cstr()
        .unwrap_or_default()
        .to_string()
}
