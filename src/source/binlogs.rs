//! The saved binlog files `replaygate source` serves, read through once before any replica
//! connects: each must be a binlog, the files must follow one another (each one's closing
//! rotate names the next, or the GTID state carries on), and only the last may end inside an
//! event (the primary crashed while writing it). What a replica will need to know of them —
//! server ids, checksum, GTID states, sizes — is kept; their events are not.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use crate::binlog::{BinlogFile, ChecksumAlg, EventData, FileError, MariaGtid};

/// Why the files cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum BinlogSetError {
    #[error("no binlog files given")]
    Empty,
    #[error("cannot open {path}: {source}")]
    Open { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: FileError },
    #[error("{path} has no format description event at its start: not a binlog v4 file")]
    NoFormat { path: PathBuf },
    #[error(
        "{path}: the event at {offset} has a wrong checksum ({error}); serve the files up to it with \
         --stop-position {name}:{offset}"
    )]
    Checksum {
        path: PathBuf,
        name: String,
        offset: u64,
        error: String,
    },
    #[error(
        "{path} is not the last file but ends inside an event at {offset}: it is damaged (only the \
         last file of a crashed primary may be cut short)"
    )]
    TruncatedInside { path: PathBuf, offset: u64 },
    #[error(
        "gap between files: {previous} ends with a rotate to {expected}, but the next file given is \
         {next}; give every file from the first to the last, in order"
    )]
    Gap {
        previous: String,
        expected: String,
        next: String,
    },
    #[error(
        "gap between files: {previous} ends without a rotate, and the GTID state at its end ({end}) \
         is not where {next} starts ({start})"
    )]
    GtidGap {
        previous: String,
        next: String,
        end: String,
        start: String,
    },
    #[error("{name} is given twice")]
    Duplicate { name: String },
}

/// Where a file ends short of a whole event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// Where the cut event starts: the file's usable end.
    pub offset: u64,
    pub needed: u64,
    pub available: u64,
}

/// What is known of one file.
#[derive(Debug, Clone)]
pub struct BinlogInfo {
    pub path: PathBuf,
    /// The name the primary gave it (rotate events and replicas use it).
    pub name: String,
    /// The end of the last whole event.
    pub end: u64,
    pub server_version: String,
    /// The server that wrote the file (its format description's server id).
    pub server_id: u32,
    pub checksum: ChecksumAlg,
    /// The GTID state at the file's start (MariaDB's GTID list event).
    pub gtid_list: Vec<MariaGtid>,
    /// The last GTID of each domain at the file's end (start state included).
    pub gtid_end: BTreeMap<u32, MariaGtid>,
    /// The file a closing rotate names.
    pub rotate_to: Option<String>,
    pub truncated: Option<Truncation>,
    pub events: u64,
    pub first_timestamp: Option<u32>,
    pub last_timestamp: Option<u32>,
}

/// The files, in the order they are served.
#[derive(Debug, Clone)]
pub struct BinlogSet {
    pub files: Vec<BinlogInfo>,
    /// Every server id an event of the files carries: a replica with one of them would skip
    /// those events as its own.
    pub server_ids: BTreeSet<u32>,
}

impl BinlogSet {
    /// Reads every file through and checks that they can be served as one binlog.
    pub fn open(paths: &[PathBuf]) -> Result<BinlogSet, BinlogSetError> {
        if paths.is_empty() {
            return Err(BinlogSetError::Empty);
        }
        let mut files: Vec<BinlogInfo> = Vec::with_capacity(paths.len());
        let mut server_ids = BTreeSet::new();
        for (i, path) in paths.iter().enumerate() {
            let is_last = i + 1 == paths.len();
            let info = read_info(path, &mut server_ids, files.last())?;
            if files.iter().any(|f| f.name == info.name) {
                return Err(BinlogSetError::Duplicate { name: info.name });
            }
            if let (Some(t), false) = (info.truncated, is_last) {
                return Err(BinlogSetError::TruncatedInside {
                    path: path.clone(),
                    offset: t.offset,
                });
            }
            if let Some(previous) = files.last() {
                check_continuity(previous, &info)?;
            }
            files.push(info);
        }
        Ok(BinlogSet { files, server_ids })
    }

    /// The file named `name`, by index.
    pub fn find(&self, name: &str) -> Option<usize> {
        self.files.iter().position(|f| f.name == name)
    }

