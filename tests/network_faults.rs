//! Faults on a real network path between replaygate and its target: the target's mariadbd runs
//! in a private network namespace (`support::netns`), and the kernel drops packets on that path
//! at random or all of them (a partition that closes nothing). What the operator must see:
//! the replay arrives whole over a lossy link; a partition in the middle of a transaction ends
//! the session with an error that says what happened and names the last statement the target
//! acknowledged, the target applies nothing of the open transaction, and with `--checkpoint`
//! the rerun completes; replaygate killed in the middle of a transaction leaves nothing of it.
//!
//! Delay is not injected: this kernel has no netem (see `support::netns`).

mod support;

use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use support::client::send_line;
use support::netns::Link;
use support::proxy::{Replaygate, start_replay};
use support::replication::checksums;
use support::server::{MariaDb, ServerOptions};

const CHECKPOINT: &str = "replaygate.checkpoint";
const ROWS_PER_TRANSACTION: usize = 40;

/// A primary that ran `transactions` transactions of [`ROWS_PER_TRANSACTION`] rows (ids from
/// 1, in order, text in several scripts); its binlog as `mariadb-binlog` prints it.
fn primary_stream(transactions: usize) -> (MariaDb, Vec<u8>) {
    let primary = MariaDb::start();
    let mut script = String::from(
        "CREATE DATABASE app;\n\
         CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(60) CHARACTER SET utf8mb4) ENGINE=InnoDB;\n",
    );
    let mut id = 0;
    for _ in 0..transactions {
        script.push_str("BEGIN;\n");
        for _ in 0..ROWS_PER_TRANSACTION {
            id += 1;
            script.push_str(&format!(
                "INSERT INTO app.t VALUES ({id}, 'row {id} – Grüße, 日本語, ε');\n"
            ));
        }
        script.push_str("COMMIT;\n");
    }
    primary.run_script(&script);
    let stream = primary.binlog_dump(&[]);
    (primary, stream)
}

/// A target behind `link`, which rolls back a transaction whose client vanished within a few
/// seconds of the network coming back (its own keepalive), as a production target should be set.
fn target_behind(link: &Link) -> MariaDb {
    MariaDb::start_with(ServerOptions {
        server_id: 2,
        netns: Some((link.name().to_owned(), link.ns_addr().to_owned())),
        extra_args: [
            "--tcp-keepalive-time=2",
            "--tcp-keepalive-interval=1",
            "--tcp-keepalive-probes=2",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    })
}

/// Waits (up to `limit`) for the replay to end: its exit status and stderr.
fn finish(mut child: Child, limit: Duration) -> (bool, String) {
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the replay did not end within {limit:?}; stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Polls `sql` on `server` until it prints `want`; panics with the last answer after `limit`.
#[track_caller]
fn wait_for(server: &MariaDb, sql: &str, want: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let got = server.sql(sql);
        if got.trim() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{sql}: {got:?} after {limit:?}, want {want:?}"
        );
        // INNODB_TRX is a cache refreshed only when not read for 0.1 s: poll slower than that.
        thread::sleep(Duration::from_millis(200));
    }
}

/// Open transactions on `server` other than the caller's own query.
const OPEN_TRANSACTIONS: &str = "SELECT COUNT(*) FROM information_schema.INNODB_TRX";

#[test]
fn a_replay_over_a_lossy_link_arrives_whole() {
    let (primary, stream) = primary_stream(15);
    let link = Link::new();
    let target = target_behind(&link);
    link.lose(3);
    let retransmitted_before = link.tcp_retransmits();
    for mode in ["sync", "pipelined"] {
        target.sql("DROP DATABASE IF EXISTS app");
        let proxy = Replaygate::start(&target.tcp_addr(), &["--apply-mode", mode]);
        let (ok, stderr) = finish(
            start_replay(&target, &proxy, &stream),
            Duration::from_secs(240),
        );
        assert!(ok, "{mode}: {stderr}");
        assert_eq!(
            checksums(&target, "app"),
            checksums(&primary, "app"),
            "{mode}"
        );
    }
    // The link did lose packets: the target retransmitted some of its replies.
    let retransmitted = link.tcp_retransmits() - retransmitted_before;
    eprintln!("the target retransmitted {retransmitted} segments");
    assert!(retransmitted > 0);
}

