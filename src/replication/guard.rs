//! The guard on events: every event of a replication stream is framed, checked, decoded and
//! judged by the same rules as the SQL path, in the session state the event itself carries
//! (its default database, its `foreign_key_checks`, its charset), never the state of the
//! connection that carries it.
//!
//! Pure: [`EventGuard::feed`] takes one event packet and says what to send, what was withheld
//! (to journal), what a `log` rule matched, and whether the stream halts. Events are held per
//! group (`group.rs`) until the group's verdict is known:
//!
//! - `halt`: the group and everything after it are dropped; the replica never receives them;
//! - `quarantine`, `quarantine-origin` (and `reject`, which a replica cannot be told about any
//!   other way): the group's content events are replaced by same-size no-ops, its GTID, BEGIN
//!   and COMMIT pass, so GTIDs and positions advance; `quarantine-origin` also withholds every
//!   later group whose statements carry the same origin thread;
//! - `rewrite`: a DROP TABLE becomes a RENAME that keeps the data, in an event of the same size
//!   (halt when it does not fit);
//! - rules with `rows_deleted_over` count the rows each group deletes per table.
//!
//! An event with a wrong checksum, or one the guard must read and cannot, halts: nothing
//! unjudged reaches the replica.
//!
//! Query events are judged in `judge.rs`; the same-size events sent in place of withheld
//! or rewritten ones are made in `replacement.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;

use crate::binlog::{
    Event, EventData, EventHeader, EventType, FormatDescription, OwnedTableMap, RowsKind,
};
use crate::policy::{Action, Policy, RowsContext, Verdict};
use crate::sql::{LexOptions, StatementKind};

use super::group::{Decision, Group, Mode, RewriteTarget};
use super::judge::{JudgedQuery, judge_query, mariadb_applies, must_read};
use super::outcome::{EventPosition, Halt, Logged, Withheld};
use super::replacement;

/// How the guard works for one stream.
#[derive(Debug, Clone, Copy)]
pub struct GuardSettings {
    /// A group holding more than this is passed on as it arrives (and cannot be withheld).
    pub hold_bytes: usize,
    /// Whether withheld events can be journaled; without a journal a withholding verdict halts.
    pub journal: bool,
    /// The replica is MariaDB (it said `@mariadb_slave_capability`): MySQL-only events it
    /// cannot apply halt with replaygate's reason instead of breaking its applier.
    pub mariadb_replica: bool,
}

/// What one call to [`EventGuard::feed`] produced. The caller journals `withheld` (before
/// sending anything), logs `logged`, then sends `send` in order; after a `halt` it sends
/// nothing more.
#[derive(Debug, Default)]
pub struct Output {
    pub send: Vec<BytesMut>,
    pub withheld: Vec<Withheld>,
    pub logged: Vec<Logged>,
    pub halt: Option<Halt>,
    /// An origin thread quarantined by this call, with the rule.
    pub quarantined_origin: Option<(u32, String)>,
}

/// Where the stream is, as far as the replica was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    pub file: String,
    /// End position of the last event sent.
    pub end: u64,
    /// GTID of the last group sent whole.
    pub gtid: Option<String>,
    pub events: u64,
    pub bytes: u64,
}

/// The guard of one replication stream.
#[derive(Debug)]
pub struct EventGuard {
    settings: GuardSettings,
    format: Arc<FormatDescription>,
    lex: LexOptions,
    file: String,
    tables: HashMap<u64, OwnedTableMap>,
    group: Option<Group>,
    quarantined: HashMap<u32, String>,
    sent: Sent,
    halted: bool,
}

/// What an event is to the guard, taken out of its bytes before they move into the group.
enum Seen {
    Format(FormatDescription),
    Rotate(String),
    Heartbeat,
    Gtid(String, Mode),
    Query(JudgedQuery),
    End,
    TableMap(OwnedTableMap),
    Rows {
        table_id: u64,
        kind: RowsKind,
        ends_statement: bool,
        deleted: Option<u64>,
    },
    /// Part of a group (intvar, rand, user var, annotate, load data, ...).
    Content,
    /// Passes through as is (GTID lists, checkpoints, stops, unknown types).
    Passive,
    /// An event that must not reach the replica, and why.
    Refused(String),
}

