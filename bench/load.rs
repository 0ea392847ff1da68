//! Load benchmark (issue 12): sysbench `oltp_read_write` against a private MariaDB directly and
//! through replaygate as a sidecar (`--charset-mode honor`, as an application's proxy runs),
//! one after the other in the same run, same tables, same threads and duration.
//!
//! Reported per route: transactions and queries per second, p95 latency, the deadlocks sysbench
//! retried (contention of the workload itself; any other error ends sysbench, which fails the
//! run), and for replaygate its CPU per query and its resident
//! memory sampled every 5 s (at the start of the run, after a tenth of it, at the end and the
//! most), which must stay flat from the tenth on. Its CPU is split into user space (replaygate's
//! code, tokio, the allocator) and kernel (the socket calls relaying costs). sysbench uses server-side prepared statements, so this is also the prepared-statement
//! path under load.
//!
//! Run with `cargo bench --bench load` (about 21 minutes: 10 minutes per route at 64 threads).
//! Knobs: `REPLAYGATE_BENCH_THREADS` (64), `REPLAYGATE_BENCH_SECONDS` (600),
//! `REPLAYGATE_BENCH_TABLES` (8), `REPLAYGATE_BENCH_TABLE_SIZE` (100000). Without `--bench` it
//! does a few-seconds smoke run. Needs `sysbench` (Debian package `sysbench`).

#[path = "knobs.rs"]
mod knobs;
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use knobs::env_or;
use support::process::{cpu_split, proc_status_kib};
use support::proxy::Replaygate;
use support::server::{MariaDb, ServerOptions};

/// What one sysbench run reported.
#[derive(Debug, Default)]
struct Run {
    transactions_per_sec: f64,
    queries: f64,
    queries_per_sec: f64,
    p95_ms: f64,
    /// Deadlocks and lock-wait timeouts sysbench retried (its default `--mysql-ignore-errors`):
    /// the workload's own contention, seen directly too. Any other error fails the run.
    retried: u64,
}

/// replaygate's resident memory over a run, KiB.
#[derive(Debug, Default)]
struct Memory {
    start: u64,
    /// The first sample after a tenth of the run: the sessions are connected and their
    /// buffers grown, so from here on "flat" means flat.
    warm: u64,
    end: u64,
    peak: u64,
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let threads = env_or("REPLAYGATE_BENCH_THREADS", if smoke { 4 } else { 64 });
    let seconds = env_or("REPLAYGATE_BENCH_SECONDS", if smoke { 5 } else { 600 });
    let tables = env_or("REPLAYGATE_BENCH_TABLES", if smoke { 2 } else { 8 });
    let table_size = env_or(
        "REPLAYGATE_BENCH_TABLE_SIZE",
        if smoke { 1000 } else { 100_000 },
    );
    eprintln!("load bench: {threads} threads, {seconds} s per route, {tables} x {table_size} rows");

    let target = MariaDb::start_with(ServerOptions {
        extra_args: vec![
            format!("--max-connections={}", threads * 2 + 50),
            "--innodb-buffer-pool-size=1G".into(),
        ],
        ..ServerOptions::default()
    });
    target.sql("CREATE DATABASE sbtest");
    let common = |port: u16| {
        vec![
            "oltp_read_write".to_string(),
            "--mysql-host=127.0.0.1".into(),
            format!("--mysql-port={port}"),
            "--mysql-user=root".into(),
            "--mysql-db=sbtest".into(),
            format!("--tables={tables}"),
            format!("--table-size={table_size}"),
        ]
    };
    sysbench(&common(target.port()), "prepare", &[]);

    let run_args = [
        format!("--threads={threads}"),
        format!("--time={seconds}"),
        "--report-interval=0".to_string(),
        "--percentile=95".to_string(),
    ];
    let direct = parse(&sysbench(&common(target.port()), "run", &run_args));
    eprintln!("direct: {direct:?}");

    let proxy = Replaygate::start(
        &target.tcp_addr(),
        &[
            "--charset-mode",
            "honor",
            "--max-connections",
            &(threads * 2).to_string(),
        ],
    );
    let pid = proxy.pid().unwrap();
    let cpu_before = cpu_split(pid);
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let sampling = Arc::clone(&sampling);
        let warm_after = Duration::from_secs(seconds as u64 / 10);
        thread::spawn(move || {
            let started = std::time::Instant::now();
            let mut memory = Memory::default();
            while sampling.load(Ordering::Relaxed) {
                let rss = proc_status_kib(pid, "VmRSS").unwrap_or(0);
                if memory.start == 0 {
                    memory.start = rss;
                }
                if memory.warm == 0 && started.elapsed() >= warm_after {
                    memory.warm = rss;
                }
                memory.end = rss;
                memory.peak = memory.peak.max(rss);
                thread::sleep(Duration::from_secs(5));
            }
            memory
        })
    };
    let through = parse(&sysbench(&common(proxy.port()), "run", &run_args));
    sampling.store(false, Ordering::Relaxed);
    let memory = sampler.join().unwrap();
    let cpu_after = cpu_split(pid);
    let (user, kernel) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    eprintln!(
        "through replaygate: {through:?}, {memory:?}, {user:.1} user + {kernel:.1} kernel CPU s"
    );
    let per_query = |seconds: f64| seconds / through.queries.max(1.0) * 1e6;

    println!(
        "| route | transactions/s | queries/s | p95 (ms) | deadlocks retried | replaygate CPU/query (user + kernel) | replaygate RSS start / after 10% / end / peak |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| direct | {:.0} | {:.0} | {:.2} | {} | | |",
        direct.transactions_per_sec, direct.queries_per_sec, direct.p95_ms, direct.retried
    );
    println!(
        "| replaygate (honor) | {:.0} ({:.2}x) | {:.0} | {:.2} ({:.2}x) | {} | {:.1} µs ({:.1} + {:.1}) | {:.1} / {:.1} / {:.1} / {:.1} MiB |",
        through.transactions_per_sec,
        through.transactions_per_sec / direct.transactions_per_sec,
        through.queries_per_sec,
        through.p95_ms,
        through.p95_ms / direct.p95_ms,
        through.retried,
        per_query(user + kernel),
        per_query(user),
        per_query(kernel),
        memory.start as f64 / 1024.0,
        memory.warm as f64 / 1024.0,
        memory.end as f64 / 1024.0,
        memory.peak as f64 / 1024.0,
    );
}

/// Runs `sysbench ARGS COMMAND EXTRA`, which must succeed; its standard output.
fn sysbench(args: &[String], command: &str, extra: &[String]) -> String {
    let out = Command::new("sysbench")
        .args(args)
        .args(extra)
        .arg(command)
        .output()
        .expect("run sysbench (Debian package sysbench)");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "sysbench {command}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The figures of a `sysbench run` report.
fn parse(report: &str) -> Run {
    let mut run = Run::default();
    for line in report.lines().map(str::trim) {
        let number = |at: usize| {
            line.split_whitespace()
                .nth(at)
                .and_then(|f| f.trim_start_matches('(').parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        if line.starts_with("transactions:") {
            run.transactions_per_sec = number(2);
        } else if line.starts_with("queries:") {
            run.queries = number(1);
            run.queries_per_sec = number(2);
        } else if line.starts_with("ignored errors:") {
            run.retried += number(2) as u64;
        } else if line.starts_with("95th percentile:") {
            run.p95_ms = number(2);
        }
    }
    run
}
