//! The guard's other actions on a replication stream, against real servers: a mass DELETE in
//! ROW events matched by `rows_deleted_over` (halted, or quarantined so the replica keeps the
//! rows while its GTID position moves on), and a DROP TABLE rewritten into a RENAME that keeps
//! the data on the replica.

mod support;

use std::time::Duration;

use support::proxy::{Replaygate, replaygate_stdout, run_replaygate};
use support::replication::{Positioning, caught_up, replicate, slave_status, wait_for_slave};
use support::server::{MariaDb, ServerOptions};

const WAIT: Duration = Duration::from_secs(90);

fn row_primary() -> MariaDb {
    let primary = MariaDb::start_with(ServerOptions {
        binlog_format: "ROW",
        ..ServerOptions::default()
    });
    primary.sql(
        "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(20)); \
         INSERT INTO shop.orders SELECT seq, 'x' FROM shop.seq_1_to_1000",
    );
    primary
}

fn replica_of(proxy: &Replaygate) -> MariaDb {
    let replica = MariaDb::start_with(ServerOptions {
        server_id: 2,
        // A replica that logs what it applies asks for the annotated statements of row
        // events too (replicate_annotate_row_events), which the journal then shows.
        extra_args: vec!["--log-slave-updates".into()],
        ..ServerOptions::default()
    });
    replicate(&replica, proxy.port(), &Positioning::SlavePos);
    replica
}

fn mass_delete_rule(action: &str) -> String {
    format!(
        "[[rule]]\nname = \"mass-delete\"\nschema = \"shop\"\nrows_deleted_over = 100\naction = \"{action}\"\n"
    )
}

fn count(server: &MariaDb) -> String {
    server
        .sql("SELECT COUNT(*) FROM shop.orders")
        .trim()
        .to_owned()
}

#[test]
fn a_mass_delete_in_row_events_halts_the_replica_before_it() {
    let primary = row_primary();
    let proxy = Replaygate::start_with_config(&primary.tcp_addr(), &mass_delete_rule("halt"), &[]);
    let replica = replica_of(&proxy);
    primary.sql("DELETE FROM shop.orders WHERE id <= 50");
    caught_up(&replica, &primary, WAIT);
    assert_eq!(count(&replica), "950", "50 rows is under the threshold");

    primary.sql("DELETE FROM shop.orders WHERE id <= 600");
    let halted = wait_for_slave(&replica, "named replaygate", WAIT, |s| {
        s["Last_IO_Error"].contains("replaygate halted replication")
    });
    assert!(
        halted["Last_IO_Error"].contains("mass-delete"),
        "{halted:#?}"
    );
    assert!(
        proxy.log().contains("550 rows deleted from shop.orders"),
        "{}",
        proxy.log()
    );
    assert_eq!(count(&replica), "950", "the mass delete never reached it");

    // `scan` of the raw binlog finds the same mass delete, with no server.
    let config = proxy.dir().join("rules.toml");
    std::fs::write(&config, mass_delete_rule("halt")).unwrap();
    let mut args = vec![
        "scan",
        "--format",
        "json",
        "--config",
        config.to_str().unwrap(),
    ];
    let files = primary.binlog_files();
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = run_replaygate(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["kind"], "delete_rows");
    assert_eq!(found[0]["rule"], "mass-delete");
    assert_eq!(found[0]["database"], "shop");
    assert!(found[0]["gtid"].as_str().is_some(), "{found:?}");
}

#[test]
fn a_quarantined_mass_delete_keeps_the_rows_and_replication_going() {
    let primary = row_primary();
    let journal = tempfile::tempdir().unwrap();
    let proxy = Replaygate::start_with_config(
        &primary.tcp_addr(),
        &mass_delete_rule("quarantine"),
        &["--journal-dir", journal.path().to_str().unwrap()],
    );
    let replica = replica_of(&proxy);
    primary.sql("DELETE FROM shop.orders WHERE id <= 600");
    primary.sql("INSERT INTO shop.orders VALUES (5000, 'after')");
    caught_up(&replica, &primary, WAIT);
    assert_eq!(
        count(&replica),
        "1001",
        "every row kept, and the insert after it applied"
    );
    assert_eq!(
        replica.sql("SELECT @@gtid_slave_pos").trim(),
        primary.sql("SELECT @@gtid_binlog_pos").trim(),
        "the withheld transaction's GTID was applied (as an empty one)"
    );
    let status = slave_status(&replica);
    assert_eq!(status["Slave_SQL_Running"], "Yes", "{status:#?}");
    let journal = std::fs::read_to_string(journal.path().join("journal.jsonl")).unwrap();
    assert!(journal.contains("\"kind\":\"delete_rows\""), "{journal}");
    assert!(
        journal.contains("DELETE FROM shop.orders WHERE id <= 600"),
        "the annotated statement is kept: {journal}"
    );
    assert!(
        journal.contains("delete 600 rows of shop.orders"),
        "{journal}"
    );
}

#[test]
fn a_drop_table_is_rewritten_into_a_rename_on_the_replica() {
    let primary = MariaDb::start();
    primary.sql(
        "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY); \
         INSERT INTO shop.orders VALUES (1), (2), (3)",
    );
    let journal = tempfile::tempdir().unwrap();
    let journal_dir = journal.path().to_str().unwrap();
    let proxy = Replaygate::start(
        &primary.tcp_addr(),
        &["--on-destructive", "rewrite", "--journal-dir", journal_dir],
    );
    let replica = replica_of(&proxy);
    primary.sql("SET foreign_key_checks = 0; DROP TABLE IF EXISTS shop.orders");
    primary.sql("CREATE TABLE shop.after (id INT)");
    caught_up(&replica, &primary, WAIT);
    let tables = replica.sql("SHOW TABLES FROM shop");
    let kept = tables
        .lines()
        .find(|t| t.starts_with("_replaygate_dropped_orders_"))
        .unwrap_or_else(|| panic!("the table was renamed, not dropped: {tables}"));
    assert_eq!(
        replica
            .sql(&format!(
                "SELECT GROUP_CONCAT(id ORDER BY id) FROM shop.`{kept}`"
            ))
            .trim(),
        "1,2,3"
    );
    assert!(
        tables.contains("after") && !tables.lines().any(|t| t == "orders"),
        "{tables}"
    );
    let list = replaygate_stdout(&["journal", "show", "--journal-dir", journal_dir, "1"]);
    assert!(
        list.contains("rewrite")
            && list.contains(&format!(
                "RENAME TABLE IF EXISTS `shop`.`orders` TO `shop`.`{kept}`"
            )),
        "{list}"
    );
}