impl EventGuard {
    /// A guard for a new stream; `quarantined` are origins quarantined on earlier connections
    /// of the same replica.
    pub fn new(settings: GuardSettings, quarantined: HashMap<u32, String>) -> Self {
        EventGuard {
            settings,
            format: Arc::new(FormatDescription::assumed_v4(
                crate::binlog::ChecksumAlg::Off,
            )),
            lex: LexOptions::default(),
            file: String::new(),
            tables: HashMap::new(),
            group: None,
            quarantined,
            sent: Sent::default(),
            halted: false,
        }
    }

    /// The checksum the stream's events carry before its first format description (what the
    /// replica and the primary agreed on in `@master_binlog_checksum`).
    pub fn assume_checksum(&mut self, checksum: crate::binlog::ChecksumAlg) {
        self.format = Arc::new(FormatDescription::assumed_v4(checksum));
    }

    /// Names the binlog file the events come from, for a stream that starts without a rotate
    /// (a file read from disk).
    pub fn set_file(&mut self, file: impl Into<String>) {
        self.file = file.into();
    }

    pub fn sent(&self) -> &Sent {
        &self.sent
    }

    /// Events of an unfinished group, held until it ends (a stream that stops inside a
    /// transaction leaves them unsent).
    pub fn held_events(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.held.len())
    }

    /// Drops the unfinished group without sending it (a stream that stops inside a
    /// transaction). Returns whether part of it had already gone out (an oversized one).
    pub fn discard_open_group(&mut self) -> bool {
        self.group.take().is_some_and(|g| g.partly_sent)
    }

    pub fn quarantined_origins(&self) -> &HashMap<u32, String> {
        &self.quarantined
    }

    /// Judges one event packet (`0x00` then the event).
    pub fn feed(&mut self, packet: BytesMut, policy: &Policy, out: &mut Output) {
        if self.halted {
            return;
        }
        let (header, at, seen) = match self.inspect(&packet, policy) {
            Ok(parts) => parts,
            Err(halt) => return self.halt(*halt, out),
        };
        match seen {
            Seen::Heartbeat => out.send.push(packet),
            Seen::Format(format) => {
                self.lex.target_version =
                    crate::binlog::format::version_number(&format.server_version);
                self.lex.is_mariadb = format.is_mariadb();
                self.format = Arc::new(format);
                self.pass(packet, out);
            }
            Seen::Rotate(file) => {
                self.file = file;
                self.pass(packet, out);
            }
            Seen::Passive => self.pass(packet, out),
            Seen::Refused(why) => self.halt(
                Halt::new(at, "uninspectable event", header.event_type.to_string()).why(why),
                out,
            ),
            Seen::Gtid(gtid, mode) => {
                self.close_group(out);
                self.group = Some(Group::new(mode, Some(gtid), Arc::clone(&self.format)));
                self.hold(packet, true, out);
            }
            Seen::Query(q) => self.query(packet, at, q, out),
            Seen::End => {
                self.ensure_group(Mode::Transaction);
                self.hold(packet, true, out);
                self.close_group(out);
            }
            Seen::TableMap(table) => {
                self.tables.insert(table.table_id, table);
                self.ensure_group(Mode::Standalone);
                self.hold(packet, false, out);
            }
            Seen::Rows {
                table_id,
                kind,
                ends_statement,
                deleted,
            } => {
                self.ensure_group(Mode::Standalone);
                if let (Some(n), RowsKind::Delete) = (deleted, kind) {
                    self.count_deletes(table_id, n, at, policy, out);
                }
                if self.halted {
                    return;
                }
                self.hold(packet, false, out);
                let implicit = self.group.as_ref().is_some_and(|g| g.gtid.is_none());
                if ends_statement && implicit && self.mode() == Some(Mode::Standalone) {
                    self.close_group(out);
                }
            }
            Seen::Content => {
                self.ensure_group(Mode::Standalone);
                self.hold(packet, false, out);
            }
        }
    }

    /// Frames, checks and decodes the event, and judges a statement.
    fn inspect(
        &self,
        packet: &[u8],
        policy: &Policy,
    ) -> Result<(EventHeader, EventPosition, Seen), Box<Halt>> {
        let bytes = packet.get(1..).unwrap_or_default();
        let unreadable = |at: EventPosition, kind: String, why: String| {
            Box::new(Halt::new(at, "unreadable event", kind).why(why))
        };
        let header = EventHeader::parse(bytes)
            .map_err(|e| unreadable(self.position(None), "event".into(), e.to_string()))?;
        let at = self.position(Some(&header));
        let event = Event::parse(bytes, self.format.checksum)
            .map_err(|e| unreadable(at.clone(), header.event_type.to_string(), e.to_string()))?;
        if let Err(e) = event.verify_checksum() {
            return Err(Box::new(
                Halt::new(at, "event checksum", header.event_type.to_string())
                    .why(format!("{e}; the event was not sent to the replica")),
            ));
        }
        let t = header.event_type;
        let data = match event.decode(&self.format) {
            Ok(data) => data,
            // What the guard must judge it must read; anything else passes as it is.
            Err(e) if must_read(t) => {
                return Err(unreadable(at, t.to_string(), e.to_string()));
            }
            Err(_) => EventData::Other,
        };
        let seen = match data {
            EventData::FormatDescription(f) => Seen::Format(f),
            EventData::Rotate { file, .. } => {
                Seen::Rotate(String::from_utf8_lossy(file).into_owned())
            }
            EventData::Heartbeat { .. } => Seen::Heartbeat,
            EventData::Gtid(g) => Seen::Gtid(
                g.gtid.to_string(),
                if g.is_standalone() {
                    Mode::Standalone
                } else {
                    Mode::Transaction
                },
            ),
            EventData::MysqlGtid(g) => Seen::Gtid(g.to_string(), Mode::AwaitingFirst),
            EventData::Query(q) => Seen::Query(judge_query(&q, self.lex, policy)),
            EventData::Xid(_) => Seen::End,
            EventData::TableMap(t) => Seen::TableMap(t.into_owned()),
            EventData::Rows(r) => {
                let deleted = if r.kind() == RowsKind::Delete && policy.has_rows_rules() {
                    let table = self.tables.get(&r.table_id).ok_or_else(|| {
                        unreadable(
                            at.clone(),
                            t.to_string(),
                            format!("no table map for table id {}", r.table_id),
                        )
                    })?;
                    // A count that cannot be taken fails closed: treat it as unbounded.
                    Some(r.count_rows(table).ok().flatten().unwrap_or(u64::MAX))
                } else {
                    None
                };
                Seen::Rows {
                    table_id: r.table_id,
                    kind: r.kind(),
                    ends_statement: r.ends_statement(),
                    deleted,
                }
            }
            EventData::TransactionPayload => Seen::Refused(
                "a MySQL compressed transaction (binlog_transaction_compression) cannot be \
                 judged; turn compression off on the primary"
                    .into(),
            ),
            EventData::Incident { kind, message } => Seen::Refused(format!(
                "the primary recorded an incident in its binlog (kind {kind}: {}): events may be \
                 missing after this point",
                String::from_utf8_lossy(message)
            )),
            _ if self.settings.mariadb_replica && !mariadb_applies(&header) => {
                Seen::Refused(format!(
                    "{t} is a MySQL event a MariaDB replica cannot apply; replay these files \
                     with mariadb-binlog and serve, or to a MySQL server"
                ))
            }
            EventData::Intvar { .. }
            | EventData::Rand { .. }
            | EventData::UserVar { .. }
            | EventData::Annotate(_)
            | EventData::RowsQuery(_)
            | EventData::LoadData { .. }
            | EventData::DeleteFile { .. } => Seen::Content,
            _ if t == EventType::XA_PREPARE => Seen::End,
            _ => Seen::Passive,
        };
        Ok((header, at, seen))
    }

    fn query(&mut self, packet: BytesMut, at: EventPosition, q: JudgedQuery, out: &mut Output) {
        match self.group.as_mut() {
            None => {
                let mode = if q.begins {
                    Mode::Transaction
                } else {
                    Mode::Standalone
                };
                self.group = Some(Group::new(mode, None, Arc::clone(&self.format)));
            }
            Some(g) if g.mode == Mode::AwaitingFirst => {
                g.mode = if q.begins {
                    Mode::Transaction
                } else {
                    Mode::Standalone
                };
            }
            Some(_) => {}
        }
        let index = self.held_index();
        let group = self.group.as_mut().expect("a group was just ensured");
        if q.thread_id != 0 && group.origin.is_none() {
            group.origin = Some(q.thread_id);
        }
        if let Some(rule) = group.origin.and_then(|o| self.quarantined.get(&o))
            && !q.control
        {
            group.consider(Decision {
                verdict: Verdict {
                    action: Action::Quarantine,
                    rule: rule.clone(),
                },
                at: at.clone(),
                kind: q.classification.kind.as_str().to_owned(),
                thread_id: Some(q.thread_id),
                statement: q.preview.clone(),
                note: Some(format!(
                    "origin thread {} was quarantined earlier",
                    q.thread_id
                )),
                index,
                rewrite: None,
            });
        }
        let rewrite = (q.verdict.action == Action::Rewrite).then(|| RewriteTarget {
            objects: q.classification.objects.clone(),
            if_exists: q.classification.if_exists,
            database: q.database.clone(),
            start: at.start.unwrap_or(at.end),
        });
        let is_drop = q.classification.kind == StatementKind::DropTable;
        group.consider(Decision {
            verdict: q.verdict,
            at,
            kind: q.classification.kind.as_str().to_owned(),
            thread_id: Some(q.thread_id),
            statement: q.preview,
            note: None,
            index,
            rewrite: rewrite.filter(|_| is_drop),
        });
        if self.check_decision(out) {
            return;
        }
        self.hold(packet, q.control, out);
        let standalone = self.mode() == Some(Mode::Standalone);
        if (standalone && !q.begins) || q.ends {
            self.close_group(out);
        }
    }

    fn count_deletes(
        &mut self,
        table_id: u64,
        rows: u64,
        at: EventPosition,
        policy: &Policy,
        out: &mut Output,
    ) {
        let Some(table) = self.tables.get(&table_id) else {
            return;
        };
        let key = (table.database.clone(), table.table.clone());
        let index = self.held_index();
        let Some(group) = self.group.as_mut() else {
            return;
        };
        let total = group.deleted.entry(key.clone()).or_default();
        *total = total.saturating_add(rows);
        let deleted = *total;
        if let Some(verdict) = policy.decide_rows(&RowsContext {
            schema: &key.0,
            table: &key.1,
            deleted,
        }) {
            group.consider(Decision {
                verdict,
                at,
                kind: "delete_rows".into(),
                thread_id: None,
                statement: format!(
                    "{} rows deleted from {}.{} in one transaction",
                    if deleted == u64::MAX {
                        "uncountable".to_owned()
                    } else {
                        deleted.to_string()
                    },
                    key.0,
                    key.1
                ),
                note: None,
                index,
                rewrite: None,
            });
            self.check_decision(out);
        }
    }

    /// Halts at once on a halt verdict, or on a withholding one for a group already partly
    /// sent. True when the stream halted.
    fn check_decision(&mut self, out: &mut Output) -> bool {
        let Some(group) = &self.group else {
            return false;
        };
        let Some(d) = &group.decision else {
            return false;
        };
        let withholds = matches!(
            d.verdict.action,
            Action::Quarantine | Action::QuarantineOrigin | Action::Reject | Action::Rewrite
        );
        let why = if d.verdict.action == Action::Halt {
            d.note.clone()
        } else if withholds && group.partly_sent {
            Some(format!(
                "{} a transaction larger than replication.hold_bytes whose first events already \
                 reached the replica, which cannot be withheld in part",
                d.verdict.action
            ))
        } else {
            return false;
        };
        let mut halt = Halt::new(d.at.clone(), d.verdict.rule.clone(), d.kind.clone());
        halt.thread_id = d.thread_id;
        halt.statement.clone_from(&d.statement);
        halt.why = why;
        self.halt(halt, out);
        true
    }

    fn mode(&self) -> Option<Mode> {
        self.group.as_ref().map(|g| g.mode)
    }

    /// The index the next held packet will have within its group.
    fn held_index(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.held.len())
    }

    fn ensure_group(&mut self, mode: Mode) {
        if self.group.is_none() {
            self.group = Some(Group::new(mode, None, Arc::clone(&self.format)));
        }
    }

    /// Sends a packet that belongs to no group (or holds it in the open group, keeping order).
    fn pass(&mut self, packet: BytesMut, out: &mut Output) {
        if self.group.is_some() {
            self.hold(packet, true, out);
        } else {
            self.release(std::iter::once(packet), out);
        }
    }

    fn hold(&mut self, packet: BytesMut, keep: bool, out: &mut Output) {
        let limit = self.settings.hold_bytes;
        let Some(group) = self.group.as_mut() else {
            return self.release(std::iter::once(packet), out);
        };
        group.hold(packet, keep);
        // Past the limit once, the rest of the group streams through as it arrives.
        if group.partly_sent || group.held_bytes > limit {
            if group.action() != Action::Allow && group.action() != Action::Log {
                group.partly_sent = true;
                self.check_decision(out);
                return;
            }
            group.partly_sent = true;
            group.held_bytes = 0;
            let packets: Vec<_> = group.held.drain(..).map(|(p, _)| p).collect();
            self.release(packets, out);
        }
    }

    fn release(&mut self, packets: impl IntoIterator<Item = BytesMut>, out: &mut Output) {
        for packet in packets {
            if let Ok(h) = EventHeader::parse(packet.get(1..).unwrap_or_default())
                && h.log_pos != 0
            {
                self.sent.end = u64::from(h.log_pos);
            }
            self.sent.events += 1;
            self.sent.bytes += packet.len() as u64;
            out.send.push(packet);
        }
        self.sent.file.clone_from(&self.file);
    }

    fn halt(&mut self, halt: Halt, out: &mut Output) {
        self.halted = true;
        self.group = None;
        out.halt = Some(halt);
    }

    fn position(&self, header: Option<&EventHeader>) -> EventPosition {
        EventPosition {
            file: self.file.clone(),
            start: header.and_then(EventHeader::start_position),
            end: header.map_or(self.sent.end, |h| u64::from(h.log_pos)),
            gtid: self.group.as_ref().and_then(|g| g.gtid.clone()),
            timestamp: header.map_or(0, |h| h.timestamp),
        }
    }

    /// Ends the open group: sends it, withheld or rewritten as decided.
    fn close_group(&mut self, out: &mut Output) {
        let Some(group) = self.group.take() else {
            return;
        };
        let gtid = group.gtid.clone();
        match group.decision.clone() {
            Some(d) if d.verdict.action == Action::Log => {
                out.logged.push(Logged {
                    at: d.at,
                    rule: d.verdict.rule,
                    kind: d.kind,
                    statement: d.statement,
                });
                self.release(group.held.into_iter().map(|(p, _)| p), out);
            }
            Some(d) if d.verdict.action == Action::Rewrite => {
                self.group = Some(group);
                match self.rewrite(&d, out) {
                    Ok(()) => {
                        let group = self.group.take().expect("put back above");
                        self.release(group.held.into_iter().map(|(p, _)| p), out);
                    }
                    Err(why) => {
                        let mut halt = Halt::new(d.at, d.verdict.rule, d.kind);
                        halt.thread_id = d.thread_id;
                        halt.statement = d.statement;
                        halt.why = Some(why);
                        return self.halt(halt, out);
                    }
                }
            }
            Some(d)
                if matches!(
                    d.verdict.action,
                    Action::Quarantine | Action::QuarantineOrigin | Action::Reject
                ) =>
            {
                if let Err(why) = self.withhold(group, &d, out) {
                    let mut halt = Halt::new(d.at, d.verdict.rule, d.kind);
                    halt.thread_id = d.thread_id;
                    halt.statement = d.statement;
                    halt.why = Some(why);
                    return self.halt(halt, out);
                }
            }
            _ => self.release(group.held.into_iter().map(|(p, _)| p), out),
        }
        if !self.halted {
            self.sent.gtid = gtid.or(self.sent.gtid.take());
        }
    }

    /// Replaces the group's content events by no-ops and records them for the journal.
    fn withhold(&mut self, group: Group, d: &Decision, out: &mut Output) -> Result<(), String> {
        if !self.settings.journal {
            return Err(
                "no journal is configured to keep what it withholds (--journal-dir)".into(),
            );
        }
        if d.verdict.action == Action::QuarantineOrigin {
            let Some(origin) = group.origin else {
                return Err(
                    "the transaction's origin thread is unknown (row events carry none)".into(),
                );
            };
            self.quarantined
                .entry(origin)
                .or_insert_with(|| d.verdict.rule.clone());
            out.quarantined_origin = Some((origin, d.verdict.rule.clone()));
        }
        let (packets, records) = replacement::withhold(group, d, &self.file)?;
        out.withheld.extend(records);
        self.release(packets, out);
        Ok(())
    }

    /// Rewrites the deciding DROP TABLE of the open group into a RENAME of the same size, and
    /// records the original for the journal.
    fn rewrite(&mut self, d: &Decision, out: &mut Output) -> Result<(), String> {
        let group = self.group.as_mut().expect("called with the group open");
        out.withheld
            .extend(replacement::rewrite_drop(group, d, &self.file)?);
        Ok(())
    }
}

#[cfg(test)]
#[path = "guard_tests.rs"]
mod tests;
