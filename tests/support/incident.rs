//! The day of the incident, on a live production server: schema and data, application
//! traffic, a `mariadb-dump` of production run against it mid-day from a connection of its own
//! (the restore script: `SET FOREIGN_KEY_CHECKS=0; DROP TABLE IF EXISTS ...; CREATE TABLE ...;
//! INSERT ...`), then more traffic. A twin server gets the same traffic without the restore.
//! The SQL-path guard, replicas behind `serve` and `replaygate source` are all tested on it.

use std::path::PathBuf;
use std::process::Command;

use super::server::MariaDb;

pub const SCHEMA: &str = "CREATE DATABASE shop; USE shop;
CREATE TABLE customers (name VARCHAR(64) PRIMARY KEY, city VARCHAR(64)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE orders (id INT PRIMARY KEY, customer VARCHAR(64) NOT NULL, total DECIMAL(10,2),
  FOREIGN KEY (customer) REFERENCES customers(name)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO customers VALUES ('Müller', 'Köln'), ('山田', '東京'), ('Ольга', 'Москва');
INSERT INTO orders VALUES (1, 'Müller', 10.00), (2, '山田', 20.00);";

/// Application traffic before the restore script: changes the dump does not have.
pub const TRAFFIC_BEFORE: &str = "INSERT INTO customers VALUES ('Žižek', 'Ljubljana');
INSERT INTO orders VALUES (3, 'Žižek', 30.00);
UPDATE orders SET total = total + 1 WHERE id = 1;";

/// Application traffic after it: touches only rows the restore does not conflict with, so the
/// twin (which never saw the restore) ends in the same state as a correct replay.
pub const TRAFFIC_AFTER: &str = "INSERT INTO customers VALUES ('Party 🎉', 'Berlin');
INSERT INTO orders VALUES (4, 'Party 🎉', 40.00);
UPDATE orders SET total = total * 2 WHERE id = 2;";

/// Runs `script` in `shop` with a client of its own; returns its output.
pub fn run_script(server: &MariaDb, script: &str) -> String {
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
pub fn tables(server: &MariaDb) -> String {
    server.sql(
        "SELECT 'customers', GROUP_CONCAT(HEX(name), ':', HEX(city) ORDER BY name SEPARATOR ',') FROM shop.customers \
         UNION ALL SELECT 'orders', GROUP_CONCAT(id, ':', HEX(customer), ':', total ORDER BY id SEPARATOR ',') FROM shop.orders",
    )
}

/// What the day left behind.
pub struct Incident {
    /// The dump taken of production before the day's traffic (and replayed as the script).
    pub dump: Vec<u8>,
    /// The dump's binlog coordinates (`--master-data`): file and position.
    pub file: String,
    pub position: u64,
    /// `SET GLOBAL gtid_slave_pos='...'` from the dump (`--gtid`).
    pub gtid: String,
    /// Copies of production's binlog files from the dump's coordinates on (the saved binlogs
    /// of a recovery: they outlive the production server).
    pub binlogs: Vec<PathBuf>,
    saved: tempfile::TempDir,
    /// Production's tables right before the restore script ran.
    pub before_restore: String,
    /// The twin's tables at the end: what a correct recovery gives.
    pub twin: String,
    /// The restore script's connection id: the origin thread of its events.
    pub restore_thread: u64,
    /// The second the restore script started in (UTC seconds since the epoch): every event
    /// before it is older.
    pub restore_time: u64,
}

/// Plays the day on `production` (and the traffic alone on `twin`).
pub fn stage(production: &MariaDb, twin: &MariaDb) -> Incident {
    for server in [production, twin] {
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
            "--gtid",
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
    let (file, position, gtid) = dump_coordinates(&dump);

    run_script(production, TRAFFIC_BEFORE);
    let before_restore = tables(production);
    // Start the script in a second of its own, so a stop time can fall between the two.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(std::time::Duration::from_nanos(
        1_000_000_000 - u64::from(now.subsec_nanos()),
    ));
    let restore_time = now.as_secs() + 1;
    // The restore script, from its own connection (its thread id is the origin to find).
    let mut script = b"SELECT CONNECTION_ID();\n".to_vec();
    script.extend_from_slice(&dump);
    let restore_thread: u64 =
        run_script(production, &String::from_utf8(script).expect("utf8 dump"))
            .trim()
            .parse()
            .expect("connection id");
    run_script(production, TRAFFIC_AFTER);

    run_script(twin, TRAFFIC_BEFORE);
    run_script(twin, TRAFFIC_AFTER);

    let saved = tempfile::tempdir().expect("create a directory for the saved binlogs");
    let binlogs: Vec<_> = production
        .binlog_files()
        .into_iter()
        .skip_while(|f| !f.ends_with(&file))
        .map(|f| {
            let copy = saved
                .path()
                .join(f.file_name().expect("a binlog file name"));
            std::fs::copy(&f, &copy).expect("save a binlog file");
            copy
        })
        .collect();
    assert!(
        !binlogs.is_empty(),
        "binlog {file} of the dump's coordinates"
    );
    Incident {
        dump,
        file,
        position,
        gtid,
        binlogs,
        saved,
        before_restore,
        twin: tables(twin),
        restore_thread,
        restore_time,
    }
}

impl Incident {
    /// mariadb-binlog text from the dump's coordinates to the end.
    pub fn binlog_text(&self) -> Vec<u8> {
        super::client::mariadb_binlog(
            &[&format!("--start-position={}", self.position)],
            &self.binlogs,
        )
    }
}

/// `-- CHANGE MASTER TO MASTER_LOG_FILE='binlog.000001', MASTER_LOG_POS=1234;` and
/// `-- SET GLOBAL gtid_slave_pos='0-1-5';`
fn dump_coordinates(dump: &[u8]) -> (String, u64, String) {
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
    let gtid = text
        .lines()
        .find(|l| l.contains("gtid_slave_pos"))
        .and_then(|l| l.split('\'').nth(1))
        .expect("--gtid writes the GTID position")
        .to_owned();
    (file, position, gtid)
}

/// A fresh server with the dump restored, as the recovery starts.
pub fn restored(dump: &[u8]) -> MariaDb {
    restored_as(dump, 1)
}

/// [`restored`] with its own server id (a server that replicates the saved binlogs must not
/// have the id of the server that wrote them).
pub fn restored_as(dump: &[u8], server_id: u32) -> MariaDb {
    let server = MariaDb::start_with(super::server::ServerOptions {
        server_id,
        ..super::server::ServerOptions::default()
    });
    server.sql("CREATE DATABASE shop");
    server
        .client()
        .database("shop")
        .run_with_stdin(dump)
        .assert_success();
    server
}

/// The `# at` position and the GTID of the first DROP TABLE in mariadb-binlog text.
pub fn first_drop(binlog_text: &[u8]) -> (u64, String) {
    let text = String::from_utf8_lossy(binlog_text);
    let mut gtid = String::new();
    for event in text.split("\n# at ").skip(1) {
        let header = event.lines().nth(1).unwrap_or_default();
        if let Some(g) = header.split("GTID ").nth(1) {
            gtid = g.split_whitespace().next().unwrap_or_default().to_owned();
        }
        if event.contains("DROP TABLE IF EXISTS") {
            let position = event.lines().next().unwrap().trim().parse().unwrap();
            return (position, gtid);
        }
    }
    panic!("no DROP TABLE in the binlog");
}
