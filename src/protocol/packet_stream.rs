//! One leg of a relayed connection, read and written as MySQL packets.
//!
//! Each leg keeps its own sequence id: the proxy decodes what a peer sends (checking that the ids
//! follow one another, as a server would) and frames what it forwards with the id the other peer
//! expects. Because both peers see the same number of packets per exchange, this re-framing is
//! byte-identical to a transparent relay, and it lets the proxy answer a client itself (an ERR of
//! its own) without desynchronising anything.
//!
//! Writes are buffered and flushed by the caller at the points where the peer waits for an answer,
//! so a result set of many small rows costs few system calls.

use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use mysql_common::constants::MAX_PAYLOAD_LEN;
use mysql_common::proto::codec::{ChunkDecoder, ChunkInfo, packet_to_chunks};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{ProtocolError, ReadNow};

/// Payloads larger than this are written frame by frame straight from the caller's buffer
/// instead of being copied into the write buffer, so a 200 MB statement is not held twice.
const DIRECT_WRITE_THRESHOLD: usize = 256 * 1024;

/// Flush the write buffer once it holds this much, so a long result set streams through
/// instead of accumulating in memory.
const FLUSH_THRESHOLD: usize = 64 * 1024;

/// A byte stream spoken in MySQL packets.
#[derive(Debug)]
pub struct PacketStream<S> {
    io: S,
    read_buf: BytesMut,
    write_buf: BytesMut,
    decoder: ChunkDecoder,
    seq_id: u8,
    max_packet: usize,
    /// How long a read polls the socket before parking the task (see [`Self::set_poll_before_park`]).
    poll_before_park: Duration,
    /// Where polled reads land (allocated once, when polling is switched on: zeroing a fresh
    /// buffer on every wait would cost more than the read).
    poll_buf: Vec<u8>,
    /// The longest a packet read waits for bytes (see [`Self::set_read_timeout`]).
    read_timeout: Option<Duration>,
}

impl<S: AsyncRead + AsyncWrite + ReadNow + Unpin> PacketStream<S> {
    /// Wraps `io`; packets larger than `max_packet` bytes are refused with
    /// [`ProtocolError::TooLarge`].
    pub fn new(io: S, max_packet: usize) -> Self {
        Self {
            io,
            read_buf: BytesMut::with_capacity(16 * 1024),
            write_buf: BytesMut::with_capacity(16 * 1024),
            decoder: ChunkDecoder::default(),
            seq_id: 0,
            max_packet,
            poll_before_park: Duration::ZERO,
            poll_buf: Vec::new(),
            read_timeout: None,
        }
    }

    /// A packet read that gets no byte for `limit` fails with [`ProtocolError::ReadTimedOut`]
    /// (`None`: waits as long as it takes). For a peer that owes an answer, not for one that may
    /// stay silent (a primary between events): only packet reads are timed.
    pub fn set_read_timeout(&mut self, limit: Option<Duration>) {
        self.read_timeout = limit;
    }

    /// When a read finds nothing buffered, keep asking the socket for up to `window` (spinning
    /// between tries: yielding hands the CPU to whatever else is runnable) before parking the
    /// task on the reactor. A reply that arrives within
    /// the window then costs no sleep and wake-up of this thread; `Duration::ZERO` parks at once.
    pub fn set_poll_before_park(&mut self, window: Duration) {
        self.poll_before_park = window;
        self.poll_buf = if window.is_zero() {
            Vec::new()
        } else {
            vec![0; 16 * 1024]
        };
    }

    /// Gives the transport back, with the sequence id the next packet carries, to switch it to
    /// TLS between two packets. `None` when the peer sent bytes not yet read (they would belong
    /// to the old transport).
    pub fn into_io(self) -> Option<(S, u8)> {
        (self.read_buf.is_empty() && self.write_buf.is_empty()).then_some((self.io, self.seq_id))
    }

    /// Starts a new command exchange: the next packet either side sends has sequence id 0.
    pub fn reset_seq(&mut self) {
        self.seq_id = 0;
    }