#[test]
fn a_partition_mid_transaction_names_the_last_acknowledged_statement_and_the_rerun_completes() {
    let (primary, stream) = primary_stream(30);
    let link = Link::new();
    let target = target_behind(&link);
    // Slow enough (about 6 s) that the partition falls inside a transaction, which take up
    // nearly all of the stream.
    let args = [
        "--checkpoint",
        CHECKPOINT,
        "--target-dead-after",
        "3",
        "--max-statements-per-sec",
        "200",
    ];
    let proxy = Replaygate::start(&target.tcp_addr(), &args);
    let replay = start_replay(&target, &proxy, &stream);
    thread::sleep(Duration::from_millis(2500));
    link.partition();
    let partitioned = Instant::now();
    let (ok, stderr) = finish(replay, Duration::from_secs(60));
    let noticed = partitioned.elapsed();
    assert!(!ok, "the replay finished across a partition: {stderr}");
    assert!(
        stderr.contains(
            "lost the connection to the target (its network was silent for 3s, \
             proxy.target_dead_after_secs"
        ),
        "{stderr}"
    );
    eprintln!("the session ended {noticed:?} after the partition");
    assert!(
        noticed < Duration::from_secs(20),
        "noticed after {noticed:?}"
    );
    let last = stderr
        .split("The last statement the target acknowledged in this session: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no last acknowledged statement: {stderr}"));
    eprintln!("last acknowledged: {}", &last[..last.len().min(300)]);
    // A statement of the stream (an INSERT, the SET TIMESTAMP its event runs first, ...),
    // never one of the comment lines the client sends on their own (`# at 15300`).
    assert!(!last.starts_with('#'), "{last}");
    let gtid = last
        .split("GTID ")
        .nth(1)
        .and_then(|g| g.split(',').next())
        .unwrap_or_else(|| panic!("no GTID named: {last}"))
        .to_owned();

    // Back on the network, the target finds its client gone and rolls the transaction back.
    link.heal();
    wait_for(&target, OPEN_TRANSACTIONS, "0", Duration::from_secs(30));
    let committed: usize = target
        .sql("SELECT COUNT(*) FROM app.t")
        .trim()
        .parse()
        .unwrap();
    eprintln!("{committed} rows committed; the last acknowledged statement in {gtid}");
    assert_eq!(
        committed % ROWS_PER_TRANSACTION,
        0,
        "part of a transaction stayed"
    );
    // The primary's GTIDs: 0-1-1 and 0-1-2 for the DDL, then one per transaction. The one
    // named is the transaction after the committed ones: the one the partition cut.
    let open = committed / ROWS_PER_TRANSACTION + 3;
    assert_eq!(gtid, format!("0-1-{open}"), "{last}");

    // The rerun through a new replaygate skips what the checkpoint holds and completes.
    drop(proxy);
    let proxy = Replaygate::start(&target.tcp_addr(), &args[..4]);
    let (ok, stderr) = finish(
        start_replay(&target, &proxy, &stream),
        Duration::from_secs(120),
    );
    assert!(ok, "{stderr}");
    assert_eq!(checksums(&target, "app"), checksums(&primary, "app"));
}

#[test]
fn replaygate_killed_mid_transaction_leaves_nothing_of_it_on_the_target() {
    let link = Link::new();
    let target = target_behind(&link);
    target.sql("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY) ENGINE=InnoDB");
    let mut proxy = Replaygate::start(&target.tcp_addr(), &[]);
    let mut client = target.client().host_port("127.0.0.1", proxy.port()).spawn();
    send_line(
        &mut client,
        "BEGIN; INSERT INTO app.t VALUES (1); INSERT INTO app.t VALUES (2);",
    );
    wait_for(&target, OPEN_TRANSACTIONS, "1", Duration::from_secs(20));

    proxy.kill();
    wait_for(&target, OPEN_TRANSACTIONS, "0", Duration::from_secs(20));
    assert_eq!(target.sql("SELECT COUNT(*) FROM app.t").trim(), "0");
    let _ = client.kill();
    let _ = client.wait();
}
