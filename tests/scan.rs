//! `replaygate scan` over the whole shared corpus: every text file scans without a crash
//! (exit 0 or 1, never an error), raw binlogs are refused with the command that decodes them,
//! and stdin works.

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
            assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
            assert!(
                stderr.contains("mariadb-binlog"),
                "{}: {stderr}",
                path.display()
            );
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
