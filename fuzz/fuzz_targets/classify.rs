//! The classifier and everything else that reads one statement: kind and objects, session
//! effects, the leading `# at` header, the byte-validity check in each charset rule and the
//! message rendering. Classification is infallible, so anything goes in and a value comes out.
#![no_main]

#[path = "lex_options.rs"]
mod lex_options;

use libfuzzer_sys::fuzz_target;
use replaygate::sql::{
    Encoding, after_leading_comments, classify, escape_for_message, find_invalid_bytes,
    leading_event_header, session_effects,
};

const ENCODINGS: [Encoding; 5] = [
    Encoding::Utf8mb4,
    Encoding::Utf8mb3,
    Encoding::Ascii,
    Encoding::AnyByte,
    Encoding::Unchecked,
];

fuzz_target!(|data: &[u8]| {
    let Some((opts, stmt)) = lex_options::split(data) else {
        return;
    };
    let classification = classify(stmt, &opts);
    let _ = classification.kind.is_destructive();
    let _ = format!("{classification:?}");
    let _ = session_effects(stmt, &opts);
    let _ = leading_event_header(stmt);
    let rest = after_leading_comments(stmt);
    assert!(stmt.ends_with(rest));
    for encoding in ENCODINGS {
        if let Some(bad) = find_invalid_bytes(stmt, encoding, &opts) {
            assert!(bad.len >= 1 && bad.offset + bad.len <= stmt.len());
        }
    }
    let shown = escape_for_message(stmt, 80);
    assert!(shown.chars().count() <= 80 * 10 + 1);
});
