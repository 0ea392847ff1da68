//! Classification of one statement: what kind it is, which tables/views/databases it
//! targets, and whether replaying it can destroy data (the guard's question).
//!
//! Two engines, chosen per statement:
//!
//! * A **token fast path** over the existing [`Lexer`](super::Lexer) for the statements that
//!   make up almost all of a replay (INSERT, REPLACE, SELECT, SET, BEGIN/COMMIT, USE,
//!   BINLOG, UPDATE/DELETE with a top-level WHERE). It reads only the few tokens it needs:
//!   a 1 MB bulk INSERT is classified after its fourth token, never lexed to its end.
//! * **sqlparser** (MySQL dialect) for the statements whose details matter and are rare
//!   (DROP, ALTER, RENAME, TRUNCATE, CREATE, GRANT/REVOKE, UPDATE/DELETE without a
//!   top-level WHERE). It is fed the text the server would execute: comments removed,
//!   executed versioned comments expanded. It does not know much MySQL/MariaDB syntax
//!   (`DROP KEY`, `RENAME t2`, `DISABLE KEYS`, `WAIT n`, `DROP USER 'u'@'h'`, ...) and
//!   cannot take non-UTF-8 text, so when it fails a strict token grammar decides.
//!
//! When neither can tell, the result is [`StatementKind::Unparsable`], destructive when the
//! first keyword is (fail closed): a statement the guard cannot read must not slip through
//! just because it is new syntax. Classification is pure, infallible and never panics.
//!
//! Callers pass ONE statement (see [`split_statements`](super::split_statements)): text
//! after a top-level `;` is ignored.

mod cursor;
mod ddl;
mod dml;
#[cfg(test)]
mod golden_tests;
mod parsed;
#[cfg(test)]
mod tests;

use self::cursor::{Cursor, Keyword};
use super::token::LexOptions;

/// What a statement is, as far as the guard and the policy care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    /// `DROP [TEMPORARY] TABLE`.
    DropTable,
    /// `DROP VIEW`.
    DropView,
    /// `DROP DATABASE` / `DROP SCHEMA`.
    DropDatabase,
    /// `TRUNCATE [TABLE]`.
    Truncate,
    /// `ALTER TABLE` with a `DROP ...` (column, index, key, primary/foreign key, partition,
    /// constraint, check, period, system versioning), `TRUNCATE PARTITION` or
    /// `DISCARD TABLESPACE` operation.
    AlterTableDrop,
    /// Any other `ALTER TABLE`.
    AlterTable,
    /// `RENAME TABLE a TO b[, ...]`, and `ALTER TABLE a RENAME [TO|AS] b`.
    RenameTable,
    /// `DELETE` without a top-level `WHERE` (a `LIMIT` alone or a `WHERE` in a subquery does
    /// not count).
    DeleteWithoutWhere,
    /// `UPDATE` without a top-level `WHERE`.
    UpdateWithoutWhere,
    /// `CREATE [OR REPLACE] [TEMPORARY] TABLE`.
    CreateTable,
    /// `CREATE DATABASE` / `CREATE SCHEMA`.
    CreateDatabase,
    /// Other `CREATE` (index, view, trigger, procedure, function, event, sequence, ...).
    CreateOther,
    /// Other `DROP` (index, trigger, procedure, function, event, sequence, ...).
    DropOther,
    /// `GRANT`.
    Grant,
    /// `REVOKE`.
    Revoke,
    /// `DROP USER`.
    DropUser,
    /// `CREATE/ALTER/RENAME USER`, `SET PASSWORD`, `SET DEFAULT ROLE`, `CREATE/DROP ROLE`.
    AccountChange,
    /// `LOAD DATA [LOCAL] INFILE`, `LOAD XML`.
    LoadData,
    /// `BINLOG '...'` (base64 row events printed by mysqlbinlog/mariadb-binlog).
    BinlogEvent,
    /// `SET` of session or user variables, `SET NAMES`, `SET CHARACTER SET`, `SET
    /// TRANSACTION`, and the client's `\C charset` command.
    SetSession,
    /// `USE db`.
    Use,
    /// `BEGIN`, `START TRANSACTION`, `XA START`.
    Begin,
    /// `COMMIT`, `XA COMMIT`.
    Commit,
    /// `ROLLBACK` (not `ROLLBACK TO SAVEPOINT`), `XA ROLLBACK`.
    Rollback,
    /// `INSERT`.
    Insert,
    /// `REPLACE`.
    Replace,
    /// `UPDATE` with a top-level `WHERE`.
    Update,
    /// `DELETE` with a top-level `WHERE`.
    Delete,
    /// `SELECT`, `VALUES`, `TABLE t`, `WITH ... SELECT`, `(SELECT ...)`.
    Select,
    /// `CALL`.
    Call,
    /// A known statement of no interest to the guard (SHOW, FLUSH, LOCK TABLES, SET GLOBAL,
    /// ALTER DATABASE, ...), or text holding only comments.
    Other,
    /// Could not tell what it is.
    Unparsable,
}

