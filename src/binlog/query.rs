//! Query events: a statement with the session context it ran in on its origin (database,
//! thread, `foreign_key_checks` and friends in `flags2`, sql_mode, charset), and the rebuild of
//! a query event with other text for the guard's rewrite.

use std::borrow::Cow;

use super::checksum::{ChecksumAlg, seal_crc32};
use super::compression;
use super::cursor::Cursor;
use super::error::DecodeError;
use super::event_type::EventType;
use super::header::{EventHeader, HEADER_LEN};

/// `flags2` bits that the guard and the journal care about.
pub mod flags2 {
    pub const AUTO_IS_NULL: u32 = 1 << 14;
    pub const NOT_AUTOCOMMIT: u32 = 1 << 19;
    pub const NO_FOREIGN_KEY_CHECKS: u32 = 1 << 26;
    pub const RELAXED_UNIQUE_CHECKS: u32 = 1 << 27;
}

/// The charset ids of `Q_CHARSET_CODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryCharset {
    /// `character_set_client` (a collation id): how the statement's bytes are to be read.
    pub client: u16,
    pub collation_connection: u16,
    pub collation_server: u16,
}

/// The status variables of a query event that replaygate reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusVars<'a> {
    pub flags2: Option<u32>,
    pub sql_mode: Option<u64>,
    pub catalog: Option<&'a [u8]>,
    pub auto_increment: Option<(u16, u16)>,
    pub charset: Option<QueryCharset>,
    pub time_zone: Option<&'a [u8]>,
    pub lc_time_names: Option<u16>,
    pub charset_database: Option<u16>,
    pub table_map_for_update: Option<u64>,
    pub invoker: Option<(&'a [u8], &'a [u8])>,
    pub updated_databases: Vec<&'a [u8]>,
    pub microseconds: Option<u32>,
    /// MySQL's `Q_DDL_LOGGED_WITH_XID` / MariaDB's `Q_XID`.
    pub xid: Option<u64>,
    /// The first status code this decoder does not know: the rest of the block is skipped (the
    /// format gives no lengths for unknown codes), exactly as `mariadb-binlog` does.
    pub unknown_code: Option<u8>,
}

impl StatusVars<'_> {
    /// `foreign_key_checks` on the origin when the statement ran (1 unless flags2 says 0).
    pub fn foreign_key_checks(&self) -> bool {
        self.flags2
            .is_none_or(|f| f & flags2::NO_FOREIGN_KEY_CHECKS == 0)
    }

    pub fn unique_checks(&self) -> bool {
        self.flags2
            .is_none_or(|f| f & flags2::RELAXED_UNIQUE_CHECKS == 0)
    }

    pub fn autocommit(&self) -> bool {
        self.flags2.is_none_or(|f| f & flags2::NOT_AUTOCOMMIT == 0)
    }
}

/// A decoded query event (also the query part of `Execute_load_query` and MariaDB's
/// `Query_compressed`, whose text is decompressed here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryEvent<'a> {
    /// The origin session (`thread_id=` in `mariadb-binlog`): where a restore script is found.
    pub thread_id: u32,
    pub exec_time: u32,
    pub error_code: u16,
    pub status: StatusVars<'a>,
    /// The default database (empty for none).
    pub database: &'a [u8],
    pub query: Cow<'a, [u8]>,
    /// The event was MariaDB's `Query_compressed`.
    pub compressed: bool,
    /// `Execute_load_query`: the file id of the `Begin_load_query` data it loads.
    pub load_file_id: Option<u32>,
}

impl QueryEvent<'_> {
    pub fn database_name(&self) -> Option<String> {
        (!self.database.is_empty()).then(|| String::from_utf8_lossy(self.database).into_owned())
    }
}

/// Decodes the body (post-header onwards, checksum removed) of a query-shaped event.
pub(crate) fn decode(
    event_type: EventType,
    body: &[u8],
    post_header_len: usize,
) -> Result<QueryEvent<'_>, DecodeError> {
    let what = "query event";
    let mut c = Cursor::new(body, what);
    let mut post = Cursor::new(c.take(post_header_len)?, what);
    let thread_id = post.u32()?;
    let exec_time = post.u32()?;
    let db_len = usize::from(post.u8()?);
    let error_code = post.u16()?;
    // v3 query events (11-byte post-header) have no status variables.
    let status_len = if post_header_len >= 13 {
        usize::from(post.u16()?)
    } else {
        0
    };
    let load_file_id = if event_type == EventType::EXECUTE_LOAD_QUERY {
        Some(post.u32()?)
    } else {
        None
    };
    let status = decode_status_vars(c.take(status_len)?)?;
    let database = c.take(db_len)?;
    // The database name is followed by a NUL.
    if c.u8()? != 0 {
        return Err(DecodeError::malformed(
            what,
            "the database name is not NUL-terminated",
        ));
    }
    let text = c.rest();
    let compressed = event_type == EventType::QUERY_COMPRESSED;
    let query = if compressed {
        Cow::Owned(compression::decompress(text, "query event")?)
    } else {
        Cow::Borrowed(text)
    };
    Ok(QueryEvent {
        thread_id,
        exec_time,
        error_code,
        status,
        database,
        query,
        compressed,
        load_file_id,
    })
}

