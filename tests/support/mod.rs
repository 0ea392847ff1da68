//! Integration-test harness: a private, throwaway MariaDB per test (never the machine's own
//! server on 3306), the real `mariadb` / `mariadb-binlog` programs, and replaygate itself run as
//! a child process.
//!
//! Include it from a test file with `mod support;`. The items live in their modules (a crate-
//! private `pub use` would warn in every test binary that doesn't use it):
//!
//! - [`server`]: `MariaDb`, `ServerOptions` — the private server;
//! - [`client`]: `MariadbClient`, `ClientOutput`, `mariadb_binlog` — the real client programs;
//! - [`proxy`]: `Replaygate`, `replaygate_bin` — the proxy under test as a child process;
//! - [`process`]: `free_port` and the process plumbing the others share;
//! - [`certs`]: a CA and a server certificate for the TLS tests;
//! - [`admin`]: `GET` on the admin endpoint, `/status`, and polling it;
//! - [`corpus`]: the shared corpus of real binlogs and dumps, found by path;
//! - [`incident`]: the day of the incident on a live production, and its twin;
//! - [`charset_incident`]: the utf8 binlog replayed as latin1, and its fingerprint;
//! - [`netns`]: `Link`, a network namespace whose path to a server drops packets at will;
//! - [`replication`]: real replicas of a primary (or of replaygate), their status, checksums.
//!
//! ```ignore
//! mod support;
//! use support::{proxy::Replaygate, server::MariaDb};
//!
//! let db = MariaDb::start();
//! let proxy = Replaygate::start(&db.tcp_addr(), &[]);
//! let out = db.client().host_port("127.0.0.1", proxy.port()).run_sql("select 1");
//! ```
//!
//! Everything here is blocking std code; a test that needs async builds its own tokio runtime and
//! connects with `mysql_async` to [`MariaDb::url`].
//!
//! Every child process (mariadbd, replaygate) is killed and reaped by `Drop`, and is also guarded
//! by a watchdog that kills it if the test process dies without unwinding (a `static` server, an
//! aborted run), so no stray servers outlive a test binary.

// Each test binary uses only part of the harness.
#![allow(dead_code)]

pub mod admin;
pub mod certs;
pub mod charset_incident;
pub mod client;
pub mod corpus;
pub mod incident;
pub mod netns;
pub mod process;
pub mod proxy;
pub mod replication;
pub mod server;
