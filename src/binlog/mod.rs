//! The binlog event format, pure and shared by every use of it: the replication stream of a
//! replica behind `serve`, the saved files `replaygate source` serves, and `scan` of raw files.
//!
//! Bytes become typed events ([`Event`], [`EventData`]) through the file's
//! [`FormatDescription`]; [`replace`] writes the same-size no-op events that stand in for
//! withheld ones; [`query::rebuild_with_query`] rewrites a statement in place. No I/O beyond the
//! `Read` a [`BinlogFile`] is given, and no panics: malformed input is a [`DecodeError`].
//!
//! Written here rather than taken from `mysql_common::binlog`: mysql_common knows none of
//! MariaDB's events (GTID, GTID list, annotate, checkpoint, compressed query and rows events),
//! panics on a truncated event (`Event::read` unwraps a short read), decodes every column value
//! to count rows, and cannot write an event back with a new checksum. What this module needs of
//! each event is small: the header, checksums, the format description, query events with their
//! status variables, GTIDs, table maps and the row count of rows events (a walk over the row
//! images by column type, `column.rs`). `tests/binlog_corpus.rs` holds it to `mariadb-binlog`'s
//! reading of every raw binlog in the shared corpus.

pub mod checksum;
mod column;
mod compression;
mod cursor;
pub mod error;
pub mod event;
pub mod event_type;
pub mod file;
pub mod format;
pub mod gtid;
pub mod header;
pub mod query;
pub mod replace;
pub mod rows;
pub mod write;

pub use checksum::ChecksumAlg;
pub use column::Column;
pub use error::DecodeError;
pub use event::{Event, EventData};
pub use event_type::{EventType, RowsKind};
pub use file::{BinlogFile, FileError, FileEvent};
pub use format::FormatDescription;
pub use gtid::{GtidEvent, MariaGtid, MysqlGtid};
pub use header::{EventHeader, HEADER_LEN};
pub use query::QueryEvent;
pub use rows::{OwnedTableMap, RowsEvent, TableMap};
