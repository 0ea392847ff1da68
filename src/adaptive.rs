//! Adaptive throttling: slow the replay down when the target is loaded, pause it when the load is
//! critical, and recover when the load falls (`[throttle.adaptive]` in the config).
//!
//! Three parts, kept apart so the decisions can be tested without a clock or a server:
//! - [`Controller`]: a pure state machine, load signal (and the recently observed statement rate)
//!   in, adaptive cap and pause out. Above `max_load` it backs off multiplicatively (halves the
//!   cap, floored at `min_statements_per_sec`); at or below it recovers additively and drops the
//!   cap once it no longer binds; at `critical_load` it pauses until the load is below `max_load`.
//! - [`run`]: the control task. It owns its own connection to the target (the data path never
//!   stores passwords; this one connection needs credentials of its own), reads the signal every
//!   interval, and applies the controller's decisions to the shared [`Throttle`]. A failing
//!   control connection is logged and retried each interval; it never stops the replay.
//! - The [`Throttle`] keeps the adaptive cap separate from the operator's caps and combines them
//!   by taking the smaller, so adaptation never raises a cap the operator set.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::config::Target;
use crate::throttle::Throttle;

/// What the controller is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdaptiveState {
    /// No adaptive cap: the load is fine.
    Normal,
    /// The load is above `max_load`: the adaptive cap is being lowered.
    BackingOff,
    /// The load is back at or below `max_load`: the cap is being raised step by step.
    Recovering,
    /// The load reached `critical_load`: sessions wait before their next statement.
    Paused,
}

impl AdaptiveState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::BackingOff => "backing_off",
            Self::Recovering => "recovering",
            Self::Paused => "paused",
        }
    }
}

/// Which load signal is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// `SHOW GLOBAL STATUS LIKE 'Threads_running'` (gh-ost's max-load).
    ThreadsRunning,
    /// The configured `query`, returning one number.
    Query,
}

impl Signal {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ThreadsRunning => "threads_running",
            Self::Query => "query",
        }
    }
}

/// What to do at `critical_load`. Only `pause` is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnCritical {
    Pause,
}

/// `[throttle.adaptive]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveSection {
    pub user: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub signal: Option<Signal>,
    pub query: Option<String>,
    pub interval_ms: Option<u64>,
    pub max_load: Option<f64>,
    pub critical_load: Option<f64>,
    pub min_statements_per_sec: Option<u32>,
    pub recover_statements_per_sec: Option<u32>,
    pub on_critical: Option<OnCritical>,
}

/// Why `[throttle.adaptive]` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AdaptiveConfigError {
    #[error("throttle.adaptive.{0} is required")]
    Missing(&'static str),
    #[error("throttle.adaptive: {0}")]
    Invalid(String),
}

/// The controller's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_load: f64,
    pub critical_load: f64,
    pub min_statements_per_sec: u32,
    pub recover_statements_per_sec: u32,
}

/// Validated `[throttle.adaptive]`.
#[derive(Debug, Clone)]
pub struct AdaptiveSettings {
    pub user: String,
    /// Taken from `password_env` at start-up, or `password`.
    pub password: Option<String>,
    pub signal: Signal,
    pub query: Option<String>,
    pub interval: Duration,
    pub limits: Limits,
}

impl AdaptiveSection {
    pub fn resolve(self) -> Result<AdaptiveSettings, AdaptiveConfigError> {
        let user = self.user.ok_or(AdaptiveConfigError::Missing("user"))?;
        let max_load = self
            .max_load
            .ok_or(AdaptiveConfigError::Missing("max_load"))?;
        let critical_load = self.critical_load.unwrap_or(f64::INFINITY);
        if critical_load <= max_load {
            return Err(AdaptiveConfigError::Invalid(format!(
                "critical_load ({critical_load}) must be above max_load ({max_load})"
            )));
        }
        let signal = self.signal.unwrap_or(Signal::ThreadsRunning);
        if signal == Signal::Query && self.query.is_none() {
            return Err(AdaptiveConfigError::Missing("query (signal = \"query\")"));
        }
        let password = match &self.password_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                AdaptiveConfigError::Invalid(format!("password_env: ${var} is not set"))
            })?),
            None => self.password,
        };
        let interval_ms = self.interval_ms.unwrap_or(1000);
        if interval_ms == 0 {
            return Err(AdaptiveConfigError::Invalid(
                "interval_ms must be > 0".into(),
            ));
        }
        Ok(AdaptiveSettings {
            user,
            password,
            signal,
            query: self.query,
            interval: Duration::from_millis(interval_ms),
            limits: Limits {
                max_load,
                critical_load,
                min_statements_per_sec: self.min_statements_per_sec.unwrap_or(10).max(1),
                recover_statements_per_sec: self.recover_statements_per_sec.unwrap_or(50).max(1),
            },
        })
    }
}

