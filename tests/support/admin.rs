//! The admin endpoint as tests read it: `GET` over a plain `TcpStream` (HTTP/1.0, so the server
//! closes the connection and there is no chunked encoding), `/status` as JSON, and polling it
//! until a condition holds.
//!
//! Polling only asserts "eventually" (with a generous deadline for a shared 2-core machine),
//! never how long something took.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use super::process::free_port;
use super::proxy::Replaygate;

/// The body of `GET path` on the admin port.
pub fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the admin port");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (_, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    body.to_owned()
}

/// The sum of the `/metrics` samples whose line starts with `prefix` (a metric's name, or its
/// name and labels up to the closing brace).
pub fn metric(port: u16, prefix: &str) -> f64 {
    get(port, "/metrics")
        .lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// `GET /status` as JSON.
pub fn status(port: u16) -> serde_json::Value {
    serde_json::from_str(&get(port, "/status")).expect("/status is JSON")
}

/// replaygate on `target` with `config` (TOML) and the admin endpoint on a free port, plus
/// `extra` arguments: (admin port, proxy).
pub fn start_with_admin(target: &str, config: &str, extra: &[&str]) -> (u16, Replaygate) {
    let admin = free_port();
    let admin_text = admin.to_string();
    let mut args = vec!["--admin", admin_text.as_str()];
    args.extend_from_slice(extra);
    let proxy = Replaygate::start_with_config(target, config, &args);
    (admin, proxy)
}

/// Polls `/status` until `pred` holds on the part `pick` selects; panics with the last one
/// after 60 s.
pub fn wait_for_status(
    port: u16,
    what: &str,
    pick: impl Fn(&serde_json::Value) -> serde_json::Value,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let part = pick(&status(port));
        if pred(&part) {
            return part;
        }
        assert!(Instant::now() < deadline, "never {what}: {part}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// [`wait_for_status`] on `throttle.adaptive`.
pub fn wait_for_adaptive(
    port: u16,
    what: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    wait_for_status(port, what, |s| s["throttle"]["adaptive"].clone(), pred)
}
