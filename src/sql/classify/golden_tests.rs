//! Golden tests: one file per scenario under `tests/classify/*.sql`.
//!
//! File format (plain SQL a reader can run in their head):
//!
//! ```text
//! --- A note about the file (lines starting with `--- ` are dropped).
//! DROP TABLE IF EXISTS `shop`.`orders`, customers
//! -- expect: drop_table objects=shop.orders,customers destructive if_exists
//! /*!40101 SET NAMES utf8mb4 */
//! -- expect: set_session
//! ```
//!
//! A case is the text since the previous `-- expect:` line (or the file start), trimmed;
//! it may span lines and hold comments of its own. The expectation names the kind
//! (snake_case), then optionally `objects=` (comma-separated, `schema.name`, parts may be
//! backtick-quoted with doubled backticks, no spaces outside backticks) and the flags that
//! are true: `destructive`, `if_exists`, `temporary`. A missing `objects=` means none;
//! a missing flag means false. For every case where both engines answer, the sqlparser
//! path and the token grammars must agree too.

use std::path::{Path, PathBuf};

use super::{Classification, ObjectRef, StatementKind, classify, ddl, parsed};
use crate::sql::token::LexOptions;

struct Case {
    file: String,
    line: usize,
    sql: String,
    expected: Classification,
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/classify")
}

fn load_cases() -> Vec<Case> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir())
        .expect("tests/classify exists")
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("golden file is UTF-8");
        let mut sql = String::new();
        let mut start_line = 1;
        for (index, line) in text.lines().enumerate() {
            if line.starts_with("--- ") || line == "---" {
                continue;
            }
            if let Some(expectation) = line.strip_prefix("-- expect:") {
                let expected = parse_expectation(expectation)
                    .unwrap_or_else(|e| panic!("{file}:{}: {e}", index + 1));
                cases.push(Case {
                    file: file.clone(),
                    line: start_line,
                    sql: sql.trim().to_string(),
                    expected,
                });
                sql.clear();
                start_line = index + 2;
                continue;
            }
            if sql.trim().is_empty() {
                start_line = index + 1;
            }
            sql.push_str(line);
            sql.push('\n');
        }
        assert!(
            sql.trim().is_empty(),
            "{file}: text after the last expectation"
        );
    }
    cases
}

fn parse_expectation(text: &str) -> Result<Classification, String> {
    let mut words = text.split_whitespace();
    let kind_name = words.next().ok_or("no kind")?;
    let kind = StatementKind::parse(kind_name).ok_or(format!("unknown kind {kind_name}"))?;
    let mut expected = Classification::new(kind);
    expected.destructive = false;
    let rest: Vec<&str> = words.collect();
    let rest = rest.join(" ");
    let mut rest = rest.as_str();
    while !rest.is_empty() {
        if let Some(list) = rest.strip_prefix("objects=") {
            let (objects, after) = parse_objects(list)?;
            expected.objects = objects;
            rest = after.trim_start();
            continue;
        }
        let (word, after) = rest.split_once(' ').unwrap_or((rest, ""));
        match word {
            "destructive" => expected.destructive = true,
            "if_exists" => expected.if_exists = true,
            "temporary" => expected.temporary = true,
            other => return Err(format!("unknown flag {other}")),
        }
        rest = after.trim_start();
    }
    Ok(expected)
}

/// `a.b,`c``d`,e` up to the first space outside backticks; returns the objects and the rest.
fn parse_objects(text: &str) -> Result<(Vec<ObjectRef>, &str), String> {
    let mut objects = Vec::new();
    let mut parts: Vec<String> = Vec::new();
    let mut part = String::new();
    let mut chars = text.char_indices().peekable();
    let mut end = text.len();
    let mut finish = |parts: &mut Vec<String>, part: &mut String| -> Result<(), String> {
        parts.push(std::mem::take(part));
        let object = match parts.as_slice() {
            [name] => ObjectRef::named(name.clone()),
            [schema, name] => ObjectRef {
                schema: Some(schema.clone()),
                name: name.clone(),
            },
            _ => return Err(format!("bad object in {text}")),
        };
        parts.clear();
        objects.push(object);
        Ok(())
    };
    while let Some((at, c)) = chars.next() {
        match c {
            '`' => loop {
                match chars.next() {
                    Some((_, '`')) if chars.peek().is_some_and(|(_, c)| *c == '`') => {
                        chars.next();
                        part.push('`');
                    }
                    Some((_, '`')) => break,
                    Some((_, c)) => part.push(c),
                    None => return Err(format!("unclosed backtick in {text}")),
                }
            },
            '.' => parts.push(std::mem::take(&mut part)),
            ',' => finish(&mut parts, &mut part)?,
            ' ' => {
                end = at;
                break;
            }
            c => part.push(c),
        }
    }
    finish(&mut parts, &mut part)?;
    Ok((objects, &text[end..]))
}

fn render(c: &Classification) -> String {
    let objects: Vec<String> = c.objects.iter().map(ToString::to_string).collect();
    format!(
        "{} objects=[{}]{}{}{}",
        c.kind,
        objects.join(","),
        if c.destructive { " destructive" } else { "" },
        if c.if_exists { " if_exists" } else { "" },
        if c.temporary { " temporary" } else { "" },
    )
}

#[test]
fn golden_files() {
    let cases = load_cases();
    assert!(cases.len() > 100, "only {} golden cases", cases.len());
    let opts = LexOptions::default();
    let mut failures = Vec::new();
    for case in &cases {
        let got = classify(case.sql.as_bytes(), &opts);
        if got != case.expected {
            failures.push(format!(
                "{}:{}: {:?}\n   expected {}\n   got      {}",
                case.file,
                case.line,
                case.sql,
                render(&case.expected),
                render(&got)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Where sqlparser parses a DDL case, the token grammar (the fallback) must say the same:
/// otherwise a statement would change class depending on which engine happened to read it.
#[test]
fn engines_agree_on_golden_ddl() {
    let opts = LexOptions::default();
    let mut compared = 0;
    let mut disagreements = Vec::new();
    for case in load_cases() {
        let sql = case.sql.as_bytes();
        let (Some(by_parser), Some(by_tokens)) = (
            parsed::classify(sql, &opts, 0),
            ddl::classify_by_tokens(sql, &opts),
        ) else {
            continue;
        };
        compared += 1;
        if by_parser != by_tokens {
            disagreements.push(format!(
                "{}:{}: {:?}\n   sqlparser {}\n   tokens    {}",
                case.file,
                case.line,
                case.sql,
                render(&by_parser),
                render(&by_tokens)
            ));
        }
    }
    assert!(compared > 30, "only {compared} cases compared");
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

#[test]
fn expectation_format() {
    let e =
        parse_expectation(" drop_table objects=shop.orders,`a``b`.`c d`,x destructive if_exists")
            .unwrap();
    assert_eq!(e.kind, StatementKind::DropTable);
    assert_eq!(
        e.objects,
        vec![
            ObjectRef {
                schema: Some("shop".into()),
                name: "orders".into()
            },
            ObjectRef {
                schema: Some("a`b".into()),
                name: "c d".into()
            },
            ObjectRef::named("x"),
        ]
    );
    assert!(e.destructive && e.if_exists && !e.temporary);
    assert!(parse_expectation(" no_such_kind").is_err());
    assert!(parse_expectation(" select bogus").is_err());
}
