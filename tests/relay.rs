//! Byte-faithful relay: whatever a client does directly against the server, it can do through
//! replaygate with the same result — result sets, prepared statements, LOAD DATA LOCAL, huge
//! payloads in both directions, multi-statements, many concurrent clients.

mod support;

use mysql_async::prelude::*;
use support::client::{MariadbClient, mariadb_binlog};
use support::proxy::Replaygate;
use support::server::{MariaDb, ServerOptions};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn through(proxy: &Replaygate, db: &MariaDb) -> MariadbClient {
    db.client().host_port("127.0.0.1", proxy.port())
}

#[test]
fn payloads_of_exactly_2_pow_24_minus_1_bytes_and_20_mib_pass_both_ways() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE big; CREATE TABLE big.t (id INT PRIMARY KEY, v LONGTEXT)");
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    runtime().block_on(async {
        let mut conn = mysql_async::Conn::from_url(proxy.mysql_url("big"))
            .await
            .unwrap();
        // COM_QUERY payload = 1 command byte + text: make it exactly 2^24 - 1 bytes.
        let prefix = "INSERT INTO t VALUES (1, '";
        let suffix = "')";
        let fill = (1 << 24) - 1 - 1 - prefix.len() - suffix.len();
        let sql = format!("{prefix}{}{suffix}", "a".repeat(fill));
        assert_eq!(sql.len() + 1, (1 << 24) - 1);
        conn.query_drop(&sql).await.unwrap();
        let len: Option<u64> = conn
            .query_first("SELECT LENGTH(v) FROM t WHERE id = 1")
            .await
            .unwrap();
        assert_eq!(len, Some(fill as u64));

        // A row packet of exactly 2^24 - 1 bytes: 4 bytes of length prefix + the value.
        let value_len = (1usize << 24) - 1 - 4;
        let row: Option<Vec<u8>> = conn
            .query_first(format!("SELECT REPEAT('b', {value_len})"))
            .await
            .unwrap();
        assert_eq!(row.map(|v| v.len()), Some(value_len));

        // 20 MiB statement (two frames) and a 20 MiB value back.
        let twenty = 20 << 20;
        conn.query_drop(format!(
            "INSERT INTO t VALUES (2, REPEAT('x', 10)), (3, '{}')",
            "z".repeat(twenty)
        ))
        .await
        .unwrap();
        let back: Option<String> = conn
            .query_first("SELECT v FROM t WHERE id = 3")
            .await
            .unwrap();
        assert_eq!(back.map(|v| v.len()), Some(twenty));
        conn.disconnect().await.unwrap();
    });
    // The real client too, with a 20 MiB statement on stdin.
    let stmt = format!("INSERT INTO t VALUES (4, '{}');\n", "q".repeat(20 << 20));
    through(&proxy, &target)
        .database("big")
        .arg("--max-allowed-packet=64M")
        .run_with_stdin(stmt.as_bytes())
        .assert_success();
    assert_eq!(
        target
            .sql("SELECT LENGTH(v) FROM big.t WHERE id = 4")
            .trim(),
        (20 << 20).to_string()
    );
}

