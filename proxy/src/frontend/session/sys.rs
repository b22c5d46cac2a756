//! The session's socket reads and writes, as the system calls themselves.
//!
//! glibc's `recv` and `send` are thread cancellation points: around every call they switch
//! asynchronous cancellation on and off again, which callgrind counts at about 35
//! instructions per call, four calls per transaction (PgBouncer pays the same through
//! libc). pgDog never cancels a thread, so on Linux the session's hot path enters the
//! kernel through `syscall(2)` instead, which does no more than the call. Elsewhere these
//! are the standard library's calls.
//!
//! Both work on a socket tokio manages: callers go through `TcpStream::try_io`, so that a
//! `WouldBlock` here clears tokio's readiness as tokio's own reads and writes do.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

use tokio::net::TcpStream;

/// Receives into `buf` what the socket holds now: the bytes received, 0 at end of stream.
pub(super) fn recv(stream: &TcpStream, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    loop {
        match recv_once(stream, buf) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            done => return done,
        }
    }
}

/// Sends what the socket takes of `buf` now: the bytes sent.
pub(super) fn send(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    loop {
        match send_once(stream, buf) {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            done => return done,
        }
    }
}

#[cfg(target_os = "linux")]
fn recv_once(stream: &TcpStream, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // Every argument as a full register: `syscall` is variadic, and an `int` passed there
    // leaves the register's upper half undefined.
    let fd = stream.as_raw_fd() as libc::c_long;
    // SAFETY: `fd` is the socket `stream` owns, open while it is borrowed; the kernel
    // writes at most `buf.len()` bytes at `buf`, which is writable memory (uninitialised is
    // fine: it is only written). No address is asked for (null pointers).
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd,
            buf.as_mut_ptr() as libc::c_long,
            buf.len() as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(target_os = "linux")]
fn send_once(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    let fd = stream.as_raw_fd() as libc::c_long;
    // SAFETY: as in `recv_once`; the kernel only reads `buf.len()` bytes at `buf`.
    // MSG_NOSIGNAL: a closed peer is an EPIPE error, never a SIGPIPE (as the standard
    // library's `send` does).
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd,
            buf.as_ptr() as libc::c_long,
            buf.len() as libc::c_long,
            libc::MSG_NOSIGNAL as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

// Elsewhere tokio's own calls; callers are inside `try_io`, so the readiness they check
// is set.
#[cfg(not(target_os = "linux"))]
fn recv_once(stream: &TcpStream, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    let mut room = buf;
    stream.try_read_buf(&mut room)
}

#[cfg(not(target_os = "linux"))]
fn send_once(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    stream.try_write(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::Interest;
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let near = TcpStream::connect(addr).await.unwrap();
        let (far, _) = listener.accept().await.unwrap();
        (near, far)
    }

    /// Bytes sent arrive as sent; an empty socket says WouldBlock; a closed peer reads as
    /// end of stream and makes sending fail with an error (not a signal).
    #[tokio::test]
    async fn sends_receives_would_block_and_end_of_stream() {
        let (near, far) = pair().await;
        let mut buf = [MaybeUninit::<u8>::uninit(); 64];
        assert_eq!(
            recv(&far, &mut buf).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        near.writable().await.unwrap();
        assert_eq!(send(&near, b"SELECT 1").unwrap(), 8);
        far.readable().await.unwrap();
        let n = far
            .try_io(Interest::READABLE, || recv(&far, &mut buf))
            .unwrap();
        // SAFETY: recv initialised the first n bytes.
        let got: Vec<u8> = buf[..n]
            .iter()
            .map(|b| unsafe { b.assume_init() })
            .collect();
        assert_eq!(got, b"SELECT 1");

        drop(far);
        near.readable().await.unwrap();
        assert_eq!(recv(&near, &mut buf).unwrap(), 0);
        let chunk = vec![7u8; 1 << 16];
        let mut failed = None;
        for _ in 0..64 {
            match send(&near, &chunk) {
                Ok(_) => near.writable().await.unwrap(),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    near.writable().await.unwrap()
                }
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        let err = failed.expect("sending to a closed peer kept succeeding");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ),
            "{err}"
        );
    }
}
