//! Point-in-time recovery benchmark (issue 10): the same saved binlogs rolled forward into an
//! empty server three ways, in the same run —
//!
//! - **direct pipe**: `mariadb-binlog FILES | mariadb --binary-mode` (the seed's way);
//! - **replaygate source** + the server's own applier, `slave_parallel_threads` 0 and 4: the
//!   server replicates from `replaygate source FILES` (release build, default policy);
//! - **a replica of the real primary** (0 and 4 workers): the limit, the same applier fed by
//!   the server that wrote the files.
//!
//! Workloads (each on a private primary, its binlog files saved): **statement**, 20,000
//! autocommit `INSERT`s in STATEMENT format (the stream the `replay` bench uses); **row, 4
//! clients**, 20,000 transactions (an INSERT and an UPDATE each) from 4 concurrent clients in
//! ROW format, so group commit leaves the parallel applier work. Every route starts from an
//! empty database (the files hold its CREATE), is timed until the last GTID is applied, and
//! its `CHECKSUM TABLE`s must equal the primary's. One warm-up round, then 3 timed. Target: the
//! fastest replaygate route at most 0.5x the direct pipe.
//!
//! Also: `replaygate source`'s RSS while a replica catches up a 1 GiB binlog of 1 MiB
//! transactions (target under 64 MiB and flat), and `replaygate scan FILE` against
//! `mariadb-binlog FILE > /dev/null` on the same raw files (target: no slower).
//!
//! Run with `cargo bench --bench source` (about 5 minutes on 2 cores). Knobs:
//! `REPLAYGATE_BENCH_TRANSACTIONS` (20000), `REPLAYGATE_BENCH_ROUNDS` (3),
//! `REPLAYGATE_BENCH_STREAM_MB` (1024). Without `--bench` it does a tiny smoke run.

#[allow(dead_code)]
#[path = "catch_up.rs"]
mod catch_up;
#[path = "knobs.rs"]
mod knobs;
// Each bench uses only part of the shared modules.
#[allow(dead_code)]
#[path = "machine.rs"]
mod machine;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use catch_up::{
    Memory, insert_script, median, mib, reset, sampled_catch_up, small_transactions, timed_catch_up,
};
use knobs::env_or;
use machine::load_average;
use support::process::free_port;
use support::proxy::{Replaygate, replaygate_bin};
use support::replication::{Positioning, checksums};
use support::server::{MariaDb, ServerOptions};

const TARGET_RATIO: f64 = 0.5;
const STREAM_PEAK_LIMIT_MIB: f64 = 64.0;
const STREAM_GROWTH_LIMIT_MIB: f64 = 8.0;

#[derive(Debug, Clone)]
struct Config {
    transactions: usize,
    rounds: usize,
    warmup: usize,
    stream_mib: usize,
    smoke: bool,
}

impl Config {
    fn from_env_and_args() -> Self {
        let smoke = !std::env::args().any(|a| a == "--bench");
        let (transactions, rounds, stream) = if smoke {
            (200, 1, 8)
        } else {
            (20_000, 3, 1024)
        };
        Config {
            transactions: env_or("REPLAYGATE_BENCH_TRANSACTIONS", transactions),
            rounds: env_or("REPLAYGATE_BENCH_ROUNDS", rounds).max(1),
            warmup: usize::from(!smoke),
            stream_mib: env_or("REPLAYGATE_BENCH_STREAM_MB", stream),
            smoke,
        }
    }
}

/// The routes, in the order each round runs them.
const ROUTES: [&str; 5] = [
    "direct pipe (mariadb-binlog | mariadb)",
    "replaygate source, 0 workers",
    "replaygate source, 4 workers",
    "replica of the primary, 0 workers",
    "replica of the primary, 4 workers",
];

struct Pitr {
    workload: &'static str,
    binlog_bytes: u64,
    seconds: Vec<Vec<f64>>,
}

/// A primary with the workload logged, and copies of its binlog files.
fn primary_with(
    format: &'static str,
    load: impl Fn(&MariaDb),
) -> (MariaDb, Vec<PathBuf>, tempfile::TempDir) {
    let primary = MariaDb::start_with(ServerOptions {
        binlog_format: format,
        ..ServerOptions::default()
    });
    load(&primary);
    primary.flush_binlogs();
    let dir = tempfile::tempdir().unwrap();
    let files = primary.copy_binlogs(dir.path());
    (primary, files, dir)
}

