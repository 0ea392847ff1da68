//! Reading `mariadb-binlog`/`mysqlbinlog` text output and plain SQL dumps statement by
//! statement, the way the `mysql`/`mariadb` client splits a script it reads from a pipe.
//!
//! The scanner and offline tools must see exactly the statements the client would send,
//! so this mirrors the client's `add_line` rules (client/mysql.cc), not the server's:
//!
//! * `DELIMITER xyz` on a line of its own, between statements, changes the delimiter
//!   (mariadb-binlog switches to `/*!*/;` and back to `;`); a delimiter inside quotes,
//!   backticks or a comment does not count. `/*!...*/` and `/*M!...*/` are code to the
//!   client (their contents are scanned like any text), other `/* */` are comments.
//! * `#` and `-- ` comment lines before a statement are kept as its leading text, where the
//!   event headers (`# at 1234`, `#241125 ... end_log_pos ...`) are read from, as with
//!   `mariadb --comments`. Comments pending before a `DELIMITER` line, or at the end of the
//!   input, come out as a comment-only statement (the client sends those alone too).
//! * A `use db` line without a delimiter is a statement by itself (the client's `use`).
//! * Client commands such as `/*!\C utf8mb4 */` stay in the text of the statement they are
//!   in; `\C` also switches the client charset, which matters for charsets whose
//!   multi-byte characters can contain a backslash or backtick byte (big5, cp932, gbk,
//!   gb18030, sjis): their characters are read as units, as the client does.
//! * Bytes are kept verbatim (as `mariadb --binary-mode`, which binlog replay needs): CRLF
//!   stays, invalid UTF-8 and NUL bytes pass through. A text is always the exact input
//!   range `offset .. offset + text.len()`, trimmed of surrounding whitespace.
//!
//! It works on a stream with constant memory: only the current statement (and at most
//! one read chunk past it) is buffered, and scanning jumps from one significant byte to
//! the next over the buffer (quotes, comment starts, the delimiter's first byte, newlines
//! for the line count), allocating nothing per line.

use std::io::{self, BufRead};

use self::scan::{Found, Mode, Stops};
use crate::sql::MultiByte;

mod scan;

/// One statement of the script, as the client would send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextStatement {
    /// The statement without its delimiter, with its leading comment lines, trimmed.
    pub text: Vec<u8>,
    /// 1-based line of the input where the text starts.
    pub line: u64,
    /// Byte offset of the input where the text starts.
    pub offset: u64,
}

/// The raw binlog magic: such input must be decoded with `mariadb-binlog` first.
pub fn looks_like_binary_binlog(first_bytes: &[u8]) -> bool {
    first_bytes.starts_with(b"\xfebin")
}

/// Statements larger than this are handed out by moving the buffer, not copying it.
const MOVE_THRESHOLD: usize = 256 * 1024;

/// Reads statements from a script; see the module docs.
pub struct StatementReader<R: BufRead> {
    input: R,
    /// Input not yet handed out: the current statement and what was read past it.
    buf: Vec<u8>,
    /// Input offset of `buf[0]`.
    base: u64,
    /// Next byte to scan.
    scan: usize,
    /// Line number at `scan`.
    line: u64,
    /// First non-blank byte of the current statement and its line.
    text_start: Option<(usize, u64)>,
    /// The statement proper has begun (beyond blanks and leading comments).
    started: bool,
    at_line_start: bool,
    mode: Mode,
    delimiter: Vec<u8>,
    /// The client charset's multi-byte rule (`\C sjis`), when its characters can end in a byte
    /// that reads as ASCII.
    multi_byte: Option<MultiByte>,
    stops: Box<Stops>,
    eof: bool,
    finished: bool,
    bom_checked: bool,
}

