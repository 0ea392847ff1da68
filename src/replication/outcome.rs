//! What the event guard reports: where an event is in the primary's binlog, the events it
//! withholds (for the journal), the ones it logs, and why it halts.

use std::fmt;

use crate::binlog::EventType;
use crate::policy::Action;

/// Characters of a statement a halt or a log line shows.
pub(crate) const PREVIEW_CHARS: usize = 200;

/// Where an event sits in its primary's binlog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventPosition {
    /// The binlog file, from the stream's rotate events.
    pub file: String,
    /// The event's start offset (`# at`), when the header allows computing it.
    pub start: Option<u64>,
    /// The header's end position (the next event's start).
    pub end: u64,
    /// The GTID of the event group the event belongs to.
    pub gtid: Option<String>,
    /// The event's timestamp (seconds since the epoch, on its origin).
    pub timestamp: u32,
}

impl fmt::Display for EventPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = if self.file.is_empty() {
            "(file not yet named)"
        } else {
            &self.file
        };
        match self.start {
            Some(start) => write!(f, "{file}:{start}")?,
            None => write!(f, "{file} before {}", self.end)?,
        }
        if let Some(gtid) = &self.gtid {
            write!(f, " (GTID {gtid})")?;
        }
        Ok(())
    }
}

/// An event the guard kept from the replica (replaced by a no-op), for the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withheld {
    pub at: EventPosition,
    pub event_type: EventType,
    pub thread_id: Option<u32>,
    pub database: Option<String>,
    pub foreign_key_checks: bool,
    pub unique_checks: bool,
    /// `character_set_client` of the statement (a collation id).
    pub charset_id: Option<u16>,
    /// The statement kind (`drop_table`), or the rows event's (`delete_rows`).
    pub kind: String,
    /// The statement, or for rows events the annotated statement or a description.
    pub statement: Vec<u8>,
    pub rule: String,
    pub action: Action,
    pub note: Option<String>,
}

/// A statement a `log` rule matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub at: EventPosition,
    pub rule: String,
    pub kind: String,
    pub statement: String,
}

/// Why the stream stops: the event at `at` and everything after it never reach the replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt {
    pub at: EventPosition,
    /// The rule that decided, or what was wrong with the event.
    pub rule: String,
    /// The statement kind or event type.
    pub kind: String,
    pub thread_id: Option<u32>,
    /// A preview of the statement (empty for events that are not statements).
    pub statement: String,
    /// More about why, when the rule alone does not say it.
    pub why: Option<String>,
}

impl Halt {
    pub(crate) fn new(at: EventPosition, rule: impl Into<String>, kind: impl Into<String>) -> Self {
        Halt {
            at,
            rule: rule.into(),
            kind: kind.into(),
            thread_id: None,
            statement: String::new(),
            why: None,
        }
    }

    pub(crate) fn why(mut self, why: impl Into<String>) -> Self {
        self.why = Some(why.into());
        self
    }

    /// The whole story, for the log and `/status`.
    pub fn message(&self) -> String {
        let mut m = format!(
            "replaygate halted replication before {} at {}: rule '{}'",
            self.kind, self.at, self.rule
        );
        if let Some(why) = &self.why {
            m.push_str(&format!(" ({why})"));
        }
        if let Some(thread) = self.thread_id {
            m.push_str(&format!(", origin thread {thread}"));
        }
        if !self.statement.is_empty() {
            m.push_str(&format!(": {}", self.statement));
        }
        m.push_str(". Neither it nor anything after it was sent to the replica. To go on: ");
        m.push_str(if self.by_policy() {
            "change the policy (e.g. --on-destructive quarantine-origin) and restart replaygate, \
             or move the replica past this event."
        } else {
            "repair the source of the event, or move the replica past it."
        });
        m
    }

    /// A rule of the policy decided (rather than an unreadable or damaged event).
    pub fn by_policy(&self) -> bool {
        !matches!(
            self.rule.as_str(),
            "event checksum" | "unreadable event" | "uninspectable event"
        )
    }

    /// At most `max` bytes (a replica keeps 256 of a failed command's message in
    /// `Last_IO_Error`): the position and rule always, then as much of the statement as fits.
    pub fn short(&self, max: usize) -> String {
        let head = format!(
            "replaygate halted replication at {}: {} by rule '{}'",
            self.at, self.kind, self.rule
        );
        let tail = if self.statement.is_empty() {
            self.why.clone().unwrap_or_default()
        } else {
            self.statement.clone()
        };
        let mut out = head;
        if !tail.is_empty() && out.len() + 2 < max {
            out.push_str(": ");
            for c in tail.chars() {
                if out.len() + c.len_utf8() + 3 > max {
                    out.push_str("...");
                    break;
                }
                out.push(c);
            }
        }
        while out.len() > max {
            out.pop();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::escape_for_message;

    #[test]
    fn a_halt_names_position_gtid_rule_and_statement_and_fits_when_asked() {
        let at = EventPosition {
            file: "binlog.000002".into(),
            start: Some(1234),
            end: 1300,
            gtid: Some("0-1-57".into()),
            timestamp: 0,
        };
        let mut halt = Halt::new(at, "destructive-ddl-without-fk-checks", "drop_table");
        halt.statement = escape_for_message(
            &b"DROP TABLE IF EXISTS `orders` /* generated by server */".repeat(6),
            PREVIEW_CHARS,
        );
        halt.thread_id = Some(9);
        let long = halt.message();
        assert!(long.contains("binlog.000002:1234 (GTID 0-1-57)"), "{long}");
        assert!(long.contains("origin thread 9") && long.contains("DROP TABLE IF EXISTS"));
        let short = halt.short(230);
        assert!(short.len() <= 230, "{}", short.len());
        assert!(short.starts_with(
            "replaygate halted replication at binlog.000002:1234 (GTID 0-1-57): drop_table by rule"
        ));
        assert!(short.ends_with("..."), "{short}");
    }
}
