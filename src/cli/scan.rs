//! `replaygate scan`: reads the inputs, prints findings as they come, a summary at the end, and
//! turns "something serious was found" into exit code 1.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use super::{ScanArgs, ScanFormat};
use replaygate::config::ConfigFile;
use replaygate::scan::{Scanner, render_finding, render_summary};

/// Large buffered reads: scanning is I/O- and lexer-bound, not syscall-bound.
const READ_BUFFER: usize = 1 << 20;

pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let file = match &args.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    // Scanning withholds nothing, so it needs no journal even for quarantine rules.
    let mut policy = file.policy()?;
    if let Some(action) = args.on_destructive {
        policy.set_destructive_action(action);
    }
    let mut scanner = Scanner::new(&policy, args.severity);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    for path in &args.files {
        let (name, input, size): (String, Box<dyn BufRead>, Option<u64>) =
            if path.as_os_str() == "-" {
                (
                    "-".into(),
                    Box::new(BufReader::with_capacity(READ_BUFFER, std::io::stdin())),
                    None,
                )
            } else {
                let file =
                    File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
                let size = file.metadata().ok().map(|m| m.len());
                (
                    path.display().to_string(),
                    Box::new(BufReader::with_capacity(READ_BUFFER, file)),
                    size,
                )
            };
        let bar = show_progress.then(|| progress_bar(&name, size));
        let base = scanner.summary().bytes;
        let mut write_error = None;
        scanner.scan(
            &name,
            input,
            |finding| {
                let written = match args.format {
                    ScanFormat::Text => out.write_all(render_finding(finding).as_bytes()),
                    ScanFormat::Json => serde_json::to_writer(&mut out, finding)
                        .map_err(std::io::Error::other)
                        .and_then(|()| out.write_all(b"\n")),
                };
                if let Err(e) = written {
                    write_error.get_or_insert(e);
                }
            },
            |bytes| {
                if let Some(bar) = &bar {
                    bar.set_position(bytes - base);
                }
            },
        )?;
        if let Some(e) = write_error {
            return Err(e).context("cannot write the findings");
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    }
    out.flush()?;
    let summary = scanner.summary();
    match args.format {
        ScanFormat::Text => print!("{}", render_summary(summary)),
        // Standard output stays one finding per line; the summary goes beside it.
        ScanFormat::Json => eprintln!("{}", serde_json::to_string(summary)?),
    }
    Ok(if scanner.found_serious() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn progress_bar(name: &str, size: Option<u64>) -> ProgressBar {
    let bar = match size {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{msg} {spinner} {bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_message(name.to_owned());
    bar
}
