//! `[checks]` as written in the config file and on the command line (`--check-sql`,
//! `--check-every`, `--check-at-file-boundary`), validated into the [`CheckSettings`] the
//! sessions run with, so `check-config` reports every mistake before anything connects.

use std::time::Duration;

use serde::Deserialize;

/// `[checks]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksSection {
    /// The checks: each returns one row whose first column must be true or non-zero.
    pub sql: Option<Vec<String>>,
    /// Run them after every this many committed transactions of a session.
    pub every: Option<u64>,
    /// Run them where the stream goes from one binlog file to the next (and at its end).
    pub at_file_boundary: Option<bool>,
    /// The control connection's account (default `root`).
    pub user: Option<String>,
    pub password: Option<String>,
    pub password_env: Option<String>,
    /// How long one check may take before it counts as failed (default 30).
    pub timeout_secs: Option<u64>,
}

/// What the command line says about checks; each given value overrides `[checks]`.
#[derive(Debug, Clone, Default)]
pub struct CheckOverrides {
    pub sql: Vec<String>,
    pub every: Option<u64>,
    pub at_file_boundary: bool,
}

/// Why the checks cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ChecksConfigError {
    #[error("checks: {0}")]
    Invalid(String),
}

/// Validated checks. Its `Debug` (what `check-config` prints) hides the password.
#[derive(Clone)]
pub struct CheckSettings {
    pub queries: Vec<String>,
    /// After every this many committed transactions; `None`: not by count.
    pub every: Option<u64>,
    pub at_file_boundary: bool,
    pub user: String,
    pub password: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for CheckSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckSettings")
            .field("queries", &self.queries)
            .field("every", &self.every)
            .field("at_file_boundary", &self.at_file_boundary)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ChecksSection {
    /// `None` when no check is configured.
    pub fn resolve(self, cli: CheckOverrides) -> Result<Option<CheckSettings>, ChecksConfigError> {
        let invalid = |m: &str| Err(ChecksConfigError::Invalid(m.to_owned()));
        let queries = if cli.sql.is_empty() {
            self.sql.unwrap_or_default()
        } else {
            cli.sql
        };
        let every = cli.every.or(self.every);
        let at_file_boundary = cli.at_file_boundary || self.at_file_boundary == Some(true);
        if queries.is_empty() {
            if every.is_some() || at_file_boundary {
                return invalid(
                    "--check-every / --check-at-file-boundary need a check (--check-sql)",
                );
            }
            return Ok(None);
        }
        if let Some(q) = queries.iter().find(|q| q.trim().is_empty()) {
            return Err(ChecksConfigError::Invalid(format!("an empty check: {q:?}")));
        }
        if every == Some(0) {
            return invalid("every must be at least 1 (committed transactions between checks)");
        }
        let password = match &self.password_env {
            Some(var) => Some(std::env::var(var).map_err(|_| {
                ChecksConfigError::Invalid(format!("password_env: ${var} is not set"))
            })?),
            None => self.password,
        };
        let timeout_secs = self.timeout_secs.unwrap_or(30);
        if timeout_secs == 0 {
            return invalid("timeout_secs must be at least 1");
        }
        Ok(Some(CheckSettings {
            queries,
            every,
            // With no schedule given, checks run binlog file by binlog file: what operators did
            // by hand, and what finds the disaster's file.
            at_file_boundary: at_file_boundary
                || (every.is_none() && self.at_file_boundary.is_none()),
            user: self.user.unwrap_or_else(|| "root".to_owned()),
            password,
            timeout: Duration::from_secs(timeout_secs),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(
        section: ChecksSection,
        cli: CheckOverrides,
    ) -> Result<Option<CheckSettings>, String> {
        section.resolve(cli).map_err(|e| e.to_string())
    }

    #[test]
    fn no_check_is_no_checks_and_a_schedule_without_one_is_refused() {
        assert!(
            resolve(ChecksSection::default(), CheckOverrides::default())
                .unwrap()
                .is_none()
        );
        let err = resolve(
            ChecksSection::default(),
            CheckOverrides {
                every: Some(5),
                ..CheckOverrides::default()
            },
        )
        .unwrap_err();
        assert!(err.contains("--check-sql"), "{err}");
    }

    #[test]
    fn the_command_line_overrides_the_file_and_file_boundaries_are_the_default() {
        let section = ChecksSection {
            sql: Some(vec!["SELECT 1".into()]),
            ..ChecksSection::default()
        };
        let s = resolve(section.clone(), CheckOverrides::default())
            .unwrap()
            .unwrap();
        assert_eq!((s.every, s.at_file_boundary), (None, true));
        assert_eq!(s.user, "root");
        let s = resolve(
            section.clone(),
            CheckOverrides {
                sql: vec!["SELECT 2".into(), "SELECT 3".into()],
                every: Some(100),
                at_file_boundary: false,
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.queries, ["SELECT 2", "SELECT 3"]);
        assert_eq!((s.every, s.at_file_boundary), (Some(100), false));
        let s = resolve(
            section,
            CheckOverrides {
                every: Some(1),
                at_file_boundary: true,
                ..CheckOverrides::default()
            },
        )
        .unwrap()
        .unwrap();
        assert_eq!((s.every, s.at_file_boundary), (Some(1), true));
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |section: ChecksSection| resolve(section, CheckOverrides::default()).unwrap_err();
        let sql = Some(vec!["SELECT 1".to_owned()]);
        assert!(
            bad(ChecksSection {
                sql: sql.clone(),
                every: Some(0),
                ..Default::default()
            })
            .contains("every")
        );
        assert!(
            bad(ChecksSection {
                sql: sql.clone(),
                timeout_secs: Some(0),
                ..Default::default()
            })
            .contains("timeout_secs")
        );
        assert!(
            bad(ChecksSection {
                sql: Some(vec![" ".into()]),
                ..Default::default()
            })
            .contains("empty")
        );
        assert!(
            bad(ChecksSection {
                sql,
                password_env: Some("REPLAYGATE_NO_SUCH_VAR".into()),
                ..Default::default()
            })
            .contains("REPLAYGATE_NO_SUCH_VAR")
        );
    }
}
