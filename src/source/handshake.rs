//! replaygate as the primary: its own greeting and `mysql_native_password` authentication of
//! the one account replicas use (`--user`, `--password-env`). A wrong password gets the
//! server's own ERR 1045.
//!
//! With `--tls-cert`/`--tls-key` the greeting offers TLS and a replica with `MASTER_SSL = 1`
//! switches to it before it authenticates (the same acceptor `serve` uses); with
//! `--tls-required` a replica that stays in clear text is refused with the ERR 1045 a server
//! with `require_secure_transport` sends.

use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{AuthPlugin, AuthSwitchRequest, HandshakeResponse};
use mysql_common::proto::MySerialize;

use tracing::warn;

use crate::protocol::greeting::{NATIVE, capabilities, greeting, scramble};
use crate::protocol::handshake::is_tls_request;
use crate::protocol::reply::{
    ER_ACCESS_DENIED_ERROR, access_denied_message, err_packet, ok_packet,
};
use crate::protocol::{PacketStream, ProtocolError, Socket};
use crate::session::tls::{LegOptions, accept_client};
use crate::tls::ClientTls;

/// ER_NOT_SUPPORTED_AUTH_MODE, for a replica asking for TLS that is not offered.
const ER_NOT_SUPPORTED_AUTH_MODE: u16 = 1251;

/// What the replica's leg may or must be encrypted with.
#[derive(Clone, Copy)]
pub struct Encryption<'a> {
    pub tls: Option<&'a ClientTls>,
    pub leg: LegOptions,
}

/// The account replicas authenticate as.
#[derive(Clone)]
pub struct Account {
    pub user: String,
    pub password: Vec<u8>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("user", &self.user)
            .field(
                "password",
                &if self.password.is_empty() {
                    "(none)"
                } else {
                    "(set)"
                },
            )
            .finish()
    }
}

/// Greets the client, switches to TLS when it asks, and checks its credentials. `Ok(Some(_))`
/// once the client is in (the OK is sent): the connection, in TLS when it switched, and the
/// user; `Ok(None)` when it was refused (told why, when it could be), or left.
pub async fn authenticate(
    mut client: PacketStream<Socket>,
    connection_id: u32,
    version: &str,
    account: &Account,
    peer: &str,
    encryption: Encryption<'_>,
) -> Result<Option<(PacketStream<Socket>, String)>, ProtocolError> {
    let scramble = scramble();
    let greeting = greeting(version, connection_id, &scramble, encryption.tls.is_some());
    client.reset_seq();
    client.send_packet(&greeting).await?;
    client.flush().await?;
    // The SSL request may be followed at once by the TLS hello: read no further than it.
    let Some(mut response) = client.read_packet_exact().await? else {
        return Ok(None);
    };
    if is_tls_request(&response) {
        let Some(tls) = encryption.tls else {
            let message = "replaygate source was started without TLS: connect the replica \
                           with MASTER_SSL = 0, or give source --tls-cert and --tls-key";
            return refuse(client, ER_NOT_SUPPORTED_AUTH_MODE, b"08004", message).await;
        };
        match accept_client(client, tls, encryption.leg).await {
            Ok(Some((tls_client, hello))) => (client, response) = (tls_client, hello),
            Ok(None) => return Ok(None),
            Err(e) => {
                warn!(%peer, error = %e, "a replica's TLS handshake failed");
                return Ok(None);
            }
        }
    }
    let caps = response
        .get(..4)
        .map(|b| CapabilityFlags::from_bits_truncate(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .ok_or(ProtocolError::Malformed {
            what: "handshake response",
        })?;
    // Clients set flags the greeting did not offer (connect attributes) without sending what
    // they announce: read the response by the capabilities both sides have.
    let mut response = response.to_vec();
    response[..4].copy_from_slice(&(caps & capabilities()).bits().to_le_bytes());
    let parsed: HandshakeResponse<'_> =
        ParseBuf(&response)
            .parse(())
            .map_err(|_| ProtocolError::Malformed {
                what: "handshake response",
            })?;
    let user = String::from_utf8_lossy(parsed.user()).into_owned();
    if encryption.tls.is_some_and(|t| t.required) && !client.is_tls() {
        let message = access_denied_message(&user, peer, !parsed.scramble_buf().is_empty());
        warn!(%peer, %user, "refused a replica in clear text (--tls-required): {message}");
        return refuse(client, ER_ACCESS_DENIED_ERROR, b"28000", &message).await;
    }
    let native = matches!(
        parsed.auth_plugin(),
        Some(AuthPlugin::MysqlNativePassword) | None
    );
    let mut token = parsed.scramble_buf().to_vec();
    if !native {
        let mut switch = Vec::new();
        let mut data = scramble.to_vec();
        data.push(0);
        AuthSwitchRequest::new(NATIVE, data).serialize(&mut switch);
        client.send_packet(&switch).await?;
        client.flush().await?;
        let Some(answer) = client.read_packet().await? else {
            return Ok(None);
        };
        token = answer.to_vec();
    }
    let expected = if account.password.is_empty() {
        Vec::new()
    } else {
        mysql_common::auth::plugins::mysql_native_password::scramble_native(
            &scramble,
            &account.password,
        )
        .map(|t| t.to_vec())
        .unwrap_or_default()
    };
    if user != account.user || token != expected {
        let message = access_denied_message(&user, peer, !token.is_empty());
        return refuse(client, ER_ACCESS_DENIED_ERROR, b"28000", &message).await;
    }
    client
        .send_packet(&ok_packet(StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits()))
        .await?;
    client.flush().await?;
    Ok(Some((client, user)))
}

/// Answers with an ERR and closes the connection: the handshake ends there.
async fn refuse(
    mut client: PacketStream<Socket>,
    code: u16,
    state: &[u8; 5],
    message: &str,
) -> Result<Option<(PacketStream<Socket>, String)>, ProtocolError> {
    client
        .send_packet(&err_packet(code, state, message))
        .await?;
    client.shutdown().await;
    Ok(None)
}
