//! The control task: reads the signal every interval and applies the controller's decisions to
//! the shared throttle.
//!
//! What a reading without a value means depends on where the signal comes from. The target's own
//! signal (`threads_running`, `query`) that cannot be read keeps the last decision: a lost control
//! connection neither lifts a pause on a loaded target nor stops the replay (the data path would
//! notice a target that is really gone). A replica whose lag is unknown pauses the replay: the
//! data path never talks to replicas, so nothing else would notice one that stopped replicating.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, error, info, warn};

use super::replica::{Replicas, combined};
use super::signal::{ReadError, TargetProbe, TargetSignal};
use super::{AdaptiveSettings, AdaptiveState, AdaptiveStatus, Controller, Decision, Signal};
use crate::config::Target;
use crate::control::TargetControl;
use crate::throttle::{Abort, Throttle};
use crate::tls::TargetTls;

/// Where the signal is read.
#[derive(Debug)]
enum Source {
    Target(TargetSignal),
    Replicas(Replicas),
}

/// One reading.
#[derive(Debug)]
enum Reading {
    Load(f64),
    /// The target's control connection failed: keep the last decision.
    Failed(ReadError),
    /// The value is unknown and unknown is unsafe (a replica's lag): pause.
    Unknown(String),
}

/// The control task: runs until aborted (at shutdown).
pub async fn run(
    throttle: Arc<Throttle>,
    target: Target,
    tls: Option<TargetTls>,
    settings: AdaptiveSettings,
) {
    let password = settings.password.as_deref();
    let control = TargetControl::new(&target, &settings.user, password, tls.as_ref());
    let mut source = match (&settings.signal, &settings.query) {
        (Signal::ReplicaLag, _) => {
            Source::Replicas(Replicas::new(&settings.replicas, &settings.user, password))
        }
        (Signal::Query, Some(query)) => Source::Target(TargetSignal::new(
            TargetProbe::Query(query.clone()),
            control,
        )),
        _ => Source::Target(TargetSignal::new(TargetProbe::ThreadsRunning, control)),
    };
    let signal = settings.signal.as_str();
    let mut controller = Controller::new(settings.limits);
    let read_timeout = settings.interval.max(Duration::from_secs(5));
    let mut last_error: Option<String> = None;
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
        replicas = ?settings.replicas.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "adaptive throttling on"
    );
    loop {
        ticker.tick().await;
        let (reading, replicas) = match &mut source {
            Source::Target(target) => match target.read(read_timeout).await {
                Ok(load) => (Reading::Load(load), Vec::new()),
                Err(e) => (Reading::Failed(e), Vec::new()),
            },
            Source::Replicas(set) => {
                let replicas = set.read(read_timeout).await;
                match combined(&replicas) {
                    Ok(lag) => (Reading::Load(lag), replicas),
                    Err(problems) => (Reading::Unknown(problems), replicas),
                }
            }
        };
        let mut status = AdaptiveStatus {
            signal: signal.into(),
            value: None,
            state: decision.state,
            cap: (decision.cap > 0).then_some(decision.cap),
            error: None,
            replicas,
        };
        let load = match reading {
            Reading::Failed(e) => {
                // Warn once per distinct error, not every interval.
                let text = e.to_string();
                if last_error.as_ref() != Some(&text) {
                    warn!(signal, error = %e, "adaptive throttle: cannot read the load signal; retrying every interval");
                } else {
                    debug!(signal, error = %e, "adaptive throttle: still cannot read the load signal");
                }
                last_error = Some(text);
                status.error.clone_from(&last_error);
                throttle.set_adaptive_status(status);
                continue;
            }
            Reading::Unknown(why) => {
                // Each replica's problem was logged by name as it appeared.
                status.error = Some(why);
                None
            }
            Reading::Load(load) => {
                if last_error.take().is_some() {
                    info!(
                        signal,
                        load, "adaptive throttle: load signal readable again"
                    );
                }
                metrics::gauge!("replaygate_throttle_load").set(load);
                Some(load)
            }
        };
        let now = tokio::time::Instant::now();
        let admitted = throttle.admitted_statements();
        let secs = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let rate = admitted.saturating_sub(last.1) as f64 / secs;
        last = (now, admitted);
        let next = match load {
            Some(load) => controller.decide(load, rate, throttle.caps().statements_per_sec),
            None => controller.load_unknown(),
        };
        if let (AdaptiveState::Aborted, Some(load)) = (next.state, load) {
            // Before the pause is lifted below, so that no waiting session slips through.
            throttle.abort(Abort::new(signal, load, settings.limits.critical_load));
        }
        throttle.set_adaptive_cap(next.cap);
        throttle.set_adaptive_pause(next.paused);
        if next.state != decision.state {
            log_change(signal, next, load);
        }
        decision = next;
        status.value = load;
        status.state = next.state;
        status.cap = (next.cap > 0).then_some(next.cap);
        throttle.set_adaptive_status(status);
    }
}

/// One line per state change, with the reading that caused it.
fn log_change(signal: &str, next: Decision, load: Option<f64>) {
    let cap = next.cap;
    match (next.state, load) {
        (AdaptiveState::Paused, None) => warn!(
            signal,
            "adaptive throttle: load unknown; replay paused until it is known and below max_load \
             (clients stay connected)"
        ),
        (AdaptiveState::Paused, Some(load)) => warn!(
            signal,
            load, "adaptive throttle: load critical; replay paused (clients stay connected)"
        ),
        (AdaptiveState::Aborted, load) => error!(
            signal,
            load,
            "adaptive throttle: load critical; replay aborted (on_critical = \"abort\"): every \
             session halts at its next statement, which is refused; replaygate stays up so GET \
             /status shows why. Restart it to resume once the load is down"
        ),
        (AdaptiveState::BackingOff, load) => warn!(
            signal,
            load, cap, "adaptive throttle: load above max_load; backing off"
        ),
        (AdaptiveState::Recovering, load) => info!(
            signal,
            load, cap, "adaptive throttle: load below max_load; recovering"
        ),
        (AdaptiveState::Normal, load) => info!(
            signal,
            load, "adaptive throttle: load normal; no adaptive cap"
        ),
    }
}