/// What the controller decided for one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub state: AdaptiveState,
    /// The adaptive statements cap; 0 = none.
    pub cap: u32,
    pub paused: bool,
}

/// The pure control loop: no clock, no I/O.
#[derive(Debug, Clone)]
pub struct Controller {
    limits: Limits,
    state: AdaptiveState,
    cap: u32,
}

impl Controller {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: AdaptiveState::Normal,
            cap: 0,
        }
    }

    /// One reading: `load` is the signal, `observed_rate` the statements per second admitted
    /// since the previous reading, `operator_cap` the operator's statements cap (0 = none).
    pub fn decide(&mut self, load: f64, observed_rate: f64, operator_cap: u32) -> Decision {
        let l = self.limits;
        let min = l.min_statements_per_sec;
        if load >= l.critical_load || (self.state == AdaptiveState::Paused && load >= l.max_load) {
            // Stay paused until the load is *below* max_load (hysteresis), so the replay does not
            // flap between paused and running around critical_load.
            if self.cap == 0 {
                self.cap = min;
            }
            self.state = AdaptiveState::Paused;
        } else if load > l.max_load {
            // Start from what actually went through recently (a cap far above the real rate
            // would not slow anything down), then halve.
            let base = if self.cap > 0 {
                self.cap
            } else {
                let rate = observed_rate.max(0.0).min(f64::from(u32::MAX)) as u32;
                combine(rate, operator_cap)
            };
            self.cap = (base / 2).max(min);
            self.state = AdaptiveState::BackingOff;
        } else if self.cap > 0 {
            let raised = self.cap.saturating_add(l.recover_statements_per_sec);
            // The cap is dropped once it would no longer bind: it reached the operator's cap, or
            // the stream is well below it anyway (nothing left to recover).
            let reached_operator = operator_cap > 0 && raised >= operator_cap;
            let not_binding = observed_rate < f64::from(self.cap) / 2.0;
            if reached_operator || not_binding {
                self.cap = 0;
                self.state = AdaptiveState::Normal;
            } else {
                self.cap = raised;
                self.state = AdaptiveState::Recovering;
            }
        } else {
            self.state = AdaptiveState::Normal;
        }
        Decision {
            state: self.state,
            cap: self.cap,
            paused: self.state == AdaptiveState::Paused,
        }
    }
}

/// The smaller of a rate and a cap (0 = no cap); a rate of 0 stays 0.
fn combine(rate: u32, cap: u32) -> u32 {
    if cap > 0 { rate.min(cap) } else { rate }
}

/// The adaptive part of `GET /status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdaptiveStatus {
    pub signal: String,
    /// The last reading; `None` until one succeeded.
    pub value: Option<f64>,
    pub state: AdaptiveState,
    /// The adaptive statements cap; `None`: no adaptive cap.
    pub cap: Option<u32>,
    /// The last error of the control connection, if the last reading failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Errors of the control connection (logged and retried, never fatal).
#[derive(Debug, thiserror::Error)]
enum ReadError {
    #[error(transparent)]
    Mysql(#[from] mysql_async::Error),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the load query returned no row")]
    NoRow,
    #[error("the load query returned {0:?}, not a number")]
    NotANumber(String),
}

fn opts(target: &Target, settings: &AdaptiveSettings) -> mysql_async::Opts {
    let builder = mysql_async::OptsBuilder::default()
        .user(Some(settings.user.clone()))
        .pass(settings.password.clone());
    let builder = match target {
        Target::Unix(path) => builder.socket(Some(path.to_string_lossy().into_owned())),
        Target::Tcp(addr) => {
            let (host, port) = addr
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_owned(), p.parse().ok()?)))
                .unwrap_or_else(|| (addr.clone(), 3306));
            builder
                .ip_or_hostname(host)
                .tcp_port(port)
                .prefer_socket(false)
        }
    };
    builder.into()
}

