//! replaygate's own greeting, for where it answers a client as a server itself: `replaygate
//! source` (the primary of a replica) and a client refused before any target is involved (over
//! `proxy.max_connections`).
//!
//! A refusal comes after the greeting and the client's handshake response, as the server sends
//! it: a client that gets an ERR in place of the greeting cannot tell it from a forgery and
//! reports that instead (MariaDB's client: "Received error packet before completion of TLS
//! handshake").

use std::io::Read;

use mysql_common::constants::{CapabilityFlags, StatusFlags};

use super::reply::err_packet;
use super::{PacketStream, ProtocolError, Socket};

pub const NATIVE: &[u8] = b"mysql_native_password";

/// What the server side offers besides TLS (see [`greeting`]): no compression, EOF-terminated
/// result sets.
pub fn capabilities() -> CapabilityFlags {
    CapabilityFlags::CLIENT_LONG_PASSWORD
        | CapabilityFlags::CLIENT_LONG_FLAG
        | CapabilityFlags::CLIENT_CONNECT_WITH_DB
        | CapabilityFlags::CLIENT_PROTOCOL_41
        | CapabilityFlags::CLIENT_TRANSACTIONS
        | CapabilityFlags::CLIENT_SECURE_CONNECTION
        | CapabilityFlags::CLIENT_PLUGIN_AUTH
        | CapabilityFlags::CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA
}

/// 20 printable random bytes (a scramble must hold no NUL: it is NUL-terminated on the wire).
pub fn scramble() -> [u8; 20] {
    let mut bytes = [0u8; 20];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_err()
    {
        // No randomness device: the clock's nanoseconds still make each scramble differ.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = (nanos >> (i % 16 * 8)) as u8 ^ (i as u8).wrapping_mul(37);
        }
    }
    bytes.map(|b| b % 94 + 33)
}

/// The initial handshake packet (protocol 10): the scramble in its two parts, the second
/// NUL-terminated, and `mysql_native_password` as the plugin; CLIENT_SSL when `offer_tls`.
pub fn greeting(
    version: &str,
    connection_id: u32,
    scramble: &[u8; 20],
    offer_tls: bool,
) -> Vec<u8> {
    let mut caps = capabilities();
    if offer_tls {
        caps |= CapabilityFlags::CLIENT_SSL;
    }
    let caps = caps.bits();
    let mut p = vec![10];
    p.extend_from_slice(version.as_bytes());
    p.push(0);
    p.extend_from_slice(&connection_id.to_le_bytes());
    p.extend_from_slice(&scramble[..8]);
    p.push(0);
    p.extend_from_slice(&(caps as u16).to_le_bytes());
    p.push(45); // utf8mb4_general_ci
    p.extend_from_slice(&StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits().to_le_bytes());
    p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    p.push(21);
    p.extend_from_slice(&[0; 10]);
    p.extend_from_slice(&scramble[8..]);
    p.push(0);
    p.extend_from_slice(NATIVE);
    p.push(0);
    p
}

/// Refuses a client as a server does: the greeting, the client's handshake response (read and
/// ignored: whatever it asks, the answer is no), then the ERR.
pub async fn refuse_after_greeting(
    client: &mut PacketStream<Socket>,
    version: &str,
    code: u16,
    state: &[u8; 5],
    message: &str,
) -> Result<(), ProtocolError> {
    client
        .send_packet(&greeting(version, 0, &scramble(), false))
        .await?;
    client.flush().await?;
    client.expect_packet().await?;
    client
        .send_packet(&err_packet(code, state, message))
        .await?;
    client.flush().await
}
