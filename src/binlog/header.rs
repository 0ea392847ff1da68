//! The common event header: 19 bytes in front of every event since binlog format v3.

use super::cursor::Cursor;
use super::error::DecodeError;
use super::event_type::EventType;

/// Bytes of the v3/v4 common header.
pub const HEADER_LEN: usize = 19;

/// Header flags that change how an event must be read or sent on.
pub mod flags {
    /// On a format description: the file was not closed cleanly (the writer crashed).
    pub const BINLOG_IN_USE: u16 = 0x0001;
    /// Made up by the sender (a primary's fake rotate), not read from a file: positions are 0.
    pub const ARTIFICIAL: u16 = 0x0020;
    /// Written by a replica to its relay log.
    pub const RELAY_LOG: u16 = 0x0040;
    /// A reader that does not know the event type may skip it.
    pub const IGNORABLE: u16 = 0x0080;
}

/// The fields of the common header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHeader {
    /// Seconds since the epoch when the statement started on its origin.
    pub timestamp: u32,
    pub event_type: EventType,
    /// The server the event originated on.
    pub server_id: u32,
    /// The whole event: header, body and checksum.
    pub event_size: u32,
    /// Where the next event starts in the origin's binlog (0 in artificial events).
    pub log_pos: u32,
    pub flags: u16,
}

impl EventHeader {
    /// Reads the header at the start of `bytes` (which must hold at least [`HEADER_LEN`]).
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut c = Cursor::new(bytes, "event header");
        Ok(EventHeader {
            timestamp: c.u32()?,
            event_type: EventType(c.u8()?),
            server_id: c.u32()?,
            event_size: c.u32()?,
            log_pos: c.u32()?,
            flags: c.u16()?,
        })
    }

    /// The header as it is written.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.timestamp.to_le_bytes());
        out[4] = self.event_type.0;
        out[5..9].copy_from_slice(&self.server_id.to_le_bytes());
        out[9..13].copy_from_slice(&self.event_size.to_le_bytes());
        out[13..17].copy_from_slice(&self.log_pos.to_le_bytes());
        out[17..19].copy_from_slice(&self.flags.to_le_bytes());
        out
    }

    pub fn is_artificial(&self) -> bool {
        self.flags & flags::ARTIFICIAL != 0
    }

    /// Where the event starts in its origin's binlog (the `# at` of `mariadb-binlog`), from the
    /// end position and the size; `None` for artificial events, which have no place there.
    pub fn start_position(&self) -> Option<u64> {
        if self.log_pos == 0 || self.is_artificial() {
            return None;
        }
        u64::from(self.log_pos).checked_sub(u64::from(self.event_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_knows_its_start() {
        let h = EventHeader {
            timestamp: 1_700_000_000,
            event_type: EventType::QUERY,
            server_id: 7,
            event_size: 100,
            log_pos: 1234,
            flags: 0,
        };
        assert_eq!(EventHeader::parse(&h.encode()).unwrap(), h);
        assert_eq!(h.start_position(), Some(1134));
        let fake = EventHeader {
            log_pos: 0,
            flags: flags::ARTIFICIAL,
            ..h
        };
        assert_eq!(fake.start_position(), None);
        assert!(EventHeader::parse(&[0; 10]).is_err());
    }
}
