//! Everything replaygate knows about one client session: where the replay is (binlog position,
//! GTID, origin thread) and the session variables that decide how statements are read and how
//! dangerous they are (charset, foreign_key_checks, sql_log_bin, ...).
//!
//! The state changes only when the target has accepted the statement that changes it, so it
//! always describes the backend session as it really is.

use std::fmt;

use mysql_common::constants::StatusFlags;

use crate::sql::{EventHeader, SessionEffect, SetValue};

/// The GTID of the transaction being replayed, as the stream announced it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Gtid {
    pub domain_id: Option<u64>,
    pub server_id: Option<u64>,
    pub seq_no: Option<u64>,
    /// MySQL's `SET @@SESSION.GTID_NEXT='uuid:n'`, or a GTID from a MariaDB event header.
    pub literal: Option<String>,
}

impl Gtid {
    /// `domain-server-seq` (MariaDB) or the literal; `None` when nothing was announced.
    pub fn display(&self) -> Option<String> {
        if let (Some(d), Some(s), Some(n)) = (self.domain_id, self.server_id, self.seq_no) {
            return Some(format!("{d}-{s}-{n}"));
        }
        self.literal.clone()
    }
}

/// Per-session state, updated from accepted statements and the server's status flags.
#[derive(Debug, Clone)]
pub struct SessionState {
    pub user: String,
    pub database: Option<String>,
    /// `character_set_client`: how the server reads the statement bytes.
    pub charset: String,
    pub collation: Option<String>,
    pub foreign_key_checks: bool,
    pub unique_checks: bool,
    pub sql_log_bin: bool,
    pub autocommit: bool,
    pub in_transaction: bool,
    pub no_backslash_escapes: bool,
    pub gtid: Gtid,
    pub pseudo_thread_id: Option<u64>,
    pub timestamp: Option<String>,
    /// The last binlog event header the stream carried (`mariadb --comments`).
    pub event: Option<EventHeader>,
    /// Statements the target has acknowledged in this session.
    pub acknowledged: u64,
    /// Binlog files the stream has started (their format description events): the ordinal of
    /// the file a position is in, since the first file's name is not in the text.
    pub stream_files: u64,
}

impl SessionState {
    pub fn new(user: String, database: Option<String>, charset: String) -> Self {
        Self {
            user,
            database,
            charset,
            collation: None,
            foreign_key_checks: true,
            unique_checks: true,
            sql_log_bin: true,
            autocommit: true,
            in_transaction: false,
            no_backslash_escapes: false,
            gtid: Gtid::default(),
            pseudo_thread_id: None,
            timestamp: None,
            event: None,
            acknowledged: 0,
            stream_files: 0,
        }
    }

    /// Records what the server's status flags say about the session.
    pub fn observe_status(&mut self, status: StatusFlags) {
        self.in_transaction = status.contains(StatusFlags::SERVER_STATUS_IN_TRANS);
        self.autocommit = status.contains(StatusFlags::SERVER_STATUS_AUTOCOMMIT);
        self.no_backslash_escapes =
            status.contains(StatusFlags::SERVER_STATUS_NO_BACKSLASH_ESCAPES);
    }

    /// Records the binlog event header that preceded a statement.
    pub fn observe_header(&mut self, header: &EventHeader) {
        if let Some(gtid) = &header.gtid {
            // `GTID 0-1-5`: all three parts (the stream's `SET @@session.server_id` and
            // `gtid_domain_id` come only when they change, so they cannot be relied on here).
            let parts = gtid.parse::<crate::binlog::MariaGtid>().ok();
            self.gtid = Gtid {
                domain_id: parts.map(|g| u64::from(g.domain_id)),
                server_id: parts.map(|g| u64::from(g.server_id)),
                seq_no: parts.map(|g| g.seq_no),
                literal: Some(gtid.clone()),
            };
        }
        match &mut self.event {
            // A header without `# at` (rare) keeps the last known position.
            Some(previous) if header.position.is_none() => {
                let position = previous.position;
                *previous = header.clone();
                previous.position = position;
            }
            _ => self.event = Some(header.clone()),
        }
    }

    /// Applies the effect of a statement the target accepted. `charset_of_id` resolves numeric
    /// collation ids (as mysqlbinlog prints them) to charset names.
    pub fn apply(&mut self, effect: &SessionEffect, charset_of_id: impl Fn(u64) -> Option<String>) {
        match effect {
            SessionEffect::SetNames { charset, collation } => {
                self.charset = charset.to_ascii_lowercase();
                self.collation = collation.as_ref().map(|c| c.to_ascii_lowercase());
            }
            SessionEffect::SetCharacterSet { charset } => {
                self.charset = charset.to_ascii_lowercase();
            }
            SessionEffect::Use { database } => self.database = Some(database.clone()),
            SessionEffect::Begin | SessionEffect::Commit | SessionEffect::Rollback => {}
            SessionEffect::SetVariable { name, value } => {
                self.set_variable(name, value, charset_of_id)
            }
        }
    }

