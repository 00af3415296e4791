//! Select lists DataFusion plans otherwise than PostgreSQL: EXISTS as a value and
//! `generate_series` as a set-returning function in any query; in catalog queries, repeated
//! unnamed literals, vector columns renamed, and `pg_class` columns the emulation lacks; and, when
//! DataFusion refuses repeated result names, names of their own.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion::sql::sqlparser::ast::{visit_expressions_mut, Expr, Ident, Query, SelectItem, SetExpr, Statement, TableFactor, Value};

use super::catalog_queries::{is_catalog, vector_as_array, CATALOG_VECTORS};
use super::expressions::exists_as_count;
use super::{array_of, call, cast, column_name, function_name};

/// Names of their own for the result columns of `statement`'s select lists, for when DataFusion
/// refuses repeated names that PostgreSQL allows (`SELECT 1, 1::float8`, `SELECT count(*),
/// count(*)`, `SELECT a AS x, b AS x`): clients still see PostgreSQL's names, which
/// [`crate::pg::column_names`] figured from the text.
pub fn unique_output_names(statement: &mut Statement) {
    fn rename(body: &mut SetExpr) {
        match body {
            SetExpr::Select(select) => {
                let mut seen = std::collections::HashSet::new();
                for (position, item) in select.projection.iter_mut().enumerate() {
                    let internal = |name: &str| Ident::with_quote('"', format!("{name}?{}", position + 1));
                    match item {
                        SelectItem::UnnamedExpr(expr) => {
                            let expr = std::mem::replace(expr, Expr::value(Value::Null));
                            *item = SelectItem::ExprWithAlias { expr, alias: internal("?column") };
                        }
                        SelectItem::ExprWithAlias { alias, .. } if !seen.insert(alias.value.clone()) => *alias = internal(&alias.value),
                        _ => {}
                    }
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                rename(left);
                rename(right);
            }
            SetExpr::Query(query) => rename(&mut query.body),
            _ => {}
        }
    }
    if let Statement::Query(query) = statement {
        rename(&mut query.body);
    }
}

/// `pg_class` columns the emulation lacks, selected as NULL text arrays: `reloptions`
/// (SQLAlchemy's table and index reflection; squall's relations have no storage options) and
/// `relacl` (pgjdbc's getTablePrivileges; squall's privileges are its GRANTs, not ACLs).
pub(super) const MISSING_PG_CLASS_COLUMNS: &[&str] = &["reloptions", "relacl"];

/// Rewrites of select lists: EXISTS as a value ([`exists_as_count`]); `generate_series` as a
/// set-returning function; in catalog queries,
/// names of their own for repeated unnamed literals (pgjdbc's getProcedures selects `NULL, NULL,
/// NULL`, which PostgreSQL allows and DataFusion refuses as duplicate names), renamed vector
/// columns as arrays, and [`MISSING_PG_CLASS_COLUMNS`] as NULL.
pub(super) struct ProjectionRewrites<'a> {
    pub(super) changed: &'a mut bool,
}

impl datafusion::sql::sqlparser::ast::VisitorMut for ProjectionRewrites<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let SetExpr::Select(select) = query.body.as_mut() else { return ControlFlow::Continue(()) };
        for item in select.projection.iter_mut() {
            let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { continue };
            let _ = visit_expressions_mut(expr, |e| {
                if let Some(counted) = exists_as_count(e) {
                    *e = counted;
                    *self.changed = true;
                }
                ControlFlow::<()>::Continue(())
            });
        }
        // `SELECT generate_series(a, b)` gives rows in PostgreSQL (a set-returning function), an
        // array in DataFusion: its rows are the array's elements.
        for item in select.projection.iter_mut() {
            let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { continue };
            let Expr::Function(function) = expr else { continue };
            if function_name(function) != "generate_series" {
                continue;
            }
            let series = call("unnest", vec![expr.clone()]);
            replace_keeping_name(item, series, "generate_series");
            *self.changed = true;
        }
        let reads_catalog = select.from.iter().any(|t| is_catalog(&t.relation) || t.joins.iter().any(|j| is_catalog(&j.relation)));
        if !reads_catalog {
            return ControlFlow::Continue(());
        }
        let mut literal_names = std::collections::HashSet::new();
        for (position, item) in select.projection.iter_mut().enumerate() {
            let SelectItem::UnnamedExpr(literal @ Expr::Value(_)) = item else { continue };
            if !literal_names.insert(literal.to_string()) {
                let literal = std::mem::replace(literal, Expr::value(Value::Null));
                *item = SelectItem::ExprWithAlias { expr: literal, alias: Ident::with_quote('"', format!("?column?{}", position + 1)) };
                *self.changed = true;
            }
        }
        // A vector column selected under another name is subscripted by its reader under that
        // name (pgjdbc's getIndexInfo: `i.indoption AS I_INDOPTION`, then
        // `tmp.I_INDOPTION[...]`): an array, not text. Under its own name, a subscript is
        // rewritten where it is written (see `catalog_vector_subscript`).
        for item in select.projection.iter_mut() {
            let SelectItem::ExprWithAlias { expr, alias } = item else { continue };
            let Some(column) = column_name(expr).filter(|c| CATALOG_VECTORS.contains(&c.as_str())) else { continue };
            if alias.value.eq_ignore_ascii_case(&column) {
                continue;
            }
            *expr = vector_as_array(expr);
            *self.changed = true;
        }
        let reads_pg_class = select.from.iter().any(|t| is_pg_class(&t.relation) || t.joins.iter().any(|j| is_pg_class(&j.relation)));
        if !reads_pg_class {
            return ControlFlow::Continue(());
        }
        for item in select.projection.iter_mut() {
            let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item else { continue };
            let Some(column) = column_name(expr).filter(|c| MISSING_PG_CLASS_COLUMNS.contains(&c.as_str())) else { continue };
            replace_keeping_name(item, cast(Expr::value(Value::Null), array_of(SqlType::Text)), &column);
            *self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

/// Puts `expr` in place of `item`'s expression, keeping its alias, or naming it `name` (the
/// column name the replaced expression had).
pub(super) fn replace_keeping_name(item: &mut SelectItem, expr: Expr, name: &str) {
    *item = match std::mem::replace(item, SelectItem::UnnamedExpr(Expr::value(Value::Null))) {
        SelectItem::ExprWithAlias { alias, .. } => SelectItem::ExprWithAlias { expr, alias },
        _ => SelectItem::ExprWithAlias { expr, alias: Ident::new(name) },
    };
}

pub(super) fn is_pg_class(relation: &TableFactor) -> bool {
    is_catalog(relation) && matches!(relation, TableFactor::Table { name, .. } if name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| i.value.eq_ignore_ascii_case("pg_class")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_result_names_become_unique() {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT 1, 1::float8, a AS x, b AS x FROM t").unwrap().remove(0);
        unique_output_names(&mut statement);
        assert_eq!(statement.to_string(), "SELECT 1 AS \"?column?1\", 1::FLOAT8 AS \"?column?2\", a AS x, b AS \"x?4\" FROM t");
    }
}