/// 4 clients at once, each `per_client` transactions of an INSERT and an UPDATE.
fn concurrent_rows(primary: &MariaDb, per_client: usize) {
    primary.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(64), n INT) DEFAULT CHARSET = utf8mb4");
    std::thread::scope(|scope| {
        for client in 0..4 {
            scope.spawn(move || {
                let mut script = String::from("USE d;\n");
                for i in 0..per_client {
                    let id = client * 1_000_000 + i;
                    script.push_str(&format!(
                        "BEGIN; INSERT INTO t VALUES ({id}, 'Müller-{id} 山田', 0); \
                         UPDATE t SET n = n + 1 WHERE id = {id}; COMMIT;\n"
                    ));
                }
                primary
                    .client()
                    .run_with_stdin(script.as_bytes())
                    .assert_success();
            });
        }
    });
}

fn direct_pipe(target: &MariaDb, files: &[PathBuf]) -> f64 {
    target.sql("DROP DATABASE IF EXISTS d");
    let started = Instant::now();
    let mut decode = Command::new("mariadb-binlog")
        .arg("--no-defaults")
        .args(files)
        .stdout(Stdio::piped())
        .spawn()
        .expect("run mariadb-binlog");
    let status = target
        .client()
        .arg("--binary-mode")
        .command()
        .stdin(decode.stdout.take().unwrap())
        .stdout(Stdio::null())
        .status()
        .expect("run mariadb");
    assert!(
        decode.wait().unwrap().success() && status.success(),
        "the direct pipe failed"
    );
    started.elapsed().as_secs_f64()
}

fn pitr(workload: &'static str, primary: &MariaDb, files: &[PathBuf], config: &Config) -> Pitr {
    let gtid = primary.sql("SELECT @@gtid_binlog_pos").trim().to_owned();
    let expected = checksums(primary, "d");
    let source = Replaygate::source_with_env(files, &[], &[("RUST_LOG", "replaygate=info")]);
    let target = MariaDb::start_with(ServerOptions {
        server_id: 2,
        ..ServerOptions::default()
    });
    let mut seconds = vec![Vec::new(); ROUTES.len()];
    for round in 0..config.warmup + config.rounds {
        for (i, route) in ROUTES.iter().enumerate() {
            let secs = if i == 0 {
                reset(&target, "d");
                direct_pipe(&target, files)
            } else {
                reset(&target, "d");
                let workers = if i % 2 == 0 { 4 } else { 0 };
                target.sql(&format!("SET GLOBAL slave_parallel_threads = {workers}"));
                let port = if i <= 2 {
                    source.port()
                } else {
                    primary.port()
                };
                timed_catch_up(&target, port, &gtid)
            };
            assert_eq!(checksums(&target, "d"), expected, "{workload}: {route}");
            eprintln!("{workload}, round {round}: {route}: {secs:.2} s");
            if round >= config.warmup {
                seconds[i].push(secs);
            }
        }
    }
    Pitr {
        workload,
        binlog_bytes: files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum(),
        seconds,
    }
}

/// Median seconds of `replaygate scan` and of `mariadb-binlog > /dev/null` over `files`.
fn scan_speed(files: &[PathBuf], rounds: usize) -> (f64, f64) {
    let time = |cmd: &mut Command| {
        let started = Instant::now();
        let status = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.code().is_some_and(|c| c <= 1), "{cmd:?}: {status}");
        started.elapsed().as_secs_f64()
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ours.push(time(
            Command::new(replaygate_bin())
                .args(["scan", "--quiet"])
                .args(files),
        ));
        theirs.push(time(
            Command::new("mariadb-binlog")
                .arg("--no-defaults")
                .args(files),
        ));
    }
    (median(&ours), median(&theirs))
}

