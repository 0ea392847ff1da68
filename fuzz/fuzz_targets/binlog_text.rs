//! The binlog-text reader (`mariadb-binlog` output read as the `mariadb` client reads it:
//! DELIMITER, comments, client charset): statements come out in order, inside the input, and
//! the same however the input arrives (read whole, or in small pieces that split multi-byte
//! characters, delimiters and comments at every boundary).
#![no_main]

use libfuzzer_sys::fuzz_target;
use replaygate::binlog_text::{StatementReader, TextStatement, looks_like_binary_binlog};

/// The single-byte-safe ones, and every charset whose characters can end in an ASCII-looking
/// byte (gb18030 with its four-byte form).
const CHARSETS: [&str; 6] = ["utf8mb4", "latin1", "gbk", "sjis", "big5", "gb18030"];

fn statements(reader: StatementReader<impl std::io::BufRead>) -> Vec<TextStatement> {
    reader
        .map(|s| s.expect("reading a slice cannot fail"))
        .collect()
}

fuzz_target!(|data: &[u8]| {
    // The first byte: the client charset (its low bits) and the size of the pieces the input
    // is read in (1-32 bytes, its high bits).
    let Some((&mode, text)) = data.split_first() else {
        return;
    };
    let _ = looks_like_binary_binlog(text);
    let charset = CHARSETS[usize::from(mode & 7) % CHARSETS.len()];
    let whole = statements(StatementReader::new(text).with_client_charset(charset));
    let mut offset = 0;
    for statement in &whole {
        assert!(statement.offset >= offset, "statements out of order");
        assert!(statement.offset as usize + statement.text.len() <= text.len());
        offset = statement.offset;
    }
    let piece = 1 + usize::from(mode >> 3);
    let pieces = statements(
        StatementReader::new(std::io::BufReader::with_capacity(piece, text))
            .with_client_charset(charset),
    );
    assert_eq!(whole, pieces, "read in pieces of {piece} bytes");
});
