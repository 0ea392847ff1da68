//! What each session publishes about itself for the admin endpoint and the progress lines: a
//! registry of [`SessionStatus`] snapshots, one per open session.
//!
//! A session writes its snapshot after each command (one short lock, a few small copies); the
//! readers (`GET /status`, the progress task) copy the whole map under the same short lock. No
//! reader ever waits on a session's I/O, and no session waits on a reader's.
//!
//! Rates are computed on the readers' side, from the counters at successive reads: a session
//! that goes quiet publishes nothing more, and its rate must still fall to zero.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::state::{SessionState, StreamPosition};

/// One session as the admin endpoint reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionStatus {
    pub id: u64,
    pub client: String,
    pub user: String,
    pub database: Option<String>,
    pub charset: String,
    /// GTID of the last transaction the stream announced (applied or being applied).
    pub gtid: Option<String>,
    /// Binlog position (`# at N`) of the last event header seen (`mariadb --comments`).
    pub binlog_position: Option<u64>,
    pub end_log_pos: Option<u64>,
    /// Statements the target acknowledged.
    pub statements: u64,
    /// Bytes of commands received from the client.
    pub bytes_in: u64,
    /// Statements acknowledged per second, over the last second or more (see [`RATE_WINDOW`]).
    #[serde(default)]
    pub statements_per_sec: f64,
    /// Bytes received per second, over the same window.
    #[serde(default)]
    pub bytes_per_sec: f64,
    pub in_transaction: bool,
    /// Statements sent ahead (`--apply-mode pipelined`) whose reply is still to come.
    #[serde(default)]
    pub in_flight: usize,
    /// Why the session refuses everything, when it halted.
    pub halted: Option<String>,
}

impl SessionStatus {
    /// Copies the parts of `state` the status shows.
    pub fn observe(&mut self, state: &SessionState) {
        let position = StreamPosition::of(state);
        self.user.clone_from(&state.user);
        self.database.clone_from(&state.database);
        self.charset.clone_from(&state.charset);
        self.gtid = position.gtid;
        self.binlog_position = position.position;
        self.end_log_pos = position.end_log_pos;
        self.statements = state.acknowledged;
        self.in_transaction = state.in_transaction;
    }

    /// Becomes a copy of `other`, reusing this snapshot's strings. Sessions publish after every
    /// command: the derived `clone_from` would allocate every string anew and free the old ones
    /// (under the registry's lock, which all sessions share).
    fn copy_from(&mut self, other: &Self) {
        let Self {
            id,
            client,
            user,
            database,
            charset,
            gtid,
            binlog_position,
            end_log_pos,
            statements,
            bytes_in,
            statements_per_sec,
            bytes_per_sec,
            in_transaction,
            in_flight,
            halted,
        } = other;
        self.id = *id;
        self.client.clone_from(client);
        self.user.clone_from(user);
        self.database.clone_from(database);
        self.charset.clone_from(charset);
        self.gtid.clone_from(gtid);
        self.binlog_position = *binlog_position;
        self.end_log_pos = *end_log_pos;
        self.statements = *statements;
        self.bytes_in = *bytes_in;
        self.statements_per_sec = *statements_per_sec;
        self.bytes_per_sec = *bytes_per_sec;
        self.in_transaction = *in_transaction;
        self.in_flight = *in_flight;
        self.halted.clone_from(halted);
    }
}

/// A read of the registry less than this after the last rate sample keeps the rates it has:
/// shorter windows would make them jitter with every command.
pub const RATE_WINDOW: Duration = Duration::from_secs(1);

/// The open sessions' snapshots, shared by the sessions (writers) and the admin (reader).
#[derive(Debug, Clone, Default)]
pub struct SessionRegistry {
    sessions: Arc<Mutex<HashMap<u64, Entry>>>,
}

