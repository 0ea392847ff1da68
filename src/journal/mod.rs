//! The quarantine journal: every statement the guard halts, quarantines or rewrites is recorded
//! here, so an operator can review it and re-apply it (`export_sql`) after the replay.
//!
//! Why it is built the way it is:
//! - **Append-only JSON lines** (`<dir>/journal.jsonl`): a crash can damage at most the last line,
//!   which readers skip with a warning; nothing is ever rewritten in place, and `jq`/`grep` work.
//! - **Durable before the client is answered**: [`Journal::append`] writes, flushes and fsyncs
//!   before it returns, and the proxy answers the client only after that. A quarantined statement
//!   is therefore never lost, even if replaygate dies right after answering OK (the stream then
//!   goes on past a statement that exists nowhere else but in the binlog).
//! - **One writer per directory**: an exclusive advisory lock on `<dir>/journal.lock` keeps two
//!   replaygate processes from interleaving (and so duplicating) ids.
//! - **Blocking I/O kept off the async runtime**: [`SharedJournal::append`] runs the write in
//!   `spawn_blocking`, so an fsync never stalls other sessions' packet relaying.

mod export;
mod record;
mod render;
#[cfg(test)]
mod tests;

use std::fs::{File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

pub use export::export_sql;
pub use record::JournalRecord;
pub use render::{render_list, render_record};

/// The journal file inside a journal directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";
/// The lock file inside a journal directory.
pub const LOCK_FILE: &str = "journal.lock";

/// Why the journal could not be opened, written, read or exported.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot {op} {}: {source}", .path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "journal directory {} is in use by another replaygate process (it holds the lock on {}); \
         stop that process or use another journal directory",
        .dir.display(), .lock.display()
    )]
    Locked { dir: PathBuf, lock: PathBuf },
    #[error("journal directory {} does not exist", .0.display())]
    NoDirectory(PathBuf),
    #[error("cannot encode journal record {id} for {}: {source}", .path.display())]
    Encode {
        id: u64,
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("journal record {id}: {problem}")]
    InvalidRecord { id: u64, problem: String },
    #[error("no journal record with id {}", join_ids(.0))]
    UnknownIds(Vec<u64>),
    #[error("cannot write the SQL export: {0}")]
    Export(#[source] io::Error),
    /// The blocking task panicked or was cancelled (the runtime shutting down).
    #[error("the journal write task failed: {0}")]
    Task(String),
}

