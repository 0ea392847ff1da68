//! The guard end to end, on the incident itself: a restore script run against production
//! mid-day (`SET foreign_key_checks=0; DROP TABLE ...; CREATE TABLE ...; INSERT ...`) sits in the
//! binlog that must be rolled forward.
//!
//! Production gets a full dump (with its binlog coordinates), application traffic, the dump
//! replayed against the live database from another connection, then more traffic. A twin server
//! gets the same traffic without the restore script. Then the dump is restored into a fresh
//! server and the binlog from the dump's coordinates is piped through replaygate:
//! (a) the default policy stops the client at the first DROP TABLE, the tables equal production
//!     just before the restore script ran;
//! (b) `--on-destructive quarantine-origin` with `mariadb --comments` runs to the end and the
//!     tables equal the twin; the journal holds the restore script;
//! (c) `scan` names every DROP TABLE of the binlog with its position and thread id.

mod support;

use std::process::Command;

use support::incident::{self, Incident, restored, tables};
use support::proxy::{Replaygate, replaygate_stdout};
use support::server::{MariaDb, ServerOptions};

/// The day of the incident on a STATEMENT-format production, and a twin without the restore.
fn stage_the_incident() -> Incident {
    let production = MariaDb::start_with(ServerOptions {
        binlog_format: "STATEMENT",
        ..ServerOptions::default()
    });
    let twin = MariaDb::start();
    incident::stage(&production, &twin)
}

#[test]
fn the_incident_halt_quarantine_origin_and_scan() {
    let incident = stage_the_incident();
    assert_ne!(
        incident.before_restore, incident.twin,
        "the traffic after the restore changed things"
    );

    // (a) Default policy: the client stops at the first DROP TABLE of the restore script.
    let target = restored(&incident.dump);
    let proxy = Replaygate::start(target.socket_path().to_str().unwrap(), &[]);
    let binlog = incident.binlog_text();
    let out = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .run_with_stdin(&binlog)
        .assert_failure();
    assert!(
        out.stderr.contains("replaygate: halted before drop_table"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("destructive-ddl-without-fk-checks"),
        "{}",
        out.stderr
    );
    assert_eq!(
        tables(&target),
        incident.before_restore,
        "the target stops right before the restore script"
    );
    // `mariadb --force` cannot skip past it: the halt is sticky for the session.
    let target = restored(&incident.dump);
    let proxy = Replaygate::start(target.socket_path().to_str().unwrap(), &[]);
    let forced = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--force")
        .run_with_stdin(&binlog);
    assert!(
        forced
            .stderr
            .contains("replaygate: halted before drop_table"),
        "{}",
        forced.stderr
    );
    assert!(
        forced.stderr.contains("this session halted"),
        "{}",
        forced.stderr
    );
    assert_eq!(tables(&target), incident.before_restore);
    drop(proxy);

    // (b) quarantine-origin with --comments: the replay runs to the end, without the script.
    let target = restored(&incident.dump);
    let journal = tempfile::tempdir().unwrap();
    let journal_dir = journal.path().to_str().unwrap();
    let proxy = Replaygate::start(
        target.socket_path().to_str().unwrap(),
        &[
            "--on-destructive",
            "quarantine-origin",
            "--journal-dir",
            journal_dir,
        ],
    );
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--comments")
        .run_with_stdin(&binlog)
        .assert_success();
    assert_eq!(
        tables(&target),
        incident.twin,
        "the replay equals the twin that never saw the restore"
    );
    let list = replaygate_stdout(&["journal", "list", "--journal-dir", journal_dir]);
    assert!(list.contains("drop_table"), "{list}");
    assert!(
        list.contains("create_table"),
        "the rest of the script is journaled too: {list}"
    );
    assert!(
        list.contains(&format!("thread={}", incident.restore_thread)),
        "{list}"
    );
    // Without --comments, quarantine-origin cannot know origins and must not guess.
    let target2 = restored(&incident.dump);
    let journal2 = tempfile::tempdir().unwrap();
    let proxy2 = Replaygate::start(
        target2.socket_path().to_str().unwrap(),
        &[
            "--on-destructive",
            "quarantine-origin",
            "--journal-dir",
            journal2.path().to_str().unwrap(),
        ],
    );
    let out = target2
        .client()
        .host_port("127.0.0.1", proxy2.port())
        .run_with_stdin(&binlog)
        .assert_failure();
    assert!(out.stderr.contains("mariadb --comments"), "{}", out.stderr);

    // (c) scan names every DROP TABLE with its position and thread.
    let dir = tempfile::tempdir().unwrap();
    let binlog_text = dir.path().join("replay.sql");
    std::fs::write(&binlog_text, &binlog).unwrap();
    let scan = Command::new(env!("CARGO_BIN_EXE_replaygate"))
        .args(["scan", "--format", "json", binlog_text.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        scan.status.code(),
        Some(1),
        "findings exit 1: {}",
        String::from_utf8_lossy(&scan.stderr)
    );
    let drops: Vec<serde_json::Value> = String::from_utf8_lossy(&scan.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .filter(|f: &serde_json::Value| f["kind"] == "drop_table")
        .collect();
    let text = String::from_utf8_lossy(&binlog);
    let expected: Vec<u64> = text
        .split("# at ")
        .filter(|event| event.contains("DROP TABLE IF EXISTS"))
        .map(|event| event.lines().next().unwrap().trim().parse().unwrap())
        .collect();
    assert_eq!(expected.len(), 2, "the script drops two tables");
    let positions: Vec<u64> = drops
        .iter()
        .map(|f| f["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, expected);
    for finding in &drops {
        assert_eq!(
            finding["thread_id"].as_u64(),
            Some(incident.restore_thread),
            "{finding}"
        );
        assert_eq!(finding["action"], "halt");
        assert_eq!(finding["database"], "shop");
    }
}
