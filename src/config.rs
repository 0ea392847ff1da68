//! Settings: the TOML file, the command-line overrides, and the validated [`Settings`] the rest of
//! the program is given. Nothing reads configuration from anywhere else; no globals.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::policy::{Action, Policy, PolicyError, RuleConfig};
use crate::throttle::Caps;

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("invalid rule: {0}")]
    Rule(#[from] PolicyError),
    #[error(transparent)]
    Adaptive(#[from] crate::adaptive::AdaptiveConfigError),
    #[error(transparent)]
    Checks(#[from] crate::checks::ChecksConfigError),
    #[error("tls: {0}")]
    Tls(#[from] crate::tls::TlsConfigError),
    #[error("invalid setting {key} = {value:?}: {reason}")]
    Invalid {
        key: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// The config file as written (every field optional; defaults fill the gaps).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub proxy: ProxySection,
    #[serde(default)]
    pub charset: CharsetSection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub guard: GuardSection,
    #[serde(default)]
    pub throttle: ThrottleSection,
    #[serde(default)]
    pub admin: AdminSection,
    #[serde(default)]
    pub replication: ReplicationSection,
    #[serde(default)]
    pub source: SourceSection,
    /// `[checks]`: the operator's consistency checks.
    #[serde(default)]
    pub checks: crate::checks::ChecksSection,
    /// `[tls]`: TLS on the client and target legs.
    #[serde(default)]
    pub tls: crate::tls::TlsSection,
    /// `[[rule]]` entries; absent: the shipped default policy.
    pub rule: Option<Vec<RuleConfig>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardSection {
    /// Where quarantined and halted statements are journaled.
    pub journal_dir: Option<PathBuf>,
    /// The action of the destructive-DDL rules (overrides the rules' own).
    pub on_destructive: Option<Action>,
    /// `SCHEMA.TABLE` in the target where the replay records where it is (`--checkpoint`).
    pub checkpoint: Option<String>,
}

/// `[throttle]`: static caps, process-wide (0 or absent = no cap).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSection {
    pub max_statements_per_sec: Option<u32>,
    pub max_bytes_per_sec: Option<u32>,
    pub max_transactions_per_sec: Option<u32>,
    /// `[throttle.adaptive]`: slow down / pause on the target's load.
    pub adaptive: Option<crate::adaptive::AdaptiveSection>,
}

/// `[replication]`: replicas streaming through replaygate.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationSection {
    /// The most of one transaction held back until its verdict is known.
    pub hold_bytes: Option<usize>,
}

/// `[source]`: `replaygate source`, the saved binlogs served to a restored server.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSection {
    pub listen: Option<String>,
    pub socket: Option<PathBuf>,
    /// The account the replica uses in CHANGE MASTER.
    pub user: Option<String>,
    /// The environment variable holding its password.
    pub password_env: Option<String>,
    pub stop_position: Option<String>,
    pub stop_datetime: Option<String>,
    pub stop_gtid: Option<String>,
}

/// `[admin]`: the HTTP endpoint for metrics, status and runtime control.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSection {
    /// `host:port`, or a bare port on loopback; absent: no admin endpoint.
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    pub listen: Option<String>,
    pub socket: Option<PathBuf>,
    pub busy_poll_us: Option<u64>,
    pub target: Option<String>,
    pub max_connections: Option<usize>,
    pub max_packet_bytes: Option<usize>,
    pub connect_timeout_secs: Option<u64>,
    pub target_dead_after_secs: Option<u64>,
    pub reply_timeout_secs: Option<u64>,
    pub apply_mode: Option<ApplyMode>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CharsetSection {
    pub mode: Option<CharsetMode>,
    pub default: Option<String>,
    pub collation: Option<String>,
    pub validate: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub format: Option<LogFormat>,
    /// Seconds between progress lines of an active replay; 0 turns them off.
    pub progress_secs: Option<u64>,
}

/// Whose charset a session starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CharsetMode {
    /// The configured default, whatever the client declared (for replays).
    Pin,
    /// The client's own declared charset (for applications that choose theirs on purpose).
    Honor,
}

/// How statements reach the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ApplyMode {
    /// Each statement is answered by the target before the next is read.
    Sync,
    /// Inside a transaction, statements that return no rows are acknowledged at once and sent
    /// ahead; the COMMIT waits for all of them, and a failure rolls the transaction back.
    Pipelined,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the real server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `host:port`, resolved at each connection.
    Tcp(String),
    /// A unix socket path.
    Unix(PathBuf),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Tcp(addr) => f.write_str(addr),
            Target::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Charset handling for every session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CharsetSettings {
    pub mode: CharsetMode,
    /// The charset a pinned session starts with.
    pub default: String,
    /// Its collation; `None` takes the target's default collation for the charset.
    pub collation: Option<String>,
    /// Refuse statements whose bytes are invalid in the session charset.
    pub validate: bool,
}

/// Validated settings for `serve`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// A unix socket clients may connect to as well.
    pub socket: Option<PathBuf>,
    /// How long a read polls its socket before parking (zero: park at once).
    pub busy_poll: Duration,
    pub target: Target,
    pub max_connections: usize,
    /// The largest packet a client may send (the protocol's own limit is 1 GiB).
    pub max_packet_bytes: usize,
    pub connect_timeout: Duration,
    /// How long the target's network may stay silent before the connection counts as dead
    /// (`None`: the kernel's own keepalive and retransmission limits).
    pub target_dead_after: Option<Duration>,
    /// How long a reply the target owes may take to start arriving (`None`: no limit).
    pub reply_timeout: Option<Duration>,
    /// Whether statements inside transactions are pipelined to the target.
    pub apply_mode: ApplyMode,
    pub charset: CharsetSettings,
    pub log_format: LogFormat,
    /// The rules every statement is judged by.
    pub policy: Policy,
    /// The quarantine journal's directory (required when a rule can quarantine or rewrite).
    pub journal_dir: Option<PathBuf>,
    /// The static caps the throttle starts with (changeable at runtime).
    pub caps: Caps,
    /// Where the admin endpoint listens; `None`: no endpoint.
    pub admin: Option<SocketAddr>,
    /// Between progress lines; `None`: no progress lines.
    pub progress_interval: Option<Duration>,
    /// Adaptive throttling on the target's load; `None`: off.
    pub adaptive: Option<crate::adaptive::AdaptiveSettings>,
    /// The most of one transaction of a replication stream held back until its verdict is
    /// known; a larger one is passed on as it arrives and cannot be withheld (it halts).
    pub hold_bytes: usize,
    /// The operator's consistency checks; `None`: none.
    pub checks: Option<crate::checks::CheckSettings>,
    /// Where a replay records its position in the target, to resume; `None`: it does not.
    pub checkpoint: Option<crate::checkpoint::CheckpointTable>,
    /// TLS on either leg.
    pub tls: crate::tls::TlsSettings,
}

