//! Charset validation of statement text: the check that stops charset corruption.
//!
//! When a replay stream's bytes do not match the session charset the server silently
//! stores mojibake (or truncates at the first bad byte). The proxy therefore checks each
//! statement against the charset it will be interpreted in before forwarding it. Literals
//! with a charset introducer (`_binary'...'`, `_latin1'...'`) are interpreted in the
//! introducer's charset, so they are checked against that instead.
//!
//! This runs on every statement of multi-gigabyte replays: pure-ASCII and valid-UTF-8
//! statements are accepted by a single vectorised scan; only statements failing that scan
//! are lexed to find out whether the offending bytes sit inside an introduced literal.

use std::fmt::Write as _;

use super::lexer::Lexer;
use super::token::{LexOptions, TokenKind};

/// Byte-validity rule of a charset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Valid UTF-8 (up to 4-byte sequences).
    Utf8mb4,
    /// Valid UTF-8 without 4-byte sequences (no characters outside the BMP, e.g. emoji).
    Utf8mb3,
    /// Bytes below 0x80 only.
    Ascii,
    /// Single-byte charsets in which every byte is a character (`latin1`, `binary`, ...).
    AnyByte,
    /// Charsets this module does not validate (multi-byte CJK charsets, UCS-2, UTF-16,
    /// UTF-32, unknown names): never reported invalid.
    Unchecked,
}

/// Single-byte charsets in which every byte value is a valid character.
const ANY_BYTE_CHARSETS: [&str; 24] = [
    "latin1", "binary", "latin2", "latin5", "latin7", "cp1250", "cp1251", "cp1256", "cp1257",
    "cp850", "cp852", "cp866", "koi8r", "koi8u", "greek", "hebrew", "armscii8", "keybcs2", "macce",
    "macroman", "dec8", "swe7", "hp8", "geostd8",
];

/// Charsets the server knows (MariaDB 10.11 and MySQL 8), i.e. valid after an introducer `_`.
const KNOWN_CHARSETS: [&str; 42] = [
    "armscii8", "ascii", "big5", "binary", "cp1250", "cp1251", "cp1256", "cp1257", "cp850",
    "cp852", "cp866", "cp932", "dec8", "eucjpms", "euckr", "gb18030", "gb2312", "gbk", "geostd8",
    "greek", "hebrew", "hp8", "keybcs2", "koi8r", "koi8u", "latin1", "latin2", "latin5", "latin7",
    "macce", "macroman", "sjis", "swe7", "tis620", "ucs2", "ujis", "utf16", "utf16le", "utf32",
    "utf8", "utf8mb3", "utf8mb4",
];

/// Whether `name` (without the leading `_`) is a charset name the server accepts as an
/// introducer. Case-insensitive.
pub fn is_known_charset(name: &[u8]) -> bool {
    // Charset names are 3..=8 bytes: rejects most identifiers without comparing.
    (3..=8).contains(&name.len())
        && KNOWN_CHARSETS
            .iter()
            .any(|c| c.as_bytes().eq_ignore_ascii_case(name))
}

impl Encoding {
    /// The validity rule for the charset `name` (case-insensitive, e.g. `utf8mb4`, `LATIN1`).
    pub fn for_charset(name: &str) -> Encoding {
        Self::for_charset_bytes(name.as_bytes())
    }

    /// [`Encoding::for_charset`] for a name taken from statement bytes.
    pub fn for_charset_bytes(name: &[u8]) -> Encoding {
        let is = |n: &str| n.as_bytes().eq_ignore_ascii_case(name);
        if is("utf8mb4") {
            Encoding::Utf8mb4
        } else if is("utf8") || is("utf8mb3") {
            Encoding::Utf8mb3
        } else if is("ascii") {
            Encoding::Ascii
        } else if ANY_BYTE_CHARSETS.iter().any(|c| is(c)) {
            Encoding::AnyByte
        } else {
            Encoding::Unchecked
        }
    }
}

/// The first byte sequence of a statement that is invalid in its charset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidBytes {
    /// Offset of the first offending byte in the statement.
    pub offset: usize,
    /// Length of the offending sequence (at least 1).
    pub len: usize,
}

