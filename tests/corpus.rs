//! Every decoded binlog in the shared corpus (`../shared/corpus/decoded/`, mariadb-binlog output of
//! real binlogs from MySQL 5.0 to 9.0 and MariaDB, written by others) gives the same outcome
//! through replaygate as direct: same exit status, same first error, same data.
//!
//! The one intended difference: where the direct replay dies on a collation MariaDB does not know
//! (MySQL 8's 255 / utf8mb4_0900_ai_ci, MDEV-30824), replaygate translates it, so the replay must
//! get past that point instead.
//!
//! The corpus is used by path, never copied into the repository; `REPLAYGATE_CORPUS` overrides
//! its location.

mod support;

use support::client::{ClientOutput, MariadbClient};
use support::corpus::{
    corpus_dir, decoded_files, first_difference, mysql_schema_tables, reset, snapshot,
};
use support::proxy::Replaygate;
use support::server::MariaDb;

fn first_error(out: &ClientOutput) -> Option<String> {
    out.stderr
        .lines()
        .find(|l| l.starts_with("ERROR"))
        .map(str::to_owned)
}

struct Outcome {
    success: bool,
    first_error: Option<String>,
    data: String,
}

fn replay(
    target: &MariaDb,
    system_tables: &[String],
    client: MariadbClient,
    stream: &[u8],
) -> Outcome {
    reset(target, system_tables);
    let out = client.run_with_stdin(stream);
    Outcome {
        success: out.success(),
        first_error: first_error(&out),
        data: snapshot(target),
    }
}

fn is_unknown_collation(error: &Option<String>) -> bool {
    error
        .as_deref()
        .is_some_and(|e| e.contains("ERROR 1273") && (e.contains("'255'") || e.contains("0900")))
}

#[test]
fn every_decoded_binlog_replays_through_replaygate_as_it_does_direct() {
    let files = decoded_files(&corpus_dir());
    assert!(
        files.len() >= 30,
        "expected the decoded corpus, found {} files",
        files.len()
    );
    let target = MariaDb::start();
    // Through the socket, as the direct client connects: CURRENT_USER() and default DEFINERs are
    // then root@localhost on both paths.
    let socket = target.socket_path();
    // The relay's fidelity is under test here, not the guard (whose default halts the corpus'
    // DROP DATABASEs; tests/guard.rs covers it).
    let proxy = Replaygate::start(
        socket.to_str().expect("utf8 socket path"),
        &["--on-destructive", "allow"],
    );
    let system_tables = mysql_schema_tables(&target);
    let mut translated = 0;
    for file in &files {
        let stream = std::fs::read(file).expect("read corpus file");
        let name = file.display();
        let direct = replay(&target, &system_tables, target.client(), &stream);
        let through_client = target.client().host_port("127.0.0.1", proxy.port());
        let through = replay(&target, &system_tables, through_client, &stream);
        if is_unknown_collation(&direct.first_error) {
            // The intended difference: replaygate gets past the collation the target lacks.
            translated += 1;
            assert!(
                !is_unknown_collation(&through.first_error),
                "{name}: replaygate should have translated the collation: {:?}",
                through.first_error
            );
            continue;
        }
        assert_eq!(
            direct.success, through.success,
            "{name}: exit status differs; through: {:?}",
            through.first_error
        );
        assert_eq!(
            direct.first_error, through.first_error,
            "{name}: first error differs"
        );
        assert!(
            direct.data == through.data,
            "{name}: data differs at\n{}",
            first_difference(&direct.data, &through.data)
        );
    }
    assert!(
        translated > 0,
        "the corpus has MySQL 8 binlogs with collation 255"
    );
    eprintln!(
        "{} corpus files compared, {translated} with translated collations",
        files.len()
    );
}
