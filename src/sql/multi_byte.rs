//! Charsets whose multi-byte characters can end in a byte that reads as ASCII: in big5, cp932,
//! gbk, gb18030 and sjis the second byte of a character may be `\`, `` ` `` or `'`-free
//! punctuation. The server reads such a character as a unit, so `'表'` in sjis (`95 5C`) is a
//! closed string, not a quote escaped by a backslash; a lexer that reads bytes would run the
//! string on and hide what follows it (`SELECT '表'; DROP TABLE t; -- '` is a DROP to the
//! server). Lead and trail ranges are the server's own (`strings/ctype-*.c`).

/// A multi-byte charset with ASCII-looking trail bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MultiByte {
    Big5,
    Gbk,
    Gb18030,
    /// sjis and cp932 (same lead and trail ranges).
    Sjis,
}

impl MultiByte {
    /// The rule of a charset name (case-insensitive); `None` for charsets whose bytes never
    /// read as ASCII inside a character (utf8, latin1, ujis, euckr, ...).
    pub fn for_charset(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "big5" => Some(Self::Big5),
            "gbk" => Some(Self::Gbk),
            "gb18030" => Some(Self::Gb18030),
            "sjis" | "cp932" => Some(Self::Sjis),
            _ => None,
        }
    }

    /// The rule of a collation id (a query event's `character_set_client`): the collations of
    /// these charsets in MariaDB and MySQL, the `_nopad` ones included.
    pub fn for_collation_id(id: u16) -> Option<Self> {
        match id {
            1 | 84 | 1025 | 1108 => Some(Self::Big5),
            28 | 87 | 1052 | 1111 => Some(Self::Gbk),
            248..=250 => Some(Self::Gb18030),
            13 | 88 | 95 | 96 | 1037 | 1112 | 1119 | 1120 => Some(Self::Sjis),
            _ => None,
        }
    }

    /// The length of the character at the start of `bytes` when it is a multi-byte one (2, or
    /// 4 for gb18030's four-byte form); `None` for a single byte, as the server reads it.
    pub fn char_len(self, bytes: &[u8]) -> Option<usize> {
        let (&lead, rest) = bytes.split_first()?;
        let &second = rest.first()?;
        let two = match self {
            Self::Big5 => {
                (0xa1..=0xf9).contains(&lead)
                    && ((0x40..=0x7e).contains(&second) || (0xa1..=0xfe).contains(&second))
            }
            Self::Gbk | Self::Gb18030 => {
                (0x81..=0xfe).contains(&lead)
                    && ((0x40..=0x7e).contains(&second) || (0x80..=0xfe).contains(&second))
            }
            Self::Sjis => {
                ((0x81..=0x9f).contains(&lead) || (0xe0..=0xfc).contains(&lead))
                    && ((0x40..=0x7e).contains(&second) || (0x80..=0xfc).contains(&second))
            }
        };
        if two {
            return Some(2);
        }
        let four = self == Self::Gb18030
            && (0x81..=0xfe).contains(&lead)
            && (0x30..=0x39).contains(&second)
            && rest.get(1).is_some_and(|b| (0x81..=0xfe).contains(b))
            && rest.get(2).is_some_and(|b| (0x30..=0x39).contains(b));
        four.then_some(4)
    }
}

/// Scanning by characters, for the lexer in a multi-byte charset.
impl MultiByte {
    /// End of a quoted run whose opening quote is at `open` (as the lexer's own, but each
    /// multi-byte character stepped over whole: its trail byte may be a backslash or the quote
    /// itself); false when it runs to the end unterminated.
    pub(super) fn quoted_end(
        self,
        src: &[u8],
        open: usize,
        quote: u8,
        backslash: bool,
    ) -> (usize, bool) {
        let mut i = open + 1;
        while let Some(&b) = src.get(i) {
            if let Some(len) = self.char_len(src.get(i..).unwrap_or_default()) {
                i += len;
            } else if backslash && b == b'\\' {
                if i + 1 >= src.len() {
                    break;
                }
                i += 2;
            } else if b != quote {
                i += 1;
            } else if src.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return (i + 1, true);
            }
        }
        (src.len(), false)
    }

    /// End of an unquoted identifier from `from`: bytes `is_ident` accepts, and multi-byte
    /// characters whatever their trail byte.
    pub(super) fn ident_end(self, src: &[u8], from: usize, is_ident: impl Fn(u8) -> bool) -> usize {
        let mut i = from;
        while let Some(&b) = src.get(i) {
            if let Some(len) = self.char_len(src.get(i..).unwrap_or_default()) {
                i += len;
            } else if is_ident(b) {
                i += 1;
            } else {
                break;
            }
        }
        i.min(src.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trail_bytes_that_read_as_ascii_belong_to_their_character() {
        // 表 in sjis, 許 in big5, 乗 in gbk: each ends in 0x5C.
        assert_eq!(MultiByte::Sjis.char_len(b"\x95\x5c'"), Some(2));
        assert_eq!(MultiByte::Big5.char_len(b"\xb3\x5c'"), Some(2));
        assert_eq!(MultiByte::Gbk.char_len(b"\x81\x5c'"), Some(2));
        assert_eq!(MultiByte::Gb18030.char_len(b"\x81\x30\x81\x30"), Some(4));
        // Not a lead byte in that charset, or no trail after it: one byte.
        assert_eq!(MultiByte::Big5.char_len(b"\x81\x5c"), None);
        assert_eq!(MultiByte::Sjis.char_len(b"\xa0\x5c"), None);
        assert_eq!(MultiByte::Gbk.char_len(b"\x95"), None);
        assert_eq!(MultiByte::Gbk.char_len(b"'\x5c"), None);
        assert_eq!(MultiByte::for_charset("CP932"), Some(MultiByte::Sjis));
        assert_eq!(MultiByte::for_charset("utf8mb4"), None);
        assert_eq!(MultiByte::for_collation_id(28), Some(MultiByte::Gbk));
        assert_eq!(MultiByte::for_collation_id(45), None);
    }
}
