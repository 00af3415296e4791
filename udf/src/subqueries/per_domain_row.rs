//! Step 2 of squall's decorrelation ([`super::decorrelate`]): a subquery's plan taken to its rows
//! per domain row. Below its lowest correlated filter the rows are joined to the domain; above,
//! each operator is taken per domain row (aggregates group by the domain too, a `LIMIT` becomes a
//! row number per domain row, a `HAVING` marks rows instead of dropping them), and every domain
//! row keeps at least its phantom row.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, Result, ScalarValue};
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::expr::{AggregateFunction, Exists, InSubquery};
use datafusion::logical_expr::{lit, Distinct, Expr, ExprFunctionExt, JoinType, Limit, LogicalPlan, LogicalPlanBuilder, Projection, SortExpr, SubqueryAlias};

use super::decorrelate::{columns_of, has_outer_references, holds, MARK, REAL, ROW_NUMBER};

/// Takes a subquery's plan to its rows per domain row (see the module's comment).
pub(super) struct Lifter<'a> {
    pub(super) domain: &'a LogicalPlan,
    pub(super) outer: &'a BTreeMap<Column, String>,
    pub(super) domain_columns: &'a [Expr],
}

impl Lifter<'_> {
    pub(super) fn lift(&self, plan: &LogicalPlan) -> Result<Option<LogicalPlan>> {
        if !has_outer_references(plan) {
            return self.joined_to_domain(plan, None).map(Some);
        }
        let real = || Expr::Column(Column::from_name(REAL));
        Ok(Some(match plan {
            LogicalPlan::Filter(filter) if !has_outer_references(&filter.input) => {
                let Some(predicate) = self.in_domain(&filter.predicate) else { return Ok(None) };
                self.joined_to_domain(&filter.input, Some(predicate))?
            }
            LogicalPlan::Filter(filter) => {
                let Some(rows) = self.lift(&filter.input)? else { return Ok(None) };
                let Some(predicate) = self.in_domain(&filter.predicate) else { return Ok(None) };
                // Rows the filter drops become phantoms, so their domain row stays.
                with_real(rows, real_when(real().and(holds(predicate))))?
            }
            LogicalPlan::Projection(projection) => {
                let Some(rows) = self.lift(&projection.input)? else { return Ok(None) };
                let mut exprs = vec![];
                for (i, expr) in projection.expr.iter().enumerate() {
                    let Some(lifted) = self.in_domain(expr) else { return Ok(None) };
                    let (qualifier, field) = projection.schema.qualified_field(i);
                    exprs.push(if &lifted == expr { lifted } else { lifted.alias_qualified(qualifier.cloned(), field.name()) });
                }
                exprs.extend(self.domain_columns.iter().cloned());
                exprs.push(real());
                LogicalPlan::Projection(Projection::try_new(exprs, Arc::new(rows))?)
            }
            LogicalPlan::SubqueryAlias(alias) => {
                let Some(rows) = self.lift(&alias.input)? else { return Ok(None) };
                LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(rows), alias.alias.clone())?)
            }
            LogicalPlan::Aggregate(aggregate) => {
                if aggregate.group_expr.iter().any(|e| matches!(e, Expr::GroupingSet(_))) {
                    return Ok(None);
                }
                let Some(rows) = self.lift(&aggregate.input)? else { return Ok(None) };
                let fields = aggregate.schema.fields();
                let mut group = vec![];
                for (i, expr) in aggregate.group_expr.iter().enumerate() {
                    let Some(lifted) = self.in_domain(expr) else { return Ok(None) };
                    group.push(if &lifted == expr { lifted } else { lifted.alias(fields[i].name()) });
                }
                let mut aggregates = vec![];
                for (i, expr) in aggregate.aggr_expr.iter().enumerate() {
                    let Some(lifted) = self.in_domain(expr) else { return Ok(None) };
                    let Some(filtered) = only_real_rows(lifted) else { return Ok(None) };
                    aggregates.push(filtered.alias(fields[aggregate.group_expr.len() + i].name()));
                }
                let scalar = group.is_empty();
                group.extend(self.domain_columns.iter().cloned());
                if scalar {
                    // One row per domain row, as an aggregate without GROUP BY gives one row.
                    let grouped = LogicalPlanBuilder::from(rows).aggregate(group, aggregates)?.build()?;
                    let mut exprs = columns_of(grouped.schema());
                    exprs.push(lit(true).alias(REAL));
                    LogicalPlanBuilder::from(grouped).project(exprs)?.build()?
                } else {
                    group.push(real());
                    LogicalPlanBuilder::from(rows).aggregate(group, aggregates)?.build()?
                }
            }
            LogicalPlan::Distinct(Distinct::All(input)) => {
                let Some(rows) = self.lift(input)? else { return Ok(None) };
                let group = columns_of(rows.schema());
                LogicalPlanBuilder::from(rows).aggregate(group, Vec::<Expr>::new())?.build()?
            }
            // Row order does not change which rows a subquery gives, unless a LIMIT keeps some.
            LogicalPlan::Sort(sort) if sort.fetch.is_none() => return self.lift(&sort.input),
            LogicalPlan::Sort(sort) => {
                let Some(fetch) = sort.fetch else { unreachable!() };
                return self.first_rows(&sort.input, &sort.expr, 0, fetch);
            }
            LogicalPlan::Limit(limit) => {
                let (Some(skip), Some(fetch)) = (literal_count(limit.skip.as_deref(), 0), literal_count(limit.fetch.as_deref(), usize::MAX)) else {
                    return Ok(None);
                };
                return match &*limit.input {
                    LogicalPlan::Sort(sort) if sort.fetch.is_none() => self.first_rows(&sort.input, &sort.expr, skip, fetch),
                    // `ORDER BY` a column the subquery does not select puts the sort under the
                    // select list: the LIMIT goes under it too (a projection keeps every row), to
                    // the sort whose order it keeps.
                    LogicalPlan::Projection(projection) => {
                        let limited = LogicalPlan::Limit(Limit { input: projection.input.clone(), ..limit.clone() });
                        self.lift(&LogicalPlan::Projection(Projection::try_new(projection.expr.clone(), Arc::new(limited))?))
                    }
                    LogicalPlan::SubqueryAlias(alias) => {
                        let limited = LogicalPlan::Limit(Limit { input: alias.input.clone(), ..limit.clone() });
                        self.lift(&LogicalPlan::SubqueryAlias(SubqueryAlias::try_new(Arc::new(limited), alias.alias.clone())?))
                    }
                    input => self.first_rows(input, &[], skip, fetch),
                };
            }
            _ => return Ok(None),
        }))
    }

    /// Rows `skip + 1` to `skip + fetch` of each domain row's rows in `order`; the others
    /// become phantoms.
    fn first_rows(&self, input: &LogicalPlan, order: &[SortExpr], skip: usize, fetch: usize) -> Result<Option<LogicalPlan>> {
        let Some(rows) = self.lift(input)? else { return Ok(None) };
        let real = Expr::Column(Column::from_name(REAL));
        // Real rows first, so that phantoms take no place among the first.
        let mut sort = vec![real.clone().sort(false, false)];
        for s in order {
            let Some(expr) = self.in_domain(&s.expr) else { return Ok(None) };
            sort.push(SortExpr { expr, ..s.clone() });
        }
        let number = row_number().partition_by(self.domain_columns.to_vec()).order_by(sort).build()?.alias(ROW_NUMBER);
        let numbered = LogicalPlanBuilder::from(rows).window(vec![number])?.build()?;
        let position = Expr::Column(Column::from_name(ROW_NUMBER));
        let mut kept = position.clone().gt(lit(skip as u64));
        if fetch != usize::MAX {
            kept = kept.and(position.lt_eq(lit(skip.saturating_add(fetch) as u64)));
        }
        let marked = with_real(numbered, real_when(real.and(kept)))?;
        let exprs = columns_of(marked.schema()).into_iter().filter(|c| !matches!(c, Expr::Column(c) if c.name == ROW_NUMBER)).collect::<Vec<_>>();
        Ok(Some(LogicalPlanBuilder::from(marked).project(exprs)?.build()?))
    }

    /// `rows` (which refer to nothing outside) for each domain row, where `on` holds: the rows
    /// are real, and a domain row without any keeps a phantom.
    fn joined_to_domain(&self, rows: &LogicalPlan, on: Option<Expr>) -> Result<LogicalPlan> {
        let mut marked = columns_of(rows.schema());
        marked.push(lit(true).alias(MARK));
        let marked = LogicalPlanBuilder::from(rows.clone()).project(marked)?.build()?;
        let on = on.unwrap_or_else(|| lit(true));
        let joined = LogicalPlanBuilder::from(self.domain.clone()).join_on(marked, JoinType::Left, [on])?.build()?;
        let mut exprs: Vec<Expr> =
            columns_of(joined.schema()).into_iter().filter(|c| !matches!(c, Expr::Column(c) if c.name == MARK)).collect();
        exprs.push(real_when(Expr::Column(Column::from_name(MARK)).is_not_null()).alias(REAL));
        LogicalPlanBuilder::from(joined).project(exprs)?.build()
    }

    /// `expr` with the outer columns it refers to read from the domain, or `None` if it holds a
    /// subquery that refers to them (which this rule does not reach into).
    fn in_domain(&self, expr: &Expr) -> Option<Expr> {
        let mut nested = false;
        let replaced = expr
            .clone()
            .transform_up(|e| match &e {
                Expr::OuterReferenceColumn(_, column) => match self.outer.get(column) {
                    Some(name) => Ok(Transformed::yes(Expr::Column(Column::from_name(name)))),
                    None => {
                        nested = true;
                        Ok(Transformed::no(e))
                    }
                },
                Expr::ScalarSubquery(s) | Expr::Exists(Exists { subquery: s, .. }) | Expr::InSubquery(InSubquery { subquery: s, .. }) => {
                    nested |= has_outer_references(&s.subquery);
                    Ok(Transformed::no(e))
                }
                _ => Ok(Transformed::no(e)),
            })
            .ok()?
            .data;
        (!nested).then_some(replaced)
    }
}

