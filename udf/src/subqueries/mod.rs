//! Scalar subqueries answer as PostgreSQL's do: one value, NULL for no rows, and error 21000
//! for more than one row.
//!
//! DataFusion turns scalar subqueries into joins, and a join has no notion of "more than one
//! row": `SELECT (SELECT a FROM t) FROM u` over a `t` of three rows gives every row of `u` three
//! times (Ballista turns off DataFusion's physical scalar subquery, the one operator that
//! checks). [`single_row::SingleRowSubqueries`] makes every scalar subquery that may give more
//! than one row an aggregate of its rows that counts them, which the join cannot multiply.
//!
//! What DataFusion cannot turn into joins, [`decorrelate::DecorrelateSubqueries`] turns into
//! joins with a domain of outer values (non-equality correlation under aggregates, EXISTS and IN
//! as values, correlated LIMITs).
//!
//! Before either decorrelation, [`across_levels::SubqueriesAcrossLevels`] leaves every subquery
//! referring only to the query right around it: a reference two or more levels out is read from
//! a domain joined one level in, a subquery expression that reads only the outer row is computed
//! beside it, an IN whose left side is the outer row's is stated by EXISTS
//! ([`in_with_outer_left_side`]), one whose left side holds a subquery computes it first
//! ([`computed_left_sides`]). [`outer_aggregates::OuterAggregates`] gives an aggregate of only
//! the outer query's columns to the outer query, as PostgreSQL does.
//!
//! A subquery in an inner join's `ON` is moved to a filter above the join first
//! ([`join_conditions`]).
//!
//! What is still left, the engine may answer by computing the uncorrelated subqueries first
//! ([`answered_first`]).

pub mod decorrelate;
pub mod filters_stay;
pub mod in_with_outer_left_side;
pub mod join_conditions;
pub mod outer_aggregates;
mod per_domain_row;
pub mod across_levels;
pub mod answered_first;
pub mod computed_left_sides;
pub mod set_comparison_names;
pub mod single_row;
pub mod single_row_value;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchemaRef, Result};
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder};

/// `node` rebuilt with `exprs` over `inputs`, showing the node above the columns of `schema` (the
/// node's own before): a node that passes its input's columns on (a filter) would also pass on
/// the columns a rewrite added to its input.
fn rebuilt_keeping_columns(node: &LogicalPlan, exprs: Vec<Expr>, inputs: Vec<LogicalPlan>, schema: &DFSchemaRef) -> Result<LogicalPlan> {
    let node = node.with_new_exprs(exprs, inputs)?;
    if node.schema().as_ref() == schema.as_ref() {
        return Ok(node);
    }
    let columns = schema.columns().into_iter().map(Expr::Column).collect::<Vec<_>>();
    LogicalPlanBuilder::from(node).project(columns)?.build()
}

/// `input` with `computed` (aliased expressions) as more columns after its own.
fn with_columns(input: LogicalPlan, computed: Vec<Expr>) -> Result<LogicalPlan> {
    let columns = input.schema().columns().into_iter().map(Expr::Column);
    let exprs = columns.chain(computed).collect::<Vec<_>>();
    LogicalPlanBuilder::from(input).project(exprs)?.build()
}

/// `node` with `f` applied to each of its expressions, rebuilt (its columns named as before,
/// see [`across_levels::with_names_of`]) only if `f` changed one.
fn map_expressions_keeping_names(node: LogicalPlan, f: impl FnMut(Expr) -> Result<Transformed<Expr>>) -> Result<Transformed<LogicalPlan>> {
    let before = node.clone();
    let node = node.map_expressions(f)?;
    if !node.transformed {
        return Ok(node);
    }
    let exprs = across_levels::with_names_of(&before, node.data.expressions());
    node.data.with_new_exprs(exprs, node.data.inputs().into_iter().cloned().collect()).map(Transformed::yes)
}

/// The plan of `e`'s subquery, if `e` is a subquery expression.
fn subquery_plan(e: &Expr) -> Option<&LogicalPlan> {
    match e {
        Expr::ScalarSubquery(s) => Some(&s.subquery),
        Expr::Exists(exists) => Some(&exists.subquery.subquery),
        Expr::InSubquery(in_subquery) => Some(&in_subquery.subquery.subquery),
        Expr::SetComparison(comparison) => Some(&comparison.subquery.subquery),
        _ => None,
    }
}

/// Whether `expr` holds a subquery expression (not counting its subqueries' own).
fn holds_subquery(expr: &Expr) -> bool {
    expr.exists(|e| Ok(subquery_plan(e).is_some())).unwrap_or(false)
}

/// Whether `expr` reads an outer query's column (not counting its subqueries' reads).
fn reads_outer_query(expr: &Expr) -> bool {
    expr.exists(|e| Ok(matches!(e, Expr::OuterReferenceColumn(..)))).unwrap_or(false)
}
