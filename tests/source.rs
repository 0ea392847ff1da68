//! Point-in-time recovery with `replaygate source`, on the incident: production's dump is
//! restored into a fresh server, which then replicates from `replaygate source <the saved
//! binlogs>` from the dump's coordinates — by file and position (`--master-data`) and by GTID
//! (its `gtid_slave_pos`), its own applier doing the replay.
//!
//! (a) The default policy stops it right before the restore script's first DROP TABLE (equal
//!     to production just before the disaster; SHOW SLAVE STATUS names replaygate).
//! (b) quarantine-origin ends equal to the twin, replication running, the journal written,
//!     with `slave_parallel_threads = 4` too.
//! (c) Each stop option (`--stop-gtid`, `--stop-position`, `--stop-datetime`) gives the state at
//!     that point, the replica connected and idle.

mod support;

use std::time::{Duration, UNIX_EPOCH};

use support::incident::{self, Incident, restored_as, tables};
use support::proxy::{Replaygate, replaygate_stdout};
use support::replication::{Positioning, caught_up, replicate, slave_status, wait_for_slave};
use support::server::MariaDb;

const WAIT: Duration = Duration::from_secs(90);

fn by_file(day: &Incident) -> Positioning {
    Positioning::File {
        file: day.file.clone(),
        position: day.position,
    }
}

/// A fresh server with the dump, positioned by GTID as the dump says.
fn restored_by_gtid(day: &Incident, server_id: u32) -> MariaDb {
    let server = restored_as(&day.dump, server_id);
    server.sql(&format!("SET GLOBAL gtid_slave_pos = '{}'", day.gtid));
    server
}

/// Waits until the replica applied all it was sent and idles, connected.
fn idle(replica: &MariaDb, source: &Replaygate) {
    assert!(
        source.wait_for_log("all events up to", WAIT),
        "{}",
        source.log()
    );
    let status = wait_for_slave(replica, "applied everything", WAIT, |s| {
        s["Slave_SQL_Running_State"].contains("has read all relay log")
            && s["Exec_Master_Log_Pos"] == s["Read_Master_Log_Pos"]
    });
    assert_eq!(status["Slave_IO_Running"], "Yes", "{status:#?}");
    assert_eq!(status["Slave_SQL_Running"], "Yes", "{status:#?}");
}

fn utc(secs: u64) -> String {
    let text = replaygate::journal::format_rfc3339(UNIX_EPOCH + Duration::from_secs(secs));
    text.replace('T', " ")[..19].to_owned()
}

