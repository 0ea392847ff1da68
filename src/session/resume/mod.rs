//! `--checkpoint`: a session that records where the replay is, in the target, and skips what
//! the target already holds when the same stream is replayed again ([`crate::checkpoint`] has
//! the positions and the table).
//!
//! The stages, in the order a query meets them:
//!
//! 1. **Load** (the session's first query): the checkpoint rows and the target's GTID state;
//!    the table is created when missing.
//! 2. **Gate** (every query): where a transaction starts (a BEGIN, or a statement that commits
//!    by itself outside one) its [`Mark`] is taken; a transaction the checkpoint covers is
//!    answered OK statement by statement, without being forwarded, up to its COMMIT. Session
//!    settings (SET, USE) inside it are still forwarded: later transactions depend on them.
//! 3. **Record**: right before a COMMIT is forwarded, the checkpoint row is written inside the
//!    transaction, so it commits with the data or not at all; after a statement that committed by
//!    itself (DDL), right after it, unless the target binlogs it under the stream's GTID: then
//!    the target's own GTID state holds it (a write of ours would take the next GTID of the
//!    stream's domain and collide with the stream's next transaction). Before such a statement
//!    is forwarded it is recorded as pending ([`pending`]): a rerun that finds the checkpoint
//!    stopped right before it asks the target's binlog whether it was applied.
//!
//! A transaction that has neither a GTID nor a binlog position (a stream replayed without
//! `mariadb --comments` that carries no GTIDs) cannot be checkpointed: the session halts before
//! it rather than replay what a rerun could not resume.

mod pending;

use tracing::{info, warn};

use super::Session;
use super::backend::internal_query;
use super::enforce::ER_OPTION_PREVENTS_STATEMENT;
use super::error::SessionError;
use super::guard::is_only_comments;
use super::query::{QueryPlan, STATEMENT_PREVIEW_CHARS};
use super::state::StreamPosition;
use crate::checkpoint::{Checkpoint, CheckpointTable, Gtid, Mark, Position};
use crate::sql::{EventHeader, StatementKind, classify, escape_for_message};

/// A session's checkpointing.
#[derive(Debug)]
pub struct Resume {
    table: CheckpointTable,
    /// What the target held when the session started; `None` until its first query.
    checkpoint: Option<Checkpoint>,
    /// Whether the target writes a binlog (then its GTID state records what it committed).
    log_bin: bool,
    /// Inside a transaction the checkpoint covers: answered, not forwarded, until its end.
    skipping: bool,
    skipped: u64,
    /// Whether the log has said where the replay resumes.
    resumed: bool,
    /// Where the open transaction started.
    current: Option<Mark>,
    /// The GTID of the last transaction, so a GTID the stream did not announce again (a
    /// transaction without one) is not taken for that transaction's.
    last_gtid: Option<Gtid>,
}

impl Resume {
    pub fn new(table: CheckpointTable) -> Self {
        Self {
            table,
            checkpoint: None,
            log_bin: false,
            skipping: false,
            skipped: 0,
            resumed: false,
            current: None,
            last_gtid: None,
        }
    }

