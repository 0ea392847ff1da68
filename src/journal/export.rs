//! `export_sql`: journal records as a SQL file an operator reviews and then applies with the
//! `mariadb` client, each statement in the session context it was recorded in.
//!
//! The file is meant for `mariadb --binary-mode`: that mode passes `\r\n` and NUL bytes through
//! unchanged (without it the client turns `\r\n` into `\n` inside string literals and stops at a
//! NUL byte) and sends everything except `DELIMITER` to the server as SQL, so no line of a
//! statement is taken for one of the client's own commands.

use std::io::Write;

use super::render::escape_text;
use super::{JournalError, JournalRecord};

/// Writes a replayable SQL file for `records`, in the order given.
pub fn export_sql(records: &[JournalRecord], out: &mut impl Write) -> Result<(), JournalError> {
    // Decode every statement first, so a damaged record fails the export before anything is
    // written and the operator never gets half a file.
    let statements = records
        .iter()
        .map(JournalRecord::statement_bytes)
        .collect::<Result<Vec<_>, _>>()?;
    let mut sql = Vec::new();
    write_file_header(&mut sql, records);
    // The export session starts with the server defaults; a record run after one that disabled
    // checks must turn them back on, so the state is tracked rather than assumed.
    let mut checks = Checks {
        foreign_key_checks: true,
        unique_checks: true,
    };
    for (record, statement) in records.iter().zip(&statements) {
        write_record(&mut sql, record, statement, &mut checks);
    }
    out.write_all(&sql)
        .and_then(|()| out.flush())
        .map_err(JournalError::Export)
}

struct Checks {
    foreign_key_checks: bool,
    unique_checks: bool,
}

fn write_file_header(sql: &mut Vec<u8>, records: &[JournalRecord]) {
    let ids: Vec<String> = records.iter().map(|r| r.id.to_string()).collect();
    line(
        sql,
        &format!(
            "-- replaygate quarantine journal export: {} record(s): {}",
            records.len(),
            ids.join(", ")
        ),
    );
    line(
        sql,
        "-- Review every statement before applying it; each follows the session context it was recorded in.",
    );
    line(
        sql,
        "-- Apply with: mariadb --binary-mode -h HOST -P PORT -u USER -p < THIS_FILE",
    );
    let binary: Vec<String> = records
        .iter()
        .filter(|r| r.is_binary())
        .map(|r| r.id.to_string())
        .collect();
    if !binary.is_empty() {
        line(
            sql,
            &format!(
                "-- Not valid UTF-8, written as raw bytes (so --binary-mode is required): record(s) {}",
                binary.join(", ")
            ),
        );
    }
    line(sql, "");
}

fn write_record(sql: &mut Vec<u8>, record: &JournalRecord, statement: &[u8], checks: &mut Checks) {
    comment(
        sql,
        &format!(
            "replaygate journal record {}: rule {}, action {}, kind {}",
            record.id, record.rule, record.action, record.kind
        ),
    );
    comment(sql, &origin(record));
    comment(
        sql,
        &format!(
            "session {}, client {}, user {}",
            record.session, record.client, record.user
        ),
    );
    if let Some(note) = &record.note {
        comment(sql, &format!("note: {note}"));
    }
    if record.is_binary() {
        comment(
            sql,
            "this statement is not valid UTF-8: written as raw bytes",
        );
    }

    if is_plain_name(&record.charset) {
        let collate = match &record.collation {
            Some(c) if is_plain_name(c) => format!(" COLLATE '{c}'"),
            _ => String::new(),
        };
        line(sql, &format!("SET NAMES '{}'{collate};", record.charset));
    } else {
        comment(
            sql,
            &format!(
                "SET NAMES omitted: the recorded charset {:?} is not a charset name",
                record.charset
            ),
        );
    }
    set_check(
        sql,
        "foreign_key_checks",
        record.foreign_key_checks,
        &mut checks.foreign_key_checks,
    );
    set_check(
        sql,
        "unique_checks",
        record.unique_checks,
        &mut checks.unique_checks,
    );
    if !record.sql_log_bin {
        line(sql, "-- SET SESSION sql_log_bin = 0;");
        comment(
            sql,
            "  (the original session did not binlog this statement; setting sql_log_bin needs \
             SUPER, so uncomment the line above only if this session may and should skip the binlog)",
        );
    }
    if let Some(db) = &record.database {
        line(sql, &format!("USE `{}`;", db.replace('`', "``")));
    }
    write_statement(sql, statement);
    line(sql, "");
}

