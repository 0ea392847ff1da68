//! The `replaygate` binary: parse the command line, set up logging, run, and turn the outcome
//! into an exit code. Everything else lives in the library.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command, ServeArgs};
use replaygate::config::{ConfigFile, LogFormat, Settings};
use replaygate::journal::SharedJournal;
use replaygate::session::ProxyContext;

/// `serve`'s exit status after the adaptive throttle aborted the replay (2 is a usage or startup
/// error).
const EXIT_ABORTED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("replaygate: error: {}", error_chain(&err));
            ExitCode::from(2)
        }
    }
}

/// Replicas' origin threads quarantined by an earlier run stay quarantined: the event that
/// quarantined one was already sent, so this run would never see it and would apply the rest of
/// the restore script.
fn restore_quarantined_origins(ctx: &ProxyContext, dir: &std::path::Path) -> anyhow::Result<()> {
    let records = replaygate::journal::read_journal(dir)
        .with_context(|| format!("cannot read the quarantine journal in {}", dir.display()))?;
    for (replica, origin, rule) in ctx.replicas.restore_origins(&records) {
        tracing::info!(
            replica,
            origin,
            rule = %rule,
            "origin thread {origin} stays quarantined for replica {replica} (journaled by an \
             earlier run; a new --journal-dir starts afresh)"
        );
    }
    Ok(())
}

/// The whole chain, "cannot bind 127.0.0.1:3307: Address already in use", skipping a cause
/// its context already quotes: the library's errors name their cause in their own message (so
/// they read whole in a log line or an ERR packet) and also expose it as `source()`.
fn error_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let cause = cause.to_string();
        if text.is_empty() {
            text = cause;
        } else if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let settings = resolve(&args)?;
            init_tracing(settings.log_format);
            run_server(settings, Serving::Proxy)
        }
        Command::Source(args) => cli::source::run(args),
        Command::CheckConfig(args) => {
            let settings = resolve(&args)?;
            println!("{settings:#?}");
            println!("configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan(args) => cli::scan::run(args),
        Command::Journal { command } => cli::journal::run(command),
        Command::Status(args) => cli::status::run(args),
    }
}

fn resolve(args: &ServeArgs) -> anyhow::Result<Settings> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    Ok(file.resolve(args.overrides())?)
}

pub(crate) fn init_tracing(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("replaygate=info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// What the listeners serve: proxied sessions (`serve`), or saved binlogs to replicas
/// (`source`).
pub(crate) enum Serving {
    Proxy,
    Source(Arc<replaygate::source::Source>),
}

/// Listens, serves until SIGTERM or ctrl-c, and turns the outcome into an exit code.
pub(crate) fn run_server(settings: Settings, serving: Serving) -> anyhow::Result<ExitCode> {
    // Opened before listening: a journal that cannot be written must stop replaygate at once,
    // not at the first statement it would withhold.
    let journal =
        match &settings.journal_dir {
            Some(dir) => Some(SharedJournal::open(dir).with_context(|| {
                format!("cannot open the quarantine journal in {}", dir.display())
            })?),
            None => None,
        };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listeners = replaygate::server::bind(&settings).await?;
        let admin = match settings.admin {
            Some(addr) => Some((
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (--admin)"))?,
                replaygate::admin::install_metrics()?,
            )),
            None => None,
        };
        let journal_dir = settings.journal_dir.clone();
        let ctx = Arc::new(ProxyContext::new(Arc::new(settings), journal));
        if let Some(dir) = journal_dir {
            restore_quarantined_origins(&ctx, &dir)?;
        }
        if let Some((listener, metrics)) = admin {
            let addr = listener.local_addr()?;
            tracing::info!(%addr, "admin endpoint: /metrics /status /pause /resume /throttle");
            let ctx = Arc::clone(&ctx);
            tokio::spawn(async move {
                if let Err(e) = replaygate::admin::serve(listener, ctx, Some(metrics)).await {
                    tracing::error!(error = %e, "the admin endpoint stopped");
                }
            });
        }
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let shutdown = shutdown_on_signals(shutdown);
        match serving {
            Serving::Proxy => replaygate::server::run(listeners, Arc::clone(&ctx), shutdown).await,
            Serving::Source(source) => {
                replaygate::server::run_with(
                    listeners,
                    Arc::clone(&ctx),
                    shutdown,
                    move |id, socket, peer, ctx| {
                        replaygate::source::serve_replica(
                            id,
                            socket,
                            peer,
                            ctx,
                            Arc::clone(&source),
                        )
                    },
                )
                .await
            }
        }
        // An aborted replay is a failed one, even though serve stayed up to show why: a job
        // runner (one job per shard) must not count it as done.
        if let Some(abort) = ctx.throttle.aborted() {
            eprintln!("replaygate: the replay was aborted: {}", abort.reason);
            return Ok(ExitCode::from(EXIT_ABORTED));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Completes on ctrl-c or SIGTERM, whichever comes first.
async fn shutdown_on_signals(ctrl_c: impl std::future::Future<Output = ()>) {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