    /// Reads one logical packet (joining the frames of a payload of 16 MiB or more).
    ///
    /// Returns `Ok(None)` when the peer closed the connection cleanly between packets.
    pub async fn read_packet(&mut self) -> Result<Option<BytesMut>, ProtocolError> {
        let mut payload = BytesMut::new();
        let mut started = false;
        loop {
            let chunk = self
                .decoder
                .decode(&mut self.read_buf, &mut payload, self.max_packet)
                .map_err(|_| ProtocolError::TooLarge {
                    limit: self.max_packet,
                })?;
            match chunk {
                Some(ChunkInfo::Middle(seq)) => {
                    self.check_seq(seq)?;
                    started = true;
                }
                Some(ChunkInfo::Last(seq)) => {
                    self.check_seq(seq)?;
                    return Ok(Some(payload));
                }
                None => {
                    // Poll only for the start of a packet: the rest of a large one streams in
                    // through the ordinary reads.
                    if self.read_buf.is_empty() && self.poll_socket()? {
                        continue;
                    }
                    if self.read_buf.capacity() - self.read_buf.len() < 8 * 1024 {
                        self.read_buf.reserve(64 * 1024);
                    }
                    let read = self.io.read_buf(&mut self.read_buf);
                    let got = match self.read_timeout {
                        Some(after) => tokio::time::timeout(after, read)
                            .await
                            .map_err(|_| ProtocolError::ReadTimedOut { after })??,
                        None => read.await?,
                    };
                    if got == 0 {
                        let mid_packet = started
                            || !self.read_buf.is_empty()
                            || !matches!(self.decoder, ChunkDecoder::Idle);
                        return if mid_packet {
                            Err(ProtocolError::TruncatedPacket)
                        } else {
                            Ok(None)
                        };
                    }
                }
            }
        }
    }

    /// Polls the socket for up to `poll_before_park`; true when bytes arrived (end of stream is
    /// left to the parked read, which reports it with the usual checks).
    fn poll_socket(&mut self) -> Result<bool, ProtocolError> {
        if self.poll_before_park.is_zero() {
            return Ok(false);
        }
        let deadline = Instant::now() + self.poll_before_park;
        loop {
            match self.io.read_now(&mut self.poll_buf)? {
                Some(0) => return Ok(false),
                Some(n) => {
                    self.read_buf.extend_from_slice(&self.poll_buf[..n]);
                    return Ok(true);
                }
                None if Instant::now() >= deadline => return Ok(false),
                None => std::hint::spin_loop(),
            }
        }
    }

    /// Whether the peer has sent anything not yet read, or does within `window` (busy polling
    /// first, as reads do). End of stream counts: the next read reports it.
    pub async fn wait_readable(&mut self, window: Duration) -> Result<bool, ProtocolError> {
        if !self.read_buf.is_empty() || self.poll_socket()? {
            return Ok(true);
        }
        let deadline = tokio::time::Instant::now() + window;
        let mut buf = [0u8; 4096];
        loop {
            match tokio::time::timeout_at(deadline, self.io.readable()).await {
                Ok(ready) => ready?,
                Err(_elapsed) => return Ok(false),
            }
            // Readiness the reactor cached before a busy poll took the bytes is not new input.
            if let Some(n) = self.io.read_ready(&mut buf)? {
                self.read_buf
                    .extend_from_slice(buf.get(..n).unwrap_or_default());
                return Ok(true);
            }
        }
    }

