//! Every raw binlog of the shared corpus served by `replaygate source` to a real MariaDB
//! replica: where both the replica and `mariadb-binlog FILE | mariadb` take the file, they end
//! with the same data; where the replica rejects it, the pipe fails on it too (each in its own
//! words: a client stops at `USE` of a missing database where an applier stops at the table),
//! or replaygate refused it first with a message that names itself (MySQL-only events a MariaDB
//! replica cannot apply, compressed transactions, incidents, events it cannot read). The two
//! known differences that are the applier's own are listed with their reason.
//!
//! The guard allows everything here (`--on-destructive allow`): what is under test is that the
//! stream a replica gets from the files applies exactly as their decoded text does.

mod support;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::corpus::{
    corpus_dir, first_difference, mysql_schema_tables, raw_binlogs, reset, snapshot,
};
use support::proxy::Replaygate;
use support::replication::slave_status;
use support::server::{MariaDb, ServerOptions};

/// The server id of the replica: none of the corpus' files carries it.
const REPLICA_ID: u32 = 424_242;

/// Where a replica's applier and a client's replay of the same events rightly differ.
const APPLIER_DIFFERENCES: [(&str, &str); 2] = [
    (
        "rpl_atomic_ddl_rollback_table.000001",
        "the DROP TABLE event records the error the primary got (1051), which an applier \
         expects and accepts; a client replaying the text fails on it",
    ),
    (
        "bug16266.000001",
        "a MySQL 5.0 CREATE TRIGGER: the applier stores it without the DEFINER clause that \
         mariadb-binlog's text gives the client",
    ),
];

struct Outcome {
    /// The first error (`ERROR 1146 ...` from the client, `1146: ...` from the applier).
    error: Option<(u32, String)>,
    data: String,
}

fn direct(target: &MariaDb, system: &[String], file: &std::path::Path) -> Outcome {
    reset(target, system);
    let decoded = Command::new("mariadb-binlog")
        .arg("--no-defaults")
        .arg(file)
        .output()
        .expect("run mariadb-binlog");
    let mut client = target
        .client()
        .arg("--binary-mode")
        .command()
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn mariadb");
    let mut stdin = client.stdin.take().unwrap();
    let stream = decoded.stdout;
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&stream);
    });
    let out = client.wait_with_output().unwrap();
    writer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error = stderr.lines().find(|l| l.starts_with("ERROR")).map(|l| {
        let code = l
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, l.to_owned())
    });
    Outcome {
        error,
        data: snapshot(target),
    }
}

