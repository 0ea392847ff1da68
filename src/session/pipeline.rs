//! Pipelined apply (`--apply-mode pipelined`): statements that return no rows are acknowledged to
//! the client at once and sent ahead to the target, which works through them in order on the same
//! backend connection. Inside a transaction that is any DML (as text, or the execution of a
//! prepared one); between transactions only what changes no data (SETs) and the plain BEGIN that
//! opens the next one, so in a stream of small autocommit transactions only the COMMIT waits for
//! the target.
//!
//! Data changes are sent ahead only inside a transaction, which is what keeps it safe: the COMMIT
//! (and any statement that returns rows, any other command, the client's disconnect) first waits
//! until the target has answered everything sent ahead. If one of those statements failed, the
//! COMMIT is not sent: the transaction is rolled back, the session halts like the guard's halt
//! (sticky, journaled, with the failed statement and its position), and the client's COMMIT gets
//! the error. So a transaction is applied whole or not at all, exactly as in a sync replay, and a
//! failure is reported no later than the COMMIT of its transaction.
//!
//! What is sent ahead is queued and written in one go before the session next waits for its
//! client (a transaction per write, see [`Session::flush_sent_ahead`]), and what is held for
//! the journal is bounded ([`MAX_IN_FLIGHT`], [`MAX_IN_FLIGHT_BYTES`]).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tracing::{debug, warn};

use super::error::SessionError;
use super::query::{QueryPlan, STATEMENT_PREVIEW_CHARS};
use super::state::StreamPosition;
use super::{Session, guard};
use crate::config::ApplyMode;
use crate::protocol::command::{self, ReplyShape, code};
use crate::protocol::reply::ok_packet;
use crate::protocol::response::{PreparedOk, ResponseTracker, ServerErrorInfo, Step};
use crate::sql::{StatementKind, escape_for_message};

/// At most this many statements are in flight: their replies (a few bytes each) then always fit
/// in the socket buffers, so the target never blocks writing replies while replaygate blocks
/// writing statements.
const MAX_IN_FLIGHT: usize = 256;

/// At most this many bytes of statements are held in flight (each is kept until its reply, for
/// the journal should the target refuse it). Without this bound a stream of 1 MiB INSERTs would
/// hold 256 MiB; with it, memory stays flat whatever the statements' size, while 8 MiB is still
/// far more work than the target does in one round trip. A single larger statement is answered
/// before the next one is read.
const MAX_IN_FLIGHT_BYTES: usize = 8 * 1024 * 1024;

/// How long statements sent ahead may wait in replaygate's write buffer for the client's next
/// command (see [`Session::flush_sent_ahead`]).
const SEND_AHEAD_WINDOW: Duration = Duration::from_millis(1);

/// A statement sent ahead, whose reply is still to be read.
#[derive(Debug)]
pub struct InFlight {
    /// The statement's text, for the journal: the client's own packet (its command byte
    /// skipped), not a copy; for a prepared statement's execution, the prepared text.
    statement: Bytes,
    position: StreamPosition,
    /// The sequence id of the reply's first packet (one past the command's frames).
    reply_seq: u8,
}

/// A statement sent ahead that the target refused.
#[derive(Debug, Clone)]
pub struct PipelineFailure {
    pub error: ServerErrorInfo,
    pub statement: Bytes,
    pub position: StreamPosition,
}

/// Per-session pipelining state.
#[derive(Debug, Default)]
pub struct Pipeline {
    in_flight: VecDeque<InFlight>,
    /// The statements' bytes in `in_flight`.
    in_flight_bytes: usize,
    /// The target had a transaction open after the last statement that ran synchronously.
    in_transaction: bool,
    /// The first failure among the statements sent ahead, reported at the next drain.
    failure: Option<PipelineFailure>,
    /// Prepared statements whose executions may be sent ahead (data changes that return no
    /// rows), by statement id, with their text for the journal.
    prepared: HashMap<u32, Bytes>,
}

impl Pipeline {
    pub fn is_empty(&self) -> bool {
        self.in_flight.is_empty() && self.failure.is_none()
    }

    /// Statements sent ahead whose replies are still to be read.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// A prepared statement the target accepted: its executions may be sent ahead when it is a
    /// data change that returns no rows.
    pub fn prepared(&mut self, ok: PreparedOk, kind: StatementKind, text: Bytes) {
        if ok.columns == 0 && is_data_change(kind) {
            self.prepared.insert(ok.statement_id, text);
        }
    }

    /// COM_STMT_CLOSE: the id means nothing any more.
    pub fn forget_prepared(&mut self, statement_id: u32) {
        self.prepared.remove(&statement_id);
    }

