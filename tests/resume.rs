//! `--checkpoint`: a replay killed at a random point (the target, the client or replaygate
//! itself, `kill -9`) and rerun from the start of the same stream ends with exactly the data of
//! an uninterrupted replay: nothing doubled, nothing lost, and the last run exits 0.
//!
//! The stream is a real binlog of a private primary: transactions that are not idempotent
//! (every one moves a balance), DDL between them (which commits by itself, before any
//! checkpoint can join it), in GTID mode and, with the GTIDs taken out of the text, by binlog
//! position. The primary's own tables are what an uninterrupted replay leaves behind.
//!
//! A statement that commits by itself cannot carry its checkpoint: the replay stopped between
//! the two (the target killed while it waited to run an ALTER TABLE) is settled on the rerun
//! from the target's binlog: run when it never ran, skipped when the target's crash recovery
//! completed it, and held for the operator when nothing can tell.

mod support;

use std::process::Child;
use std::time::{Duration, Instant};

use support::client::{mariadb_binlog, send_line};
use support::proxy::{Replaygate, start_replay};
use support::server::{MariaDb, ServerOptions};

const CHECKPOINT: &str = "replaygate.checkpoint";

/// A primary that ran `transactions` transactions with DDL among them; its binlog as text.
fn primary_stream(transactions: usize) -> (MariaDb, Vec<u8>) {
    let primary = MariaDb::start();
    let mut script = String::from(
        "CREATE DATABASE app;\n\
         CREATE TABLE app.accounts (id INT PRIMARY KEY, balance INT NOT NULL);\n\
         CREATE TABLE app.moves (id INT PRIMARY KEY, account INT NOT NULL, amount INT NOT NULL);\n",
    );
    for i in 1..=transactions {
        let account = i % 17 + 1;
        script.push_str(&format!(
            "BEGIN;\n\
             INSERT INTO app.accounts VALUES ({account}, 0) ON DUPLICATE KEY UPDATE balance = balance + {i};\n\
             INSERT INTO app.moves (id, account, amount) VALUES ({i}, {account}, {i});\n\
             COMMIT;\n"
        ));
        match i % 150 {
            50 => script.push_str(&format!(
                "ALTER TABLE app.moves ADD COLUMN note{i} INT NOT NULL DEFAULT {i};\n"
            )),
            100 => script.push_str(&format!(
                "CREATE TABLE app.t{i} (id INT PRIMARY KEY);\nINSERT INTO app.t{i} VALUES ({i});\n"
            )),
            _ => {}
        }
        if i % 400 == 0 {
            script.push_str("FLUSH BINARY LOGS;\n");
        }
    }
    primary.run_script(&script);
    let stream = primary.binlog_dump(&[]);
    (primary, stream)
}

/// The stream as a binlog without GTIDs would print it (MySQL without GTIDs, MariaDB before
/// 10.0): the GTID settings taken out, the event headers left.
fn without_gtids(stream: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(stream.to_vec()).unwrap();
    // A GTID event's header becomes the BEGIN query event's header such a binlog has there.
    let kept: Vec<String> = text
        .lines()
        .filter(|l| !(l.contains("SET @@session.gtid_") || l.contains("SET @@session.server_id")))
        .map(|l| match l.split_once("\tGTID ") {
            Some((head, _)) => format!("{head}\tQuery\tthread_id=1\texec_time=0\terror_code=0"),
            None => l.to_owned(),
        })
        .collect();
    let mut out = kept.join("\n").into_bytes();
    out.push(b'\n');
    out
}

/// What a user compares: every table of `app`, row by row.
fn app_data(server: &MariaDb) -> String {
    let out = std::process::Command::new("mariadb-dump")
        .arg("--no-defaults")
        .arg(format!("--socket={}", server.socket_path().display()))
        .args([
            "--user=root",
            "--skip-dump-date",
            "--skip-comments",
            "--order-by-primary",
        ])
        .arg("app")
        .output()
        .expect("run mariadb-dump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A small random generator, seeded from the clock and printed, so a failing run can be named.
struct Dice(u64);

impl Dice {
    fn new() -> Self {
        let seed: u64 = std::env::var("REPLAYGATE_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .subsec_nanos()
                    .into()
            });
        eprintln!("seed {seed} (REPLAYGATE_TEST_SEED={seed} repeats this run)");
        Self(seed | 1)
    }

    /// Somewhere in `range` milliseconds.
    fn millis(&mut self, range: std::ops::Range<u64>) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(range.start + self.0 % (range.end - range.start))
    }
}

