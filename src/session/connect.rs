//! Opening a session: connect to the target, relay its greeting and the client's
//! authentication, then set the backend session up (collation catalog, pinned charset) before
//! the client is told it is in.

use std::sync::Arc;

use bytes::BytesMut;

use mysql_common::constants::CapabilityFlags;

use super::backend::{self, internal_query};
use super::charset::{CATALOG_QUERY, CollationCatalog, CollationEntry};
use super::error::SessionError;
use super::failure::ER_NET_READ_ERROR;
use super::guard::Guard;
use super::pipeline::Pipeline;
use super::state::SessionState;
use super::status::SessionStatus;
use super::tls;
use super::{ProxyContext, Session};
use crate::config::CharsetMode;
use crate::protocol::handshake::{
    AuthTurn, ClientHello, HelloRefusal, ServerGreeting, auth_turn, change_user_database,
    is_tls_request, patch_change_user_charset, patch_client_hello, patch_greeting,
};
use crate::protocol::reply::{ER_ACCESS_DENIED_ERROR, access_denied_message, err_packet};
use crate::protocol::{PacketStream, Socket};

/// ER_NOT_SUPPORTED_AUTH_MODE, for authentication replaygate cannot relay honestly.
const ER_NOT_SUPPORTED_AUTH_MODE: u16 = 1251;

/// The collation id put in the handshake before the target's catalog is known: the
/// classic ids, which MySQL and MariaDB share.
fn classic_collation_id(charset: &str) -> u8 {
    match charset {
        "latin1" => 8,
        "utf8" | "utf8mb3" => 33,
        "binary" => 63,
        "ascii" => 11,
        _ => 45, // utf8mb4_general_ci
    }
}

impl Session {
    /// Connects to the target and relays the connection phase. On success the client has been
    /// told it is in and the backend session is set up.
    pub(super) async fn open(
        id: u64,
        peer: String,
        client: Socket,
        ctx: Arc<ProxyContext>,
    ) -> Result<Option<Session>, SessionError> {
        let settings = &ctx.settings;
        let mut client = PacketStream::new(client, settings.max_packet_bytes);
        client.set_poll_before_park(settings.busy_poll);
        let backend = match tokio::time::timeout(
            settings.connect_timeout,
            backend::connect(&settings.target, settings.target_dead_after),
        )
        .await
        {
            Ok(Ok(io)) => io,
            failed => {
                let reason = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {:?}", settings.connect_timeout),
                };
                let message = format!(
                    "replaygate: cannot connect to the target {}: {reason}",
                    settings.target
                );
                let _ = client
                    .send_packet(&err_packet(ER_NET_READ_ERROR, b"08S01", &message))
                    .await;
                client.shutdown().await;
                return Err(SessionError::Connect {
                    target: settings.target.to_string(),
                    reason,
                });
            }
        };
        let mut backend = PacketStream::new(backend, usize::MAX);
        backend.set_poll_before_park(settings.busy_poll);
        backend.set_read_timeout(settings.reply_timeout);

        // The greeting (or an ERR such as "too many connections", relayed as is).
        let mut greeting_packet = backend
            .expect_packet()
            .await
            .map_err(SessionError::Backend)?;
        if greeting_packet.first() == Some(&0xff) {
            client
                .send_packet(&greeting_packet)
                .await
                .map_err(SessionError::Client)?;
            client.shutdown().await;
            return Ok(None);
        }
        let greeting = patch_greeting(&mut greeting_packet, settings.tls.client.is_some())
            .map_err(SessionError::Backend)?;
        client
            .send_packet(&greeting_packet)
            .await
            .map_err(SessionError::Client)?;
        client.flush().await.map_err(SessionError::Client)?;
        let leg = tls::LegOptions {
            max_packet: settings.max_packet_bytes,
            busy_poll: settings.busy_poll,
            timeout: settings.connect_timeout,
        };

