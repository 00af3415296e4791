//! An aggregate inside a subquery whose arguments are all the outer query's columns,
//! `SELECT (SELECT max(o.x) FROM i) FROM o`, belongs to the outer query in PostgreSQL (and the
//! SQL standard): it is computed over the outer query's rows, which makes the outer query an
//! aggregate. DataFusion computes it over the subquery's rows instead, a different answer
//! without an error. Until squall plans it as PostgreSQL does, such a query is refused (0A000).

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct RefuseOuterAggregates;

impl AnalyzerRule for RefuseOuterAggregates {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        let mut found = None;
        plan.apply_with_subqueries(|node| {
            if let LogicalPlan::Aggregate(aggregate) = node {
                for expr in &aggregate.aggr_expr {
                    expr.apply(|e| {
                        if let Expr::AggregateFunction(f) = e {
                            if of_outer_columns_only(f) {
                                found = Some(e.to_string());
                                return Ok(TreeNodeRecursion::Stop);
                            }
                            return Ok(TreeNodeRecursion::Jump);
                        }
                        Ok(TreeNodeRecursion::Continue)
                    })?;
                }
            }
            Ok(if found.is_some() { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        })?;
        match found {
            Some(aggregate) => Err(DataFusionError::NotImplemented(format!(
                "an aggregate of only the outer query's columns inside a subquery ({aggregate}) is not supported yet: PostgreSQL computes it over the outer query's rows"
            ))),
            None => Ok(plan),
        }
    }

    fn name(&self) -> &str {
        "squall_refuse_outer_aggregates"
    }
}

/// Whether `f`'s arguments and filter read outer columns and no column of their own query.
fn of_outer_columns_only(f: &AggregateFunction) -> bool {
    let (mut outer, mut own) = (false, false);
    let params = &f.params;
    for expr in params.args.iter().chain(params.filter.as_deref()) {
        let _ = expr.apply(|e| {
            match e {
                Expr::OuterReferenceColumn(..) => outer = true,
                Expr::Column(_) => own = true,
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        });
    }
    outer && !own
}