/// Every kind with its snake_case name (the serde name, used in config files).
const KIND_NAMES: [(StatementKind, &str); 32] = {
    use StatementKind::*;
    [
        (DropTable, "drop_table"),
        (DropView, "drop_view"),
        (DropDatabase, "drop_database"),
        (Truncate, "truncate"),
        (AlterTableDrop, "alter_table_drop"),
        (AlterTable, "alter_table"),
        (RenameTable, "rename_table"),
        (DeleteWithoutWhere, "delete_without_where"),
        (UpdateWithoutWhere, "update_without_where"),
        (CreateTable, "create_table"),
        (CreateDatabase, "create_database"),
        (CreateOther, "create_other"),
        (DropOther, "drop_other"),
        (Grant, "grant"),
        (Revoke, "revoke"),
        (DropUser, "drop_user"),
        (AccountChange, "account_change"),
        (LoadData, "load_data"),
        (BinlogEvent, "binlog_event"),
        (SetSession, "set_session"),
        (Use, "use"),
        (Begin, "begin"),
        (Commit, "commit"),
        (Rollback, "rollback"),
        (Insert, "insert"),
        (Replace, "replace"),
        (Update, "update"),
        (Delete, "delete"),
        (Select, "select"),
        (Call, "call"),
        (Other, "other"),
        (Unparsable, "unparsable"),
    ]
};

impl StatementKind {
    /// All kinds, in declaration order.
    pub fn all() -> impl Iterator<Item = StatementKind> {
        KIND_NAMES.iter().map(|(kind, _)| *kind)
    }

    /// The snake_case name (`drop_table`), as serde writes it.
    pub fn as_str(&self) -> &'static str {
        KIND_NAMES
            .iter()
            .find(|(kind, _)| kind == self)
            .map_or("unparsable", |(_, name)| name)
    }

    /// The kind named `name` (snake_case, as in config files); `None` if unknown.
    pub fn parse(name: &str) -> Option<Self> {
        KIND_NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(kind, _)| *kind)
    }

    /// Data-definition statements: they change schemas, commit implicitly and are not
    /// undone by a rollback. Account statements (GRANT, REVOKE, users, roles) are not DDL here.
    pub fn is_ddl(&self) -> bool {
        use StatementKind::*;
        matches!(
            self,
            DropTable
                | DropView
                | DropDatabase
                | Truncate
                | AlterTableDrop
                | AlterTable
                | RenameTable
                | CreateTable
                | CreateDatabase
                | CreateOther
                | DropOther
        )
    }

    /// Whether a statement of this kind destroys data or access by itself (before the
    /// temporary-table and `OR REPLACE` adjustments).
    pub fn is_destructive(self) -> bool {
        use StatementKind::*;
        matches!(
            self,
            DropTable
                | DropView
                | DropDatabase
                | Truncate
                | AlterTableDrop
                | RenameTable
                | DeleteWithoutWhere
                | UpdateWithoutWhere
                | DropUser
                | Revoke
        )
    }
}

impl std::fmt::Display for StatementKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A table, view or database a statement names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectRef {
    /// The qualifying database (`shop` in `shop.orders`), if written.
    pub schema: Option<String>,
    /// The object name, unquoted (backticks removed, doubled backticks collapsed).
    /// For `DROP/CREATE DATABASE` this is the database and `schema` is `None`.
    pub name: String,
}