#[test]
fn the_incident_recovered_through_replaygate_source() {
    let production = MariaDb::start();
    let twin = MariaDb::start();
    let day = incident::stage(&production, &twin);
    let (drop_position, drop_gtid) = incident::first_drop(&day.binlog_text());
    let files = day.binlogs.clone();

    // (a) Default policy, by file and position: halted right before the first DROP TABLE.
    let source = Replaygate::source(&files, &[]);
    let restored = restored_as(&day.dump, 2);
    replicate(&restored, source.port(), &by_file(&day));
    let halted = wait_for_slave(&restored, "named replaygate", WAIT, |s| {
        s["Last_IO_Error"].contains("replaygate halted replication")
    });
    let error = &halted["Last_IO_Error"];
    assert!(
        error.contains("DROP TABLE IF EXISTS")
            && error.contains(&format!("{}:{drop_position}", day.file))
            && error.contains(&format!("GTID {drop_gtid}")),
        "{error}"
    );
    wait_for_slave(&restored, "applied what it received", WAIT, |s| {
        s["Exec_Master_Log_Pos"] == s["Read_Master_Log_Pos"]
    });
    assert_eq!(tables(&restored), day.before_restore);
    drop(source);

    // (b) quarantine-origin, by GTID, with the parallel applier: equal to the twin.
    let journal = tempfile::tempdir().unwrap();
    let journal_dir = journal.path().to_str().unwrap();
    let source = Replaygate::source(
        &files,
        &[
            "--on-destructive",
            "quarantine-origin",
            "--journal-dir",
            journal_dir,
        ],
    );
    for (server_id, parallel) in [(3, 0), (4, 4)] {
        let restored = restored_by_gtid(&day, server_id);
        restored.sql(&format!("SET GLOBAL slave_parallel_threads = {parallel}"));
        replicate(&restored, source.port(), &Positioning::SlavePos);
        caught_up(&restored, &production, WAIT);
        assert_eq!(
            tables(&restored),
            day.twin,
            "slave_parallel_threads = {parallel}"
        );
        let status = slave_status(&restored);
        assert_eq!(status["Slave_IO_Running"], "Yes", "{status:#?}");
        assert_eq!(status["Slave_SQL_Running"], "Yes", "{status:#?}");
    }
    let list = replaygate_stdout(&["journal", "list", "--journal-dir", journal_dir]);
    assert!(
        list.contains("drop_table") && list.contains("create_table"),
        "{list}"
    );
    assert!(
        list.contains(&format!("thread={}", day.restore_thread)),
        "{list}"
    );
    drop(source);

    // (c) Each stop option: the state at that point, the replica connected and idle.
    let seq: u64 = drop_gtid.rsplit('-').next().unwrap().parse().unwrap();
    let last_before = format!("0-1-{}", seq - 1);
    let stops = [
        vec!["--stop-gtid".to_owned(), last_before],
        vec![
            "--stop-position".to_owned(),
            format!("{}:{drop_position}", day.file),
        ],
        vec!["--stop-datetime".to_owned(), utc(day.restore_time)],
    ];
    for (i, stop) in stops.iter().enumerate() {
        let mut args: Vec<&str> = vec!["--on-destructive", "allow"];
        args.extend(stop.iter().map(String::as_str));
        let source = Replaygate::source(&files, &args);
        let restored = restored_by_gtid(&day, 5 + i as u32);
        replicate(&restored, source.port(), &Positioning::SlavePos);
        idle(&restored, &source);
        assert_eq!(tables(&restored), day.before_restore, "{stop:?}");
        assert!(
            source.log().contains("sent (the stop point)"),
            "{}",
            source.log()
        );
    }
}

/// A replaygate restarted after it quarantined the restore script's origin thread goes on
/// withholding the rest of the script (from the journal), instead of applying it: the event
/// that quarantined the origin was already sent, so the new process never sees it.
#[test]
fn a_quarantined_origin_stays_quarantined_after_replaygate_restarts() {
    let production = MariaDb::start();
    let twin = MariaDb::start();
    let day = incident::stage(&production, &twin);
    let (_, drop_gtid) = incident::first_drop(&day.binlog_text());
    let journal = tempfile::tempdir().unwrap();
    let journal_dir = journal.path().to_str().unwrap();
    let quarantine = [
        "--on-destructive",
        "quarantine-origin",
        "--journal-dir",
        journal_dir,
    ];

    // The first run ends with the first DROP TABLE, which quarantines the script's thread.
    let mut args = quarantine.to_vec();
    args.extend(["--stop-gtid", &drop_gtid]);
    let first = Replaygate::source(&day.binlogs, &args);
    let restored = restored_by_gtid(&day, 3);
    replicate(&restored, first.port(), &Positioning::SlavePos);
    idle(&restored, &first);
    assert_eq!(tables(&restored), day.before_restore);
    let port = first.port();
    drop(first);

    // The second run, on the same port, picks up where the replica is.
    let second = Replaygate::source_on_port(&day.binlogs, port, &quarantine);
    assert!(
        second.log().contains(&format!(
            "origin thread {} stays quarantined for replica 3",
            day.restore_thread
        )),
        "{}",
        second.log()
    );
    caught_up(&restored, &production, WAIT);
    assert_eq!(tables(&restored), day.twin);
    let status = slave_status(&restored);
    assert_eq!(status["Slave_SQL_Running"], "Yes", "{status:#?}");
    assert_eq!(status["Last_SQL_Error"], "", "{status:#?}");
}
