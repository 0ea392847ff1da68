//! A TCP relay that delays every byte by a fixed one-way time in each direction: a network
//! round trip of `rtt` between its listening port and the server behind it (included by
//! `latency.rs` with `#[path]`).
//!
//! This machine's kernel has no netem (`CONFIG_NET_SCH_NETEM` is not set), so the delay is
//! added here, in user space: each direction has a reader that timestamps what arrives and a
//! writer that sends it once `rtt / 2` has passed, in order. Bandwidth is not limited and
//! nothing is lost; what a replay feels is the round trip, which is what pipelining is for.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// A listening relay; it serves connections until the process exits.
pub struct DelayLink {
    pub port: u16,
}

impl DelayLink {
    /// Relays connections on a free loopback port to `target` (host:port) with `rtt`.
    pub fn start(target: String, rtt: Duration) -> DelayLink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the delay link");
        let port = listener.local_addr().unwrap().port();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let server = TcpStream::connect(&target).expect("connect through the delay link");
                for stream in [&client, &server] {
                    stream.set_nodelay(true).unwrap();
                }
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    rtt / 2,
                );
                pipe(server, client, rtt / 2);
            }
        });
        DelayLink { port }
    }
}

/// Copies `from` to `to`, each chunk `delay` after it arrived; at end of stream shuts `to`'s
/// write side once everything before it is out.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Duration) {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    });
    thread::spawn(move || {
        for (due, bytes) in rx {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                return;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
