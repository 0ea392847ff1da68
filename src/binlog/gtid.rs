//! Global transaction ids: MariaDB's `domain-server-sequence` (the GTID event that opens each
//! event group, and the GTID list that opens each file) and MySQL's `uuid:number`.

use std::fmt;

use super::cursor::Cursor;
use super::error::DecodeError;

/// MariaDB's GTID event flags.
pub mod gtid_flags {
    /// The group is one statement with no BEGIN/COMMIT (DDL, non-transactional DML).
    pub const STANDALONE: u8 = 1;
    pub const GROUP_COMMIT_ID: u8 = 2;
    pub const TRANSACTIONAL: u8 = 4;
    pub const ALLOW_PARALLEL: u8 = 8;
    pub const WAITED: u8 = 16;
    pub const DDL: u8 = 32;
    pub const PREPARED_XA: u8 = 64;
    pub const COMPLETED_XA: u8 = 128;
}

/// A MariaDB GTID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MariaGtid {
    pub domain_id: u32,
    pub server_id: u32,
    pub seq_no: u64,
}

impl fmt::Display for MariaGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain_id, self.server_id, self.seq_no)
    }
}

impl std::str::FromStr for MariaGtid {
    type Err = String;

    /// `domain-server-sequence`, as `@@gtid_slave_pos` lists them.
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.trim().split('-');
        let mut next = |what: &str| {
            parts
                .next()
                .and_then(|p| p.parse::<u64>().ok())
                .ok_or_else(|| format!("{s:?} is not a GTID (domain-server-sequence): bad {what}"))
        };
        let domain = next("domain")?;
        let server = next("server id")?;
        let seq_no = next("sequence number")?;
        if parts.next().is_some() {
            return Err(format!("{s:?} is not a GTID (domain-server-sequence)"));
        }
        Ok(MariaGtid {
            domain_id: u32::try_from(domain).map_err(|_| format!("{s:?}: domain too large"))?,
            server_id: u32::try_from(server).map_err(|_| format!("{s:?}: server id too large"))?,
            seq_no,
        })
    }
}

/// A MariaDB GTID event: the start of an event group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GtidEvent {
    pub gtid: MariaGtid,
    pub flags: u8,
}

impl GtidEvent {
    /// A group of one statement, without BEGIN and COMMIT.
    pub fn is_standalone(&self) -> bool {
        self.flags & gtid_flags::STANDALONE != 0
    }
}

/// Decodes a MariaDB GTID event body; the server id comes from the event header.
pub(crate) fn decode_gtid(body: &[u8], server_id: u32) -> Result<GtidEvent, DecodeError> {
    let mut c = Cursor::new(body, "GTID event");
    let seq_no = c.u64()?;
    let domain_id = c.u32()?;
    let flags = c.u8()?;
    Ok(GtidEvent {
        gtid: MariaGtid {
            domain_id,
            server_id,
            seq_no,
        },
        flags,
    })
}

/// A MariaDB GTID list: the binlog state at the start of a file.
pub(crate) fn decode_gtid_list(body: &[u8]) -> Result<Vec<MariaGtid>, DecodeError> {
    let mut c = Cursor::new(body, "GTID list event");
    // The top 4 bits are flags (e.g. "until reached").
    let count = c.u32()? & 0x0fff_ffff;
    if count as usize > c.remaining() / 16 {
        return Err(DecodeError::malformed(
            "GTID list event",
            format!("{count} GTIDs in {} bytes", c.remaining()),
        ));
    }
    (0..count)
        .map(|_| {
            Ok(MariaGtid {
                domain_id: c.u32()?,
                server_id: c.u32()?,
                seq_no: c.u64()?,
            })
        })
        .collect()
}

/// A MySQL GTID (`GTID_EVENT`, or `ANONYMOUS_GTID_EVENT` whose uuid is all zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MysqlGtid {
    pub uuid: [u8; 16],
    pub gno: u64,
}

