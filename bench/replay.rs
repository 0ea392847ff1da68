//! Replay benchmark: the same replay stream applied to the same MariaDB, directly and through
//! replaygate, in alternating rounds of one run, and the ratio of the two.
//!
//! replaygate's promise is that a replay through it is never much slower than the plain pipe
//! `mariadb-binlog ... | mariadb`, so what is measured is exactly that pipe: the real `mariadb`
//! client with the stream on stdin, timed from spawn to exit, once over the target's unix socket
//! (**direct**) and then through each **variant** of a release-built replaygate whose `--target`
//! is that socket (sync or pipelined apply; the client on replaygate's TCP port or on its own unix
//! socket; busy polling on or off), every variant in every round, each reported as a ratio
//! against the direct rounds of the same run. Two workloads bracket the overhead:
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
//! `REPLAYGATE_BENCH_SPIN` (low-priority busy loops during the run, default 1, 0 in a smoke run;
//! see [`Spinners`]), `REPLAYGATE_BENCH_IDLE` (default 1: then the small statements are measured
//! again with no busy loop; 0 skips that).
//! `REPLAYGATE_BENCH_SAVE_STREAMS=DIR` also writes the two streams there (to replay or profile by
//! hand). Without `--bench` (as `cargo test --benches` runs it) it does a tiny smoke run instead.
//! Progress goes to stderr; the Markdown table of results to stdout.

#[path = "knobs.rs"]
mod knobs;
#[path = "machine.rs"]
mod machine;
#[path = "replay_report.rs"]
mod report;
#[path = "../tests/support/mod.rs"]
mod support;
#[path = "replay_variants.rs"]
mod variants;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use knobs::env_or;
use machine::{Spinners, load_average};
use support::certs::Certificates;
use support::client::{MariadbClient, mariadb_binlog};
use support::process::{cpu_seconds, proc_status_kib, send_signal};
use support::proxy::Replaygate;
use support::server::{MariaDb, ServerOptions};
use variants::{
    CHECK_EVERY_1, CHECK_EVERY_100, CHECKPOINT, CLEAR_TO_TARGET_TCP, PIPELINED_UNIX_POLLED,
    SYNC_TCP, TLS_BOTH_LEGS, Variant, variant,
};

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
    /// Also measure the latency-bound workloads with no busy loop (the "idle" machine).
    idle: bool,
    smoke: bool,
}

impl Config {
    /// `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) is a smoke run.
    fn from_env_and_args() -> Self {
        let smoke = !std::env::args().any(|a| a == "--bench");
        let (small, rows, rounds, warmup, spinners, idle) = if smoke {
            (300, 3_000, 1, 0, 0, 0)
        } else {
            (20_000, 400_000, 5, 1, 1, 1)
        };
        Config {
            small_statements: env_or("REPLAYGATE_BENCH_SMALL", small),
            dump_rows: env_or("REPLAYGATE_BENCH_ROWS", rows),
            rounds: env_or("REPLAYGATE_BENCH_ROUNDS", rounds).max(1),
            warmup: env_or("REPLAYGATE_BENCH_WARMUP", warmup),
            spinners: env_or("REPLAYGATE_BENCH_SPIN", spinners),
            idle: env_or("REPLAYGATE_BENCH_IDLE", idle) > 0,
            smoke,
        }
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
    /// Its time is round trips, which the machine's idle wake-ups dominate: it is measured on
    /// the idle machine too (see [`Spinners`]).
    latency_bound: bool,
    /// Extra `replaygate serve` flags this stream needs to pass.
    proxy_args: &'static [&'static str],
    expected: TableState,
    /// The ways of running replaygate measured on this stream, each against direct.
    variants: Vec<Variant>,
}

/// Row count and `CHECKSUM TABLE` of `<database>.t`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TableState {
    rows: u64,
    checksum: String,
}

/// One workload's timings: direct, and each variant of replaygate in the same rounds.
#[derive(Debug)]
struct Measurement {
    name: &'static str,
    /// How busy the machine was kept: "busy (N loops)" or "idle".
    machine: String,
    stream_bytes: usize,
    statements: u64,
    rows: u64,
    direct: Vec<f64>,
    /// CPU seconds mariadbd used in each direct round.
    target_cpu_direct: Vec<f64>,
    variants: Vec<VariantTimings>,
}

