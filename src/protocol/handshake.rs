//! The connection phase: the server's greeting, the client's handshake response, and the
//! authentication exchange, all relayed to the target so that its own accounts decide who gets in.
//!
//! replaygate changes exactly three things on the way through, each by patching bytes in place
//! so that everything else (scrambles, plugin data, connection attributes) stays as sent:
//! - capabilities it cannot honour are cleared in the greeting and in the response (TLS and
//!   compression on a leg it does not terminate; protocol extensions that change the shape of
//!   commands or result sets it would have to parse), so clients fall back cleanly;
//! - the handshake charset, when the session charset is pinned (the client's default must not
//!   decide how replayed bytes are read);
//! - nothing else: the auth exchange is relayed packet by packet until the server's OK or ERR.

use mysql_common::constants::{CapabilityFlags, MariadbCapabilities};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{HandshakePacket, HandshakeResponse};

use super::ProtocolError;

/// Capabilities the proxy never lets a client negotiate.
pub const UNSUPPORTED_CAPABILITIES: CapabilityFlags = CapabilityFlags::CLIENT_SSL
    .union(CapabilityFlags::CLIENT_COMPRESS)
    .union(CapabilityFlags::CLIENT_ZSTD_COMPRESSION_ALGORITHM)
    .union(CapabilityFlags::CLIENT_QUERY_ATTRIBUTES)
    .union(CapabilityFlags::CLIENT_OPTIONAL_RESULTSET_METADATA);

/// MariaDB extensions the proxy never lets a client negotiate: metadata caching omits column
/// definitions from result sets, which the response tracker counts.
pub const UNSUPPORTED_MARIADB_CAPABILITIES: MariadbCapabilities =
    MariadbCapabilities::MARIADB_CLIENT_CACHE_METADATA;

/// What the greeting tells about the target.
#[derive(Debug, Clone)]
pub struct ServerGreeting {
    pub version: String,
    pub is_mariadb: bool,
    /// `major * 10000 + minor * 100 + patch`, as versioned comments count it.
    pub version_number: u32,
    pub connection_id: u32,
    pub capabilities: CapabilityFlags,
    pub mariadb_capabilities: MariadbCapabilities,
    pub default_collation: u8,
}

/// Parses the server greeting and clears unsupported capabilities in place; `offer_tls` sets
/// CLIENT_SSL (replaygate terminates the client's TLS itself, whatever the target offers).
pub fn patch_greeting(packet: &mut [u8], offer_tls: bool) -> Result<ServerGreeting, ProtocolError> {
    let malformed = || ProtocolError::Malformed {
        what: "server greeting",
    };
    // Layout after the NUL-terminated version: connection id (4), scramble (8), filler (1),
    // capabilities low (2), collation (1), status (2), capabilities high (2), scramble length
    // (1), reserved (6), MariaDB capabilities (4).
    let nul = packet
        .iter()
        .skip(1)
        .position(|&b| b == 0)
        .ok_or_else(malformed)?;
    let caps_low = 1 + nul + 1 + 4 + 8 + 1;
    let caps_high = caps_low + 2 + 1 + 2;
    let scramble_len = caps_high + 2;
    let mariadb_caps = scramble_len + 1 + 6;
    // mysql_common 0.38 computes `length as i8 - 8`, which overflows (a panic in builds with
    // overflow checks) for a length of 0x80 or more; real servers send 21 or 0.
    if packet.len() < mariadb_caps + 4 || packet[scramble_len] >= 0x80 {
        return Err(malformed());
    }
    let greeting = {
        let parsed: HandshakePacket<'_> = ParseBuf(packet).parse(()).map_err(|_| malformed())?;
        let version = parsed.server_version_str().into_owned();
        let is_mariadb = version.contains("MariaDB");
        ServerGreeting {
            version_number: version_number(&version, is_mariadb),
            version,
            is_mariadb,
            connection_id: parsed.connection_id(),
            capabilities: parsed.capabilities(),
            mariadb_capabilities: parsed.mariadb_ext_capabilities(),
            default_collation: parsed.default_collation(),
        }
    };
    let mut caps = greeting.capabilities.difference(UNSUPPORTED_CAPABILITIES);
    caps.set(CapabilityFlags::CLIENT_SSL, offer_tls);
    let caps = caps.bits();
    packet[caps_low..caps_low + 2].copy_from_slice(&(caps as u16).to_le_bytes());
    packet[caps_high..caps_high + 2].copy_from_slice(&((caps >> 16) as u16).to_le_bytes());
    if !greeting
        .capabilities
        .contains(CapabilityFlags::CLIENT_LONG_PASSWORD)
    {
        let ext = greeting
            .mariadb_capabilities
            .difference(UNSUPPORTED_MARIADB_CAPABILITIES)
            .bits();
        packet[mariadb_caps..mariadb_caps + 4].copy_from_slice(&ext.to_le_bytes());
    }
    Ok(greeting)
}