    fn set_variable(
        &mut self,
        name: &str,
        value: &SetValue,
        charset_of_id: impl Fn(u64) -> Option<String>,
    ) {
        match name {
            "character_set_client" => {
                if let Some(charset) = match value {
                    SetValue::Int(id) => u64::try_from(*id).ok().and_then(&charset_of_id),
                    SetValue::Ident(name) | SetValue::Str(name) => Some(name.to_ascii_lowercase()),
                    _ => None,
                } {
                    self.charset = charset;
                }
            }
            "foreign_key_checks" => set_flag(&mut self.foreign_key_checks, value),
            "unique_checks" => set_flag(&mut self.unique_checks, value),
            "sql_log_bin" => set_flag(&mut self.sql_log_bin, value),
            "autocommit" => set_flag(&mut self.autocommit, value),
            "pseudo_thread_id" => self.pseudo_thread_id = as_u64(value),
            "timestamp" => {
                self.timestamp = match value {
                    SetValue::Int(t) => Some(t.to_string()),
                    SetValue::Other(t) | SetValue::Str(t) => Some(t.clone()),
                    _ => None,
                }
            }
            "gtid_domain_id" => self.gtid.domain_id = as_u64(value),
            "server_id" => self.gtid.server_id = as_u64(value),
            "gtid_seq_no" => self.gtid.seq_no = as_u64(value),
            "gtid_next" => {
                if let SetValue::Str(gtid) | SetValue::Ident(gtid) = value {
                    self.gtid = Gtid {
                        literal: Some(gtid.clone()),
                        ..Gtid::default()
                    };
                }
            }
            _ => {}
        }
    }
}

fn as_u64(value: &SetValue) -> Option<u64> {
    match value {
        SetValue::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

fn set_flag(flag: &mut bool, value: &SetValue) {
    match value {
        SetValue::Int(n) => *flag = *n != 0,
        SetValue::Ident(v) | SetValue::Str(v) => match v.to_ascii_lowercase().as_str() {
            "on" | "true" => *flag = true,
            "off" | "false" => *flag = false,
            _ => {}
        },
        SetValue::Default => *flag = true,
        SetValue::Other(_) => {}
    }
}

/// Where a statement sits in the replayed stream, for log lines and error messages.
#[derive(Debug, Clone, Default)]
pub struct StreamPosition {
    pub position: Option<u64>,
    pub end_log_pos: Option<u64>,
    pub thread_id: Option<u64>,
    pub gtid: Option<String>,
    pub timestamp: Option<String>,
}

impl StreamPosition {
    pub fn of(state: &SessionState) -> Self {
        let event = state.event.as_ref();
        Self {
            position: event.and_then(|e| e.position),
            end_log_pos: event.and_then(|e| e.end_log_pos),
            thread_id: event.and_then(|e| e.thread_id).or(state.pseudo_thread_id),
            gtid: state.gtid.display(),
            timestamp: event.and_then(|e| e.timestamp.clone()),
        }
    }

    pub fn is_known(&self) -> bool {
        self.position.is_some() || self.gtid.is_some() || self.thread_id.is_some()
    }
}

impl fmt::Display for StreamPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = self.position {
            parts.push(format!("binlog position {p}"));
        }
        if let Some(p) = self.end_log_pos {
            parts.push(format!("end_log_pos {p}"));
        }
        if let Some(g) = &self.gtid {
            parts.push(format!("GTID {g}"));
        }
        if let Some(t) = self.thread_id {
            parts.push(format!("origin thread {t}"));
        }
        if let Some(t) = &self.timestamp {
            parts.push(format!("event time {t}"));
        }
        if parts.is_empty() {
            f.write_str(
                "an unknown binlog position (replay with `mariadb --comments` to pass binlog positions)",
            )
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(name: &str, n: i64) -> SessionEffect {
        SessionEffect::SetVariable {
            name: name.into(),
            value: SetValue::Int(n),
        }
    }

    #[test]
    fn numeric_charset_ids_resolve_through_the_target_catalog() {
        let mut s = SessionState::new("root".into(), None, "utf8mb4".into());
        let catalog = |id: u64| (id == 8).then(|| "latin1".to_owned());
        s.apply(&int("character_set_client", 8), catalog);
        assert_eq!(s.charset, "latin1");
        s.apply(&int("character_set_client", 999), catalog);
        assert_eq!(
            s.charset, "latin1",
            "an unknown id leaves the charset as it was"
        );
    }

    #[test]
    fn flags_and_gtid_follow_the_stream() {
        let mut s = SessionState::new("root".into(), None, "utf8mb4".into());
        let none = |_| None;
        s.apply(&int("foreign_key_checks", 0), none);
        s.apply(
            &SessionEffect::SetVariable {
                name: "sql_log_bin".into(),
                value: SetValue::Ident("OFF".into()),
            },
            none,
        );
        s.apply(&int("gtid_domain_id", 0), none);
        s.apply(&int("server_id", 1), none);
        s.apply(&int("gtid_seq_no", 42), none);
        s.apply(&int("pseudo_thread_id", 7), none);
        assert!(!s.foreign_key_checks);
        assert!(!s.sql_log_bin);
        assert_eq!(s.gtid.display().as_deref(), Some("0-1-42"));
        let pos = StreamPosition::of(&s);
        assert_eq!(pos.thread_id, Some(7));
        assert!(pos.to_string().contains("GTID 0-1-42"));
    }

    #[test]
    fn unknown_position_says_how_to_get_one() {
        let s = SessionState::new("root".into(), None, "utf8mb4".into());
        assert!(StreamPosition::of(&s).to_string().contains("--comments"));
    }
}
