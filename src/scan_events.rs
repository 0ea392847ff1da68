//! `replaygate scan` of raw binlog files: the same findings as for binlog text, read from the
//! events themselves (no `mariadb-binlog` needed): each query event judged in the context it
//! carries (its database, `foreign_key_checks`, thread), quarantined origins followed, and the
//! rows each transaction deletes per table counted for `rows_deleted_over` rules.

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::time::{Duration, UNIX_EPOCH};

use super::{FINDING_PREVIEW_CHARS, Finding, RestoreShape, ScanError, Scanner, Severity};
use crate::binlog::{BinlogFile, EventData, FileError, OwnedTableMap};
use crate::policy::{Action, RowsContext, StatementContext, Verdict};
use crate::sql::{LexOptions, MultiByte, classify, escape_for_message};

/// The event time as `mariadb-binlog` prints it (`YYMMDD HH:MM:SS`, here in UTC).
fn event_time(timestamp: u32) -> String {
    let text =
        crate::journal::format_rfc3339(UNIX_EPOCH + Duration::from_secs(u64::from(timestamp)));
    // 2026-11-25T17:00:00.000Z -> 261125 17:00:00
    format!(
        "{}{}{} {}",
        &text[2..4],
        &text[5..7],
        &text[8..10],
        &text[11..19]
    )
}

