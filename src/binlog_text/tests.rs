//! Tests of [`StatementReader`] on snippets of real mariadb-binlog and mysqldump output
//! (copied here so the tests need nothing outside the repository).

use super::*;
use crate::random_input::XorShift;

/// Reads `input` through a reader that hands out `chunk` bytes at a time, so every
/// statement boundary also falls across chunk boundaries somewhere.
fn read_chunked(input: &[u8], chunk: usize) -> Vec<TextStatement> {
    let reader = io::BufReader::with_capacity(chunk, input);
    StatementReader::new(reader)
        .collect::<io::Result<Vec<_>>>()
        .expect("in-memory input cannot fail")
}

/// The statements of `input` (as lossy strings), checked to be the same whatever the
/// chunk size, and to be the exact input ranges their offsets say.
fn read(input: &[u8]) -> Vec<String> {
    let whole = read_chunked(input, 1 << 16);
    for chunk in [1, 2, 3, 5, 7, 64] {
        assert_eq!(read_chunked(input, chunk), whole, "chunk size {chunk}");
    }
    for statement in &whole {
        let start = statement.offset as usize;
        assert_eq!(&input[start..start + statement.text.len()], statement.text);
        let line = 1 + input[..start].iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(statement.line, line, "line of {:?}", statement.text);
    }
    whole
        .iter()
        .map(|s| String::from_utf8_lossy(&s.text).into_owned())
        .collect()
}

/// The start of `mariadb-binlog` output of a 5.0 binlog (rust_mysql_common's
/// binlog_transaction.000001, decoded by mariadb-binlog 10.11).
const BINLOG_HEAD: &str = "\
/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/;
/*!40019 SET @@session.max_delayed_threads=0*/;
/*!50003 SET @OLD_COMPLETION_TYPE=@@COMPLETION_TYPE,COMPLETION_TYPE=0*/;
DELIMITER /*!*/;
# at 4
#090924  9:03:56 server id 1  end_log_pos 98 \tStart: binlog v 4, server v 5.0.86-debug-log created 090924  9:03:56 at startup
ROLLBACK/*!*/;
BINLOG '
/DW7Sg8BAAAAXgAAAGIAAAAAAAQANS4wLjg2LWRlYnVnLWxvZwAAAAAAAAAAAAAAAAAAAAAAAAAA
AAAAAAAAAAAAAAAAAAD8NbtKEzgNAAgAEgAEBAQEEgAASwAEGg==
'/*!*/;
# at 98
#090924  9:03:57 server id 1  end_log_pos 198 \tQuery\tthread_id=1\texec_time=0\terror_code=0\txid=0
use `test`/*!*/;
SET TIMESTAMP=1253783037/*!*/;
SET @@session.pseudo_thread_id=1/*!*/;
/*!\\C latin1 *//*!*/;
SET @@session.character_set_client=latin1,@@session.collation_connection=8,@@session.collation_server=8/*!*/;
create table t1(a int) engine= innodb
/*!*/;
# at 553
#090924  9:03:57 server id 1  end_log_pos 580 \tXid = 11
COMMIT/*!*/;
# at 1626
#090924  9:03:57 server id 1  end_log_pos 1670 \tRotate to master-bin.000002  pos: 4
DELIMITER ;
# End of log file
ROLLBACK /* added by mysqlbinlog */;
/*!50003 SET COMPLETION_TYPE=@OLD_COMPLETION_TYPE*/;
/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=0*/;
";

