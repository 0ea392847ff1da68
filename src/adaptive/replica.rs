//! The `replica_lag` signal: how far the named replicas are behind, read from their own
//! replication status, and what an unknown lag means.
//!
//! Each replica gets a control connection of its own (the `[throttle.adaptive]` account, the same
//! address forms as `proxy.target`). Every interval all replicas are read at once with
//! `SHOW ALL SLAVES STATUS`: on MariaDB it lists every replication connection (multi-source
//! included), where `SHOW SLAVE STATUS` shows only the default one and would miss a named
//! connection that falls behind. A replica's lag is the largest `Seconds_Behind_Master` over its
//! connections; the signal is the largest over replicas. Servers that do not know the statement
//! (MySQL) are asked `SHOW REPLICA STATUS`, then `SHOW SLAVE STATUS`.
//!
//! Fail-safe: replaygate throttles on replica lag so that the replicas never fall too far behind.
//! A replica whose lag cannot be known — unreachable, not answering, no privilege to ask, not a
//! replica at all, or `Seconds_Behind_Master` NULL because its replication threads stopped or
//! broke — may be arbitrarily far behind, so it is never read as "no lag": the reading has no
//! value, and the controller pauses the replay as at `critical_load` until every replica reports
//! a lag again (see [`super::Controller::load_unknown`]). Each replica's problem is logged once,
//! by name, with the replication threads' state and last errors.

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Row, Value};
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::ReplicaStatus;
use super::signal::ReadError;
use crate::config::Target;
use crate::control::opts;

/// Tried in order; the next one only when a server does not know the statement (MySQL).
const STATUS_STATEMENTS: [&str; 3] = [
    "SHOW ALL SLAVES STATUS",
    "SHOW REPLICA STATUS",
    "SHOW SLAVE STATUS",
];
/// ER_PARSE_ERROR: the server does not know the statement.
const ER_PARSE_ERROR: u16 = 1064;

/// One replication connection of a replica, as its status statement reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Replication {
    /// MariaDB's multi-source connection name ("" for the default connection).
    pub connection: Option<String>,
    pub io_running: Option<String>,
    pub sql_running: Option<String>,
    /// `Seconds_Behind_Master` as sent; `None`: NULL.
    pub seconds_behind: Option<String>,
    pub last_io_error: Option<String>,
    pub last_sql_error: Option<String>,
}

/// A replica's lag in seconds (the largest over its replication connections), or why it is
/// unknown.
pub(super) fn lag_of(connections: &[Replication]) -> Result<f64, String> {
    if connections.is_empty() {
        return Err(
            "not a replica: SHOW ALL SLAVES STATUS lists no replication connection".to_owned(),
        );
    }
    let mut lag = 0.0_f64;
    let mut problems = Vec::new();
    for c in connections {
        let named = match c.connection.as_deref() {
            Some(name) if !name.is_empty() => format!("connection '{name}': "),
            _ => String::new(),
        };
        match c.seconds_behind.as_deref().map(str::trim) {
            Some(text) => match text.parse::<f64>() {
                Ok(secs) if secs.is_finite() && secs >= 0.0 => lag = lag.max(secs),
                _ => problems.push(format!(
                    "{named}Seconds_Behind_Master = {text:?} is not a number of seconds"
                )),
            },
            None => {
                let state = |v: &Option<String>| v.clone().unwrap_or_else(|| "?".into());
                let mut problem = format!(
                    "{named}Seconds_Behind_Master is NULL: replication is stopped or broken \
                     (Slave_IO_Running={}, Slave_SQL_Running={}",
                    state(&c.io_running),
                    state(&c.sql_running)
                );
                for (what, error) in [
                    ("Last_IO_Error", &c.last_io_error),
                    ("Last_SQL_Error", &c.last_sql_error),
                ] {
                    if let Some(e) = error.as_deref().filter(|e| !e.trim().is_empty()) {
                        problem.push_str(&format!(", {what}: {}", e.trim()));
                    }
                }
                problem.push(')');
                problems.push(problem);
            }
        }
    }
    if problems.is_empty() {
        Ok(lag)
    } else {
        Err(problems.join("; "))
    }
}

