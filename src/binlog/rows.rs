//! Table maps and rows events: which table a rows event changes, how, and how many rows — the
//! shape a mistaken mass `DELETE` takes in a ROW binlog.

use std::borrow::Cow;

use super::column::{self, Column};
use super::compression;
use super::cursor::Cursor;
use super::error::DecodeError;
use super::event_type::{RowsEventType, RowsKind};

/// A table map: the table a table id stands for until the end of the statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMap<'a> {
    pub table_id: u64,
    pub database: &'a [u8],
    pub table: &'a [u8],
    pub columns: Vec<Column>,
}

impl TableMap<'_> {
    /// `schema.table`, lossily as text.
    pub fn qualified_name(&self) -> String {
        format!(
            "{}.{}",
            String::from_utf8_lossy(self.database),
            String::from_utf8_lossy(self.table)
        )
    }

    /// A copy that outlives the event's bytes (the stream keeps table maps until the end of the
    /// statement they serve).
    pub fn into_owned(self) -> OwnedTableMap {
        OwnedTableMap {
            table_id: self.table_id,
            database: String::from_utf8_lossy(self.database).into_owned(),
            table: String::from_utf8_lossy(self.table).into_owned(),
            columns: self.columns,
        }
    }
}

/// A table map that no longer borrows its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedTableMap {
    pub table_id: u64,
    pub database: String,
    pub table: String,
    pub columns: Vec<Column>,
}

/// Table ids take 6 bytes, or 4 in the earliest 5.1 binlogs (a 6-byte post-header).
fn table_id(c: &mut Cursor<'_>, post_header_len: usize) -> Result<u64, DecodeError> {
    c.uint(if post_header_len == 6 { 4 } else { 6 })
}

pub(crate) fn decode_table_map(
    body: &[u8],
    post_header_len: usize,
) -> Result<TableMap<'_>, DecodeError> {
    let what = "table map event";
    let mut c = Cursor::new(body, what);
    let table_id = table_id(&mut c, post_header_len)?;
    c.skip(post_header_len.saturating_sub(if post_header_len == 6 { 4 } else { 6 }))?;
    let db_len = usize::from(c.u8()?);
    let database = c.take(db_len)?;
    c.skip(1)?;
    let table_len = usize::from(c.u8()?);
    let table = c.take(table_len)?;
    c.skip(1)?;
    let count = c.lenenc_len()?;
    let types = c.take(count)?;
    let meta_len = c.lenenc_len()?;
    let metadata = c.take(meta_len)?;
    // The null bitmap and MySQL 8's optional metadata follow; counting rows needs neither.
    Ok(TableMap {
        table_id,
        database,
        table,
        columns: column::columns(types, metadata)?,
    })
}

/// A rows event: the rows of one table changed by (part of) one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowsEvent<'a> {
    pub layout: RowsEventType,
    pub table_id: u64,
    pub flags: u16,
    /// Columns in the table (the width of the bitmaps).
    pub width: usize,
    /// Which columns each before (or only) image holds.
    pub present: &'a [u8],
    /// Which columns each after image holds (updates).
    pub present_after: Option<&'a [u8]>,
    /// The row images, decompressed for MariaDB's compressed events.
    pub rows: Cow<'a, [u8]>,
}

/// The last rows event of a statement: its table maps end with it.
pub const STMT_END_F: u16 = 1;

pub(crate) fn decode_rows(
    layout: RowsEventType,
    body: &[u8],
    post_header_len: usize,
) -> Result<RowsEvent<'_>, DecodeError> {
    let what = "rows event";
    let mut c = Cursor::new(body, what);
    let table_id = table_id(&mut c, post_header_len)?;
    let flags = c.u16()?;
    if layout.version == 2 {
        // The extra-data block's length counts its own two bytes.
        let extra = usize::from(c.u16()?);
        c.skip(extra.checked_sub(2).ok_or_else(|| {
            DecodeError::malformed(what, format!("an extra-data length of {extra}"))
        })?)?;
    }
    let width = c.lenenc_len()?;
    let bitmap_len = width.div_ceil(8);
    let present = c.take(bitmap_len)?;
    let present_after = if layout.kind.has_two_images() {
        Some(c.take(bitmap_len)?)
    } else {
        None
    };
    let rest = c.rest();
    let rows = if layout.compressed {
        Cow::Owned(compression::decompress(rest, what)?)
    } else {
        Cow::Borrowed(rest)
    };
    Ok(RowsEvent {
        layout,
        table_id,
        flags,
        width,
        present,
        present_after,
        rows,
    })
}

