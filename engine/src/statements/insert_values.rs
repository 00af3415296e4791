//! The rows of an `INSERT ... VALUES` of constants (literals, bound parameters, casts of them),
//! computed in place.
//!
//! Through the query path (routing, the logical optimizer's rules, physical planning and its
//! optimizer) a one-row VALUES cost a quarter of a single-row INSERT's CPU, more than writing the
//! row. Evaluated here it is the same DataFusion expressions on the same values; anything else (a
//! function call, a subquery, a cast squall's analyzer rewrites, an error) goes the query path,
//! which answers as it always did.

use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::DFSchema;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_expr::execution_props::ExecutionProps;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

/// The rows `plan` (a VALUES, maybe under a projection of its columns) stands for, when every
/// value is a constant and computes without error; `None` otherwise.
pub(super) fn constant_rows(plan: &LogicalPlan) -> Option<SendableRecordBatchStream> {
    let (projection, values) = match plan {
        LogicalPlan::Values(values) => (None, values),
        LogicalPlan::Projection(projection) => match projection.input.as_ref() {
            LogicalPlan::Values(values) => (Some(projection), values),
            _ => return None,
        },
        _ => return None,
    };
    let props = ExecutionProps::new();
    let planning = PhysicalPlanningContext::default();
    let no_columns = DFSchema::empty();
    let one_row = RecordBatch::try_new_with_options(Arc::new(Schema::empty()), vec![], &RecordBatchOptions::new().with_row_count(Some(1))).ok()?;
    // Each column of the VALUES: its value in every row, evaluated once on no input.
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(values.schema.fields().len());
    for (index, field) in values.schema.fields().iter().enumerate() {
        let mut cells = Vec::with_capacity(values.values.len());
        for row in &values.values {
            let expr = row.get(index)?;
            if !is_constant(expr) || rounds_to_integer(expr, &no_columns) {
                return None;
            }
            let value = create_physical_expr(expr, &no_columns, &props, &planning).ok()?.evaluate(&one_row).ok()?.into_array(1).ok()?;
            if value.data_type() != field.data_type() {
                return None;
            }
            cells.push(value);
        }
        let cells: Vec<&dyn datafusion::arrow::array::Array> = cells.iter().map(|c| c.as_ref()).collect();
        columns.push(datafusion::arrow::compute::concat(&cells).ok()?);
    }
    let values_batch = RecordBatch::try_new_with_options(
        Arc::new(values.schema.as_arrow().clone()),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(values.values.len())),
    )
    .ok()?;
    let batch = match projection {
        None => values_batch,
        Some(projection) => {
            let columns = projection
                .expr
                .iter()
                .map(|expr| {
                    if !is_projected_column(expr) || rounds_to_integer(expr, &values.schema) {
                        return None;
                    }
                    let value = create_physical_expr(expr, &values.schema, &props, &planning).ok()?.evaluate(&values_batch).ok()?;
                    value.into_array(values_batch.num_rows()).ok()
                })
                .collect::<Option<Vec<_>>>()?;
            RecordBatch::try_new_with_options(
                Arc::new(projection.schema.as_arrow().clone()),
                columns,
                &RecordBatchOptions::new().with_row_count(Some(values_batch.num_rows())),
            )
            .ok()?
        }
    };
    let schema = batch.schema();
    Some(Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::once(async move { Ok(batch) }))))
}

/// Whether `expr` casts a float or numeric to an integer type: PostgreSQL rounds there, which
/// squall's analyzer makes DataFusion do (`squall_udf::pg_integer_casts`); left to the query path.
fn rounds_to_integer(expr: &Expr, schema: &DFSchema) -> bool {
    use datafusion::common::tree_node::TreeNode;
    use datafusion::logical_expr::ExprSchemable;
    expr.exists(|e| {
        Ok(match e {
            Expr::Cast(datafusion::logical_expr::expr::Cast { expr, field }) | Expr::TryCast(datafusion::logical_expr::expr::TryCast { expr, field }) => {
                field.data_type().is_integer() && expr.get_type(schema).map_or(true, |from| squall_udf::functions::integer_rounding::PgRoundToInteger::rounds(&from))
            }
            _ => false,
        })
    })
    .unwrap_or(true)
}

/// A literal (a bound parameter is one by now), or a cast, sign or name of one.
fn is_constant(expr: &Expr) -> bool {
    match expr {
        Expr::Literal(..) => true,
        Expr::Cast(cast) => is_constant(&cast.expr),
        Expr::TryCast(cast) => is_constant(&cast.expr),
        Expr::Negative(inner) => is_constant(inner),
        Expr::Alias(alias) => is_constant(&alias.expr),
        _ => false,
    }
}

/// A column of the VALUES, or a constant, maybe cast and named (what an INSERT's projection
/// onto the table's columns is made of).
fn is_projected_column(expr: &Expr) -> bool {
    match expr {
        Expr::Column(_) => true,
        Expr::Cast(cast) => is_projected_column(&cast.expr),
        Expr::TryCast(cast) => is_projected_column(&cast.expr),
        Expr::Alias(alias) => is_projected_column(&alias.expr),
        other => is_constant(other),
    }
}
