//! Tests of the journal file itself: durability format, id continuity, torn lines, locking,
//! concurrent appends through `SharedJournal`.

use std::io::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use super::*;

fn record(statement: &[u8]) -> JournalRecord {
    let mut r = JournalRecord {
        session: 1,
        client: "127.0.0.1:40000".into(),
        user: "root".into(),
        origin_thread: Some(5),
        gtid: Some("0-1-42".into()),
        binlog_file: Some("binlog.000042".into()),
        position: Some(1234),
        end_log_pos: Some(1300),
        event_time: Some("251125 17:00:00".into()),
        database: Some("shop".into()),
        foreign_key_checks: false,
        charset: "utf8mb4".into(),
        collation: Some("utf8mb4_general_ci".into()),
        rule: "destructive-ddl-without-fk-checks".into(),
        action: "quarantine".into(),
        kind: "drop_table".into(),
        note: None,
        ..Default::default()
    };
    r.set_statement(statement);
    r
}

fn journal_bytes(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join(JOURNAL_FILE)).unwrap()
}

#[test]
fn append_then_read_back_equal_including_non_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path()).unwrap();
    let mut a = record(b"DROP TABLE orders");
    let b = record(b"INSERT INTO t VALUES ('caf\xe9', '\x00')");
    a.time = "2026-11-25T17:00:00.123Z".into();
    assert_eq!(journal.append(a.clone()).unwrap(), 1);
    assert_eq!(journal.append(b.clone()).unwrap(), 2);

    let records = read_journal(dir.path()).unwrap();
    assert_eq!(records.len(), 2);
    a.id = 1;
    assert_eq!(records[0], a, "a given time is kept");
    assert_eq!(records[1].id, 2);
    assert!(records[1].time.ends_with('Z') && records[1].time.len() == 24);
    assert_eq!(
        records[1].statement_bytes().unwrap(),
        b"INSERT INTO t VALUES ('caf\xe9', '\x00')"
    );
    assert_eq!(
        JournalRecord {
            id: 2,
            time: records[1].time.clone(),
            ..b
        },
        records[1]
    );
    assert!(journal_bytes(dir.path()).ends_with(b"\n"));
    assert_eq!(journal.dir(), dir.path());
}

#[test]
fn ids_continue_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut journal = Journal::open(dir.path()).unwrap();
        for _ in 0..3 {
            journal.append(record(b"DROP TABLE t")).unwrap();
        }
    }
    let mut journal = Journal::open(dir.path()).unwrap();
    assert_eq!(journal.next_id(), 4);
    assert_eq!(journal.append(record(b"DROP TABLE u")).unwrap(), 4);
    let ids: Vec<u64> = read_journal(dir.path())
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [1, 2, 3, 4]);
}

#[test]
fn torn_last_line_is_skipped_and_appending_continues_on_a_fresh_line() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut journal = Journal::open(dir.path()).unwrap();
        journal.append(record(b"DROP TABLE a")).unwrap();
        journal.append(record(b"DROP TABLE b")).unwrap();
    }
    // Simulate a crash in the middle of writing record 3.
    let full = journal_bytes(dir.path());
    let mut file = OpenOptions::new()
        .append(true)
        .open(dir.path().join(JOURNAL_FILE))
        .unwrap();
    file.write_all(br#"{"id":3,"time":"2026-11-25T17:0"#)
        .unwrap();
    drop(file);
    assert_eq!(read_journal(dir.path()).unwrap().len(), 2);

    let mut journal = Journal::open(dir.path()).unwrap();
    assert_eq!(journal.append(record(b"DROP TABLE c")).unwrap(), 3);
    assert_eq!(journal.append(record(b"DROP TABLE d")).unwrap(), 4);
    let records = read_journal(dir.path()).unwrap();
    let ids: Vec<u64> = records.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        [1, 2, 3, 4],
        "the torn line stays skipped in the middle"
    );
    assert_eq!(records[2].statement.as_deref(), Some("DROP TABLE c"));
    let text = journal_bytes(dir.path());
    assert!(text.starts_with(&full));
    assert!(text.ends_with(b"\n"));
}

