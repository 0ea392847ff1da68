//! Replica benchmark (issue 9): a real replica catching up a primary directly and through
//! `replaygate serve`, in the same run, and replaygate's memory while it streams a binlog of
//! 1 GiB and more.
//!
//! - **catch-up**: a private primary logs N autocommit transactions (`INSERT INTO t VALUES (i,
//!   'Müller-i 山田')`, default 50,000), in STATEMENT and in ROW format (one primary each).
//!   One replica catches up from an empty state, alternately connected to the primary (direct)
//!   and to a release-built replaygate in front of the primary's unix socket (the default
//!   policy, `RUST_LOG=replaygate=info`): one untimed warm-up round, then 7 timed rounds each (which route goes first alternates).
//!   A round resets the replica (`RESET SLAVE ALL`, an empty `gtid_slave_pos`, the database
//!   dropped), then times `CHANGE MASTER TO ...; START SLAVE` until `MASTER_GTID_WAIT` sees the
//!   primary's last GTID applied, and checks `CHECKSUM TABLE` against the primary. Target:
//!   through replaygate at most 1.05x the direct catch-up time (medians of the same run).
//! - **memory**: a primary logs (a) ~1 GiB of 1 MiB transactions (ROW format, a LONGBLOB row
//!   each), (b) transactions larger than `replication.hold_bytes` (3 of 200 MiB by default: the
//!   guard holds a transaction until its verdict is known, up to 64 MiB, then passes the rest
//!   on as it arrives). A replica catches up through replaygate while its `VmRSS` is sampled
//!   (every 100 ms) with `VmHWM` once 10% of the binlog has been sent. Targets: (a) peak under
//!   64 MiB and at most 8 MiB above the 10% mark (flat); (b) peak at most `hold_bytes` + 32 MiB.
//!
//! Run with `cargo bench --bench replica` (about 5 minutes on 2 cores, plus ~1.6 GiB of binlog
//! in /tmp, removed afterwards). Knobs: `REPLAYGATE_BENCH_TRANSACTIONS` (50000),
//! `REPLAYGATE_BENCH_ROUNDS` (7), `REPLAYGATE_BENCH_WARMUP` (1), `REPLAYGATE_BENCH_STREAM_MB`
//! (1024), `REPLAYGATE_BENCH_BIG_TXNS` (3), `REPLAYGATE_BENCH_BIG_MB` (200),
//! `REPLAYGATE_BENCH_SPIN` (0: busy loops, as in `replay`). Without `--bench` (`cargo test
//! --benches`) it does a tiny smoke run. Progress goes to stderr; the Markdown tables to stdout.

#[allow(dead_code)]
#[path = "catch_up.rs"]
mod catch_up;
#[path = "knobs.rs"]
mod knobs;
#[path = "machine.rs"]
mod machine;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use catch_up::{
    Memory, big_transactions, binlog_bytes, insert_script, median, mib, reset, sampled_catch_up,
    small_transactions, timed_catch_up,
};
use knobs::env_or;
use machine::{Spinners, load_average};
use support::process::{cpu_seconds, free_port, proc_status_kib};
use support::proxy::Replaygate;
use support::replication::{Positioning, checksums};
use support::server::{MariaDb, ServerOptions};

const MIB: u64 = 1024 * 1024;
const RATIO_TARGET: f64 = 1.05;
const STREAM_PEAK_LIMIT_MIB: f64 = 64.0;
const STREAM_GROWTH_LIMIT_MIB: f64 = 8.0;
/// replaygate's default `replication.hold_bytes`, in MiB.
const HOLD_MIB: f64 = 64.0;
const HOLD_SLACK_MIB: f64 = 32.0;

#[derive(Debug, Clone)]
struct Config {
    transactions: usize,
    rounds: usize,
    warmup: usize,
    stream_mib: usize,
    big_transactions: usize,
    big_mib: usize,
    spin: usize,
    smoke: bool,
}

