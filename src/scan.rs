//! `replaygate scan`: the guard's rules over binlog text (mysqlbinlog / mariadb-binlog output),
//! plain dumps, or raw binlog files (`scan_events.rs`), with no server — to find the disaster in hours
//! of binlog before replaying it.
//!
//! The scanner reads statements as the `mysql` client would ([`crate::binlog_text`]), follows the
//! session state the stream sets up (database, foreign_key_checks, GTID, event headers) exactly
//! as a replaygate session would, and reports every statement the policy does not simply allow.
//! It streams: memory holds one statement and a few counters, whatever the input size.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde::Serialize;

use crate::binlog_text::{StatementReader, looks_like_binary_binlog};
use crate::policy::{Action, Policy};
use crate::session::guard::Guard;
use crate::session::state::{SessionState, StreamPosition};
use crate::sql::{
    LexOptions, MultiByte, StatementKind, escape_for_message, leading_event_header, session_effects,
};

/// How many characters of a statement a finding shows.
const FINDING_PREVIEW_CHARS: usize = 300;

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read {name}: {source}")]
    Read {
        name: String,
        source: std::io::Error,
    },
    #[error("{name}: {detail}")]
    Binlog { name: String, detail: String },
}

/// How serious a finding is, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Severity {
    /// Anything the policy logs or stops.
    Log,
    /// Statements the policy would keep from the target (halt, quarantine, rewrite, reject).
    Withhold,
    /// Only statements the policy would halt at.
    Halt,
}

impl Severity {
    fn of(action: Action) -> Option<Severity> {
        match action {
            Action::Allow => None,
            Action::Log => Some(Severity::Log),
            Action::Halt => Some(Severity::Halt),
            Action::Quarantine | Action::QuarantineOrigin | Action::Rewrite | Action::Reject => {
                Some(Severity::Withhold)
            }
        }
    }
}

/// One statement the policy does not simply allow.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub file: String,
    /// The line of binlog text (0 in a raw binlog, where the position says where).
    pub line: u64,
    /// The event's `# at` offset.
    pub position: Option<u64>,
    pub end_log_pos: Option<u64>,
    pub timestamp: Option<String>,
    pub gtid: Option<String>,
    pub thread_id: Option<u64>,
    pub database: Option<String>,
    pub kind: &'static str,
    pub rule: String,
    pub action: &'static str,
    pub statement: String,
    #[serde(skip)]
    pub severity: Severity,
}

/// What an origin thread did that was found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct OriginSpan {
    pub findings: u64,
    pub first_position: Option<u64>,
    pub last_position: Option<u64>,
    /// The thread showed the shape of a dump being restored: tables dropped with foreign key
    /// checks off, then created again and filled.
    pub dump_restore: bool,
}

/// Progress of one origin thread through the shape of a mysqldump restore:
/// `FOREIGN_KEY_CHECKS=0`, `DROP TABLE IF EXISTS`, `CREATE TABLE`, `INSERT`.
#[derive(Debug, Clone, Copy, Default)]
struct RestoreShape {
    dropped_without_fk_checks: bool,
    created: bool,
    inserted: bool,
}

impl RestoreShape {
    fn observe(&mut self, kind: StatementKind, if_exists: bool, foreign_key_checks: bool) {
        match kind {
            StatementKind::DropTable if if_exists && !foreign_key_checks => {
                self.dropped_without_fk_checks = true;
            }
            StatementKind::CreateTable if self.dropped_without_fk_checks => self.created = true,
            StatementKind::Insert if self.created => self.inserted = true,
            _ => {}
        }
    }

    fn complete(self) -> bool {
        self.dropped_without_fk_checks && self.created && self.inserted
    }
}

/// Totals over everything scanned.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub statements: u64,
    pub bytes: u64,
    pub findings: u64,
    pub by_kind: BTreeMap<&'static str, u64>,
    pub by_action: BTreeMap<&'static str, u64>,
    /// Origin threads with findings at or above the chosen severity.
    pub origins: BTreeMap<u64, OriginSpan>,
    /// The most severe finding.
    #[serde(skip)]
    pub worst: Option<Severity>,
}

/// Runs the policy over statement streams.
#[derive(Debug)]
pub struct Scanner<'p> {
    policy: &'p Policy,
    lex: LexOptions,
    severity: Severity,
    summary: Summary,
}

impl<'p> Scanner<'p> {
    pub fn new(policy: &'p Policy, severity: Severity) -> Self {
        Self {
            policy,
            lex: LexOptions::default(),
            severity,
            summary: Summary::default(),
        }
    }

