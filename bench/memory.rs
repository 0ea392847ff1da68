//! Memory benchmark: replaygate's resident memory while it relays a long stream and one huge
//! statement (issue 4).
//!
//! Like `replay.rs`, it drives the real pipe: the `mariadb` client, its stdin fed from a writer
//! thread, over TCP to a release-built `replaygate serve` in front of a private target's unix
//! socket (binlog off, so a 1 GiB replay costs no extra disk). Each workload runs once per apply
//! mode, on a fresh target and a fresh replaygate (`RUST_LOG=replaygate=info`), with one client
//! connection. Memory is replaygate's own, from `/proc/PID/status`: `VmHWM` (peak resident set)
//! once 10% and once 50% of the stream has been written to the client, `VmRSS` once a second, and
//! both once the client has exited (the table's peak is the larger of the final `VmHWM` and the
//! largest sample: the kernel's RSS counters are approximate to a few hundred KiB).
//!
//! - **stream**: at least 1 GiB of SQL generated on the fly (never held whole): chunks of
//!   `CREATE TABLE tN; BEGIN; INSERT INTO tN VALUES (...),(...); ... COMMIT;`, each INSERT ~1 MiB
//!   of utf8 rows, each chunk one transaction into a fresh table (so no destructive statement is
//!   needed). Inside a transaction `--apply-mode pipelined` sends the INSERTs ahead, which is its
//!   worst case for memory. Target: peak RSS under 64 MiB and not growing with the stream
//!   (the peak at most 8 MiB above `VmHWM` after the first 10%).
//! - **200 MiB statement**: `BEGIN; INSERT INTO big VALUES (1, '<200 MiB of utf8 text>');
//!   COMMIT;` (client with `--max-allowed-packet=1G`; the harness servers allow 256M). Target:
//!   peak RSS at most twice the statement's size.
//!
//! Every replay must exit 0 and is then checked on the target (stream: per-table row count, sum
//! of ids and of label bytes; big statement: `LENGTH` and `MD5` of the value against the
//! generated text), so a failed replay is never reported as a measurement.
//!
//! Run with `cargo bench --bench memory` (about 4 minutes on 2 cores, plus ~1 GiB of target
//! datadir per stream run in /tmp, removed afterwards). Knobs:
//! `REPLAYGATE_BENCH_STREAM_MB` (stream size in MiB, default 1024), `REPLAYGATE_BENCH_STATEMENT_KB`
//! (INSERT size in KiB, default 1024), `REPLAYGATE_BENCH_TXN_STATEMENTS` (INSERTs per chunk
//! transaction, default 256: pipelined apply holds up to 256 statements, or 8 MiB of them, in
//! flight),
//! `REPLAYGATE_BENCH_BIG_MB` (the single statement's value in MiB, default 200),
//! `REPLAYGATE_BENCH_MODES` (default `sync,pipelined`). Without `--bench` (as `cargo test
//! --benches` runs it) it does a tiny smoke run instead. Progress goes to stderr; the Markdown
//! table of results to stdout.

#[path = "knobs.rs"]
mod knobs;
#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{self, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use knobs::env_or;
use support::process::{proc_status_kib, send_signal};
use support::proxy::Replaygate;
use support::server::{MariaDb, ServerOptions};

/// One replay taking longer than this is a hang, not a measurement.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(900);
const MIB: u64 = 1024 * 1024;
/// The stream's targets: peak RSS, and growth of the peak after the first 10% of the stream.
const STREAM_PEAK_LIMIT_MIB: f64 = 64.0;
const STREAM_GROWTH_LIMIT_MIB: f64 = 8.0;
/// The big statement's target: peak RSS over the statement's size.
const BIG_RATIO_LIMIT: f64 = 2.0;

#[derive(Debug, Clone)]
struct Config {
    stream_bytes: u64,
    statement_bytes: usize,
    txn_statements: usize,
    big_bytes: usize,
    modes: Vec<String>,
    smoke: bool,
}

