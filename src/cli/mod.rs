//! The command line: `serve`, `source`, `check-config`, `scan`, `journal`, `status`.

pub mod journal;
pub mod scan;
pub mod source;
pub mod status;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use replaygate::config::{ApplyMode, CharsetMode, LogFormat, Overrides};
use replaygate::policy::Action;
use replaygate::scan::Severity;

/// A MySQL-protocol proxy for safe, fast point-in-time recovery.
#[derive(Debug, Parser)]
#[command(name = "replaygate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the proxy: `mariadb-binlog ... | mariadb -h 127.0.0.1 -P 3307` replays through it.
    Serve(ServeArgs),
    /// Serve saved binlog files to a restored server as its primary: it replicates from
    /// replaygate (`CHANGE MASTER TO ... MASTER_PORT=3308`), the guard in the stream.
    Source(SourceArgs),
    /// Validate a config file and print the settings it resolves to (no server needed).
    CheckConfig(ServeArgs),
    /// Run the guard's rules over binlog text or dumps, with no server; exit 1 if anything at or
    /// above --severity was found.
    Scan(ScanArgs),
    /// Read the quarantine journal.
    Journal {
        #[command(subcommand)]
        command: JournalCommand,
    },
    /// Print a running replaygate's sessions and throttle state (from its admin endpoint).
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct SourceArgs {
    /// The binlog files, in order (binlog.000042 binlog.000043 ...).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Config file (TOML; `[source]`, `[guard]`, `[[rule]]`, `[tls]`, `[admin]`, `[log]`); flags given
    /// here override it.
    #[arg(long, short = 'c', env = "REPLAYGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address replicas connect to [default: 127.0.0.1:3308].
    #[arg(long)]
    pub listen: Option<String>,
    /// Also accept replicas on this unix socket.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// The account the replica uses in CHANGE MASTER (MASTER_USER) [default: root].
    #[arg(long)]
    pub user: Option<String>,
    /// The environment variable holding its password (MASTER_PASSWORD) [default: no password,
    /// allowed on loopback only].
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
    /// Action of the destructive-DDL rules [default: halt].
    #[arg(long, value_enum)]
    pub on_destructive: Option<Action>,
    /// Directory of the quarantine journal (needed by quarantine and rewrite actions).
    #[arg(long)]
    pub journal_dir: Option<PathBuf>,
    /// Serve no event at or after FILE:POS, nor the rest of the transaction it falls in.
    #[arg(long, value_name = "FILE:POS")]
    pub stop_position: Option<String>,
    /// Serve no event of this time or later (UTC), nor the rest of its transaction.
    #[arg(long, value_name = "YYYY-MM-DD HH:MM:SS")]
    pub stop_datetime: Option<String>,
    /// Serve events up to and including the transaction of this GTID.
    #[arg(long, value_name = "D-S-N")]
    pub stop_gtid: Option<String>,
    /// Serve the admin endpoint (/metrics, /status) on ADDR (host:port, or a port on 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
    /// Log format [default: text].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// TLS for the replicas (MASTER_SSL = 1).
    #[command(flatten)]
    pub tls: ClientTlsArgs,
}

/// TLS for the connections replaygate accepts (`serve`'s clients, `source`'s replicas); config
/// `[tls]`.
#[derive(Debug, Args)]
pub struct ClientTlsArgs {
    /// Offer TLS with this PEM certificate chain (with --tls-key) [default: no TLS; clients
    /// asking for it are refused].
    #[arg(long, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Refuse connections that do not switch to TLS, as a server with require_secure_transport
    /// does.
    #[arg(long)]
    pub tls_required: bool,
}

