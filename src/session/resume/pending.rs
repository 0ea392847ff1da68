//! The pending statement ([`crate::checkpoint::Pending`]) in a session: recorded right before a
//! statement that commits by itself is forwarded; judged on a rerun when the stream reaches it
//! and the checkpoint stops short of it (the replay stopped between the two).

use tracing::{info, warn};

use super::super::Session;
use super::super::backend::internal_query;
use super::super::error::SessionError;
use super::super::query::STATEMENT_PREVIEW_CHARS;
use crate::checkpoint::{BinlogEvent, Gtid, GtidState, Mark, Pending, Verdict, find_statement};
use crate::sql::{escape_for_message, string_literal};

/// How many of the target's newest binlog files, and events in each, are searched for a
/// pending statement: its crash recovery writes into the file it opens when it starts, and a
/// rerun comes soon after.
const BINLOG_FILES_SEARCHED: usize = 4;
const EVENTS_SEARCHED_PER_FILE: usize = 50_000;

/// What a rerun concludes about the pending statement.
#[derive(Debug)]
enum Finding {
    /// The target holds it: skip it. How replaygate knows.
    Applied(String),
    /// The target does not hold it: run it.
    NotApplied,
    /// Nothing says: halt before it. Why.
    Unknown(String),
}

impl Session {
    /// Before a statement that commits by itself (at `mark`) is forwarded: records it as
    /// pending. `Ok(false)`: the record failed; the session halted and nothing was forwarded.
    pub(in crate::session) async fn record_pending(
        &mut self,
        stmt: &[u8],
        mark: Mark,
    ) -> Result<bool, SessionError> {
        let Some(resume) = self.resume.as_ref() else {
            return Ok(true);
        };
        let binlogged = resume.log_bin && self.state.sql_log_bin;
        let preview = escape_for_message(stmt, STATEMENT_PREVIEW_CHARS);
        let sql = resume.table.pending_sql(&mark, &preview, binlogged);
        if let Err(e) = internal_query(&mut self.backend, self.caps, &sql).await? {
            let message = format!(
                "replaygate: cannot record this statement as pending ({mark}) before forwarding \
                 it: {}. It was not forwarded. (--checkpoint writes the row with \
                 `SET STATEMENT sql_log_bin = 0`, which needs the BINLOG ADMIN privilege.)",
                e.message
            );
            return self.halt_checkpoint(stmt, message).await;
        }
        Ok(true)
    }

    /// On a rerun, at the pending statement: `Ok(Some(true))` skip it (recorded as applied),
    /// `Ok(Some(false))` run it, `Ok(None)` the session halted before it.
    pub(super) async fn settle_pending(
        &mut self,
        pending: Pending,
        stmt: &[u8],
        applied_mark: Option<Mark>,
    ) -> Result<Option<bool>, SessionError> {
        let finding = self.find_pending(&pending, stmt).await?;
        let Some(resume) = self.resume.as_ref() else {
            return Ok(Some(false));
        };
        let (skip, run) = resume.table.pending_resolutions();
        match finding {
            Finding::NotApplied => {
                info!(
                    session = self.id,
                    mark = %pending.mark,
                    "checkpoint: the replay stopped while the target ran this statement; the \
                     target's binlog has not moved since it was sent, so it was not applied: it \
                     runs again"
                );
                Ok(Some(false))
            }
            Finding::Applied(how) => {
                let mark = applied_mark.unwrap_or(pending.mark);
                let sql = resume.table.record_unbinlogged_sql(&mark);
                if let Err(e) = internal_query(&mut self.backend, self.caps, &sql).await? {
                    let message = format!(
                        "replaygate: the target holds this statement ({how}) but the checkpoint \
                         cannot record it: {}. Nothing was forwarded.",
                        e.message
                    );
                    return self.halt_checkpoint(stmt, message).await.map(|_| None);
                }
                warn!(
                    session = self.id,
                    mark = %pending.mark,
                    "checkpoint: the replay stopped while the target ran this statement; {how}: \
                     skipped, not run twice"
                );
                Ok(Some(true))
            }
            Finding::Unknown(why) => {
                // Clients keep the first 511 bytes of a message: what to do comes first.
                let message = format!(
                    "replaygate: cannot tell whether the target applied this statement, sent \
                     right before the replay stopped ({}). If the target holds it (look, e.g. \
                     SHOW CREATE TABLE), run {skip}; if not, {run}; then rerun the same \
                     command. Why: {why}.",
                    pending.mark
                );
                self.halt_checkpoint(stmt, message).await.map(|_| None)
            }
        }
    }

