//! A subquery that refers to a query two or more levels out: `SELECT ... FROM r1 WHERE EXISTS
//! (SELECT ... FROM r2 WHERE r2.x IN (SELECT r3.a FROM r3 WHERE r3.b = r1.id))`, where the
//! innermost subquery reads `r1`, the outermost query's row. DataFusion's decorrelation, and
//! squall's (`decorrelate`), turn one level into a join at a time, and then referred to `r1.id`
//! where it was not in scope (42703, or worse).
//!
//! This rule brings such a reference one level in, as Neumann and Kemper's unnesting does with a
//! domain: the middle subquery (`S`, over `r2`) is joined to `D`, the distinct values of the far
//! columns in the outer query (`SELECT DISTINCT r1.id FROM r1`), on `D`'s values being `r1.id`'s
//! (NULL matching NULL), a correlation of one level. For each row of `r1` exactly one row of `D`
//! matches, so every row `S` had is still there once, with `D`'s value beside it; the innermost
//! subquery then reads that value, one level out. After the rule every subquery refers only to
//! the query right around it, which the decorrelation rules take as they take any other.
//!
//! A subquery expression inside a subquery that reads only the outer row
//! is computed beside the outer row instead ([`hoist`]); an `IN` inside a subquery whose left
//! side holds a subquery or reads the outer row is made one the rules take first
//! ([`computed_left_sides`], [`in_with_outer_left_side`]).
//!
//! A reference this rule cannot bring in (its domain would read a query further out, or the
//! plan it makes is one the decorrelation rules do not take) is refused with 0A000, never
//! guessed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchemaRef, DataFusionError, Result, ScalarValue};
use datafusion::functions::expr_fn::coalesce;
use datafusion::logical_expr::expr::{Exists, InSubquery, SetComparison};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{lit, when, Expr, ExprSchemable, InvariantLevel, LogicalPlan, LogicalPlanBuilder, Subquery};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::decorrelate::plan_is_volatile;
use super::{computed_left_sides, in_with_outer_left_side, map_expressions_keeping_names, rebuilt_keeping_columns, with_columns};

/// Numbers the domains apart, within a plan and between the plans of one session.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Runs right after DataFusion's rewrite of `ANY`/`ALL` into `EXISTS` (which moves the left side
/// one level in: `r1.a > ANY (...)` inside a subquery becomes a reference two levels out) and
/// before any decorrelation.
#[derive(Debug, Default)]
pub struct SubqueriesAcrossLevels;

/// How a reference this rule cannot bring in is refused (0A000).
pub const REFUSED: &str = "a subquery that refers to a query two or more levels out";

/// The rule's name, by which other rules are placed after it.
pub const NAME: &str = "squall_subqueries_across_levels";

impl OptimizerRule for SubqueriesAcrossLevels {
    fn name(&self) -> &str {
        NAME
    }

    fn rewrite(&self, plan: LogicalPlan, _: &dyn OptimizerConfig) -> Result<Transformed<LogicalPlan>> {
        if !has_nested_subqueries(&plan) && !computed_left_sides::applies(&plan) {
            return Ok(Transformed::no(plan));
        }
        let original = plan.clone();
        let rewritten = bring_in(computed_left_sides::rewrite(plan, true)?.data)?;
        if refuse_far_references(&rewritten).is_ok() && rewritten.check_invariants(InvariantLevel::Executable).is_ok() {
            return Ok(Transformed::yes(rewritten));
        }
        // What is left, or what the decorrelation rules would not take as the rewrite left it:
        // the query as it was, refused if it refers two levels out.
        refuse_far_references(&original)?;
        Ok(Transformed::no(original))
    }
}

/// `plan` with every subquery's far references brought one level in, at every level.
fn bring_in(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up(|node| bring_in_node(node).map(Transformed::yes)).map(|t| t.data)
}