    /// A session reset closes every prepared statement.
    pub fn forget_all_prepared(&mut self) {
        self.prepared.clear();
    }

    fn push(&mut self, entry: InFlight) {
        self.in_flight_bytes += entry.statement.len();
        metrics::gauge!("replaygate_in_flight_statements").increment(1.0);
        metrics::gauge!("replaygate_in_flight_bytes").increment(entry.statement.len() as f64);
        self.in_flight.push_back(entry);
    }

    fn pop(&mut self) -> Option<InFlight> {
        let entry = self.in_flight.pop_front()?;
        self.in_flight_bytes -= entry.statement.len();
        metrics::gauge!("replaygate_in_flight_statements").decrement(1.0);
        metrics::gauge!("replaygate_in_flight_bytes").decrement(entry.statement.len() as f64);
        Some(entry)
    }

    /// Whether the oldest reply must be read before the client's next command: too many
    /// statements or too many bytes are held.
    fn is_full(&self) -> bool {
        self.in_flight.len() >= MAX_IN_FLIGHT
            || (self.in_flight_bytes > MAX_IN_FLIGHT_BYTES && !self.in_flight.is_empty())
    }
}

impl Drop for Pipeline {
    /// A session that ends on a lost connection still holds statements it never got an answer
    /// for: they leave the in-flight gauges with it.
    fn drop(&mut self) {
        while self.pop().is_some() {}
    }
}

/// Whether a command may arrive while statements are in flight without draining them first:
/// queries and prepared executions (which drain themselves when they cannot be sent ahead), and
/// the commands without a reply, which just queue behind them. Anything else waits for what is
/// in flight.
pub(super) fn joins_pipeline(command: u8) -> bool {
    matches!(
        command,
        code::COM_QUERY
            | code::COM_STMT_EXECUTE
            | code::COM_STMT_BULK_EXECUTE
            | code::COM_STMT_CLOSE
            | code::COM_STMT_SEND_LONG_DATA
    )
}

/// Whether a statement of this kind may be sent ahead. Inside a transaction: anything that
/// returns no rows and neither ends the transaction nor commits it implicitly, since a failure
/// there is undone by rolling the transaction back. Outside one: only what changes no data (a
/// `SET`) and the plain `BEGIN` that opens the next transaction, so a failure is still found at
/// the next drain, before any data-changing statement runs after it.
fn can_send_ahead(kind: StatementKind, in_transaction: bool) -> bool {
    match kind {
        kind if is_data_change(kind) => in_transaction,
        StatementKind::SetSession => true,
        // A BEGIN inside a transaction commits it implicitly.
        StatementKind::Begin => !in_transaction,
        _ => false,
    }
}

/// Statements that change rows, return none and end no transaction.
fn is_data_change(kind: StatementKind) -> bool {
    matches!(
        kind,
        StatementKind::Insert
            | StatementKind::Replace
            | StatementKind::Update
            | StatementKind::Delete
            | StatementKind::DeleteWithoutWhere
            | StatementKind::UpdateWithoutWhere
            | StatementKind::BinlogEvent
    )
}

/// `BEGIN` or `START TRANSACTION`, not `XA START`: a plain BEGIN cannot fail on a healthy
/// session, which matters because the statements sent after it rely on it (had it failed, they
/// would autocommit one by one). An XA START can (a duplicate xid), so it runs synchronously.
fn is_plain_begin(statement: &[u8]) -> bool {
    let first_word: Vec<u8> = statement
        .trim_ascii_start()
        .iter()
        .take_while(|b| b.is_ascii_alphabetic())
        .map(u8::to_ascii_uppercase)
        .collect();
    first_word == b"BEGIN" || first_word == b"START"
}

impl Session {
    /// Whether this query (already judged "forward") goes ahead without waiting.
    pub(super) fn pipelines(&self, text: &[u8], plan: &QueryPlan, kinds: &[StatementKind]) -> bool {
        let [statement] = plan.statements.as_slice() else {
            return false;
        };
        let in_transaction = self.pipeline.in_transaction;
        self.ctx.settings.apply_mode == ApplyMode::Pipelined
            && kinds.iter().all(|&k| can_send_ahead(k, in_transaction))
            && (kinds != [StatementKind::Begin] || is_plain_begin(&text[statement.range.clone()]))
    }

    /// After a statement ran synchronously: pipelining follows the target's own status flags,
    /// so a BEGIN that ran synchronously and failed, an implicit commit by DDL or a quarantined
    /// BEGIN can never leave data-changing statements sent ahead outside a transaction, where a
    /// failure could not be rolled back.
    pub(super) fn follow_transaction(&mut self) {
        self.pipeline.in_transaction = self.state.in_transaction;
    }

