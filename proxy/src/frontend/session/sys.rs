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
    retrying(|| recv_once(stream, buf))
}

/// Sends what the socket takes of `buf` now: the bytes sent.
pub(super) fn send(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    retrying(|| send_once(stream, buf))
}

/// Runs `call` again when a signal interrupted it.
fn retrying(mut call: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    loop {
        match call() {
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            done => return done,
        }
    }
}

#[cfg(target_os = "linux")]
fn recv_once(stream: &TcpStream, buf: &mut [MaybeUninit<u8>]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes at `buf`, which is writable
    // memory (uninitialised is fine: it is only written).
    unsafe {
        socket_call(
            libc::SYS_recvfrom,
            stream,
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
        )
    }
}

#[cfg(target_os = "linux")]
fn send_once(stream: &TcpStream, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the kernel only reads `buf.len()` bytes at `buf`. MSG_NOSIGNAL: a closed peer
    // is an EPIPE error, never a SIGPIPE (as with the standard library's `send`).
    unsafe {
        socket_call(
            libc::SYS_sendto,
            stream,
            buf.as_ptr().cast_mut().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    }
}

/// `recvfrom` or `sendto` (`nr`) on `stream`'s socket with no address: the byte count.
///
/// # Safety
/// `data` must point to `len` bytes the call may use: writable ones for `recvfrom`,
/// readable ones for `sendto`.
#[cfg(target_os = "linux")]
unsafe fn socket_call(
    nr: libc::c_long,
    stream: &TcpStream,
    data: *mut u8,
    len: usize,
    flags: libc::c_int,
) -> io::Result<usize> {
    // Every argument as a full register: `syscall` is variadic, and an `int` passed there
    // leaves the register's upper half undefined.
    // SAFETY: the fd is the socket `stream` owns, open while it is borrowed; the caller
    // vouches for `data` and `len`; the address arguments are null (none wanted or given).
    let n = unsafe {
        libc::syscall(
            nr,
            stream.as_raw_fd() as libc::c_long,
            data as libc::c_long,
            len as libc::c_long,
            flags as libc::c_long,
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