impl Config {
    fn from_env_and_args() -> Self {
        let smoke = !std::env::args().any(|a| a == "--bench");
        let (transactions, rounds, stream, big_txns, big_mib) = if smoke {
            (200, 1, 8, 1, 70)
        } else {
            (50_000, 7, 1024, 3, 200)
        };
        Config {
            transactions: env_or("REPLAYGATE_BENCH_TRANSACTIONS", transactions),
            rounds: env_or("REPLAYGATE_BENCH_ROUNDS", rounds).max(1),
            warmup: env_or("REPLAYGATE_BENCH_WARMUP", usize::from(!smoke)),
            stream_mib: env_or("REPLAYGATE_BENCH_STREAM_MB", stream),
            big_transactions: env_or("REPLAYGATE_BENCH_BIG_TXNS", big_txns),
            big_mib: env_or("REPLAYGATE_BENCH_BIG_MB", big_mib),
            spin: env_or("REPLAYGATE_BENCH_SPIN", 0),
            smoke,
        }
    }
}

fn main() {
    let config = Config::from_env_and_args();
    let started = Instant::now();
    let _spinners = Spinners::start(config.spin);
    eprintln!("replica bench: {config:?}, load {}", load_average());
    let catch_ups = ["STATEMENT", "ROW"].map(|format| catch_up(format, &config));
    let memory = [
        memory_run("1 MiB transactions", &config, |c| {
            small_transactions(c.stream_mib)
        }),
        memory_run("transactions above hold_bytes", &config, |c| {
            big_transactions(c.big_transactions, c.big_mib)
        }),
    ];
    print_report(&config, &catch_ups, &memory, started.elapsed());
}

/// One catch-up measurement: medians of the timed rounds, each route.
struct CatchUp {
    format: &'static str,
    transactions: usize,
    binlog_bytes: u64,
    direct: Vec<f64>,
    through: Vec<f64>,
    proxy_cpu: Vec<f64>,
    proxy_peak_kib: u64,
}

fn start_proxy(primary: &MariaDb, args: &[&str]) -> Replaygate {
    let socket = primary.socket_path();
    Replaygate::start_with_env(
        socket.to_str().expect("socket path is UTF-8"),
        args,
        &[("RUST_LOG", "replaygate=info")],
    )
}

fn catch_up(format: &'static str, config: &Config) -> CatchUp {
    let primary = MariaDb::start_with(ServerOptions {
        binlog_format: format,
        ..ServerOptions::default()
    });
    primary
        .client()
        .arg("--default-character-set=utf8mb4")
        .run_with_stdin(&insert_script(config.transactions))
        .assert_success();
    let gtid = primary.sql("SELECT @@gtid_binlog_pos").trim().to_owned();
    let expected = checksums(&primary, "d");
    let proxy = start_proxy(&primary, &[]);
    let pid = proxy.pid().expect("replaygate runs");
    let replica = MariaDb::start_with(ServerOptions {
        server_id: 2,
        ..ServerOptions::default()
    });
    let mut result = CatchUp {
        format,
        transactions: config.transactions,
        binlog_bytes: binlog_bytes(&primary),
        direct: Vec::new(),
        through: Vec::new(),
        proxy_cpu: Vec::new(),
        proxy_peak_kib: 0,
    };
    for round in 0..config.warmup + config.rounds {
        let timed = round >= config.warmup;
        // Alternate which route goes first, so a slow patch of the machine is shared.
        let mut direct = 0.0;
        let mut through = 0.0;
        let mut cpu = 0.0;
        for through_first in [round % 2 == 1, round % 2 == 0] {
            reset(&replica, "d");
            if through_first {
                let before = cpu_seconds(pid);
                through = timed_catch_up(&replica, proxy.port(), &gtid);
                cpu = cpu_seconds(pid) - before;
                assert_eq!(checksums(&replica, "d"), expected, "through replaygate");
            } else {
                direct = timed_catch_up(&replica, primary.port(), &gtid);
                assert_eq!(checksums(&replica, "d"), expected, "direct catch-up");
            }
        }
        eprintln!(
            "{format}, round {round}{}: direct {direct:.2} s, through replaygate {through:.2} s \
             ({:.3}x), replaygate CPU {cpu:.2} s",
            if timed { "" } else { " (warm-up)" },
            through / direct
        );
        if timed {
            result.direct.push(direct);
            result.through.push(through);
            result.proxy_cpu.push(cpu);
        }
    }
    result.proxy_peak_kib = proc_status_kib(pid, "VmHWM").unwrap_or(0);
    result
}