        // The client's handshake response (inside TLS when it asks for it), with the charset
        // pinned.
        let Some(mut hello_packet) = client
            .read_packet_exact()
            .await
            .map_err(SessionError::Client)?
        else {
            return Ok(None);
        };
        if is_tls_request(&hello_packet)
            && let Some(client_tls) = &settings.tls.client
        {
            match tls::accept_client(client, client_tls, leg).await? {
                Some((tls_client, hello)) => (client, hello_packet) = (tls_client, hello),
                None => return Ok(None),
            }
        }
        // Before the first session has read the target's catalog, the classic ids (which MySQL
        // and MariaDB share) stand in; setup_backend corrects the session if they differ.
        let pin = (settings.charset.mode == CharsetMode::Pin).then(|| {
            ctx.catalog
                .get()
                .and_then(|c| c.pinned_for(&settings.charset))
                .and_then(|c| u8::try_from(c.id).ok())
                .unwrap_or_else(|| classic_collation_id(&settings.charset.default))
        });
        let hello =
            match patch_client_hello(&mut hello_packet, pin).map_err(SessionError::Client)? {
                Ok(hello) => hello,
                Err(refusal) => {
                    let message = match refusal {
                        HelloRefusal::TlsRequested => {
                            "replaygate: TLS is not offered to clients (start replaygate with \
                         --tls-cert and --tls-key); connect without TLS (mariadb --skip-ssl) on a \
                         trusted network or loopback"
                        }
                        HelloRefusal::Pre41Protocol => {
                            "replaygate: clients older than MySQL 4.1 are not supported"
                        }
                    };
                    client
                        .send_packet(&err_packet(ER_NOT_SUPPORTED_AUTH_MODE, b"08004", message))
                        .await
                        .map_err(SessionError::Client)?;
                    client.flush().await.map_err(SessionError::Client)?;
                    return Err(SessionError::Refused(message.to_owned()));
                }
            };
        if settings.tls.client.as_ref().is_some_and(|t| t.required) && !client.is_tls() {
            return refuse_clear_text(client, &peer, &hello).await;
        }
        let caps = greeting.capabilities & hello.capabilities;
        if let Some(target_tls) = &settings.tls.target {
            if greeting.capabilities.contains(CapabilityFlags::CLIENT_SSL) {
                backend =
                    match tls::connect_target(backend, &mut hello_packet, target_tls, leg).await {
                        Ok(mut backend) => {
                            backend.set_read_timeout(settings.reply_timeout);
                            backend
                        }
                        Err(Ok(reason)) => return refuse_for_target_tls(client, reason).await,
                        Err(Err(e)) => return Err(e),
                    };
            } else if target_tls.required {
                let reason = "--target-tls required, but the target does not offer TLS (its \
                              have_ssl is not YES: give it ssl_cert and ssl_key)"
                    .to_owned();
                return refuse_for_target_tls(client, reason).await;
            }
        }
        // Both legs count packets in lockstep: every packet read on one is written to the other.
        backend
            .send_packet(&hello_packet)
            .await
            .map_err(SessionError::Backend)?;
        backend.flush().await.map_err(SessionError::Backend)?;

        let Some(accepted) = relay_authentication(&mut client, &mut backend).await? else {
            return Ok(None);
        };

