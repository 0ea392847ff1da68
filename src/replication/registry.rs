//! What replaygate keeps about each replica across its connections, by server id: where it
//! halted (a reconnecting replica is refused until the operator changes the policy or moves it
//! past the event), which origin threads are quarantined for it, and what `/status` shows.
//!
//! Halts are kept in memory only: restarting replaygate (with a new policy) is how a halt is
//! lifted, and a replica that reconnects to a fresh replaygate is halted at the same event
//! again by the guard itself, since the same policy judges the same event the same way.
//! Quarantined origins are different: the event that quarantined an origin was already sent
//! (as a no-op), so a fresh replaygate would never see it again and would apply the rest of the
//! restore script. They are taken up again from the journal ([`ReplicaRegistry::restore_origins`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::guard::Sent;
use super::outcome::Halt;
use crate::journal::JournalRecord;
use crate::policy::Action;
use crate::session::status::RateSampler;

/// One replica as `/status` reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReplicaStatus {
    pub server_id: u32,
    /// The replaygate session streaming to it, while connected.
    pub session: Option<u64>,
    pub client: String,
    /// The primary's binlog file and the end position of the last event sent.
    pub file: String,
    pub position: u64,
    /// GTID of the last transaction sent whole.
    pub gtid: Option<String>,
    pub events_sent: u64,
    pub bytes_sent: u64,
    #[serde(default)]
    pub events_per_sec: f64,
    #[serde(default)]
    pub bytes_per_sec: f64,
    /// Events replaced by no-ops (quarantined) so far.
    pub withheld: u64,
    pub quarantined_origins: Vec<u32>,
    /// Why replication stopped at replaygate, when it did.
    pub halted: Option<String>,
}

#[derive(Debug)]
struct Entry {
    status: ReplicaStatus,
    /// Counters of earlier connections, so totals survive reconnects.
    base: (u64, u64),
    halt: Option<Halt>,
    origins: HashMap<u32, String>,
    rates: RateSampler,
}

/// Every replica seen since replaygate started.
#[derive(Debug, Default)]
pub struct ReplicaRegistry {
    replicas: Mutex<HashMap<u32, Entry>>,
}

impl ReplicaRegistry {
    fn with<T>(&self, server_id: u32, f: impl FnOnce(&mut Entry) -> T) -> T {
        let mut replicas = self.replicas.lock().unwrap_or_else(|e| e.into_inner());
        let entry = replicas.entry(server_id).or_insert_with(|| Entry {
            status: ReplicaStatus {
                server_id,
                ..ReplicaStatus::default()
            },
            base: (0, 0),
            halt: None,
            origins: HashMap::new(),
            rates: RateSampler::new(Instant::now(), [0, 0]),
        });
        f(entry)
    }

    /// Where replication halted for this replica, if it did.
    pub fn halt(&self, server_id: u32) -> Option<Halt> {
        self.with(server_id, |e| e.halt.clone())
    }

    /// The replica moved past its halt (its GTID position is beyond the halted event).
    pub fn release(&self, server_id: u32) {
        self.with(server_id, |e| {
            e.halt = None;
            e.status.halted = None;
        });
    }

    pub fn record_halt(&self, server_id: u32, halt: &Halt) {
        self.with(server_id, |e| {
            e.status.halted = Some(halt.message());
            e.halt = Some(halt.clone());
        });
    }

    /// The origins quarantined for this replica on earlier connections.
    pub fn origins(&self, server_id: u32) -> HashMap<u32, String> {
        self.with(server_id, |e| e.origins.clone())
    }

    pub fn quarantine_origin(&self, server_id: u32, origin: u32, rule: &str) {
        self.with(server_id, |e| {
            e.origins.entry(origin).or_insert_with(|| rule.to_owned());
            let mut ids: Vec<u32> = e.origins.keys().copied().collect();
            ids.sort_unstable();
            e.status.quarantined_origins = ids;
        });
    }

    /// Takes up the origins quarantined in earlier runs from the journal's `quarantine-origin`
    /// records of replicas, and returns them (replica, origin thread, rule) to be logged.
    pub fn restore_origins(&self, records: &[JournalRecord]) -> Vec<(u32, u32, String)> {
        let mut restored = Vec::new();
        for r in records {
            if r.action != Action::QuarantineOrigin.as_str() {
                continue;
            }
            let (Some(replica), Some(origin)) = (r.replica, r.origin_thread) else {
                continue;
            };
            let Ok(origin) = u32::try_from(origin) else {
                continue;
            };
            if !self.with(replica, |e| e.origins.contains_key(&origin)) {
                self.quarantine_origin(replica, origin, &r.rule);
                restored.push((replica, origin, r.rule.clone()));
            }
        }
        restored
    }

