//! Which of datafusion-pg-catalog's statement rewrites a statement gets.
//!
//! The library rewrites every statement it parses so that the catalog queries of psql, pgjdbc,
//! psqlODBC and BI tools plan in DataFusion. Several of its rules change what a query means and
//! are right only for those catalog lookups: `RemoveSubqueryFromProjection` answers any
//! correlated subquery in a select list with NULL and cuts uncorrelated ones to `LIMIT 1`;
//! `ResolveUnqualifiedIdentifier` binds unqualified names to the one `alias.*` in the select
//! list; `RewriteArrayAnyAllOperation` turns `x = ANY(array)` into `array_contains`, which has no
//! NULL result; `FixArrayLiteral` splits array literals on every comma; `AliasDuplicatedProjection`
//! renames columns. Those apply only to statements that read the system catalogs
//! ([`reads_catalog`]); every other statement gets only the rules that spell what PostgreSQL
//! means in a form DataFusion reads, so a user's query is answered as written or refused.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{Expr, ObjectName, Statement, TableFactor, Visit, Visitor};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion_pg_catalog::pg_catalog::PG_CATALOG_TABLES;
use datafusion_pg_catalog::sql::rules::{
    CurrentUserVariableToSessionUserFunctionCall, FixVersionColumnName, RewritePgCatalogOperator, RewriteRegCastToSubquery,
    SqlStatementRewriteRule, StripCallableQualifier,
};
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

use crate::error::{Result, SquallError};

pub struct PgRewriteRules {
    /// The library's parser: its replacements of whole client queries, then all its rules.
    catalog: PostgresCompatibilityParser,
    /// The rules that keep any statement's meaning.
    everywhere: Vec<Arc<dyn SqlStatementRewriteRule>>,
}

impl Default for PgRewriteRules {
    fn default() -> Self {
        Self::new()
    }
}

impl PgRewriteRules {
    pub fn new() -> Self {
        Self {
            catalog: PostgresCompatibilityParser::new(),
            everywhere: vec![
                // `pg_catalog.f(x)` is `f(x)`: DataFusion's functions have no schema.
                Arc::new(StripCallableQualifier),
                // `current_catalog` is `current_database()`, `current_schema` `current_schema()`.
                // (`current_user` and its kin are the session's user: see crate::pg::session_user,
                // which has run before and left none of them for this rule's renaming.)
                Arc::new(CurrentUserVariableToSessionUserFunctionCall),
                // `a OPERATOR(pg_catalog.~) b` is `a ~ b`.
                Arc::new(RewritePgCatalogOperator),
                // `'t'::regclass` is the oid of relation t, looked up in pg_class.
                Arc::new(RewriteRegCastToSubquery::new()),
                // `SELECT version()` names its column `version`, as PostgreSQL does.
                Arc::new(FixVersionColumnName),
            ],
        }
    }

    /// Parses `sql`: statements over the system catalogs as the library parses them (with all
    /// its rules); any other statement as written. [`Self::prepare`] is the next step, once the
    /// caller has read from the statement what it needs as the client wrote it (column names).
    pub fn parse(&self, sql: &str) -> std::result::Result<Vec<Statement>, ParserError> {
        match Parser::parse_sql(&PostgreSqlDialect {}, sql) {
            Ok(statements) if !statements.iter().any(reads_catalog) => Ok(statements),
            // The catalog's, and what only the library's replacements of whole client queries
            // make readable (all of them catalog queries).
            _ => self.catalog.parse(sql),
        }
    }

    /// A statement [`Self::parse`] gave, with the rules that keep its meaning (the catalog's had
    /// theirs in parsing) and the session's user where it names it.
    pub fn prepare(&self, statement: Statement) -> Statement {
        if reads_catalog(&statement) {
            with_session_user(statement)
        } else {
            self.rewrite_user_statement(statement)
        }
    }

    /// Applies the rules again to a statement squall's own rewrites changed (they can hoist a
    /// catalog lookup out of CASE into the select list, where the catalog rules treat it).
    pub fn rewrite(&self, statement: Statement) -> Statement {
        if reads_catalog(&statement) {
            with_session_user(self.catalog.rewrite(statement))
        } else {
            self.rewrite_user_statement(statement)
        }
    }

    fn rewrite_user_statement(&self, statement: Statement) -> Statement {
        let mut statement = with_session_user(statement);
        for rule in &self.everywhere {
            statement = rule.rewrite(statement);
        }
        statement
    }
}

/// `statement` with the session's user where it names it (the library's rules rename
/// `current_user` to a `session_user` that answers `postgres`).
fn with_session_user(mut statement: Statement) -> Statement {
    crate::pg::session_user::name_session_user(&mut statement);
    statement
}

