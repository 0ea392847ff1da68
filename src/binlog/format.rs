//! The format description event: which server wrote a file, how long each event type's fixed
//! post-header is, and whether events carry checksums. Every other event is read through it.

use super::checksum::{CHECKSUM_LEN, ChecksumAlg};
use super::cursor::Cursor;
use super::error::DecodeError;
use super::event_type::EventType;
use super::header::HEADER_LEN;

/// How the events of one binlog file (or one stretch of a replication stream) are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatDescription {
    /// 3 (MySQL 4.x, a `Start_v3` event) or 4 (5.0 and later).
    pub binlog_version: u16,
    /// `10.11.19-MariaDB-log`, `8.0.35`, ...
    pub server_version: String,
    /// When the file was created (0 when not at server start).
    pub created: u32,
    /// The common header's length (19).
    pub header_len: usize,
    /// Post-header length of event type `t` at index `t - 1`.
    post_header_lens: Vec<u8>,
    /// Checksum of the events that follow (the format description carries its own).
    pub checksum: ChecksumAlg,
}

/// Post-header lengths of binlog v3 (MySQL 4.0-4.1), which has no format description.
const V3_POST_HEADERS: [u8; 14] = [56, 11, 0, 8, 0, 18, 0, 22, 4, 4, 4, 18, 0, 0];

/// Post-header lengths every v4 writer agrees on for the events a stream can carry before its
/// first format description (the primary's fake rotate, heartbeats).
const V4_POST_HEADERS: [u8; 19] = [
    56, 13, 0, 8, 0, 18, 0, 4, 4, 4, 4, 18, 0, 0, 84, 0, 4, 26, 8,
];

impl FormatDescription {
    /// Reads a format description event: `event` is the whole event, header to checksum.
    pub fn parse(event: &[u8]) -> Result<Self, DecodeError> {
        let body = event.get(HEADER_LEN..).ok_or(DecodeError::Truncated {
            what: "format description event",
            needed: HEADER_LEN,
            available: event.len(),
        })?;
        let mut c = Cursor::new(body, "format description event");
        let binlog_version = c.u16()?;
        let server_version = nul_terminated(c.take(50)?);
        let created = c.u32()?;
        let header_len = usize::from(c.u8()?);
        if binlog_version != 4 || header_len < HEADER_LEN {
            return Err(DecodeError::malformed(
                "format description event",
                format!("binlog version {binlog_version} with a {header_len}-byte header"),
            ));
        }
        let mut rest = c.rest();
        // Servers that know checksums end the event with the algorithm byte and a checksum of
        // the event itself (present even when the algorithm is NONE).
        let checksum = if supports_checksums(&server_version) {
            let Some(split) = rest.len().checked_sub(1 + CHECKSUM_LEN) else {
                return Err(DecodeError::Truncated {
                    what: "format description event's checksum",
                    needed: 1 + CHECKSUM_LEN,
                    available: rest.len(),
                });
            };
            let alg = ChecksumAlg::from_byte(rest[split])?;
            if alg == ChecksumAlg::Crc32 {
                // The in-use flag is cleared when the file is closed, after the checksum was
                // computed: the checksum covers the event with the flag off.
                let mut copy = event.to_vec();
                copy[17] &= !(super::header::flags::BINLOG_IN_USE as u8);
                super::checksum::verify_crc32(&copy)?;
            }
            rest = &rest[..split];
            alg
        } else {
            ChecksumAlg::Off
        };
        Ok(FormatDescription {
            binlog_version,
            server_version,
            created,
            header_len,
            post_header_lens: rest.to_vec(),
            checksum,
        })
    }

    /// The layout of a binlog v3 file (it starts with a `Start_v3` event).
    pub fn v3(server_version: String) -> Self {
        FormatDescription {
            binlog_version: 3,
            server_version,
            created: 0,
            header_len: HEADER_LEN,
            post_header_lens: V3_POST_HEADERS.to_vec(),
            checksum: ChecksumAlg::Off,
        }
    }

    /// What to assume of a v4 stream before its first format description arrives: enough to
    /// read the fake rotate and heartbeats, with the checksum the connection agreed on.
    pub fn assumed_v4(checksum: ChecksumAlg) -> Self {
        FormatDescription {
            binlog_version: 4,
            server_version: String::new(),
            created: 0,
            header_len: HEADER_LEN,
            post_header_lens: V4_POST_HEADERS.to_vec(),
            checksum,
        }
    }

    /// The fixed post-header length of `event_type` (`None` for types this file does not know).
    pub fn post_header_len(&self, event_type: EventType) -> Option<usize> {
        let index = usize::from(event_type.0).checked_sub(1)?;
        self.post_header_lens.get(index).map(|&n| usize::from(n))
    }

    /// Written by MariaDB (whose events 160 and up MySQL does not know).
    pub fn is_mariadb(&self) -> bool {
        self.server_version.contains("MariaDB")
    }

    /// The event types this format describes.
    pub fn event_type_count(&self) -> usize {
        self.post_header_lens.len()
    }
}

fn nul_terminated(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `x.y.z` at the start of a server version.
pub(crate) fn version_triple(version: &str) -> (u32, u32, u32) {
    let mut parts = version
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// `major * 10000 + minor * 100 + patch`, as versioned comments count it; each part clamped,
/// so that a malformed version (a number of ten digits) cannot overflow.
pub(crate) fn version_number(version: &str) -> u32 {
    let (major, minor, patch) = version_triple(version);
    major.min(999) * 10_000 + minor.min(99) * 100 + patch.min(99)
}

/// Checksums arrived in MySQL 5.6.1 and MariaDB 5.3.
fn supports_checksums(version: &str) -> bool {
    let v = version_triple(version);
    v >= (5, 6, 1) || (version.contains("MariaDB") && v >= (5, 3, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_that_know_checksums() {
        assert!(supports_checksums(
            "10.5.15-MariaDB-1:10.5.15+maria~focal-log"
        ));
        assert!(supports_checksums("5.5.60-MariaDB"));
        assert!(supports_checksums("5.6.4-m7-debug-log"));
        assert!(supports_checksums("8.0.35"));
        assert!(!supports_checksums("5.5.27-log"));
        assert!(!supports_checksums("5.1.34sp1-enterprise-gpl-advanced-log"));
        assert_eq!(version_triple("5.6.4-m7"), (5, 6, 4));
    }

    #[test]
    fn short_or_foreign_format_descriptions_are_errors() {
        assert!(FormatDescription::parse(&[0; 30]).is_err());
        let mut event = vec![0u8; HEADER_LEN];
        event.extend_from_slice(&3u16.to_le_bytes());
        event.extend_from_slice(&[0; 60]);
        assert!(
            FormatDescription::parse(&event).is_err(),
            "version 3 is not a format description"
        );
    }
}
