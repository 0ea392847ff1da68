//! Reading binlog files: the magic number, then events back to back, each read through the
//! format description in force (the file's first event), each at a known offset.
//!
//! It streams: one event is held at a time, whatever the file's size. A file cut off in the
//! middle of an event (the primary crashed while writing it) ends with
//! [`FileError::Truncated`] *after* every whole event has been read, so callers can use what is
//! there and say where it stops.

use std::io::{self, Read, Seek, SeekFrom};

use super::checksum::ChecksumAlg;
use super::error::DecodeError;
use super::event::{Event, EventData};
use super::event_type::EventType;
use super::format::FormatDescription;
use super::header::{EventHeader, HEADER_LEN};

/// The first four bytes of every binlog and relay log.
pub const MAGIC: [u8; 4] = *b"\xfebin";

/// Why a file cannot be read (further).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read: {0}")]
    Io(#[from] io::Error),
    #[error("not a binlog file: it starts with {start:02x?}, not the binlog magic fe 62 69 6e")]
    NotBinlog { start: Vec<u8> },
    #[error(
        "the file ends inside the event at {offset}: {available} of its {needed} bytes are there \
         (a server that crashed while writing it leaves this)"
    )]
    Truncated {
        offset: u64,
        needed: u64,
        available: u64,
    },
    #[error("the event at {offset} cannot be read: {error}")]
    Decode { offset: u64, error: DecodeError },
    #[error("binlog format v1 (MySQL 3.23) is not supported")]
    Version1,
}

/// An event read from a file, with its offset (`# at`) and the layout it was read with.
#[derive(Debug)]
pub struct FileEvent<'a> {
    pub offset: u64,
    pub event: Event<'a>,
    pub format: &'a FormatDescription,
}

/// A binlog file being read event by event.
#[derive(Debug)]
pub struct BinlogFile<R> {
    input: R,
    /// Offset of the next event.
    offset: u64,
    format: FormatDescription,
    buf: Vec<u8>,
    /// An event was cut off or unreadable: nothing more will be read.
    done: bool,
}

impl<R: Read> BinlogFile<R> {
    /// Checks the magic number.
    pub fn open(mut input: R) -> Result<Self, FileError> {
        let mut magic = [0u8; 4];
        let n = read_full(&mut input, &mut magic)?;
        if n < 4 || magic != MAGIC {
            return Err(FileError::NotBinlog {
                start: magic[..n].to_vec(),
            });
        }
        Ok(BinlogFile {
            input,
            offset: MAGIC.len() as u64,
            // Replaced by the file's first event: a format description (v4) or a start (v3).
            format: FormatDescription::assumed_v4(ChecksumAlg::Off),
            buf: Vec::with_capacity(64 * 1024),
            done: false,
        })
    }

    /// The layout the events read so far set up (after the first event: the file's own).
    pub fn format(&self) -> &FormatDescription {
        &self.format
    }

    /// Where the next event starts (after the last: the file's length as far as it was read).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next event; `Ok(None)` at the clean end of the file. A format description
    /// (or v3 start) event changes the layout for the events after it.
    pub fn next_event(&mut self) -> Result<Option<FileEvent<'_>>, FileError> {
        if self.done {
            return Ok(None);
        }
        let offset = self.offset;
        self.buf.resize(HEADER_LEN, 0);
        let got = read_full(&mut self.input, &mut self.buf)?;
        if got == 0 {
            self.done = true;
            return Ok(None);
        }
        if got < HEADER_LEN {
            self.done = true;
            return Err(FileError::Truncated {
                offset,
                needed: HEADER_LEN as u64,
                available: got as u64,
            });
        }
        let header = EventHeader::parse(&self.buf).map_err(|error| self.fail(offset, error))?;
        let size = header.event_size as usize;
        if size < HEADER_LEN {
            let error = DecodeError::malformed("event", format!("a size of {size} bytes"));
            return Err(self.fail(offset, error));
        }
        // Read what is there rather than allocate what the header claims: a corrupt size field
        // (up to 4 GiB) must not cost that much memory before the file turns out shorter.
        let got = (&mut self.input)
            .take((size - HEADER_LEN) as u64)
            .read_to_end(&mut self.buf)?;
        if got < size - HEADER_LEN {
            self.done = true;
            return Err(FileError::Truncated {
                offset,
                needed: size as u64,
                available: (HEADER_LEN + got) as u64,
            });
        }
        self.offset += size as u64;
        match header.event_type {
            EventType::FORMAT_DESCRIPTION => {
                let format = FormatDescription::parse(&self.buf)
                    .map_err(|error| self.fail(offset, error))?;
                self.format = format;
            }
            EventType::START_V3 if offset == MAGIC.len() as u64 => {
                let version = match Event::parse(&self.buf, ChecksumAlg::Off)
                    .and_then(|event| event.decode(&FormatDescription::v3(String::new())))
                {
                    Ok(EventData::StartV3 { server_version }) => server_version,
                    Ok(_) => String::new(),
                    Err(error) => return Err(self.fail(offset, error)),
                };
                if u16::from_le_bytes([self.buf[HEADER_LEN], self.buf[HEADER_LEN + 1]]) == 1 {
                    self.done = true;
                    return Err(FileError::Version1);
                }
                self.format = FormatDescription::v3(version);
            }
            _ => {}
        }
        let event = Event::parse(&self.buf, self.format.checksum)
            .map_err(|error| FileError::Decode { offset, error })?;
        Ok(Some(FileEvent {
            offset,
            event,
            format: &self.format,
        }))
    }

    fn fail(&mut self, offset: u64, error: DecodeError) -> FileError {
        self.done = true;
        FileError::Decode { offset, error }
    }
}

impl<R: Read + Seek> BinlogFile<R> {
    /// Goes on reading at `offset`, which must be an event's start (after the format
    /// description, which sets the layout, was read).
    pub fn seek_to(&mut self, offset: u64) -> Result<(), FileError> {
        self.input.seek(SeekFrom::Start(offset))?;
        self.offset = offset;
        self.done = false;
        Ok(())
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_binlog_is_named() {
        let err = BinlogFile::open(&b"-- MySQL dump"[..]).unwrap_err();
        assert!(err.to_string().contains("not a binlog file"), "{err}");
        assert!(matches!(
            BinlogFile::open(&b"\xfeb"[..]),
            Err(FileError::NotBinlog { .. })
        ));
    }

    #[test]
    fn a_file_cut_inside_an_event_says_where() {
        let mut bytes = MAGIC.to_vec();
        let header = EventHeader {
            timestamp: 0,
            event_type: EventType::STOP,
            server_id: 1,
            event_size: 19,
            log_pos: 23,
            flags: 0,
        };
        bytes.extend_from_slice(&header.encode());
        bytes.extend_from_slice(
            &EventHeader {
                event_size: 40,
                log_pos: 63,
                ..header
            }
            .encode(),
        );
        bytes.extend_from_slice(&[0; 5]);
        let mut file = BinlogFile::open(&bytes[..]).unwrap();
        let first = file.next_event().unwrap().unwrap();
        assert_eq!(first.offset, 4);
        match file.next_event() {
            Err(FileError::Truncated {
                offset: 23,
                needed: 40,
                available: 24,
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(file.next_event().unwrap().is_none());
    }
}