impl ObjectRef {
    /// An unqualified name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            schema: None,
            name: name.into(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// What [`classify`] found out about one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The statement's kind.
    pub kind: StatementKind,
    /// The tables/views/databases the statement targets: every dropped/truncated/altered
    /// name, the source names of a rename, the target table of INSERT/REPLACE/UPDATE/
    /// DELETE/LOAD DATA, the database of USE and CREATE/DROP DATABASE, the level of a
    /// GRANT/REVOKE (`db.*`). Best effort for the DML kinds.
    pub objects: Vec<ObjectRef>,
    /// Replaying it can destroy data or access: the destructive kinds (DROP TABLE/VIEW/
    /// DATABASE, TRUNCATE, ALTER ... DROP, RENAME, UPDATE/DELETE without WHERE, DROP USER,
    /// REVOKE), `CREATE OR REPLACE TABLE/DATABASE`, and unparsable text whose first keyword
    /// is DROP, TRUNCATE, ALTER, RENAME, DELETE, UPDATE, REVOKE or GRANT (fail closed).
    /// `DROP TEMPORARY TABLE` is not destructive.
    pub destructive: bool,
    /// `DROP ... IF EXISTS`, `CREATE ... IF NOT EXISTS`, `ALTER/RENAME TABLE IF EXISTS`.
    pub if_exists: bool,
    /// `DROP/CREATE TEMPORARY TABLE`.
    pub temporary: bool,
}

impl Classification {
    /// A classification of `kind` with no objects and the kind's default destructiveness.
    pub fn new(kind: StatementKind) -> Self {
        Self {
            kind,
            objects: Vec::new(),
            destructive: kind.is_destructive(),
            if_exists: false,
            temporary: false,
        }
    }

    fn with_objects(mut self, objects: Vec<ObjectRef>) -> Self {
        self.objects = objects;
        self
    }

    fn with_if_exists(mut self, if_exists: bool) -> Self {
        self.if_exists = if_exists;
        self
    }

    /// Marks a temporary table: dropping one loses nothing that outlives the session.
    fn with_temporary(mut self, temporary: bool) -> Self {
        self.temporary = temporary;
        if temporary && self.kind == StatementKind::DropTable {
            self.destructive = false;
        }
        self
    }

    /// `CREATE OR REPLACE TABLE/DATABASE` drops what exists first.
    fn with_or_replace(mut self, or_replace: bool) -> Self {
        if or_replace && !self.temporary {
            self.destructive = true;
        }
        self
    }

    /// What the statement is when no grammar matched: destructive if its first keyword is.
    fn unparsable(first: Option<Keyword>) -> Self {
        let mut c = Self::new(StatementKind::Unparsable);
        c.destructive = first.is_some_and(|k| k.is_destructive_verb());
        c
    }
}

/// Classifies one statement. Never fails, never panics; see the module docs.
pub fn classify(stmt: &[u8], opts: &LexOptions) -> Classification {
    let mut cursor = Cursor::new(stmt, opts);
    classify_at(&mut cursor, opts, 0)
}

/// Nesting allowed for statements that wrap another (`SET STATEMENT ... FOR`, `WITH`).
const MAX_NESTING: u32 = 4;

/// Classifies the statement starting at the cursor's next token.
fn classify_at(cur: &mut Cursor, opts: &LexOptions, nesting: u32) -> Classification {
    use StatementKind as K;
    let Some(first) = cur.peek(0) else {
        // Empty, or only comments (mariadb --comments sends event headers alone).
        return Classification::new(K::Other);
    };
    let Some(kw) = cur.keyword(0) else {
        return if cur.is_op(0, "(") {
            Classification::new(K::Select)
        } else if cur.is_op(0, "\\") && cur.is_kw(1, "C") {
            // The client's `\C charset` (mysqlbinlog prints `/*!\C utf8mb4 */`).
            Classification::new(K::SetSession)
        } else {
            Classification::unparsable(None)
        };
    };
    if nesting > MAX_NESTING {
        return Classification::unparsable(Some(kw));
    }
    match kw.as_bytes() {
        b"INSERT" => dml::insert(cur, K::Insert),
        b"REPLACE" => dml::insert(cur, K::Replace),
        b"SELECT" | b"VALUES" | b"TABLE" => Classification::new(K::Select),
        b"SET" => dml::set(cur, opts, nesting),
        b"BEGIN" => dml::begin(cur),
        b"START" => dml::start(cur),
        b"COMMIT" => Classification::new(K::Commit),
        b"ROLLBACK" => dml::rollback(cur),
        b"XA" => dml::xa(cur),
        b"USE" => dml::use_db(cur),
        b"BINLOG" => Classification::new(K::BinlogEvent),
        b"CALL" => Classification::new(K::Call),
        b"LOAD" => dml::load(cur),
        b"UPDATE" | b"DELETE" => dml::update_or_delete(cur, opts, kw),
        b"WITH" => dml::with(cur, opts, nesting),
        b"DROP" | b"ALTER" | b"RENAME" | b"TRUNCATE" | b"CREATE" | b"GRANT" | b"REVOKE" => {
            ddl::classify(cur.source(), opts, first.start, kw)
        }
        _ if kw.is_known_other() => Classification::new(K::Other),
        _ => Classification::unparsable(Some(kw)),
    }
}