    /// Statements sent ahead are queued, not written one by one: before the session waits for
    /// the client's next command, the queue goes to the target unless that command arrives
    /// within [`SEND_AHEAD_WINDOW`]. A replay client sends its next statement within
    /// microseconds of the OK, so a transaction's statements reach the target in one write, read
    /// by one wake-up of the target's thread instead of one per statement, and nothing waits in
    /// the queue longer than the window. (A COMMIT, anything run synchronously, and a full
    /// write buffer write the queue at once.)
    pub(super) async fn flush_sent_ahead(&mut self) -> Result<(), SessionError> {
        if !self.backend.has_queued_writes() {
            return Ok(());
        }
        let more_coming = self
            .client
            .wait_readable(SEND_AHEAD_WINDOW)
            .await
            .map_err(SessionError::Client)?;
        if !more_coming {
            self.backend.flush().await.map_err(SessionError::Backend)?;
        }
        Ok(())
    }

    /// Sends a query (the whole COM_QUERY packet) ahead and answers the client at once.
    pub(super) async fn send_ahead(
        &mut self,
        mut command: BytesMut,
        plan: &QueryPlan,
        kinds: &[StatementKind],
    ) -> Result<(), SessionError> {
        self.queue(&command).await?;
        command.advance(1);
        self.hold(command.freeze()).await?;
        // The target will apply it (or the transaction is rolled back and the session halts):
        // its session effects hold from here on, and a BEGIN has opened the transaction.
        self.apply_effects(plan, plan.statements.len());
        if kinds == [StatementKind::Begin] {
            self.pipeline.in_transaction = true;
            self.state.in_transaction = true;
        }
        self.acknowledge_ahead().await
    }

    /// The prepared statement's text when this COM_STMT_EXECUTE may be sent ahead: a data change
    /// that returns no rows, inside a transaction, without a cursor.
    pub(super) fn sendable_execution(&self, packet: &[u8]) -> Option<Bytes> {
        // [17] stmt_id(4) flags(1) ...; flags 0 is CURSOR_TYPE_NO_CURSOR. (COM_STMT_BULK_EXECUTE
        // may ask for a result per row: it always runs synchronously.)
        let (id, flags) = (command::statement_id(packet)?, *packet.get(5)?);
        (packet.first() == Some(&code::COM_STMT_EXECUTE)
            && self.ctx.settings.apply_mode == ApplyMode::Pipelined
            && self.pipeline.in_transaction
            && flags == 0)
            .then(|| self.pipeline.prepared.get(&id).cloned())
            .flatten()
    }

    /// Sends a prepared statement's execution ahead (see [`Self::sendable_execution`]) and
    /// answers the client at once.
    pub(super) async fn send_execution_ahead(
        &mut self,
        packet: &[u8],
        text: Bytes,
    ) -> Result<(), SessionError> {
        self.queue(packet).await?;
        self.hold(text).await?;
        self.acknowledge_ahead().await
    }

    /// Keeps the statement just queued until its reply, reading the oldest replies first when
    /// too much is held.
    async fn hold(&mut self, statement: Bytes) -> Result<(), SessionError> {
        debug!(
            session = self.id,
            in_flight = self.pipeline.in_flight.len() + 1,
            "sent ahead"
        );
        self.pipeline.push(InFlight {
            statement,
            position: StreamPosition::of(&self.state),
            reply_seq: self.backend.seq_id(),
        });
        while self.pipeline.is_full() {
            self.read_one_reply().await?;
        }
        Ok(())
    }

    /// Answers the client's command sent ahead with the OK the target will send.
    async fn acknowledge_ahead(&mut self) -> Result<(), SessionError> {
        // The status flags the target will report: in a transaction or not, with autocommit as
        // the stream left it.
        let mut status = 0;
        if self.pipeline.in_transaction {
            status |= 0x0001;
        }
        if self.state.autocommit {
            status |= 0x0002;
        }
        self.client
            .send_packet(&ok_packet(status))
            .await
            .map_err(SessionError::Client)?;
        self.client.flush().await.map_err(SessionError::Client)
    }

