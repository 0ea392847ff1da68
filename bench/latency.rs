//! A replay over a network round trip, direct and through replaygate: the case for pipelining.
//!
//! The target sits behind a [`DelayLink`] (a round trip of 1 ms and of 10 ms, added in user
//! space: this kernel has no netem); the replay is the real pipe, `mariadb` with a
//! `mariadb-binlog` text on stdin, and replaygate runs beside the client, as an operator runs it
//! next to the files with the target across the network. Routes, in every round:
//!
//! - **direct**: `mariadb` over the link (one round trip per statement);
//! - **sync**: `mariadb` → replaygate `--apply-mode sync` → link (the same round trips, plus
//!   the local hop);
//! - **pipelined**: `mariadb` → replaygate `--apply-mode pipelined` → link (statements inside
//!   a transaction sent ahead; the round trip is paid about once per transaction).
//!
//! The stream: `REPLAYGATE_BENCH_TRANSACTIONS` transactions (default 200) of 20 one-row
//! INSERTs, statement format, generated in the same run. Every replay is checked (`CHECKSUM
//! TABLE` equal to the source's). `REPLAYGATE_BENCH_ROUNDS` (default 3) rounds per route and
//! round trip; the median is reported, and each route's ratio to direct.
//!
//! Run with `cargo bench --bench latency`; without `--bench` it does a small smoke run.

#[path = "delay_link.rs"]
mod delay_link;
#[path = "knobs.rs"]
mod knobs;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use delay_link::DelayLink;
use knobs::env_or;
use support::proxy::Replaygate;
use support::replication::checksums;
use support::server::{MariaDb, ServerOptions};

const ROWS_PER_TRANSACTION: usize = 20;

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let transactions = env_or(
        "REPLAYGATE_BENCH_TRANSACTIONS",
        if smoke { 10 } else { 200 },
    );
    let rounds = env_or("REPLAYGATE_BENCH_ROUNDS", if smoke { 1 } else { 3 }).max(1);
    let rtts: &[u64] = if smoke { &[1] } else { &[1, 10] };
    eprintln!("latency bench: {transactions} transactions, {rounds} rounds, RTT {rtts:?} ms");

    let (source, stream) = stream(transactions);
    let expected = checksums(&source, "app");
    drop(source);
    let target = MariaDb::start();

    println!("| round trip | direct (median) | sync / direct | pipelined / direct |");
    println!("|---|---|---|---|");
    for &rtt_ms in rtts {
        let link = DelayLink::start(target.tcp_addr(), Duration::from_millis(rtt_ms));
        let behind_link = format!("127.0.0.1:{}", link.port);
        let sync = Replaygate::start(&behind_link, &["--apply-mode", "sync"]);
        let pipelined = Replaygate::start(&behind_link, &["--apply-mode", "pipelined"]);
        let routes = [
            ("direct", link.port),
            ("sync", sync.port()),
            ("pipelined", pipelined.port()),
        ];
        let mut seconds = vec![Vec::new(); routes.len()];
        for round in 0..rounds {
            for (i, (name, port)) in routes.iter().enumerate() {
                target.sql("DROP DATABASE IF EXISTS app");
                let started = Instant::now();
                target
                    .client()
                    .host_port("127.0.0.1", *port)
                    .timeout(Duration::from_secs(1800))
                    .run_with_stdin(&stream)
                    .assert_success();
                let took = started.elapsed().as_secs_f64();
                assert_eq!(
                    checksums(&target, "app"),
                    expected,
                    "{name}: a wrong replay"
                );
                eprintln!("RTT {rtt_ms} ms, round {round}, {name}: {took:.2}s");
                seconds[i].push(took);
            }
        }
        let medians: Vec<f64> = seconds.iter().map(|s| median(s)).collect();
        println!(
            "| {rtt_ms} ms | {:.2} s | {:.2}x | {:.2}x |",
            medians[0],
            medians[1] / medians[0],
            medians[2] / medians[0]
        );
    }
}

/// A statement-format primary's binlog of `transactions` transactions, as `mariadb-binlog`
/// prints it, and the primary (to compare the replays with).
fn stream(transactions: usize) -> (MariaDb, Vec<u8>) {
    let source = MariaDb::start_with(ServerOptions {
        binlog_format: "STATEMENT",
        ..ServerOptions::default()
    });
    let mut script = String::from(
        "CREATE DATABASE app;\nCREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(40));\n",
    );
    let mut id = 0;
    for _ in 0..transactions {
        script.push_str("BEGIN;\n");
        for _ in 0..ROWS_PER_TRANSACTION {
            id += 1;
            script.push_str(&format!("INSERT INTO app.t VALUES ({id}, 'row {id}');\n"));
        }
        script.push_str("COMMIT;\n");
    }
    source.run_script(&script);
    let stream = source.binlog_dump(&[]);
    (source, stream)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
