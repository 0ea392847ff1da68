//! One client session: the statement pipeline between a client and its own backend connection.
//!
//! Each command goes through the same named stages, in order:
//!
//! 1. **read** the client's command packet;
//! 2. **inspect** it (COM_QUERY / COM_STMT_PREPARE text: split, event headers, charset check,
//!    session effects, collation translation — [`query::plan_query`], pure);
//! 3. **decide**: forward the original bytes, forward a rewrite, or answer with replaygate's own ERR;
//!    a statement to forward first passes the process-wide throttle (caps, pause gate), and once
//!    the adaptive throttle has aborted the replay every command halts the session (`abort`);
//! 4. **forward** to the target and **relay** its response to completion, byte for byte;
//! 5. **record**: apply the effects of the statements the target accepted to the session state,
//!    and publish the session's status (for the admin endpoint) after every command.
//!
//! Errors split once, here: the target's errors are relayed verbatim as part of its response;
//! replaygate's refusals are ERR packets whose message starts with `replaygate:`; a failed
//! transport ends the session, with an ERR to the client if the client is still there.

mod abort;
mod backend;
pub mod charset;
mod checks;
mod connect;
mod enforce;
pub mod error;
mod failure;
pub mod guard;
mod pipeline;
mod prepared;
pub mod query;
mod relay;
mod replica;
mod resume;
pub mod state;
pub mod status;
pub(crate) mod tls;

use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, BytesMut};
use mysql_common::constants::CapabilityFlags;
use tokio::sync::OnceCell;
use tracing::{debug, info, warn};

use self::charset::CollationCatalog;
pub use self::error::SessionError;
use self::guard::Guard;
use self::pipeline::Pipeline;
use self::query::{InspectOptions, QueryPlan, STATEMENT_PREVIEW_CHARS, plan_query};
use self::state::{SessionState, StreamPosition};
use self::status::{SessionRegistry, SessionStatus};
use crate::config::Settings;
use crate::journal::SharedJournal;
use crate::protocol::command::{self, ReplyShape, Unsupported, code};
use crate::protocol::handshake::ServerGreeting;
use crate::protocol::response::Outcome;
use crate::protocol::{PacketStream, ProtocolError, Socket};
use crate::sql::{LexOptions, MultiByte, StatementKind, escape_for_message};
use crate::throttle::{Cost, Throttle, ends_transaction};

/// What every session shares: the settings, facts about the target learned once, the throttle
/// and the registry where sessions publish their status.
#[derive(Debug)]
pub struct ProxyContext {
    pub settings: Arc<Settings>,
    /// The target's collations, read by the first session that connects.
    pub catalog: OnceCell<Arc<CollationCatalog>>,
    /// Where withheld statements are recorded, when configured.
    pub journal: Option<SharedJournal>,
    /// Caps and the pause gate, shared by all sessions (the target is shared).
    pub throttle: Arc<Throttle>,
    /// Each open session's status, for the admin endpoint and the progress lines.
    pub registry: SessionRegistry,
    /// Replicas streaming through replaygate: their halts and quarantined origins outlive
    /// their connections.
    pub replicas: crate::replication::ReplicaRegistry,
    /// The operator's consistency checks, when configured.
    pub checks: Option<Arc<crate::checks::Checker>>,
    /// Flips to true when `serve` stops: replication streams, which never finish by
    /// themselves, end then (a stream must not go on under the policy of a stopped process).
    stopping: tokio::sync::watch::Sender<bool>,
}

impl ProxyContext {
    pub fn new(settings: Arc<Settings>, journal: Option<SharedJournal>) -> Self {
        let checks = settings.checks.clone().map(|c| {
            Arc::new(crate::checks::Checker::new(
                c,
                &settings.target,
                settings.tls.target.as_ref(),
            ))
        });
        Self {
            throttle: Arc::new(Throttle::new(settings.caps)),
            settings,
            catalog: OnceCell::new(),
            journal,
            registry: SessionRegistry::default(),
            replicas: crate::replication::ReplicaRegistry::default(),
            checks,
            stopping: tokio::sync::watch::Sender::new(false),
        }
    }