fn join_ids(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> JournalError {
    let path = path.to_path_buf();
    move |source| JournalError::Io { op, path, source }
}

/// The writer of one journal directory. Holds the directory's lock until dropped.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// Never read: the lock lives as long as this open file.
    _lock: File,
    next_id: u64,
    /// The file does not end with a newline (a torn line from a crash, or a failed write): the
    /// next append starts with one, so its record never shares a line with the damage.
    needs_newline: bool,
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir`, locks it, and continues its ids.
    pub fn open(dir: &Path) -> Result<Journal, JournalError> {
        std::fs::create_dir_all(dir).map_err(io_err("create journal directory", dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open journal lock file", &lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    dir: dir.to_path_buf(),
                    lock: lock_path,
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_err("lock journal lock file", &lock_path)(e));
            }
        }

        let path = dir.join(JOURNAL_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io_err("open journal", &path))?;
        let mut contents = Vec::new();
        file.read_to_end(&mut contents)
            .map_err(io_err("read journal", &path))?;
        let parsed = parse(&path, &contents);
        // A new file's directory entry must be durable too, or the first fsynced record could
        // vanish with it after a power loss.
        #[cfg(unix)]
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("sync journal directory", dir))?;

        Ok(Journal {
            dir: dir.to_path_buf(),
            path,
            file,
            _lock: lock,
            next_id: parsed.max_id.map_or(1, |id| id + 1),
            needs_newline: !contents.is_empty() && !contents.ends_with(b"\n"),
        })
    }

    /// Assigns the next id (and the time, if empty), writes the record as one line and fsyncs it.
    /// Returns only once the record is on disk.
    pub fn append(&mut self, mut record: JournalRecord) -> Result<u64, JournalError> {
        let id = self.next_id;
        record.id = id;
        if record.time.is_empty() {
            record.time = format_rfc3339(SystemTime::now());
        }
        // Refuse a record that could not be exported later, while the caller can still react.
        record.statement_bytes()?;
        let mut line = Vec::with_capacity(512);
        if self.needs_newline {
            line.push(b'\n');
        }
        serde_json::to_writer(&mut line, &record).map_err(|source| JournalError::Encode {
            id,
            path: self.path.clone(),
            source,
        })?;
        line.push(b'\n');
        // The id is spent even if the write fails: part of the line may have reached the disk,
        // and ids must never repeat.
        self.next_id += 1;
        self.needs_newline = true;
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .and_then(|()| self.file.sync_data())
            .map_err(io_err("write journal", &self.path))?;
        self.needs_newline = false;
        Ok(id)
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The id the next [`append`](Self::append) will assign.
    pub fn next_id(&self) -> u64 {
        self.next_id
    }
}

/// A cheaply clonable handle for the proxy's sessions; appends run on tokio's blocking pool.
#[derive(Debug, Clone)]
pub struct SharedJournal(pub Arc<Mutex<Journal>>);

impl SharedJournal {
    pub fn new(journal: Journal) -> Self {
        SharedJournal(Arc::new(Mutex::new(journal)))
    }

    /// [`Journal::open`] wrapped in a shared handle.
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        Journal::open(dir).map(Self::new)
    }

    /// [`Journal::append`] on the blocking pool: the record is on disk when this returns `Ok`.
    pub async fn append(&self, record: JournalRecord) -> Result<u64, JournalError> {
        // Taking the mutex here would block a runtime thread behind another session's fsync.
        let inner = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || lock_journal(&inner).append(record))
            .await
            .map_err(|e| JournalError::Task(e.to_string()))?
    }

    /// [`Journal::append`] on the current thread, for callers already off the async runtime
    /// (or inside `block_in_place`).
    pub fn append_blocking(&self, record: JournalRecord) -> Result<u64, JournalError> {
        self.lock().append(record)
    }

    /// Direct access, e.g. for [`Journal::dir`].
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Journal> {
        lock_journal(&self.0)
    }
}

/// A panic during an append poisons the mutex; the journal itself stays usable, but the panic
/// may have cut a line short, so the next append starts on a fresh line.
fn lock_journal(mutex: &Mutex<Journal>) -> std::sync::MutexGuard<'_, Journal> {
    mutex.lock().unwrap_or_else(|poisoned| {
        mutex.clear_poison();
        let mut journal = poisoned.into_inner();
        journal.needs_newline = true;
        journal
    })
}

/// Reads every complete record of the journal in `dir`, in file order. Torn or invalid lines are
/// skipped with a warning. A directory without a journal file holds no records; a missing
/// directory is an error (most likely a mistyped path).
pub fn read_journal(dir: &Path) -> Result<Vec<JournalRecord>, JournalError> {
    if !dir.is_dir() {
        return Err(JournalError::NoDirectory(dir.to_path_buf()));
    }
    let path = dir.join(JOURNAL_FILE);
    match std::fs::read(&path) {
        Ok(contents) => Ok(parse(&path, &contents).records),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err("read journal", &path)(e)),
    }
}

/// The records with the given ids, in journal order (the order they were recorded, which is the
/// order to re-apply them in). Every id must exist.
pub fn select(records: &[JournalRecord], ids: &[u64]) -> Result<Vec<JournalRecord>, JournalError> {
    let mut missing: Vec<u64> = ids
        .iter()
        .copied()
        .filter(|id| !records.iter().any(|r| r.id == *id))
        .collect();
    if !missing.is_empty() {
        missing.sort_unstable();
        missing.dedup();
        return Err(JournalError::UnknownIds(missing));
    }
    Ok(records
        .iter()
        .filter(|r| ids.contains(&r.id))
        .cloned()
        .collect())
}

struct Parsed {
    records: Vec<JournalRecord>,
    /// Highest id on any line, including a torn last line that happens to be complete JSON: that
    /// id may have been handed out, so it is never reused.
    max_id: Option<u64>,
}

fn parse(path: &Path, contents: &[u8]) -> Parsed {
    let mut parsed = Parsed {
        records: Vec::new(),
        max_id: None,
    };
    let complete_len = contents
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let (complete, tail) = contents.split_at(complete_len);
    for (index, line) in complete.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue; // the fresh-line separator written after a torn line
        }
        match serde_json::from_slice::<JournalRecord>(line) {
            Ok(record) => {
                parsed.max_id = parsed.max_id.max(Some(record.id));
                parsed.records.push(record);
            }
            Err(e) => tracing::warn!(
                path = %path.display(),
                line = index + 1,
                error = %e,
                "skipping an invalid journal line (a write torn by a crash?)"
            ),
        }
    }
    if !tail.is_empty() {
        if let Ok(record) = serde_json::from_slice::<JournalRecord>(tail) {
            parsed.max_id = parsed.max_id.max(Some(record.id));
        }
        tracing::warn!(
            path = %path.display(),
            line = complete.iter().filter(|&&b| b == b'\n').count() + 1,
            bytes = tail.len(),
            "skipping the journal's last line: it has no trailing newline (a write torn by a crash)"
        );
    }
    parsed
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T17:00:00.123Z` (times before 1970 clamp to
/// the epoch; they do not occur on a working clock).
pub fn format_rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`,
/// restricted to non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
