//! `SET` statements: every input is read as the tail of a `SET` (and of `SET STATEMENT ...
//! FOR`), the paths the session charset and `foreign_key_checks` tracking take.
#![no_main]

#[path = "lex_options.rs"]
mod lex_options;

use libfuzzer_sys::fuzz_target;
use replaygate::sql::{classify, session_effects};

fuzz_target!(|data: &[u8]| {
    let Some((opts, tail)) = lex_options::split(data) else {
        return;
    };
    for head in [&b"SET "[..], b"SET STATEMENT ", b"/*!40101 SET "] {
        let mut stmt = head.to_vec();
        stmt.extend_from_slice(tail);
        let _ = session_effects(&stmt, &opts);
        let _ = classify(&stmt, &opts);
    }
});