    /// Reads one packet of less than 16 MiB without reading past it: for the client's first
    /// answer, which may be an SSL request followed at once by the client's TLS hello (those
    /// bytes belong to the TLS handshake, not to this stream).
    pub async fn read_packet_exact(&mut self) -> Result<Option<BytesMut>, ProtocolError> {
        if !self.read_buf.is_empty() {
            return self.read_packet().await;
        }
        let mut header = [0u8; 4];
        match self.io.read_exact(&mut header).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let len =
            usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        if len >= MAX_PAYLOAD_LEN || len > self.max_packet {
            return Err(ProtocolError::TooLarge {
                limit: self.max_packet.min(MAX_PAYLOAD_LEN - 1),
            });
        }
        self.check_seq(header[3])?;
        let mut payload = BytesMut::zeroed(len);
        self.io.read_exact(&mut payload).await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                ProtocolError::TruncatedPacket
            } else {
                e.into()
            }
        })?;
        Ok(Some(payload))
    }

    /// Whether bytes the peer sent are buffered here, not yet read as packets.
    pub fn has_buffered_input(&self) -> bool {
        !self.read_buf.is_empty()
    }

    /// Completes when the peer sends something or closes the connection (true when it closed).
    /// Cancel-safe: what arrives is kept for the next read. For a peer that should stay silent
    /// (a replica while its events stream), to notice it leave.
    pub async fn peer_activity(&mut self) -> Result<bool, ProtocolError> {
        let mut buf = [0u8; 4096];
        loop {
            if !self.read_buf.is_empty() {
                return Ok(false);
            }
            self.io.readable().await?;
            match self.io.read_ready(&mut buf)? {
                Some(0) => return Ok(true),
                Some(n) => self.read_buf.extend_from_slice(&buf[..n]),
                // Readiness without data (a busy poll took the bytes, or a spurious wake-up):
                // the read cleared it, so this waits for new bytes.
                None => {}
            }
        }
    }

    /// What the peer sends before it closes the connection, raw (at most `limit` bytes, waiting
    /// at most `wait`): a server's last words to a client it drops, relayed as they are, sequence
    /// ids and all. Read errors end it like the close does.
    pub async fn read_until_close(&mut self, limit: usize, wait: Duration) -> BytesMut {
        let mut bytes = std::mem::take(&mut self.read_buf);
        let deadline = tokio::time::Instant::now() + wait;
        while bytes.len() < limit {
            bytes.reserve(4096);
            match tokio::time::timeout_at(deadline, self.io.read_buf(&mut bytes)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => break,
            }
        }
        bytes.truncate(limit);
        bytes
    }

    /// Writes `bytes` as they are (already framed by whoever sent them) and flushes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.flush().await?;
        self.io.write_all(bytes).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Like [`read_packet`](Self::read_packet), but the peer closing the connection is an error.
    pub async fn expect_packet(&mut self) -> Result<BytesMut, ProtocolError> {
        self.read_packet()
            .await?
            .ok_or(ProtocolError::UnexpectedEof)
    }

    fn check_seq(&mut self, got: u8) -> Result<(), ProtocolError> {
        if got != self.seq_id {
            return Err(ProtocolError::OutOfOrder {
                expected: self.seq_id,
                got,
            });
        }
        self.seq_id = self.seq_id.wrapping_add(1);
        Ok(())
    }

    /// Frames `payload` with the next sequence ids and queues it; large payloads are written at
    /// once without copying. Flushes when the buffer grows past a threshold.
    pub async fn send_packet(&mut self, payload: &[u8]) -> Result<(), ProtocolError> {
        if payload.len() > DIRECT_WRITE_THRESHOLD {
            self.flush().await?;
            self.write_frames_direct(payload).await?;
        } else {
            self.seq_id = packet_to_chunks(self.seq_id, &mut &payload[..], &mut self.write_buf);
            if self.write_buf.len() >= FLUSH_THRESHOLD {
                self.flush().await?;
            }
        }
        Ok(())
    }

    async fn write_frames_direct(&mut self, payload: &[u8]) -> Result<(), ProtocolError> {
        let mut rest = payload;
        loop {
            let len = rest.len().min(MAX_PAYLOAD_LEN);
            let header = (len as u32 | (u32::from(self.seq_id) << 24)).to_le_bytes();
            self.io.write_all(&header).await?;
            self.io.write_all(&rest[..len]).await?;
            self.seq_id = self.seq_id.wrapping_add(1);
            rest.advance(len);
            // A payload that is an exact multiple of the frame size ends with an empty frame.
            if len < MAX_PAYLOAD_LEN {
                return Ok(());
            }
        }
    }

    /// Whether packets are queued that no flush has written yet.
    pub fn has_queued_writes(&self) -> bool {
        !self.write_buf.is_empty()
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), ProtocolError> {
        if !self.write_buf.is_empty() {
            self.io.write_all(&self.write_buf).await?;
            self.write_buf.clear();
        }
        self.io.flush().await?;
        Ok(())
    }

    /// The sequence id the next packet will carry (read or written).
    pub fn seq_id(&self) -> u8 {
        self.seq_id
    }

    /// Sets the sequence id the next packet must carry: the reply to a command sent earlier
    /// (pipelined) starts one past that command's frames.
    pub fn set_seq(&mut self, seq: u8) {
        self.seq_id = seq;
    }

    /// Shuts the write side down after flushing.
    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        let _ = self.io.shutdown().await;
    }
}

impl PacketStream<super::Socket> {
    /// Whether the transport is TLS.
    pub fn is_tls(&self) -> bool {
        self.io.is_tls()
    }

