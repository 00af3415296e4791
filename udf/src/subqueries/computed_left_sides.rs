//! `(SELECT count(*) FROM t3 WHERE t1.id > t3.c) NOT IN (SELECT ...)`: an `IN` whose left side
//! holds a subquery. The decorrelation rules move the left side into the join the `IN` becomes,
//! where its own subquery is left inside a join condition that no rule takes: squall refused
//! such queries (0A000), in a select list and inside other subqueries.
//!
//! This rewrite computes such a left side first, as a column of the node's input
//! (`__squall_left<n>`), and the `IN` reads that column: the left side's subquery is then one of
//! a projection, and the `IN` one with a plain left side, both forms the decorrelation rules
//! take. The left side is computed for every row of the input, also where a `CASE` or `OR`
//! would not have reached the `IN`: the same value, and an error it raises there (21000) one
//! PostgreSQL may raise too, by its plan's choice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, Result};
use datafusion::logical_expr::expr::InSubquery;
use datafusion::logical_expr::{Expr, LogicalPlan};

use super::across_levels::with_names_of;
use super::{holds_subquery, rebuilt_keeping_columns, with_columns};

/// Numbers the computed left sides apart.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Whether `plan` has an `IN` whose left side holds a subquery.
pub fn applies(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_with_subqueries(|node| {
        let _ = node.apply_expressions(|expr| {
            found |= expr.exists(|e| Ok(matches!(e, Expr::InSubquery(i) if holds_subquery(&i.expr))))?;
            Ok(TreeNodeRecursion::Continue)
        });
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}

/// `plan` with the left side of every `IN` of its own nodes (not its subqueries') that holds a
/// subquery computed as a column first, in nodes of one input. In the outermost query
/// (`outermost`), only in select lists: a WHERE's such `IN` is squall's early decorrelation's
/// (`decorrelate`), which Ballista's own rules, run first for the executors, expect to find.
pub fn rewrite(plan: LogicalPlan, outermost: bool) -> Result<Transformed<LogicalPlan>> {
    plan.transform_up(|node| {
        if outermost && !matches!(node, LogicalPlan::Projection(_)) {
            return Ok(Transformed::no(node));
        }
        let [input] = node.inputs()[..] else { return Ok(Transformed::no(node)) };
        let input = input.clone();
        let (before, schema) = (node.clone(), Arc::clone(node.schema()));
        let mut computed = vec![];
        let rewritten = node.map_expressions(|expr| {
            expr.transform_up(|e| match e {
                Expr::InSubquery(InSubquery { expr, subquery, negated }) if holds_subquery(&expr) && !expr.is_volatile() => {
                    let name = format!("__squall_left{}", NEXT.fetch_add(1, Ordering::Relaxed));
                    computed.push(expr.alias(name.as_str()));
                    let expr = Box::new(Expr::Column(Column::from_name(name)));
                    Ok(Transformed::yes(Expr::InSubquery(InSubquery { expr, subquery, negated })))
                }
                e => Ok(Transformed::no(e)),
            })
        })?;
        if computed.is_empty() {
            return Ok(rewritten);
        }
        let node = rewritten.data;
        let input = with_columns(input, computed)?;
        rebuilt_keeping_columns(&node, with_names_of(&before, node.expressions()), vec![input], &schema).map(Transformed::yes)
    })
}

