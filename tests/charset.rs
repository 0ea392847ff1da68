//! The incident and its neighbours: session charset normalisation against a real MariaDB.
//!
//! The incident: a statement-format binlog of utf8 text, decoded without its charset lines (as
//! old mysqlbinlog output was), replayed by a client whose default charset is latin1. Direct,
//! the server reads the utf8 bytes as latin1 and stores mojibake; through replaygate, every byte
//! is identical to the source.

mod support;

use support::charset_incident::{NAMES, fingerprint, incident_stream};
use support::client::{MariadbClient, mariadb_binlog};
use support::proxy::Replaygate;
use support::server::{MariaDb, ServerOptions};

fn statement_server() -> MariaDb {
    MariaDb::start_with(ServerOptions {
        binlog_format: "STATEMENT",
        ..ServerOptions::default()
    })
}

fn through(proxy: &Replaygate, db: &MariaDb) -> MariadbClient {
    db.client().host_port("127.0.0.1", proxy.port())
}

#[test]
fn the_incident_direct_corrupts_and_through_replaygate_every_byte_is_identical() {
    let source = statement_server();
    let stream = incident_stream(&source);
    let expected = fingerprint(&source);

    let target = MariaDb::start();
    // Direct, as in the incident: the client's latin1 default decides, and the data is corrupted.
    target
        .client()
        .arg("--default-character-set=latin1")
        .run_with_stdin(&stream)
        .assert_success();
    let direct = fingerprint(&target);
    assert_ne!(
        direct, expected,
        "the direct replay should have stored mojibake"
    );
    let mojibake = target.sql("SELECT HEX(name) FROM shop.customers WHERE name LIKE 'M%'");
    assert_eq!(
        mojibake.trim(),
        "4DC383C2BC6C6C6572",
        "Müller double-encoded (C3 BC read as latin1 'Ã¼')"
    );

    target.sql("DROP DATABASE shop");
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    through(&proxy, &target)
        .arg("--default-character-set=latin1")
        .run_with_stdin(&stream)
        .assert_success();
    assert_eq!(
        fingerprint(&target),
        expected,
        "through replaygate every byte must be identical"
    );
    assert_eq!(
        target
            .sql("SELECT COUNT(*) FROM shop.orders o JOIN shop.customers c ON c.name = o.customer")
            .trim(),
        NAMES.len().to_string(),
        "every order still finds its customer"
    );
}

#[test]
fn the_streams_own_charset_lines_are_honoured_and_latin1_data_passes_untouched() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE l1; CREATE TABLE l1.t (id INT PRIMARY KEY, s VARCHAR(20)) DEFAULT CHARSET latin1");
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    // Honest latin1 bytes ("Müller" with ü = 0xFC), announced by the stream itself.
    let mut stream = b"SET NAMES latin1;\nINSERT INTO t VALUES (1, 'M".to_vec();
    stream.push(0xfc);
    stream.extend_from_slice(b"ller');\n");
    through(&proxy, &target)
        .database("l1")
        .run_with_stdin(&stream)
        .assert_success();
    assert_eq!(target.sql("SELECT HEX(s) FROM l1.t").trim(), "4DFC6C6C6572");
    // The same row stored under utf8mb4 in the table's latin1 column reads back as 'Müller'.
    assert_eq!(
        target
            .sql("SELECT HEX(CONVERT(s USING utf8mb4)) FROM l1.t")
            .trim(),
        "4DC3BC6C6C6572"
    );

    // mysqlbinlog's numeric form: SET @@session.character_set_client=8 (latin1) ...
    let mut stream = b"SET @@session.character_set_client=8,@@session.collation_connection=8,@@session.collation_server=8;\nINSERT INTO t VALUES (2, 'Gr".to_vec();
    stream.push(0xfc);
    stream.extend_from_slice(b"n');\n");
    through(&proxy, &target)
        .database("l1")
        .run_with_stdin(&stream)
        .assert_success();
    assert_eq!(
        target.sql("SELECT HEX(s) FROM l1.t WHERE id = 2").trim(),
        "4772FC6E"
    );
}

