//! DDL and account statements: sqlparser first, then strict token grammars.
//!
//! The token grammars cover the MySQL/MariaDB syntax sqlparser does not know (`DROP TABLES`,
//! `WAIT n`, `ALTER TABLE t DROP KEY k`, `RENAME t2`, `DISABLE KEYS`, user names with
//! `@host`, non-UTF-8 names, ...). The destructive forms (DROP TABLE/VIEW/DATABASE,
//! TRUNCATE, RENAME) must match their grammar to the end; anything else after a DROP or
//! TRUNCATE makes the statement unparsable, and so destructive: new syntax must not be
//! mistaken for something harmless.

use super::cursor::{Cursor, Keyword};
use super::{Classification, ObjectRef, StatementKind as K, parsed};
use crate::sql::token::LexOptions;

/// Classifies the DDL/DCL statement whose first keyword `kw` starts at byte `at` of `src`.
pub(super) fn classify(src: &[u8], opts: &LexOptions, at: usize, kw: Keyword) -> Classification {
    if let Some(classification) = parsed::classify(src, opts, at) {
        return classification;
    }
    let mut cur = Cursor::new_at(src, opts, at);
    cur.next();
    by_tokens(&mut cur, kw).unwrap_or_else(|| Classification::unparsable(Some(kw)))
}

/// The token grammar of `kw`, with the cursor just after it; `None` if it does not match.
fn by_tokens(cur: &mut Cursor, kw: Keyword) -> Option<Classification> {
    match kw.as_bytes() {
        b"DROP" => drop(cur),
        b"TRUNCATE" => truncate(cur),
        b"RENAME" => rename(cur),
        b"ALTER" => alter(cur),
        b"CREATE" => create(cur),
        b"GRANT" => grant_or_revoke(cur, K::Grant, "TO"),
        b"REVOKE" => grant_or_revoke(cur, K::Revoke, "FROM"),
        _ => None,
    }
}

/// Token grammars only (the sqlparser path skipped), for tests that compare the two.
#[cfg(test)]
pub(super) fn classify_by_tokens(src: &[u8], opts: &LexOptions) -> Option<Classification> {
    let mut cur = Cursor::new(src, opts);
    let kw = cur.keyword(0)?;
    cur.next();
    by_tokens(&mut cur, kw)
}

/// `[RESTRICT|CASCADE]` then the end of the statement.
fn ends_after_drop_behavior(cur: &mut Cursor) -> bool {
    let _ = cur.eat("RESTRICT") || cur.eat("CASCADE");
    cur.at_end()
}

/// After `DROP`.
fn drop(cur: &mut Cursor) -> Option<Classification> {
    let temporary = cur.eat("TEMPORARY");
    let kw = cur.keyword(0)?;
    cur.next();
    match kw.as_bytes() {
        b"TABLE" | b"TABLES" => {
            let if_exists = cur.if_exists();
            let objects = cur.object_list()?;
            cur.skip_wait();
            ends_after_drop_behavior(cur).then(|| {
                Classification::new(K::DropTable)
                    .with_objects(objects)
                    .with_if_exists(if_exists)
                    .with_temporary(temporary)
            })
        }
        b"VIEW" if !temporary => {
            let if_exists = cur.if_exists();
            let objects = cur.object_list()?;
            ends_after_drop_behavior(cur).then(|| {
                Classification::new(K::DropView)
                    .with_objects(objects)
                    .with_if_exists(if_exists)
            })
        }
        b"DATABASE" | b"SCHEMA" if !temporary => {
            let if_exists = cur.if_exists();
            let name = cur.ident()?;
            cur.at_end().then(|| {
                Classification::new(K::DropDatabase)
                    .with_objects(vec![ObjectRef::named(name)])
                    .with_if_exists(if_exists)
            })
        }
        b"USER" if !temporary => {
            let if_exists = cur.if_exists();
            (!cur.at_end()).then(|| Classification::new(K::DropUser).with_if_exists(if_exists))
        }
        b"ROLE" if !temporary => {
            let if_exists = cur.if_exists();
            (!cur.at_end()).then(|| Classification::new(K::AccountChange).with_if_exists(if_exists))
        }
        b"INDEX" | b"ONLINE" | b"OFFLINE" if !temporary => {
            // `DROP [ONLINE|OFFLINE] INDEX [IF EXISTS] i ON t ...`
            if kw.as_bytes() != b"INDEX" && !cur.eat("INDEX") {
                return None;
            }
            let if_exists = cur.if_exists();
            cur.ident()?;
            if !cur.eat("ON") {
                return None;
            }
            let table = cur.object()?;
            Some(
                Classification::new(K::DropOther)
                    .with_objects(vec![table])
                    .with_if_exists(if_exists),
            )
        }
        b"SEQUENCE" | b"TRIGGER" | b"PROCEDURE" | b"FUNCTION" | b"EVENT" | b"SERVER"
        | b"PACKAGE" | b"TABLESPACE" | b"LOGFILE" | b"PREPARE" | b"SPATIAL" | b"RESOURCE"
        | b"UNDO" => {
            cur.eat("BODY");
            let if_exists = cur.if_exists();
            (!cur.at_end()).then(|| Classification::new(K::DropOther).with_if_exists(if_exists))
        }
        _ => None,
    }
}