#[test]
fn mariadb_binlog_output() {
    let statements = read(BINLOG_HEAD.as_bytes());
    let header = "#090924  9:03:57 server id 1  end_log_pos 198 \tQuery\tthread_id=1\texec_time=0\terror_code=0\txid=0";
    assert_eq!(
        statements,
        vec![
            "/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=1*/".to_string(),
            "/*!40019 SET @@session.max_delayed_threads=0*/".into(),
            "/*!50003 SET @OLD_COMPLETION_TYPE=@@COMPLETION_TYPE,COMPLETION_TYPE=0*/".into(),
            "# at 4\n#090924  9:03:56 server id 1  end_log_pos 98 \tStart: binlog v 4, server v 5.0.86-debug-log created 090924  9:03:56 at startup\nROLLBACK".into(),
            "BINLOG '\n/DW7Sg8BAAAAXgAAAGIAAAAAAAQANS4wLjg2LWRlYnVnLWxvZwAAAAAAAAAAAAAAAAAAAAAAAAAA\nAAAAAAAAAAAAAAAAAAD8NbtKEzgNAAgAEgAEBAQEEgAASwAEGg==\n'".into(),
            format!("# at 98\n{header}\nuse `test`"),
            "SET TIMESTAMP=1253783037".into(),
            "SET @@session.pseudo_thread_id=1".into(),
            "/*!\\C latin1 */".into(),
            "SET @@session.character_set_client=latin1,@@session.collation_connection=8,@@session.collation_server=8".into(),
            "create table t1(a int) engine= innodb".into(),
            "# at 553\n#090924  9:03:57 server id 1  end_log_pos 580 \tXid = 11\nCOMMIT".into(),
            // Comments before a DELIMITER line go out alone, as the client sends them.
            "# at 1626\n#090924  9:03:57 server id 1  end_log_pos 1670 \tRotate to master-bin.000002  pos: 4".into(),
            "# End of log file\nROLLBACK /* added by mysqlbinlog */".into(),
            "/*!50003 SET COMPLETION_TYPE=@OLD_COMPLETION_TYPE*/".into(),
            "/*!50530 SET @@SESSION.PSEUDO_SLAVE_MODE=0*/".into(),
        ]
    );
}

#[test]
fn event_headers_stay_readable() {
    let statements = read_chunked(BINLOG_HEAD.as_bytes(), 16);
    let use_test = statements
        .iter()
        .find(|s| s.text.ends_with(b"use `test`"))
        .unwrap();
    let header = crate::sql::leading_event_header(&use_test.text).unwrap();
    assert_eq!(header.position, Some(98));
    assert_eq!(header.end_log_pos, Some(198));
    assert_eq!(header.thread_id, Some(1));
    assert_eq!(use_test.line, 12);
}

#[test]
fn delimiter_changes_and_quotes_holding_the_delimiter() {
    let text = "\
DELIMITER ;;
CREATE PROCEDURE p() BEGIN SELECT 'a;;b'; SELECT `c;;d`; /* ;; */ SELECT 1; END ;;
delimiter $$
SELECT \"x$$y\" -- $$ in a comment
, 2 $$
DELIMITER ;
SELECT 3;
";
    assert_eq!(
        read(text.as_bytes()),
        vec![
            "CREATE PROCEDURE p() BEGIN SELECT 'a;;b'; SELECT `c;;d`; /* ;; */ SELECT 1; END",
            "SELECT \"x$$y\" -- $$ in a comment\n, 2",
            "SELECT 3",
        ]
    );
}

#[test]
fn delimiter_command_details() {
    // Quoted argument, trailing text, and the client's refusals (empty, backslash).
    let text =
        "DELIMITER '//' ignored\nSELECT 1//\nDELIMITER\nSELECT 2//\nDELIMITER a\\b\nSELECT 3//";
    assert_eq!(
        read(text.as_bytes()),
        vec!["SELECT 1", "SELECT 2", "SELECT 3"]
    );
    let mut reader = StatementReader::new(&b"  delimiter $$\n"[..]);
    assert!(reader.next().is_none());
    assert_eq!(reader.delimiter(), b"$$");
    // Not a command: mid-statement, or glued to the delimiter.
    assert_eq!(
        read(b"SELECT 1,\nDELIMITER ;\nSELECT 2;DELIMITER;"),
        vec!["SELECT 1,\nDELIMITER", "SELECT 2", "DELIMITER"]
    );
}

#[test]
fn multi_line_statements_and_versioned_comments() {
    let text = "\
/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;
CREATE TABLE `actor` (
  `actor_id` smallint unsigned NOT NULL,
  PRIMARY KEY (`actor_id`)
) ENGINE=InnoDB;
/*!40000 ALTER TABLE `actor` DISABLE KEYS */;
/*!40101 SET a=1; SET b=2 */;
";
    assert_eq!(
        read(text.as_bytes()),
        vec![
            "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */",
            "CREATE TABLE `actor` (\n  `actor_id` smallint unsigned NOT NULL,\n  PRIMARY KEY (`actor_id`)\n) ENGINE=InnoDB",
            "/*!40000 ALTER TABLE `actor` DISABLE KEYS */",
            // The client splits inside versioned comments: they are code to it.
            "/*!40101 SET a=1",
            "SET b=2 */",
        ]
    );
}

