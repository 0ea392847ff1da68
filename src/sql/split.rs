//! Splitting a multi-statement COM_QUERY text into statements, the way the server does.
//!
//! With `CLIENT_MULTI_STATEMENTS` one packet may carry several statements separated by
//! `;`. The server splits where its lexer sees a `;` token, so a `;` inside a string,
//! quoted identifier, comment or a versioned comment the target skips does not split,
//! while a `;` inside an executed versioned comment does.

use std::ops::Range;

use super::lexer::Lexer;
use super::token::{LexOptions, TokenKind};

/// Byte ranges of the statements in `text`, without the separating `;`.
///
/// Each range is trimmed of surrounding whitespace. Pieces that are empty or whitespace
/// only are dropped; pieces holding only comments are kept, because with
/// `mariadb --comments` the event-header comments (`# at 123`, `#241125 ... Query ...`)
/// arrive as their own piece or ahead of the next statement and carry the binlog
/// position. Text after the last `;` is a statement if it is not blank.
pub fn split_statements(text: &[u8], opts: &LexOptions) -> Vec<Range<usize>> {
    let mut statements = Vec::new();
    // Most packets hold one statement and no `;` at all: skip lexing them.
    if !text.contains(&b';') {
        push_trimmed(text, 0..text.len(), &mut statements);
        return statements;
    }
    let mut start = 0;
    for token in Lexer::new(text, opts) {
        if token.kind == TokenKind::Semicolon {
            push_trimmed(text, start..token.start, &mut statements);
            start = token.end;
        }
    }
    push_trimmed(text, start..text.len(), &mut statements);
    statements
}