    /// Tells the sessions that never end by themselves (replication streams) to end.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }

    /// Completes once [`stop`](Self::stop) was called.
    pub fn stopping(&self) -> tokio::sync::watch::Receiver<bool> {
        self.stopping.subscribe()
    }
}

/// What an operator reads as the statement: without the event header `mariadb --comments` sends
/// in front of it (the position is given apart), unless that header is all there is.
fn statement_without_header(stmt: &[u8]) -> &[u8] {
    match crate::sql::after_leading_comments(stmt) {
        [] => stmt,
        body => body,
    }
}

/// COM_PING: answered even by a halted session, so connection pools can tell it is alive.
const COM_PING: u8 = 0x0e;

/// A connected, authenticated client session.
#[derive(Debug)]
pub struct Session {
    id: u64,
    client: PacketStream<Socket>,
    backend: PacketStream<Socket>,
    greeting: ServerGreeting,
    /// Capabilities both client and server agreed on.
    caps: CapabilityFlags,
    lex: LexOptions,
    state: SessionState,
    ctx: Arc<ProxyContext>,
    /// The target's collations (shared by all sessions; read when the first one opened).
    catalog: Arc<CollationCatalog>,
    /// The last statement the target acknowledged, for the log when the target dies.
    last_acknowledged: Option<String>,
    /// The client's address, for logs and the journal.
    peer: String,
    /// Origin threads and stream transactions, for quarantine-origin.
    guard: Guard,
    /// Why this session refuses everything now (a halt is sticky: `mariadb --force` must not be
    /// able to skip past the danger).
    halted: Option<String>,
    /// DROP TABLEs rewritten so far, numbering the quarantine names.
    rewrites_done: u64,
    /// Statements sent ahead of their replies (`--apply-mode pipelined`).
    pipeline: Pipeline,
    /// What this session last published to the registry.
    status: SessionStatus,
    /// The server id a replica registered with (COM_REGISTER_SLAVE).
    replica: Option<u32>,
    /// Where the session is in the consistency checks' schedule.
    checks: checks::CheckProgress,
    /// Checkpointing and resuming (`--checkpoint`); `None`: off.
    resume: Option<resume::Resume>,
}

/// Serves one client from accept to close. Never panics the process: every failure ends in a
/// log line.
pub async fn serve_client(id: u64, client: Socket, peer: String, ctx: Arc<ProxyContext>) {
    let session = match Session::open(id, peer.clone(), client, ctx).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            debug!(session = id, %peer, "client left or was refused by the target during authentication");
            return;
        }
        Err(e) => {
            warn!(session = id, %peer, error = %e, "session not opened");
            return;
        }
    };
    info!(
        session = id,
        %peer,
        user = %session.state.user,
        target_version = %session.greeting.version,
        charset = %session.state.charset,
        collation = session.state.collation.as_deref().unwrap_or(""),
        "session opened"
    );
    let mut session = session;
    session.status.client.clone_from(&peer);
    session.publish();
    metrics::gauge!("replaygate_sessions").increment(1.0);
    match session.run().await {
        Ok(()) => info!(
            session = id,
            statements = session.state.acknowledged,
            skipped_transactions = session.resume.as_ref().map_or(0, resume::Resume::skipped),
            "session closed"
        ),
        Err(e) => session.fail(e).await,
    }
    metrics::gauge!("replaygate_sessions").decrement(1.0);
    session.ctx.registry.remove(id);
}