#[test]
fn mysqldump_comments_lead_the_next_statement() {
    let text = "\
-- MySQL dump 10.13  Distrib 8.0.36
--
-- Host: localhost    Database: sakila
-- ------------------------------------------------------

/*!40101 SET NAMES utf8mb4 */;

--
-- Table structure for table `actor`
--

DROP TABLE IF EXISTS `actor`;
/* a block comment */ SELECT 1;
--comment without a space at a statement start
SELECT 2;
SELECT 3 --not a comment here
;
";
    assert_eq!(
        read(text.as_bytes()),
        vec![
            "-- MySQL dump 10.13  Distrib 8.0.36\n--\n-- Host: localhost    Database: sakila\n-- ------------------------------------------------------\n\n/*!40101 SET NAMES utf8mb4 */",
            "--\n-- Table structure for table `actor`\n--\n\nDROP TABLE IF EXISTS `actor`",
            "/* a block comment */ SELECT 1",
            "--comment without a space at a statement start\nSELECT 2",
            "SELECT 3 --not a comment here",
        ]
    );
}

#[test]
fn use_lines_and_client_charset() {
    let text = "use shop\nSELECT 1;\nUSE `a b` \r\n# at 4\nuse x;\n";
    assert_eq!(
        read(text.as_bytes()),
        vec!["use shop", "SELECT 1", "USE `a b`", "# at 4\nuse x"]
    );
}

#[test]
fn final_statement_without_delimiter() {
    assert_eq!(
        read(b"SELECT 1;\nSELECT 2\n\n"),
        vec!["SELECT 1", "SELECT 2"]
    );
    assert_eq!(
        read(b"SELECT 1; # trailing\n"),
        vec!["SELECT 1", "# trailing"]
    );
    assert_eq!(
        read(b"SELECT 'unterminated;"),
        vec!["SELECT 'unterminated;"]
    );
    assert_eq!(read(b"SELECT 1 /* open;"), vec!["SELECT 1 /* open;"]);
    assert_eq!(read(b""), Vec::<String>::new());
    assert_eq!(read(b" \n\t;\n;;\n"), Vec::<String>::new());
}

#[test]
fn crlf_line_endings() {
    let text = b"DELIMITER /*!*/;\r\n# at 4\r\nSET TIMESTAMP=1/*!*/;\r\nINSERT INTO t VALUES ('a\r\nb')\r\n/*!*/;\r\nDELIMITER ;\r\nSELECT 1;\r\n";
    let statements = read_chunked(text, 3);
    let texts: Vec<&[u8]> = statements.iter().map(|s| s.text.as_slice()).collect();
    assert_eq!(
        texts,
        vec![
            b"# at 4\r\nSET TIMESTAMP=1".as_slice(),
            b"INSERT INTO t VALUES ('a\r\nb')",
            b"SELECT 1",
        ]
    );
    assert_eq!(statements[2].line, 8);
    read(text);
}

#[test]
fn invalid_utf8_and_binary_bytes() {
    let text = b"INSERT INTO t VALUES (_binary'\xff\x00;\\'\xfe');\nSELECT '\xe9t\xe9';\xff\xfe;";
    let statements = read_chunked(text, 4);
    let texts: Vec<&[u8]> = statements.iter().map(|s| s.text.as_slice()).collect();
    assert_eq!(
        texts,
        vec![
            b"INSERT INTO t VALUES (_binary'\xff\x00;\\'\xfe')".as_slice(),
            b"SELECT '\xe9t\xe9'",
            b"\xff\xfe",
        ]
    );
    read(text);
}

#[test]
fn multi_byte_client_charsets() {
    // 0x95 0x5c is one gbk character whose second byte is a backslash: with `\C gbk` the
    // quote after it closes the string; in latin1 it would be escaped.
    let text = b"/*!\\C gbk *//*!*/;\nSELECT '\x95\\';\nSELECT 2;";
    let statements = read_chunked(text, 5);
    let texts: Vec<&[u8]> = statements.iter().map(|s| s.text.as_slice()).collect();
    assert_eq!(
        texts,
        vec![
            b"/*!\\C gbk *//*!*/".as_slice(),
            b"SELECT '\x95\\'",
            b"SELECT 2"
        ]
    );
    let latin1 = read_chunked(&text[19..], 5);
    assert_eq!(latin1.len(), 1, "in latin1 the quote is escaped");
    let reader =
        StatementReader::new(&b"SELECT '\x95\\';SELECT 2;"[..]).with_client_charset("sjis");
    assert_eq!(reader.count(), 2);
}

