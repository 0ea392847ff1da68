//! `replaygate source FILE...`: resolves the settings (flags over `[source]` and the rest of
//! the config file), checks the files, and serves them until stopped.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};

use replaygate::config::{ConfigFile, Overrides};
use replaygate::source::position::{StopAt, parse_datetime, parse_position};
use replaygate::source::{Account, Source};

use super::SourceArgs;

/// Where `source` listens unless told otherwise (beside `serve`'s 3307).
pub const DEFAULT_SOURCE_LISTEN: &str = "127.0.0.1:3308";

pub fn run(args: SourceArgs) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let section = file.source.clone();
    let listen = args
        .listen
        .clone()
        .or(section.listen)
        .unwrap_or_else(|| DEFAULT_SOURCE_LISTEN.to_owned());
    let settings = file.resolve(Overrides {
        listen: Some(listen.clone()),
        socket: args.socket.clone().or(section.socket),
        log_format: args.log_format,
        journal_dir: args.journal_dir.clone(),
        on_destructive: args.on_destructive,
        admin: args.admin.clone(),
        tls: args.tls.overrides(),
        ..Overrides::default()
    })?;
    let user = args
        .user
        .or(section.user)
        .unwrap_or_else(|| "root".to_owned());
    let password = match args.password_env.or(section.password_env) {
        Some(var) => std::env::var(&var).with_context(|| {
            format!("--password-env {var}: the environment variable is not set")
        })?,
        None => String::new(),
    };
    let loopback = listen
        .parse::<SocketAddr>()
        .is_ok_and(|a| a.ip().is_loopback());
    if password.is_empty() && !loopback {
        bail!(
            "listening on {listen} beyond loopback needs a password for the replica account: give \
             --password-env VAR"
        );
    }
    let stop = StopAt {
        position: args
            .stop_position
            .or(section.stop_position)
            .map(|p| parse_position(&p))
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--stop-position")?,
        datetime: args
            .stop_datetime
            .or(section.stop_datetime)
            .map(|d| parse_datetime(&d))
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--stop-datetime")?,
        gtid: args
            .stop_gtid
            .or(section.stop_gtid)
            .map(|g| g.parse())
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--stop-gtid")?,
    };
    crate::init_tracing(settings.log_format);
    let source = Source::open(
        &args.files,
        Account {
            user,
            password: password.into_bytes(),
        },
        stop,
    )
    .context("cannot serve these binlog files")?;
    let set = &source.set;
    tracing::info!(
        files = set.files.len(),
        first = %set.files[0].name,
        last = %set.last().name,
        server_id = set.server_id(),
        checksum = set.files[0].checksum.name(),
        gtid_end = %set.last().gtid_end.values().map(ToString::to_string).collect::<Vec<_>>().join(","),
        listen = %listen,
        "replaygate source: serving saved binlogs to replicas"
    );
    if let Some(t) = set.last().truncated {
        tracing::warn!(
            "{} ends inside the event at {} ({} of its {} bytes): replicas get everything before it",
            set.last().name,
            t.offset,
            t.available,
            t.needed
        );
    }
    crate::run_server(settings, crate::Serving::Source(Arc::new(source)))
}
