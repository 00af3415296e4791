//! `MERGE INTO t USING s ON ... WHEN MATCHED ... WHEN NOT MATCHED ...` of a managed (Delta)
//! table: one commit. Tag `MERGE n`, n the rows inserted, updated and deleted.
//!
//! The source is computed where its query says (the executors, for tables large enough) and
//! held in the coordinator, where delta-rs joins it with the table. A target row matched by
//! two source rows is an error (21000), as in PostgreSQL and the SQL standard.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, TableReference};
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{DmlStatement, Expr, MergeIntoAction, MergeIntoClauseKind, WriteOp};
use datafusion::prelude::SessionContext;
use futures::TryStreamExt;

use super::query;
use super::row_changes::{change_session, check_assignment, Target};
use crate::error::{Result, SquallError};
use crate::session::{Output, Session};
use crate::storage::delta::errors;

/// What the target is called in the expressions handed to delta-rs.
const TARGET: &str = "target";
/// What the source is called in them.
const SOURCE: &str = "source";

pub(super) async fn run(session: &Session, dml: DmlStatement) -> Result<Output> {
    let target = Target::resolve(session, &dml.table_name, "merge into")?;
    let WriteOp::MergeInto(merge) = &dml.op else {
        return Err(SquallError::Internal("MERGE planned as another statement".into()));
    };
    let source_plan = dml.input.as_ref().clone();
    let source_qualifier = one_qualifier(source_plan.schema())?;
    let target_schema = DFSchema::try_from_qualified_schema(dml.table_name.clone(), &target.schema)?;
    let combined = target_schema.join(source_plan.schema())?;
    let renamed = |expr: &Expr| renamed(expr.clone(), &dml.table_name, source_qualifier.as_ref());

    let rows: Vec<_> = query::stream(session, source_plan.clone()).await?.try_collect().await?;
    let source_schema = Arc::new(source_plan.schema().as_arrow().clone());
    let changes = change_session(session);
    let ctx = SessionContext::new_with_state(changes.clone());
    let source = ctx.read_table(Arc::new(MemTable::try_new(source_schema, vec![rows])?))?;

    let mut builder = target
        .open(session)
        .await?
        .merge(source, renamed(&merge.on)?)
        .with_source_alias(SOURCE)
        .with_target_alias(TARGET)
        .with_session_state(Arc::new(changes))
        .with_session_fallback_policy(deltalake::delta_datafusion::SessionFallbackPolicy::RequireSessionState)
        .with_commit_properties(session.committer().properties());
    let merge_error = |e| errors::classify(format!("merging into \"{}\"", target.name), e);
    for clause in &merge.clauses {
        let predicate = clause.predicate.as_ref().map(renamed).transpose()?;
        builder = match (&clause.kind, &clause.action) {
            (MergeIntoClauseKind::Matched, MergeIntoAction::Update(assignments)) => {
                let assignments = checked(assignments, &target, &combined, &renamed)?;
                builder
                    .when_matched_update(|mut update| {
                        if let Some(p) = predicate {
                            update = update.predicate(p);
                        }
                        assignments.into_iter().fold(update, |u, (column, value)| u.update(column, value))
                    })
                    .map_err(merge_error)?
            }
            (MergeIntoClauseKind::Matched, MergeIntoAction::Delete) => builder
                .when_matched_delete(|delete| match predicate {
                    Some(p) => delete.predicate(p),
                    None => delete,
                })
                .map_err(merge_error)?,
            (MergeIntoClauseKind::NotMatched | MergeIntoClauseKind::NotMatchedByTarget, MergeIntoAction::Insert { columns, values }) => {
                let columns: Vec<String> = if columns.is_empty() { target.schema.fields().iter().map(|f| f.name().clone()).collect() } else { columns.clone() };
                if columns.len() != values.len() {
                    return Err(SquallError::Syntax(format!("MERGE INSERT has {} columns but {} values", columns.len(), values.len())));
                }
                let assignments: Vec<(String, Expr)> = columns.into_iter().zip(values.iter().cloned()).collect();
                let mut assignments = checked(&assignments, &target, &combined, &renamed)?;
                // A NOT NULL column the INSERT leaves out would be NULL.
                for field in target.schema.fields().iter().filter(|f| !f.is_nullable()) {
                    if !assignments.iter().any(|(c, _)| c == field.name()) {
                        return Err(SquallError::NotNullViolation(format!("null value in column \"{}\" violates not-null constraint", field.name())));
                    }
                }
                // Columns not named are NULL, as in INSERT.
                for field in target.schema.fields() {
                    if !assignments.iter().any(|(c, _)| c == field.name()) {
                        assignments.push((field.name().clone(), Expr::Literal(datafusion::common::ScalarValue::try_from(field.data_type())?, None)));
                    }
                }
                builder
                    .when_not_matched_insert(|mut insert| {
                        if let Some(p) = predicate {
                            insert = insert.predicate(p);
                        }
                        assignments.into_iter().fold(insert, |i, (column, value)| i.set(column, value))
                    })
                    .map_err(merge_error)?
            }
            (MergeIntoClauseKind::NotMatchedBySource, MergeIntoAction::Update(assignments)) => {
                let assignments = checked(assignments, &target, &combined, &renamed)?;
                builder
                    .when_not_matched_by_source_update(|mut update| {
                        if let Some(p) = predicate {
                            update = update.predicate(p);
                        }
                        assignments.into_iter().fold(update, |u, (column, value)| u.update(column, value))
                    })
                    .map_err(merge_error)?
            }
            (MergeIntoClauseKind::NotMatchedBySource, MergeIntoAction::Delete) => builder
                .when_not_matched_by_source_delete(|delete| match predicate {
                    Some(p) => delete.predicate(p),
                    None => delete,
                })
                .map_err(merge_error)?,
            (kind, action) => {
                return Err(SquallError::Syntax(format!("a WHEN {kind:?} clause cannot {}", action_name(action))));
            }
        };
    }
    let (_, metrics) = builder.await.map_err(|e| match errors::classify(format!("merging into \"{}\"", target.name), e) {
        // delta-rs says so in words; PostgreSQL's code and message.
        SquallError::Storage(m) if m.contains("multiple source rows") => SquallError::CardinalityViolation(
            "MERGE command cannot affect row a second time: a target row matched more than one source row".into(),
        ),
        other => other,
    })?;
    target.changed(session);
    let rows = metrics.num_target_rows_inserted + metrics.num_target_rows_updated + metrics.num_target_rows_deleted;
    Ok(Output::Done { tag: "MERGE", rows: Some(rows as u64) })
}

