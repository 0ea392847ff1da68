//! Throttling and observability against a real target: caps slow a real replay down, the admin
//! endpoint pauses and resumes it without disconnecting the client, `/metrics` counts what was
//! sent, `/status` and `replaygate status` show where each session is.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use support::process::free_port;
use support::proxy::{Replaygate, replaygate_bin};
use support::server::MariaDb;

/// A tiny HTTP/1.0 request to the admin endpoint; returns (status code, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the admin port");
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (code, body.to_owned())
}

fn json(port: u16, method: &str, path: &str, body: &str) -> serde_json::Value {
    let (code, text) = http(port, method, path, body);
    assert_eq!(code, 200, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
}

fn inserts(n: usize) -> String {
    (0..n)
        .map(|i| format!("INSERT INTO t VALUES ({i}, 'row {i}');\n"))
        .collect()
}

fn target_with_table() -> MariaDb {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(40))");
    target
}

fn rows(target: &MariaDb) -> usize {
    target
        .sql("SELECT COUNT(*) FROM d.t")
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_statement_cap_from_the_config_file_slows_a_real_replay_down() {
    let target = target_with_table();
    let proxy = Replaygate::start_with_config(
        &target.tcp_addr(),
        "[throttle]\nmax_statements_per_sec = 50\n[log]\nprogress_secs = 1\n",
        &[],
    );
    let started = Instant::now();
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("d")
        .run_with_stdin(inserts(100).as_bytes())
        .assert_success();
    let took = started.elapsed();
    assert_eq!(rows(&target), 100);
    // 100 statements at 50/s: about 2 s. Only the lower bound is robust.
    assert!(took >= Duration::from_millis(1500), "took {took:?}");
    // A replay of about 2 s logs progress at least once, with its rate and throttle state.
    let log = proxy.log();
    let progress = log
        .lines()
        .find(|l| l.contains("progress"))
        .unwrap_or_else(|| panic!("no progress line:\n{log}"));
    assert!(progress.contains("statements_per_sec"), "{progress}");
    assert!(
        progress.contains("throttle=\"capped\"") || progress.contains("throttle=capped"),
        "{progress}"
    );
}

#[test]
fn pause_and_resume_over_the_admin_api_keep_the_client_connected() {
    let target = target_with_table();
    let admin = free_port();
    let admin_arg = admin.to_string();
    let proxy = Replaygate::start(
        &target.tcp_addr(),
        &["--admin", &admin_arg, "--max-statements-per-sec", "200"],
    );
    let mut client = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("d")
        .spawn();
    let mut stdin = client.stdin.take().unwrap();
    let input = inserts(400);
    let writer = thread::spawn(move || stdin.write_all(input.as_bytes()));

    let deadline = Instant::now() + Duration::from_secs(20);
    while rows(&target) < 20 {
        assert!(Instant::now() < deadline, "the replay did not start");
        thread::sleep(Duration::from_millis(20));
    }
    // The session's rate shows it running (only ever under the 200/s cap, with a burst)...
    let running = support::admin::wait_for_status(
        admin,
        "a rate",
        |s| s["sessions"][0]["statements_per_sec"].clone(),
        |r| r.as_f64().is_some_and(|r| r > 0.0),
    );
    assert!(running.as_f64().unwrap() < 400.0, "{running}");
    let paused = json(admin, "POST", "/pause", "");
    assert_eq!(paused["paused"], true, "{paused}");
    thread::sleep(Duration::from_millis(300));
    let before = rows(&target);
    // ... and falls to zero while it is paused (once a whole rate window lies in the pause).
    support::admin::wait_for_status(
        admin,
        "a zero rate",
        |s| s["sessions"][0]["statements_per_sec"].clone(),
        |r| r.as_f64() == Some(0.0),
    );
    thread::sleep(Duration::from_millis(1000));
    assert_eq!(rows(&target), before, "nothing is applied while paused");
    assert!(before < 400, "the replay was paused before its end");
    assert!(
        client.try_wait().unwrap().is_none(),
        "the client is still connected, waiting"
    );
    let status = json(admin, "GET", "/status", "");
    assert_eq!(status["throttle"]["paused"], true, "{status}");
    assert_eq!(status["sessions"].as_array().unwrap().len(), 1, "{status}");

    let resumed = json(admin, "POST", "/resume", "");
    assert_eq!(resumed["paused"], false, "{resumed}");
    // Lift the cap too, through the API: the rest goes at full speed.
    let caps = json(admin, "POST", "/throttle", r#"{"statements_per_sec": 0}"#);
    assert_eq!(caps["caps"]["statements_per_sec"], 0, "{caps}");
    writer.join().unwrap().unwrap();
    let out = client.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows(&target), 400, "the replay completed after the resume");
    let log = proxy.log();
    assert!(log.contains("replay paused"), "{log}");
    assert!(log.contains("replay resumed"), "{log}");
    assert!(log.contains("paused_secs"), "{log}");
}

#[test]
fn metrics_and_status_show_what_was_sent_and_where_the_replay_is() {
    const N: usize = 50;
    let source = MariaDb::start();
    source.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(40))");
    source
        .client()
        .database("d")
        .run_with_stdin(inserts(N).as_bytes())
        .assert_success();
    let binlog = source.binlog_dump(&[]);
    // The stream goes on past the last INSERT (COMMIT, the events after it): the session is done
    // when its position is the stream's last `# at`.
    let last_at: u64 = String::from_utf8_lossy(&binlog)
        .lines()
        .filter_map(|l| l.strip_prefix("# at "))
        .next_back()
        .and_then(|p| p.trim().parse().ok())
        .expect("the stream has event headers");
    let target = MariaDb::start();
    let admin = free_port();
    let admin_arg = format!("127.0.0.1:{admin}");
    let proxy = Replaygate::start(&target.tcp_addr(), &["--admin", &admin_arg]);

    // The client keeps its session open after the stream (stdin stays open), so /status has it.
    let mut client = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--comments")
        .spawn();
    let mut stdin = client.stdin.take().unwrap();
    stdin.write_all(&binlog).unwrap();
    stdin.flush().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let session = loop {
        let status = json(admin, "GET", "/status", "");
        if let Some(s) = status["sessions"].as_array().and_then(|s| s.first())
            && s["statements"].as_u64().unwrap_or(0) as usize >= N
            && rows(&target) == N
            && s["binlog_position"].as_u64() == Some(last_at)
        {
            break s.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the replay did not finish: {status}"
        );
        thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(session["database"], "d", "{session}");
    assert!(
        session["binlog_position"].as_u64().unwrap() > 0,
        "{session}"
    );
    assert!(session["gtid"].is_string(), "{session}");
    assert!(session["halted"].is_null(), "{session}");
    let position = session["binlog_position"].as_u64().unwrap();

    let printed = Command::new(replaygate_bin())
        .args(["status", "--admin", &admin_arg])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&printed.stderr)
    );
    assert!(text.contains("running"), "{text}");
    assert!(text.contains("DATABASE"), "{text}");
    assert!(text.contains(" d "), "{text}");
    assert!(text.contains(&position.to_string()), "{text}");

    let (code, metrics) = http(admin, "GET", "/metrics", "");
    assert_eq!(code, 200);
    let value = |prefix: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    };
    assert!(
        value(r#"replaygate_statements_total{kind="insert",verdict="allow"}"#) >= N as f64,
        "{metrics}"
    );
    assert!(value("replaygate_bytes_in_total") > 0.0, "{metrics}");
    assert!(value("replaygate_bytes_out_total") > 0.0, "{metrics}");
    assert_eq!(value("replaygate_sessions"), 1.0, "{metrics}");
    assert_eq!(value("replaygate_throttle_paused"), 0.0, "{metrics}");
    assert!(
        value("replaygate_statement_duration_seconds_count") >= N as f64,
        "{metrics}"
    );

    drop(stdin);
    let out = client.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(rows(&target), N);
}

