//! `COPY … FROM STDIN` on several shards: the client's rows are split by the value of the
//! sharding key and each row goes to its shard (every row to every shard for a table that
//! is not sharded). The header line of a COPY with HEADER goes to every shard.

use bytes::{BufMut, BytesMut};
use tokio::io::AsyncWriteExt;

use super::fanout::FLUSH_AT;
use super::plugin_copy::PluginSplitter;
use super::responses::{Outcome, Replies};
use super::{ClientError, Session};
use crate::config::ShardedTable;
use crate::fanout::copy::{CopyFormat, Row, RowSplitter};
use crate::router::route::Params;
use crate::router::statement::{Statement, Value};
use crate::wire::{ErrorResponse, Message};

/// A COPY FROM STDIN in progress on the fan.
pub(super) struct FanCopy {
    /// The shards in copy-in mode, in the order of `out`.
    pub(super) shards: Vec<usize>,
    /// Splits rows for a sharded table; `None`: every row goes to every shard.
    splitter: Option<(RowSplitter, ShardedTable)>,
    /// A plugin splits the rows.
    pub(super) plugin: Option<PluginSplitter>,
    /// pgDog wrapped the COPY in a transaction on every shard.
    implicit: bool,
    /// Bytes waiting for each shard.
    pub(super) out: Vec<BytesMut>,
    pub(super) rows: Vec<Row>,
}

/// The sharded-table entry and key position a COPY into `stmt`'s table splits by, or the
/// error for a sharded table whose COPY does not name the key column. `None`: the table is
/// not sharded.
pub(super) fn copy_key(
    stmt: &Statement,
    tables: &[ShardedTable],
) -> Result<Option<(ShardedTable, usize)>, ErrorResponse> {
    let (Some(table), Some(copy)) = (stmt.tables.first(), stmt.copy.as_ref()) else {
        return Ok(None);
    };
    let Some(config) = tables
        .iter()
        .find(|t| t.name.as_deref() == Some(table.name.as_str()))
    else {
        return Ok(None);
    };
    if copy.binary {
        return Err(ErrorResponse::error(
            "0A000",
            format!(
                "COPY of sharded table \"{}\" in binary format is not supported; use text or CSV",
                table.name
            ),
        ));
    }
    match copy.columns.iter().position(|c| *c == config.column) {
        Some(index) => Ok(Some((config.clone(), index))),
        None => Err(ErrorResponse::error(
            "0A000",
            format!(
                "COPY into sharded table \"{}\" must list its columns, including the sharding key \"{}\"",
                table.name, config.column
            ),
        )
        .with_detail("For example: COPY users (id, name) FROM STDIN")),
    }
}

impl Session {
    /// Every shard is waiting for rows: the client gets one CopyInResponse (already sent)
    /// and its CopyData is split from now on.
    pub(super) async fn start_copy_in(
        &mut self,
        stmt: &Statement,
        shards: Vec<usize>,
        implicit: bool,
    ) -> Result<(), ClientError> {
        let tables = self
            .login
            .cluster
            .sharding
            .as_ref()
            .map(|s| s.tables.clone())
            .unwrap_or_default();
        let copy = stmt.copy.clone().unwrap_or_default();
        let key = copy_key(stmt, &tables);
        let format = || {
            let byte = |c: Option<char>| c.and_then(|c| u8::try_from(c).ok());
            let mut format = CopyFormat::new(copy.csv, byte(copy.delimiter), copy.header);
            if let Some(quote) = byte(copy.quote) {
                format.quote = quote;
                format.escape = quote;
            }
            if let Some(escape) = byte(copy.escape) {
                format.escape = escape;
            }
            if let Some(null) = &copy.null {
                format.null = null.as_bytes().to_vec();
            }
            format
        };
        if let Some(plugin) = self.copy_split.take() {
            let column = match &key {
                Ok(Some((_, index))) => Some(*index),
                _ => None,
            };
            // The splitter's format already knows the COPY's delimiter (or its default).
            let format = format();
            let delimiter = format.delimiter;
            self.fan_copy = Some(FanCopy {
                out: vec![BytesMut::new(); shards.len()],
                shards,
                splitter: None,
                plugin: Some(PluginSplitter {
                    copy: plugin,
                    rows: RowSplitter::new(format, column.unwrap_or(0)),
                    sharding_column: column,
                    delimiter,
                }),
                implicit,
                rows: Vec::new(),
            });
            return Ok(());
        }
        let splitter = match key {
            // On one shard (a forced one), every row goes there.
            Ok(Some(_)) if shards.len() == 1 => None,
            Ok(Some((config, index))) => Some((RowSplitter::new(format(), index), config)),
            // Checked before the COPY was sent; a table that is not sharded.
            _ => None,
        };
        self.fan_copy = Some(FanCopy {
            out: vec![BytesMut::new(); shards.len()],
            shards,
            splitter,
            plugin: None,
            implicit,
            rows: Vec::new(),
        });
        Ok(())
    }