fn decode_status_vars(block: &[u8]) -> Result<StatusVars<'_>, DecodeError> {
    let mut c = Cursor::new(block, "query event status variables");
    let mut vars = StatusVars::default();
    while !c.is_empty() {
        let code = c.u8()?;
        match code {
            0 => vars.flags2 = Some(c.u32()?),
            1 => vars.sql_mode = Some(c.u64()?),
            // Q_CATALOG_CODE (5.0.0-5.0.3): length, name, NUL.
            2 => {
                let n = usize::from(c.u8()?);
                vars.catalog = Some(c.take(n)?);
                c.skip(1)?;
            }
            3 => vars.auto_increment = Some((c.u16()?, c.u16()?)),
            4 => {
                vars.charset = Some(QueryCharset {
                    client: c.u16()?,
                    collation_connection: c.u16()?,
                    collation_server: c.u16()?,
                })
            }
            5 => {
                let n = usize::from(c.u8()?);
                vars.time_zone = Some(c.take(n)?);
            }
            6 => {
                let n = usize::from(c.u8()?);
                vars.catalog = Some(c.take(n)?);
            }
            7 => vars.lc_time_names = Some(c.u16()?),
            8 => vars.charset_database = Some(c.u16()?),
            9 => vars.table_map_for_update = Some(c.u64()?),
            // Q_MASTER_DATA_WRITTEN_CODE.
            10 => c.skip(4)?,
            11 => {
                let n = usize::from(c.u8()?);
                let user = c.take(n)?;
                let n = usize::from(c.u8()?);
                vars.invoker = Some((user, c.take(n)?));
            }
            12 => {
                let count = c.u8()?;
                // 254: more databases than an event lists (OVER_MAX_DBS_IN_EVENT_MTS).
                if count != 254 {
                    for _ in 0..count {
                        let rest = c.clone().rest();
                        let end = rest.iter().position(|&b| b == 0).ok_or_else(|| {
                            DecodeError::malformed(
                                "query event status variables",
                                "an updated-database name without its NUL",
                            )
                        })?;
                        vars.updated_databases.push(c.take(end)?);
                        c.skip(1)?;
                    }
                }
            }
            13 => vars.microseconds = Some(c.uint(3)? as u32),
            // Q_EXPLICIT_DEFAULTS_FOR_TIMESTAMP, Q_SQL_REQUIRE_PRIMARY_KEY,
            // Q_DEFAULT_TABLE_ENCRYPTION, MariaDB's Q_GTID_FLAGS3: one byte each.
            16 | 19 | 20 | 130 => c.skip(1)?,
            17 | 129 => vars.xid = Some(c.u64()?),
            // Q_DEFAULT_COLLATION_FOR_UTF8MB4.
            18 => c.skip(2)?,
            // MariaDB's Q_HRNOW: the microseconds of the statement's start.
            128 => vars.microseconds = Some(c.uint(3)? as u32),
            other => {
                vars.unknown_code = Some(other);
                break;
            }
        }
    }
    Ok(vars)
}

/// Which status variables a rebuilt query event keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepStatus {
    /// All of them, byte for byte.
    All,
    /// None: the statement then runs in the replica applier's defaults (for a RENAME that
    /// names every table with its schema, nothing in them matters but the charset, which a
    /// rebuilt event keeps when it can).
    CharsetOnly,
}

