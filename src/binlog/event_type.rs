//! Event type codes, MySQL's and MariaDB's, with the names `mariadb-binlog` prints.
//!
//! A newtype over the byte rather than an enum: an event of a type replaygate has never heard
//! of is still an event, carried through unchanged and named by its number.

use std::fmt;

/// The type byte of an event header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(pub u8);

impl EventType {
    pub const UNKNOWN: Self = Self(0);
    pub const START_V3: Self = Self(1);
    pub const QUERY: Self = Self(2);
    pub const STOP: Self = Self(3);
    pub const ROTATE: Self = Self(4);
    pub const INTVAR: Self = Self(5);
    pub const LOAD: Self = Self(6);
    pub const SLAVE: Self = Self(7);
    pub const CREATE_FILE: Self = Self(8);
    pub const APPEND_BLOCK: Self = Self(9);
    pub const EXEC_LOAD: Self = Self(10);
    pub const DELETE_FILE: Self = Self(11);
    pub const NEW_LOAD: Self = Self(12);
    pub const RAND: Self = Self(13);
    pub const USER_VAR: Self = Self(14);
    pub const FORMAT_DESCRIPTION: Self = Self(15);
    pub const XID: Self = Self(16);
    pub const BEGIN_LOAD_QUERY: Self = Self(17);
    pub const EXECUTE_LOAD_QUERY: Self = Self(18);
    pub const TABLE_MAP: Self = Self(19);
    pub const PRE_GA_WRITE_ROWS: Self = Self(20);
    pub const PRE_GA_UPDATE_ROWS: Self = Self(21);
    pub const PRE_GA_DELETE_ROWS: Self = Self(22);
    pub const WRITE_ROWS_V1: Self = Self(23);
    pub const UPDATE_ROWS_V1: Self = Self(24);
    pub const DELETE_ROWS_V1: Self = Self(25);
    pub const INCIDENT: Self = Self(26);
    pub const HEARTBEAT: Self = Self(27);
    pub const IGNORABLE: Self = Self(28);
    pub const ROWS_QUERY: Self = Self(29);
    pub const WRITE_ROWS: Self = Self(30);
    pub const UPDATE_ROWS: Self = Self(31);
    pub const DELETE_ROWS: Self = Self(32);
    pub const MYSQL_GTID: Self = Self(33);
    pub const ANONYMOUS_GTID: Self = Self(34);
    pub const PREVIOUS_GTIDS: Self = Self(35);
    pub const TRANSACTION_CONTEXT: Self = Self(36);
    pub const VIEW_CHANGE: Self = Self(37);
    pub const XA_PREPARE: Self = Self(38);
    pub const PARTIAL_UPDATE_ROWS: Self = Self(39);
    pub const TRANSACTION_PAYLOAD: Self = Self(40);
    pub const HEARTBEAT_V2: Self = Self(41);
    pub const GTID_TAGGED: Self = Self(42);
    pub const ANNOTATE_ROWS: Self = Self(160);
    pub const BINLOG_CHECKPOINT: Self = Self(161);
    pub const GTID: Self = Self(162);
    pub const GTID_LIST: Self = Self(163);
    pub const START_ENCRYPTION: Self = Self(164);
    pub const QUERY_COMPRESSED: Self = Self(165);
    pub const WRITE_ROWS_COMPRESSED_V1: Self = Self(166);
    pub const UPDATE_ROWS_COMPRESSED_V1: Self = Self(167);
    pub const DELETE_ROWS_COMPRESSED_V1: Self = Self(168);
    pub const WRITE_ROWS_COMPRESSED: Self = Self(169);
    pub const UPDATE_ROWS_COMPRESSED: Self = Self(170);
    pub const DELETE_ROWS_COMPRESSED: Self = Self(171);

