//! `replaygate scan` over the whole shared corpus: every text file scans without a crash
//! (exit 0 or 1, never an error), every raw binlog scans too (exit 2 only for a damaged or cut
//! file, saying where) with the same findings as the scan of its `mariadb-binlog` text, and
//! stdin works.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn corpus() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        dir.join("MANIFEST.md").is_file(),
        "the shared corpus is missing at {}",
        dir.display()
    );
    dir
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn is_raw_binlog(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|bytes| bytes.starts_with(b"\xfebin"))
}

#[test]
fn every_corpus_file_scans_without_a_crash() {
    let mut all = Vec::new();
    files(&corpus(), &mut all);
    all.sort();
    let (mut text, mut raw) = (0, 0);
    for path in all.iter().filter(|p| !p.ends_with("MANIFEST.md")) {
        let out = Command::new(env!("CARGO_BIN_EXE_replaygate"))
            .args(["scan", "--quiet", "--format", "json"])
            .arg(path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if is_raw_binlog(path) {
            raw += 1;
            match out.status.code() {
                Some(0 | 1) => {}
                Some(2) => assert!(
                    stderr.contains("ends inside the event")
                        || stderr.contains("cannot be read")
                        || stderr.contains("cut short")
                        || stderr.contains("checksum"),
                    "{}: {stderr}",
                    path.display()
                ),
                other => panic!("{}: exit {other:?}: {stderr}", path.display()),
            }
            continue;
        }
        text += 1;
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{}: exit {:?}: {stderr}",
            path.display(),
            out.status.code()
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let finding: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
            for key in ["kind", "rule", "action", "statement"] {
                assert!(finding.get(key).is_some(), "{}: {line}", path.display());
            }
        }
    }
    assert!(text >= 100 && raw >= 30, "text {text}, raw {raw}");
}

#[test]
fn stdin_is_a_file_named_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_replaygate"))
        .args(["scan", "--quiet", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SET FOREIGN_KEY_CHECKS=0;\nUSE shop;\nDROP TABLE IF EXISTS orders;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("HALT drop_table [rule destructive-ddl-without-fk-checks] -:3"),
        "{text}"
    );
    assert!(text.contains("db shop"), "{text}");
    assert!(
        text.contains("1 findings") || text.contains("findings"),
        "{text}"
    );
}

#[test]
fn unreadable_files_are_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_replaygate"))
        .args(["scan", "/nonexistent/binlog.sql"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/binlog.sql"));
}

/// `(position, kind, action, rule, thread)` of each finding of `scan --format json PATH`.
fn findings(path: &Path) -> Vec<(u64, String, String, String, Option<u64>)> {
    let out = Command::new(env!("CARGO_BIN_EXE_replaygate"))
        .args(["scan", "--quiet", "--format", "json", "--severity", "log"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let f: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                f["position"].as_u64().unwrap_or(0),
                f["kind"].as_str().unwrap().to_owned(),
                f["action"].as_str().unwrap().to_owned(),
                f["rule"].as_str().unwrap().to_owned(),
                f["thread_id"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn a_raw_binlog_scans_to_the_findings_of_its_decoded_text() {
    let root = corpus();
    let (mut compared, mut with_findings) = (0, 0);
    let mut all = Vec::new();
    files(&root, &mut all);
    all.sort();
    for path in all.iter().filter(|p| is_raw_binlog(p)) {
        let relative = path.strip_prefix(&root).unwrap();
        let decoded = root
            .join("decoded")
            .join(format!("{}.sql", relative.display()));
        let complete = decoded.is_file() && !decoded.with_extension("sql.err").is_file();
        if !complete {
            continue;
        }
        let raw = findings(path);
        let text = findings(&decoded);
        assert_eq!(raw, text, "{}", path.display());
        compared += 1;
        with_findings += usize::from(!raw.is_empty());
    }
    assert!(
        compared >= 25 && with_findings >= 10,
        "{compared} compared, {with_findings} with findings"
    );
}
