//! What the replication benchmarks share (`replica` and `source`, included with `#[path]`):
//! resetting a replica, timing its catch-up, binlog sizes, the SQL of big-binlog workloads.

use std::time::{Duration, Instant};

use super::support::admin::status;
use super::support::process::proc_status_kib;
use super::support::proxy::Replaygate;
use super::support::replication::{Positioning, checksums, replicate};
use super::support::server::{MariaDb, ServerOptions};

const MIB: u64 = 1024 * 1024;

/// A catch-up taking longer than this is a hang, not a measurement.
pub const CATCH_UP_TIMEOUT_SECS: u64 = 900;

pub fn binlog_bytes(server: &MariaDb) -> u64 {
    server
        .binlog_files()
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum()
}

pub fn reset(replica: &MariaDb, database: &str) {
    replica.sql(&format!(
        "STOP SLAVE; RESET SLAVE ALL; DROP DATABASE IF EXISTS {database}; RESET MASTER; \
         SET GLOBAL gtid_slave_pos = ''"
    ));
}

/// Starts replicating from 127.0.0.1:`port` and waits until `gtid` is applied; seconds taken.
pub fn timed_catch_up(replica: &MariaDb, port: u16, gtid: &str) -> f64 {
    let started = Instant::now();
    replicate(replica, port, &Positioning::SlavePos);
    let reached = replica.sql(&format!(
        "SELECT MASTER_GTID_WAIT('{gtid}', {CATCH_UP_TIMEOUT_SECS})"
    ));
    assert_eq!(reached.trim(), "0", "the replica never reached {gtid}");
    started.elapsed().as_secs_f64()
}

/// SQL that logs `transactions` autocommit INSERTs of small utf8 rows into `d.t`.
pub fn insert_script(transactions: usize) -> Vec<u8> {
    let mut script = String::from(
        "CREATE DATABASE d; USE d;\n\
         CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(64)) DEFAULT CHARSET = utf8mb4;\n",
    );
    for i in 0..transactions {
        script.push_str(&format!("INSERT INTO t VALUES ({i}, 'Müller-{i} 山田');\n"));
    }
    script.into_bytes()
}

/// SQL that logs about `mib` MiB of 1 MiB autocommit transactions.
pub fn small_transactions(mib: usize) -> Vec<u8> {
    let mut script = String::from(
        "CREATE DATABASE m; USE m; CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB);\n",
    );
    for i in 0..mib {
        script.push_str(&format!(
            "INSERT INTO t VALUES ({i}, REPEAT(CHAR(65 + {i} % 26), 1048576));\n"
        ));
    }
    script.into_bytes()
}

/// SQL that logs `count` transactions of `mib` 1 MiB rows each.
pub fn big_transactions(count: usize, mib: usize) -> Vec<u8> {
    let mut script = String::from(
        "CREATE DATABASE m; USE m; CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB);\n",
    );
    for j in 0..count {
        script.push_str("BEGIN;\n");
        for k in 0..mib {
            let id = j * 1_000_000 + k;
            script.push_str(&format!(
                "INSERT INTO t VALUES ({id}, REPEAT('z', 1048576));\n"
            ));
        }
        script.push_str("COMMIT;\n");
    }
    script.into_bytes()
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// replaygate's memory while a fresh replica catches up `primary`'s binlog through it.
#[derive(Debug)]
pub struct Memory {
    pub name: &'static str,
    pub binlog_bytes: u64,
    pub seconds: f64,
    pub rss_at_start: u64,
    pub hwm_at_ten_percent: u64,
    pub peak: u64,
}

/// A fresh replica catches up `primary` (whose binlog `replaygate` serves: in front of it, or
/// as `source` of its files) while replaygate's RSS is sampled every 100 ms, with `VmHWM` once
/// a tenth of the binlog was sent; checks the replica's data against the primary's.
pub fn sampled_catch_up(
    name: &'static str,
    primary: &MariaDb,
    replaygate: &Replaygate,
    admin: u16,
    positioning: &Positioning,
) -> Memory {
    let gtid = primary.sql("SELECT @@gtid_binlog_pos").trim().to_owned();
    let total = binlog_bytes(primary);
    let pid = replaygate.pid().expect("replaygate runs");
    let replica = MariaDb::start_with(ServerOptions {
        server_id: 2,
        ..ServerOptions::default()
    });
    let rss_at_start = proc_status_kib(pid, "VmRSS").unwrap_or(0);
    let started = Instant::now();
    replicate(&replica, replaygate.port(), positioning);
    let (mut hwm_at_ten_percent, mut peak, mut last_note) = (None, 0, Instant::now());
    loop {
        let report = status(admin);
        let sent = report["replicas"][0]["bytes_sent"].as_u64().unwrap_or(0);
        peak = peak.max(proc_status_kib(pid, "VmRSS").unwrap_or(0));
        if hwm_at_ten_percent.is_none() && sent * 10 >= total {
            hwm_at_ten_percent = proc_status_kib(pid, "VmHWM");
        }
        if last_note.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "{name}: {} of {} MiB sent, replaygate RSS peak so far {:.1} MiB",
                sent / MIB,
                total / MIB,
                peak as f64 / 1024.0
            );
            last_note = Instant::now();
        }
        if report["replicas"][0]["gtid"].as_str() == Some(gtid.as_str()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(CATCH_UP_TIMEOUT_SECS),
            "{name}: no catch-up within {CATCH_UP_TIMEOUT_SECS} s: {report}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let reached = replica.sql(&format!("SELECT MASTER_GTID_WAIT('{gtid}', 600)"));
    assert_eq!(reached.trim(), "0");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(checksums(&replica, "m"), checksums(primary, "m"), "{name}");
    let peak = peak.max(proc_status_kib(pid, "VmHWM").unwrap_or(0));
    Memory {
        name,
        binlog_bytes: total,
        seconds,
        rss_at_start,
        hwm_at_ten_percent: hwm_at_ten_percent.unwrap_or(peak),
        peak,
    }
}