    /// Scans one input; each file starts a fresh session, as a separate client run would.
    pub fn scan<R: BufRead>(
        &mut self,
        name: &str,
        mut input: R,
        mut on_finding: impl FnMut(&Finding),
        mut on_progress: impl FnMut(u64),
    ) -> Result<(), ScanError> {
        let read_error = |source| ScanError::Read {
            name: name.to_owned(),
            source,
        };
        if looks_like_binary_binlog(input.fill_buf().map_err(read_error)?) {
            return self.scan_events(name, input, on_finding, on_progress);
        }
        let mut state = SessionState::new(String::new(), None, "utf8mb4".into());
        let mut guard = Guard::default();
        let mut restores: BTreeMap<u64, RestoreShape> = BTreeMap::new();
        let mut reader = StatementReader::new(input);
        let start_bytes = self.summary.bytes;
        while let Some(statement) = reader.next() {
            let statement = statement.map_err(read_error)?;
            let text = &statement.text;
            self.summary.statements += 1;
            if let Some(header) = leading_event_header(text) {
                state.observe_header(&header);
            }
            // Read in the stream's own session settings, as the server would read it.
            let lex = LexOptions {
                no_backslash_escapes: state.no_backslash_escapes,
                multi_byte: MultiByte::for_charset(&state.charset),
                ..self.lex
            };
            let judgement = guard.judge(text, state.event.as_ref(), &state, self.policy, &lex);
            if let Some(origin) = judgement.origin {
                let c = &judgement.classification;
                let shape = restores.entry(origin).or_default();
                shape.observe(c.kind, c.if_exists, state.foreign_key_checks);
                if shape.complete() {
                    self.summary.origins.entry(origin).or_default().dump_restore = true;
                }
            }
            if judgement.verdict.action == Action::QuarantineOrigin
                && let Some(origin) = judgement.origin
            {
                guard.quarantine_origin(origin, &judgement.verdict.rule);
            }
            if let Some(severity) = Severity::of(judgement.verdict.action) {
                let position = StreamPosition::of(&state);
                let finding = Finding {
                    file: name.to_owned(),
                    line: statement.line,
                    position: position.position,
                    end_log_pos: position.end_log_pos,
                    timestamp: position.timestamp,
                    gtid: position.gtid,
                    thread_id: judgement.origin,
                    database: state.database.clone(),
                    kind: judgement.classification.kind.as_str(),
                    rule: judgement.verdict.rule.clone(),
                    action: judgement.verdict.action.as_str(),
                    statement: escape_for_message(text, FINDING_PREVIEW_CHARS),
                    severity,
                };
                self.count(&finding);
                on_finding(&finding);
            }
            // The stream's session settings apply to what follows, as on a server. Only these
            // kinds have session effects; skipping the others keeps bulk text fast.
            if matches!(
                judgement.classification.kind,
                StatementKind::SetSession
                    | StatementKind::Use
                    | StatementKind::Other
                    | StatementKind::Unparsable
            ) {
                for effect in session_effects(text, &lex) {
                    state.apply(&effect, |_| None);
                }
            }
            self.summary.bytes = start_bytes + reader.bytes_read();
            on_progress(self.summary.bytes);
        }
        self.summary.bytes = start_bytes + reader.bytes_read();
        Ok(())
    }

    fn count(&mut self, finding: &Finding) {
        let s = &mut self.summary;
        s.findings += 1;
        *s.by_kind.entry(finding.kind).or_default() += 1;
        *s.by_action.entry(finding.action).or_default() += 1;
        s.worst = s.worst.max(Some(finding.severity));
        if finding.severity >= self.severity
            && let Some(thread) = finding.thread_id
        {
            let span = s.origins.entry(thread).or_default();
            span.findings += 1;
            span.first_position = span.first_position.or(finding.position);
            span.last_position = finding.position.or(span.last_position);
        }
    }

    /// Whether anything at or above the chosen severity was found.
    pub fn found_serious(&self) -> bool {
        self.summary.worst.is_some_and(|w| w >= self.severity)
    }

    pub fn summary(&self) -> &Summary {
        &self.summary
    }
}

/// A finding for a person: where, what, which rule, and the statement.
pub fn render_finding(f: &Finding) -> String {
    // A raw binlog has no lines: its position says where.
    let mut at = vec![if f.line == 0 {
        f.file.clone()
    } else {
        format!("{}:{}", f.file, f.line)
    }];
    if let Some(p) = f.position {
        at.push(format!("at {p}"));
    }
    if let Some(t) = &f.timestamp {
        at.push(t.clone());
    }
    if let Some(g) = &f.gtid {
        at.push(format!("GTID {g}"));
    }
    if let Some(t) = f.thread_id {
        at.push(format!("thread {t}"));
    }
    if let Some(d) = &f.database {
        at.push(format!("db {d}"));
    }
    format!(
        "{} {} [rule {}] {}\n    {}\n",
        f.action.to_uppercase(),
        f.kind,
        f.rule,
        at.join(", "),
        f.statement
    )
}

/// The closing summary for a person.
pub fn render_summary(s: &Summary) -> String {
    let mut out = format!(
        "scanned {} statements ({:.1} MB); {} findings\n",
        s.statements,
        s.bytes as f64 / 1e6,
        s.findings
    );
    if !s.by_action.is_empty() {
        let actions: Vec<String> = s
            .by_action
            .iter()
            .map(|(a, n)| format!("{a} {n}"))
            .collect();
        out.push_str(&format!("  by action: {}\n", actions.join(", ")));
        let kinds: Vec<String> = s.by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
        out.push_str(&format!("  by kind:   {}\n", kinds.join(", ")));
    }
    for (thread, span) in &s.origins {
        out.push_str(&format!(
            "  origin thread {thread}: {} findings, first at {}, last at {}{}\n",
            span.findings,
            span.first_position.map_or("?".into(), |p| p.to_string()),
            span.last_position.map_or("?".into(), |p| p.to_string()),
            if span.dump_restore {
                "; looks like a dump being restored (FOREIGN_KEY_CHECKS=0, DROP TABLE IF EXISTS, CREATE TABLE, INSERT)"
            } else {
                ""
            },
        ));
    }
    out
}

#[path = "scan_events.rs"]
mod events;

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
