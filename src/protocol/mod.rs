//! The MySQL wire protocol as replaygate needs it: framing, the connection handshake, and a
//! state machine that knows when a server response is complete.
//!
//! This layer knows nothing about SQL. It moves packets byte for byte and decodes only the few
//! fields the proxy must act on (capability flags, the handshake charset, OK/ERR/EOF status).
//! Framing and OK/ERR parsing come from `mysql_common`, the protocol library under `mysql_async`,
//! so the proxy speaks exactly the dialect its clients and servers already agree on.

pub mod command;
pub mod error;
pub mod greeting;
pub mod handshake;
pub mod packet_stream;
pub mod reply;
pub mod response;
pub mod socket;

pub use error::ProtocolError;
pub use packet_stream::PacketStream;
pub use socket::{ReadNow, Socket};