#[test]
fn prepared_statements_multi_statements_and_use_db() {
    let target = MariaDb::start();
    target
        .sql("CREATE DATABASE app; CREATE TABLE app.kv (k INT PRIMARY KEY, v VARCHAR(50), b BLOB)");
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    runtime().block_on(async {
        let mut conn = mysql_async::Conn::from_url(proxy.mysql_url("app"))
            .await
            .unwrap();
        // Binary protocol: prepare, execute with params (including non-UTF-8 bytes), fetch.
        let insert = conn.prep("INSERT INTO kv VALUES (?, ?, ?)").await.unwrap();
        for k in 0..20 {
            conn.exec_drop(&insert, (k, format!("välue {k}"), vec![0u8, 255, k as u8]))
                .await
                .unwrap();
        }
        let rows: Vec<(i32, String, Vec<u8>)> = conn
            .exec("SELECT k, v, b FROM kv WHERE k >= ? ORDER BY k", (15,))
            .await
            .unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0], (15, "välue 15".to_owned(), vec![0, 255, 15]));
        conn.close(insert).await.unwrap();

        // Multi-statement text: several results, one result set in the middle. What the client
        // sees must be what it sees directly.
        let through_proxy = multi_statement_results(&mut conn).await;
        let mut direct = mysql_async::Conn::from_url(target.url("app"))
            .await
            .unwrap();
        assert_eq!(through_proxy, multi_statement_results(&mut direct).await);
        assert!(through_proxy.contains(&vec![21]), "{through_proxy:?}");
        direct.disconnect().await.unwrap();
        let v: Option<String> = conn
            .query_first("SELECT v FROM kv WHERE k = 100")
            .await
            .unwrap();
        assert_eq!(
            v.as_deref(),
            Some("b"),
            "the statement after the result set ran"
        );

        // A server error is relayed verbatim: code, SQLSTATE and message.
        let err = conn
            .query_drop("SELECT * FROM no_such_table")
            .await
            .unwrap_err();
        match err {
            mysql_async::Error::Server(e) => {
                assert_eq!(e.code, 1146);
                assert_eq!(e.state, "42S02");
                assert_eq!(e.message, "Table 'app.no_such_table' doesn't exist");
            }
            other => panic!("expected a server error, got {other:?}"),
        }
        // The session is still usable: ping, reset, change of database.
        conn.ping().await.unwrap();
        conn.reset().await.unwrap();
        let charset: Option<String> = conn
            .query_first("SELECT @@character_set_client")
            .await
            .unwrap();
        assert_eq!(
            charset.as_deref(),
            Some("utf8mb4"),
            "the pin survives COM_RESET_CONNECTION"
        );
        conn.disconnect().await.unwrap();
    });

    // `use db` and COM_INIT_DB through the real client.
    let out = through(&proxy, &target)
        .arg("--skip-column-names")
        .run_with_stdin(b"use app\nSELECT DATABASE(), COUNT(*) FROM kv;\n")
        .assert_success();
    assert_eq!(out.stdout_str().trim(), "app\t21");
}

async fn multi_statement_results(conn: &mut mysql_async::Conn) -> Vec<Vec<i64>> {
    let mut result = conn
        .query_iter(
            "DELETE FROM kv WHERE k = 100; INSERT INTO kv (k, v) VALUES (100, 'a'); \
             SELECT COUNT(*) FROM kv; UPDATE kv SET v = 'b' WHERE k = 100",
        )
        .await
        .unwrap();
    let mut sets = Vec::new();
    while !result.is_empty() {
        sets.push(result.collect::<i64>().await.unwrap());
    }
    sets
}

