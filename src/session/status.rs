//! What each session publishes about itself for the admin endpoint and the progress lines: a
//! registry of [`SessionStatus`] snapshots, one per open session.
//!
//! A session writes its snapshot after each command (one short lock, a few small copies); the
//! readers (`GET /status`, the progress task) copy the whole map under the same short lock. No
//! reader ever waits on a session's I/O, and no session waits on a reader's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
}

/// The open sessions' snapshots, shared by the sessions (writers) and the admin (reader).
#[derive(Debug, Clone, Default)]
pub struct SessionRegistry {
    sessions: Arc<Mutex<HashMap<u64, SessionStatus>>>,
}

impl SessionRegistry {
    /// Replaces (or adds) a session's snapshot.
    pub fn publish(&self, status: &SessionStatus) {
        let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match sessions.get_mut(&status.id) {
            Some(entry) => entry.clone_from(status),
            None => {
                sessions.insert(status.id, status.clone());
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
        let mut all: Vec<SessionStatus> = self
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|s| s.id);
        all
    }
}
