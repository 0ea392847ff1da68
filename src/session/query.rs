//! Inspecting one COM_QUERY before it is forwarded, as a pure function of the statement bytes
//! and the session: split it, read the binlog event headers it carries, check its bytes against
//! the charset in effect, find what it does to the session, and translate collations the target
//! does not know. The session then forwards the original bytes, a rewrite, or an ERR.

use std::ops::Range;

use crate::sql::{
    Encoding, EventHeader, LexOptions, SessionEffect, escape_for_message, find_invalid_bytes,
    leading_event_header, session_effects, split_statements,
};

use super::charset::{
    CollationCatalog, Translation, render_set_statement, translate_unknown_collations,
};
use super::state::{SessionState, StreamPosition};

/// How many characters of a statement an error message or log line shows.
pub const STATEMENT_PREVIEW_CHARS: usize = 200;

/// One statement of a COM_QUERY.
#[derive(Debug, Clone)]
pub struct PlannedStatement {
    pub range: Range<usize>,
    pub header: Option<EventHeader>,
    pub effects: Vec<SessionEffect>,
}

/// replaygate's own refusal of a statement: an ERR the client sees, never forwarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub sql_state: [u8; 5],
    pub message: String,
}

/// What to do with a COM_QUERY.
#[derive(Debug, Clone, Default)]
pub struct QueryPlan {
    pub statements: Vec<PlannedStatement>,
    /// A replacement for the statement text, when a collation had to be translated.
    pub rewritten: Option<Vec<u8>>,
    pub translations: Vec<Translation>,
    pub refusal: Option<Refusal>,
}

impl QueryPlan {
    /// Whether the query starts a binlog file of the stream: a format description event's
    /// header (`Start: binlog v 4`).
    pub fn starts_binlog_file(&self) -> bool {
        self.statements.iter().any(|s| {
            s.header
                .as_ref()
                .and_then(|h| h.event_type.as_deref())
                .is_some_and(|t| t == "Start")
        })
    }
}

/// Settings that shape inspection.
#[derive(Debug, Clone, Copy)]
pub struct InspectOptions<'a> {
    pub lex: LexOptions,
    pub validate_charset: bool,
    pub catalog: &'a CollationCatalog,
}

/// ER_INVALID_CHARACTER_STRING: the server's own code for bytes invalid in a charset.
const ER_INVALID_CHARACTER_STRING: u16 = 1300;

/// Plans one COM_QUERY (`text` is the payload after the command byte).
pub fn plan_query(text: &[u8], state: &SessionState, opts: InspectOptions<'_>) -> QueryPlan {
    let mut plan = QueryPlan::default();
    // Statements of one COM_QUERY run in order, so a SET NAMES early in the text changes how the
    // server reads the statements after it: simulate the charset as we go.
    let mut charset = state.charset.clone();
    let mut splices: Vec<(Range<usize>, String)> = Vec::new();
    for range in split_statements(text, &opts.lex) {
        let stmt = &text[range.clone()];
        let header = leading_event_header(stmt);
        if opts.validate_charset
            && let Some(bad) = find_invalid_bytes(stmt, Encoding::for_charset(&charset), &opts.lex)
        {
            plan.refusal = Some(invalid_bytes_refusal(
                stmt,
                &charset,
                bad.offset,
                state,
                header.as_ref(),
            ));
            return plan;
        }
        let mut effects = session_effects(stmt, &opts.lex);
        if !effects.is_empty() {
            let translations = translate_unknown_collations(&mut effects, opts.catalog);
            if !translations.is_empty()
                && let Some(sql) = render_set_statement(&effects)
            {
                splices.push((range.clone(), sql));
                plan.translations.extend(translations);
            }
            charset = charset_after(&effects, charset, opts.catalog);
        }
        plan.statements.push(PlannedStatement {
            range,
            header,
            effects,
        });
    }
    if !splices.is_empty() {
        plan.rewritten = Some(splice(text, &splices));
    }
    plan
}

/// The session charset after a statement's effects.
fn charset_after(
    effects: &[SessionEffect],
    mut charset: String,
    catalog: &CollationCatalog,
) -> String {
    let mut scratch = SessionState::new(String::new(), None, std::mem::take(&mut charset));
    for effect in effects {
        scratch.apply(effect, |id| catalog.by_id(id).map(|c| c.charset.clone()));
    }
    scratch.charset
}

