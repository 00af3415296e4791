//! `IN` lists answer with PostgreSQL's NULLs through DataFusion's simplifier.
//!
//! DataFusion's expression simplifier treats two `IN` lists on the same expression as sets:
//! `a IN (1, -2) AND a NOT IN (-2, 0, NULL)` becomes `a IN (1)`, and `a IN (1, 2) AND a IN (3,
//! 4)` becomes `false`. Neither is PostgreSQL's answer: a NULL in a `NOT IN` list makes it never
//! true (`1 NOT IN (-2, 0, NULL)` is NULL, so the row is not kept), and a NULL `a` makes both
//! sides NULL, not false (which differs in a select list). [`InListNulls`], an analyzer rule,
//! gives the simplifier nothing of the kind to merge:
//! - a list's NULLs are taken out of it: `a IN (1, NULL)` is `a IN (1) OR NULL` and `a NOT IN
//!   (1, NULL)` is `a NOT IN (1) AND NULL`, the same values in three-valued logic;
//! - two lists on the same expression joined by AND or OR are answered as NULL when that
//!   expression is NULL (`CASE WHEN a IS NULL THEN NULL ELSE ... END`), where merging them is
//!   right;
//! - a list with an item that is not a constant (a parameter, a column) on an expression another
//!   list also tests is written out as the comparisons it stands for (`a = $1 OR a = $2`, `a <>
//!   $3`): the simplifier compares items as written, so `a IN ($1, $2) AND a NOT IN ($3)` became
//!   `a IN ($1, $2)` and `a IN ($1, $2) AND a IN ($3)` became `false`, whatever the values. Such
//!   lists come from prepared statements, and from squall's own templates of simple queries
//!   (`squall_engine::literal_templates`), which make `a IN (3, 6) AND a IN (6)` one.

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::expr::{Cast, InList, TryCast};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{when, BinaryExpr, Expr, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct InListNulls;

impl AnalyzerRule for InListNulls {
    fn name(&self) -> &str {
        "squall_in_list_nulls"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let names = NamePreserver::new(&node);
            node.map_expressions(|expr| {
                let name = names.save(&expr);
                let shared = subjects_of_several_lists(&expr);
                let expr = expr.transform_up(|e| write_out(e, &shared))?.data;
                Ok(expr.transform_up(rewrite)?.update_data(|e| name.restore(e)))
            })
        })
        .map(|transformed| transformed.data)
    }
}

fn rewrite(expr: Expr) -> Result<Transformed<Expr>> {
    match expr {
        Expr::InList(in_list) if in_list.list.iter().any(is_null) => {
            let InList { expr, list, negated } = in_list;
            let list = list.into_iter().filter(|item| !is_null(item)).collect();
            let without_nulls = Expr::InList(InList { expr, list, negated });
            let null = Expr::Literal(ScalarValue::Boolean(None), None);
            // Three-valued logic: `x IN (l, NULL)` is true where `x IN (l)` is, NULL elsewhere;
            // `x NOT IN (l, NULL)` is false where `x NOT IN (l)` is, NULL elsewhere.
            Ok(Transformed::yes(if negated { without_nulls.and(null) } else { without_nulls.or(null) }))
        }
        Expr::BinaryExpr(BinaryExpr { left, op: op @ (Operator::And | Operator::Or), right }) => {
            match (list_subject(&left), list_subject(&right)) {
                (Some(l), Some(r)) if l == r && !matches!(l, Expr::Literal(..)) => {
                    let subject = l.clone();
                    let both = Expr::BinaryExpr(BinaryExpr { left, op, right });
                    let null = Expr::Literal(ScalarValue::Boolean(None), None);
                    Ok(Transformed::yes(when(subject.is_null(), null).otherwise(both)?))
                }
                _ => Ok(Transformed::no(Expr::BinaryExpr(BinaryExpr { left, op, right }))),
            }
        }
        other => Ok(Transformed::no(other)),
    }
}

/// The expressions that two or more `IN` lists in `expr` test.
fn subjects_of_several_lists(expr: &Expr) -> Vec<Expr> {
    let mut seen = Vec::new();
    let mut shared = Vec::new();
    let _ = expr.apply(|e| {
        if let Expr::InList(in_list) = e {
            let subject = in_list.expr.as_ref();
            if seen.contains(subject) {
                if !shared.contains(subject) {
                    shared.push(subject.clone());
                }
            } else {
                seen.push(subject.clone());
            }
        }
        Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
    });
    shared
}

/// `x IN (a, b)` as `x = a OR x = b` and `x NOT IN (a, b)` as `x <> a AND x <> b` (the same
/// values, NULLs included), for a list with an item that is not a constant on an expression
/// another list tests.
fn write_out(expr: Expr, shared: &[Expr]) -> Result<Transformed<Expr>> {
    match expr {
        Expr::InList(in_list)
            if !in_list.list.is_empty()
                && shared.contains(in_list.expr.as_ref())
                && in_list.list.iter().any(|item| !matches!(item, Expr::Literal(..))) =>
        {
            let InList { expr, list, negated } = in_list;
            let comparisons = list.into_iter().map(|item| if negated { expr.as_ref().clone().not_eq(item) } else { expr.as_ref().clone().eq(item) });
            let written = comparisons.reduce(|all, one| if negated { all.and(one) } else { all.or(one) }).expect("a list that is not empty");
            Ok(Transformed::yes(written))
        }
        other => Ok(Transformed::no(other)),
    }
}

/// The expression `expr` tests for membership in a list of values, as DataFusion's simplifier
/// sees one: `x [NOT] IN (...)`, `x = literal`, and ORs of those on the same `x`.
fn list_subject(expr: &Expr) -> Option<&Expr> {
    match expr {
        Expr::InList(in_list) => Some(in_list.expr.as_ref()),
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Eq, right }) => match (left.as_ref(), right.as_ref()) {
            (Expr::Literal(..), Expr::Literal(..)) => None,
            // A column, or a column cast to the constant's type by type coercion (the
            // simplifier takes the cast off).
            (subject, Expr::Literal(..)) => Some(subject),
            (Expr::Literal(..), subject) => Some(subject),
            _ => None,
        },
        Expr::BinaryExpr(BinaryExpr { left, op: Operator::Or, right }) => {
            let subject = list_subject(left)?;
            (list_subject(right)? == subject).then_some(subject)
        }
        _ => None,
    }
}

/// A NULL written in a list: `NULL`, or a cast of one (type coercion casts it to the list's type).
fn is_null(expr: &Expr) -> bool {
    match expr {
        Expr::Literal(value, _) => value.is_null(),
        Expr::Cast(Cast { expr, .. }) | Expr::TryCast(TryCast { expr, .. }) => is_null(expr),
        _ => false,
    }
}
