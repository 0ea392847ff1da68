//! Carrying out the guard's verdicts on one COM_QUERY: forward, refuse, quarantine (journal,
//! then OK), follow an origin, or rewrite DROP TABLE into a RENAME that keeps the data.
//!
//! The journal is written and fsynced *before* the client hears anything, so a statement
//! withheld from the target is never lost, even if replaygate dies right after answering.

use bytes::BytesMut;
use tracing::{info, warn};

use super::error::SessionError;
use super::guard::{Judgement, quarantine_table_name, quote_identifier};
use super::query::{QueryPlan, STATEMENT_PREVIEW_CHARS};
use super::state::StreamPosition;
use super::{Session, backend};
use crate::journal::JournalRecord;
use crate::policy::{Action, Intervention, Verdict};
use crate::protocol::command::{ReplyShape, code};
use crate::protocol::reply::ok_packet;
use crate::sql::{StatementKind, escape_for_message, string_literal};
use crate::throttle::Cost;

/// ER_OPTION_PREVENTS_STATEMENT: the server's own code for "a setting forbids this statement".
pub const ER_OPTION_PREVENTS_STATEMENT: u16 = 1290;

impl Session {
    /// Stages 3-5 for a COM_QUERY the guard has judged.
    pub(super) async fn enforce(
        &mut self,
        packet: &BytesMut,
        plan: &QueryPlan,
        judgements: Vec<Judgement>,
        cost: Cost,
    ) -> Result<(), SessionError> {
        let text = &packet[1..];
        let decisive = judgements.iter().position(|j| {
            j.roll_back_instead || !matches!(j.verdict.action, Action::Allow | Action::Log)
        });
        let Some(index) = decisive else {
            for (stmt, j) in plan.statements.iter().zip(&judgements) {
                if j.verdict.action == Action::Log {
                    info!(
                        session = self.id,
                        rule = %j.verdict.rule,
                        kind = j.classification.kind.as_str(),
                        at = %StreamPosition::of(&self.state),
                        statement = %escape_for_message(&text[stmt.range.clone()], STATEMENT_PREVIEW_CHARS),
                        "statement logged by rule"
                    );
                }
            }
            return self.forward_query(packet, plan, cost).await;
        };
        let stmt = &text[plan.statements[index].range.clone()];
        let mut judgement = judgements[index].clone();
        // A multi-statement query runs as a whole on the server: one withheld statement cannot be
        // cut out of it, so the whole text stops here (fail closed).
        if judgements.len() > 1 {
            judgement.verdict = Verdict {
                action: Action::Halt,
                rule: format!(
                    "{} (in a multi-statement query, which cannot be applied in part)",
                    judgement.verdict.rule
                ),
            };
        }
        if judgement.roll_back_instead {
            return self.roll_back_instead_of_commit(stmt, &judgement).await;
        }
        match judgement.verdict.action.intervention() {
            None => self.forward_query(packet, plan, cost).await,
            Some(intervention) => self.intervene(stmt, &judgement, intervention).await,
        }
    }

    /// Carries out a verdict that keeps `stmt` from being forwarded as it is.
    pub(super) async fn intervene(
        &mut self,
        stmt: &[u8],
        judgement: &Judgement,
        intervention: Intervention,
    ) -> Result<(), SessionError> {
        match intervention {
            Intervention::Reject => {
                let message = format!(
                    "replaygate: statement rejected by rule '{}' ({}): {}. At {}. The session continues.",
                    judgement.verdict.rule,
                    judgement.classification.kind.as_str(),
                    escape_for_message(stmt, STATEMENT_PREVIEW_CHARS),
                    StreamPosition::of(&self.state)
                );
                warn!(session = self.id, "{message}");
                self.refuse(ER_OPTION_PREVENTS_STATEMENT, b"HY000", &message)
                    .await
            }
            Intervention::Halt => self.halt(stmt, judgement, None).await,
            Intervention::Quarantine => self.quarantine(stmt, judgement, None).await,
            Intervention::QuarantineOrigin => self.quarantine_origin(stmt, judgement).await,
            Intervention::Rewrite => self.rewrite(stmt, judgement).await,
        }
    }

