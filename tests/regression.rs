//! One test per bug found after it shipped: each fails on the code before its fix.

mod support;

use std::time::Duration;

use support::proxy::{Replaygate, run_replaygate};
use support::server::MariaDb;

/// A busy-polled session between two statements waited for the target to go away with a loop
/// that took the reactor's stale readiness (left set by the busy poll's raw read) for new
/// input, found nothing, and asked again without ever yielding: the session spun on one CPU and
/// the client's next statement was never read. Seen as `cargo bench --bench replay` hanging in
/// its busy-polled variant on two runs out of three.
#[test]
fn a_busy_polled_session_reads_the_next_statement_after_an_idle_wait() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE s; CREATE TABLE s.t (id INT PRIMARY KEY)");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("rg.sock");
    let proxy = Replaygate::start(
        target.socket_path().to_str().unwrap(),
        &[
            "--socket",
            socket.to_str().unwrap(),
            "--apply-mode",
            "sync",
            "--busy-poll-us",
            "50",
        ],
    );
    // Replies that come back within the busy poll's window: statements inside a transaction.
    let mut script = String::from("BEGIN;\n");
    for i in 1..=2000 {
        script.push_str(&format!("SET @i = {i};\nINSERT INTO t VALUES (@i);\n"));
    }
    script.push_str("COMMIT;\n");
    for round in 0..3 {
        target.sql("TRUNCATE s.t");
        target
            .client()
            .socket(&socket)
            .database("s")
            .timeout(Duration::from_secs(60))
            .run_with_stdin(script.as_bytes())
            .assert_success();
        assert_eq!(
            target.sql("SELECT COUNT(*) FROM s.t").trim(),
            "2000",
            "round {round}: {}",
            proxy.log()
        );
    }
}

/// In the charsets whose multi-byte characters can end in a backslash byte (sjis, cp932, gbk,
/// gb18030, big5), the guard read `'表'` (sjis 95 5C) byte by byte: a string whose closing
/// quote was escaped, running on to the end of the query. A `DROP DATABASE` behind it in the
/// same COM_QUERY was taken for part of a SELECT's string and forwarded unjudged; the server,
/// reading sjis, dropped the database.
#[test]
fn a_drop_behind_a_multi_byte_character_ending_in_a_backslash_is_judged() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE app");
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let error = runtime.block_on(async {
        use mysql_async::prelude::*;
        let mut conn = mysql_async::Conn::from_url(proxy.mysql_url(""))
            .await
            .unwrap();
        conn.query_drop("SET NAMES sjis").await.unwrap();
        let error = conn
            .query_drop(&b"SELECT '\x95\x5c'; DROP DATABASE app; -- '"[..])
            .await
            .unwrap_err();
        let _ = conn.disconnect().await;
        error.to_string()
    });
    assert!(error.contains("halted before drop_database"), "{error}");
    assert_eq!(target.sql("SHOW DATABASES LIKE 'app'").trim(), "app");
}

/// `replaygate scan` read binlog text in big5/cp932/gbk/gb18030/sjis (`\C sjis`) with one loose
/// rule for all five: any byte from 0x81 was a lead byte. In sjis, 0xA1-0xDF are characters of
/// their own (half-width katakana), so `'ｱ\' '` (B1 5C 27 20 27) is a string with an escaped
/// quote in it to the server, but the reader took B1 5C for one character, closed the string
/// early and opened another that hid the `DROP DATABASE` after it: the scan found nothing.
#[test]
fn scan_reads_a_single_byte_sjis_character_before_a_backslash_as_the_server_does() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("replay.sql");
    std::fs::write(
        &text,
        b"/*!\\C sjis *//*!*/;\nSELECT '\xb1\\' ' ; DROP DATABASE app; -- ';\nSELECT 2;\n",
    )
    .unwrap();
    let out = run_replaygate(&["scan", "--quiet", text.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("DROP DATABASE app"), "{report}");
    assert_eq!(out.status.code(), Some(1), "{report}");
}
