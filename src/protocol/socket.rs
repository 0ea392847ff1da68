//! The byte streams replaygate speaks MySQL over: TCP or a unix socket, on either leg, in clear
//! text or inside TLS (which a session switches to during the connection phase).
//!
//! Besides the usual async reads and writes, a [`Socket`] can be read *now*, without parking the
//! task: [`PacketStream`](super::PacketStream) uses that to wait for a reply by polling the socket
//! for a few microseconds before it lets the task sleep. A replayed statement is usually answered
//! within tens of microseconds, and on a virtual machine the sleep-and-wake-up of the extra hop
//! costs more than that (see bench/README.md), so a short poll is what keeps the proxy's round
//! trip close to the direct pipe's.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use socket2::SockRef;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

/// A connected TCP or unix-domain stream, or TLS over one.
#[derive(Debug)]
pub enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
    /// Either side of TLS: replaygate as the server (client leg) or as the client (target leg).
    Tls(Box<tokio_rustls::TlsStream<Socket>>),
}

impl Socket {
    /// Makes closing this socket abortive, as a server's is when it drops a client (TCP sends a
    /// reset, so the peer's next write fails at once instead of its next read); nothing to do
    /// for a unix socket, whose writes fail once the peer is gone.
    pub fn reset_on_close(&self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => SockRef::from(s).set_linger(Some(std::time::Duration::ZERO)),
            Self::Unix(_) => Ok(()),
            Self::Tls(s) => s.get_ref().0.reset_on_close(),
        }
    }

    /// Whether the stream is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }

    /// One read of decrypted bytes that does not wait: TLS has no socket to ask directly, so
    /// its stream is polled once with a waker that does nothing (a later real poll or
    /// `readable` registers the task's own).
    fn poll_once(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut read = ReadBuf::new(buf);
        match Pin::new(self).poll_read(&mut cx, &mut read) {
            Poll::Ready(Ok(())) => Ok(Some(read.filled().len())),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Ok(None),
        }
    }
}

/// A stream that can hand over what has already arrived without waiting for more, and say when
/// something has.
pub trait ReadNow {
    /// Reads what has already arrived into `buf`: `Ok(None)` when nothing has (the call would
    /// block), `Ok(Some(0))` at end of stream.
    fn read_now(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;

    /// Completes once a read would not block (bytes or end of stream arrived). Cancel-safe.
    fn readable(&self) -> impl Future<Output = io::Result<()>> + Send;

    /// Like [`ReadNow::read_now`], for right after [`ReadNow::readable`]: a read that finds
    /// nothing also clears the readiness the reactor had cached, so the next `readable` waits
    /// for new bytes. (`read_now` leaves the cache alone: after it consumed what a busy poll
    /// found, `readable` would complete again and again with nothing to read, a loop that never
    /// yields.)
    fn read_ready(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>>;
}

impl ReadNow for Socket {
    fn read_now(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // tokio keeps its sockets non-blocking, so a plain read returns WouldBlock instead of
        // sleeping. (tokio's own `try_read` would not do: it trusts its cached readiness and skips
        // the system call until the reactor has run.)
        let socket = match self {
            Self::Tcp(s) => SockRef::from(&*s),
            Self::Unix(s) => SockRef::from(&*s),
            Self::Tls(_) => return self.poll_once(buf),
        };
        match (&*socket).read(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    async fn readable(&self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.readable().await,
            Self::Unix(s) => s.readable().await,
            Self::Tls(s) => {
                let (socket, state) = s.get_ref();
                // Decrypted bytes already buffered: no need for the socket to say more came.
                if !state.wants_read() {
                    return Ok(());
                }
                match socket {
                    Self::Tcp(s) => s.readable().await,
                    Self::Unix(s) => s.readable().await,
                    // TLS is never nested.
                    Self::Tls(_) => Ok(()),
                }
            }
        }
    }

    fn read_ready(&mut self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let read = match self {
            Self::Tcp(s) => s.try_read(buf),
            Self::Unix(s) => s.try_read(buf),
            // A poll that finds nothing leaves the socket's readiness cleared, as try_read does.
            Self::Tls(_) => return self.poll_once(buf),
        };
        match read {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// In-memory pipes (unit tests) have nothing to poll: their reads always go through the task,
/// and they never say in advance that one would succeed.
impl ReadNow for tokio::io::DuplexStream {
    fn read_now(&mut self, _buf: &mut [u8]) -> io::Result<Option<usize>> {
        Ok(None)
    }

    async fn readable(&self) -> io::Result<()> {
        std::future::pending().await
    }

    fn read_ready(&mut self, _buf: &mut [u8]) -> io::Result<Option<usize>> {
        Ok(None)
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
