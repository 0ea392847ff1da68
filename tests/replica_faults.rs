//! Bad input on a replication stream: an event whose checksum does not match halts with a
//! clear message and never reaches the replica; the primary going away makes the replica
//! reconnect through replaygate and go on (by `current_pos`, the third way to position).

mod support;

use std::time::Duration;

use support::proxy::Replaygate;
use support::replication::{Positioning, caught_up, replicate, slave_status, wait_for_slave};
use support::server::{MariaDb, ServerOptions};

const WAIT: Duration = Duration::from_secs(90);

fn replica(server_id: u32) -> MariaDb {
    MariaDb::start_with(ServerOptions {
        server_id,
        ..ServerOptions::default()
    })
}

#[test]
fn an_event_with_a_wrong_checksum_halts_and_never_reaches_the_replica() {
    let primary = MariaDb::start();
    primary.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(40))");
    let proxy = Replaygate::start(&primary.tcp_addr(), &[]);
    let replica = replica(2);
    replicate(&replica, proxy.port(), &Positioning::SlavePos);
    caught_up(&replica, &primary, WAIT);
    replica.sql("STOP SLAVE");

    primary.sql("INSERT INTO d.t VALUES (1, 'flip-a-bit-of-me')");
    // Damage the event on disk: the primary (master_verify_checksum is off by default) sends
    // the bytes as they are, with their old checksum.
    let file = primary.binlog_files().pop().unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes
        .windows(16)
        .position(|w| w == b"flip-a-bit-of-me")
        .expect("the statement is in the binlog");
    bytes[at] = b'F';
    std::fs::write(&file, &bytes).unwrap();
    primary.sql("INSERT INTO d.t VALUES (2, 'after it')");

    replica.sql("START SLAVE");
    let halted = wait_for_slave(&replica, "named replaygate", WAIT, |s| {
        s["Last_IO_Error"].contains("replaygate halted replication")
    });
    assert!(
        halted["Last_IO_Error"].contains("event checksum"),
        "{halted:#?}"
    );
    assert!(
        proxy.wait_for_log("checksum mismatch", WAIT),
        "{}",
        proxy.log()
    );
    assert!(
        proxy
            .log()
            .contains("the event was not sent to the replica"),
        "{}",
        proxy.log()
    );
    assert_eq!(
        replica.sql("SELECT COUNT(*) FROM d.t").trim(),
        "0",
        "neither the damaged transaction nor anything after it"
    );
}

#[test]
fn the_replica_reconnects_through_replaygate_when_the_primary_goes_away() {
    let mut primary = MariaDb::start();
    primary.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY)");
    let proxy = Replaygate::start(&primary.tcp_addr(), &[]);
    let replica = replica(2);
    replicate(&replica, proxy.port(), &Positioning::CurrentPos);
    primary.sql("INSERT INTO d.t SELECT seq FROM d.seq_1_to_100");
    caught_up(&replica, &primary, WAIT);

    primary.kill();
    assert!(
        proxy.wait_for_log("lost the connection to the primary", WAIT),
        "{}",
        proxy.log()
    );
    primary.restart();
    primary.sql("INSERT INTO d.t SELECT seq FROM d.seq_101_to_200");
    caught_up(&replica, &primary, WAIT);
    assert_eq!(
        replica.sql("SELECT COUNT(*), SUM(id) FROM d.t").trim(),
        "200\t20100"
    );
    let status = slave_status(&replica);
    assert_eq!(status["Slave_IO_Running"], "Yes", "{status:#?}");
    assert!(
        proxy.log().matches("replica streaming").count() >= 2,
        "it came back through replaygate: {}",
        proxy.log()
    );
}
