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
//! - [`timer`]: sleeps, timeouts and intervals on a thread of their own, so the worker
//!   runtimes run without tokio's time driver.
//!
//! `proxy/ARCHITECTURE.md` explains how these fit together.

pub mod admin;
pub mod auth;
pub mod backend;
pub mod config;
pub mod demo;
pub mod fanout;
pub mod frontend;
pub mod plugins;
pub mod router;
pub mod timer;
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
    let plugins = plugins::Registry::start(&config).map_err(std::io::Error::other)?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let reloader = plugins.clone();
    let signals = async move {
        let (Ok(mut sigterm), Ok(mut sigint), Ok(mut sighup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        loop {
            tokio::select! {
                _ = sigterm.recv() => { info!("SIGTERM received"); break; }
                _ = sigint.recv() => { info!("SIGINT received"); break; }
                _ = sighup.recv() => {
                    info!("SIGHUP received; reloading plugins");
                    let reloader = reloader.clone();
                    // Off the signal loop: a slow compile must not delay a SIGTERM.
                    tokio::spawn(async move {
                        if let Err(err) = reloader.reload().await {
                            tracing::warn!("{err}");
                        }
                    });
                }
            }
        }
        let _ = stop_tx.send(true);
        // Keep the sender alive: sessions watch it until they end.
        std::future::pending::<()>().await;
    };
    frontend::listener::run(config, plugins, listener, stop_rx, signals)
}
