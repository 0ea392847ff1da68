//! Bad input and vanishing peers: each gets a clear error, loses nothing silently, and ends only
//! the session concerned — never the proxy.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use support::client::send_line;
use support::process::send_signal;
use support::proxy::Replaygate;
use support::server::MariaDb;

fn read_packet(stream: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).ok()?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0u8; len];
    stream.read_exact(&mut payload).ok()?;
    Some((header[3], payload))
}

fn write_packet(stream: &mut TcpStream, seq: u8, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut frame = len.to_le_bytes()[..3].to_vec();
    frame.push(seq);
    frame.extend_from_slice(payload);
    stream.write_all(&frame).unwrap();
}

/// The proxy still serves a normal client.
fn assert_serves(proxy: &Replaygate, target: &MariaDb) {
    let out = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--skip-column-names")
        .run_sql("SELECT 40 + 2")
        .assert_success();
    assert_eq!(out.stdout_str().trim(), "42");
}

#[test]
fn malformed_client_packets_close_that_session_only() {
    let target = MariaDb::start();
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);

    // Wrong sequence id in the handshake response.
    let mut raw = TcpStream::connect(proxy.addr()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (seq, greeting) = read_packet(&mut raw).expect("greeting");
    assert_eq!((seq, greeting[0]), (0, 10), "protocol 10 greeting");
    write_packet(&mut raw, 7, b"garbage");
    assert!(read_packet(&mut raw).is_none(), "the session is closed");

    // A handshake response that is not one.
    let mut raw = TcpStream::connect(proxy.addr()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    read_packet(&mut raw).expect("greeting");
    write_packet(&mut raw, 1, &[0xff, 0xff]);
    assert!(read_packet(&mut raw).is_none_or(|(_, p)| p[0] == 0xff));

    // A connection cut in the middle of a packet.
    let mut raw = TcpStream::connect(proxy.addr()).unwrap();
    read_packet(&mut raw).expect("greeting");
    raw.write_all(&[200, 0, 0, 1, 1, 2, 3]).unwrap();
    drop(raw);

    assert_serves(&proxy, &target);
    let log = proxy.log();
    assert!(log.contains("packet out of order"), "{log}");
    assert!(
        log.contains("closed in the middle of a packet") || log.contains("session not opened"),
        "{log}"
    );
}

#[test]
fn tls_requests_without_a_certificate_are_refused_with_a_clear_error() {
    let target = MariaDb::start();
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    let mut raw = TcpStream::connect(proxy.addr()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (_, greeting) = read_packet(&mut raw).expect("greeting");
    // The greeting does not offer TLS (CLIENT_SSL = 0x0800 in the low capability bytes).
    let version_end = greeting.iter().skip(1).position(|&b| b == 0).unwrap() + 1;
    let caps_low = u16::from_le_bytes([greeting[version_end + 14], greeting[version_end + 15]]);
    assert_eq!(caps_low & 0x0800, 0, "CLIENT_SSL cleared");
    // A client that asks anyway (32-byte SSL request: PROTOCOL_41 | SSL).
    let mut ssl_request = (0x0200u32 | 0x0800 | 0x8000).to_le_bytes().to_vec();
    ssl_request.extend_from_slice(&(16u32 << 20).to_le_bytes());
    ssl_request.push(45);
    ssl_request.extend_from_slice(&[0; 23]);
    write_packet(&mut raw, 1, &ssl_request);
    let (_, err) = read_packet(&mut raw).expect("an ERR");
    assert_eq!(err[0], 0xff);
    assert!(
        String::from_utf8_lossy(&err).contains(
            "replaygate: TLS is not offered to clients (start replaygate with --tls-cert"
        )
    );

    // The real client with --ssl falls back or fails clearly; without it, it just works.
    assert_serves(&proxy, &target);
}

#[test]
fn oversized_statements_get_an_error_naming_the_limit() {
    let target = MariaDb::start();
    let proxy = Replaygate::start_with_config(
        &target.tcp_addr(),
        "[proxy]\nmax_packet_bytes = 65536\n",
        &[],
    );
    let stmt = format!("SELECT '{}';\n", "x".repeat(100_000));
    let out = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .run_with_stdin(stmt.as_bytes())
        .assert_failure();
    assert!(
        out.stderr.contains("max_packet_bytes")
            || out.stderr.contains("Lost connection")
            || out.stderr.contains("gone away"),
        "{}",
        out.stderr
    );
    assert!(proxy.log().contains("max_packet_bytes"), "{}", proxy.log());
    assert_serves(&proxy, &target);
}

#[test]
fn the_target_dying_mid_stream_is_reported_with_the_last_acknowledged_statement() {
    let mut target = MariaDb::start();
    target.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY)");
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    let mut stream = String::new();
    for i in 1..=50 {
        stream.push_str(&format!("INSERT INTO t VALUES ({i});\n"));
    }
    // A long statement to be in flight when the target dies, then more that must not run.
    stream.push_str("SELECT SLEEP(60);\nINSERT INTO t VALUES (1000);\n");
    let mut client = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("d")
        .spawn();
    client
        .stdin
        .take()
        .unwrap()
        .write_all(stream.as_bytes())
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while !target.sql("SHOW PROCESSLIST").contains("SLEEP(60)") {
        assert!(Instant::now() < deadline, "the stream never reached SLEEP");
        std::thread::sleep(Duration::from_millis(50));
    }
    target.kill();
    let output = client.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("replaygate: lost the connection to the target"),
        "{stderr}"
    );
    assert!(
        stderr.contains("INSERT INTO t VALUES (50)"),
        "names the last acknowledged statement: {stderr}"
    );
    let log = proxy.log();
    assert!(log.contains("lost the target mid-stream"), "{log}");
    assert!(log.contains("INSERT INTO t VALUES (50)"), "{log}");

    // The proxy lives on: once the target is back, new sessions work, and nothing after the
    // lost statement was applied.
    target.restart();
    assert_serves(&proxy, &target);
    assert_eq!(
        target.sql("SELECT COUNT(*), MAX(id) FROM d.t").trim(),
        "50\t50"
    );
}