#[test]
fn bytes_invalid_in_the_session_charset_are_refused_and_never_stored() {
    let target = MariaDb::start();
    target.sql("CREATE DATABASE v; CREATE TABLE v.t (id INT PRIMARY KEY, s VARCHAR(20)) DEFAULT CHARSET utf8mb4");
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    // latin1 bytes in a utf8mb4 session: the server would store them mangled or truncated.
    let mut stream = b"INSERT INTO t VALUES (1, 'ok');\nINSERT INTO t VALUES (2, 'M".to_vec();
    stream.push(0xfc);
    stream.extend_from_slice(b"ller');\nINSERT INTO t VALUES (3, 'after');\n");
    let out = through(&proxy, &target)
        .database("v")
        .run_with_stdin(&stream)
        .assert_failure();
    assert!(out.stderr.contains("ERROR 1300"), "{}", out.stderr);
    assert!(out.stderr.contains("replaygate:"), "{}", out.stderr);
    assert!(out.stderr.contains("not valid utf8mb4"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("INSERT INTO t VALUES (2, 'M\\xFCller')"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("charset"),
        "says how to fix it: {}",
        out.stderr
    );
    assert_eq!(
        target.sql("SELECT GROUP_CONCAT(id) FROM v.t").trim(),
        "1",
        "nothing after the refusal ran"
    );
    assert!(
        proxy.log().contains("not valid utf8mb4"),
        "the refusal is logged:\n{}",
        proxy.log()
    );

    // An emoji is valid utf8mb4 but not utf8mb3.
    let out = through(&proxy, &target)
        .database("v")
        .run_with_stdin("SET NAMES utf8mb3;\nINSERT INTO t VALUES (4, '🎉');\n".as_bytes())
        .assert_failure();
    assert!(out.stderr.contains("not valid utf8mb3"), "{}", out.stderr);
}

#[test]
fn honor_mode_keeps_the_clients_charset() {
    let target = MariaDb::start();
    let proxy = Replaygate::start(&target.tcp_addr(), &["--charset-mode", "honor"]);
    let out = through(&proxy, &target)
        .arg("--default-character-set=latin1")
        .arg("--skip-column-names")
        .run_sql("SELECT @@character_set_client")
        .assert_success();
    assert_eq!(out.stdout_str().trim(), "latin1");

    let pinned = Replaygate::start(&target.tcp_addr(), &[]);
    let out = through(&pinned, &target)
        .arg("--default-character-set=latin1")
        .arg("--skip-column-names")
        .run_sql("SELECT @@character_set_client, @@collation_connection")
        .assert_success();
    assert_eq!(out.stdout_str().trim(), "utf8mb4\tutf8mb4_general_ci");

    let custom = Replaygate::start(&target.tcp_addr(), &["--collation", "utf8mb4_unicode_ci"]);
    let out = through(&custom, &target)
        .arg("--skip-column-names")
        .run_sql("SELECT @@collation_connection")
        .assert_success();
    assert_eq!(out.stdout_str().trim(), "utf8mb4_unicode_ci");
}

#[test]
fn mysql8_collations_the_target_does_not_know_are_translated_with_a_warning() {
    let target = MariaDb::start();
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    let stream = "SET @@session.character_set_client=utf8mb4,@@session.collation_connection=255,@@session.collation_server=255;\n\
                  SELECT @@collation_connection;\n\
                  SET NAMES utf8mb4 COLLATE utf8mb4_0900_ai_ci;\n\
                  SELECT @@collation_connection;\n";
    // Direct, MariaDB refuses both (MDEV-30824).
    let direct = target
        .client()
        .run_with_stdin(stream.as_bytes())
        .assert_failure();
    assert!(
        direct.stderr.contains("Unknown collation: '255'"),
        "{}",
        direct.stderr
    );
    let out = through(&proxy, &target)
        .arg("--skip-column-names")
        .run_with_stdin(stream.as_bytes())
        .assert_success();
    let collations: Vec<String> = out.stdout_str().lines().map(str::to_owned).collect();
    assert_eq!(collations.len(), 2, "{collations:?}");
    assert!(
        collations
            .iter()
            .all(|c| c.starts_with("utf8mb4_unicode_520")),
        "{collations:?}"
    );
    let log = proxy.log();
    assert!(
        log.contains("translated to its closest equivalent"),
        "{log}"
    );
    assert!(log.contains("utf8mb4_0900_ai_ci"), "{log}");
}

#[test]
fn blobs_with_every_byte_value_replay_in_statement_format() {
    let source = statement_server();
    source.sql("CREATE DATABASE b; CREATE TABLE b.blobs (id INT PRIMARY KEY, data LONGBLOB)");
    // The source client sends an _binary literal holding every byte 0-255 (escaped only where
    // SQL requires), so the binlog holds raw bytes.
    let mut stream = b"INSERT INTO blobs VALUES (1, _binary'".to_vec();
    for byte in 0u8..=255 {
        match byte {
            0 => stream.extend_from_slice(b"\\0"),
            b'\'' => stream.extend_from_slice(b"\\'"),
            b'\\' => stream.extend_from_slice(b"\\\\"),
            other => stream.push(other),
        }
    }
    stream.extend_from_slice(b"');\n");
    source
        .client()
        .database("b")
        .arg("--binary-mode")
        .run_with_stdin(&stream)
        .assert_success();
    let expected: String = (0u8..=255).map(|b| format!("{b:02X}")).collect();
    assert_eq!(source.sql("SELECT HEX(data) FROM b.blobs").trim(), expected);

    let decoded = mariadb_binlog(&[], &source.binlog_files());
    let target = MariaDb::start();
    let proxy = Replaygate::start(&target.tcp_addr(), &[]);
    through(&proxy, &target)
        .arg("--binary-mode")
        .run_with_stdin(&decoded)
        .assert_success();
    assert_eq!(target.sql("SELECT HEX(data) FROM b.blobs").trim(), expected);
}