/// A query event like `original` (same header fields, thread, database, status variables) whose
/// text is `query`, padded with trailing spaces to exactly `size` bytes; `None` when it does not
/// fit. Positions in a replication stream advance by event sizes, so a replaced event must keep
/// its size exactly. A compressed original becomes a plain query event.
pub fn rebuild_with_query(
    original: &[u8],
    post_header_len: usize,
    checksum: ChecksumAlg,
    query: &[u8],
    keep: KeepStatus,
    size: usize,
) -> Option<Vec<u8>> {
    let header = EventHeader::parse(original).ok()?;
    let body = original.get(HEADER_LEN..original.len().checked_sub(checksum.trailer_len())?)?;
    let post = body.get(..post_header_len.max(13))?;
    let status_len = usize::from(u16::from_le_bytes([post[11], post[12]]));
    let db_len = usize::from(post[8]);
    let status = body.get(post_header_len..post_header_len + status_len)?;
    let database = body.get(post_header_len + status_len..post_header_len + status_len + db_len)?;
    let kept: Cow<'_, [u8]> = match keep {
        KeepStatus::All => Cow::Borrowed(status),
        KeepStatus::CharsetOnly => {
            let vars = decode_status_vars(status).ok()?;
            let mut out = Vec::new();
            if let Some(cs) = vars.charset {
                out.push(4);
                for id in [cs.client, cs.collation_connection, cs.collation_server] {
                    out.extend_from_slice(&id.to_le_bytes());
                }
            }
            Cow::Owned(out)
        }
    };
    let fixed = HEADER_LEN + 13 + kept.len() + database.len() + 1 + checksum.trailer_len();
    let padding = size.checked_sub(fixed + query.len())?;
    let mut event = Vec::with_capacity(size);
    let new_header = EventHeader {
        event_type: EventType::QUERY,
        event_size: u32::try_from(size).ok()?,
        ..header
    };
    event.extend_from_slice(&new_header.encode());
    // thread id, exec time, db length, error code.
    event.extend_from_slice(&post[..11]);
    event.extend_from_slice(&(kept.len() as u16).to_le_bytes());
    event.extend_from_slice(&kept);
    event.extend_from_slice(database);
    event.push(0);
    event.extend_from_slice(query);
    event.resize(event.len() + padding, b' ');
    if checksum == ChecksumAlg::Crc32 {
        event.extend_from_slice(&[0; 4]);
        seal_crc32(&mut event);
    }
    debug_assert_eq!(event.len(), size);
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A v4 query event body: post-header, status vars, db, NUL, query.
    pub(crate) fn body(thread: u32, db: &[u8], status: &[u8], query: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&thread.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.push(db.len() as u8);
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&(status.len() as u16).to_le_bytes());
        b.extend_from_slice(status);
        b.extend_from_slice(db);
        b.push(0);
        b.extend_from_slice(query);
        b
    }

    #[test]
    fn decodes_flags2_charset_and_stops_at_an_unknown_code() {
        let mut status = vec![0];
        status.extend_from_slice(&(flags2::NO_FOREIGN_KEY_CHECKS).to_le_bytes());
        status.push(4);
        status.extend_from_slice(&[45, 0, 45, 0, 8, 0]);
        status.extend_from_slice(&[6, 3, b's', b't', b'd']);
        status.extend_from_slice(&[200, 1, 2, 3]);
        let b = body(9, b"shop", &status, b"DROP TABLE orders");
        let q = decode(EventType::QUERY, &b, 13).unwrap();
        assert_eq!(q.thread_id, 9);
        assert_eq!(q.database_name().as_deref(), Some("shop"));
        assert!(!q.status.foreign_key_checks());
        assert!(q.status.unique_checks());
        assert_eq!(q.status.charset.unwrap().client, 45);
        assert_eq!(q.status.catalog, Some(&b"std"[..]));
        assert_eq!(q.status.unknown_code, Some(200));
        assert_eq!(&q.query[..], b"DROP TABLE orders");
    }

    #[test]
    fn compressed_queries_are_decompressed() {
        let b = body(
            3,
            b"",
            &[],
            &compression::compress(b"TRUNCATE TABLE customers"),
        );
        let q = decode(EventType::QUERY_COMPRESSED, &b, 13).unwrap();
        assert!(q.compressed);
        assert_eq!(&q.query[..], b"TRUNCATE TABLE customers");
    }

    #[test]
    fn truncated_bodies_are_errors_never_panics() {
        let b = body(1, b"db", &[0, 1, 2, 3, 4], b"SELECT 1");
        for cut in 0..b.len() {
            let _ = decode(EventType::QUERY, &b[..cut], 13);
        }
        assert!(decode(EventType::QUERY, &b[..20], 13).is_err());
    }

    #[test]
    fn a_rebuilt_query_keeps_its_size_header_and_context() {
        let mut status = vec![4];
        status.extend_from_slice(&[45, 0, 45, 0, 8, 0]);
        status.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0]);
        let body = body(
            9,
            b"shop",
            &status,
            b"DROP TABLE IF EXISTS `orders` /* generated by server */",
        );
        let header = EventHeader {
            timestamp: 5,
            event_type: EventType::QUERY,
            server_id: 1,
            event_size: (HEADER_LEN + body.len() + 4) as u32,
            log_pos: 900,
            flags: 0,
        };
        let mut original = header.encode().to_vec();
        original.extend_from_slice(&body);
        original.extend_from_slice(&[0; 4]);
        seal_crc32(&mut original);
        let rebuilt = rebuild_with_query(
            &original,
            13,
            ChecksumAlg::Crc32,
            b"RENAME TABLE `shop`.`orders` TO `shop`.`x`",
            KeepStatus::All,
            original.len(),
        )
        .unwrap();
        assert_eq!(rebuilt.len(), original.len());
        super::super::checksum::verify_crc32(&rebuilt).unwrap();
        let h = EventHeader::parse(&rebuilt).unwrap();
        assert_eq!((h.log_pos, h.event_size as usize), (900, original.len()));
        let q = decode(
            EventType::QUERY,
            &rebuilt[HEADER_LEN..rebuilt.len() - 4],
            13,
        )
        .unwrap();
        assert_eq!(q.thread_id, 9);
        assert_eq!(q.database, b"shop");
        assert_eq!(q.status.charset.unwrap().client, 45);
        assert!(
            q.query
                .starts_with(b"RENAME TABLE `shop`.`orders` TO `shop`.`x`  ")
        );
        let too_long = vec![b'x'; original.len()];
        assert!(
            rebuild_with_query(
                &original,
                13,
                ChecksumAlg::Crc32,
                &too_long,
                KeepStatus::All,
                original.len()
            )
            .is_none()
        );
    }
}
