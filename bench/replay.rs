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
//! rounds per route, default 5), `REPLAYGATE_BENCH_WARMUP` (untimed round pairs first, default 1),
//! `REPLAYGATE_BENCH_SPIN` (low-priority busy loops during the run, default 1 (0 in a smoke run);
//! see [`Spinners`]).
//! `REPLAYGATE_BENCH_SAVE_STREAMS=DIR` also writes the two streams there (to replay or profile by
//! hand). Without `--bench` (as `cargo test --benches` runs it) it does a tiny smoke run instead.
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
    /// Low-priority busy loops kept running during the run (see [`Spinners`]).
    spinners: usize,
    smoke: bool,
}

impl Config {
    /// `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) is a smoke run.
    fn from_env_and_args() -> Self {
        let smoke = !std::env::args().any(|a| a == "--bench");
        let (small, rows, rounds, warmup, spinners) = if smoke {
            (300, 3_000, 1, 0, 0)
        } else {
            (20_000, 400_000, 5, 1, 1)
        };
        Config {
            small_statements: env_or("REPLAYGATE_BENCH_SMALL", small),
            dump_rows: env_or("REPLAYGATE_BENCH_ROWS", rows),
            rounds: env_or("REPLAYGATE_BENCH_ROUNDS", rounds).max(1),
            warmup: env_or("REPLAYGATE_BENCH_WARMUP", warmup),
            spinners: env_or("REPLAYGATE_BENCH_SPIN", spinners),
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
    /// Extra `replaygate serve` flags this stream needs to pass.
    proxy_args: &'static [&'static str],
    expected: TableState,
    /// The issue's target for proxy/direct.
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
    rows: u64,
    direct: Vec<f64>,
    proxy: Vec<f64>,
    /// CPU seconds replaygate used in each proxy round.
    proxy_cpu: Vec<f64>,
    /// CPU seconds mariadbd used in each direct and each proxy round.
    target_cpu_direct: Vec<f64>,
    target_cpu_proxy: Vec<f64>,
    target_ratio: f64,
    proxy_peak_rss_kib: Option<u64>,
}

/// What one timed replay took.
#[derive(Debug, Clone, Copy)]
struct Round {
    seconds: f64,
    /// Statements the target received (its `Questions` counter, less our own).
    statements: u64,
    proxy_cpu: f64,
    target_cpu: f64,
}

fn main() {
    let config = Config::from_env_and_args();
    eprintln!("replay bench: {config:?}");
    let load_before = load_average();
    let workloads = generate_workloads(&config);
    let spinners = Spinners::start(config.spinners);
    let results: Vec<Measurement> = workloads
        .iter()
        .map(|workload| measure(workload, &config))
        .collect();
    drop(spinners);
    print_report(&config, &results, &load_before);
}

/// `nice -n 19` busy loops, one per count, for as long as this value lives.
///
/// On a small VM a ping-pong workload's time is dominated by waking idle vCPUs: with nothing else
/// running, every round trip pays for a halted CPU to come back. Other work on the machine (a
/// build, another test) hides that cost, so the same replay runs up to 3.5x faster on a busy
/// machine than on an idle one, and a run flips between the two whenever someone else starts a
/// build. One busy loop (the default) keeps a vCPU awake, so every round sees the "busy" regime;
/// `REPLAYGATE_BENCH_SPIN=0` measures the machine as it happens to be. Each loop also ends by
/// itself once this process is gone.
struct Spinners(Vec<std::process::Child>);

impl Spinners {
    fn start(count: usize) -> Self {
        let parent = std::process::id().to_string();
        let loops = (0..count)
            .map(|_| {
                Command::new("nice")
                    .args(["-n", "19", "sh", "-c"])
                    .arg(r#"while kill -0 "$1" 2>/dev/null; do :; done"#)
                    .args(["replaygate-bench-spinner", &parent])
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("spawn a busy loop (nice, sh)")
            })
            .collect();
        Spinners(loops)
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first three fields of `/proc/loadavg`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
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
    let workloads = vec![small, bulk];
    if let Some(dir) = std::env::var_os("REPLAYGATE_BENCH_SAVE_STREAMS") {
        save_streams(std::path::Path::new(&dir), &workloads);
    }
    workloads
}

/// Writes each stream to `<dir>/<database>.sql`, to replay or profile by hand.
fn save_streams(dir: &std::path::Path, workloads: &[Workload]) {
    std::fs::create_dir_all(dir).expect("create the stream directory");
    for workload in workloads {
        let path = dir.join(format!("{}.sql", workload.database));
        std::fs::write(&path, &workload.stream)
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        eprintln!("saved {}", path.display());
    }
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
        proxy_args: &[],
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
        // Every mariadb-dump starts each table with `DROP TABLE IF EXISTS` under
        // FOREIGN_KEY_CHECKS=0, which the shipped policy halts: an operator restoring a dump
        // allows it explicitly.
        proxy_args: &["--on-destructive", "allow"],
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
    let proxy = start_proxy(&target, workload.proxy_args);
    let pids = Pids {
        target: target.pid().expect("the target runs"),
        proxy: proxy.pid().expect("the proxy runs"),
    };
    let baseline = questions_baseline(&target);
    let mut result = Measurement {
        name: workload.name,
        stream_bytes: workload.stream.len(),
        statements: 0,
        rows: workload.expected.rows,
        direct: Vec::new(),
        proxy: Vec::new(),
        proxy_cpu: Vec::new(),
        target_cpu_direct: Vec::new(),
        target_cpu_proxy: Vec::new(),
        target_ratio: workload.target_ratio,
        proxy_peak_rss_kib: None,
    };
    for round in 0..config.warmup + config.rounds {
        let timed = round >= config.warmup;
        for route in [Route::Direct, Route::Proxy] {
            let client = replay_client(&target, &proxy, route, workload);
            let r = replay_round(&target, &client, workload, baseline, pids);
            eprintln!(
                "{}: round {round}{} {route:?} {:.3}s ({} statements; CPU s: proxy {:.2}, \
                 target {:.2}; load {})",
                workload.name,
                if timed { "" } else { " (warm-up)" },
                r.seconds,
                r.statements,
                r.proxy_cpu,
                r.target_cpu,
                load_average(),
            );
            if route == Route::Direct {
                result.statements = r.statements;
            }
            if timed {
                match route {
                    Route::Direct => {
                        result.direct.push(r.seconds);
                        result.target_cpu_direct.push(r.target_cpu);
                    }
                    Route::Proxy => {
                        result.proxy.push(r.seconds);
                        result.proxy_cpu.push(r.proxy_cpu);
                        result.target_cpu_proxy.push(r.target_cpu);
                    }
                }
            }
        }
    }
    result.proxy_peak_rss_kib = proxy.pid().and_then(peak_rss_kib);
    result
}

/// replaygate in front of the target's unix socket, logging at its operator default (info: one
/// line per session, none per statement).
fn start_proxy(target: &MariaDb, args: &[&str]) -> Replaygate {
    let socket = target.socket_path();
    let socket = socket.to_str().expect("socket path is UTF-8");
    Replaygate::start_with_env(socket, args, &[("RUST_LOG", "replaygate=info")])
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

/// The processes whose CPU time a round records.
#[derive(Debug, Clone, Copy)]
struct Pids {
    target: u32,
    proxy: u32,
}

/// Empties the database, times one replay and checks the result.
fn replay_round(
    target: &MariaDb,
    client: &MariadbClient,
    workload: &Workload,
    baseline: u64,
    pids: Pids,
) -> Round {
    reset_database(target, workload);
    let before = questions(target);
    let (proxy_cpu, target_cpu) = (cpu_seconds(pids.proxy), cpu_seconds(pids.target));
    let seconds = timed_replay(client, &workload.stream);
    let round = Round {
        seconds,
        statements: 0,
        proxy_cpu: cpu_seconds(pids.proxy) - proxy_cpu,
        target_cpu: cpu_seconds(pids.target) - target_cpu,
    };
    let statements = (questions(target) - before).saturating_sub(baseline);
    let state = table_state(target, workload.database);
    assert_eq!(
        state, workload.expected,
        "{}: the replay left a different table than the source's",
        workload.name
    );
    Round {
        statements,
        ..round
    }
}

/// User plus system CPU seconds a process has used so far (`/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> f64 {
    /// USER_HZ, the unit of those fields: 100 on every Linux architecture we run on.
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    // Fields after the parenthesised command name start at field 3 (state); utime and stime
    // are fields 14 and 15.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|f| f.parse::<u64>().expect("numeric utime/stime"))
        .sum();
    ticks as f64 / TICKS_PER_SECOND
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

fn print_report(config: &Config, results: &[Measurement], load_before: &str) {
    if config.smoke {
        println!("Smoke run (not a measurement; run `cargo bench --bench replay`).\n");
    }
    println!(
        "| workload | stream | statements | rows | rounds | direct median (s) | proxy median (s) \
         | proxy/direct | target | direct stmt/s | proxy stmt/s | min direct / proxy (s) \
         | replaygate CPU µs/stmt |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    for m in results {
        println!("{}", table_row(m));
    }
    println!();
    println!(
        "- machine: {} CPUs; load average before {load_before}, after {}; busy loops: {}",
        thread::available_parallelism().map_or(0, usize::from),
        load_average(),
        config.spinners
    );
    for m in results {
        let rss = m.proxy_peak_rss_kib.map_or("unknown".to_string(), |kib| {
            format!("{:.1} MiB", kib as f64 / 1024.0)
        });
        println!("- replaygate peak RSS (VmHWM) after {}: {rss}", m.name);
        println!("- {} rounds, direct: {}", m.name, seconds_list(&m.direct));
        println!("- {} rounds, proxy: {}", m.name, seconds_list(&m.proxy));
        println!(
            "- {} CPU seconds per proxy round: replaygate {}; mariadbd {} (direct rounds: {})",
            m.name,
            seconds_list(&m.proxy_cpu),
            seconds_list(&m.target_cpu_proxy),
            seconds_list(&m.target_cpu_direct)
        );
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
    // Other work on the machine only ever adds time: the fastest rounds show the floor.
    let fastest = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (min_direct, min_proxy) = (fastest(&m.direct), fastest(&m.proxy));
    format!(
        "| {} | {:.1} MiB | {} | {} | {} | {direct:.3} | {proxy:.3} | {ratio:.3}x | < {}x {verdict} \
         | {:.0} | {:.0} | {min_direct:.3} / {min_proxy:.3} ({:.3}x) | {:.1} |",
        m.name,
        m.stream_bytes as f64 / (1024.0 * 1024.0),
        m.statements,
        m.rows,
        m.direct.len(),
        m.target_ratio,
        m.statements as f64 / direct,
        m.statements as f64 / proxy,
        min_proxy / min_direct,
        median(&m.proxy_cpu) * 1e6 / m.statements.max(1) as f64,
    )
}

fn seconds_list(values: &[f64]) -> String {
    values
        .iter()
        .map(|s| format!("{s:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}
