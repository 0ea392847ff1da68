//! Byte-level SQL lexer shared by statement splitting, charset validation and
//! session-effect detection.
//!
//! Statement text arrives as raw bytes in whatever charset the client chose, so the
//! lexer works on `&[u8]`, never allocates and never fails: malformed or truncated
//! input still yields tokens (unterminated ones are flagged). It follows the server's
//! own lexer (`sql_lex.cc`) on everything that decides where literals, comments and
//! statements begin and end, including which versioned comments (`/*!NNNNN ... */`,
//! `/*M!NNNNNN ... */`) the target server executes, because a `;` or a `SET` inside an
//! executed versioned comment is real code to the server.

use super::encoding::is_known_charset;
use super::token::{LexOptions, Token, TokenKind};

/// Iterator over the tokens of a statement text.
#[derive(Clone, Debug)]
pub struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    opts: LexOptions,
    in_versioned: bool,
}

/// The significant tokens of one statement: everything up to, not including, its first
/// top-level `;` (then it ends for good). What the grammars read a statement through.
#[derive(Clone, Debug)]
pub struct StatementTokens<'a> {
    lexer: Lexer<'a>,
    ended: bool,
}

impl<'a> StatementTokens<'a> {
    pub fn new(src: &'a [u8], opts: &LexOptions) -> Self {
        Self {
            lexer: Lexer::new(src, opts),
            ended: false,
        }
    }
}

impl Iterator for StatementTokens<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        if self.ended {
            return None;
        }
        let token = self.lexer.next_significant();
        if token.is_none_or(|t| t.kind == TokenKind::Semicolon) {
            self.ended = true;
            return None;
        }
        token
    }
}

/// Bytes that may appear in an unquoted identifier; bytes >= 0x80 are parts of
/// multi-byte characters, which the server accepts in identifiers.
pub fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

const MULTI_BYTE_OPERATORS: [&[u8]; 12] = [
    b"<=>", b"->>", b":=", b"<=", b">=", b"<>", b"!=", b"||", b"&&", b"<<", b">>", b"->",
];

impl<'a> Lexer<'a> {
    /// Lexes `src` under `opts`.
    pub fn new(src: &'a [u8], opts: &LexOptions) -> Self {
        Self {
            src,
            pos: 0,
            opts: *opts,
            in_versioned: false,
        }
    }

