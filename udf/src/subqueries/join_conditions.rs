//! A subquery in a join's `ON`: `FROM t1 JOIN t2 ON t2.a = (SELECT max(u.a) FROM u WHERE u.b <
//! t1.b)`. DataFusion's analyzer rejects a correlated scalar subquery there ("can only be used in
//! Projection, Filter, Aggregate plan nodes"), and its decorrelation of an `IN` there read the
//! join's columns where the subquery's join no longer had them (42703).
//!
//! [`JoinConditionSubqueries`] moves the conditions that hold a subquery out of an inner join's
//! `ON` into a filter above the join, where the decorrelation rules take them: for an inner join
//! the rows are the same (`ON c` keeps the pairs for which `c` is true, as `WHERE c` does). An
//! outer join's `ON` decides which rows are padded with NULLs instead, which a filter above cannot
//! say: refused with 0A000 naming the construct.

use std::sync::Arc;

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, JoinType, Result};
use datafusion::logical_expr::utils::{conjunction, split_conjunction_owned};
use datafusion::logical_expr::{Expr, Filter, Join, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

use super::holds_subquery;

#[derive(Debug, Default)]
pub struct JoinConditionSubqueries;

impl AnalyzerRule for JoinConditionSubqueries {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| match node {
            LogicalPlan::Join(join) if join.filter.as_ref().is_some_and(|e| holds_subquery(e)) => moved_out(join).map(Transformed::yes),
            node => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "squall_join_condition_subqueries"
    }
}

/// `join` with the `ON` conditions that hold a subquery in a filter above it. An outer join's
/// are left where they are when they read neither side (pgjdbc's `getTables` joins
/// `pg_description` on `classoid = 'pg_class'::regclass`, a subquery in the catalog emulation:
/// DataFusion gives such a condition to the side it reads), refused when a subquery reads a side.
fn moved_out(join: Join) -> Result<LogicalPlan> {
    if join.join_type != JoinType::Inner {
        if join.filter.as_ref().is_some_and(|f| subqueries_closed(f)) {
            return Ok(LogicalPlan::Join(join));
        }
        return Err(DataFusionError::NotImplemented(format!(
            "a subquery in the ON condition of a {} JOIN is not supported yet: squall cannot turn it into a join",
            join.join_type.to_string().to_uppercase()
        )));
    }
    let filter = join.filter.clone().expect("a join with a subquery in its condition");
    let (above, stays): (Vec<Expr>, Vec<Expr>) = split_conjunction_owned(filter).into_iter().partition(|e| holds_subquery(e));
    let join = Join::try_new(join.left, join.right, join.on, conjunction(stays), join.join_type, join.join_constraint, join.null_equality, join.null_aware)?;
    let predicate = conjunction(above).expect("a condition with a subquery");
    Ok(LogicalPlan::Filter(Filter::try_new(predicate, Arc::new(LogicalPlan::Join(join)))?))
}

/// Whether every subquery in `condition` reads no query around it.
fn subqueries_closed(condition: &Expr) -> bool {
    let mut closed = true;
    let _ = condition.apply(|e| {
        if let Some(plan) = super::subquery_plan(e) {
            closed &= super::across_levels::is_closed(plan);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    closed
}
