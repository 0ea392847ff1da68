//! Progress lines: while sessions replay, `serve` logs one line per active session every few
//! seconds (statements/s, MB/s, binlog position, GTID, throttle state), and one per streaming
//! replica (events/s, MB/s, how far it was sent, GTID, events withheld).
//!
//! It reads the registry sessions publish to, so it costs the sessions nothing; a session with
//! no new statements since the last line gets no line, so an idle proxy stays quiet.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;
use tracing::info;

use crate::session::ProxyContext;

/// Logs progress every `interval` until the task is dropped.
pub async fn run(ctx: &ProxyContext, interval: Duration) {
    let mut tick = tokio::time::interval_at(Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Per session: (statements, bytes) at the last tick.
    let mut last: HashMap<u64, (u64, u64)> = HashMap::new();
    // Per replica server id: (events, bytes) sent at the last tick.
    let mut last_replicas: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut last_tick = Instant::now();
    loop {
        tick.tick().await;
        let now = Instant::now();
        let secs = now.duration_since(last_tick).as_secs_f64().max(1e-3);
        last_tick = now;
        let sessions = ctx.registry.snapshot();
        let throttle = ctx.throttle.status();
        let adaptive = throttle.adaptive.as_ref().map(|a| a.state);
        let state = if throttle.aborted.is_some() {
            "aborted"
        } else if throttle.paused {
            "paused"
        } else if adaptive == Some(crate::adaptive::AdaptiveState::Paused) {
            "paused (load)"
        } else if adaptive.is_some_and(|a| a != crate::adaptive::AdaptiveState::Normal) {
            "capped (load)"
        } else if throttle.caps != crate::throttle::Caps::default() {
            "capped"
        } else {
            "open"
        };
        let mut seen = HashMap::with_capacity(sessions.len());
        for s in &sessions {
            let (statements, bytes) = last.get(&s.id).copied().unwrap_or((0, 0));
            seen.insert(s.id, (s.statements, s.bytes_in));
            if s.statements == statements && s.bytes_in == bytes {
                continue;
            }
            let statements_per_sec = (s.statements - statements.min(s.statements)) as f64 / secs;
            let mb_per_sec = (s.bytes_in - bytes.min(s.bytes_in)) as f64 / secs / 1e6;
            info!(
                session = s.id,
                statements = s.statements,
                statements_per_sec = (statements_per_sec * 10.0).round() / 10.0,
                mb_per_sec = (mb_per_sec * 100.0).round() / 100.0,
                db = s.database.as_deref().unwrap_or(""),
                position = s.binlog_position,
                gtid = s.gtid.as_deref().unwrap_or(""),
                in_flight = s.in_flight,
                throttle = state,
                "progress"
            );
        }
        last = seen;
        for r in ctx.replicas.snapshot() {
            let Some(session) = r.session else {
                continue;
            };
            let previous = last_replicas.insert(r.server_id, (r.events_sent, r.bytes_sent));
            if previous == Some((r.events_sent, r.bytes_sent)) {
                continue;
            }
            let (events, bytes) = previous.unwrap_or((0, 0));
            info!(
                session,
                replica = r.server_id,
                events = r.events_sent,
                events_per_sec =
                    ((r.events_sent.saturating_sub(events)) as f64 / secs * 10.0).round() / 10.0,
                mb_per_sec = ((r.bytes_sent.saturating_sub(bytes)) as f64 / secs / 1e6 * 100.0)
                    .round()
                    / 100.0,
                sent_up_to = %format!("{}:{}", r.file, r.position),
                gtid = r.gtid.as_deref().unwrap_or(""),
                withheld = r.withheld,
                "replica progress"
            );
        }
    }
}