    /// The name `mariadb-binlog` and the server's `SHOW BINLOG EVENTS` use, where there is one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "Unknown",
            1 => "Start_v3",
            2 => "Query",
            3 => "Stop",
            4 => "Rotate",
            5 => "Intvar",
            6 => "Load",
            7 => "Slave",
            8 => "Create_file",
            9 => "Append_block",
            10 => "Exec_load",
            11 => "Delete_file",
            12 => "New_load",
            13 => "RAND",
            14 => "User var",
            15 => "Format_desc",
            16 => "Xid",
            17 => "Begin_load_query",
            18 => "Execute_load_query",
            19 => "Table_map",
            20 => "Write_rows_event_old",
            21 => "Update_rows_event_old",
            22 => "Delete_rows_event_old",
            23 => "Write_rows_v1",
            24 => "Update_rows_v1",
            25 => "Delete_rows_v1",
            26 => "Incident",
            27 => "Heartbeat",
            28 => "Ignorable",
            29 => "Rows_query",
            30 => "Write_rows",
            31 => "Update_rows",
            32 => "Delete_rows",
            33 => "MySQL Gtid",
            34 => "MySQL Anonymous_Gtid",
            35 => "MySQL Previous_gtids",
            36 => "Transaction_context",
            37 => "View_change",
            38 => "XA_prepare",
            39 => "Update_rows_partial",
            40 => "Transaction_payload",
            41 => "Heartbeat_v2",
            42 => "Gtid_tagged",
            160 => "Annotate_rows",
            161 => "Binlog_checkpoint",
            162 => "Gtid",
            163 => "Gtid_list",
            164 => "Start_encryption",
            165 => "Query_compressed",
            166 => "Write_rows_compressed_v1",
            167 => "Update_rows_compressed_v1",
            168 => "Delete_rows_compressed_v1",
            169 => "Write_rows_compressed",
            170 => "Update_rows_compressed",
            171 => "Delete_rows_compressed",
            _ => return None,
        })
    }

    /// The rows event this is, if it is one.
    pub fn rows(self) -> Option<RowsEventType> {
        use RowsKind::*;
        let (kind, version, compressed) = match self.0 {
            20 => (Write, 0, false),
            21 => (Update, 0, false),
            22 => (Delete, 0, false),
            23 => (Write, 1, false),
            24 => (Update, 1, false),
            25 => (Delete, 1, false),
            30 => (Write, 2, false),
            31 => (Update, 2, false),
            32 => (Delete, 2, false),
            39 => (PartialUpdate, 2, false),
            166 => (Write, 1, true),
            167 => (Update, 1, true),
            168 => (Delete, 1, true),
            169 => (Write, 2, true),
            170 => (Update, 2, true),
            171 => (Delete, 2, true),
            _ => return None,
        };
        Some(RowsEventType {
            kind,
            version,
            compressed,
        })
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown event type {}", self.0),
        }
    }
}

/// What a rows event does to the rows it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowsKind {
    Write,
    Update,
    /// MySQL 8's update with partial JSON values.
    PartialUpdate,
    Delete,
}

impl RowsKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RowsKind::Write => "write",
            RowsKind::Update => "update",
            RowsKind::PartialUpdate => "partial_update",
            RowsKind::Delete => "delete",
        }
    }

    /// Update events carry a before and an after image of every row.
    pub fn has_two_images(self) -> bool {
        matches!(self, RowsKind::Update | RowsKind::PartialUpdate)
    }
}

/// The layout of a rows event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowsEventType {
    pub kind: RowsKind,
    /// 0 (MySQL 5.1 pre-GA), 1 or 2 (with the extra-data header).
    pub version: u8,
    /// MariaDB's zlib-compressed variants (`log_bin_compress`).
    pub compressed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_known_and_unknown_types() {
        assert_eq!(EventType::QUERY.to_string(), "Query");
        assert_eq!(EventType::GTID.to_string(), "Gtid");
        assert_eq!(EventType(99).to_string(), "unknown event type 99");
        let rows = EventType::DELETE_ROWS_COMPRESSED_V1.rows().unwrap();
        assert_eq!(
            (rows.kind, rows.version, rows.compressed),
            (RowsKind::Delete, 1, true)
        );
        assert!(EventType::XID.rows().is_none());
    }
}
