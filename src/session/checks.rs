//! When a session runs the operator's consistency checks ([`crate::checks`]) and what a failure
//! does to it.
//!
//! The checks come due after every `every` committed transactions (a COMMIT, or a statement
//! that commits by itself: autocommit DML, DDL) and, with `at_file_boundary`, where the stream
//! starts its next binlog file (the format description each file of `mariadb-binlog`'s text
//! starts with; `mariadb --comments` passes its header). They run right before the session's
//! next statement is forwarded — the target then holds exactly what was committed up to the
//! transaction that made them due — and a failure halts the session there, as the guard's halt
//! does: that statement is refused with an ERR naming replaygate, the check, what it returned,
//! the transaction after which it failed and where it last passed; the halt is journaled and
//! sticky. What was committed since the last run is checked once more when the client leaves
//! (for the log: there is nobody left to tell).

use tracing::{debug, info, warn};

use super::Session;
use super::enforce::ER_OPTION_PREVENTS_STATEMENT;
use super::error::SessionError;
use super::guard::is_only_comments;
use super::query::{QueryPlan, STATEMENT_PREVIEW_CHARS};
use super::state::StreamPosition;
use crate::checks::CheckFailure;
use crate::sql::StatementKind;
use crate::sql::{after_leading_comments, escape_for_message};

const AT_FILE_END: &str = "at the end of a binlog file";

/// A session's place in the checks' schedule.
#[derive(Debug, Default)]
pub struct CheckProgress {
    /// Transactions committed since the checks last ran.
    committed: u64,
    /// Why the checks must run before the next statement is forwarded.
    due: Option<&'static str>,
    /// The last statement that did work in the open transaction (not SET, BEGIN, COMMIT):
    /// what a COMMIT's failure report names.
    statement: Option<String>,
    /// The last committed transaction: its statement and where it is in the stream.
    last_commit: Option<String>,
    /// Where the checks last passed.
    last_pass: Option<String>,
}

impl CheckProgress {
    /// Notes a statement of the stream as it goes to the target (or is sent ahead).
    pub(super) fn note(&mut self, kind: StatementKind, stmt: &[u8]) {
        use StatementKind::*;
        match kind {
            SetSession | Use | Select | Begin | Commit => {}
            Rollback => self.statement = None,
            _ => {
                self.statement = Some(escape_for_message(after_leading_comments(stmt), 80));
            }
        }
    }
}

impl Session {
    /// Before a COM_QUERY is forwarded: notes the start of a binlog file, and runs the checks
    /// when they are due. `Ok(false)`: a check failed; the session halted and the client got the
    /// ERR: forward nothing.
    pub(super) async fn run_due_checks(
        &mut self,
        text: &[u8],
        plan: &QueryPlan,
    ) -> Result<bool, SessionError> {
        let Some(checker) = self.ctx.checks.clone() else {
            return Ok(true);
        };
        if plan.starts_binlog_file()
            && self.state.stream_files > 1
            && checker.settings().at_file_boundary
            && self.checks.last_commit.is_some()
        {
            self.checks.due = Some(AT_FILE_END);
        }
        let Some(why) = self.checks.due else {
            return Ok(true);
        };
        // Header comments sent on their own are positions, not statements: the check waits for
        // the statement they precede.
        if is_only_comments(text, &self.lex) {
            return Ok(true);
        }
        if !self.pipeline.is_empty() && !self.drain().await? {
            return Ok(false);
        }
        self.checks.due = None;
        self.checks.committed = 0;
        match checker.run().await {
            Ok(()) => {
                let at = self.checks.last_commit.clone().unwrap_or_default();
                // After every transaction that would be a line per transaction: by count they
                // pass quietly (RUST_LOG=replaygate=debug shows them), file by file they are news.
                if why == AT_FILE_END {
                    info!(session = self.id, why, after = %at, "consistency checks passed");
                } else {
                    debug!(session = self.id, why, after = %at, "consistency checks passed");
                }
                self.checks.last_pass = Some(at);
                Ok(true)
            }
            Err(failure) => {
                self.halt_on_check(text, why, &failure).await?;
                Ok(false)
            }
        }
    }

    /// After a query the target accepted whole: counts the transactions it committed.
    pub(super) fn count_commits(&mut self, text: &[u8], plan: &QueryPlan, transactions: u32) {
        let Some(checker) = &self.ctx.checks else {
            return;
        };
        if transactions == 0 {
            return;
        }
        let statement = self.checks.statement.take().unwrap_or_else(|| {
            let last = plan.statements.last().map_or(0..0, |s| s.range.clone());
            escape_for_message(after_leading_comments(&text[last]), 80)
        });
        self.checks.last_commit = Some(format!(
            "`{statement}` ({})",
            StreamPosition::of(&self.state)
        ));
        self.checks.committed += u64::from(transactions);
        if checker
            .settings()
            .every
            .is_some_and(|n| self.checks.committed >= n)
        {
            self.checks.due = Some("by --check-every");
        }
    }

    /// When the client leaves: checks what was committed since the checks last ran.
    pub(super) async fn final_checks(&mut self) {
        let Some(checker) = self.ctx.checks.clone() else {
            return;
        };
        if self.halted.is_some() || (self.checks.due.is_none() && self.checks.committed == 0) {
            return;
        }
        let at = self.checks.last_commit.clone().unwrap_or_default();
        match checker.run().await {
            Ok(()) => {
                info!(session = self.id, after = %at, "consistency checks passed at the end of the session")
            }
            Err(f) => warn!(
                session = self.id,
                check = %f.query,
                outcome = %f.outcome,
                after = %at,
                last_passed = self.checks.last_pass.as_deref().unwrap_or("never"),
                "consistency check failed at the end of the session (the client had left)"
            ),
        }
    }

    /// Refuses `stmt` and everything after it: a check failed after the last committed
    /// transaction.
    async fn halt_on_check(
        &mut self,
        stmt: &[u8],
        why: &str,
        failure: &CheckFailure,
    ) -> Result<(), SessionError> {
        let after = self
            .checks
            .last_commit
            .clone()
            .unwrap_or_else(|| "the start of the session".to_owned());
        let passed = self
            .checks
            .last_pass
            .as_deref()
            .map_or("it had not run before".to_owned(), |p| {
                format!("it last passed after {p}")
            });
        let position = StreamPosition::of(&self.state);
        let mut record = self.journal_record(stmt, &position);
        record.rule = "consistency check".to_owned();
        record.action = "halt".to_owned();
        record.kind = "check-failed".to_owned();
        record.note = Some(format!(
            "check `{}` {} {why}, after {after}; {passed}",
            failure.query, failure.outcome
        ));
        let journaled = match self.append_journal(record).await? {
            Some(id) => format!(" Journal record #{id}."),
            None => String::new(),
        };
        // Clients keep the first 512 bytes of a message: what failed and after what first.
        let message = format!(
            "replaygate: consistency check failed after {after}: `{query}` {outcome} ({why}); \
             {passed}. The target holds that transaction; this statement was not forwarded and \
             every later one is refused.{journaled} Statement: {preview}",
            query = escape_for_message(failure.query.as_bytes(), 120),
            outcome = failure.outcome,
            preview = escape_for_message(stmt, STATEMENT_PREVIEW_CHARS),
        );
        warn!(session = self.id, "{message}");
        self.halted = Some(format!(
            "replaygate: this session halted at {position}: a consistency check failed after \
             {after}. Every later statement is refused so the replay cannot go past it."
        ));
        self.refuse(ER_OPTION_PREVENTS_STATEMENT, b"HY000", &message)
            .await
    }
}
