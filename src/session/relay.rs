//! Stage 4 of the pipeline: a command forwarded to the target and the target's response relayed
//! to the client to its end, byte for byte, noting what the end says (the statements that
//! succeeded, an error, the server status) for stage 5.
//!
//! A LOCAL INFILE request in the middle of a response is relayed both ways: the client's file
//! goes to the target packet by packet, and the target's reply to it ends the exchange.

use super::{Session, SessionError};
use crate::protocol::ProtocolError;
use crate::protocol::command::ReplyShape;
use crate::protocol::response::{Outcome, ResponseTracker, Step};

impl Session {
    /// Queues a command for the target as a command exchange of its own (counted as sent).
    pub(super) async fn queue(&mut self, command: &[u8]) -> Result<(), SessionError> {
        metrics::counter!("replaygate_bytes_out_total").increment(command.len() as u64);
        self.backend.reset_seq();
        self.backend
            .send_packet(command)
            .await
            .map_err(SessionError::Backend)
    }

    /// Stage 4: forwards a command and relays the target's response to completion.
    pub(super) async fn forward(
        &mut self,
        packet: &[u8],
        shape: ReplyShape,
    ) -> Result<Outcome, SessionError> {
        // Every forward starts a command exchange of its own (the guard may have run internal
        // queries on the backend since the client's command arrived).
        self.queue(packet).await?;
        self.backend.flush().await.map_err(SessionError::Backend)?;
        if shape == ReplyShape::None {
            return Ok(Outcome::default());
        }
        let mut tracker = ResponseTracker::new(shape, self.caps);
        loop {
            let reply = self
                .backend
                .expect_packet()
                .await
                .map_err(SessionError::Backend)?;
            let step = tracker.feed(&reply).map_err(SessionError::Backend)?;
            self.client
                .send_packet(&reply)
                .await
                .map_err(SessionError::Client)?;
            match step {
                Step::More | Step::Row => {}
                Step::LocalInfile => self.relay_local_infile().await?,
                Step::Done(outcome) => {
                    self.client.flush().await.map_err(SessionError::Client)?;
                    if let Some(status) = outcome.status {
                        self.state.observe_status(status);
                        // Whatever ran (a prepared COMMIT, say), pipelining goes by the target.
                        self.follow_transaction();
                    }
                    return Ok(outcome);
                }
            }
        }
    }

    /// The client answers a LOCAL INFILE request with the file's content, ended by an empty
    /// packet; the target then sends its reply.
    async fn relay_local_infile(&mut self) -> Result<(), SessionError> {
        self.client.flush().await.map_err(SessionError::Client)?;
        loop {
            let data = self
                .client
                .read_packet()
                .await
                .map_err(SessionError::Client)?
                .ok_or(SessionError::Client(ProtocolError::UnexpectedEof))?;
            self.backend
                .send_packet(&data)
                .await
                .map_err(SessionError::Backend)?;
            if data.is_empty() {
                self.backend.flush().await.map_err(SessionError::Backend)?;
                return Ok(());
            }
        }
    }
}