/// One variant's timings.
#[derive(Debug)]
struct VariantTimings {
    variant: Variant,
    seconds: Vec<f64>,
    /// CPU seconds replaygate and mariadbd used in each round.
    proxy_cpu: Vec<f64>,
    target_cpu: Vec<f64>,
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
    let busy = if config.spinners == 0 {
        "as found".to_string()
    } else {
        format!("busy ({} loop)", config.spinners)
    };
    let mut results: Vec<Measurement> = workloads
        .iter()
        .map(|workload| measure(workload, &config, &busy))
        .collect();
    drop(spinners);
    if config.idle && config.spinners > 0 {
        results.extend(
            workloads
                .iter()
                .filter(|w| w.latency_bound)
                .map(|workload| measure(workload, &config, "idle")),
        );
    }
    report::print(&config, &results, &load_before);
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
        latency_bound: true,
        proxy_args: &[],
        expected: table_state(source, "small"),
        variants: vec![
            variant(SYNC_TCP, 1.25),
            variant("sync, unix socket, busy-poll 50 µs", 1.25),
            variant("pipelined, TCP", 0.8),
            variant(PIPELINED_UNIX_POLLED, 0.8),
            // Checks every 100 transactions: 1% more round trips, within the plain pipe's noise.
            variant(CHECK_EVERY_100, 1.3),
            // A check after every transaction doubles the round trips it waits for.
            variant(CHECK_EVERY_1, 2.5),
            // One more round trip per transaction (the checkpoint row, written before COMMIT).
            variant(CHECKPOINT, 1.5),
            // Encryption on both legs: more CPU per round trip, no more round trips.
            variant(CLEAR_TO_TARGET_TCP, 1.25),
            variant(TLS_BOTH_LEGS, 1.4),
        ],
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
        latency_bound: false,
        // Every mariadb-dump starts each table with `DROP TABLE IF EXISTS` under
        // FOREIGN_KEY_CHECKS=0, which the shipped policy halts: an operator restoring a dump
        // allows it explicitly.
        proxy_args: &["--on-destructive", "allow"],
        expected: table_state(source, "bulk"),
        variants: vec![
            variant(SYNC_TCP, 1.03),
            variant(PIPELINED_UNIX_POLLED, 1.03),
            variant(CLEAR_TO_TARGET_TCP, 1.03),
            variant(TLS_BOTH_LEGS, 1.1),
        ],
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
fn measure(workload: &Workload, config: &Config, machine: &str) -> Measurement {
    let certs = workload
        .variants
        .iter()
        .any(|v| v.tls)
        .then(Certificates::new);
    let target = MariaDb::start_with(ServerOptions {
        server_id: 2,
        extra_args: certs
            .as_ref()
            .map(Certificates::server_args)
            .unwrap_or_default(),
        ..ServerOptions::default()
    });
    let socket_dir = tempfile::Builder::new()
        .prefix("rgb")
        .tempdir_in("/tmp")
        .expect("create socket dir");
    // One replaygate per variant, all kept running: a round replays through each in turn.
    let proxies: Vec<(Replaygate, Option<PathBuf>)> = workload
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let socket = v
                .unix_socket
                .then(|| socket_dir.path().join(format!("rg{i}.sock")));
            let mut args: Vec<String> = workload
                .proxy_args
                .iter()
                .chain(v.args)
                .map(|a| (*a).to_owned())
                .collect();
            if let Some(path) = &socket {
                args.extend(["--socket".to_owned(), path.display().to_string()]);
            }
            let certs = certs.as_ref().filter(|_| v.tls);
            if let Some(certs) = certs {
                args.extend(tls_proxy_args(certs));
            }
            (start_proxy(&target, &args, v.target_tcp), socket)
        })
        .collect();
    let target_pid = target.pid().expect("the target runs");
    let baseline = questions_baseline(&target);
    let mut result = Measurement {
        name: workload.name,
        machine: machine.to_string(),
        stream_bytes: workload.stream.len(),
        statements: 0,
        rows: workload.expected.rows,
        direct: Vec::new(),
        target_cpu_direct: Vec::new(),
        variants: workload
            .variants
            .iter()
            .map(|&variant| VariantTimings {
                variant,
                seconds: Vec::new(),
                proxy_cpu: Vec::new(),
                target_cpu: Vec::new(),
                proxy_peak_rss_kib: None,
            })
            .collect(),
    };
    for round in 0..config.warmup + config.rounds {
        let timed = round >= config.warmup;
        let warm = if timed { "" } else { " (warm-up)" };
        let client = with_workload_flags(target.client(), workload);
        let r = replay_round(&target, &client, workload, baseline, target_pid, None);
        eprintln!(
            "{} ({machine}): round {round}{warm} direct {:.3}s ({} statements; target CPU {:.2}s; load {})",
            workload.name,
            r.seconds,
            r.statements,
            r.target_cpu,
            load_average(),
        );
        result.statements = r.statements;
        if timed {
            result.direct.push(r.seconds);
            result.target_cpu_direct.push(r.target_cpu);
        }
        for ((proxy, socket), timings) in proxies.iter().zip(&mut result.variants) {
            let client = match (socket, &certs) {
                (Some(path), _) => target.client().socket(path),
                (None, Some(certs)) if timings.variant.tls => target
                    .client()
                    .host_port("127.0.0.1", proxy.port())
                    .arg("--ssl")
                    .arg(format!("--ssl-ca={}", certs.ca().display())),
                (None, _) => target.client().host_port("127.0.0.1", proxy.port()),
            };
            let client = with_workload_flags(client, workload);
            let r = replay_round(
                &target,
                &client,
                workload,
                baseline,
                target_pid,
                proxy.pid(),
            );
            eprintln!(
                "{} ({machine}): round {round}{warm} {} {:.3}s (CPU s: proxy {:.2}, target {:.2})",
                workload.name, timings.variant.label, r.seconds, r.proxy_cpu, r.target_cpu,
            );
            if timed {
                timings.seconds.push(r.seconds);
                timings.proxy_cpu.push(r.proxy_cpu);
                timings.target_cpu.push(r.target_cpu);
            }
        }
    }
    for ((proxy, _), timings) in proxies.iter().zip(&mut result.variants) {
        timings.proxy_peak_rss_kib = proxy.pid().and_then(|pid| proc_status_kib(pid, "VmHWM"));
    }
    result
}

