//! `[throttle.adaptive]` as written in the config file, and its validation into the
//! [`AdaptiveSettings`] the control task runs with. Kept out of the control loop so every rule
//! about the section is checked (and reported by `check-config`) before anything connects.

use std::time::Duration;

use serde::Deserialize;

use super::{Limits, OnCritical, Signal};
use crate::config::Target;

/// `[throttle.adaptive]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveSection {
    pub user: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    pub signal: Option<Signal>,
    pub query: Option<String>,
    /// `signal = "replica_lag"`: the replicas to watch, `host:port` or a unix socket path.
    pub replicas: Option<Vec<String>>,
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

/// Validated `[throttle.adaptive]`. Its `Debug` (what `check-config` prints) hides the password.
#[derive(Clone)]
pub struct AdaptiveSettings {
    pub user: String,
    /// Taken from `password_env` at start-up, or `password`.
    pub password: Option<String>,
    pub signal: Signal,
    pub query: Option<String>,
    /// The replicas whose lag is the signal (`signal = "replica_lag"`); empty otherwise.
    pub replicas: Vec<Target>,
    pub interval: Duration,
    pub limits: Limits,
}

impl std::fmt::Debug for AdaptiveSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdaptiveSettings")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("signal", &self.signal)
            .field("query", &self.query)
            .field("replicas", &self.replicas)
            .field("interval", &self.interval)
            .field("limits", &self.limits)
            .finish()
    }
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
        // A key that the chosen signal does not read is a mistake (a forgotten `signal` line
        // would otherwise silently throttle on something else): refuse it.
        if signal != Signal::Query && self.query.is_some() {
            return Err(AdaptiveConfigError::Invalid(format!(
                "query is only read with signal = \"query\" (signal is \"{}\")",
                signal.as_str()
            )));
        }
        let replicas = resolve_replicas(&signal, self.replicas)?;
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
        let on_critical = self.on_critical.unwrap_or_default();
        if on_critical == OnCritical::Abort && self.critical_load.is_none() {
            return Err(AdaptiveConfigError::Missing(
                "critical_load (on_critical = \"abort\")",
            ));
        }
        Ok(AdaptiveSettings {
            user,
            password,
            signal,
            query: self.query,
            replicas,
            interval: Duration::from_millis(interval_ms),
            limits: Limits {
                max_load,
                critical_load,
                min_statements_per_sec: self.min_statements_per_sec.unwrap_or(10).max(1),
                recover_statements_per_sec: self.recover_statements_per_sec.unwrap_or(50).max(1),
                on_critical,
            },
        })
    }
}

/// `replicas`: required, non-empty and without duplicates for `signal = "replica_lag"`, absent
/// otherwise.
fn resolve_replicas(
    signal: &Signal,
    replicas: Option<Vec<String>>,
) -> Result<Vec<Target>, AdaptiveConfigError> {
    let Some(replicas) = replicas else {
        if *signal == Signal::ReplicaLag {
            return Err(AdaptiveConfigError::Missing(
                "replicas (signal = \"replica_lag\")",
            ));
        }
        return Ok(Vec::new());
    };
    if *signal != Signal::ReplicaLag {
        return Err(AdaptiveConfigError::Invalid(format!(
            "replicas is only read with signal = \"replica_lag\" (signal is \"{}\")",
            signal.as_str()
        )));
    }
    if replicas.is_empty() {
        return Err(AdaptiveConfigError::Invalid(
            "replicas is empty: signal = \"replica_lag\" needs at least one replica".into(),
        ));
    }
    let mut targets: Vec<Target> = Vec::with_capacity(replicas.len());
    for text in &replicas {
        let target: Target = text
            .parse()
            .map_err(|e| AdaptiveConfigError::Invalid(format!("replicas: {text:?}: {e}")))?;
        if targets.contains(&target) {
            return Err(AdaptiveConfigError::Invalid(format!(
                "replicas: {text:?} is listed twice"
            )));
        }
        targets.push(target);
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn resolve(extra: &str) -> Result<AdaptiveSettings, String> {
        let section: AdaptiveSection =
            toml::from_str(&format!("user = \"u\"\nmax_load = 3\n{extra}")).unwrap();
        section.resolve().map_err(|e| e.to_string())
    }

    #[test]
    fn replica_lag_needs_a_list_of_valid_replicas() {
        let s = resolve(
            "signal = \"replica_lag\"\nreplicas = [\"db2:3306\", \"/run/db3.sock\", \"unix:db4.sock\"]\n",
        )
        .unwrap();
        assert_eq!(s.signal, Signal::ReplicaLag);
        assert_eq!(
            s.replicas,
            [
                Target::Tcp("db2:3306".into()),
                Target::Unix("/run/db3.sock".into()),
                Target::Unix("db4.sock".into()),
            ]
        );
        let err = resolve("signal = \"replica_lag\"\n").unwrap_err();
        assert!(
            err.contains("throttle.adaptive.replicas (signal = \"replica_lag\") is required"),
            "{err}"
        );
        let err = resolve("signal = \"replica_lag\"\nreplicas = []\n").unwrap_err();
        assert!(err.contains("replicas is empty"), "{err}");
        let err = resolve("signal = \"replica_lag\"\nreplicas = [\"db2\"]\n").unwrap_err();
        assert!(
            err.contains("\"db2\"") && err.contains("or a unix socket path"),
            "{err}"
        );
        let err =
            resolve("signal = \"replica_lag\"\nreplicas = [\"db2:1\", \"db2:1\"]\n").unwrap_err();
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn on_critical_abort_needs_a_critical_load() {
        let s = resolve("critical_load = 6\non_critical = \"abort\"\n").unwrap();
        assert_eq!(s.limits.on_critical, OnCritical::Abort);
        assert_eq!(resolve("").unwrap().limits.on_critical, OnCritical::Pause);
        let err = resolve("on_critical = \"abort\"\n").unwrap_err();
        assert!(
            err.contains("throttle.adaptive.critical_load (on_critical = \"abort\") is required"),
            "{err}"
        );
        assert!(
            toml::from_str::<AdaptiveSection>("on_critical = \"stop\"\n").is_err(),
            "unknown actions are refused"
        );
    }

    #[test]
    fn keys_the_signal_does_not_read_are_refused() {
        let err = resolve("replicas = [\"db2:3306\"]\n").unwrap_err();
        assert!(
            err.contains("replicas is only read with signal = \"replica_lag\""),
            "a forgotten signal line must not silently throttle on threads_running: {err}"
        );
        let err =
            resolve("signal = \"replica_lag\"\nreplicas = [\"db2:3306\"]\nquery = \"SELECT 1\"\n")
                .unwrap_err();
        assert!(
            err.contains("query is only read with signal = \"query\""),
            "{err}"
        );
    }
}
