//! Each guard action against a real server: what reaches the target, what the client sees, what
//! the journal keeps, and that an exported journal re-applies what was skipped.

mod support;

use std::process::Command;

use support::proxy::Replaygate;
use support::server::MariaDb;

const SETUP: &str =
    "CREATE DATABASE g; CREATE TABLE g.orders (id INT PRIMARY KEY, note VARCHAR(20));
INSERT INTO g.orders VALUES (1, 'kept'), (2, 'kept too');";

/// The incident's two lines, as a restore script sends them.
const DISASTER: &[u8] =
    b"SET foreign_key_checks=0;\nDROP TABLE orders;\nINSERT INTO orders VALUES (3, 'after');\n";

fn replaygate(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_replaygate"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn quarantine_answers_ok_keeps_the_table_and_the_journal_reapplies_it() {
    let target = MariaDb::start();
    target.sql(SETUP);
    let journal = tempfile::tempdir().unwrap();
    let dir = journal.path().to_str().unwrap();
    let proxy = Replaygate::start(
        &target.tcp_addr(),
        &["--on-destructive", "quarantine", "--journal-dir", dir],
    );
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("g")
        .run_with_stdin(b"SET foreign_key_checks=0;\nDROP TABLE orders;\nSELECT 1;\n")
        .assert_success();
    assert_eq!(
        target.sql("SELECT COUNT(*) FROM g.orders").trim(),
        "2",
        "the DROP never ran"
    );

    let (ok, list, _) = replaygate(&["journal", "list", "--journal-dir", dir]);
    assert!(ok);
    assert!(
        list.contains("quarantine") && list.contains("drop_table") && list.contains("db=g"),
        "{list}"
    );
    let id = list.split_whitespace().next().unwrap().to_owned();
    let (ok, show, _) = replaygate(&["journal", "show", "--journal-dir", dir, &id]);
    assert!(ok && show.contains("DROP TABLE orders"), "{show}");
    let record: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(journal.path().join("journal.jsonl"))
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(record["foreign_key_checks"], false);
    assert_eq!(record["rule"], "destructive-ddl-without-fk-checks");
    assert_eq!(record["statement"], "DROP TABLE orders");

    // After review, the operator re-applies it: the export carries its session context.
    let sql = journal.path().join("reapply.sql");
    let (ok, _, err) = replaygate(&[
        "journal",
        "export",
        "--journal-dir",
        dir,
        &id,
        "-o",
        sql.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let export = std::fs::read_to_string(&sql).unwrap();
    assert!(
        export.contains("foreign_key_checks = 0") && export.contains("USE `g`"),
        "{export}"
    );
    target
        .client()
        .arg("--binary-mode")
        .run_with_stdin(export.as_bytes())
        .assert_success();
    assert!(
        target.sql("SHOW TABLES FROM g").trim().is_empty(),
        "the export dropped the table"
    );
}

#[test]
fn rewrite_renames_instead_of_dropping() {
    let target = MariaDb::start();
    target.sql(SETUP);
    let journal = tempfile::tempdir().unwrap();
    let dir = journal.path().to_str().unwrap();
    let proxy = Replaygate::start(
        &target.tcp_addr(),
        &["--on-destructive", "rewrite", "--journal-dir", dir],
    );
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("g")
        .run_with_stdin(DISASTER)
        .assert_failure(); // the INSERT after the DROP finds no `orders` table, as it would have
    assert_eq!(
        target.sql("SHOW TABLES FROM g").trim(),
        "_replaygate_dropped_orders_1"
    );
    assert_eq!(
        target
            .sql("SELECT GROUP_CONCAT(note ORDER BY id) FROM g._replaygate_dropped_orders_1")
            .trim(),
        "kept,kept too"
    );
    let (_, list, _) = replaygate(&["journal", "show", "--journal-dir", dir, "1"]);
    assert!(
        list.contains("RENAME TABLE `g`.`orders` TO `g`.`_replaygate_dropped_orders_1`"),
        "{list}"
    );
}

#[test]
fn reject_refuses_one_statement_and_the_session_goes_on() {
    let target = MariaDb::start();
    target.sql(SETUP);
    let proxy = Replaygate::start_with_config(
        &target.tcp_addr(),
        "[[rule]]\nname = \"no-mass-delete\"\nkinds = [\"delete_without_where\"]\nschema = \"g\"\ntable = \"ord*\"\naction = \"reject\"\n",
        &[],
    );
    let out = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("g")
        .arg("--force")
        .run_with_stdin(b"DELETE FROM orders;\nDELETE FROM orders WHERE id = 2;\n");
    assert!(
        out.stderr
            .contains("replaygate: statement rejected by rule 'no-mass-delete'"),
        "{}",
        out.stderr
    );
    assert_eq!(
        target.sql("SELECT GROUP_CONCAT(id) FROM g.orders").trim(),
        "1",
        "the WHERE delete ran"
    );
}

#[test]
fn prepared_statements_are_judged_too() {
    let target = MariaDb::start();
    target.sql(SETUP);
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use mysql_async::prelude::*;
        let url = proxy.mysql_url("g");
        let mut conn = mysql_async::Conn::from_url(url).await.unwrap();
        conn.query_drop("SET foreign_key_checks = 0").await.unwrap();
        let err = conn
            .prep("DROP TABLE orders")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        let err = err
            .err()
            .unwrap_or_else(|| panic!("prepared: {}", proxy.log()));
        assert!(
            err.to_string()
                .contains("replaygate: halted before drop_table"),
            "{err}"
        );
    });
    assert_eq!(target.sql("SELECT COUNT(*) FROM g.orders").trim(), "2");
}

#[test]
fn scan_flags_what_a_person_reading_a_dump_would() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let schema = corpus.join("sakila/percona-sandbox-copy/sakila-schema.sql");
    assert!(
        schema.is_file(),
        "the shared corpus has {}",
        schema.display()
    );
    let (ok, stdout, _) = replaygate(&["scan", "--format", "json", schema.to_str().unwrap()]);
    assert!(!ok, "a schema dump drops and recreates everything");
    let findings: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // sakila-schema.sql: SET FOREIGN_KEY_CHECKS=0, DROP SCHEMA IF EXISTS sakila, CREATE SCHEMA,
    // then CREATE TABLE / VIEW / TRIGGER / PROCEDURE ...
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "drop_database" && f["action"] == "halt"),
        "{stdout}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f["kind"] == "create_table" && f["action"] == "log")
    );
    assert!(
        !findings.iter().any(|f| f["kind"] == "insert"),
        "no data statement is flagged"
    );
}
