//! One event as bytes, and its decoded form.
//!
//! [`Event`] is a view over the exact bytes of one event (as a file holds it, or as a
//! replication packet carries it after its `0x00`): the header, the body and the checksum. It
//! decodes into [`EventData`] through the format description in force; an event type without a
//! decoder here is [`EventData::Other`], carried through unchanged and named by its type.

use super::checksum::{ChecksumAlg, verify_crc32};
use super::cursor::Cursor;
use super::error::DecodeError;
use super::event_type::EventType;
use super::format::FormatDescription;
use super::gtid::{self, GtidEvent, MariaGtid, MysqlGtid};
use super::header::{EventHeader, HEADER_LEN};
use super::query::{self, QueryEvent};
use super::rows::{self, RowsEvent, TableMap};

/// The bytes of one event.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub header: EventHeader,
    bytes: &'a [u8],
    /// The checksum this event carries.
    checksum: ChecksumAlg,
}

/// An event's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventData<'a> {
    FormatDescription(FormatDescription),
    /// Binlog v3's first event.
    StartV3 {
        server_version: String,
    },
    /// The next events come from `file`, starting at `position`.
    Rotate {
        position: u64,
        file: &'a [u8],
    },
    Stop,
    /// Also `Execute_load_query` and MariaDB's `Query_compressed`.
    Query(QueryEvent<'a>),
    /// The commit of a transaction on a transactional engine.
    Xid(u64),
    /// MariaDB: the start of an event group.
    Gtid(GtidEvent),
    /// MariaDB: the binlog state at the start of a file.
    GtidList(Vec<MariaGtid>),
    BinlogCheckpoint {
        file: &'a [u8],
    },
    /// MySQL: the GTID (or anonymous GTID) of the next transaction.
    MysqlGtid(MysqlGtid),
    PreviousGtids(String),
    TableMap(TableMap<'a>),
    Rows(RowsEvent<'a>),
    /// MariaDB: the statement behind the rows events that follow.
    Annotate(&'a [u8]),
    /// MySQL: likewise (`binlog_rows_query_log_events`).
    RowsQuery(&'a [u8]),
    Intvar {
        kind: u8,
        value: u64,
    },
    Rand {
        seed1: u64,
        seed2: u64,
    },
    UserVar {
        name: &'a [u8],
        is_null: bool,
    },
    /// The data of a `LOAD DATA` (`Begin_load_query`, then `Append_block`s).
    LoadData {
        file_id: u32,
        data: &'a [u8],
    },
    DeleteFile {
        file_id: u32,
    },
    /// A keep-alive from the primary: where it is in `file` (the header's log_pos).
    Heartbeat {
        file: &'a [u8],
    },
    Incident {
        kind: u16,
        message: &'a [u8],
    },
    /// MySQL 8 `binlog_transaction_compression`: a whole transaction, zstd-compressed.
    TransactionPayload,
    /// Carried through as is; [`Event::header`] names its type.
    Other,
}

impl<'a> Event<'a> {
    /// Views `bytes` as one whole event. `checksum` is the algorithm of the stream or file
    /// (a format description event carries its own).
    pub fn parse(bytes: &'a [u8], checksum: ChecksumAlg) -> Result<Self, DecodeError> {
        let header = EventHeader::parse(bytes)?;
        let size = header.event_size as usize;
        if size != bytes.len() || size < HEADER_LEN {
            return Err(DecodeError::malformed(
                "event",
                format!(
                    "its header says {size} bytes but {} are there ({})",
                    bytes.len(),
                    header.event_type
                ),
            ));
        }
        let checksum = if header.event_type == EventType::FORMAT_DESCRIPTION {
            ChecksumAlg::Off
        } else {
            checksum
        };
        if size < HEADER_LEN + checksum.trailer_len() {
            return Err(DecodeError::Truncated {
                what: "event checksum",
                needed: HEADER_LEN + checksum.trailer_len(),
                available: size,
            });
        }
        Ok(Event {
            header,
            bytes,
            checksum,
        })
    }

    /// The whole event, header to checksum.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Between the header and the checksum (for a format description: everything after the
    /// header, its own algorithm byte and checksum included).
    pub fn body(&self) -> &'a [u8] {
        &self.bytes[HEADER_LEN..self.bytes.len() - self.checksum.trailer_len()]
    }

    /// The checksum this event carries.
    pub fn checksum(&self) -> ChecksumAlg {
        self.checksum
    }

    /// Checks the event's CRC32, if it carries one (a format description's is checked when
    /// it is decoded).
    pub fn verify_checksum(&self) -> Result<(), DecodeError> {
        match self.checksum {
            ChecksumAlg::Crc32 => verify_crc32(self.bytes),
            ChecksumAlg::Off => Ok(()),
        }
    }

    /// Decodes the event with the layout `format` gives.
    pub fn decode(&self, format: &FormatDescription) -> Result<EventData<'a>, DecodeError> {
        let t = self.header.event_type;
        let body = self.body();
        let post = |default: usize| format.post_header_len(t).unwrap_or(default);
        if let Some(layout) = t.rows() {
            return rows::decode_rows(layout, body, post(8)).map(EventData::Rows);
        }
        Ok(match t {
            EventType::FORMAT_DESCRIPTION => {
                EventData::FormatDescription(FormatDescription::parse(self.bytes)?)
            }
            EventType::START_V3 => {
                let mut c = Cursor::new(body, "start event");
                let _version = c.u16()?;
                let version = c.take(50)?;
                let end = version.iter().position(|&b| b == 0).unwrap_or(50);
                EventData::StartV3 {
                    server_version: String::from_utf8_lossy(&version[..end]).into_owned(),
                }
            }
            EventType::ROTATE => {
                let mut c = Cursor::new(body, "rotate event");
                // Binlog v1 rotates have no position; every later format has 8 bytes.
                let position = if post(8) >= 8 { c.u64()? } else { 4 };
                EventData::Rotate {
                    position,
                    file: c.rest(),
                }
            }
            EventType::STOP => EventData::Stop,
            EventType::QUERY | EventType::QUERY_COMPRESSED | EventType::EXECUTE_LOAD_QUERY => {
                let default = if t == EventType::EXECUTE_LOAD_QUERY {
                    26
                } else {
                    13
                };
                EventData::Query(query::decode(t, body, post(default))?)
            }
            EventType::XID => EventData::Xid(Cursor::new(body, "xid event").u64()?),
            EventType::GTID => EventData::Gtid(gtid::decode_gtid(body, self.header.server_id)?),
            EventType::GTID_LIST => EventData::GtidList(gtid::decode_gtid_list(body)?),
            EventType::BINLOG_CHECKPOINT => {
                let mut c = Cursor::new(body, "binlog checkpoint event");
                let len = c.u32()? as usize;
                EventData::BinlogCheckpoint { file: c.take(len)? }
            }
            EventType::MYSQL_GTID | EventType::ANONYMOUS_GTID => {
                EventData::MysqlGtid(gtid::decode_mysql_gtid(body)?)
            }
            EventType::PREVIOUS_GTIDS => {
                EventData::PreviousGtids(gtid::decode_previous_gtids(body)?)
            }
            EventType::TABLE_MAP => EventData::TableMap(rows::decode_table_map(body, post(8))?),
            EventType::ANNOTATE_ROWS => EventData::Annotate(body),
            EventType::ROWS_QUERY => {
                // A length byte (which long statements overflow), then the text.
                let mut c = Cursor::new(body, "rows query event");
                c.skip(1)?;
                EventData::RowsQuery(c.rest())
            }
            EventType::INTVAR => {
                let mut c = Cursor::new(body, "intvar event");
                EventData::Intvar {
                    kind: c.u8()?,
                    value: c.u64()?,
                }
            }
            EventType::RAND => {
                let mut c = Cursor::new(body, "rand event");
                EventData::Rand {
                    seed1: c.u64()?,
                    seed2: c.u64()?,
                }
            }
            EventType::USER_VAR => {
                let mut c = Cursor::new(body, "user var event");
                let len = c.u32()? as usize;
                let name = c.take(len)?;
                EventData::UserVar {
                    name,
                    is_null: c.u8()? != 0,
                }
            }
            EventType::BEGIN_LOAD_QUERY | EventType::APPEND_BLOCK => {
                let mut c = Cursor::new(body, "load data event");
                let file_id = c.u32()?;
                c.skip(post(4).saturating_sub(4))?;
                EventData::LoadData {
                    file_id,
                    data: c.rest(),
                }
            }
            EventType::DELETE_FILE => EventData::DeleteFile {
                file_id: Cursor::new(body, "delete file event").u32()?,
            },
            EventType::HEARTBEAT => EventData::Heartbeat { file: body },
            EventType::INCIDENT => {
                let mut c = Cursor::new(body, "incident event");
                let kind = c.u16()?;
                let len = usize::from(c.u8()?);
                EventData::Incident {
                    kind,
                    message: c.take(len)?,
                }
            }
            EventType::TRANSACTION_PAYLOAD => EventData::TransactionPayload,
            _ => EventData::Other,
        })
    }
}
