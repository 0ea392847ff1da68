//! A pull cursor over the significant tokens of one statement, with a few tokens of
//! look-ahead and the name grammar (`db.tbl`, quoted identifiers) the grammars share.
//!
//! It lexes lazily and keeps its look-ahead in a fixed ring, so the fast path allocates
//! nothing and reads only as many tokens as it asks for. It ends at the first top-level
//! `;` (callers pass one statement).

use super::ObjectRef;
use crate::sql::lexer::StatementTokens;
use crate::sql::statement::identifier;
use crate::sql::token::{LexOptions, Token, TokenKind};

/// Look-ahead capacity: enough for `DROP TEMPORARY TABLE IF EXISTS`.
const AHEAD: usize = 8;

pub(super) struct Cursor<'a> {
    src: &'a [u8],
    tokens: StatementTokens<'a>,
    ring: [Option<Token>; AHEAD],
    head: usize,
    len: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(src: &'a [u8], opts: &LexOptions) -> Self {
        Self {
            src,
            tokens: StatementTokens::new(src, opts),
            ring: [None; AHEAD],
            head: 0,
            len: 0,
        }
    }

    /// A cursor whose next token is the first one starting at or after `offset`. Lexing
    /// starts from the beginning so versioned-comment state stays right.
    pub(super) fn new_at(src: &'a [u8], opts: &LexOptions, offset: usize) -> Self {
        let mut cursor = Self::new(src, opts);
        while cursor.peek(0).is_some_and(|t| t.start < offset) {
            cursor.next();
        }
        cursor
    }

    pub(super) fn source(&self) -> &'a [u8] {
        self.src
    }

    /// The `k`-th next token (0 = next), without consuming; `k` must be below the ring size.
    pub(super) fn peek(&mut self, k: usize) -> Option<Token> {
        if k >= AHEAD {
            return None;
        }
        while self.len <= k {
            let token = self.tokens.next()?;
            if let Some(slot) = self.ring.get_mut((self.head + self.len) % AHEAD) {
                *slot = Some(token);
            }
            self.len += 1;
        }
        self.ring.get((self.head + k) % AHEAD).copied().flatten()
    }

    pub(super) fn next(&mut self) -> Option<Token> {
        if self.len == 0 {
            return self.tokens.next();
        }
        let token = self.ring.get_mut(self.head).and_then(Option::take);
        self.head = (self.head + 1) % AHEAD;
        self.len -= 1;
        token
    }

    pub(super) fn at_end(&mut self) -> bool {
        self.peek(0).is_none()
    }

    pub(super) fn text(&self, token: Token) -> &'a [u8] {
        token.text(self.src)
    }

    /// The `k`-th next token as an upper-cased keyword, if it is a word.
    pub(super) fn keyword(&mut self, k: usize) -> Option<Keyword> {
        let token = self.peek(k)?;
        (token.kind == TokenKind::Word)
            .then(|| Keyword::of(token.text(self.src)))
            .flatten()
    }

    pub(super) fn is_kw(&mut self, k: usize, keyword: &str) -> bool {
        let src = self.src;
        self.peek(k).is_some_and(|t| t.is_keyword(src, keyword))
    }

    pub(super) fn is_op(&mut self, k: usize, op: &str) -> bool {
        let src = self.src;
        self.peek(k).is_some_and(|t| t.is_operator(src, op))
    }

    /// Consumes the next token if it is `keyword`.
    pub(super) fn eat(&mut self, keyword: &str) -> bool {
        let matched = self.is_kw(0, keyword);
        if matched {
            self.next();
        }
        matched
    }

    /// Consumes the keywords `seq` if all of them come next, else nothing.
    pub(super) fn eat_all(&mut self, seq: &[&str]) -> bool {
        let matched = seq
            .iter()
            .enumerate()
            .all(|(k, keyword)| self.is_kw(k, keyword));
        if matched {
            seq.iter().for_each(|_| {
                self.next();
            });
        }
        matched
    }

    /// Consumes the next token if it is the operator `op`.
    pub(super) fn eat_op(&mut self, op: &str) -> bool {
        let matched = self.is_op(0, op);
        if matched {
            self.next();
        }
        matched
    }

    /// `IF EXISTS`.
    pub(super) fn if_exists(&mut self) -> bool {
        self.eat_all(&["IF", "EXISTS"])
    }

    /// `IF NOT EXISTS`.
    pub(super) fn if_not_exists(&mut self) -> bool {
        self.eat_all(&["IF", "NOT", "EXISTS"])
    }

    /// MariaDB's lock-wait clause: `WAIT n` or `NOWAIT`.
    pub(super) fn skip_wait(&mut self) {
        if self.is_kw(0, "WAIT") && self.peek(1).is_some_and(|t| t.kind == TokenKind::Number) {
            self.next();
            self.next();
        } else {
            self.eat("NOWAIT");
        }
    }

    /// An identifier: a word, a backtick-quoted name, or a double-quoted one
    /// (`ANSI_QUOTES`). Consumed only if it is one.
    pub(super) fn ident(&mut self) -> Option<String> {
        let token = self.peek(0)?;
        let name = ident_text(self.src, token)?;
        self.next();
        Some(name)
    }

    /// `name` or `schema.name`. Consumed only if it is one; `a.b.c` is not.
    pub(super) fn object(&mut self) -> Option<ObjectRef> {
        let first = self.ident()?;
        if !self.is_op(0, ".") {
            return Some(ObjectRef::named(first));
        }
        // `db.*` (GRANT levels, multi-table DELETE targets): the name alone, `.*` left.
        let Some(second) = self.peek(1).and_then(|t| part_text(self.src, t)) else {
            return Some(ObjectRef::named(first));
        };
        self.next();
        self.next();
        if self.is_op(0, ".") {
            return None;
        }
        Some(ObjectRef {
            schema: Some(first),
            name: second,
        })
    }

    /// `object (, object)*`.
    pub(super) fn object_list(&mut self) -> Option<Vec<ObjectRef>> {
        let mut objects = vec![self.object()?];
        while self.eat_op(",") {
            objects.push(self.object()?);
        }
        Some(objects)
    }

    /// Consumes tokens up to the first one at parenthesis depth 0 that is a keyword in
    /// `stops`, which is left as the next token; returns which. `None` at the end.
    pub(super) fn seek_top_level(&mut self, stops: &[&str]) -> Option<Keyword> {
        let mut depth = 0u32;
        while let Some(token) = self.peek(0) {
            match token.kind {
                TokenKind::Operator if self.text(token) == b"(" => depth += 1,
                TokenKind::Operator if self.text(token) == b")" => depth = depth.saturating_sub(1),
                TokenKind::Word if depth == 0 => {
                    let word = self.text(token);
                    if let Some(stop) = stops
                        .iter()
                        .find(|s| word.eq_ignore_ascii_case(s.as_bytes()))
                    {
                        return Keyword::of(stop.as_bytes());
                    }
                }
                _ => {}
            }
            self.next();
        }
        None
    }

    /// Consumes tokens up to the next `,` at depth 0 (consumed) or the end; returns whether
    /// a comma was found.
    pub(super) fn skip_past_comma(&mut self) -> bool {
        let mut depth = 0u32;
        while let Some(token) = self.next() {
            if token.kind != TokenKind::Operator {
                continue;
            }
            match self.text(token) {
                b"(" => depth += 1,
                b")" => depth = depth.saturating_sub(1),
                b"," if depth == 0 => return true,
                _ => {}
            }
        }
        false
    }
}

