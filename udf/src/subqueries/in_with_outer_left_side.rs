//! `x IN (SELECT v FROM ...)` inside a subquery, where `x` reads the outer query's row
//! (`(SELECT count(*) FROM t2 WHERE t1.c NOT IN (SELECT u.y FROM u WHERE u.z = t2.b))`).
//! The decorrelation rules turn an `IN` into a join on `x = v`, and with `x` an outer column
//! that join's condition is itself correlated, which no rule pulls out of the subquery: squall
//! refused such queries (0A000).
//!
//! This rewrite states the `IN` by its definition instead, as DataFusion's own rewrite states
//! `= ANY`: true if some row has `x = v`, else NULL if some row has `x = v` NULL, else false
//! (`NOT IN` the negation). Each of those is an `EXISTS` whose condition reads `x` from the
//! subquery's rows' side: a reference one level further out, which
//! [`super::across_levels`] then brings in like any other.

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, ExprSchema, Result, ScalarValue};
use datafusion::logical_expr::expr::{Exists, InSubquery};
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{lit, when, Expr, LogicalPlan, LogicalPlanBuilder, Subquery};

use super::{map_expressions_keeping_names, reads_outer_query};

/// `plan` (a subquery's) with every `IN` of its own nodes (not its subqueries') whose left side
/// reads an outer query stated by `EXISTS`.
pub fn rewrite(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    plan.transform_up(|node| {
        let schema = merge_schema(&node.inputs());
        map_expressions_keeping_names(node, |expr| {
            expr.transform_up(|e| match e {
                Expr::InSubquery(in_subquery) if reads_outer_query(&in_subquery.expr) => by_definition(in_subquery, &schema).map(Transformed::yes),
                e => Ok(Transformed::no(e)),
            })
        })
    })
}

/// `CASE WHEN EXISTS (... WHERE x = v) THEN true WHEN EXISTS (... WHERE (x = v) IS NULL) THEN
/// NULL ELSE false END` (true and false swapped for `NOT IN`). `schema` is the node's input's:
/// the columns of `x` that become outer references inside the subquery.
fn by_definition(in_subquery: InSubquery, schema: &DFSchema) -> Result<Expr> {
    let InSubquery { expr, subquery, negated } = in_subquery;
    let left = expr
        .transform(|e| match e {
            Expr::Column(column) => {
                let field = schema.field_from_column(&column)?;
                Ok(Transformed::yes(Expr::OuterReferenceColumn(Arc::clone(field), column)))
            }
            e => Ok(Transformed::no(e)),
        })?
        .data;
    let (qualifier, field) = subquery.subquery.schema().qualified_field(0);
    let right = Expr::Column(Column::new(qualifier.cloned(), field.name()));
    let equal = left.eq(right);
    let some_equal = exists_where(&subquery, equal.clone())?;
    let some_unknown = exists_where(&subquery, equal.is_null())?;
    when(some_equal, lit(!negated)).when(some_unknown, lit(ScalarValue::Boolean(None))).otherwise(lit(negated))
}

/// `EXISTS (subquery's rows WHERE condition)`.
fn exists_where(subquery: &Subquery, condition: Expr) -> Result<Expr> {
    let plan = LogicalPlanBuilder::from(subquery.subquery.as_ref().clone()).filter(condition)?.build()?;
    let outer_ref_columns = plan.all_out_ref_exprs();
    Ok(Expr::Exists(Exists {
        subquery: Subquery { subquery: Arc::new(plan), outer_ref_columns, spans: subquery.spans.clone() },
        negated: false,
    }))
}
