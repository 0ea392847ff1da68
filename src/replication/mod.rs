//! Replication streams through replaygate: a replica behind `serve` (the filter a replica
//! catches up through). The event guard ([`guard`]) is pure and shared with every reader of
//! binlog events; [`relay`] is the I/O loop that runs it between a replica and its primary, and
//! [`registry`] keeps what must survive a replica's reconnects (where it halted, which origins
//! are quarantined) and what `/status` shows of each replica.

mod group;
pub mod guard;
mod judge;
pub mod outcome;
pub mod registry;
pub mod relay;
mod replacement;

pub use guard::{EventGuard, GuardSettings, Output, Sent};
pub use outcome::{EventPosition, Halt, Logged, Withheld};
pub use registry::{ReplicaRegistry, ReplicaStatus};