impl MysqlGtid {
    pub fn is_anonymous(&self) -> bool {
        self.uuid == [0; 16]
    }
}

impl fmt::Display for MysqlGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_anonymous() {
            return f.write_str("ANONYMOUS");
        }
        write_uuid(f, &self.uuid)?;
        write!(f, ":{}", self.gno)
    }
}

fn write_uuid(f: &mut impl fmt::Write, uuid: &[u8; 16]) -> fmt::Result {
    for (i, b) in uuid.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            f.write_char('-')?;
        }
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

pub(crate) fn decode_mysql_gtid(body: &[u8]) -> Result<MysqlGtid, DecodeError> {
    let mut c = Cursor::new(body, "MySQL GTID event");
    let _commit_flag = c.u8()?;
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(c.take(16)?);
    Ok(MysqlGtid {
        uuid,
        gno: c.u64()?,
    })
}

/// MySQL's previous-GTIDs event, as `uuid:1-5:7-9,uuid2:1-3`.
pub(crate) fn decode_previous_gtids(body: &[u8]) -> Result<String, DecodeError> {
    let mut c = Cursor::new(body, "previous GTIDs event");
    let sids = c.u64()?;
    // MySQL 8.3+ marks a GTID set with tags by a format byte at the top of the count; its
    // layout is not needed to pass the event on.
    if sids >> 56 != 0 {
        return Ok("(a GTID set with tags)".to_owned());
    }
    let mut out = String::new();
    for i in 0..sids {
        if c.remaining() < 24 {
            return Err(DecodeError::malformed(
                "previous GTIDs event",
                format!("{sids} uuids in {} bytes", c.remaining()),
            ));
        }
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(c.take(16)?);
        if i > 0 {
            out.push(',');
        }
        let _ = write_uuid(&mut out, &uuid);
        let intervals = c.u64()?;
        for _ in 0..intervals {
            let start = c.u64()?;
            let end = c.u64()?;
            // Stored as [start, end): printed inclusive.
            if end.saturating_sub(start) <= 1 {
                out.push_str(&format!(":{start}"));
            } else {
                out.push_str(&format!(":{start}-{}", end - 1));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtids_parse_and_print_as_the_server_does() {
        let g: MariaGtid = "0-1-42".parse().unwrap();
        assert_eq!(g.to_string(), "0-1-42");
        assert!("0-1".parse::<MariaGtid>().is_err());
        assert!("a-b-c".parse::<MariaGtid>().is_err());
        let mut body = 42u64.to_le_bytes().to_vec();
        body.extend_from_slice(&3u32.to_le_bytes());
        body.push(gtid_flags::STANDALONE | gtid_flags::DDL);
        body.extend_from_slice(&[0; 6]);
        let e = decode_gtid(&body, 7).unwrap();
        assert_eq!(e.gtid.to_string(), "3-7-42");
        assert!(e.is_standalone());
        let mut list = 1u32.to_le_bytes().to_vec();
        list.extend_from_slice(&0u32.to_le_bytes());
        list.extend_from_slice(&1u32.to_le_bytes());
        list.extend_from_slice(&9u64.to_le_bytes());
        assert_eq!(decode_gtid_list(&list).unwrap()[0].to_string(), "0-1-9");
        assert!(decode_gtid_list(&list[..10]).is_err());
        assert!(decode_gtid_list(&u32::MAX.to_le_bytes()).is_err());
    }

    #[test]
    fn mysql_gtids_print_as_uuid_and_number() {
        let mut body = vec![1u8];
        body.extend_from_slice(&[
            0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42,
            0x95, 0x62,
        ]);
        body.extend_from_slice(&23u64.to_le_bytes());
        let g = decode_mysql_gtid(&body).unwrap();
        assert_eq!(g.to_string(), "3e11fa47-71ca-11e1-9e33-c80aa9429562:23");
    }
}
