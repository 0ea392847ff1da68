//! `serve --socket PATH`: clients on replaygate's own unix socket (the fast local route), and the
//! care taken with the socket file: a stale one is replaced, a live one or a non-socket is left
//! alone with a clear error, and the file goes when replaygate stops.

mod support;

use std::process::Command;
use std::time::Duration;

use support::proxy::Replaygate;
use support::server::MariaDb;

#[test]
fn a_client_on_the_unix_socket_is_served_like_one_on_tcp() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE s; CREATE TABLE s.t (v VARCHAR(20)) DEFAULT CHARSET utf8mb4");
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("rg.sock");
    // A socket file left behind by a replaygate that was killed: nobody answers on it.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());

    let mut proxy = Replaygate::start(&target.tcp_addr(), &["--socket", socket.to_str().unwrap()]);
    // A latin1 client default must not decide here either: the charset is pinned to utf8mb4.
    target
        .client()
        .socket(&socket)
        .database("s")
        .arg("--default-character-set=latin1")
        .run_with_stdin("INSERT INTO t VALUES ('Müller 山田');\n".as_bytes())
        .assert_success();
    assert_eq!(
        target.sql("SELECT HEX(v) FROM s.t").trim(),
        hex("Müller 山田")
    );
    let log = proxy.log();
    assert!(log.contains("replacing a stale socket file"), "{log}");
    assert!(
        log.contains("peer=unix:"),
        "the session names its route: {log}"
    );

    // A second replaygate must not steal the live socket.
    let out = Command::new(env!("CARGO_BIN_EXE_replaygate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--socket"])
        .arg(&socket)
        .args(["--target", &target.tcp_addr()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another process is serving on it"),
        "{stderr}"
    );

    proxy.signal("TERM");
    assert!(proxy.wait_exit(Duration::from_secs(20)).is_some());
    assert!(!socket.exists(), "the socket file is removed at shutdown");
}

#[test]
fn a_path_that_is_not_a_socket_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.txt");
    std::fs::write(&path, "precious").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_replaygate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--socket"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not a socket"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02X}")).collect()
}

/// `--target` with a relative socket path (resolved from replaygate's working directory), and
/// a bare name that could be a host or a file refused with how to write either.
#[test]
fn a_relative_socket_path_is_a_target_and_a_bare_name_is_refused_saying_how() {
    let target = MariaDb::start();
    let socket = target.socket_path();
    let cwd = std::env::current_dir().unwrap();
    let relative = format!(
        "{}{}",
        "../".repeat(cwd.components().count() - 1),
        socket.strip_prefix("/").unwrap().display()
    );
    let proxy = Replaygate::start(&relative, &[]);
    let out = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .run_sql("SELECT 6 * 7")
        .assert_success();
    assert!(out.stdout_str().contains("42"), "{}", out.stdout_str());

    let out = Command::new(env!("CARGO_BIN_EXE_replaygate"))
        .args(["serve", "--listen", "127.0.0.1:0", "--target", "db"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("proxy.target") && stderr.contains("./mysqld.sock"),
        "{stderr}"
    );
}
