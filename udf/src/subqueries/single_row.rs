//! The analyzer rule that makes each scalar subquery that may give several rows count them (see
//! the module above): `(SELECT v FROM ...)` becomes
//! `(SELECT squall_single_row_value(count(*), first_value(v)) FROM (SELECT v FROM ...))`.
//!
//! An aggregate without GROUP BY gives exactly one row, so DataFusion's decorrelation takes it as
//! it takes any aggregated subquery: a correlation by equality becomes a GROUP BY of the
//! correlated columns, and the count per outer row is what the check reads. It runs before
//! DataFusion's check that a correlated scalar subquery is aggregated.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result, ScalarValue};
use datafusion::functions_aggregate::expr_fn::{count, first_value};
use datafusion::logical_expr::{lit, Expr, LogicalPlan, LogicalPlanBuilder, ScalarUDF, Subquery};
use datafusion::optimizer::AnalyzerRule;

use super::single_row_value::SingleRowValue;

#[derive(Debug, Default)]
pub struct SingleRowSubqueries;

impl AnalyzerRule for SingleRowSubqueries {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            node.map_expressions(|expr| {
                expr.transform_up(|e| match e {
                    Expr::ScalarSubquery(subquery) if !at_most_one_row(&subquery.subquery) => {
                        Ok(Transformed::yes(Expr::ScalarSubquery(counting_rows(subquery)?)))
                    }
                    e => Ok(Transformed::no(e)),
                })
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "squall_single_row_subqueries"
    }
}

/// Whether `plan` gives at most one row whatever its input: an aggregate without GROUP BY, a
/// LIMIT 1, one row of VALUES, under projections, filters and sorts.
fn at_most_one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Projection(p) => at_most_one_row(&p.input),
        LogicalPlan::SubqueryAlias(a) => at_most_one_row(&a.input),
        LogicalPlan::Filter(f) => at_most_one_row(&f.input),
        LogicalPlan::Sort(s) => at_most_one_row(&s.input),
        LogicalPlan::Aggregate(a) => a.group_expr.is_empty(),
        LogicalPlan::Limit(limit) => matches!(limit.fetch.as_deref(), Some(Expr::Literal(ScalarValue::Int64(Some(0 | 1)), _))),
        LogicalPlan::EmptyRelation(_) => true,
        LogicalPlan::Values(values) => values.values.len() <= 1,
        _ => false,
    }
}

/// `subquery` as one row: its row count and its (first) value, checked.
fn counting_rows(subquery: Subquery) -> Result<Subquery> {
    let inner = Arc::unwrap_or_clone(subquery.subquery);
    let (qualifier, field) = inner.schema().qualified_field(0);
    let name = field.name().clone();
    let value = Expr::Column(Column::new(qualifier.cloned(), name.clone()));
    let check = Arc::new(ScalarUDF::from(SingleRowValue::new()));
    let counted = LogicalPlanBuilder::from(inner)
        .aggregate(Vec::<Expr>::new(), vec![count(lit(1)).alias("__rows"), first_value(value, vec![]).alias("__value")])?
        .project(vec![check.call(vec![Expr::Column(Column::from_name("__rows")), Expr::Column(Column::from_name("__value"))]).alias(name)])?
        .build()?;
    Ok(Subquery { subquery: Arc::new(counted), ..subquery })
}
