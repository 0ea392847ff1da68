//! Replay benchmark: the same replay stream applied to the same MariaDB, directly and through
//! replaygate, in alternating rounds of one run, and the ratio of the two.
//!
//! replaygate's promise is that a replay through it is never much slower than the plain pipe
//! `mariadb-binlog ... | mariadb`, so what is measured is exactly that pipe: the real `mariadb`
//! client with the stream on stdin, timed from spawn to exit, once over the target's unix socket
//! (**direct**) and once over TCP to a release-built replaygate whose `--target` is that socket
//! (**proxy**). Two workloads bracket the overhead:
//!
//! - **small statements**: a statement-format binlog of many autocommit one-row INSERTs with
//!   utf8 text, decoded by `mariadb-binlog`: one round trip per statement, so per-statement cost
//!   (inspection, relaying, scheduling) dominates;
//! - **bulk dump**: a `mariadb-dump` of a large table (extended INSERTs of about 1 MB each):
//!   throughput-bound, so copying and buffering dominate.
//!
//! Both streams are generated in the same run on a private source server. Every round starts from
//! an empty database (not timed) and is checked afterwards (row count and `CHECKSUM TABLE` equal
//! the source's), so a failed replay can never be reported as a fast one.
//!
//! Run with `cargo bench --bench replay`. Sizes: `REPLAYGATE_BENCH_SMALL` (statements, default
//! 20000), `REPLAYGATE_BENCH_ROWS` (dump rows, default 400000), `REPLAYGATE_BENCH_ROUNDS` (timed
//! rounds per route, default 5), `REPLAYGATE_BENCH_WARMUP` (untimed round pairs first, default 1).
//! Without `--bench` (as `cargo test --benches` runs it) it does a tiny smoke run instead.
//! Progress goes to stderr; the Markdown table of results to stdout.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use support::client::{MariadbClient, mariadb_binlog};
use support::process::send_signal;
use support::proxy::Replaygate;
use support::server::{MariaDb, ServerOptions};

/// One replay taking longer than this is a hang, not a measurement.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(600);

/// Workload sizes and round counts.
#[derive(Debug, Clone, Copy)]
struct Config {
    small_statements: usize,
    dump_rows: usize,
    rounds: usize,
    warmup: usize,
    smoke: bool,
}

impl Config {
    /// `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) is a smoke run.
    fn from_env_and_args() -> Self {
        let smoke = !std::env::args().any(|a| a == "--bench");
        let (small, rows, rounds, warmup) = if smoke {
            (300, 3_000, 1, 0)
        } else {
            (20_000, 400_000, 5, 1)
        };
        Config {
            small_statements: env_or("REPLAYGATE_BENCH_SMALL", small),
            dump_rows: env_or("REPLAYGATE_BENCH_ROWS", rows),
            rounds: env_or("REPLAYGATE_BENCH_ROUNDS", rounds).max(1),
            warmup: env_or("REPLAYGATE_BENCH_WARMUP", warmup),
            smoke,
        }
    }
}

fn env_or(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("{name}={value:?} is not a count: {e}")),
        Err(_) => default,
    }
}

/// A replay stream and what a correct replay of it leaves behind.
#[derive(Debug)]
struct Workload {
    name: &'static str,
    stream: Vec<u8>,
    /// The database emptied (dropped and created) before every round.
    database: &'static str,
    /// Run after the database is created, before the timed replay (the table a binlog expects).
    prepare: String,
    /// Whether the client is started with `--database=<database>` (a dump has no `USE`).
    client_uses_database: bool,
    expected: TableState,
    /// The target for proxy/direct.
    target_ratio: f64,
}

/// Row count and `CHECKSUM TABLE` of `<database>.t`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TableState {
    rows: u64,
    checksum: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Direct,
    Proxy,
}

