//! Pacing benchmark (issue 11): whether the static caps deliver the rate they name, measured by
//! a real server's clock over seconds.
//!
//! A private `mariadbd` takes autocommit `INSERT`s from the `mariadb` client through a
//! release-built `replaygate serve` over TCP (as a user would run a capped replay), each row
//! stamped with `NOW(6)` as the server inserts it. The delivered rate is the rows stamped after
//! the first second (where the bytes cap's one-second burst goes) over the time they span. Each
//! cap gets a stream of about 7 seconds at its rate; the same stream with no cap, in the same
//! round, says what the machine could do (a cap above that cannot be reached: reported as
//! machine-bound, not as a miss). Caps: statements 500 / 1000 / 2000 / 5000 per second,
//! transactions (BEGIN, INSERT, COMMIT) 200 / 1000, bytes 100 kB/s and 1 MB/s (~540-byte
//! statements). Target: within 10% of each cap. Median of 3 rounds.
//!
//! Run with `cargo bench --bench pacing` (about 4 minutes). Knobs: `REPLAYGATE_BENCH_ROUNDS`
//! (3), `REPLAYGATE_BENCH_SECONDS` (6). Without `--bench` it does a tiny smoke run.

#[path = "knobs.rs"]
mod knobs;
#[path = "machine.rs"]
#[allow(dead_code)]
mod machine;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use knobs::env_or;
use machine::load_average;
use support::proxy::Replaygate;
use support::server::MariaDb;

const TARGET_WITHIN: f64 = 0.10;

#[derive(Debug)]
struct Config {
    rounds: usize,
    seconds: usize,
    smoke: bool,
}

/// What a cap limits, and how one unit of the stream is written.
#[derive(Debug, Clone, Copy)]
enum Unit {
    Statements,
    Transactions,
    Bytes,
}

impl Unit {
    fn flag(self) -> &'static str {
        match self {
            Unit::Statements => "--max-statements-per-sec",
            Unit::Transactions => "--max-transactions-per-sec",
            Unit::Bytes => "--max-bytes-per-sec",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unit::Statements => "statements/s",
            Unit::Transactions => "transactions/s",
            Unit::Bytes => "bytes/s",
        }
    }

    /// A stream of `rows` rows; and how many units of the cap one row costs.
    fn stream(self, rows: usize) -> (String, f64) {
        let padding = "x".repeat(500);
        let line = |i: usize| match self {
            Unit::Statements => format!("INSERT INTO t (id, v) VALUES ({i}, 'row {i}');\n"),
            Unit::Transactions => {
                format!("BEGIN;\nINSERT INTO t (id, v) VALUES ({i}, 'row {i}');\nCOMMIT;\n")
            }
            Unit::Bytes => format!("INSERT INTO t (id, v) VALUES ({i}, '{padding}');\n"),
        };
        let text: String = (0..rows).map(line).collect();
        let per_row = match self {
            // The cap counts the statement's text: the line without its newline.
            Unit::Bytes => (text.len() - rows) as f64 / rows as f64,
            _ => 1.0,
        };
        (text, per_row)
    }
}

/// Units per second the server saw in a replay through replaygate: after its first second
/// (where a bucket's burst goes) with a cap, over all of it without.
fn delivered(target: &MariaDb, unit: Unit, cap: u32, rows: usize) -> f64 {
    let (stream, per_row) = unit.stream(rows);
    target.sql("TRUNCATE d.t");
    let args = if cap == 0 {
        vec![]
    } else {
        vec![unit.flag().to_owned(), cap.to_string()]
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy = Replaygate::start_with_env(&target.tcp_addr(), &args, &[("RUST_LOG", "warn")]);
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("d")
        .run_with_stdin(stream.as_bytes())
        .assert_success();
    let skip = if cap == 0 { 0 } else { 1 };
    let row = target.sql(&format!(
        "SELECT COUNT(*) - 1, TIMESTAMPDIFF(MICROSECOND, MIN(ts), MAX(ts)) / 1e6 FROM d.t, \
         (SELECT MIN(ts) + INTERVAL {skip} SECOND AS start FROM d.t) s WHERE ts >= s.start"
    ));
    let f: Vec<f64> = row
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    if f.len() < 2 || f[1] <= 0.0 {
        return 0.0;
    }
    f[0] * per_row / f[1]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Row {
    unit: Unit,
    cap: u32,
    rates: Vec<f64>,
    uncapped: Vec<f64>,
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let config = Config {
        rounds: env_or("REPLAYGATE_BENCH_ROUNDS", if smoke { 1 } else { 3 }).max(1),
        seconds: env_or("REPLAYGATE_BENCH_SECONDS", if smoke { 2 } else { 6 }).max(2),
        smoke,
    };
    let started = Instant::now();
    eprintln!("pacing bench: {config:?}, load {}", load_average());
    let target = MariaDb::start();
    target.sql(
        "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(600), \
         ts TIMESTAMP(6) NOT NULL DEFAULT NOW(6))",
    );
    let caps: Vec<(Unit, u32)> = if config.smoke {
        vec![(Unit::Statements, 200), (Unit::Bytes, 50_000)]
    } else {
        vec![
            (Unit::Statements, 500),
            (Unit::Statements, 1000),
            (Unit::Statements, 2000),
            (Unit::Statements, 5000),
            (Unit::Transactions, 200),
            (Unit::Transactions, 1000),
            (Unit::Bytes, 100_000),
            (Unit::Bytes, 1_000_000),
        ]
    };
    let mut rows: Vec<Row> = caps
        .iter()
        .map(|&(unit, cap)| Row {
            unit,
            cap,
            rates: Vec::new(),
            uncapped: Vec::new(),
        })
        .collect();
    for round in 0..config.rounds {
        for row in &mut rows {
            let per_row = row.unit.stream(1).1;
            // One second more than measured: the first is skipped.
            let n = ((f64::from(row.cap) / per_row) * (config.seconds + 1) as f64) as usize;
            let capped = delivered(&target, row.unit, row.cap, n);
            let free = delivered(&target, row.unit, 0, n);
            eprintln!(
                "round {round}: {} cap {}: {capped:.0} delivered, {free:.0} uncapped",
                row.unit.name(),
                row.cap
            );
            row.rates.push(capped);
            row.uncapped.push(free);
        }
    }
    println!("| cap | delivered (median) | of the cap | the same stream uncapped | verdict |");
    println!("|---|---:|---:|---:|---|");
    for row in rows {
        let cap = f64::from(row.cap);
        let rate = median(row.rates);
        let free = median(row.uncapped);
        let ratio = rate / cap;
        let verdict = if (ratio - 1.0).abs() <= TARGET_WITHIN {
            "met".to_owned()
        } else if free < cap * (1.0 + TARGET_WITHIN) {
            format!("machine-bound (uncapped {free:.0} < cap)")
        } else {
            "**missed**".to_owned()
        };
        println!(
            "| {} {} | {rate:.0} | {:.1}% | {free:.0} | {verdict} |",
            row.cap,
            row.unit.name(),
            ratio * 100.0
        );
    }
    println!(
        "\n{} round(s), load at the end {}, {:.0} s in all",
        config.rounds,
        load_average(),
        started.elapsed().as_secs_f64()
    );
}
