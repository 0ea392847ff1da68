//! The scanning state machine of [`StatementReader`]: the client's rules for quotes,
//! comments, escapes, client commands and delimiters, applied to the buffered input from
//! `scan` on. Each step either advances, asks for more input (a look-ahead past the buffer
//! end: the caller reads a chunk and the step is retried from the same place), or reports
//! where a statement ends.

use std::io::BufRead;

use super::StatementReader;

/// The client keeps at most 15 bytes of a delimiter.
const MAX_DELIMITER: usize = 15;
/// A `use db` line longer than this is not taken for the client command.
const MAX_USE_LINE: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    /// Statement text (or the blank/comment prefix before one).
    Code,
    /// Inside `'...'`, `"..."` or `` `...` ``.
    Quote(u8),
    /// Inside `/* ... */` (not versioned).
    BlockComment,
    /// Inside `# ...` or `-- ...` up to the newline.
    LineComment,
}

/// A statement end found in the buffer.
pub(super) struct Found {
    /// End of the text (the delimiter's start, or the end of a `use` line).
    pub(super) end: usize,
    /// Where scanning resumes.
    pub(super) next: usize,
    /// Whether the scan resumes at a line start (a DELIMITER line still to read).
    pub(super) at_line_start: bool,
}

enum Flow {
    Continue,
    NeedMore,
    Found(Found),
}

/// Which bytes stop the fast skip in each mode.
#[derive(Clone)]
pub(super) struct Stops {
    code: [bool; 256],
    single: [bool; 256],
    double: [bool; 256],
    backtick: [bool; 256],
    block: [bool; 256],
    line: [bool; 256],
}

impl Stops {
    pub(super) fn new(delimiter_first: u8, multi_byte: bool) -> Self {
        let table = |bytes: &[u8], leads: bool| {
            let mut t = [false; 256];
            for &b in bytes {
                t[usize::from(b)] = true;
            }
            if leads {
                t[0x81..=0xfe].iter_mut().for_each(|s| *s = true);
            }
            t
        };
        Self {
            code: table(
                &[
                    b'\n',
                    b'\'',
                    b'"',
                    b'`',
                    b'\\',
                    b'/',
                    b'#',
                    b'-',
                    delimiter_first,
                ],
                multi_byte,
            ),
            single: table(b"\n'\\", multi_byte),
            double: table(b"\n\"\\", multi_byte),
            backtick: table(b"\n`", multi_byte),
            block: table(b"\n*", false),
            line: table(b"\n", false),
        }
    }
}

impl<R: BufRead> StatementReader<R> {
    /// The byte at `i`: `Ok(None)` past the end of the input, `Err(())` if not read yet.
    fn at(&self, i: usize) -> Result<Option<u8>, ()> {
        match self.buf.get(i) {
            Some(&b) => Ok(Some(b)),
            None if self.eof => Ok(None),
            None => Err(()),
        }
    }

    /// Scans as far as the buffer allows.
    pub(super) fn step(&mut self) -> Option<Found> {
        if !self.bom_checked {
            match self.buf.get(..3) {
                Some(b"\xef\xbb\xbf") => self.scan = 3,
                Some(_) => {}
                None if !self.eof => return None,
                None => {}
            }
            self.bom_checked = true;
        }
        loop {
            let flow = match self.mode {
                Mode::Code if !self.started => self.prefix_step(),
                Mode::Code => self.code_step(),
                Mode::Quote(quote) => self.quote_step(quote),
                Mode::BlockComment => self.block_step(),
                Mode::LineComment => self.line_comment_step(),
            };
            match flow {
                Flow::Continue => {}
                Flow::NeedMore => return None,
                Flow::Found(found) => return Some(found),
            }
        }
    }

