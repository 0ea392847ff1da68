//! The queries a replica sends before it asks for the binlog (`SELECT UNIX_TIMESTAMP()`,
//! `SHOW VARIABLES LIKE 'SERVER_ID'`, `SET @master_binlog_checksum= @@global.binlog_checksum`,
//! `SET @slave_connect_state='0-1-5'`, ...), answered as a primary with these files would.
//!
//! Pure: a small grammar of `SET @var = value, ...`, `SELECT expr, ...` and `SHOW [GLOBAL]
//! VARIABLES LIKE 'pattern'` over the files' facts and the session's user variables. Anything
//! else gets an error a replica knows how to take (unknown variable, syntax).

use std::collections::BTreeMap;

use crate::policy::glob_matches;

/// What the files say about the primary they came from.
#[derive(Debug, Clone)]
pub struct Facts {
    pub server_id: u32,
    pub version: String,
    /// `CRC32` or `NONE`.
    pub binlog_checksum: String,
    pub gtid_domain_id: u32,
    /// `@@gtid_binlog_pos`: the last GTID of each domain in the files.
    pub gtid_binlog_pos: String,
}

impl Facts {
    /// `@@name` (global or session: the primary has one value of each).
    fn variable(&self, name: &str) -> Option<String> {
        Some(match name {
            "server_id" => self.server_id.to_string(),
            "version" => self.version.clone(),
            "version_comment" => "replaygate source: saved binlogs served as a primary".into(),
            "binlog_checksum" => self.binlog_checksum.clone(),
            "gtid_domain_id" => self.gtid_domain_id.to_string(),
            "gtid_binlog_pos" | "gtid_current_pos" => self.gtid_binlog_pos.clone(),
            "gtid_strict_mode" => "0".into(),
            "gtid_mode" => "OFF".into(),
            "server_uuid" => format!("00000000-0000-0000-0000-{:012x}", self.server_id),
            "log_bin" => "1".into(),
            "binlog_format" => "MIXED".into(),
            "time_zone" => "SYSTEM".into(),
            "system_time_zone" => "UTC".into(),
            "character_set_server" => "utf8mb4".into(),
            "collation_server" => "utf8mb4_general_ci".into(),
            "lower_case_table_names" => "0".into(),
            "max_allowed_packet" => "1073741824".into(),
            _ => return None,
        })
    }

    const SHOWN: [&'static str; 17] = [
        "binlog_checksum",
        "binlog_format",
        "character_set_server",
        "collation_server",
        "gtid_binlog_pos",
        "gtid_current_pos",
        "gtid_domain_id",
        "gtid_mode",
        "gtid_strict_mode",
        "log_bin",
        "lower_case_table_names",
        "max_allowed_packet",
        "server_id",
        "server_uuid",
        "system_time_zone",
        "time_zone",
        "version",
    ];
}

/// A session's user variables (`@name`), as the replica set them.
pub type UserVars = BTreeMap<String, Option<String>>;

/// The answer to one query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Ok,
    Rows {
        columns: Vec<String>,
        rows: Vec<Vec<Option<String>>>,
    },
    Error {
        code: u16,
        state: [u8; 5],
        message: String,
    },
}

fn syntax(query: &str) -> Reply {
    Reply::Error {
        code: 1064,
        state: *b"42000",
        message: format!(
            "replaygate source answers a replica's set-up queries only; not understood: {}",
            query.chars().take(100).collect::<String>()
        ),
    }
}

/// Answers `query`; `now` is the Unix time for `UNIX_TIMESTAMP()`.
pub fn answer(query: &str, facts: &Facts, vars: &mut UserVars, now: u64) -> Reply {
    let q = query.trim().trim_end_matches(';').trim();
    let upper = q.to_ascii_uppercase();
    if let Some(rest) = strip_word(q, &upper, "SET") {
        return set(rest, facts, vars).unwrap_or_else(|| syntax(q));
    }
    if let Some(rest) = strip_word(q, &upper, "SELECT") {
        let mut columns = Vec::new();
        let mut row = Vec::new();
        for expr in split_top(rest) {
            match value_of(expr, facts, vars, now) {
                Ok(v) => {
                    columns.push(expr.trim().to_owned());
                    row.push(v);
                }
                Err(reply) => return reply,
            }
        }
        return Reply::Rows {
            columns,
            rows: vec![row],
        };
    }
    if upper.starts_with("SHOW ") {
        let words: Vec<&str> = upper.split_whitespace().collect();
        let variables = matches!(
            words.as_slice(),
            ["SHOW", "VARIABLES", "LIKE", ..]
                | ["SHOW", "GLOBAL" | "SESSION", "VARIABLES", "LIKE", ..]
        );
        if variables {
            let pattern = q
                .split_once(['\'', '"'])
                .map(|(_, p)| p.trim_end_matches(['\'', '"']))
                .unwrap_or_default()
                .replace('%', "*")
                .replace('_', "?");
            let rows = Facts::SHOWN
                .iter()
                .filter(|name| glob_matches(&pattern, name))
                .map(|name| vec![Some((*name).to_owned()), facts.variable(name)])
                .collect();
            return Reply::Rows {
                columns: vec!["Variable_name".into(), "Value".into()],
                rows,
            };
        }
    }
    syntax(q)
}