/// Binlog position, GTID, origin thread and times, e.g.
/// `binlog position binlog.000042:1234, end_log_pos 1300, GTID 0-1-42, origin thread 5, ...`.
fn origin(record: &JournalRecord) -> String {
    let mut parts = Vec::new();
    match (&record.binlog_file, record.position) {
        (Some(file), Some(pos)) => parts.push(format!("binlog position {file}:{pos}")),
        (None, Some(pos)) => parts.push(format!("binlog position {pos}")),
        (Some(file), None) => parts.push(format!("binlog file {file}")),
        (None, None) => parts.push("binlog position unknown".to_owned()),
    }
    if let Some(end) = record.end_log_pos {
        parts.push(format!("end_log_pos {end}"));
    }
    if let Some(gtid) = &record.gtid {
        parts.push(format!("GTID {gtid}"));
    }
    if let Some(thread) = record.origin_thread {
        parts.push(format!("origin thread {thread}"));
    }
    if let Some(event_time) = &record.event_time {
        parts.push(format!("event time {event_time}"));
    }
    parts.push(format!("recorded {}", record.time));
    parts.join(", ")
}

fn set_check(sql: &mut Vec<u8>, name: &str, wanted: bool, current: &mut bool) {
    if wanted != *current {
        line(sql, &format!("SET SESSION {name} = {};", u8::from(wanted)));
        *current = wanted;
    }
}

/// Charset and collation names are plain identifiers; anything else is not interpolated into SQL.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The statement's bytes unchanged, then the delimiter on its own line: that line break keeps a
/// trailing `-- comment` in the statement from swallowing the delimiter. A statement holding a
/// `;` anywhere (a compound body, or just a string) is wrapped in `DELIMITER` with a delimiter
/// that does not occur in it, because the client would otherwise cut it at the first `;`.
fn write_statement(sql: &mut Vec<u8>, statement: &[u8]) {
    if statement.contains(&b';') {
        let delimiter = choose_delimiter(statement);
        line(sql, &format!("DELIMITER {delimiter}"));
        sql.extend_from_slice(statement);
        line(sql, "");
        line(sql, &delimiter);
        line(sql, "DELIMITER ;");
    } else {
        sql.extend_from_slice(statement);
        let last_line = statement.rsplit(|&b| b == b'\n').next().unwrap_or_default();
        let has_comment = last_line.contains(&b'#') || last_line.windows(2).any(|w| w == b"--");
        line(sql, if has_comment { "\n;" } else { ";" });
    }
}

