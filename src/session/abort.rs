//! Halting a session because the adaptive throttle aborted the replay
//! (`throttle.adaptive.on_critical = "abort"`).
//!
//! The abort is process-wide and final ([`Throttle::abort`](crate::throttle::Throttle::abort)).
//! Each session learns of it at its next command: the throttle's gate refuses it (also a
//! statement already waiting in a pause), and commands that do not pass the gate check for it
//! first. The session then halts exactly as the guard's halt does — an ERR naming the reason and
//! the stream position, a journal record, and every later command refused (sticky) — after
//! making the target's state plain: statements sent ahead (pipelined) are answered first, and an
//! open transaction is rolled back rather than left holding its locks on a loaded target until
//! the client goes away. The client stays connected; it decides when to leave.

use tracing::{debug, info, warn};

use super::enforce::ER_OPTION_PREVENTS_STATEMENT;
use super::error::SessionError;
use super::guard::is_only_comments;
use super::query::STATEMENT_PREVIEW_CHARS;
use super::state::StreamPosition;
use super::{COM_PING, Session, backend};
use crate::protocol::command::{self, code};
use crate::sql::escape_for_message;
use crate::throttle::{Abort, Cost};

impl Session {
    /// Passes the throttle's gate (caps, pause) right before `stmt` is forwarded. `Ok(false)`:
    /// the replay was aborted, before or while it waited; the session halted and the client got
    /// the ERR: forward nothing.
    pub(super) async fn pass_gate(
        &mut self,
        cost: Cost,
        stmt: &[u8],
    ) -> Result<bool, SessionError> {
        if self.ctx.throttle.admit_unthrottled(cost) {
            return Ok(true);
        }
        // About to wait, perhaps for long (a pause): what was sent ahead goes to the target now.
        self.backend.flush().await.map_err(SessionError::Backend)?;
        match self.ctx.throttle.admit(cost).await {
            Ok(waited) => {
                if waited.as_secs() >= 1 {
                    debug!(
                        session = self.id,
                        waited_secs = waited.as_secs_f64(),
                        "throttled"
                    );
                }
                Ok(true)
            }
            Err(abort) => {
                self.halt_on_abort(stmt, &abort).await?;
                Ok(false)
            }
        }
    }

    /// Halts at `packet` if the replay was aborted; `Ok(true)`: halted, the client got the ERR.
    /// Not for a session that already halted, nor for COM_QUIT and COM_PING, which a halted
    /// session still answers.
    pub(super) async fn halted_by_abort(&mut self, packet: &[u8]) -> Result<bool, SessionError> {
        let Some(&command) = packet.first() else {
            return Ok(false);
        };
        if self.halted.is_some() || matches!(command, code::COM_QUIT | COM_PING) {
            return Ok(false);
        }
        let Some(abort) = self.ctx.throttle.aborted() else {
            return Ok(false);
        };
        // What the journal and the message show: the statement text where there is one.
        let what = match command {
            code::COM_QUERY | code::COM_STMT_PREPARE | code::COM_INIT_DB => {
                let mut what = if command == code::COM_INIT_DB {
                    b"USE ".to_vec()
                } else {
                    Vec::new()
                };
                what.extend_from_slice(&packet[1..]);
                what
            }
            other => command::name(other).as_bytes().to_vec(),
        };
        self.halt_on_abort(&what, &abort).await?;
        Ok(true)
    }

    /// Refuses `stmt` and everything after it in this session because the replay was aborted.
    pub(super) async fn halt_on_abort(
        &mut self,
        stmt: &[u8],
        abort: &Abort,
    ) -> Result<(), SessionError> {
        // `mariadb --comments` sends each event's header comments (`# at 1234`) as queries of
        // their own: positions, not statements (the guard never withholds them either). They do
        // nothing on the target, so they are answered here, and the halt comes at the statement
        // they precede, with its position and its text in the ERR and the journal.
        if is_only_comments(stmt, &self.lex) {
            return self.answer_ok().await;
        }
        // Statements sent ahead first: what the target holds depends on their answers.
        let in_flight = self.pipeline.in_flight();
        if !self.pipeline.is_empty() {
            if !self.drain().await? {
                // One of them failed: the session already halted on that (transaction rolled
                // back, journaled, the client answered), which is the more precise story; the
                // abort stays in /status and the log.
                return Ok(());
            }
            info!(
                session = self.id,
                in_flight, "statements sent ahead all answered before halting on the abort"
            );
        }
        let position = StreamPosition::of(&self.state);
        let rolled_back = self.state.in_transaction;
        if rolled_back {
            let outcome = backend::internal_query(&mut self.backend, self.caps, "ROLLBACK").await?;
            if let Err(e) = outcome {
                warn!(session = self.id, error = %e.message, "ROLLBACK of the open transaction at the abort failed");
            }
            self.state.in_transaction = false;
            self.follow_transaction();
        }
        let mut record = self.journal_record(stmt, &position);
        record.rule = "throttle.adaptive.on_critical".to_owned();
        record.action = "halt".to_owned();
        record.kind = "adaptive-abort".to_owned();
        record.note = Some(format!(
            "replay aborted: {}{}",
            abort.reason,
            if rolled_back {
                "; the session's open transaction was rolled back"
            } else {
                ""
            }
        ));
        let journaled = match self.append_journal(record).await? {
            Some(id) => format!("Journal record #{id}. "),
            None => String::new(),
        };
        let (state, resume) = if rolled_back {
            (
                "Its open transaction was rolled back, not committed: the target is at the end of \
                 the previous transaction."
                    .to_owned(),
                format!(
                    "from the start of that transaction{}",
                    position
                        .gtid
                        .as_ref()
                        .map(|g| format!(" (GTID {g})"))
                        .unwrap_or_default()
                ),
            )
        } else {
            (
                "The target is at the last statement before it.".to_owned(),
                format!(
                    "from this statement{}",
                    position
                        .position
                        .map(|p| format!(" (binlog position {p})"))
                        .unwrap_or_default()
                ),
            )
        };
        // Clients keep the first 512 bytes of a message: what and where first, the statement
        // (which the journal keeps whole) last.
        let message = format!(
            "replaygate: replay aborted: {reason}. This statement was not forwarded; at {position}. \
             {state} {journaled}Restart replaygate to resume {resume}; until then every later \
             statement is refused (GET /status shows why). Statement: {preview}",
            reason = abort.reason,
            preview = escape_for_message(stmt, STATEMENT_PREVIEW_CHARS),
        );
        warn!(session = self.id, "{message}");
        self.halted = Some(format!(
            "replaygate: this session halted at {position}: replay aborted ({}). Every later \
             statement is refused so the replay cannot skip past it; restart replaygate to resume.",
            abort.reason
        ));
        self.refuse(ER_OPTION_PREVENTS_STATEMENT, b"HY000", &message)
            .await
    }
}
