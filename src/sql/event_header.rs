//! Binlog event comments that `mariadb-binlog`/`mysqlbinlog` print before each event.
//!
//! With `mariadb --comments` these comment lines travel at the head of the statement
//! that follows them, so a statement can be traced back to its binlog position, origin
//! server, thread and GTID: what the proxy reports when it halts or quarantines it.
//! Typical input:
//!
//! ```text
//! # at 1234
//! #241125 17:00:00 server id 1  end_log_pos 1385 CRC32 0x1a2b3c4d <TAB>Query<TAB>thread_id=5<TAB>...
//! SET TIMESTAMP=1700000000/*!*/
//! ```
//!
//! Older servers omit the CRC32 field, hours are space-padded (`#180504  8:23:58`) and
//! MariaDB GTID events read `GTID 0-1-5 trans`. MySQL GTIDs come from the statement
//! `SET @@SESSION.GTID_NEXT= '...'` instead (see the statement module).

/// What the leading event comments of a statement say about its origin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventHeader {
    /// Binlog position from the last `# at N` line.
    pub position: Option<u64>,
    /// Event time as printed (`241125 17:00:00`, `180504  8:23:58`, possibly fractional).
    pub timestamp: Option<String>,
    /// Originating `server id`.
    pub server_id: Option<u32>,
    /// `end_log_pos`: position just after the event.
    pub end_log_pos: Option<u64>,
    /// Event type as printed (`Query`, `GTID`, `Xid`, `Table_map`, `Gtid list`, ...).
    pub event_type: Option<String>,
    /// `thread_id=N` of Query events: the session that ran the statement on the origin.
    pub thread_id: Option<u64>,
    /// MariaDB GTID (`domain-server-sequence`) of a GTID event.
    pub gtid: Option<String>,
}

/// Event fields taken from one header line; the last such line wins as a whole.
#[derive(Default)]
struct EventLine {
    timestamp: Option<String>,
    server_id: Option<u32>,
    end_log_pos: Option<u64>,
    event_type: Option<String>,
    thread_id: Option<u64>,
    gtid: Option<String>,
}

/// Reads the comment lines at the start of `stmt` (only those: it stops at the first
/// line that is not a `#` comment, skipping blank lines) and returns the last `# at N`
/// position and the fields of the last event-header line. `None` when the statement does
/// not start with `#` or its comments contain neither.
pub fn leading_event_header(stmt: &[u8]) -> Option<EventHeader> {
    let start = stmt.iter().position(|b| !b.is_ascii_whitespace())?;
    let comments = stmt.get(start..).unwrap_or_default();
    if comments.first() != Some(&b'#') {
        return None;
    }
    let mut position = None;
    let mut event = None;
    for line in comments.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        match line.first() {
            None => continue,
            Some(b'#') => {}
            Some(_) => break,
        }
        if let Some(at) = parse_at_line(line) {
            position = Some(at);
        } else if let Some(parsed) = parse_event_line(line) {
            event = Some(parsed);
        }
    }
    if position.is_none() && event.is_none() {
        return None;
    }
    let event = event.unwrap_or_default();
    Some(EventHeader {
        position,
        timestamp: event.timestamp,
        server_id: event.server_id,
        end_log_pos: event.end_log_pos,
        event_type: event.event_type,
        thread_id: event.thread_id,
        gtid: event.gtid,
    })
}

/// `stmt` without the `#` comment lines (and blank lines) it starts with: the statement an
/// operator reads, without the event header `mariadb --comments` sends in front of it.
pub fn after_leading_comments(stmt: &[u8]) -> &[u8] {
    let mut rest = stmt;
    loop {
        let trimmed = rest.trim_ascii_start();
        if trimmed.first() != Some(&b'#') {
            return trimmed;
        }
        rest = match trimmed.iter().position(|&b| b == b'\n') {
            Some(end) => trimmed.get(end + 1..).unwrap_or_default(),
            None => &[],
        };
    }
}

/// `# at 1234`.
fn parse_at_line(line: &[u8]) -> Option<u64> {
    let rest = line
        .strip_prefix(b"#")?
        .trim_ascii_start()
        .strip_prefix(b"at ")?;
    parse_number(rest.trim_ascii())
}

