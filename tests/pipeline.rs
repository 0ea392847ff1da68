//! `--apply-mode pipelined`: statements inside transactions go ahead of their replies, the COMMIT
//! waits for them; the data must equal a sync replay, and a failure inside a transaction must be
//! reported at its COMMIT, roll the transaction back, halt the session and be journaled.

mod support;

use std::time::Duration;

use support::admin;
use support::client::{ClientOutput, close_input, mariadb_binlog, send_line};
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

    // The fast route too: the client on replaygate's unix socket, both legs busy-polled.
    let socket_dir = tempfile::tempdir().unwrap();
    let socket = socket_dir.path().join("rg.sock");
    let socket = socket.to_str().unwrap();
    let fast = [
        "--apply-mode",
        "pipelined",
        "--socket",
        socket,
        "--busy-poll-us",
        "50",
    ];
    let routes: [(&str, &[&str]); 3] = [
        ("sync", &["--apply-mode", "sync"]),
        ("pipelined", &["--apply-mode", "pipelined"]),
        ("pipelined, unix socket, busy-polled", &fast),
    ];
    for (mode, args) in routes {
        let target = MariaDb::start();
        let proxy = Replaygate::start_with_env(
            &target.tcp_addr(),
            args,
            &[("RUST_LOG", "replaygate=debug")],
        );
        let client = if args.contains(&"--socket") {
            target.client().socket(socket)
        } else {
            target.client().host_port("127.0.0.1", proxy.port())
        };
        client
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
    let (target, journal, proxy) = pipelined_with_journal();
    let stream = b"INSERT INTO t VALUES (100);\n\
        BEGIN;\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\nCOMMIT;\n\
        INSERT INTO t VALUES (3);\n";
    let out = replay_forced(&target, &proxy, stream);
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
        ids_in_table(&target),
        "100",
        "nothing of the failed transaction, nothing after it"
    );
    let journaled = std::fs::read_to_string(journal.path().join("journal.jsonl")).unwrap();
    assert!(
        journaled.contains("INSERT INTO t VALUES (1)") && journaled.contains("1062"),
        "{journaled}"
    );
}

#[test]
fn a_failed_set_sent_ahead_before_begin_halts_before_the_transaction_applies() {
    // Between transactions only SETs and a plain BEGIN are sent ahead; the transaction after a
    // failed one must still not be applied: the failure surfaces at its COMMIT.
    let target = MariaDb::start();
    target.sql("CREATE DATABASE p; CREATE TABLE p.t (id INT PRIMARY KEY)");
    let proxy = Replaygate::start(&target.tcp_addr(), &["--apply-mode", "pipelined"]);
    let stream = b"BEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;\n\
        SET @@session.sql_mode = 'NO_SUCH_MODE';\nSTART TRANSACTION;\nINSERT INTO t VALUES (2);\nCOMMIT;\n\
        INSERT INTO t VALUES (3);\n";
    let out = replay_forced(&target, &proxy, stream);
    // The SET's own error (1231, wrong value for sql_mode), reported at the COMMIT.
    assert!(out.stderr.contains("ERROR 1231"), "{}", out.stderr);
    assert!(out.stderr.contains("NO_SUCH_MODE"), "{}", out.stderr);
    assert!(out.stderr.contains("this session halted"), "{}", out.stderr);
    assert_eq!(
        ids_in_table(&target),
        "1",
        "the transaction after the failed SET, and everything after it, never applied"
    );
    let log = proxy.log();
    assert!(log.contains("sent ahead failed"), "{log}");
}

/// A target with an empty `p.t (id INT PRIMARY KEY)` and a pipelined replaygate in front of it
/// that journals into the returned directory.
fn pipelined_with_journal() -> (MariaDb, tempfile::TempDir, Replaygate) {
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
    (target, journal, proxy)
}

/// Replays `stream` into database `p` through `proxy` with `mariadb --force`, which would go on
/// after an error if replaygate let it.
fn replay_forced(target: &MariaDb, proxy: &Replaygate, stream: &[u8]) -> ClientOutput {
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("p")
        .arg("--force")
        .run_with_stdin(stream)
}

/// The ids in `p.t`, in order, comma-separated.
fn ids_in_table(target: &MariaDb) -> String {
    target
        .sql("SELECT GROUP_CONCAT(id ORDER BY id) FROM p.t")
        .trim()
        .to_owned()
}

#[test]
fn statements_in_flight_show_in_status_and_metrics_until_the_target_answers() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY)");
    let (admin, proxy) =
        admin::start_with_admin(&target.tcp_addr(), "", &["--apply-mode", "pipelined"]);
    // Another session holds the row lock on id 2, so the target cannot answer INSERT 2 (nor
    // INSERT 3, queued behind it on the same connection) until it lets go.
    let mut locker = target.client().database("d").spawn();
    send_line(&mut locker, "BEGIN; INSERT INTO t VALUES (2);");
    let mut client = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("d")
        .spawn();
    for sql in [
        "BEGIN;",
        "INSERT INTO t VALUES (1);",
        "INSERT INTO t VALUES (2);",
        "INSERT INTO t VALUES (3);",
    ] {
        send_line(&mut client, sql);
    }
    let session = admin::wait_for_status(
        admin,
        "three statements sent ahead",
        |s| s["sessions"][0].clone(),
        |s| s["statements"].as_u64() >= Some(4),
    );
    assert!(session["in_flight"].as_u64() >= Some(2), "{session}");
    assert!(
        admin::metric(admin, "replaygate_in_flight_statements ") >= 2.0,
        "{}",
        admin::get(admin, "/metrics")
    );
    assert!(admin::metric(admin, "replaygate_in_flight_bytes ") >= 50.0);

    send_line(&mut locker, "ROLLBACK;");
    send_line(&mut client, "COMMIT;");
    admin::wait_for_status(
        admin,
        "the COMMIT answered",
        |s| s["sessions"][0].clone(),
        |s| s["in_flight"] == 0 && s["in_transaction"] == false,
    );
    assert_eq!(
        admin::metric(admin, "replaygate_in_flight_statements "),
        0.0
    );
    assert_eq!(admin::metric(admin, "replaygate_in_flight_bytes "), 0.0);
    close_input(client).assert_success();
    close_input(locker).assert_success();
    assert_eq!(
        target
            .sql("SELECT GROUP_CONCAT(id ORDER BY id) FROM d.t")
            .trim(),
        "1,2,3"
    );
}

