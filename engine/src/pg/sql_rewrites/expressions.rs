//! Expressions DataFusion reads or plans otherwise than PostgreSQL.
//!
//! - `x LIKE p ESCAPE 'c'` (SQLAlchemy writes `NOT LIKE 'pg/_%' ESCAPE '/'`): DataFusion knows
//!   only the backslash as escape, so the pattern is rewritten at run time by `like_escape(p, 'c')`
//!   into the same pattern escaped with backslashes.
//! - `a IS [NOT] DISTINCT FROM b AND c`, which sqlparser groups otherwise than PostgreSQL.
//! - `(composite).field` (pgjdbc: `(information_schema._pg_expandarray(i.indkey)).n`), which
//!   DataFusion's planner does not read, becomes `get_field(composite, 'field')`.
//! - `EXISTS (subquery)` as a value, which DataFusion plans only as a filter.
//! - `::name` casts (psqlODBC: `'squall'::name`): PostgreSQL's `name` type is text here.

use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion::sql::sqlparser::ast::{AccessExpr, BinaryOperator, Expr, GroupByExpr, Query, SelectItem, SetExpr, Value};

use super::{call, parsed_expr};

/// `x::name` as `x::text`: PostgreSQL's `name` type (psqlODBC: `'squall'::name`) is text here.
pub(super) fn name_as_text(expr: &mut Expr) -> bool {
    if let Expr::Cast { data_type: data_type @ SqlType::Custom(..), .. } = expr {
        if data_type.to_string().eq_ignore_ascii_case("name") || data_type.to_string().eq_ignore_ascii_case("pg_catalog.name") {
            *data_type = SqlType::Text;
            return true;
        }
    }
    false
}

/// `x LIKE p ESCAPE 'c'` as `x LIKE like_escape(p, 'c')` (see [`like_escape_udf`]), unless `c` is
/// the backslash, DataFusion's own escape.
pub(super) fn like_escape(expr: &mut Expr) -> bool {
    if let Expr::Like { pattern, escape_char, .. } | Expr::ILike { pattern, escape_char, .. } = expr {
        if let Some(escape) = escape_char.take() {
            if !matches!(&escape.value, Value::SingleQuotedString(s) if s == "\\") {
                let original = std::mem::replace(pattern.as_mut(), Expr::value(Value::Null));
                **pattern = call(LIKE_ESCAPE, vec![original, Expr::Value(escape)]);
                return true;
            } // else dropped: the backslash is DataFusion's own escape
        }
    }
    false
}

pub(super) const LIKE_ESCAPE: &str = "like_escape";

/// `a IS [NOT] DISTINCT FROM b AND c` is `(a IS [NOT] DISTINCT FROM b) AND c` in PostgreSQL, where
/// IS binds tighter than AND and OR; sqlparser reads the whole `b AND c` as the right operand,
/// which fails to plan or, with boolean operands, answers a different question. An unparenthesized
/// AND/OR on the right is regrouped (parentheses arrive as `Expr::Nested` and are kept).
pub(super) fn distinct_from_precedence(expr: &Expr) -> Option<Expr> {
    fn regroup(negated: bool, left: Expr, right: Expr) -> Expr {
        match right {
            Expr::BinaryOp { left: inner, op: op @ (BinaryOperator::And | BinaryOperator::Or), right: rest } => {
                Expr::BinaryOp { left: Box::new(regroup(negated, left, *inner)), op, right: rest }
            }
            right if negated => Expr::IsNotDistinctFrom(Box::new(left), Box::new(right)),
            right => Expr::IsDistinctFrom(Box::new(left), Box::new(right)),
        }
    }
    let (negated, left, right) = match expr {
        Expr::IsDistinctFrom(left, right) => (false, left, right),
        Expr::IsNotDistinctFrom(left, right) => (true, left, right),
        _ => return None,
    };
    matches!(right.as_ref(), Expr::BinaryOp { op: BinaryOperator::And | BinaryOperator::Or, .. })
        .then(|| regroup(negated, left.as_ref().clone(), right.as_ref().clone()))
}

