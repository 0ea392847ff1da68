//! The event stream of a replica behind `serve`: after the replica's COM_BINLOG_DUMP, every
//! packet from the primary is read (events of 16 MiB and more span packets), judged by the
//! [`EventGuard`], and relayed — or withheld, journaled first, or the stream halts.
//!
//! A halt never reaches the replica as a "fatal" error (1236 would stop its IO thread for
//! good): it gets replaygate's reason as an ordinary error, reconnects, and is refused at
//! COM_REGISTER_SLAVE with the reason — which a MariaDB replica shows in `Last_IO_Error` while
//! it keeps retrying — until the policy changes or the replica is moved past the event.

use std::time::SystemTime;

use tracing::{info, warn};

use super::guard::{EventGuard, GuardSettings, Output};
use super::outcome::Withheld;
use super::registry::ReplicaRegistry;
use crate::journal::{JournalRecord, SharedJournal, format_rfc3339};
use crate::policy::Policy;
use crate::protocol::reply::err_packet;
use crate::protocol::{PacketStream, ProtocolError, Socket};
use crate::session::charset::CollationCatalog;
use crate::sql::escape_for_message;

/// ER_OPTION_PREVENTS_STATEMENT: a setting of replaygate's forbids going on.
pub const ER_OPTION_PREVENTS_STATEMENT: u16 = 1290;
/// ER_NET_READ_ERROR: an ordinary (retried) error for a replica.
const ER_NET_READ_ERROR: u16 = 1158;

/// How the stream ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEnd {
    /// The primary ended the dump with EOF or an error (relayed): the session goes on.
    Primary,
    /// The replica closed its connection.
    ReplicaLeft,
    /// The guard halted the stream; the replica was told why.
    Halted,
    /// The primary's connection failed; the replica was told and will reconnect.
    PrimaryLost(String),
    /// The replica sent something other than silence.
    ReplicaSpoke,
    /// The journal could not be written; nothing of the event was sent.
    Journal(String),
    /// replaygate is stopping; the replica was told to reconnect.
    Stopped,
}

/// Who the stream is for, and what judges it.
#[derive(Debug)]
pub struct Stream<'a> {
    pub server_id: u32,
    pub session: u64,
    pub peer: &'a str,
    pub user: &'a str,
    pub policy: &'a Policy,
    pub journal: Option<&'a SharedJournal>,
    pub registry: &'a ReplicaRegistry,
    pub catalog: &'a CollationCatalog,
    pub settings: GuardSettings,
    /// The checksum `@master_binlog_checksum` agreed on, for the events before the first
    /// format description.
    pub checksum: crate::binlog::ChecksumAlg,
    /// Becomes true when replaygate stops.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// Relays the dump the replica asked for until one side ends it. `client` is the replica,
/// `backend` the primary (the COM_BINLOG_DUMP has been forwarded).
pub async fn relay(
    client: &mut PacketStream<Socket>,
    backend: &mut PacketStream<Socket>,
    mut stream: Stream<'_>,
) -> Result<RelayEnd, ProtocolError> {
    let mut guard = EventGuard::new(stream.settings, stream.registry.origins(stream.server_id));
    guard.assume_checksum(stream.checksum);
    let mut out = Output::default();
    loop {
        let packet = tokio::select! {
            biased;
            () = stopped(&mut stream.stopping) => {
                let message = "replaygate: shutting down; reconnect to resume from your position";
                refuse(client, ER_NET_READ_ERROR, message).await;
                return Ok(RelayEnd::Stopped);
            }
            closed = client.peer_activity() => {
                return Ok(if closed? { RelayEnd::ReplicaLeft } else { RelayEnd::ReplicaSpoke });
            }
            packet = backend.read_packet() => packet,
        };
        let packet = match packet {
            Ok(Some(packet)) => packet,
            Ok(None) => return primary_lost(client, "the primary closed the connection").await,
            Err(e) => return primary_lost(client, &e.to_string()).await,
        };
        match packet.first() {
            Some(0x00) => {}
            // The primary's ERR or EOF ends the dump: relayed verbatim.
            Some(0xff) | Some(0xfe) => {
                client.send_packet(&packet).await?;
                client.flush().await?;
                return Ok(RelayEnd::Primary);
            }
            _ => {
                return Err(ProtocolError::Malformed {
                    what: "replication packet from the primary",
                });
            }
        }
        guard.feed(packet, stream.policy, &mut out);
        if let Some(end) = act(client, &mut out, &stream, &guard).await? {
            return Ok(end);
        }
        if !backend.has_buffered_input() {
            client.flush().await?;
            stream.registry.progress(stream.server_id, guard.sent(), 0);
        }
    }
}

