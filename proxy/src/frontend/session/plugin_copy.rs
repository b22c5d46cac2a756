//! `COPY … FROM STDIN` whose rows a plugin places (a native plugin's COPY decision): pgDog
//! cuts the client's stream into whole rows with the COPY's own format, hands them to the
//! plugin, and queues each row for the shard the plugin names.
//!
//! pgDog, not the plugin, sends the COPY's header line to every shard: each shard's
//! `COPY … HEADER` skips its first line, so a missing or misplaced header would silently
//! drop a row there.

use std::sync::Arc;

use super::copy::{cut_rows, put_copy_data};
use super::Session;
use crate::fanout::copy::{Row, RowSplitter};
use crate::plugins::chain::PLUGIN_FAILED;
use crate::plugins::{CopyChunk, CopyShard, Plugin};
use crate::wire::ErrorResponse;

/// A plugin that answered COPY for the statement being routed. What it said about the
/// COPY's options is not needed: pgDog reads them from the statement itself.
pub(super) struct PluginCopy {
    pub plugin: Arc<dyn Plugin>,
}

/// A COPY in progress whose rows a plugin places.
pub(super) struct PluginSplitter {
    pub copy: PluginCopy,
    /// Cuts the stream into whole rows.
    pub rows: RowSplitter,
    /// The sharding key's column when pgDog's config names one.
    pub sharding_column: Option<usize>,
    /// The COPY's own delimiter, what the plugin is told.
    pub delimiter: u8,
}

impl Session {
    /// Cuts `data` into whole rows and has the plugin say where each goes.
    pub(super) fn plugin_copy_rows(&mut self, data: &[u8], end: bool) -> Result<(), ErrorResponse> {
        let shard_count = self.login.cluster.shards.len().max(1);
        let database = self.login.database.clone();
        let copy = self.fan_copy.as_mut().expect("in copy-in");
        let splitter = copy.plugin.as_mut().expect("a plugin splits this COPY");
        cut_rows(&mut splitter.rows, data, end, &mut copy.rows)?;
        let mut whole = Vec::new();
        let mut header = None;
        for row in copy.rows.drain(..) {
            match row {
                Row::Header(bytes) => {
                    whole.extend_from_slice(&bytes);
                    header = Some(bytes);
                }
                Row::Data { bytes, .. } => {
                    whole.extend_from_slice(&bytes);
                    // The last row of a stream may lack its newline; the plugin is
                    // promised whole rows, and the shards must not see two rows run into
                    // one.
                    if !bytes.ends_with(b"\n") {
                        whole.push(b'\n');
                    }
                }
                Row::End => {}
            }
        }
        if let Some(header) = &header {
            for out in &mut copy.out {
                put_copy_data(out, header);
            }
        }
        if whole.is_empty() {
            return Ok(());
        }
        let chunk = CopyChunk {
            database: &database,
            shards: shard_count,
            data: &whole,
            delimiter: splitter.delimiter,
            has_headers: header.is_some(),
            sharding_column: splitter.sharding_column,
        };
        let plugin = &splitter.copy.plugin;
        let failed = |err: String| {
            ErrorResponse::error(
                PLUGIN_FAILED,
                format!(
                    "routing plugin \"{}\" {err} while splitting COPY rows",
                    plugin.name()
                ),
            )
        };
        let started = std::time::Instant::now();
        let answer = plugin.split_copy(&chunk);
        plugin.stats().record(started.elapsed(), answer.is_err());
        let rows = answer.map_err(|err| failed(err.to_string()))?;
        for (bytes, shard) in &rows.rows {
            if !bytes.ends_with(b"\n") {
                return Err(failed(
                    "returned a COPY row without its newline".to_string(),
                ));
            }
            match shard {
                CopyShard::All => {
                    for out in &mut copy.out {
                        put_copy_data(out, bytes);
                    }
                }
                CopyShard::One(shard) => {
                    let Some(at) = copy.shards.iter().position(|s| s == shard) else {
                        return Err(failed(format!(
                            "sent a COPY row to shard {shard}, which is not taking this COPY"
                        )));
                    };
                    put_copy_data(&mut copy.out[at], bytes);
                }
            }
        }
        Ok(())
    }
}
