//! Adaptive throttling against a real target: concurrent `SELECT SLEEP(..)` on the target drive
//! `Threads_running` above `critical_load`; replaygate's control connection notices, pauses the
//! replay (the client stays connected), and goes back to normal once the sleeps are over.

mod support;

use std::io::Write;
use std::process::{Child, Stdio};
use std::time::Duration;

use support::admin::{self, get, status, wait_for_adaptive};
use support::proxy::{Replaygate, replaygate_bin};
use support::server::MariaDb;

/// replaygate in front of `target` with `config` and an admin port.
fn start_with_admin(target: &MariaDb, config: &str) -> (u16, Replaygate) {
    admin::start_with_admin(&target.tcp_addr(), config, &[])
}

fn wait_for(port: u16, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    wait_for_adaptive(port, what, pred)
}

#[test]
fn threads_running_above_critical_load_pauses_the_replay_until_it_falls() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY)");
    let (admin, proxy) = start_with_admin(
        &target,
        "[throttle.adaptive]\nuser = \"root\"\nsignal = \"threads_running\"\n\
         max_load = 3\ncritical_load = 6\ninterval_ms = 200\n",
    );
    let normal = wait_for(admin, "read the load", |a| a["value"].is_number());
    assert_eq!(normal["signal"], "threads_running", "{normal}");
    assert_eq!(normal["state"], "normal", "{normal}");

    // A replay client, connected through the proxy before the load rises.
    let mut client = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("d")
        .spawn();
    let mut stdin = client.stdin.take().unwrap();
    writeln!(stdin, "INSERT INTO t VALUES (1);").unwrap();
    stdin.flush().unwrap();

    let sleepers: Vec<Child> = (0..8)
        .map(|_| {
            target
                .client()
                .arg("-e")
                .arg("SELECT SLEEP(4)")
                .command()
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .expect("spawn mariadb")
        })
        .collect();
    let paused = wait_for(admin, "paused", |a| a["state"] == "paused");
    assert!(paused["value"].as_f64().unwrap() >= 6.0, "{paused}");
    // The replay waits but is not disconnected: a statement sent now is applied after the pause.
    writeln!(stdin, "INSERT INTO t VALUES (2);").unwrap();
    stdin.flush().unwrap();
    let shown = std::process::Command::new(replaygate_bin())
        .args(["status", "--admin", &admin.to_string()])
        .output()
        .unwrap();
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("adaptive (threads_running)"), "{shown}");
    let metrics = get(admin, "/metrics");
    assert!(metrics.contains("replaygate_throttle_load"), "{metrics}");

    for mut s in sleepers {
        s.wait().unwrap();
    }
    let after = wait_for(admin, "back to normal", |a| a["state"] == "normal");
    assert!(after["value"].as_f64().unwrap() < 3.0, "{after}");
    assert!(after["cap"].is_null(), "{after}");

    drop(stdin);
    let out = client.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(target.sql("SELECT COUNT(*) FROM d.t").trim(), "2");
    let log = proxy.log();
    assert!(log.contains("load critical"), "{log}");
}

#[test]
fn a_failing_control_connection_is_reported_and_never_stops_the_replay() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY)");
    let (admin, proxy) = start_with_admin(
        &target,
        "[throttle.adaptive]\nuser = \"no_such_user\"\nmax_load = 3\ninterval_ms = 200\n",
    );
    let failed = wait_for(admin, "report the failure", |a| a["error"].is_string());
    assert_eq!(failed["state"], "normal", "{failed}");
    assert!(failed["value"].is_null(), "{failed}");
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("d")
        .run_with_stdin(b"INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\n")
        .assert_success();
    assert_eq!(target.sql("SELECT COUNT(*) FROM d.t").trim(), "2");
    assert!(
        proxy.wait_for_log("cannot read the load signal", Duration::from_secs(30)),
        "{}",
        proxy.log()
    );
}

#[test]
fn a_query_signal_drives_back_off_pause_and_recovery() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE d; CREATE TABLE d.load (v INT); INSERT INTO d.load VALUES (0)");
    let (admin, _proxy) = start_with_admin(
        &target,
        "[throttle]\nmax_statements_per_sec = 1000\n\
         [throttle.adaptive]\nuser = \"root\"\nsignal = \"query\"\n\
         query = \"SELECT v FROM d.load\"\nmax_load = 3\ncritical_load = 6\ninterval_ms = 200\n\
         min_statements_per_sec = 20\n",
    );
    let normal = wait_for(admin, "read the load", |a| a["value"] == 0.0);
    assert_eq!(normal["signal"], "query", "{normal}");
    assert_eq!(normal["state"], "normal", "{normal}");

    target.sql("UPDATE d.load SET v = 4");
    let backing_off = wait_for(admin, "backing off", |a| a["state"] == "backing_off");
    // No traffic: the cap starts from the observed rate (0) and sits at the floor, never above
    // the operator's cap.
    let cap = backing_off["cap"].as_u64().unwrap();
    assert!((20..=1000).contains(&cap), "{backing_off}");

    target.sql("UPDATE d.load SET v = 9");
    wait_for(admin, "paused", |a| a["state"] == "paused");
    let status = status(admin);
    assert_eq!(
        status["throttle"]["paused"], false,
        "the operator's pause flag is not the adaptive one: {status}"
    );
    assert_eq!(status["throttle"]["caps"]["statements_per_sec"], 1000);

    target.sql("UPDATE d.load SET v = 1");
    let after = wait_for(admin, "back to normal", |a| a["state"] == "normal");
    assert!(after["cap"].is_null(), "{after}");
}
