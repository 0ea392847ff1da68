//! One test per input the fuzzers (`fuzz/`) found: each fails on the code before its fix, by a
//! panic or by memory the input only claimed it needed. The inputs are rebuilt here by hand,
//! smallest form, so that the test says what was wrong with them.

use std::io::Read;

use replaygate::binlog::file::{BinlogFile, FileError};
use replaygate::protocol::handshake::patch_greeting;

/// A reader that remembers the largest buffer it was asked to fill: the memory a reader of it
/// had set aside before it knew how much would come.
struct Watched<'a> {
    bytes: &'a [u8],
    largest_request: usize,
}

impl Read for Watched<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.largest_request = self.largest_request.max(buf.len());
        self.bytes.read(buf)
    }
}

/// `binlog_file`, out of memory: an event header whose size field said 1 GiB in a file of a
/// few bytes made the reader allocate (and zero) the whole gigabyte before finding the file
/// short. A corrupt binlog given to `source` or `scan` could take the machine's memory.
#[test]
fn an_event_size_the_file_does_not_hold_is_not_allocated() {
    let mut file = b"\xfebin".to_vec();
    let mut header = [0u8; 19];
    header[4] = 15; // format description
    header[9..13].copy_from_slice(&(1u32 << 30).to_le_bytes());
    file.extend_from_slice(&header);
    file.extend_from_slice(b"\x04\x0010.11.19-MariaDB");

    let mut input = Watched {
        bytes: &file,
        largest_request: 0,
    };
    let mut binlog = BinlogFile::open(&mut input).unwrap();
    match binlog.next_event() {
        Err(FileError::Truncated {
            offset: 4,
            needed,
            available,
        }) => {
            assert_eq!(needed, 1 << 30);
            assert_eq!(available as usize, file.len() - 4);
        }
        other => panic!("expected a truncated event, got {other:?}"),
    }
    drop(binlog);
    assert!(
        input.largest_request < 1 << 20,
        "the reader set aside {} bytes for an event of {} in the file",
        input.largest_request,
        file.len() - 4
    );
}

/// A server greeting as MariaDB sends it, with the given version and scramble-length byte.
fn greeting(version: &str, scramble_len: u8) -> Vec<u8> {
    let mut greeting = vec![10];
    greeting.extend_from_slice(version.as_bytes());
    greeting.push(0);
    greeting.extend_from_slice(&7u32.to_le_bytes()); // connection id
    greeting.extend_from_slice(b"abcdefgh\0"); // scramble part 1 and filler
    greeting.extend_from_slice(&0xf7feu16.to_le_bytes()); // capabilities, low half
    greeting.push(45); // collation
    greeting.extend_from_slice(&2u16.to_le_bytes()); // status
    greeting.extend_from_slice(&0x81ffu16.to_le_bytes()); // capabilities, high half
    greeting.push(scramble_len);
    greeting.extend_from_slice(&[0; 6]);
    greeting.extend_from_slice(&[0; 4]); // MariaDB capabilities
    greeting.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
    greeting
}

/// `handshake`, a panic: a greeting whose scramble-length byte is 0x80 or more overflowed
/// inside mysql_common's parser (`length as i8 - 8`) in builds with overflow checks, the
/// debug builds the tests run. It is a malformed greeting, refused as one.
#[test]
fn a_greeting_with_a_scramble_length_over_127_is_refused_as_malformed() {
    let error = patch_greeting(&mut greeting("10.11.19-MariaDB", 0x83), false).unwrap_err();
    assert_eq!(error.to_string(), "malformed server greeting packet");

    // The same greeting with the length a server sends is read.
    let parsed = patch_greeting(&mut greeting("10.11.19-MariaDB", 21), false).unwrap();
    assert_eq!(parsed.version, "10.11.19-MariaDB");
    assert_eq!(parsed.connection_id, 7);
}

/// `handshake`, a panic: mysql_common's version parser matches Unicode digits (`\d`) and then
/// unwraps their conversion as ASCII, so a version such as `4.5.5߀` (an NKo digit) panicked.
/// The version is now read by replaygate's own parser, which stops at what is not ASCII.
#[test]
fn a_greeting_version_with_a_non_ascii_digit_is_read_as_far_as_it_goes() {
    let parsed = patch_greeting(&mut greeting("4.5.5\u{7c0}-log", 21), false).unwrap();
    assert_eq!(parsed.version_number, 40505);

    // MariaDB's compatibility prefix is skipped, as before.
    let parsed = patch_greeting(&mut greeting("5.5.5-10.11.19-MariaDB-log", 21), false).unwrap();
    assert!(parsed.is_mariadb);
    assert_eq!(parsed.version_number, 101119);
}

/// `event_guard`, a panic: a format description whose server version is a ten-digit number
/// (`4294967295.1.1`) overflowed `major * 10000` where the guard sets the lexer's target
/// version. Versions are now clamped part by part; the stream goes on being judged.
#[test]
fn a_format_description_with_an_absurd_version_is_passed_on_not_a_panic() {
    use bytes::BytesMut;
    use replaygate::binlog::event_type::EventType;
    use replaygate::binlog::{ChecksumAlg, write};
    use replaygate::policy::Policy;
    use replaygate::replication::{EventGuard, GuardSettings, Output};

    let mut body = 4u16.to_le_bytes().to_vec();
    let mut version = b"4294967295.1.1-MariaDB-log".to_vec();
    version.resize(50, 0);
    body.extend_from_slice(&version);
    body.extend_from_slice(&0u32.to_le_bytes());
    body.push(19);
    body.extend_from_slice(&[0; 171]);
    body.push(ChecksumAlg::Off.byte());
    let event = write::event(
        EventType::FORMAT_DESCRIPTION,
        1,
        0,
        4,
        0,
        &body,
        ChecksumAlg::Off,
    );
    let mut packet = BytesMut::from(&[0u8][..]);
    packet.extend_from_slice(&event);

    let settings = GuardSettings {
        hold_bytes: 1 << 20,
        journal: false,
        mariadb_replica: true,
    };
    let mut guard = EventGuard::new(settings, Default::default());
    let mut out = Output::default();
    guard.feed(packet, &Policy::from_config(None).unwrap(), &mut out);
    assert!(out.halt.is_none(), "{:?}", out.halt);
    assert_eq!(out.send.len(), 1, "the format description is passed on");
}
