//! Uncorrelated subqueries answered before the query that holds them, for a query that cannot be
//! planned otherwise.
//!
//! A scalar subquery or EXISTS that reads no query around it has one value for the whole
//! statement: PostgreSQL computes it once, as an InitPlan, and Spark runs such subqueries before
//! the query that holds them. squall leaves them in the plan, where DataFusion turns them into
//! joins, except where neither DataFusion's decorrelation nor squall's can: on the left side of an
//! `ANY`, `ALL` or `IN` whose subquery is correlated (the rewrite into `EXISTS` moves the left
//! side into the correlated subquery's condition, where no join can take a subquery). For those
//! queries the engine answers this module's subqueries first (`statements::query`) and plans the
//! query again with their values in their place.

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlan, Subquery};

use super::across_levels::is_closed;
use super::decorrelate::plan_is_volatile;

/// One subquery to answer first.
#[derive(Clone, Debug, PartialEq)]
pub enum Uncorrelated {
    /// A scalar subquery: its one value, NULL for no rows, 21000 for more than one.
    Scalar(Subquery),
    /// `EXISTS`'s subquery: whether it has a row.
    Exists(Subquery),
}

impl Uncorrelated {
    pub fn plan(&self) -> &LogicalPlan {
        match self {
            Self::Scalar(s) | Self::Exists(s) => &s.subquery,
        }
    }
}

/// The scalar and `EXISTS` subqueries of `plan`, at any depth, that read no query around them,
/// outermost first (one inside another is answered with it). Volatile ones are left: answered
/// once, `random()` would be one value where each evaluation draws its own.
pub fn uncorrelated_subqueries(plan: &LogicalPlan) -> Vec<Uncorrelated> {
    let mut found: Vec<Uncorrelated> = vec![];
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                let candidate = match e {
                    Expr::ScalarSubquery(s) => Uncorrelated::Scalar(s.clone()),
                    Expr::Exists(exists) => Uncorrelated::Exists(exists.subquery.clone()),
                    _ => return Ok(TreeNodeRecursion::Continue),
                };
                let inside_found = found.iter().any(|f| contains_subquery(f.plan(), candidate.plan()));
                if !inside_found && is_closed(candidate.plan()) && !plan_is_volatile(candidate.plan()) && !found.contains(&candidate) {
                    found.push(candidate);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

/// `plan` with each of `answers`' subqueries replaced by its value (an `EXISTS` by true or
/// false, `NOT EXISTS` by the opposite), every node's columns named as before.
pub fn with_answers(plan: LogicalPlan, answers: &[(Uncorrelated, ScalarValue)]) -> Result<LogicalPlan> {
    let answer = |wanted: Uncorrelated| answers.iter().find(|(u, _)| *u == wanted).map(|(_, v)| v.clone());
    plan.transform_down_with_subqueries(|node| {
        super::map_expressions_keeping_names(node, |expr| {
            expr.transform(|e| {
                let value = match &e {
                    Expr::ScalarSubquery(s) => answer(Uncorrelated::Scalar(s.clone())),
                    Expr::Exists(exists) => answer(Uncorrelated::Exists(exists.subquery.clone())).map(|has_rows| match has_rows {
                        ScalarValue::Boolean(Some(has_rows)) => ScalarValue::Boolean(Some(has_rows != exists.negated)),
                        other => other,
                    }),
                    _ => None,
                };
                Ok(match value {
                    Some(value) => Transformed::yes(Expr::Literal(value, None)),
                    None => Transformed::no(e),
                })
            })
        })
    })
    .map(|t| t.data)
}

/// Whether `inner`'s plan is one of `outer`'s subqueries, at any depth.
fn contains_subquery(outer: &LogicalPlan, inner: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = outer.apply_with_subqueries(|node| {
        found = node == inner;
        Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}
