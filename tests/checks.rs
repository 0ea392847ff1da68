//! The operator's consistency checks during a replay (`--check-sql`), against real servers:
//!
//! - the incident with the guard allowing everything and `--check-every 1`: the replay stops
//!   right after the restore script's DROP TABLE of `orders`, and the ERR names that statement,
//!   its binlog position, the check and where it last passed; the halt is journaled;
//! - binlog file by binlog file (the default schedule): a transaction that breaks the check in
//!   the second of three files stops the replay at the start of the third, with the second
//!   applied whole and nothing of the third.

mod support;

use support::client::mariadb_binlog;
use support::incident::{self, restored};
use support::proxy::{Replaygate, replaygate_stdout};
use support::server::MariaDb;

/// The `# at N` position of the first event whose text contains `needle`.
fn position_of(binlog_text: &[u8], needle: &str) -> u64 {
    let text = String::from_utf8_lossy(binlog_text);
    text.split("\n# at ")
        .skip(1)
        .find(|event| event.contains(needle))
        .and_then(|event| event.lines().next()?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no event with {needle:?}"))
}

#[test]
fn a_failed_check_stops_the_replay_right_after_the_transaction_that_broke_it() {
    let production = MariaDb::start();
    let twin = MariaDb::start();
    let day = incident::stage(&production, &twin);
    let binlog = day.binlog_text();
    let drop_orders = position_of(&binlog, "DROP TABLE IF EXISTS `orders`");

    let target = restored(&day.dump);
    let journal = tempfile::tempdir().unwrap();
    let journal_dir = journal.path().to_str().unwrap();
    let proxy = Replaygate::start(
        target.socket_path().to_str().unwrap(),
        &[
            "--on-destructive",
            "allow",
            "--journal-dir",
            journal_dir,
            "--check-sql",
            "SELECT COUNT(*) > 0 FROM shop.orders",
            "--check-every",
            "1",
        ],
    );
    let out = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--comments")
        .run_with_stdin(&binlog)
        .assert_failure();
    let error = out
        .stderr
        .lines()
        .find(|l| l.contains("replaygate"))
        .unwrap_or_else(|| panic!("{}", out.stderr));
    assert!(
        error.contains("consistency check failed after `DROP TABLE IF EXISTS `orders`")
            && error.contains(&format!("binlog position {drop_orders}"))
            && error.contains("SELECT COUNT(*) > 0 FROM shop.orders")
            && error.contains("doesn't exist")
            && error.contains("it last passed after"),
        "{error}"
    );
    // The target holds the DROP and nothing after it.
    let tables = target.sql("SHOW TABLES FROM shop");
    assert_eq!(tables.trim(), "customers", "{tables}");
    let list = replaygate_stdout(&["journal", "list", "--journal-dir", journal_dir]);
    assert!(list.contains("consistency check"), "{list}");
    drop(proxy);
}

#[test]
fn checks_run_binlog_file_by_binlog_file_by_default() {
    let primary = MariaDb::start();
    primary.sql(
        "CREATE DATABASE d; CREATE TABLE d.accounts (id INT PRIMARY KEY, balance INT); \
         INSERT INTO d.accounts VALUES (1, 100), (2, 100), (3, 100)",
    );
    primary.flush_binlogs();
    // File 2: a transfer, then the mistake that makes money disappear.
    primary.sql(
        "UPDATE d.accounts SET balance = balance - 10 WHERE id = 1; \
         UPDATE d.accounts SET balance = balance + 10 WHERE id = 2; \
         UPDATE d.accounts SET balance = 0 WHERE id = 3",
    );
    primary.flush_binlogs();
    // File 3: what must not be applied on top.
    primary.sql("INSERT INTO d.accounts VALUES (4, 100)");
    let files = primary.binlog_files();
    assert!(files.len() >= 3, "{files:?}");
    let binlog = mariadb_binlog(&[], &files);

    let target = MariaDb::start_with(support::server::ServerOptions {
        server_id: 2,
        ..Default::default()
    });
    let proxy = Replaygate::start(
        target.socket_path().to_str().unwrap(),
        &[
            "--check-sql",
            "SELECT COUNT(*) = 3 FROM d.accounts",
            "--check-sql",
            "SELECT SUM(balance) = 300 FROM d.accounts",
        ],
    );
    let out = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--comments")
        .run_with_stdin(&binlog)
        .assert_failure();
    assert!(
        out.stderr.contains("SUM(balance) = 300")
            && out.stderr.contains("returned 0 (must be true or non-zero)")
            && out.stderr.contains("at the end of a binlog file")
            && out.stderr.contains("SET balance = 0"),
        "{}",
        out.stderr
    );
    assert_eq!(
        target
            .sql("SELECT GROUP_CONCAT(id, ':', balance ORDER BY id) FROM d.accounts")
            .trim(),
        "1:90,2:110,3:0",
        "the second file applied whole, nothing of the third"
    );
    // The boundary between the first two files passed.
    assert!(
        proxy.log().contains("consistency checks passed"),
        "{}",
        proxy.log()
    );
}
