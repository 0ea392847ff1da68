//! `--apply-mode pipelined`: statements inside transactions go ahead of their replies, the COMMIT
//! waits for them; the data must equal a sync replay, and a failure inside a transaction must be
//! reported at its COMMIT, roll the transaction back, halt the session and be journaled.

mod support;

use support::client::mariadb_binlog;
use support::proxy::Replaygate;
use support::server::{MariaDb, ServerOptions};

const CHECKSUM: &str =
    "SELECT COUNT(*), MD5(GROUP_CONCAT(id, ':', v, ':', n ORDER BY id)) FROM w.t";

#[test]
fn pipelined_and_sync_replays_of_one_binlog_give_identical_tables() {
    let source = MariaDb::start_with(ServerOptions {
        binlog_format: "STATEMENT",
        ..ServerOptions::default()
    });
    let mut workload = String::from(
        "CREATE DATABASE w; USE w; CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), n INT) DEFAULT CHARSET utf8mb4;\n",
    );
    for i in 0..60 {
        workload.push_str(&format!(
            "BEGIN; INSERT INTO t VALUES ({a}, 'Müller {i}', 0); INSERT INTO t VALUES ({b}, '山田 {i}', 1); \
             UPDATE t SET n = n + 10 WHERE id = {a}; COMMIT;\n\
             INSERT INTO t VALUES ({c}, 'auto', 2);\n",
            a = i * 3,
            b = i * 3 + 1,
            c = i * 3 + 2,
        ));
        if i % 20 == 0 {
            workload.push_str("DELETE FROM t WHERE n = 2 AND id < 10;\n");
        }
    }
    source
        .client()
        .arg("--default-character-set=utf8mb4")
        .run_with_stdin(workload.as_bytes())
        .assert_success();
    let decoded = mariadb_binlog(&[], &source.binlog_files());
    let expected = source.sql(CHECKSUM);

    for mode in ["sync", "pipelined"] {
        let target = MariaDb::start();
        let proxy = Replaygate::start_with_env(
            &target.tcp_addr(),
            &["--apply-mode", mode],
            &[("RUST_LOG", "replaygate=debug")],
        );
        target
            .client()
            .host_port("127.0.0.1", proxy.port())
            .arg("--comments")
            .run_with_stdin(&decoded)
            .assert_success();
        assert_eq!(
            target.sql(CHECKSUM),
            expected,
            "{mode} replay differs from the source"
        );
    }
}

#[test]
fn a_failure_inside_a_pipelined_transaction_is_reported_at_commit_and_rolled_back() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE p; CREATE TABLE p.t (id INT PRIMARY KEY)");
    let journal = tempfile::tempdir().unwrap();
    let proxy = Replaygate::start(
        &target.tcp_addr(),
        &[
            "--apply-mode",
            "pipelined",
            "--journal-dir",
            journal.path().to_str().unwrap(),
        ],
    );
    let stream = b"INSERT INTO t VALUES (100);\n\
        BEGIN;\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\nCOMMIT;\n\
        INSERT INTO t VALUES (3);\n";
    let out = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("p")
        .arg("--force")
        .run_with_stdin(stream);
    // The duplicate key is reported at the COMMIT, with the statement that failed.
    assert!(out.stderr.contains("ERROR 1062"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("replaygate: a statement sent ahead failed"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("INSERT INTO t VALUES (1)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("rolled back"), "{}", out.stderr);
    // --force cannot go on past it.
    assert!(out.stderr.contains("this session halted"), "{}", out.stderr);
    assert_eq!(
        target
            .sql("SELECT GROUP_CONCAT(id ORDER BY id) FROM p.t")
            .trim(),
        "100",
        "nothing of the failed transaction, nothing after it"
    );
    let journaled = std::fs::read_to_string(journal.path().join("journal.jsonl")).unwrap();
    assert!(
        journaled.contains("INSERT INTO t VALUES (1)") && journaled.contains("1062"),
        "{journaled}"
    );
}
