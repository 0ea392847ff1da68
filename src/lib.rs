//! replaygate: a MySQL-protocol proxy for safe, fast point-in-time recovery.
//!
//! It stands between a binlog replay stream (`mariadb-binlog ... | mariadb -h proxy`) and the
//! server being restored, relays everything byte for byte, and makes the known failure modes of a
//! replay impossible: the session charset is decided by replaygate and the stream, never by the
//! client's default, and bytes invalid in that charset are refused instead of stored as mojibake.
//!
//! The guard classifies every statement and halts before, quarantines, or rewrites destructive
//! ones, journaling what it withholds; `scan` runs the same rules over binlog text offline.
//!
//! Layout: [`protocol`] (wire format, no SQL), [`sql`] (pure statement inspection, no I/O),
//! [`policy`] (rules and verdicts, pure), [`session`] (the per-connection pipeline),
//! [`journal`] (the quarantine journal), [`scan`] (offline scanning), [`binlog_text`]
//! (reading binlog text as the client does), [`server`] (accept loop and shutdown),
//! [`config`] (validated settings), [`throttle`] (caps and the pause gate), [`adaptive`] (throttling on the target's load), [`admin`] (the
//! HTTP endpoint: metrics, status, runtime control), [`progress`] (progress log lines).

pub mod adaptive;
pub mod admin;
pub mod binlog;
pub mod binlog_text;
pub mod checkpoint;
pub mod checks;
pub mod config;
pub mod control;
pub mod journal;
pub mod policy;
pub mod progress;
pub mod protocol;
#[cfg(test)]
mod random_input;
pub mod replication;
pub mod scan;
pub mod server;
pub mod session;
pub mod source;
pub mod sql;
pub mod throttle;
pub mod tls;