#[test]
fn a_complete_but_unterminated_last_line_is_skipped_and_its_id_not_reused() {
    let dir = tempfile::tempdir().unwrap();
    let mut line = serde_json::to_vec(&JournalRecord {
        id: 9,
        ..record(b"DROP TABLE z")
    })
    .unwrap();
    std::fs::write(dir.path().join(JOURNAL_FILE), &line).unwrap();
    assert!(read_journal(dir.path()).unwrap().is_empty());
    let mut journal = Journal::open(dir.path()).unwrap();
    assert_eq!(journal.append(record(b"DROP TABLE y")).unwrap(), 10);
    line.push(b'\n');
    assert!(journal_bytes(dir.path()).starts_with(&line));
}

#[test]
fn a_locked_directory_cannot_be_opened_twice() {
    let dir = tempfile::tempdir().unwrap();
    let first = Journal::open(dir.path()).unwrap();
    let err = Journal::open(dir.path()).unwrap_err();
    assert!(matches!(err, JournalError::Locked { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&dir.path().display().to_string()) && message.contains("in use"),
        "{message}"
    );
    drop(first);
    Journal::open(dir.path()).expect("the lock is released with the journal");
}

#[test]
fn open_creates_the_directory_and_read_needs_it() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b");
    let err = read_journal(&nested).unwrap_err();
    assert!(err.to_string().contains("a/b"), "{err}");
    drop(Journal::open(&nested).unwrap());
    assert!(read_journal(&nested).unwrap().is_empty());
}

#[test]
fn append_refuses_a_record_without_a_statement() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path()).unwrap();
    let err = journal.append(JournalRecord::default()).unwrap_err();
    assert!(err.to_string().contains("neither"), "{err}");
    assert!(journal_bytes(dir.path()).is_empty());
}

#[test]
fn select_keeps_journal_order_and_names_unknown_ids() {
    let records: Vec<JournalRecord> = (1..=4)
        .map(|id| JournalRecord {
            id,
            ..record(b"DROP TABLE t")
        })
        .collect();
    let chosen = select(&records, &[3, 1]).unwrap();
    assert_eq!(chosen.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 3]);
    let err = select(&records, &[2, 9, 7, 9]).unwrap_err();
    assert_eq!(err.to_string(), "no journal record with id 7, 9");
}

#[test]
fn rfc3339_formatting() {
    let t = UNIX_EPOCH + Duration::from_millis(1_795_626_000_123);
    assert_eq!(format_rfc3339(t), "2026-11-25T17:00:00.123Z");
    let leap = UNIX_EPOCH + Duration::from_secs(951_868_799);
    assert_eq!(format_rfc3339(leap), "2000-02-29T23:59:59.000Z");
    assert_eq!(format_rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
}

#[test]
fn journal_is_send() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<Journal>();
    assert_send::<SharedJournal>();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_journal_from_concurrent_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let shared = SharedJournal::open(dir.path()).unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let shared = shared.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..10 {
                    let statement = format!("DROP TABLE t{task}_{n}");
                    ids.push(shared.append(record(statement.as_bytes())).await.unwrap());
                }
                ids
            })
        })
        .collect();
    let mut ids = Vec::new();
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    ids.sort_unstable();
    assert_eq!(ids, (1..=80).collect::<Vec<u64>>());
    assert_eq!(
        shared.append_blocking(record(b"DROP TABLE last")).unwrap(),
        81
    );

    let text = String::from_utf8(journal_bytes(dir.path())).unwrap();
    assert_eq!(text.lines().count(), 81);
    for line in text.lines() {
        serde_json::from_str::<JournalRecord>(line).expect("every line is one valid record");
    }
    assert_eq!(read_journal(dir.path()).unwrap().len(), 81);
}