/// `q` without its first word `word` (case-insensitive), when it starts with it.
fn strip_word<'a>(q: &'a str, upper: &str, word: &str) -> Option<&'a str> {
    let rest = upper.strip_prefix(word)?;
    rest.starts_with(char::is_whitespace)
        .then(|| &q[word.len()..])
}

/// `SET @a = v, @b = v` (also `SET NAMES`, `SET [SESSION] x = v`: accepted, nothing to keep).
fn set(rest: &str, facts: &Facts, vars: &mut UserVars) -> Option<Reply> {
    let words: Vec<String> = rest
        .split_whitespace()
        .take(2)
        .map(str::to_ascii_uppercase)
        .collect();
    if matches!(words.first().map(String::as_str), Some("NAMES" | "CHARSET"))
        || words == ["CHARACTER", "SET"]
    {
        return Some(Reply::Ok);
    }
    for assignment in split_top(rest) {
        let (name, value) = assignment.split_once('=')?;
        let name = name.trim();
        let Some(user_var) = name.strip_prefix('@').filter(|n| !n.starts_with('@')) else {
            // A session setting: the primary's session has nothing that matters to a dump.
            continue;
        };
        let value = match value_of(value, facts, vars, 0) {
            Ok(v) => v,
            Err(reply) => return Some(reply),
        };
        vars.insert(user_var.trim_matches('`').to_ascii_lowercase(), value);
    }
    Some(Reply::Ok)
}

/// One expression: a quoted string, a number, NULL, `@var`, `@@[global.|session.]var`,
/// `UNIX_TIMESTAMP()`, `VERSION()`, `DATABASE()`.
fn value_of(expr: &str, facts: &Facts, vars: &UserVars, now: u64) -> Result<Option<String>, Reply> {
    let e = expr.trim();
    let lower = e.to_ascii_lowercase();
    if let Some(name) = lower.strip_prefix("@@") {
        let name = name
            .strip_prefix("global.")
            .or_else(|| name.strip_prefix("session."))
            .unwrap_or(name);
        return facts.variable(name).map(Some).ok_or_else(|| Reply::Error {
            code: 1193,
            state: *b"HY000",
            message: format!("Unknown system variable '{name}'"),
        });
    }
    if let Some(name) = lower.strip_prefix('@') {
        return Ok(vars.get(name.trim_matches('`')).cloned().flatten());
    }
    if lower == "null" {
        return Ok(None);
    }
    match lower.as_str() {
        "unix_timestamp()" => return Ok(Some(now.to_string())),
        "version()" => return Ok(Some(facts.version.clone())),
        "database()" => return Ok(None),
        _ => {}
    }
    if let Some(text) = e
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .or_else(|| e.strip_prefix('"').and_then(|t| t.strip_suffix('"')))
    {
        return Ok(Some(text.replace("''", "'").replace("\\'", "'")));
    }
    if !e.is_empty()
        && e.chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Ok(Some(e.to_owned()));
    }
    Err(syntax(e))
}

