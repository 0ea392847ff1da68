//! The binlog event layer over every raw binlog in the shared corpus (MySQL 5.0 to 9, MariaDB
//! 10.5, relay logs, files with and without checksums, truncated and corrupt ones): no panic,
//! every event accounted for, and the same events, positions, statements, thread ids and row
//! counts as the `mariadb-binlog` output beside each file in `decoded/`.

mod support;

use std::collections::BTreeMap;

use replaygate::binlog::{BinlogFile, EventData, EventType, FileError, OwnedTableMap};
use replaygate::binlog_text::StatementReader;
use support::corpus::{RawBinlog, corpus_dir, raw_binlogs};

/// What the decoder read of one event.
#[derive(Debug)]
struct Decoded {
    event_type: EventType,
    log_pos: u32,
    size: u32,
    thread_id: Option<u32>,
    query: Option<Vec<u8>>,
    /// Rows in the statement this event ends.
    rows: Option<u64>,
    unknown_to_mariadb: bool,
    error: Option<String>,
}

/// What mariadb-binlog printed of one event.
#[derive(Debug, Default)]
struct Printed {
    end_log_pos: Option<u64>,
    description: String,
    thread_id: Option<u32>,
    rows: Option<u64>,
    /// The text after the header: the statements mariadb-binlog wrote for the event.
    text: Vec<u8>,
}

struct Decoding {
    events: BTreeMap<u64, Decoded>,
    /// How reading stopped, when it did not reach a clean end.
    stopped: Option<String>,
    binlog_version: u16,
}

fn decode(binlog: &RawBinlog) -> Decoding {
    let mut file = BinlogFile::open(&binlog.bytes[..]).expect("starts with the magic");
    let mut events = BTreeMap::new();
    let mut tables: BTreeMap<u64, OwnedTableMap> = BTreeMap::new();
    // mariadb-binlog prints one row count per statement: the sum over its rows events, after
    // the last one (STMT_END_F).
    let mut statement_rows = 0u64;
    let stopped = loop {
        let item = match file.next_event() {
            Ok(Some(item)) => item,
            Ok(None) => break None,
            Err(e @ (FileError::Truncated { .. } | FileError::Decode { .. })) => {
                break Some(e.to_string());
            }
            Err(e) => panic!("{}: {e}", binlog.path.display()),
        };
        let header = item.event.header;
        let mut d = Decoded {
            event_type: header.event_type,
            log_pos: header.log_pos,
            size: header.event_size,
            thread_id: None,
            query: None,
            rows: None,
            unknown_to_mariadb: false,
            error: item.event.verify_checksum().err().map(|e| e.to_string()),
        };
        match item.event.decode(item.format) {
            Ok(EventData::Query(q)) => {
                d.thread_id = Some(q.thread_id);
                d.query = Some(q.query.into_owned());
            }
            Ok(EventData::TableMap(t)) => {
                let t = t.into_owned();
                tables.insert(t.table_id, t);
            }
            Ok(EventData::Rows(r)) => match tables.get(&r.table_id) {
                Some(t) => match r.count_rows(t) {
                    Ok(Some(n)) => {
                        statement_rows += n;
                        if r.ends_statement() {
                            d.rows = Some(std::mem::take(&mut statement_rows));
                        }
                        // MySQL's binary JSON (245) and MySQL 9's VECTOR (242) are types
                        // mariadb-binlog 10.11 does not know: it counts the rows of such
                        // tables as 1 (the corpus' JSON table holds Joe, Sue and Pete).
                        d.unknown_to_mariadb =
                            t.columns.iter().any(|c| matches!(c.type_code, 242 | 245));
                    }
                    Ok(None) => statement_rows = 0,
                    Err(e) => d.error = Some(e.to_string()),
                },
                None => d.error = Some(format!("no table map for table id {}", r.table_id)),
            },
            Ok(_) => {}
            Err(e) => d.error = Some(e.to_string()),
        }
        events.insert(item.offset, d);
    };
    Decoding {
        events,
        stopped,
        binlog_version: file.format().binlog_version,
    }
}

fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Reads mariadb-binlog's text: `# at N` lines, the header line of each event, `# Number of
/// rows: N` and the statements printed for it.
fn printed(text: &[u8]) -> BTreeMap<u64, Printed> {
    let mut events: BTreeMap<u64, Printed> = BTreeMap::new();
    let mut pending = Vec::new();
    let mut current: Option<u64> = None;
    for raw in text.split(|&b| b == b'\n') {
        let line = String::from_utf8_lossy(raw);
        if let Some(p) = line
            .strip_prefix("# at ")
            .and_then(|at| at.trim().parse().ok())
        {
            pending.push(p);
            current = None;
            continue;
        }
        if line.starts_with('#') && line.contains(" server id ") && line.contains("end_log_pos") {
            if pending.is_empty() {
                continue;
            }
            let position = pending.remove(0);
            let description = line
                .split('\t')
                .nth(1)
                .unwrap_or_default()
                .trim()
                .to_owned();
            let thread_id = number_after(&line, "thread_id=").map(|t| t as u32);
            events.insert(
                position,
                Printed {
                    end_log_pos: number_after(&line, "end_log_pos"),
                    description,
                    thread_id,
                    ..Printed::default()
                },
            );
            current = Some(position);
            continue;
        }
        if let Some(n) = line.strip_prefix("# Number of rows: ") {
            if let Some(e) = current.and_then(|p| events.get_mut(&p)) {
                e.rows = n.trim().parse().ok();
            }
            continue;
        }
        if line.trim_end() == "DELIMITER ;" {
            current = None;
        }
        if let Some(e) = current.and_then(|p| events.get_mut(&p)) {
            e.text.extend_from_slice(raw);
            e.text.push(b'\n');
        }
    }
    events
}

/// The last statement mariadb-binlog wrote for an event (after its `SET TIMESTAMP`s and `use`).
fn last_statement(text: &[u8]) -> Option<Vec<u8>> {
    let mut script = b"DELIMITER /*!*/;\n".to_vec();
    script.extend_from_slice(text);
    StatementReader::new(&script[..])
        .filter_map(Result::ok)
        .map(|s| s.text)
        .filter(|t| !t.starts_with(b"#") && !t.is_empty())
        .last()
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &bytes[start..end.max(start)]
}

