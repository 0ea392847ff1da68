//! The event guard a replica's stream passes through: the input is a binlog file, whose
//! events go in as the packets a primary sends, one at a time, and each verdict comes out
//! (send, hold, withhold, rewrite, halt) without a panic.
#![no_main]

use std::collections::HashMap;

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use replaygate::binlog::ChecksumAlg;
use replaygate::policy::Policy;
use replaygate::replication::{EventGuard, GuardSettings, Output};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let policy = Policy::from_config(None).expect("the shipped policy");
    let settings = GuardSettings {
        hold_bytes: 64 + usize::from(mode >> 2) * 256,
        journal: mode & 1 != 0,
        mariadb_replica: mode & 2 != 0,
    };
    let mut guard = EventGuard::new(settings, HashMap::new());
    if mode & 0x80 != 0 {
        guard.assume_checksum(ChecksumAlg::Crc32);
    }
    // Events as the file holds them: a 19-byte header whose bytes 9..13 give the size.
    let mut rest = file.strip_prefix(b"\xfebin").unwrap_or(file);
    while rest.len() >= 13 {
        let size = u32::from_le_bytes([rest[9], rest[10], rest[11], rest[12]]) as usize;
        let size = size.clamp(1, rest.len());
        let (event, tail) = rest.split_at(size);
        rest = tail;
        let mut packet = BytesMut::from(&[0u8][..]);
        packet.extend_from_slice(event);
        let mut out = Output::default();
        guard.feed(packet, &policy, &mut out);
        if out.halt.is_some() {
            let _ = out.halt.map(|halt| halt.message());
            break;
        }
    }
    let _ = guard.discard_open_group();
});