    /// The text being lexed.
    pub fn source(&self) -> &'a [u8] {
        self.src
    }

    /// Whether the lexer is inside an executed versioned comment, i.e. a `*/` would close it.
    pub fn in_versioned_comment(&self) -> bool {
        self.in_versioned
    }

    /// Next token that is not trivia (see [`TokenKind::is_trivia`]).
    pub fn next_significant(&mut self) -> Option<Token> {
        self.find(|t| !t.kind.is_trivia())
    }

    fn byte(&self, i: usize) -> Option<u8> {
        self.src.get(i).copied()
    }

    fn scan_while(&self, from: usize, pred: impl Fn(u8) -> bool) -> usize {
        let rest = self.src.get(from..).unwrap_or_default();
        from + rest.iter().position(|&b| !pred(b)).unwrap_or(rest.len())
    }

    fn line_end(&self, from: usize) -> usize {
        let rest = self.src.get(from..).unwrap_or_default();
        from + rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())
    }

    /// End of a quoted run whose opening quote is at `open`. A doubled quote always
    /// escapes; a backslash escapes the next byte when `backslash` is set.
    fn scan_quoted(&self, open: usize, quote: u8, backslash: bool) -> (usize, bool) {
        if let Some(charset) = self.opts.multi_byte {
            return charset.quoted_end(self.src, open, quote, backslash);
        }
        let mut i = open + 1;
        loop {
            let rest = self.src.get(i..).unwrap_or_default();
            let Some(found) = rest
                .iter()
                .position(|&b| b == quote || (backslash && b == b'\\'))
            else {
                return (self.src.len(), false);
            };
            let at = i + found;
            if self.byte(at) == Some(b'\\') {
                if at + 1 >= self.src.len() {
                    return (self.src.len(), false);
                }
                i = at + 2;
            } else if self.byte(at + 1) == Some(quote) {
                i = at + 2;
            } else {
                return (at + 1, true);
            }
        }
    }

    /// End of an unquoted identifier (or variable name, with `also`) starting at `from`.
    fn scan_ident(&self, from: usize, also: impl Fn(u8) -> bool) -> usize {
        match self.opts.multi_byte {
            Some(charset) => charset.ident_end(self.src, from, |b| is_ident_byte(b) || also(b)),
            None => self.scan_while(from, |b| is_ident_byte(b) || also(b)),
        }
    }

    /// End of a comment body starting at `from` (just after the opening `/*`).
    /// `max_nesting` is how many levels of inner `/* */` the server tolerates: one inside
    /// a skipped versioned comment, none elsewhere.
    fn comment_end(&self, from: usize, max_nesting: u32) -> (usize, bool) {
        let mut depth = 0;
        let mut i = from;
        while let Some(b) = self.byte(i) {
            i += 1;
            if b == b'/' && depth < max_nesting && self.byte(i) == Some(b'*') {
                depth += 1;
                i += 1;
            } else if b == b'*' && self.byte(i) == Some(b'/') {
                i += 1;
                if depth == 0 {
                    return (i, true);
                }
                depth -= 1;
            }
        }
        (self.src.len(), false)
    }

    fn lex_block_comment(&mut self, start: usize) -> (TokenKind, usize, bool) {
        if self.in_versioned {
            let (end, terminated) = self.comment_end(start + 2, 0);
            return (TokenKind::BlockComment, end, terminated);
        }
        let (marker_len, mariadb_only) = match (self.byte(start + 2), self.byte(start + 3)) {
            (Some(b'!'), _) => (3, false),
            (Some(b'M'), Some(b'!')) if self.opts.is_mariadb => (4, true),
            _ => {
                let (end, terminated) = self.comment_end(start + 2, 0);
                return (TokenKind::BlockComment, end, terminated);
            }
        };
        let digits_start = start + marker_len;
        let digits = self.scan_while(digits_start, |b| b.is_ascii_digit()) - digits_start;
        // Fewer than five digits is no version number at all: the comment is code.
        let version_len = if digits >= 5 {
            digits.min(self.opts.version_digits())
        } else {
            0
        };
        let version = self
            .src
            .get(digits_start..digits_start + version_len)
            .filter(|d| !d.is_empty())
            .map(|d| d.iter().fold(0u32, |n, &b| n * 10 + u32::from(b - b'0')));
        if self.opts.executes_versioned_comment(version, mariadb_only) {
            self.in_versioned = true;
            (TokenKind::VersionedStart, digits_start + version_len, true)
        } else {
            let (end, terminated) = self.comment_end(digits_start, 1);
            (TokenKind::BlockComment, end, terminated)
        }
    }

    fn lex_variable(&self, start: usize) -> (TokenKind, usize, bool) {
        if self.byte(start + 1) == Some(b'@') {
            let end = self.scan_ident(start + 2, |b| b == b'.');
            return (TokenKind::SystemVar, end, true);
        }
        match self.byte(start + 1) {
            Some(q @ (b'\'' | b'"')) => {
                let (end, terminated) =
                    self.scan_quoted(start + 1, q, !self.opts.no_backslash_escapes);
                (TokenKind::UserVar, end, terminated)
            }
            Some(b'`') => {
                let (end, terminated) = self.scan_quoted(start + 1, b'`', false);
                (TokenKind::UserVar, end, terminated)
            }
            _ => {
                let end = self.scan_ident(start + 1, |b| b == b'.');
                (TokenKind::UserVar, end, true)
            }
        }
    }

    fn lex_number(&self, start: usize) -> (TokenKind, usize, bool) {
        let prefixed = |radix_char: u8, is_digit: fn(u8) -> bool| {
            let lower = self.byte(start + 1).map(|b| b.to_ascii_lowercase());
            if self.byte(start) != Some(b'0') || lower != Some(radix_char) {
                return None;
            }
            let end = self.scan_while(start + 2, is_digit);
            let ends_cleanly = !self.byte(end).is_some_and(is_ident_byte);
            (end > start + 2 && ends_cleanly).then_some(end)
        };
        if let Some(end) = prefixed(b'x', |b| b.is_ascii_hexdigit()) {
            return (TokenKind::HexLiteral, end, true);
        }
        if let Some(end) = prefixed(b'b', |b| b == b'0' || b == b'1') {
            return (TokenKind::BitLiteral, end, true);
        }
        let mut end = self.scan_while(start, |b| b.is_ascii_digit());
        if self.byte(end) == Some(b'.') {
            end = self.scan_while(end + 1, |b| b.is_ascii_digit());
        }
        if matches!(self.byte(end), Some(b'e' | b'E')) {
            let sign = usize::from(matches!(self.byte(end + 1), Some(b'+' | b'-')));
            if self
                .byte(end + 1 + sign)
                .is_some_and(|b| b.is_ascii_digit())
            {
                end = self.scan_while(end + 1 + sign, |b| b.is_ascii_digit());
            }
        }
        // The server reads `123abc` or `1e5x` as one identifier, not a number and a word.
        let starts_with_digit = self.byte(start).is_some_and(|b| b.is_ascii_digit());
        if starts_with_digit && self.byte(end).is_some_and(is_ident_byte) {
            return (TokenKind::Word, self.scan_while(end, is_ident_byte), true);
        }
        (TokenKind::Number, end, true)
    }

    fn lex_word(&self, start: usize) -> (TokenKind, usize, bool) {
        let end = self.scan_ident(start, |_| false);
        let word = self.src.get(start..end).unwrap_or_default();
        let kind = match word.split_first() {
            Some((b'_', charset)) if is_known_charset(charset) => TokenKind::Introducer,
            _ => TokenKind::Word,
        };
        (kind, end, true)
    }

    fn operator_end(&self, start: usize) -> usize {
        let rest = self.src.get(start..).unwrap_or_default();
        let len = MULTI_BYTE_OPERATORS
            .iter()
            .find(|op| rest.starts_with(op))
            .map_or(1, |op| op.len());
        start + len
    }

    /// Whether a `.` at `at` directly follows an identifier (`t1.5x` is a qualified name,
    /// not `t1` and the number `.5`).
    fn follows_identifier(&self, at: usize) -> bool {
        at.checked_sub(1)
            .and_then(|i| self.byte(i))
            .is_some_and(|b| is_ident_byte(b) || b == b'`')
    }

    fn lex_at(&mut self, start: usize, first: u8) -> (TokenKind, usize, bool) {
        let next = self.byte(start + 1);
        match first {
            b if is_space(b) => (
                TokenKind::Whitespace,
                self.scan_while(start, is_space),
                true,
            ),
            b'\'' | b'"' => {
                let (end, terminated) =
                    self.scan_quoted(start, first, !self.opts.no_backslash_escapes);
                (TokenKind::String, end, terminated)
            }
            b'`' => {
                let (end, terminated) = self.scan_quoted(start, b'`', false);
                (TokenKind::QuotedIdent, end, terminated)
            }
            b'#' => (TokenKind::LineComment, self.line_end(start), true),
            // `--` is a comment only before whitespace/control or end of text; `1--2` is arithmetic.
            b'-' if next == Some(b'-')
                && self.byte(start + 2).is_none_or(|b| b <= b' ' || b == 0x7f) =>
            {
                (TokenKind::LineComment, self.line_end(start), true)
            }
            b'/' if next == Some(b'*') => self.lex_block_comment(start),
            b'*' if self.in_versioned && next == Some(b'/') => {
                self.in_versioned = false;
                (TokenKind::VersionedEnd, start + 2, true)
            }
            b';' => (TokenKind::Semicolon, start + 1, true),
            b'@' => self.lex_variable(start),
            b'0'..=b'9' => self.lex_number(start),
            b'.' if next.is_some_and(|b| b.is_ascii_digit()) && !self.follows_identifier(start) => {
                self.lex_number(start)
            }
            b'x' | b'X' | b'b' | b'B' if next == Some(b'\'') => {
                // No escapes in hex/bit literals: the server ends them at the next quote.
                let body = start + 2;
                let close = self
                    .src
                    .get(body..)
                    .and_then(|r| r.iter().position(|&b| b == b'\''));
                let (end, terminated) =
                    close.map_or((self.src.len(), false), |p| (body + p + 1, true));
                let kind = if first.eq_ignore_ascii_case(&b'x') {
                    TokenKind::HexLiteral
                } else {
                    TokenKind::BitLiteral
                };
                (kind, end, terminated)
            }
            b if is_ident_byte(b) => self.lex_word(start),
            _ => (TokenKind::Operator, self.operator_end(start), true),
        }
    }
}

