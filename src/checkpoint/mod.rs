//! Checkpoints of a replay through the pipe (`--checkpoint SCHEMA.TABLE`): where in the stream
//! the target is, kept in the target itself, in the same transaction as the data, so a replay
//! that died (the target, replaygate or the client) can be rerun from the start of the same
//! stream and go on right after the last transaction the target committed: nothing doubled,
//! nothing lost.
//!
//! A stream position is a [`Mark`]: the GTID when the stream announces one (`mariadb-binlog`
//! prints `SET @@session.gtid_seq_no=N` before every MariaDB transaction), else the origin server
//! and the binlog position of the event header (`mariadb --comments`), with the ordinal of the
//! binlog file in the stream (files are told apart by their format description events: the
//! first file's name is not in the text). The table holds one row per GTID domain or origin
//! server, and a `baseline` row with the target's own `gtid_binlog_state` when the table was
//! created: what the target's GTID state says beyond that baseline was applied by the replay,
//! which covers a crash between a DDL statement (it commits by itself, before any checkpoint
//! can join it) and its checkpoint.
//!
//! A statement that commits by itself is recorded as [`Pending`] before it is sent, so a rerun
//! can tell whether the target applied it when the replay stopped before its checkpoint
//! ([`pending`] says how).
//!
//! This module is pure: the SQL it renders and the rows it reads. The session runs it
//! (`session/resume.rs`, `session/pending.rs`).

mod pending;

use std::collections::BTreeMap;
use std::fmt;

use crate::sql::string_literal as literal;

pub use crate::binlog::MariaGtid as Gtid;
pub use pending::{BinlogEvent, GtidState, Pending, Verdict, find_statement};

/// Where the checkpoints live: `schema.table` in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointTable {
    pub schema: String,
    pub table: String,
}

impl std::str::FromStr for CheckpointTable {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let unquote = |s: &str| s.trim().trim_matches('`').to_owned();
        match text.split_once('.') {
            Some((schema, table))
                if !unquote(schema).is_empty()
                    && !unquote(table).is_empty()
                    && !table.contains('.') =>
            {
                Ok(Self {
                    schema: unquote(schema),
                    table: unquote(table),
                })
            }
            _ => Err(format!(
                "expected SCHEMA.TABLE (e.g. replaygate.checkpoint), got {text:?}"
            )),
        }
    }
}

