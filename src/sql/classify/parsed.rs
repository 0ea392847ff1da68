//! The sqlparser path: the statement as the server would execute it, parsed with the
//! MySQL dialect and mapped onto a [`Classification`].
//!
//! sqlparser sees the text after the lexer's reading of it: comments dropped, executed
//! versioned comments (`/*!50001 DROP VIEW v*/`) opened, skipped ones gone, so what it
//! parses is what the target runs. It returns `None` (and the token grammars decide) for
//! non-UTF-8 text, very large statements, parse errors, and statements it parses into
//! shapes not mapped here.

use std::panic::{AssertUnwindSafe, catch_unwind};

use sqlparser::ast::{
    AlterTable, AlterTableOperation, FromTable, GrantObjects, ObjectName, ObjectNamePart,
    ObjectType, Statement, TableFactor, TableWithJoins, UpdateTableFromKind,
};
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::{Classification, ObjectRef, StatementKind as K};
use crate::sql::lexer::Lexer;
use crate::sql::token::{LexOptions, TokenKind};

/// Larger statements go to the token grammars: parsing them costs more than it tells
/// (their kind and names are in their first tokens).
const MAX_PARSE_BYTES: usize = 256 * 1024;

/// Nesting sqlparser may descend into before giving up (it guards its own stack with it).
const RECURSION_LIMIT: usize = 48;

/// Classifies the statement starting at byte `at` of `src` with sqlparser, if it can.
pub(super) fn classify(src: &[u8], opts: &LexOptions, at: usize) -> Option<Classification> {
    if src.len().saturating_sub(at) > MAX_PARSE_BYTES {
        return None;
    }
    // sqlparser always reads `\` as an escape; under NO_BACKSLASH_ESCAPES it could end
    // a string elsewhere than the server does.
    if opts.no_backslash_escapes && src.get(at..).is_some_and(|rest| rest.contains(&b'\\')) {
        return None;
    }
    let sql = executed_text(src, opts, at)?;
    let dialect = MySqlDialect {};
    // sqlparser is not meant to panic; if some input makes it, the tokens decide.
    let statements = catch_unwind(AssertUnwindSafe(|| {
        Parser::new(&dialect)
            .with_recursion_limit(RECURSION_LIMIT)
            .try_with_sql(&sql)
            .and_then(|mut parser| parser.parse_statements())
    }))
    .ok()?
    .ok()?;
    match statements.as_slice() {
        [statement] => from_statement(statement),
        _ => None,
    }
}

/// The text from `at` up to the first top-level `;` with every comment replaced by a
/// space and executed versioned-comment markers removed; `None` if it is not UTF-8.
fn executed_text(src: &[u8], opts: &LexOptions, at: usize) -> Option<String> {
    let mut text = Vec::with_capacity(src.len().saturating_sub(at));
    for token in Lexer::new(src, opts).skip_while(|t| t.start < at) {
        if token.kind == TokenKind::Semicolon {
            break;
        }
        if token.kind.is_trivia() {
            if text.last().is_some_and(|&b| b != b' ') {
                text.push(b' ');
            }
        } else {
            text.extend_from_slice(token.text(src));
        }
    }
    String::from_utf8(text).ok()
}

fn from_statement(statement: &Statement) -> Option<Classification> {
    let classification = match statement {
        Statement::Drop {
            object_type,
            if_exists,
            names,
            temporary,
            table,
            ..
        } => drop(*object_type, names, table.as_ref())?
            .with_if_exists(*if_exists)
            .with_temporary(*temporary),
        Statement::DropFunction(drop) => {
            Classification::new(K::DropOther).with_if_exists(drop.if_exists)
        }
        Statement::DropProcedure { if_exists, .. } => {
            Classification::new(K::DropOther).with_if_exists(*if_exists)
        }
        Statement::DropTrigger(drop) => {
            Classification::new(K::DropOther).with_if_exists(drop.if_exists)
        }
        Statement::Truncate(truncate) => Classification::new(K::Truncate)
            .with_objects(objects(truncate.table_names.iter().map(|t| &t.name))?),
        Statement::AlterTable(alter) => alter_table(alter)?,
        Statement::RenameTable(renames) => Classification::new(K::RenameTable)
            .with_objects(objects(renames.iter().map(|r| &r.old_name))?),
        Statement::CreateTable(create) => Classification::new(K::CreateTable)
            .with_objects(vec![object(&create.name)?])
            .with_if_exists(create.if_not_exists)
            .with_temporary(create.temporary)
            .with_or_replace(create.or_replace),
        Statement::CreateDatabase {
            db_name,
            if_not_exists,
            or_replace,
            ..
        } => Classification::new(K::CreateDatabase)
            .with_objects(vec![database(db_name)?])
            .with_if_exists(*if_not_exists)
            .with_or_replace(*or_replace),
        Statement::CreateView(view) => {
            Classification::new(K::CreateOther).with_objects(vec![object(&view.name)?])
        }
        Statement::CreateIndex(index) => Classification::new(K::CreateOther)
            .with_objects(vec![object(&index.table_name)?])
            .with_if_exists(index.if_not_exists),
        Statement::CreateFunction(_)
        | Statement::CreateProcedure { .. }
        | Statement::CreateTrigger(_)
        | Statement::CreateSequence { .. } => Classification::new(K::CreateOther),
        Statement::CreateRole(_) | Statement::CreateUser(_) | Statement::AlterUser(_) => {
            Classification::new(K::AccountChange)
        }
        Statement::Grant(grant) => {
            Classification::new(K::Grant).with_objects(grant_objects(grant.objects.as_ref())?)
        }
        Statement::Revoke(revoke) => {
            Classification::new(K::Revoke).with_objects(grant_objects(revoke.objects.as_ref())?)
        }
        Statement::Delete(delete) => {
            let targets = if delete.tables.is_empty() {
                let (FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables)) =
                    &delete.from;
                relations(tables)
            } else {
                objects(delete.tables.iter())?
            };
            let kind = if delete.selection.is_some() {
                K::Delete
            } else {
                K::DeleteWithoutWhere
            };
            Classification::new(kind).with_objects(targets)
        }
        Statement::Update(update) => {
            let mut targets = relations(std::slice::from_ref(&update.table));
            if let Some(UpdateTableFromKind::BeforeSet(tables)) = &update.from {
                targets.extend(relations(tables));
            }
            let kind = if update.selection.is_some() {
                K::Update
            } else {
                K::UpdateWithoutWhere
            };
            Classification::new(kind).with_objects(targets)
        }
        _ => return None,
    };
    Some(classification)
}