/// `major * 10000 + minor * 100 + patch` of a greeting's version. MariaDB 10 and later put
/// `5.5.5-` before their own version for old clients. (mysql_common's version parsers panic on
/// a number too long for a u16, which a malformed greeting can hold.)
fn version_number(version: &str, is_mariadb: bool) -> u32 {
    let own = match version.strip_prefix("5.5.5-") {
        Some(own) if is_mariadb => own,
        _ => version,
    };
    crate::binlog::format::version_number(own)
}

/// What the client's handshake response asked for.
#[derive(Debug, Clone)]
pub struct ClientHello {
    pub user: String,
    pub database: Option<Vec<u8>>,
    /// The collation id the client declared (its default charset).
    pub collation: u8,
    /// The capabilities the client asked for, after unsupported ones were cleared.
    pub capabilities: CapabilityFlags,
    /// Whether the client sent an authentication response (a password), as the server's
    /// "Access denied ... (using password: YES)" says.
    pub with_password: bool,
}

/// Asks the target for TLS with the client's handshake response: sets CLIENT_SSL in it, in
/// place, and returns the SSL request to send first (the response's first 32 bytes: what the
/// server needs to start TLS; the whole response follows inside).
pub fn request_tls(hello: &mut [u8]) -> Vec<u8> {
    if let Some(caps) = hello.get_mut(..4) {
        let bits = u32::from_le_bytes([caps[0], caps[1], caps[2], caps[3]])
            | CapabilityFlags::CLIENT_SSL.bits();
        caps.copy_from_slice(&bits.to_le_bytes());
    }
    let mut request = hello.get(..32).unwrap_or(hello).to_vec();
    request.resize(32, 0);
    request
}

/// Why a client's handshake response cannot be relayed as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelloRefusal {
    /// The client asked to switch to TLS (an SSL request): its handshake response follows
    /// inside TLS.
    TlsRequested,
    /// The client does not speak the 4.1 protocol.
    Pre41Protocol,
}

/// Whether a client's first answer is an SSL request: CLIENT_SSL in a response too short to be
/// the whole handshake response.
pub fn is_tls_request(packet: &[u8]) -> bool {
    packet.len() <= 32
        && packet.get(..4).is_some_and(|c| {
            let caps = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            caps & CapabilityFlags::CLIENT_SSL.bits() != 0
        })
}

/// Parses the client's handshake response, clears unsupported capabilities and, when
/// `pin_collation` is given, replaces the declared charset, all in place.
pub fn patch_client_hello(
    packet: &mut [u8],
    pin_collation: Option<u8>,
) -> Result<Result<ClientHello, HelloRefusal>, ProtocolError> {
    let malformed = ProtocolError::Malformed {
        what: "handshake response",
    };
    let Some(raw_caps) = packet.get(..4) else {
        return Err(malformed);
    };
    let caps = CapabilityFlags::from_bits_truncate(u32::from_le_bytes([
        raw_caps[0],
        raw_caps[1],
        raw_caps[2],
        raw_caps[3],
    ]));
    if !caps.contains(CapabilityFlags::CLIENT_PROTOCOL_41) {
        return Ok(Err(HelloRefusal::Pre41Protocol));
    }
    // A 32-byte response with CLIENT_SSL is an SSL request: the client waits to start TLS.
    if caps.contains(CapabilityFlags::CLIENT_SSL) && packet.len() <= 32 {
        return Ok(Err(HelloRefusal::TlsRequested));
    }
    let (user, database, collation, with_password) = {
        let parsed: HandshakeResponse<'_> = ParseBuf(packet).parse(()).map_err(|_| malformed)?;
        (
            String::from_utf8_lossy(parsed.user()).into_owned(),
            parsed.db_name().map(<[u8]>::to_vec),
            parsed.collation(),
            !parsed.scramble_buf().is_empty(),
        )
    };
    let kept = caps.difference(UNSUPPORTED_CAPABILITIES);
    packet[..4].copy_from_slice(&kept.bits().to_le_bytes());
    if let Some(pinned) = pin_collation {
        packet[8] = pinned;
    }
    // MariaDB clients put their extended capabilities in the last 4 filler bytes.
    if !caps.contains(CapabilityFlags::CLIENT_LONG_PASSWORD) && packet.len() >= 32 {
        let ext = u32::from_le_bytes([packet[28], packet[29], packet[30], packet[31]]);
        let ext = MariadbCapabilities::from_bits_truncate(ext)
            .difference(UNSUPPORTED_MARIADB_CAPABILITIES)
            .bits();
        packet[28..32].copy_from_slice(&ext.to_le_bytes());
    }
    Ok(Ok(ClientHello {
        user,
        database,
        collation,
        capabilities: kept,
        with_password,
    }))
}

/// Who speaks next during authentication, judged from the server's last packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthTurn {
    /// The server accepted the client: the command phase begins.
    Accepted,
    /// The server refused the client (its ERR is relayed as is).
    Refused,
    /// The server waits for the client's next authentication packet.
    Client,
    /// The server will send another packet without waiting (caching_sha2 fast-auth success).
    Server,
    /// The server asked for a plugin that cannot be relayed honestly.
    Unrelayable { plugin: String },
}

