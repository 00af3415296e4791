//! `CREATE VIEW v AS query`: kept in the catalog as its statement and replayed at start-up.

use datafusion::logical_expr::{CreateView, DdlStatement, LogicalPlan};

use super::create_table::table_exists;
use super::user_table_name;
use crate::catalog::Entry;
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

pub(super) async fn run(session: &Session, sql: &str, create: CreateView) -> Result<Output> {
    let name = user_table_name(&create.name)?;
    if create.or_replace || create.temporary {
        return Err(SquallError::Unsupported("CREATE OR REPLACE and TEMPORARY views are not supported".into()));
    }
    let engine = &session.engine;
    let _ddl = engine.ddl_lock.lock().await;
    if table_exists(session, &name).await {
        return Err(SquallError::DuplicateTable(format!("relation \"{name}\" already exists")));
    }
    engine.base.execute_logical_plan(LogicalPlan::Ddl(DdlStatement::CreateView(create))).await?;
    if let Err(e) = engine.catalog.insert(Entry::View { name: name.clone(), ddl: sql.to_string() }) {
        let _ = engine.base.deregister_table(name.as_str());
        return Err(e);
    }
    Ok(Output::Done { tag: "CREATE VIEW", rows: None })
}