    /// Reads the reply to the oldest statement in flight.
    async fn read_one_reply(&mut self) -> Result<(), SessionError> {
        let Some(entry) = self.pipeline.pop() else {
            return Ok(());
        };
        // Its statement may still be queued (see `flush_sent_ahead`).
        self.backend.flush().await.map_err(SessionError::Backend)?;
        self.backend.set_seq(entry.reply_seq);
        let mut tracker = ResponseTracker::new(ReplyShape::ResultSets, self.caps);
        loop {
            let reply = self
                .backend
                .expect_packet()
                .await
                .map_err(SessionError::Backend)?;
            match tracker.feed(&reply).map_err(SessionError::Backend)? {
                Step::Done(outcome) => {
                    if let Some(status) = outcome.status {
                        self.state.observe_status(status);
                    }
                    let preview = escape_for_message(&entry.statement, STATEMENT_PREVIEW_CHARS);
                    if let Some(error) = outcome.error
                        && self.pipeline.failure.is_none()
                    {
                        warn!(
                            session = self.id,
                            code = error.code,
                            message = %error.message,
                            at = %entry.position,
                            statement = %preview,
                            "a statement sent ahead failed; its transaction will be rolled back"
                        );
                        self.pipeline.failure = Some(PipelineFailure {
                            error,
                            statement: entry.statement,
                            position: entry.position,
                        });
                    } else if !guard::is_only_comments(&entry.statement, &self.lex) {
                        self.last_acknowledged = Some(format!("{preview} ({})", entry.position));
                    }
                    return Ok(());
                }
                // A statement that can be sent ahead returns no rows and needs no file.
                Step::More | Step::Row | Step::LocalInfile => {}
            }
        }
    }

    /// Waits until the target has answered everything sent ahead. `Ok(false)`: one of them
    /// failed; the transaction was rolled back, the session halted, and the client's command
    /// got the error.
    pub(super) async fn drain(&mut self) -> Result<bool, SessionError> {
        while !self.pipeline.in_flight.is_empty() {
            self.read_one_reply().await?;
        }
        let Some(failure) = self.pipeline.failure.take() else {
            return Ok(true);
        };
        // Nothing of the transaction may stay: roll back what the target holds of it.
        let outcome =
            super::backend::internal_query(&mut self.backend, self.caps, "ROLLBACK").await?;
        if let Err(e) = outcome {
            warn!(session = self.id, error = %e.message, "ROLLBACK after a failed pipelined statement failed");
        }
        self.pipeline.in_transaction = false;
        self.state.in_transaction = false;
        let message = format!(
            "replaygate: a statement sent ahead failed at {}: ERROR {} ({}): {}. Statement: {}. Its transaction \
             was rolled back, not committed: the target is at the end of the previous transaction. Every later \
             statement of this session is refused.",
            failure.position,
            failure.error.code,
            failure.error.sql_state,
            failure.error.message,
            escape_for_message(&failure.statement, STATEMENT_PREVIEW_CHARS)
        );
        warn!(session = self.id, "{message}");
        self.journal_failure(&failure).await?;
        self.halted = Some(format!(
            "replaygate: this session halted at {} (a statement sent ahead failed); every later statement is \
             refused. Reconnect to start a new replay.",
            failure.position
        ));
        let sql_state: [u8; 5] = failure
            .error
            .sql_state
            .as_bytes()
            .try_into()
            .unwrap_or(*b"HY000");
        self.refuse(failure.error.code, &sql_state, &message)
            .await?;
        Ok(false)
    }

    /// At the client's disconnect: everything in flight is read, and its outcome logged.
    pub(super) async fn drain_at_close(&mut self) {
        if self.pipeline.is_empty() {
            return;
        }
        let pending = self.pipeline.in_flight.len();
        let result = async {
            while !self.pipeline.in_flight.is_empty() {
                self.read_one_reply().await?;
            }
            Ok::<_, SessionError>(())
        }
        .await;
        match (result, self.pipeline.failure.take()) {
            (Err(e), _) => {
                warn!(session = self.id, pending, error = %e, "could not read the replies of statements in flight at disconnect")
            }
            (Ok(()), Some(failure)) => {
                warn!(
                    session = self.id,
                    code = failure.error.code,
                    message = %failure.error.message,
                    at = %failure.position,
                    statement = %escape_for_message(&failure.statement, STATEMENT_PREVIEW_CHARS),
                    "the client left with a failed statement in flight; its transaction was never committed"
                );
                let _ = self.journal_failure(&failure).await;
            }
            (Ok(()), None) => debug!(
                session = self.id,
                pending, "statements in flight at disconnect all succeeded"
            ),
        }
    }

    async fn journal_failure(&mut self, failure: &PipelineFailure) -> Result<(), SessionError> {
        let mut record = self.journal_record(&failure.statement, &failure.position);
        record.rule = "apply-mode pipelined".to_owned();
        record.action = "halt".to_owned();
        record.kind = "target-error".to_owned();
        record.note = Some(format!(
            "sent ahead (pipelined) and refused by the target: ERROR {} ({}): {}; its transaction was rolled back",
            failure.error.code, failure.error.sql_state, failure.error.message
        ));
        self.append_journal(record).await.map(|_| ())
    }
}
