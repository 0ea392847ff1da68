//! `replaygate status`: asks a running `serve` for its admin `/status` and prints it for a person.
//!
//! One GET to a loopback endpoint does not deserve an HTTP client crate: a blocking `TcpStream`,
//! HTTP/1.0 (so the server closes the connection when done, and no chunked encoding), is enough.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};

use replaygate::admin::StatusReport;
use replaygate::config::{DEFAULT_ADMIN, parse_admin};

use super::StatusArgs;

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let addr = parse_admin(args.admin.as_deref().unwrap_or(DEFAULT_ADMIN))?;
    let body = http_get(&addr.to_string(), "/status")
        .with_context(|| format!("cannot read the status from the admin endpoint {addr}"))?;
    if args.json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let report: StatusReport = serde_json::from_str(&body)
        .context("the admin endpoint's /status is not a status report")?;
    print!("{}", render(&report));
    Ok(ExitCode::SUCCESS)
}

/// The body of `GET path`, which must answer 200.
fn http_get(addr: &str, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .context("malformed HTTP response")?;
    let status_line = head.lines().next().unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        bail!("{status_line}");
    }
    Ok(body.to_owned())
}

/// The throttle line, then one row per session.
pub fn render(report: &StatusReport) -> String {
    let t = &report.throttle;
    let cap = |v: u32| {
        if v == 0 {
            "-".to_owned()
        } else {
            v.to_string()
        }
    };
    let mut out = format!(
        "replaygate {}: {}; caps statements/s {} bytes/s {} transactions/s {}; throttled {:.1} s in all\n",
        report.version,
        match (&t.aborted, t.paused_for_secs) {
            (Some(abort), _) => format!("ABORTED: {}", abort.reason),
            (None, Some(secs)) if t.paused => format!("PAUSED for {secs:.1} s"),
            _ => "running".to_owned(),
        },
        cap(t.caps.statements_per_sec),
        cap(t.caps.bytes_per_sec),
        cap(t.caps.transactions_per_sec),
        t.throttled_secs,
    );
    if let Some(a) = &t.adaptive {
        out.push_str(&format!(
            "adaptive ({}): load {}; {}; adaptive cap statements/s {}{}\n",
            a.signal,
            a.value.map_or("unknown".to_owned(), |v| v.to_string()),
            a.state.as_str(),
            a.cap.map_or("-".to_owned(), |c| c.to_string()),
            match &a.error {
                // Each replica's problem has its own line below.
                Some(e) if a.replicas.is_empty() => format!("; control connection: {e}"),
                _ => String::new(),
            },
        ));
        for r in &a.replicas {
            out.push_str(&match (&r.lag_secs, &r.problem) {
                (Some(lag), _) => format!("  replica {}: lag {lag} s\n", r.replica),
                (None, Some(problem)) => {
                    format!("  replica {}: LAG UNKNOWN: {problem}\n", r.replica)
                }
                (None, None) => format!("  replica {}: lag unknown\n", r.replica),
            });
        }
    }
    if report.sessions.is_empty() {
        out.push_str("no open sessions\n");
    } else {
        out.push_str(&sessions_table(report));
    }
    if !report.replicas.is_empty() {
        out.push_str("replicas:\n");
        out.push_str(&replicas_table(report));
    }
    out
}

fn sessions_table(report: &StatusReport) -> String {
    let rows: Vec<Vec<String>> = report
        .sessions
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                s.client.clone(),
                s.user.clone(),
                s.database.clone().unwrap_or_else(|| "-".into()),
                s.charset.clone(),
                s.binlog_position.map_or("-".into(), |p| p.to_string()),
                s.gtid.clone().unwrap_or_else(|| "-".into()),
                s.statements.to_string(),
                format!(
                    "{:.0}/s {:.2} MB/s",
                    s.statements_per_sec,
                    s.bytes_per_sec / 1e6
                ),
                match &s.halted {
                    Some(why) => format!("HALTED: {why}"),
                    None if s.in_flight > 0 => format!(
                        "{}, {} sent ahead",
                        if s.in_transaction {
                            "in transaction"
                        } else {
                            "ok"
                        },
                        s.in_flight
                    ),
                    None if s.in_transaction => "in transaction".into(),
                    None => "ok".into(),
                },
            ]
        })
        .collect();
    table(
        &[
            "SESSION",
            "CLIENT",
            "USER",
            "DATABASE",
            "CHARSET",
            "POSITION",
            "GTID",
            "STATEMENTS",
            "RATE",
            "STATE",
        ],
        &rows,
    )
}

