//! WASI for synchronous plugin calls: the few WASI functions that may wait, answered
//! without waiting.
//!
//! Plugins are called synchronously, on the worker thread's own stack: no fiber switch,
//! and the stack is warm. That needs every function a plugin imports to be synchronous.
//! wasmtime-wasi's synchronous WASI runs its waiting functions (a blocking write to
//! stdout, `poll`, a blocking read) through `Handle::block_on`, which panics on a tokio
//! worker. Here those functions are defined again: each polls the wait (twice, for a
//! deadline already past, see [`at_once`]), and a wait that is not over then traps. A router must not wait: it would stall every client of
//! its worker. What a plugin can wait on is its own stdout and stderr, which are always
//! ready (`host::LineWriter`), stdin (closed), and clocks: a deadline already past is
//! ready, a sleep traps and is handled by the plugin's `on_error` like any other error.
//! The clock's deadlines are pgDog's own ([`Deadline`]): wasmtime-wasi's sleep on tokio's
//! timer, which the worker runtimes do not run (`crate::timer`).
//!
//! Sockets and files cannot be reached: a plugin gets no preopened directory, and TCP, UDP
//! and name lookups are off in its WASI context (`host.rs`), so no socket, file or their
//! streams can exist. The
//! one socket function that would wait before checking that, `create-udp-socket`, is
//! defined again here too.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::clocks::{WasiClocksCtxView, WasiClocksView};
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::bindings::sockets::network;
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi::p2::bindings::sync::sockets::udp::IpAddressFamily;
use wasmtime_wasi::p2::bindings::sync::sockets::udp_create_socket;
use wasmtime_wasi::p2::UdpSocket;
use wasmtime_wasi::p2::{DynPollable, SocketError, SocketResult, StreamError, StreamResult};
use wasmtime_wasi::sockets::{WasiSocketsCtxView, WasiSocketsView};
use wasmtime_wasi::WasiView;
use wasmtime_wasi_io::bindings::wasi::io::poll as async_poll;
use wasmtime_wasi_io::bindings::wasi::io::streams as async_streams;
use wasmtime_wasi_io::poll::{subscribe, Pollable};

/// Links WASI for synchronous calls: wasmtime-wasi's synchronous interfaces, with the
/// ones that may wait replaced by this module's.
pub fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    poll::add_to_linker::<T, NoWait>(linker, |t| Io(t.ctx().table))?;
    streams::add_to_linker::<T, NoWait>(linker, |t| Io(t.ctx().table))?;
    udp_create_socket::add_to_linker::<T, NoWaitSockets>(linker, |t| Sockets(t.sockets()))?;
    monotonic_clock::add_to_linker::<T, NoWaitClocks>(linker, |t| Clocks(t.clocks()))?;
    linker.allow_shadowing(false);
    Ok(())
}

/// What a plugin is told when it waits.
const WAITS: &str = "a routing plugin must not wait (a sleep, a poll, or a blocking read or write that was not ready); it would stall every client of its worker";

/// Polls `future` at most twice: its output, or a trap if it would wait. The second poll
/// is for waits that are already over: wasmtime-wasi yields to tokio once on a clock
/// pollable whose deadline has passed (what a zero-timeout `poll(2)` in wasi-libc makes),
/// and is ready the next time it is polled.
fn at_once<F: Future>(future: F) -> wasmtime::Result<F::Output> {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..2 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(output);
        }
    }
    Err(wasmtime::Error::msg(WAITS))
}

/// `at_once` for the stream functions, whose errors carry traps.
fn stream_at_once<T, F: Future<Output = StreamResult<T>>>(future: F) -> StreamResult<T> {
    at_once(future).map_err(StreamError::Trap)?
}

struct NoWait;

impl HasData for NoWait {
    type Data<'a> = Io<'a>;
}

/// A store's resource table, seen through the functions that must not wait.
struct Io<'a>(&'a mut ResourceTable);

impl poll::Host for Io<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        at_once(async_poll::Host::poll(self.0, pollables))?
    }
}

impl poll::HostPollable for Io<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        at_once(async_poll::HostPollable::ready(self.0, pollable))?
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        at_once(async_poll::HostPollable::block(self.0, pollable))?
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        async_poll::HostPollable::drop(self.0, pollable)
    }
}

impl streams::Host for Io<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        streams::Host::convert_stream_error(self.0, err)
    }
}