impl Session {
    /// The command loop.
    async fn run(&mut self) -> Result<(), SessionError> {
        loop {
            self.flush_sent_ahead().await?;
            self.client.reset_seq();
            self.backend.reset_seq();
            let next = if self.pipeline.is_empty() {
                // Idle: the target may drop the session meanwhile (its wait_timeout, a KILL).
                // Biased to the client, whose half-read packet must not be lost to the race.
                tokio::select! {
                    biased;
                    packet = self.client.read_packet() => packet,
                    closed = self.backend.peer_activity() => {
                        self.target_left_idle(closed).await;
                        return Ok(());
                    }
                }
            } else {
                self.client.read_packet().await
            };
            let Some(packet) = next.map_err(SessionError::Client)? else {
                self.drain_at_close().await;
                self.final_checks().await;
                return Ok(());
            };
            metrics::counter!("replaygate_bytes_in_total").increment(packet.len() as u64);
            self.status.bytes_in += packet.len() as u64;
            let Some(&command) = packet.first() else {
                return Err(SessionError::Client(ProtocolError::Malformed {
                    what: "empty command",
                }));
            };
            if let Some(reason) = &self.halted
                && !matches!(command, code::COM_QUIT | COM_PING)
            {
                let reason = reason.clone();
                self.refuse(enforce::ER_OPTION_PREVENTS_STATEMENT, b"HY000", &reason)
                    .await?;
                continue;
            }
            // An aborted replay halts the session here; a COM_QUERY is halted in `query`, once
            // its binlog position is known.
            if command != code::COM_QUERY && self.halted_by_abort(&packet).await? {
                self.publish();
                continue;
            }
            if command == code::COM_QUIT {
                self.drain_at_close().await;
                self.final_checks().await;
            } else if !pipeline::joins_pipeline(command)
                && !self.pipeline.is_empty()
                && !self.drain().await?
            {
                continue;
            }
            let result = self.command(command, packet).await;
            // After every command, whatever its outcome: `GET /status` shows where the replay is.
            self.publish();
            if result? {
                return Ok(());
            }
        }
    }

    /// The target closed the connection of this idle session: the client's connection closes
    /// the same way (a reset for a reset), after whatever the target said last, so a driver sees
    /// the server gone (2006/2013) and reconnects as it would directly, not an ERR of
    /// replaygate's.
    async fn target_left_idle(&mut self, closed: Result<bool, ProtocolError>) {
        let (last_words, reset) = match closed {
            Ok(false) => (
                self.backend
                    .read_until_close(64 * 1024, std::time::Duration::from_secs(1))
                    .await,
                false,
            ),
            Ok(true) => (BytesMut::new(), false),
            Err(_) => (BytesMut::new(), true),
        };
        info!(
            session = self.id,
            relayed_bytes = last_words.len(),
            reset,
            "the target closed this idle session (its wait_timeout, or a KILL); closing the \
             client's connection the same way"
        );
        if !last_words.is_empty() {
            let _ = self.client.send_raw(&last_words).await;
        }
        // Closed when the session is dropped, right after this returns.
        if !(reset && self.client.reset_on_close().is_ok()) {
            self.client.shutdown().await;
        }
    }

    /// One client command; `Ok(true)` when the client quit.
    async fn command(&mut self, command: u8, packet: BytesMut) -> Result<bool, SessionError> {
        match command {
            code::COM_QUIT => {
                self.backend
                    .send_packet(&packet)
                    .await
                    .map_err(SessionError::Backend)?;
                self.backend.shutdown().await;
                return Ok(true);
            }
            code::COM_QUERY => self.query(packet).await?,
            code::COM_INIT_DB => {
                let outcome = self.forward(&packet, ReplyShape::Single).await?;
                if outcome.error.is_none() {
                    self.state.database = Some(String::from_utf8_lossy(&packet[1..]).into_owned());
                }
            }
            code::COM_STMT_PREPARE => self.prepare(packet).await?,
            code::COM_STMT_EXECUTE | code::COM_STMT_BULK_EXECUTE => self.execute(packet).await?,
            code::COM_STMT_CLOSE => self.close_prepared(packet).await?,
            code::COM_CHANGE_USER => self.change_user(packet).await?,
            code::COM_RESET_CONNECTION => {
                let outcome = self.forward(&packet, ReplyShape::Single).await?;
                if outcome.error.is_none() {
                    self.reset_state().await?;
                }
            }
            other => match command::reply_shape(other) {
                Ok(shape) => {
                    self.forward(&packet, shape).await?;
                }
                Err(Unsupported::ReplicationStream) => {
                    return self.replication_command(other, packet).await;
                }
            },
        }
        Ok(false)
    }

    /// Copies the session's state to the registry the admin endpoint reads.
    fn publish(&mut self) {
        self.status.observe(&self.state);
        self.status.in_flight = self.pipeline.in_flight();
        self.status.halted.clone_from(&self.halted);
        self.ctx.registry.publish(&self.status);
    }

