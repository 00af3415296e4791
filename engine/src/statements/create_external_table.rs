//! `CREATE EXTERNAL TABLE t STORED AS PARQUET | CSV LOCATION '<path or URL>'`: a table over
//! files squall reads but does not own. The statement is kept in the catalog and replayed at
//! start-up; relative paths are resolved against the server's working directory now, so they
//! keep meaning the same files.

use datafusion::logical_expr::{CreateExternalTable, DdlStatement, LogicalPlan};

use super::claim_name;
use crate::storage::catalog::Entry;
use crate::engine::absolutize_locations;
use crate::error::Result;
use crate::session::{Output, Session};

pub(super) async fn run(session: &Session, sql: &str, create: Box<CreateExternalTable>) -> Result<Output> {
    let Some(relation) = claim_name(session, &create.name, create.or_replace, create.temporary, create.if_not_exists).await? else {
        return Ok(Output::Done { tag: "CREATE EXTERNAL TABLE", rows: None });
    };
    let name = relation.name.clone();
    let engine = &session.engine;
    let base_dir = std::env::current_dir()?;
    let plan = absolutize_locations(LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)), &base_dir);
    // Registering reads the location (schema inference): a bad path fails here, before the
    // catalog records anything.
    engine.base.execute_logical_plan(plan).await?;
    if let Err(e) = engine.catalog.insert(Entry::External { name: name.clone(), ddl: sql.to_string(), base_dir }) {
        let _ = engine.base.deregister_table(name.as_str());
        return Err(e);
    }
    Ok(Output::Done { tag: "CREATE EXTERNAL TABLE", rows: None })
}
