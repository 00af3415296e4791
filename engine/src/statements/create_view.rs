//! `CREATE VIEW v AS query`: kept in the catalog as its statement and replayed at start-up.

use datafusion::logical_expr::{CreateView, DdlStatement, LogicalPlan};

use super::claim_name;
use crate::storage::catalog::Entry;
use crate::error::Result;
use crate::session::{Output, Session};

pub(super) async fn run(session: &Session, sql: &str, create: CreateView) -> Result<Output> {
    let Some(relation) = claim_name(session, &create.name, create.or_replace, create.temporary, false).await? else {
        unreachable!("without IF NOT EXISTS a taken name is an error");
    };
    let name = relation.name.clone();
    let engine = &session.engine;
    engine.base.execute_logical_plan(LogicalPlan::Ddl(DdlStatement::CreateView(create))).await?;
    if let Err(e) = engine.catalog.insert(Entry::View { name: name.clone(), ddl: sql.to_string() }) {
        let _ = engine.base.deregister_table(name.as_str());
        return Err(e);
    }
    Ok(Output::Done { tag: "CREATE VIEW", rows: None })
}