/// Text of an identifier token, unquoted.
fn ident_text(src: &[u8], token: Token) -> Option<String> {
    match token.kind {
        TokenKind::Word | TokenKind::QuotedIdent => identifier(src, token),
        TokenKind::String if token.text(src).first() == Some(&b'"') => {
            let text = token.text(src);
            let inner = text.get(1..text.len().saturating_sub(usize::from(token.terminated)));
            let inner = String::from_utf8_lossy(inner.unwrap_or_default());
            Some(inner.replace("\"\"", "\""))
        }
        _ => None,
    }
}

/// Text of the part after a `.`: an identifier, or digits (`db.1` lexes as a number).
fn part_text(src: &[u8], token: Token) -> Option<String> {
    match token.kind {
        TokenKind::Number => Some(String::from_utf8_lossy(token.text(src)).into_owned()),
        _ => ident_text(src, token),
    }
}

/// A word upper-cased into a fixed buffer, for allocation-free keyword matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Keyword {
    buf: [u8; 24],
    len: usize,
}

impl Keyword {
    /// `None` for words longer than any keyword.
    pub(super) fn of(word: &[u8]) -> Option<Self> {
        let mut buf = [0u8; 24];
        let slot = buf.get_mut(..word.len())?;
        for (to, from) in slot.iter_mut().zip(word) {
            *to = from.to_ascii_uppercase();
        }
        Some(Self {
            buf,
            len: word.len(),
        })
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// First keywords of statements that can destroy data or access: an unparsable
    /// statement starting with one is treated as destructive.
    pub(super) fn is_destructive_verb(&self) -> bool {
        matches!(
            self.as_bytes(),
            b"DROP"
                | b"TRUNCATE"
                | b"ALTER"
                | b"RENAME"
                | b"DELETE"
                | b"UPDATE"
                | b"REVOKE"
                | b"GRANT"
        )
    }

    /// First keywords of statements the guard has no interest in.
    pub(super) fn is_known_other(&self) -> bool {
        matches!(
            self.as_bytes(),
            b"SHOW"
                | b"EXPLAIN"
                | b"DESCRIBE"
                | b"DESC"
                | b"HELP"
                | b"FLUSH"
                | b"OPTIMIZE"
                | b"ANALYZE"
                | b"CHECK"
                | b"CHECKSUM"
                | b"REPAIR"
                | b"LOCK"
                | b"UNLOCK"
                | b"SAVEPOINT"
                | b"RELEASE"
                | b"DO"
                | b"HANDLER"
                | b"PREPARE"
                | b"EXECUTE"
                | b"DEALLOCATE"
                | b"INSTALL"
                | b"UNINSTALL"
                | b"KILL"
                | b"RESET"
                | b"PURGE"
                | b"CHANGE"
                | b"STOP"
                | b"SIGNAL"
                | b"RESIGNAL"
                | b"GET"
                | b"DECLARE"
                | b"CACHE"
                | b"SHUTDOWN"
                | b"BACKUP"
                | b"RESTART"
                | b"CLONE"
                | b"IMPORT"
                | b"END"
                | b"IF"
                | b"CASE"
                | b"LOOP"
                | b"REPEAT"
                | b"WHILE"
                | b"LEAVE"
                | b"ITERATE"
                | b"RETURN"
                | b"OPEN"
                | b"CLOSE"
                | b"FETCH"
        )
    }
}