/// Completes when replaygate stops (the guard of the watch is dropped at once: it must not be
/// held across an await).
pub(crate) async fn stopped(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Carries out one output of the guard: journal, log, send, halt.
pub(crate) async fn act(
    client: &mut PacketStream<Socket>,
    out: &mut Output,
    stream: &Stream<'_>,
    guard: &EventGuard,
) -> Result<Option<RelayEnd>, ProtocolError> {
    // Journaled and fsynced before the replica gets the no-ops that stand in for them.
    for w in out.withheld.drain(..) {
        let Some(journal) = stream.journal else {
            break;
        };
        let record = journal_record(&w, stream);
        match journal.append(record).await {
            Ok(id) => info!(
                session = stream.session,
                replica = stream.server_id,
                journal_record = id,
                rule = %w.rule,
                at = %w.at,
                thread = w.thread_id,
                statement = %escape_for_message(&w.statement, 120),
                "event withheld from the replica"
            ),
            Err(e) => {
                let message = format!(
                    "replaygate: cannot write the quarantine journal ({e}); the event at {} was not sent. \
                     Fix the journal: the replica will retry from there.",
                    w.at
                );
                warn!(
                    session = stream.session,
                    replica = stream.server_id,
                    "{message}"
                );
                refuse(client, ER_NET_READ_ERROR, &message).await;
                return Ok(Some(RelayEnd::Journal(e.to_string())));
            }
        }
        stream.registry.progress(stream.server_id, guard.sent(), 1);
    }
    for l in out.logged.drain(..) {
        info!(
            session = stream.session,
            replica = stream.server_id,
            rule = %l.rule,
            kind = %l.kind,
            at = %l.at,
            statement = %l.statement,
            "event logged by rule"
        );
    }
    if let Some((origin, rule)) = out.quarantined_origin.take() {
        warn!(
            session = stream.session,
            replica = stream.server_id,
            origin,
            rule = %rule,
            "origin thread quarantined: its later events are withheld from the replica"
        );
        stream
            .registry
            .quarantine_origin(stream.server_id, origin, &rule);
    }
    for packet in out.send.drain(..) {
        client.send_packet(&packet).await?;
    }
    if let Some(halt) = out.halt.take() {
        let message = halt.message();
        warn!(
            session = stream.session,
            replica = stream.server_id,
            "{message}"
        );
        if let Some(journal) = stream.journal {
            let mut record = base_record(stream);
            record.binlog_file = Some(halt.at.file.clone());
            record.position = halt.at.start;
            record.end_log_pos = Some(halt.at.end);
            record.gtid.clone_from(&halt.at.gtid);
            record.origin_thread = halt.thread_id.map(u64::from);
            record.rule.clone_from(&halt.rule);
            record.action = "halt".into();
            record.kind.clone_from(&halt.kind);
            record.set_statement(halt.statement.as_bytes());
            record.note = Some(
                halt.why
                    .clone()
                    .unwrap_or_else(|| "replication halted before this event".into()),
            );
            if let Err(e) = journal.append(record).await {
                warn!(session = stream.session, error = %e, "cannot journal the halt");
            }
        }
        stream.registry.progress(stream.server_id, guard.sent(), 0);
        stream.registry.record_halt(stream.server_id, &halt);
        refuse(client, ER_OPTION_PREVENTS_STATEMENT, &message).await;
        return Ok(Some(RelayEnd::Halted));
    }
    Ok(None)
}

/// Tells the replica the primary is gone: an ordinary error, so it reconnects (through
/// replaygate) and goes on.
async fn primary_lost(
    client: &mut PacketStream<Socket>,
    why: &str,
) -> Result<RelayEnd, ProtocolError> {
    let message = format!(
        "replaygate: lost the connection to the primary ({why}); reconnect to resume from your position"
    );
    refuse(client, ER_NET_READ_ERROR, &message).await;
    Ok(RelayEnd::PrimaryLost(why.to_owned()))
}

pub(crate) async fn refuse(client: &mut PacketStream<Socket>, code: u16, message: &str) {
    let _ = client
        .send_packet(&err_packet(code, b"HY000", message))
        .await;
    let _ = client.flush().await;
}

fn base_record(stream: &Stream<'_>) -> JournalRecord {
    JournalRecord {
        session: stream.session,
        client: stream.peer.to_owned(),
        user: stream.user.to_owned(),
        replica: Some(stream.server_id),
        ..JournalRecord::default()
    }
}

fn journal_record(w: &Withheld, stream: &Stream<'_>) -> JournalRecord {
    let collation = w
        .charset_id
        .and_then(|id| stream.catalog.by_id(u64::from(id)));
    let mut record = base_record(stream);
    record.origin_thread = w.thread_id.map(u64::from);
    record.gtid.clone_from(&w.at.gtid);
    record.binlog_file = Some(w.at.file.clone());
    record.position = w.at.start;
    record.end_log_pos = Some(w.at.end);
    record.event_time = Some(format_rfc3339(
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(u64::from(w.at.timestamp)),
    ));
    record.database.clone_from(&w.database);
    record.foreign_key_checks = w.foreign_key_checks;
    record.unique_checks = w.unique_checks;
    record.charset = collation.map(|c| c.charset.clone()).unwrap_or_default();
    record.collation = collation.map(|c| c.name.clone());
    record.rule.clone_from(&w.rule);
    record.action = w.action.as_str().to_owned();
    record.kind.clone_from(&w.kind);
    record.event_type = Some(w.event_type.to_string());
    record.note.clone_from(&w.note);
    record.set_statement(&w.statement);
    record
}
