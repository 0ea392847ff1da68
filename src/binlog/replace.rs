//! Events replaygate writes in place of events it withholds from a replica.
//!
//! A replica advances its idea of the primary's position by the *size* of every event it
//! receives (and a heartbeat behind that position is an error), so a withheld event is replaced
//! by one of exactly the same size, with the same header fields: a comment-only query, as
//! MariaDB itself sends to replicas in place of events they cannot handle, or, for events too
//! small to hold a query, a `User var` event setting `@!dummyvar` to NULL (likewise MariaDB's).
//! The checksum is recomputed. The replica applies them as no-ops; GTIDs and positions advance
//! as before.

use super::checksum::{ChecksumAlg, seal_crc32};
use super::event_type::EventType;
use super::header::{EventHeader, HEADER_LEN};

/// A query event's fixed part: post-header (13) and the empty database's NUL.
const QUERY_FIXED: usize = 13 + 1;
/// A user var event's fixed part: name length (4) and the is-null byte.
const USER_VAR_FIXED: usize = 4 + 1;

/// An event of `header`'s size and position that does nothing on the replica; its query text
/// (when it has room for one) starts with `# ` and `note`, cut or space-padded to fit. `None`
/// only for events smaller than any event can be.
pub fn no_op(header: &EventHeader, checksum: ChecksumAlg, note: &str) -> Option<Vec<u8>> {
    let size = header.event_size as usize;
    let room = size.checked_sub(HEADER_LEN + checksum.trailer_len())?;
    let mut event = Vec::with_capacity(size);
    if room > QUERY_FIXED {
        event.extend_from_slice(
            &EventHeader {
                event_type: EventType::QUERY,
                ..*header
            }
            .encode(),
        );
        // Thread 0, exec time 0, no database, no error, no status variables.
        event.extend_from_slice(&[0; 13]);
        event.push(0);
        let text_room = room - QUERY_FIXED;
        let mut text = format!("# {note}").into_bytes();
        cut_at_char_boundary(&mut text, text_room);
        event.extend_from_slice(&text);
        event.resize(HEADER_LEN + room, b' ');
    } else if room > USER_VAR_FIXED {
        event.extend_from_slice(
            &EventHeader {
                event_type: EventType::USER_VAR,
                ..*header
            }
            .encode(),
        );
        let name_len = room - USER_VAR_FIXED;
        let mut name = b"!dummyvar".to_vec();
        name.resize(name_len, b'_');
        event.extend_from_slice(&(name_len as u32).to_le_bytes());
        event.extend_from_slice(&name);
        event.push(1);
    } else {
        return None;
    }
    if checksum == ChecksumAlg::Crc32 {
        event.extend_from_slice(&[0; 4]);
        seal_crc32(&mut event);
    }
    debug_assert_eq!(event.len(), size);
    Some(event)
}

fn cut_at_char_boundary(text: &mut Vec<u8>, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while end > 0 && (text[end] & 0xc0) == 0x80 {
        end -= 1;
    }
    text.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::checksum::verify_crc32;
    use crate::binlog::event::{Event, EventData};
    use crate::binlog::format::FormatDescription;

    fn header(size: u32) -> EventHeader {
        EventHeader {
            timestamp: 9,
            event_type: EventType::WRITE_ROWS_V1,
            server_id: 1,
            event_size: size,
            log_pos: 5000,
            flags: 0,
        }
    }

    #[test]
    fn a_no_op_keeps_size_and_position_and_reads_as_a_comment() {
        let format = FormatDescription::assumed_v4(ChecksumAlg::Crc32);
        let replaced = no_op(
            &header(120),
            ChecksumAlg::Crc32,
            "replaygate: quarantined ü",
        )
        .unwrap();
        assert_eq!(replaced.len(), 120);
        verify_crc32(&replaced).unwrap();
        let event = Event::parse(&replaced, ChecksumAlg::Crc32).unwrap();
        assert_eq!(event.header.log_pos, 5000);
        let EventData::Query(q) = event.decode(&format).unwrap() else {
            panic!("a query event");
        };
        assert!(q.query.starts_with(b"# replaygate: quarantined \xc3\xbc"));
        assert_eq!(q.thread_id, 0);
    }

    #[test]
    fn small_events_become_a_null_user_variable_and_long_notes_are_cut() {
        let format = FormatDescription::assumed_v4(ChecksumAlg::Off);
        let small = no_op(&header(31), ChecksumAlg::Off, "anything").unwrap();
        assert_eq!(small.len(), 31);
        let event = Event::parse(&small, ChecksumAlg::Off).unwrap();
        assert!(matches!(
            event.decode(&format).unwrap(),
            EventData::UserVar { is_null: true, .. }
        ));
        let cut = no_op(&header(40), ChecksumAlg::Off, &"é".repeat(40)).unwrap();
        assert_eq!(cut.len(), 40);
        assert!(no_op(&header(20), ChecksumAlg::Off, "x").is_none());
    }
}
