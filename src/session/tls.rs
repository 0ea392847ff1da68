//! Switching a leg to TLS during the connection phase ([`crate::tls`] has the settings and the
//! choice of crate). On the client leg the client's SSL request starts it and its handshake
//! response follows inside; on the target leg replaygate sends the SSL request itself, the
//! first 32 bytes of the client's response, then the whole response inside. Each leg keeps its
//! own sequence ids, so a leg with TLS and one without stay in step packet for packet.

use std::time::Duration;

use bytes::BytesMut;
use tokio_rustls::TlsStream;

use super::error::SessionError;
use crate::protocol::handshake::request_tls;
use crate::protocol::{PacketStream, ProtocolError, Socket};
use crate::tls::{ClientTls, TargetTls};

/// How a leg is set up again after the switch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LegOptions {
    pub max_packet: usize,
    pub busy_poll: Duration,
    /// The most the TLS handshake may take.
    pub timeout: Duration,
}

fn rewrap(socket: Socket, seq: u8, opts: LegOptions) -> PacketStream<Socket> {
    let mut stream = PacketStream::new(socket, opts.max_packet);
    stream.set_seq(seq);
    stream.set_poll_before_park(opts.busy_poll);
    stream
}

/// The client's SSL request arrived: TLS with the client, then its handshake response (`None`
/// when the client left).
pub(crate) async fn accept_client(
    client: PacketStream<Socket>,
    tls: &ClientTls,
    opts: LegOptions,
) -> Result<Option<(PacketStream<Socket>, BytesMut)>, SessionError> {
    let early = ProtocolError::Malformed {
        what: "SSL request (bytes followed it before TLS started)",
    };
    let (socket, seq) = client.into_io().ok_or(SessionError::Client(early))?;
    let accepted = tokio::time::timeout(opts.timeout, tls.acceptor.accept(socket))
        .await
        .map_err(|_| {
            SessionError::Refused(format!(
                "the client's TLS handshake did not finish within {:?}",
                opts.timeout
            ))
        })?
        .map_err(|e| SessionError::Refused(format!("the client's TLS handshake failed: {e}")))?;
    let mut client = rewrap(
        Socket::Tls(Box::new(TlsStream::Server(accepted))),
        seq,
        opts,
    );
    match client.read_packet().await.map_err(SessionError::Client)? {
        Some(hello) => Ok(Some((client, hello))),
        None => Ok(None),
    }
}

/// Switches the target leg to TLS before `hello` (the client's handshake response, which gets
/// CLIENT_SSL) is sent. `Err(Ok(reason))`: the TLS handshake failed (the client is to be
/// told); `Err(Err(_))`: the connection did.
pub(super) async fn connect_target(
    mut backend: PacketStream<Socket>,
    hello: &mut [u8],
    tls: &TargetTls,
    opts: LegOptions,
) -> Result<PacketStream<Socket>, Result<String, SessionError>> {
    let request = request_tls(hello);
    backend
        .send_packet(&request)
        .await
        .map_err(|e| Err(SessionError::Backend(e)))?;
    backend
        .flush()
        .await
        .map_err(|e| Err(SessionError::Backend(e)))?;
    let early = ProtocolError::Malformed {
        what: "answer to an SSL request (the target sent bytes before TLS started)",
    };
    let (socket, seq) = backend.into_io().ok_or(Err(SessionError::Backend(early)))?;
    let connected = tokio::time::timeout(
        opts.timeout,
        tls.connector.connect(tls.name.clone(), socket),
    )
    .await
    .map_err(|_| {
        Ok(format!(
            "the target's TLS handshake did not finish within {:?}",
            opts.timeout
        ))
    })?
    .map_err(|e| {
        Ok(format!(
            "TLS to the target failed (the name it must carry: {}): {e}",
            tls.name.to_str()
        ))
    })?;
    Ok(rewrap(
        Socket::Tls(Box::new(TlsStream::Client(connected))),
        seq,
        opts,
    ))
}