/// Rates of two counters, measured on the reader's side between reads at least
/// [`RATE_WINDOW`] apart (a read within the window keeps the last rates).
#[derive(Debug, Clone)]
pub struct RateSampler {
    sampled_at: Instant,
    then: [u64; 2],
    rates: [f64; 2],
}

impl RateSampler {
    pub fn new(now: Instant, counters: [u64; 2]) -> Self {
        RateSampler {
            sampled_at: now,
            then: counters,
            rates: [0.0; 2],
        }
    }

    /// The counters' rates per second, sampled anew when the window has passed.
    pub fn read(&mut self, now: Instant, counters: [u64; 2]) -> [f64; 2] {
        let elapsed = now.saturating_duration_since(self.sampled_at);
        if elapsed >= RATE_WINDOW {
            let secs = elapsed.as_secs_f64();
            for ((rate, now), then) in self.rates.iter_mut().zip(counters).zip(self.then) {
                *rate = now.saturating_sub(then) as f64 / secs;
            }
            (self.sampled_at, self.then) = (now, counters);
        }
        self.rates
    }
}

/// A session's last snapshot and the counters its rates are measured from.
#[derive(Debug)]
struct Entry {
    status: SessionStatus,
    rates: RateSampler,
}

impl Entry {
    /// The snapshot with its rates.
    fn read(&mut self, now: Instant) -> SessionStatus {
        let [statements_per_sec, bytes_per_sec] = self
            .rates
            .read(now, [self.status.statements, self.status.bytes_in]);
        SessionStatus {
            statements_per_sec,
            bytes_per_sec,
            ..self.status.clone()
        }
    }
}

impl SessionRegistry {
    /// Replaces (or adds) a session's snapshot.
    pub fn publish(&self, status: &SessionStatus) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match sessions.get_mut(&status.id) {
            Some(entry) => entry.status.copy_from(status),
            None => {
                sessions.insert(
                    status.id,
                    Entry {
                        status: status.clone(),
                        rates: RateSampler::new(
                            Instant::now(),
                            [status.statements, status.bytes_in],
                        ),
                    },
                );
            }
        }
    }

    pub fn remove(&self, id: u64) {
        self.sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }

    /// Every open session, by id.
    pub fn snapshot(&self) -> Vec<SessionStatus> {
        self.snapshot_at(Instant::now())
    }

    fn snapshot_at(&self, now: Instant) -> Vec<SessionStatus> {
        let mut all: Vec<SessionStatus> = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values_mut()
            .map(|entry| entry.read(now))
            .collect();
        all.sort_by_key(|s| s.id);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(statements: u64, bytes_in: u64) -> SessionStatus {
        SessionStatus {
            id: 7,
            statements,
            bytes_in,
            ..SessionStatus::default()
        }
    }

    #[test]
    fn rates_follow_the_counters_between_reads_and_fall_to_zero_when_quiet() {
        let registry = SessionRegistry::default();
        registry.publish(&session(100, 1_000));
        let start = registry.sessions.lock().unwrap()[&7].rates.sampled_at;
        let at = |secs: f64| start + Duration::from_secs_f64(secs);

        assert_eq!(registry.snapshot_at(at(0.5))[0].statements_per_sec, 0.0);
        registry.publish(&session(400, 31_000));
        let read = &registry.snapshot_at(at(2.0))[0];
        assert_eq!(read.statements_per_sec, 150.0);
        assert_eq!(read.bytes_per_sec, 15_000.0);
        // Within the window the rates hold; the session's own counters are always current.
        registry.publish(&session(401, 31_010));
        let read = &registry.snapshot_at(at(2.5))[0];
        assert_eq!((read.statements, read.statements_per_sec), (401, 150.0));
        // Quiet since: the next window shows only what came in it.
        let read = &registry.snapshot_at(at(12.0))[0];
        assert_eq!(read.statements_per_sec, 0.1);
        assert_eq!(registry.snapshot_at(at(20.0))[0].statements_per_sec, 0.0);
    }
}
