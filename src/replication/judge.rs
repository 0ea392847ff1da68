//! What a query event is to the guard: its statement classified in the session state the event
//! itself carries (its `sql_mode`, default database, `foreign_key_checks` and `unique_checks`,
//! origin thread), the policy's verdict on it, and its part in a transaction; and which events
//! the guard must be able to read, or a MariaDB replica to apply.

use crate::binlog::{EventHeader, EventType, QueryEvent};
use crate::policy::{Action, NO_RULE, Policy, StatementContext, Verdict};
use crate::session::guard::is_only_comments;
use crate::sql::{
    Classification, LexOptions, MultiByte, StatementKind, classify, escape_for_message,
};

use super::outcome::PREVIEW_CHARS;

/// `sql_mode`'s NO_BACKSLASH_ESCAPES bit.
const MODE_NO_BACKSLASH_ESCAPES: u64 = 1 << 20;

/// A query event's verdict and what the guard needs of it once its bytes moved into a group.
pub(super) struct JudgedQuery {
    pub(super) classification: Classification,
    pub(super) verdict: Verdict,
    pub(super) thread_id: u32,
    pub(super) database: Option<String>,
    pub(super) preview: String,
    /// `BEGIN`: the group is a transaction.
    pub(super) begins: bool,
    /// COMMIT, ROLLBACK, XA PREPARE: the transaction ends here.
    pub(super) ends: bool,
    /// Stays as it is in a withheld group (transaction control).
    pub(super) control: bool,
}

/// A query event classified in the session state it carries (its sql_mode, default database,
/// flags2) and judged by the policy.
pub(super) fn judge_query(q: &QueryEvent<'_>, mut lex: LexOptions, policy: &Policy) -> JudgedQuery {
    lex.no_backslash_escapes = q
        .status
        .sql_mode
        .is_some_and(|m| m & MODE_NO_BACKSLASH_ESCAPES != 0);
    lex.multi_byte = q
        .status
        .charset
        .as_ref()
        .and_then(|c| MultiByte::for_collation_id(c.client));
    let classification = classify(&q.query, &lex);
    let kind = classification.kind;
    let database = q.database_name();
    let xa = xa_verb(&q.query);
    // MariaDB's own stand-ins for events a replica cannot handle are comments.
    let verdict = if matches!(kind, StatementKind::Other | StatementKind::Unparsable)
        && is_only_comments(&q.query, &lex)
    {
        Verdict {
            action: Action::Allow,
            rule: NO_RULE.to_owned(),
        }
    } else {
        policy.decide(&StatementContext {
            classification: &classification,
            database: database.as_deref(),
            foreign_key_checks: q.status.foreign_key_checks(),
            unique_checks: q.status.unique_checks(),
            sql_log_bin: true,
            origin_thread: Some(u64::from(q.thread_id)),
        })
    };
    JudgedQuery {
        begins: kind == StatementKind::Begin,
        ends: matches!(kind, StatementKind::Commit | StatementKind::Rollback)
            || xa == Some("PREPARE"),
        control: matches!(
            kind,
            StatementKind::Begin | StatementKind::Commit | StatementKind::Rollback
        ) || xa.is_some(),
        classification,
        verdict,
        thread_id: q.thread_id,
        database,
        preview: escape_for_message(&q.query, PREVIEW_CHARS),
    }
}

/// Whether a MariaDB replica's applier takes this event: its own types, the MySQL types it
/// reads as ignorable, and any event flagged as one it may skip.
pub(super) fn mariadb_applies(header: &EventHeader) -> bool {
    let t = header.event_type.0;
    header.flags & crate::binlog::header::flags::IGNORABLE != 0
        || t <= EventType::XA_PREPARE.0
        || (EventType::ANNOTATE_ROWS.0..=EventType::DELETE_ROWS_COMPRESSED.0).contains(&t)
}

/// Event types whose content the guard must read to judge them.
pub(super) fn must_read(t: EventType) -> bool {
    t.rows().is_some()
        || matches!(
            t,
            EventType::QUERY
                | EventType::QUERY_COMPRESSED
                | EventType::EXECUTE_LOAD_QUERY
                | EventType::TABLE_MAP
                | EventType::GTID
                | EventType::MYSQL_GTID
                | EventType::ANONYMOUS_GTID
                | EventType::XID
        )
}

/// `XA START|END|PREPARE|COMMIT|ROLLBACK ...`: the verb.
fn xa_verb(query: &[u8]) -> Option<&'static str> {
    let text = std::str::from_utf8(query.get(..query.len().min(32))?).ok()?;
    let mut words = text.split_ascii_whitespace();
    if !words.next()?.eq_ignore_ascii_case("XA") {
        return None;
    }
    let verb = words.next()?;
    [
        "START", "BEGIN", "END", "PREPARE", "COMMIT", "ROLLBACK", "RECOVER",
    ]
    .into_iter()
    .find(|v| verb.eq_ignore_ascii_case(v))
}
