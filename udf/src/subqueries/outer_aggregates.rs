//! An aggregate inside a subquery whose arguments are all the outer query's columns,
//! `SELECT (SELECT max(o.x) FROM i) FROM o`, belongs to the outer query in PostgreSQL (and the
//! SQL standard): it is computed over the outer query's rows (per group, if it has GROUP BY),
//! which makes the outer query an aggregate, and inside the subquery it is a constant: the
//! subquery is not an aggregate of its own for it, and gives one row per row of `i`.
//! DataFusion computed it over the subquery's rows instead, a different answer without an error.
//!
//! [`OuterAggregates`] plans it as PostgreSQL does: the aggregate moves into the outer query's
//! aggregate (one is made when the outer query has none and reads nothing but such aggregates),
//! and the subquery reads its value as an outer column. A shape it does not take is refused
//! with 0A000 naming the aggregate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::arrow::datatypes::Field;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchemaRef, DataFusionError, Result};
use datafusion::logical_expr::{Aggregate, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, Projection, Subquery};
use datafusion::optimizer::AnalyzerRule;

/// Numbers the moved aggregates' columns apart.
static NEXT: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Default)]
pub struct OuterAggregates;

impl AnalyzerRule for OuterAggregates {
    fn analyze(&self, plan: LogicalPlan, _: &ConfigOptions) -> Result<LogicalPlan> {
        if find_outer_aggregate(&plan).is_none() {
            return Ok(plan);
        }
        let plan = plan.transform_up_with_subqueries(|node| move_outer_aggregates(node))?.data;
        match find_outer_aggregate(&plan) {
            Some(aggregate) => Err(DataFusionError::NotImplemented(format!(
                "an aggregate of only the outer query's columns inside a subquery ({aggregate}) is not supported yet: PostgreSQL computes it over the outer query's rows"
            ))),
            None => Ok(plan),
        }
    }

    fn name(&self) -> &str {
        "squall_outer_aggregates"
    }
}

/// An aggregate of only outer columns anywhere in `plan`, if there is one.
fn find_outer_aggregate(plan: &LogicalPlan) -> Option<String> {
    let mut found = None;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Aggregate(aggregate) = node {
            found = aggregate.aggr_expr.iter().find(|e| is_outer_aggregate(e)).map(|e| e.to_string());
        }
        Ok(if found.is_some() { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    found
}

/// Whether `expr` (one of an aggregate's) is an aggregate function whose arguments and filter
/// read outer columns and no column of their own query.
fn is_outer_aggregate(expr: &Expr) -> bool {
    let Expr::AggregateFunction(f) = strip_alias(expr) else { return false };
    let (mut outer, mut own) = (false, false);
    for expr in f.params.args.iter().chain(f.params.filter.as_deref()).chain(f.params.order_by.iter().map(|s| &s.expr)) {
        let _ = expr.apply(|e| {
            match e {
                Expr::OuterReferenceColumn(..) => outer = true,
                Expr::Column(_) => own = true,
                // A subquery in an aggregate's argument: not taken.
                Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) | Expr::SetComparison(_) => own = true,
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        });
    }
    outer && !own
}

fn strip_alias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(alias) => strip_alias(&alias.expr),
        e => e,
    }
}

/// `node` (of the outer query) with the outer aggregates of its subqueries moved into its
/// query's aggregate, where it can: its subqueries' own aggregates must consist of outer
/// aggregates only, without GROUP BY, and every column they read must be `node`'s input's.
fn move_outer_aggregates(node: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let [input] = node.inputs()[..] else { return Ok(Transformed::no(node)) };
    let input = input.clone();
    let original = node.clone();
    let mut moved: Vec<Expr> = vec![];
    let rewritten = node.map_subqueries(|subquery| {
        let LogicalPlan::Subquery(subquery) = subquery else { unreachable!("map_subqueries hands subqueries") };
        moved_from(subquery, &input, &[], &mut moved).map(|s| Transformed::yes(LogicalPlan::Subquery(s)))
    })?;
    if moved.is_empty() {
        return Ok(Transformed::no(rewritten.data));
    }
    let node = rewritten.data;
    let Some(input) = with_aggregates(input, moved, &node)? else {
        // Left as it was: refused.
        return Ok(Transformed::no(original));
    };
    super::rebuilt_keeping_columns(&node, node.expressions(), vec![input], node.schema()).map(Transformed::yes)
}