/// replaygate in front of the target's unix socket (or its TCP port), logging at its operator
/// default (info: one line per session, none per statement).
fn start_proxy(target: &MariaDb, args: &[String], target_tcp: bool) -> Replaygate {
    let socket = target.socket_path();
    let address = if target_tcp {
        target.tcp_addr()
    } else {
        socket.to_str().expect("socket path is UTF-8").to_owned()
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Replaygate::start_with_env(&address, &args, &[("RUST_LOG", "replaygate=info")])
}

/// TLS on both legs with the bench's own certificates.
fn tls_proxy_args(certs: &Certificates) -> Vec<String> {
    let path = |p: PathBuf| p.display().to_string();
    vec![
        "--tls-cert".to_owned(),
        path(certs.cert()),
        "--tls-key".to_owned(),
        path(certs.key()),
        "--target-tls".to_owned(),
        "required".to_owned(),
        "--target-ca".to_owned(),
        path(certs.ca()),
    ]
}

/// The `mariadb` flags every route of a workload uses.
fn with_workload_flags(client: MariadbClient, workload: &Workload) -> MariadbClient {
    let client = client.arg("--binary-mode");
    if workload.client_uses_database {
        client.database(workload.database)
    } else {
        client
    }
}

/// Empties the database, times one replay and checks the result.
fn replay_round(
    target: &MariaDb,
    client: &MariadbClient,
    workload: &Workload,
    baseline: u64,
    target_pid: u32,
    proxy_pid: Option<u32>,
) -> Round {
    reset_database(target, workload);
    let before = questions(target);
    let proxy_cpu_now = || proxy_pid.map_or(0.0, cpu_seconds);
    let (proxy_cpu, target_cpu) = (proxy_cpu_now(), cpu_seconds(target_pid));
    let seconds = timed_replay(client, &workload.stream);
    let round = Round {
        seconds,
        statements: 0,
        proxy_cpu: proxy_cpu_now() - proxy_cpu,
        target_cpu: cpu_seconds(target_pid) - target_cpu,
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
