//! With nothing destructive, a replica behind replaygate ends identical to its primary
//! (`CHECKSUM TABLE`): row and statement events, every byte value, utf8mb4, a 20 MiB row (an
//! event spanning packets), a 30,000-row transaction, LOAD DATA, temporary tables, the replica
//! stopped and restarted mid-stream — by GTID and by file and position, with CRC32 checksums
//! and with none.

mod support;

use std::time::Duration;

use support::proxy::Replaygate;
use support::replication::{Positioning, caught_up, checksums, replicate, slave_status};
use support::server::{MariaDb, ServerOptions};

const WAIT: Duration = Duration::from_secs(120);

/// The first part of the day: every kind of event, in both formats.
fn part_one(primary: &MariaDb, data_file: &std::path::Path) {
    let sql = format!(
        "CREATE DATABASE fid; USE fid;
CREATE TABLE bytes (id INT PRIMARY KEY, b VARBINARY(255), blob_col BLOB) ENGINE=InnoDB;
SET SESSION binlog_format = 'ROW';
INSERT INTO bytes SELECT seq, CHAR(seq), UNHEX(REPEAT(LPAD(HEX(seq), 2, '0'), 300)) FROM seq_0_to_255;
SET SESSION binlog_format = 'STATEMENT';
INSERT INTO bytes VALUES (1000, 0x00FF0A0D5C27225C30, 0x0001027F80FEFF);
CREATE TABLE texts (id INT PRIMARY KEY, t VARCHAR(100)) DEFAULT CHARSET = utf8mb4;
INSERT INTO texts VALUES (1, 'Müller 山田 Ольга 🎉 𝄞'), (2, '');
SET SESSION binlog_format = 'ROW';
INSERT INTO texts VALUES (3, 'Žižek 🎉🎉 東京'), (4, NULL);
CREATE TABLE big (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB;
INSERT INTO big VALUES (1, REPEAT('x', 20 * 1024 * 1024));
UPDATE big SET b = CONCAT(b, 'y') WHERE id = 1;
CREATE TABLE many (id INT PRIMARY KEY, v VARCHAR(40)) ENGINE=InnoDB;
BEGIN; INSERT INTO many SELECT seq, MD5(seq) FROM seq_1_to_30000; COMMIT;
SET SESSION binlog_format = 'STATEMENT';
CREATE TABLE loaded (id INT PRIMARY KEY, name VARCHAR(40)) DEFAULT CHARSET = utf8mb4;
LOAD DATA LOCAL INFILE '{file}' INTO TABLE loaded CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',';
SET SESSION binlog_format = 'ROW';
LOAD DATA LOCAL INFILE '{file}' REPLACE INTO TABLE loaded CHARACTER SET utf8mb4 FIELDS TERMINATED BY ',' (@id, name) SET id = @id + 1000;
SET SESSION binlog_format = 'STATEMENT';
CREATE TEMPORARY TABLE scratch (id INT, v VARCHAR(40));
INSERT INTO scratch SELECT id, CONCAT('t', v) FROM many WHERE id <= 100;
CREATE TABLE from_temp (id INT PRIMARY KEY, v VARCHAR(41));
INSERT INTO from_temp SELECT * FROM scratch;
DROP TEMPORARY TABLE scratch;",
        file = data_file.display()
    );
    primary
        .client()
        .args(["--local-infile=1", "--default-character-set=utf8mb4"])
        .run_sql(&sql)
        .assert_success();
}

/// The second part, while the replicas are stopped.
fn part_two(primary: &MariaDb) {
    primary
        .client()
        .arg("--default-character-set=utf8mb4")
        .run_sql(
            "USE fid; UPDATE many SET v = CONCAT(v, '!') WHERE id % 7 = 0;
             DELETE FROM many WHERE id > 29000;
             INSERT INTO texts VALUES (5, 'after the restart ✓');",
        )
        .assert_success();
}

fn replica_through(proxy: &Replaygate, server_id: u32, positioning: &Positioning) -> MariaDb {
    let replica = MariaDb::start_with(ServerOptions {
        server_id,
        ..ServerOptions::default()
    });
    replicate(&replica, proxy.port(), positioning);
    replica
}

fn replicas_equal_the_primary(checksum: &str) {
    let primary = MariaDb::start_with(ServerOptions {
        extra_args: vec![format!("--binlog-checksum={checksum}")],
        ..ServerOptions::default()
    });
    let proxy = Replaygate::start(&primary.tcp_addr(), &[]);
    let by_gtid = replica_through(&proxy, 2, &Positioning::SlavePos);
    let by_file = replica_through(
        &proxy,
        3,
        &Positioning::File {
            file: "binlog.000001".into(),
            position: 4,
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("names.csv");
    std::fs::write(&data, "1,Anna\n2,Đorđe\n3,María José\n4,李雷\n").unwrap();

    part_one(&primary, &data);
    for replica in [&by_gtid, &by_file] {
        caught_up(replica, &primary, WAIT);
        replica.sql("STOP SLAVE");
    }
    part_two(&primary);
    primary.flush_binlogs();
    primary.sql("INSERT INTO fid.texts VALUES (6, 'in the next binlog file')");
    for replica in [&by_gtid, &by_file] {
        replica.sql("START SLAVE");
        caught_up(replica, &primary, WAIT);
    }

    let expected = checksums(&primary, "fid");
    assert_eq!(expected.lines().count(), 6, "{expected}");
    for (name, replica) in [("by GTID", &by_gtid), ("by file and position", &by_file)] {
        assert_eq!(checksums(replica, "fid"), expected, "{checksum}, {name}");
        let status = slave_status(replica);
        assert_eq!(status["Slave_IO_Running"], "Yes", "{status:#?}");
        assert_eq!(status["Slave_SQL_Running"], "Yes", "{status:#?}");
        assert_eq!(status["Master_Log_File"], "binlog.000002", "{status:#?}");
    }
    assert_eq!(
        by_gtid
            .sql("SELECT COUNT(*), SUM(LENGTH(b)) FROM fid.bytes")
            .trim(),
        primary
            .sql("SELECT COUNT(*), SUM(LENGTH(b)) FROM fid.bytes")
            .trim()
    );
    assert_eq!(
        by_file.sql("SELECT LENGTH(b) FROM fid.big").trim(),
        (20 * 1024 * 1024 + 1).to_string()
    );
}

#[test]
fn replicas_behind_replaygate_equal_their_primary_with_crc32_checksums() {
    replicas_equal_the_primary("CRC32");
}

#[test]
fn replicas_behind_replaygate_equal_their_primary_without_checksums() {
    replicas_equal_the_primary("NONE");
}