/// `subquery` (of a node over `input`, with the queries `between` them: their nodes' inputs'
/// columns) with its outer aggregates of `input`'s columns, and its own subqueries', made
/// constants read from `input` (pushed to `moved`). An aggregate two levels down, `SELECT (SELECT
/// (SELECT sum(o.x) FROM u) FROM i) FROM o`, is the outer query's too in PostgreSQL; inside, its
/// value is read two levels out, which `across_levels` brings in as any such reference.
fn moved_from(subquery: Subquery, input: &LogicalPlan, between: &[DFSchemaRef], moved: &mut Vec<Expr>) -> Result<Subquery> {
    // A HAVING makes the subquery one group of its own in PostgreSQL: its aggregates are not
    // taken (its subqueries' may be).
    let having = has_having(&subquery.subquery);
    let plan = Arc::unwrap_or_clone(subquery.subquery)
        .transform_up(|inner| {
            let inner = match inner {
                LogicalPlan::Aggregate(aggregate) if !having && takes(&aggregate, input, between) => constant_rows(aggregate, input, moved)?,
                other => other,
            };
            let scopes = between.iter().cloned().chain(inner.inputs().iter().map(|i| Arc::clone(i.schema()))).collect::<Vec<_>>();
            inner.map_subqueries(|nested| {
                let LogicalPlan::Subquery(nested) = nested else { unreachable!("map_subqueries hands subqueries") };
                moved_from(nested, input, &scopes, moved).map(|s| Transformed::yes(LogicalPlan::Subquery(s)))
            })
        })?
        .data;
    let outer_ref_columns = plan.all_out_ref_exprs();
    Ok(Subquery { subquery: Arc::new(plan), outer_ref_columns, spans: subquery.spans })
}

/// Whether `plan` filters an aggregate of its own (a HAVING).
fn has_having(plan: &LogicalPlan) -> bool {
    plan.exists(|node| Ok(matches!(node, LogicalPlan::Filter(filter) if matches!(filter.input.as_ref(), LogicalPlan::Aggregate(_))))).unwrap_or(true)
}

/// Whether `aggregate` (a subquery's) is one of outer aggregates only, of `input`'s columns
/// (and none of the queries `between`).
fn takes(aggregate: &Aggregate, input: &LogicalPlan, between: &[DFSchemaRef]) -> bool {
    aggregate.group_expr.is_empty()
        && !aggregate.aggr_expr.is_empty()
        && aggregate.aggr_expr.iter().all(|e| is_outer_aggregate(e) && reads_only(e, input, between))
}

/// Whether `expr`'s outer columns are all `input`'s (the outer query's own, not one further out
/// nor one of a query `between`, which a reference names first).
fn reads_only(expr: &Expr, input: &LogicalPlan, between: &[DFSchemaRef]) -> bool {
    let mut only = true;
    let _ = expr.apply(|e| {
        if let Expr::OuterReferenceColumn(_, column) = e {
            only &= !between.iter().any(|schema| schema.has_column(column))
                && (input.schema().has_column(column) || aggregate_input(input).is_some_and(|i| i.schema().has_column(column)));
        }
        Ok(TreeNodeRecursion::Continue)
    });
    only
}

