//! Conditions that read no column stay above an aggregate without GROUP BY.
//!
//! An aggregate without GROUP BY gives one row even for no rows in, so a condition above it is
//! not the same as that condition below it: `SELECT count(*) FROM t HAVING NULL` gives no row,
//! but filtering `t`'s rows by `NULL` first gives the row `0`. DataFusion's `push_down_filter`
//! pushes below an aggregate every condition whose columns are all grouping columns, which a
//! condition reading no column always is. Such a condition appears where the simplifier has
//! reduced part of one to a constant: `n NOT IN (-1, NULL)` becomes `n <> -1 AND NULL`.
//! [`PushDownFilterKeepingGlobalAggregates`] wraps DataFusion's rule and keeps the filters above
//! such an aggregate where they are (no condition that reads a column goes below one anyway);
//! everywhere else filters are pushed as before.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::Result;
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{Expr, Filter, LogicalPlan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

/// The name of the DataFusion rule this one wraps and takes the place of.
pub const WRAPS: &str = "push_down_filter";

#[derive(Debug)]
pub struct PushDownFilterKeepingGlobalAggregates(pub Arc<dyn OptimizerRule + Send + Sync>);

impl OptimizerRule for PushDownFilterKeepingGlobalAggregates {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.0.apply_order()
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = plan else { return self.0.rewrite(plan, config) };
        if !above_global_aggregate(&filter) {
            return self.0.rewrite(LogicalPlan::Filter(filter), config);
        }
        // Below an aggregate without GROUP BY, DataFusion pushes only the conditions that read
        // no column, which must stay: nothing goes below it. DataFusion would also merge a
        // filter into the filter below it and push the merged one on in the same step, so that
        // merge happens here.
        let (predicates, aggregate, merged) = merge_filters(filter);
        Ok(Transformed::new_transformed(with_filter(predicates, aggregate)?, merged))
    }
}

fn above_global_aggregate(filter: &Filter) -> bool {
    match filter.input.as_ref() {
        LogicalPlan::Filter(child) => above_global_aggregate(child),
        LogicalPlan::Aggregate(aggregate) => aggregate.group_expr.is_empty(),
        _ => false,
    }
}

/// The conjuncts of `filter` and of the filters right below it (theirs first, as DataFusion
/// orders them), the plan below them all, and whether there was more than one filter.
fn merge_filters(filter: Filter) -> (Vec<Expr>, LogicalPlan, bool) {
    let mut predicates = split_conjunction_owned(filter.predicate);
    let mut below = Arc::unwrap_or_clone(filter.input);
    let mut merged = false;
    while let LogicalPlan::Filter(child) = below {
        let mut child_predicates = split_conjunction_owned(child.predicate);
        for p in predicates {
            if !child_predicates.contains(&p) {
                child_predicates.push(p);
            }
        }
        predicates = child_predicates;
        below = Arc::unwrap_or_clone(child.input);
        merged = true;
    }
    (predicates, below, merged)
}

fn with_filter(predicates: Vec<Expr>, input: LogicalPlan) -> Result<LogicalPlan> {
    match conjunction(predicates) {
        Some(predicate) => Ok(LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(input))?)),
        None => Ok(input),
    }
}
