//! Pure inspection of SQL statement text: lexing, splitting, charset validation,
//! session effects and binlog event comments.
//!
//! Everything here works on raw bytes (statement text is not guaranteed to be UTF-8),
//! does no I/O, never fails and never panics, so it can run on every statement of a
//! replay and be tested and fuzzed in isolation.

// Arbitrary client bytes flow through this module: keep it free of panicking shortcuts.
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod classify;
pub mod encoding;
pub mod event_header;
pub mod lexer;
pub mod multi_byte;
mod set_statement;
pub mod split;
pub mod statement;
pub mod token;

pub use classify::{Classification, ObjectRef, StatementKind, classify};
pub use encoding::{
    Encoding, InvalidBytes, escape_for_message, find_invalid_bytes, string_literal,
};
pub use event_header::{EventHeader, after_leading_comments, leading_event_header};
pub use lexer::Lexer;
pub use multi_byte::MultiByte;
pub use split::split_statements;
pub use statement::{SessionEffect, SetValue, session_effects};
pub use token::{LexOptions, Token, TokenKind};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random_input::XorShift;

    /// Fragments that exercise the interesting lexer states; random bytes fill the gaps.
    const FRAGMENTS: &[&[u8]] = &[
        b"'",
        b"\"",
        b"`",
        b"\\",
        b"''",
        b"/*",
        b"*/",
        b"/*!",
        b"/*!40101 ",
        b"/*M!100001 ",
        b"/*!99999 ",
        b"/*!5070",
        b"-- ",
        b"--",
        b"#",
        b"# at 12\n",
        b"\n",
        b";",
        b"@",
        b"@@",
        b"@@session.",
        b"_binary",
        b"_utf8mb4",
        b"X'",
        b"0x",
        b"0b",
        b"b'",
        b"1.5e",
        b"SET ",
        b"NAMES ",
        b"CHARACTER SET ",
        b"USE ",
        b"BEGIN",
        b"COMMIT",
        b"ROLLBACK",
        b"XA ",
        b"START TRANSACTION",
        b"GLOBAL ",
        b"SESSION ",
        b"=",
        b":=",
        b",",
        b"(",
        b")",
        b"-",
        b"DEFAULT",
        b"\xff",
        b"\xe9",
        b"\xf0\x9f\x98",
        b"\xf0\x9f\x98\x80",
        b"\0",
        b"#241125 17:00:00 server id 1  end_log_pos 9 CRC32 0x1 \tGTID 0-1-5 trans\n",
        b"\tQuery\tthread_id=",
        b" server id ",
        b"end_log_pos ",
    ];

    fn exercise(text: &[u8]) {
        for opts in [
            LexOptions::default(),
            LexOptions {
                no_backslash_escapes: true,
                target_version: 50744,
                is_mariadb: false,
                multi_byte: None,
            },
        ] {
            let mut covered = 0;
            for token in Lexer::new(text, &opts) {
                assert_eq!(token.start, covered);
                assert!(token.end > token.start && token.end <= text.len());
                covered = token.end;
            }
            assert_eq!(covered, text.len());
            for range in split_statements(text, &opts) {
                assert!(range.start < range.end && range.end <= text.len());
                let stmt = &text[range];
                session_effects(stmt, &opts);
                leading_event_header(stmt);
                for encoding in [Encoding::Utf8mb4, Encoding::Utf8mb3, Encoding::Ascii] {
                    if let Some(bad) = find_invalid_bytes(stmt, encoding, &opts) {
                        assert!(bad.len >= 1 && bad.offset + bad.len <= stmt.len());
                    }
                }
            }
            session_effects(text, &opts);
        }
        leading_event_header(text);
        escape_for_message(text, 40);
        escape_for_message(text, 0);
    }

    #[test]
    fn random_and_truncated_input_never_panics() {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let mut text = Vec::new();
            for _ in 0..rng.below(24) {
                if rng.below(3) == 0 {
                    text.push(rng.next() as u8);
                } else {
                    text.extend_from_slice(FRAGMENTS[rng.below(FRAGMENTS.len())]);
                }
            }
            for cut in 0..=text.len() {
                exercise(&text[..cut]);
            }
        }
    }

    #[test]
    fn binlog_sample_end_to_end() {
        let text = concat!(
            "# at 330\n",
            "#220420 22:18:04 server id 1  end_log_pos 372 CRC32 0x0af91ecb \tGTID 0-1-1 trans\n",
            "/*M!100001 SET @@session.gtid_domain_id=0*//*!*/;\n",
            "/*!40101 SET NAMES utf8mb4 */; SET @@session.foreign_key_checks=0, @x=1"
        )
        .as_bytes();
        let opts = LexOptions::default();
        let statements = split_statements(text, &opts);
        assert_eq!(statements.len(), 3);
        let header = leading_event_header(&text[statements[0].clone()]).unwrap();
        assert_eq!(header.gtid.as_deref(), Some("0-1-1"));
        let all: Vec<SessionEffect> = statements
            .iter()
            .flat_map(|r| session_effects(&text[r.clone()], &opts))
            .collect();
        assert_eq!(
            all,
            vec![
                SessionEffect::SetVariable {
                    name: "gtid_domain_id".into(),
                    value: SetValue::Int(0)
                },
                SessionEffect::SetNames {
                    charset: "utf8mb4".into(),
                    collation: None
                },
                SessionEffect::SetVariable {
                    name: "foreign_key_checks".into(),
                    value: SetValue::Int(0)
                },
            ]
        );
    }
}
