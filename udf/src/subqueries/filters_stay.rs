//! A filter that holds a subquery stays where it is until the subquery is a join.
//!
//! DataFusion's `push_down_filter` renames a filter's columns as it moves the filter below a
//! `SubqueryAlias` or a projection (`r1.a` becomes `t1.a`), but not the outer references inside a
//! subquery of that filter. From `(x AND EXISTS (... r1.a ...)) OR y` above a join it also copies
//! `EXISTS (...) OR y` down to the join's `r1` side. Below `r1`'s alias the copy's subquery still
//! read `r1.a`; once decorrelated, its join condition named a column that is not there, and the
//! query failed with 42703 "column r1.a does not exist" (differential seed 14, queries 155587,
//! 166019, 190152 and 243521: an ANY or ALL whose subquery's own subquery compares with the outer
//! row, under OR).
//!
//! DataFusion counts no column of a subquery's outer references, so it takes such a condition
//! for one that reads nothing and also copies it to the other side of a join, where `r1` is not
//! there at all: the same query failed with "column r1.a does not exist (columns:
//! __squall_rows0, ...)". Where the names had matched, the copy would have filtered the wrong
//! rows without an error.
//!
//! [`FiltersWithSubqueriesStay`] wraps the rule: where it moves a filter that holds a subquery,
//! every outer reference of the subqueries in the plan it returns must name a column of the
//! input of the filter (or scan) that holds them; otherwise the filter stays where it was. The
//! decorrelation rules turn the subquery into a join in the optimizer's next pass, whose
//! `push_down_filter` then moves that join's conditions as usual. Nor does a condition on the
//! outer query's columns or one holding a subquery go into a table scan
//! ([`scan_takes_a_correlation_or_subquery`]), nor one on the outer query's columns below an
//! alias ([`correlations_under_alias`]).

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result};
use datafusion::logical_expr::{Expr, Filter, LogicalPlan};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

#[derive(Debug)]
pub struct FiltersWithSubqueriesStay(pub Arc<dyn OptimizerRule + Send + Sync>);

impl OptimizerRule for FiltersWithSubqueriesStay {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.0.apply_order()
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        let holds_subquery = matches!(&plan, LogicalPlan::Filter(filter) if holds_subquery(filter));
        let original = plan.clone();
        let moved = self.0.rewrite(plan, config)?;
        if moved.transformed
            && ((holds_subquery && !outer_references_resolve(&moved.data))
                || scan_takes_a_correlation_or_subquery(&moved.data)
                || correlations_under_alias(&moved.data) > correlations_under_alias(&original))
        {
            return Ok(Transformed::no(original));
        }
        Ok(moved)
    }
}

/// Whether a scan in `plan` (not its subqueries) was given a condition on the outer query's
/// columns or one holding a subquery. A Parquet table takes such a condition as a filter of its
/// own, beside the filter it leaves above, and the decorrelation rules take neither: no subquery
/// whose scan reads the outer query (`(SELECT count(*) FROM t WHERE outer.c < 2)`), nor a
/// subquery inside a scan (`x NOT IN (SELECT ... FROM t WHERE t.c < outer.c AND t.x IN (SELECT
/// ...))`): both were refused where an in-memory table answered. The condition stays a filter
/// until its subqueries are joins, when `push_down_filter`'s next pass gives the scan what it
/// can take as usual.
fn scan_takes_a_correlation_or_subquery(plan: &LogicalPlan) -> bool {
    let mut reads = false;
    let _ = plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            reads = scan.filters.iter().any(|f| {
                super::reads_outer_query(f) || super::holds_subquery(f)
            });
        }
        Ok(if reads { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    reads
}

/// How many conditions on the outer query's columns `plan` (not its subqueries) has below a
/// `SubqueryAlias`. Moving a condition below an alias, `push_down_filter` names its own columns
/// by the table's name (`u.a` becomes `t2.a`) but leaves the outer references as they are: in
/// `FROM t1 JOIN t2 ON EXISTS (SELECT 1 FROM t2 AS u WHERE u.a = t2.a)`, `u.a = t2.a` became
/// `t2.a = t2.a`, which the decorrelation then read as one column compared with itself: every row
/// of `t2` matched (wrong rows, no error). Such a condition stays above the alias until the
/// subquery is a join.
fn correlations_under_alias(plan: &LogicalPlan) -> usize {
    fn count(plan: &LogicalPlan, under_alias: bool) -> usize {
        let here = match plan {
            LogicalPlan::Filter(filter) if under_alias && super::reads_outer_query(&filter.predicate) => 1,
            LogicalPlan::TableScan(scan) if under_alias => scan.filters.iter().filter(|f| super::reads_outer_query(f)).count(),
            _ => 0,
        };
        let under_alias = under_alias || matches!(plan, LogicalPlan::SubqueryAlias(_));
        here + plan.inputs().into_iter().map(|input| count(input, under_alias)).sum::<usize>()
    }
    count(plan, false)
}

/// Whether, in `plan` (not its subqueries), every subquery of a filter's or a scan's conditions
/// refers only to outer columns that the filter's input (the scan's output) has.
fn outer_references_resolve(plan: &LogicalPlan) -> bool {
    let mut resolve = true;
    let _ = plan.apply(|node| {
        let (conditions, schema): (Vec<&Expr>, &DFSchema) = match node {
            LogicalPlan::Filter(filter) => (vec![&filter.predicate], filter.input.schema()),
            LogicalPlan::TableScan(scan) => (scan.filters.iter().collect(), &scan.projected_schema),
            _ => return Ok(TreeNodeRecursion::Continue),
        };
        resolve = conditions.into_iter().all(|condition| outer_references(condition).iter().all(|column| schema.has_column(column)));
        Ok(if resolve { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
    });
    resolve
}

/// The outer columns the subqueries of `condition` read (at their own level, not their
/// subqueries').
fn outer_references(condition: &Expr) -> Vec<Column> {
    let mut columns = vec![];
    let _ = condition.apply(|e| {
        let subquery = match e {
            Expr::Exists(exists) => &exists.subquery,
            Expr::InSubquery(in_subquery) => &in_subquery.subquery,
            Expr::ScalarSubquery(subquery) => subquery,
            Expr::SetComparison(comparison) => &comparison.subquery,
            _ => return Ok(TreeNodeRecursion::Continue),
        };
        let _ = subquery.subquery.apply(|node| {
            node.apply_expressions(|expression| {
                expression.apply(|inner| {
                    if let Expr::OuterReferenceColumn(_, column) = inner {
                        columns.push(column.clone());
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        });
        Ok(TreeNodeRecursion::Continue)
    });
    columns
}

/// Whether `filter`, or a filter right below it, has a subquery in its condition: the rule
/// merges a filter with the one below and moves the merged one on by itself (a `Filter: true`
/// above `__squall_rows3 > 0 OR EXISTS (...)` took it past the check: seed 14, query 305559).
fn holds_subquery(filter: &Filter) -> bool {
    super::holds_subquery(&filter.predicate)
        || match filter.input.as_ref() {
            LogicalPlan::Filter(child) => holds_subquery(child),
            _ => false,
        }
}
