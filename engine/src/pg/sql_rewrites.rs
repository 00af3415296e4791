//! Rewrites of standard SQL that DataFusion does not plan as PostgreSQL does, made on the parsed
//! statement before planning (and one on the text, before parsing).
//!
//! - `'name'::regproc` (pgjdbc's getTypeInfo: `typinput = 'array_in'::regproc`) is the bare
//!   name: the pg_catalog emulation keeps `typinput`/`typoutput` as function names, and its own
//!   rewrite of the cast into an oid lookup would compare a name with a number.
//!
//! - `x LIKE p ESCAPE 'c'` (SQLAlchemy writes `NOT LIKE 'pg/_%' ESCAPE '/'`): DataFusion knows
//!   only the backslash as escape, so the pattern is rewritten at run time by `like_escape(p, 'c')`
//!   into the same pattern escaped with backslashes.
//! - `pg_table_is_visible(oid)` (psql's `\dt`, SQLAlchemy's names without a schema), which the
//!   emulation answers true for every relation, is true only for relations in `public` and
//!   `pg_catalog`, as PostgreSQL answers with the default search path: squall's system tables
//!   are found under `squall.` (`\dt squall.*`), not among the user's.
//! - Catalog queries drivers send that DataFusion reads otherwise: `ARRAY(subquery)`, `generate_series`
//!   in a select list (rows, not an array), `::name` casts, `indisprimary = 't'`, subscripts and
//!   bounds of catalog vector columns, `pg_class.reloptions`/`relacl` and option/ACL lists (NULL),
//!   repeated unnamed literals, and `pg_settings`/`pg_roles` as views of the session's parameters and
//!   squall's users (see each function).
//! - `(composite).field` (pgjdbc: `(information_schema._pg_expandarray(i.indkey)).n`), which
//!   DataFusion's planner does not read, becomes `get_field(composite, 'field')`.
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
use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{create_udf, ColumnarValue, ScalarUDF, Volatility};
use datafusion::sql::sqlparser::ast::DataType as SqlType;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, AccessExpr, BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, ObjectName,
    ObjectNamePart, Query, SelectItem, SetExpr, Statement, TableFactor, Value,
};

const LIKE_ESCAPE: &str = "like_escape";

/// Whether `sql` contains `word`, in any case: a cheap test that spares most statements a rewrite.
pub fn mentions(sql: &str, word: &str) -> bool {
    sql.as_bytes().windows(word.len()).any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

/// `sql` with every `'name'::regproc` written `'name'` (see the module docs); `None` if there is
/// none, which a substring test decides for nearly every statement.
pub fn regproc_literals_as_names(sql: &str) -> Option<String> {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    if !mentions(sql, "regproc") {
        return None;
    }
    let tokens = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize().ok()?;
    let mut out: Vec<Token> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    let mut changed = false;
    while i < tokens.len() {
        let is_regproc_cast = matches!(&tokens[i], Token::SingleQuotedString(_))
            && matches!(tokens.get(i + 1), Some(Token::DoubleColon))
            && matches!(tokens.get(i + 2), Some(Token::Word(w)) if w.value.eq_ignore_ascii_case("regproc"));
        out.push(tokens[i].clone());
        if is_regproc_cast {
            i += 3;
            changed = true;
        } else {
            i += 1;
        }
    }
    // Rendered so that quotes inside strings stay escaped (`'it''s'`).
    changed.then(|| squall_sql::render_tokens(&out))
}

/// Interval literals with a time part, as PostgreSQL writes them and reads them back
/// (`INTERVAL '1 day 02:00:00'`, `'-04:05:06.5'::interval`), which DataFusion's parser refuses:
/// the time part is spelled out in hours, minutes and seconds, which it reads.
fn interval_time_parts(expr: &mut Expr) -> bool {
    let literal = match expr {
        Expr::Interval(interval) => interval.value.as_mut(),
        Expr::Cast { expr, data_type: SqlType::Interval { .. }, .. } => expr.as_mut(),
        _ => return false,
    };
    let Expr::Value(value) = literal else { return false };
    let Value::SingleQuotedString(text) = &mut value.value else { return false };
    match spelled_out_time_parts(text) {
        Some(spelled) => {
            *text = spelled;
            true
        }
        None => false,
    }
}

/// `text` with each `[-]H:MM[:SS[.f]]` part written as `H hours M minutes S seconds` (each
/// signed as the part is); `None` if it has none.
fn spelled_out_time_parts(text: &str) -> Option<String> {
    let mut changed = false;
    let words: Vec<String> = text
        .split_whitespace()
        .map(|word| {
            let (negative, unsigned) = match word.strip_prefix('-') {
                Some(rest) => (true, rest),
                None => (false, word.strip_prefix('+').unwrap_or(word)),
            };
            let parts: Vec<&str> = unsigned.split(':').collect();
            let numeric = |p: &&str| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.');
            if !(2..=3).contains(&parts.len()) || !parts.iter().all(numeric) || parts[..parts.len() - 1].iter().any(|p| p.contains('.')) {
                return word.to_string();
            }
            changed = true;
            let sign = if negative { "-" } else { "" };
            let units = ["hours", "minutes", "seconds"];
            parts.iter().zip(units).map(|(number, unit)| format!("{sign}{number} {unit}")).collect::<Vec<_>>().join(" ")
        })
        .collect();
    changed.then(|| words.join(" "))
}

/// `to_date(text, template)` and `to_timestamp(text, template)` with PostgreSQL's template
/// (`'DD/MM/YYYY'`), which DataFusion would read as chrono's: the template becomes the chrono
/// format that reads the same text. Templates with a `%` are chrono's already; ones chrono cannot
/// express are left to fail with 22007.
fn parse_template_as_chrono(expr: &mut Expr) -> bool {
    let Expr::Function(function) = expr else { return false };
    if !matches!(function_name(function).as_str(), "to_date" | "to_timestamp") {
        return false;
    }
    let FunctionArguments::List(list) = &mut function.args else { return false };
    let [_, FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(template)))] = list.args.as_mut_slice() else { return false };
    let Value::SingleQuotedString(text) = &mut template.value else { return false };
    if text.contains('%') {
        return false;
    }
    match squall_udf::functions::to_char::chrono_parse_format(text) {
        Some(chrono) => {
            *text = chrono;
            true
        }
        None => false,
    }
}