fn is_blank_byte(b: &u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn push_trimmed(text: &[u8], piece: Range<usize>, out: &mut Vec<Range<usize>>) {
    let bytes = text.get(piece.clone()).unwrap_or_default();
    let Some(first) = bytes.iter().position(|b| !is_blank_byte(b)) else {
        return;
    };
    let last = bytes
        .iter()
        .rposition(|b| !is_blank_byte(b))
        .unwrap_or(first);
    out.push(piece.start + first..piece.start + last + 1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::MultiByte;

    fn split_with<'a>(text: &'a str, opts: &LexOptions) -> Vec<&'a str> {
        split_statements(text.as_bytes(), opts)
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    fn split(text: &str) -> Vec<&str> {
        split_with(text, &LexOptions::default())
    }

    #[test]
    fn simple_statements() {
        assert_eq!(split("SELECT 1"), vec!["SELECT 1"]);
        assert_eq!(split("SELECT 1; SELECT 2;"), vec!["SELECT 1", "SELECT 2"]);
        assert_eq!(
            split("  SELECT 1 ;\n\n SELECT 2  "),
            vec!["SELECT 1", "SELECT 2"]
        );
        assert_eq!(split(";;  ; \n"), Vec::<&str>::new());
        assert_eq!(split(""), Vec::<&str>::new());
        assert_eq!(split("   "), Vec::<&str>::new());
    }

    #[test]
    fn semicolons_inside_literals_and_comments() {
        assert_eq!(
            split(r"INSERT INTO t VALUES ('a;b', 'it\'s;', `c;d`); SELECT 2"),
            vec![r"INSERT INTO t VALUES ('a;b', 'it\'s;', `c;d`)", "SELECT 2"]
        );
        assert_eq!(
            split("SELECT 1 -- x; y\n; SELECT 2"),
            vec!["SELECT 1 -- x; y", "SELECT 2"]
        );
        assert_eq!(
            split("SELECT 1 # x; y\n; SELECT 2"),
            vec!["SELECT 1 # x; y", "SELECT 2"]
        );
        assert_eq!(
            split("SELECT /* ; */ 1; SELECT 2"),
            vec!["SELECT /* ; */ 1", "SELECT 2"]
        );
        assert_eq!(
            split("SELECT @'a;b'; SELECT 2"),
            vec!["SELECT @'a;b'", "SELECT 2"]
        );
    }

    #[test]
    fn no_backslash_escapes_changes_the_split() {
        let text = r"SELECT 'a\'; SELECT 'b'";
        assert_eq!(split(text), vec![text]);
        let nbe = LexOptions {
            no_backslash_escapes: true,
            ..LexOptions::default()
        };
        assert_eq!(split_with(text, &nbe), vec![r"SELECT 'a\'", "SELECT 'b'"]);
    }

    #[test]
    fn versioned_comments() {
        // Executed: the `;` is code and splits, exactly as the server would.
        assert_eq!(
            split("/*!40101 SET a=1; SET b=2 */; SELECT 3"),
            vec!["/*!40101 SET a=1", "SET b=2 */", "SELECT 3"]
        );
        // Skipped by the target: one comment, no split.
        assert_eq!(
            split("/*!99999 SET a=1; SET b=2 */; SELECT 3"),
            vec!["/*!99999 SET a=1; SET b=2 */", "SELECT 3"]
        );
        let mysql = LexOptions {
            target_version: 80036,
            is_mariadb: false,
            ..LexOptions::default()
        };
        assert_eq!(
            split_with("/*M!100001 a; b */; c", &mysql),
            vec!["/*M!100001 a; b */", "c"]
        );
        assert_eq!(
            split("/*M!100001 a; b */; c"),
            vec!["/*M!100001 a", "b */", "c"]
        );
        assert_eq!(
            split("SET TIMESTAMP=1/*!*/;\nCOMMIT/*!*/;"),
            vec!["SET TIMESTAMP=1/*!*/", "COMMIT/*!*/"]
        );
    }

    #[test]
    fn comment_only_pieces_are_kept() {
        let text = "# at 4\n#241125 17:00:00 server id 1  end_log_pos 256\n;\nBEGIN";
        assert_eq!(
            split(text),
            vec![
                "# at 4\n#241125 17:00:00 server id 1  end_log_pos 256",
                "BEGIN"
            ]
        );
        assert_eq!(split("/* c */; SELECT 1"), vec!["/* c */", "SELECT 1"]);
    }

    #[test]
    fn unterminated_input() {
        assert_eq!(split("SELECT 'a; SELECT 2"), vec!["SELECT 'a; SELECT 2"]);
        assert_eq!(split("SELECT 1; /* a; b"), vec!["SELECT 1", "/* a; b"]);
        assert_eq!(split("SELECT `a; b"), vec!["SELECT `a; b"]);
    }

    #[test]
    fn non_utf8_text() {
        let text = b"INSERT INTO t VALUES (_binary'\xff;\x00');SELECT '\xe9'";
        let ranges = split_statements(text, &LexOptions::default());
        assert_eq!(ranges, vec![0..35, 36..text.len()]);
    }

    #[test]
    fn a_multi_byte_character_ending_in_a_backslash_does_not_escape_the_quote() {
        // 表 in sjis is 95 5C: to the server `'表'` is a closed string and the DROP is a
        // statement of its own; read byte by byte it would be inside the string.
        let text = b"SELECT '\x95\x5c'; DROP DATABASE app; -- '";
        let bytewise = split_statements(text, &LexOptions::default());
        assert_eq!(bytewise.len(), 1);
        for charset in ["sjis", "cp932", "gbk", "gb18030"] {
            let opts = LexOptions {
                multi_byte: MultiByte::for_charset(charset),
                ..LexOptions::default()
            };
            let pieces: Vec<&[u8]> = split_statements(text, &opts)
                .into_iter()
                .map(|r| &text[r])
                .collect();
            assert_eq!(
                pieces,
                [&b"SELECT '\x95\x5c'"[..], b"DROP DATABASE app", b"-- '"],
                "{charset}"
            );
        }
        // A backtick as a trail byte does not end a quoted identifier (sjis 88 60).
        let opts = LexOptions {
            multi_byte: Some(MultiByte::Sjis),
            ..LexOptions::default()
        };
        let text = b"SELECT `a\x88\x60b`; SELECT 2";
        assert_eq!(split_statements(text, &opts), vec![0..13, 15..text.len()]);
    }
}
