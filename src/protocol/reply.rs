//! Packets replaygate writes itself, never copies of the server's: its own ERR and OK packets,
//! and (as `replaygate source`, the primary of a replica) small text result sets.

use mysql_common::packets::{ErrPacket, ServerError, SqlState};
use mysql_common::proto::MySerialize;

/// An ERR packet payload. Messages of replaygate's own start with `replaygate:` so a person
/// reading the client's output knows who refused the statement.
pub fn err_packet(code: u16, sql_state: &[u8; 5], message: &str) -> Vec<u8> {
    let mut payload = Vec::with_capacity(message.len() + 9);
    ErrPacket::Error(ServerError::new(
        code,
        Some(SqlState::new(*sql_state)),
        message.as_bytes(),
    ))
    .serialize(&mut payload);
    payload
}

/// ER_ACCESS_DENIED_ERROR: a wrong account, or (with TLS required) a client in clear text, which
/// a server with `require_secure_transport` refuses with no more than this either.
pub const ER_ACCESS_DENIED_ERROR: u16 = 1045;

/// The server's message for [`ER_ACCESS_DENIED_ERROR`]: the user, the client's address as a
/// server with `skip_name_resolve` names it (a unix socket client is `localhost`), and whether
/// a password was sent.
pub fn access_denied_message(user: &str, peer: &str, with_password: bool) -> String {
    let host = peer
        .parse::<std::net::SocketAddr>()
        .map_or_else(|_| "localhost".to_owned(), |addr| addr.ip().to_string());
    format!(
        "Access denied for user '{user}'@'{host}' (using password: {})",
        if with_password { "YES" } else { "NO" }
    )
}

/// An OK packet payload with no affected rows, for a statement replaygate answers itself
/// (a quarantined one): `status` is the session's status flags (autocommit, in transaction).
pub fn ok_packet(status: u16) -> Vec<u8> {
    let mut payload = vec![0x00, 0x00, 0x00];
    payload.extend_from_slice(&status.to_le_bytes());
    payload.extend_from_slice(&0u16.to_le_bytes());
    payload
}

/// `SERVER_STATUS_AUTOCOMMIT`: the status a fresh session reports.
pub const STATUS_AUTOCOMMIT: u16 = 0x0002;

fn lenenc_int(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=250 => out.push(n as u8),
        251..=0xffff => {
            out.push(0xfc);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xff_ffff => {
            out.push(0xfd);
            out.extend_from_slice(&n.to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

fn lenenc_str(out: &mut Vec<u8>, s: &[u8]) {
    lenenc_int(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// An EOF packet (for clients without CLIENT_DEPRECATE_EOF).
pub fn eof_packet(status: u16) -> Vec<u8> {
    let mut p = vec![0xfe, 0, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p
}

/// The packets of a text result set of VARCHAR columns (protocol 4.1, EOF-terminated): column
/// count, definitions, EOF, rows, EOF.
pub fn text_result_set(columns: &[String], rows: &[Vec<Option<String>>]) -> Vec<Vec<u8>> {
    let mut packets = Vec::with_capacity(columns.len() + rows.len() + 3);
    let mut count = Vec::new();
    lenenc_int(&mut count, columns.len() as u64);
    packets.push(count);
    for name in columns {
        let mut def = Vec::with_capacity(name.len() + 30);
        for part in [&b"def"[..], b"", b"", b"", name.as_bytes(), name.as_bytes()] {
            lenenc_str(&mut def, part);
        }
        def.push(0x0c);
        def.extend_from_slice(&45u16.to_le_bytes()); // utf8mb4_general_ci
        def.extend_from_slice(&1024u32.to_le_bytes());
        def.push(0xfd); // VAR_STRING
        def.extend_from_slice(&0u16.to_le_bytes());
        def.push(0);
        def.extend_from_slice(&[0, 0]);
        packets.push(def);
    }
    packets.push(eof_packet(STATUS_AUTOCOMMIT));
    for row in rows {
        let mut p = Vec::new();
        for value in row {
            match value {
                Some(v) => lenenc_str(&mut p, v.as_bytes()),
                None => p.push(0xfb),
            }
        }
        packets.push(p);
    }
    packets.push(eof_packet(STATUS_AUTOCOMMIT));
    packets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::ReplyShape;
    use crate::protocol::response::{ResponseTracker, Step};
    use mysql_common::constants::CapabilityFlags;

    #[test]
    fn our_result_sets_read_back_as_the_server_s() {
        let packets = text_result_set(
            &["Variable_name".into(), "Value".into()],
            &[vec![Some("server_id".into()), None]],
        );
        let mut tracker =
            ResponseTracker::new(ReplyShape::ResultSets, CapabilityFlags::CLIENT_PROTOCOL_41);
        let mut rows = 0;
        for (i, p) in packets.iter().enumerate() {
            match tracker.feed(p).unwrap() {
                Step::Row => rows += 1,
                Step::Done(outcome) => {
                    assert_eq!(i, packets.len() - 1);
                    assert!(outcome.error.is_none());
                }
                _ => {}
            }
        }
        assert_eq!(rows, 1);
    }

    #[test]
    fn our_err_packets_read_back_as_server_errors() {
        let payload = err_packet(1300, b"HY000", "replaygate: refused");
        let mut tracker =
            ResponseTracker::new(ReplyShape::ResultSets, CapabilityFlags::CLIENT_PROTOCOL_41);
        let Step::Done(outcome) = tracker.feed(&payload).unwrap() else {
            panic!("an ERR ends the response");
        };
        let err = outcome.error.unwrap();
        assert_eq!((err.code, err.sql_state.as_str()), (1300, "HY000"));
        assert_eq!(err.message, "replaygate: refused");
    }
}
