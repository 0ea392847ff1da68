//! Token grammars for the statements of the fast path (INSERT, REPLACE, SET, transaction
//! control, USE, LOAD DATA) and for UPDATE/DELETE, whose question is "is there a
//! top-level WHERE".
//!
//! These read a handful of tokens from the start: bulk INSERTs are most of the bytes of a
//! dump and must not be lexed to their end. UPDATE/DELETE are scanned to their end (they
//! are short), and only the rare ones without a top-level WHERE go on to sqlparser.

use super::cursor::{Cursor, Keyword};
use super::{Classification, MAX_NESTING, ObjectRef, StatementKind as K, classify_at, parsed};
use crate::sql::token::{LexOptions, TokenKind};

/// `INSERT|REPLACE [LOW_PRIORITY|DELAYED|HIGH_PRIORITY] [IGNORE] [INTO] tbl ...`.
pub(super) fn insert(cur: &mut Cursor, kind: K) -> Classification {
    cur.next();
    while cur.eat("LOW_PRIORITY")
        || cur.eat("DELAYED")
        || cur.eat("HIGH_PRIORITY")
        || cur.eat("IGNORE")
    {}
    cur.eat("INTO");
    Classification::new(kind).with_objects(cur.object().into_iter().collect())
}

/// `SET ...`: session state, except account changes, global scope and `SET STATEMENT ...
/// FOR stmt`, which is whatever `stmt` is.
pub(super) fn set(cur: &mut Cursor, opts: &LexOptions, nesting: u32) -> Classification {
    cur.next();
    if cur.is_kw(0, "PASSWORD") || (cur.is_kw(0, "DEFAULT") && cur.is_kw(1, "ROLE")) {
        return Classification::new(K::AccountChange);
    }
    if cur.eat("STATEMENT") {
        return match cur.seek_top_level(&["FOR"]) {
            Some(_) => {
                cur.next();
                classify_at(cur, opts, nesting + 1)
            }
            None => Classification::unparsable(Keyword::of(b"SET")),
        };
    }
    loop {
        // At the start of one assignment of the list.
        let global_word = cur
            .keyword(0)
            .is_some_and(|k| matches!(k.as_bytes(), b"GLOBAL" | b"PERSIST" | b"PERSIST_ONLY"));
        let global_var = cur.peek(0).is_some_and(|t| {
            let text = cur.text(t);
            t.kind == TokenKind::SystemVar
                && [b"@@global.".as_slice(), b"@@persist"]
                    .iter()
                    .any(|prefix| {
                        text.get(..prefix.len())
                            .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
                    })
        });
        if global_word || global_var {
            return Classification::new(K::Other);
        }
        if !cur.skip_past_comma() {
            return Classification::new(K::SetSession);
        }
    }
}

/// `BEGIN [WORK]`; `BEGIN NOT ATOMIC ...` is a compound statement.
pub(super) fn begin(cur: &mut Cursor) -> Classification {
    cur.next();
    cur.eat("WORK");
    Classification::new(if cur.at_end() { K::Begin } else { K::Other })
}

/// `START TRANSACTION ...` (not `START SLAVE`).
pub(super) fn start(cur: &mut Cursor) -> Classification {
    Classification::new(if cur.is_kw(1, "TRANSACTION") {
        K::Begin
    } else {
        K::Other
    })
}

/// `ROLLBACK [WORK]`; `ROLLBACK ... TO [SAVEPOINT] s` keeps the transaction open.
pub(super) fn rollback(cur: &mut Cursor) -> Classification {
    cur.next();
    cur.eat("WORK");
    Classification::new(if cur.is_kw(0, "TO") {
        K::Other
    } else {
        K::Rollback
    })
}

/// `XA START|BEGIN|COMMIT|ROLLBACK xid`.
pub(super) fn xa(cur: &mut Cursor) -> Classification {
    let kind = match cur.keyword(1).as_ref().map(Keyword::as_bytes) {
        Some(b"START" | b"BEGIN") => K::Begin,
        Some(b"COMMIT") => K::Commit,
        Some(b"ROLLBACK") => K::Rollback,
        _ => K::Other,
    };
    Classification::new(kind)
}

/// `USE db`.
pub(super) fn use_db(cur: &mut Cursor) -> Classification {
    cur.next();
    let objects = cur.ident().map(ObjectRef::named).into_iter().collect();
    Classification::new(K::Use).with_objects(objects)
}

/// `LOAD DATA|XML [LOW_PRIORITY|CONCURRENT] [LOCAL] INFILE 'f' [REPLACE|IGNORE] INTO TABLE t`;
/// `LOAD INDEX INTO CACHE` is something else.
pub(super) fn load(cur: &mut Cursor) -> Classification {
    cur.next();
    if !(cur.eat("DATA") || cur.eat("XML")) {
        return Classification::new(K::Other);
    }
    let mut objects = Vec::new();
    if cur.seek_top_level(&["INTO"]).is_some() {
        cur.next();
        cur.eat("TABLE");
        objects.extend(cur.object());
    }
    Classification::new(K::LoadData).with_objects(objects)
}