    /// Refuses the statement and everything after it in this session.
    pub(super) async fn halt(
        &mut self,
        stmt: &[u8],
        judgement: &Judgement,
        why: Option<&str>,
    ) -> Result<(), SessionError> {
        let record = self
            .journal(stmt, judgement, Action::Halt, why.map(str::to_owned))
            .await?;
        let position = StreamPosition::of(&self.state);
        let resume = position
            .end_log_pos
            .map(|p| format!("resume with mariadb-binlog --start-position={p} after review, or "))
            .unwrap_or_default();
        let journaled = match record {
            Some(id) => format!(" Journal record #{id}."),
            None => String::new(),
        };
        let message = format!(
            "replaygate: halted before {kind} by rule '{rule}'{why}: {preview}. At {position}. Nothing of it \
             was forwarded: the target is at the last statement before it.{journaled} To continue: {resume}run \
             replaygate with a policy that allows it. Every later statement of this session is refused.",
            kind = judgement.classification.kind.as_str(),
            rule = judgement.verdict.rule,
            why = why.map(|w| format!(" ({w})")).unwrap_or_default(),
            preview = escape_for_message(stmt, STATEMENT_PREVIEW_CHARS),
        );
        warn!(session = self.id, "{message}");
        self.halted = Some(format!(
            "replaygate: this session halted at {position} (rule '{}'); every later statement is refused so \
             the replay cannot skip past it. Reconnect to start a new replay.",
            judgement.verdict.rule
        ));
        self.refuse(ER_OPTION_PREVENTS_STATEMENT, b"HY000", &message)
            .await
    }

    /// Journals the statement and answers OK without executing it.
    async fn quarantine(
        &mut self,
        stmt: &[u8],
        judgement: &Judgement,
        note: Option<String>,
    ) -> Result<(), SessionError> {
        let Some(id) = self
            .journal(stmt, judgement, judgement.verdict.action, note)
            .await?
        else {
            return self
                .halt(stmt, judgement, Some("no journal is configured to keep it"))
                .await;
        };
        info!(
            session = self.id,
            journal_record = id,
            rule = %judgement.verdict.rule,
            origin = judgement.origin,
            at = %StreamPosition::of(&self.state),
            statement = %escape_for_message(stmt, 120),
            "statement quarantined"
        );
        self.answer_ok().await
    }

    async fn quarantine_origin(
        &mut self,
        stmt: &[u8],
        judgement: &Judgement,
    ) -> Result<(), SessionError> {
        if self.state.event.is_none() {
            return self
                .halt(
                    stmt,
                    judgement,
                    Some(
                        "quarantine-origin needs the binlog event headers to know origin threads: rerun the \
                         replay with `mariadb --comments`",
                    ),
                )
                .await;
        }
        let Some(origin) = judgement.origin else {
            return self
                .halt(
                    stmt,
                    judgement,
                    Some("the statement's origin thread is unknown"),
                )
                .await;
        };
        if self.state.in_transaction {
            return self
                .halt(
                    stmt,
                    judgement,
                    Some("inside an open transaction, which cannot be half committed"),
                )
                .await;
        }
        self.guard
            .quarantine_origin(origin, &judgement.verdict.rule);
        warn!(
            session = self.id,
            origin,
            rule = %judgement.verdict.rule,
            at = %StreamPosition::of(&self.state),
            "origin thread quarantined: its later events are skipped and journaled"
        );
        self.quarantine(
            stmt,
            judgement,
            Some(format!("origin thread {origin} quarantined from here on")),
        )
        .await
    }

    /// The COMMIT of a transaction whose statements were withheld: roll back what the target
    /// holds of it (its BEGIN and context), so nothing is half committed.
    async fn roll_back_instead_of_commit(
        &mut self,
        stmt: &[u8],
        judgement: &Judgement,
    ) -> Result<(), SessionError> {
        self.journal(
            stmt,
            judgement,
            Action::Quarantine,
            Some(
                "transaction's statements were quarantined: ROLLBACK sent instead of this COMMIT"
                    .into(),
            ),
        )
        .await?;
        let mut rollback = vec![code::COM_QUERY];
        rollback.extend_from_slice(b"ROLLBACK");
        self.forward(&rollback, ReplyShape::ResultSets).await?;
        Ok(())
    }