    /// See [`Socket::reset_on_close`](super::Socket::reset_on_close).
    pub fn reset_on_close(&self) -> std::io::Result<()> {
        self.io.reset_on_close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::duplex;

    async fn roundtrip(len: usize) -> (Vec<u8>, usize) {
        let (a, b) = duplex(64 * 1024);
        let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let sent = payload.clone();
        let writer = tokio::spawn(async move {
            let mut tx = PacketStream::new(a, usize::MAX);
            tx.send_packet(&sent).await.unwrap();
            tx.send_packet(b"next").await.unwrap();
            tx.flush().await.unwrap();
            tx.seq_id()
        });
        let mut rx = PacketStream::new(b, usize::MAX);
        let got = rx.read_packet().await.unwrap().unwrap();
        assert_eq!(got.len(), payload.len());
        assert!(
            got[..] == payload[..],
            "payload of {len} bytes changed in transit"
        );
        let next = rx.read_packet().await.unwrap().unwrap();
        assert_eq!(&next[..], b"next");
        let sender_seq = writer.await.unwrap();
        assert_eq!(
            rx.seq_id(),
            sender_seq,
            "both ends agree on the sequence id"
        );
        (got.to_vec(), rx.seq_id() as usize)
    }

    #[tokio::test]
    async fn small_and_empty_payloads_roundtrip() {
        assert_eq!(roundtrip(0).await.1, 2);
        assert_eq!(roundtrip(10).await.1, 2);
    }

    #[tokio::test]
    async fn payload_of_exactly_one_frame_gets_a_trailing_empty_frame() {
        // 2^24-1 bytes: one full frame, then an empty one, then "next".
        assert_eq!(roundtrip(MAX_PAYLOAD_LEN).await.1, 3);
    }

    #[tokio::test]
    async fn multi_frame_payload_roundtrips() {
        assert_eq!(roundtrip(MAX_PAYLOAD_LEN + 5).await.1, 3);
    }

    #[tokio::test]
    async fn out_of_order_sequence_is_refused() {
        let (mut a, b) = duplex(1024);
        // A frame of 3 bytes with sequence id 5 where 0 is expected.
        a.write_all(&[3, 0, 0, 5, b'a', b'b', b'c']).await.unwrap();
        let mut rx = PacketStream::new(b, usize::MAX);
        let err = rx.read_packet().await.unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::OutOfOrder {
                expected: 0,
                got: 5
            }
        ));
    }

    #[tokio::test]
    async fn oversized_and_truncated_packets_are_errors() {
        let (mut a, b) = duplex(1024);
        a.write_all(&[100, 0, 0, 0, 1, 2]).await.unwrap();
        let mut rx = PacketStream::new(b, 10);
        assert!(matches!(
            rx.read_packet().await.unwrap_err(),
            ProtocolError::TooLarge { limit: 10 }
        ));

        let (mut a, b) = duplex(1024);
        a.write_all(&[5, 0, 0, 0, 1, 2]).await.unwrap();
        drop(a);
        let mut rx = PacketStream::new(b, usize::MAX);
        assert!(matches!(
            rx.read_packet().await.unwrap_err(),
            ProtocolError::TruncatedPacket
        ));
    }

    #[tokio::test]
    async fn clean_close_between_packets_is_none() {
        let (a, b) = duplex(1024);
        drop(a);
        let mut rx = PacketStream::new(b, usize::MAX);
        assert!(rx.read_packet().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn busy_polled_reads_see_packets_and_a_clean_close() {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let mut tx = PacketStream::new(crate::protocol::Socket::Unix(a), usize::MAX);
        let mut rx = PacketStream::new(crate::protocol::Socket::Unix(b), usize::MAX);
        rx.set_poll_before_park(Duration::from_millis(1));
        tx.send_packet(b"polled").await.unwrap();
        tx.flush().await.unwrap();
        assert_eq!(&rx.read_packet().await.unwrap().unwrap()[..], b"polled");
        // Nothing arrives within the window: the read parks and still gets the next packet.
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.send_packet(b"late").await.unwrap();
            tx.shutdown().await;
        });
        assert_eq!(&rx.read_packet().await.unwrap().unwrap()[..], b"late");
        late.await.unwrap();
        assert!(
            rx.read_packet().await.unwrap().is_none(),
            "end of stream between packets"
        );
    }

    #[tokio::test]
    async fn wait_readable_says_whether_the_peer_spoke_within_the_window() {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let mut tx = PacketStream::new(crate::protocol::Socket::Unix(a), usize::MAX);
        let mut rx = PacketStream::new(crate::protocol::Socket::Unix(b), usize::MAX);
        let window = Duration::from_millis(5);
        assert!(!rx.wait_readable(window).await.unwrap(), "silence");
        tx.send_packet(b"queued").await.unwrap();
        assert!(tx.has_queued_writes());
        assert!(
            !rx.wait_readable(window).await.unwrap(),
            "a queued packet is not sent until the flush"
        );
        tx.flush().await.unwrap();
        assert!(!tx.has_queued_writes());
        assert!(rx.wait_readable(window).await.unwrap());
        // Waiting consumed nothing: the packet is still there to read.
        assert_eq!(&rx.read_packet().await.unwrap().unwrap()[..], b"queued");
        tx.shutdown().await;
        assert!(rx.wait_readable(window).await.unwrap(), "end of stream");
        assert!(rx.read_packet().await.unwrap().is_none());
    }
}