#[test]
fn load_data_local_infile_replays_from_a_statement_format_binlog() {
    let source = MariaDb::start_with(ServerOptions {
        binlog_format: "STATEMENT",
        ..ServerOptions::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    let rows: String = (1..=500)
        .map(|i| format!("{i},row {i} ünïcode\n"))
        .collect();
    std::fs::write(&csv, &rows).unwrap();
    source.sql("CREATE DATABASE ld; CREATE TABLE ld.t (id INT PRIMARY KEY, s VARCHAR(50)) DEFAULT CHARSET utf8mb4");
    source
        .client()
        .database("ld")
        .arg("--local-infile=1")
        .arg("--default-character-set=utf8mb4")
        .run_sql(&format!(
            "LOAD DATA LOCAL INFILE '{}' INTO TABLE t FIELDS TERMINATED BY ','",
            csv.display()
        ))
        .assert_success();
    let expected = source.sql("SELECT COUNT(*), MD5(GROUP_CONCAT(id, s ORDER BY id)) FROM ld.t");

    // mariadb-binlog writes the loaded file out and turns the event into LOAD DATA LOCAL.
    let load_dir = tempfile::tempdir().unwrap();
    let decoded = mariadb_binlog(
        &[&format!("--local-load={}", load_dir.path().display())],
        &source.binlog_files(),
    );
    assert!(String::from_utf8_lossy(&decoded).contains("LOAD DATA LOCAL INFILE"));
    let target = MariaDb::start();
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    through(&proxy, &target)
        .arg("--local-infile=1")
        .run_with_stdin(&decoded)
        .assert_success();
    assert_eq!(
        target.sql("SELECT COUNT(*), MD5(GROUP_CONCAT(id, s ORDER BY id)) FROM ld.t"),
        expected
    );
}

/// The same workload in row and statement format, replayed through replaygate, gives the
/// source's data.
#[test]
fn row_and_statement_format_binlogs_of_one_workload_replay_identically() {
    let workload = "CREATE DATABASE w; USE w;\n\
        CREATE TABLE acct (id INT PRIMARY KEY, owner VARCHAR(40), balance DECIMAL(12,2), note TEXT) DEFAULT CHARSET utf8mb4;\n\
        INSERT INTO acct VALUES (1, 'Jürgen', 10.50, 'ünïcödé'), (2, 'Zoë', 20.00, NULL), (3, '李', 0, '🎉');\n\
        BEGIN; UPDATE acct SET balance = balance + 5 WHERE id IN (1, 2); INSERT INTO acct VALUES (4, 'Ольга', 1.25, 'x'); COMMIT;\n\
        DELETE FROM acct WHERE id = 3;\n\
        UPDATE acct SET note = CONCAT(note, '!') WHERE note IS NOT NULL;\n";
    let checksum = "SELECT MD5(GROUP_CONCAT(id, owner, balance, IFNULL(note, 'NULL') ORDER BY id)) FROM w.acct";
    let target = MariaDb::start();
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    for format in ["ROW", "STATEMENT"] {
        let source = MariaDb::start_with(ServerOptions {
            binlog_format: format,
            ..ServerOptions::default()
        });
        source
            .client()
            .arg("--default-character-set=utf8mb4")
            .run_with_stdin(workload.as_bytes())
            .assert_success();
        let decoded = mariadb_binlog(&[], &source.binlog_files());
        if format == "ROW" {
            assert!(
                String::from_utf8_lossy(&decoded).contains("BINLOG '"),
                "row events are BINLOG blocks"
            );
        }
        through(&proxy, &target)
            .run_with_stdin(&decoded)
            .assert_success();
        assert_eq!(
            target.sql(checksum),
            source.sql(checksum),
            "{format} replay differs from the source"
        );
        target.sql("DROP DATABASE w");
    }
}

#[test]
fn two_hundred_concurrent_clients_do_not_interfere() {
    let target = MariaDb::start_with(ServerOptions {
        extra_args: vec!["--max-connections=400".into()],
        ..ServerOptions::default()
    });
    target.sql("CREATE DATABASE c; CREATE TABLE c.t (client INT, n INT, PRIMARY KEY (client, n))");
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    let url = proxy.mysql_url("c");
    runtime().block_on(async {
        let mut tasks = Vec::new();
        for client in 0..200 {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let mut conn = mysql_async::Conn::from_url(url).await.unwrap();
                // Session state must stay per client: a user variable and a transaction.
                conn.query_drop(format!("SET @me = {client}"))
                    .await
                    .unwrap();
                conn.query_drop("BEGIN").await.unwrap();
                for n in 0..10 {
                    conn.query_drop(format!("INSERT INTO t VALUES ({client}, {n})"))
                        .await
                        .unwrap();
                }
                conn.query_drop("COMMIT").await.unwrap();
                let me: Option<i64> = conn.query_first("SELECT @me").await.unwrap();
                let mine: Option<i64> = conn
                    .query_first(format!("SELECT COUNT(*) FROM t WHERE client = {client}"))
                    .await
                    .unwrap();
                conn.disconnect().await.unwrap();
                (client, me, mine)
            }));
        }
        for task in tasks {
            let (client, me, mine) = task.await.unwrap();
            assert_eq!(me, Some(i64::from(client)));
            assert_eq!(mine, Some(10));
        }
    });
    assert_eq!(target.sql("SELECT COUNT(*) FROM c.t").trim(), "2000");
    // mysql_async switches to the server's unix socket when it can (prefer_socket): make sure
    // every client really went through replaygate.
    assert!(
        proxy.wait_for_log_count("session closed", 200, std::time::Duration::from_secs(20)),
        "{}",
        proxy.log()
    );
}

#[test]
fn a_unix_socket_target_works_like_tcp() {
    let target = MariaDb::start();
    let socket = target.socket_path();
    let proxy = Replaygate::start(socket.to_str().unwrap(), &[]);
    let out = through(&proxy, &target)
        .arg("--skip-column-names")
        .run_sql("SELECT 1 + 1")
        .assert_success();
    assert_eq!(out.stdout_str().trim(), "2");
}
