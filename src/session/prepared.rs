//! Prepared statements: the text is inspected and judged when it is prepared (the guard's
//! verdict holds for every execution, whose parameters are data, not SQL), and each execution
//! waits for the caps and the pause gate like a query, so throttling holds whichever protocol
//! the client replays with. In pipelined mode an execution of a data change inside a
//! transaction is sent ahead like the same statement as text would be.

use bytes::BytesMut;

use super::Session;
use super::error::SessionError;
use crate::config::ApplyMode;
use crate::policy::Intervention;
use crate::protocol::command::{self, ReplyShape};
use crate::throttle::Cost;

impl Session {
    /// COM_STMT_PREPARE text is checked and judged like a query's. A statement the guard would
    /// withhold cannot be quarantined at prepare time (it runs later, on EXECUTE): it is halted
    /// or rejected instead.
    pub(super) async fn prepare(&mut self, packet: BytesMut) -> Result<(), SessionError> {
        let plan = self.inspect(&packet[1..]);
        if let Some(refusal) = &plan.refusal {
            return self.refuse_statement(refusal).await;
        }
        let stmt = &packet[1..];
        let judgement = self.guard.judge(
            stmt,
            self.state.event.as_ref(),
            &self.state,
            &self.ctx.settings.policy,
            &self.lex,
        );
        match judgement.verdict.action.intervention() {
            None => {
                let outcome = self.forward(&packet, ReplyShape::Prepare).await?;
                if let Some(ok) = outcome.prepared
                    && outcome.error.is_none()
                    && self.ctx.settings.apply_mode == ApplyMode::Pipelined
                {
                    let kind = judgement.classification.kind;
                    self.pipeline.prepared(ok, kind, packet.freeze().slice(1..));
                }
                Ok(())
            }
            Some(Intervention::Halt) => {
                self.halt(stmt, &judgement, Some("in a prepared statement"))
                    .await
            }
            Some(_) => self.intervene(stmt, &judgement, Intervention::Reject).await,
        }
    }

    /// A prepared statement's execution (judged at prepare time) waits for the caps and the
    /// pause gate like a query. Its kind is not known here, so under autocommit outside a
    /// transaction each execution counts as a transaction of its own.
    pub(super) async fn execute(&mut self, packet: BytesMut) -> Result<(), SessionError> {
        let cost = Cost {
            statements: 1,
            bytes: packet.len() as u64 - 1,
            transactions: u32::from(self.state.autocommit && !self.state.in_transaction),
        };
        let name = command::name(packet[0]);
        // Judged when it was prepared: counted under its own kind, as that judgement allowed it.
        metrics::counter!("replaygate_statements_total", "kind" => "execute", "verdict" => "allow")
            .increment(1);
        if !self.pass_gate(cost, name.as_bytes()).await? {
            return Ok(());
        }
        if let Some(text) = self.sendable_execution(&packet) {
            return self.send_execution_ahead(&packet, text).await;
        }
        if !self.pipeline.is_empty() && !self.drain().await? {
            return Ok(());
        }
        self.forward(&packet, ReplyShape::ResultSets)
            .await
            .map(|_| ())
    }

    /// COM_STMT_CLOSE has no reply: it is queued behind whatever was sent ahead.
    pub(super) async fn close_prepared(&mut self, packet: BytesMut) -> Result<(), SessionError> {
        if let Some(id) = command::statement_id(&packet) {
            self.pipeline.forget_prepared(id);
        }
        self.forward(&packet, ReplyShape::None).await.map(|_| ())
    }
}
