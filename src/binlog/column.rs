//! Column types as a table map describes them, and how many bytes a value of each takes in a
//! row image: enough to walk the rows of a rows event and count them without decoding values.

use super::cursor::Cursor;
use super::error::DecodeError;

/// MySQL field type codes (`enum_field_types`) that the walk distinguishes.
mod code {
    pub const DECIMAL: u8 = 0;
    pub const TINY: u8 = 1;
    pub const SHORT: u8 = 2;
    pub const LONG: u8 = 3;
    pub const FLOAT: u8 = 4;
    pub const DOUBLE: u8 = 5;
    pub const NULL: u8 = 6;
    pub const TIMESTAMP: u8 = 7;
    pub const LONGLONG: u8 = 8;
    pub const INT24: u8 = 9;
    pub const DATE: u8 = 10;
    pub const TIME: u8 = 11;
    pub const DATETIME: u8 = 12;
    pub const YEAR: u8 = 13;
    pub const NEWDATE: u8 = 14;
    pub const VARCHAR: u8 = 15;
    pub const BIT: u8 = 16;
    pub const TIMESTAMP2: u8 = 17;
    pub const DATETIME2: u8 = 18;
    pub const TIME2: u8 = 19;
    /// MariaDB's compressed columns.
    pub const VARCHAR_COMPRESSED: u8 = 140;
    pub const BLOB_COMPRESSED: u8 = 141;
    /// MySQL 9.
    pub const VECTOR: u8 = 242;
    pub const JSON: u8 = 245;
    pub const NEWDECIMAL: u8 = 246;
    pub const ENUM: u8 = 247;
    pub const SET: u8 = 248;
    pub const TINY_BLOB: u8 = 249;
    pub const MEDIUM_BLOB: u8 = 250;
    pub const LONG_BLOB: u8 = 251;
    pub const BLOB: u8 = 252;
    pub const VAR_STRING: u8 = 253;
    pub const STRING: u8 = 254;
    pub const GEOMETRY: u8 = 255;
}

/// One column of a table map: its type and the metadata bytes that size its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub type_code: u8,
    pub meta: [u8; 2],
}

/// Bytes of table-map metadata each type carries.
fn meta_len(type_code: u8) -> usize {
    use code::*;
    match type_code {
        FLOAT | DOUBLE | TIMESTAMP2 | DATETIME2 | TIME2 | JSON | VECTOR | TINY_BLOB
        | MEDIUM_BLOB | LONG_BLOB | BLOB | GEOMETRY | BLOB_COMPRESSED => 1,
        VARCHAR | VAR_STRING | BIT | NEWDECIMAL | STRING | ENUM | SET | VARCHAR_COMPRESSED
        | DECIMAL => 2,
        _ => 0,
    }
}

/// Pairs the column types with their slices of the metadata block.
pub(crate) fn columns(types: &[u8], metadata: &[u8]) -> Result<Vec<Column>, DecodeError> {
    let mut c = Cursor::new(metadata, "table map column metadata");
    types
        .iter()
        .map(|&type_code| {
            let mut meta = [0u8; 2];
            let n = meta_len(type_code);
            meta[..n].copy_from_slice(c.take(n)?);
            Ok(Column { type_code, meta })
        })
        .collect()
}

/// Bytes of a packed DECIMAL(precision, scale).
fn decimal_size(precision: u8, scale: u8) -> Result<usize, DecodeError> {
    const DIG2BYTES: [usize; 10] = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
    let (precision, scale) = (usize::from(precision), usize::from(scale));
    let intg = precision.checked_sub(scale).ok_or_else(|| {
        DecodeError::malformed(
            "decimal column",
            format!("scale {scale} above precision {precision}"),
        )
    })?;
    Ok(intg / 9 * 4 + DIG2BYTES[intg % 9] + scale / 9 * 4 + DIG2BYTES[scale % 9])
}

/// Bytes of a length prefix of `width` bytes followed by that many bytes of data.
fn prefixed(rest: &mut Cursor<'_>, width: usize) -> Result<usize, DecodeError> {
    if !(1..=4).contains(&width) {
        return Err(DecodeError::malformed(
            "row value",
            format!("a {width}-byte length prefix"),
        ));
    }
    let len = rest.clone().uint(width)? as usize;
    Ok(width + len)
}