/// `#YYMMDD HH:MM:SS[.ffffff] server id N  end_log_pos N [CRC32 0xNNNNNNNN] \t<event>`.
fn parse_event_line(line: &[u8]) -> Option<EventLine> {
    let date = line.get(1..7)?;
    if !date.iter().all(u8::is_ascii_digit) || line.get(7) != Some(&b' ') {
        return None;
    }
    let server_at = find(line, b" server id ")?;
    let timestamp = line.get(1..server_at)?.trim_ascii();
    let after_server = line.get(server_at + b" server id ".len()..)?;
    let mut event = EventLine {
        timestamp: Some(String::from_utf8_lossy(timestamp).into_owned()),
        server_id: leading_number(after_server).and_then(|n| u32::try_from(n).ok()),
        ..EventLine::default()
    };
    if let Some(pos_at) = find(after_server, b"end_log_pos ") {
        let after_pos = after_server.get(pos_at + b"end_log_pos ".len()..)?;
        event.end_log_pos = leading_number(after_pos);
    }
    // The event description follows the first tab; a header without one (Append_block)
    // prints its type on the next comment line, which is not a header line.
    if let Some(tab) = after_server.iter().position(|&b| b == b'\t') {
        let description = after_server.get(tab + 1..).unwrap_or_default();
        describe_event(description, &mut event);
    }
    Some(event)
}

/// Fills the type, thread and GTID from the tab-separated event description.
fn describe_event(description: &[u8], event: &mut EventLine) {
    let mut fields = description.split(|&b| b == b'\t');
    let first_field = fields.next().unwrap_or_default();
    let mut words = first_field.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let Some(first_word) = words.next() else {
        return;
    };
    let first_word = first_word.strip_suffix(b":").unwrap_or(first_word);
    let second_word = words.next();
    let two_word_type = match (first_word, second_word) {
        (b"Gtid", Some(b"list")) => Some("Gtid list"),
        (b"Binlog", Some(b"checkpoint")) => Some("Binlog checkpoint"),
        _ => None,
    };
    event.event_type = Some(match two_word_type {
        Some(name) => name.to_string(),
        None => String::from_utf8_lossy(first_word).into_owned(),
    });
    if first_word == b"GTID" {
        event.gtid = second_word
            .filter(|g| is_mariadb_gtid(g))
            .map(|g| String::from_utf8_lossy(g).into_owned());
    }
    event.thread_id = fields
        .find_map(|f| f.trim_ascii().strip_prefix(b"thread_id="))
        .and_then(parse_number);
}

/// `domain-server-sequence`, all decimal.
fn is_mariadb_gtid(text: &[u8]) -> bool {
    let mut parts = 0;
    for part in text.split(|&b| b == b'-') {
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return false;
        }
        parts += 1;
    }
    parts == 3
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The decimal number at the start of `text` (after optional spaces).
fn leading_number(text: &[u8]) -> Option<u64> {
    let text = text.trim_ascii_start();
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    parse_number(text.get(..digits)?)
}