fn drop(
    object_type: ObjectType,
    names: &[ObjectName],
    table: Option<&ObjectName>,
) -> Option<Classification> {
    let classification = match object_type {
        ObjectType::Table => Classification::new(K::DropTable).with_objects(objects(names)?),
        ObjectType::View => Classification::new(K::DropView).with_objects(objects(names)?),
        ObjectType::Database | ObjectType::Schema => {
            let [name] = names else { return None };
            Classification::new(K::DropDatabase).with_objects(vec![database(name)?])
        }
        ObjectType::User => Classification::new(K::DropUser),
        ObjectType::Role => Classification::new(K::AccountChange),
        ObjectType::Index => Classification::new(K::DropOther)
            .with_objects(table.and_then(object).into_iter().collect()),
        ObjectType::Sequence => Classification::new(K::DropOther),
        _ => return None,
    };
    Some(classification)
}

fn alter_table(alter: &AlterTable) -> Option<Classification> {
    if alter.table_type.is_some() || alter.only {
        return None;
    }
    let mut kind = K::AlterTable;
    for operation in &alter.operations {
        match operation {
            AlterTableOperation::DropConstraint { .. }
            | AlterTableOperation::DropColumn { .. }
            | AlterTableOperation::DropPrimaryKey { .. }
            | AlterTableOperation::DropForeignKey { .. }
            | AlterTableOperation::DropIndex { .. }
            | AlterTableOperation::DropPartitions { .. }
            | AlterTableOperation::DropProjection { .. }
            | AlterTableOperation::DropClusteringKey => kind = K::AlterTableDrop,
            AlterTableOperation::RenameTable { .. } if kind == K::AlterTable => {
                kind = K::RenameTable
            }
            _ => {}
        }
    }
    Some(
        Classification::new(kind)
            .with_objects(vec![object(&alter.name)?])
            .with_if_exists(alter.if_exists),
    )
}

/// An object name as schema + name; `None` for three-part or computed names.
fn object(name: &ObjectName) -> Option<ObjectRef> {
    let part = |p: &ObjectNamePart| p.as_ident().map(|ident| ident.value.clone());
    match name.0.as_slice() {
        [name] => Some(ObjectRef::named(part(name)?)),
        [schema, name] => Some(ObjectRef {
            schema: Some(part(schema)?),
            name: part(name)?,
        }),
        _ => None,
    }
}

fn objects<'a>(names: impl IntoIterator<Item = &'a ObjectName>) -> Option<Vec<ObjectRef>> {
    names.into_iter().map(object).collect()
}

/// A database name: one part.
fn database(name: &ObjectName) -> Option<ObjectRef> {
    match name.0.as_slice() {
        [part] => Some(ObjectRef::named(part.as_ident()?.value.clone())),
        _ => None,
    }
}

/// The tables named in FROM/UPDATE table references (joins included); derived tables
/// and functions name none.
fn relations(tables: &[TableWithJoins]) -> Vec<ObjectRef> {
    let factors = tables.iter().flat_map(|t| {
        std::iter::once(&t.relation).chain(t.joins.iter().map(|join| &join.relation))
    });
    factors
        .filter_map(|factor| match factor {
            TableFactor::Table { name, .. } => object(name),
            _ => None,
        })
        .collect()
}

/// The privilege level of GRANT/REVOKE ... ON (`db.*`, `db.t`); none for role grants.
fn grant_objects(objects_on: Option<&GrantObjects>) -> Option<Vec<ObjectRef>> {
    match objects_on {
        None => Some(Vec::new()),
        Some(GrantObjects::Tables(names)) => objects(names),
        Some(_) => None,
    }
}
