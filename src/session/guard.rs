//! The guard stage: classify each statement, ask the policy, and follow origin threads.
//!
//! Pure bookkeeping, no I/O: [`Guard::judge`] turns a statement and the session into a
//! [`Judgement`]; the session carries it out (forward, ERR, OK, rewrite) and journals what it
//! withholds. The guard also remembers which origin threads were quarantined, so the rest of a
//! restore script (its CREATE TABLEs and INSERTs) is skipped while the application traffic
//! around it is applied, and which transaction of the stream a statement without a thread id
//! belongs to.

use std::collections::HashMap;

use crate::policy::{Action, NO_RULE, Policy, StatementContext, Verdict};
use crate::sql::{Classification, EventHeader, LexOptions, Lexer, StatementKind, classify};

use super::state::SessionState;

/// What the guard decided for one statement.
#[derive(Debug, Clone)]
pub struct Judgement {
    pub classification: Classification,
    pub verdict: Verdict,
    /// The origin thread the statement belongs to, when known.
    pub origin: Option<u64>,
    /// The statement is withheld because its origin was quarantined earlier (not by its own
    /// content); `quarantined_by` names the rule that quarantined the origin.
    pub quarantined_by: Option<String>,
    /// A COMMIT of a transaction whose statements were quarantined: the target must roll back
    /// what it holds of it instead of committing half a transaction.
    pub roll_back_instead: bool,
}

/// Origin-thread and stream-transaction tracking for one session.
#[derive(Debug, Default)]
pub struct Guard {
    /// Quarantined origin threads, with the rule that quarantined each.
    quarantined: HashMap<u64, String>,
    /// Inside a BEGIN ... COMMIT of the stream.
    in_stream_transaction: bool,
    /// The origin of the current stream transaction, learned from its first event with a
    /// thread id (MariaDB's GTID and Xid events carry none).
    transaction_origin: Option<u64>,
    /// The current transaction had statements withheld.
    transaction_withheld: bool,
    /// The current transaction already applied data statements on the target.
    transaction_applied_data: bool,
}

/// Whether a statement is nothing but whitespace and comments (stops at the first token).
pub(crate) fn is_only_comments(stmt: &[u8], lex: &LexOptions) -> bool {
    Lexer::new(stmt, lex).all(|token| token.kind.is_trivia())
}

/// Kinds that only set up session context (every event of mariadb-binlog output restates them),
/// so they are applied even for a quarantined origin: they hold no data and the statements of
/// other origins that follow rely on them.
fn is_context(kind: StatementKind) -> bool {
    matches!(kind, StatementKind::SetSession | StatementKind::Use)
}

impl Guard {
    /// Whether any origin has been quarantined.
    pub fn has_quarantined_origins(&self) -> bool {
        !self.quarantined.is_empty()
    }

    /// The origin of a statement seen under `event` (its own header or the last one seen).
    pub fn origin_of(&self, event: Option<&EventHeader>, state: &SessionState) -> Option<u64> {
        event.and_then(|e| e.thread_id).or_else(|| {
            if self.in_stream_transaction {
                self.transaction_origin
            } else {
                None
            }
            .or_else(|| event.is_none().then_some(state.pseudo_thread_id).flatten())
        })
    }