fn memory_run(name: &'static str, config: &Config, script: impl Fn(&Config) -> Vec<u8>) -> Memory {
    let primary = MariaDb::start_with(ServerOptions {
        binlog_format: "ROW",
        ..ServerOptions::default()
    });
    eprintln!("{name}: logging the stream on the primary");
    primary
        .client()
        .run_with_stdin(&script(config))
        .assert_success();
    let admin = free_port();
    let proxy = start_proxy(&primary, &["--admin", &admin.to_string()]);
    sampled_catch_up(name, &primary, &proxy, admin, &Positioning::SlavePos)
}

fn print_report(config: &Config, catch_ups: &[CatchUp], memory: &[Memory], elapsed: Duration) {
    if config.smoke {
        println!("Smoke run (not a measurement; run `cargo bench --bench replica`).\n");
    }
    println!(
        "| catch-up | transactions | binlog | direct (s, median) | through replaygate (s, median) \
         | ratio | target | verdict | replaygate CPU (s) | replaygate peak RSS |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---|---:|---:|");
    for c in catch_ups {
        let (direct, through) = (median(&c.direct), median(&c.through));
        let ratio = through / direct;
        println!(
            "| {} format | {} | {:.1} MiB | {direct:.2} ({}) | {through:.2} ({}) | {ratio:.3}x | \
             <= {RATIO_TARGET}x | {} | {:.2} | {:.1} MiB |",
            c.format,
            c.transactions,
            c.binlog_bytes as f64 / MIB as f64,
            c.direct
                .iter()
                .map(|s| format!("{s:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            c.through
                .iter()
                .map(|s| format!("{s:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            if ratio <= RATIO_TARGET {
                "met"
            } else {
                "MISSED"
            },
            median(&c.proxy_cpu),
            mib(c.proxy_peak_kib),
        );
    }
    println!();
    println!(
        "| memory | binlog | catch-up (s) | RSS at start | VmHWM after 10% | peak RSS | target | verdict |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---|");
    for (i, m) in memory.iter().enumerate() {
        let peak = mib(m.peak);
        let (target, met) = if i == 0 {
            let growth = peak - mib(m.hwm_at_ten_percent);
            (
                format!(
                    "< {STREAM_PEAK_LIMIT_MIB} MiB, +{STREAM_GROWTH_LIMIT_MIB} MiB after 10% (grew {growth:.1})"
                ),
                peak < STREAM_PEAK_LIMIT_MIB && growth <= STREAM_GROWTH_LIMIT_MIB,
            )
        } else {
            (
                format!("<= hold_bytes + {HOLD_SLACK_MIB} MiB"),
                peak <= HOLD_MIB + HOLD_SLACK_MIB,
            )
        };
        println!(
            "| {} | {:.0} MiB | {:.1} | {:.1} MiB | {:.1} MiB | {peak:.1} MiB | {target} | {} |",
            m.name,
            m.binlog_bytes as f64 / MIB as f64,
            m.seconds,
            mib(m.rss_at_start),
            mib(m.hwm_at_ten_percent),
            if met { "met" } else { "MISSED" },
        );
    }
    println!(
        "\n{} rounds (+{} warm-up), load at the end {}, {:.0} s in all",
        config.rounds,
        config.warmup,
        load_average(),
        elapsed.as_secs_f64()
    );
}
