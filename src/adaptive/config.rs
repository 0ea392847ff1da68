//! `[throttle.adaptive]` as written in the config file, and its validation into the
//! [`AdaptiveSettings`] the control task runs with. Kept out of the control loop so every rule
//! about the section is checked (and reported by `check-config`) before anything connects.

use std::time::Duration;

use serde::Deserialize;

use super::{Limits, OnCritical, Signal};

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
}
