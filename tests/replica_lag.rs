//! `signal = "replica_lag"` against real replication: a private primary (the target) and a
//! private replica of it. Lag is made deterministically: a connection of the test's own holds
//! `LOCK TABLES d.t WRITE` on the replica, so its SQL thread blocks on the first event for `d.t`
//! while `Seconds_Behind_Master` grows one second per second. Replication is also stopped and
//! broken, and a replica is unreachable: replaygate must pause (fail-safe), never read an
//! unknown lag as zero, and name the replica and the reason.

mod support;

use std::process::Child;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use support::admin::{start_with_admin, wait_for_adaptive};
use support::client::{close_input, send_line};
use support::process::free_port;
use support::proxy::Replaygate;
use support::server::MariaDb;

/// A primary with `d.t`, and a replica of it that has caught up.
fn primary_and_replica() -> (MariaDb, MariaDb) {
    let primary = MariaDb::start();
    primary.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY)");
    let replica = MariaDb::start_replica_of(&primary, 2);
    assert_eq!(replica.sql("SELECT COUNT(*) FROM d.t").trim(), "0");
    (primary, replica)
}

fn config(replicas: &[String], max_load: u32, critical_load: u32) -> String {
    let list: Vec<String> = replicas.iter().map(|r| format!("{r:?}")).collect();
    format!(
        "[throttle.adaptive]\nuser = \"root\"\nsignal = \"replica_lag\"\nreplicas = [{}]\n\
         max_load = {max_load}\ncritical_load = {critical_load}\ninterval_ms = 200\n",
        list.join(", ")
    )
}

/// A replay client connected through the proxy, fed statement by statement.
fn replay_client(target: &MariaDb, proxy: &Replaygate) -> Child {
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .database("d")
        .spawn()
}

/// Closes the client's input and checks it replayed everything without an error.
fn finish(client: Child) {
    close_input(client).assert_success();
}

fn count(db: &MariaDb) -> String {
    db.sql("SELECT COUNT(*) FROM d.t").trim().to_owned()
}

/// Sends `sql` while the replay is paused and checks it is held: it reached replaygate (its
/// debug log line) and is not on the target. Nothing can lift the pause meanwhile, so this is
/// not a race.
fn send_while_paused(client: &mut Child, proxy: &Replaygate, target: &MariaDb, sql: &str) {
    let before = count(target);
    send_line(client, sql);
    assert!(
        proxy.wait_for_log(sql.trim_end_matches(';'), Duration::from_secs(30)),
        "{}",
        proxy.log()
    );
    assert_eq!(count(target), before, "a paused replay applied {sql}");
}

/// `LOCK TABLES ... WRITE` held on a server by a connection of the test's own.
struct TableLock {
    runtime: tokio::runtime::Runtime,
    conn: mysql_async::Conn,
}

impl TableLock {
    fn take(db: &MariaDb, table: &str) -> TableLock {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let conn = runtime.block_on(async {
            let mut conn = mysql_async::Conn::from_url(db.url("d")).await.unwrap();
            conn.query_drop(format!("LOCK TABLES {table} WRITE"))
                .await
                .unwrap();
            conn
        });
        TableLock { runtime, conn }
    }

    fn release(self) {
        let TableLock { runtime, mut conn } = self;
        runtime.block_on(async {
            conn.query_drop("UNLOCK TABLES").await.unwrap();
            conn.disconnect().await.unwrap();
        });
    }
}

#[test]
fn a_lagging_replica_backs_off_then_pauses_the_replay_until_it_catches_up() {
    let (primary, replica) = primary_and_replica();
    let (admin, proxy) = start_with_admin(
        &primary.tcp_addr(),
        &config(&[replica.tcp_addr()], 1, 6),
        &[],
    );
    let normal = wait_for_adaptive(admin, "read the lag", |a| a["value"] == 0.0);
    assert_eq!(normal["signal"], "replica_lag", "{normal}");
    assert_eq!(normal["state"], "normal", "{normal}");
    assert_eq!(normal["replicas"][0]["replica"], replica.tcp_addr());
    assert_eq!(normal["replicas"][0]["lag_secs"], 0.0, "{normal}");

    // The replica's SQL thread will block on the first row for d.t: its lag grows from there.
    let lock = TableLock::take(&replica, "t");
    let mut client = replay_client(&primary, &proxy);
    send_line(&mut client, "INSERT INTO t VALUES (1);");
    let paused = wait_for_adaptive(admin, "paused", |a| a["state"] == "paused");
    assert!(paused["value"].as_f64().unwrap() >= 6.0, "{paused}");
    assert_eq!(count(&primary), "1");
    // (The replica's d.t cannot be read while the lock is held.)
    let log = proxy.log();
    // Lag 2..5 s lies between max_load and critical_load: four seconds of back-off first.
    assert!(log.contains("load above max_load; backing off"), "{log}");
    assert!(log.contains("load critical; replay paused"), "{log}");

    send_while_paused(&mut client, &proxy, &primary, "INSERT INTO t VALUES (2);");

    lock.release();
    let after = wait_for_adaptive(admin, "back to normal", |a| a["state"] == "normal");
    assert!(after["value"].as_f64().unwrap() < 1.0, "{after}");
    finish(client);
    assert_eq!(count(&primary), "2", "the held statement was applied");
    replica.catch_up_with(&primary);
    assert_eq!(count(&replica), "2");
}

