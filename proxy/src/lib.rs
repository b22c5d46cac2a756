//! pgDog: a PostgreSQL connection pooler, load balancer and sharding proxy.
//!
//! # Layout
//! - [`wire`]: PostgreSQL v3 framing and the messages the proxy looks inside. No I/O.
//! - [`auth`]: SCRAM-SHA-256 and md5, for clients logging into pgDog and pgDog logging
//!   into servers.
//! - [`config`]: `pgdog.toml` and `users.toml`, defaults and validation.
//! - [`backend`]: server connections, pools, and the clusters they form.
//! - [`frontend`]: the listener, client sessions, prepared-statement renaming, cancel.
//! - [`router`]: the parse cache, statement summaries, PostgreSQL-compatible sharding
//!   functions and the routing decision. No I/O.
//!
//! `proxy/ARCHITECTURE.md` explains how these fit together.

pub mod auth;
pub mod backend;
pub mod config;
pub mod demo;
pub mod fanout;
pub mod frontend;
pub mod router;
pub mod wire;

use std::sync::Arc;

use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

/// Binds the configured address and serves until SIGINT or SIGTERM, then drains.
pub fn run(config: Arc<config::Config>) -> std::io::Result<()> {
    let (host, port) = (config.general.host.as_str(), config.general.port);
    let listener = std::net::TcpListener::bind((host, port)).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {host}:{port}: {e}"))
    })?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signals = async move {
        let (Ok(mut sigterm), Ok(mut sigint)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! {
            _ = sigterm.recv() => info!("SIGTERM received"),
            _ = sigint.recv() => info!("SIGINT received"),
        }
        let _ = stop_tx.send(true);
        // Keep the sender alive: sessions watch it until they end.
        std::future::pending::<()>().await;
    };
    frontend::listener::run(config, listener, stop_rx, signals)
}