impl Config {
    /// `cargo bench` passes `--bench`; anything else (e.g. `cargo test --benches`) is a smoke run.
    fn from_env_and_args() -> Self {
        let smoke = !std::env::args().any(|a| a == "--bench");
        let (stream_mib, statement_kib, txn, big_mib) = if smoke {
            (4, 64, 16, 2)
        } else {
            (1024, 1024, 256, 200)
        };
        let modes = std::env::var("REPLAYGATE_BENCH_MODES")
            .unwrap_or_else(|_| "sync,pipelined".to_string());
        Config {
            stream_bytes: env_or("REPLAYGATE_BENCH_STREAM_MB", stream_mib) as u64 * MIB,
            statement_bytes: env_or("REPLAYGATE_BENCH_STATEMENT_KB", statement_kib) * 1024,
            txn_statements: env_or("REPLAYGATE_BENCH_TXN_STATEMENTS", txn).max(1),
            big_bytes: env_or("REPLAYGATE_BENCH_BIG_MB", big_mib) * MIB as usize,
            modes: modes.split(',').map(|m| m.trim().to_string()).collect(),
            smoke,
        }
    }
}

/// What one replay did to replaygate's memory (KiB) and how long it took.
#[derive(Debug)]
struct Sampled {
    stream_bytes: u64,
    seconds: f64,
    rss_at_start: u64,
    /// `VmHWM` once 10% and once 50% of the stream had been written to the client.
    hwm_at_marks: [u64; 2],
    /// The peak: `VmHWM` at the end, or the largest sample if larger (the kernel's RSS
    /// counters are approximate to a few hundred KiB).
    peak: u64,
    /// `VmRSS` once the client has exited (what replaygate keeps after the session).
    rss_at_end: u64,
}

/// One workload in one apply mode.
#[derive(Debug)]
struct Run {
    workload: String,
    mode: String,
    /// The big statement's size (its target is a ratio); `None` for the stream.
    statement_bytes: Option<u64>,
    sampled: Sampled,
}

fn main() {
    let config = Config::from_env_and_args();
    eprintln!("memory bench: {config:?}");
    let started = Instant::now();
    let mut runs = Vec::new();
    for mode in &config.modes {
        runs.push(stream_run(&config, mode));
        runs.push(big_statement_run(&config, mode));
    }
    print_report(&config, &runs, started.elapsed());
}

/// A fresh target (binlog off) and a replaygate in front of it in apply mode `mode`.
fn start(mode: &str) -> (MariaDb, Replaygate) {
    let target = MariaDb::start_with(ServerOptions {
        server_id: 2,
        extra_args: vec!["--skip-log-bin".to_string()],
        ..ServerOptions::default()
    });
    target.sql("CREATE DATABASE mem CHARACTER SET utf8mb4");
    let socket = target.socket_path();
    let proxy = Replaygate::start_with_env(
        socket.to_str().expect("socket path is UTF-8"),
        &["--apply-mode", mode],
        &[("RUST_LOG", "replaygate=info")],
    );
    (target, proxy)
}

/// The VALUES list of one INSERT: rows `(i, 'row i Müller 山田 ...')` up to about `bytes`.
#[derive(Debug)]
struct Values {
    text: String,
    rows: u64,
    id_sum: u64,
    label_bytes: u64,
}

impl Values {
    fn new(bytes: usize) -> Self {
        const PAD: &str =
            "The quick brown fox jumps over the lazy dog; Grüße aus Köln, 東京と大阪.";
        let (mut text, mut id_sum, mut label_bytes) = (String::new(), 0, 0);
        let mut rows = 0;
        while text.len() < bytes {
            rows += 1;
            let label = format!("row {rows} Müller 山田 {PAD}");
            let sep = if rows > 1 { "," } else { "" };
            text.push_str(&format!("{sep}({rows},'{label}')"));
            (id_sum, label_bytes) = (id_sum + rows, label_bytes + label.len() as u64);
        }
        Values {
            text,
            rows,
            id_sum,
            label_bytes,
        }
    }
}

/// At least `stream_bytes` of chunked transactions, then every table checked.
fn stream_run(config: &Config, mode: &str) -> Run {
    let values = Values::new(config.statement_bytes);
    let statements = config.txn_statements;
    let chunk_bytes = (statements * values.text.len()) as u64;
    let chunks = config.stream_bytes.div_ceil(chunk_bytes).max(1) as usize;
    let (target, proxy) = start(mode);
    let name = format!("stream {mode}");
    let sampled = replay(&name, &target, &proxy, &[], |out| {
        for c in 0..chunks {
            let columns = "id INT NOT NULL, label VARCHAR(255) NOT NULL";
            write!(
                out,
                "CREATE TABLE t{c} ({columns}) CHARSET=utf8mb4;\nBEGIN;\n"
            )?;
            for _ in 0..statements {
                writeln!(out, "INSERT INTO t{c} VALUES {};", values.text)?;
            }
            out.write_all(b"COMMIT;\n")?;
        }
        Ok(())
    });
    let checks: String = (0..chunks)
        .map(|c| format!("SELECT COUNT(*), SUM(id), SUM(LENGTH(label)) FROM mem.t{c};"))
        .collect();
    let (n, v) = (statements as u64, &values);
    let expected = format!("{}\t{}\t{}", v.rows * n, v.id_sum * n, v.label_bytes * n);
    let out = target.sql(&checks);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), chunks, "{name}: one result per table: {out}");
    for (chunk, line) in lines.iter().enumerate() {
        assert_eq!(
            *line, expected,
            "{name}: table t{chunk} differs from the stream"
        );
    }
    eprintln!(
        "{name}: verified {chunks} tables of {} rows each",
        v.rows * n
    );
    Run {
        workload: format!(
            "stream: {chunks} transactions x {statements} INSERTs of {:.0} KiB",
            v.text.len() as f64 / 1024.0
        ),
        mode: mode.to_string(),
        statement_bytes: None,
        sampled,
    }
}

