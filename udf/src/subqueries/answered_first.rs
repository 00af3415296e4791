//! Uncorrelated subqueries answered before the query that holds them, for a query that cannot be
//! planned otherwise.
//!
//! An expression that reads no column and whose subqueries read no query around them, `(SELECT
//! max(x) FROM t)`, `EXISTS (SELECT ...)`, `2 = ANY (SELECT ...)`, has one value for the whole
//! statement: PostgreSQL computes such a subquery once, as an InitPlan, and Spark runs it before
//! the query that holds it. squall leaves them in the plan, where DataFusion turns them into
//! joins, except where neither DataFusion's decorrelation nor squall's can: on the left side of
//! an `ANY`, `ALL` or `IN` whose subquery is correlated (the rewrite into `EXISTS` moves the left
//! side into the correlated subquery's condition, where no join can take a subquery), or beside
//! a correlated condition under `OR`. For those queries the engine computes this module's
//! expressions first, each as `SELECT expression` (`statements::subqueries_first`), and plans the
//! query again with their values in their place.

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};

use super::across_levels::is_closed;
use super::decorrelate::plan_is_volatile;

/// The expressions of `plan`'s nodes, at any depth, that read no column and hold subqueries that
/// read no query around them, the largest such (one inside another is computed with it).
/// Volatile ones are left: computed once, `random()` would be one value where each evaluation
/// draws its own.
///
/// In `SELECT expression` (the plan [`computing`] makes, no table), the select list's expressions
/// themselves are not taken, only what is inside them: answering one would be running that very
/// query again, without end (seed 14, chunk 65,000: the planning recursed until the chunk was
/// stopped).
pub fn uncorrelated_subqueries(plan: &LogicalPlan) -> Vec<Expr> {
    let mut found: Vec<Expr> = vec![];
    let _ = plan.apply_with_subqueries(|node| {
        let selected = match node {
            LogicalPlan::Projection(p) if matches!(p.input.as_ref(), LogicalPlan::EmptyRelation(_)) => p.expr.iter().map(strip_alias).collect(),
            _ => vec![],
        };
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if selected.contains(&e) || matches!(e, Expr::Alias(_)) || !is_constant_with_subqueries(e) {
                    return Ok(TreeNodeRecursion::Continue);
                }
                if !found.contains(e) && !found.iter().any(|f| holds(f, e)) {
                    found.push(e.clone());
                }
                Ok(TreeNodeRecursion::Jump)
            })
        })
    });
    found
}

fn strip_alias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(alias) => strip_alias(&alias.expr),
        e => e,
    }
}

/// The plan that computes `expr` (one of [`uncorrelated_subqueries`]): `SELECT expr`.
pub fn computing(expr: &Expr) -> Result<LogicalPlan> {
    LogicalPlanBuilder::empty(true).project(vec![expr.clone().alias("value")])?.build()
}

/// `plan` with each of `answers`' expressions replaced by its value, every node's columns named
/// as before.
pub fn with_answers(plan: LogicalPlan, answers: &[(Expr, ScalarValue)]) -> Result<LogicalPlan> {
    plan.transform_down_with_subqueries(|node| {
        super::map_expressions_keeping_names(node, |expr| {
            expr.transform_down(|e| match answers.iter().find(|(computed, _)| *computed == e) {
                Some((_, value)) => Ok(Transformed::new(Expr::Literal(value.clone(), None), true, TreeNodeRecursion::Jump)),
                None => Ok(Transformed::no(e)),
            })
        })
    })
    .map(|t| t.data)
}

/// Whether `e` reads no column or row of any query, holds a subquery, and every subquery in it reads
/// no query around it.
fn is_constant_with_subqueries(e: &Expr) -> bool {
    let mut columns = false;
    let mut subqueries = vec![];
    let _ = e.apply(|inner| {
        match inner {
            // An aggregate or window function reads its query's rows without naming a column
            // (`count(*)`); a placeholder is a value the statement is given.
            Expr::Column(_) | Expr::OuterReferenceColumn(..) | Expr::AggregateFunction(_) | Expr::WindowFunction(_) | Expr::Placeholder(_) | Expr::Unnest(_) => {
                columns = true
            }
            e => subqueries.extend(super::subquery_plan(e)),
        }
        Ok(if columns { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    !columns && !subqueries.is_empty() && !e.is_volatile() && subqueries.into_iter().all(|plan| is_closed(plan) && !plan_is_volatile(plan))
}

/// Whether `inner` is `outer` or inside it, at any depth of its subqueries.
fn holds(outer: &Expr, inner: &Expr) -> bool {
    let mut found = false;
    let _ = outer.apply(|e| {
        found = e == inner;
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    if found {
        return true;
    }
    let _ = outer.apply(|e| {
        let Some(plan) = super::subquery_plan(e) else { return Ok(TreeNodeRecursion::Continue) };
        let _ = plan.apply_with_subqueries(|node| {
            node.apply_expressions(|expr| {
                found |= expr.exists(|x| Ok(x == inner)).unwrap_or(false);
                Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
            })
        });
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}