/// Values given on the command line; each one overrides the config file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub socket: Option<PathBuf>,
    pub busy_poll_us: Option<u64>,
    pub target: Option<String>,
    pub max_connections: Option<usize>,
    pub target_dead_after_secs: Option<u64>,
    pub reply_timeout_secs: Option<u64>,
    pub charset_mode: Option<CharsetMode>,
    pub charset: Option<String>,
    pub collation: Option<String>,
    pub log_format: Option<LogFormat>,
    pub apply_mode: Option<ApplyMode>,
    pub journal_dir: Option<PathBuf>,
    pub on_destructive: Option<Action>,
    pub max_statements_per_sec: Option<u32>,
    pub max_bytes_per_sec: Option<u32>,
    pub max_transactions_per_sec: Option<u32>,
    pub admin: Option<String>,
    pub checks: crate::checks::CheckOverrides,
    pub checkpoint: Option<String>,
    pub tls: crate::tls::TlsOverrides,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:3307";
pub const DEFAULT_TARGET: &str = "127.0.0.1:3306";
/// The admin port `replaygate status` asks when given none.
pub const DEFAULT_ADMIN: &str = "127.0.0.1:9307";
const MAX_PROTOCOL_PACKET: usize = 1 << 30;
/// How much of one transaction a replication stream holds back by default.
pub const DEFAULT_HOLD_BYTES: usize = 64 << 20;
/// Long enough for a busy target's slowest ACK, short enough that a partition is reported
/// while someone still watches the replay.
const DEFAULT_TARGET_DEAD_AFTER_SECS: u64 = 30;
/// Longer polls only burn CPU: a reply that takes this long is not a round trip to save.
const MAX_BUSY_POLL_US: u64 = 1_000;