impl ClientTlsArgs {
    /// These flags as overrides of `[tls]` (the target leg's left as the config says).
    pub fn overrides(&self) -> replaygate::tls::TlsOverrides {
        replaygate::tls::TlsOverrides {
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            required: self.tls_required,
            ..replaygate::tls::TlsOverrides::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The admin endpoint of the running `serve` (its --admin) [default: 127.0.0.1:9307].
    #[arg(long, env = "REPLAYGATE_ADMIN")]
    pub admin: Option<String>,
    /// Print the JSON as the endpoint returned it.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// mysqlbinlog / mariadb-binlog text or SQL dumps; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Config file with the rules (`[[rule]]`); default: the shipped policy.
    #[arg(long, short = 'c', env = "REPLAYGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Action of the destructive-DDL rules.
    #[arg(long, value_enum)]
    pub on_destructive: Option<Action>,
    /// Output: one block per finding for people, or one JSON object per line.
    #[arg(long, value_enum, default_value = "text")]
    pub format: ScanFormat,
    /// Exit 1 when a finding at or above this severity is found.
    #[arg(long, value_enum, default_value = "withhold")]
    pub severity: Severity,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ScanFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// One line per record.
    List(JournalArgs),
    /// Every field of the given records, with the whole statement.
    Show {
        #[command(flatten)]
        journal: JournalArgs,
        /// Record ids.
        #[arg(required = true)]
        ids: Vec<u64>,
    },
    /// A replayable SQL file of the given records (or all), each with the session context it needs.
    Export {
        #[command(flatten)]
        journal: JournalArgs,
        /// Record ids; none exports every record.
        ids: Vec<u64>,
        /// Write here instead of standard output.
        #[arg(long, short = 'o')]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct JournalArgs {
    /// The journal's directory (as given to `serve --journal-dir`).
    #[arg(long, env = "REPLAYGATE_JOURNAL_DIR")]
    pub journal_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (TOML); flags given here override it.
    #[arg(long, short = 'c', env = "REPLAYGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to accept clients on [default: 127.0.0.1:3307].
    #[arg(long)]
    pub listen: Option<String>,
    /// Also accept clients on this unix socket (`mariadb --socket PATH`): the fastest route for a
    /// local replay [default: none].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Poll a socket for up to this many microseconds before sleeping on it: trades CPU for
    /// latency on small statements (see bench/README.md) [default: 0, sleep at once].
    #[arg(long, value_name = "MICROSECONDS")]
    pub busy_poll_us: Option<u64>,
    /// The real server: host:port or a unix socket path [default: 127.0.0.1:3306].
    #[arg(long)]
    pub target: Option<String>,
    /// Client sessions served at once [default: 1024].
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Give up on a target whose network has been silent this long: TCP keepalive probes while
    /// waiting for a reply, and a limit on unacknowledged data (a partition, a host gone without
    /// closing). 0: the kernel's defaults (hours) [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub target_dead_after: Option<u64>,
    /// Give up on a target that sends no byte of a reply for this long while its network is
    /// alive (a stopped or wedged server). Off by default: a long ALTER is a long wait
    /// [default: 0, no limit].
    #[arg(long, value_name = "SECONDS")]
    pub reply_timeout: Option<u64>,
    /// pin: sessions start in --charset whatever the client declared; honor: keep the client's.
    #[arg(long, value_enum)]
    pub charset_mode: Option<CharsetMode>,
    /// The charset pinned sessions start in [default: utf8mb4].
    #[arg(long)]
    pub charset: Option<String>,
    /// Its collation [default: the target's default for the charset].
    #[arg(long)]
    pub collation: Option<String>,
    /// Log format [default: text].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// sync: every statement waits for the target; pipelined: statements inside transactions
    /// are sent ahead and the COMMIT waits for them [default: sync].
    #[arg(long, value_enum)]
    pub apply_mode: Option<ApplyMode>,
    /// Directory of the quarantine journal (needed by quarantine and rewrite actions).
    #[arg(long)]
    pub journal_dir: Option<PathBuf>,
    /// Action of the destructive-DDL rules (DROP TABLE / TRUNCATE under foreign_key_checks=0,
    /// DROP DATABASE) [default: halt].
    #[arg(long, value_enum)]
    pub on_destructive: Option<Action>,
    /// Forward at most N statements per second, over all sessions (0: no cap).
    #[arg(long, value_name = "N")]
    pub max_statements_per_sec: Option<u32>,
    /// Forward at most N bytes of statements per second, over all sessions (0: no cap).
    #[arg(long, value_name = "N")]
    pub max_bytes_per_sec: Option<u32>,
    /// Forward at most N transactions (COMMITs and autocommit statements) per second (0: no cap).
    #[arg(long, value_name = "N")]
    pub max_transactions_per_sec: Option<u32>,
    /// Serve the admin endpoint (/metrics, /status, /pause, /resume, /throttle) on ADDR
    /// (host:port, or a port on 127.0.0.1) [default: off].
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<String>,
    /// A consistency check, run on a control connection of replaygate's own (`[checks]` in the
    /// config for its account): one row whose first column must be true or non-zero. The first
    /// failure halts the session, naming the transaction after which it failed. Repeatable.
    #[arg(long, value_name = "SELECT ...")]
    pub check_sql: Vec<String>,
    /// Run the checks after every N committed transactions of a session [default: at binlog
    /// file boundaries only].
    #[arg(long, value_name = "N")]
    pub check_every: Option<u64>,
    /// Also run the checks where the stream goes from one binlog file to the next (the default
    /// when --check-every is not given).
    #[arg(long)]
    pub check_at_file_boundary: bool,
    /// Record in this table of the target (SCHEMA.TABLE, created when missing) where the replay
    /// is, in the same transaction as the data, so rerunning the same pipeline after a failure
    /// skips what the target already holds and resumes right after it.
    #[arg(long, value_name = "SCHEMA.TABLE")]
    pub checkpoint: Option<String>,
    #[command(flatten)]
    pub client_tls: ClientTlsArgs,
    /// TLS on replaygate's connection to the target: disabled, preferred (when the target offers
    /// it) or required [default: disabled].
    #[arg(long, value_enum, value_name = "MODE")]
    pub target_tls: Option<replaygate::tls::TargetTlsMode>,
    /// PEM CA certificates the target's certificate must chain to (needed by --target-tls).
    #[arg(long, value_name = "FILE")]
    pub target_ca: Option<PathBuf>,
    /// The name the target's certificate must carry [default: the host of --target].
    #[arg(long, value_name = "NAME")]
    pub target_tls_name: Option<String>,
    /// A PEM client certificate replaygate presents to the target (with --target-key), for
    /// accounts that REQUIRE X509 [default: none].
    #[arg(long, value_name = "FILE")]
    pub target_cert: Option<PathBuf>,
    /// The PEM private key of --target-cert.
    #[arg(long, value_name = "FILE")]
    pub target_key: Option<PathBuf>,
}

impl ServeArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            socket: self.socket.clone(),
            busy_poll_us: self.busy_poll_us,
            target: self.target.clone(),
            max_connections: self.max_connections,
            target_dead_after_secs: self.target_dead_after,
            reply_timeout_secs: self.reply_timeout,
            charset_mode: self.charset_mode,
            charset: self.charset.clone(),
            collation: self.collation.clone(),
            log_format: self.log_format,
            apply_mode: self.apply_mode,
            journal_dir: self.journal_dir.clone(),
            on_destructive: self.on_destructive,
            max_statements_per_sec: self.max_statements_per_sec,
            max_bytes_per_sec: self.max_bytes_per_sec,
            max_transactions_per_sec: self.max_transactions_per_sec,
            admin: self.admin.clone(),
            checks: replaygate::checks::CheckOverrides {
                sql: self.check_sql.clone(),
                every: self.check_every,
                at_file_boundary: self.check_at_file_boundary,
            },
            checkpoint: self.checkpoint.clone(),
            tls: replaygate::tls::TlsOverrides {
                target: self.target_tls,
                target_ca: self.target_ca.clone(),
                target_name: self.target_tls_name.clone(),
                target_cert: self.target_cert.clone(),
                target_key: self.target_key.clone(),
                ..self.client_tls.overrides()
            },
        }
    }
}
