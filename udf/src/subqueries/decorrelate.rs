//! squall's own decorrelation, for the subqueries DataFusion leaves in a plan: scalar subqueries
//! correlated by a comparison other than `=` under an aggregate, `EXISTS` and `IN` used as values
//! (in a select list, under `OR`, inside `CASE`), correlated `LIMIT`s. It runs right after
//! DataFusion's own decorrelation rules, on what they could not turn into joins.
//!
//! The method is the domain join ("magic set") of Neumann and Kemper's unnesting. For a subquery
//! in a node over input `I` that refers to the columns `c` of `I`:
//!
//! 1. The **domain** `D` is the distinct values of `c` in `I` (for `x IN (...)`, of `x` too).
//! 2. The subquery is computed once per domain row, as one plan: below its lowest correlated
//!    filter, where nothing refers to `I`, it is joined to `D` by `D LEFT JOIN rows ON filter`;
//!    above, each operator is taken per domain row (aggregates group by `D` too, a `LIMIT`
//!    becomes a row number per domain row, a `HAVING` marks rows instead of dropping them).
//!    Every domain row stays present: a domain row the subquery has no rows for keeps one
//!    *phantom* row (column [`REAL`] NULL) that aggregates skip (`FILTER (WHERE real)`), so an
//!    aggregate of no rows gives PostgreSQL's answer for no rows (`count(*)` is 0, not NULL).
//! 3. The subquery's rows per domain row are aggregated into its value: a scalar subquery's one
//!    value or error 21000, `EXISTS`'s count, `IN`'s three-valued answer.
//! 4. `I` is joined to that by `c IS NOT DISTINCT FROM` the domain columns: exactly one row
//!    each, so no row of `I` is lost or repeated. The subquery becomes a column of the join.
//!
//! A shape this does not cover is left as it is, and squall refuses the query with 0A000 naming
//! it (engine `statements::query`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, Result, ScalarValue};
use datafusion::functions_aggregate::expr_fn::{bool_or, count, first_value};
use datafusion::logical_expr::expr::{Exists, InSubquery};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{
    case, lit, when, EmptyRelation, Expr, ExprFunctionExt, ExprSchemable, InvariantLevel, JoinType, LogicalPlan, LogicalPlanBuilder, ScalarUDF, Subquery,
};
use datafusion::optimizer::optimizer::ApplyOrder;
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::per_domain_row::Lifter;
use super::single_row_value::SingleRowValue;

/// DataFusion's decorrelation rules, which [`LeaveWhatFails`] wraps; squall's rule comes after
/// the last of them.
pub const DATAFUSION_RULES: &[&str] = &[DECORRELATE_PREDICATE_SUBQUERY, "scalar_subquery_to_join"];
const DECORRELATE_PREDICATE_SUBQUERY: &str = "decorrelate_predicate_subquery";

/// The column that tells a real row of a subquery (true) from a domain row's phantom (NULL).
pub(super) const REAL: &str = "__squall_real";
pub(super) const MARK: &str = "__squall_mark";
pub(super) const ROW_NUMBER: &str = "__squall_row_number";

/// Numbers each decorrelation's columns apart from another's in the same plan, whichever of the
/// two rules made it: with a number per rule, an `IN` the early rule took and one the late rule
/// took were both `__squall_x0` (differential seed 14, query 83479, 42000).
static NEXT: AtomicUsize = AtomicUsize::new(0);

#[derive(Debug, Default)]
pub struct DecorrelateSubqueries {
    /// Run before DataFusion's rules, taking only the `IN` subqueries DataFusion would answer
    /// wrongly (see [`Self::before_datafusion`]).
    early: bool,
}