fn splice(text: &[u8], splices: &[(Range<usize>, String)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut at = 0;
    for (range, sql) in splices {
        out.extend_from_slice(&text[at..range.start]);
        out.extend_from_slice(sql.as_bytes());
        at = range.end;
    }
    out.extend_from_slice(&text[at..]);
    out
}

fn invalid_bytes_refusal(
    stmt: &[u8],
    charset: &str,
    offset: usize,
    state: &SessionState,
    header: Option<&EventHeader>,
) -> Refusal {
    let mut where_ = StreamPosition::of(state);
    if let Some(h) = header {
        where_.position = h.position.or(where_.position);
        where_.end_log_pos = h.end_log_pos.or(where_.end_log_pos);
        where_.thread_id = h.thread_id.or(where_.thread_id);
    }
    let bytes: String = stmt
        .get(offset..)
        .unwrap_or_default()
        .iter()
        .take(4)
        .map(|b| format!("\\x{b:02X}"))
        .collect();
    Refusal {
        code: ER_INVALID_CHARACTER_STRING,
        sql_state: *b"HY000",
        message: format!(
            "replaygate: statement refused, not forwarded: its bytes are not valid {charset} \
             (byte offset {offset}: {bytes}); storing it would corrupt data. At {where_}. \
             Statement: {preview}. If the stream really is in another charset, the stream must \
             say so (SET NAMES), or start replaygate with --charset <name> \
             (charset.default) or --charset-mode honor.",
            preview = escape_for_message(stmt, STATEMENT_PREVIEW_CHARS),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::charset::CollationEntry;

    fn catalog() -> CollationCatalog {
        let e = |id, name: &str, charset: &str| CollationEntry {
            id,
            name: name.into(),
            charset: charset.into(),
            is_default: true,
        };
        CollationCatalog::from_entries([
            e(8, "latin1_swedish_ci", "latin1"),
            e(45, "utf8mb4_general_ci", "utf8mb4"),
            e(33, "utf8mb3_general_ci", "utf8mb3"),
        ])
    }

    fn plan(text: &[u8], charset: &str) -> QueryPlan {
        let state = SessionState::new("root".into(), None, charset.into());
        let catalog = catalog();
        plan_query(
            text,
            &state,
            InspectOptions {
                lex: LexOptions::default(),
                validate_charset: true,
                catalog: &catalog,
            },
        )
    }

    #[test]
    fn valid_utf8_passes_untouched() {
        let p = plan(
            "INSERT INTO t VALUES ('Müller', '山田', '🎉')".as_bytes(),
            "utf8mb4",
        );
        assert!(p.refusal.is_none());
        assert!(p.rewritten.is_none());
        assert_eq!(p.statements.len(), 1);
    }

    #[test]
    fn latin1_bytes_under_utf8mb4_are_refused_with_a_clear_message() {
        let p = plan(b"INSERT INTO t VALUES ('M\xfcller')", "utf8mb4");
        let r = p.refusal.expect("refused");
        assert_eq!(r.code, 1300);
        assert!(r.message.starts_with("replaygate: "), "{}", r.message);
        assert!(r.message.contains("not valid utf8mb4"), "{}", r.message);
        assert!(r.message.contains("\\xFC"), "{}", r.message);
        assert!(
            r.message.contains("INSERT INTO t VALUES ('M\\xFCller')"),
            "{}",
            r.message
        );
        assert!(r.message.contains("--charset"), "{}", r.message);
    }

    #[test]
    fn honest_latin1_passes_under_set_names_latin1() {
        assert!(
            plan(b"INSERT INTO t VALUES ('M\xfcller')", "latin1")
                .refusal
                .is_none()
        );
        // ... also when the SET NAMES comes earlier in the same multi-statement text.
        let p = plan(
            b"SET NAMES latin1; INSERT INTO t VALUES ('M\xfcller')",
            "utf8mb4",
        );
        assert!(p.refusal.is_none());
        assert_eq!(p.statements.len(), 2);
    }

    #[test]
    fn binary_literals_may_hold_any_byte() {
        assert!(
            plan(b"INSERT INTO b VALUES (_binary'\x00\xff\xfe')", "utf8mb4")
                .refusal
                .is_none()
        );
    }

    #[test]
    fn unknown_collation_ids_are_rewritten() {
        let p = plan(
            b"SET @@session.character_set_client=utf8mb4,@@session.collation_connection=255,@@session.collation_server=255/*!*/",
            "utf8mb4",
        );
        let sql = String::from_utf8(p.rewritten.expect("rewritten")).unwrap();
        assert_eq!(
            sql,
            "SET @@session.character_set_client=utf8mb4,@@session.collation_connection=45,@@session.collation_server=45"
        );
        assert_eq!(p.translations.len(), 2);
    }

    #[test]
    fn refusal_names_the_binlog_position_from_the_event_header() {
        let text = b"# at 1234\n#241125 17:00:00 server id 1  end_log_pos 1385 CRC32 0x1a2b3c4d \tQuery\tthread_id=5\texec_time=0\terror_code=0\nINSERT INTO t VALUES ('\xe9')";
        let r = plan(text, "utf8mb4").refusal.expect("refused");
        assert!(r.message.contains("binlog position 1234"), "{}", r.message);
        assert!(r.message.contains("origin thread 5"), "{}", r.message);
    }
}
