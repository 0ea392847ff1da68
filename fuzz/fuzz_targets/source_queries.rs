//! The queries a replica sends `replaygate source` before it asks for the binlog (`SET @x=`,
//! `SELECT @@var, UNIX_TIMESTAMP()`, `SHOW VARIABLES LIKE`), answered from the files' facts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replaygate::source::queries::{Facts, UserVars, answer};

fuzz_target!(|data: &[u8]| {
    let facts = Facts {
        server_id: 1,
        version: "10.11.19-MariaDB-log".into(),
        binlog_checksum: "CRC32".into(),
        gtid_domain_id: 0,
        gtid_binlog_pos: "0-1-42".into(),
    };
    let mut vars = UserVars::new();
    // Several queries per input, one per line, so that variables set earlier are read later.
    for query in String::from_utf8_lossy(data).lines() {
        let _ = answer(query, &facts, &mut vars, 1_700_000_000);
    }
});