    /// A session started streaming to the replica.
    pub fn connected(&self, server_id: u32, session: u64, client: &str) {
        self.with(server_id, |e| {
            e.base = (e.status.events_sent, e.status.bytes_sent);
            e.status.session = Some(session);
            e.status.client = client.to_owned();
        });
    }

    /// What the stream has sent so far (counters of this connection).
    pub fn progress(&self, server_id: u32, sent: &Sent, withheld: u64) {
        self.with(server_id, |e| {
            e.status.file.clone_from(&sent.file);
            e.status.position = sent.end;
            e.status.gtid.clone_from(&sent.gtid);
            e.status.events_sent = e.base.0 + sent.events;
            e.status.bytes_sent = e.base.1 + sent.bytes;
            e.status.withheld += withheld;
        });
    }

    pub fn disconnected(&self, server_id: u32, session: u64) {
        self.with(server_id, |e| {
            if e.status.session == Some(session) {
                e.status.session = None;
            }
        });
    }

    /// Every replica, by server id.
    pub fn snapshot(&self) -> Vec<ReplicaStatus> {
        let now = Instant::now();
        let mut replicas = self.replicas.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<ReplicaStatus> = replicas
            .values_mut()
            .map(|e| {
                let [events_per_sec, bytes_per_sec] = e
                    .rates
                    .read(now, [e.status.events_sent, e.status.bytes_sent]);
                ReplicaStatus {
                    events_per_sec,
                    bytes_per_sec,
                    ..e.status.clone()
                }
            })
            .collect();
        all.sort_by_key(|r| r.server_id);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replication::EventPosition;

    #[test]
    fn halts_and_origins_outlive_connections_and_totals_add_up() {
        let registry = ReplicaRegistry::default();
        registry.connected(2, 10, "127.0.0.1:5000");
        let sent = Sent {
            file: "binlog.000001".into(),
            end: 900,
            gtid: Some("0-1-5".into()),
            events: 30,
            bytes: 3000,
        };
        registry.progress(2, &sent, 0);
        registry.quarantine_origin(2, 9, "restore-script");
        let halt = Halt::new(EventPosition::default(), "r", "drop_table");
        registry.record_halt(2, &halt);
        registry.disconnected(2, 10);

        registry.connected(2, 11, "127.0.0.1:5001");
        assert_eq!(registry.halt(2), Some(halt));
        assert_eq!(
            registry.origins(2).get(&9).map(String::as_str),
            Some("restore-script")
        );
        registry.progress(
            2,
            &Sent {
                events: 5,
                bytes: 500,
                ..sent
            },
            2,
        );
        let status = &registry.snapshot()[0];
        assert_eq!((status.events_sent, status.bytes_sent), (35, 3500));
        assert_eq!(status.session, Some(11));
        assert_eq!(status.quarantined_origins, [9]);
        assert_eq!(status.withheld, 2);
        assert!(status.halted.is_some());
        registry.release(2);
        assert_eq!(registry.halt(2), None);
    }

    #[test]
    fn quarantined_origins_are_taken_up_from_the_journal() {
        let record = |replica, thread, action: &str| JournalRecord {
            replica,
            origin_thread: thread,
            action: action.into(),
            rule: "destructive-ddl-without-fk-checks".into(),
            ..JournalRecord::default()
        };
        let records = [
            record(Some(3), Some(42), "quarantine-origin"),
            // The same origin's later statements, and the SQL path's records: not origins.
            record(Some(3), Some(42), "quarantine-origin"),
            record(Some(3), Some(7), "quarantine"),
            record(None, Some(8), "quarantine-origin"),
            record(Some(4), None, "quarantine-origin"),
        ];
        let registry = ReplicaRegistry::default();
        assert_eq!(
            registry.restore_origins(&records),
            [(3, 42, "destructive-ddl-without-fk-checks".to_owned())]
        );
        assert_eq!(registry.origins(3).len(), 1);
        assert!(registry.origins(3).contains_key(&42));
        assert!(registry.origins(4).is_empty());
    }
}
