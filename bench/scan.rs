//! Scan throughput: MB/s of SQL text through `replaygate scan`'s core (statement reader,
//! event headers, session effects, classification, policy) on one core.
//!
//! Inputs are real dumps and decoded binlogs from the shared corpus (used by path), repeated in
//! memory to a size that takes a measurable time, so the figure is about the scanner and not
//! the disk. Run: `cargo bench --bench scan`. Target (issue 3): at least 100 MB/s.

use std::io::BufReader;
use std::path::Path;
use std::time::Instant;

use replaygate::policy::Policy;
use replaygate::scan::{Scanner, Severity};

const ROUNDS: usize = 5;

fn corpus_file(relative: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `copies` of the input back to back: a long stream of the same shape.
fn repeated(input: &[u8], target_bytes: usize) -> Vec<u8> {
    let copies = target_bytes.div_ceil(input.len()).max(1);
    let mut out = Vec::with_capacity(copies * input.len());
    for _ in 0..copies {
        out.extend_from_slice(input);
        out.push(b'\n');
    }
    out
}

/// Median MB/s of scanning `input` with the shipped policy.
fn scan_rate(input: &[u8]) -> (f64, u64, u64) {
    let policy = Policy::from_config(None).expect("the shipped policy");
    let mut rates = Vec::with_capacity(ROUNDS);
    let (mut statements, mut findings) = (0, 0);
    for _ in 0..ROUNDS {
        let mut scanner = Scanner::new(&policy, Severity::Withhold);
        let started = Instant::now();
        // The CLI reads through a 1 MiB buffer; a bare slice would hand the reader the whole
        // input as one chunk, which no real input does.
        scanner
            .scan(
                "bench",
                BufReader::with_capacity(1 << 20, input),
                |_| {},
                |_| {},
            )
            .expect("scan in memory");
        let seconds = started.elapsed().as_secs_f64();
        rates.push(input.len() as f64 / 1e6 / seconds);
        statements = scanner.summary().statements;
        findings = scanner.summary().findings;
    }
    rates.sort_by(f64::total_cmp);
    (rates[ROUNDS / 2], statements, findings)
}

fn main() {
    let target = std::env::var("REPLAYGATE_BENCH_SCAN_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(200)
        << 20;
    let dump = [
        corpus_file("sakila/percona-sandbox-copy/sakila-data.sql"),
        corpus_file("test_db/sakila-mv-data.sql"),
    ]
    .concat();
    let mut binlogs = Vec::new();
    for file in [
        "decoded/rust_mysql_common/binlogs/corrupt-relay-bin.000624.sql",
        "decoded/rust_mysql_common/binlogs/bug33029-slave-relay-bin.000001.sql",
        "decoded/rust_mysql_common/binlogs/vector.binlog.sql",
    ] {
        binlogs.extend_from_slice(&corpus_file(file));
    }
    println!("| input | size | statements | findings | scan MB/s (median of {ROUNDS}) |");
    println!("|---|---|---|---|---|");
    for (name, input) in [
        ("mysqldump data (sakila)", &dump),
        ("mariadb-binlog text", &binlogs),
    ] {
        let stream = repeated(input, target);
        let (rate, statements, findings) = scan_rate(&stream);
        println!(
            "| {name} | {:.0} MB | {statements} | {findings} | {rate:.0} |",
            stream.len() as f64 / 1e6
        );
    }
}