impl ConfigFile {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// Parses config text.
    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// The policy the file's rules describe (the shipped default when it has none), with the
    /// file's `guard.on_destructive` applied.
    pub fn policy(&self) -> Result<Policy, ConfigError> {
        let mut policy = Policy::from_config(self.rule.as_deref())?;
        if let Some(action) = self.guard.on_destructive {
            policy.set_destructive_action(action);
        }
        Ok(policy)
    }

    /// Applies the command-line overrides and validates the result.
    pub fn resolve(self, cli: Overrides) -> Result<Settings, ConfigError> {
        let mut policy = self.policy()?;
        let listen_text = cli
            .listen
            .or(self.proxy.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse().map_err(|_| ConfigError::Invalid {
            key: "proxy.listen",
            value: listen_text.clone(),
            reason: "expected an address such as 127.0.0.1:3307",
        })?;
        let target_text = cli
            .target
            .or(self.proxy.target)
            .unwrap_or_else(|| DEFAULT_TARGET.to_owned());
        let target = parse_target(&target_text)?;
        let tls = self.tls.resolve(cli.tls, &target)?;
        let max_connections = cli
            .max_connections
            .or(self.proxy.max_connections)
            .unwrap_or(1024);
        if max_connections == 0 {
            return Err(ConfigError::Invalid {
                key: "proxy.max_connections",
                value: "0".into(),
                reason: "must be at least 1",
            });
        }
        let max_packet_bytes = self.proxy.max_packet_bytes.unwrap_or(MAX_PROTOCOL_PACKET);
        if !(1024..=MAX_PROTOCOL_PACKET).contains(&max_packet_bytes) {
            return Err(ConfigError::Invalid {
                key: "proxy.max_packet_bytes",
                value: max_packet_bytes.to_string(),
                reason: "must be between 1024 and 1073741824 (the protocol's limit)",
            });
        }
        let default = cli
            .charset
            .or(self.charset.default)
            .unwrap_or_else(|| "utf8mb4".to_owned())
            .to_ascii_lowercase();
        check_name("charset.default", &default)?;
        let collation = cli
            .collation
            .or(self.charset.collation)
            .map(|c| c.to_ascii_lowercase())
            .filter(|c| !c.is_empty());
        if let Some(c) = &collation {
            check_name("charset.collation", c)?;
            if !c.starts_with(&format!("{default}_")) {
                return Err(ConfigError::Invalid {
                    key: "charset.collation",
                    value: c.clone(),
                    reason: "a collation must belong to charset.default",
                });
            }
        }
        if let Some(action) = cli.on_destructive {
            policy.set_destructive_action(action);
        }
        let journal_dir = cli.journal_dir.or(self.guard.journal_dir);
        if journal_dir.is_none() && policy.needs_journal() {
            return Err(ConfigError::Invalid {
                key: "guard.journal_dir",
                value: String::new(),
                reason: "a rule quarantines or rewrites statements: give them a journal \
                         (--journal-dir DIR) so nothing withheld from the target is lost",
            });
        }
        let admin = cli
            .admin
            .or(self.admin.listen)
            .map(|a| parse_admin(&a))
            .transpose()?;
        let caps = Caps {
            statements_per_sec: cli
                .max_statements_per_sec
                .or(self.throttle.max_statements_per_sec)
                .unwrap_or(0),
            bytes_per_sec: cli
                .max_bytes_per_sec
                .or(self.throttle.max_bytes_per_sec)
                .unwrap_or(0),
            transactions_per_sec: cli
                .max_transactions_per_sec
                .or(self.throttle.max_transactions_per_sec)
                .unwrap_or(0),
        };
        let progress_secs = self.log.progress_secs.unwrap_or(5);
        let adaptive = self.throttle.adaptive.map(|a| a.resolve()).transpose()?;
        let checks = self.checks.resolve(cli.checks)?;
        let checkpoint = cli
            .checkpoint
            .or(self.guard.checkpoint)
            .map(|t| {
                t.parse().map_err(|_| ConfigError::Invalid {
                    key: "guard.checkpoint",
                    value: t.clone(),
                    reason: "expected SCHEMA.TABLE (e.g. replaygate.checkpoint)",
                })
            })
            .transpose()?;
        let hold_bytes = self.replication.hold_bytes.unwrap_or(DEFAULT_HOLD_BYTES);
        if hold_bytes < 1 << 20 {
            return Err(ConfigError::Invalid {
                key: "replication.hold_bytes",
                value: hold_bytes.to_string(),
                reason: "must be at least 1048576: smaller transactions could not be withheld",
            });
        }
        Ok(Settings {
            tls,
            checks,
            checkpoint,
            hold_bytes,
            adaptive,
            caps,
            admin,
            progress_interval: (progress_secs > 0).then(|| Duration::from_secs(progress_secs)),
            listen,
            socket: cli.socket.or(self.proxy.socket),
            busy_poll: Duration::from_micros(
                cli.busy_poll_us
                    .or(self.proxy.busy_poll_us)
                    .unwrap_or(0)
                    .min(MAX_BUSY_POLL_US),
            ),
            target,
            max_connections,
            max_packet_bytes,
            connect_timeout: Duration::from_secs(self.proxy.connect_timeout_secs.unwrap_or(10)),
            target_dead_after: Some(
                cli.target_dead_after_secs
                    .or(self.proxy.target_dead_after_secs)
                    .unwrap_or(DEFAULT_TARGET_DEAD_AFTER_SECS),
            )
            .filter(|&secs| secs > 0)
            .map(Duration::from_secs),
            reply_timeout: cli
                .reply_timeout_secs
                .or(self.proxy.reply_timeout_secs)
                .filter(|&secs| secs > 0)
                .map(Duration::from_secs),
            apply_mode: cli
                .apply_mode
                .or(self.proxy.apply_mode)
                .unwrap_or(ApplyMode::Sync),
            charset: CharsetSettings {
                mode: cli
                    .charset_mode
                    .or(self.charset.mode)
                    .unwrap_or(CharsetMode::Pin),
                default,
                collation,
                validate: self.charset.validate.unwrap_or(true),
            },
            log_format: cli
                .log_format
                .or(self.log.format)
                .unwrap_or(LogFormat::Text),
            policy,
            journal_dir,
        })
    }
}

fn parse_target(text: &str) -> Result<Target, ConfigError> {
    text.parse().map_err(|BadTarget| ConfigError::Invalid {
        key: "proxy.target",
        value: text.to_owned(),
        reason: BAD_TARGET,
    })
}

const BAD_TARGET: &str = "expected host:port (e.g. 127.0.0.1:3306) or a unix socket path \
                          (/run/mysqld/mysqld.sock, ./mysqld.sock, or unix:mysqld.sock)";

/// A server address that is neither `host:port` nor a unix socket path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{BAD_TARGET}")]
pub struct BadTarget;

impl std::str::FromStr for Target {
    type Err = BadTarget;

