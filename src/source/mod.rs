//! `replaygate source`: replaygate as the primary of a restored server, its binlog the saved
//! files. The server replicates from it (`CHANGE MASTER TO ... MASTER_PORT = 3308`), so its own
//! applier does the replay — parallel workers, a crash-safe position, `START SLAVE UNTIL` —
//! with the guard in the stream, exactly as for a replica behind `serve`.
//!
//! [`binlogs`] checks the files once at start; a connection is greeted and authenticated here
//! (`handshake.rs`), its set-up queries answered from the files ([`queries`]), its
//! COM_REGISTER_SLAVE checked (a replica with the files' server id would skip their events as
//! its own), and its COM_BINLOG_DUMP positioned ([`position`]) and streamed (`stream.rs`).

pub mod binlogs;
mod handshake;
pub mod position;
pub mod queries;
mod stream;

use std::sync::Arc;

use tracing::{info, warn};

use self::binlogs::{BinlogSet, BinlogSetError};
pub use self::handshake::Account;
use self::position::StopAt;
use self::queries::{Facts, Reply, UserVars};
use self::stream::{Dump, ER_MASTER_FATAL_ERROR_READING_BINLOG};
use crate::binlog::{ChecksumAlg, MariaGtid};
use crate::protocol::command::code;
use crate::protocol::reply::{STATUS_AUTOCOMMIT, err_packet, ok_packet, text_result_set};
use crate::protocol::{PacketStream, ProtocolError, Socket};
use crate::replication::relay::{ER_OPTION_PREVENTS_STATEMENT, RelayEnd, Stream};
use crate::replication::{GuardSettings, Halt};
use crate::session::ProxyContext;
use crate::session::charset::CollationCatalog;
use crate::session::tls::LegOptions;

/// What a replica keeps of a failed command's message in `Last_IO_Error`.
const LAST_IO_ERROR_ROOM: usize = 238;

/// Why `source` cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Files(#[from] BinlogSetError),
    #[error("--stop-position names {file}, which is not among the files given")]
    StopFile { file: String },
}

/// The files and how they are served, shared by every replica connection.
#[derive(Debug)]
pub struct Source {
    pub set: BinlogSet,
    pub account: Account,
    pub stop: StopAt,
    facts: Facts,
    /// What the greeting says: MariaDB's `5.5.5-` prefix, then the files' server version.
    greeting_version: String,
    catalog: CollationCatalog,
}

impl Source {
    /// Checks the files and the stop point.
    pub fn open(
        files: &[std::path::PathBuf],
        account: Account,
        stop: StopAt,
    ) -> Result<Source, SourceError> {
        let set = BinlogSet::open(files)?;
        if let Some((file, _)) = &stop.position
            && set.find(file).is_none()
        {
            return Err(SourceError::StopFile { file: file.clone() });
        }
        let last = set.last();
        let version = set.files[0].server_version.clone();
        let facts = Facts {
            server_id: set.server_id(),
            version: version.clone(),
            binlog_checksum: set.files[0].checksum.name().to_owned(),
            gtid_domain_id: last.gtid_end.keys().next().copied().unwrap_or(0),
            gtid_binlog_pos: last
                .gtid_end
                .values()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        };
        let major = crate::binlog::format::version_triple(&version).0;
        let greeting_version = if major >= 10 {
            format!("5.5.5-{version}")
        } else {
            version
        };
        Ok(Source {
            set,
            account,
            stop,
            facts,
            greeting_version,
            catalog: CollationCatalog::builtin(),
        })
    }
}

/// Serves one connection (a replica, or anything that connects) until it leaves.
pub async fn serve_replica(
    id: u64,
    socket: Socket,
    peer: String,
    ctx: Arc<ProxyContext>,
    source: Arc<Source>,
) {
    let settings = &ctx.settings;
    let client = PacketStream::new(socket, settings.max_packet_bytes);
    let connection_id = u32::try_from(id).unwrap_or(u32::MAX);
    let encryption = handshake::Encryption {
        tls: settings.tls.client.as_ref(),
        leg: LegOptions {
            max_packet: settings.max_packet_bytes,
            busy_poll: std::time::Duration::ZERO,
            timeout: settings.connect_timeout,
        },
    };
    let result = async {
        let Some((mut client, user)) = handshake::authenticate(
            client,
            connection_id,
            &source.greeting_version,
            &source.account,
            &peer,
            encryption,
        )
        .await?
        else {
            return Ok(());
        };
        info!(session = id, %peer, %user, tls = client.is_tls(), "replica connected");
        let served = Connection {
            id,
            peer: &peer,
            user,
            ctx: &ctx,
            source: &source,
            vars: UserVars::new(),
            replica: None,
        }
        .run(&mut client)
        .await;
        client.shutdown().await;
        served
    }
    .await;
    if let Err(e) = result {
        warn!(session = id, %peer, error = %e, "replica connection ended on an error");
    }
}