/// `a IS [NOT] DISTINCT FROM b AND c` is `(a IS [NOT] DISTINCT FROM b) AND c` in PostgreSQL, where
/// IS binds tighter than AND and OR; sqlparser reads the whole `b AND c` as the right operand,
/// which fails to plan or, with boolean operands, answers a different question. An unparenthesized
/// AND/OR on the right is regrouped (parentheses arrive as `Expr::Nested` and are kept).
fn distinct_from_precedence(expr: &Expr) -> Option<Expr> {
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

/// Applies every rewrite to `statement`; whether any changed it.
pub fn rewrite(statement: &mut Statement) -> bool {
    let mut changed = false;
    // Rewrites keyed on the names of catalog columns or made for catalog lookups change what a
    // user's query would mean (a user's column may be called `indkey`; `CASE WHEN c THEN
    // (SELECT count(*) ...) END` is NULL, not 0, when c is false): catalog statements only.
    let catalog = crate::pg::rewrite_rules::reads_catalog(statement);
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut ProjectionRewrites { changed: &mut changed });
    let _ = visit_expressions_mut(statement, |expr| {
        changed |= parse_template_as_chrono(expr);
        changed |= interval_time_parts(expr);
        if let Some(regrouped) = distinct_from_precedence(expr) {
            *expr = regrouped;
            changed = true;
        }
        if let Some(access) = field_access(expr) {
            *expr = access;
            changed = true;
        }
        if let Some(visibility) = table_visibility(expr) {
            *expr = visibility;
            changed = true;
        }
        changed |= catalog_boolean_literal(expr);
        // PostgreSQL's `name` type (psqlODBC: `'squall'::name`) is text here.
        if let Expr::Cast { data_type: data_type @ SqlType::Custom(..), .. } = expr {
            if data_type.to_string().eq_ignore_ascii_case("name") || data_type.to_string().eq_ignore_ascii_case("pg_catalog.name") {
                *data_type = SqlType::Text;
                changed = true;
            }
        }
        if let Expr::Like { pattern, escape_char, .. } | Expr::ILike { pattern, escape_char, .. } = expr {
            if let Some(escape) = escape_char.take() {
                if !matches!(&escape.value, Value::SingleQuotedString(s) if s == "\\") {
                    let original = std::mem::replace(pattern.as_mut(), Expr::value(Value::Null));
                    **pattern = call(LIKE_ESCAPE, vec![original, Expr::Value(escape)]);
                    changed = true;
                } // else DataFusion's own escape
            }
        }
        if catalog {
            changed |= catalog_rewrites(expr);
        }
        ControlFlow::<()>::Continue(())
    });
    changed
}