/// Words that end a table reference in UPDATE/DELETE: never an alias.
const CLAUSE_WORDS: [&str; 24] = [
    "SET",
    "WHERE",
    "USING",
    "FROM",
    "PARTITION",
    "ORDER",
    "LIMIT",
    "RETURNING",
    "FOR",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "CROSS",
    "NATURAL",
    "STRAIGHT_JOIN",
    "OUTER",
    "ON",
    "USE",
    "IGNORE",
    "FORCE",
    "AS",
    "BEFORE",
    "WINDOW",
];

/// Table references up to a depth-0 keyword in `ends` (left unconsumed): the names after
/// the start, after each depth-0 comma and after each JOIN.
fn table_refs(cur: &mut Cursor, ends: &[&str]) -> Vec<ObjectRef> {
    let mut objects = Vec::new();
    loop {
        objects.extend(cur.object());
        let mut depth = 0u32;
        loop {
            let Some(token) = cur.peek(0) else {
                return objects;
            };
            let text = cur.text(token);
            let at_top = depth == 0;
            if at_top
                && token.kind == TokenKind::Word
                && ends
                    .iter()
                    .any(|end| text.eq_ignore_ascii_case(end.as_bytes()))
            {
                return objects;
            }
            cur.next();
            match token.kind {
                TokenKind::Operator if text == b"(" => depth += 1,
                TokenKind::Operator if text == b")" => depth = depth.saturating_sub(1),
                TokenKind::Operator if at_top && text == b"," => break,
                TokenKind::Word
                    if at_top
                        && (text.eq_ignore_ascii_case(b"JOIN")
                            || text.eq_ignore_ascii_case(b"STRAIGHT_JOIN")) =>
                {
                    break;
                }
                _ => {}
            }
        }
    }
}

/// `UPDATE ...` / `DELETE ...`: the target tables, then whether a WHERE follows at the top
/// level. Without one the statement is destructive; sqlparser confirms it and names the
/// targets exactly when it can parse the statement.
pub(super) fn update_or_delete(cur: &mut Cursor, opts: &LexOptions, kw: Keyword) -> Classification {
    let start = cur.peek(0).map_or(0, |t| t.start);
    cur.next();
    let is_update = kw.as_bytes() == b"UPDATE";
    let (with_where, without_where) = if is_update {
        (K::Update, K::UpdateWithoutWhere)
    } else {
        (K::Delete, K::DeleteWithoutWhere)
    };
    let modifiers: &[&str] = if is_update {
        &["LOW_PRIORITY", "IGNORE"]
    } else {
        &["LOW_PRIORITY", "QUICK", "IGNORE", "HISTORY"]
    };
    while modifiers.iter().any(|m| cur.eat(m)) {}
    let objects = if is_update {
        table_refs(cur, &["SET"])
    } else if cur.eat("FROM") {
        // `DELETE FROM t ...` or `DELETE FROM t1, t2 USING refs ...`: the targets come first.
        single_or_listed_targets(cur)
    } else {
        // `DELETE t1[.*], t2 FROM refs ...`.
        let targets = table_refs(cur, &["FROM"]);
        cur.eat("FROM");
        targets
    };
    if cur.seek_top_level(&["WHERE"]).is_some() {
        return Classification::new(with_where).with_objects(objects);
    }
    match parsed::classify(cur.source(), opts, start) {
        Some(parsed) if parsed.kind == without_where && !parsed.objects.is_empty() => parsed,
        _ => Classification::new(without_where).with_objects(objects),
    }
}

/// After `DELETE ... FROM`: the listed targets up to USING, or the single table.
fn single_or_listed_targets(cur: &mut Cursor) -> Vec<ObjectRef> {
    let mut targets = Vec::new();
    while let Some(object) = cur.object() {
        targets.push(object);
        // `.*` after a multi-table target.
        if cur.is_op(0, ".") && cur.is_op(1, "*") {
            cur.next();
            cur.next();
        }
        // An alias (`t AS a`, `t a`), never a clause keyword.
        if cur.eat("AS") || cur.keyword(0).is_some_and(|k| !is_clause_word(&k)) {
            cur.next();
        }
        if !cur.eat_op(",") {
            break;
        }
    }
    targets
}

fn is_clause_word(keyword: &Keyword) -> bool {
    CLAUSE_WORDS
        .iter()
        .any(|w| keyword.as_bytes() == w.as_bytes())
}

/// `WITH [RECURSIVE] cte AS (...)[, ...] stmt`: whatever `stmt` is.
pub(super) fn with(cur: &mut Cursor, opts: &LexOptions, nesting: u32) -> Classification {
    cur.next();
    let stops = [
        "SELECT", "UPDATE", "DELETE", "INSERT", "REPLACE", "TABLE", "VALUES",
    ];
    match cur.seek_top_level(&stops) {
        Some(_) if nesting < MAX_NESTING => classify_at(cur, opts, nesting + 1),
        _ => Classification::unparsable(Keyword::of(b"WITH")),
    }
}