/// Splits at commas outside quotes and parentheses.
fn split_top(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut start) = (0i32, None, 0);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            server_id: 1,
            version: "10.11.19-MariaDB-log".into(),
            binlog_checksum: "CRC32".into(),
            gtid_domain_id: 0,
            gtid_binlog_pos: "0-1-42".into(),
        }
    }

    fn rows(reply: Reply) -> Vec<Vec<Option<String>>> {
        match reply {
            Reply::Rows { rows, .. } => rows,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn answers_what_a_mariadb_replica_asks() {
        let (f, mut vars) = (facts(), UserVars::new());
        let a = |q: &str, vars: &mut UserVars| answer(q, &f, vars, 1_700_000_000);
        assert_eq!(
            rows(a("SELECT UNIX_TIMESTAMP()", &mut vars)),
            [[Some("1700000000".to_owned())]]
        );
        assert_eq!(
            rows(a("SHOW VARIABLES LIKE 'SERVER_ID'", &mut vars)),
            [[Some("server_id".to_owned()), Some("1".to_owned())]]
        );
        assert_eq!(
            a("SET @master_heartbeat_period= 30000001024", &mut vars),
            Reply::Ok
        );
        assert_eq!(
            a(
                "SET @master_binlog_checksum= @@global.binlog_checksum",
                &mut vars
            ),
            Reply::Ok
        );
        assert_eq!(
            rows(a("SELECT @master_binlog_checksum", &mut vars)),
            [[Some("CRC32".to_owned())]]
        );
        assert_eq!(a("SET @mariadb_slave_capability=4", &mut vars), Reply::Ok);
        assert_eq!(
            rows(a("SELECT @@GLOBAL.gtid_domain_id", &mut vars)),
            [[Some("0".to_owned())]]
        );
        assert_eq!(
            a("SET @slave_connect_state='0-1-5,1-2-9'", &mut vars),
            Reply::Ok
        );
        assert_eq!(vars["slave_connect_state"].as_deref(), Some("0-1-5,1-2-9"));
        assert_eq!(a("SET @slave_gtid_strict_mode=0", &mut vars), Reply::Ok);
        assert_eq!(
            vars["master_heartbeat_period"].as_deref(),
            Some("30000001024")
        );
        assert_eq!(a("SET NAMES latin1", &mut vars), Reply::Ok);
        assert_eq!(a("SET CHARACTER SET utf8mb4", &mut vars), Reply::Ok);
        assert!(matches!(
            a("SELECT @@global.rpl_semi_sync_master_enabled", &mut vars),
            Reply::Error { code: 1193, .. }
        ));
        assert!(matches!(
            a("DROP TABLE t", &mut vars),
            Reply::Error { code: 1064, .. }
        ));
        assert_eq!(
            rows(a("SHOW GLOBAL VARIABLES LIKE 'rpl_semi_sync%'", &mut vars)),
            Vec::<Vec<Option<String>>>::new()
        );
    }

    #[test]
    fn answers_what_a_mysql_8_replica_asks() {
        // A MySQL 8.0 IO thread's set-up before COM_REGISTER_SLAVE / COM_BINLOG_DUMP
        // (get_master_version_and_clock, get_master_uuid); 8.0.26+ sets both the source_ and
        // the master_ names in one statement.
        let (f, mut vars) = (facts(), UserVars::new());
        let a = |q: &str, vars: &mut UserVars| answer(q, &f, vars, 1_700_000_000);
        assert_eq!(
            rows(a("SELECT @@GLOBAL.SERVER_ID", &mut vars)),
            [[Some("1".to_owned())]]
        );
        assert_eq!(
            rows(a("SELECT @@GLOBAL.COLLATION_SERVER", &mut vars)),
            [[Some("utf8mb4_general_ci".to_owned())]]
        );
        assert_eq!(
            rows(a("SELECT @@GLOBAL.TIME_ZONE", &mut vars)),
            [[Some("SYSTEM".to_owned())]]
        );
        assert_eq!(
            a(
                "SET @master_heartbeat_period= 30000001024, @source_heartbeat_period= 30000001024",
                &mut vars
            ),
            Reply::Ok
        );
        assert_eq!(
            a(
                "SET @source_binlog_checksum = @@global.binlog_checksum, \
                 @master_binlog_checksum = @@global.binlog_checksum",
                &mut vars
            ),
            Reply::Ok
        );
        assert_eq!(
            rows(a("SELECT @source_binlog_checksum", &mut vars)),
            [[Some("CRC32".to_owned())]]
        );
        assert_eq!(
            rows(a("SELECT @@GLOBAL.GTID_MODE", &mut vars)),
            [[Some("OFF".to_owned())]]
        );
        assert_eq!(
            rows(a("SHOW VARIABLES LIKE 'SERVER_UUID'", &mut vars)),
            [[
                Some("server_uuid".to_owned()),
                Some("00000000-0000-0000-0000-000000000001".to_owned())
            ]]
        );
        assert_eq!(
            a(
                "SET @replica_uuid= '8a94f357-aab4-11df-86ab-c80aa9429562', \
                 @slave_uuid= '8a94f357-aab4-11df-86ab-c80aa9429562'",
                &mut vars
            ),
            Reply::Ok
        );
    }
}
