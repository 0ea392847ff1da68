//! Smoke test of the test harness itself: a private MariaDB starts, takes utf8 text through the
//! real `mariadb` client, returns it byte for byte, and logs it in a binlog that the real
//! `mariadb-binlog` can read. If this fails, every other integration test would fail for reasons
//! that have nothing to do with replaygate.

mod support;

use std::time::Instant;

use support::client::mariadb_binlog;
use support::server::MariaDb;

#[test]
fn private_server_round_trips_utf8_and_logs_it_in_the_binlog() {
    let started = Instant::now();
    let db = MariaDb::start();
    eprintln!(
        "MariaDb::start() took {:?} (port {})",
        started.elapsed(),
        db.port()
    );
    assert_ne!(db.port(), 3306, "must never use the machine's own server");

    db.sql("CREATE DATABASE smoke; CREATE TABLE smoke.t (id INT PRIMARY KEY, s VARCHAR(64)) DEFAULT CHARSET utf8mb4");

    let text = "Grüße, 世界 🚀";
    let input = format!("INSERT INTO t VALUES (1, '{text}');\n");
    let out = db
        .client()
        .database("smoke")
        .arg("--default-character-set=utf8mb4")
        .run_with_stdin(input.as_bytes())
        .assert_success();
    assert!(
        out.stdout.is_empty(),
        "unexpected output: {}",
        out.stdout_str()
    );

    let hex = db.sql("SELECT HEX(s) FROM smoke.t WHERE id = 1");
    let expected: String = text.bytes().map(|b| format!("{b:02X}")).collect();
    assert_eq!(
        hex.trim(),
        expected,
        "stored bytes differ; error log:\n{}",
        db.error_log()
    );

    // Over TCP as well, so both endpoints the tests use are known to work.
    let count = db
        .client()
        .host_port("127.0.0.1", db.port())
        .arg("--skip-column-names")
        .run_sql("SELECT COUNT(*) FROM smoke.t")
        .assert_success();
    assert_eq!(count.stdout_str().trim(), "1");

    db.flush_binlogs();
    let files = db.binlog_files();
    assert!(
        files.len() >= 2,
        "FLUSH BINARY LOGS should open a new file: {files:?}"
    );
    let dump = String::from_utf8(mariadb_binlog(&[], &files)).expect("binlog dump is utf8 here");
    assert!(
        dump.contains(&format!("INSERT INTO t VALUES (1, '{text}')")),
        "INSERT not found in mariadb-binlog output:\n{dump}"
    );
}