fn choose_delimiter(statement: &[u8]) -> String {
    ["//", "$$", "%%", "~~"]
        .into_iter()
        .map(str::to_owned)
        .chain((1..).map(|n| format!("//{n}//")))
        .find(|d| !contains(statement, d.as_bytes()))
        .expect("an unbounded sequence of candidates")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn line(sql: &mut Vec<u8>, text: &str) {
    sql.extend_from_slice(text.as_bytes());
    sql.push(b'\n');
}

/// A `-- ` comment line. Fields such as the GTID or a note come from the stream; escaping line
/// breaks keeps them from ending the comment and smuggling SQL into the file.
fn comment(sql: &mut Vec<u8>, text: &str) {
    line(sql, &format!("-- {}", escape_text(text.as_bytes(), false)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: u64, statement: &[u8]) -> JournalRecord {
        let mut r = JournalRecord {
            id,
            time: "2026-11-25T17:00:00.000Z".into(),
            session: 3,
            client: "127.0.0.1:50000".into(),
            user: "root".into(),
            charset: "utf8mb4".into(),
            rule: "destructive-ddl-without-fk-checks".into(),
            action: "quarantine".into(),
            kind: "drop_table".into(),
            ..Default::default()
        };
        r.set_statement(statement);
        r
    }

    fn export(records: &[JournalRecord]) -> Vec<u8> {
        let mut out = Vec::new();
        export_sql(records, &mut out).unwrap();
        out
    }

    #[test]
    fn utf8_record_with_context() {
        let mut r = record(7, b"DROP TABLE orders");
        r.position = Some(1234);
        r.gtid = Some("0-1-42".into());
        r.origin_thread = Some(5);
        r.foreign_key_checks = false;
        r.database = Some("shop".into());
        r.collation = Some("utf8mb4_unicode_ci".into());
        let sql = String::from_utf8(export(&[r])).unwrap();
        let expected = "\
-- replaygate journal record 7: rule destructive-ddl-without-fk-checks, action quarantine, kind drop_table
-- binlog position 1234, GTID 0-1-42, origin thread 5, recorded 2026-11-25T17:00:00.000Z
-- session 3, client 127.0.0.1:50000, user root
SET NAMES 'utf8mb4' COLLATE 'utf8mb4_unicode_ci';
SET SESSION foreign_key_checks = 0;
USE `shop`;
DROP TABLE orders;
";
        assert!(sql.contains(expected), "{sql}");
        assert!(sql.starts_with("-- replaygate quarantine journal export: 1 record(s): 7\n"));
        assert!(!sql.contains("binary-mode is required"), "{sql}");
    }

    #[test]
    fn non_utf8_statement_is_written_as_raw_bytes() {
        let stmt = b"INSERT INTO t VALUES ('caf\xe9')";
        let r = record(8, stmt);
        let sql = export(&[r]);
        assert!(contains(&sql, stmt));
        assert!(contains(&sql, b"INSERT INTO t VALUES ('caf\xe9');\n"));
        assert!(contains(
            &sql,
            b"-- Not valid UTF-8, written as raw bytes (so --binary-mode is required): record(s) 8\n"
        ));
        assert!(contains(&sql, b"-- this statement is not valid UTF-8"));
    }

    #[test]
    fn compound_body_is_wrapped_in_a_delimiter_it_does_not_contain() {
        let body = b"CREATE PROCEDURE p()\nBEGIN\n  SELECT '//';\n  DELETE FROM t;\nEND";
        let sql = String::from_utf8(export(&[record(9, body)])).unwrap();
        let expected = "DELIMITER $$\nCREATE PROCEDURE p()\nBEGIN\n  SELECT '//';\n  DELETE FROM t;\nEND\n$$\nDELIMITER ;\n";
        assert!(sql.contains(expected), "{sql}");
        assert_eq!(choose_delimiter(b"; // $$ %% ~~"), "//1//");
    }

    #[test]
    fn database_names_with_backticks_are_quoted() {
        let mut r = record(10, b"DROP TABLE x");
        r.database = Some("we`ird".into());
        let sql = String::from_utf8(export(&[r])).unwrap();
        assert!(sql.contains("USE `we``ird`;\nDROP TABLE x;\n"), "{sql}");
    }

    #[test]
    fn checks_are_restored_between_records_and_sql_log_bin_is_only_a_comment() {
        let mut a = record(1, b"DROP TABLE a");
        a.foreign_key_checks = false;
        a.unique_checks = false;
        a.sql_log_bin = false;
        let b = record(2, b"DROP TABLE b");
        let c = record(3, b"DROP TABLE c");
        let sql = String::from_utf8(export(&[a, b, c])).unwrap();
        assert_eq!(
            sql.matches("SET SESSION foreign_key_checks = 0;").count(),
            1
        );
        assert_eq!(sql.matches("SET SESSION unique_checks = 0;").count(), 1);
        let b_part = &sql[sql.find("record 2:").unwrap()..sql.find("record 3:").unwrap()];
        assert!(
            b_part
                .contains("SET SESSION foreign_key_checks = 1;\nSET SESSION unique_checks = 1;\n")
        );
        let c_part = &sql[sql.find("record 3:").unwrap()..];
        assert!(!c_part.contains("SET SESSION"), "{c_part}");
        assert!(sql.contains("\n-- SET SESSION sql_log_bin = 0;\n"), "{sql}");
        assert!(!sql.contains("\nSET SESSION sql_log_bin"));
    }

    #[test]
    fn stream_fields_cannot_break_out_of_comments_and_trailing_comments_are_closed() {
        let mut r = record(11, b"DROP TABLE t -- why");
        r.gtid = Some("0-1-1\nDROP DATABASE prod;".into());
        r.charset = "utf8'; DROP".into();
        let sql = String::from_utf8(export(&[r])).unwrap();
        assert!(!sql.contains("\nDROP DATABASE"), "{sql}");
        assert!(sql.contains("GTID 0-1-1\\nDROP DATABASE prod;"), "{sql}");
        assert!(!sql.contains("SET NAMES '"), "{sql}");
        assert!(sql.contains("DROP TABLE t -- why\n;\n"), "{sql}");
    }

    #[test]
    fn a_damaged_record_fails_before_anything_is_written() {
        let mut r = record(12, b"x");
        r.statement = None;
        let mut out = Vec::new();
        assert!(export_sql(&[record(1, b"DROP TABLE a"), r], &mut out).is_err());
        assert!(out.is_empty());
    }
}