/// One workload's timings.
#[derive(Debug)]
struct Measurement {
    name: &'static str,
    stream_bytes: usize,
    statements: u64,
    direct: Vec<f64>,
    proxy: Vec<f64>,
    target_ratio: f64,
    proxy_peak_rss_kib: Option<u64>,
}

fn main() {
    let config = Config::from_env_and_args();
    eprintln!("replay bench: {config:?}");
    let workloads = generate_workloads(&config);
    let results: Vec<Measurement> = workloads
        .iter()
        .map(|workload| measure(workload, &config))
        .collect();
    print_report(&config, &results);
}

/// Builds both streams on one private statement-format source server (dropped afterwards).
fn generate_workloads(config: &Config) -> Vec<Workload> {
    let source = MariaDb::start_with(ServerOptions {
        binlog_format: "STATEMENT",
        ..ServerOptions::default()
    });
    let started = Instant::now();
    let small = small_statement_workload(&source, config.small_statements);
    eprintln!(
        "generated small statements: {} bytes in {:.1}s",
        small.stream.len(),
        started.elapsed().as_secs_f64()
    );
    let started = Instant::now();
    let bulk = bulk_dump_workload(&source, config.dump_rows);
    eprintln!(
        "generated bulk dump: {} bytes in {:.1}s",
        bulk.stream.len(),
        started.elapsed().as_secs_f64()
    );
    vec![small, bulk]
}

const SMALL_TABLE: &str =
    "CREATE TABLE small.t (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL) DEFAULT CHARSET=utf8mb4";

/// `count` autocommit INSERTs on the source, binlogged in statement format and decoded.
fn small_statement_workload(source: &MariaDb, count: usize) -> Workload {
    source.sql(&format!(
        "CREATE DATABASE small CHARACTER SET utf8mb4; {SMALL_TABLE}"
    ));
    // The decoded stream holds only the INSERTs: the table is created before each round.
    source.flush_binlogs();
    let first = source.binlog_files().len() - 1;
    source
        .client()
        .arg("--default-character-set=utf8mb4")
        .database("small")
        .timeout(REPLAY_TIMEOUT)
        .run_with_stdin(&insert_script(count))
        .assert_success();
    source.flush_binlogs();
    let files = source.binlog_files();
    let stream = mariadb_binlog(&[], &files[first..files.len() - 1]);
    Workload {
        name: "small statements",
        stream,
        database: "small",
        prepare: SMALL_TABLE.to_string(),
        client_uses_database: false,
        expected: table_state(source, "small"),
        target_ratio: 1.5,
    }
}

/// `INSERT INTO t VALUES (i, 'Müller-i 山田');` for i in 1..=count, one per line.
fn insert_script(count: usize) -> Vec<u8> {
    let mut script = String::with_capacity(count * 48);
    for i in 1..=count {
        script.push_str(&format!("INSERT INTO t VALUES ({i}, 'Müller-{i} 山田');\n"));
    }
    script.into_bytes()
}

/// A `rows`-row table filled from the sequence engine, dumped with extended INSERTs.
fn bulk_dump_workload(source: &MariaDb, rows: usize) -> Workload {
    source.sql(&format!(
        "SET NAMES utf8mb4;
         CREATE DATABASE bulk CHARACTER SET utf8mb4;
         CREATE TABLE bulk.t (id INT PRIMARY KEY, label VARCHAR(64) NOT NULL, qty INT NOT NULL,
                              price DECIMAL(10,2) NOT NULL, created DATETIME NOT NULL)
                 DEFAULT CHARSET=utf8mb4;
         INSERT INTO bulk.t
           SELECT seq, CONCAT('row ', seq, ' ü'), seq % 1000, seq / 100,
                  '2024-01-01' + INTERVAL seq SECOND
           FROM bulk.seq_1_to_{rows}"
    ));
    Workload {
        name: "bulk dump",
        stream: mariadb_dump(source, "bulk"),
        database: "bulk",
        prepare: String::new(),
        client_uses_database: true,
        expected: table_state(source, "bulk"),
        target_ratio: 1.05,
    }
}

