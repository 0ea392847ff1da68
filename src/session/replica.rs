//! A replica behind `serve`: its set-up queries are relayed like any session's, then
//! COM_REGISTER_SLAVE (refused while the replica is halted) and COM_BINLOG_DUMP, after which the
//! session is an event stream ([`crate::replication::relay`]) until one side ends it.

use bytes::BytesMut;
use tracing::{info, warn};

use super::Session;
use super::backend::internal_query;
use super::error::SessionError;
use crate::binlog::{ChecksumAlg, MariaGtid};
use crate::protocol::command::{ReplyShape, code};
use crate::replication::relay::{self, ER_OPTION_PREVENTS_STATEMENT, RelayEnd, Stream};
use crate::replication::{GuardSettings, Halt};

/// What a replica keeps of a failed command's message in `Last_IO_Error` (256 bytes, with
/// " (Errno: 1290)" after it).
const LAST_IO_ERROR_ROOM: usize = 238;

impl Session {
    /// COM_REGISTER_SLAVE, COM_BINLOG_DUMP(_GTID) and the obsolete COM_TABLE_DUMP; `Ok(true)`
    /// when the session ends.
    pub(super) async fn replication_command(
        &mut self,
        command: u8,
        packet: BytesMut,
    ) -> Result<bool, SessionError> {
        match command {
            code::COM_REGISTER_SLAVE => self.register_replica(packet).await.map(|()| false),
            code::COM_BINLOG_DUMP | code::COM_BINLOG_DUMP_GTID => self.binlog_dump(packet).await,
            _ => {
                self.refuse(
                    1235,
                    b"42000",
                    "replaygate: COM_TABLE_DUMP (removed from servers long ago) is not supported",
                )
                .await?;
                Ok(false)
            }
        }
    }

    async fn register_replica(&mut self, packet: BytesMut) -> Result<(), SessionError> {
        let Some(server_id) = packet_u32(&packet, 1) else {
            return self
                .refuse(
                    1064,
                    b"42000",
                    "replaygate: COM_REGISTER_SLAVE without a server id",
                )
                .await;
        };
        if let Some(halt) = self.ctx.replicas.halt(server_id) {
            if !self.moved_past(&halt).await? {
                warn!(
                    session = self.id,
                    replica = server_id,
                    at = %halt.at,
                    "a halted replica reconnected: refused again at the same event"
                );
                return self
                    .refuse(
                        ER_OPTION_PREVENTS_STATEMENT,
                        b"HY000",
                        &halt.short(LAST_IO_ERROR_ROOM),
                    )
                    .await;
            }
            info!(
                session = self.id,
                replica = server_id,
                at = %halt.at,
                "the replica's GTID position is past the event it halted at: it goes on"
            );
            self.ctx.replicas.release(server_id);
        }
        let outcome = self.forward(&packet, ReplyShape::Single).await?;
        if outcome.error.is_none() {
            self.replica = Some(server_id);
        }
        Ok(())
    }

    /// Whether the replica's `@slave_connect_state` (GTID mode) is past the halted GTID: the
    /// operator moved it on (`SET GLOBAL gtid_slave_pos`).
    async fn moved_past(&mut self, halt: &Halt) -> Result<bool, SessionError> {
        let Some(halted) = halt
            .at
            .gtid
            .as_deref()
            .and_then(|g| g.parse::<MariaGtid>().ok())
        else {
            return Ok(false);
        };
        let rows = internal_query(&mut self.backend, self.caps, "SELECT @slave_connect_state")
            .await?
            .unwrap_or_default();
        let state = rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_default();
        Ok(state
            .split(',')
            .filter_map(|g| g.parse::<MariaGtid>().ok())
            .any(|g| g.domain_id == halted.domain_id && g.seq_no >= halted.seq_no))
    }

    async fn binlog_dump(&mut self, packet: BytesMut) -> Result<bool, SessionError> {
        // COM_BINLOG_DUMP: position (4), flags (2), server id; _GTID: flags (2), server id.
        let offset = if packet[0] == code::COM_BINLOG_DUMP {
            7
        } else {
            3
        };
        let Some(server_id) = self.replica.or_else(|| packet_u32(&packet, offset)) else {
            self.refuse(
                1064,
                b"42000",
                "replaygate: a binlog dump request without a server id",
            )
            .await?;
            return Ok(false);
        };
        let rows = internal_query(
            &mut self.backend,
            self.caps,
            "SELECT @master_binlog_checksum, @rpl_semi_sync_slave",
        )
        .await?
        .unwrap_or_default();
        let row = rows.first().cloned().unwrap_or_default();
        let checksum = match row.first().cloned().flatten().as_deref() {
            Some(alg) if alg.eq_ignore_ascii_case("CRC32") => ChecksumAlg::Crc32,
            _ => ChecksumAlg::Off,
        };
        if row
            .get(1)
            .cloned()
            .flatten()
            .is_some_and(|v| v != "0" && !v.is_empty())
        {
            self.refuse(
                1235,
                b"42000",
                "replaygate: semi-synchronous replication is not supported through replaygate; \
                 set rpl_semi_sync_slave_enabled = OFF on this replica",
            )
            .await?;
            return Ok(true);
        }
        self.ctx.replicas.connected(server_id, self.id, &self.peer);
        info!(
            session = self.id,
            replica = server_id,
            checksum = checksum.name(),
            "replica streaming"
        );
        self.queue(&packet).await?;
        self.backend.flush().await.map_err(SessionError::Backend)?;
        // A primary is silent between events for as long as it has none to send.
        self.backend.set_read_timeout(None);
        let end = relay::relay(
            &mut self.client,
            &mut self.backend,
            Stream {
                server_id,
                session: self.id,
                peer: &self.peer,
                user: &self.state.user,
                policy: &self.ctx.settings.policy,
                journal: self.ctx.journal.as_ref(),
                registry: &self.ctx.replicas,
                catalog: &self.catalog,
                settings: GuardSettings {
                    hold_bytes: self.ctx.settings.hold_bytes,
                    journal: self.ctx.journal.is_some(),
                    // The primary itself decides what its replicas can take.
                    mariadb_replica: false,
                },
                checksum,
                stopping: self.ctx.stopping(),
            },
        )
        .await;
        self.ctx.replicas.disconnected(server_id, self.id);
        let end = match end {
            Ok(end) => end,
            Err(e) => {
                warn!(session = self.id, replica = server_id, error = %e, "replication stream failed");
                return Ok(true);
            }
        };
        match &end {
            RelayEnd::PrimaryLost(why) => warn!(
                session = self.id,
                replica = server_id,
                "lost the connection to the primary ({why}); the replica will reconnect through replaygate"
            ),
            end => {
                info!(session = self.id, replica = server_id, end = ?end, "replication stream ended")
            }
        }
        Ok(end != RelayEnd::Primary)
    }
}

fn packet_u32(packet: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(packet.get(at..at + 4)?.try_into().ok()?))
}
