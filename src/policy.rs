//! Rules and verdicts: what replaygate does with a classified statement.
//!
//! A pure function of the statement's classification and the session it runs in (database,
//! foreign_key_checks, origin thread, ...). Rules are tried in order and the first that matches
//! decides; a statement no rule matches is allowed. Rules with `rows_deleted_over` judge the rows
//! events of a replication stream or raw binlog instead ([`Policy::decide_rows`]): the shape a
//! mistaken mass `DELETE` takes in a ROW binlog, where there is no statement to classify. The shipped default policy halts before the
//! disaster of the incident (DROP TABLE / TRUNCATE under disabled FK checks, DROP DATABASE) and
//! logs other DDL.

use std::fmt;

use serde::Deserialize;

use crate::sql::{Classification, ObjectRef, StatementKind};

/// What to do with a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Forward it.
    Allow,
    /// Forward it and log it.
    Log,
    /// Refuse it and every later statement of the session: the replay stops right before it.
    Halt,
    /// Do not execute it; journal it; answer OK so the replay continues.
    Quarantine,
    /// Quarantine it and every later event of the same origin thread.
    QuarantineOrigin,
    /// DROP TABLE becomes a RENAME TABLE into a quarantine name, keeping the data; journaled.
    Rewrite,
    /// Refuse this statement with an ERR; the session continues.
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Log => "log",
            Action::Halt => "halt",
            Action::Quarantine => "quarantine",
            Action::QuarantineOrigin => "quarantine-origin",
            Action::Rewrite => "rewrite",
            Action::Reject => "reject",
        }
    }

    /// What replaygate does instead of forwarding; `None` for the actions that forward.
    pub fn intervention(self) -> Option<Intervention> {
        match self {
            Action::Allow | Action::Log => None,
            Action::Halt => Some(Intervention::Halt),
            Action::Quarantine => Some(Intervention::Quarantine),
            Action::QuarantineOrigin => Some(Intervention::QuarantineOrigin),
            Action::Rewrite => Some(Intervention::Rewrite),
            Action::Reject => Some(Intervention::Reject),
        }
    }

    /// Whether the statement is kept out of the target (and so must be journaled).
    pub fn withholds(self) -> bool {
        matches!(
            self,
            Action::Halt | Action::Quarantine | Action::QuarantineOrigin | Action::Rewrite
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The actions that keep a statement from being forwarded as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intervention {
    Halt,
    Quarantine,
    QuarantineOrigin,
    Rewrite,
    Reject,
}

/// A `[[rule]]` as written in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    /// Statement kinds (snake_case, e.g. "drop_table"); empty matches every kind.
    #[serde(default)]
    pub kinds: Vec<String>,
    /// Glob (`*`, `?`) on the schema of the objects the statement touches.
    pub schema: Option<String>,
    /// Glob on the table (or view/database) name.
    pub table: Option<String>,
    /// Session conditions: match only when the variable has this value (0 or 1).
    pub foreign_key_checks: Option<u8>,
    pub unique_checks: Option<u8>,
    pub sql_log_bin: Option<u8>,
    /// Match only statements of these origin threads.
    #[serde(default)]
    pub origin_threads: Vec<u64>,
    /// Also match temporary tables (CREATE/DROP TEMPORARY TABLE), which hold no restored data.
    #[serde(default)]
    pub temporary: bool,
    /// One of the destructive-DDL rules whose action `--on-destructive` sets.
    #[serde(default)]
    pub destructive_ddl: bool,
    /// A row-events rule: matches a transaction that deletes more than this many rows of one
    /// table (in rows events), instead of statements.
    pub rows_deleted_over: Option<u64>,
    pub action: Action,
}

/// Why a rule cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("rule {rule:?}: unknown statement kind {kind:?} (known: {known})")]
    UnknownKind {
        rule: String,
        kind: String,
        known: String,
    },
    #[error("rule {rule:?}: {field} must be 0 or 1")]
    NotAFlag { rule: String, field: &'static str },
    #[error(
        "rule {rule:?}: rows_deleted_over judges row events, which have no statement kind, \
         foreign_key_checks or origin thread: give it only schema, table and action"
    )]
    RowsRuleWithStatementKeys { rule: String },
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    kinds: Vec<StatementKind>,
    schema: Option<String>,
    table: Option<String>,
    foreign_key_checks: Option<bool>,
    unique_checks: Option<bool>,
    sql_log_bin: Option<bool>,
    origin_threads: Vec<u64>,
    temporary: bool,
    pub destructive_ddl: bool,
    rows_deleted_over: Option<u64>,
    pub action: Action,
}

