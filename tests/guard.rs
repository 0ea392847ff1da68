//! The guard end to end, on the incident itself: a restore script run against production
//! mid-day (`SET foreign_key_checks=0; DROP TABLE ...; CREATE TABLE ...; INSERT ...`) sits in the
//! binlog that must be rolled forward.
//!
//! Production gets a full dump (with its binlog coordinates), application traffic, the dump
//! replayed against the live database from another connection, then more traffic. A twin server
//! gets the same traffic without the restore script. Then the dump is restored into a fresh
//! server and the binlog from the dump's coordinates is piped through replaygate:
//! (a) the default policy stops the client at the first DROP TABLE, the tables equal production
//!     just before the restore script ran;
//! (b) `--on-destructive quarantine-origin` with `mariadb --comments` runs to the end and the
//!     tables equal the twin; the journal holds the restore script;
//! (c) `scan` names every DROP TABLE of the binlog with its position and thread id.

mod support;

use std::process::Command;

use support::client::mariadb_binlog;
use support::proxy::Replaygate;
use support::server::{MariaDb, ServerOptions};

const SCHEMA: &str = "CREATE DATABASE shop; USE shop;
CREATE TABLE customers (name VARCHAR(64) PRIMARY KEY, city VARCHAR(64)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(64) NOT NULL, total DECIMAL(10,2),
  FOREIGN KEY (customer) REFERENCES customers(name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO customers VALUES ('Müller', 'Köln'), ('山田', '東京'), ('Ольга', 'Москва');
INSERT INTO orders VALUES (1, 'Müller', 10.00), (2, '山田', 20.00);";

/// Application traffic before the restore script: changes the dump does not have.
const TRAFFIC_BEFORE: &str = "INSERT INTO customers VALUES ('Žižek', 'Ljubljana');
INSERT INTO orders VALUES (3, 'Žižek', 30.00);
UPDATE orders SET total = total + 1 WHERE id = 1;";

/// Application traffic after it: touches only rows the restore does not conflict with, so the
/// twin (which never saw the restore) ends in the same state as a correct replay.
const TRAFFIC_AFTER: &str = "INSERT INTO customers VALUES ('Party 🎉', 'Berlin');
INSERT INTO orders VALUES (4, 'Party 🎉', 40.00);
UPDATE orders SET total = total * 2 WHERE id = 2;";

fn statement_server() -> MariaDb {
    MariaDb::start_with(ServerOptions {
        binlog_format: "STATEMENT",
        ..ServerOptions::default()
    })
}

fn run_script(server: &MariaDb, script: &str) -> String {
    let out = server
        .client()
        .database("shop")
        .arg("--default-character-set=utf8mb4")
        .arg("--skip-column-names")
        .run_with_stdin(script.as_bytes())
        .assert_success();
    out.stdout_str()
}

/// Every row of both tables, as hex, in key order.
fn tables(server: &MariaDb) -> String {
    server.sql(
        "SELECT 'customers', GROUP_CONCAT(HEX(name), ':', HEX(city) ORDER BY name SEPARATOR ',') FROM shop.customers \
         UNION ALL SELECT 'orders', GROUP_CONCAT(id, ':', HEX(customer), ':', total ORDER BY id SEPARATOR ',') FROM shop.orders",
    )
}

struct Incident {
    dump: Vec<u8>,
    /// mariadb-binlog text from the dump's coordinates to the end.
    binlog: Vec<u8>,
    before_restore: String,
    twin: String,
    restore_thread: u64,
}

fn stage_the_incident() -> Incident {
    let production = statement_server();
    let twin = statement_server();
    for server in [&production, &twin] {
        server
            .client()
            .arg("--default-character-set=utf8mb4")
            .run_with_stdin(SCHEMA.as_bytes())
            .assert_success();
    }
    let dump_out = Command::new("mariadb-dump")
        .arg("--no-defaults")
        .arg(format!("--socket={}", production.socket_path().display()))
        .args([
            "-uroot",
            "--single-transaction",
            "--master-data=2",
            "--default-character-set=utf8mb4",
            "shop",
        ])
        .output()
        .expect("run mariadb-dump");
    assert!(
        dump_out.status.success(),
        "{}",
        String::from_utf8_lossy(&dump_out.stderr)
    );
    let dump = dump_out.stdout;
    let (file, position) = dump_coordinates(&dump);

    run_script(&production, TRAFFIC_BEFORE);
    let before_restore = tables(&production);
    // The restore script, from its own connection (its thread id is the origin to find).
    let mut script = b"SELECT CONNECTION_ID();\n".to_vec();
    script.extend_from_slice(&dump);
    let restore_thread: u64 =
        run_script(&production, &String::from_utf8(script).expect("utf8 dump"))
            .trim()
            .parse()
            .expect("connection id");
    run_script(&production, TRAFFIC_AFTER);

    run_script(&twin, TRAFFIC_BEFORE);
    run_script(&twin, TRAFFIC_AFTER);

    let files: Vec<_> = production
        .binlog_files()
        .into_iter()
        .skip_while(|f| !f.ends_with(&file))
        .collect();
    assert!(!files.is_empty(), "binlog {file} of the dump's coordinates");
    let binlog = mariadb_binlog(&[&format!("--start-position={position}")], &files);
    Incident {
        dump,
        binlog,
        before_restore,
        twin: tables(&twin),
        restore_thread,
    }
}

/// `-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=1234;`
fn dump_coordinates(dump: &[u8]) -> (String, u64) {
    let text = String::from_utf8_lossy(dump);
    let line = text
        .lines()
        .find(|l| l.contains("MASTER_LOG_FILE="))
        .expect("--master-data=2 writes the coordinates");
    let file = line.split('\'').nth(1).expect("log file").to_owned();
    let position = line
        .split("MASTER_LOG_POS=")
        .nth(1)
        .and_then(|p| p.trim_end_matches(';').trim().parse().ok())
        .expect("log position");
    (file, position)
}

/// A fresh server with the dump restored, as the recovery starts.
fn restored(dump: &[u8]) -> MariaDb {
    let server = MariaDb::start();
    server.sql("CREATE DATABASE shop");
    server
        .client()
        .database("shop")
        .run_with_stdin(dump)
        .assert_success();
    server
}

#[test]
fn the_incident_halt_quarantine_origin_and_scan() {
    let incident = stage_the_incident();
    assert_ne!(
        incident.before_restore, incident.twin,
        "the traffic after the restore changed things"
    );

    // (a) Default policy: the client stops at the first DROP TABLE of the restore script.
    let target = restored(&incident.dump);
    let proxy = Replaygate::start(target.socket_path().to_str().unwrap(), &[]);
    let out = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .run_with_stdin(&incident.binlog)
        .assert_failure();
    assert!(
        out.stderr.contains("replaygate: halted before drop_table"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("destructive-ddl-without-fk-checks"),
        "{}",
        out.stderr
    );
    assert_eq!(
        tables(&target),
        incident.before_restore,
        "the target stops right before the restore script"
    );
    // `mariadb --force` cannot skip past it: the halt is sticky for the session.
    let target = restored(&incident.dump);
    let proxy = Replaygate::start(target.socket_path().to_str().unwrap(), &[]);
    let forced = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--force")
        .run_with_stdin(&incident.binlog);
    assert!(
        forced
            .stderr
            .contains("replaygate: halted before drop_table"),
        "{}",
        forced.stderr
    );
    assert!(
        forced.stderr.contains("this session halted"),
        "{}",
        forced.stderr
    );
    assert_eq!(tables(&target), incident.before_restore);
    drop(proxy);

    // (b) quarantine-origin with --comments: the replay runs to the end, without the script.
    let target = restored(&incident.dump);
    let journal = tempfile::tempdir().unwrap();
    let journal_dir = journal.path().to_str().unwrap();
    let proxy = Replaygate::start(
        target.socket_path().to_str().unwrap(),
        &[
            "--on-destructive",
            "quarantine-origin",
            "--journal-dir",
            journal_dir,
        ],
    );
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--comments")
        .run_with_stdin(&incident.binlog)
        .assert_success();
    assert_eq!(
        tables(&target),
        incident.twin,
        "the replay equals the twin that never saw the restore"
    );
    let list = replaygate(&["journal", "list", "--journal-dir", journal_dir]);
    assert!(list.contains("drop_table"), "{list}");
    assert!(
        list.contains("create_table"),
        "the rest of the script is journaled too: {list}"
    );
    assert!(
        list.contains(&format!("thread={}", incident.restore_thread)),
        "{list}"
    );
    // Without --comments, quarantine-origin cannot know origins and must not guess.
    let target2 = restored(&incident.dump);
    let journal2 = tempfile::tempdir().unwrap();
    let proxy2 = Replaygate::start(
        target2.socket_path().to_str().unwrap(),
        &[
            "--on-destructive",
            "quarantine-origin",
            "--journal-dir",
            journal2.path().to_str().unwrap(),
        ],
    );
    let out = target2
        .client()
        .host_port("127.0.0.1", proxy2.port())
        .run_with_stdin(&incident.binlog)
        .assert_failure();
    assert!(out.stderr.contains("mariadb --comments"), "{}", out.stderr);

    // (c) scan names every DROP TABLE with its position and thread.
    let dir = tempfile::tempdir().unwrap();
    let binlog_text = dir.path().join("replay.sql");
    std::fs::write(&binlog_text, &incident.binlog).unwrap();
    let scan = Command::new(env!("CARGO_BIN_EXE_replaygate"))
        .args(["scan", "--format", "json", binlog_text.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(
        scan.status.code(),
        Some(1),
        "findings exit 1: {}",
        String::from_utf8_lossy(&scan.stderr)
    );
    let drops: Vec<serde_json::Value> = String::from_utf8_lossy(&scan.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .filter(|f: &serde_json::Value| f["kind"] == "drop_table")
        .collect();
    let text = String::from_utf8_lossy(&incident.binlog);
    let expected: Vec<u64> = text
        .split("# at ")
        .filter(|event| event.contains("DROP TABLE IF EXISTS"))
        .map(|event| event.lines().next().unwrap().trim().parse().unwrap())
        .collect();
    assert_eq!(expected.len(), 2, "the script drops two tables");
    let positions: Vec<u64> = drops
        .iter()
        .map(|f| f["position"].as_u64().unwrap())
        .collect();
    assert_eq!(positions, expected);
    for finding in &drops {
        assert_eq!(
            finding["thread_id"].as_u64(),
            Some(incident.restore_thread),
            "{finding}"
        );
        assert_eq!(finding["action"], "halt");
        assert_eq!(finding["database"], "shop");
    }
}

fn replaygate(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_replaygate"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