#[test]
fn statements_sent_ahead_reach_the_target_while_the_client_is_idle() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY)");
    let proxy = Replaygate::start(&target.tcp_addr(), &["--apply-mode", "pipelined"]);
    let mut client = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("d")
        .spawn();
    send_line(&mut client, "BEGIN;");
    send_line(&mut client, "INSERT INTO t VALUES (1);");
    assert!(
        proxy.wait_for_log_count("sent ahead", 2, Duration::from_secs(30)),
        "{}",
        proxy.log()
    );
    // The client sends nothing more, yet the target runs the INSERT...
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while target
        .sql("SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_rows_modified > 0")
        .trim()
        != "1"
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the INSERT sent ahead never reached the target"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // ... in the replay's open transaction, which holds the row: another session's INSERT of
    // the same key waits for it and times out.
    let competing = target
        .client()
        .database("d")
        .run_sql("SET SESSION innodb_lock_wait_timeout = 1; INSERT INTO t VALUES (1)");
    assert!(
        competing.stderr.contains("Lock wait timeout exceeded"),
        "the row was not locked by the replay's open transaction: {competing:?}"
    );
    send_line(&mut client, "COMMIT;");
    close_input(client).assert_success();
    assert_eq!(target.sql("SELECT COUNT(*) FROM d.t").trim(), "1");
}

#[test]
fn prepared_executions_in_a_transaction_are_sent_ahead_and_a_failure_surfaces_at_commit() {
    use mysql_async::prelude::*;
    let (target, journal, proxy) = pipelined_with_journal();
    let url = proxy.mysql_url("p");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (committed, failed) = runtime.block_on(async {
        let mut conn = mysql_async::Conn::from_url(url).await.unwrap();
        let insert = conn.prep("INSERT INTO t VALUES (?)").await.unwrap();
        // A whole transaction of executions: acknowledged at once, applied at COMMIT.
        conn.query_drop("BEGIN").await.unwrap();
        for id in [1, 2, 3] {
            conn.exec_drop(&insert, (id,)).await.unwrap();
        }
        let committed = conn.query_drop("COMMIT").await;
        // The duplicate key is not seen at its execution (sent ahead) but at the COMMIT.
        conn.query_drop("BEGIN").await.unwrap();
        conn.exec_drop(&insert, (4,)).await.unwrap();
        let duplicate = conn.exec_drop(&insert, (1,)).await;
        conn.exec_drop(&insert, (5,)).await.unwrap();
        let failed = conn.query_drop("COMMIT").await;
        assert!(duplicate.is_ok(), "sent ahead: {duplicate:?}");
        (committed, failed)
    });
    committed.expect("the first transaction commits");
    let failed = failed.expect_err("the COMMIT reports the failed execution");
    let message = failed.to_string();
    assert!(
        message.contains("a statement sent ahead failed")
            && message.contains("1062")
            && message.contains("INSERT INTO t VALUES (?)"),
        "{message}"
    );
    assert_eq!(
        target
            .sql("SELECT GROUP_CONCAT(id ORDER BY id) FROM p.t")
            .trim(),
        "1,2,3",
        "the failed transaction rolled back whole"
    );
    assert!(
        proxy.wait_for_log_count("sent ahead", 6, Duration::from_secs(30)),
        "{}",
        proxy.log()
    );
    let journaled = std::fs::read_to_string(journal.path().join("journal.jsonl")).unwrap();
    assert!(
        journaled.contains("INSERT INTO t VALUES (?)") && journaled.contains("1062"),
        "{journaled}"
    );
}

#[test]
fn a_transaction_ended_by_a_prepared_commit_ends_pipelining_too() {
    use mysql_async::prelude::*;
    let target = MariaDb::start();
    target.sql("CREATE DATABASE p; CREATE TABLE p.t (id INT PRIMARY KEY)");
    let proxy = Replaygate::start(&target.tcp_addr(), &["--apply-mode", "pipelined"]);
    let url = proxy.mysql_url("p");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let after_commit = runtime.block_on(async {
        let mut conn = mysql_async::Conn::from_url(url).await.unwrap();
        conn.query_drop("BEGIN").await.unwrap();
        conn.query_drop("INSERT INTO t VALUES (1)").await.unwrap();
        conn.exec_drop("COMMIT", ()).await.unwrap();
        // Autocommit again: a data change outside a transaction is never sent ahead, so the
        // duplicate key is reported by the statement itself.
        conn.query_drop("INSERT INTO t VALUES (1)").await
    });
    let error = after_commit.expect_err("the duplicate is reported at once");
    assert!(error.to_string().contains("Duplicate entry"), "{error}");
    assert_eq!(target.sql("SELECT COUNT(*) FROM p.t").trim(), "1");
}