/// The subquery's aggregate made a projection of constants: one row per row of its input, each
/// reading the moved aggregate's value as an outer column (`__squall_outer_aggregate<n>`).
fn constant_rows(aggregate: Aggregate, input: &LogicalPlan, moved: &mut Vec<Expr>) -> Result<LogicalPlan> {
    let schema = Arc::clone(&aggregate.schema);
    let mut exprs = vec![];
    for (i, expr) in aggregate.aggr_expr.into_iter().enumerate() {
        let name = format!("__squall_outer_aggregate{}", NEXT.fetch_add(1, Ordering::Relaxed));
        // In the outer query, its outer columns are its own.
        let own = strip_alias(&expr)
            .clone()
            .transform(|e| match e {
                Expr::OuterReferenceColumn(_, column) => Ok(Transformed::yes(Expr::Column(column))),
                e => Ok(Transformed::no(e)),
            })?
            .data;
        let source = aggregate_input(input).unwrap_or(input);
        let data_type = own.get_type(source.schema())?;
        let field = Arc::new(Field::new(name.as_str(), data_type, true));
        moved.push(own.alias(name.as_str()));
        let (qualifier, out) = schema.qualified_field(i);
        exprs.push(Expr::OuterReferenceColumn(field, Column::from_name(name)).alias_qualified(qualifier.cloned(), out.name()));
    }
    Ok(LogicalPlan::Projection(Projection::try_new(exprs, aggregate.input)?))
}

/// The aggregate below `input` (through the filters of a HAVING), if the outer query has one.
fn aggregate_input(input: &LogicalPlan) -> Option<&LogicalPlan> {
    match input {
        LogicalPlan::Aggregate(aggregate) => Some(aggregate.input.as_ref()),
        LogicalPlan::Filter(filter) => aggregate_input(&filter.input),
        _ => None,
    }
}

/// `input` (the outer node's) computing `moved` too: in its aggregate, or in a new one of no
/// GROUP BY when it has none and `node` reads nothing of it but them (else PostgreSQL refuses
/// the query, 42803, and so does squall). None if neither.
fn with_aggregates(input: LogicalPlan, moved: Vec<Expr>, node: &LogicalPlan) -> Result<Option<LogicalPlan>> {
    fn add(plan: LogicalPlan, moved: Vec<Expr>) -> Result<LogicalPlan> {
        match plan {
            LogicalPlan::Aggregate(aggregate) => {
                let mut aggr_expr = aggregate.aggr_expr;
                aggr_expr.extend(moved);
                Ok(LogicalPlan::Aggregate(Aggregate::try_new(aggregate.input, aggregate.group_expr, aggr_expr)?))
            }
            LogicalPlan::Filter(filter) => {
                let input = add(Arc::unwrap_or_clone(filter.input), moved)?;
                LogicalPlanBuilder::from(input).filter(filter.predicate)?.build()
            }
            _ => unreachable!("aggregate_input found an aggregate"),
        }
    }
    if aggregate_input(&input).is_some() {
        return add(input, moved).map(Some);
    }
    let reads_input = node.expressions().iter().any(|e| !e.column_refs().is_empty());
    if !matches!(node, LogicalPlan::Projection(_)) || reads_input || still_correlated(node, &input) {
        return Ok(None);
    }
    LogicalPlanBuilder::from(input).aggregate(Vec::<Expr>::new(), moved)?.build().map(Some)
}

/// Whether a subquery of `node` still reads a column of `input`, the outer row, besides the
/// moved aggregates (which an aggregate of the outer query would no longer have).
fn still_correlated(node: &LogicalPlan, input: &LogicalPlan) -> bool {
    let mut other = false;
    let _ = node.apply_subqueries(|subquery| {
        subquery.apply_with_subqueries(|inner| {
            inner.apply_expressions(|e| {
                e.apply(|e| {
                    if let Expr::OuterReferenceColumn(_, column) = e {
                        other |= input.schema().has_column(column);
                    }
                    Ok(TreeNodeRecursion::Continue)
                })
            })
        })
    });
    other
}
