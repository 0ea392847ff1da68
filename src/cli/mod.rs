//! The command line: `serve` and `check-config`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use replaygate::config::{CharsetMode, LogFormat, Overrides};

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
    /// Validate a config file and print the settings it resolves to (no server needed).
    CheckConfig(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Config file (TOML); flags given here override it.
    #[arg(long, short = 'c', env = "REPLAYGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to accept clients on [default: 127.0.0.1:3307].
    #[arg(long)]
    pub listen: Option<String>,
    /// The real server: host:port or a unix socket path [default: 127.0.0.1:3306].
    #[arg(long)]
    pub target: Option<String>,
    /// Client sessions served at once [default: 1024].
    #[arg(long)]
    pub max_connections: Option<usize>,
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
}

impl ServeArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            target: self.target.clone(),
            max_connections: self.max_connections,
            charset_mode: self.charset_mode,
            charset: self.charset.clone(),
            collation: self.collation.clone(),
            log_format: self.log_format,
        }
    }
}