fn action_name(action: &MergeIntoAction) -> &'static str {
    match action {
        MergeIntoAction::Update(_) => "UPDATE",
        MergeIntoAction::Insert { .. } => "INSERT",
        MergeIntoAction::Delete => "DELETE",
    }
}

/// Each assignment checked as PostgreSQL would, its value with delta-rs's names.
fn checked(
    assignments: &[(String, Expr)],
    target: &Target,
    combined: &DFSchema,
    renamed: &dyn Fn(&Expr) -> Result<Expr>,
) -> Result<Vec<(String, Expr)>> {
    assignments
        .iter()
        .map(|(column, value)| {
            check_assignment(column, value, &target.schema, combined)?;
            let field = target.schema.field_with_name(column).map_err(|_| {
                SquallError::UndefinedColumn(format!("column \"{column}\" of relation \"{}\" does not exist", target.name))
            })?;
            // Cast to the column's type here: delta-rs would otherwise reject a mismatch.
            let value = renamed(value)?;
            let value = if matches!(&value, Expr::Cast(c) if c.field.data_type() == field.data_type()) {
                value
            } else {
                Expr::Cast(datafusion::logical_expr::Cast::new(Box::new(value), field.data_type().clone()))
            };
            Ok((column.clone(), value))
        })
        .collect()
}

/// The qualifier every source column has (`None`: unqualified); 0A000 when they have several
/// (a join as the source: name it as a subquery).
fn one_qualifier(schema: &DFSchema) -> Result<Option<TableReference>> {
    let mut qualifiers = schema.iter().map(|(q, _)| q.cloned());
    let first = qualifiers.next().flatten();
    if qualifiers.any(|q| q != first) {
        return Err(SquallError::Unsupported("a MERGE source whose columns come from several tables is not supported; use USING (SELECT ...) AS s".into()));
    }
    Ok(first)
}

/// `expr` with the target's columns as `target.c` and the source's as `source.c`.
fn renamed(expr: Expr, target: &TableReference, source: Option<&TableReference>) -> Result<Expr> {
    Ok(expr
        .transform(|e| match e {
            Expr::Column(c) => {
                let relation = match &c.relation {
                    Some(r) if r == target => TARGET,
                    r if r.as_ref() == source => SOURCE,
                    _ => return Ok(Transformed::no(Expr::Column(c))),
                };
                Ok(Transformed::yes(Expr::Column(Column::new(Some(TableReference::bare(relation)), c.name))))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data)
}