/// After `TRUNCATE`: `[TABLE] t [WAIT n|NOWAIT]`.
fn truncate(cur: &mut Cursor) -> Option<Classification> {
    cur.eat("TABLE");
    let table = cur.object()?;
    cur.skip_wait();
    cur.at_end()
        .then(|| Classification::new(K::Truncate).with_objects(vec![table]))
}

/// After `RENAME`: `TABLE[S] [IF EXISTS] a [WAIT n|NOWAIT] TO b[, c TO d]`, or `USER`.
fn rename(cur: &mut Cursor) -> Option<Classification> {
    if cur.eat("USER") {
        return (!cur.at_end()).then(|| Classification::new(K::AccountChange));
    }
    if !(cur.eat("TABLE") || cur.eat("TABLES")) {
        return None;
    }
    let if_exists = cur.if_exists();
    let mut sources = Vec::new();
    loop {
        sources.push(cur.object()?);
        cur.skip_wait();
        if !cur.eat("TO") {
            return None;
        }
        cur.object()?;
        if !cur.eat_op(",") {
            break;
        }
    }
    cur.at_end().then(|| {
        Classification::new(K::RenameTable)
            .with_objects(sources)
            .with_if_exists(if_exists)
    })
}

/// After `ALTER`: `[ONLINE|OFFLINE] [IGNORE] TABLE [IF EXISTS] t [WAIT n|NOWAIT] op[, op]*`.
///
/// Each operation is judged by its first words: `DROP ...`, `TRUNCATE PARTITION` and
/// `DISCARD ... TABLESPACE` destroy data; `RENAME [TO|AS] name` renames the table
/// (`RENAME COLUMN|INDEX|KEY` does not). A drop outweighs a rename in the same statement.
fn alter(cur: &mut Cursor) -> Option<Classification> {
    while cur.eat("ONLINE") || cur.eat("OFFLINE") || cur.eat("IGNORE") {}
    if !cur.eat("TABLE") {
        return alter_other(cur);
    }
    let if_exists = cur.if_exists();
    let table = cur.object()?;
    cur.skip_wait();
    let (mut drops, mut renames) = (false, false);
    while !cur.at_end() {
        let first = cur.keyword(0);
        match first.as_ref().map(Keyword::as_bytes) {
            Some(b"DROP" | b"TRUNCATE" | b"DISCARD") => drops = true,
            Some(b"RENAME") => {
                let target = cur.keyword(1);
                renames |= !matches!(
                    target.as_ref().map(Keyword::as_bytes),
                    Some(b"COLUMN" | b"INDEX" | b"KEY" | b"CONSTRAINT" | b"PERIOD")
                );
            }
            _ => {}
        }
        if !cur.skip_past_comma() {
            break;
        }
    }
    let kind = if drops {
        K::AlterTableDrop
    } else if renames {
        K::RenameTable
    } else {
        K::AlterTable
    };
    Some(
        Classification::new(kind)
            .with_objects(vec![table])
            .with_if_exists(if_exists),
    )
}

/// `ALTER USER` is an account change; other ALTERs (DATABASE, VIEW, EVENT, FUNCTION,
/// PROCEDURE, SEQUENCE, SERVER, TABLESPACE, ...) change definitions, not data. Anything
/// else is not an ALTER this grammar knows.
fn alter_other(cur: &mut Cursor) -> Option<Classification> {
    let kind = match cur.keyword(0)?.as_bytes() {
        b"USER" => K::AccountChange,
        b"DATABASE" | b"SCHEMA" | b"VIEW" | b"EVENT" | b"FUNCTION" | b"PROCEDURE" | b"SEQUENCE"
        | b"SERVER" | b"TABLESPACE" | b"LOGFILE" | b"INSTANCE" | b"RESOURCE" | b"UNDO"
        | b"ALGORITHM" | b"DEFINER" | b"SQL" | b"PACKAGE" => K::Other,
        _ => return None,
    };
    Some(Classification::new(kind))
}

