//! Accepting clients on worker threads, and shutting down gracefully.
//!
//! pgDog runs one single-threaded tokio runtime per worker (thread per core). Every worker
//! accepts from the same listening socket and keeps each client it accepted for the
//! client's whole life, so a transaction's wake-ups never cross threads; a multi-threaded
//! runtime spent a quarter of pgDog's CPU moving tasks between threads.
//!
//! Every session holds a clone of its worker's drain sender; when the worker stops
//! accepting and drops its own, the channel closes exactly when its last session ends,
//! which is how shutdown knows the drain is complete.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};

use super::login::{login, LoginError};
use super::session::Session;
use super::Shared;
use crate::backend::{worker, Pools};
use crate::config::Config;

/// Serves clients on `config.general.workers` threads until `stop` turns true, then drains
/// for up to `shutdown_timeout`. `control` runs on worker 0 next to its accept loop: the
/// place for signal handlers and anything else that needs a runtime for the whole run.
pub fn run<F>(
    config: Arc<Config>,
    plugins: Arc<crate::plugins::Registry>,
    listener: std::net::TcpListener,
    stop: watch::Receiver<bool>,
    control: F,
) -> std::io::Result<()>
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    listener.set_nonblocking(true)?;
    info!(addr = %listener.local_addr()?, workers = config.general.workers, "pgDog is listening");
    let shared = Arc::new(Shared {
        pools: Pools::from_config(&config),
        cancels: Default::default(),
        statements: Default::default(),
        parse_cache: crate::router::cache::ParseCache::new(PARSE_CACHE_CAPACITY),
        shutdown: stop.clone(),
        stop: Default::default(),
        config: config.clone(),
        plugins,
    });
    let mut threads = Vec::new();
    for id in 1..config.general.workers {
        let listener = listener.try_clone()?;
        let shared = shared.clone();
        let stop = stop.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("pgdog-worker-{id}"))
                .stack_size(crate::plugins::wasm::CALLER_STACK)
                .spawn(move || worker_main(id, listener, shared, stop, None))?,
        );
    }
    let first = Box::pin(async move {
        control.await;
    });
    let result = worker_main(0, listener, shared.clone(), stop, Some(first));
    for thread in threads {
        let _ = thread.join();
    }
    // Close idle servers cleanly on a runtime of its own: the workers are gone.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(shared.pools.close());
    // Every session is gone: plugins that finalise (native ones' pgdog_fini) do it now.
    shared.plugins.shutdown();
    info!("pgDog stopped");
    result
}

/// Distinct SQL texts whose summaries are kept; past it the cache starts over.
const PARSE_CACHE_CAPACITY: usize = 50_000;

type Control = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

fn worker_main(
    id: usize,
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    control: Option<Control>,
) -> std::io::Result<()> {
    worker::set_current(id);
    // No time driver: it would run on every park, and pgDog's timers have their own
    // thread (`crate::timer`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    runtime.block_on(async move {
        if let Some(control) = control {
            shared.pools.start();
            tokio::spawn(control);
        }
        let listener = TcpListener::from_std(listener)?;
        accept_loop(listener, shared, stop).await;
        Ok(())
    })
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let (alive, mut drained) = mpsc::channel::<()>(1);
    while !*stop.borrow() {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(err) => {
                        // Running out of file descriptors must not end the proxy: wait a
                        // moment and keep accepting.
                        warn!(error = %err, "accept failed");
                        crate::timer::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let alive = alive.clone();
                tokio::spawn(async move {
                    if let Some(session) = log_in(shared, stream, peer).await {
                        // A task of its own: each wake-up of the session then polls its
                        // future alone, not through the login's futures wrapped around it
                        // (about a hundred instructions per transaction).
                        tokio::spawn(session.run(alive));
                    }
                });
            }
            _ = stop.changed() => {}
        }
    }
    drop(listener);
    drop(alive);
    shared.stop.trigger();
    let timeout = Duration::from_millis(shared.config.general.shutdown_timeout);
    info!(
        worker = worker::current(),
        timeout_ms = timeout.as_millis() as u64,
        "shutting down: waiting for clients to finish their transactions"
    );
    if crate::timer::timeout(timeout, drained.recv())
        .await
        .is_err()
    {
        warn!("shutdown_timeout reached; closing remaining clients");
    }
}

/// Logs a client in and greets it: its session, ready to run, or `None` when the
/// connection ended here (rejected, closed, or an admin connection, served here).
async fn log_in(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr) -> Option<Session> {
    let mut buf = BytesMut::with_capacity(1024);
    let logged_in = match login(&mut stream, &mut buf, &shared).await {
        Ok(logged_in) => logged_in,
        Err(LoginError::Rejected(err)) => {
            info!(client = %peer, error = %err, "login rejected");
            return None;
        }
        Err(LoginError::Admin) => {
            crate::admin::serve(shared, stream, buf).await;
            return None;
        }
        Err(err) => {
            debug!(client = %peer, error = %err, "connection closed before login");
            return None;
        }
    };
    let pool = logged_in
        .cluster
        .shards
        .first()
        .and_then(|s| s.any_pool())
        .cloned();
    let params = match pool {
        Some(pool) => pool.startup_params().await,
        None => Err(crate::backend::BackendError::Closed),
    };
    let server_params = match params {
        Ok(params) => params,
        Err(err) => {
            warn!(client = %peer, error = %err, "cannot reach the server for a new client");
            let _ =
                tokio::io::AsyncWriteExt::write_all(&mut stream, &err.to_client_fatal().to_bytes())
                    .await;
            return None;
        }
    };
    let mut session = Session::new(shared, stream, peer, buf, logged_in, &server_params);
    session.greet().await.ok()?;
    Some(session)
}