/// One INSERT of a `big_bytes` LONGTEXT value, then its LENGTH and MD5 checked.
fn big_statement_run(config: &Config, mode: &str) -> Run {
    let mut text = String::with_capacity(config.big_bytes + 64);
    for i in 0.. {
        if text.len() >= config.big_bytes {
            break;
        }
        text.push_str(&format!("{i:09} Müller 山田 abcdefghijklmnopqrstuvwxyz. "));
    }
    let statement = ["INSERT INTO big VALUES (1, '", &text, "');"];
    let statement_bytes = statement.iter().map(|part| part.len() as u64).sum();
    let (target, proxy) = start(mode);
    target.sql("CREATE TABLE mem.big (id INT PRIMARY KEY, v LONGTEXT NOT NULL) CHARSET=utf8mb4");
    let name = format!("big statement {mode}");
    let client_args = ["--max-allowed-packet=1G"];
    let sampled = replay(&name, &target, &proxy, &client_args, |out| {
        out.write_all(b"BEGIN;\n")?;
        for part in statement {
            out.write_all(part.as_bytes())?;
        }
        out.write_all(b"\nCOMMIT;\n")
    });
    let expected = format!("{}\t{}", text.len(), md5_hex(text.as_bytes()));
    let got = target.sql("SELECT LENGTH(v), MD5(v) FROM mem.big");
    assert_eq!(got.trim_end(), expected, "{name}: the stored value differs");
    eprintln!("{name}: verified LENGTH and MD5 of the value");
    Run {
        workload: format!(
            "one INSERT of a {:.0} MiB value",
            text.len() as f64 / MIB as f64
        ),
        mode: mode.to_string(),
        statement_bytes: Some(statement_bytes),
        sampled,
    }
}

/// `md5sum` of `data`, as lowercase hex.
fn md5_hex(data: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().expect("create a temp file");
    std::fs::write(file.path(), data).expect("write the temp file");
    let out = Command::new("md5sum")
        .arg(file.path())
        .output()
        .expect("run md5sum");
    assert!(out.status.success(), "md5sum failed: {}", out.status);
    let digest = String::from_utf8_lossy(&out.stdout);
    digest.split(' ').next().expect("a digest").to_string()
}

/// A writer that counts what went through it.
struct Counting<'a, W> {
    inner: W,
    written: &'a AtomicU64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Runs the client (one connection, through the proxy, database `mem`) with what `write`