/// The signal over all replicas: the largest lag, or every unknown replica's problem.
pub(super) fn combined(replicas: &[ReplicaStatus]) -> Result<f64, String> {
    let problems: Vec<String> = replicas
        .iter()
        .filter_map(|r| {
            r.problem
                .as_ref()
                .map(|p| format!("replica {}: {p}", r.replica))
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    Ok(replicas
        .iter()
        .filter_map(|r| r.lag_secs)
        .fold(0.0, f64::max))
}

/// The status statement's answer, whichever statement the server knows.
async fn replication_status(conn: &mut Conn) -> Result<Vec<Replication>, ReadError> {
    let mut last = None;
    for statement in STATUS_STATEMENTS {
        match conn.query::<Row, _>(statement).await {
            Ok(rows) => return Ok(rows.iter().map(replication_of).collect()),
            Err(mysql_async::Error::Server(e)) if e.code == ER_PARSE_ERROR => {
                last = Some(mysql_async::Error::Server(e));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.map_or(ReadError::NoRow, ReadError::Mysql))
}

/// The columns that matter, by name (MariaDB's names, or MySQL 8's `Replica_`/`Source` ones).
fn replication_of(row: &Row) -> Replication {
    let field = |names: &[&str]| -> Option<String> {
        let index = row
            .columns_ref()
            .iter()
            .position(|c| names.iter().any(|n| c.name_str().eq_ignore_ascii_case(n)))?;
        match row.as_ref(index)? {
            Value::NULL => None,
            Value::Bytes(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
            other => Some(other.as_sql(true)),
        }
    };
    Replication {
        connection: field(&["Connection_name"]),
        io_running: field(&["Slave_IO_Running", "Replica_IO_Running"]),
        sql_running: field(&["Slave_SQL_Running", "Replica_SQL_Running"]),
        seconds_behind: field(&["Seconds_Behind_Master", "Seconds_Behind_Source"]),
        last_io_error: field(&["Last_IO_Error"]),
        last_sql_error: field(&["Last_SQL_Error"]),
    }
}

/// One watched replica and its control connection.
#[derive(Debug)]
struct Probe {
    name: String,
    opts: Opts,
    conn: Option<Conn>,
    /// The last problem logged, so each one is logged once, not every interval.
    logged: Option<String>,
}

/// The replicas of `signal = "replica_lag"`.
#[derive(Debug)]
pub(super) struct Replicas {
    probes: Vec<Probe>,
}

impl Replicas {
    pub fn new(replicas: &[Target], user: &str, password: Option<&str>) -> Self {
        Self {
            probes: replicas
                .iter()
                .map(|target| Probe {
                    name: target.to_string(),
                    opts: opts(target, user, password),
                    conn: None,
                    logged: None,
                })
                .collect(),
        }
    }

    /// Reads every replica at once (a hung one costs `timeout`, not `timeout` per replica) and
    /// logs what changed.
    pub async fn read(&mut self, timeout: Duration) -> Vec<ReplicaStatus> {
        let mut reads = JoinSet::new();
        for (index, probe) in self.probes.iter_mut().enumerate() {
            let conn = probe.conn.take();
            let opts = probe.opts.clone();
            reads.spawn(async move {
                let (conn, lag) = read_one(conn, opts, timeout).await;
                (index, conn, lag)
            });
        }
        // A read that never reports back (a panicked task) stays unknown: never "no lag".
        let mut lags: Vec<Result<f64, String>> = (0..self.probes.len())
            .map(|_| Err("the read did not complete".to_owned()))
            .collect();
        while let Some(done) = reads.join_next().await {
            if let Ok((index, conn, lag)) = done {
                self.probes[index].conn = conn;
                lags[index] = lag;
            }
        }
        self.probes
            .iter_mut()
            .zip(lags)
            .map(|(probe, lag)| probe.report(lag))
            .collect()
    }
}

impl Probe {
    fn report(&mut self, lag: Result<f64, String>) -> ReplicaStatus {
        match lag {
            Ok(secs) => {
                if self.logged.take().is_some() {
                    info!(
                        replica = %self.name,
                        lag_secs = secs,
                        "adaptive throttle: replica {} reports its lag again", self.name
                    );
                }
                ReplicaStatus {
                    replica: self.name.clone(),
                    lag_secs: Some(secs),
                    problem: None,
                }
            }
            Err(problem) => {
                if self.logged.as_ref() != Some(&problem) {
                    warn!(
                        replica = %self.name,
                        "adaptive throttle: replica {}: lag unknown, treated as critical (the replay \
                         pauses until it is known): {problem}",
                        self.name
                    );
                    self.logged = Some(problem.clone());
                }
                ReplicaStatus {
                    replica: self.name.clone(),
                    lag_secs: None,
                    problem: Some(problem),
                }
            }
        }
    }
}

/// One replica's lag, with the connection to keep for the next reading (dropped after a failure,
/// so the next reading reconnects).
async fn read_one(
    mut conn: Option<Conn>,
    opts: Opts,
    timeout: Duration,
) -> (Option<Conn>, Result<f64, String>) {
    let read = tokio::time::timeout(timeout, async {
        let c = match &mut conn {
            Some(c) => c,
            None => conn.insert(Conn::new(opts).await?),
        };
        replication_status(c).await
    })
    .await
    .unwrap_or(Err(ReadError::Timeout(timeout)));
    match read {
        Ok(connections) => (conn, lag_of(&connections)),
        Err(e) => (
            None,
            Err(format!("cannot read its replication status: {e}")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running(secs: &str) -> Replication {
        Replication {
            connection: Some(String::new()),
            io_running: Some("Yes".into()),
            sql_running: Some("Yes".into()),
            seconds_behind: Some(secs.into()),
            ..Replication::default()
        }
    }

    #[test]
    fn the_lag_is_the_largest_over_connections() {
        assert_eq!(lag_of(&[running("0")]), Ok(0.0));
        let mut named = running("42");
        named.connection = Some("east".into());
        assert_eq!(lag_of(&[running("3"), named]), Ok(42.0));
    }

    #[test]
    fn a_null_lag_is_a_problem_naming_the_threads_and_errors_never_zero() {
        let stopped = Replication {
            connection: Some("east".into()),
            io_running: Some("Yes".into()),
            sql_running: Some("No".into()),
            seconds_behind: None,
            last_io_error: Some(String::new()),
            last_sql_error: Some("Duplicate entry '1' for key 'PRIMARY'".into()),
        };
        let problem = lag_of(&[running("1"), stopped]).unwrap_err();
        assert_eq!(
            problem,
            "connection 'east': Seconds_Behind_Master is NULL: replication is stopped or broken \
             (Slave_IO_Running=Yes, Slave_SQL_Running=No, Last_SQL_Error: Duplicate entry '1' \
             for key 'PRIMARY')"
        );
        let garbled = lag_of(&[running("soon")]).unwrap_err();
        assert!(garbled.contains("\"soon\" is not a number"), "{garbled}");
        let none = lag_of(&[]).unwrap_err();
        assert!(none.starts_with("not a replica"), "{none}");
    }

    #[test]
    fn one_unknown_replica_makes_the_whole_signal_unknown() {
        let ok = |name: &str, lag| ReplicaStatus {
            replica: name.into(),
            lag_secs: Some(lag),
            problem: None,
        };
        assert_eq!(combined(&[ok("a:1", 2.0), ok("b:1", 7.0)]), Ok(7.0));
        let down = ReplicaStatus {
            replica: "b:1".into(),
            lag_secs: None,
            problem: Some("cannot read its replication status: refused".into()),
        };
        assert_eq!(
            combined(&[ok("a:1", 2.0), down]),
            Err("replica b:1: cannot read its replication status: refused".into())
        );
    }
}