fn through_source(
    replica: &MariaDb,
    system: &[String],
    file: &std::path::Path,
) -> Result<Outcome, String> {
    replica.sql("STOP SLAVE; RESET SLAVE ALL");
    reset(replica, system);
    replica.sql("RESET MASTER; SET GLOBAL gtid_slave_pos = ''");
    let source = Replaygate::try_source(&[file.to_path_buf()], &["--on-destructive", "allow"])?;
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    replica.sql(&format!(
        "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, MASTER_USER = 'root', \
         MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = no, MASTER_LOG_FILE = '{name}', \
         MASTER_LOG_POS = 4; START SLAVE",
        source.port()
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    // (file, position) read and applied, and since when, once source has sent everything.
    let mut idle_at: Option<((String, String), Instant)> = None;
    let status = loop {
        let s = slave_status(replica);
        let failed = s["Last_SQL_Errno"] != "0" || s["Last_IO_Errno"] != "0";
        // An idle SQL thread alone may only be waiting for events still on their way: done
        // once source has sent everything and the replica has read and applied exactly that,
        // or (the replica does not count a final Stop or Rotate event in its position) has
        // stayed idle at one position for a second after it.
        let at = (
            s["Master_Log_File"].clone(),
            s["Read_Master_Log_Pos"].clone(),
        );
        let idle = s["Exec_Master_Log_Pos"] == at.1
            && s["Slave_SQL_Running_State"].contains("has read all relay log");
        let done = match sent_up_to(&source.log()) {
            Some(sent) if idle => {
                let since = match &idle_at {
                    Some((p, since)) if *p == at => *since,
                    _ => Instant::now(),
                };
                idle_at = Some((at.clone(), since));
                sent == at || since.elapsed() > Duration::from_secs(1)
            }
            _ => {
                idle_at = None;
                false
            }
        };
        if failed || done {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "{name}: the replica did not catch up within 60 s: {s:?}\nsource log:\n{}",
            source.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    replica.sql("STOP SLAVE");
    let error = if status["Last_SQL_Errno"] != "0" {
        Some((
            status["Last_SQL_Errno"].parse().unwrap_or(0),
            status["Last_SQL_Error"].clone(),
        ))
    } else if status["Last_IO_Errno"] != "0" {
        Some((
            status["Last_IO_Errno"].parse().unwrap_or(0),
            status["Last_IO_Error"].clone(),
        ))
    } else {
        None
    };
    Ok(Outcome {
        error,
        data: snapshot(replica),
    })
}

/// `(file, end)` from source's "all events up to FILE:END (GTID ...) sent" log line.
fn sent_up_to(log: &str) -> Option<(String, String)> {
    let rest = &log[log.find("all events up to ")? + "all events up to ".len()..];
    let (file, rest) = rest.split_once(':')?;
    let end = rest.split_whitespace().next()?;
    Some((file.to_owned(), end.to_owned()))
}

#[test]
fn every_raw_binlog_applies_through_source_as_its_decoded_text_does() {
    let target = MariaDb::start();
    let replica = MariaDb::start_with(ServerOptions {
        server_id: REPLICA_ID,
        ..ServerOptions::default()
    });
    let system = mysql_schema_tables(&target);
    let dir = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    let mut problems = Vec::new();
    for binlog in raw_binlogs(&corpus_dir()) {
        let name = binlog
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let file = dir.path().join(name.trim_end_matches(".gz"));
        std::fs::write(&file, &binlog.bytes).unwrap();
        let d = direct(&target, &system, &file);
        match through_source(&replica, &system, &file) {
            Err(refused) => {
                let line = refused
                    .lines()
                    .find(|l| l.contains("replaygate"))
                    .unwrap_or("")
                    .to_owned();
                report.push(format!("{name}: refused by replaygate source: {line}"));
                if !refused.contains("cannot serve these binlog files") {
                    problems.push(format!("{name}: refused without saying why:\n{refused}"));
                }
            }
            Ok(s) => {
                report.push(format!(
                    "{name}: direct {:?}, through source {:?}",
                    d.error.as_ref().map(|e| e.0),
                    s.error.as_ref().map(|e| &e.1)
                ));
                let known = APPLIER_DIFFERENCES.iter().any(|(file, _)| *file == name);
                let by_replaygate = s.error.as_ref().is_some_and(|e| e.1.contains("replaygate"));
                match (&d.error, &s.error) {
                    _ if known => {}
                    // The same data wherever both take the file.
                    (None, None) => {
                        if d.data != s.data {
                            problems.push(format!(
                                "{name}: data differ:\n{}",
                                first_difference(&d.data, &s.data)
                            ));
                        }
                    }
                    // Both reject it; with the same error, also at the same point.
                    (Some((a, _)), Some((b, _))) => {
                        if a == b && d.data != s.data {
                            problems.push(format!(
                                "{name}: both fail with {a} but the data differ:\n{}",
                                first_difference(&d.data, &s.data)
                            ));
                        }
                    }
                    (None, Some(_)) if by_replaygate => {}
                    _ => problems.push(format!(
                        "{name}: direct {:?}, through source {:?}",
                        d.error, s.error
                    )),
                }
            }
        }
    }
    eprintln!("{}", report.join("\n"));
    assert!(report.len() >= 50, "{} files", report.len());
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}
