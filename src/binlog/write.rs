//! Writing events: a header, a body and (for CRC32 streams) a fresh checksum. Used for the
//! events a primary makes up rather than reads from a file (the fake rotate that opens a
//! replication stream, heartbeats), and by the tests to build streams.

use super::checksum::{ChecksumAlg, seal_crc32};
use super::event_type::EventType;
use super::header::{EventHeader, HEADER_LEN, flags};

/// An event of `event_type` with `body`, ending at `log_pos`, checksummed as `checksum` says.
pub fn event(
    event_type: EventType,
    server_id: u32,
    timestamp: u32,
    log_pos: u32,
    event_flags: u16,
    body: &[u8],
    checksum: ChecksumAlg,
) -> Vec<u8> {
    let size = HEADER_LEN + body.len() + checksum.trailer_len();
    let header = EventHeader {
        timestamp,
        event_type,
        server_id,
        event_size: u32::try_from(size).unwrap_or(u32::MAX),
        log_pos,
        flags: event_flags,
    };
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(body);
    if checksum == ChecksumAlg::Crc32 {
        out.extend_from_slice(&[0; 4]);
        seal_crc32(&mut out);
    }
    out
}

/// The artificial rotate a primary sends first on a new stream: the file and position the
/// replica will read from (its log_pos is 0: it has no place in the file).
pub fn fake_rotate(file: &str, position: u64, server_id: u32, checksum: ChecksumAlg) -> Vec<u8> {
    let mut body = position.to_le_bytes().to_vec();
    body.extend_from_slice(file.as_bytes());
    event(
        EventType::ROTATE,
        server_id,
        0,
        0,
        flags::ARTIFICIAL,
        &body,
        checksum,
    )
}

/// A heartbeat: the primary is at `log_pos` of `file` and has nothing new.
pub fn heartbeat(file: &str, log_pos: u32, server_id: u32, checksum: ChecksumAlg) -> Vec<u8> {
    event(
        EventType::HEARTBEAT,
        server_id,
        0,
        log_pos,
        flags::ARTIFICIAL,
        file.as_bytes(),
        checksum,
    )
}

/// An artificial GTID list: tells a replica that joins mid-file (by GTID) the state the stream
/// starts from, and moves its idea of the primary's position to `log_pos`.
pub fn gtid_list(
    list: &[super::gtid::MariaGtid],
    log_pos: u32,
    server_id: u32,
    checksum: ChecksumAlg,
) -> Vec<u8> {
    let mut body = (list.len() as u32 & 0x0fff_ffff).to_le_bytes().to_vec();
    for g in list {
        body.extend_from_slice(&g.domain_id.to_le_bytes());
        body.extend_from_slice(&g.server_id.to_le_bytes());
        body.extend_from_slice(&g.seq_no.to_le_bytes());
    }
    event(
        EventType::GTID_LIST,
        server_id,
        0,
        log_pos,
        flags::ARTIFICIAL,
        &body,
        checksum,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::event::{Event, EventData};
    use crate::binlog::format::FormatDescription;

    #[test]
    fn made_up_events_read_back() {
        let format = FormatDescription::assumed_v4(ChecksumAlg::Crc32);
        let rotate = fake_rotate("binlog.000007", 4, 1, ChecksumAlg::Crc32);
        let e = Event::parse(&rotate, ChecksumAlg::Crc32).unwrap();
        e.verify_checksum().unwrap();
        assert!(e.header.is_artificial());
        assert_eq!(
            e.decode(&format).unwrap(),
            EventData::Rotate {
                position: 4,
                file: b"binlog.000007"
            }
        );
        let hb = heartbeat("binlog.000007", 900, 1, ChecksumAlg::Crc32);
        let e = Event::parse(&hb, ChecksumAlg::Crc32).unwrap();
        assert_eq!(e.header.log_pos, 900);
        assert!(matches!(
            e.decode(&format).unwrap(),
            EventData::Heartbeat {
                file: b"binlog.000007"
            }
        ));
    }
}
