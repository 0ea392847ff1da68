//! The operator's consistency checks (`--check-sql`, `[checks]`): queries run on a control
//! connection of replaygate's own while a replay goes on — after every N committed transactions
//! of a session and/or where the stream moves from one binlog file to the next — so that the
//! first transaction after which the data is wrong stops the replay right there, instead of
//! being found hours of binlog later. When they run and what a failure does to the session is
//! the session's business (`session/checks.rs`); this module runs them and says whether they
//! passed.
//!
//! A check passes when its first row's first column is true or non-zero. No row, NULL, zero,
//! false, anything that is not a number or a boolean, an error, or no answer within the
//! timeout: it fails. Checks are read on their own connection, so they see what the replay has
//! committed (never a transaction in progress) and leave the replay's session untouched.

mod config;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tokio::sync::Mutex;

pub use self::config::{CheckOverrides, CheckSettings, ChecksConfigError, ChecksSection};
use crate::config::Target;
use crate::control::TargetControl;
use crate::tls::TargetTls;

/// A check that did not pass, and what it returned instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    pub query: String,
    pub outcome: String,
}

/// Runs the checks, one session at a time, on one control connection (opened when first
/// needed, reopened after an error).
#[derive(Debug)]
pub struct Checker {
    settings: CheckSettings,
    control: TargetControl,
    conn: Mutex<Option<Conn>>,
}

impl Checker {
    pub fn new(settings: CheckSettings, target: &Target, tls: Option<&TargetTls>) -> Self {
        let control = TargetControl::new(target, &settings.user, settings.password.as_deref(), tls);
        Self {
            settings,
            control,
            conn: Mutex::new(None),
        }
    }

    pub fn settings(&self) -> &CheckSettings {
        &self.settings
    }

    /// Runs every check in order; the first that fails.
    pub async fn run(&self) -> Result<(), CheckFailure> {
        let mut conn = self.conn.lock().await;
        for query in &self.settings.queries {
            let result = tokio::time::timeout(self.settings.timeout, async {
                let c = match &mut *conn {
                    Some(c) => c,
                    None => conn.insert(self.control.connect().await?),
                };
                c.query_first::<mysql_async::Row, _>(query.as_str()).await
            })
            .await;
            let outcome = match result {
                Ok(Ok(row)) => verdict(row.and_then(|r| r.as_ref(0).cloned())),
                Ok(Err(e)) => {
                    *conn = None;
                    Err(format!("failed: {e}"))
                }
                Err(_) => {
                    *conn = None;
                    Err(format!(
                        "did not answer within {} s",
                        self.settings.timeout.as_secs()
                    ))
                }
            };
            if let Err(outcome) = outcome {
                return Err(CheckFailure {
                    query: query.clone(),
                    outcome,
                });
            }
        }
        Ok(())
    }
}

/// Whether a check's first column says it passed; `None`: no row.
fn verdict(value: Option<mysql_async::Value>) -> Result<(), String> {
    use mysql_async::Value;
    let text = match value {
        None => return Err("returned no row".into()),
        Some(Value::NULL) => return Err("returned NULL".into()),
        Some(Value::Bytes(b)) => String::from_utf8_lossy(&b).into_owned(),
        Some(Value::Int(n)) => n.to_string(),
        Some(Value::UInt(n)) => n.to_string(),
        Some(Value::Float(n)) => n.to_string(),
        Some(Value::Double(n)) => n.to_string(),
        Some(other) => return Err(format!("returned {other:?}, not a number or a boolean")),
    };
    let trimmed = text.trim();
    let passed = if trimmed.eq_ignore_ascii_case("true") {
        true
    } else if trimmed.eq_ignore_ascii_case("false") {
        false
    } else {
        match trimmed.parse::<f64>() {
            Ok(n) => n != 0.0,
            Err(_) => return Err(format!("returned {trimmed:?}, not a number or a boolean")),
        }
    };
    if passed {
        Ok(())
    } else {
        Err(format!("returned {trimmed} (must be true or non-zero)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_async::Value;

    #[test]
    fn true_and_non_zero_pass_everything_else_fails_saying_what_it_was() {
        for v in ["1", "42", "-1", "0.5", "TRUE", " true "] {
            assert_eq!(verdict(Some(Value::Bytes(v.into()))), Ok(()), "{v}");
        }
        assert_eq!(verdict(Some(Value::Int(3))), Ok(()));
        for (v, says) in [
            ("0", "returned 0"),
            ("0.0", "returned 0.0"),
            ("false", "returned false"),
            ("", "not a number"),
            ("ok", "\"ok\", not a number"),
        ] {
            let err = verdict(Some(Value::Bytes(v.into()))).unwrap_err();
            assert!(err.contains(says), "{v}: {err}");
        }
        assert_eq!(verdict(None).unwrap_err(), "returned no row");
        assert_eq!(verdict(Some(Value::NULL)).unwrap_err(), "returned NULL");
    }
}
