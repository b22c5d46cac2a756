//! What a plugin instance's store holds, and the host functions plugins import.

use std::sync::Arc;

use bytes::Bytes;
use tracing::{debug, error, info, trace, warn};
use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::pgdog::router::{host, types};
use super::lent::Lent;
use crate::router::hash::{shard_for, KeyType, KeyValue};

/// Who a plugin is, for its log lines and its `config` import.
#[derive(Debug)]
pub struct Identity {
    pub name: String,
    /// Set once `init` has reported it.
    pub version: std::sync::OnceLock<String>,
    pub config_json: String,
}

impl Identity {
    pub fn version(&self) -> &str {
        self.version.get().map_or("?", String::as_str)
    }
}

/// The data of one instance's store.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limits: StoreLimits,
    identity: Arc<Identity>,
    /// What the call in progress lends the guest (see `lent.rs`).
    pub(super) lent: Option<Lent>,
}

impl HostState {
    /// A store granting the guest nothing: no files, no network, no environment; what it
    /// prints goes to pgDog's log.
    pub fn new(identity: Arc<Identity>, limits: StoreLimits) -> HostState {
        let mut wasi = WasiCtx::builder();
        // No network, said outright rather than left to the builder's defaults: besides
        // the sandbox, a socket's waiting functions would block the caller's thread
        // (see `no_wait.rs`).
        wasi.allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        wasi.stdout(GuestOutput {
            identity: identity.clone(),
            stream: "stdout",
        })
        .stderr(GuestOutput {
            identity: identity.clone(),
            stream: "stderr",
        });
        HostState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            limits,
            identity,
            lent: None,
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: types::Level, message: String) {
        let name = self.identity.name.as_str();
        let version = self.identity.version();
        match level {
            types::Level::Trace => trace!(plugin = name, version, "{message}"),
            types::Level::Debug => debug!(plugin = name, version, "{message}"),
            types::Level::Info => info!(plugin = name, version, "{message}"),
            types::Level::Warn => warn!(plugin = name, version, "{message}"),
            types::Level::Error => error!(plugin = name, version, "{message}"),
        }
    }

    fn shard_for(&mut self, key: types::ShardKey, shard_count: u32) -> Result<u32, String> {
        if shard_count == 0 {
            return Err("the shard count must be at least 1".into());
        }
        let (value, ty) = match key {
            types::ShardKey::Integer(v) => (KeyValue::Int(v), KeyType::BigInt),
            types::ShardKey::Text(s) => (KeyValue::Text(s), KeyType::Text),
            types::ShardKey::Uuid(s) => (KeyValue::parse(&s, KeyType::Uuid)?, KeyType::Uuid),
        };
        let shard = shard_for(&value, ty, shard_count as usize);
        // Below shard_count, which is a u32.
        Ok(shard as u32)
    }

    fn config(&mut self) -> String {
        self.identity.config_json.clone()
    }
}

/// A guest's stdout or stderr: each line becomes a log line tagged with the plugin.
#[derive(Clone)]
struct GuestOutput {
    identity: Arc<Identity>,
    stream: &'static str,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(LineWriter {
            out: self.clone(),
            partial: Vec::new(),
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only WASIp3 guests use this; they are not supported, so their output is dropped.
        Box::new(tokio::io::sink())
    }
}

/// The longest partial line kept; a guest printing more without a newline gets it logged
/// in pieces.
const MAX_LINE: usize = 4096;

struct LineWriter {
    out: GuestOutput,
    partial: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        let text = text.trim_end_matches('\r');
        if text.trim().is_empty() {
            return;
        }
        info!(
            plugin = self.out.identity.name.as_str(),
            version = self.out.identity.version(),
            stream = self.out.stream,
            "{text}"
        );
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineWriter {
    async fn ready(&mut self) {}
}

impl OutputStream for LineWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.partial.extend_from_slice(&bytes);
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if self.partial.len() > MAX_LINE {
            let piece = std::mem::take(&mut self.partial);
            self.emit(&piece);
        }
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(MAX_LINE)
    }
}
