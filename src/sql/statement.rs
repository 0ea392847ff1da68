//! What a statement does to the session: the charset, variables, database and
//! transaction state the proxy tracks per client session.
//!
//! Replay streams set session state with statements wrapped in versioned comments
//! (`/*!40101 SET NAMES utf8mb4 */`, `/*M!100001 SET @@session.gtid_seq_no=5*/`), so the
//! statement is read through the lexer with the target's versioned-comment rules: what
//! the target would execute is what counts. Anything unrecognised or not parseable yields
//! no effect, as a statement the server rejects changes nothing.

use super::lexer::StatementTokens;
use super::set_statement::parse_set;
use super::token::{LexOptions, Token, TokenKind};

/// A change a statement makes to session state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEffect {
    /// `SET NAMES x [COLLATE y]`; names are lower-cased, `SET NAMES DEFAULT` gives `"default"`.
    SetNames {
        /// Charset name.
        charset: String,
        /// Collation name, if given.
        collation: Option<String>,
    },
    /// `SET CHARACTER SET x` / `SET CHARSET x` (lower-cased; `DEFAULT` gives `"default"`).
    SetCharacterSet {
        /// Charset name.
        charset: String,
    },
    /// One session-scope system-variable assignment of a `SET` list.
    SetVariable {
        /// Variable name, lower-case, without `@@` or scope (`foreign_key_checks`).
        name: String,
        /// Assigned value.
        value: SetValue,
    },
    /// `USE db`.
    Use {
        /// Database name as written (backticks removed).
        database: String,
    },
    /// `BEGIN [WORK]`, `START TRANSACTION ...`, `XA START|BEGIN ...`.
    Begin,
    /// `COMMIT [WORK]`, `XA COMMIT ...`.
    Commit,
    /// `ROLLBACK [WORK]` (not `ROLLBACK TO SAVEPOINT`), `XA ROLLBACK ...`.
    Rollback,
}

/// The value of a system-variable assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SetValue {
    /// Integer literal, optionally signed.
    Int(i64),
    /// Quoted string, unescaped (lossy UTF-8).
    Str(String),
    /// Bare identifier or keyword as written (`ON`, `utf8mb4`); compare case-insensitively.
    Ident(String),
    /// `DEFAULT`.
    Default,
    /// Anything else (expression, variable, decimal), as raw text.
    Other(String),
}

/// The session effects of one statement (callers split multi-statement text first; text
/// after a top-level `;` is ignored). Never fails: unknown or malformed statements give
/// an empty list. Statements not starting with `SET`, `USE`, `BEGIN`, `START`, `COMMIT`,
/// `ROLLBACK` or `XA` are rejected after lexing their first word.
pub fn session_effects(stmt: &[u8], opts: &LexOptions) -> Vec<SessionEffect> {
    let mut tokens = Tokens::new(stmt, opts);
    let Some(first) = tokens.next() else {
        return Vec::new();
    };
    let first_is = |kw: &str| first.is_keyword(stmt, kw);
    let effects = if first_is("SET") {
        parse_set(&mut tokens)
    } else if first_is("USE") {
        parse_use(&mut tokens)
    } else if first_is("BEGIN") {
        tokens.keyword("WORK");
        tokens.at_end().then(|| vec![SessionEffect::Begin])
    } else if first_is("START") {
        // Modifiers (WITH CONSISTENT SNAPSHOT, READ ONLY, ...) do not matter here.
        tokens
            .keyword("TRANSACTION")
            .then(|| vec![SessionEffect::Begin])
    } else if first_is("COMMIT") {
        parse_transaction_end(&mut tokens, SessionEffect::Commit)
    } else if first_is("ROLLBACK") {
        parse_transaction_end(&mut tokens, SessionEffect::Rollback)
    } else if first_is("XA") {
        parse_xa(&mut tokens)
    } else {
        None
    };
    effects.unwrap_or_default()
}

/// Significant tokens of one statement, with one token of look-ahead; ends at `;`.
pub(super) struct Tokens<'a> {
    tokens: StatementTokens<'a>,
    pub(super) src: &'a [u8],
    pub(super) no_backslash_escapes: bool,
    peeked: Option<Option<Token>>,
}

impl<'a> Tokens<'a> {
    fn new(src: &'a [u8], opts: &LexOptions) -> Self {
        Self {
            tokens: StatementTokens::new(src, opts),
            src,
            no_backslash_escapes: opts.no_backslash_escapes,
            peeked: None,
        }
    }

    pub(super) fn next(&mut self) -> Option<Token> {
        match self.peeked.take() {
            Some(token) => token,
            None => self.tokens.next(),
        }
    }

    pub(super) fn peek(&mut self) -> Option<Token> {
        if self.peeked.is_none() {
            self.peeked = Some(self.tokens.next());
        }
        self.peeked.flatten()
    }

    pub(super) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// Consumes the next token if it is `keyword`.
    pub(super) fn keyword(&mut self, keyword: &str) -> bool {
        let src = self.src;
        let matched = self.peek().is_some_and(|t| t.is_keyword(src, keyword));
        if matched {
            self.next();
        }
        matched
    }

    /// Consumes the next token if it is the operator `op`.
    pub(super) fn operator(&mut self, op: &str) -> bool {
        let src = self.src;
        let matched = self.peek().is_some_and(|t| t.is_operator(src, op));
        if matched {
            self.next();
        }
        matched
    }

    pub(super) fn next_is_assignment(&mut self) -> bool {
        let src = self.src;
        self.peek()
            .is_some_and(|t| t.is_operator(src, "=") || t.is_operator(src, ":="))
    }

    pub(super) fn assignment(&mut self) -> bool {
        self.operator("=") || self.operator(":=")
    }
}

