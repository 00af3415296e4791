//! Catalog queries drivers and psql send that DataFusion reads otherwise. These rewrites are keyed
//! on the names of catalog columns or made for catalog lookups, and would change what a user's
//! query means (a user's column may be called `indkey`), so most apply to catalog statements only
//! ([`catalog_rewrites`]); `pg_table_is_visible` and boolean catalog columns compared with `'t'`
//! are rewritten wherever they are written.
//!
//! - `pg_table_is_visible(oid)` (psql's `\dt`, SQLAlchemy's names without a schema), which the
//!   emulation answers true for every relation, is true only for relations in `public` and
//!   `pg_catalog`, as PostgreSQL answers with the default search path: squall's system tables
//!   are found under `squall.` (`\dt squall.*`), not among the user's.
//! - `ARRAY(subquery)`, `indisprimary = 't'`, subscripts and bounds of catalog vector columns,
//!   option/ACL lists (NULL).
//! - `unnest(i.indkey)` and `generate_subscripts(i.indkey, 1)` over the catalogs' vector columns
//!   (`indkey`, `indclass`, `indoption`, `conkey`, `confkey`: SQLAlchemy's primary key, index and
//!   unique-constraint queries): the pg_catalog emulation keeps them as space-separated text, so
//!   they are read as integer arrays first.
//! - A scalar subquery over the system catalogs that is not aggregated (`(SELECT typcollation
//!   FROM pg_catalog.pg_type WHERE oid = atttypid)`, as SQLAlchemy and pgjdbc write them):
//!   DataFusion decorrelates only aggregated ones, so the one column is wrapped in `max()`. Catalog
//!   lookups are by key (one row or none), where that is the same value; user queries are left as
//!   written, so that a subquery returning several rows stays an error there.
//! - `CASE WHEN c THEN (SELECT e FROM catalog ... WHERE w) [ELSE NULL] END`, which DataFusion
//!   cannot plan, becomes `(SELECT max(e) FROM ... WHERE (w) AND (c))`: the same value (NULL when
//!   `c` does not hold). A correlated lookup in the projection is then what datafusion-pg-catalog's
//!   rules handle (the caller runs them again): column defaults, identity and collations, which
//!   squall's tables do not have, read as NULL.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Query, SelectItem, SetExpr, TableFactor, Value,
};

use super::{array_of, call, cast, column_name, function_name, parsed_expr};

/// The rewrites of catalog queries (see [`rewrite`]); whether any changed `expr`.
pub(super) fn catalog_rewrites(expr: &mut Expr) -> bool {
    let mut changed = false;
    if let Some(lookup) = conditional_catalog_lookup(expr) {
        *expr = lookup;
        changed = true;
    }
    // `con.confkey[pos.n]` (pgjdbc's foreign-key calls): the subscript of the array the vector
    // stands for.
    if let Some(subscripted) = catalog_vector_subscript(expr) {
        *expr = subscripted;
        changed = true;
    }
    if options_or_acl_text(expr) {
        *expr = cast(Expr::value(Value::Null), SqlType::Text);
        changed = true;
    }
    if let Some(aggregated) = array_of_subquery(expr) {
        *expr = aggregated;
        changed = true;
    }
    if let Some(expanded) = catalog_vector_expansion(expr) {
        *expr = expanded;
        changed = true;
    }
    if let Expr::Subquery(query) = expr {
        changed |= aggregate_catalog_lookup(query);
    }
    changed
}

/// The catalog columns PostgreSQL types as int2vector/oidvector/int2[], kept as text here.
pub(super) const CATALOG_VECTORS: &[&str] = &["indkey", "indclass", "indoption", "indcollation", "conkey", "confkey"];

/// `unnest(v)` / `generate_subscripts(v, 1)` of a catalog vector column `v`, over `v` as an array.
pub(super) fn catalog_vector_expansion(expr: &Expr) -> Option<Expr> {
    let Expr::Function(function) = expr else { return None };
    let name = function_name(function);
    let name = name.as_str();
    if !["unnest", "generate_subscripts", "array_lower", "array_upper", "array_length", "cardinality"].contains(&name) {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else { return None };
    let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(column))) = list.args.first() else { return None };
    if !column_name(column).is_some_and(|c| CATALOG_VECTORS.contains(&c.as_str())) {
        return None;
    }
    let array = vector_as_array(column);
    Some(match name {
        "unnest" => call("unnest", vec![array]),
        // Subscripts 1..=n, in step with unnest of the same vector.
        "generate_subscripts" => {
            call("unnest", vec![call("generate_series", vec![Expr::value(Value::Number("1".into(), false)), call("cardinality", vec![array])])])
        }
        // The same function of the array (psqlODBC's SQLForeignKeys: `array_upper(conkey, 1)`).
        _ => {
            let mut args: Vec<Expr> = vec![array];
            args.extend(list.args.iter().skip(1).filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            }));
            call(name, args)
        }
    })
}