impl<R: BufRead> std::fmt::Debug for StatementReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatementReader")
            .field("offset", &(self.base + self.scan as u64))
            .field("line", &self.line)
            .field("delimiter", &String::from_utf8_lossy(&self.delimiter))
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> StatementReader<R> {
    /// A reader with the client's defaults: delimiter `;`, a single-byte-safe charset.
    pub fn new(input: R) -> Self {
        Self {
            input,
            buf: Vec::new(),
            base: 0,
            scan: 0,
            line: 1,
            text_start: None,
            started: false,
            at_line_start: true,
            mode: Mode::Code,
            delimiter: b";".to_vec(),
            multi_byte: None,
            stops: Box::new(Stops::new(b';', false)),
            eof: false,
            finished: false,
            bom_checked: false,
        }
    }

    /// Starts in the client charset `name` (`--default-character-set`), as `\C name` would.
    pub fn with_client_charset(mut self, name: &str) -> Self {
        self.set_charset(name.as_bytes());
        self
    }

    /// Bytes taken from the input so far (read ahead of the last statement by at most one
    /// chunk of the underlying reader).
    pub fn bytes_read(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// The delimiter in force.
    pub fn delimiter(&self) -> &[u8] {
        &self.delimiter
    }

    fn set_charset(&mut self, name: &[u8]) {
        self.multi_byte = MultiByte::for_charset(&String::from_utf8_lossy(name));
        self.rebuild_stops();
    }

    fn rebuild_stops(&mut self) {
        let first = self.delimiter.first().copied().unwrap_or(b';');
        *self.stops = Stops::new(first, self.multi_byte.is_some());
    }

    /// Reads the next chunk; first drops what is already handed out when that is cheap
    /// (at least half the buffer) or when the buffer would otherwise have to grow, so a
    /// big statement always sits at the start of the buffer.
    fn fill(&mut self) -> io::Result<()> {
        let chunk = loop {
            match self.input.fill_buf() {
                Ok(chunk) => break chunk,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if chunk.is_empty() {
            self.eof = true;
            return Ok(());
        }
        let keep_from = self.text_start.map_or(self.scan, |(start, _)| start);
        let would_grow = self.buf.len() + chunk.len() > self.buf.capacity();
        if keep_from > 0 && (keep_from * 2 >= self.buf.len() || would_grow) {
            self.buf.drain(..keep_from);
            self.base += keep_from as u64;
            self.scan -= keep_from;
            if let Some((start, _)) = &mut self.text_start {
                *start -= keep_from;
            }
        }
        self.buf.extend_from_slice(chunk);
        let n = chunk.len();
        self.input.consume(n);
        Ok(())
    }

    /// Hands out the statement that `found` ends, if it is not blank, and resets for the
    /// next one.
    fn emit(&mut self, found: Found) -> Option<TextStatement> {
        let text_start = self.text_start.take();
        self.started = false;
        self.mode = Mode::Code;
        self.at_line_start = found.at_line_start;
        let Some((start, line)) = text_start else {
            self.scan = found.next;
            return None;
        };
        let piece = self.buf.get(start..found.end).unwrap_or_default();
        let trimmed = piece.len() - piece.trim_ascii_end().len();
        let end = found.end - trimmed;
        let offset = self.base + start as u64;
        let text = if start == 0 && end >= MOVE_THRESHOLD {
            // A big statement: hand over the buffer itself rather than copy it.
            let rest = self.buf.split_off(found.next.min(self.buf.len()));
            let mut text = std::mem::replace(&mut self.buf, rest);
            text.truncate(end);
            self.base += found.next as u64;
            self.scan = 0;
            text
        } else {
            self.scan = found.next;
            self.buf.get(start..end).unwrap_or_default().to_vec()
        };
        Some(TextStatement { text, line, offset })
    }
}

impl<R: BufRead> Iterator for StatementReader<R> {
    type Item = io::Result<TextStatement>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            if let Some(found) = self.step() {
                if let Some(statement) = self.emit(found) {
                    return Some(Ok(statement));
                }
                continue;
            }
            if self.eof {
                // The last statement may lack its delimiter (or its closing quote).
                self.finished = true;
                let end = self.buf.len();
                return self
                    .emit(Found {
                        end,
                        next: end,
                        at_line_start: false,
                    })
                    .map(Ok);
            }
            if let Err(e) = self.fill() {
                return Some(Err(e));
            }
        }
    }
}

#[cfg(test)]
mod tests;
