//! replaygate: a MySQL-protocol proxy for safe, fast point-in-time recovery.
//!
//! It stands between a binlog replay stream (`mariadb-binlog ... | mariadb -h proxy`) and the
//! server being restored, relays everything byte for byte, and makes the known failure modes of a
//! replay impossible: the session charset is decided by replaygate and the stream, never by the
//! client's default, and bytes invalid in that charset are refused instead of stored as mojibake.
//!
//! Layout: [`protocol`] (wire format, no SQL), [`sql`] (pure statement inspection, no I/O),
//! [`session`] (the per-connection pipeline), [`server`] (accept loop and shutdown),
//! [`config`] (validated settings).

pub mod config;
pub mod protocol;
pub mod server;
pub mod session;
pub mod sql;
