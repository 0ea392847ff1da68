//! Event checksums: CRC32 (the zlib polynomial, over the whole event but its last 4 bytes) or
//! none, as the format description event of each file says.

use serde::Serialize;

use super::error::DecodeError;

/// Bytes a CRC32 checksum takes at the end of an event.
pub const CHECKSUM_LEN: usize = 4;

/// `binlog_checksum`: how the events of a file (or stream) are checksummed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ChecksumAlg {
    /// `NONE`: no checksum bytes (also servers older than checksums).
    Off,
    /// `CRC32`: 4 bytes at the end of every event.
    Crc32,
}

impl ChecksumAlg {
    /// The algorithm byte of a format description event (255, "undefined", means none).
    pub fn from_byte(byte: u8) -> Result<Self, DecodeError> {
        match byte {
            0 | 255 => Ok(ChecksumAlg::Off),
            1 => Ok(ChecksumAlg::Crc32),
            other => Err(DecodeError::malformed(
                "format description event",
                format!("unknown checksum algorithm {other}"),
            )),
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            ChecksumAlg::Off => 0,
            ChecksumAlg::Crc32 => 1,
        }
    }

    /// The checksum's length at the end of each event.
    pub fn trailer_len(self) -> usize {
        match self {
            ChecksumAlg::Off => 0,
            ChecksumAlg::Crc32 => CHECKSUM_LEN,
        }
    }

    /// As `@@binlog_checksum` spells it.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlg::Off => "NONE",
            ChecksumAlg::Crc32 => "CRC32",
        }
    }
}

/// CRC32 of `bytes`, as the server computes event checksums.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// Checks the CRC32 in the last 4 bytes of `event`.
pub fn verify_crc32(event: &[u8]) -> Result<(), DecodeError> {
    let Some(split) = event.len().checked_sub(CHECKSUM_LEN) else {
        return Err(DecodeError::Truncated {
            what: "event checksum",
            needed: CHECKSUM_LEN,
            available: event.len(),
        });
    };
    let (data, tail) = event.split_at(split);
    let stored = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    let computed = crc32(data);
    if stored == computed {
        Ok(())
    } else {
        Err(DecodeError::Checksum { stored, computed })
    }
}

/// Writes the CRC32 of everything before the last 4 bytes into them (an event replaygate
/// changed must carry a checksum the receiver accepts).
pub fn seal_crc32(event: &mut [u8]) {
    if let Some(split) = event.len().checked_sub(CHECKSUM_LEN) {
        let crc = crc32(&event[..split]);
        event[split..].copy_from_slice(&crc.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_events_verify_and_a_flipped_bit_does_not() {
        let mut event = b"some event bytes....".to_vec();
        seal_crc32(&mut event);
        verify_crc32(&event).unwrap();
        event[3] ^= 0x10;
        assert!(matches!(
            verify_crc32(&event),
            Err(DecodeError::Checksum { .. })
        ));
        // The zlib CRC32 check value.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }
}
