//! The lexer's vocabulary: token kinds, tokens as byte ranges, and the options that
//! make lexing depend on the target server.
//!
//! Tokens carry offsets rather than text so callers slice the original bytes without
//! copying; the options capture the two server facts that change where tokens end
//! (`NO_BACKSLASH_ESCAPES`) and which versioned comments are code (version and flavour).

use std::ops::Range;

/// Server-dependent rules the lexer must mirror.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LexOptions {
    /// `sql_mode` contains `NO_BACKSLASH_ESCAPES`: a backslash is an ordinary byte in
    /// strings and only a doubled quote escapes the quote.
    pub no_backslash_escapes: bool,
    /// Target server version as `major * 10000 + minor * 100 + patch`
    /// (`101100` for MariaDB 10.11.0, `80036` for MySQL 8.0.36).
    pub target_version: u32,
    /// The target is MariaDB (executes `/*M!` comments, skips MySQL `/*!50700`..`/*!99999`).
    pub is_mariadb: bool,
    /// The statement's charset has multi-byte characters whose trail byte can read as ASCII
    /// (`\`, `` ` ``): they are read as units, as the server reads them.
    pub multi_byte: Option<super::MultiByte>,
}

impl Default for LexOptions {
    fn default() -> Self {
        Self {
            no_backslash_escapes: false,
            target_version: 101100,
            is_mariadb: true,
            multi_byte: None,
        }
    }
}

impl LexOptions {
    /// Whether the target executes the content of a versioned comment.
    ///
    /// `version` is `None` for `/*!` without a version number (always executed);
    /// `mariadb_only` is true for the `/*M!` form, which MySQL treats as a plain comment.
    pub fn executes_versioned_comment(&self, version: Option<u32>, mariadb_only: bool) -> bool {
        if mariadb_only && !self.is_mariadb {
            return false;
        }
        let Some(version) = version else {
            return true;
        };
        // MariaDB deliberately ignores MySQL 5.7+ syntax hidden in `/*!5xxxx`..`/*!9xxxx`
        // comments (it cannot parse it), but honours the same numbers in `/*M!`.
        let mysql_only_range =
            self.is_mariadb && !mariadb_only && (50700..=99999).contains(&version);
        version <= self.target_version && !mysql_only_range
    }

    /// How many digits the server reads as a versioned comment's number: MariaDB and
    /// MySQL 8.1+ accept six (for major versions >= 10), older MySQL exactly five.
    pub(super) fn version_digits(&self) -> usize {
        if self.is_mariadb || self.target_version >= 80100 {
            6
        } else {
            5
        }
    }
}

/// What a token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// Space, tab, newline, carriage return, vertical tab or form feed.
    Whitespace,
    /// `# ...` or `-- ...` up to (not including) the newline.
    LineComment,
    /// `/* ... */`, including versioned comments the target does not execute.
    BlockComment,
    /// Opening of an executed versioned comment (`/*!`, `/*!40101`, `/*M!100001`);
    /// the tokens that follow are code until [`TokenKind::VersionedEnd`].
    VersionedStart,
    /// The `*/` that closes an executed versioned comment.
    VersionedEnd,
    /// `'...'` or `"..."` literal, quotes included.
    String,
    /// `` `...` `` identifier, backticks included.
    QuotedIdent,
    /// Charset introducer such as `_utf8mb4` or `_binary` (a known charset name after `_`).
    Introducer,
    /// `X'..'` or `0x..`.
    HexLiteral,
    /// `B'..'` or `0b..`.
    BitLiteral,
    /// Integer or decimal/float number (sign not included).
    Number,
    /// Identifier or keyword.
    Word,
    /// `@name`, `@'name'`, `` @`name` `` (user variable).
    UserVar,
    /// `@@name`, `@@session.name`, `@@global.name` (system variable).
    SystemVar,
    /// `;`
    Semicolon,
    /// Operators and punctuation (`=`, `:=`, `,`, `(`, `<=>`, ...), and any other byte.
    Operator,
}