    /// A client message while the fan is in copy-in mode.
    pub(super) async fn on_fan_copy(&mut self, msg: &Message) -> Result<(), ClientError> {
        match msg.tag() {
            b'd' => {
                if let Err(err) = self.copy_rows(msg.body(), false) {
                    return self.fail_copy(err).await;
                }
                self.send_copy(false).await
            }
            b'c' => {
                if let Err(err) = self.copy_rows(&[], true) {
                    return self.fail_copy(err).await;
                }
                self.send_copy(true).await
            }
            b'f' => {
                let reason = crate::wire::Reader::new(msg.body())
                    .cstr()
                    .unwrap_or("")
                    .to_string();
                self.fail_copy(ErrorResponse::error(
                    "57014",
                    format!("COPY from stdin failed: {reason}"),
                ))
                .await
            }
            // libpq and tokio-postgres may send Sync or Flush during copy-in; PostgreSQL
            // ignores them there.
            b'S' | b'H' => Ok(()),
            other => {
                self.fail_copy(ErrorResponse::error(
                    "08P01",
                    format!("unexpected message type 0x{other:02X} during COPY from stdin"),
                ))
                .await
            }
        }
    }

    /// Splits `data` into rows and queues each for its shard.
    fn copy_rows(&mut self, data: &[u8], end: bool) -> Result<(), ErrorResponse> {
        if self.fan_copy.as_ref().is_some_and(|c| c.plugin.is_some()) {
            return self.plugin_copy_rows(data, end);
        }
        let Some(sharding) = self.login.cluster.sharding.clone() else {
            return Ok(());
        };
        let copy = self.fan_copy.as_mut().expect("in copy-in");
        let Some((splitter, config)) = copy.splitter.as_mut() else {
            // Not sharded: the stream goes to every shard unchanged.
            for out in &mut copy.out {
                put_copy_data(out, data);
            }
            return Ok(());
        };
        cut_rows(splitter, data, end, &mut copy.rows)?;
        for row in copy.rows.drain(..) {
            match row {
                Row::Header(bytes) => {
                    for out in &mut copy.out {
                        put_copy_data(out, &bytes);
                    }
                }
                Row::Data { bytes, key } => {
                    let value = match key {
                        Some(key) => Value::Text(key),
                        None => Value::Null,
                    };
                    let Some(shard) = sharding.shard_of_value(config, &value, &Params::default())
                    else {
                        return Err(ErrorResponse::error(
                            "22P02",
                            format!(
                                "invalid sharding key in COPY row: {:?} is not a valid {:?} key",
                                String::from_utf8_lossy(&bytes).trim_end(),
                                config.data_type
                            ),
                        ));
                    };
                    let Some(at) = copy.shards.iter().position(|s| *s == shard) else {
                        continue;
                    };
                    put_copy_data(&mut copy.out[at], &bytes);
                }
                Row::End => {}
            }
        }
        Ok(())
    }