fn parse_use(tokens: &mut Tokens) -> Option<Vec<SessionEffect>> {
    let name = tokens.next()?;
    let database = identifier(tokens.src, name)?;
    tokens
        .at_end()
        .then(|| vec![SessionEffect::Use { database }])
}

fn parse_transaction_end(tokens: &mut Tokens, effect: SessionEffect) -> Option<Vec<SessionEffect>> {
    tokens.keyword("WORK");
    let src = tokens.src;
    if tokens.peek().is_some_and(|t| t.is_keyword(src, "TO")) {
        return None;
    }
    let mut chain = false;
    if tokens.keyword("AND") {
        chain = !tokens.keyword("NO");
        if !tokens.keyword("CHAIN") {
            return None;
        }
    }
    if tokens.keyword("NO") && !tokens.keyword("RELEASE") {
        return None;
    }
    tokens.keyword("RELEASE");
    if !tokens.at_end() {
        return None;
    }
    // `AND CHAIN` opens the next transaction right away.
    Some(if chain {
        vec![effect, SessionEffect::Begin]
    } else {
        vec![effect]
    })
}

fn parse_xa(tokens: &mut Tokens) -> Option<Vec<SessionEffect>> {
    let effect = if tokens.keyword("START") || tokens.keyword("BEGIN") {
        SessionEffect::Begin
    } else if tokens.keyword("COMMIT") {
        SessionEffect::Commit
    } else if tokens.keyword("ROLLBACK") {
        SessionEffect::Rollback
    } else {
        return None;
    };
    // The xid is required.
    (!tokens.at_end()).then(|| vec![effect])
}

/// Text of a word or backtick-quoted identifier.
pub(super) fn identifier(src: &[u8], token: Token) -> Option<String> {
    match token.kind {
        TokenKind::Word => Some(String::from_utf8_lossy(token.text(src)).into_owned()),
        TokenKind::QuotedIdent => {
            let inner = strip_quotes(token, src);
            let mut out = Vec::with_capacity(inner.len());
            let mut bytes = inner.iter().copied().peekable();
            while let Some(b) = bytes.next() {
                out.push(b);
                if b == b'`' && bytes.peek() == Some(&b'`') {
                    bytes.next();
                }
            }
            Some(String::from_utf8_lossy(&out).into_owned())
        }
        _ => None,
    }
}

/// Body of a quoted token without its quotes (the closing one only if present).
pub(super) fn strip_quotes(token: Token, src: &[u8]) -> &[u8] {
    let body = token.text(src).get(1..).unwrap_or_default();
    if token.terminated {
        body.get(..body.len().saturating_sub(1)).unwrap_or_default()
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionEffect::*;

    fn effects(stmt: &str) -> Vec<SessionEffect> {
        session_effects(stmt.as_bytes(), &LexOptions::default())
    }

    #[test]
    fn use_database() {
        let use_db = |d: &str| vec![Use { database: d.into() }];
        assert_eq!(effects("USE db1"), use_db("db1"));
        assert_eq!(effects("use `my``db`/*!*/"), use_db("my`db"));
        assert_eq!(effects("USE"), vec![]);
        assert_eq!(effects("USE a b"), vec![]);
        assert_eq!(
            session_effects(b"USE `caf\xe9`", &LexOptions::default()),
            use_db("caf\u{fffd}")
        );
    }

    #[test]
    fn transactions() {
        assert_eq!(effects("BEGIN"), vec![Begin]);
        assert_eq!(effects("begin work"), vec![Begin]);
        assert_eq!(effects("BEGIN NOT ATOMIC SELECT 1; END"), vec![]);
        assert_eq!(effects("START TRANSACTION"), vec![Begin]);
        assert_eq!(
            effects("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"),
            vec![Begin]
        );
        assert_eq!(effects("START SLAVE"), vec![]);
        assert_eq!(effects("COMMIT/*!*/"), vec![Commit]);
        assert_eq!(effects("COMMIT WORK"), vec![Commit]);
        assert_eq!(effects("COMMIT AND CHAIN"), vec![Commit, Begin]);
        assert_eq!(effects("COMMIT AND NO CHAIN NO RELEASE"), vec![Commit]);
        assert_eq!(
            effects("ROLLBACK /* added by mysqlbinlog */"),
            vec![Rollback]
        );
        assert_eq!(effects("ROLLBACK WORK"), vec![Rollback]);
        assert_eq!(effects("ROLLBACK TO SAVEPOINT s1"), vec![]);
        assert_eq!(effects("ROLLBACK WORK TO s1"), vec![]);
        assert_eq!(effects("XA START X'31',X'',1"), vec![Begin]);
        assert_eq!(effects("XA BEGIN 'x'"), vec![Begin]);
        assert_eq!(effects("XA COMMIT 'x' ONE PHASE"), vec![Commit]);
        assert_eq!(effects("xa rollback 'x'"), vec![Rollback]);
        assert_eq!(effects("XA END 'x'"), vec![]);
        assert_eq!(effects("XA START"), vec![]);
    }

    #[test]
    fn unrelated_statements() {
        for stmt in [
            "",
            "   ",
            "SELECT 1",
            "INSERT INTO t SET a=1",
            "UPDATE t SET a=1",
            "# at 4\n/* x */ DROP TABLE t",
            "'SET x=1'",
            "SETX a=1",
            "/*!99999 SET x=1 */",
        ] {
            assert_eq!(effects(stmt), vec![], "{stmt}");
        }
    }

    #[test]
    fn only_first_statement_counts() {
        assert_eq!(effects("BEGIN; COMMIT"), vec![Begin]);
        assert_eq!(
            effects("SET a=1; SET b=2"),
            vec![SetVariable {
                name: "a".into(),
                value: SetValue::Int(1)
            }]
        );
    }
}