#[test]
fn a_byte_that_leads_no_character_is_read_alone() {
    // In sjis B1 is a character of its own (half-width katakana): the backtick after it closes
    // the identifier and the backslash after it escapes, as the server reads them; in gbk B1 60
    // is one character and the identifier goes on.
    let drop_seen = |charset: &str, text: &'static [u8]| {
        StatementReader::new(text)
            .with_client_charset(charset)
            .any(|s| s.unwrap().text == b"DROP TABLE t")
    };
    assert!(drop_seen("sjis", b"SELECT `\xb1`; DROP TABLE t; -- `\n"));
    assert!(!drop_seen("gbk", b"SELECT `\xb1`; DROP TABLE t; -- `\n"));
    assert!(drop_seen(
        "sjis",
        b"SELECT '\xb1\\' ' ; DROP TABLE t; -- '\n"
    ));
    // gb18030's four-byte form (81 30 81 30) split across reads is still one character.
    let four = b"SELECT '\x81\x30\x81\x30'; SELECT 2;";
    for chunk in 1..6 {
        let reader = StatementReader::new(std::io::BufReader::with_capacity(chunk, &four[..]))
            .with_client_charset("gb18030");
        assert_eq!(reader.count(), 2, "chunk {chunk}");
    }
}

#[test]
fn byte_order_mark_is_skipped() {
    let statements = read_chunked(b"\xef\xbb\xbfSELECT 1;", 2);
    assert_eq!(statements[0].text, b"SELECT 1");
    assert_eq!(statements[0].offset, 3);
}

#[test]
fn big_statement_is_moved_not_copied() {
    let mut text = b"SELECT 0;\nINSERT INTO t VALUES ".to_vec();
    for i in 0..100_000 {
        text.extend_from_slice(format!("({i},'x;y'),").as_bytes());
    }
    text.extend_from_slice(b"(0,'end');\nSELECT 2;");
    let statements = read_chunked(&text, 8192);
    assert_eq!(statements.len(), 3);
    assert!(
        statements[1]
            .text
            .starts_with(b"INSERT INTO t VALUES (0,'x;y')")
    );
    assert!(statements[1].text.ends_with(b"(0,'end')"));
    assert_eq!(statements[1].offset, 10);
    assert_eq!(statements[2].text, b"SELECT 2");
    assert_eq!(statements[2].line, 3);
}

#[test]
fn bytes_read_and_binary_binlog_magic() {
    let mut reader = StatementReader::new(&b"SELECT 1;\nSELECT 2;\n"[..]);
    assert_eq!(reader.bytes_read(), 0);
    reader.next();
    assert!(reader.bytes_read() >= 9);
    reader.by_ref().for_each(drop);
    assert_eq!(reader.bytes_read(), 20);
    assert!(looks_like_binary_binlog(b"\xfebin\x04\x00\x00\x00"));
    assert!(!looks_like_binary_binlog(b"/*!50530 SET"));
    assert!(!looks_like_binary_binlog(b"\xfeb"));
}

#[test]
fn read_errors_are_reported() {
    struct Failing;
    impl io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let mut reader = StatementReader::new(io::BufReader::new(Failing));
    let error = reader.next().unwrap().unwrap_err();
    assert_eq!(error.to_string(), "disk on fire");
}

#[test]
fn random_input_is_split_the_same_whatever_the_chunking() {
    const FRAGMENTS: &[&[u8]] = &[
        b";",
        b";;",
        b"'",
        b"\"",
        b"`",
        b"\\",
        b"/*",
        b"*/",
        b"/*!",
        b"/*M!",
        b"#",
        b"--",
        b"-- ",
        b"\n",
        b"\r\n",
        b"DELIMITER ;;\n",
        b"DELIMITER ;\n",
        b"delimiter /*!*/;\n",
        b"/*!*/;",
        b"use db\n",
        b"\\C gbk ",
        b"\\C latin1 ",
        b"\x95",
        b"\xff",
        b" ",
        b"SELECT 1",
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..400 {
        let mut text = Vec::new();
        for _ in 0..rng.next() % 40 {
            if rng.next().is_multiple_of(5) {
                text.push(rng.next() as u8);
            } else {
                text.extend_from_slice(FRAGMENTS[(rng.next() % FRAGMENTS.len() as u64) as usize]);
            }
        }
        read(&text);
    }
}