    /// Advances `scan` to the next byte that `table` marks; false at the end of the buffer.
    fn skip_to_stop(&mut self, table: fn(&Stops) -> &[bool; 256]) -> bool {
        let stops = table(&self.stops);
        let rest = self.buf.get(self.scan..).unwrap_or_default();
        match rest.iter().position(|&b| stops[usize::from(b)]) {
            Some(p) => {
                self.scan += p;
                true
            }
            None => {
                self.scan = self.buf.len();
                false
            }
        }
    }

    fn newline(&mut self) {
        self.scan += 1;
        self.line += 1;
        self.at_line_start = true;
    }

    fn mark_text_start(&mut self) {
        if self.text_start.is_none() {
            self.text_start = Some((self.scan, self.line));
        }
    }

    /// Whether the delimiter starts at `scan`; `Err` if more input is needed to tell.
    fn delimiter_here(&self) -> Result<bool, ()> {
        for (k, &d) in self.delimiter.iter().enumerate() {
            match self.at(self.scan + k)? {
                Some(b) if b == d => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    fn delimiter_found(&mut self) -> Flow {
        Flow::Found(Found {
            end: self.scan,
            next: self.scan + self.delimiter.len(),
            at_line_start: false,
        })
    }

    /// Blanks and comments before a statement, and the client commands that can only
    /// appear there.
    fn prefix_step(&mut self) -> Flow {
        if self.at_line_start {
            match self.line_command() {
                Err(()) => return Flow::NeedMore,
                Ok(Some(flow)) => return flow,
                Ok(None) => self.at_line_start = false,
            }
        }
        let Some(&b) = self.buf.get(self.scan) else {
            return Flow::NeedMore;
        };
        match self.delimiter_here() {
            Err(()) => return Flow::NeedMore,
            Ok(true) => return self.delimiter_found(),
            Ok(false) => {}
        }
        let next = |s: &Self, k| s.at(s.scan + k);
        match b {
            b'\n' => self.newline(),
            b' ' | b'\t' | b'\r' | 0x0b | 0x0c => self.scan += 1,
            b'#' => {
                self.mark_text_start();
                self.mode = Mode::LineComment;
                self.scan += 1;
            }
            // At the start of a statement the client takes `--` as a comment even without
            // the space.
            b'-' => match next(self, 1) {
                Err(()) => return Flow::NeedMore,
                Ok(Some(b'-')) => {
                    self.mark_text_start();
                    self.mode = Mode::LineComment;
                    self.scan += 2;
                }
                Ok(_) => self.start_statement(),
            },
            b'/' => match self.block_comment_opens() {
                Err(()) => return Flow::NeedMore,
                Ok(true) => {
                    self.mark_text_start();
                    self.mode = Mode::BlockComment;
                    self.scan += 2;
                }
                Ok(false) => self.start_statement(),
            },
            _ => self.start_statement(),
        }
        Flow::Continue
    }

    fn start_statement(&mut self) {
        self.mark_text_start();
        self.started = true;
        self.at_line_start = false;
    }

    /// `/*` that is not `/*!` or `/*M!` (those are code to the client).
    fn block_comment_opens(&self) -> Result<bool, ()> {
        if self.at(self.scan + 1)? != Some(b'*') {
            return Ok(false);
        }
        Ok(match self.at(self.scan + 2)? {
            Some(b'!') => false,
            Some(b'M') => self.at(self.scan + 3)? != Some(b'!'),
            _ => true,
        })
    }

    /// At a line start before a statement: `DELIMITER x` or `use db`.
    fn line_command(&mut self) -> Result<Option<Flow>, ()> {
        let mut i = self.scan;
        while let Some(b' ' | b'\t') = self.at(i)? {
            i += 1;
        }
        let word_start = i;
        while let Some(b) = self.at(i)? {
            if matches!(b, b' ' | b'\t' | b'\r' | b'\n') || i - word_start > 9 {
                break;
            }
            i += 1;
        }
        let word = self.buf.get(word_start..i).unwrap_or_default();
        if word.eq_ignore_ascii_case(b"delimiter") {
            let line_end = self.line_end(i, usize::MAX)?.unwrap_or(self.buf.len());
            return Ok(Some(self.delimiter_command(i, line_end)));
        }
        if word.eq_ignore_ascii_case(b"use") {
            let Some(line_end) = self.line_end(i, MAX_USE_LINE)? else {
                return Ok(None);
            };
            let line = self.buf.get(i..line_end).unwrap_or_default();
            let has_delimiter = line
                .windows(self.delimiter.len())
                .any(|w| w == self.delimiter.as_slice());
            if has_delimiter || line.trim_ascii().is_empty() {
                return Ok(None);
            }
            let end = line_end - (line.len() - line.trim_ascii_end().len());
            // The client runs it as `use` at once: a statement of its own.
            self.scan = word_start;
            self.mark_text_start();
            self.scan = line_end;
            return Ok(Some(Flow::Found(Found {
                end,
                next: line_end,
                at_line_start: false,
            })));
        }
        Ok(None)
    }

    /// Index of the `\n` ending the line from `from` (`Ok(None)` if there is none within
    /// `limit` bytes or before the end of the input).
    fn line_end(&self, from: usize, limit: usize) -> Result<Option<usize>, ()> {
        let rest = self.buf.get(from..).unwrap_or_default();
        match rest.iter().take(limit).position(|&b| b == b'\n') {
            Some(p) => Ok(Some(from + p)),
            None if self.eof || rest.len() >= limit => Ok(None),
            None => Err(()),
        }
    }

    /// `DELIMITER arg` (the word read up to `args`, the line ending at `line_end`).
    fn delimiter_command(&mut self, args: usize, line_end: usize) -> Flow {
        if self.text_start.is_some() {
            // Comments before it go out alone first, as the client sent them.
            return Flow::Found(Found {
                end: self.scan,
                next: self.scan,
                at_line_start: true,
            });
        }
        let line = self.buf.get(args..line_end).unwrap_or_default();
        let line = line.trim_ascii_start();
        let arg = match line.first() {
            Some(&q @ (b'\'' | b'"' | b'`')) => {
                let body = line.get(1..).unwrap_or_default();
                body.split(|&b| b == q).next().unwrap_or_default()
            }
            _ => line
                .split(|b| b.is_ascii_whitespace())
                .next()
                .unwrap_or_default(),
        };
        // The client refuses an empty delimiter or one with a backslash, keeping the old.
        if !arg.is_empty() && !arg.contains(&b'\\') {
            self.delimiter = arg.get(..MAX_DELIMITER).unwrap_or(arg).to_vec();
            self.rebuild_stops();
        }
        self.scan = line_end;
        self.at_line_start = false;
        Flow::Continue
    }

    /// Statement text: quotes, comments, escapes and the delimiter.
    fn code_step(&mut self) -> Flow {
        if !self.skip_to_stop(|s| &s.code) {
            return Flow::NeedMore;
        }
        let Some(&b) = self.buf.get(self.scan) else {
            return Flow::NeedMore;
        };
        if b == b'\n' {
            self.newline();
            return Flow::Continue;
        }
        if b == b'\\' {
            return self.backslash();
        }
        if self.multi_byte.is_some() && (0x81..=0xfe).contains(&b) {
            return self.multi_byte_char();
        }
        match self.delimiter_here() {
            Err(()) => return Flow::NeedMore,
            Ok(true) => return self.delimiter_found(),
            Ok(false) => {}
        }
        match b {
            b'\'' | b'"' | b'`' => {
                self.mode = Mode::Quote(b);
                self.scan += 1;
            }
            b'#' => {
                self.mode = Mode::LineComment;
                self.scan += 1;
            }
            b'-' => {
                let (Ok(second), Ok(third)) = (self.at(self.scan + 1), self.at(self.scan + 2))
                else {
                    return Flow::NeedMore;
                };
                let spaced =
                    third.is_none_or(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c));
                if second == Some(b'-') && spaced {
                    self.mode = Mode::LineComment;
                    self.scan += 2;
                } else {
                    self.scan += 1;
                }
            }
            b'/' => match self.block_comment_opens() {
                Err(()) => return Flow::NeedMore,
                Ok(true) => {
                    self.mode = Mode::BlockComment;
                    self.scan += 2;
                }
                Ok(false) => self.scan += 1,
            },
            // The delimiter's first byte, not followed by the rest of it.
            _ => self.scan += 1,
        }
        Flow::Continue
    }

    /// `\x` outside or inside a quoted string: the pair is taken as is (an escape, or a
    /// client command such as `\C utf8mb4`, whose charset is noted).
    fn backslash(&mut self) -> Flow {
        match self.at(self.scan + 1) {
            Err(()) => Flow::NeedMore,
            Ok(Some(b'C')) if self.mode == Mode::Code => {
                let mut i = self.scan + 2;
                while let Ok(Some(b' ')) = self.at(i) {
                    i += 1;
                }
                let name_start = i;
                loop {
                    match self.at(i) {
                        Err(()) => return Flow::NeedMore,
                        Ok(Some(b)) if b.is_ascii_alphanumeric() || b == b'_' => i += 1,
                        Ok(_) => break,
                    }
                }
                let name = self.buf.get(name_start..i).unwrap_or_default().to_vec();
                if !name.is_empty() {
                    self.set_charset(&name);
                }
                self.scan += 2;
                Flow::Continue
            }
            Ok(Some(b'\n')) | Ok(None) => {
                self.scan += 1;
                Flow::Continue
            }
            Ok(Some(_)) => {
                self.scan += 2;
                Flow::Continue
            }
        }
    }

    /// A byte that may lead a big5/cp932/gbk/gb18030/sjis character: the character is stepped
    /// over whole, as the server reads it in that charset (its trail byte may read as `\` or a
    /// backtick), and a byte that leads none (sjis's half-width katakana, say) as itself — a
    /// looser rule would swallow the `\` or backtick after it and lose step with the server.
    fn multi_byte_char(&mut self) -> Flow {
        let Some(rule) = self.multi_byte else {
            self.scan += 1;
            return Flow::Continue;
        };
        let window = self.buf.get(self.scan..).unwrap_or_default();
        // gb18030's longest character has four bytes: short of that, wait for the rest unless
        // the input has ended.
        if window.len() < 4 && !self.eof {
            return Flow::NeedMore;
        }
        self.scan += rule.char_len(window).unwrap_or(1);
        Flow::Continue
    }

    fn quote_step(&mut self, quote: u8) -> Flow {
        let found = match quote {
            b'\'' => self.skip_to_stop(|s| &s.single),
            b'"' => self.skip_to_stop(|s| &s.double),
            _ => self.skip_to_stop(|s| &s.backtick),
        };
        if !found {
            return Flow::NeedMore;
        }
        match self.buf.get(self.scan).copied() {
            Some(b'\n') => self.newline(),
            Some(b'\\') => return self.backslash(),
            Some(b) if b == quote => {
                self.mode = Mode::Code;
                self.scan += 1;
            }
            Some(_) => return self.multi_byte_char(),
            None => return Flow::NeedMore,
        }
        Flow::Continue
    }

    fn block_step(&mut self) -> Flow {
        if !self.skip_to_stop(|s| &s.block) {
            return Flow::NeedMore;
        }
        if self.buf.get(self.scan) == Some(&b'\n') {
            self.newline();
            return Flow::Continue;
        }
        match self.at(self.scan + 1) {
            Err(()) => return Flow::NeedMore,
            Ok(Some(b'/')) => {
                self.mode = Mode::Code;
                self.scan += 2;
                self.at_line_start = false;
            }
            Ok(_) => self.scan += 1,
        }
        Flow::Continue
    }

    fn line_comment_step(&mut self) -> Flow {
        if !self.skip_to_stop(|s| &s.line) {
            return Flow::NeedMore;
        }
        self.mode = Mode::Code;
        self.newline();
        Flow::Continue
    }
}
