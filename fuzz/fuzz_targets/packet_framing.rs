//! Packet framing in both directions: bytes a peer sends, cut into packets by the 4-byte
//! header (sequence checks, the size limit, frames joined at 16 MiB, truncation), and every
//! payload replaygate sends, which must read back as itself.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use replaygate::protocol::PacketStream;
use tokio::io::AsyncWriteExt;
use tokio::runtime::Runtime;

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    runtime().block_on(async {
        // Reading: small limits so that the too-large refusal is reached too.
        let max_packet = 1 + usize::from(mode & 0x3f) * 16;
        let (mut peer, ours) = tokio::io::duplex(bytes.len().max(1));
        peer.write_all(bytes).await.expect("fits the pipe");
        drop(peer);
        let mut stream = PacketStream::new(ours, max_packet);
        let mut consumed = 0;
        let mut first = mode & 0x40 != 0;
        loop {
            let packet = if first {
                first = false;
                stream.read_packet_exact().await
            } else {
                stream.read_packet().await
            };
            match packet {
                Ok(Some(payload)) => {
                    assert!(payload.len() <= max_packet, "a payload over the limit");
                    consumed += payload.len() + 4;
                    assert!(consumed <= bytes.len(), "more payload than input");
                }
                Ok(None) | Err(_) => break,
            }
        }

        // Writing: what replaygate sends reads back whole, with nothing after it.
        let (ours, theirs) = tokio::io::duplex(bytes.len() + 64);
        let mut writer = PacketStream::new(ours, usize::MAX);
        writer
            .send_packet(bytes)
            .await
            .expect("a pipe that is read");
        writer.flush().await.expect("flush");
        drop(writer);
        let mut reader = PacketStream::new(theirs, bytes.len().max(1));
        let echoed = reader.read_packet().await.expect("a well-framed packet");
        assert_eq!(echoed.as_deref(), Some(bytes));
        assert!(matches!(reader.read_packet().await, Ok(None)));
    });
});
