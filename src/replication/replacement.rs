//! What the guard sends in place of what it withholds, and the journal records that say what
//! that was. A replica advances its position by each event's size, so every replacement is an
//! event of exactly the original's size: a comment-only query (as MariaDB itself sends in place
//! of an event a replica cannot take) for a withheld event, a `RENAME TABLE` for a rewritten
//! `DROP TABLE`, each with its checksum recomputed.

use std::collections::HashMap;

use bytes::BytesMut;

use crate::binlog::query::{KeepStatus, rebuild_with_query};
use crate::binlog::{Event, EventData, EventHeader, EventType, OwnedTableMap, replace};
use crate::session::guard::{quarantine_table_name, quote_identifier};
use crate::sql::{LexOptions, classify};

use super::group::{Decision, Group};
use super::outcome::{EventPosition, Withheld};

/// The group's packets with its content events replaced by no-ops (GTID, BEGIN and COMMIT
/// kept), and the journal records of what was replaced.
pub(super) fn withhold(
    group: Group,
    d: &Decision,
    file: &str,
) -> Result<(Vec<BytesMut>, Vec<Withheld>), String> {
    let note = format!(
        "replaygate: withheld by rule '{}' ({}){}",
        d.verdict.rule,
        d.verdict.action,
        d.note
            .as_deref()
            .map(|n| format!(": {n}"))
            .unwrap_or_default()
    );
    let content = group.held.iter().filter(|(_, keep)| !keep).map(|(p, _)| p);
    let records = describe_withheld(content, &group, d, file);
    let mut packets = Vec::with_capacity(group.held.len());
    for (packet, keep) in group.held {
        if keep {
            packets.push(packet);
            continue;
        }
        let header = EventHeader::parse(&packet[1..]).map_err(|e| e.to_string())?;
        if header.event_type == EventType::FORMAT_DESCRIPTION {
            return Err("a format description inside a transaction".into());
        }
        let no_op = replace::no_op(&header, group.format.checksum, &note)
            .ok_or_else(|| format!("the {} event is too small to replace", header.event_type))?;
        let mut replaced = BytesMut::with_capacity(no_op.len() + 1);
        replaced.extend_from_slice(&[0]);
        replaced.extend_from_slice(&no_op);
        packets.push(replaced);
    }
    Ok((packets, records))
}

/// Rewrites the deciding DROP TABLE of `group` (still held) into a RENAME of the same size in
/// place; the journal records of the original.
pub(super) fn rewrite_drop(
    group: &mut Group,
    d: &Decision,
    file: &str,
) -> Result<Vec<Withheld>, String> {
    let Some(target) = &d.rewrite else {
        return Err("rewrite applies to DROP TABLE only".into());
    };
    if group.partly_sent || d.index >= group.held.len() {
        return Err("the statement already reached the replica".into());
    }
    if target.objects.is_empty() {
        return Err("the DROP TABLE names no table".into());
    }
    if target.database.is_none() && target.objects.iter().any(|o| o.schema.is_none()) {
        return Err("no database is selected to rename in".into());
    }
    // RENAME TABLE IF EXISTS is MariaDB's (10.5+); MySQL renames only what exists.
    let if_exists = if target.if_exists && group.format.is_mariadb() {
        "IF EXISTS "
    } else {
        ""
    };
    let rename = |name: &dyn Fn(&str) -> String| {
        let pairs = target
            .objects
            .iter()
            .map(|o| {
                let to = quote_identifier(&name(&o.name));
                match &o.schema {
                    Some(schema) => format!(
                        "{schema}.{} TO {schema}.{to}",
                        quote_identifier(&o.name),
                        schema = quote_identifier(schema)
                    ),
                    None => format!("{} TO {to}", quote_identifier(&o.name)),
                }
            })
            .collect::<Vec<_>>();
        format!("RENAME TABLE {if_exists}{}", pairs.join(", "))
    };
    // The SQL path's name first; a shorter one when that does not fit the event.
    let long = rename(&|t| quarantine_table_name(t, target.start));
    let short = rename(&|t| short_quarantine_name(t, target.start));
    let (packet, _) = &group.held[d.index];
    let original = &packet[1..];
    let post = group.format.post_header_len(EventType::QUERY).unwrap_or(13);
    let rebuilt = [&long, &short]
        .into_iter()
        .flat_map(|sql| [(sql, KeepStatus::All), (sql, KeepStatus::CharsetOnly)])
        .find_map(|(sql, keep)| {
            rebuild_with_query(
                original,
                post,
                group.format.checksum,
                sql.as_bytes(),
                keep,
                original.len(),
            )
            .map(|event| (sql.as_str(), event))
        })
        .ok_or_else(|| {
            format!(
                "the rewrite ({short}) does not fit in the DROP TABLE event's {} bytes, and a \
                 replica's position advances by event sizes: quarantine it instead",
                original.len()
            )
        })?;
    let (executed, rebuilt) = rebuilt;
    let mut records = describe_withheld(std::iter::once(packet), group, d, file);
    for r in &mut records {
        r.note = Some(format!("executed instead: {executed}"));
    }
    let mut replaced = BytesMut::with_capacity(rebuilt.len() + 1);
    replaced.extend_from_slice(&[0]);
    replaced.extend_from_slice(&rebuilt);
    group.held[d.index].0 = replaced;
    Ok(records)
}

