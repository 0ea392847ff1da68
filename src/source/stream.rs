//! One replica's dump from `replaygate source`: the files' events from its start position, in
//! order, across files, through the same [`EventGuard`] as a replica behind `serve`, then
//! heartbeats while it waits at the end (or at the `--stop-*` point).
//!
//! What a primary sends is mirrored: a fake rotate naming the file, its format description
//! (`log_pos` 0 and no `created` when the replica joins mid-file, so it neither counts it nor
//! drops its temporary tables), a fake GTID list when joining by GTID (the replica's position
//! jumps to where the stream resumes), the files' own rotates between files (a fake one where
//! a crashed file has none), heartbeats carrying the file and position sent.

use std::fs::File;
use std::io::BufReader;
use std::time::Duration;

use bytes::BytesMut;
use tracing::{info, warn};

use super::binlogs::BinlogSet;
use super::position::{Start, StopAt};
use crate::binlog::checksum::seal_crc32;
use crate::binlog::header::flags;
use crate::binlog::{BinlogFile, ChecksumAlg, FileError, MariaGtid, write};
use crate::protocol::{PacketStream, ProtocolError, Socket};
use crate::replication::relay::{self, RelayEnd, Stream};
use crate::replication::{EventGuard, Output};

/// ER_MASTER_FATAL_ERROR_READING_BINLOG: what a primary answers a dump it cannot serve.
pub const ER_MASTER_FATAL_ERROR_READING_BINLOG: u16 = 1236;
/// ER_NET_READ_ERROR: an ordinary error the replica retries after.
const ER_NET_READ_ERROR: u16 = 1158;

/// What the replica asked for with its dump.
#[derive(Debug, Clone)]
pub struct Dump {
    pub start: Start,
    /// The replica's GTID state (by GTID), for the fake GTID list.
    pub state: Vec<MariaGtid>,
    /// `BINLOG_DUMP_NON_BLOCK`: end with EOF at the end of the files instead of waiting.
    pub non_blocking: bool,
    /// `@master_heartbeat_period`; `None`: no heartbeats.
    pub heartbeat: Option<Duration>,
}

/// A packet of the stream: `0x00` and the event.
fn packet(event: &[u8]) -> BytesMut {
    let mut p = BytesMut::with_capacity(event.len() + 1);
    p.extend_from_slice(&[0]);
    p.extend_from_slice(event);
    p
}

/// A file's format description as a replica must get it: never "in use", and when it joins
/// mid-file, not counted (`log_pos` 0) and not a server start (`created` 0).
fn format_description(
    event: &[u8],
    mid_file: bool,
    by_gtid: bool,
    checksum: ChecksumAlg,
) -> BytesMut {
    let mut fd = event.to_vec();
    fd[17] &= !(flags::BINLOG_IN_USE as u8);
    if mid_file {
        fd[13..17].copy_from_slice(&[0; 4]);
    }
    if (mid_file || by_gtid) && fd.len() >= 19 + 56 {
        fd[19 + 52..19 + 56].copy_from_slice(&[0; 4]);
    }
    if checksum == ChecksumAlg::Crc32 {
        seal_crc32(&mut fd);
    }
    packet(&fd)
}

