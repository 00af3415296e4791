//! `INSERT INTO t VALUES ...` and `INSERT INTO t SELECT ...` into a managed table. The rows are
//! computed where the query says (the executors, for a SELECT over tables) and written by the
//! coordinator as one Delta commit: the statement is atomic and durable once it returns.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::{DmlStatement, LogicalPlan, LogicalPlanBuilder};

use super::{query, user_table_name};
use crate::storage::catalog::Entry;
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};

pub(super) async fn run(session: &Session, dml: DmlStatement) -> Result<Output> {
    let name = user_table_name(&dml.table_name)?;
    let engine = &session.engine;
    let (url, schema) = match engine.catalog.get(&name) {
        Some(Entry::Managed { schema, location, .. }) => (engine.tables.url_of(&name, location.as_deref())?, std::sync::Arc::new(schema)),
        Some(Entry::External { .. }) => {
            return Err(SquallError::Unsupported(format!(
                "cannot INSERT into external table \"{name}\": squall does not write files it does not own"
            )))
        }
        Some(Entry::View { .. }) => {
            return Err(SquallError::WrongObjectType(format!("cannot insert into view \"{name}\"")))
        }
        None => return Err(SquallError::UndefinedTable(format!("relation \"{name}\" does not exist"))),
    };
    let input = nullable_values(dml.input.as_ref().clone())?;
    let rows = match super::insert_values::constant_rows(&input) {
        Some(rows) => rows,
        None => query::stream(session, input).await?,
    };
    let count = engine.tables.append(&url, schema, rows, &session.committer(), None).await?;
    engine.tables.after_append(&url);
    if !matches!(engine.catalog.get(&name), Some(Entry::Managed { .. })) {
        return Err(SquallError::UndefinedTable(format!("relation \"{name}\" was dropped during the INSERT")));
    }
    Ok(Output::Done { tag: "INSERT", rows: Some(count) })
}

/// `plan` with its VALUES typed nullable. DataFusion types the VALUES of an INSERT with the
/// table's nullability, so a NULL for a NOT NULL column failed inside DataFusion with an Arrow
/// error (XX000); typed nullable, the NULL reaches [`crate::storage::delta::write::conform`]' check, which names the
/// column as PostgreSQL does (23502).
fn nullable_values(plan: LogicalPlan) -> Result<LogicalPlan> {
    let plan = plan.transform_up(|node| match node {
        LogicalPlan::Values(values) => Ok(Transformed::yes(LogicalPlanBuilder::values(values.values)?.build()?)),
        // Above a changed node, the schema follows its input's.
        node => Ok(Transformed::yes(node.recompute_schema()?)),
    })?;
    Ok(plan.data)
}