    /// DROP TABLE becomes RENAME TABLE into quarantine names, keeping the data.
    async fn rewrite(&mut self, stmt: &[u8], judgement: &Judgement) -> Result<(), SessionError> {
        let c = &judgement.classification;
        if c.kind != StatementKind::DropTable || c.objects.is_empty() {
            let note = format!(
                "rewrite applies to DROP TABLE only; {} quarantined instead",
                c.kind.as_str()
            );
            return self.quarantine(stmt, judgement, Some(note)).await;
        }
        let Some(database) = self
            .state
            .database
            .clone()
            .or_else(|| c.objects.iter().find_map(|o| o.schema.clone()))
        else {
            return self
                .halt(
                    stmt,
                    judgement,
                    Some("no database is selected to rename in"),
                )
                .await;
        };
        // DROP TABLE IF EXISTS of a missing table is a no-op: rename only what exists.
        let mut renames = Vec::new();
        for object in &c.objects {
            let schema = object.schema.clone().unwrap_or_else(|| database.clone());
            let exists = format!(
                "SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} AND TABLE_NAME = {}",
                string_literal(&schema),
                string_literal(&object.name)
            );
            let found = backend::internal_query(&mut self.backend, self.caps, &exists).await?;
            if found.is_ok_and(|rows| !rows.is_empty()) {
                renames.push((schema, object.name.clone()));
            }
        }
        let serial = self.rewrites_done + 1;
        let rename = renames
            .iter()
            .map(|(schema, table)| {
                format!(
                    "{}.{} TO {}.{}",
                    quote_identifier(schema),
                    quote_identifier(table),
                    quote_identifier(schema),
                    quote_identifier(&quarantine_table_name(table, serial)),
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let note = if renames.is_empty() {
            "no such table: nothing renamed".to_owned()
        } else {
            format!("executed instead: RENAME TABLE {rename}")
        };
        if self
            .journal(stmt, judgement, Action::Rewrite, Some(note.clone()))
            .await?
            .is_none()
        {
            return self
                .halt(stmt, judgement, Some("no journal is configured to keep it"))
                .await;
        }
        warn!(session = self.id, rule = %judgement.verdict.rule, at = %StreamPosition::of(&self.state), "DROP TABLE rewritten: {note}");
        if renames.is_empty() {
            return self.answer_ok().await;
        }
        self.rewrites_done = serial;
        let mut command = vec![code::COM_QUERY];
        command.extend_from_slice(format!("RENAME TABLE {rename}").as_bytes());
        self.forward(&command, ReplyShape::ResultSets).await?;
        Ok(())
    }

    /// Answers the client's command with an OK carrying the session's status.
    pub(super) async fn answer_ok(&mut self) -> Result<(), SessionError> {
        let mut status = 0u16;
        if self.state.autocommit {
            status |= 0x0002;
        }
        if self.state.in_transaction {
            status |= 0x0001;
        }
        self.client
            .send_packet(&ok_packet(status))
            .await
            .map_err(SessionError::Client)?;
        self.client.flush().await.map_err(SessionError::Client)
    }

    /// Appends a record to the journal (fsynced before returning). `None` when no journal is
    /// configured.
    async fn journal(
        &mut self,
        stmt: &[u8],
        judgement: &Judgement,
        action: Action,
        note: Option<String>,
    ) -> Result<Option<u64>, SessionError> {
        let mut record = self.journal_record(stmt, &StreamPosition::of(&self.state));
        record.origin_thread = judgement.origin;
        record.rule.clone_from(&judgement.verdict.rule);
        record.action = action.as_str().to_owned();
        record.kind = judgement.classification.kind.as_str().to_owned();
        record.note = note;
        self.append_journal(record).await
    }

    /// A journal record of `stmt` with the session's context at `position`.
    pub(super) fn journal_record(&self, stmt: &[u8], position: &StreamPosition) -> JournalRecord {
        let mut record = JournalRecord {
            session: self.id,
            client: self.peer.clone(),
            user: self.state.user.clone(),
            origin_thread: position.thread_id,
            gtid: position.gtid.clone(),
            position: position.position,
            end_log_pos: position.end_log_pos,
            event_time: position.timestamp.clone(),
            database: self.state.database.clone(),
            foreign_key_checks: self.state.foreign_key_checks,
            unique_checks: self.state.unique_checks,
            sql_log_bin: self.state.sql_log_bin,
            charset: self.state.charset.clone(),
            collation: self.state.collation.clone(),
            ..JournalRecord::default()
        };
        record.set_statement(stmt);
        record
    }

    /// Appends to the journal (fsynced before returning); `None` when none is configured.
    pub(super) async fn append_journal(
        &self,
        record: JournalRecord,
    ) -> Result<Option<u64>, SessionError> {
        let Some(journal) = self.ctx.journal.clone() else {
            return Ok(None);
        };
        match journal.append(record).await {
            Ok(id) => Ok(Some(id)),
            Err(e) => Err(SessionError::Journal(e.to_string())),
        }
    }
}