    /// Writes the queued rows to their shards; at the end, CopyDone to each and the merged
    /// replies to the client.
    async fn send_copy(&mut self, done: bool) -> Result<(), ClientError> {
        let copy = self.fan_copy.as_mut().expect("in copy-in");
        let queued: usize = copy.out.iter().map(BytesMut::len).sum();
        if !done && queued < FLUSH_AT {
            return Ok(());
        }
        let mut writes = Vec::with_capacity(copy.shards.len());
        for (shard, out) in copy.shards.iter().zip(copy.out.iter_mut()) {
            if done {
                out.extend_from_slice(b"c\0\0\0\x04");
            }
            writes.push((*shard, out.split()));
        }
        for (shard, bytes) in writes {
            if bytes.is_empty() {
                continue;
            }
            let index = self.fan_index(shard);
            if let Err(err) = self.fan[index].1.stream.write_all(&bytes).await {
                return self.end_copy(Outcome::Lost {
                    shard,
                    error: err.into(),
                });
            }
        }
        if done {
            let at: Vec<usize> = self
                .fan_copy
                .as_ref()
                .expect("in copy-in")
                .shards
                .iter()
                .map(|s| self.fan_index(*s))
                .collect();
            let replicated = self
                .fan_copy
                .as_ref()
                .is_some_and(|c| c.splitter.is_none() && c.plugin.is_none());
            let how = Replies {
                replicated,
                ..Replies::default()
            };
            let outcome = self.merge_replies(&at, how).await?;
            return self.end_copy_async(outcome).await;
        }
        Ok(())
    }

    /// Abandons the COPY on every shard with CopyFail; the client gets `err`.
    async fn fail_copy(&mut self, err: ErrorResponse) -> Result<(), ClientError> {
        let copy = self.fan_copy.as_ref().expect("in copy-in");
        let shards = copy.shards.clone();
        let mut fail = BytesMut::new();
        let at = crate::wire::begin(&mut fail, b'f');
        crate::wire::put_cstr(&mut fail, &err.message);
        crate::wire::finish(&mut fail, at);
        for shard in &shards {
            let index = self.fan_index(*shard);
            if let Err(e) = self.fan[index].1.stream.write_all(&fail).await {
                return self.end_copy(Outcome::Lost {
                    shard: *shard,
                    error: e.into(),
                });
            }
        }
        err.encode(&mut self.cout);
        // Every shard answers the CopyFail with an error of its own; the client already
        // has the real reason.
        let at: Vec<usize> = shards.iter().map(|s| self.fan_index(*s)).collect();
        let mark = self.cout.len();
        let outcome = self.merge_replies(&at, Replies::default()).await?;
        self.cout.truncate(mark);
        self.end_copy_async(outcome).await
    }

    async fn end_copy_async(&mut self, outcome: Outcome) -> Result<(), ClientError> {
        let implicit = self.fan_copy.as_ref().is_some_and(|c| c.implicit);
        if implicit && matches!(outcome, Outcome::Done) {
            self.end_implicit(false).await;
        }
        self.end_copy(outcome)
    }

    fn end_copy(&mut self, outcome: Outcome) -> Result<(), ClientError> {
        let implicit = self.fan_copy.take().is_some_and(|c| c.implicit);
        self.after_fan(outcome, implicit);
        Ok(())
    }
}

/// The whole rows `data` completes (all that is left at the `end`), into `rows`.
pub(super) fn cut_rows(
    splitter: &mut RowSplitter,
    data: &[u8],
    end: bool,
    rows: &mut Vec<Row>,
) -> Result<(), ErrorResponse> {
    let bad_format = |e: crate::fanout::copy::CopyError| {
        ErrorResponse::error("22P04", format!("bad COPY data: {e}"))
    };
    rows.clear();
    splitter.feed(data, rows).map_err(bad_format)?;
    if end {
        splitter.finish(rows).map_err(bad_format)?;
    }
    Ok(())
}

pub(super) fn put_copy_data(out: &mut BytesMut, data: &[u8]) {
    out.put_u8(b'd');
    out.put_i32(data.len() as i32 + 4);
    out.extend_from_slice(data);
}
