//! One journal line: a statement the guard did not execute as sent, with everything an operator
//! needs to find it in the binlog and to re-apply it in the session context it was written in.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};

use super::JournalError;

/// A quarantined, halted or rewritten statement, as written to `journal.jsonl` (one JSON object
/// per line). Field order is the on-disk order, so `jq`/`grep` users see the id first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalRecord {
    /// Unique and increasing within a journal directory; assigned by [`super::Journal::append`].
    pub id: u64,
    /// RFC 3339 UTC (`2026-11-25T17:00:00.123Z`); filled in by `append` when empty.
    pub time: String,
    /// replaygate's client-session id.
    pub session: u64,
    /// Client address.
    pub client: String,
    pub user: String,
    /// The binlog event header's `thread_id` / `pseudo_thread_id`.
    pub origin_thread: Option<u64>,
    pub gtid: Option<String>,
    pub binlog_file: Option<String>,
    /// The event's `# at` offset.
    pub position: Option<u64>,
    pub end_log_pos: Option<u64>,
    /// The event header's timestamp as mariadb-binlog printed it.
    pub event_time: Option<String>,
    pub database: Option<String>,
    pub foreign_key_checks: bool,
    pub unique_checks: bool,
    pub sql_log_bin: bool,
    /// `character_set_client` in effect.
    pub charset: String,
    pub collation: Option<String>,
    /// The rule that decided.
    pub rule: String,
    /// `halt`, `quarantine`, `quarantine-origin`, `rewrite`, ...
    pub action: String,
    /// Statement kind, e.g. `drop_table`.
    pub kind: String,
    /// The statement text when it is valid UTF-8 ...
    pub statement: Option<String>,
    /// ... else its bytes in base64. Exactly one of the two is set: JSON strings must be UTF-8,
    /// and a latin1 or binary statement must come back byte for byte when it is re-applied.
    pub statement_base64: Option<String>,
    /// E.g. the rewrite that was executed instead.
    pub note: Option<String>,
    /// The binlog event it came in, for records from a replication stream (`Query`,
    /// `Delete_rows_v1`, ...); absent for statements of a text replay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The server id of the replica the event was withheld from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<u32>,
}

/// The server defaults (checks on, binlogging on), so a record built with
/// `JournalRecord { rule, action, ..Default::default() }` does not claim disabled checks by accident.
impl Default for JournalRecord {
    fn default() -> Self {
        JournalRecord {
            id: 0,
            time: String::new(),
            session: 0,
            client: String::new(),
            user: String::new(),
            origin_thread: None,
            gtid: None,
            binlog_file: None,
            position: None,
            end_log_pos: None,
            event_time: None,
            database: None,
            foreign_key_checks: true,
            unique_checks: true,
            sql_log_bin: true,
            charset: String::new(),
            collation: None,
            rule: String::new(),
            action: String::new(),
            kind: String::new(),
            statement: None,
            statement_base64: None,
            note: None,
            event_type: None,
            replica: None,
        }
    }
}

impl JournalRecord {
    /// Stores the statement: as text when it is valid UTF-8, else as base64 of the exact bytes.
    pub fn set_statement(&mut self, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                self.statement = Some(text.to_owned());
                self.statement_base64 = None;
            }
            Err(_) => {
                self.statement = None;
                self.statement_base64 = Some(BASE64.encode(bytes));
            }
        }
    }

    /// The statement's exact bytes, from whichever of the two fields is set.
    pub fn statement_bytes(&self) -> Result<Vec<u8>, JournalError> {
        let invalid = |problem: String| JournalError::InvalidRecord {
            id: self.id,
            problem,
        };
        match (&self.statement, &self.statement_base64) {
            (Some(text), None) => Ok(text.as_bytes().to_vec()),
            (None, Some(encoded)) => BASE64
                .decode(encoded)
                .map_err(|e| invalid(format!("statement_base64 is not valid base64: {e}"))),
            (Some(_), Some(_)) => Err(invalid(
                "both statement and statement_base64 are set".to_owned(),
            )),
            (None, None) => Err(invalid(
                "neither statement nor statement_base64 is set".to_owned(),
            )),
        }
    }

    /// Whether the statement is stored as base64 (its bytes are not UTF-8).
    pub fn is_binary(&self) -> bool {
        self.statement.is_none() && self.statement_base64.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_statement_is_stored_as_text() {
        let mut record = JournalRecord::default();
        record.set_statement("DROP TABLE `café`".as_bytes());
        assert_eq!(record.statement.as_deref(), Some("DROP TABLE `café`"));
        assert_eq!(record.statement_base64, None);
        assert_eq!(
            record.statement_bytes().unwrap(),
            "DROP TABLE `café`".as_bytes()
        );
    }

    #[test]
    fn non_utf8_statement_round_trips_through_base64() {
        let bytes = b"INSERT INTO t VALUES ('caf\xe9', '\x00\xff')";
        let mut record = JournalRecord::default();
        record.set_statement("overwritten".as_bytes());
        record.set_statement(bytes);
        assert_eq!(record.statement, None);
        assert!(record.is_binary());
        assert_eq!(record.statement_bytes().unwrap(), bytes);
    }

    #[test]
    fn a_record_without_exactly_one_statement_field_is_an_error() {
        let mut record = JournalRecord {
            id: 4,
            ..Default::default()
        };
        let err = record.statement_bytes().unwrap_err().to_string();
        assert!(err.contains("record 4") && err.contains("neither"), "{err}");
        record.statement = Some("x".into());
        record.statement_base64 = Some("eA==".into());
        assert!(record.statement_bytes().is_err());
        record.statement = None;
        record.statement_base64 = Some("not base64!".into());
        let err = record.statement_bytes().unwrap_err().to_string();
        assert!(err.contains("not valid base64"), "{err}");
    }
}
