//! Real replicas for the tests: `CHANGE MASTER TO` a primary (a private server, a replaygate in
//! front of one, or `replaygate source`), `SHOW SLAVE STATUS` read as a map, waiting for it to
//! say something, and table checksums to compare replicas with their primaries.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use super::server::MariaDb;

/// How a replica positions itself on its primary.
#[derive(Debug, Clone)]
pub enum Positioning {
    /// `MASTER_USE_GTID = slave_pos`.
    SlavePos,
    /// `MASTER_USE_GTID = current_pos`.
    CurrentPos,
    /// `MASTER_USE_GTID = no` with a file and position.
    File { file: String, position: u64 },
}

/// Points `replica` at the primary on 127.0.0.1:`port` as root and starts replicating.
/// Reconnects are tried every second, so tests of reconnects do not wait a minute.
pub fn replicate(replica: &MariaDb, port: u16, positioning: &Positioning) {
    let how = match positioning {
        Positioning::SlavePos => "MASTER_USE_GTID = slave_pos".to_owned(),
        Positioning::CurrentPos => "MASTER_USE_GTID = current_pos".to_owned(),
        Positioning::File { file, position } => {
            format!("MASTER_USE_GTID = no, MASTER_LOG_FILE = '{file}', MASTER_LOG_POS = {position}")
        }
    };
    replica.sql(&format!(
        "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {port}, MASTER_USER = 'root', \
         MASTER_CONNECT_RETRY = 1, {how}; START SLAVE"
    ));
}

/// `SHOW SLAVE STATUS` as field -> value (empty when the server is no replica).
pub fn slave_status(replica: &MariaDb) -> BTreeMap<String, String> {
    let out = replica
        .client()
        .arg("--vertical")
        .run_sql("SHOW SLAVE STATUS")
        .assert_success();
    out.stdout_str()
        .lines()
        .filter_map(|line| {
            let (field, value) = line.split_once(": ")?;
            Some((field.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

/// Polls `SHOW SLAVE STATUS` until `done` says yes (up to `timeout`); returns the status it
/// said yes to, or panics with the last one and `what`.
#[track_caller]
pub fn wait_for_slave(
    replica: &MariaDb,
    what: &str,
    timeout: Duration,
    done: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = slave_status(replica);
        if done(&status) {
            return status;
        }
        if Instant::now() >= deadline {
            panic!("the replica never {what} within {timeout:?}: {status:#?}");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the replica has applied every GTID `primary` has logged, whatever the way it
/// replicates (MariaDB records GTIDs in file/position mode too).
#[track_caller]
pub fn caught_up(replica: &MariaDb, primary: &MariaDb, timeout: Duration) {
    let position = primary.sql("SELECT @@gtid_binlog_pos").trim().to_owned();
    let reached = replica.sql(&format!(
        "SELECT MASTER_GTID_WAIT('{position}', {})",
        timeout.as_secs()
    ));
    assert_eq!(
        reached.trim(),
        "0",
        "the replica did not reach {position}: {:#?}",
        slave_status(replica)
    );
}

/// `CHECKSUM TABLE` of every table of `db`, as `table checksum` lines in name order.
pub fn checksums(server: &MariaDb, db: &str) -> String {
    let tables = server.sql(&format!(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' \
         AND table_type = 'BASE TABLE' ORDER BY table_name"
    ));
    let mut out = String::new();
    for table in tables.lines() {
        out.push_str(&server.sql(&format!("CHECKSUM TABLE `{db}`.`{table}` EXTENDED")));
    }
    out
}