impl streams::HostOutputStream for Io<'_> {
    fn drop(&mut self, stream: Resource<streams::OutputStream>) -> wasmtime::Result<()> {
        at_once(async_streams::HostOutputStream::drop(self.0, stream))?
    }

    fn check_write(&mut self, stream: Resource<streams::OutputStream>) -> StreamResult<u64> {
        streams::HostOutputStream::check_write(self.0, stream)
    }

    fn write(
        &mut self,
        stream: Resource<streams::OutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        streams::HostOutputStream::write(self.0, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<streams::OutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        stream_at_once(async_streams::HostOutputStream::blocking_write_and_flush(
            self.0, stream, bytes,
        ))
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<streams::OutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        stream_at_once(
            async_streams::HostOutputStream::blocking_write_zeroes_and_flush(self.0, stream, len),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<streams::OutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostOutputStream::subscribe(self.0, stream)
    }

    fn write_zeroes(
        &mut self,
        stream: Resource<streams::OutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        streams::HostOutputStream::write_zeroes(self.0, stream, len)
    }

    fn flush(&mut self, stream: Resource<streams::OutputStream>) -> StreamResult<()> {
        streams::HostOutputStream::flush(self.0, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<streams::OutputStream>) -> StreamResult<()> {
        stream_at_once(async_streams::HostOutputStream::blocking_flush(
            self.0, stream,
        ))
    }

    fn splice(
        &mut self,
        dst: Resource<streams::OutputStream>,
        src: Resource<streams::InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        streams::HostOutputStream::splice(self.0, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<streams::OutputStream>,
        src: Resource<streams::InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        stream_at_once(async_streams::HostOutputStream::blocking_splice(
            self.0, dst, src, len,
        ))
    }
}

impl streams::HostInputStream for Io<'_> {
    fn drop(&mut self, stream: Resource<streams::InputStream>) -> wasmtime::Result<()> {
        at_once(async_streams::HostInputStream::drop(self.0, stream))?
    }

    fn read(&mut self, stream: Resource<streams::InputStream>, len: u64) -> StreamResult<Vec<u8>> {
        streams::HostInputStream::read(self.0, stream, len)
    }

    fn blocking_read(
        &mut self,
        stream: Resource<streams::InputStream>,
        len: u64,
    ) -> StreamResult<Vec<u8>> {
        stream_at_once(async_streams::HostInputStream::blocking_read(
            self.0, stream, len,
        ))
    }

    fn skip(&mut self, stream: Resource<streams::InputStream>, len: u64) -> StreamResult<u64> {
        streams::HostInputStream::skip(self.0, stream, len)
    }

    fn blocking_skip(
        &mut self,
        stream: Resource<streams::InputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        stream_at_once(async_streams::HostInputStream::blocking_skip(
            self.0, stream, len,
        ))
    }

    fn subscribe(
        &mut self,
        stream: Resource<streams::InputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        streams::HostInputStream::subscribe(self.0, stream)
    }
}

struct NoWaitSockets;

impl HasData for NoWaitSockets {
    type Data<'a> = Sockets<'a>;
}

struct Sockets<'a>(WasiSocketsCtxView<'a>);

impl udp_create_socket::Host for Sockets<'_> {
    fn create_udp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<UdpSocket>> {
        use wasmtime_wasi::p2::bindings::sockets::udp_create_socket::Host as Async;
        at_once(Async::create_udp_socket(&mut self.0, family)).map_err(SocketError::trap)?
    }
}

impl network::Host for Sockets<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<network::ErrorCode> {
        network::Host::convert_error_code(&mut self.0, error)
    }

    fn network_error_code(
        &mut self,
        err: Resource<network::Error>,
    ) -> wasmtime::Result<Option<network::ErrorCode>> {
        network::Host::network_error_code(&mut self.0, err)
    }
}

impl network::HostNetwork for Sockets<'_> {
    fn drop(&mut self, network: Resource<network::Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.0, network)
    }
}

struct NoWaitClocks;

impl HasData for NoWaitClocks {
    type Data<'a> = Clocks<'a>;
}

struct Clocks<'a>(WasiClocksCtxView<'a>);

impl monotonic_clock::Host for Clocks<'_> {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        monotonic_clock::Host::now(&mut self.0)
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        monotonic_clock::Host::resolution(&mut self.0)
    }

    fn subscribe_instant(
        &mut self,
        when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let now = monotonic_clock::Host::now(&mut self.0)?;
        self.deadline(when.saturating_sub(now))
    }

    fn subscribe_duration(
        &mut self,
        duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.deadline(duration)
    }
}

impl Clocks<'_> {
    fn deadline(&mut self, nanos: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let at = std::time::Instant::now().checked_add(std::time::Duration::from_nanos(nanos));
        let deadline = self.0.table.push(Deadline(at))?;
        subscribe(self.0.table, deadline)
    }
}

/// A monotonic-clock deadline that never waits: ready once it has passed, and otherwise
/// never, which [`at_once`] turns into the trap for a plugin that waits. `None`: too far
/// away to represent.
struct Deadline(Option<std::time::Instant>);

#[wasmtime_wasi_io::async_trait]
impl Pollable for Deadline {
    async fn ready(&mut self) {
        match self.0 {
            Some(at) if std::time::Instant::now() >= at => {}
            _ => std::future::pending().await,
        }
    }
}
