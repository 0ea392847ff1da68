//! The classifier and the script reader over the shared corpus (`../shared/corpus`):
//! the 1,477 DDL statements extracted from mysql-test by maxwell, and every text binlog
//! and dump. Nothing may panic, every maxwell statement must be recognised, and the
//! distribution of kinds is printed (`cargo test --test classify_corpus -- --nocapture`).
//!
//! `throughput` (ignored; run it in release) measures StatementReader + classify on the
//! sakila and test_db dumps:
//! `cargo test --release --test classify_corpus -- --ignored --nocapture throughput`.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::Instant;

use replaygate::binlog_text::{StatementReader, looks_like_binary_binlog};
use replaygate::sql::{LexOptions, StatementKind, classify};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: no corpus at {}", dir.display());
        None
    }
}

fn files_under(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files_under(&path, keep, out);
        } else if keep(&path) {
            out.push(path);
        }
    }
}

#[test]
fn maxwell_ddl_statements_are_all_recognised() {
    let Some(corpus) = corpus() else { return };
    let mut files = Vec::new();
    files_under(
        &corpus.join("maxwell"),
        &|p| p.extension().is_some_and(|e| e == "sql"),
        &mut files,
    );
    let opts = LexOptions::default();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unparsable = Vec::new();
    let mut total = 0;
    for file in &files {
        let text = std::fs::read(file).expect("read corpus file");
        // One statement per line, without delimiters.
        for line in text
            .split(|&b| b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
        {
            total += 1;
            let c = classify(line, &opts);
            *kinds.entry(c.kind.as_str()).or_default() += 1;
            if c.kind == StatementKind::Unparsable {
                unparsable.push(String::from_utf8_lossy(line).into_owned());
            }
            if c.kind.is_ddl() && c.kind != StatementKind::CreateOther {
                assert!(
                    !c.objects.is_empty(),
                    "no object: {}",
                    String::from_utf8_lossy(line)
                );
            }
        }
    }
    println!(
        "maxwell: {total} statements in {} files: {kinds:#?}",
        files.len()
    );
    assert_eq!(total, 1477);
    assert!(
        unparsable.is_empty(),
        "unparsable:\n{}",
        unparsable.join("\n")
    );
}

/// Text corpus files: decoded binlogs, mysqlbinlog text, dumps (not the raw binlogs).
fn text_files(corpus: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let keep = |path: &Path| {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let text_like = [".sql", ".dump", ".txt", ".log"]
            .iter()
            .any(|ext| name.ends_with(ext));
        let head = std::fs::read(path)
            .map(|b| b.get(..4).map(<[u8]>::to_vec))
            .ok()
            .flatten();
        text_like
            && !path.components().any(|c| c.as_os_str() == "maxwell")
            && !head.is_some_and(|h| looks_like_binary_binlog(&h))
    };
    files_under(corpus, &keep, &mut files);
    files
}

#[test]
fn every_text_file_reads_and_classifies() {
    let Some(corpus) = corpus() else { return };
    let opts = LexOptions::default();
    let files = text_files(&corpus);
    assert!(files.len() > 50, "only {} text files", files.len());
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    let mut statements = 0;
    let mut unparsable = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).expect("read corpus file");
        let reader = StatementReader::new(BufReader::with_capacity(4096, bytes.as_slice()));
        let mut last_end = 0;
        for statement in reader {
            let statement = statement.expect("in-memory read");
            let start = statement.offset as usize;
            assert!(start >= last_end, "{}: statements overlap", file.display());
            assert_eq!(&bytes[start..start + statement.text.len()], statement.text);
            last_end = start + statement.text.len();
            statements += 1;
            let kind = classify(&statement.text, &opts).kind;
            *kinds.entry(kind.as_str()).or_default() += 1;
            if kind == StatementKind::Unparsable {
                let head = statement.text.get(..80).unwrap_or(&statement.text);
                unparsable.push(format!(
                    "{}: {:?}",
                    file.display(),
                    String::from_utf8_lossy(head)
                ));
            }
        }
    }
    println!("{} files, {statements} statements: {kinds:#?}", files.len());
    println!("unparsable:\n{}", unparsable.join("\n"));
}

/// MB/s of StatementReader alone and with classify, over `data` read `rounds` times.
fn measure(data: &[Vec<u8>], rounds: usize) -> (f64, f64, usize) {
    let bytes: usize = data.iter().map(Vec::len).sum();
    let opts = LexOptions::default();
    let run = |classify_too: bool| {
        let start = Instant::now();
        let mut statements = 0usize;
        for _ in 0..rounds {
            for file in data {
                let reader =
                    StatementReader::new(BufReader::with_capacity(64 * 1024, file.as_slice()));
                for statement in reader {
                    let statement = statement.expect("in-memory read");
                    if classify_too {
                        std::hint::black_box(classify(&statement.text, &opts));
                    }
                    statements += 1;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        (
            bytes as f64 * rounds as f64 / secs / 1e6,
            statements / rounds,
        )
    };
    let (read_only, statements) = run(false);
    let (with_classify, _) = run(true);
    (read_only, with_classify, statements)
}

#[test]
#[ignore = "measurement: run in release with --nocapture"]
fn throughput() {
    let Some(corpus) = corpus() else { return };
    let mut dumps = Vec::new();
    for dir in ["sakila", "test_db"] {
        let keep = |p: &Path| p.extension().is_some_and(|e| e == "sql" || e == "dump");
        files_under(&corpus.join(dir), &keep, &mut dumps);
    }
    let mut binlogs = Vec::new();
    files_under(
        &corpus.join("decoded"),
        &|p| p.extension().is_some_and(|e| e == "sql"),
        &mut binlogs,
    );
    for (name, files, rounds) in [
        ("sakila + test_db dumps", &dumps, 20),
        ("decoded binlogs", &binlogs, 10),
    ] {
        let data: Vec<Vec<u8>> = files
            .iter()
            .map(|f| std::fs::read(f).expect("read"))
            .collect();
        let megabytes = data.iter().map(Vec::len).sum::<usize>() as f64 / 1e6;
        let (read_only, with_classify, statements) = measure(&data, rounds);
        println!(
            "{name}: {} files, {megabytes:.1} MB, {statements} statements: \
             StatementReader {read_only:.0} MB/s, StatementReader + classify {with_classify:.0} MB/s",
            files.len()
        );
    }
}
