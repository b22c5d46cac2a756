//! Accepting clients and shutting down gracefully.
//!
//! Every session holds a clone of a channel sender; when the listener stops and drops its
//! own, the channel closes exactly when the last session ends, which is how shutdown knows
//! the drain is complete.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::login::{login, LoginError};
use super::session::Session;
use super::Shared;
use crate::backend::Pools;
use crate::config::Config;

/// Serves clients until `stop` turns true, then drains for up to `shutdown_timeout`.
pub async fn serve(
    config: Arc<Config>,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let pools = Pools::from_config(&config);
    pools.start();
    let shared = Arc::new(Shared {
        pools,
        cancels: Default::default(),
        statements: Default::default(),
        shutdown: stop.clone(),
        config: config.clone(),
    });
    let (alive, mut drained) = mpsc::channel::<()>(1);
    info!(addr = %listener.local_addr()?, "pgDog is listening");
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Running out of file descriptors must not end the proxy: wait a
                        // moment and keep accepting.
                        warn!(error = %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let alive = alive.clone();
                tokio::spawn(async move {
                    handle(shared, stream, peer).await;
                    drop(alive);
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    drop(alive);
    let timeout = Duration::from_millis(config.general.shutdown_timeout);
    info!(
        timeout_ms = timeout.as_millis() as u64,
        "shutting down: waiting for clients to finish their transactions"
    );
    if tokio::time::timeout(timeout, drained.recv()).await.is_err() {
        warn!("shutdown_timeout reached; closing remaining clients");
    }
    shared.pools.close().await;
    info!("pgDog stopped");
    Ok(())
}

async fn handle(
    shared: Arc<Shared>,
    mut stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
) {
    let mut buf = BytesMut::with_capacity(1024);
    let logged_in = match login(&mut stream, &mut buf, &shared).await {
        Ok(logged_in) => logged_in,
        Err(LoginError::Rejected(err)) => {
            info!(client = %peer, error = %err, "login rejected");
            return;
        }
        Err(err) => {
            debug!(client = %peer, error = %err, "connection closed before login");
            return;
        }
    };
    let pool = logged_in.pool.clone();
    let server_params = match pool.startup_params().await {
        Ok(params) => params,
        Err(err) => {
            warn!(client = %peer, error = %err, "cannot reach the server for a new client");
            let _ =
                tokio::io::AsyncWriteExt::write_all(&mut stream, &err.to_client_fatal().to_bytes())
                    .await;
            return;
        }
    };
    let mut session = Session::new(shared, stream, peer, buf, logged_in, &server_params);
    if session.greet().await.is_err() {
        return;
    }
    session.run().await;
}