#[test]
fn every_raw_binlog_decodes_like_mariadb_binlog_prints_it() {
    let binlogs = raw_binlogs(&corpus_dir());
    assert!(binlogs.len() >= 40, "found {} raw binlogs", binlogs.len());
    let (mut events_compared, mut statements_compared, mut rows_compared) = (0, 0, 0);
    let mut problems = Vec::new();
    for binlog in &binlogs {
        let name = binlog.path.display().to_string();
        let decoding = decode(binlog);
        let Some(decoded_path) = &binlog.decoded else {
            continue;
        };
        let text = std::fs::read(decoded_path).expect("read decoded text");
        let printed = printed(&text);
        let err_path = decoded_path.with_extension("sql.err");
        let complete = !err_path.is_file();
        if complete && decoding.stopped.is_none() {
            let ours: Vec<_> = decoding.events.keys().collect();
            let theirs: Vec<_> = printed.keys().collect();
            if ours != theirs {
                problems.push(format!(
                    "{name}: events at {ours:?}, mariadb-binlog printed {theirs:?}"
                ));
            }
        }
        for (position, p) in &printed {
            let Some(d) = decoding.events.get(position) else {
                problems.push(format!(
                    "{name}: no event at {position} ({})",
                    p.description
                ));
                continue;
            };
            events_compared += 1;
            let end =
                if decoding.binlog_version == 3 && d.event_type != EventType::FORMAT_DESCRIPTION {
                    u64::from(d.log_pos) + u64::from(d.size)
                } else {
                    u64::from(d.log_pos)
                };
            if p.end_log_pos.is_some_and(|e| e != end) {
                problems.push(format!(
                    "{name} at {position}: end_log_pos {end}, printed {:?}",
                    p.end_log_pos
                ));
            }
            if let Some(e) = &d.error
                && complete
            {
                problems.push(format!("{name} at {position} ({}): {e}", d.event_type));
            }
            if p.thread_id.is_some() && d.thread_id.is_some() && p.thread_id != d.thread_id {
                problems.push(format!(
                    "{name} at {position}: thread {:?}, printed {:?}",
                    d.thread_id, p.thread_id
                ));
            }
            if d.unknown_to_mariadb {
                // Not comparable (see `decode`).
            } else if let (Some(theirs), Some(ours)) = (p.rows, d.rows) {
                rows_compared += 1;
                if theirs != ours {
                    problems.push(format!(
                        "{name} at {position}: {ours} rows, printed {theirs}"
                    ));
                }
            } else if p.rows.is_some() && d.error.is_none() && complete {
                problems.push(format!(
                    "{name} at {position}: no row count, printed {:?}",
                    p.rows
                ));
            }
            if d.event_type == EventType::QUERY
                && let (Some(query), Some(stmt)) = (&d.query, last_statement(&p.text))
            {
                statements_compared += 1;
                if trim(query) != trim(&stmt) {
                    problems.push(format!(
                        "{name} at {position}: query {:?}, printed {:?}",
                        String::from_utf8_lossy(query),
                        String::from_utf8_lossy(&stmt)
                    ));
                }
            }
        }
    }
    eprintln!(
        "{} binlogs: {events_compared} events, {statements_compared} statements, {rows_compared} row counts compared",
        binlogs.len()
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(events_compared > 3000 && statements_compared > 500 && rows_compared > 100);
}

/// The event guard over every raw binlog of the corpus, as a stream of packets: with a policy
/// that allows everything, every event of every file mariadb-binlog reads whole goes out byte
/// for byte; the default policy withholds nothing silently (it halts or passes).
#[test]
fn every_raw_binlog_passes_the_event_guard_unchanged_when_nothing_is_withheld() {
    use bytes::BytesMut;
    use replaygate::policy::{Policy, RuleConfig};
    use replaygate::replication::{EventGuard, GuardSettings, Output};

    let rules: Vec<RuleConfig> = toml::from_str::<toml::Table>(
        "[[rule]]\nname = \"all\"\naction = \"allow\"\n",
    )
    .unwrap()["rule"]
        .clone()
        .try_into()
        .unwrap();
    let allow_all = Policy::from_config(Some(&rules)).unwrap();
    let default_policy = Policy::from_config(None).unwrap();
    let settings = GuardSettings {
        hold_bytes: 64 << 20,
        journal: true,
        mariadb_replica: false,
    };
    let (mut identical, mut halted) = (0, Vec::new());
    for binlog in raw_binlogs(&corpus_dir()) {
        let mut file = BinlogFile::open(&binlog.bytes[..]).unwrap();
        let mut packets = Vec::new();
        while let Ok(Some(item)) = file.next_event() {
            let mut p = BytesMut::from(&[0u8][..]);
            p.extend_from_slice(item.event.bytes());
            packets.push(p);
        }
        for (policy, name) in [(&allow_all, "allow-all"), (&default_policy, "default")] {
            let mut guard = EventGuard::new(settings, Default::default());
            let mut sent = Vec::new();
            let mut halt = None;
            for p in &packets {
                let mut out = Output::default();
                guard.feed(p.clone(), policy, &mut out);
                assert!(out.withheld.is_empty(), "{name} withholds nothing");
                sent.extend(out.send);
                halt = halt.or(out.halt);
            }
            match halt {
                None => {
                    // A file that ends inside a transaction keeps its last group held.
                    let whole = packets.len() - guard.held_events();
                    assert_eq!(sent, packets[..whole], "{}: {name}", binlog.path.display());
                    identical += 1;
                }
                Some(h) => {
                    assert_eq!(sent[..], packets[..sent.len()], "{}", binlog.path.display());
                    halted.push(format!(
                        "{} ({name}): {}",
                        binlog.path.display(),
                        h.message()
                    ));
                }
            }
        }
    }
    eprintln!(
        "{identical} streams passed whole; halted:\n{}",
        halted.join("\n")
    );
    assert!(identical >= 80, "{identical}");
}
