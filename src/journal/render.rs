//! Human-readable views of journal records for the CLI (`replaygate journal list/show`).
//!
//! Statements come from the replayed stream and may hold anything: control characters are
//! escaped so a statement cannot move the cursor or recolour an operator's terminal, and bytes
//! that are not UTF-8 are shown as `\xNN` instead of being silently replaced.

use std::fmt::Write as _;

use super::JournalRecord;

/// How much of a statement one list line shows.
const LIST_STATEMENT_CHARS: usize = 80;

/// One line per record: id, time, action, rule, kind, where it came from, database, and the
/// statement's first 80 characters.
pub fn render_list(records: &[JournalRecord]) -> String {
    let mut out = String::new();
    for r in records {
        let mut origin = Vec::new();
        if let Some(pos) = r.position {
            origin.push(format!("pos={pos}"));
        }
        if let Some(gtid) = &r.gtid {
            origin.push(format!("gtid={gtid}"));
        }
        if let Some(thread) = r.origin_thread {
            origin.push(format!("thread={thread}"));
        }
        let origin = if origin.is_empty() {
            "-".to_owned()
        } else {
            origin.join(" ")
        };
        // Every field, not only the statement, may come from the stream.
        let e = |text: &str| escape_text(text.as_bytes(), false);
        let _ = writeln!(
            out,
            "{:>6}  {}  {:<17} {}  {}  {}  db={}  {}",
            r.id,
            e(&r.time),
            e(&r.action),
            e(&r.rule),
            e(&r.kind),
            e(&origin),
            e(r.database.as_deref().unwrap_or("-")),
            statement_preview(r),
        );
    }
    out
}

/// Every field of one record, and the whole statement.
pub fn render_record(r: &JournalRecord) -> String {
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let num = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let fields: [(&str, String); 24] = [
        ("time", r.time.clone()),
        ("session", r.session.to_string()),
        ("client", r.client.clone()),
        ("user", r.user.clone()),
        ("origin_thread", num(r.origin_thread)),
        ("gtid", opt(&r.gtid)),
        ("binlog_file", opt(&r.binlog_file)),
        ("position", num(r.position)),
        ("end_log_pos", num(r.end_log_pos)),
        ("event_time", opt(&r.event_time)),
        ("database", opt(&r.database)),
        (
            "foreign_key_checks",
            u8::from(r.foreign_key_checks).to_string(),
        ),
        ("unique_checks", u8::from(r.unique_checks).to_string()),
        ("sql_log_bin", u8::from(r.sql_log_bin).to_string()),
        ("charset", r.charset.clone()),
        ("collation", opt(&r.collation)),
        ("rule", r.rule.clone()),
        ("action", r.action.clone()),
        ("kind", r.kind.clone()),
        ("event_type", opt(&r.event_type)),
        ("replica", num(r.replica.map(u64::from))),
        ("note", opt(&r.note)),
        ("statement_base64", opt(&r.statement_base64)),
        ("statement_encoding", statement_encoding(r).to_owned()),
    ];
    let mut out = format!("journal record {}\n", r.id);
    for (name, value) in fields {
        let _ = writeln!(out, "  {name:<19} {}", escape_text(value.as_bytes(), false));
    }
    match r.statement_bytes() {
        Ok(bytes) => {
            let _ = writeln!(out, "  statement ({} bytes):", bytes.len());
            out.push_str(&escape_text(&bytes, true));
            out.push('\n');
        }
        Err(e) => {
            let _ = writeln!(out, "  statement: unreadable: {e}");
        }
    }
    out
}

fn statement_encoding(r: &JournalRecord) -> &'static str {
    if r.is_binary() {
        "not UTF-8 (stored as base64; shown below with \\xNN for invalid bytes)"
    } else {
        "UTF-8"
    }
}

fn statement_preview(r: &JournalRecord) -> String {
    let Ok(bytes) = r.statement_bytes() else {
        return "<statement unreadable>".to_owned();
    };
    let escaped = escape_text(&bytes, false);
    let mut chars = escaped.chars();
    let mut preview: String = chars.by_ref().take(LIST_STATEMENT_CHARS).collect();
    if chars.next().is_some() {
        preview.push('…');
    }
    preview
}

/// Escapes control characters (`\n`, `\t`, `\u{1b}`, ...), Unicode bidi controls (which can
/// make text display in a different order than it runs) and backslashes; invalid UTF-8 bytes
/// become `\xNN`. With `keep_newlines`, `\n` and `\t` stay as they are, for multi-line display.
pub(super) fn escape_text(bytes: &[u8], keep_newlines: bool) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' | '\t' if keep_newlines => out.push(c),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\\' => out.push_str("\\\\"),
                '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> JournalRecord {
        let mut r = JournalRecord {
            id: 7,
            time: "2026-11-25T17:00:00.123Z".into(),
            session: 3,
            client: "127.0.0.1:50000".into(),
            user: "root".into(),
            origin_thread: Some(5),
            gtid: Some("0-1-42".into()),
            position: Some(1234),
            database: Some("shop".into()),
            foreign_key_checks: false,
            charset: "utf8mb4".into(),
            rule: "destructive-ddl-without-fk-checks".into(),
            action: "quarantine".into(),
            kind: "drop_table".into(),
            ..Default::default()
        };
        r.set_statement(b"DROP TABLE orders");
        r
    }

    #[test]
    fn list_line_has_the_key_fields() {
        let list = render_list(&[sample()]);
        assert_eq!(list.lines().count(), 1);
        for part in [
            "     7  2026-11-25T17:00:00.123Z  quarantine",
            "destructive-ddl-without-fk-checks  drop_table",
            "pos=1234 gtid=0-1-42 thread=5  db=shop  DROP TABLE orders",
        ] {
            assert!(list.contains(part), "{list}");
        }
    }

    #[test]
    fn list_truncates_and_escapes_statements() {
        let mut r = sample();
        let long = format!(
            "INSERT INTO t VALUES ('a\nb\u{1b}[31m', '{}')",
            "x".repeat(100)
        );
        r.set_statement(long.as_bytes());
        let list = render_list(&[r.clone()]);
        assert_eq!(list.lines().count(), 1, "{list}");
        assert!(list.contains("VALUES ('a\\nb\\u{1b}[31m'"), "{list}");
        assert!(list.trim_end().ends_with('…'));
        r.set_statement(b"SELECT 'caf\xe9'");
        assert!(render_list(&[r]).contains("SELECT 'caf\\xe9'"));
    }

    #[test]
    fn record_shows_every_field_and_the_whole_statement() {
        let mut r = sample();
        r.set_statement(b"CREATE PROCEDURE p()\nBEGIN\n  DELETE FROM t;\nEND");
        r.note = Some("executed instead: nothing".into());
        let text = render_record(&r);
        for part in [
            "journal record 7\n",
            "  foreign_key_checks  0\n",
            "  unique_checks       1\n",
            "  gtid                0-1-42\n",
            "  binlog_file         -\n",
            "  note                executed instead: nothing\n",
            "  statement (47 bytes):\nCREATE PROCEDURE p()\nBEGIN\n  DELETE FROM t;\nEND\n",
        ] {
            assert!(text.contains(part), "{part:?} missing from\n{text}");
        }
        r.set_statement(b"SELECT '\xff'");
        assert!(render_record(&r).contains("not UTF-8"));
        assert!(render_record(&r).contains("SELECT '\\xff'"));
    }
}
