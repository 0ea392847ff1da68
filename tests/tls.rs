//! TLS on both legs against a private mariadbd with its own certificates: what the client sees
//! (`\s`), what the target sees of replaygate's connection (`Ssl_cipher`), clients refused in
//! clear text as the server itself refuses them, a target certificate that does not match,
//! the charset incident replayed through both TLS legs, byte for byte; and `replaygate source`
//! serving a replica over TLS.

mod support;

use std::time::Duration;

use support::certs::Certificates;
use support::charset_incident::{fingerprint, incident_stream};
use support::client::MariadbClient;
use support::proxy::Replaygate;
use support::replication::{caught_up, wait_for_slave};
use support::server::{MariaDb, ServerOptions};

fn tls_server(certs: &Certificates, extra: &[&str]) -> MariaDb {
    let mut extra_args = certs.server_args();
    extra_args.extend(extra.iter().map(|s| (*s).to_owned()));
    MariaDb::start_with(ServerOptions {
        extra_args,
        ..Default::default()
    })
}

/// replaygate with TLS for clients and, with `target_tls`, to the target.
fn tls_proxy(target: &MariaDb, certs: &Certificates, extra: &[&str]) -> Replaygate {
    let (cert, key, ca) = (certs.cert(), certs.key(), certs.ca());
    let mut args = vec![
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--target-ca",
        ca.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    Replaygate::start(&target.tcp_addr(), &args)
}

/// `mariadb --ssl` through replaygate, verifying replaygate's certificate.
fn tls_client(proxy: &Replaygate, target: &MariaDb, certs: &Certificates) -> MariadbClient {
    target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--ssl")
        .arg(format!("--ssl-ca={}", certs.ca().display()))
        .arg("--ssl-verify-server-cert")
}

fn ssl_cipher_seen_by_target(client: MariadbClient) -> String {
    let out = client
        .arg("--batch")
        .arg("--skip-column-names")
        .run_sql("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
        .assert_success();
    out.stdout_str()
        .trim()
        .strip_prefix("Ssl_cipher")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[test]
fn a_client_over_tls_sees_a_cipher_and_the_target_sees_tls_from_replaygate() {
    let certs = Certificates::new();
    let target = tls_server(&certs, &[]);
    let proxy = tls_proxy(&target, &certs, &["--target-tls", "required"]);

    let status = tls_client(&proxy, &target, &certs)
        .run_sql("\\s")
        .assert_success()
        .stdout_str();
    assert!(status.contains("Cipher in use is"), "{status}");
    let cipher = ssl_cipher_seen_by_target(tls_client(&proxy, &target, &certs));
    assert!(
        !cipher.is_empty(),
        "the target sees TLS on replaygate's connection"
    );

    // The legs are independent: a client in clear text still reaches the target over TLS.
    let clear = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--skip-ssl");
    let status = clear.clone().run_sql("\\s").assert_success().stdout_str();
    assert!(status.contains("Not in use"), "{status}");
    assert!(!ssl_cipher_seen_by_target(clear).is_empty());
}

#[test]
fn without_target_tls_the_target_leg_stays_clear_text() {
    let certs = Certificates::new();
    let target = tls_server(&certs, &[]);
    let proxy = tls_proxy(&target, &certs, &[]);
    let cipher = ssl_cipher_seen_by_target(tls_client(&proxy, &target, &certs));
    assert_eq!(cipher, "", "--target-tls defaults to disabled");
}

#[test]
fn tls_required_refuses_a_clear_text_client_as_the_server_does() {
    let certs = Certificates::new();
    let strict = tls_server(&certs, &["--require-secure-transport=ON"]);
    let direct = strict
        .client()
        .host_port("127.0.0.1", strict.port())
        .arg("--skip-ssl")
        .run_sql("SELECT 1")
        .assert_failure();

    let target = tls_server(&certs, &[]);
    let proxy = tls_proxy(&target, &certs, &["--tls-required"]);
    let through = target
        .client()
        .host_port("127.0.0.1", proxy.port())
        .arg("--skip-ssl")
        .run_sql("SELECT 1")
        .assert_failure();
    assert!(
        direct.stderr.contains("ERROR 1045 (28000)"),
        "{}",
        direct.stderr
    );
    assert_eq!(through.stderr.trim(), direct.stderr.trim());
    // Over TLS the same client gets in.
    tls_client(&proxy, &target, &certs)
        .run_sql("SELECT 1")
        .assert_success();
}

#[test]
fn a_target_certificate_for_another_name_is_refused_with_why() {
    let certs = Certificates::new();
    let target = tls_server(&certs, &[]);
    let proxy = tls_proxy(
        &target,
        &certs,
        &[
            "--target-tls",
            "required",
            "--target-tls-name",
            "db.example",
        ],
    );
    let out = tls_client(&proxy, &target, &certs)
        .run_sql("SELECT 1")
        .assert_failure();
    assert!(
        out.stderr
            .contains("replaygate: TLS to the target failed (the name it must carry: db.example)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("certificate"), "{}", out.stderr);
}

#[test]
fn a_target_without_tls_is_refused_when_tls_is_required_and_used_in_clear_when_preferred() {
    let certs = Certificates::new();
    let plain = MariaDb::start();
    let required = tls_proxy(&plain, &certs, &["--target-tls", "required"]);
    let out = tls_client(&required, &plain, &certs)
        .run_sql("SELECT 1")
        .assert_failure();
    assert!(
        out.stderr.contains("the target does not offer TLS"),
        "{}",
        out.stderr
    );
    let preferred = tls_proxy(&plain, &certs, &["--target-tls", "preferred"]);
    assert_eq!(
        ssl_cipher_seen_by_target(tls_client(&preferred, &plain, &certs)),
        ""
    );
}

#[test]
fn the_charset_incident_through_both_tls_legs_stays_byte_identical() {
    let source = MariaDb::start_with(ServerOptions {
        binlog_format: "STATEMENT",
        ..Default::default()
    });
    let stream = incident_stream(&source);
    let certs = Certificates::new();
    let target = tls_server(&certs, &[]);
    let proxy = tls_proxy(&target, &certs, &["--target-tls", "required"]);
    tls_client(&proxy, &target, &certs)
        .arg("--default-character-set=latin1")
        .run_with_stdin(&stream)
        .assert_success();
    assert_eq!(fingerprint(&target), fingerprint(&source));
}

/// replaygate's own control connections (here the consistency checks) follow `--target-tls`
/// too: a target that refuses clear text (`require_secure_transport`) still answers them.
#[test]
fn consistency_checks_reach_a_target_that_requires_tls() {
    let certs = Certificates::new();
    let target = tls_server(&certs, &["--require-secure-transport=ON"]);
    target.sql("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY)");
    let proxy = tls_proxy(
        &target,
        &certs,
        &[
            "--target-tls",
            "required",
            "--check-sql",
            "SELECT COUNT(*) >= 0 FROM app.t",
            "--check-every",
            "1",
        ],
    );
    tls_client(&proxy, &target, &certs)
        .run_with_stdin(b"BEGIN; INSERT INTO app.t VALUES (1); COMMIT;\nBEGIN; INSERT INTO app.t VALUES (2); COMMIT;\n")
        .assert_success();
    assert_eq!(target.sql("SELECT COUNT(*) FROM app.t").trim(), "2");
    assert!(
        proxy.log().contains("consistency checks passed"),
        "{}",
        proxy.log()
    );
}

/// `replaygate source --tls-cert --tls-key --tls-required`: a restored server replicating with
/// `MASTER_SSL = 1` (verifying replaygate's certificate) gets every row; one in clear text is
/// refused as a server with `require_secure_transport` refuses it, and gets nothing.
#[test]
fn source_serves_a_replica_over_tls_and_refuses_one_in_clear_text() {
    let certs = Certificates::new();
    let primary = MariaDb::start();
    primary.sql(
        "CREATE DATABASE d; CREATE TABLE d.t (id INT PRIMARY KEY, v VARCHAR(40)); \
         INSERT INTO d.t SELECT seq, CONCAT('row ', seq) FROM d.seq_1_to_300",
    );
    let saved = tempfile::tempdir().unwrap();
    let files = primary.copy_binlogs(saved.path());
    let first = files[0].file_name().unwrap().to_str().unwrap().to_owned();
    let (cert, key, ca) = (certs.cert(), certs.key(), certs.ca());
    let source = Replaygate::source(
        &files,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-required",
        ],
    );
    let change_master = |ssl: &str| {
        format!(
            "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, MASTER_USER = 'root', \
             MASTER_CONNECT_RETRY = 1, MASTER_USE_GTID = no, MASTER_LOG_FILE = '{first}', \
             MASTER_LOG_POS = 4, {ssl}; START SLAVE",
            source.port()
        )
    };

    let encrypted = MariaDb::start_with(ServerOptions {
        server_id: 2,
        ..Default::default()
    });
    encrypted.sql(&change_master(&format!(
        "MASTER_SSL = 1, MASTER_SSL_CA = '{}', MASTER_SSL_VERIFY_SERVER_CERT = 1",
        ca.display()
    )));
    caught_up(&encrypted, &primary, Duration::from_secs(90));
    assert_eq!(
        encrypted.sql("SELECT COUNT(*), SUM(LENGTH(v)) FROM d.t"),
        primary.sql("SELECT COUNT(*), SUM(LENGTH(v)) FROM d.t")
    );
    assert!(
        source.log().contains("replica connected") && source.log().contains("tls=true"),
        "{}",
        source.log()
    );

    let clear = MariaDb::start_with(ServerOptions {
        server_id: 3,
        ..Default::default()
    });
    clear.sql(&change_master("MASTER_SSL = 0"));
    let status = wait_for_slave(&clear, "refused", Duration::from_secs(90), |s| {
        !s["Last_IO_Error"].is_empty()
    });
    assert!(
        status["Last_IO_Error"].contains("Access denied for user 'root'@'127.0.0.1'"),
        "{status:#?}"
    );
    assert!(
        source
            .log()
            .contains("refused a replica in clear text (--tls-required)"),
        "{}",
        source.log()
    );
    assert_eq!(clear.sql("SHOW DATABASES LIKE 'd'").trim(), "");
}

/// `--target-cert`/`--target-key`: replaygate presents a client certificate on its TLS leg to
/// the target, so an account that `REQUIRE X509` logs in through it (the password still checked
/// by the target, relayed as sent); without the certificate the target's own refusal reaches the
/// client.
#[test]
fn an_account_that_requires_x509_logs_in_with_replaygates_client_certificate() {
    let certs = Certificates::new();
    let target = tls_server(&certs, &[]);
    target.sql(
        "CREATE USER 'signed'@'%' IDENTIFIED BY 'secret' REQUIRE X509; \
         GRANT ALL ON *.* TO 'signed'@'%'",
    );
    let (cert, key) = (certs.cert(), certs.key());
    let with_identity = tls_proxy(
        &target,
        &certs,
        &[
            "--target-tls",
            "required",
            "--target-cert",
            cert.to_str().unwrap(),
            "--target-key",
            key.to_str().unwrap(),
        ],
    );
    let signed = |proxy: &Replaygate, password: &str| {
        target
            .client()
            .host_port("127.0.0.1", proxy.port())
            .user("signed")
            .password(password)
            .arg("--skip-ssl")
            .arg("--batch")
            .arg("--skip-column-names")
            .run_sql("SELECT CURRENT_USER()")
    };
    let out = signed(&with_identity, "secret").assert_success();
    assert_eq!(out.stdout_str().trim(), "signed@%");
    let wrong = signed(&with_identity, "guess").assert_failure();
    assert!(
        wrong.stderr.contains("ERROR 1045 (28000)"),
        "{}",
        wrong.stderr
    );

    let without = tls_proxy(&target, &certs, &["--target-tls", "required"]);
    let refused = signed(&without, "secret").assert_failure();
    assert!(
        refused.stderr.contains("ERROR 1045 (28000)")
            && refused.stderr.contains("Access denied for user 'signed'"),
        "{}",
        refused.stderr
    );
}