impl DecorrelateSubqueries {
    /// The rule that runs before DataFusion's decorrelation and takes from it the `IN`s of a
    /// WHERE that are not plain conditions of it: `x NOT IN (...) OR ...`, `NOT (x IN (...))
    /// OR ...`. DataFusion answers those with a mark join, whose mark is true or false where
    /// PostgreSQL's `IN` is NULL (a NULL among the rows, or a NULL `x`), and `NOT` then keeps
    /// rows PostgreSQL drops. It also takes a correlated `NOT IN` (DataFusion's NULL-aware anti
    /// join takes one key only, and fails), and an `IN` whose left side holds a subquery.
    /// Uncorrelated `IN` and `NOT IN` conditions stay DataFusion's semi and NULL-aware anti
    /// joins, which answer them right.
    pub fn before_datafusion() -> Self {
        Self { early: true, ..Self::default() }
    }

    /// Whether this rule takes `found`, one of `node`'s subquery expressions.
    fn takes(&self, node: &LogicalPlan, found: &Expr) -> bool {
        !self.early || datafusion_answers_wrongly(node, found)
    }

    /// Whether `node` has an `IN` subquery DataFusion's decorrelation answers wrongly (see
    /// [`Self::before_datafusion`]). The early rule takes such an `IN` where it can; where it
    /// cannot yet (its subquery has a correlated subquery of its own, which only DataFusion's
    /// decorrelation turns into a join), [`LeaveWhatFails`] keeps DataFusion's rule off the
    /// node, and this rule takes the `IN` once DataFusion has decorrelated inside it.
    fn leaves_to_squall(node: &LogicalPlan) -> bool {
        subquery_expressions(node).iter().any(|found| datafusion_answers_wrongly(node, found) || pulls_up_two_marks(found))
    }
}