/// Plugins that authenticate the *connecting process* by its OS identity: through the proxy
/// that would be replaygate's own user, not the client's.
const PEER_IDENTITY_PLUGINS: [&str; 2] = ["unix_socket", "auth_socket"];

/// Reads a server packet of the authentication exchange.
pub fn auth_turn(packet: &[u8]) -> AuthTurn {
    match packet.first() {
        Some(0x00) => AuthTurn::Accepted,
        Some(0xff) => AuthTurn::Refused,
        Some(0xfe) => {
            let name_end = packet
                .iter()
                .skip(1)
                .position(|&b| b == 0)
                .map_or(packet.len(), |p| p + 1);
            let plugin = String::from_utf8_lossy(packet.get(1..name_end).unwrap_or_default());
            if PEER_IDENTITY_PLUGINS.contains(&plugin.as_ref()) {
                AuthTurn::Unrelayable {
                    plugin: plugin.into_owned(),
                }
            } else {
                AuthTurn::Client
            }
        }
        // caching_sha2_password: 0x01 0x03 means "fast auth succeeded, OK follows".
        Some(0x01) if packet == [0x01, 0x03] => AuthTurn::Server,
        _ => AuthTurn::Client,
    }
}

/// Replaces the charset of a COM_CHANGE_USER packet in place, when it carries one.
///
/// Layout: command, user NUL, auth length + auth data (CLIENT_SECURE_CONNECTION) or auth NUL,
/// database NUL, then (if present) charset as two little-endian bytes.
pub fn patch_change_user_charset(packet: &mut [u8], caps: CapabilityFlags, collation: u8) {
    let mut pos = 1;
    let Some(user_len) = packet
        .get(pos..)
        .and_then(|r| r.iter().position(|&b| b == 0))
    else {
        return;
    };
    pos += user_len + 1;
    if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
        let Some(&auth_len) = packet.get(pos) else {
            return;
        };
        pos += 1 + usize::from(auth_len);
    } else {
        let Some(auth_len) = packet
            .get(pos..)
            .and_then(|r| r.iter().position(|&b| b == 0))
        else {
            return;
        };
        pos += auth_len + 1;
    }
    let Some(db_len) = packet
        .get(pos..)
        .and_then(|r| r.iter().position(|&b| b == 0))
    else {
        return;
    };
    pos += db_len + 1;
    if let Some(charset) = packet.get_mut(pos..pos + 2) {
        charset.copy_from_slice(&u16::from(collation).to_le_bytes());
    }
}

/// The database named in a COM_CHANGE_USER packet.
pub fn change_user_database(packet: &[u8], caps: CapabilityFlags) -> Option<Vec<u8>> {
    let mut pos = 1;
    pos += packet.get(pos..)?.iter().position(|&b| b == 0)? + 1;
    if caps.contains(CapabilityFlags::CLIENT_SECURE_CONNECTION) {
        pos += 1 + usize::from(*packet.get(pos)?);
    } else {
        pos += packet.get(pos..)?.iter().position(|&b| b == 0)? + 1;
    }
    let db_len = packet.get(pos..)?.iter().position(|&b| b == 0)?;
    let db = packet.get(pos..pos + db_len)?;
    (!db.is_empty()).then(|| db.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_turns() {
        assert_eq!(auth_turn(&[0, 0, 0, 2, 0]), AuthTurn::Accepted);
        assert_eq!(auth_turn(&[0xff, 0x15, 0x04]), AuthTurn::Refused);
        assert_eq!(
            auth_turn(b"\xfemysql_native_password\0abcdefgh\0"),
            AuthTurn::Client
        );
        assert_eq!(
            auth_turn(b"\xfeunix_socket\0"),
            AuthTurn::Unrelayable {
                plugin: "unix_socket".into()
            }
        );
        assert_eq!(auth_turn(&[0x01, 0x03]), AuthTurn::Server);
        assert_eq!(auth_turn(&[0x01, 0x04]), AuthTurn::Client);
        assert_eq!(auth_turn(&[]), AuthTurn::Client);
    }

    #[test]
    fn change_user_charset_and_database() {
        let caps = CapabilityFlags::CLIENT_SECURE_CONNECTION;
        let mut packet = vec![0x11];
        packet.extend_from_slice(b"bob\0");
        packet.extend_from_slice(&[3, 1, 2, 3]);
        packet.extend_from_slice(b"shop\0");
        packet.extend_from_slice(&[8, 0]);
        packet.extend_from_slice(b"mysql_native_password\0");
        patch_change_user_charset(&mut packet, caps, 45);
        assert_eq!(&packet[14..16], &[45, 0]);
        assert_eq!(change_user_database(&packet, caps), Some(b"shop".to_vec()));
        // Truncated packets are left alone rather than misread.
        let mut short = vec![0x11, b'b'];
        patch_change_user_charset(&mut short, caps, 45);
        assert_eq!(short, vec![0x11, b'b']);
    }
}