    /// The server id replaygate presents as its own: the first file's writer.
    pub fn server_id(&self) -> u32 {
        self.files[0].server_id
    }

    pub fn last(&self) -> &BinlogInfo {
        self.files.last().expect("a binlog set is never empty")
    }
}

fn read_info(
    path: &Path,
    server_ids: &mut BTreeSet<u32>,
    previous: Option<&BinlogInfo>,
) -> Result<BinlogInfo, BinlogSetError> {
    let open = File::open(path).map_err(|source| BinlogSetError::Open {
        path: path.to_owned(),
        source,
    })?;
    let read_err = |source| BinlogSetError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file =
        BinlogFile::open(BufReader::with_capacity(256 * 1024, open)).map_err(read_err)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut info = BinlogInfo {
        path: path.to_owned(),
        name,
        end: 4,
        server_version: String::new(),
        server_id: 0,
        checksum: ChecksumAlg::Off,
        gtid_list: Vec::new(),
        gtid_end: previous.map(|p| p.gtid_end.clone()).unwrap_or_default(),
        rotate_to: None,
        truncated: None,
        events: 0,
        first_timestamp: None,
        last_timestamp: None,
    };
    loop {
        let item = match file.next_event() {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(FileError::Truncated {
                offset,
                needed,
                available,
            }) => {
                info.truncated = Some(Truncation {
                    offset,
                    needed,
                    available,
                });
                break;
            }
            Err(e) => return Err(read_err(e)),
        };
        let header = item.event.header;
        if info.events == 0 {
            let Ok(EventData::FormatDescription(format)) = item.event.decode(item.format) else {
                return Err(BinlogSetError::NoFormat {
                    path: path.to_owned(),
                });
            };
            info.server_version = format.server_version.clone();
            info.server_id = header.server_id;
            info.checksum = format.checksum;
        } else if let Err(e) = item.event.verify_checksum() {
            return Err(BinlogSetError::Checksum {
                path: path.to_owned(),
                name: info.name.clone(),
                offset: item.offset,
                error: e.to_string(),
            });
        }
        info.events += 1;
        info.end = item.offset + u64::from(header.event_size);
        server_ids.insert(header.server_id);
        if header.timestamp != 0 {
            info.first_timestamp.get_or_insert(header.timestamp);
            info.last_timestamp = Some(header.timestamp);
        }
        match item.event.decode(item.format) {
            Ok(EventData::GtidList(list)) if info.gtid_list.is_empty() => {
                for g in &list {
                    info.gtid_end.insert(g.domain_id, *g);
                }
                info.gtid_list = list;
            }
            Ok(EventData::Gtid(g)) => {
                info.gtid_end.insert(g.gtid.domain_id, g.gtid);
            }
            Ok(EventData::Rotate { file, .. }) if !header.is_artificial() => {
                info.rotate_to = Some(String::from_utf8_lossy(file).into_owned());
            }
            _ => {}
        }
    }
    if info.events == 0 {
        return Err(BinlogSetError::NoFormat {
            path: path.to_owned(),
        });
    }
    Ok(info)
}

fn check_continuity(previous: &BinlogInfo, next: &BinlogInfo) -> Result<(), BinlogSetError> {
    match &previous.rotate_to {
        Some(expected) if *expected != next.name => Err(BinlogSetError::Gap {
            previous: previous.name.clone(),
            expected: expected.clone(),
            next: next.name.clone(),
        }),
        Some(_) => Ok(()),
        // No rotate (a crash): the next file's GTID list must be the state the previous ended in.
        None => {
            let start: BTreeMap<u32, MariaGtid> =
                next.gtid_list.iter().map(|g| (g.domain_id, *g)).collect();
            let end = &previous.gtid_end;
            if start.iter().all(|(d, g)| end.get(d) == Some(g)) && start.len() == end.len() {
                Ok(())
            } else {
                let show = |m: &BTreeMap<u32, MariaGtid>| {
                    let list: Vec<String> = m.values().map(ToString::to_string).collect();
                    if list.is_empty() {
                        "empty".to_owned()
                    } else {
                        list.join(",")
                    }
                };
                Err(BinlogSetError::GtidGap {
                    previous: previous.name.clone(),
                    next: next.name.clone(),
                    end: show(end),
                    start: show(&start),
                })
            }
        }
    }
}