/// `node` with its subqueries' far references brought in, and theirs in turn.
fn bring_in_node(node: LogicalPlan) -> Result<LogicalPlan> {
    let schema = Arc::clone(node.schema());
    // First what reads only the outer row moves out, as new columns of the node's input: what
    // is brought in next may read them.
    let node = match &node.inputs()[..] {
        [input] => {
            let input = (*input).clone();
            let mut hoisted = vec![];
            let node = node
                .map_subqueries(|subquery| {
                    let LogicalPlan::Subquery(subquery) = subquery else { unreachable!("map_subqueries hands subqueries") };
                    Ok(Transformed::yes(LogicalPlan::Subquery(hoist(subquery, &input, &mut hoisted)?)))
                })?
                .data;
            if hoisted.is_empty() {
                node
            } else {
                let input = bring_in_node(with_columns(input, hoisted)?)?;
                node.with_new_exprs(node.expressions(), vec![input])?
            }
        }
        _ => node,
    };
    let scope = node.inputs().into_iter().cloned().collect::<Vec<_>>();
    let node = node
        .map_subqueries(|subquery| {
            let LogicalPlan::Subquery(subquery) = subquery else { unreachable!("map_subqueries hands subqueries") };
            // An IN whose left side reads the outer row becomes EXISTS, whose references two
            // levels out are then brought in. The left sides that hold subqueries are computed
            // after the domain is joined in, so that the columns computed first come with the
            // domain's (the decorrelation rules take the domain's condition up through the
            // projection that computes them, and DataFusion's does not make a join above that
            // projection anew: "No field named __squall_outer0.k0").
            let plan = in_with_outer_left_side::rewrite(Arc::unwrap_or_clone(subquery.subquery))?.data;
            let subquery = bring_in_to(with_plan(plan, subquery.spans), &scope)?;
            let plan = computed_left_sides::rewrite(Arc::unwrap_or_clone(subquery.subquery), false)?.data;
            let inner = bring_in(plan)?;
            Ok(Transformed::yes(LogicalPlan::Subquery(with_plan(inner, subquery.spans))))
        })?
        .data;
    if node.schema().as_ref() == schema.as_ref() {
        return Ok(node);
    }
    // A filter over the hoisted columns would pass them on.
    let columns = schema.columns().into_iter().map(Expr::Column).collect::<Vec<_>>();
    LogicalPlanBuilder::from(node).project(columns)?.build()
}

/// A subquery expression inside `subquery` that reads nothing of `subquery`'s rows, only the
/// outer row (`input`'s): `(SELECT count(*) FROM t2 WHERE t1.c IN (SELECT
/// x FROM t3) AND ...)`, `(SELECT max(x) + (SELECT count(*) FROM u WHERE u.y <= t1.b) FROM t2)`.
/// It has one value per outer row, and is computed beside the outer row instead, read inside as
/// one of its columns (pushed to `hoisted`, named `__squall_hoisted<n>`). Left where it was, the
/// decorrelation rules would not take it: an `IN` whose left side is the outer row's becomes a
/// join on an outer column, a scalar subquery's select list and HAVING sit above its aggregate,
/// where no domain can be joined. Computed beside the outer row, it is
/// computed for rows the subquery might not have reached (no rows, a CASE branch not taken): the
/// value is the same, and an error it raises there (21000) is one PostgreSQL may raise too, by
/// its plan's choice.
fn hoist(subquery: Subquery, input: &LogicalPlan, hoisted: &mut Vec<Expr>) -> Result<Subquery> {
    let plan = Arc::unwrap_or_clone(subquery.subquery)
        .transform_up(|node| {
            let own = scopes_with(&[], &node);
            map_expressions_keeping_names(node, |expr| {
                expr.transform_down(|e| {
                    if !is_subquery_expression(&e) || !reads_only(&e, &own, input) || e.is_volatile() {
                        return Ok(Transformed::no(e));
                    }
                    let name = format!("__squall_hoisted{}", NEXT.fetch_add(1, Ordering::Relaxed));
                    let field = Arc::new(Field::new(name.as_str(), e.get_type(input.schema())?, true));
                    // At the outer query's level, its reads of the outer row are of its own columns.
                    let at_outer_level = e.transform(|e| match e {
                        Expr::OuterReferenceColumn(_, column) => Ok(Transformed::yes(Expr::Column(column))),
                        e => Ok(Transformed::no(e)),
                    })?;
                    hoisted.push(at_outer_level.data.alias(name.as_str()));
                    Ok(Transformed::new(Expr::OuterReferenceColumn(field, Column::from_name(name)), true, TreeNodeRecursion::Jump))
                })
            })
        })?
        .data;
    Ok(with_plan(plan, subquery.spans))
}

