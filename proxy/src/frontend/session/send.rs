//! Writing a whole buffer to a socket on the session's hot path.
//!
//! A reply or a query nearly always fits in the socket's send buffer, so it leaves with one
//! `send`. Going straight to the socket while it accepts data, and only awaiting
//! writability when it is full, skips building and polling a write future on every
//! message: callgrind counts that machinery at about a hundred instructions per write,
//! twice per transaction. The write itself is `session::sys::send`.

use std::io;

use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::TcpStream;

/// Writes as much of `buf` as the socket takes now, without waiting: the bytes written.
/// Callers finish with [`send_all`] only when this fell short, so the common write builds
/// no future at all (callgrind: about 50 instructions per write less than awaiting
/// `send_all` for it).
pub(super) fn send_now(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    let mut sent = 0;
    while sent < buf.len() {
        match stream.try_io(Interest::WRITABLE, || {
            super::sys::send(stream, &buf[sent..])
        }) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            // Full (or not known to be writable yet): the rest waits for room.
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(err),
        }
    }
    Ok(sent)
}

/// Writes all of `buf` to `stream`, as `write_all` would.
pub(super) async fn send_all(stream: &mut TcpStream, buf: &[u8]) -> io::Result<()> {
    let sent = send_now(stream, buf)?;
    if sent < buf.len() {
        stream.write_all(&buf[sent..]).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// More than any socket buffer takes at once: the rest must wait for the reader, and
    /// every byte arrive in order.
    #[tokio::test]
    async fn a_buffer_larger_than_the_socket_arrives_whole() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let data: Vec<u8> = (0..16 << 20).map(|i: u32| (i % 251) as u8).collect();
        let expected = data.clone();
        let reader = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            socket.read_to_end(&mut got).await.unwrap();
            got
        });
        let mut stream = TcpStream::connect(addr).await.unwrap();
        send_all(&mut stream, &data).await.unwrap();
        send_all(&mut stream, b"").await.unwrap();
        drop(stream);
        assert!(reader.await.unwrap() == expected);
    }

    #[tokio::test]
    async fn a_closed_peer_is_an_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let (peer, _) = listener.accept().await.unwrap();
        drop(peer);
        drop(listener);
        let chunk = vec![0u8; 1 << 20];
        let mut failed = false;
        for _ in 0..64 {
            if send_all(&mut stream, &chunk).await.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed, "writing to a closed peer kept succeeding");
    }
}