/// Finds the first byte sequence of `stmt` that is not valid in `encoding`, the charset
/// the server will read the statement in (`character_set_client`). Literals preceded by
/// a charset introducer are checked against the introducer's charset instead; hex and bit
/// literals are ASCII by construction.
///
/// Introducers are only looked at when the whole statement fails the connection
/// encoding's check, so a statement valid as a whole is accepted even if an introducer is
/// stricter than the connection (`_ascii'é'` on utf8mb4): the server reports those itself,
/// and they are not the silent-corruption case this check exists for.
pub fn find_invalid_bytes(
    stmt: &[u8],
    encoding: Encoding,
    opts: &LexOptions,
) -> Option<InvalidBytes> {
    if matches!(encoding, Encoding::AnyByte | Encoding::Unchecked) || stmt.is_ascii() {
        return None;
    }
    let first_bad = first_invalid(stmt, encoding)?;
    // Only an introducer can make the invalid bytes legitimate, and every introducer
    // starts with `_`; without one the fast check's answer stands.
    if !stmt.contains(&b'_') {
        return Some(first_bad);
    }
    find_invalid_outside_introduced_literals(stmt, encoding, opts)
}

fn find_invalid_outside_introduced_literals(
    stmt: &[u8],
    encoding: Encoding,
    opts: &LexOptions,
) -> Option<InvalidBytes> {
    // Start of the text not yet checked against the connection encoding.
    let mut unchecked_from = 0;
    // Encoding of the introducer that applies to the next literal, if one is pending.
    let mut introduced: Option<Encoding> = None;
    for token in Lexer::new(stmt, opts) {
        match token.kind {
            TokenKind::Introducer => {
                let name = token.text(stmt).get(1..).unwrap_or_default();
                introduced = Some(Encoding::for_charset_bytes(name));
            }
            // `_latin1 'a' 'b'` concatenates adjacent strings under the introducer's charset.
            TokenKind::String | TokenKind::HexLiteral | TokenKind::BitLiteral => {
                let Some(literal_encoding) = introduced else {
                    continue;
                };
                let before = stmt.get(unchecked_from..token.start).unwrap_or_default();
                if let Some(bad) = first_invalid(before, encoding) {
                    return Some(shift(bad, unchecked_from));
                }
                if let Some(bad) = first_invalid(token.text(stmt), literal_encoding) {
                    return Some(shift(bad, token.start));
                }
                unchecked_from = token.end;
                if token.kind != TokenKind::String {
                    introduced = None;
                }
            }
            kind if kind.is_trivia() => {}
            _ => introduced = None,
        }
    }
    let rest = stmt.get(unchecked_from..).unwrap_or_default();
    first_invalid(rest, encoding).map(|bad| shift(bad, unchecked_from))
}

fn shift(bad: InvalidBytes, by: usize) -> InvalidBytes {
    InvalidBytes {
        offset: bad.offset + by,
        len: bad.len,
    }
}

/// First invalid sequence of `bytes` under `encoding`, ignoring literals.
fn first_invalid(bytes: &[u8], encoding: Encoding) -> Option<InvalidBytes> {
    match encoding {
        Encoding::AnyByte | Encoding::Unchecked => None,
        Encoding::Ascii => bytes
            .iter()
            .position(|&b| b >= 0x80)
            .map(|offset| InvalidBytes { offset, len: 1 }),
        Encoding::Utf8mb4 => first_invalid_utf8(bytes),
        Encoding::Utf8mb3 => {
            let utf8_error = first_invalid_utf8(bytes);
            let valid_prefix = utf8_error.map_or(bytes.len(), |e| e.offset);
            // In valid UTF-8 a byte >= 0xF0 can only lead a 4-byte sequence.
            let four_byte = bytes
                .get(..valid_prefix)
                .unwrap_or_default()
                .iter()
                .position(|&b| b >= 0xF0)
                .map(|offset| InvalidBytes { offset, len: 4 });
            four_byte.or(utf8_error)
        }
    }
}

fn first_invalid_utf8(bytes: &[u8]) -> Option<InvalidBytes> {
    let err = std::str::from_utf8(bytes).err()?;
    let offset = err.valid_up_to();
    // `error_len` is None for a sequence cut off by the end of the input.
    let len = err
        .error_len()
        .unwrap_or(bytes.len().saturating_sub(offset))
        .max(1);
    Some(InvalidBytes { offset, len })
}