struct Connection<'a> {
    id: u64,
    peer: &'a str,
    user: String,
    ctx: &'a ProxyContext,
    source: &'a Source,
    vars: UserVars,
    /// The server id the replica registered with.
    replica: Option<u32>,
}

impl Connection<'_> {
    async fn run(&mut self, client: &mut PacketStream<Socket>) -> Result<(), ProtocolError> {
        loop {
            client.reset_seq();
            let Some(packet) = client.read_packet().await? else {
                return Ok(());
            };
            let Some(&command) = packet.first() else {
                return Err(ProtocolError::Malformed {
                    what: "empty command",
                });
            };
            tracing::debug!(
                session = self.id,
                command = crate::protocol::command::name(command),
                text = %crate::sql::escape_for_message(&packet[1..], 120),
                "replica command"
            );
            match command {
                code::COM_QUIT => return Ok(()),
                code::COM_QUERY => {
                    let text = String::from_utf8_lossy(&packet[1..]);
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    let reply = queries::answer(&text, &self.source.facts, &mut self.vars, now);
                    send_reply(client, reply).await?;
                }
                code::COM_INIT_DB | 0x0e => send_reply(client, Reply::Ok).await?,
                code::COM_REGISTER_SLAVE => self.register(client, &packet).await?,
                code::COM_BINLOG_DUMP => {
                    if self.dump(client, &packet).await? {
                        return Ok(());
                    }
                }
                code::COM_BINLOG_DUMP_GTID => {
                    refuse(
                        client,
                        1235,
                        "replaygate source does not support COM_BINLOG_DUMP_GTID (MySQL GTID \
                         auto-positioning): replicate with MASTER_AUTO_POSITION = 0 and a file and \
                         position",
                    )
                    .await?;
                    return Ok(());
                }
                _ => refuse(client, 1047, "Unknown command").await?,
            }
        }
    }

    /// The replica's GTID state, when it positions by GTID.
    fn gtid_state(&self) -> Option<Vec<MariaGtid>> {
        let state = self.vars.get("slave_connect_state")?;
        Some(
            state
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .filter_map(|g| g.parse().ok())
                .collect(),
        )
    }

    async fn register(
        &mut self,
        client: &mut PacketStream<Socket>,
        packet: &[u8],
    ) -> Result<(), ProtocolError> {
        let Some(server_id) = packet_u32(packet, 1) else {
            return refuse(client, 1064, "COM_REGISTER_SLAVE without a server id").await;
        };
        let ids = &self.source.set.server_ids;
        if ids.contains(&server_id) {
            let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
            let message = format!(
                "replaygate source: this replica's server_id {server_id} is a server id of the \
                 events in the files (theirs: {}): it would skip those events as its own. Give the \
                 replica another server_id (SET GLOBAL server_id = ...)",
                list.join(", ")
            );
            warn!(session = self.id, replica = server_id, "{message}");
            return refuse(client, ER_OPTION_PREVENTS_STATEMENT, &message).await;
        }
        if let Some(halt) = self.ctx.replicas.halt(server_id) {
            if !self.moved_past(&halt) {
                warn!(
                    session = self.id,
                    replica = server_id,
                    at = %halt.at,
                    "a halted replica reconnected: refused again at the same event"
                );
                return refuse(
                    client,
                    ER_OPTION_PREVENTS_STATEMENT,
                    &halt.short(LAST_IO_ERROR_ROOM),
                )
                .await;
            }
            info!(
                session = self.id,
                replica = server_id,
                "the replica is past its halt: it goes on"
            );
            self.ctx.replicas.release(server_id);
        }
        self.replica = Some(server_id);
        send_reply(client, Reply::Ok).await
    }

    fn moved_past(&self, halt: &Halt) -> bool {
        let Some(halted) = halt
            .at
            .gtid
            .as_deref()
            .and_then(|g| g.parse::<MariaGtid>().ok())
        else {
            return false;
        };
        self.gtid_state()
            .unwrap_or_default()
            .iter()
            .any(|g| g.domain_id == halted.domain_id && g.seq_no >= halted.seq_no)
    }

    /// `Ok(true)` when the connection ends with the stream.
    async fn dump(
        &mut self,
        client: &mut PacketStream<Socket>,
        packet: &[u8],
    ) -> Result<bool, ProtocolError> {
        let (Some(position), Some(flags), Some(dump_server_id)) = (
            packet_u32(packet, 1),
            packet.get(5..7).map(|b| u16::from_le_bytes([b[0], b[1]])),
            packet_u32(packet, 7),
        ) else {
            refuse(client, 1064, "a malformed COM_BINLOG_DUMP").await?;
            return Ok(true);
        };
        let file = String::from_utf8_lossy(packet.get(11..).unwrap_or_default())
            .trim_end_matches('\0')
            .to_owned();
        let server_id = self.replica.unwrap_or(dump_server_id);
        let set = &self.source.set;
        let state = self.gtid_state();
        let start = match &state {
            Some(state) => position::by_gtid(set, state),
            None => position::by_file(set, &file, u64::from(position)),
        };
        let start = match start {
            Ok(start) => start,
            Err(message) => {
                warn!(session = self.id, replica = server_id, "{message}");
                refuse(client, ER_MASTER_FATAL_ERROR_READING_BINLOG, &message).await?;
                return Ok(true);
            }
        };
        let checksum = match self.vars.get("master_binlog_checksum").cloned().flatten() {
            Some(alg) if alg.eq_ignore_ascii_case("CRC32") => ChecksumAlg::Crc32,
            Some(_) => ChecksumAlg::Off,
            None if set.files.iter().any(|f| f.checksum == ChecksumAlg::Crc32) => {
                let message = "Slave can not handle replication events with the checksum that \
                               master is configured to log";
                refuse(client, ER_MASTER_FATAL_ERROR_READING_BINLOG, message).await?;
                return Ok(true);
            }
            None => ChecksumAlg::Off,
        };
        let heartbeat = self
            .vars
            .get("master_heartbeat_period")
            .cloned()
            .flatten()
            .and_then(|ns| ns.parse::<u64>().ok())
            .filter(|&ns| ns > 0)
            .map(std::time::Duration::from_nanos);
        let info = &set.files[start.file];
        info!(
            session = self.id,
            replica = server_id,
            from = %format!("{}:{}", info.name, start.offset),
            by_gtid = start.by_gtid,
            "replica streaming"
        );
        self.ctx.replicas.connected(server_id, self.id, self.peer);
        let settings = &self.ctx.settings;
        let end = stream::dump(
            client,
            set,
            &self.source.stop,
            Dump {
                start,
                state: state.unwrap_or_default(),
                non_blocking: flags & 1 != 0,
                heartbeat,
            },
            Stream {
                server_id,
                session: self.id,
                peer: self.peer,
                user: &self.user,
                policy: &settings.policy,
                journal: self.ctx.journal.as_ref(),
                registry: &self.ctx.replicas,
                catalog: &self.source.catalog,
                settings: GuardSettings {
                    hold_bytes: settings.hold_bytes,
                    journal: self.ctx.journal.is_some(),
                    mariadb_replica: self.vars.contains_key("mariadb_slave_capability"),
                },
                checksum,
                stopping: self.ctx.stopping(),
            },
        )
        .await;
        self.ctx.replicas.disconnected(server_id, self.id);
        let end = end?;
        info!(session = self.id, replica = server_id, end = ?end, "replication stream ended");
        Ok(end != RelayEnd::Primary)
    }
}

async fn send_reply(client: &mut PacketStream<Socket>, reply: Reply) -> Result<(), ProtocolError> {
    match reply {
        Reply::Ok => client.send_packet(&ok_packet(STATUS_AUTOCOMMIT)).await?,
        Reply::Rows { columns, rows } => {
            for p in text_result_set(&columns, &rows) {
                client.send_packet(&p).await?;
            }
        }
        Reply::Error {
            code,
            state,
            message,
        } => {
            client
                .send_packet(&err_packet(code, &state, &message))
                .await?
        }
    }
    client.flush().await
}

/// Answers a command with an ERR; the connection goes on.
async fn refuse(
    client: &mut PacketStream<Socket>,
    code: u16,
    message: &str,
) -> Result<(), ProtocolError> {
    client
        .send_packet(&err_packet(code, b"HY000", message))
        .await?;
    client.flush().await
}

fn packet_u32(packet: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(packet.get(at..at + 4)?.try_into().ok()?))
}