    /// Stages 2-5 for a COM_QUERY.
    async fn query(&mut self, packet: BytesMut) -> Result<(), SessionError> {
        let text = &packet[1..];
        let plan = self.inspect(text);
        self.log_statements(text, &plan);
        if let Some(abort) = self.ctx.throttle.aborted() {
            for header in plan.statements.iter().filter_map(|s| s.header.as_ref()) {
                self.state.observe_header(header);
            }
            return self.halt_on_abort(text, &abort).await;
        }
        if let Some(refusal) = &plan.refusal {
            return self.refuse_statement(refusal).await;
        }
        if plan.starts_binlog_file() {
            self.state.stream_files += 1;
        }
        if !self.resume_gate(text, &plan).await? {
            return Ok(());
        }
        if !self.run_due_checks(text, &plan).await? {
            return Ok(());
        }
        for t in &plan.translations {
            warn!(
                session = self.id,
                from = %t.from,
                to = %t.to,
                at = %StreamPosition::of(&self.state),
                "the target does not know this collation; translated to its closest equivalent"
            );
        }
        let mut judgements = Vec::with_capacity(plan.statements.len());
        let mut cost = Cost {
            statements: u32::try_from(plan.statements.len()).unwrap_or(u32::MAX),
            bytes: text.len() as u64,
            transactions: 0,
        };
        let mut in_transaction = self.state.in_transaction || !self.state.autocommit;
        for stmt in &plan.statements {
            // Where the stream is, whatever happens to the statement.
            if let Some(header) = &stmt.header {
                self.state.observe_header(header);
            }
            let policy = &self.ctx.settings.policy;
            judgements.push(self.guard.judge(
                &text[stmt.range.clone()],
                self.state.event.as_ref(),
                &self.state,
                policy,
                &self.lex,
            ));
            if let Some(j) = judgements.last() {
                let kind = j.classification.kind;
                metrics::counter!(
                    "replaygate_statements_total",
                    "kind" => kind.as_str(),
                    "verdict" => j.verdict.action.as_str()
                )
                .increment(1);
                // `mariadb --comments` sends an event's header comments as a query of their own:
                // a position, not a transaction.
                let only_comments = kind == StatementKind::Other
                    && guard::is_only_comments(&text[stmt.range.clone()], &self.lex);
                if !only_comments {
                    if self.ctx.checks.is_some() {
                        self.checks.note(kind, &text[stmt.range.clone()]);
                    }
                    if ends_transaction(kind, &mut in_transaction) {
                        cost.transactions += 1;
                    }
                }
            }
        }
        let kinds: Vec<StatementKind> = judgements.iter().map(|j| j.classification.kind).collect();
        let forwarded = judgements
            .iter()
            .all(|j| j.verdict.action.intervention().is_none() && !j.roll_back_instead);
        if forwarded && self.pipelines(text, &plan, &kinds) {
            if !self.pass_gate(cost, text).await? {
                return Ok(());
            }
            let command = match &plan.rewritten {
                Some(text) => {
                    let mut rewritten = BytesMut::with_capacity(text.len() + 1);
                    rewritten.put_u8(code::COM_QUERY);
                    rewritten.extend_from_slice(text);
                    rewritten
                }
                None => packet,
            };
            return self.send_ahead(command, &plan, &kinds).await;
        }
        if !self.pipeline.is_empty() && !self.drain().await? {
            return Ok(());
        }
        if forwarded && !self.checkpoint_before_forward(&packet[1..], &plan).await? {
            return Ok(());
        }
        let acknowledged = self.state.acknowledged;
        let result = self.enforce(&packet, &plan, judgements, cost).await;
        self.follow_transaction();
        if self.state.acknowledged - acknowledged == plan.statements.len() as u64 {
            self.count_commits(&packet[1..], &plan, cost.transactions);
            if result.is_ok() {
                self.checkpoint_after_implicit_commit(&packet[1..], &kinds)
                    .await?;
            }
        }
        result
    }