    /// Classifies a statement and decides what to do with it.
    pub fn judge(
        &mut self,
        stmt: &[u8],
        event: Option<&EventHeader>,
        state: &SessionState,
        policy: &Policy,
        lex: &LexOptions,
    ) -> Judgement {
        let classification = classify(stmt, lex);
        let origin = self.origin_of(event, state);
        let kind = classification.kind;
        // `mariadb --comments` sends the event-header comments between statements on their own:
        // they are positions, not statements, and never withheld.
        if matches!(kind, StatementKind::Other | StatementKind::Unparsable)
            && is_only_comments(stmt, lex)
        {
            return Judgement {
                classification,
                verdict: Verdict {
                    action: Action::Allow,
                    rule: NO_RULE.to_owned(),
                },
                origin,
                quarantined_by: None,
                roll_back_instead: false,
            };
        }
        if self.in_stream_transaction && self.transaction_origin.is_none() {
            self.transaction_origin = event.and_then(|e| e.thread_id);
        }
        let quarantined_by = origin.and_then(|o| self.quarantined.get(&o).cloned());
        let mut judgement = match quarantined_by {
            Some(rule) if !is_context(kind) => Judgement {
                verdict: Verdict {
                    action: Action::Quarantine,
                    rule: rule.clone(),
                },
                quarantined_by: Some(rule),
                roll_back_instead: kind == StatementKind::Commit && state.in_transaction,
                classification,
                origin,
            },
            _ => {
                let verdict = policy.decide(&StatementContext {
                    classification: &classification,
                    database: state.database.as_deref(),
                    foreign_key_checks: state.foreign_key_checks,
                    unique_checks: state.unique_checks,
                    sql_log_bin: state.sql_log_bin,
                    origin_thread: origin,
                });
                Judgement {
                    classification,
                    verdict,
                    origin,
                    quarantined_by: None,
                    roll_back_instead: false,
                }
            }
        };
        // A withheld statement inside a transaction whose BEGIN reached the target: its COMMIT
        // must become a ROLLBACK, or the target would commit half of it. That is lossless only
        // while the transaction has applied nothing but context; past that, rolling back would
        // drop applied statements and committing would keep half: stop there instead.
        if judgement.verdict.action.withholds() && self.in_stream_transaction {
            if self.transaction_applied_data && judgement.verdict.action != Action::Halt {
                judgement.verdict = Verdict {
                    action: Action::Halt,
                    rule: format!(
                        "{} (inside a transaction that already applied statements, which can be \
                         neither half committed nor rolled back without losing them)",
                        judgement.verdict.rule
                    ),
                };
            }
            self.transaction_withheld = true;
        } else if self.in_stream_transaction
            && !is_context(kind)
            && !matches!(
                kind,
                StatementKind::Begin | StatementKind::Commit | StatementKind::Rollback
            )
        {
            self.transaction_applied_data = true;
        }
        if kind == StatementKind::Commit && self.transaction_withheld && state.in_transaction {
            judgement.roll_back_instead = true;
        }
        self.follow_transaction(kind);
        judgement
    }

    /// Quarantines every later event of `origin` (quarantine-origin).
    pub fn quarantine_origin(&mut self, origin: u64, rule: &str) {
        self.quarantined
            .entry(origin)
            .or_insert_with(|| rule.to_owned());
    }

    fn follow_transaction(&mut self, kind: StatementKind) {
        match kind {
            StatementKind::Begin => {
                self.in_stream_transaction = true;
                self.transaction_origin = None;
                self.transaction_withheld = false;
                self.transaction_applied_data = false;
            }
            StatementKind::Commit | StatementKind::Rollback => {
                self.in_stream_transaction = false;
                self.transaction_origin = None;
                self.transaction_withheld = false;
                self.transaction_applied_data = false;
            }
            _ => {}
        }
    }
}

/// The quarantine name a rewritten DROP TABLE renames a table to: `_replaygate_dropped_<table>_<n>`,
/// cut to MySQL's 64-character identifier limit.
pub fn quarantine_table_name(table: &str, n: u64) -> String {
    let suffix = format!("_{n}");
    let prefix = "_replaygate_dropped_";
    let room = 64 - prefix.len() - suffix.len();
    let mut name: String = table.chars().take(room).collect();
    while name.len() > room {
        name.pop();
    }
    format!("{prefix}{name}{suffix}")
}