/// Boolean catalog columns that drivers compare with `'t'` / `'f'` (psqlODBC's SQLPrimaryKeys:
/// `i.indisprimary = 't'`), which PostgreSQL reads as booleans and DataFusion refuses to compare.
pub(super) const CATALOG_BOOLEANS: &[&str] = &[
    "indisprimary", "indisunique", "indisclustered", "indisvalid", "indimmediate", "attisdropped", "attnotnull", "atthasdef",
    "relhasindex", "relhasrules", "relhastriggers", "relhassubclass", "relispartition", "condeferrable", "condeferred",
    "convalidated", "typnotnull", "proisstrict", "proretset",
];

/// `boolean_column = 't'` (or `'f'`, `'true'`, `'false'`, either side) with a boolean literal.
pub(super) fn catalog_boolean_literal(expr: &mut Expr) -> bool {
    let Expr::BinaryOp { left, op: BinaryOperator::Eq | BinaryOperator::NotEq, right } = expr else { return false };
    let is_boolean_column = |e: &Expr| column_name(e).is_some_and(|c| CATALOG_BOOLEANS.contains(&c.as_str()));
    let literal = if is_boolean_column(left) { right.as_mut() } else if is_boolean_column(right) { left.as_mut() } else { return false };
    let Expr::Value(value) = literal else { return false };
    let truth = match &value.value {
        Value::SingleQuotedString(s) => match s.to_ascii_lowercase().as_str() {
            "t" | "true" => true,
            "f" | "false" => false,
            _ => return false,
        },
        _ => return false,
    };
    *literal = Expr::value(Value::Boolean(truth));
    true
}

/// The schemas whose tables a session sees unqualified: `public` (the search path) and
/// `pg_catalog` (always searched first in PostgreSQL).
pub(super) const VISIBLE_SCHEMAS: &str = "'public', 'pg_catalog'";

/// `pg_table_is_visible(x)` as `x IN (oids of the relations in the visible schemas)`.
pub(super) fn table_visibility(expr: &Expr) -> Option<Expr> {
    let Expr::Function(function) = expr else { return None };
    if function_name(function) != "pg_table_is_visible" {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else { return None };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(oid))] = list.args.as_slice() else { return None };
    let text = format!(
        "({oid}) IN (SELECT visible_class.oid FROM pg_catalog.pg_class AS visible_class \
         JOIN pg_catalog.pg_namespace AS visible_namespace ON visible_namespace.oid = visible_class.relnamespace \
         WHERE visible_namespace.nspname IN ({VISIBLE_SCHEMAS}))"
    );
    parsed_expr(&text)
}

/// A catalog vector column (kept as space-separated text) as the integer array it stands for;
/// `string_to_array('', ...)` is an empty array.
pub(super) fn vector_as_array(column: &Expr) -> Expr {
    cast(call("string_to_array", vec![column.clone(), Expr::value(Value::SingleQuotedString(" ".into()))]), array_of(SqlType::Int(None)))
}

/// `t.v[i]` or `v[i]` of a catalog vector column `v` (parsed as `t` accessed by `.v` then `[i]`),
/// subscripting the array it stands for.
pub(super) fn catalog_vector_subscript(expr: &Expr) -> Option<Expr> {
    let Expr::CompoundFieldAccess { root, access_chain } = expr else { return None };
    let (column, rest) = match (root.as_ref(), access_chain.as_slice()) {
        (Expr::Identifier(table), [AccessExpr::Dot(Expr::Identifier(column)), rest @ ..]) => {
            (Expr::CompoundIdentifier(vec![table.clone(), column.clone()]), rest)
        }
        (Expr::Identifier(_), rest) => (root.as_ref().clone(), rest),
        _ => return None,
    };
    let is_vector = column_name(&column).is_some_and(|c| CATALOG_VECTORS.contains(&c.as_str()));
    if !is_vector || !matches!(rest.first(), Some(AccessExpr::Subscript(_))) {
        return None;
    }
    Some(Expr::CompoundFieldAccess { root: Box::new(vector_as_array(&column)), access_chain: rest.to_vec() })
}

/// Catalog columns holding storage options or access privileges, which squall's relations,
/// schemas, databases and functions do not have (the emulation keeps some as text, lacks others).
pub(super) const OPTION_AND_ACL_COLUMNS: &[&str] = &["reloptions", "relacl", "nspacl", "datacl", "attacl", "proacl", "typacl", "attoptions"];

