//! The statement that commits by itself (DDL, an autocommit statement), recorded in the
//! checkpoint table as `pending` right before it is forwarded, and what a rerun concludes from
//! it when the replay stopped before its checkpoint.
//!
//! A transaction's checkpoint commits inside it; a statement that commits by itself cannot
//! carry one, so between its commit and the checkpoint that follows it (or, with GTIDs, the
//! target's binlog state) there is a window. Worse, a DDL that MariaDB's crash recovery
//! completes is binlogged by the recovery under the *target's* server id, not the stream's
//! GTID. The pending row closes the window: it names the statement and holds the target's
//! `gtid_binlog_state` from right before it was sent (written with `sql_log_bin=0`, so it takes
//! no GTID). On the rerun, a statement at the pending mark the checkpoint does not cover is
//!
//! - **not applied** when the target's binlog state has not moved since: MariaDB binlogs every
//!   statement it commits, and the one its crash recovery completes;
//! - **applied** when the target's binlog, beyond that state, holds the statement's text;
//! - **unknown** otherwise (the target keeps no binlog, the stream turned `sql_log_bin` off, or
//!   something else wrote to the target): the replay halts before it, and the operator says
//!   which, in the table.

use std::collections::BTreeMap;

use super::{Gtid, Mark, Position};

/// `gtid_binlog_state`: per (domain, server), the last sequence number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GtidState(BTreeMap<(u32, u32), u64>);

impl GtidState {
    /// `0-1-5,1-2-9`; what is not a GTID is left out.
    pub fn parse(text: &str) -> Self {
        Self(
            text.split(',')
                .filter_map(|g| g.parse::<Gtid>().ok())
                .map(|g| ((g.domain_id, g.server_id), g.seq_no))
                .collect(),
        )
    }

    /// The last sequence number of `(domain, server)`.
    pub fn get(&self, key: &(u32, u32)) -> Option<u64> {
        self.0.get(key).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&(u32, u32), &u64)> {
        self.0.iter()
    }

    /// Whether `gtid` was binlogged after `before` and by now (`self`).
    pub fn holds_since(&self, before: &GtidState, gtid: &Gtid) -> bool {
        let key = (gtid.domain_id, gtid.server_id);
        self.get(&key).is_some_and(|now| gtid.seq_no <= now)
            && before.get(&key).is_none_or(|b| gtid.seq_no > b)
    }

    /// The GTIDs binlogged after `before`, per (domain, server) as `d-s-first..last`, for a
    /// message; empty when nothing was.
    pub fn moved_since(&self, before: &GtidState) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|(&(d, s), &now)| {
                let first = before.get(&(d, s)).map_or(1, |b| b + 1);
                (now >= first).then(|| match now - first {
                    0 => format!("{d}-{s}-{now}"),
                    _ => format!("{d}-{s}-{first}..{now}"),
                })
            })
            .collect()
    }
}

/// What the operator said about a pending statement (the table's `verdict` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Skip it: the target holds it.
    Applied,
}

/// The `pending` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Where the statement starts in the stream (as a transaction's start mark).
    pub mark: Mark,
    /// The target's binlog state right before it was sent; `None` when the target would not
    /// binlog it.
    pub state_before: Option<GtidState>,
    /// The beginning of the statement, for messages.
    pub statement: String,
    pub verdict: Option<Verdict>,
}

impl Pending {
    /// From a row `source, gtid, file_ordinal, end_log_pos, origin_server_id,
    /// target_gtid_state, statement, verdict` whose source is `pending`; `None` when it cannot
    /// be read.
    pub fn from_row(row: &[Option<String>]) -> Option<Self> {
        let cell = |i: usize| row.get(i).cloned().flatten();
        let number = |i: usize| cell(i).and_then(|v| v.parse::<u64>().ok());
        let mark = match (cell(1), number(2), number(3), number(4)) {
            (Some(g), None, None, None) => Mark::Gtid(g.parse().ok()?),
            (None, Some(file_ordinal), Some(end_log_pos), Some(server)) => {
                Mark::Position(Position {
                    server: u32::try_from(server).ok()?,
                    file_ordinal,
                    end_log_pos,
                })
            }
            _ => return None,
        };
        let verdict = match cell(7).as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) if v.eq_ignore_ascii_case("applied") => Some(Verdict::Applied),
            Some(_) => return None,
        };
        Some(Self {
            mark,
            state_before: cell(5).map(|s| GtidState::parse(&s)),
            statement: cell(6).unwrap_or_default(),
            verdict,
        })
    }
}

/// One row of `SHOW BINLOG EVENTS`: its `Event_type` and `Info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogEvent {
    pub event_type: String,
    pub info: String,
}

impl BinlogEvent {
    /// From a `SHOW BINLOG EVENTS` row: `Log_name, Pos, Event_type, Server_id, End_log_pos,
    /// Info`.
    pub fn from_row(row: &[Option<String>]) -> Option<Self> {
        Some(Self {
            event_type: row.get(2).cloned().flatten()?,
            info: row.get(5).cloned().flatten().unwrap_or_default(),
        })
    }
}

