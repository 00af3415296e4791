//! `UPDATE t SET c = expr, ... [WHERE ...]` of a managed (Delta) table: one commit rewriting
//! the files that hold matching rows. Tag `UPDATE n`, n the rows changed.

use datafusion::logical_expr::{DmlStatement, Expr, LogicalPlan};

use super::row_changes::{change_session, check_assignment, filter_over_scan, unqualified, Target};
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};
use crate::storage::delta::errors;

pub(super) async fn run(session: &Session, dml: DmlStatement) -> Result<Output> {
    let target = Target::resolve(session, &dml.table_name, "update")?;
    // DataFusion plans SET as a projection giving every column its new value (the column
    // itself when it is not assigned), over the WHERE filter over the table.
    let LogicalPlan::Projection(projection) = dml.input.as_ref() else {
        return Err(SquallError::Internal(format!("an UPDATE planned as {}", dml.input.display())));
    };
    let predicate = filter_over_scan(&projection.input, "UPDATE")?;
    let mut assignments = Vec::new();
    for (value, field) in projection.expr.iter().zip(target.schema.fields()) {
        let value = match value {
            Expr::Alias(alias) => alias.expr.as_ref(),
            other => other,
        };
        if matches!(value, Expr::Column(c) if c.name == *field.name()) {
            continue; // not assigned
        }
        check_assignment(field.name(), value, &target.schema, projection.input.schema())?;
        assignments.push((field.name().clone(), unqualified(value.clone())?));
    }

    let mut update = target
        .open(session)
        .await?
        .update()
        .with_session_state(std::sync::Arc::new(change_session(session)))
        .with_session_fallback_policy(deltalake::delta_datafusion::SessionFallbackPolicy::RequireSessionState)
        .with_commit_properties(session.committer().properties());
    if let Some(predicate) = predicate {
        update = update.with_predicate(predicate);
    }
    for (column, value) in assignments {
        update = update.with_update(column, value);
    }
    let (_, metrics) = update.await.map_err(|e| errors::classify(format!("updating \"{}\"", target.name), e))?;
    target.changed(session);
    Ok(Output::Done { tag: "UPDATE", rows: Some(metrics.num_updated_rows as u64) })
}