fn is_subquery_expression(e: &Expr) -> bool {
    matches!(e, Expr::ScalarSubquery(_) | Expr::Exists(_) | Expr::InSubquery(_) | Expr::SetComparison(_))
}

/// Whether `e` (a subquery expression in a node over `own`, the subquery's own rows) reads
/// nothing of `own` and, of the queries around, only `input`'s, at least one column: it has one
/// value per row of `input`. An uncorrelated one stays where it is: hoisted, uncorrelated scalar
/// subqueries under `ANY` inside `ANY` made a plan whose execution never finished (differential
/// seed 14, query 23880).
fn reads_only(e: &Expr, own: &[DFSchemaRef], input: &LogicalPlan) -> bool {
    if !e.column_refs().is_empty() {
        return false;
    }
    // `e`'s own outer references (IN's left side) are `input`'s; one from inside its subquery
    // that no query there has is `own`'s (the nearest) if `own` has it, else `input`'s.
    let (mut of_e, mut from_inside) = (vec![], vec![]);
    let _ = e.apply(|e| {
        match e {
            Expr::OuterReferenceColumn(_, column) => of_e.push(column.clone()),
            Expr::ScalarSubquery(s) | Expr::Exists(Exists { subquery: s, .. }) | Expr::InSubquery(InSubquery { subquery: s, .. }) | Expr::SetComparison(SetComparison { subquery: s, .. }) => {
                from_inside.extend(own_outer_references(&s.subquery).into_iter().map(|(_, column)| column));
                nested_references(&s.subquery, &[], &mut |_, column, resolved| {
                    if !resolved {
                        from_inside.push(column.clone());
                    }
                });
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    });
    let of_input = |column: &Column| input.schema().has_column(column);
    let of_own = |column: &Column| own.iter().any(|schema| schema.has_column(column));
    (!of_e.is_empty() || !from_inside.is_empty()) && of_e.iter().all(of_input) && from_inside.iter().all(|c| !of_own(c) && of_input(c))
}

/// `subquery` of a node over `scope`, with the references its own subqueries make to `scope`
/// read from a domain joined into it instead.
fn bring_in_to(subquery: Subquery, scope: &[LogicalPlan]) -> Result<Subquery> {
    let far = far_references(&subquery.subquery, scope);
    if far.is_empty() {
        return Ok(subquery);
    }
    let Some(domain_sources) = domain_sources(&far, scope) else {
        // Left as it is: refused below.
        return Ok(subquery);
    };
    let plan = join_domains(Arc::unwrap_or_clone(subquery.subquery), &far, &domain_sources)?;
    Ok(with_plan(plan, subquery.spans))
}

fn with_plan(plan: LogicalPlan, spans: datafusion::common::Spans) -> Subquery {
    let outer_ref_columns = plan.all_out_ref_exprs();
    Subquery { subquery: Arc::new(plan), outer_ref_columns, spans }
}

/// A column of the outer query that a subquery's own subqueries read.
#[derive(Clone, PartialEq)]
struct Far {
    column: Column,
    field: FieldRef,
}

/// The columns of `scope` that `plan`'s subqueries (at any depth, not `plan`'s own nodes) refer
/// to, where no query between them and `scope` has the column.
fn far_references(plan: &LogicalPlan, scope: &[LogicalPlan]) -> Vec<Far> {
    let mut found: Vec<Far> = vec![];
    nested_references(plan, &[], &mut |field, column, resolved| {
        let far = Far { column: column.clone(), field: Arc::clone(field) };
        if !resolved && in_scope(scope, column) && !found.contains(&far) {
            found.push(far);
        }
    });
    found
}

fn in_scope(scope: &[LogicalPlan], column: &Column) -> bool {
    scope.iter().any(|input| input.schema().has_column(column))
}

/// Calls `f` with every outer reference of `plan`'s subqueries, at any depth (not of `plan`'s own
/// nodes), and whether a query between it and `plan` has the column (the reference is then to
/// that query). `scopes` are the inputs of the nodes the subqueries around `plan` are in.
fn nested_references(plan: &LogicalPlan, scopes: &[DFSchemaRef], f: &mut dyn FnMut(&FieldRef, &Column, bool)) {
    let _ = plan.apply(|node| {
        let inner = scopes_with(scopes, node);
        node.apply_subqueries(|subquery| {
            let LogicalPlan::Subquery(subquery) = subquery else { return Ok(TreeNodeRecursion::Continue) };
            for (field, column) in own_outer_references(&subquery.subquery) {
                f(&field, &column, inner.iter().any(|schema| schema.has_column(&column)));
            }
            nested_references(&subquery.subquery, &inner, f);
            Ok(TreeNodeRecursion::Continue)
        })
    });
}

/// `scopes` and the inputs of `node`: what a subquery of `node` can refer to.
fn scopes_with(scopes: &[DFSchemaRef], node: &LogicalPlan) -> Vec<DFSchemaRef> {
    scopes.iter().cloned().chain(node.inputs().into_iter().map(|input| Arc::clone(input.schema()))).collect()
}

/// For each far column, the plan its domain reads: the outer node's input that has it if that
/// input refers to nothing outside itself (its rows are then the outer query's rows), else the
/// highest plan below that still has the column and refers to nothing outside itself. Any
/// plan that has every row's value will do: its distinct values hold each row's value once.
/// None if a column has no such plan, or one that may give other values when read again.
fn domain_sources(far: &[Far], scope: &[LogicalPlan]) -> Option<Vec<LogicalPlan>> {
    far.iter()
        .map(|f| {
            let mut plan = scope.iter().find(|input| input.schema().has_column(&f.column))?;
            loop {
                if is_closed(plan) {
                    return (!plan_is_volatile(plan)).then(|| plan.clone());
                }
                plan = plan.inputs().into_iter().find(|input| input.schema().has_column(&f.column))?;
            }
        })
        .collect()
}

/// Whether every outer reference inside `plan` is to a query inside it.
pub(super) fn is_closed(plan: &LogicalPlan) -> bool {
    let mut closed = own_outer_references(plan).is_empty();
    nested_references(plan, &[], &mut |_, _, resolved| closed &= resolved);
    closed
}

/// `plan` (a subquery's) with a domain joined below each of its nodes whose subqueries read
/// `far`, and those reads turned into reads of the domain's columns.
fn join_domains(plan: LogicalPlan, far: &[Far], sources: &[LogicalPlan]) -> Result<LogicalPlan> {
    plan.transform_up(|node| {
        if !reads_far(&node, far) {
            return Ok(Transformed::no(node));
        }
        let domain = Domain::new(far, sources)?;
        let original_schema = Arc::clone(node.schema());
        let scopes = scopes_with(&[], &node);
        let mut inputs = node.inputs().into_iter().cloned().collect::<Vec<_>>();
        let first = LogicalPlanBuilder::from(inputs.remove(0)).cross_join(domain.plan)?;
        // A filter takes the domain's condition as one more of its own (the decorrelation rules
        // find a filter's correlated conditions beside its subqueries, as SQL puts them).
        let in_filter = matches!(node, LogicalPlan::Filter(_));
        inputs.insert(0, if in_filter { first.build()? } else { first.filter(domain.matches.clone())?.build()? });
        let before = node.clone();
        let node = node.map_subqueries(|s| {
            let LogicalPlan::Subquery(s) = s else { unreachable!("map_subqueries hands subqueries") };
            Ok(Transformed::yes(LogicalPlan::Subquery(read_domain(s, &domain.reads, &scopes)?)))
        })?;
        let mut exprs = with_names_of(&before, node.data.expressions());
        if in_filter {
            let predicate = exprs.pop().expect("a filter's predicate");
            exprs.push(domain.matches.and(predicate));
        }
        rebuilt_keeping_columns(&node.data, exprs, inputs, &original_schema).map(Transformed::yes)
    })
    .map(|t| t.data)
}

/// Whether a subquery of `node`'s (at any depth) reads a column of `far`.
fn reads_far(node: &LogicalPlan, far: &[Far]) -> bool {
    let scopes = scopes_with(&[], node);
    let mut reads = false;
    let mut read = |_: &FieldRef, column: &Column, resolved: bool| reads |= !resolved && far.iter().any(|f| &f.column == column);
    let _ = node.apply_subqueries(|subquery| {
        let LogicalPlan::Subquery(subquery) = subquery else { return Ok(TreeNodeRecursion::Continue) };
        for (field, column) in own_outer_references(&subquery.subquery) {
            read(&field, &column, scopes.iter().any(|schema| schema.has_column(&column)));
        }
        nested_references(&subquery.subquery, &scopes, &mut read);
        Ok(TreeNodeRecursion::Continue)
    });
    reads
}

/// The distinct values of the far columns, joined into a subquery.
struct Domain {
    plan: LogicalPlan,
    /// The condition that picks an outer row's own domain row: one equality per column, which
    /// the decorrelation rules take under an aggregate too (`IS NOT DISTINCT FROM` they do not).
    /// A column that may be NULL is two in the domain, its value with NULL made a default
    /// (`k`) and whether it was NULL (`n`): each pair of values stands for one value or NULL.
    matches: Expr,
    /// What the subqueries read in place of each far column: the domain's column, or for one
    /// that may be NULL, `CASE WHEN n THEN NULL ELSE k END`.
    reads: Vec<(Column, Expr)>,
}

impl Domain {
    /// Columns of one source are read together; those of different sources are crossed (a
    /// superset of the combinations the rows have, each once).
    fn new(far: &[Far], sources: &[LogicalPlan]) -> Result<Self> {
        let alias = format!("__squall_outer{}", NEXT.fetch_add(1, Ordering::Relaxed));
        // Per far column: (domain column, the expression of the outer column it holds).
        let mut columns: Vec<Vec<(String, Expr)>> = vec![];
        let (mut matches, mut reads) = (vec![], vec![]);
        for (i, f) in far.iter().enumerate() {
            let outer = Expr::OuterReferenceColumn(Arc::clone(&f.field), f.column.clone());
            let inner = |name: &str| Column::new(Some(alias.as_str()), name);
            let as_outer = |name: &str| Expr::OuterReferenceColumn(Arc::new(f.field.as_ref().clone().with_name(name)), inner(name));
            let default = ScalarValue::new_default(f.field.data_type()).ok().filter(|_| f.field.is_nullable());
            match default {
                None => {
                    let c = format!("c{i}");
                    columns.push(vec![(c.clone(), Expr::Column(f.column.clone()))]);
                    matches.push(Expr::Column(inner(&c)).eq(outer));
                    reads.push((f.column.clone(), as_outer(&c)));
                }
                Some(default) => {
                    let (k, n) = (format!("k{i}"), format!("n{i}"));
                    let value = |e: Expr| coalesce(vec![e, lit(default.clone())]);
                    columns.push(vec![(k.clone(), value(Expr::Column(f.column.clone()))), (n.clone(), Expr::Column(f.column.clone()).is_null())]);
                    matches.push(Expr::Column(inner(&k)).eq(value(outer.clone())));
                    matches.push(Expr::Column(inner(&n)).eq(outer.is_null()));
                    let n_field = Arc::new(Field::new(n.as_str(), DataType::Boolean, false));
                    let was_null = Expr::OuterReferenceColumn(n_field, inner(&n));
                    let k_field = Arc::new(f.field.as_ref().clone().with_name(k.as_str()).with_nullable(false));
                    let null = lit(ScalarValue::try_from(f.field.data_type())?);
                    let read = when(was_null, null).otherwise(Expr::OuterReferenceColumn(k_field, inner(&k)))?;
                    reads.push((f.column.clone(), read));
                }
            }
        }
        let mut groups: Vec<(&LogicalPlan, Vec<(String, Expr)>)> = vec![];
        for (source, exprs) in sources.iter().zip(columns) {
            match groups.iter_mut().find(|(s, _)| *s == source) {
                Some((_, group)) => group.extend(exprs),
                None => groups.push((source, exprs)),
            }
        }
        let mut names = vec![];
        let mut domain: Option<LogicalPlanBuilder> = None;
        for (source, exprs) in groups {
            names.extend(exprs.iter().map(|(name, _)| name.clone()));
            let exprs = exprs.into_iter().map(|(name, e)| e.alias(name));
            let part = LogicalPlanBuilder::from(source.clone()).project(exprs)?.distinct()?.build()?;
            domain = Some(match domain {
                None => LogicalPlanBuilder::from(part),
                Some(domain) => domain.cross_join(part)?,
            });
        }
        let domain = domain.expect("at least one far column");
        let plan = domain.project(names.iter().map(|n| Expr::Column(Column::from_name(n.as_str()))))?.alias(alias.as_str())?.build()?;
        let matches = conjunction(matches).expect("at least one far column");
        Ok(Self { plan, matches, reads })
    }
}

/// `subquery` with its reads of the far columns (at any depth) turned into reads of the domain,
/// each subquery's list of outer references made anew. `scopes` are what the queries around
/// `subquery`, up to the domain's, have: a read of a column one of them has is theirs.
fn read_domain(subquery: Subquery, reads: &[(Column, Expr)], scopes: &[DFSchemaRef]) -> Result<Subquery> {
    let plan = Arc::unwrap_or_clone(subquery.subquery)
        .transform_up(|node| {
            let inner = scopes_with(scopes, &node);
            let node = node.map_subqueries(|s| {
                let LogicalPlan::Subquery(s) = s else { unreachable!("map_subqueries hands subqueries") };
                Ok(Transformed::yes(LogicalPlan::Subquery(read_domain(s, reads, &inner)?)))
            })?;
            // A subquery's column is named after its plan's first field, which this keeps.
            let read = map_expressions_keeping_names(node.data, |e| {
                e.transform(|e| match e {
                    Expr::OuterReferenceColumn(_, ref column) if !scopes.iter().any(|s| s.has_column(column)) => {
                        match reads.iter().find(|(c, _)| c == column) {
                            Some((_, read)) => Ok(Transformed::yes(read.clone())),
                            None => Ok(Transformed::no(e)),
                        }
                    }
                    _ => Ok(Transformed::no(e)),
                })
            })?;
            Ok(Transformed::new(read.data, read.transformed || node.transformed, TreeNodeRecursion::Continue))
        })?
        .data;
    Ok(with_plan(plan, subquery.spans))
}

/// `exprs`, the rewritten expressions of `before`, named as they were where a node's columns are
/// named after its expressions.
pub(super) fn with_names_of(before: &LogicalPlan, exprs: Vec<Expr>) -> Vec<Expr> {
    if !matches!(before, LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_) | LogicalPlan::Window(_)) {
        return exprs;
    }
    let names = NamePreserver::new(before);
    let saved = before.expressions().iter().map(|e| names.save(e)).collect::<Vec<_>>();
    exprs.into_iter().zip(saved).map(|(e, name)| name.restore(e)).collect()
}

/// Whether a subquery in `plan` has subqueries of its own (only then is there anything to
/// bring in or hoist).
fn has_nested_subqueries(plan: &LogicalPlan) -> bool {
    let mut nested = false;
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::Subquery(subquery) = node {
            let _ = subquery.subquery.apply(|inner| {
                let _ = inner.apply_subqueries(|_| {
                    nested = true;
                    Ok(TreeNodeRecursion::Stop)
                });
                Ok(if nested { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
            });
        }
        Ok(if nested { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    nested
}

/// Fails if a subquery anywhere in `plan` refers to a column its own outer query does not have.
fn refuse_far_references(plan: &LogicalPlan) -> Result<()> {
    plan.apply(|node| {
        for subquery in subqueries_of(node) {
            let inputs = node.inputs();
            for (_, column) in own_outer_references(&subquery.subquery) {
                if !inputs.iter().any(|input| input.schema().has_column(&column)) {
                    return Err(DataFusionError::NotImplemented(format!("{REFUSED} ({column}) is not supported yet")));
                }
            }
            refuse_far_references(&subquery.subquery)?;
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .map(|_| ())
}

/// The subqueries of `node`'s own expressions (not of their subqueries).
fn subqueries_of(node: &LogicalPlan) -> Vec<Subquery> {
    let mut found = vec![];
    let _ = node.apply_expressions(|expr| {
        expr.apply(|e| {
            match e {
                Expr::ScalarSubquery(s)
                | Expr::Exists(Exists { subquery: s, .. })
                | Expr::InSubquery(InSubquery { subquery: s, .. })
                | Expr::SetComparison(SetComparison { subquery: s, .. }) => {
                    // Their own children are of this node (the left side of IN and ANY).
                    found.push(s.clone());
                }
                _ => {}
            }
            Ok(TreeNodeRecursion::Continue)
        })
    });
    found
}

/// The outer columns `plan`'s own nodes refer to (not those its subqueries refer to: an
/// expression's walk does not enter a subquery's plan).
fn own_outer_references(plan: &LogicalPlan) -> Vec<(FieldRef, Column)> {
    let mut found = vec![];
    let _ = plan.apply(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::OuterReferenceColumn(field, column) = e {
                    found.push((Arc::clone(field), column.clone()));
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    found
}