/// `_rg_<n>_<table>`: the quarantine name of a rewrite that has no room for the long one.
fn short_quarantine_name(table: &str, n: u64) -> String {
    let prefix = format!("_rg_{n}_");
    let room = 64usize.saturating_sub(prefix.len());
    let mut name: String = table.chars().take(room).collect();
    while name.len() > room {
        name.pop();
    }
    format!("{prefix}{name}")
}

/// Journal entries for withheld events of a group: each statement, and each rows statement
/// with its row counts.
fn describe_withheld<'p>(
    packets: impl Iterator<Item = &'p BytesMut>,
    group: &Group,
    d: &Decision,
    file: &str,
) -> Vec<Withheld> {
    let mut records = Vec::new();
    let mut tables: HashMap<u64, OwnedTableMap> = HashMap::new();
    let mut annotate: Option<Vec<u8>> = None;
    let mut rows_note: Vec<String> = Vec::new();
    for packet in packets {
        let Ok(event) = Event::parse(&packet[1..], group.format.checksum) else {
            continue;
        };
        let h = event.header;
        let at = EventPosition {
            file: file.to_owned(),
            start: h.start_position(),
            end: u64::from(h.log_pos),
            gtid: group.gtid.clone(),
            timestamp: h.timestamp,
        };
        let base = |kind: String, statement: Vec<u8>| Withheld {
            at: at.clone(),
            event_type: h.event_type,
            thread_id: None,
            database: None,
            foreign_key_checks: true,
            unique_checks: true,
            charset_id: None,
            kind,
            statement,
            rule: d.verdict.rule.clone(),
            action: d.verdict.action,
            note: d.note.clone(),
        };
        match event.decode(&group.format) {
            Ok(EventData::Query(q)) => {
                let lex = LexOptions::default();
                let kind = classify(&q.query, &lex).kind.as_str().to_owned();
                let mut w = base(kind, q.query.to_vec());
                w.thread_id = Some(q.thread_id);
                w.database = q.database_name();
                w.foreign_key_checks = q.status.foreign_key_checks();
                w.unique_checks = q.status.unique_checks();
                w.charset_id = q.status.charset.map(|c| c.client);
                records.push(w);
            }
            Ok(EventData::Annotate(text) | EventData::RowsQuery(text)) => {
                annotate = Some(text.to_vec());
            }
            Ok(EventData::TableMap(t)) => {
                let t = t.into_owned();
                tables.insert(t.table_id, t);
            }
            Ok(EventData::Rows(r)) => {
                let table = tables.get(&r.table_id);
                let count = table
                    .and_then(|t| r.count_rows(t).ok().flatten())
                    .map_or("?".to_owned(), |n| n.to_string());
                let name = table.map_or_else(
                    || format!("table id {}", r.table_id),
                    |t| format!("{}.{}", t.database, t.table),
                );
                rows_note.push(format!("{} {count} rows of {name}", r.kind().as_str()));
                if r.ends_statement() {
                    let statement = annotate
                        .take()
                        .unwrap_or_else(|| format!("({} on {name})", h.event_type).into_bytes());
                    let mut w = base(format!("{}_rows", r.kind().as_str()), statement);
                    w.database = table.map(|t| t.database.clone());
                    let rows = rows_note.join(", ");
                    rows_note.clear();
                    w.note = Some(match &w.note {
                        Some(n) => format!("{n}; {rows}"),
                        None => rows,
                    });
                    records.push(w);
                }
            }
            _ => {}
        }
    }
    records
}
