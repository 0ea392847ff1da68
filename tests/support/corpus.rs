//! The shared corpus (`../shared/corpus`, real binlogs and dumps written by others), used by
//! path and never copied into the repository; `REPLAYGATE_CORPUS` names another copy.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::server::MariaDb;

/// The corpus directory; panics (naming `REPLAYGATE_CORPUS`) when it is not there.
pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("REPLAYGATE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    assert!(
        dir.join("MANIFEST.md").is_file(),
        "the shared corpus is missing at {} (set REPLAYGATE_CORPUS)",
        dir.display()
    );
    dir
}

/// Every file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("read corpus dir") {
            let path = entry.expect("corpus entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The mariadb-binlog outputs in `decoded/`.
pub fn decoded_files(dir: &Path) -> Vec<PathBuf> {
    files_under(&dir.join("decoded"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect()
}

/// A raw binlog of the corpus: its path, its bytes (gunzipped for `.gz`) and the
/// mariadb-binlog output beside it in `decoded/`, when there is one.
pub struct RawBinlog {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub decoded: Option<PathBuf>,
}

/// Every file outside `decoded/` that starts with the binlog magic (after gunzip).
pub fn raw_binlogs(dir: &Path) -> Vec<RawBinlog> {
    let decoded_root = dir.join("decoded");
    files_under(dir)
        .into_iter()
        .filter(|p| !p.starts_with(&decoded_root))
        .filter_map(|path| {
            let mut bytes = std::fs::read(&path).expect("read corpus file");
            if path.extension().is_some_and(|e| e == "gz") {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&bytes[..])
                    .read_to_end(&mut out)
                    .ok()?;
                bytes = out;
            }
            if !bytes.starts_with(b"\xfebin") {
                return None;
            }
            let relative = path.strip_prefix(dir).expect("under the corpus");
            let mut decoded = decoded_root.join(relative);
            decoded.set_extension(match decoded.extension() {
                Some(e) if e != "gz" => format!("{}.sql", e.to_string_lossy()),
                _ => "sql".to_owned(),
            });
            Some(RawBinlog {
                decoded: decoded.is_file().then_some(decoded),
                path,
                bytes,
            })
        })
        .collect()
}

pub const SYSTEM_SCHEMAS: &str = "'mysql','information_schema','performance_schema','sys'";

pub fn mysql_schema_tables(target: &MariaDb) -> Vec<String> {
    target
        .sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'mysql'")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Drops every user database, account and stray `mysql.*` table a file may have created (some
/// run `use mysql; create table t2 ...`), so each run starts alike.
pub fn reset(target: &MariaDb, system_tables: &[String]) {
    for table in mysql_schema_tables(target) {
        if !system_tables.contains(&table) {
            target.sql(&format!("DROP TABLE mysql.`{table}`"));
        }
    }
    let dbs = target.sql(&format!(
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN ({SYSTEM_SCHEMAS})"
    ));
    for db in dbs.lines().filter(|l| !l.is_empty()) {
        target.sql(&format!("DROP DATABASE `{db}`"));
    }
    let users = target.sql(
        "SELECT CONCAT(QUOTE(user), '@', QUOTE(host)) FROM mysql.global_priv \
         WHERE user NOT IN ('root', 'mariadb.sys', 'mysql', 'PUBLIC', '')",
    );
    for user in users.lines().filter(|l| !l.is_empty()) {
        target.sql(&format!("DROP USER {user}"));
    }
    target.sql("CREATE DATABASE test");
}

/// Schema and data of every user database, as mariadb-dump prints them.
pub fn snapshot(target: &MariaDb) -> String {
    let dbs: Vec<String> = target
        .sql(&format!(
            "SELECT schema_name FROM information_schema.schemata WHERE schema_name NOT IN ({SYSTEM_SCHEMAS}) ORDER BY 1"
        ))
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let out = std::process::Command::new("mariadb-dump")
        .arg("--no-defaults")
        .arg(format!("--socket={}", target.socket_path().display()))
        // Corpus views name definers that do not exist here: no locks, and go on past them.
        .args([
            "-uroot",
            "--skip-dump-date",
            "--skip-comments",
            "--order-by-primary",
            "--skip-lock-tables",
            "--force",
        ])
        .arg("--databases")
        .args(&dbs)
        .output()
        .expect("run mariadb-dump");
    format!(
        "{}\n-- stderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn first_difference(a: &str, b: &str) -> String {
    let (mut la, mut lb) = (a.lines(), b.lines());
    loop {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => return format!("direct:  {x:?}\nthrough: {y:?}"),
        }
    }
}