/// Waits for the replay; its exit status and stderr.
fn finish(child: Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What gets killed in the middle of a replay.
#[derive(Clone, Copy, Debug)]
enum Victim {
    Target,
    Client,
    Replaygate,
}

/// Replays `stream` into a fresh target, killing `victim` at a random point of each of the
/// first `kills` runs, then reruns it to the end; the data must equal the primary's.
fn killed_and_rerun(stream: &[u8], primary: &MariaDb, victim: Victim, kills: usize) {
    let mut dice = Dice::new();
    let mut target = MariaDb::start_with(ServerOptions {
        server_id: 2,
        ..Default::default()
    });
    let start_proxy = |target: &MariaDb| {
        Replaygate::start(
            target.socket_path().to_str().unwrap(),
            &["--checkpoint", CHECKPOINT],
        )
    };
    let mut proxy = start_proxy(&target);
    // How long an uninterrupted run would take is unknown: kill within the first run's span,
    // which the first attempt measures by not being killed early.
    let mut killed = 0;
    let mut skipped_somewhere = false;
    let mut told_to_rerun = 0;
    for attempt in 0..kills + 6 {
        let started = Instant::now();
        let mut child = start_replay(&target, &proxy, stream);
        if killed < kills {
            let at = dice.millis(150..1500);
            loop {
                if child.try_wait().unwrap().is_some() || started.elapsed() >= at {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            if child.try_wait().unwrap().is_none() {
                killed += 1;
                eprintln!("attempt {attempt}: killing the {victim:?} after {at:?}");
                match victim {
                    Victim::Target => target.kill(),
                    Victim::Client => drop(child.kill()),
                    Victim::Replaygate => proxy.kill(),
                }
            }
        }
        let (ok, stderr) = finish(child);
        skipped_somewhere |= proxy.log().contains("were skipped; the replay goes on");
        if ok {
            assert!(
                killed > 0 || attempt > 0 || kills == 0,
                "never killed: {stderr}"
            );
            break;
        }
        eprintln!("attempt {attempt} failed as expected: {}", stderr.trim());
        match victim {
            Victim::Target => {
                // Killed in the middle of a statement, the ERR says how to go on; killed while
                // the session waited for the client's next one, the connection closes as the
                // server's own would (the client reports 2006/2013).
                told_to_rerun += usize::from(stderr.contains("rerun the same command to resume"));
                target.restart();
            }
            Victim::Client => {}
            Victim::Replaygate => proxy = start_proxy(&target),
        }
        assert!(
            attempt < kills + 5,
            "the replay never completed: {stderr}\n--- replaygate:\n{}",
            proxy
                .log()
                .lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert_eq!(killed, kills, "each kill landed mid-replay");
    if matches!(victim, Victim::Target) {
        assert!(told_to_rerun > 0, "no ERR said to rerun the same command");
    }
    assert!(
        skipped_somewhere,
        "a rerun skipped what the target held:\n{}",
        proxy.log()
    );
    let expected = app_data(primary);
    let got = app_data(&target);
    assert!(
        got == expected,
        "the data differs from an uninterrupted replay's:\n--- target\n{got}\n--- primary\n{expected}"
    );
}

#[test]
fn a_replay_whose_target_is_killed_resumes_where_the_target_stopped() {
    let (primary, stream) = primary_stream(1200);
    killed_and_rerun(&stream, &primary, Victim::Target, 3);
}

#[test]
fn a_replay_whose_client_or_replaygate_is_killed_resumes_without_doubling() {
    let (primary, stream) = primary_stream(1200);
    killed_and_rerun(&stream, &primary, Victim::Client, 2);
    killed_and_rerun(&stream, &primary, Victim::Replaygate, 2);
}

#[test]
fn a_stream_without_gtids_resumes_by_binlog_position() {
    let (primary, stream) = primary_stream(1200);
    let stream = without_gtids(&stream);
    let text = String::from_utf8_lossy(&stream);
    assert!(!text.contains("gtid_seq_no") && !text.contains("\tGTID "));
    killed_and_rerun(&stream, &primary, Victim::Target, 2);
}

#[test]
fn a_finished_replay_rerun_applies_nothing_twice() {
    let (primary, stream) = primary_stream(300);
    let target = MariaDb::start_with(ServerOptions {
        server_id: 2,
        ..Default::default()
    });
    let proxy = Replaygate::start(
        target.socket_path().to_str().unwrap(),
        &["--checkpoint", CHECKPOINT],
    );
    for run in 0..2 {
        let (ok, stderr) = finish(start_replay(&target, &proxy, &stream));
        assert!(ok, "run {run}: {stderr}");
    }
    assert_eq!(app_data(&target), app_data(&primary));
    // The first run skipped nothing, the second everything.
    let log = proxy.log();
    let skipped: Vec<u64> = log
        .lines()
        .filter(|l| l.contains("session closed"))
        .filter_map(|l| {
            l.split("skipped_transactions=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(skipped.len(), 2, "{log}");
    assert_eq!(skipped[0], 0, "{log}");
    assert!(skipped[1] > 300, "{log}");
    // The second run skipped every transaction: the checkpoint names the primary's last GTID.
    let last = primary.sql("SELECT @@gtid_binlog_pos");
    let recorded = target.sql(&format!(
        "SELECT source, gtid FROM {CHECKPOINT} WHERE source LIKE 'domain %'"
    ));
    assert_eq!(recorded.trim(), format!("domain 0\t{}", last.trim()));
    // The last statement that committed by itself was recorded as pending before it was sent,
    // and that record was not binlogged (it would have taken one of the stream's GTIDs).
    let pending = target.sql(&format!(
        "SELECT statement FROM {CHECKPOINT} WHERE source = 'pending'"
    ));
    assert_eq!(pending.trim(), "CREATE TABLE app.t250 (id INT PRIMARY KEY)");
    let binlog = String::from_utf8_lossy(&mariadb_binlog(
        &["--skip-gtid-strict-mode"],
        &target.binlog_files(),
    ))
    .into_owned();
    assert!(binlog.contains("CREATE TABLE app.t250 (id INT PRIMARY KEY)"));
    assert!(
        !binlog.contains("'pending'"),
        "the pending row was binlogged"
    );
}

/// The stream up to the transaction whose text holds `needle` (cut at its GTID event's `# at`
/// line), and that transaction's GTID.
fn cut_before(stream: &[u8], needle: &str) -> (Vec<u8>, String) {
    let text = std::str::from_utf8(stream).unwrap();
    let at = text.find(needle).expect("the statement is in the stream");
    let gtid_line = text[..at].rfind("\tGTID ").unwrap();
    let cut = text[..gtid_line].rfind("# at ").unwrap();
    let gtid = text[gtid_line + 6..].split_whitespace().next().unwrap();
    (text.as_bytes()[..cut].to_vec(), gtid.to_owned())
}

const ALTER: &str = "ALTER TABLE app.moves ADD COLUMN note50 INT NOT NULL DEFAULT 50";

/// A replay through `--checkpoint` that stopped while the target waited to run the stream's
/// first ALTER TABLE (another session held the table), the target killed there and restarted:
/// the checkpoint stops right before the ALTER, which replaygate recorded as pending.
struct StoppedAtTheAlter {
    primary: MariaDb,
    stream: Vec<u8>,
    target: MariaDb,
    proxy: Replaygate,
}

fn stopped_at_the_alter() -> StoppedAtTheAlter {
    let (primary, stream) = primary_stream(120);
    let mut target = MariaDb::start_with(ServerOptions {
        server_id: 2,
        ..Default::default()
    });
    let proxy = Replaygate::start(
        target.socket_path().to_str().unwrap(),
        &["--checkpoint", CHECKPOINT],
    );
    let (before_alter, _) = cut_before(&stream, ALTER);
    let (ok, stderr) = finish(start_replay(&target, &proxy, &before_alter));
    assert!(ok, "{stderr}");
    let mut holder = target.client().spawn();
    send_line(&mut holder, "BEGIN; SELECT COUNT(*) FROM app.moves;");
    let replay = start_replay(&target, &proxy, &stream);
    let waiting = Instant::now();
    while target
        .sql(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE STATE = 'Waiting for table metadata lock' AND INFO LIKE 'ALTER TABLE%'",
        )
        .trim()
        != "1"
    {
        assert!(
            waiting.elapsed() < Duration::from_secs(60),
            "the ALTER never waited for the table:\n{}",
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    target.kill();
    let (ok, _) = finish(replay);
    assert!(!ok, "the replay whose target died exits non-zero");
    drop(holder);
    target.restart();
    let pending = target.sql(&format!(
        "SELECT statement FROM {CHECKPOINT} WHERE source = 'pending'"
    ));
    assert_eq!(
        pending.trim(),
        ALTER,
        "replaygate recorded the ALTER before sending it"
    );
    StoppedAtTheAlter {
        primary,
        stream,
        target,
        proxy,
    }
}

fn moves_columns(target: &MariaDb) -> String {
    target.sql(
        "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS \
         WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'moves'",
    )
}

#[test]
fn a_statement_the_target_never_ran_runs_on_the_rerun() {
    let s = stopped_at_the_alter();
    assert!(!moves_columns(&s.target).contains("note50"));
    let (ok, stderr) = finish(start_replay(&s.target, &s.proxy, &s.stream));
    assert!(ok, "{stderr}\n{}", s.proxy.log());
    assert!(
        s.proxy
            .log()
            .contains("so it was not applied: it runs again"),
        "{}",
        s.proxy.log()
    );
    assert_eq!(app_data(&s.target), app_data(&s.primary));
}

#[test]
fn a_ddl_the_targets_crash_recovery_completed_is_not_run_again() {
    let s = stopped_at_the_alter();
    // What MariaDB's DDL recovery does with an ALTER it finishes at startup: it applies it and
    // binlogs it itself, under the target's own server id, not the stream's GTID.
    s.target.sql(ALTER);
    let (ok, stderr) = finish(start_replay(&s.target, &s.proxy, &s.stream));
    assert!(ok, "the ALTER ran twice? {stderr}\n{}", s.proxy.log());
    assert!(
        s.proxy
            .log()
            .contains("the target's binlog holds it as GTID 0-2-"),
        "{}",
        s.proxy.log()
    );
    assert_eq!(app_data(&s.target), app_data(&s.primary));
    // The checkpoint now holds it: a further rerun applies nothing.
    let (ok, stderr) = finish(start_replay(&s.target, &s.proxy, &s.stream));
    assert!(ok, "{stderr}");
    assert_eq!(app_data(&s.target), app_data(&s.primary));
}

#[test]
fn a_pending_statement_nothing_can_settle_halts_until_the_operator_does() {
    let s = stopped_at_the_alter();
    // Something else wrote to the target: its binlog moved, without the ALTER.
    s.target.sql("CREATE DATABASE unrelated");
    let (ok, stderr) = finish(start_replay(&s.target, &s.proxy, &s.stream));
    assert!(!ok, "the rerun halts before the ALTER");
    assert!(
        stderr.contains("cannot tell whether the target applied this statement"),
        "{stderr}"
    );
    let run_it = "DELETE FROM `replaygate`.`checkpoint` WHERE source = 'pending'";
    assert!(stderr.contains(run_it), "{stderr}");
    assert!(
        stderr.contains("UPDATE `replaygate`.`checkpoint` SET verdict = 'applied'"),
        "{stderr}"
    );
    assert!(
        !moves_columns(&s.target).contains("note50"),
        "nothing forwarded"
    );
    // The operator looks, sees the column missing, and has it run.
    s.target.sql(run_it);
    let (ok, stderr) = finish(start_replay(&s.target, &s.proxy, &s.stream));
    assert!(ok, "{stderr}\n{}", s.proxy.log());
    assert_eq!(app_data(&s.target), app_data(&s.primary));
}
