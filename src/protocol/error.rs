//! Errors of the wire layer: the peer misbehaved or went away.

use std::io;

/// Something went wrong below the level of statements: the transport failed or a peer sent
/// bytes that are not the MySQL protocol.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    /// The socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection in the middle of a packet.
    #[error("connection closed in the middle of a packet")]
    TruncatedPacket,
    /// The peer closed the connection where a packet was required.
    #[error("connection closed while a packet was expected")]
    UnexpectedEof,
    /// A packet's sequence id was not the next one.
    #[error("packet out of order: expected sequence id {expected}, got {got}")]
    OutOfOrder { expected: u8, got: u8 },
    /// A packet was larger than the configured limit.
    #[error("packet larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// A read got no byte within the stream's read timeout.
    #[error("no reply within {}s", after.as_secs())]
    ReadTimedOut { after: std::time::Duration },
    /// A packet that cannot be what the protocol says comes next.
    #[error("malformed {what} packet")]
    Malformed { what: &'static str },
}