    /// `host:port`, or a unix socket path (`/path`, `./path`, `dir/path`, `name.sock` or
    /// `unix:path`; relative to the working directory). Used for the target and for the
    /// replicas the adaptive throttle watches, so both accept the same addresses.
    fn from_str(text: &str) -> Result<Self, BadTarget> {
        if let Some(path) = text.strip_prefix("unix:") {
            return Ok(Target::Unix(PathBuf::from(path)));
        }
        // A host name has no '/', and none ends in ".sock"; a bare "db" is refused rather than
        // guessed (a host without its port, or a socket file?).
        if text.contains('/') || text.starts_with('.') || text.ends_with(".sock") {
            return Ok(Target::Unix(PathBuf::from(text)));
        }
        let port_ok = text
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(BadTarget);
        }
        Ok(Target::Tcp(text.to_owned()))
    }
}

/// `host:port`, or a bare port meaning loopback (the endpoint can pause the replay: keep it
/// off the network unless asked).
pub fn parse_admin(text: &str) -> Result<SocketAddr, ConfigError> {
    let invalid = || ConfigError::Invalid {
        key: "admin.listen",
        value: text.to_owned(),
        reason: "expected an address such as 127.0.0.1:9307, or a port",
    };
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.parse().map_err(|_| invalid())
}

/// Charset and collation names end up in SQL the proxy sends, so only plain names are allowed.
fn check_name(key: &'static str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ConfigError::Invalid {
            key,
            value: name.to_owned(),
            reason: "expected a charset or collation name (letters, digits, _)",
        });
    }
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