impl Column {
    /// How many bytes the value at the start of `rest` takes.
    pub(crate) fn value_size(&self, rest: &Cursor<'_>) -> Result<usize, DecodeError> {
        use code::*;
        let mut rest = rest.clone();
        let [m0, m1] = self.meta;
        let fsp = |m: u8| usize::from(m).div_ceil(2);
        Ok(match self.type_code {
            TINY | YEAR => 1,
            SHORT => 2,
            INT24 | DATE | TIME | NEWDATE => 3,
            LONG | FLOAT | TIMESTAMP => 4,
            LONGLONG | DOUBLE | DATETIME => 8,
            NULL => 0,
            TIMESTAMP2 => 4 + fsp(m0),
            DATETIME2 => 5 + fsp(m0),
            TIME2 => 3 + fsp(m0),
            NEWDECIMAL => decimal_size(m0, m1)?,
            BIT => usize::from(m1) + usize::from(m0).div_ceil(8),
            VARCHAR | VAR_STRING | VARCHAR_COMPRESSED => {
                let max = u16::from_le_bytes(self.meta);
                prefixed(&mut rest, if max < 256 { 1 } else { 2 })?
            }
            TINY_BLOB | MEDIUM_BLOB | LONG_BLOB | BLOB | GEOMETRY | JSON | VECTOR
            | BLOB_COMPRESSED => prefixed(&mut rest, usize::from(m0))?,
            ENUM | SET => usize::from(m1),
            STRING => {
                // m0 holds the real type; a CHAR longer than 255 keeps two length bits there.
                let real = m0 | 0x30;
                if real == ENUM || real == SET {
                    usize::from(m1)
                } else {
                    let max = ((usize::from(m0 & 0x30) ^ 0x30) << 4) | usize::from(m1);
                    prefixed(&mut rest, if max < 256 { 1 } else { 2 })?
                }
            }
            other => {
                return Err(DecodeError::malformed(
                    "row value",
                    format!("column type {other} has no known size"),
                ));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(type_code: u8, meta: [u8; 2], data: &[u8]) -> usize {
        Column { type_code, meta }
            .value_size(&Cursor::new(data, "t"))
            .unwrap()
    }

    #[test]
    fn sizes_of_fixed_and_prefixed_values() {
        assert_eq!(size(code::LONG, [0, 0], &[]), 4);
        assert_eq!(size(code::DATETIME2, [6, 0], &[]), 8);
        assert_eq!(size(code::TIMESTAMP2, [0, 0], &[]), 4);
        // DECIMAL(10,2): 8 integer digits (4 bytes) and 2 fraction digits (1 byte).
        assert_eq!(size(code::NEWDECIMAL, [10, 2], &[]), 5);
        assert_eq!(
            size(code::VARCHAR, 255u16.to_le_bytes(), &[3, b'a', b'b', b'c']),
            4
        );
        assert_eq!(
            size(
                code::VARCHAR,
                1024u16.to_le_bytes(),
                &[3, 0, b'a', b'b', b'c']
            ),
            5
        );
        assert_eq!(size(code::BLOB, [2, 0], &[0x10, 0x00]), 18);
        // CHAR(10) utf8mb4 is a STRING of up to 40 bytes; ENUM hides as a STRING too.
        assert_eq!(size(code::STRING, [code::STRING, 40], &[2, b'x', b'y']), 3);
        assert_eq!(size(code::STRING, [code::ENUM, 1], &[]), 1);
        // BIT(10): one full byte and 2 bits.
        assert_eq!(size(code::BIT, [2, 1], &[]), 2);
    }

    #[test]
    fn metadata_is_split_by_type_and_short_metadata_is_an_error() {
        let cols = columns(&[code::LONG, code::VARCHAR, code::BLOB], &[0x2c, 0x01, 4]).unwrap();
        assert_eq!(cols[1].meta, [0x2c, 0x01]);
        assert_eq!(cols[2].meta, [4, 0]);
        assert!(columns(&[code::VARCHAR], &[1]).is_err());
        assert!(
            Column {
                type_code: 99,
                meta: [0, 0]
            }
            .value_size(&Cursor::new(&[], "t"))
            .is_err()
        );
    }
}
