//! The binlog-text reader (`mariadb-binlog` output read as the `mariadb` client reads it:
//! DELIMITER, comments, client charset): statements come out in order, inside the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replaygate::binlog_text::{StatementReader, looks_like_binary_binlog};

const CHARSETS: [&str; 4] = ["utf8mb4", "latin1", "gbk", "sjis"];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, text)) = data.split_first() else {
        return;
    };
    let _ = looks_like_binary_binlog(text);
    let reader = StatementReader::new(text)
        .with_client_charset(CHARSETS[usize::from(mode) % CHARSETS.len()]);
    let mut offset = 0;
    for statement in reader {
        let statement = statement.expect("reading a slice cannot fail");
        assert!(statement.offset >= offset, "statements out of order");
        assert!(statement.offset as usize + statement.text.len() <= text.len());
        offset = statement.offset;
    }
});
