//! The lexer and the statement splitter over any bytes (versioned comments of every form,
//! unterminated strings and comments, bytes of any charset): tokens cover the input exactly,
//! statements are ordered, disjoint ranges inside it.
#![no_main]

#[path = "lex_options.rs"]
mod lex_options;

use libfuzzer_sys::fuzz_target;
use replaygate::sql::lexer::StatementTokens;
use replaygate::sql::{Lexer, split_statements};

fuzz_target!(|data: &[u8]| {
    let Some((opts, text)) = lex_options::split(data) else {
        return;
    };
    let mut end = 0;
    for token in Lexer::new(text, &opts) {
        assert_eq!(token.start, end, "a gap or overlap between tokens");
        assert!(token.end > token.start, "an empty token");
        end = token.end;
    }
    assert_eq!(end, text.len(), "tokens do not reach the end");

    let mut after = 0;
    for range in split_statements(text, &opts) {
        assert!(range.start >= after && range.start < range.end && range.end <= text.len());
        after = range.end;
        for token in StatementTokens::new(&text[range.clone()], &opts) {
            assert!(token.end <= range.len());
        }
    }
});