#[test]
fn an_unreachable_target_is_an_error_the_client_sees() {
    let free = support::process::free_port();
    let proxy = Replaygate::start(&format!("127.0.0.1:{free}"), &[]);
    let mut raw = TcpStream::connect(proxy.addr()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (seq, err) = read_packet(&mut raw).expect("an ERR instead of a greeting");
    assert_eq!((seq, err[0]), (0, 0xff));
    let text = String::from_utf8_lossy(&err);
    assert!(
        text.contains("replaygate: cannot connect to the target"),
        "{text}"
    );
    assert!(
        proxy.wait_for_log("session not opened", Duration::from_secs(10)),
        "{}",
        proxy.log()
    );
}

#[test]
fn sigterm_lets_the_statement_in_flight_finish_then_stops() {
    let target = MariaDb::start();
    let mut proxy = Replaygate::start(&target.tcp_addr(), &[]);
    let client = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--skip-column-names")
        .arg("-e")
        .arg("SELECT SLEEP(2), 'finished'")
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !target.sql("SHOW PROCESSLIST").contains("SLEEP(2)") {
        assert!(Instant::now() < deadline, "the statement never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    proxy.signal("TERM");
    let output = client.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("finished"));
    let status = proxy
        .wait_exit(Duration::from_secs(30))
        .expect("replaygate exits after draining");
    assert!(status.success(), "{status:?}");
    assert!(
        proxy.log().contains("replaygate stopped"),
        "{}",
        proxy.log()
    );
    // No new clients once it stopped.
    assert!(TcpStream::connect(proxy.addr()).is_err());
}

/// The target dropping an idle session (its wait_timeout, or a KILL from elsewhere) closes the
/// client's connection just as a direct one: the client sees the server gone (2006/2013), which
/// drivers reconnect on, not an ERR of replaygate's.
#[test]
fn an_idle_session_the_target_closes_closes_like_the_servers_own() {
    let target = MariaDb::start();
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    let first_error = |stderr: &str| -> String {
        stderr
            .lines()
            .find(|l| l.starts_with("ERROR"))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("none")
            .to_owned()
    };
    // One session idles until the target ends it, then sends its next statement.
    let session_ended_by = |port: u16, kill: bool| -> String {
        let mut client = target
            .client()
            .host_port("127.0.0.1", port)
            .arg("--skip-reconnect")
            .spawn();
        let setup = if kill {
            ""
        } else {
            "SET SESSION wait_timeout = 1; "
        };
        support::client::send_line(&mut client, &format!("{setup}SELECT 'before';"));
        let deadline = Instant::now() + Duration::from_secs(20);
        let id = loop {
            let id = target.sql(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Sleep' \
                 AND USER = 'root' ORDER BY ID DESC LIMIT 1",
            );
            if !id.trim().is_empty() {
                break id.trim().to_owned();
            }
            assert!(Instant::now() < deadline, "the session never went idle");
            std::thread::sleep(Duration::from_millis(20));
        };
        if kill {
            target.sql(&format!("KILL {id}"));
            std::thread::sleep(Duration::from_millis(500));
        } else {
            std::thread::sleep(Duration::from_secs(3));
        }
        support::client::send_line(&mut client, "SELECT 'after';");
        let out = support::client::close_input(client);
        assert!(out.stdout_str().contains("before"), "{}", out.stdout_str());
        assert!(!out.stdout_str().contains("after"), "{}", out.stdout_str());
        out.stderr
    };
    for (how, kill) in [("wait_timeout", false), ("KILL", true)] {
        let direct = session_ended_by(target.port(), kill);
        let through = session_ended_by(proxy.port(), kill);
        assert!(
            ["2006", "2013"].contains(&first_error(&direct).as_str()),
            "{how}: {direct}"
        );
        assert_eq!(
            first_error(&through),
            first_error(&direct),
            "{how}: direct: {direct}\nthrough replaygate: {through}\nlog: {}",
            proxy.log()
        );
        assert!(!through.contains("replaygate"), "{how}: {through}");
    }
    let log = proxy.log();
    assert!(log.contains("the target closed this idle session"), "{log}");
}

/// A target whose network is alive but whose server answers nothing (stopped, wedged): with
/// `--reply-timeout` the session ends with an error that says so and names the last statement
/// acknowledged; the target, once it runs again, finds the connection gone and rolls back.
#[test]
fn a_target_that_stops_answering_is_given_up_on_after_the_reply_timeout() {
    let target = MariaDb::start();
    target.sql(
        "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY) ENGINE=InnoDB; \
         INSERT INTO d.t VALUES (0)",
    );
    let proxy = Replaygate::start(&target.tcp_addr(), &["--reply-timeout", "2"]);
    let mut client = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("d")
        .spawn();
    send_line(&mut client, "BEGIN; INSERT INTO t VALUES (1);");
    let open = "SELECT COUNT(*) FROM information_schema.INNODB_TRX";
    let deadline = Instant::now() + Duration::from_secs(20);
    while target.sql(open).trim() != "1" {
        assert!(Instant::now() < deadline, "the transaction never started");
        // INNODB_TRX is a cache refreshed only when not read for 0.1 s: poll slower than that.
        std::thread::sleep(Duration::from_millis(200));
    }

    let pid = target.pid().unwrap();
    send_signal(pid, "STOP");
    let stopped = Instant::now();
    send_line(&mut client, "INSERT INTO t VALUES (2);");
    let output = client.wait_with_output().unwrap();
    let waited = stopped.elapsed();
    send_signal(pid, "CONT");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(
            "lost the connection to the target (it sent no reply for 2s while its network \
             was alive, proxy.reply_timeout_secs"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("INSERT INTO t VALUES (1)"), "{stderr}");
    assert!(waited < Duration::from_secs(15), "gave up after {waited:?}");

    let deadline = Instant::now() + Duration::from_secs(20);
    while target.sql(open).trim() != "0" {
        assert!(
            Instant::now() < deadline,
            "the transaction was never rolled back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(target.sql("SELECT COUNT(*) FROM d.t").trim(), "1");
}
