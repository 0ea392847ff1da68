//! `SET` statements: which session variables, charset and collation they change.
//!
//! A `SET` list mixes user variables, session and global system variables and the
//! special `NAMES` / `CHARACTER SET` forms (`SET @OLD_FKC=@@FOREIGN_KEY_CHECKS,
//! FOREIGN_KEY_CHECKS=0` from mysqldump). Only session-scope assignments matter to the
//! proxy; the others are parsed just far enough to step over them.

use super::statement::{SessionEffect, SetValue, Tokens, identifier, strip_quotes};
use super::token::{Token, TokenKind};

/// Effects of the `SET` statement whose `SET` keyword `tokens` has just consumed; `None`
/// for forms that are not plain assignment lists or do not parse.
pub(super) fn parse_set(tokens: &mut Tokens) -> Option<Vec<SessionEffect>> {
    let src = tokens.src;
    let mut effects = Vec::new();
    // A GLOBAL/SESSION keyword carries over to later unqualified items of the list.
    let mut bare_names_are_session = true;
    loop {
        let mut item = tokens.next()?;
        if let Some(session) = scope_keyword(src, item) {
            bare_names_are_session = session;
            item = tokens.next()?;
        }
        if item.is_keyword(src, "NAMES") && !tokens.next_is_assignment() {
            let charset = charset_name(tokens)?;
            let collation = if tokens.keyword("COLLATE") {
                Some(charset_name(tokens)?)
            } else {
                None
            };
            effects.push(SessionEffect::SetNames { charset, collation });
        } else if (item.is_keyword(src, "CHARSET") && !tokens.next_is_assignment())
            || (item.is_keyword(src, "CHARACTER") && tokens.keyword("SET"))
        {
            let charset = charset_name(tokens)?;
            effects.push(SessionEffect::SetCharacterSet { charset });
        } else if item.is_keyword(src, "PASSWORD") {
            return None;
        } else {
            let (is_session, name) = match item.kind {
                TokenKind::UserVar => (false, String::new()),
                TokenKind::SystemVar => system_variable(item.text(src))?,
                TokenKind::Word | TokenKind::QuotedIdent => {
                    (bare_names_are_session, dotted_name(tokens, item)?)
                }
                _ => return None,
            };
            // No `=` means another SET form (TRANSACTION, ROLE, STATEMENT ... FOR, ...),
            // none of which changes session variables for later statements.
            if !tokens.assignment() {
                return None;
            }
            let value = parse_value(tokens)?;
            if is_session {
                effects.push(SessionEffect::SetVariable { name, value });
            }
        }
        match tokens.next() {
            None => return Some(effects),
            Some(t) if t.is_operator(src, ",") => {}
            Some(_) => return None,
        }
    }
}

/// `Some(true)` for SESSION/LOCAL, `Some(false)` for GLOBAL/PERSIST/PERSIST_ONLY.
fn scope_keyword(src: &[u8], token: Token) -> Option<bool> {
    let is = |kw: &str| token.is_keyword(src, kw);
    if is("SESSION") || is("LOCAL") {
        Some(true)
    } else if is("GLOBAL") || is("PERSIST") || is("PERSIST_ONLY") {
        Some(false)
    } else {
        None
    }
}

/// Scope and lower-case name of `@@name` / `@@scope.name`.
fn system_variable(text: &[u8]) -> Option<(bool, String)> {
    let full = text.get(2..)?;
    let (scope, name) = match full.iter().position(|&b| b == b'.') {
        Some(dot) => {
            let prefix = full.get(..dot).unwrap_or_default();
            let rest = full.get(dot + 1..).unwrap_or_default();
            let is = |s: &str| prefix.eq_ignore_ascii_case(s.as_bytes());
            if is("session") || is("local") {
                (Some(true), rest)
            } else if is("global") || is("persist") || is("persist_only") {
                (Some(false), rest)
            } else {
                (None, full)
            }
        }
        None => (None, full),
    };
    if name.is_empty() {
        return None;
    }
    Some((scope.unwrap_or(true), lower_lossy(name)))
}

/// Name of a bare variable, including structured names such as `default.key_buffer_size`.
fn dotted_name(tokens: &mut Tokens, first: Token) -> Option<String> {
    let mut name = identifier(tokens.src, first)?.to_ascii_lowercase();
    while tokens.operator(".") {
        let part = tokens.next()?;
        name.push('.');
        name.push_str(&identifier(tokens.src, part)?.to_ascii_lowercase());
    }
    Some(name)
}