#[test]
fn a_stopped_or_broken_replica_pauses_the_replay_naming_it_and_why() {
    let (primary, replica) = primary_and_replica();
    // Over its unix socket: replicas take the same addresses as proxy.target.
    let socket = replica.socket_path().to_string_lossy().into_owned();
    let (admin, proxy) = start_with_admin(
        &primary.tcp_addr(),
        &config(std::slice::from_ref(&socket), 5, 30),
        &[],
    );
    wait_for_adaptive(admin, "read the lag", |a| a["value"] == 0.0);
    let name = format!("unix:{socket}");
    let mut client = replay_client(&primary, &proxy);
    send_line(&mut client, "INSERT INTO t VALUES (1);");

    // Stopped: Seconds_Behind_Master is NULL. Unknown is not zero: pause.
    replica.sql("STOP SLAVE");
    let paused = wait_for_adaptive(admin, "paused", |a| a["state"] == "paused");
    assert!(paused["value"].is_null(), "{paused}");
    let problem = paused["replicas"][0]["problem"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        problem.contains("Seconds_Behind_Master is NULL")
            && problem.contains("Slave_IO_Running=No")
            && problem.contains("Slave_SQL_Running=No"),
        "{paused}"
    );
    assert!(
        paused["error"].as_str().unwrap().contains(&name),
        "{paused}"
    );
    assert!(
        proxy.wait_for_log(
            &format!("replica {name}: lag unknown, treated as critical"),
            Duration::from_secs(30)
        ),
        "{}",
        proxy.log()
    );
    send_while_paused(&mut client, &proxy, &primary, "INSERT INTO t VALUES (2);");
    replica.sql("START SLAVE");
    wait_for_adaptive(admin, "resumed", |a| a["state"] == "normal");
    assert!(
        proxy.wait_for_log(
            &format!("replica {name} reports its lag again"),
            Duration::from_secs(30)
        ),
        "{}",
        proxy.log()
    );
    // The held INSERT 2 reaches the target once the pause is over.
    replica.catch_up_with(&primary);

    // Broken: a row the replica already has makes its SQL thread stop with an error.
    replica.sql("SET sql_log_bin = 0; INSERT INTO d.t VALUES (3)");
    send_line(&mut client, "INSERT INTO t VALUES (3);");
    let broken = wait_for_adaptive(admin, "paused on the broken replica", |a| {
        a["state"] == "paused"
            && a["replicas"][0]["problem"]
                .as_str()
                .is_some_and(|p| p.contains("Last_SQL_Error"))
    });
    let problem = broken["replicas"][0]["problem"].as_str().unwrap();
    assert!(
        problem.contains("Slave_SQL_Running=No") && problem.contains("Duplicate entry '3'"),
        "{broken}"
    );
    send_while_paused(&mut client, &proxy, &primary, "INSERT INTO t VALUES (4);");
    // The operator repairs the replica; the replay goes on by itself.
    replica.sql("SET sql_log_bin = 0; DELETE FROM d.t WHERE id = 3; START SLAVE");
    wait_for_adaptive(admin, "resumed after the repair", |a| {
        a["state"] == "normal"
    });
    finish(client);
    assert_eq!(count(&primary), "4");
    replica.catch_up_with(&primary);
    assert_eq!(count(&replica), "4");
}

#[test]
fn an_unreachable_replica_or_a_server_that_is_not_one_pauses_from_the_start() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY)");
    let nowhere = format!("127.0.0.1:{}", free_port());
    let (admin, proxy) = start_with_admin(
        &target.tcp_addr(),
        &config(&[nowhere.clone(), target.tcp_addr()], 5, 30),
        &[],
    );
    let paused = wait_for_adaptive(admin, "paused", |a| a["state"] == "paused");
    assert!(paused["value"].is_null(), "{paused}");
    let unreachable = paused["replicas"][0]["problem"].as_str().unwrap();
    assert!(
        unreachable.contains("cannot read its replication status"),
        "{paused}"
    );
    let not_a_replica = paused["replicas"][1]["problem"].as_str().unwrap();
    assert!(not_a_replica.starts_with("not a replica"), "{paused}");
    for replica in [&nowhere, &target.tcp_addr()] {
        assert!(
            proxy.wait_for_log(
                &format!("replica {replica}: lag unknown, treated as critical"),
                Duration::from_secs(30)
            ),
            "{}",
            proxy.log()
        );
    }
    // The replay waits; nothing reaches the target while no lag is known.
    let mut client = replay_client(&target, &proxy);
    send_while_paused(&mut client, &proxy, &target, "INSERT INTO t VALUES (1);");
    let _ = client.kill();
    let _ = client.wait();
}