impl Iterator for Lexer<'_> {
    type Item = Token;

    fn next(&mut self) -> Option<Token> {
        let start = self.pos;
        let first = self.byte(start)?;
        let (kind, end, terminated) = self.lex_at(start, first);
        // Every token consumes at least one byte, so iteration always ends.
        let end = end.clamp(start + 1, self.src.len());
        self.pos = end;
        Some(Token {
            kind,
            start,
            end,
            terminated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MYSQL57: LexOptions = LexOptions {
        no_backslash_escapes: false,
        target_version: 50744,
        is_mariadb: false,
        multi_byte: None,
    };

    const NO_BACKSLASH: LexOptions = LexOptions {
        no_backslash_escapes: true,
        target_version: 101100,
        is_mariadb: true,
        multi_byte: None,
    };

    /// Non-whitespace tokens as `Kind(text)`, space-separated; `!` marks unterminated ones.
    fn render(src: &[u8], opts: &LexOptions) -> std::string::String {
        let tokens: Vec<_> = Lexer::new(src, opts)
            .filter(|t| t.kind != TokenKind::Whitespace)
            .map(|t| {
                let text = std::string::String::from_utf8_lossy(t.text(src)).into_owned();
                let mark = if t.terminated { "" } else { "!" };
                format!("{:?}({text}){mark}", t.kind)
            })
            .collect();
        tokens.join(" ")
    }

    fn assert_lexes(opts: &LexOptions, cases: &[(&str, &str)]) {
        for (src, expected) in cases {
            assert_eq!(render(src.as_bytes(), opts), *expected, "lexing {src:?}");
        }
    }

    #[test]
    fn strings_identifiers_and_escapes() {
        assert_lexes(
            &LexOptions::default(),
            &[
                (r"'it\'s' x", r"String('it\'s') Word(x)"),
                ("'it''s';", "String('it''s') Semicolon(;)"),
                (r#""a\"b;" ;"#, r#"String("a\"b;") Semicolon(;)"#),
                (r"'a\\' b", r"String('a\\') Word(b)"),
                ("`a``;b` c", "QuotedIdent(`a``;b`) Word(c)"),
                (r"`a\` b", r"QuotedIdent(`a\`) Word(b)"),
                ("'abc", "String('abc)!"),
                ("'abc\\", "String('abc\\)!"),
                ("\"x''", "String(\"x'')!"),
                ("`id", "QuotedIdent(`id)!"),
            ],
        );
        assert_lexes(
            &NO_BACKSLASH,
            &[
                (r"'a\' ; 'b'", r"String('a\') Semicolon(;) String('b')"),
                ("'a''b'", "String('a''b')"),
            ],
        );
    }

    #[test]
    fn comments() {
        assert_lexes(
            &LexOptions::default(),
            &[
                ("a -- c;\nb", "Word(a) LineComment(-- c;) Word(b)"),
                ("a --\tc\nb", "Word(a) LineComment(--\tc) Word(b)"),
                ("a --", "Word(a) LineComment(--)"),
                ("1--2", "Number(1) Operator(-) Operator(-) Number(2)"),
                ("a # c;\nb", "Word(a) LineComment(# c;) Word(b)"),
                ("a /* ; */ b", "Word(a) BlockComment(/* ; */) Word(b)"),
                // A plain comment does not nest: the first `*/` closes it.
                ("/* /* */ x", "BlockComment(/* /* */) Word(x)"),
                ("/* c", "BlockComment(/* c)!"),
            ],
        );
    }

    #[test]
    fn versioned_comments_on_mariadb() {
        assert_lexes(
            &LexOptions::default(),
            &[
                (
                    "/*!40101 SET NAMES utf8 */",
                    "VersionedStart(/*!40101) Word(SET) Word(NAMES) Word(utf8) VersionedEnd(*/)",
                ),
                ("/*!*/", "VersionedStart(/*!) VersionedEnd(*/)"),
                ("/*! x */", "VersionedStart(/*!) Word(x) VersionedEnd(*/)"),
                (
                    "/*!100001 x*/",
                    "VersionedStart(/*!100001) Word(x) VersionedEnd(*/)",
                ),
                ("/*!101101 x*/", "BlockComment(/*!101101 x*/)"),
                // A skipped versioned comment tolerates one nested comment.
                (
                    "/*!999999 a /* b */ c */ z",
                    "BlockComment(/*!999999 a /* b */ c */) Word(z)",
                ),
                ("/*!99999 x /* y */", "BlockComment(/*!99999 x /* y */)!"),
                // MariaDB skips MySQL 5.7+ comments but honours the same numbers in `/*M!`.
                ("/*!50700 x */", "BlockComment(/*!50700 x */)"),
                ("/*!80001 x */", "BlockComment(/*!80001 x */)"),
                (
                    "/*!50699 x */",
                    "VersionedStart(/*!50699) Word(x) VersionedEnd(*/)",
                ),
                (
                    "/*M!50700 x */",
                    "VersionedStart(/*M!50700) Word(x) VersionedEnd(*/)",
                ),
                (
                    "/*M!100001 x */",
                    "VersionedStart(/*M!100001) Word(x) VersionedEnd(*/)",
                ),
                ("/*M!101200 x */ y", "BlockComment(/*M!101200 x */) Word(y)"),
                // Six digits: version 500011 is above the target.
                ("/*!500011*/", "BlockComment(/*!500011*/)"),
                // Strings are lexed inside; an inner comment is plain and does not nest.
                (
                    "/*!40101 'a*/' /* c */ */ x",
                    "VersionedStart(/*!40101) String('a*/') BlockComment(/* c */) VersionedEnd(*/) Word(x)",
                ),
                // Outside a versioned comment `*/` is two operators.
                ("2*/x", "Number(2) Operator(*) Operator(/) Word(x)"),
            ],
        );
    }

    #[test]
    fn versioned_comments_on_mysql() {
        assert_lexes(
            &MYSQL57,
            &[
                (
                    "/*!50700 x */",
                    "VersionedStart(/*!50700) Word(x) VersionedEnd(*/)",
                ),
                ("/*M!100001 x */ y", "BlockComment(/*M!100001 x */) Word(y)"),
                ("/*M! x */ y", "BlockComment(/*M! x */) Word(y)"),
                // Five digits only: `/*!500011` is version 50001 followed by the code `1`.
                (
                    "/*!500011*/",
                    "VersionedStart(/*!50001) Number(1) VersionedEnd(*/)",
                ),
            ],
        );
        let old = LexOptions {
            target_version: 40000,
            ..MYSQL57
        };
        assert_lexes(
            &old,
            &[(
                "/*!40101 SET NAMES utf8 */",
                "BlockComment(/*!40101 SET NAMES utf8 */)",
            )],
        );
    }

    #[test]
    fn literals() {
        assert_lexes(
            &LexOptions::default(),
            &[
                (
                    "_utf8mb4'x' _binary 'y'",
                    "Introducer(_utf8mb4) String('x') Introducer(_binary) String('y')",
                ),
                (
                    "_latin1 X'41' _foo'z'",
                    "Introducer(_latin1) HexLiteral(X'41') Word(_foo) String('z')",
                ),
                (
                    "0x1F 0b101 b'01' x'ab'",
                    "HexLiteral(0x1F) BitLiteral(0b101) BitLiteral(b'01') HexLiteral(x'ab')",
                ),
                ("0xZZ 0x x'0A", "Word(0xZZ) Word(0x) HexLiteral(x'0A)!"),
                ("X'41''42'", "HexLiteral(X'41') String('42')"),
                (
                    "1 1.5 .5 1e10 1.5E-3",
                    "Number(1) Number(1.5) Number(.5) Number(1e10) Number(1.5E-3)",
                ),
                ("123abc t1.5x", "Word(123abc) Word(t1) Operator(.) Word(5x)"),
            ],
        );
    }

    #[test]
    fn variables_and_operators() {
        assert_lexes(
            &LexOptions::default(),
            &[
                (
                    "@x:=@@SESSION.sql_mode<=>@'a;b'",
                    "UserVar(@x) Operator(:=) SystemVar(@@SESSION.sql_mode) Operator(<=>) UserVar(@'a;b')",
                ),
                ("@`x` @@y @", "UserVar(@`x`) SystemVar(@@y) UserVar(@)"),
                (
                    "a->>'$.b'!=1",
                    "Word(a) Operator(->>) String('$.b') Operator(!=) Number(1)",
                ),
            ],
        );
    }

    #[test]
    fn non_utf8_bytes_are_identifier_bytes() {
        let kinds: Vec<TokenKind> = Lexer::new(b"caf\xe9 \xff", &LexOptions::default())
            .map(|t| t.kind)
            .collect();
        assert_eq!(
            kinds,
            [TokenKind::Word, TokenKind::Whitespace, TokenKind::Word]
        );
    }

    #[test]
    fn statement_tokens_end_at_the_first_top_level_semicolon() {
        let src = b"INSERT /* ; */ INTO t VALUES (';') -- ;\n; DROP TABLE t;";
        let words: Vec<_> = StatementTokens::new(src, &MYSQL57)
            .map(|t| std::string::String::from_utf8_lossy(t.text(src)).into_owned())
            .collect();
        assert_eq!(words, ["INSERT", "INTO", "t", "VALUES", "(", "';'", ")"]);
        let mut tokens = StatementTokens::new(b"COMMIT; BEGIN", &MYSQL57);
        assert!(tokens.next().is_some());
        assert!(tokens.next().is_none());
        assert!(tokens.next().is_none(), "ended for good");
    }
}
