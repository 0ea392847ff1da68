//! The lexer settings a fuzz input starts with: its first byte picks the target (MariaDB or
//! MySQL, old or new, which decides the versioned comments executed), NO_BACKSLASH_ESCAPES and
//! the session charset's multi-byte rule (none, big5, gbk, gb18030, sjis).

use replaygate::sql::{LexOptions, MultiByte};

/// Versions on both sides of every threshold the lexer knows (5-digit comments, MySQL 5.7+
/// comments MariaDB skips, 6-digit comments from MySQL 8.1).
const VERSIONS: [u32; 8] = [
    50_000, 50_700, 80_036, 80_100, 100_100, 100_605, 101_100, 110_402,
];

const MULTI_BYTE: [Option<MultiByte>; 8] = [
    None,
    Some(MultiByte::Big5),
    Some(MultiByte::Gbk),
    Some(MultiByte::Gb18030),
    Some(MultiByte::Sjis),
    None,
    None,
    None,
];

/// Splits off the settings byte; `None` for empty input.
pub fn split(data: &[u8]) -> Option<(LexOptions, &[u8])> {
    let (&mode, rest) = data.split_first()?;
    let opts = LexOptions {
        no_backslash_escapes: mode & 1 != 0,
        is_mariadb: mode & 2 != 0,
        target_version: VERSIONS[usize::from(mode >> 2) & 7],
        multi_byte: MULTI_BYTE[usize::from(mode >> 5)],
    };
    Some((opts, rest))
}
