//! Waiting for the session's next event: data from its server, data from its client, or
//! (while nothing else can see it) pgDog shutting down.
//!
//! One hand-written poll instead of `select!` over `read_buf` futures: it polls the same
//! sockets in the same order, with tokio's own readiness and cooperative budget, but
//! builds no future per socket per turn, and reads with `session::sys`. Right after a
//! wake-up it first just reads the socket that shows readiness (`Session::read_ready`).
//!
//! It also skips re-registering for the client's data when the registration made while
//! the server ran the query still stands. Per transaction the session sleeps twice: for
//! the server's reply (watching the client too) and then for the client's next request.
//! The second wait needs no new registration: the client's from the first has not fired,
//! and tokio keeps a read waker until it fires. Checking that costs one atomic load
//! instead of a locked registration (callgrind: about 80 instructions per transaction).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};

use bytes::BytesMut;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::Session;
use crate::frontend::stop::StopWait;

pub(super) enum Event {
    Client(io::Result<usize>),
    Server(io::Result<usize>),
    Shutdown,
}

/// Whether the session's task is registered to be woken by the client's data.
///
/// Set when a read of the client returned Pending for lack of data (not for lack of
/// cooperative budget, which registers nothing with the socket): tokio then holds the
/// task's waker in the socket's read slot until data, end of stream or an error arrives.
/// Any of those first sets the socket's readiness, which the check reads; a read of the
/// client that returns anything ends the registration's use. Only [`Session::poll_event`]
/// reads the client after login, so nothing else can consume the registration unseen.
#[derive(Default)]
pub(super) struct ClientWatch {
    /// The waker the registration holds, while it stands.
    armed: Option<Waker>,
}

impl ClientWatch {
    /// True when the client's socket has nothing new and the task is still registered for
    /// it, so polling it again would only repeat the registration.
    fn stands(&self, client: &tokio::net::TcpStream, cx: &Context<'_>) -> bool {
        let Some(waker) = &self.armed else {
            return false;
        };
        // `try_io` runs the closure only when tokio has seen readiness; it does no I/O.
        waker.will_wake(cx.waker()) && client.try_io(Interest::READABLE, || Ok(())).is_err()
    }

    /// A read of the client returned Pending in `cx`.
    fn pending(&mut self, cx: &Context<'_>) {
        // Pending for lack of budget registers nothing with the socket: the budget is
        // spent then, and tokio wakes the task again to poll once more.
        if !tokio::task::coop::has_budget_remaining() {
            self.armed = None;
        } else if !self.armed.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            self.armed = Some(cx.waker().clone());
        }
    }
}

impl Session {
    /// The next event: the server's data first, then the client's, then a shutdown when
    /// `watch_shutdown` (`shutdown` is the session's wait on pgDog stopping).
    pub(super) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
        shutdown: &mut Pin<&mut StopWait<'_>>,
        watch_shutdown: bool,
    ) -> Poll<Event> {
        if std::mem::take(&mut self.wait_resumed) {
            if let Some(event) = self.read_ready() {
                return Poll::Ready(event);
            }
        }
        if let Some(server) = self.server.as_deref_mut() {
            if let Poll::Ready(read) = poll_read_into(&server.stream, cx, &mut server.rbuf) {
                return Poll::Ready(Event::Server(read));
            }
        }
        if !self.client_watch.stands(&self.client, cx) {
            match poll_read_into(&self.client, cx, &mut self.crbuf) {
                Poll::Ready(read) => {
                    self.client_watch.armed = None;
                    return Poll::Ready(Event::Client(read));
                }
                Poll::Pending => self.client_watch.pending(cx),
            }
        }
        if watch_shutdown && shutdown.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Event::Shutdown);
        }
        self.wait_resumed = true;
        Poll::Pending
    }

    /// The first look after the task slept: whichever socket woke it has its readiness
    /// set, and reading it through `try_io` skips what `poll_read_ready` adds for a socket
    /// that is ready (the cooperative budget, the waker's slot): about 70 instructions per
    /// wake-up, two wake-ups per transaction. None when neither socket shows readiness (or
    /// its readiness was stale, now cleared): then the registering poll follows. Only at
    /// the start of a task's turn, whose budget is fresh, so skipping the budget cannot
    /// keep a busy session from yielding.
    fn read_ready(&mut self) -> Option<Event> {
        if let Some(server) = self.server.as_deref_mut() {
            match read_now(&server.stream, &mut server.rbuf) {
                Ok(None) => {}
                Ok(Some(n)) => return Some(Event::Server(Ok(n))),
                Err(err) => return Some(Event::Server(Err(err))),
            }
        }
        let read = match read_now(&self.client, &mut self.crbuf) {
            Ok(None) => return None,
            Ok(Some(n)) => Ok(n),
            Err(err) => Err(err),
        };
        // tokio took the registration's waker when it set the readiness just consumed.
        self.client_watch.armed = None;
        Some(Event::Client(read))
    }
}