    /// Forwards a query the guard let through and records what the target accepted.
    async fn forward_query(
        &mut self,
        packet: &BytesMut,
        plan: &QueryPlan,
        cost: Cost,
    ) -> Result<(), SessionError> {
        // Stage 3b: the caps and the pause gate, right before the target sees the statement.
        if !self.pass_gate(cost, &packet[1..]).await? {
            return Ok(());
        }
        let started = Instant::now();
        let outcome = match &plan.rewritten {
            Some(text) => {
                let mut rewritten = Vec::with_capacity(text.len() + 1);
                rewritten.push(code::COM_QUERY);
                rewritten.extend_from_slice(text);
                self.forward(&rewritten, ReplyShape::ResultSets).await?
            }
            None => self.forward(packet, ReplyShape::ResultSets).await?,
        };
        metrics::histogram!("replaygate_statement_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        self.record(&packet[1..], plan, &outcome);
        Ok(())
    }

    fn inspect(&self, text: &[u8]) -> QueryPlan {
        let mut lex = self.lex;
        lex.no_backslash_escapes = self.state.no_backslash_escapes;
        lex.multi_byte = MultiByte::for_charset(&self.state.charset);
        plan_query(
            text,
            &self.state,
            InspectOptions {
                lex,
                validate_charset: self.ctx.settings.charset.validate,
                catalog: &self.catalog,
            },
        )
    }

    /// Applies what the target accepted: the effects of the statements before any error.
    fn record(&mut self, text: &[u8], plan: &QueryPlan, outcome: &Outcome) {
        let accepted = usize::try_from(outcome.succeeded).unwrap_or(usize::MAX);
        self.apply_effects(plan, accepted);
        if let Some(stmt) = plan
            .statements
            .get(accepted.min(plan.statements.len().saturating_sub(1)))
        {
            let piece = &text[stmt.range.clone()];
            if outcome.error.is_none() {
                // A piece of comments only (`# at 123` sent on its own) is no statement: the
                // last one acknowledged stays the one before, with its own position.
                if !guard::is_only_comments(piece, &self.lex) {
                    self.last_acknowledged = Some(format!(
                        "{} ({})",
                        escape_for_message(
                            statement_without_header(piece),
                            STATEMENT_PREVIEW_CHARS
                        ),
                        StreamPosition::of(&self.state)
                    ));
                }
            } else if let Some(err) = &outcome.error {
                metrics::counter!("replaygate_backend_errors_total", "kind" => "refused")
                    .increment(1);
                // The server's error went to the client verbatim; the log keeps where it was.
                debug!(
                    session = self.id,
                    code = err.code,
                    message = %err.message,
                    at = %StreamPosition::of(&self.state),
                    "target refused a statement"
                );
            }
        }
    }

    /// Applies the session effects of the first `accepted` statements of a query.
    fn apply_effects(&mut self, plan: &QueryPlan, accepted: usize) {
        let catalog = Arc::clone(&self.catalog);
        for stmt in plan.statements.iter().take(accepted) {
            for effect in &stmt.effects {
                self.state
                    .apply(effect, |id| catalog.by_id(id).map(|c| c.charset.clone()));
            }
            self.state.acknowledged += 1;
        }
    }

    fn log_statements(&self, text: &[u8], plan: &QueryPlan) {
        if !tracing::enabled!(tracing::Level::DEBUG) {
            return;
        }
        for stmt in &plan.statements {
            // A statement without its own header belongs to the event of the last header seen.
            let event = stmt.header.as_ref().or(self.state.event.as_ref());
            debug!(
                session = self.id,
                position = event.and_then(|h| h.position),
                thread = event.and_then(|h| h.thread_id).or(self.state.pseudo_thread_id),
                gtid = self.state.gtid.display().unwrap_or_default(),
                db = self.state.database.as_deref().unwrap_or(""),
                charset = %self.state.charset,
                foreign_key_checks = self.state.foreign_key_checks,
                sql_log_bin = self.state.sql_log_bin,
                in_transaction = self.state.in_transaction,
                statement = %escape_for_message(&text[stmt.range.clone()], 120),
                "statement"
            );
        }
    }
}
