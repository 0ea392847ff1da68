//! Bad input for `replaygate source`, each with a clear error and nothing half sent: a file
//! that is not a binlog, a gap between files, a truncated last event (a crashed primary's
//! file), a replica with the files' server id, a position inside an event, a GTID the files do
//! not hold, a wrong password; and a replica that disconnects, or whose source restarts,
//! resumes from its own position.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::proxy::{Replaygate, run_replaygate};
use support::replication::{
    Positioning, caught_up, checksums, replicate, slave_status, wait_for_slave,
};
use support::server::{MariaDb, ServerOptions};

const WAIT: Duration = Duration::from_secs(90);

/// A primary whose binlog spans three files, and copies of them.
struct Saved {
    primary: MariaDb,
    files: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

fn saved_binlogs() -> Saved {
    let primary = MariaDb::start();
    primary.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(40))");
    for part in 0..3 {
        // The middle part as if replicated from server 7 (a primary that logs its replica
        // updates): the files then hold events of two server ids.
        let origin = if part == 1 {
            "SET SESSION server_id = 7;"
        } else {
            ""
        };
        primary.sql(&format!(
            "{origin} INSERT INTO d.t SELECT seq, CONCAT('row ', seq) FROM d.seq_{}_to_{}",
            part * 100 + 1,
            part * 100 + 100
        ));
        if part < 2 {
            primary.flush_binlogs();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let files = primary.copy_binlogs(dir.path());
    Saved {
        primary,
        files,
        _dir: dir,
    }
}

fn replica(server_id: u32) -> MariaDb {
    MariaDb::start_with(ServerOptions {
        server_id,
        ..ServerOptions::default()
    })
}

fn fatal_error(replica: &MariaDb) -> String {
    wait_for_slave(replica, "stopped on an error", WAIT, |s| {
        !s["Last_IO_Error"].is_empty()
    })["Last_IO_Error"]
        .clone()
}

fn count(server: &MariaDb) -> String {
    server.sql("SELECT COUNT(*) FROM d.t").trim().to_owned()
}

#[test]
fn files_that_cannot_be_served_are_refused_before_any_replica_connects() {
    let saved = saved_binlogs();
    let readme = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
    let out = run_replaygate(&["source", readme.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a binlog file"), "{stderr}");

    let gap = [&saved.files[0], &saved.files[2]].map(|f| f.to_str().unwrap());
    let out = run_replaygate(&["source", gap[0], gap[1]]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("gap between files") && stderr.contains("binlog.000002"),
        "{stderr}"
    );

    // A file that is cut short but not the last one is damaged, not a crashed primary's.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("binlog.000001");
    let bytes = std::fs::read(&saved.files[0]).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() - 10]).unwrap();
    let out = run_replaygate(&[
        "source",
        cut.to_str().unwrap(),
        saved.files[1].to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ends inside an event"), "{stderr}");
}

#[test]
fn a_truncated_last_event_is_the_end_of_what_is_served() {
    let saved = saved_binlogs();
    let dir = tempfile::tempdir().unwrap();
    let mut files = saved.files.clone();
    let last = dir.path().join("binlog.000003");
    let bytes = std::fs::read(files.last().unwrap()).unwrap();
    // Cut inside the last transaction's Xid event (a primary that crashed as it wrote it).
    std::fs::write(&last, &bytes[..bytes.len() - 10]).unwrap();
    *files.last_mut().unwrap() = last;
    let source = Replaygate::source(&files, &[]);
    assert!(
        source.log().contains("ends inside the event at"),
        "{}",
        source.log()
    );
    let replica = replica(2);
    replicate(&replica, source.port(), &Positioning::SlavePos);
    assert!(
        source.wait_for_log("all events up to", WAIT),
        "{}",
        source.log()
    );
    assert!(
        source.wait_for_log("the last transaction in the files is incomplete", WAIT),
        "{}",
        source.log()
    );
    wait_for_slave(&replica, "applied what it got", WAIT, |s| {
        s["Slave_SQL_Running_State"].contains("has read all relay log")
    });
    assert_eq!(
        count(&replica),
        "200",
        "the incomplete last transaction is not applied"
    );
    assert_eq!(slave_status(&replica)["Slave_IO_Running"], "Yes");
}

#[test]
fn wrong_replicas_and_wrong_positions_get_the_error_a_primary_gives() {
    let saved = saved_binlogs();
    let source = Replaygate::source(&saved.files, &[]);

    // The id of the files' writer: the replica sees it is the primary's own and stops.
    let writer_id = replica(1);
    replicate(&writer_id, source.port(), &Positioning::SlavePos);
    let error = fatal_error(&writer_id);
    assert!(error.contains("equal MariaDB server ids"), "{error}");
    // The id of other events in them: it would skip those as its own; replaygate refuses it.
    let same_id = replica(7);
    replicate(&same_id, source.port(), &Positioning::SlavePos);
    let error = fatal_error(&same_id);
    assert!(
        error.contains("server_id 7 is a server id of the events in the files (theirs: 1, 7)"),
        "{error}"
    );

    // A position inside an event.
    let inside = replica(2);
    replicate(
        &inside,
        source.port(),
        &Positioning::File {
            file: "binlog.000002".into(),
            position: 300,
        },
    );
    let error = fatal_error(&inside);
    assert!(
        error.contains("1236") && error.contains("inside the event at"),
        "{error}"
    );

    // A GTID the files do not hold.
    let ahead = replica(3);
    ahead.sql("SET GLOBAL gtid_slave_pos = '0-1-999'");
    replicate(&ahead, source.port(), &Positioning::SlavePos);
    let error = fatal_error(&ahead);
    assert!(
        error.contains("1236")
            && error.contains("0-1-999")
            && error.contains("not in the master's binlog"),
        "{error}"
    );
    for r in [&writer_id, &same_id, &inside, &ahead] {
        assert_eq!(
            r.sql("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'd'")
                .trim(),
            "0",
            "nothing was applied"
        );
    }
}

#[test]
fn a_wrong_password_is_refused_as_the_server_refuses_it() {
    let saved = saved_binlogs();
    let source = Replaygate::source_with_env(
        &saved.files,
        &["--user", "repl", "--password-env", "REPL_PASSWORD"],
        &[("REPL_PASSWORD", "s3cret")],
    );
    let replica = replica(2);
    replica.sql(&format!(
        "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, MASTER_USER = 'repl', \
         MASTER_PASSWORD = 'wrong', MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = slave_pos; START SLAVE",
        source.port()
    ));
    let error = fatal_error(&replica);
    assert!(error.contains("Access denied for user 'repl'"), "{error}");
    replica.sql("STOP SLAVE; CHANGE MASTER TO MASTER_PASSWORD = 's3cret'; START SLAVE");
    caught_up(&replica, &saved.primary, WAIT);
    assert_eq!(count(&replica), "300");
}

#[test]
fn a_replica_resumes_from_its_own_position_after_a_disconnect_or_a_source_restart() {
    let saved = saved_binlogs();
    let mut source = Replaygate::source(&saved.files[..2], &[]);
    let replica = replica(2);
    replicate(&replica, source.port(), &Positioning::SlavePos);
    assert!(
        source.wait_for_log("all events up to", WAIT),
        "{}",
        source.log()
    );
    wait_for_slave(&replica, "applied what it got", WAIT, |s| {
        s["Slave_SQL_Running_State"].contains("has read all relay log")
    });
    assert_eq!(count(&replica), "200");
    replica.sql("STOP SLAVE; START SLAVE");
    // A new source with all three files on the same port: the replica reconnects by itself.
    let port = source.port();
    source.kill();
    let source = Replaygate::source_on_port(&saved.files, port, &[]);
    caught_up(&replica, &saved.primary, WAIT);
    assert_eq!(checksums(&replica, "d"), checksums(&saved.primary, "d"));
    assert!(
        source.log().contains("replica streaming"),
        "{}",
        source.log()
    );
}