/// Whether `statement` reads a table of `pg_catalog` or `information_schema` (as PostgreSQL finds
/// them: `pg_catalog` is searched first, so an unqualified `pg_class` is the catalog's).
pub fn reads_catalog(statement: &Statement) -> bool {
    struct Finder(bool);
    impl Visitor for Finder {
        type Break = ();
        fn pre_visit_relation(&mut self, name: &ObjectName) -> ControlFlow<()> {
            if is_catalog_name(name) {
                self.0 = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, .. } = factor {
                return self.pre_visit_relation(name);
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<()> {
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder(false);
    let _ = statement.visit(&mut finder);
    finder.0
}

pub(crate) fn is_catalog_name(name: &ObjectName) -> bool {
    let parts: Vec<String> = name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase()).collect();
    match parts.as_slice() {
        [schema, _] | [_, schema, _] => schema == "pg_catalog" || schema == "information_schema",
        [table] => PG_CATALOG_TABLES.iter().any(|t| t.eq_ignore_ascii_case(table)),
        _ => false,
    }
}

/// `COLLATE c` on an expression: squall compares and sorts text by its bytes, which is
/// PostgreSQL's `"C"` (and `"POSIX"`) collation, and also what `"default"` is in a database
/// created with the C locale. Those are dropped; any other collation would sort differently than
/// asked, and is refused.
pub fn strip_byte_order_collations(statement: &mut Statement) -> Result<()> {
    let mut refused = None;
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(statement, |expr| {
        if let Expr::Collate { expr: inner, collation } = expr {
            let name = collation.0.last().and_then(|p| p.as_ident()).map(|i| i.value.clone()).unwrap_or_default();
            if !["c", "posix", "default", "ucs_basic"].contains(&name.to_ascii_lowercase().as_str()) {
                refused = Some(collation.to_string());
                return ControlFlow::Break(());
            }
            *expr = std::mem::replace(inner.as_mut(), Expr::value(datafusion::sql::sqlparser::ast::Value::Null));
        }
        ControlFlow::Continue(())
    });
    match refused {
        Some(collation) => Err(SquallError::Unsupported(format!(
            "COLLATE {collation} is not supported: squall compares text by its bytes (COLLATE \"C\")"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(sql: &str) -> String {
        let rules = PgRewriteRules::new();
        rules.prepare(rules.parse(sql).unwrap().remove(0)).to_string()
    }

    #[test]
    fn user_subqueries_in_a_select_list_are_kept_as_written() {
        // The library answers correlated ones with NULL and cuts the others to one row.
        let correlated = "SELECT b, (SELECT count(*) FROM t1 AS x WHERE x.b < t1.b) AS n FROM t1";
        assert_eq!(parsed(correlated), correlated);
        let uncorrelated = "SELECT (SELECT a FROM t1) FROM t2";
        assert_eq!(parsed(uncorrelated), uncorrelated);
    }

    #[test]
    fn user_queries_keep_their_names_any_and_array_literals() {
        for sql in [
            "SELECT t.*, a FROM t WHERE a > 1 ORDER BY a",
            "SELECT a, * FROM t",
            "SELECT 1 = ANY(ARRAY[1, NULL])",
            "SELECT '{\"a,b\",c}'::TEXT[]",
        ] {
            assert_eq!(parsed(sql), sql);
        }
    }

    #[test]
    fn catalog_queries_get_the_library_rules() {
        // psql's \d: a correlated lookup in the select list (the library answers NULL).
        let psql = parsed("SELECT c.relname, (SELECT count(*) FROM pg_catalog.pg_index i WHERE i.indrelid = c.oid) FROM pg_catalog.pg_class c");
        assert!(psql.starts_with("SELECT c.relname, NULL FROM"), "{psql}");
        assert!(parsed("SELECT n.oid, n.* FROM pg_namespace n").contains("__alias_oid"));
    }

    #[test]
    fn meaning_preserving_rules_apply_everywhere() {
        assert_eq!(parsed("SELECT pg_catalog.lower(s) FROM t"), "SELECT lower(s) FROM t");
        assert_eq!(parsed("SELECT s FROM t WHERE s OPERATOR(pg_catalog.~) 'x'"), "SELECT s FROM t WHERE s ~ 'x'");
    }

    #[test]
    fn only_byte_order_collations_are_dropped() {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT s FROM t ORDER BY s COLLATE \"C\"").unwrap().remove(0);
        strip_byte_order_collations(&mut statement).unwrap();
        assert_eq!(statement.to_string(), "SELECT s FROM t ORDER BY s");
        let mut german = Parser::parse_sql(&PostgreSqlDialect {}, "SELECT s FROM t ORDER BY s COLLATE \"de_DE\"").unwrap().remove(0);
        assert!(strip_byte_order_collations(&mut german).is_err());
    }
}