/// The rewrites of catalog queries (see [`rewrite`]); whether any changed `expr`.
fn catalog_rewrites(expr: &mut Expr) -> bool {
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
const CATALOG_VECTORS: &[&str] = &["indkey", "indclass", "indoption", "indcollation", "conkey", "confkey"];

/// `unnest(v)` / `generate_subscripts(v, 1)` of a catalog vector column `v`, over `v` as an array.
fn catalog_vector_expansion(expr: &Expr) -> Option<Expr> {
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
const CATALOG_BOOLEANS: &[&str] = &[
    "indisprimary", "indisunique", "indisclustered", "indisvalid", "indimmediate", "attisdropped", "attnotnull", "atthasdef",
    "relhasindex", "relhasrules", "relhastriggers", "relhassubclass", "relispartition", "condeferrable", "condeferred",
    "convalidated", "typnotnull", "proisstrict", "proretset",
];

/// `boolean_column = 't'` (or `'f'`, `'true'`, `'false'`, either side) with a boolean literal.
fn catalog_boolean_literal(expr: &mut Expr) -> bool {
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
const VISIBLE_SCHEMAS: &str = "'public', 'pg_catalog'";

/// `pg_table_is_visible(x)` as `x IN (oids of the relations in the visible schemas)`.
fn table_visibility(expr: &Expr) -> Option<Expr> {
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

/// `text` read as one PostgreSQL expression.
fn parsed_expr(text: &str) -> Option<Expr> {
    datafusion::sql::sqlparser::parser::Parser::new(&datafusion::sql::sqlparser::dialect::PostgreSqlDialect {}).try_with_sql(text).ok()?.parse_expr().ok()
}

/// `EXISTS (subquery)` as a value (`SELECT EXISTS (...)`, SQLAlchemy's `exists()`, CASE WHEN
/// EXISTS in a select list), which DataFusion plans only as a filter: a count of the subquery's
/// rows compared with 0, a scalar subquery DataFusion plans, correlated or not. The subquery
/// keeps its FROM and WHERE and counts instead of selecting when it selects plain columns or
/// constants (what ORMs send: `SELECT 1 ... LIMIT 1`); anything else is counted as a derived
/// table.
fn exists_as_count(expr: &Expr) -> Option<Expr> {
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
fn counting(subquery: &Query) -> Option<Query> {
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

/// `pg_class` columns the emulation lacks, selected as NULL text arrays: `reloptions`
/// (SQLAlchemy's table and index reflection; squall's relations have no storage options) and
/// `relacl` (pgjdbc's getTablePrivileges; squall's privileges are its GRANTs, not ACLs).
const MISSING_PG_CLASS_COLUMNS: &[&str] = &["reloptions", "relacl"];

/// Rewrites of select lists: EXISTS as a value ([`exists_as_count`]); `generate_series` as a
/// set-returning function; in catalog queries,
/// names of their own for repeated unnamed literals (pgjdbc's getProcedures selects `NULL, NULL,
/// NULL`, which PostgreSQL allows and DataFusion refuses as duplicate names), renamed vector
/// columns as arrays, and [`MISSING_PG_CLASS_COLUMNS`] as NULL.
struct ProjectionRewrites<'a> {
    changed: &'a mut bool,
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
fn replace_keeping_name(item: &mut SelectItem, expr: Expr, name: &str) {
    *item = match std::mem::replace(item, SelectItem::UnnamedExpr(Expr::value(Value::Null))) {
        SelectItem::ExprWithAlias { alias, .. } => SelectItem::ExprWithAlias { expr, alias },
        _ => SelectItem::ExprWithAlias { expr, alias: Ident::new(name) },
    };
}

fn is_pg_class(relation: &TableFactor) -> bool {
    is_catalog(relation) && matches!(relation, TableFactor::Table { name, .. } if name.0.last().and_then(|p| p.as_ident()).is_some_and(|i| i.value.eq_ignore_ascii_case("pg_class")))
}

/// A catalog vector column (kept as space-separated text) as the integer array it stands for;
/// `string_to_array('', ...)` is an empty array.
fn vector_as_array(column: &Expr) -> Expr {
    cast(call("string_to_array", vec![column.clone(), Expr::value(Value::SingleQuotedString(" ".into()))]), array_of(SqlType::Int(None)))
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

/// `t.v[i]` or `v[i]` of a catalog vector column `v` (parsed as `t` accessed by `.v` then `[i]`),
/// subscripting the array it stands for.
fn catalog_vector_subscript(expr: &Expr) -> Option<Expr> {
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
const OPTION_AND_ACL_COLUMNS: &[&str] = &["reloptions", "relacl", "nspacl", "datacl", "attacl", "proacl", "typacl", "attoptions"];

/// Whether `expr` is `array_to_string(x, ...)` of such a column (psql's `\dn+`, `\d+`), which
/// is then NULL: nothing to list.
fn options_or_acl_text(expr: &Expr) -> bool {
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
fn array_of_subquery(expr: &Expr) -> Option<Expr> {
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

/// The column a projection item names, lowercase, if it is a plain column reference.
fn column_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Identifier(column) => Some(column.value.to_ascii_lowercase()),
        Expr::CompoundIdentifier(parts) => parts.last().map(|c| c.value.to_ascii_lowercase()),
        _ => None,
    }
}

/// Reads of `pg_catalog.pg_settings` as a view of `settings` (name, current value): the
/// emulation's lists one parameter, while pgjdbc's foreign-key calls read `max_index_keys` there,
/// and tools list the session's parameters with it. Whether any read was rewritten.
pub fn settings_view(statement: &mut Statement, settings: &[(String, String)]) -> bool {
    let rows: Vec<String> = settings.iter().map(|(n, v)| format!("({}, {})", quoted(n), quoted(v))).collect();
    catalog_view(
        statement,
        "pg_settings",
        &format!(
            "SELECT name, setting, CAST(NULL AS TEXT) AS unit, 'Ungrouped' AS category, CAST(NULL AS TEXT) AS short_desc, \
             CAST(NULL AS TEXT) AS extra_desc, 'user' AS context, 'string' AS vartype, 'default' AS source, CAST(NULL AS TEXT) AS min_val, \
             CAST(NULL AS TEXT) AS max_val, CAST(NULL AS TEXT) AS enumvals, setting AS boot_val, setting AS reset_val, \
             CAST(NULL AS TEXT) AS sourcefile, CAST(NULL AS INT) AS sourceline, false AS pending_restart \
             FROM (VALUES {}) AS settings(name, setting)",
            rows.join(", ")
        ),
    )
}

/// Reads of `pg_catalog.pg_roles` as a view of squall's users `(name, superuser)` (psql's `\du`,
/// tools' user lists); the emulation's is empty. Oids are the users' positions from 10, the
/// bootstrap superuser's oid in PostgreSQL.
pub fn roles_view(statement: &mut Statement, users: &[(String, bool)]) -> bool {
    let rows: Vec<String> = users.iter().enumerate().map(|(i, (name, superuser))| format!("({}, {superuser}, {})", quoted(name), 10 + i)).collect();
    catalog_view(
        statement,
        "pg_roles",
        &format!(
            "SELECT rolname, rolsuper, true AS rolinherit, rolsuper AS rolcreaterole, rolsuper AS rolcreatedb, true AS rolcanlogin, \
             rolsuper AS rolreplication, -1 AS rolconnlimit, '********' AS rolpassword, CAST(NULL AS TIMESTAMPTZ) AS rolvaliduntil, \
             rolsuper AS rolbypassrls, CAST(NULL AS TEXT[]) AS rolconfig, oid \
             FROM (VALUES {}) AS roles(rolname, rolsuper, oid)",
            rows.join(", ")
        ),
    )
}

/// `value` as an SQL string literal.
pub(crate) fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// Replaces every read of `pg_catalog.<table>` in `statement` with `(<view>) AS <its alias>`;
/// whether there was one.
fn catalog_view(statement: &mut Statement, table: &str, view: &str) -> bool {
    let mut rewrite = CatalogView { table, view, changed: false };
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(statement, &mut rewrite);
    rewrite.changed
}

struct CatalogView<'a> {
    table: &'a str,
    view: &'a str,
    changed: bool,
}

impl datafusion::sql::sqlparser::ast::VisitorMut for CatalogView<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, alias, args: None, .. } = factor else { return ControlFlow::Continue(()) };
        let parts: Vec<String> = name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()).collect();
        let names_table = match parts.as_slice() {
            [table] => table == self.table,
            [schema, table] | [_, schema, table] => schema == "pg_catalog" && table == self.table,
            _ => false,
        };
        if !names_table {
            return ControlFlow::Continue(());
        }
        let alias = alias.as_ref().map_or_else(|| self.table.to_string(), |a| a.to_string());
        let text = format!("SELECT * FROM ({}) AS {alias}", self.view);
        let parsed = datafusion::sql::sqlparser::parser::Parser::parse_sql(&datafusion::sql::sqlparser::dialect::PostgreSqlDialect {}, &text);
        let Ok(Some(Statement::Query(query))) = parsed.map(|mut statements| statements.pop()) else { return ControlFlow::Continue(()) };
        let SetExpr::Select(mut select) = *query.body else { return ControlFlow::Continue(()) };
        if let Some(from) = select.from.pop() {
            *factor = from.relation;
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

/// `(x).a.b` as `get_field(get_field(x, 'a'), 'b')`.
fn field_access(expr: &Expr) -> Option<Expr> {
    let Expr::CompoundFieldAccess { root, access_chain } = expr else { return None };
    let Expr::Nested(inner) = root.as_ref() else { return None };
    let mut out = inner.as_ref().clone();
    for access in access_chain {
        let AccessExpr::Dot(Expr::Identifier(field)) = access else { return None };
        out = call("get_field", vec![out, Expr::value(Value::SingleQuotedString(field.value.to_lowercase()))]);
    }
    Some(out)
}

/// `CASE WHEN c THEN (catalog subquery) [ELSE NULL] END` as one subquery that also requires `c`.
fn conditional_catalog_lookup(expr: &Expr) -> Option<Expr> {
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
fn aggregate_catalog_lookup(query: &mut Query) -> bool {
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

fn is_catalog(relation: &TableFactor) -> bool {
    matches!(relation, TableFactor::Table { name, .. } if crate::pg::rewrite_rules::is_catalog_name(name))
}

/// Whether `expr` calls an aggregate function (the common ones catalog queries use).
fn has_aggregate(expr: &Expr) -> bool {
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
fn backslashed(pattern: &str, escape: &str) -> String {
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
    fn repeated_result_names_become_unique() {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT 1, 1::float8, a AS x, b AS x FROM t").unwrap().remove(0);
        unique_output_names(&mut statement);
        assert_eq!(statement.to_string(), "SELECT 1 AS \"?column?1\", 1::FLOAT8 AS \"?column?2\", a AS x, b AS \"x?4\" FROM t");
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
    fn pg_settings_lists_the_session_parameters() {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT s.setting FROM pg_catalog.pg_settings s WHERE s.name = 'max_index_keys'").unwrap().remove(0);
        assert!(settings_view(&mut statement, &[("max_index_keys".into(), "32".into()), ("datestyle".into(), "ISO, MDY".into())]));
        let text = statement.to_string();
        assert!(text.contains("FROM (VALUES ('max_index_keys', '32'), ('datestyle', 'ISO, MDY')) AS settings (name, setting)) AS s WHERE s.name"), "{text}");
    }

    #[test]
    fn pg_roles_lists_the_users() {
        use datafusion::sql::sqlparser::{dialect::PostgreSqlDialect, parser::Parser};
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT r.rolname FROM pg_catalog.pg_roles r").unwrap().remove(0);
        assert!(roles_view(&mut statement, &[("squall".into(), true), ("o'brien".into(), false)]));
        let text = statement.to_string();
        assert!(text.contains("FROM (VALUES ('squall', true, 10), ('o''brien', false, 11)) AS roles (rolname, rolsuper, oid)) AS r"), "{text}");
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

    #[test]
    fn regproc_literals_become_names() {
        assert_eq!(
            regproc_literals_as_names("SELECT t.typname FROM pg_type t WHERE t.typinput = 'array_in'::regproc AND x = 'a'").as_deref(),
            Some("SELECT t.typname FROM pg_type t WHERE t.typinput = 'array_in' AND x = 'a'")
        );
        assert_eq!(regproc_literals_as_names("SELECT 'it''s', 'f'::regproc").as_deref(), Some("SELECT 'it''s', 'f'"));
        assert_eq!(regproc_literals_as_names("SELECT 1"), None);
    }

    #[test]
    fn patterns_keep_their_meaning() {
        assert_eq!(backslashed("pg/_%", "/"), "pg\\_%");
        assert_eq!(backslashed("a//b", "/"), "a\\/b");
        assert_eq!(backslashed("a\\b_", "/"), "a\\\\b_");
        assert_eq!(backslashed("a!%", ""), "a!%");
    }
}
