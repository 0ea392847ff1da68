//! Why a session ended. The split matters at the protocol boundary: a client's bad input or a
//! vanished target closes that one session (with an ERR to the client where one can still be
//! sent), never the process; the target's own errors are not here at all — they are relayed.

use crate::protocol::ProtocolError;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The client sent something that is not the protocol, or its connection failed.
    #[error("client connection: {0}")]
    Client(#[source] ProtocolError),
    /// The target's connection failed or it sent something that is not the protocol.
    #[error("target connection: {0}")]
    Backend(#[source] ProtocolError),
    /// The target could not be reached.
    #[error("cannot connect to the target {target}: {reason}")]
    Connect { target: String, reason: String },
    /// The quarantine journal could not be written: the statement was neither applied nor kept.
    #[error("quarantine journal: {0}")]
    Journal(String),
    /// replaygate refused the session (TLS requested, unsupported protocol, charset setup).
    #[error("{0}")]
    Refused(String),
}