/// Whether `found` (an `EXISTS` or `IN`) has a subquery whose conditions on the outer query
/// hold, between them, two or more subquery expressions. DataFusion turns each of those into a
/// mark join whose mark column is named `mark`, pulls the conditions up into the join it makes
/// of `found`, and there every `mark` reads the first one's: `NOT EXISTS (SELECT ... WHERE x >=
/// ALL (SELECT ...) OR x > outer.b)` (an `ALL` is two or three `EXISTS`) lost the `ALL`'s NULL
/// case and dropped a row PostgreSQL keeps (differential seed 14, query 144765). Such an
/// `EXISTS` or `IN` is squall's rule's, once DataFusion has decorrelated inside it.
fn pulls_up_two_marks(found: &Expr) -> bool {
    use datafusion::common::tree_node::TreeNodeRecursion;
    let subquery = match found {
        Expr::Exists(exists) => &exists.subquery,
        Expr::InSubquery(in_subquery) => &in_subquery.subquery,
        _ => return false,
    };
    let mut two = false;
    let _ = subquery.subquery.apply(|node| {
        if let LogicalPlan::Filter(filter) = node {
            let mut marks = 0;
            for condition in datafusion::logical_expr::utils::split_conjunction(&filter.predicate) {
                if condition.contains_outer() {
                    let _ = condition.apply(|e| {
                        marks += usize::from(matches!(e, Expr::Exists(_) | Expr::InSubquery(_) | Expr::ScalarSubquery(_) | Expr::SetComparison(_)));
                        Ok(TreeNodeRecursion::Continue)
                    });
                }
            }
            two = marks >= 2;
        }
        Ok(if two { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    two
}

/// Whether `found`, one of `node`'s subquery expressions, is an `IN` that DataFusion's
/// decorrelation answers wrongly ([`DecorrelateSubqueries::before_datafusion`]).
fn datafusion_answers_wrongly(node: &LogicalPlan, found: &Expr) -> bool {
    let (LogicalPlan::Filter(filter), Expr::InSubquery(in_subquery)) = (node, found) else { return false };
    let condition = datafusion::logical_expr::utils::split_conjunction(&filter.predicate).into_iter().any(|c| c == found);
    let correlated = !in_subquery.subquery.outer_ref_columns.is_empty();
    // DataFusion's joins for `(SELECT ...) [NOT] IN (SELECT ...)` keep the left side's
    // subquery in the join's condition, which it cannot run, and its NULL-aware anti join
    // then kept rows whose left side was NULL.
    let left_holds_subquery = in_subquery.expr.exists(|e| Ok(matches!(e, Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)))).unwrap_or(true);
    // Its NULL-aware anti join answered right for a column on the left only: `4 NOT IN
    // (...)`, or an expression that is NULL, kept rows where a NULL among the rows drops them.
    let left_is_column = matches!(*in_subquery.expr, Expr::Column(_));
    !condition || (in_subquery.negated && (correlated || !left_is_column)) || left_holds_subquery
}

impl OptimizerRule for DecorrelateSubqueries {
    fn name(&self) -> &str {
        if self.early {
            "squall_decorrelate_in_subqueries"
        } else {
            "squall_decorrelate_subqueries"
        }
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(&self, plan: LogicalPlan, _: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        if !matches!(plan, LogicalPlan::Projection(_) | LogicalPlan::Filter(_) | LogicalPlan::Aggregate(_)) || plan.inputs().len() != 1 {
            return Ok(Transformed::no(plan));
        }
        let original_input_schema = plan.inputs()[0].schema().clone();
        let mut plan = plan;
        let mut changed = false;
        // One subquery at a time, each adding its join under the node, until none is left
        // that this rule can take. All of them in one visit: a node left with a subquery
        // until the optimizer's next pass meets DataFusion's rules first, and inside a scalar
        // subquery those take an `IN` under `OR` with their mark join, NULLs lost (differential
        // seed 14, query 465641).
        loop {
            let Some(next) = self.decorrelate_one(&plan)? else { break };
            plan = next;
            changed = true;
        }
        if !changed {
            return Ok(Transformed::no(plan));
        }
        // A filter passes its input's columns on: the joins' extra columns are dropped.
        if let LogicalPlan::Filter(_) = plan {
            plan = LogicalPlanBuilder::from(plan).project(columns_of(&original_input_schema))?.build()?;
        }
        Ok(Transformed::yes(plan))
    }
}

/// One of DataFusion's decorrelation rules, which on a subquery it cannot take sometimes fails
/// the whole query (it pulls a comparison up through a `SubqueryAlias` and then cannot find its
/// column) or makes a plan that cannot run, rather than leaving the subquery: a node it fails on
/// is left as it was, for [`DecorrelateSubqueries`].
#[derive(Debug)]
pub struct LeaveWhatFails(pub Arc<dyn OptimizerRule + Send + Sync>);

impl OptimizerRule for LeaveWhatFails {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        self.0.apply_order()
    }

    fn rewrite(&self, plan: LogicalPlan, config: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        // A NOT IN under OR whose subquery has a correlated EXISTS (or `= SOME`, which becomes
        // one) was answered by DataFusion's mark join, NULLs lost: squall's rule takes the IN,
        // after DataFusion has decorrelated what is inside it (differential seed 14, queries
        // 36551 and 36555).
        // DataFusion's rule also goes into the subqueries of the node it is given, past this
        // wrapper: a node whose subqueries hold such an IN is not given to it either, or an
        // `x NOT IN (...) OR ...` inside a scalar subquery kept rows PostgreSQL drops
        // (differential seed 14, query 465641).
        if self.0.name() == DECORRELATE_PREDICATE_SUBQUERY && (DecorrelateSubqueries::leaves_to_squall(&plan) || subqueries_leave_to_squall(&plan)) {
            return plan.map_subqueries(|subquery| subquery.transform_down(|p| self.rewrite(p, config)));
        }
        match self.0.rewrite(plan.clone(), config) {
            // Nor what it makes of a subquery that is no plan DataFusion can run (a correlated
            // scalar subquery moved into a join's condition): DataFusion's debug builds check
            // that after each rule, and its release builds would fail later.
            Ok(rewritten) if !rewritten.transformed || rewritten.data.check_invariants(InvariantLevel::Executable).is_ok() => Ok(rewritten),
            Ok(_) | Err(_) => Ok(Transformed::no(plan)),
        }
    }
}

/// Whether a node of `plan`'s subqueries, at any depth, is one DataFusion's predicate rule must
/// leave to squall's ([`DecorrelateSubqueries::leaves_to_squall`]).
fn subqueries_leave_to_squall(plan: &LogicalPlan) -> bool {
    let mut found = false;
    let _ = plan.apply_subqueries(|subquery| {
        subquery.apply_with_subqueries(|node| {
            found = DecorrelateSubqueries::leaves_to_squall(node);
            Ok(if found { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        })
    });
    found
}

/// What a subquery expression asks of its subquery's rows.
enum Kind {
    Scalar,
    Exists { negated: bool },
    In { value: Expr, negated: bool },
}

impl DecorrelateSubqueries {
    /// `node` with its first subquery expression this rule can take decorrelated, if any.
    fn decorrelate_one(&self, node: &LogicalPlan) -> Result<Option<LogicalPlan>> {
        let input = node.inputs()[0].clone();
        if plan_is_volatile(&input) {
            return Ok(None);
        }
        for found in subquery_expressions(node) {
            if !self.takes(node, &found) {
                continue;
            }
            let (kind, subquery) = match &found {
                Expr::ScalarSubquery(s) => (Kind::Scalar, s),
                Expr::Exists(Exists { subquery, negated }) => (Kind::Exists { negated: *negated }, subquery),
                Expr::InSubquery(InSubquery { expr, subquery, negated }) => (Kind::In { value: (**expr).clone(), negated: *negated }, subquery),
                _ => continue,
            };
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            if let Some((joined, value)) = decorrelate(&input, kind, subquery, n)? {
                return Ok(Some(replace_in_node(node, &found, value, joined)?));
            }
        }
        Ok(None)
    }
}

/// The subquery expressions of `node`'s own expressions, outermost first.
fn subquery_expressions(node: &LogicalPlan) -> Vec<Expr> {
    let mut found = vec![];
    let _ = node.apply_expressions(|expr| {
        expr.apply(|e| {
            if matches!(e, Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_)) {
                found.push(e.clone());
                return Ok(TreeNodeRecursion::Jump);
            }
            Ok(TreeNodeRecursion::Continue)
        })
    });
    found
}

/// `node` over `joined` (its input joined to the subquery's values), with `value` where `found`
/// was. A projection or aggregate keeps its output; a filter passes the join's extra columns on
/// until the rule has taken all its subqueries and projects them away.
fn replace_in_node(node: &LogicalPlan, found: &Expr, value: Expr, joined: LogicalPlan) -> Result<LogicalPlan> {
    let names = NamePreserver::new(node);
    let exprs = node
        .expressions()
        .into_iter()
        .map(|expr| {
            let name = names.save(&expr);
            let replaced = expr.transform_down(|e| Ok(if &e == found { Transformed::new(value.clone(), true, TreeNodeRecursion::Jump) } else { Transformed::no(e) }))?;
            Ok(name.restore(replaced.data))
        })
        .collect::<Result<Vec<_>>>()?;
    node.with_new_exprs(exprs, vec![joined])
}

/// The names one decorrelation gives its columns.
struct Names {
    n: usize,
}

impl Names {
    fn domain(&self, i: usize) -> String {
        format!("__squall_d{}_{i}", self.n)
    }
    fn probe(&self) -> String {
        format!("__squall_x{}", self.n)
    }
    fn result(&self, what: &str) -> String {
        format!("__squall_{what}{}", self.n)
    }
}

/// The input joined to the subquery's value per row, and the expression of that value, or
/// `None` when the subquery's shape is not one this rule covers.
fn decorrelate(input: &LogicalPlan, kind: Kind, subquery: &Subquery, n: usize) -> Result<Option<(LogicalPlan, Expr)>> {
    let names = Names { n };
    // The input's columns the subquery refers to; each must be the input's own.
    let mut outer: BTreeMap<Column, String> = BTreeMap::new();
    for column in outer_references(&subquery.subquery) {
        if !input.schema().has_column(&column) {
            return Ok(None);
        }
        let name = names.domain(outer.len());
        outer.entry(column).or_insert(name);
    }
    let probe = match &kind {
        Kind::In { value, .. } => Some(value.clone()),
        _ => None,
    };
    if probe.as_ref().is_some_and(|p| p.is_volatile()) {
        return Ok(None);
    }
    // The IN's left side, computed once as a column of the input (it may hold a subquery of its
    // own, which a projection can hold and a join key cannot).
    let probe_column = format!("{}_outer", names.probe());
    let input = match &probe {
        Some(probe) => {
            let mut exprs = columns_of(input.schema());
            exprs.push(probe.clone().alias(&probe_column));
            LogicalPlanBuilder::from(input.clone()).project(exprs)?.build()?
        }
        None => input.clone(),
    };
    let input = &input;
    let mut domain_exprs: Vec<Expr> = outer.iter().map(|(c, name)| Expr::Column(c.clone()).alias(name)).collect();
    let mut outer_keys: Vec<Expr> = outer.keys().cloned().map(Expr::Column).collect();
    if probe.is_some() {
        domain_exprs.push(Expr::Column(Column::from_name(&probe_column)).alias(names.probe()));
        outer_keys.push(Expr::Column(Column::from_name(&probe_column)));
    }
    let domain_columns: Vec<Expr> = domain_exprs.iter().map(|e| Expr::Column(Column::from_name(e.schema_name().to_string()))).collect();
    let domain = if domain_exprs.is_empty() {
        LogicalPlan::EmptyRelation(EmptyRelation { produce_one_row: true, schema: Arc::new(DFSchema::empty()) })
    } else {
        LogicalPlanBuilder::from(input.clone()).aggregate(domain_exprs, Vec::<Expr>::new())?.build()?
    };
    let lifter = Lifter { domain: &domain, outer: &outer, domain_columns: &domain_columns };
    let Some(rows) = lifter.lift(&subquery.subquery)? else { return Ok(None) };

    // The subquery's rows per domain row, aggregated into its value.
    let real = Expr::Column(Column::from_name(REAL));
    let counted = |e: Expr| e.filter(real.clone()).build();
    // The subquery's own first column, as its lifted rows still name it (they add the domain's).
    let value_column = Expr::Column(Column::from(subquery.subquery.schema().qualified_field(0)));
    let result = |what: &str| Expr::Column(Column::from_name(names.result(what)));
    let (aggregates, value) = match kind {
        Kind::Scalar => (
            vec![counted(count(lit(1)))?.alias(names.result("rows")), counted(first_value(value_column, vec![]))?.alias(names.result("value"))],
            Arc::new(ScalarUDF::from(SingleRowValue::new())).call(vec![result("rows"), result("value")]),
        ),
        Kind::Exists { negated } => {
            let rows = result("rows");
            (vec![counted(count(lit(1)))?.alias(names.result("rows"))], if negated { rows.eq(lit(0i64)) } else { rows.gt(lit(0i64)) })
        }
        Kind::In { negated, .. } => {
            // PostgreSQL's IN: true if a row equals the value, else NULL if a comparison was
            // NULL, else false (no rows: false).
            let equal = Expr::Column(Column::from_name(names.probe())).eq(value_column);
            let answer = case(lit(true))
                .when(result("rows").eq(lit(0i64)), lit(false))
                .when(result("equal"), lit(true))
                .when(result("compared").lt(result("rows")), lit(ScalarValue::Boolean(None)))
                .otherwise(lit(false))?;
            (
                vec![
                    counted(count(lit(1)))?.alias(names.result("rows")),
                    counted(bool_or(equal.clone()))?.alias(names.result("equal")),
                    counted(count(equal))?.alias(names.result("compared")),
                ],
                if negated { !answer } else { answer },
            )
        }
    };
    let values = LogicalPlanBuilder::from(rows).aggregate(domain_columns.clone(), aggregates)?.build()?;

    // The input, each row with its domain row's values: joined by `key IS NOT DISTINCT FROM
    // domain`, as two keys that are never NULL, whether it is NULL and its value or a stand-in.
    // (A join's own NULL-equality setting is lost when DataFusion's EliminateCrossJoin rebuilds
    // joins under a cross join.) The keys are columns of their own on both sides. A constant key
    // (`1 IN (...)`) has one domain value, which every row matches: no key.
    let (mut left, mut right) = (columns_of(input.schema()), columns_of(values.schema()));
    let (mut left_keys, mut right_keys) = (vec![], vec![]);
    for (i, (key, domain)) in outer_keys.into_iter().zip(domain_columns.iter().cloned()).enumerate() {
        if i == outer.len() && probe.as_ref().is_some_and(is_constant) {
            continue;
        }
        let Ok(data_type) = key.get_type(input.schema()) else { return Ok(None) };
        let Ok(stand_in) = ScalarValue::new_default(&data_type) else { return Ok(None) };
        for (side, keys, expr, part) in [(&mut left, &mut left_keys, key, "l"), (&mut right, &mut right_keys, domain, "r")] {
            let (null, value) = (format!("__squall_k{n}_{i}{part}_null"), format!("__squall_k{n}_{i}{part}"));
            side.push(expr.clone().is_null().alias(&null));
            // A CASE, not `coalesce`: DataFusion's coalesce runs only once its simplifier has made
            // it a CASE, and no simplifier runs after this rule in the optimizer's last pass
            // ("coalesce should have been simplified to case": differential seed 14, query
            // 122472).
            let stand_in_if_null = when(expr.clone().is_null(), lit(stand_in.clone())).otherwise(expr)?;
            side.push(stand_in_if_null.alias(&value));
            keys.push(Column::from_name(null));
            keys.push(Column::from_name(value));
        }
    }
    let joined = if left_keys.is_empty() {
        LogicalPlanBuilder::from(input.clone()).cross_join(values)?.build()?
    } else {
        let right = LogicalPlanBuilder::from(values).project(right)?.build()?;
        LogicalPlanBuilder::from(input.clone()).project(left)?.join(right, JoinType::Inner, (left_keys, right_keys), None)?.build()?
    };
    Ok(Some((joined, value)))
}

/// Whether `expr` has one value for every row: no column, and no subquery (which may be
/// correlated without naming a column of the row here).
fn is_constant(expr: &Expr) -> bool {
    expr.column_refs().is_empty()
        && !expr.exists(|e| Ok(matches!(e, Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) | Expr::SetComparison(_)))).unwrap_or(true)
}

/// Whether `predicate` is true (not false or NULL). Written so, not `IS TRUE`: DataFusion's
/// physical `IS TRUE` says it may be NULL where the logical one says it may not, and a plan whose
/// two schemas disagree is refused.
pub(super) fn holds(predicate: Expr) -> Expr {
    predicate.clone().is_not_null().and(predicate)
}

pub(super) fn columns_of(schema: &DFSchema) -> Vec<Expr> {
    schema.columns().into_iter().map(Expr::Column).collect()
}

/// The outer columns `plan` refers to, in its nested subqueries too.
fn outer_references(plan: &LogicalPlan) -> Vec<Column> {
    let mut found = vec![];
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::OuterReferenceColumn(_, column) = e {
                    found.push(column.clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}

pub(super) fn has_outer_references(plan: &LogicalPlan) -> bool {
    !outer_references(plan).is_empty()
}

/// Whether `plan` computes anything that may differ between two runs (the input is read twice:
/// once for the domain, once for the rows).
pub(super) fn plan_is_volatile(plan: &LogicalPlan) -> bool {
    let mut volatile = false;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            volatile |= expr.is_volatile();
            Ok(if volatile { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        })
    });
    volatile
}
