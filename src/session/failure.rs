//! replaygate's own answers to a client: a refused statement, and the last word of a session
//! that failed (where the replay stood, and what to do next), as ERR packets a client shows.
//!
//! Errors split here once: the target's own errors were relayed verbatim as part of its
//! response; a lost target, an oversized packet or a journal that cannot be written end the
//! session with an ERR naming the setting involved and the last statement acknowledged.

use tracing::warn;

use super::query::Refusal;
use super::{Session, SessionError};
use crate::protocol::ProtocolError;
use crate::protocol::reply::err_packet;

/// ER_NET_READ_ERROR, the server-side code closest to "the target is gone" or "cannot be
/// reached". Not CR_SERVER_LOST (2013) or 2003: client-side codes in an ERR packet make
/// libmariadb report "malformed packet" instead of the message.
pub(super) const ER_NET_READ_ERROR: u16 = 1158;
/// ER_NET_PACKET_TOO_LARGE, as the server itself would answer an oversized packet.
const ER_NET_PACKET_TOO_LARGE: u16 = 1153;

impl Session {
    /// Logs an inspection refusal (invalid bytes for the charset) and answers with its ERR.
    pub(super) async fn refuse_statement(&mut self, refusal: &Refusal) -> Result<(), SessionError> {
        warn!(
            session = self.id,
            code = refusal.code,
            "{}",
            refusal.message
        );
        self.refuse(refusal.code, &refusal.sql_state, &refusal.message)
            .await
    }

    /// Answers the client with replaygate's own ERR; the command is not forwarded.
    pub(super) async fn refuse(
        &mut self,
        code: u16,
        sql_state: &[u8; 5],
        message: &str,
    ) -> Result<(), SessionError> {
        self.client
            .send_packet(&err_packet(code, sql_state, message))
            .await
            .map_err(SessionError::Client)?;
        self.client.flush().await.map_err(SessionError::Client)
    }

    /// Ends a session that failed: log where the replay stood and tell the client if possible.
    pub(super) async fn fail(&mut self, error: SessionError) {
        let last = self.last_acknowledged.as_deref().unwrap_or("none");
        match &error {
            SessionError::Backend(_) => {
                metrics::counter!("replaygate_backend_errors_total", "kind" => "lost").increment(1);
                warn!(
                    session = self.id,
                    error = %error,
                    acknowledged = self.state.acknowledged,
                    last_acknowledged = %last,
                    "lost the target mid-stream; statements after the last acknowledged one may not have been applied"
                );
                // Clients keep the first 512 bytes of a message: what to do comes first.
                let next = if self.resume.is_some() {
                    "once it is back, rerun the same command to resume (the checkpoint in the \
                     target says what it committed; that is skipped)"
                } else {
                    "check the target's state before resuming the replay"
                };
                let cause = match (&error, self.ctx.settings.target_dead_after) {
                    (SessionError::Backend(ProtocolError::Io(e)), Some(after))
                        if e.kind() == std::io::ErrorKind::TimedOut =>
                    {
                        format!(
                            "its network was silent for {}s, proxy.target_dead_after_secs: a \
                             partition or a host gone without closing",
                            after.as_secs()
                        )
                    }
                    (SessionError::Backend(ProtocolError::ReadTimedOut { after }), _) => format!(
                        "it sent no reply for {}s while its network was alive, \
                         proxy.reply_timeout_secs: a stopped or wedged server",
                        after.as_secs()
                    ),
                    _ => error.to_string(),
                };
                let message = format!(
                    "replaygate: lost the connection to the target ({cause}); {next}. The current \
                     statement's outcome is unknown. The last statement the target acknowledged in \
                     this session: {last}."
                );
                let _ = self.refuse(ER_NET_READ_ERROR, b"08S01", &message).await;
            }
            SessionError::Client(ProtocolError::TooLarge { limit }) => {
                let message = format!(
                    "replaygate: the client sent a packet larger than proxy.max_packet_bytes ({limit} bytes); \
                     the session is closed. Raise max_packet_bytes in the config if the statement is legitimate."
                );
                warn!(session = self.id, "{message}");
                let _ = self
                    .refuse(ER_NET_PACKET_TOO_LARGE, b"08S01", &message)
                    .await;
            }
            SessionError::Journal(reason) => {
                let message = format!(
                    "replaygate: cannot write the quarantine journal ({reason}); the statement was neither \
                     applied nor journaled. The session is closed: fix the journal and resume from this statement."
                );
                warn!(session = self.id, "{message}");
                let _ = self.refuse(ER_NET_READ_ERROR, b"HY000", &message).await;
            }
            _ => warn!(session = self.id, error = %error, "session closed on bad client input"),
        }
        self.client.shutdown().await;
        self.backend.shutdown().await;
    }
}
