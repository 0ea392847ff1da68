//! The ways of running replaygate the replay bench measures against the direct pipe (included
//! by `replay.rs` with `#[path]`).

/// One way of running replaygate, with the target for its proxy/direct ratio.
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    pub label: &'static str,
    /// `replaygate serve` flags on top of the workload's.
    pub args: &'static [&'static str],
    /// The client connects to replaygate's unix socket (`--socket`) instead of its TCP port.
    pub unix_socket: bool,
    pub target_ratio: f64,
    /// TLS on both legs: the client with `--ssl`, replaygate to the target's TCP port with
    /// `--target-tls required` (the target gets certificates).
    pub tls: bool,
    /// replaygate reaches the target over TCP (else its unix socket).
    pub target_tcp: bool,
}

/// The plain configuration: TCP, each statement waits for the target.
pub const SYNC_TCP: &str = "sync, TCP";
/// The fastest configuration for a local replay (see bench/README.md).
pub const PIPELINED_UNIX_POLLED: &str = "pipelined, unix socket, busy-poll 50 µs";

/// The consistency check of the check variants: an index lookup, so what is measured is the cost
/// of running a check (a control-connection round trip, the session waiting for it), not of the
/// query (a `COUNT(*)` after every one of 20,000 transactions would be quadratic in the table).
pub const CHECK: &str = "SELECT MAX(id) > 0 FROM small.t";
pub const CHECK_EVERY_100: &str = "sync, TCP, --check-every 100";
pub const CHECK_EVERY_1: &str = "sync, TCP, --check-every 1";
pub const CHECKPOINT: &str = "sync, TCP, --checkpoint";
/// Sync over TCP with TLS on both legs: the cost of encryption (issue 12), against the same
/// route in clear text (TLS needs the target's TCP port; the other variants use its socket).
pub const TLS_BOTH_LEGS: &str = "sync, TCP, TLS both legs";
pub const CLEAR_TO_TARGET_TCP: &str = "sync, TCP, target over TCP";

pub fn variant(label: &'static str, target_ratio: f64) -> Variant {
    let (args, unix_socket): (&'static [&'static str], bool) = match label {
        SYNC_TCP => (&["--apply-mode", "sync"], false),
        "sync, unix socket, busy-poll 50 µs" => {
            (&["--apply-mode", "sync", "--busy-poll-us", "50"], true)
        }
        "pipelined, TCP" => (&["--apply-mode", "pipelined"], false),
        PIPELINED_UNIX_POLLED => (&["--apply-mode", "pipelined", "--busy-poll-us", "50"], true),
        CHECK_EVERY_100 => (
            &[
                "--apply-mode",
                "sync",
                "--check-sql",
                CHECK,
                "--check-every",
                "100",
            ],
            false,
        ),
        CHECK_EVERY_1 => (
            &[
                "--apply-mode",
                "sync",
                "--check-sql",
                CHECK,
                "--check-every",
                "1",
            ],
            false,
        ),
        // In the workload's database, so every round starts without a checkpoint.
        CHECKPOINT => (
            &[
                "--apply-mode",
                "sync",
                "--checkpoint",
                "small.replaygate_checkpoint",
            ],
            false,
        ),
        TLS_BOTH_LEGS | CLEAR_TO_TARGET_TCP => (&["--apply-mode", "sync"], false),
        other => panic!("unknown variant {other}"),
    };
    Variant {
        label,
        args,
        unix_socket,
        target_ratio,
        tls: label == TLS_BOTH_LEGS,
        target_tcp: matches!(label, TLS_BOTH_LEGS | CLEAR_TO_TARGET_TCP),
    }
}