fn replicas_table(report: &StatusReport) -> String {
    let rows: Vec<Vec<String>> = report
        .replicas
        .iter()
        .map(|r| {
            vec![
                r.server_id.to_string(),
                if r.client.is_empty() {
                    "-".into()
                } else {
                    r.client.clone()
                },
                format!("{}:{}", r.file, r.position),
                r.gtid.clone().unwrap_or_else(|| "-".into()),
                r.events_sent.to_string(),
                format!(
                    "{:.0}/s {:.2} MB/s",
                    r.events_per_sec,
                    r.bytes_per_sec / 1e6
                ),
                r.withheld.to_string(),
                match (&r.halted, r.session) {
                    (Some(why), _) => format!("HALTED: {why}"),
                    (None, Some(session)) => format!("streaming (session {session})"),
                    (None, None) => "disconnected".into(),
                },
            ]
        })
        .collect();
    table(
        &[
            "SERVER_ID",
            "CLIENT",
            "SENT UP TO",
            "GTID",
            "EVENTS",
            "RATE",
            "WITHHELD",
            "STATE",
        ],
        &rows,
    )
}

/// Left-aligned columns, as wide as their widest cell; the last column is not padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut cells = cells.peekable();
        let mut i = 0;
        while let Some(cell) = cells.next() {
            if cells.peek().is_none() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
            i += 1;
        }
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use replaygate::adaptive::{AdaptiveState, AdaptiveStatus, ReplicaStatus};
    use replaygate::throttle::{Abort, Caps, ThrottleStatus};

    #[test]
    fn the_adaptive_state_gets_its_own_line() {
        let mut report = StatusReport {
            version: "0.1.0".into(),
            sessions: Vec::new(),
            throttle: ThrottleStatus {
                paused: false,
                paused_for_secs: None,
                caps: Caps::default(),
                throttled_secs: 0.0,
                adaptive: None,
                aborted: None,
            },
            replicas: Vec::new(),
        };
        assert!(!render(&report).contains("adaptive"));
        report.throttle.adaptive = Some(AdaptiveStatus {
            signal: "threads_running".into(),
            value: Some(7.0),
            state: AdaptiveState::BackingOff,
            cap: Some(500),
            error: None,
            replicas: Vec::new(),
        });
        let text = render(&report);
        assert!(
            text.contains(
                "adaptive (threads_running): load 7; backing_off; adaptive cap statements/s 500"
            ),
            "{text}"
        );

        report.throttle.adaptive = Some(AdaptiveStatus {
            signal: "replica_lag".into(),
            value: None,
            state: AdaptiveState::Paused,
            cap: Some(10),
            error: Some("replica db3:3306: not a replica".into()),
            replicas: vec![
                ReplicaStatus {
                    replica: "db2:3306".into(),
                    lag_secs: Some(4.0),
                    problem: None,
                },
                ReplicaStatus {
                    replica: "db3:3306".into(),
                    lag_secs: None,
                    problem: Some("not a replica".into()),
                },
            ],
        });
        let text = render(&report);
        assert!(
            text.contains(
                "adaptive (replica_lag): load unknown; paused; adaptive cap statements/s 10\n"
            ) && text.contains("  replica db2:3306: lag 4 s\n")
                && text.contains("  replica db3:3306: LAG UNKNOWN: not a replica\n"),
            "{text}"
        );

        report.replicas = vec![replaygate::replication::ReplicaStatus {
            server_id: 2,
            file: "binlog.000003".into(),
            position: 1234,
            halted: Some("replaygate halted replication before drop_table".into()),
            ..Default::default()
        }];
        let text = render(&report);
        assert!(
            text.contains("replicas:\nSERVER_ID") && text.contains("binlog.000003:1234"),
            "{text}"
        );
        assert!(text.contains("HALTED: replaygate halted replication before drop_table"));

        report.throttle.aborted = Some(Abort::new("replica_lag", 12.0, 10.0));
        let text = render(&report);
        assert!(
            text.starts_with(
                "replaygate 0.1.0: ABORTED: adaptive load signal replica_lag = 12 reached critical_load 10"
            ),
            "{text}"
        );
    }
}