    async fn find_pending(
        &mut self,
        pending: &Pending,
        stmt: &[u8],
    ) -> Result<Finding, SessionError> {
        if pending.verdict == Some(Verdict::Applied) {
            return Ok(Finding::Applied(
                "the checkpoint table's pending row says so (verdict = 'applied')".to_owned(),
            ));
        }
        let Some(before) = &pending.state_before else {
            return Ok(Finding::Unknown(
                "the target was not to binlog it (no binlog, or the stream had turned \
                 sql_log_bin off), so its binlog cannot tell"
                    .to_owned(),
            ));
        };
        let now = match internal_query(
            &mut self.backend,
            self.caps,
            "SELECT @@GLOBAL.gtid_binlog_state",
        )
        .await?
        {
            Ok(rows) => GtidState::parse(
                rows.first()
                    .and_then(|r| r.first().cloned().flatten())
                    .as_deref()
                    .unwrap_or(""),
            ),
            Err(e) => {
                return Ok(Finding::Unknown(format!(
                    "its binlog state cannot be read ({})",
                    e.message
                )));
            }
        };
        let moved = now.moved_since(before);
        if moved.is_empty() {
            return Ok(Finding::NotApplied);
        }
        let statement = String::from_utf8_lossy(stmt);
        match self.search_binlog(before, &now, &statement).await? {
            Ok(Some(gtid)) => Ok(Finding::Applied(format!(
                "the target's binlog holds it as GTID {gtid}, written after it was sent (by the \
                 target's crash recovery, or before its checkpoint)"
            ))),
            Ok(None) => Ok(Finding::Unknown(format!(
                "the target binlogged {} since, and not this statement (in its \
                 {BINLOG_FILES_SEARCHED} newest binlog files)",
                moved.join(", ")
            ))),
            Err(why) => Ok(Finding::Unknown(format!(
                "the target binlogged {} since, and its binlog cannot be searched ({why})",
                moved.join(", ")
            ))),
        }
    }

    /// Looks for `statement` among what the target binlogged after `before`, newest file
    /// first. `Ok(Err(_))`: the target refused (`SHOW BINLOG EVENTS` needs BINLOG MONITOR).
    async fn search_binlog(
        &mut self,
        before: &GtidState,
        now: &GtidState,
        statement: &str,
    ) -> Result<Result<Option<Gtid>, String>, SessionError> {
        let files = match internal_query(&mut self.backend, self.caps, "SHOW BINARY LOGS").await? {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(e.message)),
        };
        let names = files
            .iter()
            .rev()
            .filter_map(|r| r.first().cloned().flatten())
            .take(BINLOG_FILES_SEARCHED);
        for name in names {
            let sql = format!(
                "SHOW BINLOG EVENTS IN {} LIMIT {EVENTS_SEARCHED_PER_FILE}",
                string_literal(&name)
            );
            let rows = match internal_query(&mut self.backend, self.caps, &sql).await? {
                Ok(rows) => rows,
                Err(e) => return Ok(Err(e.message)),
            };
            let events: Vec<BinlogEvent> = rows
                .iter()
                .filter_map(|r| BinlogEvent::from_row(r))
                .collect();
            if let Some(gtid) = find_statement(&events, before, now, statement) {
                return Ok(Ok(Some(gtid)));
            }
        }
        Ok(Ok(None))
    }
}