        let mut session =
            Session::new((id, peer), (client, backend), (greeting, caps, &hello), ctx);
        match session.setup_backend(&hello, pin).await? {
            Ok(()) => {
                session
                    .client
                    .send_packet(&accepted)
                    .await
                    .map_err(SessionError::Client)?;
                session.client.flush().await.map_err(SessionError::Client)?;
                Ok(Some(session))
            }
            Err(message) => {
                session
                    .client
                    .send_packet(&err_packet(1273, b"HY000", &message))
                    .await
                    .map_err(SessionError::Client)?;
                session.client.flush().await.map_err(SessionError::Client)?;
                Err(SessionError::Refused(message))
            }
        }
    }

    /// A session whose connection phase succeeded: `caps` are what client and server agreed on.
    fn new(
        (id, peer): (u64, String),
        (client, backend): (PacketStream<Socket>, PacketStream<Socket>),
        (greeting, caps, hello): (ServerGreeting, CapabilityFlags, &ClientHello),
        ctx: Arc<ProxyContext>,
    ) -> Session {
        let database = hello
            .database
            .as_ref()
            .map(|d| String::from_utf8_lossy(d).into_owned());
        let state = SessionState::new(
            hello.user.clone(),
            database,
            ctx.settings.charset.default.clone(),
        );
        let checkpoint = ctx.settings.checkpoint.clone();
        Session {
            id,
            client,
            backend,
            lex: crate::sql::LexOptions {
                no_backslash_escapes: false,
                target_version: greeting.version_number,
                is_mariadb: greeting.is_mariadb,
                multi_byte: None,
            },
            greeting,
            caps,
            state,
            ctx,
            last_acknowledged: None,
            catalog: Arc::default(),
            peer,
            guard: Guard::default(),
            halted: None,
            rewrites_done: 0,
            pipeline: Pipeline::default(),
            status: SessionStatus {
                id,
                ..SessionStatus::default()
            },
            replica: None,
            checks: super::checks::CheckProgress::default(),
            resume: checkpoint.map(super::resume::Resume::new),
        }
    }

    /// Reads the target's collation catalog (once per process) and applies the session charset.
    /// `Ok(Err(message))`: the charset cannot be set up and the client must be refused.
    pub(super) async fn setup_backend(
        &mut self,
        hello: &ClientHello,
        pinned_byte: Option<u8>,
    ) -> Result<Result<(), String>, SessionError> {
        let catalog = match self.ctx.catalog.get() {
            Some(catalog) => Arc::clone(catalog),
            None => {
                let rows = match internal_query(&mut self.backend, self.caps, CATALOG_QUERY).await?
                {
                    Ok(rows) => rows,
                    Err(e) => {
                        return Ok(Err(format!(
                            "replaygate: cannot read the target's collations: {}",
                            e.message
                        )));
                    }
                };
                let catalog = Arc::new(CollationCatalog::from_entries(
                    rows.into_iter().filter_map(|r| {
                        Some(CollationEntry {
                            id: r.first()?.as_ref()?.parse().ok()?,
                            name: r.get(1)?.clone()?.to_ascii_lowercase(),
                            charset: r.get(2)?.clone()?.to_ascii_lowercase(),
                            is_default: r.get(3)?.as_deref() == Some("Yes"),
                        })
                    }),
                ));
                // Another session may have won the race; either copy describes the same target.
                Arc::clone(self.ctx.catalog.get_or_init(|| async { catalog }).await)
            }
        };
        self.catalog = Arc::clone(&catalog);
        let charset_settings = &self.ctx.settings.charset;
        match charset_settings.mode {
            CharsetMode::Honor => {
                if let Some(c) = catalog.by_id(u64::from(hello.collation)) {
                    self.state.charset = c.charset.clone();
                    self.state.collation = Some(c.name.clone());
                }
                Ok(Ok(()))
            }
            CharsetMode::Pin => {
                let Some(wanted) = catalog.pinned(
                    &charset_settings.default,
                    charset_settings.collation.as_deref(),
                ) else {
                    return Ok(Err(format!(
                        "replaygate: the target does not know charset.default = {} / charset.collation = {}; \
                         pick one from SHOW COLLATION on the target",
                        charset_settings.default,
                        charset_settings
                            .collation
                            .as_deref()
                            .unwrap_or("(its default)")
                    )));
                };
                self.state.charset = wanted.charset.clone();
                self.state.collation = Some(wanted.name.clone());
                if pinned_byte.map(u64::from) != Some(wanted.id) {
                    let sql = wanted.set_names();
                    if let Err(e) = internal_query(&mut self.backend, self.caps, &sql).await? {
                        return Ok(Err(format!(
                            "replaygate: cannot pin the session charset ({sql}): {}",
                            e.message
                        )));
                    }
                }
                Ok(Ok(()))
            }
        }
    }
}

/// `--tls-required` and a client that did not switch to TLS: refused as the server would.
async fn refuse_clear_text(
    mut client: PacketStream<Socket>,
    peer: &str,
    hello: &ClientHello,
) -> Result<Option<Session>, SessionError> {
    let message = access_denied_message(&hello.user, peer, hello.with_password);
    tracing::warn!(%peer, user = %hello.user, "refused a client in clear text (--tls-required)");
    client
        .send_packet(&err_packet(ER_ACCESS_DENIED_ERROR, b"28000", &message))
        .await
        .map_err(SessionError::Client)?;
    client.flush().await.map_err(SessionError::Client)?;
    Err(SessionError::Refused(format!(
        "the client did not switch to TLS (--tls-required): {message}"
    )))
}

/// The target leg could not have the TLS `--target-tls` asks for: the client is told why.
async fn refuse_for_target_tls(
    mut client: PacketStream<Socket>,
    reason: String,
) -> Result<Option<Session>, SessionError> {
    let message = format!("replaygate: {reason}");
    client
        .send_packet(&err_packet(ER_NET_READ_ERROR, b"08S01", &message))
        .await
        .map_err(SessionError::Client)?;
    client.flush().await.map_err(SessionError::Client)?;
    Err(SessionError::Refused(message))
}

