//! The connection to the target server, and the few queries replaygate itself sends on it
//! (reading the collation catalog, pinning the session charset).
//!
//! Internal queries run only between client commands, on the client's own backend session, so
//! they see and change exactly the session the client's statements run in.

use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::{TcpStream, UnixStream};

use super::error::SessionError;
use crate::config::Target;
use crate::protocol::command::{ReplyShape, code};
use crate::protocol::response::{ResponseTracker, ServerErrorInfo, Step};
use crate::protocol::{PacketStream, ProtocolError, Socket};
use mysql_common::constants::CapabilityFlags;

/// Connects to the target; over TCP, a network silent for `dead_after` ends the connection.
pub async fn connect(target: &Target, dead_after: Option<Duration>) -> std::io::Result<Socket> {
    Ok(match target {
        Target::Tcp(addr) => {
            let stream = TcpStream::connect(addr).await?;
            // Statements are small and latency-bound: never wait to coalesce them.
            stream.set_nodelay(true)?;
            if let Some(dead_after) = dead_after {
                detect_silence(&stream, dead_after)?;
            }
            Socket::Tcp(stream)
        }
        Target::Unix(path) => Socket::Unix(UnixStream::connect(path).await?),
    })
}

/// Makes a partition or a vanished host an error within about `after` instead of a hang: the
/// target owes a reply and sends nothing, which no read can tell from a slow statement.
///
/// - While nothing is unacknowledged (waiting for a reply), keepalive probes start after a
///   third of `after` and three unanswered ones, a sixth apart, end the connection: a target
///   that runs a statement for hours still answers them (its kernel does).
/// - While data is unacknowledged (a statement or a probe on its way), TCP_USER_TIMEOUT ends
///   it after `after`: retransmissions alone would take about 15 minutes.
///
/// Either way the read fails with ETIMEDOUT and the session reports the lost target.
fn detect_silence(stream: &TcpStream, after: Duration) -> std::io::Result<()> {
    let idle = (after / 3).max(Duration::from_secs(1));
    let interval = (after / 6).max(Duration::from_secs(1));
    let keepalive = TcpKeepalive::new()
        .with_time(idle)
        .with_interval(interval)
        .with_retries(3);
    let socket = SockRef::from(stream);
    socket.set_tcp_keepalive(&keepalive)?;
    socket.set_tcp_user_timeout(Some(after))
}

/// The result of an internal query: rows of text columns (`None` for NULL).
pub type TextRows = Vec<Vec<Option<String>>>;

/// Runs one query of replaygate's own on the backend and collects its text rows.
///
/// Returns the server's error as `Err(Ok(info))` so callers can tell "the target said no"
/// from "the connection failed".
pub async fn internal_query(
    backend: &mut PacketStream<Socket>,
    caps: CapabilityFlags,
    sql: &str,
) -> Result<Result<TextRows, ServerErrorInfo>, SessionError> {
    backend.reset_seq();
    let mut command = Vec::with_capacity(sql.len() + 1);
    command.push(code::COM_QUERY);
    command.extend_from_slice(sql.as_bytes());
    backend
        .send_packet(&command)
        .await
        .map_err(SessionError::Backend)?;
    backend.flush().await.map_err(SessionError::Backend)?;

    let mut tracker = ResponseTracker::new(ReplyShape::ResultSets, caps);
    let mut rows = TextRows::new();
    let mut columns = None;
    loop {
        let packet = backend
            .expect_packet()
            .await
            .map_err(SessionError::Backend)?;
        let column_count =
            *columns.get_or_insert_with(|| usize::from(packet.first().copied().unwrap_or(0)));
        match tracker.feed(&packet).map_err(SessionError::Backend)? {
            Step::Done(outcome) => {
                return Ok(match outcome.error {
                    Some(err) => Err(err),
                    None => Ok(rows),
                });
            }
            Step::Row => rows.push(parse_text_row(&packet, column_count)),
            Step::More => {}
            Step::LocalInfile => {
                return Err(SessionError::Backend(ProtocolError::Malformed {
                    what: "reply to an internal query",
                }));
            }
        }
    }
}

fn parse_text_row(packet: &[u8], columns: usize) -> Vec<Option<String>> {
    let mut row = Vec::with_capacity(columns);
    let mut rest = packet;
    for _ in 0..columns {
        match rest.split_first() {
            Some((0xfb, tail)) => {
                row.push(None);
                rest = tail;
            }
            Some(_) => {
                let (len, header) = match rest[0] {
                    n @ 0..=0xfa => (usize::from(n), 1),
                    0xfc if rest.len() >= 3 => {
                        (usize::from(u16::from_le_bytes([rest[1], rest[2]])), 3)
                    }
                    0xfd if rest.len() >= 4 => (
                        usize::from(rest[1])
                            | usize::from(rest[2]) << 8
                            | usize::from(rest[3]) << 16,
                        4,
                    ),
                    _ => break,
                };
                let Some(value) = rest.get(header..header + len) else {
                    break;
                };
                row.push(Some(String::from_utf8_lossy(value).into_owned()));
                rest = &rest[header + len..];
            }
            None => break,
        }
    }
    row
}