/// Words allowed between CREATE and the object keyword: `OR REPLACE`, `TEMPORARY`,
/// `UNIQUE|FULLTEXT|SPATIAL` (indexes), `AGGREGATE` (functions), `ONLINE|OFFLINE`, and
/// the view/routine characteristics `ALGORITHM = x`, `DEFINER = user`, `SQL SECURITY x`.
const CREATE_OBJECTS: [&str; 16] = [
    "TABLE",
    "DATABASE",
    "SCHEMA",
    "USER",
    "ROLE",
    "INDEX",
    "VIEW",
    "TRIGGER",
    "PROCEDURE",
    "FUNCTION",
    "EVENT",
    "SEQUENCE",
    "SERVER",
    "PACKAGE",
    "TABLESPACE",
    "LOGFILE",
];

/// After `CREATE`.
fn create(cur: &mut Cursor) -> Option<Classification> {
    let or_replace = cur.eat_all(&["OR", "REPLACE"]);
    let mut temporary = false;
    // Skip the modifiers up to the object keyword; they are few and short.
    let kw = loop {
        let kw = cur.keyword(0);
        let Some(word) = kw else {
            // `DEFINER = 'u'@'h'` and the like: a non-word token among the modifiers.
            cur.next()?;
            continue;
        };
        if CREATE_OBJECTS
            .iter()
            .any(|o| word.as_bytes() == o.as_bytes())
        {
            cur.next();
            break word;
        }
        temporary |= word.as_bytes() == b"TEMPORARY";
        cur.next();
    };
    let classification = match kw.as_bytes() {
        b"TABLE" => {
            let if_exists = cur.if_not_exists();
            let table = cur.object()?;
            Classification::new(K::CreateTable)
                .with_objects(vec![table])
                .with_if_exists(if_exists)
                .with_temporary(temporary)
                .with_or_replace(or_replace)
        }
        b"DATABASE" | b"SCHEMA" => {
            let if_exists = cur.if_not_exists();
            let name = cur.ident()?;
            Classification::new(K::CreateDatabase)
                .with_objects(vec![ObjectRef::named(name)])
                .with_if_exists(if_exists)
                .with_or_replace(or_replace)
        }
        b"USER" | b"ROLE" => Classification::new(K::AccountChange),
        b"INDEX" => {
            let if_exists = cur.if_not_exists();
            cur.ident()?;
            let objects = cur
                .seek_top_level(&["ON"])
                .and_then(|_| {
                    cur.next();
                    cur.object()
                })
                .into_iter()
                .collect();
            Classification::new(K::CreateOther)
                .with_objects(objects)
                .with_if_exists(if_exists)
        }
        b"VIEW" => {
            let if_exists = cur.if_not_exists();
            Classification::new(K::CreateOther)
                .with_objects(cur.object().into_iter().collect())
                .with_if_exists(if_exists)
        }
        _ => Classification::new(K::CreateOther).with_if_exists(cur.if_not_exists()),
    };
    Some(classification)
}

/// After `GRANT`/`REVOKE`: the privilege level after a top-level `ON` is the object; the
/// grantee keyword (`TO`/`FROM`) must follow somewhere.
fn grant_or_revoke(cur: &mut Cursor, kind: K, grantee_kw: &str) -> Option<Classification> {
    let mut objects = Vec::new();
    if cur.seek_top_level(&["ON", grantee_kw])?.as_bytes() == b"ON" {
        cur.next();
        let _ = cur.eat("TABLE") || cur.eat("FUNCTION") || cur.eat("PROCEDURE");
        objects.extend(privilege_level(cur));
        cur.seek_top_level(&[grantee_kw])?;
    }
    Some(Classification::new(kind).with_objects(objects))
}

/// `*`, `*.*`, `db.*`, `db.tbl` or `tbl`.
fn privilege_level(cur: &mut Cursor) -> Option<ObjectRef> {
    let part = |cur: &mut Cursor| {
        if cur.eat_op("*") {
            Some("*".to_string())
        } else {
            cur.ident()
        }
    };
    let first = part(cur)?;
    if !cur.eat_op(".") {
        return Some(ObjectRef::named(first));
    }
    let name = part(cur)?;
    Some(ObjectRef {
        schema: Some(first),
        name,
    })
}
