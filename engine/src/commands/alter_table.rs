//! `ALTER TABLE t ADD COLUMN c type` and `ALTER TABLE t ALTER COLUMN c DROP NOT NULL` of a managed
//! (Delta) table: one commit changing its schema; files written before read the added column as
//! NULL; `ALTER TABLE t RENAME COLUMN a TO b` (a rewrite: see
//! [`crate::storage::delta::rename_column`]); `ALTER TABLE t RENAME TO u`. Superusers only, as DDL is.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::catalog::TableProvider;
use squall_sql::AlterTable;

use crate::access::checks::require_superuser;
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};
use crate::storage::catalog::Entry;
use crate::storage::delta::{errors, write::kernel_schema, LiveDeltaTable};

pub(super) async fn run(session: &Session, table: &str, change: &AlterTable) -> Result<Output> {
    require_superuser(session, "ALTER TABLE")?;
    let engine = &session.engine;
    let _ddl = engine.ddl_lock.lock().await;
    let Some(Entry::Managed { name, schema, location, .. }) = engine.catalog.get(table) else {
        return Err(match engine.catalog.get(table) {
            None => SquallError::UndefinedTable(format!("relation \"{table}\" does not exist")),
            Some(_) => SquallError::WrongObjectType(format!("\"{table}\" is not a table squall writes: ALTER TABLE changes managed tables")),
        });
    };
    let url = engine.tables.url_of(&name, location.as_deref())?;
    let has = |column: &str| schema.fields().iter().any(|f| f.name() == column);
    let delta = engine.tables.latest(&url).await?;
    let committer = session.committer().properties();
    let doing = format!("altering table \"{name}\"");
    match change {
        AlterTable::AddColumn { column, data_type, not_null } => {
            if has(column) {
                return Err(SquallError::DuplicateColumn(format!("column \"{column}\" of relation \"{name}\" already exists")));
            }
            if *not_null {
                return Err(SquallError::Unsupported(format!(
                    "column \"{column}\" would be NULL in the rows \"{name}\" has: add it without NOT NULL"
                )));
            }
            // A DEFAULT would fill the rows the table has; squall keeps no defaults yet (as
            // CREATE TABLE refuses them): said so, rather than a type "int default 3" not found.
            if data_type.split_whitespace().any(|word| word.eq_ignore_ascii_case("default")) {
                return Err(SquallError::Unsupported(format!(
                    "column \"{column}\" has a DEFAULT: squall does not keep column defaults yet; add the column without one and UPDATE its values"
                )));
            }
            let arrow_type = type_named(session, data_type).await?;
            let added = kernel_schema(&Schema::new(vec![Field::new(column, arrow_type, true)]))?;
            delta.add_columns().with_fields(added.fields().cloned().collect::<Vec<_>>()).with_commit_properties(committer).await.map_err(|e| errors::classify(&doing, e))?;
        }
        AlterTable::DropNotNull { column } => {
            if !has(column) {
                return Err(SquallError::UndefinedColumn(format!("column \"{column}\" of relation \"{name}\" does not exist")));
            }
            delta.drop_column_not_null().with_column(column).with_commit_properties(committer).await.map_err(|e| errors::classify(&doing, e))?;
        }
        AlterTable::RenameColumn { from, to } => {
            if !has(from) {
                return Err(SquallError::UndefinedColumn(format!("column \"{from}\" does not exist")));
            }
            if has(to) {
                return Err(SquallError::DuplicateColumn(format!("column \"{to}\" of relation \"{name}\" already exists")));
            }
            crate::statements::dependent_views::refuse_rename(engine, &format!("rename column {from} of table {name}"), &name)?;
            let state = crate::statements::row_changes::change_session(session);
            engine.tables.rename_column(&url, from, to, state, &session.committer()).await?;
        }
        AlterTable::RenameTo { name: new } => {
            crate::statements::dependent_views::refuse_rename(engine, &format!("rename table {name}"), &name)?;
            return rename(session, &name, new, schema, location).await;
        }
    }
    // The catalog and the registered table follow the Delta log.
    engine.tables.forget(&url);
    let provider = LiveDeltaTable::open(&engine.tables, url).await?;
    let schema = provider.schema().as_ref().clone();
    engine.catalog.replace(Entry::Managed { name: name.clone(), schema, location, moved_from: None })?;
    engine.base.deregister_table(name.as_str())?;
    engine.base.register_table(name.as_str(), Arc::new(provider))?;
    engine.plan_changes.note();
    Ok(Output::Done { tag: "ALTER TABLE", rows: None })
}

/// `ALTER TABLE old RENAME TO new`: the catalog entry, the grants and (for a table in the data
/// directory) its directory. The catalog first names the move (`moved_from`), then the directory
/// moves, then the catalog forgets the move: a crash at any point leaves a table a start can
/// finish moving ([`crate::engine::Engine`]'s restore), never one without its rows. Views that
/// name the old name are not rewritten (PostgreSQL's follow the table; squall's keep their text).
async fn rename(session: &Session, old: &str, new: &str, schema: Schema, location: Option<String>) -> Result<Output> {
    let engine = &session.engine;
    if engine.catalog.get(new).is_some() || session.ctx.table_exist(new).unwrap_or(false) {
        return Err(SquallError::DuplicateTable(format!("relation \"{new}\" already exists")));
    }
    let old_url = engine.tables.url_of(old, location.as_deref())?;
    let moving = location.is_none();
    let moved_from = moving.then(|| old.to_string());
    engine.catalog.rename(old, Entry::Managed { name: new.to_string(), schema: schema.clone(), location: location.clone(), moved_from })?;
    engine.users.rename_object(squall_sql::ObjectKind::Table, old, new)?;
    engine.base.deregister_table(old)?;
    engine.tables.forget(&old_url);
    if moving {
        engine.tables.finish_move(old, new)?;
        engine.catalog.replace(Entry::Managed { name: new.to_string(), schema, location: location.clone(), moved_from: None })?;
    }
    let provider = LiveDeltaTable::open(&engine.tables, engine.tables.url_of(new, location.as_deref())?).await?;
    engine.base.register_table(new, Arc::new(provider))?;
    engine.plan_changes.note();
    Ok(Output::Done { tag: "ALTER TABLE", rows: None })
}

/// The Arrow type SQL type `name` plans to, as a column of a CREATE TABLE would.
async fn type_named(session: &Session, name: &str) -> Result<datafusion::arrow::datatypes::DataType> {
    let plan = session.planner().sql(&format!("SELECT CAST(NULL AS {name}) AS c")).await.map_err(|_| SquallError::UndefinedObject(format!("type \"{name}\" does not exist")))?;
    Ok(plan.schema().field(0).data_type().clone())
}
