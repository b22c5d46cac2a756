//! The admin database: clients that log into `[admin] name` as `[admin] user` get pgDog's
//! own commands instead of a server. Simple queries only, as in PgBouncer's console.
//!
//! - `SHOW PLUGINS`: the loaded plugin chain with its call statistics.
//! - `SHOW PARSE_CACHE`: what the parse cache holds and how often it saved a parse.
//! - `RELOAD`: re-reads `[[plugins]]` from pgdog.toml and reloads what changed.
//! - `SHOW VERSION`.

use std::sync::Arc;
use std::time::UNIX_EPOCH;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::info;

use crate::frontend::Shared;
use crate::wire::backend::{
    self, command_complete, data_row, notice, ready_for_query, row_description,
};
use crate::wire::{frontend, split_message, ErrorResponse};

/// Serves one admin client until it leaves.
pub async fn serve(shared: Arc<Shared>, mut stream: TcpStream, mut buf: BytesMut) {
    let mut out = BytesMut::from(&backend::auth_request(backend::AUTH_OK, &[])[..]);
    backend::parameter_status(&mut out, "server_version", env!("CARGO_PKG_VERSION"));
    backend::parameter_status(&mut out, "client_encoding", "UTF8");
    backend::parameter_status(&mut out, "standard_conforming_strings", "on");
    ready_for_query(&mut out, b'I');
    if stream.write_all(&out).await.is_err() {
        return;
    }
    let mut skip_until_sync = false;
    let mut shutdown = shared.shutdown.clone();
    loop {
        out.clear();
        let msg = loop {
            match split_message(&mut buf) {
                Ok(Some(msg)) => break msg,
                Ok(None) => {
                    let read = tokio::select! {
                        read = stream.read_buf(&mut buf) => read,
                        // An idle console must not hold up the drain.
                        _ = async { drop(shutdown.wait_for(|stopping| *stopping).await) } => {
                            let err = ErrorResponse::fatal("57P01", "terminating connection: pgDog is shutting down");
                            let _ = stream.write_all(&err.to_bytes()).await;
                            return;
                        }
                    };
                    match read {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
                Err(err) => {
                    let err = ErrorResponse::fatal("08P01", err.to_string());
                    let _ = stream.write_all(&err.to_bytes()).await;
                    return;
                }
            }
        };
        match msg.tag() {
            b'X' => return,
            b'Q' => {
                let sql = frontend::query_text(&msg).unwrap_or_default();
                run(&shared, sql, &mut out).await;
                ready_for_query(&mut out, b'I');
            }
            b'S' => {
                skip_until_sync = false;
                ready_for_query(&mut out, b'I');
            }
            _ if skip_until_sync => {}
            _ => {
                ErrorResponse::error(
                    "0A000",
                    "the admin database accepts the simple query protocol only",
                )
                .encode(&mut out);
                skip_until_sync = true;
            }
        }
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Runs one admin command into `out`.
async fn run(shared: &Arc<Shared>, sql: &str, out: &mut BytesMut) {
    let words: Vec<String> = sql
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words[..] {
        [] => out.extend_from_slice(backend::EMPTY_QUERY_RESPONSE),
        ["SHOW", "PLUGINS"] => show_plugins(shared, out),
        ["SHOW", "PARSE_CACHE"] => show_parse_cache(shared, out),
        ["SHOW", "VERSION"] => {
            row_description(out, &["version"]);
            data_row(
                out,
                &[Some(&format!("pgDog {}", env!("CARGO_PKG_VERSION")))],
            );
            command_complete(out, "SHOW");
        }
        ["RELOAD"] => {
            info!("RELOAD from the admin database");
            match shared.plugins.reload().await {
                Ok(report) => {
                    for refused in &report.refused {
                        notice(out, "WARNING", "01000", refused);
                    }
                    let summary = format!(
                        "plugins: {} loaded, {} unchanged, {} removed, {} refused",
                        report.loaded.len(),
                        report.unchanged.len(),
                        report.removed.len(),
                        report.refused.len()
                    );
                    notice(out, "NOTICE", "00000", &summary);
                    command_complete(out, "RELOAD");
                }
                Err(err) => ErrorResponse::error("58000", err).encode(out),
            }
        }
        _ => ErrorResponse::error(
            "42601",
            format!("unsupported admin command: \"{}\"", sql.trim()),
        )
        .with_detail("The admin database understands SHOW PLUGINS, SHOW PARSE_CACHE, SHOW VERSION and RELOAD.")
        .encode(out),
    }
}

fn show_parse_cache(shared: &Shared, out: &mut BytesMut) {
    let stats = shared.parse_cache.stats();
    row_description(
        out,
        &["statements", "shapes", "hits", "shape_hits", "parses"],
    );
    let values = [
        stats.statements.to_string(),
        stats.shapes.to_string(),
        stats.hits.to_string(),
        stats.shape_hits.to_string(),
        stats.parses.to_string(),
    ];
    let values: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
    data_row(out, &values);
    command_complete(out, "SHOW");
}

fn show_plugins(shared: &Shared, out: &mut BytesMut) {
    let chain = shared.plugins.current();
    row_description(
        out,
        &[
            "name",
            "version",
            "content_hash",
            "loaded_at",
            "calls",
            "errors",
            "mean_call_us",
            "on_error",
            "path",
        ],
    );
    for link in &chain.links {
        let p = &link.plugin;
        let stats = p.stats();
        let loaded_at = link
            .loaded_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let on_error = match link.config.on_error {
            crate::config::OnError::FailClosed => "fail_closed",
            crate::config::OnError::FailOpen => "fail_open",
        };
        let values = [
            p.name().to_string(),
            p.version().to_string(),
            p.content_hash().to_string(),
            loaded_at.to_string(),
            stats.calls().to_string(),
            stats.errors().to_string(),
            format!("{:.2}", stats.mean_us()),
            on_error.to_string(),
            link.config.path.display().to_string(),
        ];
        let values: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
        data_row(out, &values);
    }
    command_complete(out, &format!("SHOW {}", chain.links.len()));
}