/// `mariadb-dump --single-transaction DB` (extended inserts, the default) as bytes.
fn mariadb_dump(server: &MariaDb, database: &str) -> Vec<u8> {
    let output = Command::new("mariadb-dump")
        .arg("--no-defaults")
        .arg(format!("--socket={}", server.socket_path().display()))
        .args(["--user=root", "--single-transaction", database])
        .stdin(Stdio::null())
        .output()
        .expect("spawn mariadb-dump");
    assert!(
        output.status.success(),
        "mariadb-dump failed: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Row count and checksum of `<database>.t`.
fn table_state(server: &MariaDb, database: &str) -> TableState {
    let out = server.sql(&format!(
        "SELECT COUNT(*) FROM {database}.t; CHECKSUM TABLE {database}.t"
    ));
    let mut lines = out.lines();
    let rows = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected COUNT(*) output: {out:?}"));
    let checksum = lines
        .next()
        .and_then(|l| l.split('\t').nth(1))
        .unwrap_or_else(|| panic!("unexpected CHECKSUM TABLE output: {out:?}"))
        .to_string();
    TableState { rows, checksum }
}

/// Alternating direct/proxy rounds of one workload on one fresh target server.
fn measure(workload: &Workload, config: &Config) -> Measurement {
    let target = MariaDb::start_with(ServerOptions {
        server_id: 2,
        ..ServerOptions::default()
    });
    let proxy = start_proxy(&target);
    let baseline = questions_baseline(&target);
    let mut result = Measurement {
        name: workload.name,
        stream_bytes: workload.stream.len(),
        statements: 0,
        direct: Vec::new(),
        proxy: Vec::new(),
        target_ratio: workload.target_ratio,
        proxy_peak_rss_kib: None,
    };
    for round in 0..config.warmup + config.rounds {
        let timed = round >= config.warmup;
        for route in [Route::Direct, Route::Proxy] {
            let client = replay_client(&target, &proxy, route, workload);
            let (seconds, statements) = replay_round(&target, &client, workload, baseline);
            eprintln!(
                "{}: round {round}{} {route:?} {seconds:.3}s ({statements} statements)",
                workload.name,
                if timed { "" } else { " (warm-up)" },
            );
            if route == Route::Direct {
                result.statements = statements;
            }
            if timed {
                match route {
                    Route::Direct => result.direct.push(seconds),
                    Route::Proxy => result.proxy.push(seconds),
                }
            }
        }
    }
    result.proxy_peak_rss_kib = proxy.pid().and_then(peak_rss_kib);
    result
}

/// replaygate in front of the target's unix socket, logging at its operator default (info: one
/// line per session, none per statement).
fn start_proxy(target: &MariaDb) -> Replaygate {
    let socket = target.socket_path();
    let socket = socket.to_str().expect("socket path is UTF-8");
    Replaygate::start_with_env(socket, &[], &[("RUST_LOG", "replaygate=info")])
}

/// The `mariadb` client of one route: the target's socket, or TCP to the proxy.
fn replay_client(
    target: &MariaDb,
    proxy: &Replaygate,
    route: Route,
    workload: &Workload,
) -> MariadbClient {
    let client = match route {
        Route::Direct => target.client(),
        Route::Proxy => target.client().host_port("127.0.0.1", proxy.port()),
    };
    let client = client.arg("--binary-mode");
    if workload.client_uses_database {
        client.database(workload.database)
    } else {
        client
    }
}

/// Empties the database, times one replay, checks the result; returns the seconds and the
/// statements the target received (its `Questions` counter, less our own).
fn replay_round(
    target: &MariaDb,
    client: &MariadbClient,
    workload: &Workload,
    baseline: u64,
) -> (f64, u64) {
    reset_database(target, workload);
    let before = questions(target);
    let seconds = timed_replay(client, &workload.stream);
    let statements = (questions(target) - before).saturating_sub(baseline);
    let state = table_state(target, workload.database);
    assert_eq!(
        state, workload.expected,
        "{}: the replay left a different table than the source's",
        workload.name
    );
    (seconds, statements)
}

fn reset_database(target: &MariaDb, workload: &Workload) {
    let db = workload.database;
    target.sql(&format!(
        "DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db} CHARACTER SET utf8mb4; {}",
        workload.prepare
    ));
}

/// The target's global `Questions` counter (statements received from clients).
fn questions(target: &MariaDb) -> u64 {
    let out = target.sql("SHOW GLOBAL STATUS LIKE 'Questions'");
    out.split('\t')
        .nth(1)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected SHOW STATUS output: {out:?}"))
}

/// What reading `Questions` twice adds to it by itself.
fn questions_baseline(target: &MariaDb) -> u64 {
    let before = questions(target);
    questions(target) - before
}

/// Runs the client with `stream` on stdin and returns the seconds from spawn to exit. Panics with
/// the client's stderr if it fails, and kills it if it hangs.
fn timed_replay(client: &MariadbClient, stream: &[u8]) -> f64 {
    let mut cmd = client.command();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn mariadb");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin piped");
    let mut stderr = child.stderr.take().expect("stderr piped");
    let (done_tx, done_rx) = mpsc::channel();
    let (status, finished, errors) = thread::scope(|scope| {
        // A broken pipe means the client stopped reading; its exit status says why.
        scope.spawn(move || drop(stdin.write_all(stream)));
        let errors = scope.spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        scope.spawn(move || {
            let status = child.wait().expect("wait for mariadb");
            let _ = done_tx.send((status, Instant::now()));
        });
        let Ok((status, finished)) = done_rx.recv_timeout(REPLAY_TIMEOUT) else {
            send_signal(pid, "KILL");
            panic!("replay did not finish within {REPLAY_TIMEOUT:?}; client killed");
        };
        let errors = errors.join().expect("stderr reader");
        (status, finished, errors)
    });
    assert!(status.success(), "replay failed ({status}):\n{errors}");
    (finished - started).as_secs_f64()
}

/// `VmHWM` (peak resident set) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

fn print_report(config: &Config, results: &[Measurement]) {
    if config.smoke {
        println!("Smoke run (not a measurement; run `cargo bench --bench replay`).\n");
    }
    println!(
        "| workload | stream | statements | rounds | direct median (s) | proxy median (s) \
         | proxy/direct | target | direct stmt/s | proxy stmt/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    for m in results {
        println!("{}", table_row(m));
    }
    println!();
    for m in results {
        let rss = m.proxy_peak_rss_kib.map_or("unknown".to_string(), |kib| {
            format!("{:.1} MiB", kib as f64 / 1024.0)
        });
        println!("- replaygate peak RSS (VmHWM) after {}: {rss}", m.name);
        println!("- {} rounds, direct: {}", m.name, seconds_list(&m.direct));
        println!("- {} rounds, proxy: {}", m.name, seconds_list(&m.proxy));
    }
}

fn table_row(m: &Measurement) -> String {
    let direct = median(&m.direct);
    let proxy = median(&m.proxy);
    let ratio = proxy / direct;
    let verdict = if ratio < m.target_ratio {
        "met"
    } else {
        "MISSED"
    };
    format!(
        "| {} | {:.1} MiB | {} | {} | {direct:.3} | {proxy:.3} | {ratio:.3}x | < {}x {verdict} \
         | {:.0} | {:.0} |",
        m.name,
        m.stream_bytes as f64 / (1024.0 * 1024.0),
        m.statements,
        m.direct.len(),
        m.target_ratio,
        m.statements as f64 / direct,
        m.statements as f64 / proxy,
    )
}

fn seconds_list(values: &[f64]) -> String {
    values
        .iter()
        .map(|s| format!("{s:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}
