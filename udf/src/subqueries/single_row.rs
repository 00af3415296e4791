//! The analyzer rule that makes each scalar subquery that may give several rows count them (see
//! the module above): `(SELECT v FROM ...)` becomes
//! `squall_single_row_value((SELECT named_struct('rows', count(*), 'value', first_value(v)) FROM
//! (SELECT v FROM ...)))`.
//!
//! An aggregate without GROUP BY gives exactly one row, so DataFusion's decorrelation takes it as
//! it takes any aggregated subquery: a correlation by equality becomes a GROUP BY of the
//! correlated columns, and the count per outer row is what the check reads. The check stands
//! where the subquery stood, so it is made only where the subquery's value is used: an outer
//! query without rows, or a CASE branch no row takes, does not fail, as in PostgreSQL. It runs
//! before DataFusion's check that a correlated scalar subquery is aggregated.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result, ScalarValue};
use datafusion::functions::core::expr_fn::named_struct;
use datafusion::functions_aggregate::expr_fn::{count, first_value};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{lit, Expr, LogicalPlan, LogicalPlanBuilder, ScalarUDF, Subquery};
use datafusion::optimizer::AnalyzerRule;

use super::single_row_value::{SingleRowValue, ROWS, VALUE};

#[derive(Debug, Default)]
pub struct SingleRowSubqueries;

impl AnalyzerRule for SingleRowSubqueries {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let check = Arc::new(ScalarUDF::from(SingleRowValue::new()));
        plan.transform_up_with_subqueries(|node| {
            // The columns keep their names (the call would rename a subquery's column).
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let name = names.save(&expr);
                let checked = expr.transform_up(|e| match e {
                    Expr::ScalarSubquery(subquery) if !at_most_one_row(&subquery.subquery) || !may_be_null(&subquery.subquery) && !always_one_row(&subquery.subquery) => {
                        Ok(Transformed::yes(check.call(vec![Expr::ScalarSubquery(counting_rows(subquery)?)])))
                    }
                    e => Ok(Transformed::no(e)),
                })?;
                Ok(checked.update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "squall_single_row_subqueries"
    }
}

/// Whether DataFusion takes the subquery's value for one that may be NULL. It reads that from
/// the subquery's column, but a subquery without rows is NULL whatever its column: `(SELECT
/// r.id ... LIMIT 1) IS NULL` was simplified to false. The counted form may be NULL.
fn may_be_null(plan: &LogicalPlan) -> bool {
    plan.schema().field(0).is_nullable()
}

/// Whether `plan` gives exactly one row whatever its input: an aggregate without GROUP BY under
/// projections and sorts (no HAVING). Its value is NULL only if its column may be, and
/// DataFusion's decorrelation gives its value for no rows (`count(*)` is 0), which counting it
/// again would lose.
fn always_one_row(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::Projection(p) => always_one_row(&p.input),
        LogicalPlan::SubqueryAlias(a) => always_one_row(&a.input),
        LogicalPlan::Sort(s) => s.fetch.is_none() && always_one_row(&s.input),
        LogicalPlan::Aggregate(a) => a.group_expr.is_empty(),
        _ => false,
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

/// `subquery` as one row: its row count and its (first) value, as one struct.
fn counting_rows(subquery: Subquery) -> Result<Subquery> {
    let inner = Arc::unwrap_or_clone(subquery.subquery);
    let (qualifier, field) = inner.schema().qualified_field(0);
    let value = Expr::Column(Column::new(qualifier.cloned(), field.name().clone()));
    // A name of its own: the subquery's column may be named `r.b` (a cast of `r.b`), which
    // Ballista's plan encoding reads back as column `b` of `r`.
    let name = "__squall_counted";
    let counted = LogicalPlanBuilder::from(inner)
        .aggregate(Vec::<Expr>::new(), vec![count(lit(1)).alias("__rows"), first_value(value, vec![]).alias("__value")])?
        .project(vec![named_struct(vec![lit(ROWS), Expr::Column(Column::from_name("__rows")), lit(VALUE), Expr::Column(Column::from_name("__value"))]).alias(name)])?
        .build()?;
    Ok(Subquery { subquery: Arc::new(counted), ..subquery })
}
