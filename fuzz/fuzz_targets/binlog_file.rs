//! A binlog file read event by event and every event decoded (format descriptions of both
//! versions, query, rows, table maps, GTIDs, rotates, compressed events, checksums), as
//! `replaygate source` and `scan` read the files they are given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use replaygate::binlog::file::BinlogFile;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = BinlogFile::open(data) else {
        return;
    };
    let mut last = file.offset();
    while let Ok(Some(read)) = file.next_event() {
        assert!(read.offset >= last && (read.offset as usize) < data.len());
        last = read.offset;
        let _ = read.event.verify_checksum();
        let _ = read.event.decode(read.format);
    }
});