/// produces on stdin, sampling replaygate's memory; panics if the client fails or hangs.
fn replay(
    name: &str,
    target: &MariaDb,
    proxy: &Replaygate,
    client_args: &[&str],
    write: impl Fn(&mut dyn Write) -> io::Result<()> + Sync,
) -> Sampled {
    // A dry run into a sink (which copies nothing) gives the stream's size, for the 10% mark.
    let written = AtomicU64::new(0);
    write(&mut Counting {
        inner: io::sink(),
        written: &written,
    })
    .expect("write to a sink");
    let total = written.swap(0, Ordering::Relaxed);
    let pid = proxy.pid().expect("the proxy runs");
    let mut cmd = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--default-character-set=utf8mb4")
        .args(client_args)
        .database("mem")
        .command();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let rss_at_start = status_kib(pid, "VmRSS");
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn mariadb");
    let (client, stdin) = (child.id(), child.stdin.take().expect("stdin piped"));
    let (mut hwm_at_marks, mut max_rss, mut samples) = ([None; 2], 0, 0u64);
    let output = thread::scope(|scope| {
        let (written, write) = (&written, &write);
        // A broken pipe means the client stopped reading; its exit status says why.
        scope.spawn(move || {
            drop(write(&mut Counting {
                inner: stdin,
                written,
            }))
        });
        let exited = scope.spawn(move || child.wait_with_output().expect("wait for mariadb"));
        while !exited.is_finished() {
            let done = written.load(Ordering::Relaxed);
            for (mark, percent) in hwm_at_marks.iter_mut().zip([10, 50]) {
                if mark.is_none() && done * 100 >= total * percent {
                    *mark = Some(status_kib(pid, "VmHWM"));
                }
            }
            if started.elapsed() >= Duration::from_secs(samples) {
                let rss = status_kib(pid, "VmRSS");
                max_rss = max_rss.max(rss);
                if samples % 10 == 0 {
                    let (done, total, peak) = (done / MIB, total / MIB, status_kib(pid, "VmHWM"));
                    eprintln!(
                        "{name}: {samples}s, {done} of {total} MiB written, replaygate RSS {} (peak {})",
                        mib(rss),
                        mib(peak)
                    );
                }
                samples += 1;
            }
            if started.elapsed() > REPLAY_TIMEOUT {
                send_signal(client, "KILL");
                panic!("{name}: no exit within {REPLAY_TIMEOUT:?}; client killed");
            }
            thread::sleep(Duration::from_millis(20));
        }
        exited.join().expect("client waiter")
    });
    let seconds = started.elapsed().as_secs_f64();
    let errors = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name}: replay failed ({}):\n{errors}",
        output.status
    );
    let sampled = Sampled {
        stream_bytes: total,
        seconds,
        rss_at_start,
        hwm_at_marks: hwm_at_marks.map(|mark| mark.unwrap_or_else(|| status_kib(pid, "VmHWM"))),
        peak: status_kib(pid, "VmHWM").max(max_rss),
        rss_at_end: status_kib(pid, "VmRSS"),
    };
    eprintln!("{name}: done in {seconds:.1}s; {sampled:?}");
    sampled
}

/// A `/proc/PID/status` field in KiB of replaygate, which must still be running.
fn status_kib(pid: u32, field: &str) -> u64 {
    proc_status_kib(pid, field)
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status: replaygate has exited"))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn print_report(config: &Config, runs: &[Run], elapsed: Duration) {
    if config.smoke {
        println!("Smoke run (not a measurement; run `cargo bench --bench memory`).\n");
    }
    println!(
        "| workload | apply mode | stream | time (s) | RSS at start | VmHWM after 10% | after 50% \
         | peak RSS | measure | target | verdict | RSS after exit |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|---:|");
    for Run {
        workload,
        mode,
        statement_bytes,
        sampled: s,
    } in runs
    {
        let peak = s.peak as f64 / 1024.0;
        let (measure, target, met) = match statement_bytes {
            None => {
                let growth = peak - s.hwm_at_marks[0] as f64 / 1024.0;
                let limits = (STREAM_PEAK_LIMIT_MIB, STREAM_GROWTH_LIMIT_MIB);
                (
                    format!("{growth:+.1} MiB after 10%"),
                    format!("< {} MiB, < +{} MiB after 10%", limits.0, limits.1),
                    peak < limits.0 && growth < limits.1,
                )
            }
            Some(bytes) => {
                let ratio = s.peak as f64 * 1024.0 / *bytes as f64;
                let above = (s.peak - s.rss_at_start.min(s.peak)) as f64 * 1024.0 / *bytes as f64;
                (
                    format!("{ratio:.2}x statement ({above:.2}x above start)"),
                    format!("<= {BIG_RATIO_LIMIT}x statement"),
                    ratio <= BIG_RATIO_LIMIT,
                )
            }
        };
        let verdict = if met { "met" } else { "MISSED" };
        let [tenth, half] = s.hwm_at_marks.map(mib);
        println!(
            "| {workload} | {mode} | {:.1} MiB | {:.1} | {} | {tenth} | {half} | {} | {measure} \
             | {target} | {verdict} | {} |",
            s.stream_bytes as f64 / MIB as f64,
            s.seconds,
            mib(s.rss_at_start),
            mib(s.peak),
            mib(s.rss_at_end),
        );
    }
    println!(
        "\n- whole run: {:.0}s on {} CPUs; VmRSS sampled once a second, peak RSS is the larger \
         of the final VmHWM and the largest sample",
        elapsed.as_secs_f64(),
        thread::available_parallelism().map_or(0, usize::from)
    );
}
