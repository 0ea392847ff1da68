//! Adaptive throttling: slow the replay down when the target is loaded, pause it when the load is
//! critical, and recover when the load falls (`[throttle.adaptive]` in the config).
//!
//! Kept apart so the decisions can be tested without a clock or a server:
//! - [`config`]: `[throttle.adaptive]` as written, and its validation into [`AdaptiveSettings`].
//! - [`Controller`] ([`controller`]): a pure state machine, load signal (and the recently observed
//!   statement rate) in, adaptive cap and pause out. Above `max_load` it backs off
//!   multiplicatively (halves the cap, floored at `min_statements_per_sec`); at or below it
//!   comes straight back to just below the rate it had when the load went too high, then
//!   probes upwards additively, and drops the cap once it no longer binds; at `critical_load`
//!   it pauses until the load is below `max_load`.
//! - `signal`: reading the target's load signal over a control connection; `replica`: the
//!   `replica_lag` signal, read from the named replicas, where an unknown lag is unsafe.
//! - [`run`] (`task`): the control task. It owns its own connection to the target (the data
//!   path never stores passwords; this one connection needs credentials of its own), reads the
//!   signal every interval, and applies the controller's decisions to the shared
//!   [`Throttle`](crate::throttle::Throttle). A failing control connection is logged and retried
//!   each interval; it never stops the replay.
//! - The [`Throttle`](crate::throttle::Throttle) keeps the adaptive cap separate from the
//!   operator's caps and combines them by taking the smaller, so adaptation never raises a cap
//!   the operator set.

pub mod config;
pub mod controller;
mod replica;
mod signal;
mod task;

use serde::{Deserialize, Serialize};

pub use self::config::{AdaptiveConfigError, AdaptiveSection, AdaptiveSettings};
pub use self::controller::{Controller, Decision, Limits};
pub use self::task::run;

/// What the controller is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdaptiveState {
    /// No adaptive cap: the load is fine.
    Normal,
    /// The load is above `max_load`: the adaptive cap is being lowered.
    BackingOff,
    /// The load is back at or below `max_load`: the cap is being raised (straight back towards
    /// the rate before the overload, then step by step).
    Recovering,
    /// The load reached `critical_load`: sessions wait before their next statement.
    Paused,
    /// The load reached `critical_load` with `on_critical = "abort"`: every session halts at its
    /// next statement. Final.
    Aborted,
}

impl AdaptiveState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::BackingOff => "backing_off",
            Self::Recovering => "recovering",
            Self::Paused => "paused",
            Self::Aborted => "aborted",
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
    /// The largest `Seconds_Behind_Master` over the configured `replicas`.
    ReplicaLag,
}

impl Signal {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ThreadsRunning => "threads_running",
            Self::Query => "query",
            Self::ReplicaLag => "replica_lag",
        }
    }
}

/// What to do at `critical_load`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnCritical {
    /// Sessions wait before their next statement until the load is below `max_load`.
    #[default]
    Pause,
    /// Every session halts at its next statement (an ERR naming the reason, then every later
    /// statement refused), as the guard's halt does. Final for the process.
    Abort,
}

/// The adaptive part of `GET /status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdaptiveStatus {
    pub signal: String,
    /// The last reading; `None` until one succeeded, and while the last reading had no value.
    pub value: Option<f64>,
    pub state: AdaptiveState,
    /// The adaptive statements cap; `None`: no adaptive cap.
    pub cap: Option<u32>,
    /// Why the last reading has no value: the control connection failed, or (`replica_lag`) a
    /// replica's lag is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `replica_lag`: each replica's last reading.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<ReplicaStatus>,
}

/// One replica of `signal = "replica_lag"` in `GET /status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicaStatus {
    /// As configured: `host:port` or `unix:/path`.
    pub replica: String,
    /// `Seconds_Behind_Master` (the largest over its replication connections); `None`: unknown.
    pub lag_secs: Option<f64>,
    /// Why the lag is unknown: unreachable, or replication stopped or broken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}
