//! What UPDATE, DELETE and MERGE share: the managed table they change, the session delta-rs
//! plans the change in, and the checks PostgreSQL makes before it runs.
//!
//! The change itself is delta-rs's (copy-on-write: the files holding changed rows are rewritten
//! and swapped in one commit). It runs in the coordinator, reading the table's files there;
//! a commit that loses to a conflicting one fails whole with 40001 and changes nothing.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, TableReference};
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
use deltalake::DeltaTable;
use url::Url;

use super::user_table_name;
use crate::error::{Result, SquallError};
use crate::session::Session;
use crate::storage::catalog::Entry;

/// The managed table a statement changes.
pub(super) struct Target {
    pub name: String,
    pub url: Url,
    pub schema: Arc<Schema>,
}

impl Target {
    /// `reference`, if it is a managed table; `verb` names the statement in refusals.
    pub fn resolve(session: &Session, reference: &TableReference, verb: &str) -> Result<Self> {
        let name = user_table_name(reference)?;
        let engine = &session.engine;
        match engine.catalog.get(&name) {
            Some(Entry::Managed { schema, location, .. }) => {
                Ok(Self { url: engine.tables.url_of(&name, location.as_deref())?, name, schema: Arc::new(schema) })
            }
            Some(Entry::External { .. }) => Err(SquallError::Unsupported(format!(
                "cannot {verb} external table \"{name}\": squall does not write files it does not own"
            ))),
            Some(Entry::View { .. }) => Err(SquallError::WrongObjectType(format!("cannot {verb} view \"{name}\""))),
            None => Err(SquallError::UndefinedTable(format!("relation \"{name}\" does not exist"))),
        }
    }

    /// The table at its latest version, to change.
    pub async fn open(&self, session: &Session) -> Result<DeltaTable> {
        session.engine.tables.latest(&self.url).await
    }

    /// After the change: queries see it, plans kept from before do not run again.
    pub fn changed(&self, session: &Session) {
        session.engine.plan_changes.note();
    }
}

/// Runs a change; once more if it lost a conflict (40001) to squall's own background compaction
/// (which changes no row, so the user's statement should not fail for it).
pub(super) async fn again_if_compacted<'a, F>(session: &'a Session, run: F) -> Result<crate::session::Output>
where
    F: Fn() -> futures::future::BoxFuture<'a, Result<crate::session::Output>>,
{
    let compactions = session.engine.tables.compactions();
    match run().await {
        Err(SquallError::SerializationFailure(_)) if session.engine.tables.compactions() != compactions => run().await,
        other => other,
    }
}

/// The session delta-rs plans a change in: the user's (functions, settings), with delta-rs's
/// planner for its own nodes.
pub(crate) fn change_session(session: &Session) -> datafusion::execution::SessionState {
    SessionStateBuilder::new_from_existing(session.ctx.state()).with_query_planner(deltalake::delta_datafusion::planner::DeltaPlanner::new()).build()
}

/// `expr` with its columns unqualified (`t.a` → `a`): delta-rs resolves them against the table.
pub(super) fn unqualified(expr: Expr) -> Result<Expr> {
    Ok(expr
        .transform(|e| match e {
            Expr::Column(c) if c.relation.is_some() => Ok(Transformed::yes(Expr::Column(Column::new_unqualified(c.name)))),
            other => Ok(Transformed::no(other)),
        })?
        .data)
}

/// A value assigned to column `column` of `schema`, as PostgreSQL checks it: the types must be
/// assignable (42804), and a NULL constant may not go into a NOT NULL column (23502). DataFusion
/// has already wrapped the value in a cast to the column's type; it is judged by what it was.
pub(super) fn check_assignment(column: &str, value: &Expr, schema: &Schema, input: &datafusion::common::DFSchema) -> Result<()> {
    let field = schema.field_with_name(column).map_err(|_| SquallError::UndefinedColumn(format!("column \"{column}\" does not exist")))?;
    let value = match value {
        Expr::Alias(alias) => alias.expr.as_ref(),
        other => other,
    };
    let original = match value {
        Expr::Cast(cast) => cast.expr.as_ref(),
        Expr::TryCast(cast) => cast.expr.as_ref(),
        other => other,
    };
    if !field.is_nullable() && matches!(original, Expr::Literal(v, _) if v.is_null()) {
        return Err(SquallError::NotNullViolation(format!("null value in column \"{column}\" violates not-null constraint")));
    }
    let from = original.get_type(input)?;
    if assignable(&from, field.data_type(), matches!(original, Expr::Literal(..))) {
        Ok(())
    } else {
        Err(SquallError::WithContext {
            code: "42804",
            message: format!(
                "column \"{column}\" is of type {} but expression is of type {}",
                crate::copy::from_stdin::sql_type_name(field.data_type()),
                crate::copy::from_stdin::sql_type_name(&from)
            ),
            context: "You will need to rewrite or cast the expression.".into(),
        })
    }
}

/// Whether PostgreSQL assigns a value of type `from` to a column of type `to` without an
/// explicit cast: within the numbers, within dates and times, anything to text, and a quoted
/// literal (PostgreSQL's unknown type) to anything, read as the column's type.
fn assignable(from: &DataType, to: &DataType, literal: bool) -> bool {
    use DataType::*;
    let text = |t: &DataType| matches!(t, Utf8 | LargeUtf8 | Utf8View);
    let number = |t: &DataType| t.is_numeric();
    let temporal = |t: &DataType| matches!(t, Date32 | Date64 | Timestamp(..));
    from == to
        || matches!(from, Null)
        || text(to)
        || (text(from) && literal)
        || (number(from) && number(to))
        || (temporal(from) && temporal(to))
        || (matches!(from, Binary | LargeBinary | BinaryView) && matches!(to, Binary | LargeBinary | BinaryView))
}

/// The one table `plan` reads, with the filter over it (`None`: every row); 0A000 for the
/// forms delta-rs does not change in place (UPDATE ... FROM, a join).
pub(super) fn filter_over_scan(plan: &LogicalPlan, verb: &str) -> Result<Option<Expr>> {
    fn is_scan(plan: &LogicalPlan) -> bool {
        match plan {
            LogicalPlan::TableScan(_) => true,
            LogicalPlan::SubqueryAlias(alias) => is_scan(&alias.input),
            _ => false,
        }
    }
    match plan {
        scan if is_scan(scan) => Ok(None),
        LogicalPlan::Filter(filter) if is_scan(&filter.input) => Ok(Some(unqualified(filter.predicate.clone())?)),
        _ => Err(SquallError::Unsupported(format!("{verb} with FROM or USING other tables is not supported; use MERGE"))),
    }
}
