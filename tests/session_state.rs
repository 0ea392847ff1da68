//! Per-session state as the stream drives it: with `mariadb --comments` the client passes the
//! binlog event headers along, and replaygate knows the binlog position, origin thread and GTID
//! of every statement (debug logs show them; refusals name them).

mod support;

use std::time::Duration;

use support::client::mariadb_binlog;
use support::proxy::Replaygate;
use support::server::{MariaDb, ServerOptions};

#[test]
fn comments_carry_binlog_positions_threads_and_gtids_into_the_session() {
    let source = MariaDb::start_with(ServerOptions {
        binlog_format: "STATEMENT",
        ..ServerOptions::default()
    });
    source.sql("CREATE DATABASE s; USE s; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO t VALUES (1, 'one')");
    let decoded = mariadb_binlog(&[], &source.binlog_files());
    let text = String::from_utf8_lossy(&decoded);
    // The `# at` of the INSERT's query event, and the GTID mariadb-binlog printed for it.
    let insert_at = text
        .split("# at ")
        .filter(|event| event.contains("INSERT INTO t"))
        .map(|event| event.lines().next().unwrap().trim().to_owned())
        .last()
        .expect("the INSERT event");
    let gtid_seq = text
        .lines()
        .filter_map(|l| {
            l.split_once("SET @@session.gtid_seq_no=")
                .map(|(_, rest)| rest)
        })
        .next_back()
        .and_then(|l| l.split('*').next())
        .expect("a GTID sequence number")
        .to_owned();

    let target = MariaDb::start();
    let proxy =
        Replaygate::start_with_env(&target.tcp_addr(), &[], &[("RUST_LOG", "replaygate=debug")]);
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--comments")
        .run_with_stdin(&decoded)
        .assert_success();
    assert_eq!(target.sql("SELECT v FROM s.t").trim(), "one");

    assert!(proxy.wait_for_log("session closed", Duration::from_secs(10)));
    let log = proxy.log();
    let insert_line = log
        .lines()
        .find(|l| l.contains("statement") && l.contains("INSERT INTO t"))
        .unwrap_or_else(|| panic!("no debug line for the INSERT:\n{log}"));
    assert!(
        insert_line.contains(&format!("position={insert_at}")),
        "{insert_line}"
    );
    assert!(insert_line.contains("thread="), "{insert_line}");
    assert!(
        insert_line.contains(&format!("gtid=\"0-1-{gtid_seq}\"")),
        "{insert_line}"
    );
    assert!(insert_line.contains("db=\"s\""), "{insert_line}");
}