/// The GTID under which `events` (one binlog file, in order) hold `statement`, among the
/// transactions binlogged after `before` and by `now`: a query event (the statement as sent,
/// after `use db; `), or the annotation of a row event group. `None` when they do not.
pub fn find_statement(
    events: &[BinlogEvent],
    before: &GtidState,
    now: &GtidState,
    statement: &str,
) -> Option<Gtid> {
    let statement = statement.trim();
    if statement.is_empty() {
        return None;
    }
    let mut current: Option<Gtid> = None;
    for event in events {
        match event.event_type.as_str() {
            "Gtid" => {
                // `GTID 0-2-5` (DDL), `BEGIN GTID 0-2-5`, then perhaps ` cid=…`.
                current = event
                    .info
                    .split_whitespace()
                    .skip_while(|w| *w != "GTID")
                    .nth(1)
                    .and_then(|g| g.parse().ok());
            }
            "Query" | "Annotate_rows" => {
                if let Some(g) = current.filter(|g| now.holds_since(before, g))
                    && event.info.trim_end().ends_with(statement)
                {
                    return Some(g);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str, info: &str) -> BinlogEvent {
        BinlogEvent {
            event_type: event_type.to_owned(),
            info: info.to_owned(),
        }
    }

    fn cells(cells: &[Option<&str>]) -> Vec<Option<String>> {
        cells.iter().map(|c| c.map(str::to_owned)).collect()
    }

    #[test]
    fn gtid_states_say_what_was_binlogged_since() {
        let before = GtidState::parse("0-1-10,0-2-3");
        let now = GtidState::parse("0-1-10,0-2-5,1-2-1");
        assert_eq!(now.moved_since(&before), ["0-2-4..5", "1-2-1"]);
        assert!(before.moved_since(&before).is_empty());
        assert!(now.holds_since(&before, &"0-2-4".parse().unwrap()));
        assert!(!now.holds_since(&before, &"0-2-3".parse().unwrap()));
        assert!(!now.holds_since(&before, &"0-1-11".parse().unwrap()));
    }

    #[test]
    fn a_statement_completed_by_crash_recovery_is_found_under_the_targets_gtid() {
        let before = GtidState::parse("0-1-57");
        let now = GtidState::parse("0-1-57,0-2-1");
        let ddl = "ALTER TABLE app.moves ADD COLUMN note200 INT NOT NULL DEFAULT 200";
        let events = [
            event("Format_desc", "Server ver: 10.11.19-MariaDB, Binlog ver: 4"),
            event("Gtid_list", "[0-1-57]"),
            event("Gtid", "GTID 0-2-1"),
            event("Query", &format!("use `app`; {ddl}")),
        ];
        assert_eq!(
            find_statement(&events, &before, &now, ddl),
            Some("0-2-1".parse().unwrap())
        );
        // Not under a GTID binlogged before the pending row was written.
        assert_eq!(find_statement(&events, &now, &now, ddl), None);
        assert_eq!(find_statement(&events, &before, &now, "DROP TABLE x"), None);
    }

    #[test]
    fn an_autocommit_row_change_is_found_by_its_annotation() {
        let before = GtidState::parse("");
        let now = GtidState::parse("0-2-8");
        let stmt = "INSERT INTO app.t VALUES (1)";
        let events = [
            event("Gtid", "BEGIN GTID 0-2-8 cid=31"),
            event("Annotate_rows", stmt),
            event("Table_map", "table_id: 33 (app.t)"),
            event("Write_rows_v1", "table_id: 33 flags: STMT_END_F"),
            event("Xid", "COMMIT /* xid=40 */"),
        ];
        assert_eq!(
            find_statement(&events, &before, &now, stmt),
            Some("0-2-8".parse().unwrap())
        );
    }

    #[test]
    fn pending_rows_read_back_what_was_written() {
        let p = Pending::from_row(&cells(&[
            Some("pending"),
            Some("0-1-58"),
            None,
            None,
            None,
            Some("0-1-57,0-2-3"),
            Some("ALTER TABLE t ADD c INT"),
            None,
        ]))
        .unwrap();
        assert_eq!(p.mark, Mark::Gtid("0-1-58".parse().unwrap()));
        assert_eq!(p.state_before, Some(GtidState::parse("0-1-57,0-2-3")));
        assert_eq!(
            (p.statement.as_str(), p.verdict),
            ("ALTER TABLE t ADD c INT", None)
        );

        let p = Pending::from_row(&cells(&[
            Some("pending"),
            None,
            Some("2"),
            Some("900"),
            Some("7"),
            None,
            Some("DROP TABLE t"),
            Some("applied"),
        ]))
        .unwrap();
        let mark = Mark::Position(Position {
            server: 7,
            file_ordinal: 2,
            end_log_pos: 900,
        });
        assert_eq!(p.mark, mark);
        assert_eq!(p.state_before, None, "a target that would not binlog it");
        assert_eq!(p.verdict, Some(Verdict::Applied));

        let bad: [[Option<&str>; 8]; 3] = [
            [
                Some("pending"),
                Some("x"),
                None,
                None,
                None,
                None,
                None,
                None,
            ],
            [
                Some("pending"),
                Some("0-1-2"),
                None,
                None,
                None,
                None,
                None,
                Some("maybe"),
            ],
            [
                Some("pending"),
                None,
                Some("1"),
                Some("4"),
                None,
                None,
                None,
                None,
            ],
        ];
        for row in bad {
            assert_eq!(Pending::from_row(&cells(&row)), None, "{row:?}");
        }
    }
}
