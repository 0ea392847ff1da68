//! Where a replica's dump starts in the files, and where `--stop-*` ends it.
//!
//! By file and position (`MASTER_USE_GTID = no`): the file must be one of the files and the
//! position an event's start in it. By GTID (the replica's `@slave_connect_state`): the first
//! transaction after the replica's GTID of its domain; a GTID the files do not hold is refused
//! as a primary refuses it (ERR 1236), never silently rounded.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;

use crate::binlog::{BinlogFile, EventData, MariaGtid};

use super::binlogs::BinlogSet;

/// Where a dump starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    /// Index of the file in the set.
    pub file: usize,
    /// An event's start in it (4: the file's first event after the format description).
    pub offset: u64,
    /// Positioned by GTID: a fake GTID list tells the replica where the stream resumes.
    pub by_gtid: bool,
}

/// Where the files' events stop being served.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StopAt {
    /// Nothing from this position of this file on (nor the transaction it falls in).
    pub position: Option<(String, u64)>,
    /// Nothing of this time or later (seconds since the epoch, UTC), nor the transaction an
    /// event of that time falls in.
    pub datetime: Option<u32>,
    /// After this transaction.
    pub gtid: Option<MariaGtid>,
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) as seconds since the epoch.
pub fn parse_datetime(text: &str) -> Result<u32, String> {
    let bad = || format!("{text:?} is not a date and time as YYYY-MM-DD HH:MM:SS");
    let (date, time) = text.trim().split_once([' ', 'T']).ok_or_else(bad)?;
    let numbers = |s: &str, sep: char| -> Result<Vec<i64>, String> {
        s.split(sep)
            .map(|p| p.parse::<i64>().map_err(|_| bad()))
            .collect()
    };
    let (d, t) = (numbers(date, '-')?, numbers(time, ':')?);
    let ([y, m, day], [hh, mm, ss]) = (
        d[..].try_into().map_err(|_| bad())?,
        t[..].try_into().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u32::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss)
        .map_err(|_| format!("{text:?} is outside the binlog's time range"))
}

/// `FILE:POS`.
pub fn parse_position(text: &str) -> Result<(String, u64), String> {
    let (file, pos) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} is not FILE:POSITION (e.g. binlog.000042:1234)"))?;
    let pos = pos
        .parse()
        .map_err(|_| format!("{text:?}: {pos:?} is not a position"))?;
    Ok((file.to_owned(), pos))
}

fn reader(set: &BinlogSet, file: usize) -> Result<BinlogFile<BufReader<File>>, String> {
    let info = &set.files[file];
    let open = File::open(&info.path).map_err(|e| format!("cannot open {}: {e}", info.name))?;
    BinlogFile::open(BufReader::with_capacity(256 * 1024, open))
        .map_err(|e| format!("cannot read {}: {e}", info.name))
}

/// The start for `MASTER_LOG_FILE` / `MASTER_LOG_POS` (an empty file name: the first file).
pub fn by_file(set: &BinlogSet, name: &str, position: u64) -> Result<Start, String> {
    let file = if name.is_empty() {
        0
    } else {
        set.find(name).ok_or_else(|| {
            format!(
                "Could not find first log file name in binary log index file: {name} is not among \
                 the files replaygate serves ({} .. {})",
                set.files[0].name,
                set.last().name
            )
        })?
    };
    let info = &set.files[file];
    if position < 4 || position > info.end {
        return Err(format!(
            "Client requested master to start replication from impossible position {position} in \
             {} (its events end at {})",
            info.name, info.end
        ));
    }
    if position > 4 && position < info.end {
        let mut reader = reader(set, file)?;
        while let Ok(Some(e)) = reader.next_event() {
            let end = e.offset + u64::from(e.event.header.event_size);
            if e.offset == position {
                break;
            }
            if e.offset < position && position < end {
                return Err(format!(
                    "Client requested master to start replication from position {position} of {}, \
                     which is inside the event at {} ({} bytes): replicate from {} or {end}",
                    info.name, e.offset, e.event.header.event_size, e.offset
                ));
            }
        }
    }
    Ok(Start {
        file,
        offset: position,
        by_gtid: false,
    })
}

/// The start after the replica's GTID `state`: the first transaction none of whose domain's
/// GTIDs the replica has.
pub fn by_gtid(set: &BinlogSet, state: &[MariaGtid]) -> Result<Start, String> {
    let wanted: BTreeMap<u32, MariaGtid> = state.iter().map(|g| (g.domain_id, *g)).collect();
    let known_domains: Vec<u32> = set
        .files
        .iter()
        .flat_map(|f| f.gtid_end.keys().copied())
        .collect();
    // The replica's GTID of each domain must be in the files (or be where they start).
    let mut found: BTreeMap<u32, bool> = wanted
        .keys()
        .filter(|d| known_domains.contains(d))
        .map(|d| (*d, false))
        .collect();
    for g in &set.files[0].gtid_list {
        if let Some(w) = wanted.get(&g.domain_id) {
            if w.seq_no < g.seq_no {
                return Err(format!(
                    "Error: connecting slave requested to start from GTID {w}, which is not in the \
                     master's binlog: the files start after it (at {g}); give the earlier binlog files"
                ));
            }
            if w.seq_no == g.seq_no {
                found.insert(g.domain_id, true);
            }
        }
    }
    let missing = |w: &MariaGtid| {
        format!(
            "Error: connecting slave requested to start from GTID {w}, which is not in the \
             master's binlog (the files replaygate serves)"
        )
    };
    for file in 0..set.files.len() {
        let mut reader = reader(set, file)?;
        while let Ok(Some(e)) = reader.next_event() {
            let Ok(EventData::Gtid(g)) = e.event.decode(e.format) else {
                continue;
            };
            let covered = match wanted.get(&g.gtid.domain_id) {
                Some(w) if g.gtid.seq_no <= w.seq_no => {
                    if g.gtid == *w {
                        found.insert(w.domain_id, true);
                    }
                    true
                }
                Some(w) if !found.get(&w.domain_id).copied().unwrap_or(true) => {
                    return Err(missing(w));
                }
                _ => false,
            };
            if !covered {
                if let Some((d, _)) = found.iter().find(|(_, seen)| !**seen) {
                    return Err(missing(&wanted[d]));
                }
                return Ok(Start {
                    file,
                    offset: e.offset,
                    by_gtid: true,
                });
            }
        }
    }
    if let Some((d, _)) = found.iter().find(|(_, seen)| !**seen) {
        return Err(missing(&wanted[d]));
    }
    let last = set.files.len() - 1;
    Ok(Start {
        file: last,
        offset: set.files[last].end,
        by_gtid: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_points_parse_or_say_why_not() {
        assert_eq!(parse_datetime("1970-01-01 00:00:00"), Ok(0));
        assert_eq!(parse_datetime("2026-12-02 15:04:05"), Ok(1_796_223_845));
        assert_eq!(parse_datetime("2000-02-29 23:59:59"), Ok(951_868_799));
        assert!(parse_datetime("2026-13-01 00:00:00").is_err());
        assert!(parse_datetime("yesterday").is_err());
        assert_eq!(
            parse_position("binlog.000042:1234"),
            Ok(("binlog.000042".to_owned(), 1234))
        );
        assert!(parse_position("binlog.000042").is_err());
    }
}
