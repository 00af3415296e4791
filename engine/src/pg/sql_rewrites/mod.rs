//! Rewrites of standard SQL that DataFusion does not plan as PostgreSQL does, made on the parsed
//! statement before planning (and one on the text, before parsing), one file per family:
//! [`literals`], [`expressions`], [`select_lists`], [`catalog_queries`] (catalog statements only)
//! and [`catalog_views`]. [`rewrite`] applies them all; the helpers here build the SQL they write.

mod catalog_queries;
mod catalog_views;
mod expressions;
mod literals;
mod select_lists;

pub use catalog_views::{roles_view, settings_view, Role};
pub use expressions::like_escape_udf;
pub use literals::regproc_literals_as_names;
pub use select_lists::unique_output_names;

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName,
    ObjectNamePart, Statement,
};

/// Whether `sql` contains `word`, in any case: a cheap test that spares most statements a rewrite.
pub fn mentions(sql: &str, word: &str) -> bool {
    sql.as_bytes().windows(word.len()).any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

/// Applies every rewrite to `statement`; whether any changed it.
pub fn rewrite(statement: &mut Statement) -> bool {
    let mut changed = false;
    // Rewrites keyed on the names of catalog columns or made for catalog lookups change what a
    // user's query would mean (a user's column may be called `indkey`; `CASE WHEN c THEN
    // (SELECT count(*) ...) END` is NULL, not 0, when c is false): catalog statements only.
    let catalog = crate::pg::rewrite_rules::reads_catalog(statement);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut select_lists::ProjectionRewrites { changed: &mut changed });
    let _ = visit_expressions_mut(statement, |expr| {
        changed |= literals::parse_template_as_chrono(expr);
        changed |= literals::interval_time_parts(expr);
        if let Some(regrouped) = expressions::distinct_from_precedence(expr) {
            *expr = regrouped;
            changed = true;
        }
        if let Some(access) = expressions::field_access(expr) {
            *expr = access;
            changed = true;
        }
        if let Some(visibility) = catalog_queries::table_visibility(expr) {
            *expr = visibility;
            changed = true;
        }
        changed |= catalog_queries::catalog_boolean_literal(expr);
        changed |= expressions::name_as_text(expr);
        changed |= expressions::like_escape(expr);
        if catalog {
            changed |= catalog_queries::catalog_rewrites(expr);
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// `text` read as one PostgreSQL expression.
fn parsed_expr(text: &str) -> Option<Expr> {
    datafusion::sql::sqlparser::parser::Parser::new(&datafusion::sql::sqlparser::dialect::PostgreSqlDialect {}).try_with_sql(text).ok()?.parse_expr().ok()
}

/// `CAST(expr AS data_type)`.
fn cast(expr: Expr, data_type: SqlType) -> Expr {
    Expr::Cast { kind: datafusion::sql::sqlparser::ast::CastKind::Cast, expr: Box::new(expr), data_type, array: false, format: None }
}

/// `element[]`.
fn array_of(element: SqlType) -> SqlType {
    SqlType::Array(datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(Box::new(element), None))
}

/// A function's name, lowercase, without a `pg_catalog.` qualifier.
fn function_name(function: &Function) -> String {
    let name = function.name.to_string().to_ascii_lowercase();
    match name.strip_prefix("pg_catalog.") {
        Some(bare) => bare.to_string(),
        None => name,
    }
}

/// The column a projection item names, lowercase, if it is a plain column reference.
fn column_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(column) => Some(column.value.to_ascii_lowercase()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|c| c.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// `value` as an SQL string literal.
pub(crate) fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a))).collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use super::literals::spelled_out_time_parts;

    fn rewritten(sql: &str) -> String {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
        rewrite(&mut statement);
        statement.to_string()
    }

    #[test]
    fn catalog_lookups_are_aggregated_and_user_subqueries_are_not() {
        assert_eq!(
            rewritten("SELECT (SELECT t.typname FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) AS n FROM pg_catalog.pg_attribute a"),
            "SELECT (SELECT max(t.typname) FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) AS n FROM pg_catalog.pg_attribute a"
        );
        let user = "SELECT (SELECT o.id FROM orders AS o WHERE o.c = c.id) FROM customers AS c";
        assert_eq!(rewritten(user), user);
        let counted = "SELECT (SELECT count(*) FROM pg_catalog.pg_class) AS n";
        assert_eq!(rewritten(counted), counted);
        assert_eq!(rewritten("SELECT 'a' LIKE 'pg/_%' ESCAPE '/'"), "SELECT 'a' LIKE like_escape('pg/_%', '/')");
        assert_eq!(rewritten("SELECT (f(k)).n, (r.keys).x FROM t"), "SELECT get_field(f(k), 'n'), get_field(r.keys, 'x') FROM t");
        assert_eq!(
            rewritten("SELECT unnest(i.indkey), generate_subscripts(i.indkey, 1) FROM pg_catalog.pg_index i"),
            "SELECT unnest(CAST(string_to_array(i.indkey, ' ') AS INT[])), \
             unnest(generate_series(1, cardinality(CAST(string_to_array(i.indkey, ' ') AS INT[])))) FROM pg_catalog.pg_index i"
        );
    }

    #[test]
    fn is_distinct_from_binds_tighter_than_and_and_or() {
        let regrouped = |sql: &str| {
            use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
            let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql).unwrap().remove(0);
            rewrite(&mut statement);
            let Statement::Query(query) = statement else { panic!() };
            let datafusion::sql::sqlparser::ast::SetExpr::Select(select) = *query.body else { panic!() };
            format!("{:?}", select.projection[0]).chars().filter(|c| !c.is_whitespace()).collect::<String>()
        };
        // (a IS NOT DISTINCT FROM b) AND c
        let and = regrouped("SELECT a IS NOT DISTINCT FROM b AND c");
        assert!(and.contains("BinaryOp{left:IsNotDistinctFrom("), "{and}");
        // ((a IS DISTINCT FROM b) AND c) OR d
        let or = regrouped("SELECT a IS DISTINCT FROM b AND c OR d");
        assert!(or.contains("BinaryOp{left:BinaryOp{left:IsDistinctFrom("), "{or}");
        // Parentheses are the user's: a IS DISTINCT FROM (b AND c)
        let nested = regrouped("SELECT a IS DISTINCT FROM (b AND c)");
        assert!(nested.contains("IsDistinctFrom(") && !nested.contains("left:IsDistinctFrom"), "{nested}");
    }

    #[test]
    fn interval_time_parts_are_spelled_out() {
        assert_eq!(spelled_out_time_parts("1 day 02:00:00").as_deref(), Some("1 day 02 hours 00 minutes 00 seconds"));
        assert_eq!(spelled_out_time_parts("-04:05:06.5").as_deref(), Some("-04 hours -05 minutes -06.5 seconds"));
        assert_eq!(spelled_out_time_parts("1 year 2 mons 00:30").as_deref(), Some("1 year 2 mons 00 hours 30 minutes"));
        assert_eq!(spelled_out_time_parts("3 days"), None);
        assert_eq!(
            rewritten("SELECT INTERVAL '1 day 02:00:00', '00:00:01.5'::interval, '10:00'::text"),
            "SELECT INTERVAL '1 day 02 hours 00 minutes 00 seconds', '00 hours 00 minutes 01.5 seconds'::INTERVAL, '10:00'::TEXT"
        );
    }

    #[test]
    fn postgresql_parse_templates_become_chrono_formats() {
        assert_eq!(rewritten("SELECT to_date(s, 'DD/MM/YYYY'), to_timestamp(s, 'YYYY-MM-DD HH24:MI')"), "SELECT to_date(s, '%d/%m/%Y'), to_timestamp(s, '%Y-%m-%d %H:%M')");
        let chrono = "SELECT to_date(s, '%d.%m.%Y'), to_timestamp(s)";
        assert_eq!(rewritten(chrono), chrono);
    }

    #[test]
    fn exists_as_a_value_counts_rows() {
        assert_eq!(rewritten("SELECT EXISTS (SELECT 1 FROM t WHERE t.a = u.a LIMIT 1) FROM u"), "SELECT ((SELECT count(*) FROM t WHERE t.a = u.a) > 0) FROM u");
        assert_eq!(rewritten("SELECT NOT EXISTS (SELECT * FROM t)"), "SELECT ((SELECT count(*) FROM t) = 0)");
        // What cannot simply be counted is counted as a derived table.
        assert_eq!(rewritten("SELECT EXISTS (SELECT max(a) FROM t)"), "SELECT ((SELECT count(*) FROM (SELECT max(a) FROM t) AS exists_rows) > 0)");
        // In a filter, DataFusion's own semi join stays.
        let filter = "SELECT a FROM u WHERE EXISTS (SELECT 1 FROM t WHERE t.a = u.a)";
        assert_eq!(rewritten(filter), filter);
    }

    #[test]
    fn table_visibility_is_the_search_path() {
        let visible = rewritten("SELECT c.relname FROM pg_catalog.pg_class c WHERE pg_catalog.pg_table_is_visible(c.oid)");
        assert!(visible.starts_with("SELECT c.relname FROM pg_catalog.pg_class c WHERE (c.oid) IN (SELECT visible_class.oid FROM pg_catalog.pg_class"), "{visible}");
        assert!(visible.ends_with("WHERE visible_namespace.nspname IN ('public', 'pg_catalog'))"), "{visible}");
    }

    #[test]
    fn pg_class_has_no_storage_options() {
        assert_eq!(
            rewritten("SELECT pg_catalog.pg_class.relname, pg_catalog.pg_class.reloptions FROM pg_catalog.pg_class"),
            "SELECT pg_catalog.pg_class.relname, CAST(NULL AS TEXT[]) AS reloptions FROM pg_catalog.pg_class"
        );
        assert_eq!(rewritten("SELECT c.reloptions AS o FROM pg_class c"), "SELECT CAST(NULL AS TEXT[]) AS o FROM pg_class c");
        assert_eq!(
            rewritten("SELECT n.nspname, c.relacl FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c"),
            "SELECT n.nspname, CAST(NULL AS TEXT[]) AS relacl FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c"
        );
        let user = "SELECT reloptions FROM settings";
        assert_eq!(rewritten(user), user);
        assert_eq!(
            rewritten("SELECT 1 FROM pg_catalog.pg_constraint con WHERE con.confkey[2] = 1"),
            "SELECT 1 FROM pg_catalog.pg_constraint con WHERE CAST(string_to_array(con.confkey, ' ') AS INT[])[2] = 1"
        );
        assert_eq!(
            rewritten("SELECT i.indoption AS o, i.indkey FROM pg_catalog.pg_index i"),
            "SELECT CAST(string_to_array(i.indoption, ' ') AS INT[]) AS o, i.indkey FROM pg_catalog.pg_index i"
        );
        assert_eq!(
            rewritten("SELECT NULL AS a, n.nspname, NULL, NULL, 2 FROM pg_catalog.pg_namespace n"),
            "SELECT NULL AS a, n.nspname, NULL, NULL AS \"?column?4\", 2 FROM pg_catalog.pg_namespace n"
        );
    }

    #[test]
    fn options_and_privileges_are_empty() {
        assert_eq!(
            rewritten("SELECT pg_catalog.array_to_string(n.nspacl, ',') AS p FROM pg_catalog.pg_namespace n"),
            "SELECT CAST(NULL AS TEXT) AS p FROM pg_catalog.pg_namespace n"
        );
        let user = "SELECT array_to_string(tags, ',') FROM posts";
        assert_eq!(rewritten(user), user);
    }

    #[test]
    fn catalog_booleans_and_vector_bounds() {
        assert_eq!(
            rewritten("SELECT 1 FROM pg_catalog.pg_index i WHERE i.indisprimary = 't' AND 'f' <> i.indisunique AND i.contype = 'f'"),
            "SELECT 1 FROM pg_catalog.pg_index i WHERE i.indisprimary = true AND false <> i.indisunique AND i.contype = 'f'"
        );
        assert_eq!(
            rewritten("SELECT array_upper(conkey, 1) FROM pg_catalog.pg_constraint"),
            "SELECT array_upper(CAST(string_to_array(conkey, ' ') AS INT[]), 1) FROM pg_catalog.pg_constraint"
        );
    }

    #[test]
    fn set_returning_generate_series_and_names() {
        assert_eq!(
            rewritten("SELECT generate_series(1, 3), generate_series(1, n) AS i, 'x'::name FROM t"),
            "SELECT unnest(generate_series(1, 3)) AS generate_series, unnest(generate_series(1, n)) AS i, 'x'::TEXT FROM t"
        );
        let table_function = "SELECT * FROM generate_series(1, 3)";
        assert_eq!(rewritten(table_function), table_function);
    }

    #[test]
    fn array_subqueries_aggregate() {
        assert_eq!(
            rewritten("SELECT ARRAY(SELECT b.rolname FROM pg_catalog.pg_roles b WHERE b.oid = r.oid) AS memberof FROM pg_catalog.pg_roles r"),
            "SELECT (SELECT array_agg(b.rolname) FROM pg_catalog.pg_roles b WHERE b.oid = r.oid) AS memberof FROM pg_catalog.pg_roles r"
        );
        let ordered = "SELECT ARRAY(SELECT x FROM t ORDER BY x)";
        assert_eq!(rewritten(ordered), ordered);
    }
}