/// A charset or collation name (word, string or quoted identifier), lower-cased.
fn charset_name(tokens: &mut Tokens) -> Option<String> {
    let token = tokens.next()?;
    let name = match token.kind {
        TokenKind::String => unescape_string(token, tokens.src, tokens.no_backslash_escapes),
        _ => identifier(tokens.src, token)?,
    };
    Some(name.to_ascii_lowercase())
}

fn unescape_string(token: Token, src: &[u8], no_backslash_escapes: bool) -> String {
    let quote = token.text(src).first().copied().unwrap_or(b'\'');
    let body = strip_quotes(token, src);
    let mut out = Vec::with_capacity(body.len());
    let mut bytes = body.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b == b'\\' && !no_backslash_escapes {
            match bytes.next() {
                Some(b'0') => out.push(0),
                Some(b'b') => out.push(0x08),
                Some(b'n') => out.push(b'\n'),
                Some(b'r') => out.push(b'\r'),
                Some(b't') => out.push(b'\t'),
                Some(b'Z') => out.push(0x1a),
                // `\%` and `\_` keep their backslash (they are LIKE-pattern escapes).
                Some(c @ (b'%' | b'_')) => out.extend_from_slice(&[b'\\', c]),
                Some(c) => out.push(c),
                None => out.push(b'\\'),
            }
        } else {
            out.push(b);
            if b == quote && bytes.peek() == Some(&quote) {
                bytes.next();
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a value up to the next top-level `,` or the end of the statement.
fn parse_value(tokens: &mut Tokens) -> Option<SetValue> {
    let src = tokens.src;
    let first = tokens.next()?;
    let mut last = first;
    let mut count = 1usize;
    let mut depth = i32::from(first.is_operator(src, "(")) - i32::from(first.is_operator(src, ")"));
    while let Some(t) = tokens.peek() {
        if depth <= 0 && t.is_operator(src, ",") {
            break;
        }
        if t.is_operator(src, "(") {
            depth += 1;
        } else if t.is_operator(src, ")") {
            depth -= 1;
        }
        tokens.next();
        last = t;
        count += 1;
    }
    let value = match (count, first.kind) {
        (1, TokenKind::Number) => parse_int(first.text(src), false).map(SetValue::Int),
        (1, TokenKind::String) => Some(SetValue::Str(unescape_string(
            first,
            src,
            tokens.no_backslash_escapes,
        ))),
        (1, TokenKind::Word) if first.is_keyword(src, "DEFAULT") => Some(SetValue::Default),
        (1, TokenKind::Word | TokenKind::QuotedIdent) => {
            identifier(src, first).map(SetValue::Ident)
        }
        (2, TokenKind::Operator) if last.kind == TokenKind::Number => {
            let negative = first.is_operator(src, "-");
            let signed = negative || first.is_operator(src, "+");
            signed
                .then(|| parse_int(last.text(src), negative))
                .flatten()
                .map(SetValue::Int)
        }
        _ => None,
    };
    Some(value.unwrap_or_else(|| {
        let raw = src.get(first.start..last.end).unwrap_or_default();
        SetValue::Other(String::from_utf8_lossy(raw).into_owned())
    }))
}

/// Decimal integer; `None` for decimals, exponents or values outside `i64`.
fn parse_int(digits: &[u8], negative: bool) -> Option<i64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0i64, |n, &b| {
        let d = i64::from(b.checked_sub(b'0').filter(|d| *d <= 9)?);
        let n = n.checked_mul(10)?;
        if negative {
            n.checked_sub(d)
        } else {
            n.checked_add(d)
        }
    })
}

fn lower_lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::super::statement::session_effects;
    use super::super::token::LexOptions;
    use super::*;
    use SessionEffect::*;

    fn effects(stmt: &str) -> Vec<SessionEffect> {
        session_effects(stmt.as_bytes(), &LexOptions::default())
    }

    fn var(name: &str, value: SetValue) -> SessionEffect {
        SetVariable {
            name: name.to_string(),
            value,
        }
    }

    fn names(charset: &str, collation: Option<&str>) -> SessionEffect {
        SetNames {
            charset: charset.to_string(),
            collation: collation.map(str::to_string),
        }
    }

    #[test]
    fn set_variable_scopes() {
        let fkc = vec![var("foreign_key_checks", SetValue::Int(0))];
        for stmt in [
            "SET @@session.foreign_key_checks=0",
            "SET @@foreign_key_checks = 0",
            "SET SESSION foreign_key_checks=0",
            "set local FOREIGN_KEY_CHECKS = 0",
            "SET foreign_key_checks=0",
            "SET @@LOCAL.foreign_key_checks:=0",
            "  /* c */ SET\n\t@@session.foreign_key_checks /* c */ = /* c */ 0 ;",
        ] {
            assert_eq!(effects(stmt), fkc, "{stmt}");
        }
        assert_eq!(effects("SET GLOBAL foreign_key_checks=0"), vec![]);
        assert_eq!(effects("SET @@global.foreign_key_checks=0"), vec![]);
        assert_eq!(effects("SET PERSIST max_connections=10"), vec![]);
        assert_eq!(effects("SET @x=1"), vec![]);
        assert_eq!(effects("SET @x := 1, @`y` = 2, @'z' = 3"), vec![]);
        // The last scope keyword applies to later unqualified names; `@@` names don't change it.
        assert_eq!(
            effects("SET GLOBAL a=1, b=2, SESSION c=3, @@global.d=4, e=5"),
            vec![var("c", SetValue::Int(3)), var("e", SetValue::Int(5))]
        );
    }

    #[test]
    fn set_lists_and_values() {
        assert_eq!(
            effects(
                "SET @@session.character_set_client=33,@@session.collation_connection=33,@@session.collation_server=8"
            ),
            vec![
                var("character_set_client", SetValue::Int(33)),
                var("collation_connection", SetValue::Int(33)),
                var("collation_server", SetValue::Int(8)),
            ]
        );
        assert_eq!(
            effects("SET x = -5, y = +7"),
            vec![var("x", SetValue::Int(-5)), var("y", SetValue::Int(7))]
        );
        assert_eq!(
            effects("SET x = -9223372036854775808"),
            vec![var("x", SetValue::Int(i64::MIN))]
        );
        assert_eq!(
            effects("SET x = 99999999999999999999"),
            vec![var("x", SetValue::Other("99999999999999999999".into()))]
        );
        assert_eq!(
            effects("SET autocommit=ON, y=`off`"),
            vec![
                var("autocommit", SetValue::Ident("ON".into())),
                var("y", SetValue::Ident("off".into()))
            ]
        );
        assert_eq!(
            effects("SET @@session.collation_database=DEFAULT"),
            vec![var("collation_database", SetValue::Default)]
        );
        assert_eq!(
            effects("SET sql_mode = 'NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES'"),
            vec![var(
                "sql_mode",
                SetValue::Str("NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES".into())
            )]
        );
        assert_eq!(
            effects(r"SET x = 'it\'s', y = 'a''b'"),
            vec![
                var("x", SetValue::Str("it's".into())),
                var("y", SetValue::Str("a'b".into()))
            ]
        );
        assert_eq!(
            effects("SET x = CONCAT(@@x, ',a'), y = 1.5, z = @@w"),
            vec![
                var("x", SetValue::Other("CONCAT(@@x, ',a')".into())),
                var("y", SetValue::Other("1.5".into())),
                var("z", SetValue::Other("@@w".into())),
            ]
        );
        assert_eq!(
            effects("SET TIMESTAMP=1700000000/*!*/"),
            vec![var("timestamp", SetValue::Int(1700000000))]
        );
        assert_eq!(
            effects("SET @@SESSION.GTID_NEXT= '3E11FA47-71CA-11E1-9E33-C80AA9429562:23'/*!*/"),
            vec![var(
                "gtid_next",
                SetValue::Str("3E11FA47-71CA-11E1-9E33-C80AA9429562:23".into())
            )]
        );
        assert_eq!(
            effects("SET default.key_buffer_size = 1"),
            vec![var("default.key_buffer_size", SetValue::Int(1))]
        );
    }

    #[test]
    fn mysqldump_and_binlog_forms() {
        assert_eq!(
            effects(
                "/*!40014 SET @OLD_FOREIGN_KEY_CHECKS=@@FOREIGN_KEY_CHECKS, FOREIGN_KEY_CHECKS=0 */"
            ),
            vec![var("foreign_key_checks", SetValue::Int(0))]
        );
        assert_eq!(
            effects("/*!40101 SET NAMES utf8mb4 */"),
            vec![names("utf8mb4", None)]
        );
        assert_eq!(
            effects("/*!100001 SET @@session.gtid_domain_id=0*/"),
            vec![var("gtid_domain_id", SetValue::Int(0))]
        );
        assert_eq!(
            effects("/*M!100001 SET @@session.gtid_seq_no=5*/"),
            vec![var("gtid_seq_no", SetValue::Int(5))]
        );
        assert_eq!(
            effects("/*!50003 SET @OLD_COMPLETION_TYPE=@@COMPLETION_TYPE,COMPLETION_TYPE=0*/"),
            vec![var("completion_type", SetValue::Int(0))]
        );
        assert_eq!(effects("/*!\\C utf8mb4 *//*!*/"), vec![]);
        assert_eq!(effects("/*!*/"), vec![]);
        assert_eq!(
            effects(
                "# at 4\n#220420 22:18:04 server id 1  end_log_pos 372 CRC32 0x0af91ecb \tGTID 0-1-1 trans\n/*M!100101 SET @@session.skip_parallel_replication=0*/"
            ),
            vec![var("skip_parallel_replication", SetValue::Int(0))]
        );
        assert_eq!(
            effects("SET @@session.character_set_client=latin1,@@session.collation_connection=8"),
            vec![
                var("character_set_client", SetValue::Ident("latin1".into())),
                var("collation_connection", SetValue::Int(8))
            ]
        );
    }

    #[test]
    fn versioned_comments_follow_the_target() {
        let mysql8 = LexOptions {
            target_version: 80036,
            is_mariadb: false,
            ..LexOptions::default()
        };
        let mysql_effects = |s: &str| session_effects(s.as_bytes(), &mysql8);
        assert_eq!(
            mysql_effects("/*M!100001 SET @@session.gtid_seq_no=5*/"),
            vec![]
        );
        assert_eq!(
            mysql_effects("/*!80001 SET @@session.x=1*/"),
            vec![var("x", SetValue::Int(1))]
        );
        // MariaDB skips MySQL 5.7+ versioned comments.
        assert_eq!(
            effects("/*!80001 SET @@session.original_commit_timestamp=1*/"),
            vec![]
        );
        let old = LexOptions {
            target_version: 40000,
            is_mariadb: false,
            ..LexOptions::default()
        };
        assert_eq!(session_effects(b"/*!40101 SET NAMES utf8 */", &old), vec![]);
    }

    #[test]
    fn names_and_charset() {
        assert_eq!(effects("SET NAMES utf8mb4"), vec![names("utf8mb4", None)]);
        assert_eq!(
            effects("set names 'UTF8MB4' collate \"utf8mb4_unicode_ci\""),
            vec![names("utf8mb4", Some("utf8mb4_unicode_ci"))]
        );
        assert_eq!(effects("SET NAMES DEFAULT"), vec![names("default", None)]);
        assert_eq!(
            effects("SET NAMES `latin1`, autocommit=0"),
            vec![names("latin1", None), var("autocommit", SetValue::Int(0))]
        );
        let cs = SetCharacterSet {
            charset: "latin1".into(),
        };
        assert_eq!(effects("SET CHARACTER SET latin1"), vec![cs.clone()]);
        assert_eq!(effects("SET CHARSET 'latin1'"), vec![cs]);
        assert_eq!(effects("SET NAMES"), vec![]);
    }

    #[test]
    fn other_set_forms_have_no_effect() {
        for stmt in [
            "SET TRANSACTION ISOLATION LEVEL READ COMMITTED",
            "SET SESSION TRANSACTION READ ONLY",
            "SET PASSWORD = 'x'",
            "SET PASSWORD FOR u = 'x'",
            "SET ROLE r",
            "SET DEFAULT ROLE r FOR u",
            "SET STATEMENT max_statement_time=1 FOR SELECT 1",
            "SET x",
            "SET x = ",
            "SET",
            "SET x = 1,",
        ] {
            assert_eq!(effects(stmt), vec![], "{stmt}");
        }
    }

    #[test]
    fn no_backslash_escapes_value() {
        let nbe = LexOptions {
            no_backslash_escapes: true,
            ..LexOptions::default()
        };
        assert_eq!(
            session_effects(br"SET x = 'a\n'", &nbe),
            vec![var("x", SetValue::Str("a\\n".into()))]
        );
    }
}