async fn read_signal(
    conn: &mut mysql_async::Conn,
    settings: &AdaptiveSettings,
) -> Result<f64, ReadError> {
    use mysql_async::prelude::Queryable;
    let text: Option<String> = match settings.signal {
        Signal::ThreadsRunning => {
            conn.query_first::<(String, Option<String>), _>(
                "SHOW GLOBAL STATUS LIKE 'Threads_running'",
            )
            .await?
            .ok_or(ReadError::NoRow)?
            .1
        }
        Signal::Query => conn
            .query_first::<Option<String>, _>(settings.query.as_deref().unwrap_or_default())
            .await?
            .ok_or(ReadError::NoRow)?,
    };
    let text = text.unwrap_or_default();
    text.trim().parse().map_err(|_| ReadError::NotANumber(text))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use AdaptiveState::*;

    fn controller() -> Controller {
        Controller::new(Limits {
            max_load: 3.0,
            critical_load: 6.0,
            min_statements_per_sec: 10,
            recover_statements_per_sec: 50,
        })
    }

    #[test]
    fn low_load_changes_nothing() {
        let mut c = controller();
        for load in [0.0, 1.0, 3.0] {
            let d = c.decide(load, 5000.0, 0);
            assert_eq!((d.state, d.cap, d.paused), (Normal, 0, false));
        }
    }

    #[test]
    fn high_load_halves_from_the_observed_rate_down_to_the_floor() {
        let mut c = controller();
        assert_eq!(c.decide(4.0, 1000.0, 0).cap, 500);
        assert_eq!(c.decide(4.0, 500.0, 0).cap, 250);
        let d = c.decide(5.0, 250.0, 0);
        assert_eq!((d.state, d.cap, d.paused), (BackingOff, 125, false));
        for _ in 0..10 {
            c.decide(4.0, 10.0, 0);
        }
        assert_eq!(c.decide(4.0, 10.0, 0).cap, 10, "floor");
    }

    #[test]
    fn back_off_starts_from_the_operator_cap_when_it_is_lower() {
        let mut c = controller();
        assert_eq!(c.decide(4.0, 1000.0, 200).cap, 100);
    }

    #[test]
    fn recovery_is_additive_and_stops_at_the_operator_cap() {
        let mut c = controller();
        c.decide(4.0, 400.0, 300);
        assert_eq!(c.decide(1.0, 150.0, 300).cap, 200);
        let d = c.decide(1.0, 200.0, 300);
        assert_eq!((d.state, d.cap), (Recovering, 250));
        let d = c.decide(1.0, 250.0, 300);
        assert_eq!((d.state, d.cap), (Normal, 0), "reached the operator's cap");
    }

    #[test]
    fn the_cap_is_dropped_once_the_stream_is_well_below_it() {
        let mut c = controller();
        c.decide(4.0, 1000.0, 0);
        let d = c.decide(1.0, 100.0, 0);
        assert_eq!((d.state, d.cap), (Normal, 0));
    }

    #[test]
    fn critical_load_pauses_until_below_max_load() {
        let mut c = controller();
        let d = c.decide(6.0, 1000.0, 0);
        assert_eq!((d.state, d.paused), (Paused, true));
        // Between max and critical: still paused (hysteresis).
        assert!(c.decide(4.0, 0.0, 0).paused);
        assert!(c.decide(3.0, 0.0, 0).paused, "at max_load: not below it");
        let d = c.decide(2.0, 0.0, 0);
        assert!(!d.paused);
        assert_ne!(d.state, Paused);
    }

    #[test]
    fn the_section_resolves_with_defaults_and_checks_its_keys() {
        let s: AdaptiveSection = toml::from_str("user = \"u\"\nmax_load = 3\n").unwrap();
        let s = s.resolve().unwrap();
        assert_eq!(s.signal, Signal::ThreadsRunning);
        assert_eq!(s.interval, Duration::from_secs(1));
        assert_eq!(s.limits.min_statements_per_sec, 10);
        let bad: AdaptiveSection =
            toml::from_str("user = \"u\"\nmax_load = 3\ncritical_load = 2\n").unwrap();
        assert!(bad.resolve().is_err());
        let no_query: AdaptiveSection =
            toml::from_str("user = \"u\"\nmax_load = 3\nsignal = \"query\"\n").unwrap();
        assert!(no_query.resolve().is_err());
        assert!(toml::from_str::<AdaptiveSection>("user = \"u\"\nmax_laod = 3\n").is_err());
    }
}