/// Whether `expr` is `array_to_string(x, ...)` of such a column (psql's `\dn+`, `\d+`), which
/// is then NULL: nothing to list.
pub(super) fn options_or_acl_text(expr: &Expr) -> bool {
    let Expr::Function(function) = expr else { return false };
    if function_name(function) != "array_to_string" {
        return false;
    }
    let FunctionArguments::List(list) = &function.args else { return false };
    let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(array))) = list.args.first() else { return false };
    let mut mentions_one = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(array, |e| {
        if column_name(e).is_some_and(|c| OPTION_AND_ACL_COLUMNS.contains(&c.as_str())) {
            mentions_one = true;
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    });
    mentions_one
}

/// `ARRAY(SELECT e FROM ... WHERE ...)` (psql's `\du` and `\d+`), which DataFusion does not
/// plan, as `(SELECT array_agg(e) FROM ... WHERE ...)`; only for a plain one-column select without
/// grouping, DISTINCT, ORDER BY or LIMIT. Over no rows it is NULL where PostgreSQL gives `{}`.
pub(super) fn array_of_subquery(expr: &Expr) -> Option<Expr> {
    let Expr::Function(function) = expr else { return None };
    if function_name(function) != "array" {
        return None;
    }
    let FunctionArguments::Subquery(query) = &function.args else { return None };
    if query.order_by.is_some() || query.limit_clause.is_some() || query.with.is_some() {
        return None;
    }
    let mut query = query.clone();
    let SetExpr::Select(select) = query.body.as_mut() else { return None };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if select.projection.len() != 1 || grouped || select.having.is_some() || select.distinct.is_some() {
        return None;
    }
    let (SelectItem::UnnamedExpr(element) | SelectItem::ExprWithAlias { expr: element, .. }) = &mut select.projection[0] else { return None };
    let inner = std::mem::replace(element, Expr::value(Value::Null));
    *element = call("array_agg", vec![inner]);
    Some(Expr::Subquery(query))
}

/// `CASE WHEN c THEN (catalog subquery) [ELSE NULL] END` as one subquery that also requires `c`.
pub(super) fn conditional_catalog_lookup(expr: &Expr) -> Option<Expr> {
    let Expr::Case { operand: None, conditions, else_result, .. } = expr else { return None };
    if conditions.len() != 1 || else_result.as_deref().is_some_and(|e| !matches!(e, Expr::Value(v) if v.value == Value::Null)) {
        return None;
    }
    let Expr::Subquery(query) = &conditions[0].result else { return None };
    let mut query = query.clone();
    aggregate_catalog_lookup(&mut query);
    let SetExpr::Select(select) = query.body.as_mut() else { return None };
    if !matches!(&select.projection[..], [SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }] if has_aggregate(e)) {
        return None; // not a catalog lookup this module aggregates
    }
    let condition = Expr::Nested(Box::new(conditions[0].condition.clone()));
    select.selection = Some(match select.selection.take() {
        Some(w) => Expr::BinaryOp { left: Box::new(Expr::Nested(Box::new(w))), op: BinaryOperator::And, right: Box::new(condition) },
        None => condition,
    });
    Some(Expr::Subquery(query))
}

/// Wraps the single column of an unaggregated scalar subquery over catalog tables in `max()`;
/// whether it did.
pub(super) fn aggregate_catalog_lookup(query: &mut Query) -> bool {
    let SetExpr::Select(select) = query.body.as_mut() else { return false };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if select.projection.len() != 1 || grouped || select.having.is_some() || select.distinct.is_some() || select.from.is_empty() {
        return false;
    }
    let catalog_only = select.from.iter().all(|t| is_catalog(&t.relation) && t.joins.iter().all(|j| is_catalog(&j.relation)));
    if !catalog_only {
        return false;
    }
    let expr = match &mut select.projection[0] {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
        _ => return false,
    };
    if has_aggregate(expr) {
        return false;
    }
    let inner = std::mem::replace(expr, Expr::value(Value::Null));
    *expr = call("max", vec![inner]);
    true
}

pub(super) fn is_catalog(relation: &TableFactor) -> bool {
    matches!(relation, TableFactor::Table { name, .. } if crate::pg::rewrite_rules::is_catalog_name(name))
}

/// Whether `expr` calls an aggregate function (the common ones catalog queries use).
pub(super) fn has_aggregate(expr: &Expr) -> bool {
    const AGGREGATES: &[&str] = &["count", "sum", "min", "max", "avg", "array_agg", "string_agg", "bool_and", "bool_or", "json_agg", "jsonb_agg"];
    let mut found = false;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(expr, |e| {
        if let Expr::Function(f) = e {
            if AGGREGATES.iter().any(|a| f.name.to_string().eq_ignore_ascii_case(a)) {
                found = true;
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    found
}
