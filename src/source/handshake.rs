//! replaygate as the primary: its own greeting and `mysql_native_password` authentication of
//! the one account replicas use (`--user`, `--password-env`). A wrong password gets the
//! server's own ERR 1045.

use mysql_common::constants::{CapabilityFlags, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{AuthPlugin, AuthSwitchRequest, HandshakeResponse};
use mysql_common::proto::MySerialize;

use crate::protocol::greeting::{NATIVE, capabilities, greeting, scramble};
use crate::protocol::reply::{err_packet, ok_packet};
use crate::protocol::{PacketStream, ProtocolError, Socket};

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

/// Greets the client and checks its credentials. `Ok(Some(user))` once the client is in (the
/// OK is sent), `Ok(None)` when it was refused (told why) or left.
pub async fn authenticate(
    client: &mut PacketStream<Socket>,
    connection_id: u32,
    version: &str,
    account: &Account,
    peer: &str,
) -> Result<Option<String>, ProtocolError> {
    let scramble = scramble();
    let greeting = greeting(version, connection_id, &scramble);
    client.reset_seq();
    client.send_packet(&greeting).await?;
    client.flush().await?;
    let Some(response) = client.read_packet().await? else {
        return Ok(None);
    };
    let caps = response
        .get(..4)
        .map(|b| CapabilityFlags::from_bits_truncate(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
        .ok_or(ProtocolError::Malformed {
            what: "handshake response",
        })?;
    if caps.contains(CapabilityFlags::CLIENT_SSL) && response.len() <= 32 {
        refuse(
            client,
            1251,
            b"08004",
            "replaygate source does not speak TLS: connect the replica with MASTER_SSL = 0",
        )
        .await?;
        return Ok(None);
    }
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
        let host = peer.rsplit_once(':').map_or(peer, |(h, _)| h);
        let message = format!(
            "Access denied for user '{user}'@'{host}' (using password: {})",
            if token.is_empty() { "NO" } else { "YES" }
        );
        refuse(client, 1045, b"28000", &message).await?;
        return Ok(None);
    }
    client
        .send_packet(&ok_packet(StatusFlags::SERVER_STATUS_AUTOCOMMIT.bits()))
        .await?;
    client.flush().await?;
    Ok(Some(user))
}

pub(super) async fn refuse(
    client: &mut PacketStream<Socket>,
    code: u16,
    state: &[u8; 5],
    message: &str,
) -> Result<(), ProtocolError> {
    client
        .send_packet(&err_packet(code, state, message))
        .await?;
    client.flush().await
}