/// Streams the dump until the replica leaves, replaygate stops, or the guard halts.
pub async fn dump(
    client: &mut PacketStream<Socket>,
    set: &BinlogSet,
    stop: &StopAt,
    dump: Dump,
    mut stream: Stream<'_>,
) -> Result<RelayEnd, ProtocolError> {
    let mut guard = EventGuard::new(stream.settings, stream.registry.origins(stream.server_id));
    guard.assume_checksum(stream.checksum);
    let server_id = set.server_id();
    let Start {
        file: first,
        offset,
        by_gtid,
    } = dump.start;
    let mut out = Output::default();
    let rotate_at = if by_gtid { 4 } else { offset };
    let fake = write::fake_rotate(
        &set.files[first].name,
        rotate_at,
        server_id,
        stream.checksum,
    );
    guard.feed(packet(&fake), stream.policy, &mut out);
    let mut stopped_at_point = false;
    'files: for index in first..set.files.len() {
        let info = &set.files[index];
        if index > first && set.files[index - 1].rotate_to.is_none() {
            // A crashed file has no closing rotate: name the next file as a primary would.
            let fake = write::fake_rotate(&info.name, 4, server_id, info.checksum);
            guard.feed(packet(&fake), stream.policy, &mut out);
        }
        let mut reader = match File::open(&info.path)
            .map_err(FileError::Io)
            .and_then(|f| BinlogFile::open(BufReader::with_capacity(256 * 1024, f)))
        {
            Ok(reader) => reader,
            Err(e) => return fatal(client, &format!("cannot read {}: {e}", info.name)).await,
        };
        let mut skip_to = (index == first).then_some(offset).filter(|&o| o > 4);
        let mut count = 0u64;
        loop {
            let item = match reader.next_event() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(FileError::Truncated {
                    offset,
                    needed,
                    available,
                }) => {
                    warn!(
                        replica = stream.server_id,
                        "{} ends inside the event at {offset} ({available} of its {needed} bytes): \
                         everything before it was sent; the rest of that event is not in the file \
                         (the primary crashed while writing it)",
                        info.name
                    );
                    break;
                }
                Err(e) => return fatal(client, &format!("cannot read {}: {e}", info.name)).await,
            };
            let header = item.event.header;
            if item.offset == 4 {
                // The format description comes first in every file.
                let mid_file = index == first && (offset > 4 || by_gtid);
                let fd = format_description(item.event.bytes(), mid_file, by_gtid, info.checksum);
                guard.feed(fd, stream.policy, &mut out);
                if by_gtid && index == first {
                    let list =
                        write::gtid_list(&dump.state, offset as u32, server_id, info.checksum);
                    guard.feed(packet(&list), stream.policy, &mut out);
                }
                if let Some(at) = skip_to.take()
                    && let Err(e) = reader.seek_to(at)
                {
                    return fatal(client, &format!("cannot read {}: {e}", info.name)).await;
                }
                if let Some(end) = relay::act(client, &mut out, &stream, &guard).await? {
                    return Ok(end);
                }
                continue;
            }
            if reached_stop(stop, set, index, item.offset, header.timestamp) {
                // Nothing at or after the stop point goes out, nor the rest of a transaction
                // it cuts (held, so never sent).
                if guard.discard_open_group() {
                    warn!(
                        replica = stream.server_id,
                        "the stop point cuts a transaction larger than replication.hold_bytes: \
                         its first events already reached the replica, which will not commit it"
                    );
                }
                stopped_at_point = true;
                break 'files;
            }
            guard.feed(packet(item.event.bytes()), stream.policy, &mut out);
            if let Some(end) = relay::act(client, &mut out, &stream, &guard).await? {
                return Ok(end);
            }
            if stop
                .gtid
                .is_some_and(|g| guard.sent().gtid.as_deref() == Some(&g.to_string()))
            {
                stopped_at_point = true;
                break 'files;
            }
            count += 1;
            if count.is_multiple_of(512) {
                stream.registry.progress(stream.server_id, guard.sent(), 0);
                if *stream.stopping.borrow() {
                    return stopping(client).await;
                }
            }
        }
        client.flush().await?;
    }
    client.flush().await?;
    stream.registry.progress(stream.server_id, guard.sent(), 0);
    let sent = guard.sent().clone();
    if guard.held_events() > 0 {
        warn!(
            replica = stream.server_id,
            "the last transaction in the files is incomplete (the primary crashed before its \
             commit): not sent"
        );
    }
    info!(
        replica = stream.server_id,
        "all events up to {}:{} (GTID {}) sent{}",
        sent.file,
        sent.end,
        sent.gtid.as_deref().unwrap_or("none"),
        if stopped_at_point {
            " (the stop point)"
        } else {
            " (the end of the files)"
        }
    );
    if dump.non_blocking {
        client
            .send_packet(&crate::protocol::reply::eof_packet(0))
            .await?;
        client.flush().await?;
        return Ok(RelayEnd::Primary);
    }
    idle(client, &mut stream, &sent.file, sent.end, server_id, &dump).await
}

/// Whether the event at `offset` of file `index` (at `time`) is at or past the stop point.
fn reached_stop(stop: &StopAt, set: &BinlogSet, index: usize, offset: u64, time: u32) -> bool {
    if let Some((stop_file, stop_pos)) = &stop.position
        && let Some(stop_index) = set.find(stop_file)
        && (index > stop_index || (index == stop_index && offset >= *stop_pos))
    {
        return true;
    }
    stop.datetime.is_some_and(|t| time != 0 && time >= t)
}

/// Waits at the end: heartbeats, until the replica leaves or replaygate stops.
async fn idle(
    client: &mut PacketStream<Socket>,
    stream: &mut Stream<'_>,
    file: &str,
    position: u64,
    server_id: u32,
    dump: &Dump,
) -> Result<RelayEnd, ProtocolError> {
    let period = dump.heartbeat.unwrap_or(Duration::from_secs(3600));
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let checksum = stream.checksum;
    loop {
        tokio::select! {
            biased;
            () = relay::stopped(&mut stream.stopping) => {}
            closed = client.peer_activity() => {
                return Ok(if closed? { RelayEnd::ReplicaLeft } else { RelayEnd::ReplicaSpoke });
            }
            _ = tick.tick() => {
                if dump.heartbeat.is_some() {
                    let hb = write::heartbeat(file, position as u32, server_id, checksum);
                    client.send_packet(&packet(&hb)).await?;
                    client.flush().await?;
                }
                continue;
            }
        }
        return stopping(client).await;
    }
}

async fn stopping(client: &mut PacketStream<Socket>) -> Result<RelayEnd, ProtocolError> {
    relay::refuse(
        client,
        ER_NET_READ_ERROR,
        "replaygate: shutting down; reconnect to resume from your position",
    )
    .await;
    Ok(RelayEnd::Stopped)
}

async fn fatal(
    client: &mut PacketStream<Socket>,
    message: &str,
) -> Result<RelayEnd, ProtocolError> {
    warn!("{message}");
    relay::refuse(client, ER_MASTER_FATAL_ERROR_READING_BINLOG, message).await;
    Ok(RelayEnd::Halted)
}