/// What the policy knows about the rows a transaction deletes from one table.
#[derive(Debug, Clone, Copy)]
pub struct RowsContext<'a> {
    pub schema: &'a str,
    pub table: &'a str,
    /// Rows deleted from the table so far in the transaction.
    pub deleted: u64,
}

/// What the policy knows about a statement and its session.
#[derive(Debug, Clone, Copy)]
pub struct StatementContext<'a> {
    pub classification: &'a Classification,
    pub database: Option<&'a str>,
    pub foreign_key_checks: bool,
    pub unique_checks: bool,
    pub sql_log_bin: bool,
    pub origin_thread: Option<u64>,
}

/// The decision for one statement, and the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub action: Action,
    pub rule: String,
}

/// The rule name of the verdict given to statements no rule matched.
pub const NO_RULE: &str = "(no rule)";

/// Ordered rules.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
}

impl Policy {
    /// Validates configured rules; `None` takes the shipped default policy.
    pub fn from_config(rules: Option<&[RuleConfig]>) -> Result<Self, PolicyError> {
        let rules = match rules {
            Some(rules) => rules
                .iter()
                .map(Rule::from_config)
                .collect::<Result<_, _>>()?,
            None => default_rules(),
        };
        Ok(Self { rules })
    }

    /// Sets the action of every destructive-DDL rule (`--on-destructive`).
    pub fn set_destructive_action(&mut self, action: Action) {
        for rule in self.rules.iter_mut().filter(|r| r.destructive_ddl) {
            rule.action = action;
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Whether any rule can withhold a statement (and so needs a journal).
    pub fn needs_journal(&self) -> bool {
        self.rules.iter().any(|r| {
            matches!(
                r.action,
                Action::Quarantine | Action::QuarantineOrigin | Action::Rewrite
            )
        })
    }

    /// Whether any rule judges row events (so row counts are worth taking).
    pub fn has_rows_rules(&self) -> bool {
        self.rules.iter().any(|r| r.rows_deleted_over.is_some())
    }

    /// The first row-events rule whose threshold `rows` exceeds decides; `None` when none does.
    pub fn decide_rows(&self, rows: &RowsContext<'_>) -> Option<Verdict> {
        self.rules
            .iter()
            .find(|rule| {
                rule.rows_deleted_over.is_some_and(|n| rows.deleted > n)
                    && rule
                        .schema
                        .as_deref()
                        .is_none_or(|g| glob_matches(g, rows.schema))
                    && rule
                        .table
                        .as_deref()
                        .is_none_or(|g| glob_matches(g, rows.table))
            })
            .map(|rule| Verdict {
                action: rule.action,
                rule: rule.name.clone(),
            })
    }

    /// The first matching rule decides; no match allows.
    pub fn decide(&self, stmt: &StatementContext<'_>) -> Verdict {
        self.rules
            .iter()
            .filter(|rule| rule.rows_deleted_over.is_none())
            .find(|rule| rule.matches(stmt))
            .map(|rule| Verdict {
                action: rule.action,
                rule: rule.name.clone(),
            })
            .unwrap_or_else(|| Verdict {
                action: Action::Allow,
                rule: NO_RULE.to_owned(),
            })
    }
}

fn default_rules() -> Vec<Rule> {
    let rule =
        |name: &str, kinds: &[StatementKind], fk: Option<bool>, destructive: bool, action| Rule {
            name: name.to_owned(),
            kinds: kinds.to_vec(),
            schema: None,
            table: None,
            foreign_key_checks: fk,
            unique_checks: None,
            sql_log_bin: None,
            origin_threads: Vec::new(),
            temporary: false,
            destructive_ddl: destructive,
            rows_deleted_over: None,
            action,
        };
    use StatementKind::*;
    vec![
        rule("drop-database", &[DropDatabase], None, true, Action::Halt),
        rule(
            "destructive-ddl-without-fk-checks",
            &[DropTable, Truncate],
            Some(false),
            true,
            Action::Halt,
        ),
        rule(
            "log-ddl",
            &[
                DropTable,
                DropView,
                Truncate,
                AlterTableDrop,
                AlterTable,
                RenameTable,
                CreateTable,
                CreateDatabase,
                CreateOther,
                DropOther,
                Grant,
                Revoke,
                DropUser,
                AccountChange,
            ],
            None,
            false,
            Action::Log,
        ),
    ]
}

impl Rule {
    fn from_config(c: &RuleConfig) -> Result<Self, PolicyError> {
        let kinds = c
            .kinds
            .iter()
            .map(|k| {
                StatementKind::parse(k).ok_or_else(|| PolicyError::UnknownKind {
                    rule: c.name.clone(),
                    kind: k.clone(),
                    known: StatementKind::all()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
            })
            .collect::<Result<_, _>>()?;
        let flag = |value: Option<u8>, field| match value {
            None => Ok(None),
            Some(0) => Ok(Some(false)),
            Some(1) => Ok(Some(true)),
            Some(_) => Err(PolicyError::NotAFlag {
                rule: c.name.clone(),
                field,
            }),
        };
        if c.rows_deleted_over.is_some()
            && (!c.kinds.is_empty()
                || c.foreign_key_checks.is_some()
                || c.unique_checks.is_some()
                || c.sql_log_bin.is_some()
                || !c.origin_threads.is_empty()
                || c.temporary)
        {
            return Err(PolicyError::RowsRuleWithStatementKeys {
                rule: c.name.clone(),
            });
        }
        Ok(Rule {
            name: c.name.clone(),
            kinds,
            schema: c.schema.clone(),
            table: c.table.clone(),
            foreign_key_checks: flag(c.foreign_key_checks, "foreign_key_checks")?,
            unique_checks: flag(c.unique_checks, "unique_checks")?,
            sql_log_bin: flag(c.sql_log_bin, "sql_log_bin")?,
            origin_threads: c.origin_threads.clone(),
            temporary: c.temporary,
            destructive_ddl: c.destructive_ddl,
            rows_deleted_over: c.rows_deleted_over,
            action: c.action,
        })
    }

    fn matches(&self, stmt: &StatementContext<'_>) -> bool {
        let c = stmt.classification;
        if c.temporary && !self.temporary {
            return false;
        }
        let kind_matches = self.kinds.is_empty()
            || self.kinds.contains(&c.kind)
            // Fail closed: text that could not be understood but starts like a destructive
            // statement matches every rule about destructive kinds.
            || (c.kind == StatementKind::Unparsable && c.destructive && self.kinds.iter().any(|k| k.is_destructive()));
        kind_matches
            && self
                .foreign_key_checks
                .is_none_or(|v| v == stmt.foreign_key_checks)
            && self.unique_checks.is_none_or(|v| v == stmt.unique_checks)
            && self.sql_log_bin.is_none_or(|v| v == stmt.sql_log_bin)
            && (self.origin_threads.is_empty()
                || stmt
                    .origin_thread
                    .is_some_and(|t| self.origin_threads.contains(&t)))
            && self.objects_match(c, stmt.database)
    }

    fn objects_match(&self, c: &Classification, database: Option<&str>) -> bool {
        if self.schema.is_none() && self.table.is_none() {
            return true;
        }
        // Unknown objects (unparsable text) fail closed: any pattern matches.
        if c.objects.is_empty() {
            return c.destructive;
        }
        c.objects.iter().any(|o| self.object_matches(o, database))
    }

    fn object_matches(&self, object: &ObjectRef, database: Option<&str>) -> bool {
        let schema = object.schema.as_deref().or(database).unwrap_or("");
        self.schema
            .as_deref()
            .is_none_or(|g| glob_matches(g, schema))
            && self
                .table
                .as_deref()
                .is_none_or(|g| glob_matches(g, &object.name))
    }
}

/// `*` matches any run, `?` one character; case-insensitive, as MySQL names usually are.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                backtrack = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    pi = bp + 1;
                    ti = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