impl CheckpointTable {
    fn name(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.table))
    }

    /// Whether the table exists: one row when it does.
    pub fn exists_sql(&self) -> String {
        format!(
            "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
            literal(&self.schema),
            literal(&self.table)
        )
    }

    /// Creates the schema, the table and the baseline row (run only when the table is missing:
    /// each statement is binlogged by the target and takes one of its own GTIDs).
    pub fn create_sql(&self) -> [String; 3] {
        [
            format!("CREATE DATABASE IF NOT EXISTS {}", quote(&self.schema)),
            format!(
                "CREATE TABLE IF NOT EXISTS {} (\
                 source VARCHAR(32) NOT NULL PRIMARY KEY \
                 COMMENT 'domain N (GTIDs), server N (positions), baseline or pending', \
                 gtid TEXT NULL, \
                 file_ordinal INT UNSIGNED NULL \
                 COMMENT 'the binlog file of the stream, counted from 1', \
                 end_log_pos BIGINT UNSIGNED NULL, \
                 origin_server_id INT UNSIGNED NULL COMMENT 'pending: the position''s server', \
                 target_gtid_state TEXT NULL \
                 COMMENT 'pending: the target''s gtid_binlog_state before it was sent', \
                 statement TEXT NULL COMMENT 'pending: the statement sent last', \
                 verdict VARCHAR(16) NULL \
                 COMMENT 'pending: set to applied to have a rerun skip it', \
                 updated_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) \
                 ON UPDATE CURRENT_TIMESTAMP(6)\
                 ) ENGINE=InnoDB COMMENT='replaygate --checkpoint: where the replay is'",
                self.name()
            ),
            format!(
                "INSERT IGNORE INTO {} (source, gtid) VALUES ('baseline', @@GLOBAL.gtid_binlog_state)",
                self.name()
            ),
        ]
    }

    /// Reads the checkpoint rows and the target's GTID state.
    pub fn load_sql(&self) -> String {
        format!(
            "SELECT source, gtid, file_ordinal, end_log_pos, origin_server_id, \
             target_gtid_state, statement, verdict FROM {} \
             UNION ALL SELECT 'target', @@GLOBAL.gtid_binlog_state, NULL, NULL, NULL, NULL, \
             NULL, NULL",
            self.name()
        )
    }

    /// Records the statement about to be sent as pending, without binlogging the write (it
    /// takes no GTID, so it cannot collide with the stream's), with the target's binlog state
    /// when `binlogged` (the target will binlog the statement).
    pub fn pending_sql(&self, mark: &Mark, statement: &str, binlogged: bool) -> String {
        let (gtid, ordinal, pos, server) = match mark {
            Mark::Gtid(g) => (literal(&g.to_string()), None, None, None),
            Mark::Position(p) => (
                "NULL".to_owned(),
                Some(p.file_ordinal),
                Some(p.end_log_pos),
                Some(p.server),
            ),
        };
        let number = |n: Option<u64>| n.map_or_else(|| "NULL".to_owned(), |n| n.to_string());
        let state = if binlogged {
            "@@GLOBAL.gtid_binlog_state"
        } else {
            "NULL"
        };
        format!(
            "SET STATEMENT sql_log_bin = 0 FOR \
             INSERT INTO {} (source, gtid, file_ordinal, end_log_pos, origin_server_id, \
             target_gtid_state, statement, verdict) \
             VALUES ('pending', {gtid}, {}, {}, {}, {state}, {}, NULL) \
             ON DUPLICATE KEY UPDATE gtid = VALUES(gtid), file_ordinal = VALUES(file_ordinal), \
             end_log_pos = VALUES(end_log_pos), origin_server_id = VALUES(origin_server_id), \
             target_gtid_state = VALUES(target_gtid_state), statement = VALUES(statement), \
             verdict = NULL",
            self.name(),
            number(ordinal),
            number(pos),
            number(server.map(u64::from)),
            literal(statement),
        )
    }

    /// What the operator runs to have a rerun skip the pending statement, or run it.
    pub fn pending_resolutions(&self) -> (String, String) {
        (
            format!(
                "UPDATE {} SET verdict = 'applied' WHERE source = 'pending'",
                self.name()
            ),
            format!("DELETE FROM {} WHERE source = 'pending'", self.name()),
        )
    }

    /// Records `mark` as applied, without binlogging the write: for a statement that committed
    /// by itself, found applied on a rerun (a binlogged write would take the stream's GTID).
    pub fn record_unbinlogged_sql(&self, mark: &Mark) -> String {
        format!(
            "SET STATEMENT sql_log_bin = 0 FOR {}",
            self.record_sql(mark)
        )
    }

    /// Records `mark` as applied.
    pub fn record_sql(&self, mark: &Mark) -> String {
        let (source, gtid, ordinal, pos) = match mark {
            Mark::Gtid(g) => (
                format!("domain {}", g.domain_id),
                literal(&g.to_string()),
                "NULL".to_owned(),
                "NULL".to_owned(),
            ),
            Mark::Position(p) => (
                format!("server {}", p.server),
                "NULL".to_owned(),
                p.file_ordinal.to_string(),
                p.end_log_pos.to_string(),
            ),
        };
        format!(
            "INSERT INTO {} (source, gtid, file_ordinal, end_log_pos) VALUES ({}, {gtid}, {ordinal}, {pos}) \
             ON DUPLICATE KEY UPDATE gtid = VALUES(gtid), file_ordinal = VALUES(file_ordinal), \
             end_log_pos = VALUES(end_log_pos)",
            self.name(),
            literal(&source),
        )
    }
}

/// A binlog position of an origin server, in the `file_ordinal`-th file of the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub server: u32,
    pub file_ordinal: u64,
    pub end_log_pos: u64,
}