    /// Transactions of the stream skipped because the target held them.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Whether a statement of `kind`, outside a transaction, starts one of the stream's
/// transactions: a BEGIN, or work that commits by itself.
fn starts_transaction(kind: StatementKind) -> bool {
    use StatementKind::*;
    // A BINLOG statement outside a transaction is a format description.
    !matches!(
        kind,
        SetSession | Use | Select | Commit | Rollback | BinlogEvent
    )
}

/// Whether a statement of `kind` commits by itself: it starts a transaction of the stream but
/// is no BEGIN.
fn commits_by_itself(kind: StatementKind, in_transaction: bool) -> bool {
    !in_transaction && starts_transaction(kind) && kind != StatementKind::Begin
}

impl Session {
    /// Stages 1 and 2 for one COM_QUERY. `Ok(false)`: answered here (skipped, or the session
    /// halted); forward nothing.
    pub(super) async fn resume_gate(
        &mut self,
        text: &[u8],
        plan: &QueryPlan,
    ) -> Result<bool, SessionError> {
        let Some(resume) = self.resume.as_mut() else {
            return Ok(true);
        };
        if resume.checkpoint.is_none() && !self.load_checkpoint(text).await? {
            return Ok(false);
        }
        let Some(resume) = self.resume.as_mut() else {
            return Ok(true);
        };
        let [statement] = plan.statements.as_slice() else {
            if resume.skipping {
                let message = "replaygate: --checkpoint cannot resume inside a multi-statement \
                               query: replay the stream with the mariadb client, one statement \
                               per query";
                return self.halt_checkpoint(text, message.to_owned()).await;
            }
            return Ok(true);
        };
        let stmt = text.get(statement.range.clone()).unwrap_or_default();
        if is_only_comments(stmt, &self.lex) {
            return Ok(true);
        }
        let kind = classify(stmt, &self.lex).kind;
        if resume.skipping {
            return match kind {
                StatementKind::SetSession | StatementKind::Use => Ok(true),
                StatementKind::Commit | StatementKind::Rollback => {
                    resume.skipping = false;
                    self.answer_ok().await.map(|()| false)
                }
                _ => self.answer_ok().await.map(|()| false),
            };
        }
        if self.state.in_transaction || !starts_transaction(kind) {
            return Ok(true);
        }
        let header = statement.header.as_ref().or(self.state.event.as_ref());
        let mark = transaction_mark(
            &self.state.gtid,
            resume.last_gtid,
            header,
            self.state.stream_files,
        );
        resume.current = mark;
        let covered = match (mark, &resume.checkpoint) {
            (Some(m), Some(cp)) => cp.covers(&m),
            _ => false,
        };
        if covered {
            resume.skipped += 1;
            if let Some(Mark::Gtid(g)) = mark {
                resume.last_gtid = Some(g);
            }
            resume.skipping = kind == StatementKind::Begin;
            metrics::counter!("replaygate_checkpoint_skipped_transactions_total").increment(1);
            return self.answer_ok().await.map(|()| false);
        }
        let pending = mark.and_then(|m| resume.checkpoint.as_mut()?.take_pending(&m));
        if let Some(pending) = pending {
            let applied_mark = record_mark(mark, header, self.state.stream_files);
            match self.settle_pending(pending, stmt, applied_mark).await? {
                None => return Ok(false),
                Some(true) => {
                    if let Some(resume) = self.resume.as_mut() {
                        resume.skipped += 1;
                        if let Some(Mark::Gtid(g)) = mark {
                            resume.last_gtid = Some(g);
                        }
                        resume.current = None;
                    }
                    return self.answer_ok().await.map(|()| false);
                }
                Some(false) => {}
            }
        }
        let Some(resume) = self.resume.as_mut() else {
            return Ok(true);
        };
        if !resume.resumed {
            resume.resumed = true;
            let at = mark.map_or_else(|| "an unknown position".to_owned(), |m| m.to_string());
            info!(
                session = self.id,
                skipped = resume.skipped,
                resumes_at = %at,
                "checkpoint: {} transaction(s) the target already holds were skipped; the replay \
                 goes on from {at}",
                resume.skipped
            );
        }
        Ok(true)
    }