impl TokenKind {
    /// Whitespace, comments and versioned-comment markers: no meaning to the grammar.
    pub fn is_trivia(self) -> bool {
        matches!(
            self,
            TokenKind::Whitespace
                | TokenKind::LineComment
                | TokenKind::BlockComment
                | TokenKind::VersionedStart
                | TokenKind::VersionedEnd
        )
    }
}

/// One token: its kind and its byte range in the lexed text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    /// What the token is.
    pub kind: TokenKind,
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
    /// False when a string, quoted identifier, literal or comment runs to the end of the
    /// input without its closing delimiter.
    pub terminated: bool,
}

impl Token {
    /// Byte range of the token in the lexed text.
    pub fn range(&self) -> Range<usize> {
        self.start..self.end
    }

    /// The token's bytes (empty if `src` is not the text it was lexed from).
    pub fn text<'a>(&self, src: &'a [u8]) -> &'a [u8] {
        src.get(self.start..self.end).unwrap_or_default()
    }

    /// Whether this is a word equal to `keyword`, ignoring ASCII case.
    pub fn is_keyword(&self, src: &[u8], keyword: &str) -> bool {
        self.kind == TokenKind::Word && self.text(src).eq_ignore_ascii_case(keyword.as_bytes())
    }

    /// Whether this is the operator/punctuation `op`.
    pub fn is_operator(&self, src: &[u8], op: &str) -> bool {
        self.kind == TokenKind::Operator && self.text(src) == op.as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_comment_rules() {
        let mariadb = LexOptions::default();
        let mysql8 = LexOptions {
            target_version: 80036,
            is_mariadb: false,
            ..LexOptions::default()
        };
        // (version, mariadb_only, executed on MariaDB 10.11, executed on MySQL 8.0.36)
        let cases = [
            (None, false, true, true),
            (None, true, true, false),
            (Some(40101), false, true, true),
            (Some(50699), false, true, true),
            (Some(50700), false, false, true),
            (Some(80036), false, false, true),
            (Some(80037), false, false, false),
            (Some(99999), false, false, false),
            (Some(50700), true, true, false),
            (Some(100001), false, true, false),
            (Some(100001), true, true, false),
            (Some(101100), true, true, false),
            (Some(101101), true, false, false),
        ];
        for (version, mariadb_only, on_mariadb, on_mysql) in cases {
            let case = format!("{version:?} {mariadb_only}");
            let executed = mariadb.executes_versioned_comment(version, mariadb_only);
            assert_eq!(executed, on_mariadb, "MariaDB {case}");
            let executed = mysql8.executes_versioned_comment(version, mariadb_only);
            assert_eq!(executed, on_mysql, "MySQL {case}");
        }
    }

    #[test]
    fn version_digits_by_target() {
        let mysql = |target_version| LexOptions {
            target_version,
            is_mariadb: false,
            ..LexOptions::default()
        };
        assert_eq!(LexOptions::default().version_digits(), 6);
        assert_eq!(mysql(80036).version_digits(), 5);
        assert_eq!(mysql(80100).version_digits(), 6);
    }

    #[test]
    fn token_helpers() {
        let src = b"SET x := 1";
        let set = Token {
            kind: TokenKind::Word,
            start: 0,
            end: 3,
            terminated: true,
        };
        assert!(set.is_keyword(src, "set"));
        assert!(!set.is_operator(src, "SET"));
        assert_eq!(set.range(), 0..3);
        let assign = Token {
            kind: TokenKind::Operator,
            start: 6,
            end: 8,
            terminated: true,
        };
        assert!(assign.is_operator(src, ":="));
        assert_eq!(assign.text(b"short"), b"");
        assert!(TokenKind::VersionedEnd.is_trivia());
        assert!(!TokenKind::Semicolon.is_trivia());
    }
}