/// `aggregate` counting only real rows (its own FILTER, if any, still applies).
fn only_real_rows(aggregate: Expr) -> Option<Expr> {
    let real = Expr::Column(Column::from_name(REAL));
    match aggregate {
        Expr::Alias(alias) => only_real_rows(*alias.expr),
        Expr::AggregateFunction(mut f) => {
            f.params.filter = Some(Box::new(match f.params.filter.take() {
                Some(own) => real.and(*own),
                None => real,
            }));
            Some(Expr::AggregateFunction(AggregateFunction { func: f.func, params: f.params }))
        }
        _ => None,
    }
}

/// [`REAL`] where `condition` holds: true or NULL, never false. Its NULL makes it nullable in both
/// of DataFusion's schemas alike (a condition built of `IS FALSE` or `IS NULL` is "never NULL" in
/// the logical one and "maybe NULL" in the physical one).
fn real_when(condition: Expr) -> Expr {
    datafusion::logical_expr::when(condition, lit(true)).end().expect("a CASE with one branch")
}

/// `plan` with its [`REAL`] column computed by `real`.
fn with_real(plan: LogicalPlan, real: Expr) -> Result<LogicalPlan> {
    let exprs = columns_of(plan.schema())
        .into_iter()
        .map(|c| match &c {
            Expr::Column(column) if column.name == REAL => real.clone().alias(REAL),
            _ => c,
        })
        .collect::<Vec<_>>();
    LogicalPlanBuilder::from(plan).project(exprs)?.build()
}

/// A LIMIT's or OFFSET's number, if it is a literal (`default` when there is none).
fn literal_count(expr: Option<&Expr>, default: usize) -> Option<usize> {
    match expr {
        None => Some(default),
        Some(Expr::Literal(ScalarValue::Int64(Some(n)), _)) if *n >= 0 => Some(*n as usize),
        Some(Expr::Literal(ScalarValue::UInt64(Some(n)), _)) => Some(*n as usize),
        Some(Expr::Literal(ScalarValue::Int64(None) | ScalarValue::UInt64(None), _)) => Some(default),
        _ => None,
    }
}
