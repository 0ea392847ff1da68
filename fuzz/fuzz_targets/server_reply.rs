//! The server's replies as the response tracker follows them: OK, ERR, EOF, result sets,
//! prepare-OK, LOCAL INFILE requests, progress reports, in both EOF protocols. A malformed
//! reply is an error, never a panic or a loop.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mysql_common::constants::CapabilityFlags;
use replaygate::protocol::command::ReplyShape;
use replaygate::protocol::response::{ResponseTracker, Step};

const SHAPES: [ReplyShape; 7] = [
    ReplyShape::ResultSets,
    ReplyShape::Prepare,
    ReplyShape::FieldList,
    ReplyShape::Rows,
    ReplyShape::Single,
    ReplyShape::None,
    ReplyShape::Authentication,
];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let mut caps = CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_MULTI_RESULTS
        | CapabilityFlags::CLIENT_PS_MULTI_RESULTS;
    if mode & 0x80 != 0 {
        caps |= CapabilityFlags::CLIENT_DEPRECATE_EOF;
    }
    let mut tracker = ResponseTracker::new(SHAPES[usize::from(mode) % SHAPES.len()], caps);
    // Packets as a length byte followed by that many bytes.
    while let Some((&len, tail)) = rest.split_first() {
        let (packet, tail) = tail.split_at(usize::from(len).min(tail.len()));
        rest = tail;
        match tracker.feed(packet) {
            Ok(Step::Done(_)) | Err(_) => break,
            Ok(Step::More | Step::Row | Step::LocalInfile) => {}
        }
    }
});