fn parse_number(digits: &[u8]) -> Option<u64> {
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_comment_lines_are_left_out_of_the_statement() {
        let stmt = b"# at 4\n#241125 17:00:00 server id 1  end_log_pos 385\tQuery\n\nDROP TABLE t # not a header\n";
        assert_eq!(
            after_leading_comments(stmt),
            b"DROP TABLE t # not a header\n"
        );
        assert_eq!(after_leading_comments(b"# at 4\n# at 5"), b"");
        assert_eq!(after_leading_comments(b"  SELECT 1"), b"SELECT 1");
    }

    fn header(text: &str) -> EventHeader {
        leading_event_header(text.as_bytes()).unwrap()
    }

    #[test]
    fn query_event_with_crc() {
        let h = header(
            "# at 1234\n#241125 17:00:00 server id 1  end_log_pos 1385 CRC32 0x1a2b3c4d \tQuery\tthread_id=5\texec_time=0\terror_code=0\txid=0\nSET TIMESTAMP=1700000000/*!*/",
        );
        assert_eq!(
            h,
            EventHeader {
                position: Some(1234),
                timestamp: Some("241125 17:00:00".into()),
                server_id: Some(1),
                end_log_pos: Some(1385),
                event_type: Some("Query".into()),
                thread_id: Some(5),
                gtid: None,
            }
        );
    }

    #[test]
    fn mysql50_without_crc_and_padded_hour() {
        let h = header(
            "# at 98\n#070101  9:00:00 server id 7  end_log_pos 198 \tQuery\tthread_id=1\texec_time=0\terror_code=0\nuse `test`",
        );
        assert_eq!(h.position, Some(98));
        assert_eq!(h.timestamp.as_deref(), Some("070101  9:00:00"));
        assert_eq!(h.server_id, Some(7));
        assert_eq!(h.end_log_pos, Some(198));
        assert_eq!(h.event_type.as_deref(), Some("Query"));
        assert_eq!(h.thread_id, Some(1));
    }

    #[test]
    fn mariadb_gtid_events() {
        for (line, gtid) in [
            ("GTID 0-1-5 trans", "0-1-5"),
            ("GTID 0-1-5 ddl", "0-1-5"),
            ("GTID 0-1-5 cid=12 trans", "0-1-5"),
            ("GTID 10-200-300000", "10-200-300000"),
        ] {
            let text = format!(
                "# at 330\n#220420 22:18:04 server id 1  end_log_pos 372 CRC32 0x0af91ecb \t{line}\n/*M!100001 SET @@session.gtid_seq_no=5*/"
            );
            let h = header(&text);
            assert_eq!(h.event_type.as_deref(), Some("GTID"), "{line}");
            assert_eq!(h.gtid.as_deref(), Some(gtid), "{line}");
            assert_eq!(h.thread_id, None);
        }
        // MySQL's mysqlbinlog prints no GTID in the header line.
        let h = header(
            "#241125 17:00:00 server id 1  end_log_pos 1 \tGTID\tlast_committed=0\tsequence_number=1",
        );
        assert_eq!(h.event_type.as_deref(), Some("GTID"));
        assert_eq!(h.gtid, None);
    }

    #[test]
    fn last_position_and_last_header_win() {
        let h = header(concat!(
            "# at 372\n# at 476\n",
            "#220420 22:18:04 server id 1  end_log_pos 476 CRC32 0x3e5536bf \tAnnotate_rows:\n",
            "#Q> insert into outbox (topic) values ('foo')\n",
            "#220420 22:18:05 server id 2  end_log_pos 612 CRC32 0x94e9d1e6 \tTable_map: `db`.`outbox` mapped to number 38\n",
            "# at 612\n",
            "#220420 22:18:06 server id 3  end_log_pos 671 CRC32 0xefb082d6 \tWrite_rows: table id 38 flags: STMT_END_F\n",
            "\n",
            "BINLOG '\nnIZgYhMBAAAAiAAAAGQCAAAAACYAAAAAAAEACnRvZGR5X3Rlc3QABm91dGJveAAFAw/+/BEG/AP3\n# at 9999\n'",
        ));
        assert_eq!(h.position, Some(612));
        assert_eq!(h.server_id, Some(3));
        assert_eq!(h.end_log_pos, Some(671));
        assert_eq!(h.timestamp.as_deref(), Some("220420 22:18:06"));
        assert_eq!(h.event_type.as_deref(), Some("Write_rows"));
    }

    #[test]
    fn event_type_names() {
        let ty = |desc: &str| {
            let text = format!("#241125 17:00:00 server id 1  end_log_pos 9 \t{desc}");
            header(&text).event_type
        };
        assert_eq!(ty("Xid = 800").as_deref(), Some("Xid"));
        assert_eq!(ty("Gtid list []").as_deref(), Some("Gtid list"));
        assert_eq!(
            ty("Binlog checkpoint mariadb-bin.000001").as_deref(),
            Some("Binlog checkpoint")
        );
        assert_eq!(
            ty("Rotate to mysql-bin.000002  pos: 4").as_deref(),
            Some("Rotate")
        );
        assert_eq!(
            ty("Start: binlog v 4, server v 5.0.82-log created 090910 14:26:00").as_deref(),
            Some("Start")
        );
        assert_eq!(
            ty("Execute_load_query\tthread_id=2\texec_time=0").as_deref(),
            Some("Execute_load_query")
        );
        assert_eq!(ty("").as_deref(), None);
        // Append_block prints its type on a separate, non-header line.
        let h = header(
            "#080110 15:20:44 server id 1  end_log_pos 150262 \n#Append_block: file_id: 2  block_len: 17664",
        );
        assert_eq!(h.event_type, None);
        assert_eq!(h.end_log_pos, Some(150262));
    }

    #[test]
    fn fractional_seconds_and_crlf() {
        let h = header(
            "  \r\n# at 5\r\n#241125 17:00:00.123456 server id 4294967295  end_log_pos 18446744073709551615 \tQuery\tthread_id=9\r\nSELECT 1",
        );
        assert_eq!(h.position, Some(5));
        assert_eq!(h.timestamp.as_deref(), Some("241125 17:00:00.123456"));
        assert_eq!(h.server_id, Some(u32::MAX));
        assert_eq!(h.end_log_pos, Some(u64::MAX));
        assert_eq!(h.thread_id, Some(9));
    }

    #[test]
    fn no_header() {
        for text in [
            "",
            "SET TIMESTAMP=1",
            "SELECT 1 # at 5",
            "/* # at 5 */ SELECT 1",
            "# just a comment\nSELECT 1",
            "#Q> insert\nSELECT 1",
            "# at\n",
            "# at x\n",
            "#2411 17:00 server id 1\n",
        ] {
            assert_eq!(leading_event_header(text.as_bytes()), None, "{text:?}");
        }
        // Header-looking text after the first statement line does not count.
        assert_eq!(leading_event_header(b"SELECT 1\n# at 5"), None);
    }

    #[test]
    fn out_of_range_numbers_are_dropped() {
        let h = header(
            "# at 99999999999999999999\n#241125 17:00:00 server id 4294967296  end_log_pos 12 \tQuery",
        );
        assert_eq!(h.position, None);
        assert_eq!(h.server_id, None);
        assert_eq!(h.end_log_pos, Some(12));
    }
}