/// `EXISTS (subquery)` as a value (`SELECT EXISTS (...)`, SQLAlchemy's `exists()`, CASE WHEN
/// EXISTS in a select list), which DataFusion plans only as a filter: a count of the subquery's
/// rows compared with 0, a scalar subquery DataFusion plans, correlated or not. The subquery
/// keeps its FROM and WHERE and counts instead of selecting when it selects plain columns or
/// constants (what ORMs send: `SELECT 1 ... LIMIT 1`); anything else is counted as a derived
/// table.
pub(super) fn exists_as_count(expr: &Expr) -> Option<Expr> {
    let Expr::Exists { subquery, negated } = expr else { return None };
    let counted = match counting(subquery) {
        Some(counting) => Expr::Subquery(Box::new(counting)),
        None => parsed_expr(&format!("(SELECT count(*) FROM ({subquery}) AS exists_rows)"))?,
    };
    let op = if *negated { BinaryOperator::Eq } else { BinaryOperator::Gt };
    Some(Expr::Nested(Box::new(Expr::BinaryOp { left: Box::new(counted), op, right: Box::new(Expr::value(Value::Number("0".into(), false))) })))
}

/// `subquery` counting its rows, if that is the same as counting what it selects: one plain
/// SELECT of columns or constants, without grouping, DISTINCT or an OFFSET (a positive LIMIT
/// does not change whether there are rows).
pub(super) fn counting(subquery: &Query) -> Option<Query> {
    let SetExpr::Select(select) = subquery.body.as_ref() else { return None };
    let plain = |item: &SelectItem| match item {
        SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
            matches!(expr, Expr::Value(_) | Expr::Identifier(_) | Expr::CompoundIdentifier(_))
        }
        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => true,
        _ => false,
    };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(exprs, _) if exprs.is_empty());
    let limited = match &subquery.limit_clause {
        None => false,
        Some(datafusion::sql::sqlparser::ast::LimitClause::LimitOffset { limit: Some(Expr::Value(v)), offset: None, limit_by })
            if limit_by.is_empty() && matches!(&v.value, Value::Number(n, _) if n.parse::<u64>().is_ok_and(|n| n > 0)) =>
        {
            false
        }
        Some(_) => true,
    };
    if subquery.with.is_some() || grouped || limited || select.having.is_some() || select.distinct.is_some() || !select.projection.iter().all(plain) {
        return None;
    }
    let mut counting = subquery.clone();
    counting.order_by = None;
    counting.limit_clause = None;
    let SetExpr::Select(select) = counting.body.as_mut() else { return None };
    select.projection = vec![SelectItem::UnnamedExpr(parsed_expr("count(*)")?)];
    Some(counting)
}

/// `(x).a.b` as `get_field(get_field(x, 'a'), 'b')`.
pub(super) fn field_access(expr: &Expr) -> Option<Expr> {
    let Expr::CompoundFieldAccess { root, access_chain } = expr else { return None };
    let Expr::Nested(inner) = root.as_ref() else { return None };
    let mut out = inner.as_ref().clone();
    for access in access_chain {
        let AccessExpr::Dot(Expr::Identifier(field)) = access else { return None };
        out = call("get_field", vec![out, Expr::value(Value::SingleQuotedString(field.value.to_lowercase()))]);
    }
    Some(out)
}

/// `like_escape(pattern, escape)`: the pattern with `escape` as its escape character, rewritten
/// to use the backslash.
pub fn like_escape_udf() -> ScalarUDF {
    create_udf(
        LIKE_ESCAPE,
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let patterns = datafusion::common::cast::as_string_array(&arrays[0])?;
            let escapes = datafusion::common::cast::as_string_array(&arrays[1])?;
            let out: StringArray = patterns.iter().zip(escapes.iter()).map(|(p, e)| Some(backslashed(p?, e?))).collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

/// `pattern` (escaped with `escape`; empty: no escape) escaped with backslashes instead.
pub(super) fn backslashed(pattern: &str, escape: &str) -> String {
    let escape = escape.chars().next();
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            if let Some(next) = chars.next() {
                out.push('\\');
                out.push(next);
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_keep_their_meaning() {
        assert_eq!(backslashed("pg/_%", "/"), "pg\\_%");
        assert_eq!(backslashed("a//b", "/"), "a\\/b");
        assert_eq!(backslashed("a\\b_", "/"), "a\\\\b_");
        assert_eq!(backslashed("a!%", ""), "a!%");
    }
}