/// Where a transaction is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Gtid(Gtid),
    /// For a transaction's start: the `# at` position of its first event; for a checkpoint: the
    /// `end_log_pos` of its last.
    Position(Position),
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mark::Gtid(g) => write!(f, "GTID {g}"),
            Mark::Position(p) => write!(
                f,
                "binlog file {} of the stream, position {} (server id {})",
                p.file_ordinal, p.end_log_pos, p.server
            ),
        }
    }
}

/// What the target says has been applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Per GTID domain: the last transaction recorded.
    gtids: BTreeMap<u32, Gtid>,
    /// Per origin server: the end of the last transaction recorded.
    positions: BTreeMap<u32, Position>,
    /// The target's `gtid_binlog_state` now, and when the table was created.
    target: GtidState,
    baseline: GtidState,
    /// The statement that commits by itself sent last, if the table holds one.
    pending: Option<Pending>,
}

impl Checkpoint {
    /// From the rows of [`CheckpointTable::load_sql`]: `source, gtid, file_ordinal,
    /// end_log_pos, …`. Rows it cannot read are left out (and named in the error list).
    pub fn from_rows(rows: &[Vec<Option<String>>]) -> (Self, Vec<String>) {
        let mut cp = Checkpoint::default();
        let mut unreadable = Vec::new();
        for row in rows {
            let cell = |i: usize| row.get(i).cloned().flatten();
            let Some(source) = cell(0) else { continue };
            let number = |i: usize| cell(i).and_then(|v| v.parse::<u64>().ok());
            let read = match source.split_once(' ') {
                Some(("domain", _)) => cell(1)
                    .and_then(|g| g.parse::<Gtid>().ok())
                    .map(|g| cp.gtids.insert(g.domain_id, g))
                    .is_some(),
                Some(("server", server)) => match (server.parse(), number(2), number(3)) {
                    (Ok(server), Some(file_ordinal), Some(end_log_pos)) => {
                        cp.positions.insert(
                            server,
                            Position {
                                server,
                                file_ordinal,
                                end_log_pos,
                            },
                        );
                        true
                    }
                    _ => false,
                },
                _ if source == "baseline" => {
                    cp.baseline = GtidState::parse(cell(1).as_deref().unwrap_or(""));
                    true
                }
                _ if source == "target" => {
                    cp.target = GtidState::parse(cell(1).as_deref().unwrap_or(""));
                    true
                }
                _ if source == "pending" => {
                    cp.pending = Pending::from_row(row);
                    cp.pending.is_some()
                }
                _ => false,
            };
            if !read {
                unreadable.push(source);
            }
        }
        (cp, unreadable)
    }

    /// Whether nothing has been recorded (a first run).
    pub fn is_empty(&self) -> bool {
        self.gtids.is_empty() && self.positions.is_empty() && !self.target_moved()
    }

    fn target_moved(&self) -> bool {
        self.target
            .iter()
            .any(|(k, &seq)| self.baseline.get(k).is_none_or(|b| seq > b))
    }

    /// Whether the transaction that starts at `mark` was applied: at or before the checkpoint
    /// (a GTID at or below its domain's; a position before the recorded end), or in the
    /// target's own GTID state beyond what it held when the table was created.
    pub fn covers(&self, mark: &Mark) -> bool {
        match mark {
            Mark::Gtid(g) => {
                let recorded = self
                    .gtids
                    .get(&g.domain_id)
                    .is_some_and(|c| g.seq_no <= c.seq_no);
                let key = (g.domain_id, g.server_id);
                let by_target = self.target.get(&key).is_some_and(|t| {
                    g.seq_no <= t
                        && self
                            .baseline
                            .get(&key)
                            .is_none_or(|b| t > b && g.seq_no > b)
                });
                recorded || by_target
            }
            Mark::Position(p) => self
                .positions
                .get(&p.server)
                .is_some_and(|c| (p.file_ordinal, p.end_log_pos) < (c.file_ordinal, c.end_log_pos)),
        }
    }