#[test]
fn caps_and_pauses_hold_for_prepared_statements_too() {
    use mysql_async::prelude::*;
    const N: usize = 60;
    let target = target_with_table();
    let admin = free_port();
    let admin_arg = admin.to_string();
    let proxy = Replaygate::start(
        &target.tcp_addr(),
        &["--admin", &admin_arg, "--max-statements-per-sec", "30"],
    );
    let url = proxy.mysql_url("d");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut conn = runtime
        .block_on(mysql_async::Conn::from_url(url))
        .expect("connect through replaygate");
    let started = Instant::now();
    runtime.block_on(async {
        let insert = conn
            .prep("INSERT INTO t VALUES (?, 'prepared')")
            .await
            .unwrap();
        for id in 1..=N {
            conn.exec_drop(&insert, (id,)).await.unwrap();
        }
    });
    // 60 executions at 30/s: at least the last 30 wait for tokens (the bucket may start full).
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{N} prepared INSERTs under a 30/s cap took {:?}",
        started.elapsed()
    );
    assert_eq!(rows(&target), N);

    json(admin, "POST", "/pause", "");
    let late = thread::spawn(move || {
        runtime.block_on(async move {
            conn.exec_drop("INSERT INTO t VALUES (?, 'late')", (N + 1,))
                .await
                .unwrap();
            conn.disconnect().await.unwrap();
        });
    });
    thread::sleep(Duration::from_millis(1500));
    assert_eq!(rows(&target), N, "nothing is executed while paused");
    json(admin, "POST", "/resume", "");
    late.join().unwrap();
    assert_eq!(
        rows(&target),
        N + 1,
        "the execution went on after the resume"
    );
    let (_, metrics) = http(admin, "GET", "/metrics", "");
    assert!(
        metrics.contains(r#"replaygate_statements_total{kind="execute",verdict="allow"} 61"#),
        "{metrics}"
    );
}