    /// Stage 1: reads the checkpoint (creating the table when missing). `Ok(false)`: it cannot
    /// be read; the session halted.
    async fn load_checkpoint(&mut self, text: &[u8]) -> Result<bool, SessionError> {
        let Some(resume) = self.resume.as_ref() else {
            return Ok(true);
        };
        let table = resume.table.clone();
        let exists = internal_query(&mut self.backend, self.caps, &table.exists_sql()).await?;
        let failure = match exists {
            Ok(rows) if rows.is_empty() => {
                let mut failure = None;
                for sql in table.create_sql() {
                    if let Err(e) = internal_query(&mut self.backend, self.caps, &sql).await? {
                        failure = Some(format!("cannot create it ({sql}): {}", e.message));
                        break;
                    }
                }
                failure
            }
            Ok(_) => None,
            Err(e) => Some(format!("cannot look it up: {}", e.message)),
        };
        let loaded = match failure {
            Some(f) => Err(f),
            None => {
                let load = internal_query(&mut self.backend, self.caps, &table.load_sql()).await?;
                let log_bin =
                    internal_query(&mut self.backend, self.caps, "SELECT @@log_bin").await?;
                match (load, log_bin) {
                    (Ok(rows), Ok(log_bin)) => Ok((rows, log_bin)),
                    (Err(e), _) | (_, Err(e)) => Err(format!("cannot read it: {}", e.message)),
                }
            }
        };
        let (rows, log_bin) = match loaded {
            Ok(loaded) => loaded,
            Err(why) => {
                let message = format!(
                    "replaygate: the checkpoint table {}.{} {why}. Nothing was forwarded.",
                    table.schema, table.table
                );
                return self.halt_checkpoint(text, message).await;
            }
        };
        let (checkpoint, unreadable) = Checkpoint::from_rows(&rows);
        if !unreadable.is_empty() {
            let message = format!(
                "replaygate: the checkpoint table {}.{} has rows replaygate cannot read ({}); \
                 nothing was forwarded. Fix or delete them.",
                table.schema,
                table.table,
                unreadable.join(", ")
            );
            return self.halt_checkpoint(text, message).await;
        }
        info!(
            session = self.id,
            table = %format!("{}.{}", table.schema, table.table),
            checkpoint = %checkpoint.describe(),
            "checkpoint read: transactions the target already holds will be skipped"
        );
        if let Some(resume) = self.resume.as_mut() {
            resume.log_bin = log_bin
                .first()
                .and_then(|r| r.first().cloned().flatten())
                .is_some_and(|v| v == "1");
            resume.checkpoint = Some(checkpoint);
        }
        Ok(true)
    }

    /// Stage 3, before a statement is forwarded: a COMMIT gets the transaction's checkpoint
    /// inside the transaction; a statement that commits by itself is recorded as pending.
    /// `Ok(false)`: they could not be written; the session halted before the statement (the
    /// target rolls an open transaction back when the client leaves).
    pub(super) async fn checkpoint_before_forward(
        &mut self,
        text: &[u8],
        plan: &QueryPlan,
    ) -> Result<bool, SessionError> {
        let Some(resume) = self.resume.as_ref() else {
            return Ok(true);
        };
        let [statement] = plan.statements.as_slice() else {
            return Ok(true);
        };
        let stmt = text.get(statement.range.clone()).unwrap_or_default();
        let kind = classify(stmt, &self.lex).kind;
        if !self.state.in_transaction {
            return match resume.current {
                Some(mark)
                    if commits_by_itself(kind, self.state.in_transaction)
                        && !is_only_comments(stmt, &self.lex) =>
                {
                    self.record_pending(stmt, mark).await
                }
                _ => Ok(true),
            };
        }
        if kind != StatementKind::Commit {
            return Ok(true);
        }
        let header = statement.header.as_ref().or(self.state.event.as_ref());
        let Some(mark) = record_mark(resume.current, header, self.state.stream_files) else {
            return self.refuse_unmarked(text).await;
        };
        if !self.pipeline.is_empty() && !self.drain().await? {
            return Ok(false);
        }
        self.write_checkpoint(text, mark).await
    }

    /// Stage 3, after a statement that committed by itself was acknowledged.
    pub(super) async fn checkpoint_after_implicit_commit(
        &mut self,
        text: &[u8],
        kinds: &[StatementKind],
    ) -> Result<(), SessionError> {
        let Some(resume) = self.resume.as_ref() else {
            return Ok(());
        };
        let [kind] = kinds else { return Ok(()) };
        if !commits_by_itself(*kind, self.state.in_transaction) || is_only_comments(text, &self.lex)
        {
            return Ok(());
        }
        let Some(mark) = record_mark(
            resume.current,
            self.state.event.as_ref(),
            self.state.stream_files,
        ) else {
            warn!(
                session = self.id,
                "checkpoint: a statement that commits by itself has neither a GTID nor a binlog \
                 position (replay with `mariadb --comments`); a rerun would run it again"
            );
            return Ok(());
        };
        if matches!(mark, Mark::Gtid(_)) && resume.log_bin && self.state.sql_log_bin {
            // The target's binlog holds its GTID (see the module doc).
            if let (Some(resume), Mark::Gtid(g)) = (self.resume.as_mut(), mark) {
                resume.last_gtid = Some(g);
                resume.current = None;
            }
            return Ok(());
        }
        self.write_checkpoint(text, mark).await.map(|_| ())
    }

