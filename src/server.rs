//! The accept loop: one task per client, a cap on concurrent sessions, and a graceful shutdown.
//!
//! Shutdown is a future passed in by the caller (ctrl-c in the binary, a channel in tests): when
//! it completes, replaygate stops accepting and waits for the sessions in flight to finish their
//! current statement and close, so a replay is never cut between a statement and its answer.

use std::future::Future;
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::Settings;
use crate::protocol::greeting::refuse_after_greeting;
use crate::protocol::{PacketStream, Socket};
use crate::session::{ProxyContext, serve_client};

/// How long running sessions get to finish after shutdown was requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where clients connect: the TCP address, and the unix socket if one is configured.
#[derive(Debug)]
pub struct Listeners {
    tcp: TcpListener,
    unix: Option<(UnixListener, PathBuf)>,
}

/// Binds the listen address and the socket; separate from [`run`] so bind errors reach the
/// caller directly (with the address that failed in the error).
pub async fn bind(settings: &Settings) -> io::Result<Listeners> {
    let tcp = TcpListener::bind(settings.listen).await.map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {e}", settings.listen),
        )
    })?;
    let unix = match &settings.socket {
        Some(path) => Some((bind_unix(path)?, path.clone())),
        None => None,
    };
    Ok(Listeners { tcp, unix })
}

/// Binds a unix socket at `path`. A socket file left by a replaygate that died is replaced; a
/// socket someone still answers on, or a file that is not a socket, is never touched.
fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    let context = |e: io::Error, what: &str| {
        io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {what}{e}", path.display()),
        )
    };
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(context(
                io::ErrorKind::AlreadyExists.into(),
                "the path exists and is not a socket: ",
            ));
        }
        match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(context(
                    io::ErrorKind::AddrInUse.into(),
                    "another process is serving on it: ",
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                warn!(socket = %path.display(), "replacing a stale socket file");
                std::fs::remove_file(path)
                    .map_err(|e| context(e, "removing the stale socket: "))?;
            }
            Err(e) => return Err(context(e, "probing the existing socket: ")),
        }
    }
    UnixListener::bind(path).map_err(|e| context(e, ""))
}

impl Listeners {
    /// The next client on either listener, with a name for it in the log.
    async fn accept(&self) -> io::Result<(Socket, String)> {
        let unix_accept = async {
            match &self.unix {
                Some((listener, path)) => {
                    let (stream, _) = listener.accept().await?;
                    Ok((Socket::Unix(stream), format!("unix:{}", path.display())))
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            accepted = self.tcp.accept() => {
                let (stream, peer) = accepted?;
                // Statements are small and latency-bound: never wait to coalesce them.
                let _ = stream.set_nodelay(true);
                Ok((Socket::Tcp(stream), peer.to_string()))
            }
            accepted = unix_accept => accepted,
        }
    }

    /// Stops listening; the socket file goes with the socket.
    fn close(self) {
        if let Some((listener, path)) = self.unix {
            drop(listener);
            if let Err(e) = std::fs::remove_file(&path) {
                warn!(socket = %path.display(), error = %e, "could not remove the socket file");
            }
        }
    }
}

/// MariaDB's code for a connection over `max_connections`.
const ER_CON_COUNT_ERROR: u16 = 1040;
/// The version a refused client is greeted with: no target was asked for its own.
const REFUSAL_VERSION: &str = "5.5.5-10.11.0-replaygate";

/// Answers a client over `proxy.max_connections` as a server does (`ERROR 1040 (08004): Too
/// many connections` after the handshake response), and closes. In its own task, with a time
/// limit, so a client that does not read cannot hold up the accept loop.
fn refuse_over_limit(client: Socket, peer: String, limit: usize) {
    metrics::counter!("replaygate_connections_refused_total", "reason" => "max_connections")
        .increment(1);
    warn!(client = %peer, limit, "refused a client: proxy.max_connections sessions are open");
    let message = format!("Too many connections (replaygate serves {limit}: --max-connections)");
    tokio::spawn(async move {
        // Room for any handshake response (connection attributes included).
        let mut stream = PacketStream::new(client, 64 * 1024);
        let refused = refuse_after_greeting(
            &mut stream,
            REFUSAL_VERSION,
            ER_CON_COUNT_ERROR,
            b"08004",
            &message,
        );
        let _ = tokio::time::timeout(Duration::from_secs(5), refused).await;
        stream.shutdown().await;
    });
}

/// Serves clients (as `serve`: each one a proxied session) until `shutdown` completes. `ctx` is
/// shared with the admin endpoint, if any.
pub async fn run(listeners: Listeners, ctx: Arc<ProxyContext>, shutdown: impl Future<Output = ()>) {
    let settings = &ctx.settings;
    info!(
        listen = %settings.listen,
        socket = settings.socket.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
        target = %settings.target,
        charset_mode = ?settings.charset.mode,
        charset = %settings.charset.default,
        "replaygate serving"
    );
    run_with(listeners, ctx, shutdown, serve_client).await;
}

/// The accept loop of [`run`], serving each connection with `handler` (`replaygate source`
/// serves replicas itself).
pub async fn run_with<H, F>(
    listeners: Listeners,
    ctx: Arc<ProxyContext>,
    shutdown: impl Future<Output = ()>,
    handler: H,
) where
    H: Fn(u64, Socket, String, Arc<ProxyContext>) -> F + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let settings = Arc::clone(&ctx.settings);
    // Progress lines live as long as the accept loop.
    let progress = settings.progress_interval.map(|interval| {
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move { crate::progress::run(&ctx, interval).await })
    });
    // The adaptive controller also lives as long as the accept loop.
    let adaptive = settings.adaptive.clone().map(|adaptive| {
        let throttle = Arc::clone(&ctx.throttle);
        let target = settings.target.clone();
        let tls = settings.tls.target.clone();
        tokio::spawn(crate::adaptive::run(throttle, target, tls, adaptive))
    });
    let limit = Arc::new(Semaphore::new(settings.max_connections));
    let mut sessions = JoinSet::new();
    let mut next_id: u64 = 1;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listeners.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((client, peer)) => {
                // Over the limit a client is refused at once, as the server refuses it, rather
                // than left waiting in the backlog without a word until its connect times out.
                let Ok(permit) = Arc::clone(&limit).try_acquire_owned() else {
                    refuse_over_limit(client, peer, settings.max_connections);
                    continue;
                };
                let id = next_id;
                next_id += 1;
                let ctx = Arc::clone(&ctx);
                let session = handler(id, client, peer, ctx);
                sessions.spawn(async move {
                    session.await;
                    drop(permit);
                });
            }
            Err(e) => {
                // Out of file descriptors and similar: back off instead of spinning.
                error!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        // Reap finished sessions so the set does not grow with every client ever served.
        while let Some(done) = sessions.try_join_next() {
            if let Err(e) = done
                && e.is_panic()
            {
                error!(error = %e, "a session panicked");
            }
        }
    }
    listeners.close();
    ctx.stop();
    while sessions.try_join_next().is_some() {}
    info!(
        sessions = sessions.len(),
        "shutting down: no new clients; waiting for open sessions"
    );
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            remaining = sessions.len(),
            "sessions still open after {DRAIN_TIMEOUT:?}; closing them"
        );
        sessions.shutdown().await;
    }
    if let Some(progress) = progress {
        progress.abort();
    }
    if let Some(adaptive) = adaptive {
        adaptive.abort();
    }
    info!("replaygate stopped");
}
