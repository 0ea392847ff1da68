//! The admin endpoint: a small HTTP server for the operator of a running replay.
//!
//! - `GET /metrics`: Prometheus text, rendered from the `metrics` crate's recorder;
//! - `GET /status`: JSON [`StatusReport`] — every open session and the throttle;
//! - `POST /pause`, `POST /resume`: the process-wide pause gate;
//! - `POST /throttle`: JSON [`CapsUpdate`] (`null`/absent: unchanged, `0`: no cap).
//!
//! It only reads what sessions publish (the registry) and flips the shared throttle, so nothing it
//! does can block a session. It listens on loopback unless told otherwise, because it can pause
//! the replay and has no authentication of its own.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tracing::warn;

use crate::session::ProxyContext;
use crate::session::status::SessionStatus;
use crate::throttle::{CapsUpdate, ThrottleStatus};

/// Why the admin endpoint cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot install the metrics recorder: {0}")]
    Metrics(#[from] metrics_exporter_prometheus::BuildError),
}

/// What `GET /status` answers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusReport {
    pub version: String,
    pub sessions: Vec<SessionStatus>,
    pub throttle: ThrottleStatus,
    /// Replicas streaming (or that streamed) through replaygate.
    #[serde(default)]
    pub replicas: Vec<crate::replication::ReplicaStatus>,
}

/// How often the recorder's histograms are compacted.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Installs the process's metrics recorder (the one global the `metrics` crate imposes) and
/// returns the handle `/metrics` renders. Call once, inside the runtime.
pub fn install_metrics() -> Result<PrometheusHandle, AdminError> {
    let handle = PrometheusBuilder::new().install_recorder()?;
    describe_metrics();
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

fn describe_metrics() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "replaygate_statements_total",
        "Statements judged, by classified kind and the guard's verdict"
    );
    describe_counter!(
        "replaygate_bytes_in_total",
        Unit::Bytes,
        "Bytes of commands received from clients"
    );
    describe_counter!(
        "replaygate_bytes_out_total",
        Unit::Bytes,
        "Bytes of commands forwarded to the target"
    );
    describe_histogram!(
        "replaygate_statement_duration_seconds",
        Unit::Seconds,
        "Time from forwarding a query to the end of the target's answer (throttle wait excluded; statements sent ahead are not timed: their answers are read later)"
    );
    describe_gauge!("replaygate_sessions", "Open client sessions");
    describe_gauge!(
        "replaygate_in_flight_statements",
        "Statements sent ahead (--apply-mode pipelined) whose reply is still to come, over all sessions"
    );
    describe_gauge!(
        "replaygate_in_flight_bytes",
        Unit::Bytes,
        "Bytes of the statements sent ahead whose reply is still to come, over all sessions"
    );
    describe_counter!(
        "replaygate_backend_errors_total",
        "Target errors: refused (an ERR for a statement) or lost (the connection failed)"
    );
    describe_gauge!(
        "replaygate_throttle_paused",
        "1 while the replay is paused by the admin endpoint"
    );
    describe_gauge!(
        "replaygate_throttle_aborted",
        "1 once the adaptive throttle aborted the replay (on_critical = \"abort\"); final"
    );
    describe_gauge!(
        "replaygate_throttle_load",
        "The adaptive throttle's last reading of the target's load signal"
    );
    describe_gauge!(
        "replaygate_throttled_seconds_total",
        Unit::Seconds,
        "Time sessions spent waiting on caps and pauses, summed over sessions (only grows)"
    );
}

#[derive(Debug, Clone)]
struct AdminState {
    ctx: Arc<ProxyContext>,
    metrics: Option<PrometheusHandle>,
}

/// The endpoint's routes over the shared context; `metrics` is `None` when no recorder is
/// installed (then `/metrics` answers 404).
pub fn router(ctx: Arc<ProxyContext>, metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/status", get(status))
        .route("/pause", post(pause))
        .route("/resume", post(resume))
        .route("/throttle", post(throttle))
        .with_state(AdminState { ctx, metrics })
}

/// Serves the endpoint on `listener` until the task is dropped.
pub async fn serve(
    listener: TcpListener,
    ctx: Arc<ProxyContext>,
    metrics: Option<PrometheusHandle>,
) -> std::io::Result<()> {
    axum::serve(listener, router(ctx, metrics)).await
}

/// The report `GET /status` answers.
pub fn report(ctx: &ProxyContext) -> StatusReport {
    StatusReport {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        sessions: ctx.registry.snapshot(),
        throttle: ctx.throttle.status(),
        replicas: ctx.replicas.snapshot(),
    }
}

async fn metrics_text(State(state): State<AdminState>) -> impl IntoResponse {
    match &state.metrics {
        Some(handle) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        ),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain")],
            "no metrics recorder installed\n".to_owned(),
        ),
    }
}

async fn status(State(state): State<AdminState>) -> Json<StatusReport> {
    Json(report(&state.ctx))
}

async fn pause(State(state): State<AdminState>) -> Json<ThrottleStatus> {
    if state.ctx.throttle.pause() {
        // A paused transaction keeps its locks on the target, and the target's timeouts keep
        // running: say so rather than let a timeout surprise the operator later.
        for s in state.ctx.registry.snapshot() {
            if s.in_transaction {
                warn!(
                    session = s.id,
                    client = %s.client,
                    gtid = s.gtid.as_deref().unwrap_or(""),
                    "paused inside an open transaction: it holds its locks on the target, and the \
                     target's wait_timeout / innodb_lock_wait_timeout still apply"
                );
            }
        }
    }
    Json(state.ctx.throttle.status())
}

async fn resume(State(state): State<AdminState>) -> Json<ThrottleStatus> {
    state.ctx.throttle.resume();
    Json(state.ctx.throttle.status())
}

async fn throttle(
    State(state): State<AdminState>,
    Json(update): Json<CapsUpdate>,
) -> Json<ThrottleStatus> {
    state.ctx.throttle.set_caps(update);
    Json(state.ctx.throttle.status())
}
