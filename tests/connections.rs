//! Many clients at once: a thousand concurrent sessions through one replaygate, each with its
//! own backend connection, and the client over `--max-connections` refused with the error the
//! server itself gives (`ERROR 1040: Too many connections`) rather than left hanging.

mod support;

use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use support::client::{close_input, send_line};
use support::process::proc_status_kib;
use support::proxy::Replaygate;
use support::server::{MariaDb, ServerOptions};

/// Waits until `server` has `count` client connections besides the caller's own.
#[track_caller]
fn wait_for_connections(server: &MariaDb, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let sql = "SELECT COUNT(*) - 1 FROM information_schema.PROCESSLIST WHERE COMMAND <> 'Daemon'";
    loop {
        let got = server.sql(sql);
        if got.trim() == count.to_string() {
            return;
        }
        assert!(Instant::now() < deadline, "{got} connections, want {count}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// `n` interactive clients connected (and idle) through `port` of `server`'s host.
fn idle_clients(server: &MariaDb, port: u16, n: usize) -> Vec<Child> {
    (0..n)
        .map(|_| {
            let mut client = server.client().host_port("127.0.0.1", port).spawn();
            send_line(&mut client, "SELECT 1;");
            client
        })
        .collect()
}

#[test]
fn a_client_over_max_connections_gets_error_1040_as_from_the_server() {
    // The server's own refusal, to an account without CONNECTION ADMIN (root may always
    // connect): max_connections 10 (its minimum), all taken.
    let limited = MariaDb::start_with(ServerOptions {
        extra_args: vec!["--max-connections=10".into()],
        ..Default::default()
    });
    limited.sql("CREATE USER plain@'%'");
    let holders = idle_clients(&limited, limited.port(), 10);
    wait_for_connections(&limited, 10);
    let server_says = limited
        .client()
        .user("plain")
        .host_port("127.0.0.1", limited.port())
        .run_sql("SELECT 1")
        .assert_failure()
        .stderr;
    for holder in holders {
        close_input(holder);
    }

    let target = MariaDb::start();
    let proxy = Replaygate::start(&target.tcp_addr(), &["--max-connections", "2"]);
    let holders = idle_clients(&target, proxy.port(), 2);
    wait_for_connections(&target, 2);
    let refused = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .run_sql("SELECT 1")
        .assert_failure()
        .stderr;
    assert!(
        server_says.starts_with("ERROR 1040 (08004): Too many connections"),
        "{server_says}"
    );
    assert!(
        refused.starts_with("ERROR 1040 (08004): Too many connections (replaygate serves 2"),
        "{refused}"
    );
    assert!(
        proxy
            .log()
            .contains("refused a client: proxy.max_connections sessions are open")
    );

    // A slot freed is a slot taken.
    let mut holders = holders.into_iter();
    close_input(holders.next().unwrap());
    wait_for_connections(&target, 1);
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .run_sql("SELECT 1")
        .assert_success();
    holders.for_each(|holder| drop(close_input(holder)));
}

#[test]
fn a_thousand_concurrent_sessions_each_get_their_own_backend() {
    const SESSIONS: usize = 1000;
    let target = MariaDb::start_with(ServerOptions {
        extra_args: vec!["--max-connections=1100".into()],
        ..Default::default()
    });
    target.sql("CREATE DATABASE app; CREATE TABLE app.t (session INT PRIMARY KEY, conn BIGINT)");
    let proxy = Replaygate::start(&target.tcp_addr(), &["--max-connections", "1024"]);
    let pid = proxy.pid().unwrap();
    let rss_idle = proc_status_kib(pid, "VmRSS").unwrap();
    let url = proxy.mysql_url("app");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let peak = runtime.block_on(async {
        use mysql_async::prelude::*;
        // Every session connects and writes a row, and all of them stay open together.
        let mut conns = Vec::with_capacity(SESSIONS);
        for session in 0..SESSIONS {
            let mut conn = mysql_async::Conn::from_url(url.as_str()).await.unwrap();
            conn.exec_drop(
                "INSERT INTO t VALUES (?, CONNECTION_ID())",
                (session as u64,),
            )
            .await
            .unwrap();
            conns.push(conn);
        }
        let peak = proc_status_kib(pid, "VmRSS").unwrap();
        // Then each one reads its own row back on its own session, all at once.
        let checks = conns.into_iter().enumerate().map(|(session, mut conn)| async move {
            let own: Option<(u64, u64)> = conn
                .query_first(format!(
                    "SELECT session, conn FROM t WHERE conn = CONNECTION_ID() AND session = {session}"
                ))
                .await
                .unwrap();
            assert!(own.is_some(), "session {session} lost its backend connection");
            conn.disconnect().await.unwrap();
        });
        futures_join_all(checks).await;
        peak
    });
    let distinct = target.sql("SELECT COUNT(DISTINCT conn) FROM app.t");
    assert_eq!(distinct.trim(), SESSIONS.to_string());
    eprintln!(
        "replaygate RSS: {rss_idle} KiB idle, {peak} KiB with {SESSIONS} sessions open \
         ({} KiB per session)",
        (peak.saturating_sub(rss_idle)) / SESSIONS as u64
    );
    assert!(!proxy.log().contains("refused a client"));
}

/// Runs the futures concurrently on the current task (no extra crate for join_all).
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) {
    let mut set = tokio::task::JoinSet::new();
    for future in futures {
        set.spawn(future);
    }
    while let Some(done) = set.join_next().await {
        done.unwrap();
    }
}