impl Scanner<'_> {
    /// Scans one raw binlog file.
    pub(super) fn scan_events<R: BufRead>(
        &mut self,
        name: &str,
        input: R,
        mut on_finding: impl FnMut(&Finding),
        mut on_progress: impl FnMut(u64),
    ) -> Result<(), ScanError> {
        let broken = |detail: String| ScanError::Binlog {
            name: name.to_owned(),
            detail,
        };
        let mut file = BinlogFile::open(input).map_err(|e| broken(e.to_string()))?;
        let count_rows = self.policy.has_rows_rules();
        let start_bytes = self.summary.bytes;
        let mut gtid: Option<String> = None;
        let mut tables: HashMap<u64, OwnedTableMap> = HashMap::new();
        let mut deleted: BTreeMap<(String, String), u64> = BTreeMap::new();
        let mut annotate: Option<Vec<u8>> = None;
        let mut quarantined: HashMap<u32, String> = HashMap::new();
        let mut restores: BTreeMap<u64, RestoreShape> = BTreeMap::new();
        loop {
            let item = match file.next_event() {
                Ok(Some(item)) => item,
                Ok(None) => break,
                Err(e @ FileError::Truncated { .. }) => {
                    self.summary.bytes = start_bytes + file.offset();
                    return Err(broken(e.to_string()));
                }
                Err(e) => return Err(broken(e.to_string())),
            };
            let header = item.event.header;
            let offset = item.offset;
            if let Err(e) = item.event.verify_checksum() {
                return Err(broken(format!("the event at {offset}: {e}")));
            }
            self.summary.bytes = start_bytes + offset + u64::from(header.event_size);
            on_progress(self.summary.bytes);
            let finding = |kind: &'static str,
                           verdict: &Verdict,
                           thread: Option<u32>,
                           database: Option<String>,
                           statement: &[u8],
                           gtid: &Option<String>| {
                Severity::of(verdict.action).map(|severity| Finding {
                    file: name.to_owned(),
                    line: 0,
                    position: Some(offset),
                    end_log_pos: Some(u64::from(header.log_pos)),
                    timestamp: Some(event_time(header.timestamp)),
                    gtid: gtid.clone(),
                    thread_id: thread.map(u64::from),
                    database,
                    kind,
                    rule: verdict.rule.clone(),
                    action: verdict.action.as_str(),
                    statement: escape_for_message(statement, FINDING_PREVIEW_CHARS),
                    severity,
                })
            };
            let data = match item.event.decode(item.format) {
                Ok(data) => data,
                Err(e) => {
                    return Err(broken(format!(
                        "the {} event at {offset}: {e}",
                        header.event_type
                    )));
                }
            };
            let found = match data {
                EventData::Gtid(g) => {
                    gtid = Some(g.gtid.to_string());
                    deleted.clear();
                    None
                }
                EventData::MysqlGtid(g) => {
                    gtid = Some(g.to_string());
                    deleted.clear();
                    None
                }
                EventData::Xid(_) => {
                    deleted.clear();
                    None
                }
                EventData::Annotate(text) | EventData::RowsQuery(text) => {
                    annotate = Some(text.to_vec());
                    None
                }
                EventData::TableMap(t) => {
                    let t = t.into_owned();
                    tables.insert(t.table_id, t);
                    None
                }
                EventData::Rows(r) if count_rows && r.kind() == crate::binlog::RowsKind::Delete => {
                    self.summary.statements += 1;
                    let Some(table) = tables.get(&r.table_id) else {
                        continue;
                    };
                    let rows = r.count_rows(table).ok().flatten().unwrap_or(u64::MAX);
                    let key = (table.database.clone(), table.table.clone());
                    let before = deleted.get(&key).copied().unwrap_or(0);
                    let total = before.saturating_add(rows);
                    deleted.insert(key.clone(), total);
                    let rule = |n| {
                        self.policy.decide_rows(&RowsContext {
                            schema: &key.0,
                            table: &key.1,
                            deleted: n,
                        })
                    };
                    // Once per transaction and table: when the count first crosses a threshold.
                    match (rule(total), rule(before)) {
                        (Some(verdict), None) => {
                            let text = annotate.clone().unwrap_or_else(|| {
                                format!(
                                    "{total} rows deleted from {}.{} in one transaction",
                                    key.0, key.1
                                )
                                .into_bytes()
                            });
                            finding(
                                "delete_rows",
                                &verdict,
                                None,
                                Some(key.0.clone()),
                                &text,
                                &gtid,
                            )
                        }
                        _ => None,
                    }
                }
                EventData::Query(q) => {
                    self.summary.statements += 1;
                    let lex = LexOptions {
                        is_mariadb: item.format.is_mariadb(),
                        multi_byte: q
                            .status
                            .charset
                            .as_ref()
                            .and_then(|c| MultiByte::for_collation_id(c.client)),
                        ..self.lex
                    };
                    let c = classify(&q.query, &lex);
                    let database = q.database_name();
                    let origin = (q.thread_id != 0).then_some(q.thread_id);
                    let verdict = match origin.and_then(|o| quarantined.get(&o)) {
                        Some(rule) if !crate::session::guard::is_only_comments(&q.query, &lex) => {
                            Verdict {
                                action: Action::Quarantine,
                                rule: rule.clone(),
                            }
                        }
                        _ => self.policy.decide(&StatementContext {
                            classification: &c,
                            database: database.as_deref(),
                            foreign_key_checks: q.status.foreign_key_checks(),
                            unique_checks: q.status.unique_checks(),
                            sql_log_bin: true,
                            origin_thread: origin.map(u64::from),
                        }),
                    };
                    if let Some(o) = origin {
                        let shape = restores.entry(u64::from(o)).or_default();
                        shape.observe(c.kind, c.if_exists, q.status.foreign_key_checks());
                        if shape.complete() {
                            self.summary
                                .origins
                                .entry(u64::from(o))
                                .or_default()
                                .dump_restore = true;
                        }
                        if verdict.action == Action::QuarantineOrigin {
                            quarantined.entry(o).or_insert_with(|| verdict.rule.clone());
                        }
                    }
                    if matches!(
                        c.kind,
                        crate::sql::StatementKind::Commit | crate::sql::StatementKind::Rollback
                    ) {
                        deleted.clear();
                    }
                    finding(c.kind.as_str(), &verdict, origin, database, &q.query, &gtid)
                }
                _ => None,
            };
            if let Some(f) = found {
                self.count(&f);
                on_finding(&f);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_times_print_as_mariadb_binlog_prints_them() {
        assert_eq!(event_time(1_795_627_662), "261125 17:27:42");
    }
}