/// `text` as an SQL string literal for statements replaygate writes itself, read the same in
/// every sql_mode: quotes doubled; text with a backslash as a hex literal, since a backslash
/// is an escape or an ordinary byte depending on NO_BACKSLASH_ESCAPES, which the stream may
/// have turned on in the very session these statements run in.
pub fn string_literal(text: &str) -> String {
    if text.contains('\\') {
        let hex: String = text.bytes().map(|b| format!("{b:02X}")).collect();
        return format!("X'{hex}'");
    }
    format!("'{}'", text.replace('\'', "''"))
}

/// Renders the first `max_chars` characters of `stmt` for an error message: valid UTF-8
/// is kept, each invalid byte becomes `\xNN`, control characters are escaped (`\n`, `\r`,
/// `\t`, `\0`, otherwise `\xNN` or `\u{NN}`), and `…` marks a cut. Backslashes in the
/// text are left as they are, so SQL escapes stay readable.
pub fn escape_for_message(stmt: &[u8], max_chars: usize) -> String {
    let mut out = String::with_capacity(stmt.len().min(max_chars.saturating_mul(2)));
    let mut budget = max_chars;
    for chunk in stmt.utf8_chunks() {
        for c in chunk.valid().chars() {
            if budget == 0 {
                out.push('…');
                return out;
            }
            budget -= 1;
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\0' => out.push_str("\\0"),
                c if c.is_ascii_control() => {
                    let _ = write!(out, "\\x{:02X}", u32::from(c));
                }
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:X}}}", u32::from(c));
                }
                c => out.push(c),
            }
        }
        for &b in chunk.invalid() {
            if budget == 0 {
                out.push('…');
                return out;
            }
            budget -= 1;
            let _ = write!(out, "\\x{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(stmt: &[u8], encoding: Encoding) -> Option<(usize, usize)> {
        find_invalid_bytes(stmt, encoding, &LexOptions::default()).map(|b| (b.offset, b.len))
    }

    #[test]
    fn charset_names() {
        assert_eq!(Encoding::for_charset("UTF8MB4"), Encoding::Utf8mb4);
        assert_eq!(Encoding::for_charset("utf8"), Encoding::Utf8mb3);
        assert_eq!(Encoding::for_charset("utf8mb3"), Encoding::Utf8mb3);
        assert_eq!(Encoding::for_charset("ascii"), Encoding::Ascii);
        assert_eq!(Encoding::for_charset("Latin1"), Encoding::AnyByte);
        assert_eq!(Encoding::for_charset("binary"), Encoding::AnyByte);
        assert_eq!(Encoding::for_charset("cp1251"), Encoding::AnyByte);
        assert_eq!(Encoding::for_charset("gbk"), Encoding::Unchecked);
        assert_eq!(Encoding::for_charset("utf16"), Encoding::Unchecked);
        assert_eq!(Encoding::for_charset(""), Encoding::Unchecked);
        assert!(is_known_charset(b"UTF8MB4"));
        assert!(!is_known_charset(b"foo"));
    }

    #[test]
    fn valid_text_passes() {
        assert_eq!(check(b"SELECT 1", Encoding::Ascii), None);
        assert_eq!(
            check(
                "INSERT INTO t VALUES ('café 😀')".as_bytes(),
                Encoding::Utf8mb4
            ),
            None
        );
        assert_eq!(
            check(
                "INSERT INTO t VALUES ('café')".as_bytes(),
                Encoding::Utf8mb3
            ),
            None
        );
        assert_eq!(check(b"SELECT '\xe9\xff'", Encoding::AnyByte), None);
        assert_eq!(check(b"SELECT '\x81\x40'", Encoding::Unchecked), None);
    }

    #[test]
    fn latin1_bytes_under_utf8() {
        // "café" in latin1 sent to a utf8mb4 session: the mojibake case.
        let stmt = b"INSERT INTO t VALUES ('caf\xe9')";
        assert_eq!(check(stmt, Encoding::Utf8mb4), Some((26, 1)));
        assert_eq!(check(stmt, Encoding::Utf8mb3), Some((26, 1)));
        assert_eq!(check(stmt, Encoding::Ascii), Some((26, 1)));
        assert_eq!(check(b"SELECT 1 -- \xff", Encoding::Utf8mb4), Some((12, 1)));
    }

    #[test]
    fn emoji_under_utf8mb3() {
        let stmt = "SELECT 'é😀'".as_bytes();
        assert_eq!(check(stmt, Encoding::Utf8mb3), Some((10, 4)));
        assert_eq!(check(stmt, Encoding::Utf8mb4), None);
    }

    #[test]
    fn introduced_literals_use_their_own_charset() {
        assert_eq!(
            check(
                b"INSERT INTO t VALUES (_binary'\xff\x00\xfe')",
                Encoding::Utf8mb4
            ),
            None
        );
        assert_eq!(
            check(
                b"SELECT _latin1 'caf\xe9', _binary\n'\xff'",
                Encoding::Ascii
            ),
            None
        );
        assert_eq!(
            check(b"SELECT _binary 'a' /* c */ '\xff'", Encoding::Utf8mb4),
            None
        );
        // Non-UTF-8 inside `_utf8mb4'..'` is still invalid, even on a latin1 connection.
        assert_eq!(
            check(b"SELECT _utf8mb4'caf\xe9'", Encoding::Utf8mb4),
            Some((19, 1))
        );
        assert_eq!(
            check("SELECT _utf8mb3'😀'".as_bytes(), Encoding::Ascii),
            Some((16, 4))
        );
        // Valid UTF-8 under utf8mb4 takes the fast path: a stricter introducer is not checked.
        assert_eq!(
            check("SELECT _utf8mb3'😀'".as_bytes(), Encoding::Utf8mb4),
            None
        );
        // The introducer covers its literal only.
        assert_eq!(
            check(b"SELECT _binary'\xff', '\xfe'", Encoding::Utf8mb4),
            Some((20, 1))
        );
        assert_eq!(
            check(b"SELECT _binary'\xff' AS \xfe", Encoding::Utf8mb4),
            Some((21, 1))
        );
        assert_eq!(
            check(b"SELECT '\xfe', _binary'\xff'", Encoding::Utf8mb4),
            Some((8, 1))
        );
        // An underscore that is not an introducer changes nothing.
        assert_eq!(
            check(b"SELECT a_b, '\xe9'", Encoding::Utf8mb4),
            Some((13, 1))
        );
        assert_eq!(
            check(b"SELECT _foo'\xe9'", Encoding::Utf8mb4),
            Some((12, 1))
        );
    }

    #[test]
    fn introducer_respects_string_escapes() {
        // The escaped quote keeps the literal open, so the 0xFF is still inside it.
        assert_eq!(check(b"SELECT _binary'a\\'\xff'", Encoding::Utf8mb4), None);
        let nbe = LexOptions {
            no_backslash_escapes: true,
            ..LexOptions::default()
        };
        let found = find_invalid_bytes(b"SELECT _binary'a\\'\xff'", Encoding::Utf8mb4, &nbe);
        assert_eq!(found, Some(InvalidBytes { offset: 18, len: 1 }));
    }

    #[test]
    fn truncated_sequences() {
        assert_eq!(check(b"SELECT '\xe2\x82", Encoding::Utf8mb4), Some((8, 2)));
        assert_eq!(check(b"SELECT '\xe2\x82'", Encoding::Utf8mb4), Some((8, 2)));
        assert_eq!(check(b"\xf0", Encoding::Utf8mb3), Some((0, 1)));
    }

    #[test]
    fn message_escaping() {
        assert_eq!(escape_for_message(b"SELECT 1", 100), "SELECT 1");
        assert_eq!(
            escape_for_message(b"a\nb\tc\0d\x01", 100),
            "a\\nb\\tc\\0d\\x01"
        );
        assert_eq!(escape_for_message(b"caf\xe9!", 100), "caf\\xE9!");
        assert_eq!(escape_for_message("héllo wörld".as_bytes(), 5), "héllo…");
        assert_eq!(escape_for_message(b"ab\xff\xfe", 3), "ab\\xFF…");
        assert_eq!(escape_for_message(b"abc", 3), "abc");
        assert_eq!(escape_for_message(b"abc", 0), "…");
        assert_eq!(escape_for_message(b"", 0), "");
        assert_eq!(escape_for_message("\u{85}".as_bytes(), 5), "\\u{85}");
    }

    #[test]
    fn literals_read_the_same_whatever_no_backslash_escapes_says() {
        assert_eq!(string_literal("it's"), "'it''s'");
        assert_eq!(string_literal(r"a\'b"), "X'615C2762'");
        assert_eq!(string_literal("日"), "'日'");
    }
}
