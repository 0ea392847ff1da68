//! Event groups: the events of one transaction (or one standalone statement), held together
//! until the guard knows what to do with all of them.
//!
//! A group starts at a GTID event (MariaDB or MySQL), a `BEGIN`, or a statement outside any
//! group, and ends at its `Xid`, its `COMMIT`/`ROLLBACK` (or `XA PREPARE`), or — for a standalone
//! group — right after its one statement. Holding the group means a withheld transaction never
//! reaches the replica in part: its content events are replaced by no-ops while its GTID, BEGIN
//! and COMMIT still go through, so the replica's GTID position advances over an empty
//! transaction. A group larger than the hold limit is passed on as it arrives instead; a verdict
//! that would withhold such a group halts.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::BytesMut;

use crate::binlog::FormatDescription;
use crate::policy::{Action, Verdict};
use crate::sql::ObjectRef;

use super::outcome::EventPosition;

/// How a group ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    /// At its Xid, COMMIT, ROLLBACK or XA PREPARE.
    Transaction,
    /// After its first statement (DDL, a non-transactional statement, or any statement of an
    /// old binlog without BEGIN).
    Standalone,
    /// After a MySQL GTID: a BEGIN makes it a transaction, any other statement a standalone.
    AwaitingFirst,
}

/// What the guard decided for a group: the most severe verdict of its events.
#[derive(Debug, Clone)]
pub(super) struct Decision {
    pub verdict: Verdict,
    pub at: EventPosition,
    pub kind: String,
    pub thread_id: Option<u32>,
    /// A preview of the statement that decided.
    pub statement: String,
    /// Why, when the rule alone does not say (a quarantined origin).
    pub note: Option<String>,
    /// The packet index of the deciding event and what a rewrite needs from it.
    pub index: usize,
    pub rewrite: Option<RewriteTarget>,
}

/// A DROP TABLE the policy wants rewritten into a RENAME.
#[derive(Debug, Clone)]
pub(super) struct RewriteTarget {
    pub objects: Vec<ObjectRef>,
    /// `DROP TABLE IF EXISTS`: the RENAME says `IF EXISTS` too (MariaDB 10.5+).
    pub if_exists: bool,
    pub database: Option<String>,
    pub start: u64,
}

/// The severity order of actions within a group: the most severe decides.
pub(super) fn severity(action: Action) -> u8 {
    match action {
        Action::Allow => 0,
        Action::Log => 1,
        Action::Rewrite => 2,
        Action::Reject => 3,
        Action::Quarantine => 4,
        Action::QuarantineOrigin => 5,
        Action::Halt => 6,
    }
}

/// The events of one group, held.
#[derive(Debug)]
pub(super) struct Group {
    pub mode: Mode,
    /// The packets (`0x00` and the event) not sent yet, with whether each must be kept as it is
    /// when the group is withheld (GTID, BEGIN, COMMIT/Xid, format and rotate events).
    pub held: Vec<(BytesMut, bool)>,
    pub held_bytes: usize,
    /// Events of the group already went to the replica (the group outgrew the hold limit).
    pub partly_sent: bool,
    pub gtid: Option<String>,
    /// The first thread id a statement of the group carries.
    pub origin: Option<u32>,
    pub decision: Option<Decision>,
    /// Rows deleted per table so far, for `rows_deleted_over`.
    pub deleted: HashMap<(String, String), u64>,
    /// The layout the group's events were read with.
    pub format: Arc<FormatDescription>,
}

impl Group {
    pub fn new(mode: Mode, gtid: Option<String>, format: Arc<FormatDescription>) -> Self {
        Group {
            mode,
            held: Vec::new(),
            held_bytes: 0,
            partly_sent: false,
            gtid,
            origin: None,
            decision: None,
            deleted: HashMap::new(),
            format,
        }
    }

    pub fn hold(&mut self, packet: BytesMut, keep: bool) {
        self.held_bytes += packet.len();
        self.held.push((packet, keep));
    }

    /// Takes the more severe of the current decision and `candidate`.
    pub fn consider(&mut self, candidate: Decision) {
        let current = self
            .decision
            .as_ref()
            .map_or(0, |d| severity(d.verdict.action));
        if severity(candidate.verdict.action) > current {
            self.decision = Some(candidate);
        }
    }

    /// The action the group is headed for.
    pub fn action(&self) -> Action {
        self.decision
            .as_ref()
            .map_or(Action::Allow, |d| d.verdict.action)
    }
}