impl RowsEvent<'_> {
    pub fn kind(&self) -> RowsKind {
        self.layout.kind
    }

    pub fn ends_statement(&self) -> bool {
        self.flags & STMT_END_F != 0
    }

    /// How many rows the event holds, walking the images with the table's column types.
    /// `None` for MySQL's partial-JSON updates, whose after images this walk does not read.
    pub fn count_rows(&self, table: &OwnedTableMap) -> Result<Option<u64>, DecodeError> {
        if self.kind() == RowsKind::PartialUpdate {
            return Ok(None);
        }
        if table.columns.len() != self.width {
            return Err(DecodeError::malformed(
                "rows event",
                format!(
                    "{} columns where its table map ({}.{}) has {}",
                    self.width,
                    table.database,
                    table.table,
                    table.columns.len()
                ),
            ));
        }
        let mut c = Cursor::new(&self.rows, "rows event row image");
        let mut rows = 0u64;
        while !c.is_empty() {
            skip_image(&mut c, &table.columns, self.present)?;
            if let Some(after) = self.present_after {
                skip_image(&mut c, &table.columns, after)?;
            }
            rows += 1;
        }
        Ok(Some(rows))
    }
}

fn bit(bitmap: &[u8], i: usize) -> bool {
    bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
}

/// Steps over one row image: a null bitmap over the present columns, then each non-null value.
fn skip_image(c: &mut Cursor<'_>, columns: &[Column], present: &[u8]) -> Result<(), DecodeError> {
    let present_count = (0..columns.len()).filter(|&i| bit(present, i)).count();
    let nulls = c.take(present_count.div_ceil(8))?;
    let mut nth = 0;
    for (i, column) in columns.iter().enumerate() {
        if !bit(present, i) {
            continue;
        }
        let is_null = bit(nulls, nth);
        nth += 1;
        if !is_null {
            let size = column.value_size(c)?;
            c.skip(size)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binlog::event_type::EventType;

    fn table() -> OwnedTableMap {
        // (id INT, name VARCHAR(20))
        let body = {
            let mut b = vec![38, 0, 0, 0, 0, 0, 1, 0];
            b.extend_from_slice(&[4, b's', b'h', b'o', b'p', 0, 6]);
            b.extend_from_slice(b"orders\0");
            b.extend_from_slice(&[2, 3, 15, 2, 20, 0, 0b10]);
            b
        };
        decode_table_map(&body, 8).unwrap().into_owned()
    }

    #[test]
    fn counts_the_rows_of_a_delete() {
        let t = table();
        assert_eq!(t.table, "orders");
        let mut body = vec![38, 0, 0, 0, 0, 0, 1, 0, 2, 0b11];
        // Row 1: no nulls, id 7, name "ab"; row 2: name NULL, id 8.
        body.extend_from_slice(&[0b00, 7, 0, 0, 0, 2, b'a', b'b']);
        body.extend_from_slice(&[0b10, 8, 0, 0, 0]);
        let layout = EventType::DELETE_ROWS_V1.rows().unwrap();
        let rows = decode_rows(layout, &body, 8).unwrap();
        assert_eq!(rows.kind(), RowsKind::Delete);
        assert!(rows.ends_statement());
        assert_eq!(rows.count_rows(&t).unwrap(), Some(2));
        // A row cut short is an error, not a count.
        let cut = decode_rows(layout, &body[..body.len() - 1], 8).unwrap();
        assert!(cut.count_rows(&t).is_err());
    }

    #[test]
    fn update_rows_carry_two_images_and_v2_an_extra_block() {
        let t = table();
        let mut body = vec![38, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 0b01, 0b11];
        body.extend_from_slice(&[0b0, 7, 0, 0, 0]);
        body.extend_from_slice(&[0b00, 7, 0, 0, 0, 1, b'z']);
        let layout = EventType::UPDATE_ROWS.rows().unwrap();
        let rows = decode_rows(layout, &body, 10).unwrap();
        assert_eq!(rows.count_rows(&t).unwrap(), Some(1));
        assert!(!rows.ends_statement());
    }

    #[test]
    fn compressed_rows_are_counted_after_decompression() {
        let t = table();
        let mut body = vec![38, 0, 0, 0, 0, 0, 1, 0, 2, 0b11];
        body.extend_from_slice(&compression::compress(&[
            0b10, 8, 0, 0, 0, 0b10, 9, 0, 0, 0,
        ]));
        let layout = EventType::DELETE_ROWS_COMPRESSED_V1.rows().unwrap();
        let rows = decode_rows(layout, &body, 8).unwrap();
        assert_eq!(rows.count_rows(&t).unwrap(), Some(2));
    }
}
