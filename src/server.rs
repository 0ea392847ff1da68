//! The accept loop: one task per client, a cap on concurrent sessions, and a graceful shutdown.
//!
//! Shutdown is a future passed in by the caller (ctrl-c in the binary, a channel in tests): when
//! it completes, replaygate stops accepting and waits for the sessions in flight to finish their
//! current statement and close, so a replay is never cut between a statement and its answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{error, info, warn};

use crate::config::Settings;
use crate::session::{ProxyContext, serve_client};

/// How long running sessions get to finish after shutdown was requested.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds the listen address; separate from [`run`] so bind errors reach the caller directly.
pub async fn bind(settings: &Settings) -> std::io::Result<TcpListener> {
    TcpListener::bind(settings.listen).await
}

/// Serves clients until `shutdown` completes. `ctx` is shared with the admin endpoint, if any.
pub async fn run(
    listener: TcpListener,
    ctx: Arc<ProxyContext>,
    shutdown: impl Future<Output = ()>,
) {
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
        tokio::spawn(crate::adaptive::run(throttle, target, adaptive))
    });
    let limit = Arc::new(Semaphore::new(settings.max_connections));
    let mut sessions = JoinSet::new();
    let mut next_id: u64 = 1;
    info!(
        listen = %settings.listen,
        target = %settings.target,
        charset_mode = ?settings.charset.mode,
        charset = %settings.charset.default,
        "replaygate serving"
    );
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting, so excess clients queue in the kernel's backlog
        // instead of holding a backend connection each.
        let permit = tokio::select! {
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, _peer)) => {
                let id = next_id;
                next_id += 1;
                let ctx = Arc::clone(&ctx);
                sessions.spawn(async move {
                    serve_client(id, stream, ctx).await;
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
    drop(listener);
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