fn main() {
    let config = Config::from_env_and_args();
    let started = Instant::now();
    eprintln!("source bench: {config:?}, load {}", load_average());
    let (statement_primary, statement_files, _d1) = primary_with("STATEMENT", |p| {
        p.client()
            .arg("--default-character-set=utf8mb4")
            .run_with_stdin(&insert_script(config.transactions))
            .assert_success();
    });
    let (row_primary, row_files, _d2) =
        primary_with("ROW", |p| concurrent_rows(p, config.transactions / 4));
    let runs = [
        pitr(
            "statement, 1 client",
            &statement_primary,
            &statement_files,
            &config,
        ),
        pitr("row, 4 clients", &row_primary, &row_files, &config),
    ];
    let scans = [
        (
            "statement, 1 client",
            scan_speed(&statement_files, config.rounds.max(3)),
        ),
        (
            "row, 4 clients",
            scan_speed(&row_files, config.rounds.max(3)),
        ),
    ];
    drop((statement_primary, row_primary));
    let (memory, big_files, _d3) = {
        let (primary, files, dir) = primary_with("ROW", |p| {
            eprintln!("logging a {} MiB binlog", config.stream_mib);
            p.client()
                .run_with_stdin(&small_transactions(config.stream_mib))
                .assert_success();
        });
        let admin = free_port();
        let source = Replaygate::source_with_env(
            &files,
            &["--admin", &admin.to_string()],
            &[("RUST_LOG", "replaygate=info")],
        );
        let memory = sampled_catch_up(
            "1 MiB transactions",
            &primary,
            &source,
            admin,
            &Positioning::SlavePos,
        );
        (memory, files, dir)
    };
    let big_scan = scan_speed(&big_files, config.rounds.max(3));
    print_report(&config, &runs, &scans, big_scan, &memory, started.elapsed());
}

fn print_report(
    config: &Config,
    runs: &[Pitr],
    scans: &[(&str, (f64, f64))],
    big_scan: (f64, f64),
    memory: &Memory,
    elapsed: Duration,
) {
    if config.smoke {
        println!("Smoke run (not a measurement; run `cargo bench --bench source`).\n");
    }
    println!(
        "| workload | binlog | route | seconds (median) | vs direct pipe | vs replica of the primary |"
    );
    println!("|---|---:|---|---:|---:|---:|");
    for run in runs {
        let direct = median(&run.seconds[0]);
        for (i, route) in ROUTES.iter().enumerate() {
            let secs = median(&run.seconds[i]);
            let limit = median(&run.seconds[if i % 2 == 0 && i > 0 { 4 } else { 3 }]);
            println!(
                "| {} | {:.1} MiB | {route} | {secs:.2} ({}) | {:.3}x | {} |",
                run.workload,
                run.binlog_bytes as f64 / 1048576.0,
                run.seconds[i]
                    .iter()
                    .map(|s| format!("{s:.2}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                secs / direct,
                if (1..=2).contains(&i) {
                    format!("{:.2}x", secs / limit)
                } else {
                    "-".into()
                },
            );
        }
        let best = median(&run.seconds[1]).min(median(&run.seconds[2]));
        println!(
            "| {} | | **fastest replaygate route vs direct pipe** | | **{:.3}x** (target <= {TARGET_RATIO}x: {}) | |",
            run.workload,
            best / direct,
            if best / direct <= TARGET_RATIO {
                "met"
            } else {
                "MISSED"
            }
        );
    }
    println!(
        "\n| scan of raw binlogs | replaygate scan (s) | mariadb-binlog > /dev/null (s) | ratio |"
    );
    println!("|---|---:|---:|---:|");
    for (name, (ours, theirs)) in scans
        .iter()
        .chain([&("1 GiB of 1 MiB row transactions", big_scan)])
    {
        println!(
            "| {name} | {ours:.2} | {theirs:.2} | {:.2}x |",
            ours / theirs
        );
    }
    let peak = mib(memory.peak);
    let growth = peak - mib(memory.hwm_at_ten_percent);
    println!(
        "\n| memory | binlog | catch-up (s) | RSS at start | VmHWM after 10% | peak RSS | target |\n|---|---:|---:|---:|---:|---:|---|\n\
         | replaygate source, {} | {:.0} MiB | {:.1} | {:.1} MiB | {:.1} MiB | {peak:.1} MiB | < {STREAM_PEAK_LIMIT_MIB} MiB, +{STREAM_GROWTH_LIMIT_MIB} after 10% (grew {growth:.1}): {} |",
        memory.name,
        memory.binlog_bytes as f64 / 1048576.0,
        memory.seconds,
        mib(memory.rss_at_start),
        mib(memory.hwm_at_ten_percent),
        if peak < STREAM_PEAK_LIMIT_MIB && growth <= STREAM_GROWTH_LIMIT_MIB {
            "met"
        } else {
            "MISSED"
        },
    );
    println!(
        "\n{} rounds (+{} warm-up), load at the end {}, {:.0} s in all",
        config.rounds,
        config.warmup,
        load_average(),
        elapsed.as_secs_f64()
    );
}
