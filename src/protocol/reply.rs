//! Packets replaygate writes itself, never copies of the server's: its own ERR packets.

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

/// An OK packet payload with no affected rows, for a statement replaygate answers itself
/// (a quarantined one): `status` is the session's status flags (autocommit, in transaction).
pub fn ok_packet(status: u16) -> Vec<u8> {
    let mut payload = vec![0x00, 0x00, 0x00];
    payload.extend_from_slice(&status.to_le_bytes());
    payload.extend_from_slice(&0u16.to_le_bytes());
    payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::ReplyShape;
    use crate::protocol::response::{ResponseTracker, Step};
    use mysql_common::constants::CapabilityFlags;

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
