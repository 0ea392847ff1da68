//! Replicas behind replaygate on the incident's day (the "filter during replica catch-up"
//! use): a live production with three replicas, all real `mariadbd`s replicating as they
//! always do, while the day happens on production — application traffic, a `mariadb-dump` run
//! against it mid-day from a connection of its own, more traffic.
//!
//! (a) Behind replaygate with the default policy, the replica stops right before the first
//!     DROP TABLE: its tables equal production's just before the restore script, and
//!     `SHOW SLAVE STATUS` names replaygate, the rule, the statement, `file:position` and GTID
//!     while it keeps retrying — and a reconnect is refused again.
//! (b) Behind replaygate with `--on-destructive quarantine-origin`, the replica ends equal to a
//!     twin that never had the disaster, replication still running, the journal holding the
//!     script's events.
//! (c) Connected directly, the replica copies the disaster (the control).

mod support;

use std::time::Duration;

use support::admin::{start_with_admin, status};
use support::incident::{self, tables};
use support::proxy::{Replaygate, replaygate_stdout};
use support::replication::{Positioning, caught_up, replicate, slave_status, wait_for_slave};
use support::server::{MariaDb, ServerOptions};

const WAIT: Duration = Duration::from_secs(90);

fn replica(server_id: u32) -> MariaDb {
    MariaDb::start_with(ServerOptions {
        server_id,
        ..ServerOptions::default()
    })
}

#[test]
fn the_incident_on_live_replicas_halt_quarantine_origin_and_the_direct_control() {
    let production = MariaDb::start();
    let twin = MariaDb::start();
    let journal = tempfile::tempdir().unwrap();
    let journal_dir = journal.path().to_str().unwrap();
    let (admin, halting) = start_with_admin(&production.tcp_addr(), "", &[]);
    let quarantining = Replaygate::start(
        &production.tcp_addr(),
        &[
            "--on-destructive",
            "quarantine-origin",
            "--journal-dir",
            journal_dir,
        ],
    );
    let (a, b, c) = (replica(2), replica(3), replica(4));
    replicate(&a, halting.port(), &Positioning::SlavePos);
    replicate(&b, quarantining.port(), &Positioning::SlavePos);
    replicate(&c, production.port(), &Positioning::SlavePos);

    let day = incident::stage(&production, &twin);
    let (drop_position, drop_gtid) = incident::first_drop(&production.binlog_dump(&[]));
    let production_file = day.file.clone();
    assert_ne!(day.before_restore, day.twin);

    // (c) The control: a replica connected directly copies the disaster.
    caught_up(&c, &production, WAIT);
    assert_eq!(tables(&c), tables(&production));
    assert_ne!(
        tables(&c),
        day.twin,
        "the restore script rolled production back"
    );

    // (b) quarantine-origin: the script is withheld, everything else applied, still running.
    caught_up(&b, &production, WAIT);
    assert_eq!(
        tables(&b),
        day.twin,
        "equal to the twin that never had the disaster"
    );
    let running = slave_status(&b);
    assert_eq!(running["Slave_IO_Running"], "Yes", "{running:#?}");
    assert_eq!(running["Slave_SQL_Running"], "Yes", "{running:#?}");
    assert_eq!(running["Last_IO_Error"], "", "{running:#?}");
    let list = replaygate_stdout(&["journal", "list", "--journal-dir", journal_dir]);
    assert!(
        list.contains("drop_table") && list.contains("create_table") && list.contains("insert"),
        "the script's events are journaled: {list}"
    );
    assert!(
        list.contains(&format!("thread={}", day.restore_thread)),
        "{list}"
    );
    assert!(list.contains(&format!("pos={drop_position}")), "{list}");

    // (a) Default policy: halted right before the first DROP TABLE, and says why.
    let halted = wait_for_slave(&a, "named replaygate", WAIT, |s| {
        s.get("Last_IO_Error")
            .is_some_and(|e| e.contains("replaygate halted replication"))
    });
    let error = &halted["Last_IO_Error"];
    for part in [
        "destructive-ddl-without-fk-checks",
        "DROP TABLE IF EXISTS",
        &format!("{production_file}:{drop_position}"),
        &format!("GTID {drop_gtid}"),
    ] {
        assert!(
            error.contains(part),
            "Last_IO_Error lacks {part:?}: {error}"
        );
    }
    assert_eq!(
        halted["Slave_IO_Running"], "Connecting",
        "it keeps retrying: {halted:#?}"
    );
    let applied = wait_for_slave(&a, "applied what it received", WAIT, |s| {
        s["Slave_SQL_Running_State"].contains("has read all relay log")
            && s["Exec_Master_Log_Pos"] == s["Read_Master_Log_Pos"]
    });
    assert_eq!(applied["Slave_SQL_Running"], "Yes");
    assert_eq!(
        tables(&a),
        day.before_restore,
        "the replica stops right before the restore script"
    );
    // Reconnecting changes nothing: refused again at the same event.
    a.sql("STOP SLAVE; START SLAVE");
    assert!(
        halting.wait_for_log("refused again at the same event", WAIT),
        "{}",
        halting.log()
    );
    let again = wait_for_slave(&a, "named replaygate again", WAIT, |s| {
        s["Last_IO_Error"].contains("replaygate halted replication")
    });
    assert!(again["Last_IO_Error"].contains(&format!("GTID {drop_gtid}")));
    assert_eq!(tables(&a), day.before_restore);
    let report = status(admin);
    let replica = &report["replicas"][0];
    assert_eq!(replica["server_id"], 2, "{report}");
    assert!(
        replica["halted"]
            .as_str()
            .is_some_and(|h| h.contains("DROP TABLE IF EXISTS")),
        "{report}"
    );
    assert_eq!(replica["file"], production_file.as_str(), "{report}");
    assert!(
        replica["position"].as_u64().unwrap() <= drop_position,
        "{report}"
    );
    let text = replaygate_stdout(&["status", "--admin", &admin.to_string()]);
    assert!(
        text.contains("replicas:") && text.contains("HALTED: "),
        "{text}"
    );
}