    /// Writes `mark` to the checkpoint table on the session's own connection.
    async fn write_checkpoint(&mut self, text: &[u8], mark: Mark) -> Result<bool, SessionError> {
        let Some(resume) = self.resume.as_ref() else {
            return Ok(true);
        };
        let sql = resume.table.record_sql(&mark);
        tracing::debug!(session = self.id, %mark, "checkpoint");
        if let Err(e) = internal_query(&mut self.backend, self.caps, &sql).await? {
            let message = format!(
                "replaygate: cannot write the checkpoint ({}) before this statement was \
                 forwarded: {}. The transaction is not committed; a rerun resumes before it.",
                mark, e.message
            );
            return self.halt_checkpoint(text, message).await;
        }
        if let Some(resume) = self.resume.as_mut() {
            if let Mark::Gtid(g) = mark {
                resume.last_gtid = Some(g);
            }
            resume.current = None;
        }
        Ok(true)
    }

    async fn refuse_unmarked(&mut self, text: &[u8]) -> Result<bool, SessionError> {
        let message = "replaygate: --checkpoint cannot record this transaction: the stream \
                       carries neither a GTID nor a binlog position for it. Replay with \
                       `mariadb --comments` (positions) or a stream with GTIDs; nothing of this \
                       COMMIT was forwarded."
            .to_owned();
        self.halt_checkpoint(text, message).await
    }

    /// Refuses `stmt` and halts the session (sticky, as the guard's halt).
    async fn halt_checkpoint(
        &mut self,
        stmt: &[u8],
        message: String,
    ) -> Result<bool, SessionError> {
        let position = StreamPosition::of(&self.state);
        let message = format!(
            "{message} At {position}. Statement: {}",
            escape_for_message(stmt, STATEMENT_PREVIEW_CHARS)
        );
        warn!(session = self.id, "{message}");
        self.halted = Some(format!(
            "replaygate: this session halted at {position}: the checkpoint could not be kept. \
             Every later statement is refused."
        ));
        self.refuse(ER_OPTION_PREVENTS_STATEMENT, b"HY000", &message)
            .await
            .map(|()| false)
    }
}

/// Where a transaction starts: its GTID when the stream announced a new one, else the origin
/// server and the `# at` position of its first event.
fn transaction_mark(
    gtid: &super::state::Gtid,
    last: Option<Gtid>,
    header: Option<&EventHeader>,
    files: u64,
) -> Option<Mark> {
    // The domain is announced only when it changes from 0. Ids beyond 32 bits are no GTID.
    let domain_id = u32::try_from(gtid.domain_id.unwrap_or(0)).ok();
    let server_id = gtid.server_id.and_then(|s| u32::try_from(s).ok());
    if let (Some(domain_id), Some(server_id), Some(seq_no)) = (domain_id, server_id, gtid.seq_no) {
        let g = Gtid {
            domain_id,
            server_id,
            seq_no,
        };
        if last != Some(g) {
            return Some(Mark::Gtid(g));
        }
    }
    let header = header?;
    Some(Mark::Position(Position {
        server: header.server_id?,
        file_ordinal: files,
        end_log_pos: header.position?,
    }))
}

/// What to record for the transaction that started at `current` and ends at `header`: its
/// GTID, else the end of its last event.
fn record_mark(current: Option<Mark>, header: Option<&EventHeader>, files: u64) -> Option<Mark> {
    if let Some(Mark::Gtid(g)) = current {
        return Some(Mark::Gtid(g));
    }
    let header = header?;
    Some(Mark::Position(Position {
        server: header.server_id?,
        file_ordinal: files,
        end_log_pos: header.end_log_pos?,
    }))
}