/// Backtick-quotes an identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(thread: Option<u64>) -> EventHeader {
        EventHeader {
            position: Some(100),
            timestamp: None,
            server_id: Some(1),
            end_log_pos: Some(200),
            event_type: Some("Query".into()),
            thread_id: thread,
            gtid: None,
        }
    }

    fn state() -> SessionState {
        let mut s = SessionState::new("root".into(), Some("shop".into()), "utf8mb4".into());
        s.foreign_key_checks = false;
        s
    }

    #[test]
    fn a_quarantined_origin_loses_its_data_statements_but_not_its_context() {
        let policy = Policy::from_config(None).unwrap();
        let lex = LexOptions::default();
        let mut guard = Guard::default();
        let s = state();
        let drop = guard.judge(
            b"DROP TABLE orders",
            Some(&header(Some(9))),
            &s,
            &policy,
            &lex,
        );
        assert_eq!(drop.verdict.action, Action::Halt);
        guard.quarantine_origin(9, &drop.verdict.rule);

        let create = guard.judge(
            b"CREATE TABLE orders (id int)",
            Some(&header(Some(9))),
            &s,
            &policy,
            &lex,
        );
        assert_eq!(create.verdict.action, Action::Quarantine);
        assert_eq!(
            create.quarantined_by.as_deref(),
            Some("destructive-ddl-without-fk-checks")
        );
        let set = guard.judge(
            b"SET TIMESTAMP=1",
            Some(&header(Some(9))),
            &s,
            &policy,
            &lex,
        );
        assert_eq!(set.verdict.action, Action::Allow, "context is applied");
        let app = guard.judge(
            b"INSERT INTO orders VALUES (1)",
            Some(&header(Some(4))),
            &s,
            &policy,
            &lex,
        );
        assert_eq!(
            app.verdict.action,
            Action::Allow,
            "other origins are applied"
        );
    }

    #[test]
    fn statements_without_a_thread_belong_to_their_transactions_origin() {
        let policy = Policy::from_config(None).unwrap();
        let lex = LexOptions::default();
        let mut guard = Guard::default();
        guard.quarantine_origin(9, "r");
        let mut s = state();
        // GTID event: no thread id yet; BEGIN reaches the target.
        let begin = guard.judge(b"START TRANSACTION", Some(&header(None)), &s, &policy, &lex);
        assert_eq!(begin.verdict.action, Action::Allow);
        s.in_transaction = true;
        let insert = guard.judge(
            b"INSERT INTO t VALUES (1)",
            Some(&header(Some(9))),
            &s,
            &policy,
            &lex,
        );
        assert_eq!(insert.verdict.action, Action::Quarantine);
        // Row events and the Xid's COMMIT carry no thread id: they are the transaction's.
        let rows = guard.judge(b"BINLOG 'AAAA'", Some(&header(None)), &s, &policy, &lex);
        assert_eq!(rows.origin, Some(9));
        assert_eq!(rows.verdict.action, Action::Quarantine);
        let commit = guard.judge(b"COMMIT", Some(&header(None)), &s, &policy, &lex);
        assert!(
            commit.roll_back_instead,
            "half a transaction must not be committed"
        );
        s.in_transaction = false;
        let next = guard.judge(
            b"INSERT INTO t VALUES (2)",
            Some(&header(None)),
            &s,
            &policy,
            &lex,
        );
        assert_eq!(
            next.verdict.action,
            Action::Allow,
            "outside the transaction, no origin"
        );
    }

    #[test]
    fn withholding_after_applied_statements_in_a_transaction_halts() {
        let mut rules = Policy::from_config(None).unwrap();
        rules.set_destructive_action(Action::Quarantine);
        let lex = LexOptions::default();
        let mut guard = Guard::default();
        let mut s = state();
        guard.judge(b"BEGIN", Some(&header(Some(4))), &s, &rules, &lex);
        s.in_transaction = true;
        let insert = guard.judge(
            b"INSERT INTO t VALUES (1)",
            Some(&header(Some(4))),
            &s,
            &rules,
            &lex,
        );
        assert_eq!(insert.verdict.action, Action::Allow);
        let truncate = guard.judge(b"TRUNCATE t", Some(&header(Some(4))), &s, &rules, &lex);
        assert_eq!(
            truncate.verdict.action,
            Action::Halt,
            "{:?}",
            truncate.verdict
        );
    }

    #[test]
    fn comment_only_statements_are_never_withheld() {
        let policy = Policy::from_config(None).unwrap();
        let lex = LexOptions::default();
        let mut guard = Guard::default();
        guard.quarantine_origin(9, "r");
        let s = state();
        let comment = guard.judge(
            b"# at 2686\n#261125 17:56:47 server id 1 Query thread_id=9\n",
            Some(&header(Some(9))),
            &s,
            &policy,
            &lex,
        );
        assert_eq!(comment.verdict.action, Action::Allow);
        let versioned = guard.judge(
            b"/*!40000 ALTER TABLE t DISABLE KEYS */",
            Some(&header(Some(9))),
            &s,
            &policy,
            &lex,
        );
        assert_eq!(
            versioned.verdict.action,
            Action::Quarantine,
            "an executed versioned comment is code"
        );
    }

    #[test]
    fn quarantine_names_fit_mysql_identifiers() {
        assert_eq!(
            quarantine_table_name("orders", 3),
            "_replaygate_dropped_orders_3"
        );
        let long = "x".repeat(80);
        let name = quarantine_table_name(&long, 12345);
        assert_eq!(name.len(), 64);
        assert!(name.ends_with("_12345"));
        assert_eq!(quote_identifier("a`b"), "`a``b`");
    }
}