/// The rate a cap names is the rate the target sees, measured by the target's own clock over
/// seconds (each row stamped with `NOW(6)` as it is inserted), after the first second (where
/// the bytes cap's one-second burst goes). Generous bounds: this machine is shared.
#[test]
fn each_cap_delivers_the_rate_it_names_to_a_real_server() {
    let target = MariaDb::start();
    target.sql(
        "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(600), \
         ts TIMESTAMP(6) NOT NULL DEFAULT NOW(6))",
    );
    // Rows per second after the first second.
    let measure = |flag: &str, cap: u32, stream: &str| -> f64 {
        target.sql("TRUNCATE d.t");
        let proxy = Replaygate::start(&target.tcp_addr(), &[flag, &cap.to_string()]);
        target
            .client()
            .host_port("127.0.0.1", proxy.port())
            .database("d")
            .run_with_stdin(stream.as_bytes())
            .assert_success();
        let row = target.sql(
            "SELECT COUNT(*), TIMESTAMPDIFF(MICROSECOND, MIN(ts), MAX(ts)) / 1e6 FROM d.t, \
             (SELECT MIN(ts) + INTERVAL 1 SECOND AS start FROM d.t) s WHERE ts >= s.start",
        );
        let f: Vec<f64> = row.split_whitespace().map(|v| v.parse().unwrap()).collect();
        let (rows, secs) = (f[0], f[1]);
        assert!(secs >= 3.0, "{flag} {cap}: only {secs} s measured");
        eprintln!("{flag} {cap}: {:.1} rows/s over {secs:.1} s", rows / secs);
        rows / secs
    };
    let within = |what: &str, got: f64, cap: f64| {
        assert!(
            got >= 0.9 * cap && got <= 1.05 * cap,
            "{what}: {got:.0}/s for a cap of {cap}/s"
        );
    };

    let statements: String = (0..2500)
        .map(|i| format!("INSERT INTO t (id, v) VALUES ({i}, 'row {i}');\n"))
        .collect();
    let rate = measure("--max-statements-per-sec", 500, &statements);
    within("statements", rate, 500.0);

    // Transactions: one BEGIN, INSERT, COMMIT each (three statements, one transaction).
    let transactions: String = (0..1000)
        .map(|i| format!("BEGIN;\nINSERT INTO t (id, v) VALUES ({i}, 'row {i}');\nCOMMIT;\n"))
        .collect();
    let rate = measure("--max-transactions-per-sec", 200, &transactions);
    within("transactions", rate, 200.0);

    // Bytes: statements of ~540 bytes of text at 100 kB/s, ~185 statements a second.
    let padding = "x".repeat(500);
    let big: String = (0..1100)
        .map(|i| format!("INSERT INTO t (id, v) VALUES ({i}, '{padding}');\n"))
        .collect();
    let per_statement = big.len() as f64 / 1100.0;
    let rate = measure("--max-bytes-per-sec", 100_000, &big);
    within("bytes", rate * per_statement, 100_000.0);
}