    /// The pending statement, when the transaction that starts at `mark` is it and the
    /// checkpoint does not cover it: the replay stopped between sending it and its checkpoint.
    /// Taken once.
    pub fn take_pending(&mut self, mark: &Mark) -> Option<Pending> {
        if self.pending.as_ref().is_some_and(|p| p.mark == *mark) && !self.covers(mark) {
            self.pending.take()
        } else {
            None
        }
    }

    /// Where the checkpoint says the replay is, for the log.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.gtids.values().map(|g| format!("GTID {g}")).collect();
        parts.extend(
            self.positions
                .values()
                .map(|p| Mark::Position(*p).to_string()),
        );
        if parts.is_empty() {
            "nothing recorded yet".to_owned()
        } else {
            parts.join(", ")
        }
    }
}

fn quote(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[Option<&str>]) -> Vec<Option<String>> {
        cells.iter().map(|c| c.map(str::to_owned)).collect()
    }

    fn gtid(text: &str) -> Mark {
        Mark::Gtid(text.parse().unwrap())
    }

    fn position(server: u32, file_ordinal: u64, end_log_pos: u64) -> Mark {
        Mark::Position(Position {
            server,
            file_ordinal,
            end_log_pos,
        })
    }

    #[test]
    fn table_names_are_schema_dot_table() {
        let t: CheckpointTable = "replaygate.checkpoint".parse().unwrap();
        assert_eq!(
            (t.schema.as_str(), t.table.as_str()),
            ("replaygate", "checkpoint")
        );
        let t: CheckpointTable = "`my db`.`ck`".parse().unwrap();
        assert_eq!(t.name(), "`my db`.`ck`");
        for bad in ["checkpoint", ".t", "s.", "a.b.c"] {
            assert!(bad.parse::<CheckpointTable>().is_err(), "{bad}");
        }
    }

    #[test]
    fn recorded_gtids_cover_their_domain_up_to_the_sequence_number() {
        let (cp, bad) = Checkpoint::from_rows(&[
            row(&[Some("domain 0"), Some("0-1-10"), None, None]),
            row(&[Some("baseline"), Some(""), None, None]),
            row(&[Some("target"), Some("0-1-10"), None, None]),
        ]);
        assert!(bad.is_empty());
        assert!(cp.covers(&gtid("0-1-9")) && cp.covers(&gtid("0-1-10")));
        assert!(!cp.covers(&gtid("0-1-11")));
        assert!(!cp.covers(&gtid("1-1-3")), "another domain");
        assert_eq!(cp.describe(), "GTID 0-1-10");
    }

    #[test]
    fn the_targets_gtid_state_covers_a_ddl_committed_before_its_checkpoint() {
        // The replay recorded 0-1-10; the DDL 0-1-11 committed and the target died.
        let (cp, _) = Checkpoint::from_rows(&[
            row(&[Some("domain 0"), Some("0-1-10"), None, None]),
            row(&[Some("baseline"), Some("0-2-3"), None, None]),
            row(&[Some("target"), Some("0-2-3,0-1-11"), None, None]),
        ]);
        assert!(cp.covers(&gtid("0-1-11")));
        assert!(!cp.covers(&gtid("0-1-12")));
    }

    #[test]
    fn a_gtid_state_the_target_had_before_the_replay_covers_nothing() {
        // A target that once replicated from server 1 up to 0-1-500, then restored from a dump
        // that ends at 0-1-100: its binlog state must not skip 0-1-101..500.
        let (cp, _) = Checkpoint::from_rows(&[
            row(&[Some("baseline"), Some("0-1-500"), None, None]),
            row(&[Some("target"), Some("0-1-500"), None, None]),
        ]);
        assert!(cp.is_empty());
        assert!(!cp.covers(&gtid("0-1-101")));
        // Once the replay moves the state on, only what lies beyond the baseline counts.
        let (cp, _) = Checkpoint::from_rows(&[
            row(&[Some("baseline"), Some("0-1-500"), None, None]),
            row(&[Some("target"), Some("0-1-502"), None, None]),
        ]);
        assert!(cp.covers(&gtid("0-1-501")) && cp.covers(&gtid("0-1-502")));
        assert!(!cp.covers(&gtid("0-1-400")));
    }

    #[test]
    fn positions_cover_what_starts_before_the_recorded_end() {
        let (cp, _) =
            Checkpoint::from_rows(&[row(&[Some("server 1"), None, Some("2"), Some("900")])]);
        assert!(cp.covers(&position(1, 1, 5000)), "an earlier file");
        assert!(cp.covers(&position(1, 2, 800)));
        assert!(
            !cp.covers(&position(1, 2, 900)),
            "the next transaction starts at the end"
        );
        assert!(!cp.covers(&position(1, 3, 4)));
        assert!(!cp.covers(&position(7, 1, 4)), "another origin server");
    }

    #[test]
    fn the_pending_statement_is_taken_only_where_the_checkpoint_stops_before_it() {
        let pending = |gtid: &str| {
            row(&[
                Some("pending"),
                Some(gtid),
                None,
                None,
                None,
                Some("0-1-10"),
                Some("ALTER TABLE t ADD c INT"),
                None,
            ])
        };
        let rows = |gtid: &str| {
            vec![
                row(&[Some("domain 0"), Some("0-1-10"), None, None]),
                row(&[Some("baseline"), Some(""), None, None]),
                row(&[Some("target"), Some("0-1-10"), None, None]),
                pending(gtid),
            ]
        };
        let (mut cp, bad) = Checkpoint::from_rows(&rows("0-1-11"));
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(cp.take_pending(&gtid("0-1-12")), None, "another statement");
        let taken = cp
            .take_pending(&gtid("0-1-11"))
            .expect("the pending statement");
        assert_eq!(taken.statement, "ALTER TABLE t ADD c INT");
        assert_eq!(cp.take_pending(&gtid("0-1-11")), None, "taken once");
        // A pending statement the checkpoint covers was applied: nothing to settle.
        let (mut cp, _) = Checkpoint::from_rows(&rows("0-1-9"));
        assert_eq!(cp.take_pending(&gtid("0-1-9")), None);
    }

    #[test]
    fn pending_records_take_no_gtid() {
        let t: CheckpointTable = "r.c".parse().unwrap();
        let sql = t.pending_sql(&gtid("0-1-7"), "DROP TABLE 'x'", true);
        assert!(
            sql.starts_with("SET STATEMENT sql_log_bin = 0 FOR INSERT INTO `r`.`c`"),
            "{sql}"
        );
        assert!(
            sql.contains("('pending', '0-1-7', NULL, NULL, NULL, @@GLOBAL.gtid_binlog_state, 'DROP TABLE ''x''', NULL)"),
            "{sql}"
        );
        let sql = t.pending_sql(&position(3, 2, 1234), "DROP TABLE x", false);
        assert!(
            sql.contains("('pending', NULL, 2, 1234, 3, NULL, 'DROP TABLE x', NULL)"),
            "{sql}"
        );
        assert!(
            t.record_unbinlogged_sql(&gtid("0-1-7"))
                .starts_with("SET STATEMENT sql_log_bin = 0 FOR INSERT")
        );
    }

    #[test]
    fn unreadable_rows_are_named() {
        let (cp, bad) = Checkpoint::from_rows(&[
            row(&[Some("domain 0"), Some("garbage"), None, None]),
            row(&[Some("server x"), None, Some("1"), Some("4")]),
        ]);
        assert!(cp.is_empty());
        assert_eq!(bad, ["domain 0", "server x"]);
    }

    #[test]
    fn records_are_upserts_keyed_by_domain_or_server() {
        let t: CheckpointTable = "r.c".parse().unwrap();
        let sql = t.record_sql(&gtid("0-1-7"));
        assert!(sql.starts_with("INSERT INTO `r`.`c`"), "{sql}");
        assert!(sql.contains("('domain 0', '0-1-7', NULL, NULL)"), "{sql}");
        assert!(sql.contains("ON DUPLICATE KEY UPDATE"), "{sql}");
        let sql = t.record_sql(&position(3, 2, 1234));
        assert!(sql.contains("('server 3', NULL, 2, 1234)"), "{sql}");
    }
}
