//! `replaygate journal list|show|export`: reading what the guard withheld, and turning chosen
//! records into SQL an operator can re-apply after review.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;

use super::JournalCommand;
use replaygate::journal::{export_sql, read_journal, render_list, render_record, select};

pub fn run(command: JournalCommand) -> anyhow::Result<ExitCode> {
    match command {
        JournalCommand::List(args) => {
            let records = read_journal(&args.journal_dir)?;
            print!("{}", render_list(&records));
        }
        JournalCommand::Show { journal, ids } => {
            let records = read_journal(&journal.journal_dir)?;
            for record in select(&records, &ids)? {
                println!("{}", render_record(&record));
            }
        }
        JournalCommand::Export {
            journal,
            ids,
            output,
        } => {
            let records = read_journal(&journal.journal_dir)?;
            let chosen = if ids.is_empty() {
                records
            } else {
                select(&records, &ids)?
            };
            match output {
                Some(path) => {
                    let file = File::create(&path)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    let mut out = BufWriter::new(file);
                    export_sql(&chosen, &mut out)?;
                    out.flush()?;
                    eprintln!("exported {} records to {}", chosen.len(), path.display());
                }
                None => {
                    let stdout = std::io::stdout();
                    let mut out = stdout.lock();
                    export_sql(&chosen, &mut out)?;
                    out.flush()?;
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