/// Reads what `stream` has into the spare room of `buf` (which must have some): the bytes
/// read, 0 at end of stream. What tokio's `poll_read` does, with the read made by
/// [`super::sys::recv`].
fn poll_read_into(
    stream: &TcpStream,
    cx: &mut Context<'_>,
    buf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    debug_assert!(
        buf.capacity() > buf.len(),
        "no room: a read of 0 would look like end of stream"
    );
    loop {
        ready!(stream.poll_read_ready(cx))?;
        // None: spurious readiness, now cleared; the next poll registers for the real one.
        if let Some(n) = read_now(stream, buf)? {
            return Poll::Ready(Ok(n));
        }
    }
}

/// One read of what `stream` holds into `buf`'s spare room, for a socket tokio reports
/// readable: the bytes read (0: end of stream), or None when there was nothing after all
/// (tokio's readiness is cleared then).
fn read_now(stream: &TcpStream, buf: &mut BytesMut) -> io::Result<Option<usize>> {
    let spare = buf.spare_capacity_mut();
    let room = spare.len();
    let mut short = None;
    let read = stream.try_io(Interest::READABLE, || {
        let n = super::sys::recv(stream, spare)?;
        if n > 0 && n < room {
            // A read that leaves room has emptied the socket: tokio's own `poll_read`
            // clears the readiness then, so the next wait sleeps instead of trying a
            // `recv` that can only answer EAGAIN. WouldBlock is how `try_io` is told.
            short = Some(n);
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    });
    let n = match (read, short) {
        // The error is the WouldBlock just above: only the count matters.
        (_, Some(n)) | (Ok(n), None) => n,
        (Err(err), None) if err.kind() == io::ErrorKind::WouldBlock => return Ok(None),
        (Err(err), None) => return Err(err),
    };
    // SAFETY: the kernel wrote the first n bytes of the spare capacity.
    unsafe { buf.set_len(buf.len() + n) };
    Ok(Some(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    /// Waits on the registration alone: if it did not stand, nothing would wake this.
    async fn wait_on_registration(near: &TcpStream, watch: &ClientWatch) {
        std::future::poll_fn(|cx| {
            if watch.stands(near, cx) {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await
    }

    /// The registration a Pending read leaves behind is what wakes the task when data comes:
    /// the session relies on it instead of polling the client again.
    #[tokio::test]
    async fn a_standing_registration_wakes_the_task_for_data_and_for_end_of_stream() {
        // In a task of its own, as sessions run: `block_on`'s waker may not compare equal
        // to its own clone (`will_wake`), a task's does.
        tokio::spawn(standing_registration()).await.unwrap();
    }

    async fn standing_registration() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let near = TcpStream::connect(addr).await.unwrap();
        let (mut far, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::with_capacity(1024);
        let mut watch = ClientWatch::default();
        std::future::poll_fn(|cx| {
            assert!(poll_read_into(&near, cx, &mut buf).is_pending());
            watch.pending(cx);
            assert!(watch.stands(&near, cx), "nothing arrived yet");
            Poll::Ready(())
        })
        .await;
        let writer = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            far.write_all(b"next query").await.unwrap();
            far
        });
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            wait_on_registration(&near, &watch),
        )
        .await
        .expect("the standing registration woke the task for data");
        let n = std::future::poll_fn(|cx| poll_read_into(&near, cx, &mut buf))
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"next query");

        // Again for the end of the stream.
        std::future::poll_fn(|cx| {
            assert!(poll_read_into(&near, cx, &mut buf).is_pending());
            watch.pending(cx);
            Poll::Ready(())
        })
        .await;
        let far = writer.await.unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            drop(far);
        });
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            wait_on_registration(&near, &watch),
        )
        .await
        .expect("the standing registration woke the task for the end of stream");
    }

    /// Every byte arrives in order across many reads into a growing buffer, and the end of
    /// the stream reads as 0.
    #[tokio::test]
    async fn reads_everything_in_order_then_end_of_stream() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let near = TcpStream::connect(addr).await.unwrap();
        let (mut far, _) = listener.accept().await.unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            far.write_all(&sent).await.unwrap();
        });
        let mut got = BytesMut::new();
        loop {
            got.reserve(4096);
            let n = std::future::poll_fn(|cx| poll_read_into(&near, cx, &mut got))
                .await
                .unwrap();
            if n == 0 {
                break;
            }
        }
        writer.await.unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got[..] == data[..]);
    }
}
