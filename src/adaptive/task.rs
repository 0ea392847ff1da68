//! The control task: reads the signal every interval and applies the controller's decisions to
//! the shared throttle.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, info, warn};

use super::signal::{ReadError, opts, read_signal};
use super::{AdaptiveSettings, AdaptiveState, AdaptiveStatus, Controller, Decision};
use crate::config::Target;
use crate::throttle::Throttle;

/// The control task: runs until aborted (at shutdown).
pub async fn run(throttle: Arc<Throttle>, target: Target, settings: AdaptiveSettings) {
    let opts = opts(&target, &settings);
    let signal = settings.signal.as_str();
    let mut controller = Controller::new(settings.limits);
    let read_timeout = settings.interval.max(Duration::from_secs(5));
    let mut last_error: Option<String> = None;
    let mut conn: Option<mysql_async::Conn> = None;
    let mut ticker = tokio::time::interval(settings.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = (tokio::time::Instant::now(), throttle.admitted_statements());
    let mut decision = Decision {
        state: AdaptiveState::Normal,
        cap: 0,
        paused: false,
    };
    info!(
        signal,
        max_load = settings.limits.max_load,
        critical_load = settings.limits.critical_load,
        "adaptive throttling on"
    );
    loop {
        ticker.tick().await;
        // A hung target (or network) must not freeze the controller in its last decision without
        // a word: a reading that takes too long counts as a failed one.
        let reading = tokio::time::timeout(read_timeout, async {
            if conn.is_none() {
                conn = Some(mysql_async::Conn::new(opts.clone()).await?);
            }
            let c = conn.as_mut().ok_or(ReadError::NoRow)?;
            read_signal(c, &settings).await
        })
        .await
        .unwrap_or(Err(ReadError::Timeout(read_timeout)));
        let load = match reading {
            Ok(load) => load,
            Err(e) => {
                // Keep the last decision: a lost control connection neither lifts a pause on a
                // loaded target nor stops the replay.
                if matches!(e, ReadError::Mysql(_) | ReadError::Timeout(_)) {
                    conn = None;
                }
                // Warn once per distinct error, not every interval.
                let text = e.to_string();
                if last_error.as_ref() != Some(&text) {
                    warn!(signal, error = %e, "adaptive throttle: cannot read the load signal; retrying every interval");
                } else {
                    debug!(signal, error = %e, "adaptive throttle: still cannot read the load signal");
                }
                last_error = Some(text);
                throttle.set_adaptive_status(AdaptiveStatus {
                    signal: signal.into(),
                    value: None,
                    state: decision.state,
                    cap: (decision.cap > 0).then_some(decision.cap),
                    error: last_error.clone(),
                });
                continue;
            }
        };
        if last_error.take().is_some() {
            info!(
                signal,
                load, "adaptive throttle: load signal readable again"
            );
        }
        metrics::gauge!("replaygate_throttle_load").set(load);
        let now = tokio::time::Instant::now();
        let admitted = throttle.admitted_statements();
        let secs = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let rate = admitted.saturating_sub(last.1) as f64 / secs;
        last = (now, admitted);
        let next = controller.decide(load, rate, throttle.caps().statements_per_sec);
        throttle.set_adaptive_cap(next.cap);
        throttle.set_adaptive_pause(next.paused);
        if next.state != decision.state {
            let cap = next.cap;
            match next.state {
                AdaptiveState::Paused => warn!(
                    signal,
                    load,
                    "adaptive throttle: load critical; replay paused (clients stay connected)"
                ),
                AdaptiveState::BackingOff => warn!(
                    signal,
                    load, cap, "adaptive throttle: load above max_load; backing off"
                ),
                AdaptiveState::Recovering => info!(
                    signal,
                    load, cap, "adaptive throttle: load below max_load; recovering"
                ),
                AdaptiveState::Normal => info!(
                    signal,
                    load, "adaptive throttle: load normal; no adaptive cap"
                ),
            }
        }
        decision = next;
        throttle.set_adaptive_status(AdaptiveStatus {
            signal: signal.into(),
            value: Some(load),
            state: next.state,
            cap: (next.cap > 0).then_some(next.cap),
            error: None,
        });
    }
}
