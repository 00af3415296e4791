//! `DROP TABLE` and `DROP VIEW`. The catalog forgets the object first (durably), then a managed
//! table's directory is deleted: a crash in between leaves only files no table refers to, which the
//! next start removes.

use datafusion::common::TableReference;

use super::user_table_name;
use crate::storage::catalog::Entry;
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Table,
    View,
}

pub(super) async fn run(session: &Session, kind: Kind, name: &TableReference, if_exists: bool) -> Result<Output> {
    let tag = match kind {
        Kind::Table => "DROP TABLE",
        Kind::View => "DROP VIEW",
    };
    let name = user_table_name(name)?;
    let engine = &session.engine;
    let _ddl = engine.ddl_lock.lock().await;
    match (kind, engine.catalog.get(&name)) {
        (Kind::Table, Some(Entry::View { .. })) => {
            return Err(SquallError::WrongObjectType(format!("\"{name}\" is not a table; use DROP VIEW")))
        }
        (Kind::View, Some(Entry::Managed { .. } | Entry::External { .. })) => {
            return Err(SquallError::WrongObjectType(format!("\"{name}\" is not a view; use DROP TABLE")))
        }
        (_, None) if if_exists => return Ok(Output::Done { tag, rows: None }),
        (Kind::Table, None) => return Err(SquallError::UndefinedTable(format!("table \"{name}\" does not exist"))),
        (Kind::View, None) => return Err(SquallError::UndefinedTable(format!("view \"{name}\" does not exist"))),
        _ => {}
    }
    super::dependent_views::refuse_drop(engine, if kind == Kind::Table { "table" } else { "view" }, &name)?;
    let removed = engine.catalog.remove(&name)?;
    engine.base.deregister_table(name.as_str())?;
    engine.users.forget_object(squall_sql::ObjectKind::Table, &name)?;
    match removed {
        Some(Entry::Managed { location: None, .. }) => engine.tables.delete_managed(&name)?,
        // A table at a LOCATION is dropped from the catalog; its files stay, as an external
        // table's do (Spark's rule for tables with a LOCATION).
        Some(Entry::Managed { location: Some(location), .. }) => engine.tables.forget(&engine.tables.url_of(&name, Some(&location))?),
        _ => {}
    }
    Ok(Output::Done { tag, rows: None })
}