/// Relays the authentication exchange until the server accepts or refuses the client. Returns
/// the server's OK (not yet sent to the client) on success, `None` when the client was refused
/// (the server's ERR has been relayed) or left.
pub(super) async fn relay_authentication(
    client: &mut PacketStream<Socket>,
    backend: &mut PacketStream<Socket>,
) -> Result<Option<bytes::BytesMut>, SessionError> {
    loop {
        let packet = backend
            .expect_packet()
            .await
            .map_err(SessionError::Backend)?;
        match auth_turn(&packet) {
            AuthTurn::Accepted => return Ok(Some(packet)),
            AuthTurn::Refused => {
                client
                    .send_packet(&packet)
                    .await
                    .map_err(SessionError::Client)?;
                client.flush().await.map_err(SessionError::Client)?;
                return Ok(None);
            }
            AuthTurn::Unrelayable { plugin } => {
                let message = format!(
                    "replaygate: the target asked for {plugin} authentication, which through a proxy would \
                     authenticate replaygate's own OS user instead of the client; give the account a \
                     password-based plugin (e.g. ALTER USER ... IDENTIFIED VIA mysql_native_password USING \
                     PASSWORD('...')) to replay through replaygate"
                );
                client
                    .send_packet(&err_packet(ER_NOT_SUPPORTED_AUTH_MODE, b"08004", &message))
                    .await
                    .map_err(SessionError::Client)?;
                client.flush().await.map_err(SessionError::Client)?;
                return Err(SessionError::Refused(message));
            }
            AuthTurn::Server => {
                client
                    .send_packet(&packet)
                    .await
                    .map_err(SessionError::Client)?;
            }
            AuthTurn::Client => {
                client
                    .send_packet(&packet)
                    .await
                    .map_err(SessionError::Client)?;
                client.flush().await.map_err(SessionError::Client)?;
                let Some(answer) = client.read_packet().await.map_err(SessionError::Client)? else {
                    return Ok(None);
                };
                backend
                    .send_packet(&answer)
                    .await
                    .map_err(SessionError::Backend)?;
                backend.flush().await.map_err(SessionError::Backend)?;
            }
        }
    }
}

/// Re-authentication and resets: the server session starts afresh, and so does ours.
impl Session {
    pub(super) async fn change_user(&mut self, mut packet: BytesMut) -> Result<(), SessionError> {
        let pinned = self
            .catalog
            .pinned_for(&self.ctx.settings.charset)
            .and_then(|c| u8::try_from(c.id).ok());
        if let Some(byte) = pinned {
            patch_change_user_charset(&mut packet, self.caps, byte);
        }
        let database = change_user_database(&packet, self.caps);
        self.backend
            .send_packet(&packet)
            .await
            .map_err(SessionError::Backend)?;
        self.backend.flush().await.map_err(SessionError::Backend)?;
        let Some(accepted) = relay_authentication(&mut self.client, &mut self.backend).await?
        else {
            return Ok(());
        };
        self.client
            .send_packet(&accepted)
            .await
            .map_err(SessionError::Client)?;
        self.client.flush().await.map_err(SessionError::Client)?;
        self.state.database = database.map(|d| String::from_utf8_lossy(&d).into_owned());
        self.reset_state().await
    }

    /// After COM_RESET_CONNECTION or COM_CHANGE_USER the server session starts afresh: so does
    /// ours, with the charset pinned again.
    pub(super) async fn reset_state(&mut self) -> Result<(), SessionError> {
        let fresh = SessionState::new(
            self.state.user.clone(),
            self.state.database.clone(),
            self.ctx.settings.charset.default.clone(),
        );
        self.state = fresh;
        self.pipeline.forget_all_prepared();
        self.follow_transaction();
        if let Some(wanted) = self.catalog.pinned_for(&self.ctx.settings.charset) {
            let sql = wanted.set_names();
            self.state.collation = Some(wanted.name.clone());
            if let Err(e) = internal_query(&mut self.backend, self.caps, &sql).await? {
                tracing::warn!(session = self.id, error = %e.message, "cannot re-pin the session charset after a reset");
            }
        }
        Ok(())
    }
}
